//! Integration tests of gongxin-certs with real certificates: issuing and reading back, verification, files,
//! and mutual TLS through tonic on loopback.
mod files;
mod gm_tls;
mod issue;
mod mtls;
mod sm2;
mod tongsuo;

use gongxin_certs::{Ca, CaOptions, IssueOptions, IssuedCert, NodeCode, Role};

pub fn code(s: &str) -> NodeCode {
    NodeCode::parse(s).expect("test code")
}

pub fn new_ca(name: &str) -> Ca {
    Ca::create(&CaOptions { name: name.into(), days: 3650 }).expect("create CA")
}

pub fn issue(ca: &Ca, role: Role, c: &str, name: Option<&str>) -> IssuedCert {
    ca.issue(role, &code(c), &IssueOptions { name: name.map(str::to_string), ..Default::default() }).expect("issue")
}
