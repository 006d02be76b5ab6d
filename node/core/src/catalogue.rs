//! The measure catalogue (联合奖惩措施清单): which measures each list type triggers, with legal bases and
//! effective dates. It is data, not code: the province publishes a catalogue as a signed `catalogue` entry of
//! its log (the default is `node/data/measures.json`), and every node that mirrors the province log uses the
//! version in force on the day a check asks about.

use crate::date::Day;
use crate::record::ListType;
use serde::{Deserialize, Serialize};

/// The leaf kind of a catalogue entry in the province log.
pub const CATALOGUE_KIND: &str = "catalogue";

/// The catalogue shipped with the software (what `gongxin catalogue publish` publishes by default).
pub const EMBEDDED: &str = include_str!("../../data/measures.json");

const MAX_MEASURES: usize = 256;
const MAX_LISTS: usize = 64;
const MAX_TEXT: usize = 1024;

/// One measure: its short code (what a business system asks about), its name and legal basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub code: String,
    pub name: String,
    pub legal_basis: String,
}

/// A measure a list type triggers, optionally with its own legal basis and dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureRef {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Day>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Day>,
}

/// What one list type triggers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListMeasures {
    pub list_type: ListType,
    pub measures: Vec<MeasureRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Day>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Day>,
}

/// One version of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    #[serde(default = "crate::format::v1", skip_serializing_if = "crate::format::is_v1")]
    pub format: u32,
    pub version: u32,
    pub title: String,
    /// The first day this version applies to.
    pub effective_from: Day,
    pub measures: Vec<Measure>,
    pub lists: Vec<ListMeasures>,
}

/// Why a catalogue document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("措施清单不是有效的 JSON (the catalogue is not valid JSON): {0}")]
    Json(String),
    #[error(transparent)]
    Format(#[from] crate::format::FormatError),
    #[error("措施清单无效 (invalid catalogue): {0}")]
    Invalid(String),
}

/// A measure triggered on a day, with the legal basis that applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triggered<'a> {
    pub measure: &'a Measure,
    pub legal_basis: &'a str,
}

fn in_window(day: Day, from: Option<Day>, until: Option<Day>) -> bool {
    from.is_none_or(|f| f <= day) && until.is_none_or(|u| day <= u)
}

impl Catalogue {
    /// Parses and checks a catalogue: known format, every referenced measure defined once, each list type once,
    /// bounded sizes.
    pub fn parse(bytes: &[u8]) -> Result<Catalogue, CatalogueError> {
        let c: Catalogue = serde_json::from_slice(bytes).map_err(|e| CatalogueError::Json(e.to_string()))?;
        crate::format::check("measure catalogue", c.format)?;
        let bad = |m: String| Err(CatalogueError::Invalid(m));
        if c.version == 0 {
            return bad("version 须从 1 开始 (version must be at least 1)".into());
        }
        if c.measures.len() > MAX_MEASURES || c.lists.len() > MAX_LISTS {
            return bad(format!("最多 {MAX_MEASURES} 项措施、{MAX_LISTS} 类名单 (too many measures or lists)"));
        }
        let mut codes = std::collections::BTreeSet::new();
        for m in &c.measures {
            if m.code.trim().is_empty()
                || m.code.len() > MAX_TEXT
                || m.name.len() > MAX_TEXT
                || m.legal_basis.len() > MAX_TEXT
            {
                return bad(format!("措施 '{}' 的代码、名称或依据为空或过长 (empty or too long)", m.code));
            }
            if !codes.insert(m.code.as_str()) {
                return bad(format!("措施 '{}' 重复定义 (measure defined twice)", m.code));
            }
        }
        let mut types = std::collections::BTreeSet::new();
        for l in &c.lists {
            if !types.insert(l.list_type) {
                return bad(format!("名单类型 '{}' 出现两次 (list type listed twice)", l.list_type));
            }
            if l.measures.len() > MAX_MEASURES {
                return bad(format!("名单类型 '{}' 的措施过多 (too many measures)", l.list_type));
            }
            for r in &l.measures {
                if !codes.contains(r.code.as_str()) {
                    return bad(format!(
                        "名单类型 '{}' 引用了未定义的措施 '{}' (measure not defined)",
                        l.list_type, r.code
                    ));
                }
                if r.legal_basis.as_ref().is_some_and(|b| b.len() > MAX_TEXT) {
                    return bad(format!("措施 '{}' 的依据过长 (legal basis too long)", r.code));
                }
            }
        }
        Ok(c)
    }

    /// The embedded default catalogue.
    pub fn embedded() -> Result<Catalogue, CatalogueError> {
        Catalogue::parse(EMBEDDED.as_bytes())
    }

    /// Canonical bytes (what the province signs): compact JSON in declaration order.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn measure(&self, code: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.code == code)
    }

    /// The codes of every measure, for messages.
    pub fn codes(&self) -> Vec<&str> {
        self.measures.iter().map(|m| m.code.as_str()).collect()
    }

    /// Whether a list of `list_type` triggers measure `code` on `day`, and on what basis.
    pub fn triggers(&self, list_type: ListType, code: &str, day: Day) -> Option<Triggered<'_>> {
        let measure = self.measure(code)?;
        let list = self.lists.iter().find(|l| l.list_type == list_type && in_window(day, l.from, l.until))?;
        let r = list.measures.iter().find(|r| r.code == code && in_window(day, r.from, r.until))?;
        Some(Triggered { measure, legal_basis: r.legal_basis.as_deref().unwrap_or(&measure.legal_basis) })
    }

    /// The version in force on `day` among `all`: the highest version whose `effective_from` is not after it.
    pub fn in_force(all: &[Catalogue], day: Day) -> Option<&Catalogue> {
        all.iter().filter(|c| c.effective_from <= day).max_by_key(|c| c.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        crate::date::parse(s).unwrap()
    }

    #[test]
    fn embedded_catalogue_is_valid_and_covers_every_list_type() {
        let c = Catalogue::embedded().unwrap();
        for t in ListType::ALL {
            assert!(c.lists.iter().any(|l| l.list_type == *t), "{t} has no measures");
        }
        let hit = c.triggers(ListType::JudgmentDefaulter, "政府采购", day("2026-01-01")).unwrap();
        assert!(hit.legal_basis.contains("141号"), "the MoU overrides the measure's own basis");
        assert!(c.triggers(ListType::JudgmentDefaulter, "出境", day("2026-01-01")).is_none());
        // Wage-arrears lists trigger nothing before the regulation took effect.
        assert!(c.triggers(ListType::WageArrears, "政府采购", day("2020-04-30")).is_none());
        assert!(c.triggers(ListType::WageArrears, "政府采购", day("2020-05-01")).is_some());
        assert_eq!(Catalogue::parse(&c.to_json()).unwrap(), c);
    }

    #[test]
    fn version_in_force_by_date() {
        let v1 = Catalogue::embedded().unwrap();
        let mut v2 = v1.clone();
        v2.version = 2;
        v2.effective_from = day("2026-04-01");
        v2.lists.retain(|l| l.list_type != ListType::AbnormalOperation);
        let all = [v1, v2];
        assert_eq!(Catalogue::in_force(&all, day("2026-03-31")).map(|c| c.version), Some(1));
        assert_eq!(Catalogue::in_force(&all, day("2026-04-01")).map(|c| c.version), Some(2));
        assert_eq!(Catalogue::in_force(&all, day("2016-06-11")).map(|c| c.version), None);
        let c = Catalogue::in_force(&all, day("2026-05-01")).unwrap();
        assert!(c.triggers(ListType::AbnormalOperation, "政府采购", day("2026-05-01")).is_none());
    }

    #[test]
    fn refusals() {
        let mut c = Catalogue::embedded().unwrap();
        c.lists[0].measures.push(MeasureRef { code: "不存在".into(), legal_basis: None, from: None, until: None });
        let e = Catalogue::parse(&c.to_json()).unwrap_err();
        assert!(e.to_string().contains("不存在"), "{e}");
        let mut c = Catalogue::embedded().unwrap();
        let first = c.measures[0].clone();
        c.measures.push(first);
        assert!(Catalogue::parse(&c.to_json()).unwrap_err().to_string().contains("重复"));
        let mut c = Catalogue::embedded().unwrap();
        c.format = 9;
        assert!(matches!(Catalogue::parse(&c.to_json()), Err(CatalogueError::Format(_))));
        assert!(Catalogue::parse(b"{\"version\":1,\"surprise\":true}").is_err());
    }
}
