//! The core crate's integration tests, one binary: template and code validation on real files and the sample
//! data (`validation`), and SM2 interoperability with real OpenSSL processes (`crypto_openssl`).

mod crypto_openssl;
mod import_cases;
mod validation;
