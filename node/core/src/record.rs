//! Credit records (DESIGN §4): 行政许可, 行政处罚, 名单, 信用承诺 and amendments, with the two classification
//! axes (government sharing and public disclosure), canonical payload JSON and masking for public output.
//!
//! Money is in 万元 as exact decimals ([`Decimal`]) and serialised as a JSON string, never as a float.
//! Coded values serialise as the template writes them (`法人及非法人组织`, `有效`, `无条件共享`, …).

use crate::date::Day;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a string-coded enum: serde, `as_str`, `FromStr` (accepting the listed aliases), `ALL`.
macro_rules! coded_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident = $text:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $var),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            pub fn as_str(&self) -> &'static str { match self { $($name::$var => $text),+ } }
        }
        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.trim() {
                    $($text $(| $alias)* => Ok($name::$var),)+
                    other => Err(format!(
                        "'{}' 不是允许的取值，应为 {} (not one of the allowed values)",
                        other,
                        [$($text),+].join(" / ")
                    )),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

coded_enum!(
    /// 行政相对人类别.
    SubjectCategory {
        Organization = "法人及非法人组织",
        NaturalPerson = "自然人",
        IndividualBusiness = "个体工商户",
    }
);

coded_enum!(
    /// Government sharing (共享属性).
    ShareType { Unconditional = "无条件共享", Conditional = "有条件共享", NotShared = "不予共享" }
);

coded_enum!(
    /// Public disclosure (公开属性).
    Disclosure { Public = "公示", OnAuthorisedQuery = "授权查询", GovernmentOnly = "仅政务内部" }
);

coded_enum!(
    /// 许可类别.
    LicenseCategory {
        Ordinary = "普通",
        Special = "特许",
        Recognition = "认可",
        Approval = "核准",
        Registration = "登记",
        Other = "其他",
    }
);

coded_enum!(
    /// 当前状态 (the template codes it `1` = 有效, `2` = 无效).
    LicenseStatus { Valid = "有效" | "1", Invalid = "无效" | "2" }
);

coded_enum!(
    /// 名单类型. Which measures each triggers is data (the measure catalogue), not code; only
    /// [`ListType::is_positive`] is fixed here.
    ListType {
        SeriousDishonesty = "严重失信主体名单",
        AbnormalOperation = "经营异常名录",
        SeriousIllegalDishonesty = "严重违法失信名单" | "严重违法失信企业名单",
        JudgmentDefaulter = "失信被执行人" | "失信被执行人名单",
        MajorTaxViolation = "重大税收违法失信主体" | "重大税收违法失信主体名单" | "重大税收违法案件当事人",
        ProcurementViolation = "政府采购严重违法失信行为记录名单",
        WageArrears = "拖欠农民工工资失信联合惩戒对象名单",
        SafetyProduction = "安全生产严重失信主体名单",
        RedList = "守信红名单" | "红名单",
    }
);

impl ListType {
    /// A positive list (守信激励) rather than a dishonesty list (失信惩戒).
    pub fn is_positive(&self) -> bool {
        matches!(self, ListType::RedList)
    }
}

coded_enum!(
    /// What an amendment does to the earlier record.
    AmendmentAction {
        Correct = "更正",
        Revoke = "撤销",
        Withdraw = "撤回",
        Repair = "信用修复",
        RemoveFromList = "移出名单",
    }
);

impl ShareType {
    /// Stable one-byte code for binary headers.
    pub fn code(&self) -> u8 {
        match self {
            ShareType::Unconditional => 1,
            ShareType::Conditional => 2,
            ShareType::NotShared => 3,
        }
    }
    pub fn from_code(c: u8) -> Option<ShareType> {
        ShareType::ALL.iter().copied().find(|s| s.code() == c)
    }
}

impl Disclosure {
    /// Stable one-byte code for binary headers.
    pub fn code(&self) -> u8 {
        match self {
            Disclosure::Public => 1,
            Disclosure::OnAuthorisedQuery => 2,
            Disclosure::GovernmentOnly => 3,
        }
    }
    pub fn from_code(c: u8) -> Option<Disclosure> {
        Disclosure::ALL.iter().copied().find(|s| s.code() == c)
    }
}

/// 证件类型. `Other` carries the text after `其他-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum IdType {
    ResidentId,
    Passport,
    HkMacauPass,
    TaiwanPass,
    ForeignPermanentResident,
    Other(String),
}

impl IdType {
    pub const CODED: [(&'static str, IdType); 5] = [
        ("身份证", IdType::ResidentId),
        ("护照号", IdType::Passport),
        ("港澳居民来往内地通行证", IdType::HkMacauPass),
        ("台湾居民来往大陆通行证", IdType::TaiwanPass),
        ("外国人永久居留身份证", IdType::ForeignPermanentResident),
    ];
}

impl fmt::Display for IdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdType::Other(t) => write!(f, "其他-{t}"),
            known => {
                let name = IdType::CODED.iter().find(|(_, v)| v == known).map(|(n, _)| *n).unwrap_or("其他");
                f.write_str(name)
            }
        }
    }
}

impl FromStr for IdType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let alias = match s {
            "居民身份证" | "身份证号" | "身份证号码" => "身份证",
            "护照" => "护照号",
            other => other,
        };
        if let Some((_, v)) = IdType::CODED.iter().find(|(n, _)| *n == alias) {
            return Ok(v.clone());
        }
        if let Some(rest) = s.strip_prefix("其他") {
            let named = rest.trim_start_matches(['-', '－', '—', '_', ':', '：']).trim();
            // Require the separator: `其他-军官证`, not `其他` alone.
            if !named.is_empty() && named.len() < rest.len() {
                return Ok(IdType::Other(named.to_string()));
            }
        }
        Err(format!(
            "证件类型 '{s}' 不是允许的取值，应为 身份证 / 护照号 / 港澳居民来往内地通行证 / 台湾居民来往大陆通行证 / \
             外国人永久居留身份证 / 其他-具体证件名称 (not an allowed document type)"
        ))
    }
}

impl From<IdType> for String {
    fn from(t: IdType) -> String {
        t.to_string()
    }
}

impl TryFrom<String> for IdType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// Money in 万元 as a JSON string (`"1.5"`), never a float.
mod money {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::str::FromStr;

    pub fn serialize<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.collect_str(d),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(t) => Decimal::from_str(&t).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// The 行政相对人 (the entity or person a record is about).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// 行政相对人名称.
    pub name: String,
    /// 行政相对人类别.
    pub category: SubjectCategory,
    /// 行政相对人代码_1 统一社会信用代码 (may be the 个体工商户 placeholder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uscc: Option<String>,
    /// 代码_2 工商注册号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reg_no: Option<String>,
    /// 代码_3 组织机构代码 (9 characters, no hyphen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_code: Option<String>,
    /// 代码_4 税务登记号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_no: Option<String>,
    /// 代码_5 事业单位证书号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution_no: Option<String>,
    /// 代码_6 社会组织登记证号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub social_org_no: Option<String>,
    /// 法定代表人 (负责人, 经营者).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_rep: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_rep_id_type: Option<IdType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_rep_id_no: Option<String>,
    /// 证件类型 / 证件号码 of a 自然人.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_type: Option<IdType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_no: Option<String>,
}

impl Subject {
    /// Codes that identify the subject, for the subject index: USCC (not the placeholder), the other
    /// registration codes and, for a natural person, the ID number. Deduplicated, in field order.
    pub fn keys(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let uscc = self.uscc.as_ref().filter(|u| !crate::uscc::is_placeholder(u));
        for k in [
            uscc,
            self.reg_no.as_ref(),
            self.org_code.as_ref(),
            self.tax_no.as_ref(),
            self.institution_no.as_ref(),
            self.social_org_no.as_ref(),
            self.id_no.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if !k.is_empty() && !out.contains(k) {
                out.push(k.clone());
            }
        }
        out
    }

    pub fn is_natural_person(&self) -> bool {
        self.category == SubjectCategory::NaturalPerson
    }

    /// A copy fit for public output: a natural person's name and document number masked, and every legal
    /// representative's document number masked (`crate::mask`).
    pub fn masked(&self) -> Subject {
        let mut s = self.clone();
        if s.is_natural_person() {
            s.name = mask_name(&s.name);
            s.id_no = s.id_no.as_deref().map(|id| crate::mask::mask_document(s.id_type.as_ref(), id));
        }
        s.legal_rep_id_no =
            s.legal_rep_id_no.as_deref().map(|id| crate::mask::mask_document(s.legal_rep_id_type.as_ref(), id));
        s
    }
}

/// 行政许可.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct License {
    pub subject: Subject,
    /// 行政许可决定文书名称.
    pub decision_doc_name: String,
    /// 行政许可决定文书号.
    pub decision_doc_no: String,
    /// 许可类别.
    pub category: LicenseCategory,
    /// 许可证书名称.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_name: Option<String>,
    /// 许可编号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_no: Option<String>,
    /// 许可内容.
    pub content: String,
    /// 许可决定日期.
    pub decision_date: Day,
    /// 有效期自.
    pub valid_from: Day,
    /// 有效期至 (`2099-12-31` = 长期).
    pub valid_to: Day,
    /// 许可机关.
    pub authority: String,
    /// 许可机关统一社会信用代码.
    pub authority_uscc: String,
    /// 当前状态.
    pub status: LicenseStatus,
    /// 数据来源单位.
    pub source_unit: String,
    /// 数据来源单位统一社会信用代码.
    pub source_unit_uscc: String,
    /// 地方编码 (optional column), a GB/T 2260 code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division_code: Option<String>,
    /// 备注.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remarks: Option<String>,
}

/// 行政处罚.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Penalty {
    pub subject: Subject,
    /// 行政处罚决定书文号.
    pub decision_doc_no: String,
    /// 违法行为类型.
    pub violation_type: String,
    /// 违法事实.
    pub violation_facts: String,
    /// 处罚依据.
    pub basis: String,
    /// 处罚类别 (multi-valued, in the order given).
    pub categories: Vec<String>,
    /// 处罚内容.
    pub content: String,
    /// 罚款金额（万元）.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "money")]
    pub fine: Option<Decimal>,
    /// 没收违法所得、没收非法财物的金额（万元）.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "money")]
    pub confiscation: Option<Decimal>,
    /// 暂扣或吊销证照名称及编号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_licenses: Option<String>,
    /// 处罚决定日期.
    pub decision_date: Day,
    /// 处罚有效期 (`2099-12-31` = 长期).
    pub valid_until: Day,
    /// 公示截止期.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publicity_until: Option<Day>,
    /// 处罚机关.
    pub authority: String,
    /// 处罚机关统一社会信用代码.
    pub authority_uscc: String,
    pub source_unit: String,
    pub source_unit_uscc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remarks: Option<String>,
}

impl Penalty {
    /// True if any 处罚类别 contains `needle` (e.g. 罚款, 没收).
    pub fn has_category(&self, needle: &str) -> bool {
        self.categories.iter().any(|c| c.contains(needle))
    }
}

/// An entry on a list (名单): set by a list-setting authority, with a start and (possibly long-term) end, and
/// the joint-punishment measures it triggers as codes of the versioned measure catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    pub subject: Subject,
    pub list_type: ListType,
    /// 列入原因.
    pub reason: String,
    /// 列入依据.
    pub basis: String,
    /// 列入决定文书号.
    pub decision_doc_no: String,
    /// 列入日期.
    pub start: Day,
    /// 移出日期 / 有效期至 (`2099-12-31` = 长期).
    pub end: Day,
    /// 认定部门.
    pub authority: String,
    pub authority_uscc: String,
    /// Measure codes from the catalogue, e.g. `政府采购`, `财政资金`.
    #[serde(default)]
    pub measures: Vec<String>,
    /// Version of the measure catalogue the codes refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue_version: Option<String>,
}

/// 信用承诺: a public commitment made by an entity, typically before market entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    pub subject: Subject,
    /// 承诺类型 (审批替代型, 主动型, 行业自律型, …).
    pub commitment_type: String,
    /// 承诺事项 / 内容.
    pub content: String,
    /// 承诺书编号.
    pub doc_no: String,
    /// 承诺日期.
    pub date: Day,
    /// 承诺受理单位.
    pub authority: String,
    pub authority_uscc: String,
}

/// Points at an earlier record: the origin node's division code, optionally its log index, and its natural key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRef {
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    pub natural_key: String,
}

/// Correction, revocation, withdrawal, credit repair or removal from a list of an earlier record. The earlier
/// record stays in the log (history is kept); the amendment says what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amendment {
    pub target: RecordRef,
    pub action: AmendmentAction,
    pub reason: String,
    /// 决定文书号 of the amendment itself.
    pub doc_no: String,
    pub effective_date: Day,
    pub authority: String,
    pub authority_uscc: String,
    /// The full corrected record, for `更正`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected: Option<Box<Record>>,
}

/// Any record kind. The JSON form is tagged: `{"kind":"license", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    License(License),
    Penalty(Penalty),
    ListEntry(ListEntry),
    Commitment(Commitment),
    Amendment(Amendment),
}

/// A payload that does not parse as a record.
#[derive(Debug)]
pub struct PayloadError(pub String);

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record payload is not valid: {}", self.0)
    }
}

impl std::error::Error for PayloadError {}

impl Record {
    /// `license`, `penalty`, `list_entry`, `commitment`, `amendment`.
    pub fn kind_str(&self) -> &'static str {
        match self {
            Record::License(_) => "license",
            Record::Penalty(_) => "penalty",
            Record::ListEntry(_) => "list_entry",
            Record::Commitment(_) => "commitment",
            Record::Amendment(_) => "amendment",
        }
    }

    /// `kind|authority USCC|decision document number|subject`: one decision of one authority about one subject
    /// is one record (four companies sharing a placeholder 文书号 such as `无` are four records). The subject is
    /// its first identifying code ([`Subject::keys`]), else its name; amendments have none.
    pub fn natural_key(&self) -> String {
        let (uscc, doc) = match self {
            Record::License(r) => (&r.authority_uscc, &r.decision_doc_no),
            Record::Penalty(r) => (&r.authority_uscc, &r.decision_doc_no),
            Record::ListEntry(r) => (&r.authority_uscc, &r.decision_doc_no),
            Record::Commitment(r) => (&r.authority_uscc, &r.doc_no),
            Record::Amendment(r) => (&r.authority_uscc, &r.doc_no),
        };
        let subject = match self {
            Record::Amendment(_) => None,
            other => other.subject().map(|s| s.keys().into_iter().next().unwrap_or_else(|| s.name.clone())),
        };
        match subject {
            Some(s) => format!("{}|{}|{}|{}", self.kind_str(), uscc, doc, s),
            None => format!("{}|{}|{}", self.kind_str(), uscc, doc),
        }
    }

    /// The subject, if the record is about one (an amendment is about its target; see `corrected`).
    pub fn subject(&self) -> Option<&Subject> {
        match self {
            Record::License(r) => Some(&r.subject),
            Record::Penalty(r) => Some(&r.subject),
            Record::ListEntry(r) => Some(&r.subject),
            Record::Commitment(r) => Some(&r.subject),
            Record::Amendment(r) => r.corrected.as_deref().and_then(Record::subject),
        }
    }

    /// Codes to index the record under (USCC, other registration codes, natural person's ID number).
    pub fn subject_keys(&self) -> Vec<String> {
        self.subject().map(Subject::keys).unwrap_or_default()
    }

    fn about_natural_person(&self) -> bool {
        self.subject().is_some_and(Subject::is_natural_person)
    }

    /// Default sharing: 无条件共享, except records about a natural person: 有条件共享.
    pub fn share_type(&self) -> ShareType {
        if self.about_natural_person() {
            ShareType::Conditional
        } else {
            ShareType::Unconditional
        }
    }

    /// Default disclosure: 公示, except records about a natural person: 授权查询.
    pub fn disclosure(&self) -> Disclosure {
        if self.about_natural_person() {
            Disclosure::OnAuthorisedQuery
        } else {
            Disclosure::Public
        }
    }

    /// The date the record was decided (licence/penalty decision, list start, commitment, amendment effect).
    pub fn decision_date(&self) -> Day {
        match self {
            Record::License(r) => r.decision_date,
            Record::Penalty(r) => r.decision_date,
            Record::ListEntry(r) => r.start,
            Record::Commitment(r) => r.date,
            Record::Amendment(r) => r.effective_date,
        }
    }

    /// Canonical payload bytes: compact JSON, fields in declaration order, absent optionals omitted,
    /// decimals as strings. The same record always gives the same bytes.
    pub fn to_payload_json(&self) -> Vec<u8> {
        // Serialising these types cannot fail: no maps with non-string keys, no failing Serialize impls.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses payload bytes and checks they are canonical (re-serialising gives the same bytes), so a digest
    /// of the payload identifies the record.
    pub fn from_payload_json(bytes: &[u8]) -> Result<Record, PayloadError> {
        // Version 1 payloads carry no `format` field; a later version says so at the top level and is refused by
        // name instead of being misread (the probe runs only when the key can be there at all).
        if bytes.windows(8).any(|w| w == b"\"format\"") {
            #[derive(Deserialize)]
            struct Probe {
                #[serde(default = "crate::format::v1")]
                format: u32,
            }
            let p: Probe = serde_json::from_slice(bytes).map_err(|e| PayloadError(e.to_string()))?;
            crate::format::check("record payload", p.format).map_err(|e| PayloadError(e.to_string()))?;
        }
        let r: Record = serde_json::from_slice(bytes).map_err(|e| PayloadError(e.to_string()))?;
        if r.to_payload_json() != bytes {
            return Err(PayloadError("payload is not in canonical form".to_string()));
        }
        Ok(r)
    }

    /// A copy fit for public output (natural persons' names and ID numbers masked).
    pub fn masked_for_public(&self) -> Record {
        let mut r = self.clone();
        match &mut r {
            Record::License(x) => x.subject = x.subject.masked(),
            Record::Penalty(x) => x.subject = x.subject.masked(),
            Record::ListEntry(x) => x.subject = x.subject.masked(),
            Record::Commitment(x) => x.subject = x.subject.masked(),
            Record::Amendment(x) => {
                if let Some(c) = x.corrected.take() {
                    x.corrected = Some(Box::new(c.masked_for_public()));
                }
            }
        }
        r
    }
}

/// Masks an ID number for public output (the policy is `crate::mask`): a resident ID keeps its first 4 and last 4
/// characters (`4301**********1234`); other numbers at most their first and last one or two.
pub fn mask_id(id: &str) -> String {
    crate::mask::mask_document(None, id)
}

/// Masks a person's name for public output (the policy is `crate::mask`): `张*`, `欧阳*`.
pub fn mask_name(name: &str) -> String {
    crate::mask::mask_person_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_id("430102199001011234"), "4301**********1234");
        assert_eq!(mask_id("E1234567"), "E******7");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧阳*");
    }

    #[test]
    fn coded_values() {
        assert_eq!("1".parse::<LicenseStatus>(), Ok(LicenseStatus::Valid));
        assert_eq!("无效".parse::<LicenseStatus>(), Ok(LicenseStatus::Invalid));
        assert!("3".parse::<LicenseStatus>().is_err());
        assert_eq!("其他-军官证".parse::<IdType>(), Ok(IdType::Other("军官证".into())));
        assert!("其他".parse::<IdType>().is_err());
        assert_eq!(IdType::Other("军官证".into()).to_string(), "其他-军官证");
        for s in ShareType::ALL {
            assert_eq!(ShareType::from_code(s.code()), Some(*s));
        }
    }
}
