//! The bundle verifier over an in-memory source. The input edits a valid single-node bundle (three signed
//! leaves in two packs, two signed checkpoints): records of `[selector u8][name_len u8][name][len u16 LE][bytes]`; an empty
//! name replaces the content of the `selector`-th file of the base bundle, a name adds or replaces that file,
//! a length of 0xFFFF removes it. verify never panics.
#![no_main]
use gongxin_core::bundle::{self, MemSource};
use gongxin_core::crypto::SigningKey;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const CODE: &str = "430102";

fn base() -> &'static BTreeMap<String, Vec<u8>> {
    static BASE: OnceLock<BTreeMap<String, Vec<u8>>> = OnceLock::new();
    BASE.get_or_init(|| {
        let key = SigningKey::generate();
        let mut m = BTreeMap::new();
        m.insert(format!("keys/{CODE}.pem"), key.public_key().to_spki_pem().into_bytes());
        let (leaves, checkpoints) = gongxin_core::testdata::signed_log(&key, CODE, 3, &[2, 3]);
        // Two packs (entries 0-1 and 2), so that edits can tear the seam between them.
        let mut packer = bundle::pack::Packer::new();
        let mut packs = Vec::new();
        for (i, (leaf, sig, payload)) in leaves.iter().enumerate() {
            if i == 2 {
                packs.extend(packer.finish());
            }
            packs.extend(packer.push(i as u64, leaf, sig, Some((payload, "json"))).expect("valid test entry"));
        }
        packs.extend(packer.finish());
        for p in packs {
            m.insert(format!("entries/{CODE}/{}.idx", p.first), p.index.into_bytes());
            m.insert(format!("entries/{CODE}/{}.pack", p.first), p.bytes);
        }
        for (size, cp) in [2, 3].into_iter().zip(checkpoints) {
            m.insert(format!("checkpoints/{CODE}/{size}.note"), cp.note);
            m.insert(format!("checkpoints/{CODE}/{size}.sig"), cp.signature);
        }
        m.insert("VERIFYING.md".into(), b"guide".to_vec());
        m.insert("verify-openssl.sh".into(), b"script".to_vec());
        m
    })
}

fuzz_target!(|data: &[u8]| {
    let mut files = base().clone();
    let mut rest = data;
    while rest.len() >= 2 {
        let (sel, nlen) = (rest[0] as usize, rest[1] as usize);
        rest = &rest[2..];
        let Some(name) = rest.get(..nlen) else { break };
        rest = &rest[nlen..];
        let Some(len) = rest.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]])) else { break };
        rest = &rest[2..];
        let path = if name.is_empty() {
            match files.keys().nth(sel % files.len().max(1)) {
                Some(k) => k.clone(),
                None => break,
            }
        } else {
            String::from_utf8_lossy(name).into_owned()
        };
        if len == u16::MAX {
            files.remove(&path);
            continue;
        }
        let n = (len as usize).min(rest.len());
        files.insert(path, rest[..n].to_vec());
        rest = &rest[n..];
    }
    let _ = bundle::verify(&MemSource(files));
});
