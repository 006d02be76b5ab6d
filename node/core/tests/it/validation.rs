//! Data-driven tests of validation at the door: codes, the template's conditional rules, header matching,
//! file decoding, the record payload, the test-data generator and the shipped sample files.
//!
//! `cargo test -p gongxin-core --test it -- --ignored regenerate_samples` rewrites deploy/sample.

use gongxin_core::record::{Disclosure, Record, ShareType};
use gongxin_core::sheet::{read_table, table_rows};
use gongxin_core::template::{f, map_headers, validate_row, FileError, Kind, RefData, RowError};
use gongxin_core::testdata::{make_id, make_reg_no, make_uscc, to_csv, Generator};
use std::collections::BTreeMap;

type Row = BTreeMap<String, String>;

fn refs() -> &'static RefData {
    RefData::embedded()
}

/// A fixed, valid company-licence row.
fn license_base() -> Row {
    let authority = make_uscc('1', '1', "430102", "MB1C0345");
    [
        (f::NAME, "长沙市湘江餐饮管理有限公司"),
        (f::CATEGORY, "法人及非法人组织"),
        (f::CODE1_USCC, "91430000183764483Y"),
        (f::LEGAL_REP, "张伟"),
        (f::L_DOC_NAME, "食品经营许可决定书"),
        (f::L_DOC_NO, "芙市监许字〔2024〕第00012号"),
        (f::L_CATEGORY, "普通"),
        (f::L_CERT_NAME, "食品经营许可证"),
        (f::L_NO, "JY14301020012345"),
        (f::L_CONTENT, "热食类食品制售"),
        (f::L_DATE, "2024/03/05"),
        (f::L_FROM, "2024/03/05"),
        (f::L_TO, "2029/03/04"),
        (f::L_AUTHORITY, "芙蓉区市场监督管理局"),
        (f::L_AUTHORITY_USCC, authority.as_str()),
        (f::L_STATUS, "1"),
        (f::SOURCE, "芙蓉区市场监督管理局"),
        (f::SOURCE_USCC, authority.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A fixed, valid company-penalty row (警告；罚款 0.5 万元).
fn penalty_base() -> Row {
    let authority = make_uscc('1', '1', "430102", "MB1C0345");
    [
        (f::NAME, "长沙市湘江餐饮管理有限公司"),
        (f::CATEGORY, "法人及非法人组织"),
        (f::CODE1_USCC, "914403001922038216"),
        (f::LEGAL_REP, "张伟"),
        (f::P_DOC_NO, "芙市监罚决字〔2024〕118号"),
        (f::P_VIOLATION_TYPE, "经营超过保质期的食品"),
        (f::P_FACTS, "经查，当事人销售超过保质期的预包装食品。"),
        (f::P_BASIS, "《中华人民共和国食品安全法》第一百二十四条"),
        (f::P_CATEGORY, "警告；罚款"),
        (f::P_CONTENT, "1.警告；2.罚款人民币5000元"),
        (f::P_FINE, "0.5"),
        (f::P_DATE, "2024/03/05"),
        (f::P_VALID_UNTIL, "2025/03/05"),
        (f::P_PUBLICITY_UNTIL, "2024/06/05"),
        (f::P_AUTHORITY, "芙蓉区市场监督管理局"),
        (f::P_AUTHORITY_USCC, authority.as_str()),
        (f::SOURCE, "芙蓉区市场监督管理局"),
        (f::SOURCE_USCC, authority.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn base(kind: Kind) -> Row {
    match kind {
        Kind::License => license_base(),
        Kind::Penalty => penalty_base(),
        Kind::List => gongxin_core::testdata::Generator::new(1, "430102").list_row(),
    }
}

fn apply(row: &mut Row, edits: &[(&str, &str)]) {
    for (k, v) in edits {
        row.insert(k.to_string(), v.to_string());
    }
}

/// Turns the base row's subject into a natural person with a valid ID number.
const PERSON: &[(&str, &str)] = &[
    (f::NAME, "李湘平"),
    (f::CATEGORY, "自然人"),
    (f::CODE1_USCC, ""),
    (f::LEGAL_REP, ""),
    (f::ID_TYPE, "身份证"),
    (f::ID_NO, "11010519491231002X"),
];

fn run(kind: Kind, edits: &[&[(&str, &str)]]) -> Result<Record, Vec<RowError>> {
    let mut row = base(kind);
    for e in edits {
        apply(&mut row, e);
    }
    validate_row(kind, 7, &row, refs())
}

/// The check helper: `expected` lists (field, part of the reason); empty means the row must pass.
#[track_caller]
fn check(kind: Kind, edits: &[&[(&str, &str)]], expected: &[(&str, &str)]) {
    let got = run(kind, edits);
    match (&got, expected.is_empty()) {
        (Ok(_), true) => {}
        (Ok(_), false) => panic!("row passed, expected errors {expected:?}"),
        (Err(errs), true) => panic!("row rejected, expected to pass: {errs:#?}"),
        (Err(errs), false) => {
            assert_eq!(errs.len(), expected.len(), "errors: {errs:#?}");
            for (field, part) in expected {
                assert!(
                    errs.iter().any(|e| e.field == *field && e.reason.contains(part) && e.row == 7),
                    "no error on {field} containing '{part}' in {errs:#?}"
                );
            }
        }
    }
}

mod codes {
    use super::*;
    use gongxin_core::{idcard, uscc};

    #[test]
    fn uscc_known_answers() {
        for (code, ok) in [
            ("914403001922038216", true),
            ("91430000183764483Y", true),
            ("91350100M000100Y43", true),
            ("91350100M000100Y4Z", false),
            ("91350100M000100Y44", false),
            ("9135010OM000100Y43", false),
            ("91350100m000100Y43", false),
            ("9143000018376448", false),
        ] {
            assert_eq!(uscc::validate(code).is_ok(), ok, "{code}");
        }
        assert_eq!(
            uscc::validate("91350100M000100Y44").map_err(|e| e.to_string()),
            Err("校验位应为 3，实为 4 (GB 32100 check character should be 3, found 4)".to_string())
        );
    }

    #[test]
    fn id_known_answers() {
        for (id, ok) in [
            ("11010519491231002X", true),
            ("11010519491231002x", true),
            ("110105194912310021", false),
            ("110105200002300027", false),
            ("11010519491231002", false),
        ] {
            assert_eq!(idcard::validate(id).is_ok(), ok, "{id}");
        }
    }

    #[test]
    fn generated_codes_are_valid() {
        for i in 0..500u64 {
            let body = format!("{:08}", i * 7919);
            assert_eq!(uscc::validate(&make_uscc('9', '1', "430104", &body)), Ok(()));
            assert!(idcard::validate(&make_id(
                "430302",
                1960 + (i % 40) as i32,
                1 + (i % 12) as u8,
                1 + (i % 28) as u8,
                i as u16
            ))
            .is_ok());
            assert_eq!(uscc::validate_reg_no(&make_reg_no("430321", i * 104_729)), Ok(()));
        }
    }
}

mod license_rules {
    use super::*;
    const L: Kind = Kind::License;

    #[test]
    fn base_row_passes() {
        check(L, &[], &[]);
    }

    #[test]
    fn unified_codes() {
        check(L, &[&[(f::CODE1_USCC, "914403001922038216")]], &[]);
        check(L, &[&[(f::CODE1_USCC, "91350100M000100Y43")]], &[]);
        check(L, &[&[(f::CODE1_USCC, "91350100M000100Y4Z")]], &[(f::CODE1_USCC, "第 18 位字符 'Z'")]);
        check(L, &[&[(f::CODE1_USCC, "91430000183764483X")]], &[(f::CODE1_USCC, "校验位应为 Y，实为 X")]);
        check(L, &[&[(f::CODE1_USCC, "91430000183764493Y")]], &[(f::CODE1_USCC, "组织机构代码")]);
        check(L, &[&[(f::CODE1_USCC, "91430000183764483y")]], &[(f::CODE1_USCC, "大写")]);
        check(L, &[&[(f::CODE1_USCC, "9.14300E+17")]], &[(f::CODE1_USCC, "科学计数法")]);
        check(L, &[&[(f::CODE1_USCC, "")]], &[(f::CODE1_USCC, "必填项为空")]);
        check(L, &[&[(f::L_AUTHORITY_USCC, "")]], &[(f::L_AUTHORITY_USCC, "必填项为空")]);
        check(L, &[&[(f::SOURCE_USCC, "11430102MB1C03450")]], &[(f::SOURCE_USCC, "18 位")]);
    }

    #[test]
    fn placeholder_only_for_individual_business() {
        let ph = "00000000000000000X";
        check(L, &[&[(f::CODE1_USCC, ph)]], &[(f::CODE1_USCC, "只允许用于个体工商户")]);
        check(L, &[&[(f::L_AUTHORITY_USCC, ph)]], &[(f::L_AUTHORITY_USCC, "只允许用于个体工商户")]);
        let ib: &[(&str, &str)] = &[(f::CATEGORY, "个体工商户"), (f::CODE1_USCC, ph)];
        check(L, &[ib], &[(f::CODE2_REG_NO, "必须填写工商注册号")]);
        check(L, &[ib, &[(f::CODE2_REG_NO, "110108000000016")]], &[]);
        check(L, &[ib, &[(f::CODE2_REG_NO, "110108000000017")]], &[(f::CODE2_REG_NO, "校验位应为 6")]);
    }

    #[test]
    fn other_subject_codes() {
        check(L, &[&[(f::CODE3_ORG_CODE, "18376448-3")]], &[]);
        check(L, &[&[(f::CODE3_ORG_CODE, "19220382-1")]], &[(f::CODE3_ORG_CODE, "不一致")]);
        check(L, &[&[(f::CODE3_ORG_CODE, "18376448-4")]], &[(f::CODE3_ORG_CODE, "校验位应为 3")]);
        check(L, &[&[(f::CODE4_TAX_NO, "91430000183764483Y")]], &[]);
        check(L, &[&[(f::CODE4_TAX_NO, "4301")]], &[(f::CODE4_TAX_NO, "15、18 或 20 位")]);
    }

    #[test]
    fn natural_person_needs_id_fields() {
        check(L, &[PERSON], &[]);
        check(L, &[PERSON, &[(f::ID_NO, "")]], &[(f::ID_NO, "自然人时必填")]);
        check(L, &[PERSON, &[(f::ID_TYPE, "")]], &[(f::ID_TYPE, "自然人时必填")]);
        check(L, &[PERSON, &[(f::ID_NO, "110105194912310021")]], &[(f::ID_NO, "校验位应为 X，实为 1")]);
        check(L, &[PERSON, &[(f::ID_NO, "110105194902300021")]], &[(f::ID_NO, "出生日期 19490230")]);
        check(L, &[PERSON, &[(f::ID_NO, "110105491231002")]], &[(f::ID_NO, "15 位")]);
        check(L, &[PERSON, &[(f::ID_NO, "4.30102E+17")]], &[(f::ID_NO, "科学计数法")]);
        check(L, &[PERSON, &[(f::CODE1_USCC, "91430000183764483Y")]], &[(f::CODE1_USCC, "自然人时此项应为空")]);
        check(L, &[PERSON, &[(f::ID_TYPE, "护照号"), (f::ID_NO, "E12345678")]], &[]);
        check(L, &[PERSON, &[(f::ID_TYPE, "其他-军官证"), (f::ID_NO, "JG2024001")]], &[]);
        check(L, &[PERSON, &[(f::ID_TYPE, "其他")]], &[(f::ID_TYPE, "不是允许的取值")]);
        check(L, &[PERSON, &[(f::ID_TYPE, "驾驶证")]], &[(f::ID_TYPE, "不是允许的取值")]);
        check(L, &[PERSON, &[(f::ID_TYPE, "外国人永久居留身份证"), (f::ID_NO, "USA110079050101")]], &[]);
    }

    #[test]
    fn organisation_must_not_carry_person_id() {
        check(
            L,
            &[&[(f::ID_TYPE, "身份证"), (f::ID_NO, "11010519491231002X")]],
            &[(f::ID_TYPE, "不是自然人时此项应为空"), (f::ID_NO, "不是自然人时此项应为空")],
        );
        check(L, &[&[(f::LEGAL_REP, "")]], &[(f::LEGAL_REP, "必填")]);
        check(L, &[&[(f::LEGAL_REP_ID_TYPE, "身份证"), (f::LEGAL_REP_ID_NO, "11010519491231002X")]], &[]);
        check(L, &[&[(f::LEGAL_REP_ID_TYPE, "身份证")]], &[(f::LEGAL_REP_ID_NO, "已填法定代表人证件类型时必填")]);
        check(
            L,
            &[&[(f::LEGAL_REP_ID_TYPE, "身份证"), (f::LEGAL_REP_ID_NO, "110105194912310021")]],
            &[(f::LEGAL_REP_ID_NO, "校验位")],
        );
        check(L, &[&[(f::CATEGORY, "企业")]], &[(f::CATEGORY, "不是允许的取值")]);
    }

    #[test]
    fn coded_values() {
        for c in ["普通", "特许", "认可", "核准", "登记", "其他"] {
            check(L, &[&[(f::L_CATEGORY, c)]], &[]);
        }
        check(L, &[&[(f::L_CATEGORY, "一般")]], &[(f::L_CATEGORY, "普通 / 特许 / 认可 / 核准 / 登记 / 其他")]);
        for s in ["1", "2", "有效", "无效"] {
            check(L, &[&[(f::L_STATUS, s)]], &[]);
        }
        check(L, &[&[(f::L_STATUS, "3")]], &[(f::L_STATUS, "有效 / 无效")]);
    }

    #[test]
    fn dates() {
        check(L, &[&[(f::L_DATE, "2024-03-05")]], &[]);
        check(L, &[&[(f::L_DATE, "2024/3/5")]], &[]);
        check(L, &[&[(f::L_TO, "2099/12/31")]], &[]);
        check(L, &[&[(f::L_DATE, "2023/02/29")]], &[(f::L_DATE, "不存在")]);
        check(L, &[&[(f::L_DATE, "20240305")]], &[(f::L_DATE, "YYYY/MM/DD")]);
        check(L, &[&[(f::L_DATE, "")]], &[(f::L_DATE, "必填项为空")]);
        check(L, &[&[(f::L_TO, "2024/03/01")]], &[(f::L_TO, "早于 有效期自")]);
        let long_term = run(L, &[&[(f::L_TO, "2099/12/31")]]);
        assert!(matches!(long_term, Ok(Record::License(ref l)) if l.valid_to.is_long_term()));
    }

    #[test]
    fn certificate_needs_number_and_division_is_checked() {
        check(L, &[&[(f::L_NO, "")]], &[(f::L_NO, "许可编号")]);
        check(L, &[&[(f::L_NO, ""), (f::L_CERT_NAME, "")]], &[]);
        check(L, &[&[(f::DIVISION, "430102")]], &[]);
        // 望城县, a historical code: fine for a decision before it was retired (2011), an error after it.
        check(L, &[&[(f::DIVISION, "430122"), (f::L_DATE, "2010/03/05"), (f::L_FROM, "2010/03/05")]], &[]);
        check(L, &[&[(f::DIVISION, "430122")]], &[(f::DIVISION, "已于 2011 年停用，早于决定日期 2024-03-05")]);
        check(L, &[&[(f::DIVISION, "439999")]], &[(f::DIVISION, "不在湖南省行政区划表")]);
        check(L, &[&[(f::DIVISION, "4301")]], &[(f::DIVISION, "6 位")]);
    }

    #[test]
    fn every_error_of_a_row_is_reported() {
        let errs = run(L, &[&[(f::CODE1_USCC, "91430000183764483X"), (f::L_STATUS, "9"), (f::L_DATE, "2024/13/01")]])
            .err()
            .unwrap_or_default();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec![f::CODE1_USCC, f::L_DATE, f::L_STATUS]);
    }

    #[test]
    fn cell_hygiene() {
        check(L, &[&[(f::NAME, "  长沙市湘江餐饮管理有限公司\u{3000}")]], &[]);
        check(L, &[&[(f::NAME, "长沙\u{0007}公司")]], &[(f::NAME, "控制字符")]);
        let long = "很".repeat(201);
        check(L, &[&[(f::NAME, long.as_str())]], &[(f::NAME, "超过上限 200")]);
        let mut row = license_base();
        row.insert(gongxin_core::template::EXTRA_CELLS_KEY.to_string(), "2".to_string());
        let errs = validate_row(L, 3, &row, refs()).err().unwrap_or_default();
        assert!(errs.len() == 1 && errs[0].reason.contains("超出表头列数"), "{errs:?}");
    }
}

mod penalty_rules {
    use super::*;
    const P: Kind = Kind::Penalty;

    #[test]
    fn base_row_passes() {
        check(P, &[], &[]);
    }

    #[test]
    fn fine_required_when_category_contains_fine() {
        check(P, &[&[(f::P_FINE, "")]], &[(f::P_FINE, "处罚类别含罚款时必填")]);
        check(P, &[&[(f::P_FINE, "0")]], &[(f::P_FINE, "应大于 0")]);
        check(P, &[&[(f::P_FINE, "5000元")]], &[(f::P_FINE, "单位为万元")]);
        check(P, &[&[(f::P_FINE, "-0.5")]], &[(f::P_FINE, "负数")]);
        check(P, &[&[(f::P_FINE, "1,000")]], &[(f::P_FINE, "千位分隔符")]);
        check(P, &[&[(f::P_FINE, "0.1234567")]], &[(f::P_FINE, "6 位")]);
        check(P, &[&[(f::P_FINE, "0.000001")]], &[]);
        check(P, &[&[(f::P_CATEGORY, "警告"), (f::P_FINE, "0.5")]], &[(f::P_FINE, "不含罚款")]);
        check(P, &[&[(f::P_CATEGORY, "警告"), (f::P_FINE, "")]], &[]);
        check(P, &[&[(f::P_CATEGORY, "警告"), (f::P_FINE, "0")]], &[]);
    }

    #[test]
    fn confiscation_required_when_category_contains_confiscation() {
        check(P, &[&[(f::P_CATEGORY, "没收违法所得；罚款")]], &[(f::P_CONFISCATION, "处罚类别含没收时必填")]);
        check(
            P,
            &[&[(f::P_CATEGORY, "没收违法所得；罚款"), (f::P_CONFISCATION, "0.12"), (f::P_PUBLICITY_UNTIL, "")]],
            &[],
        );
        check(
            P,
            &[&[
                (f::P_CATEGORY, "没收违法所得、没收非法财物"),
                (f::P_FINE, ""),
                (f::P_CONFISCATION, "3"),
                (f::P_PUBLICITY_UNTIL, ""),
            ]],
            &[],
        );
        check(P, &[&[(f::P_CONFISCATION, "0.3")]], &[(f::P_CONFISCATION, "不含没收")]);
    }

    #[test]
    fn categories_are_multi_valued() {
        for cats in ["警告；罚款", "警告;罚款", "警告、罚款", "警告,罚款", "警告，罚款", " 警告 ； 罚款 ；"]
        {
            match run(P, &[&[(f::P_CATEGORY, cats)]]) {
                Ok(Record::Penalty(p)) => assert_eq!(p.categories, vec!["警告", "罚款"], "{cats}"),
                other => panic!("{cats}: {other:?}"),
            }
        }
        check(P, &[&[(f::P_CATEGORY, "其他-责令改正"), (f::P_FINE, ""), (f::P_PUBLICITY_UNTIL, "")]], &[]);
        check(P, &[&[(f::P_CATEGORY, "其他"), (f::P_FINE, "")]], &[(f::P_CATEGORY, "须注明具体类别")]);
        check(P, &[&[(f::P_CATEGORY, "警告；罚金")]], &[(f::P_CATEGORY, "'罚金' 不是模板允许的取值")]);
        check(P, &[&[(f::P_CATEGORY, "")]], &[(f::P_CATEGORY, "必填项为空")]);
    }

    #[test]
    fn suspension_needs_licence_name() {
        check(P, &[&[(f::P_CATEGORY, "罚款；吊销许可证件")]], &[(f::P_SUSPENDED, "暂扣或吊销时必填")]);
        check(
            P,
            &[&[
                (f::P_CATEGORY, "罚款；吊销许可证件"),
                (f::P_SUSPENDED, "食品经营许可证 JY14301020012345"),
                (f::P_PUBLICITY_UNTIL, ""),
            ]],
            &[],
        );
    }

    #[test]
    fn dates() {
        check(P, &[&[(f::P_VALID_UNTIL, "2099/12/31")]], &[]);
        check(P, &[&[(f::P_PUBLICITY_UNTIL, "")]], &[]);
        check(P, &[&[(f::P_DATE, "2024.03.05")]], &[(f::P_DATE, "YYYY/MM/DD")]);
        check(P, &[&[(f::P_VALID_UNTIL, "2024/01/01")]], &[(f::P_VALID_UNTIL, "早于 处罚决定日期")]);
        check(P, &[&[(f::P_PUBLICITY_UNTIL, "2024/01/01")]], &[(f::P_PUBLICITY_UNTIL, "早于 处罚决定日期")]);
    }

    #[test]
    fn natural_person_penalty() {
        check(P, &[PERSON], &[]);
        check(P, &[PERSON, &[(f::ID_NO, "")]], &[(f::ID_NO, "自然人时必填")]);
    }
}

mod records {
    use super::*;
    use gongxin_core::record::{mask_id, mask_name};

    fn penalty() -> Record {
        match validate_row(Kind::Penalty, 1, &penalty_base(), refs()) {
            Ok(r) => r,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn payload_is_canonical_with_money_as_string() {
        let r = penalty();
        let bytes = r.to_payload_json();
        let text = String::from_utf8(bytes.clone()).unwrap_or_default();
        assert!(text.starts_with(r#"{"kind":"penalty","subject":{"name":"长沙市湘江餐饮管理有限公司""#), "{text}");
        assert!(text.contains(r#""fine":"0.5""#), "{text}");
        assert!(text.contains(r#""decision_date":"2024-03-05""#), "{text}");
        assert_eq!(Record::from_payload_json(&bytes).ok(), Some(r.clone()));
        // Same input, same bytes; a re-spaced payload is refused.
        assert_eq!(penalty().to_payload_json(), bytes);
        let spaced = text.replacen(',', ", ", 1);
        assert!(Record::from_payload_json(spaced.as_bytes()).is_err());
        // A payload of a later format version is refused by name, not misread.
        let v2 = text.replacen(r#"{"kind""#, r#"{"format":2,"kind""#, 1);
        let err = Record::from_payload_json(v2.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("record payload: format version 2"), "{err}");
        // "0.50" and "0.5" are the same amount and give the same payload.
        let mut row = penalty_base();
        row.insert(f::P_FINE.into(), "0.50".into());
        assert_eq!(validate_row(Kind::Penalty, 1, &row, refs()).map(|r| r.to_payload_json()).ok(), Some(bytes));
    }

    #[test]
    fn keys_and_classification() {
        let r = penalty();
        assert_eq!(r.kind_str(), "penalty");
        let authority = make_uscc('1', '1', "430102", "MB1C0345");
        // One decision of one authority about one subject (issue 12: the subject is part of the key).
        assert_eq!(r.natural_key(), format!("penalty|{authority}|芙市监罚决字〔2024〕118号|914403001922038216"));
        assert_eq!(r.subject_keys(), vec!["914403001922038216"]);
        assert_eq!((r.share_type(), r.disclosure()), (ShareType::Unconditional, Disclosure::Public));
        assert_eq!(r.decision_date().to_string(), "2024-03-05");

        let mut row = license_base();
        apply(&mut row, PERSON);
        let p = validate_row(Kind::License, 1, &row, refs()).map_err(|e| format!("{e:?}"));
        let p = p.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.subject_keys(), vec!["11010519491231002X"]);
        assert_eq!((p.share_type(), p.disclosure()), (ShareType::Conditional, Disclosure::OnAuthorisedQuery));
        let masked = p.masked_for_public();
        let subject = masked.subject().cloned();
        assert_eq!(subject.as_ref().map(|s| s.name.as_str()), Some("李*"));
        assert_eq!(subject.and_then(|s| s.id_no), Some("1101**********002X".to_string()));

        let mut row = license_base();
        apply(
            &mut row,
            &[(f::CATEGORY, "个体工商户"), (f::CODE1_USCC, "00000000000000000X"), (f::CODE2_REG_NO, "110108000000016")],
        );
        let ib = validate_row(Kind::License, 1, &row, refs()).map(|r| r.subject_keys());
        assert_eq!(ib, Ok(vec!["110108000000016".to_string()]));
    }

    #[test]
    fn masking_helpers() {
        assert_eq!(mask_id("430102199001011234"), "4301**********1234");
        assert_eq!(mask_name("张三"), "张*");
    }
}

mod files {
    use super::*;

    fn headers(kind: Kind) -> Vec<String> {
        gongxin_core::template::fields(kind).iter().map(|s| s.name.to_string()).collect()
    }

    #[test]
    fn header_variants_and_unknown_columns() {
        let mut h = headers(Kind::Penalty);
        for x in h.iter_mut() {
            *x = x.replace('(', "（").replace(')', "）");
        }
        h[2] = "统一社会信用代码".into();
        h.push("经办人".into());
        let map = map_headers(Kind::Penalty, &h).map_err(|e| e.to_string());
        let map = map.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(map.columns[2], Some(f::CODE1_USCC));
        assert_eq!(map.unknown, vec![(h.len(), "经办人".to_string())]);
        assert!(map.warnings()[0].contains("经办人"));
    }

    #[test]
    fn missing_and_duplicate_columns_reject_the_file() {
        let h: Vec<String> =
            headers(Kind::License).into_iter().filter(|x| x != f::L_DOC_NO && x != f::L_STATUS).collect();
        match map_headers(Kind::License, &h) {
            Err(FileError::MissingColumns { missing, hint: None, .. }) => {
                assert_eq!(missing, vec![f::L_DOC_NO.to_string(), f::L_STATUS.to_string()])
            }
            other => panic!("{other:?}"),
        }
        // A penalty file checked as a licence file: missing columns, and a hint to use --kind penalty.
        match map_headers(Kind::License, &headers(Kind::Penalty)) {
            Err(e @ FileError::MissingColumns { hint: Some(_), .. }) => {
                assert!(e.to_string().contains("--kind penalty"))
            }
            other => panic!("{other:?}"),
        }
        let mut h = headers(Kind::License);
        h.push("统一社会信用代码".into());
        assert!(matches!(map_headers(Kind::License, &h), Err(FileError::DuplicateColumn { first_column: 3, .. })));
    }

    fn csv_rows(kind: Kind, text: &[u8]) -> Vec<(u64, Result<Record, Vec<RowError>>)> {
        let t = read_table(text, "x.csv").unwrap_or_else(|e| panic!("{e}"));
        let map = map_headers(kind, &t.headers).unwrap_or_else(|e| panic!("{e}"));
        table_rows(&t, &map).into_iter().map(|(n, r)| (n, validate_row(kind, n, &r, refs()))).collect()
    }

    #[test]
    fn csv_round_trip_bom_gb18030_blank_lines_and_ragged_rows() {
        let rows = vec![license_base(), license_base()];
        let csv = to_csv(Kind::License, &rows);
        let text = String::from_utf8(csv.clone()).unwrap_or_default();
        // A blank line between the rows keeps its number; a trailing extra cell is reported.
        let lines: Vec<&str> = text.split("\r\n").collect();
        let text = format!("{}\r\n{}\r\n,,,\r\n{},多出来的\r\n", lines[0], lines[1], lines[2]);
        let got = csv_rows(Kind::License, text.as_bytes());
        assert_eq!(got.len(), 2);
        assert!(got[0].0 == 1 && got[0].1.is_ok());
        assert_eq!(got[1].0, 3);
        assert!(matches!(&got[1].1, Err(e) if e[0].reason.contains("超出表头列数")));

        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(&csv);
        assert!(csv_rows(Kind::License, &bom).iter().all(|(_, r)| r.is_ok()));
        let (gb, _, unmappable) = encoding_rs::GB18030.encode(std::str::from_utf8(&csv).unwrap_or(""));
        assert!(!unmappable && gb.len() < csv.len());
        let t = read_table(&gb, "x.csv").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.source_format, "GB18030");
        assert!(csv_rows(Kind::License, &gb).iter().all(|(_, r)| r.is_ok()));
    }

    #[test]
    fn malformed_files() {
        assert_eq!(read_table(b"", "a.csv"), Err(FileError::Empty));
        assert_eq!(read_table(b"\r\n \n", "a.csv"), Err(FileError::Empty));
        // Bytes that are neither UTF-8 nor GB18030 (0x80 alone, 0xFF) name the line.
        let mut bad = "行政相对人名称,备注\n".as_bytes().to_vec();
        bad.extend_from_slice(b"ok,ok\nx,\xFF\x80\n");
        match read_table(&bad, "a.csv") {
            Err(e @ FileError::Encoding { line: 3, .. }) => assert!(e.to_string().contains("GB18030")),
            other => panic!("{other:?}"),
        }
        // A "workbook" that is not one.
        assert!(matches!(read_table(b"PK\x03\x04garbage", "a.xlsx"), Err(FileError::Workbook { .. })));
        assert!(matches!(read_table(b"a,b\n1,2\n", "a.xlsx"), Err(FileError::Workbook { .. })));
        // Unterminated quote: the csv crate reads to the end; the row then has the wrong shape, never a panic.
        let t = read_table(b"a,b\n\"1,2\n3,4\n", "a.csv");
        assert!(t.is_ok());
    }

    #[test]
    fn quoted_cells_keep_commas_and_newlines() {
        let mut row = penalty_base();
        row.insert(f::P_FACTS.into(), "经查，当事人\n\"多次\"销售, 过期食品".into());
        let csv = to_csv(Kind::Penalty, &[row]);
        match &csv_rows(Kind::Penalty, &csv)[..] {
            [(1, Ok(Record::Penalty(p)))] => assert_eq!(p.violation_facts, "经查，当事人\n\"多次\"销售, 过期食品"),
            other => panic!("{other:?}"),
        }
    }
}

mod generator {
    use super::*;

    #[test]
    fn generated_rows_are_valid_deterministic_and_unique() {
        for county in ["430102", "430104", "430302", "430321", "431202"] {
            for kind in [Kind::License, Kind::Penalty] {
                let mut g = Generator::new(42, county);
                let mut keys = std::collections::BTreeSet::new();
                for i in 0..600u64 {
                    let row = g.row(kind);
                    match validate_row(kind, i + 1, &row, refs()) {
                        Ok(r) => assert!(keys.insert(r.natural_key()), "duplicate key {}", r.natural_key()),
                        Err(e) => panic!("{county} {kind} row {i}: {e:#?}\n{row:#?}"),
                    }
                }
            }
        }
        let a = gongxin_core::testdata::rows(Kind::Penalty, 7, "430104", 50);
        assert_eq!(a, gongxin_core::testdata::rows(Kind::Penalty, 7, "430104", 50));
        assert_ne!(a, gongxin_core::testdata::rows(Kind::Penalty, 8, "430104", 50));
        // Different seeds for the same county give different natural keys (usable for repeated imports).
        let k = |seed| Generator::new(seed, "430102").record(Kind::License).natural_key();
        assert_ne!(k(1), k(2));
    }

    #[test]
    fn generated_mix_covers_all_subject_categories() {
        let rows = gongxin_core::testdata::rows(Kind::Penalty, 3, "430321", 400);
        for cat in ["法人及非法人组织", "个体工商户", "自然人"] {
            assert!(rows.iter().any(|r| r.get(f::CATEGORY).map(String::as_str) == Some(cat)), "{cat}");
        }
        assert!(rows.iter().any(|r| r.get(f::CODE1_USCC).map(String::as_str) == Some("00000000000000000X")));
        assert!(rows.iter().any(|r| r.get(f::P_CATEGORY).is_some_and(|c| c.contains("没收"))));
    }
}

/// The sample department exports in deploy/sample: generated from `testdata` with deliberately bad rows.
mod samples {
    use super::*;
    use std::path::PathBuf;

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Enc {
        Utf8Bom,
        Utf8,
        Gb18030,
        Xlsx,
    }

    impl Enc {
        fn describe(&self) -> &'static str {
            match self {
                Enc::Utf8Bom => "CSV，UTF-8 带 BOM（Excel「CSV UTF-8」）",
                Enc::Utf8 => "CSV，UTF-8 无 BOM",
                Enc::Gb18030 => "CSV，GB18030（中文 Excel 默认「CSV」），表头用全角括号和简写「统一社会信用代码」",
                Enc::Xlsx => "XLSX（日期为 Excel 日期单元格，决定日期为零点的日期时间单元格，金额为数字单元格；工作簿含「填报说明」页、带合并标题行的「数据」页和隐藏的「旧表」页，只读「数据」页）",
            }
        }
    }

    struct Bad {
        row: usize,
        field: &'static str,
        why: &'static str,
        edit: fn(&mut Row),
    }

    struct Sample {
        file: &'static str,
        county: &'static str,
        kind: Kind,
        enc: Enc,
        rows: usize,
        bad: Vec<Bad>,
    }

    const SEED: u64 = 1000;
    const ROWS: usize = 40;

    fn set(r: &mut Row, kv: &[(&str, &str)]) {
        for (k, v) in kv {
            r.insert(k.to_string(), v.to_string());
        }
    }

    fn company(r: &mut Row, code: &str) {
        set(
            r,
            &[
                (f::CATEGORY, "法人及非法人组织"),
                (f::NAME, "湘潭市潇湘建材有限公司"),
                (f::CODE1_USCC, code),
                (f::CODE2_REG_NO, ""),
                (f::CODE3_ORG_CODE, ""),
                (f::CODE4_TAX_NO, ""),
                (f::LEGAL_REP, "周建华"),
                (f::LEGAL_REP_ID_TYPE, ""),
                (f::LEGAL_REP_ID_NO, ""),
                (f::ID_TYPE, ""),
                (f::ID_NO, ""),
            ],
        );
    }

    fn person(r: &mut Row, id: &str) {
        set(
            r,
            &[
                (f::CATEGORY, "自然人"),
                (f::NAME, "刘海燕"),
                (f::CODE1_USCC, ""),
                (f::CODE2_REG_NO, ""),
                (f::CODE3_ORG_CODE, ""),
                (f::CODE4_TAX_NO, ""),
                (f::LEGAL_REP, ""),
                (f::LEGAL_REP_ID_TYPE, ""),
                (f::LEGAL_REP_ID_NO, ""),
                (f::ID_TYPE, "身份证"),
                (f::ID_NO, id),
            ],
        );
    }

    fn good_company_code() -> String {
        make_uscc('9', '1', "430102", "MA4L16JQ")
    }

    fn bad(row: usize, field: &'static str, why: &'static str, edit: fn(&mut Row)) -> Bad {
        Bad { row, field, why, edit }
    }

    fn samples() -> Vec<Sample> {
        use Kind::{License as L, Penalty as P};
        vec![
            Sample {
                file: "430102_license.csv",
                county: "430102",
                kind: L,
                enc: Enc::Utf8Bom,
                rows: ROWS,
                bad: vec![
                    bad(5, f::CODE1_USCC, "统一社会信用代码最后一位校验位错误", |r| {
                        let mut c = good_company_code();
                        let last = c.pop().unwrap_or('0');
                        c.push(if last == '0' { '1' } else { '0' });
                        company(r, &c);
                    }),
                    bad(12, f::L_DATE, "许可决定日期 2023/02/29 不存在", |r| {
                        set(r, &[(f::L_DATE, "2023/02/29")])
                    }),
                    bad(27, f::ID_NO, "自然人缺少证件号码", |r| person(r, "")),
                ],
            },
            Sample {
                file: "430102_penalty.csv",
                county: "430102",
                kind: P,
                enc: Enc::Utf8Bom,
                rows: ROWS,
                bad: vec![
                    bad(3, f::P_FINE, "处罚类别为罚款但罚款金额为空", |r| {
                        set(r, &[(f::P_CATEGORY, "罚款"), (f::P_FINE, ""), (f::P_CONFISCATION, "")])
                    }),
                    bad(18, f::ID_NO, "身份证号码中的出生日期 19900230 不存在", |r| {
                        person(r, &make_id("430104", 1990, 2, 30, 517))
                    }),
                    bad(33, f::DIVISION, "地方编码 439999 不是湖南省区划代码", |r| {
                        set(r, &[(f::DIVISION, "439999")])
                    }),
                ],
            },
            Sample {
                file: "430104_license.csv",
                county: "430104",
                kind: L,
                enc: Enc::Gb18030,
                rows: ROWS,
                bad: vec![
                    bad(8, f::CODE1_USCC, "法人使用了个体工商户专用占位码 00000000000000000X", |r| {
                        company(r, "00000000000000000X")
                    }),
                    bad(21, f::L_CATEGORY, "许可类别「一般许可」不是模板取值", |r| {
                        set(r, &[(f::L_CATEGORY, "一般许可")])
                    }),
                    bad(
                        36,
                        f::L_AUTHORITY_USCC,
                        "许可机关统一社会信用代码含字母 O（GB 32100 不用 I O Z S V）",
                        |r| {
                            let c: String = r.get(f::L_AUTHORITY_USCC).cloned().unwrap_or_default();
                            let mut chars: Vec<char> = c.chars().collect();
                            if chars.len() > 10 {
                                chars[9] = 'O';
                            }
                            set(r, &[(f::L_AUTHORITY_USCC, &chars.into_iter().collect::<String>())]);
                        },
                    ),
                ],
            },
            Sample {
                file: "430104_penalty.csv",
                county: "430104",
                kind: P,
                enc: Enc::Gb18030,
                rows: ROWS,
                bad: vec![
                    bad(6, f::P_FINE, "罚款金额写成「5000元」（应为以万元计的数字 0.5）", |r| {
                        set(r, &[(f::P_CATEGORY, "罚款"), (f::P_FINE, "5000元"), (f::P_CONFISCATION, "")])
                    }),
                    bad(15, f::P_CATEGORY, "处罚类别为「其他」但未注明具体类别", |r| {
                        set(r, &[(f::P_CATEGORY, "其他"), (f::P_FINE, ""), (f::P_CONFISCATION, "")])
                    }),
                    bad(29, f::P_AUTHORITY_USCC, "处罚机关统一社会信用代码为空", |r| {
                        set(r, &[(f::P_AUTHORITY_USCC, "")])
                    }),
                ],
            },
            Sample {
                file: "430302_license.xlsx",
                county: "430302",
                kind: L,
                enc: Enc::Xlsx,
                rows: ROWS,
                bad: vec![
                    bad(4, f::CODE2_REG_NO, "个体工商户使用占位码但未填工商注册号", |r| {
                        company(r, "00000000000000000X");
                        set(r, &[(f::CATEGORY, "个体工商户"), (f::NAME, "雨湖区王记米粉店")]);
                    }),
                    bad(19, f::L_STATUS, "当前状态为 3（只允许 1/有效、2/无效）", |r| {
                        set(r, &[(f::L_STATUS, "3")])
                    }),
                    bad(
                        31,
                        f::CODE3_ORG_CODE,
                        "组织机构代码与统一社会信用代码第 9–17 位不一致",
                        |r| {
                            company(r, &good_company_code());
                            set(r, &[(f::CODE3_ORG_CODE, "19220382-1")]);
                        },
                    ),
                ],
            },
            Sample {
                file: "430302_penalty.xlsx",
                county: "430302",
                kind: P,
                enc: Enc::Xlsx,
                rows: ROWS,
                bad: vec![
                    bad(9, f::P_CONFISCATION, "处罚类别含没收违法所得但没收金额为空", |r| {
                        set(r, &[(f::P_CATEGORY, "没收违法所得；罚款"), (f::P_FINE, "0.2"), (f::P_CONFISCATION, "")])
                    }),
                    bad(22, f::P_VALID_UNTIL, "处罚有效期 2000/01/01 早于处罚决定日期", |r| {
                        set(r, &[(f::P_VALID_UNTIL, "2000/01/01")])
                    }),
                    bad(38, f::CATEGORY, "行政相对人类别「企业」不是模板取值", |r| {
                        set(r, &[(f::CATEGORY, "企业")])
                    }),
                ],
            },
            Sample {
                file: "430321_license.csv",
                county: "430321",
                kind: L,
                enc: Enc::Utf8,
                rows: ROWS,
                bad: vec![
                    bad(2, f::ID_NO, "自然人身份证号码校验位错误", |r| {
                        let mut id = make_id("430321", 1978, 11, 3, 241);
                        let last = id.pop().unwrap_or('0');
                        id.push(if last == '1' { '2' } else { '1' });
                        person(r, &id);
                    }),
                    bad(17, f::L_TO, "有效期至 2020/01/01 早于有效期自", |r| {
                        set(r, &[(f::L_TO, "2020/01/01")])
                    }),
                    bad(40, f::ID_NO, "法人填写了自然人证件类型和证件号码", |r| {
                        company(r, &good_company_code());
                        set(r, &[(f::ID_TYPE, "身份证"), (f::ID_NO, &make_id("430321", 1980, 5, 6, 35))]);
                    }),
                ],
            },
            Sample {
                file: "430321_penalty.csv",
                county: "430321",
                kind: P,
                enc: Enc::Utf8,
                rows: ROWS,
                bad: vec![
                    bad(
                        11,
                        f::P_SUSPENDED,
                        "处罚类别含吊销许可证件但未填暂扣或吊销证照名称及编号",
                        |r| {
                            set(
                                r,
                                &[
                                    (f::P_CATEGORY, "罚款；吊销许可证件"),
                                    (f::P_FINE, "1"),
                                    (f::P_CONFISCATION, ""),
                                    (f::P_SUSPENDED, ""),
                                ],
                            )
                        },
                    ),
                    bad(25, f::P_DATE, "处罚决定日期写成 2024.03.05", |r| set(r, &[(f::P_DATE, "2024.03.05")])),
                    bad(34, f::P_FINE, "罚款金额为负数 -0.5", |r| {
                        set(r, &[(f::P_CATEGORY, "罚款"), (f::P_FINE, "-0.5"), (f::P_CONFISCATION, "")])
                    }),
                ],
            },
        ]
    }

    fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/sample")
    }

    /// The rows of a sample file, bad rows already edited in.
    fn rows_of(s: &Sample) -> Vec<Row> {
        let mut rows = gongxin_core::testdata::rows(s.kind, SEED, s.county, s.rows);
        for b in &s.bad {
            (b.edit)(&mut rows[b.row - 1]);
        }
        rows
    }

    /// The CSV text (UTF-8) of a sample, with the header variants the GB18030 files use.
    fn csv_text(s: &Sample) -> String {
        let csv = String::from_utf8(to_csv(s.kind, &rows_of(s))).unwrap_or_default();
        if s.enc != Enc::Gb18030 {
            return csv;
        }
        let (header, rest) = csv.split_once("\r\n").unwrap_or((&csv, ""));
        let header = header.replace(f::CODE1_USCC, "统一社会信用代码").replace('(', "（").replace(')', "）");
        format!("{header}\r\n{rest}")
    }

    /// The exact bytes of a CSV sample.
    fn csv_bytes(s: &Sample) -> Vec<u8> {
        let text = csv_text(s);
        match s.enc {
            Enc::Utf8Bom => [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat(),
            Enc::Utf8 => text.into_bytes(),
            Enc::Gb18030 => encoding_rs::GB18030.encode(&text).0.into_owned(),
            Enc::Xlsx => Vec::new(),
        }
    }

    fn readme() -> String {
        let mut s = String::from(
            "# 样例数据 Sample department exports\n\n\
             Realistic 行政许可 and 行政处罚 exports of four Hunan counties (芙蓉区 430102, 岳麓区 430104, \
             雨湖区 430302, 湘潭县 430321) in the national 双公示 template, in the encodings departments actually \
             send. Every row is made by `gongxin_core::testdata` (valid unified social credit codes, ID numbers and \
             division codes, fictitious names), and a few rows per file are broken on purpose, listed below.\n\n\
             Row numbers count data rows from 1 (the header is not counted), as `gongxin validate` reports them.\n\n\
             ```sh\ngongxin validate --kind license deploy/sample/430102_license.csv\n\
             gongxin validate --kind penalty deploy/sample/430302_penalty.xlsx -o json\n```\n\n\
             Regenerate (CSV files and this README; the XLSX files through `make_xlsx.py`, standard-library Python):\n\n\
             ```sh\ncargo test -p gongxin-core --test it -- --ignored regenerate_samples\n```\n\n\
             `cargo test -p gongxin-core --test it validation::samples` checks that the files are fresh and that \
             validation rejects exactly the rows below, each for the field named.\n",
        );
        let mut total = 0;
        let mut total_bad = 0;
        for smp in samples() {
            total += smp.rows;
            total_bad += smp.bad.len();
            s.push_str(&format!(
                "\n## {}\n\n{}，{} 行，{}（{}）。\n\n| 行 row | 字段 field | 错误 why |\n|---|---|---|\n",
                smp.file,
                smp.kind.chinese(),
                smp.rows,
                smp.enc.describe(),
                smp.county
            ));
            for b in &smp.bad {
                s.push_str(&format!("| {} | {} | {} |\n", b.row, b.field, b.why));
            }
        }
        s.push_str(&format!("\nIn all: {total} rows, {total_bad} deliberately bad, {} valid.\n", total - total_bad));
        s
    }

    fn validate_file(s: &Sample, bytes: &[u8]) -> Vec<(u64, Result<Record, Vec<RowError>>)> {
        let opts = gongxin_core::layout::ReadOptions::default();
        let x = gongxin_core::layout::read_export(s.kind, bytes, s.file, &opts)
            .unwrap_or_else(|e| panic!("{}: {e}", s.file));
        if s.enc == Enc::Xlsx {
            // The multi-sheet workbook: only the data sheet is read, under its title row.
            let read: Vec<(&str, bool)> = x.sheets.iter().map(|r| (r.name.as_str(), r.read)).collect();
            assert_eq!(read, vec![("填报说明", false), ("数据", true), ("旧表", false)], "{}", s.file);
            assert_eq!(x.data[0].header_line, 2, "{}", s.file);
        }
        assert_eq!(x.data.len(), 1, "{}", s.file);
        let d = &x.data[0];
        assert!(d.map.unknown.is_empty(), "{}: {:?}", s.file, d.map.unknown);
        d.rows
            .iter()
            .map(|r| {
                let checks = gongxin_core::template::Checks::default();
                (
                    r.row,
                    gongxin_core::template::validate_row_with(s.kind, r.row, &r.fields, &r.notes, refs(), &checks).0,
                )
            })
            .collect()
    }

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("read deploy/sample/{name}: {e} (regenerate?)"))
    }

    #[test]
    fn samples_reject_exactly_the_documented_rows() {
        for s in samples() {
            let results = validate_file(&s, &read(s.file));
            assert_eq!(results.len(), s.rows, "{}", s.file);
            for (n, r) in &results {
                let expected = s.bad.iter().find(|b| b.row as u64 == *n);
                match (r, expected) {
                    (Ok(_), None) => {}
                    (Err(errs), Some(b)) => {
                        assert!(errs.iter().any(|e| e.field == b.field), "{} row {n}: {errs:#?}", s.file)
                    }
                    (Ok(_), Some(b)) => panic!("{} row {n} should be rejected ({})", s.file, b.why),
                    (Err(errs), None) => panic!("{} row {n} unexpectedly rejected: {errs:#?}", s.file),
                }
            }
        }
    }

    #[test]
    fn samples_are_fresh() {
        for s in samples() {
            if s.enc == Enc::Xlsx {
                // The workbook must say what the generated rows say, cell for cell after validation.
                let from_xlsx = validate_file(&s, &read(s.file));
                let generated: Vec<_> = rows_of(&s)
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i as u64 + 1, validate_row(s.kind, i as u64 + 1, r, refs())))
                    .collect();
                let fields =
                    |v: &Vec<(u64, Result<Record, Vec<RowError>>)>| -> Vec<(u64, Result<Record, Vec<String>>)> {
                        v.iter()
                            .map(|(n, r)| (*n, r.clone().map_err(|e| e.into_iter().map(|x| x.field).collect())))
                            .collect()
                    };
                assert_eq!(fields(&from_xlsx), fields(&generated), "{} is stale: regenerate", s.file);
            } else {
                assert!(read(s.file) == csv_bytes(&s), "{} is stale: regenerate", s.file);
            }
        }
        assert_eq!(String::from_utf8(read("README.md")).unwrap_or_default(), readme(), "README.md is stale");
    }

    #[test]
    #[ignore = "writes deploy/sample; run explicitly to regenerate"]
    fn regenerate_samples() {
        let d = dir();
        for s in samples() {
            if s.enc == Enc::Xlsx {
                let tmp = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
                std::fs::write(tmp.path(), csv_text(&s)).unwrap_or_else(|e| panic!("{e}"));
                let status = std::process::Command::new("python3")
                    .arg(d.join("make_xlsx.py"))
                    .arg(tmp.path())
                    .arg(d.join(s.file))
                    .status()
                    .unwrap_or_else(|e| panic!("python3: {e}"));
                assert!(status.success(), "make_xlsx.py failed for {}", s.file);
            } else {
                std::fs::write(d.join(s.file), csv_bytes(&s)).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        std::fs::write(d.join("README.md"), readme()).unwrap_or_else(|e| panic!("{e}"));
    }
}
