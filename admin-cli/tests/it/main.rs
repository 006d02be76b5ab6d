//! The CLI binary tested from outside, one test binary: `gongxin pki …` and `gongxin validate …`.

mod pki_cli;
mod validate_cli;
