//! Unit tests of record state, amendments, catalogues and the check on the in-memory store.

use super::check::{CheckQuery, Checker};
use super::credit::AmendSpec;
use super::ledger::{Ledger, SharedStore};
use super::AppError;
use crate::store::memory::MemoryStore;
use crate::store::{Store, Table};
use crate::views;
use gongxin_core::catalogue::Catalogue;
use gongxin_core::check::{verify_hit, verify_verdict, Decision, FeedbackAction, Verdict};
use gongxin_core::crypto::SigningKey;
use gongxin_core::date::Day;
use gongxin_core::record::{AmendmentAction, ListEntry, ListType, Record, Subject, SubjectCategory};
use gongxin_core::state::{EntryId, PROVINCE};
use gongxin_core::testdata;
use std::sync::Arc;

const COUNTY: &str = "430102";
const OTHER_COUNTY: &str = "430302";

fn day(s: &str) -> Day {
    gongxin_core::date::parse(s).unwrap()
}

fn ledger_on(code: &str, store: &SharedStore) -> Arc<Ledger> {
    Arc::new(Ledger::new(code, "测试", "county", SigningKey::generate(), store.clone()))
}

fn company() -> String {
    testdata::make_uscc('9', '1', COUNTY, "MA4L0AB1")
}

fn entry(uscc: &str, list_type: ListType, doc: &str, start: &str, end: &str) -> Record {
    Record::ListEntry(ListEntry {
        subject: Subject {
            name: "湖南某某建设有限公司".into(),
            category: SubjectCategory::Organization,
            uscc: Some(uscc.into()),
            reg_no: None,
            org_code: None,
            tax_no: None,
            institution_no: None,
            social_org_no: None,
            legal_rep: None,
            legal_rep_id_type: None,
            legal_rep_id_no: None,
            id_type: None,
            id_no: None,
        },
        list_type,
        reason: "拖欠工程款拒不履行".into(),
        basis: "《湖南省公共信用信息管理办法》".into(),
        decision_doc_no: doc.into(),
        start: day(start),
        end: day(end),
        authority: "长沙市发展和改革委员会".into(),
        authority_uscc: testdata::make_uscc('1', '1', "430100", "00600000"),
        measures: vec![],
        catalogue_version: None,
    })
}

fn publish(l: &Ledger, r: &Record) -> u64 {
    let out = l.publish(&serde_json::to_vec(r).unwrap(), None).unwrap();
    assert_eq!(out.accepted, 1, "{:?}", out.skipped);
    out.size - 1
}

fn amend(target: EntryId, action: AmendmentAction, effective: &str) -> AmendSpec {
    AmendSpec {
        target,
        action,
        doc_no: format!("湘发改信用〔2026〕{action}{effective}号"),
        reason: "已履行".into(),
        effective: day(effective),
        authority: None,
        corrected: None,
    }
}

fn ask(c: &Checker, subject: &str, measure: &str, on: &str) -> super::check::SignedVerdict {
    c.check(CheckQuery { subject: subject.into(), measure: measure.into(), day: Some(day(on)) }).unwrap()
}

/// The province (which may publish catalogues) and a county on one store, as if each held the other's log.
fn setup() -> (SharedStore, Arc<Ledger>, Arc<Ledger>) {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let province = ledger_on(PROVINCE, &store);
    province.heartbeat().unwrap();
    province.publish_catalogue(gongxin_core::catalogue::EMBEDDED.as_bytes()).unwrap();
    let county = ledger_on(COUNTY, &store);
    (store, province, county)
}

#[test]
fn a_list_entry_restricts_until_removed_and_its_hit_verifies_offline() {
    let (_, _, county) = setup();
    let uscc = company();
    let i =
        publish(&county, &entry(&uscc, ListType::SeriousDishonesty, "长发改〔2026〕1号", "2026-01-10", "2029-01-09"));
    let c = Checker::new(county.clone());

    let v = ask(&c, &uscc, "政府采购", "2026-06-01");
    assert_eq!(v.verdict.decision, Decision::Restrict);
    assert_eq!(v.verdict.hits.len(), 1);
    let hit = &v.verdict.hits[0];
    assert_eq!((hit.origin.as_str(), hit.index), (COUNTY, i));
    assert!(hit.legal_basis.contains("政府采购法"), "{}", hit.legal_basis);
    verify_hit(hit, &county.signing_key().public_key()).unwrap();
    assert_eq!(verify_verdict(&v.bytes, &v.batch, &county.signing_key().public_key()).unwrap(), v.verdict);
    assert_eq!(Verdict::parse(&v.bytes).unwrap(), v.verdict);
    assert_eq!(v.verdict.basis.catalogue_version, Some(1));
    assert!(v.verdict.basis.subject_known);
    assert_eq!(ask(&c, &uscc, "政府采购", "2026-01-09").verdict.decision, Decision::None, "before the start");

    county.amend(amend(EntryId::new(COUNTY, i), AmendmentAction::RemoveFromList, "2026-07-01")).unwrap();
    assert_eq!(ask(&c, &uscc, "政府采购", "2026-06-30").verdict.decision, Decision::Restrict);
    let after = ask(&c, &uscc, "政府采购", "2026-07-01").verdict;
    assert_eq!(after.decision, Decision::None, "removal ends the listing on its effective date");
    let st = county.states_about(&uscc).unwrap();
    assert_eq!(st.len(), 1, "the amendment folds into its target, it is no record of its own");
    assert_eq!(st[0].state.status_on(day("2026-07-02")), "已移出");
    assert_eq!(st[0].state.history.len(), 1);
}

#[test]
fn entries_expire_repair_correct_and_revoke() {
    let (_, _, county) = setup();
    let uscc = company();
    let c = Checker::new(county.clone());
    let a = publish(&county, &entry(&uscc, ListType::SeriousDishonesty, "A号", "2026-01-01", "2026-03-31"));
    assert_eq!(ask(&c, &uscc, "财政资金", "2026-03-31").verdict.decision, Decision::Restrict);
    assert_eq!(ask(&c, &uscc, "财政资金", "2026-04-01").verdict.decision, Decision::None, "expired at its end date");

    let b = publish(&county, &entry(&uscc, ListType::JudgmentDefaulter, "B号", "2026-01-01", "2099-12-31"));
    county.amend(amend(EntryId::new(COUNTY, b), AmendmentAction::Repair, "2026-05-01")).unwrap();
    assert_eq!(ask(&c, &uscc, "高消费", "2026-04-30").verdict.decision, Decision::Restrict);
    assert_eq!(ask(&c, &uscc, "高消费", "2026-05-01").verdict.decision, Decision::None, "repaired");

    let d = publish(&county, &entry(&uscc, ListType::AbnormalOperation, "D号", "2026-01-01", "2099-12-31"));
    let mut fix = amend(EntryId::new(COUNTY, d), AmendmentAction::Correct, "2026-02-01");
    fix.corrected = Some(entry(&uscc, ListType::AbnormalOperation, "D号", "2026-01-01", "2026-06-30"));
    county.amend(fix).unwrap();
    assert_eq!(ask(&c, &uscc, "评优评先", "2026-06-30").verdict.decision, Decision::Restrict);
    assert_eq!(ask(&c, &uscc, "评优评先", "2026-07-01").verdict.decision, Decision::None, "the corrected end applies");

    let e = publish(&county, &entry(&uscc, ListType::SeriousIllegalDishonesty, "E号", "2026-01-01", "2099-12-31"));
    county.amend(amend(EntryId::new(COUNTY, e), AmendmentAction::Revoke, "2026-01-15")).unwrap();
    let v = ask(&c, &uscc, "担任高管", "2026-08-01").verdict;
    assert_eq!(v.decision, Decision::None, "A expired, B repaired, E revoked: {:?}", v.hits);
    let v = ask(&c, &uscc, "担任高管", "2026-01-10").verdict;
    assert!(v.hits.iter().any(|h| h.index == e), "E is void from its effective date only");
    let err = county.amend(amend(EntryId::new(COUNTY, e), AmendmentAction::Repair, "2026-03-01")).unwrap_err();
    assert!(err.to_string().contains("已于"), "a void record takes no amendment: {err}");

    let states = county.states_about(&uscc).unwrap();
    let status: Vec<&str> = states.iter().map(|s| s.state.status_on(day("2026-08-01"))).collect();
    assert_eq!(
        status,
        ["已到期", "已修复", "已到期", "已撤销"],
        "{:?}",
        states.iter().map(|s| &s.state.id).collect::<Vec<_>>()
    );
    let _ = a;
}

#[test]
fn wrong_targets_and_wrong_amending_nodes_are_refused_naming_the_target() {
    let (store, province, county) = setup();
    let uscc = company();
    let i =
        publish(&county, &entry(&uscc, ListType::SeriousDishonesty, "长发改〔2026〕9号", "2026-01-10", "2099-12-31"));
    let size_before = county.status().unwrap().size;

    // Another county holding the record may not amend it.
    let other = ledger_on(OTHER_COUNTY, &store);
    let err = other.amend(amend(EntryId::new(COUNTY, i), AmendmentAction::RemoveFromList, "2026-02-01")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, AppError::Amend(_)), "{err:?}");
    assert!(msg.contains(&format!("{COUNTY}/{i}")) && msg.contains(OTHER_COUNTY), "{msg}");

    // A wrong index is refused even with the right natural key.
    let Record::ListEntry(l) =
        entry(&uscc, ListType::SeriousDishonesty, "长发改〔2026〕9号", "2026-01-10", "2099-12-31")
    else {
        unreachable!()
    };
    let wrong_index = serde_json::json!({
        "kind": "amendment",
        "target": {"origin": COUNTY, "index": i + 5, "natural_key": Record::ListEntry(l.clone()).natural_key()},
        "action": "移出名单", "reason": "r", "doc_no": "X1", "effective_date": "2026-02-01",
        "authority": "a", "authority_uscc": l.authority_uscc,
    });
    let err = county.publish(&serde_json::to_vec(&wrong_index).unwrap(), None).unwrap_err();
    assert!(err.to_string().contains("序号"), "{err}");
    // An unknown target is refused.
    let mut unknown = wrong_index.clone();
    unknown["target"] = serde_json::json!({"origin": COUNTY, "natural_key": "list_entry|x|nothing"});
    let err = county.publish(&serde_json::to_vec(&unknown).unwrap(), None).unwrap_err();
    assert!(err.to_string().contains("list_entry|x|nothing"), "{err}");
    // 移出名单 of something that is not a list entry.
    let commitment = Record::Commitment(gongxin_core::record::Commitment {
        subject: match entry(&uscc, ListType::RedList, "c", "2026-01-01", "2026-01-02") {
            Record::ListEntry(l) => l.subject,
            _ => unreachable!(),
        },
        commitment_type: "审批替代型".into(),
        content: "c".into(),
        doc_no: "承诺1".into(),
        date: day("2026-01-01"),
        authority: "a".into(),
        authority_uscc: l.authority_uscc.clone(),
    });
    let ci = publish(&county, &commitment);
    let err = county.amend(amend(EntryId::new(COUNTY, ci), AmendmentAction::RemoveFromList, "2026-02-01")).unwrap_err();
    assert!(err.to_string().contains("不适用"), "{err}");
    assert_eq!(county.status().unwrap().size, size_before + 1, "only the commitment was appended");

    // The province may amend any origin's record.
    province.amend(amend(EntryId::new(COUNTY, i), AmendmentAction::RemoveFromList, "2026-02-01")).unwrap();
    let c = Checker::new(county.clone());
    assert_eq!(ask(&c, &uscc, "政府采购", "2026-03-01").verdict.decision, Decision::None);
}

#[test]
fn catalogue_versions_apply_by_effective_date_and_only_the_province_publishes() {
    let (_, province, county) = setup();
    let uscc = company();
    publish(&county, &entry(&uscc, ListType::AbnormalOperation, "异常1号", "2026-01-01", "2099-12-31"));
    let c = Checker::new(county.clone());
    assert_eq!(ask(&c, &uscc, "政府采购", "2026-03-31").verdict.decision, Decision::Restrict);

    let mut v2 = Catalogue::embedded().unwrap();
    v2.version = 2;
    v2.effective_from = day("2026-04-01");
    v2.lists.retain(|l| l.list_type != ListType::AbnormalOperation);
    let err = county.publish_catalogue(&v2.to_json()).unwrap_err();
    assert!(matches!(err, AppError::NotProvince { .. }), "{err:?}");
    province.publish_catalogue(&v2.to_json()).unwrap();
    let err = province.publish_catalogue(&v2.to_json()).unwrap_err();
    assert!(err.to_string().contains("已发布"), "{err}");

    let before = ask(&c, &uscc, "政府采购", "2026-03-31").verdict;
    assert_eq!((before.decision, before.basis.catalogue_version), (Decision::Restrict, Some(1)));
    let after = ask(&c, &uscc, "政府采购", "2026-04-01").verdict;
    assert_eq!((after.decision, after.basis.catalogue_version), (Decision::None, Some(2)));
    let unknown = c.check(CheckQuery { subject: uscc, measure: "不存在".into(), day: None }).unwrap_err();
    assert!(unknown.to_string().contains("政府采购"), "the error lists known measures: {unknown}");
}

#[test]
fn an_unknown_subject_and_a_node_without_province_data_say_so() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let county = ledger_on(COUNTY, &store);
    let c = Checker::new(county.clone());
    let err = c.check(CheckQuery { subject: company(), measure: "政府采购".into(), day: None }).unwrap_err();
    assert!(err.to_string().contains("措施清单"), "no catalogue, no answer: {err}");

    let (_, _, county) = setup();
    let c = Checker::new(county);
    let v = ask(&c, &company(), "政府采购", "2026-06-01").verdict;
    assert_eq!(v.decision, Decision::None);
    assert!(!v.basis.subject_known);
    assert!(v.notes.iter().any(|n| n.contains("未掌握")), "{:?}", v.notes);
    assert!(v.basis.province_time.is_some() && v.basis.stale_seconds.is_some());
}

/// Checks answered at once, however they were batched, each verify on their own with their batch proof, and
/// every one is counted by the signer.
#[test]
fn concurrent_checks_each_verify_and_are_counted() {
    let (_, _, county) = setup();
    let uscc = company();
    publish(&county, &entry(&uscc, ListType::SeriousDishonesty, "并发1号", "2026-01-01", "2099-12-31"));
    let c = Arc::new(Checker::new(county.clone()));
    let answers: Vec<_> = (0..8)
        .map(|_| {
            let (c, uscc) = (c.clone(), uscc.clone());
            std::thread::spawn(move || (0..25).map(|_| ask(&c, &uscc, "政府采购", "2026-06-01")).collect::<Vec<_>>())
        })
        .flat_map(|t| t.join().unwrap())
        .collect();
    let key = county.signing_key().public_key();
    for v in &answers {
        assert_eq!(verify_verdict(&v.bytes, &v.batch, &key).unwrap(), v.verdict);
    }
    let (batches, verdicts) = c.signing_counts();
    assert_eq!(verdicts, 200);
    assert!((1..=200).contains(&batches));
    // A changed verdict does not verify under its proof. (Whether these checks shared signatures depends on
    // timing; `app::check::tests` shows the sharing deterministically.)
    let mut forged = answers[0].bytes.clone();
    forged[10] ^= 1;
    assert!(verify_verdict(&forged, &answers[0].batch, &key).is_err());
}

#[test]
fn feedback_is_signed_into_the_log_and_counted() {
    let (_, _, county) = setup();
    let uscc = company();
    publish(&county, &entry(&uscc, ListType::SeriousDishonesty, "反馈1号", "2026-01-01", "2099-12-31"));
    let c = Checker::new(county.clone());
    let v = ask(&c, &uscc, "政府采购", "2026-06-01");
    let size = county.status().unwrap().size;
    let idx = c.feedback(&v.id, None, FeedbackAction::Restricted, "已拒绝投标", "县财政局").unwrap();
    assert_eq!(idx, size);
    // A verdict the node no longer remembers needs its bytes; forged bytes are refused.
    let c2 = Checker::new(county.clone());
    assert!(c2.feedback(&v.id, None, FeedbackAction::NotRestricted, "", "x").is_err());
    let mut forged = v.bytes.clone();
    forged[10] ^= 1;
    assert!(c2.feedback("", Some((&forged, &v.batch)), FeedbackAction::NotRestricted, "", "x").is_err());
    c2.feedback(&v.id, Some((&v.bytes, &v.batch)), FeedbackAction::NotRestricted, "紧急采购", "x").unwrap();

    let r = c.report(None).unwrap();
    assert_eq!(r.feedback, 2);
    assert_eq!(r.rows.len(), 1);
    let row = &r.rows[0];
    assert_eq!((row.measure.as_str(), row.origin.as_str()), ("政府采购", COUNTY));
    assert_eq!((row.verdicts, row.hits, row.restricted, row.not_restricted), (2, 2, 1, 1));
    assert_eq!(c.report(Some(day("2099-01-01"))).unwrap().feedback, 0);
}

#[test]
fn reindex_rebuilds_the_credit_views() {
    let (store, province, county) = setup();
    let uscc = company();
    let i = publish(&county, &entry(&uscc, ListType::SeriousDishonesty, "重建1号", "2026-01-01", "2099-12-31"));
    county.amend(amend(EntryId::new(COUNTY, i), AmendmentAction::RemoveFromList, "2026-02-01")).unwrap();
    let c = Checker::new(county.clone());
    let v = ask(&c, &uscc, "政府采购", "2026-01-15");
    c.feedback(&v.id, None, FeedbackAction::Restricted, "", "x").unwrap();
    let rows = |s: &SharedStore| {
        let mut out = Vec::new();
        for t in views::VIEW_TABLES {
            for (k, _) in s.scan(t, &[], None, usize::MAX, false).unwrap() {
                out.push((t, k));
            }
        }
        out
    };
    let before = rows(&store);
    for t in [Table::AmendTarget, Table::KindIndex] {
        assert!(before.iter().any(|(x, _)| *x == t), "{t:?} has rows");
    }
    views::reindex(province.log()).unwrap();
    assert_eq!(rows(&store), before);
}
