//! Publicity periods of penalties (行政处罚信息公示期) as versioned rules with effective dates
//! (`node/data/publicity_rules.json`, data, not code): the regime in force on the decision date gives the shortest
//! and longest period by grade (轻微/一般/严重), the longer minimum for 食品、药品、特种设备、安全生产、消防, and for
//! market-regulation penalties 总局令第45号 (warning only: not published; 通报批评 or a low fine: 3 months; otherwise
//! 3 years; never ended early for 吊销, 责令停产停业 and the like). A decision with several penalty types takes the
//! longest period. Repair (信用修复) ends publicity no earlier than the minimum.

use crate::date::Day;
use crate::record::Penalty;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::str::FromStr;

/// The rules shipped with the software.
pub const EMBEDDED: &str = include_str!("../../data/publicity_rules.json");

#[derive(Debug, Clone, Deserialize)]
struct Months {
    min_months: u32,
    max_months: u32,
}

#[derive(Debug, Clone, Deserialize)]
struct Domains {
    words: Vec<String>,
    min_months: u32,
}

#[derive(Debug, Clone, Deserialize)]
struct Regime {
    id: String,
    from: Day,
    #[serde(default)]
    until: Option<Day>,
    #[serde(default)]
    market_regulation: bool,
    #[serde(default)]
    warning_only_not_published: bool,
    #[serde(default)]
    minor_not_published: bool,
    general: Months,
    #[serde(default)]
    severe: Option<Months>,
    #[serde(default)]
    low: Option<Months>,
    #[serde(default)]
    domains: Option<Domains>,
}

#[derive(Debug, Clone, Deserialize)]
struct LowFine {
    organization: String,
    person: String,
}

/// The rule set.
#[derive(Debug, Clone, Deserialize)]
pub struct Rules {
    version: u32,
    severe_categories: Vec<String>,
    never_early_categories: Vec<String>,
    minor_categories: Vec<String>,
    low_fine_wan: LowFine,
    regimes: Vec<Regime>,
}

/// The publicity window of one penalty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The rule applied (its document), or `无统一规则` before the first regime.
    pub rule: String,
    /// Whether the penalty is published at all.
    pub published: bool,
    /// The earliest day publicity may end (repair cannot end it before).
    pub min_end: Day,
    /// The day publicity ends at the latest.
    pub max_end: Day,
    /// Whether repair may end it before `max_end`.
    pub early_end_allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicityError {
    #[error("公示截止期 {stated} 不符合《{rule}》：应在 {min} 至 {max} 之间 (stated end of publicity is outside the rule's bounds)")]
    OutOfBounds { rule: String, stated: Day, min: Day, max: Day },
    #[error("公示规则无效 (publicity rules do not parse): {0}")]
    Rules(String),
}

/// `day` plus `months` calendar months (the month's last day when the day does not exist in it).
pub fn add_months(day: Day, months: u32) -> Day {
    crate::date::add_months(day, months as i32).unwrap_or(crate::date::LONG_TERM)
}

impl Rules {
    pub fn parse(json: &str) -> Result<Rules, PublicityError> {
        let r: Rules = serde_json::from_str(json).map_err(|e| PublicityError::Rules(e.to_string()))?;
        if r.version != 1 {
            return Err(PublicityError::Rules(format!("version {} is unknown to this build", r.version)));
        }
        Ok(r)
    }

    pub fn embedded() -> &'static Rules {
        static R: std::sync::OnceLock<Option<Rules>> = std::sync::OnceLock::new();
        static EMPTY: std::sync::OnceLock<Rules> = std::sync::OnceLock::new();
        R.get_or_init(|| Rules::parse(EMBEDDED).ok()).as_ref().unwrap_or_else(|| {
            EMPTY.get_or_init(|| Rules {
                version: 1,
                severe_categories: Vec::new(),
                never_early_categories: Vec::new(),
                minor_categories: Vec::new(),
                low_fine_wan: LowFine { organization: "0".into(), person: "0".into() },
                regimes: Vec::new(),
            })
        })
    }

    fn has(p: &Penalty, words: &[String]) -> bool {
        p.categories.iter().any(|c| words.iter().any(|w| c.contains(w.as_str())))
    }

    fn only(p: &Penalty, words: &[String]) -> bool {
        !p.categories.is_empty() && p.categories.iter().all(|c| words.iter().any(|w| c.contains(w.as_str())))
    }

    fn regime(&self, decided: Day, market: bool) -> Option<&Regime> {
        let in_force = |r: &&Regime| r.from <= decided && r.until.is_none_or(|u| decided <= u);
        if market {
            if let Some(r) = self.regimes.iter().filter(in_force).find(|r| r.market_regulation) {
                return Some(r);
            }
        }
        self.regimes.iter().filter(in_force).filter(|r| !r.market_regulation).max_by_key(|r| r.from)
    }

    /// The window the rule in force on the decision date gives this penalty.
    pub fn window(&self, p: &Penalty) -> Window {
        let decided = p.decision_date;
        let market = p.authority.contains("市场监督管理") || p.authority.contains("市场监管");
        let never_early = Self::has(p, &self.never_early_categories);
        let Some(r) = self.regime(decided, market) else {
            return Window {
                rule: "无统一规则（2019 年前）".into(),
                published: true,
                min_end: decided,
                max_end: add_months(decided, 36),
                early_end_allowed: !never_early,
            };
        };
        let fine = p.fine.unwrap_or_default();
        let person =
            p.subject.is_natural_person() || p.subject.category == crate::record::SubjectCategory::IndividualBusiness;
        let threshold =
            Decimal::from_str(if person { &self.low_fine_wan.person } else { &self.low_fine_wan.organization })
                .unwrap_or_default();
        let warning_only = Self::only(p, &["警告".to_string()]) && p.fine.is_none();
        let minor = Self::only(p, &self.minor_categories) && p.fine.is_none();
        let severe = Self::has(p, &self.severe_categories);
        let mut published = true;
        let months = if r.market_regulation {
            if r.warning_only_not_published && warning_only {
                published = false;
            }
            let low = !severe
                && p.categories.iter().all(|c| c.contains("通报批评") || c.contains("罚款") || c.contains("警告"))
                && fine <= threshold;
            if low {
                r.low.clone().unwrap_or(r.general.clone())
            } else {
                r.general.clone()
            }
        } else {
            if r.minor_not_published && minor {
                published = false;
            }
            if severe {
                r.severe.clone().unwrap_or(r.general.clone())
            } else {
                r.general.clone()
            }
        };
        let mut min = months.min_months;
        if let Some(d) = &r.domains {
            let text = format!("{}{}{}", p.violation_type, p.basis, p.authority);
            if d.words.iter().any(|w| text.contains(w.as_str())) {
                min = min.max(d.min_months);
            }
        }
        let max = months.max_months.max(min);
        Window {
            rule: r.id.clone(),
            published,
            min_end: add_months(decided, min),
            max_end: add_months(decided, max),
            early_end_allowed: !never_early && min < max,
        }
    }

    /// A stated 公示截止期 must lie within the rule's bounds.
    pub fn check_stated(&self, p: &Penalty) -> Result<Window, PublicityError> {
        let w = self.window(p);
        if let Some(stated) = p.publicity_until {
            if w.published && (stated < w.min_end || stated > w.max_end) {
                return Err(PublicityError::OutOfBounds { rule: w.rule, stated, min: w.min_end, max: w.max_end });
            }
        }
        Ok(w)
    }

    /// The day publicity ends: the stated end (or the rule's longest), earlier when repaired, never before the
    /// minimum and never early where the rule forbids it.
    pub fn publicity_end(&self, p: &Penalty, repaired: Option<Day>) -> Option<Day> {
        let w = self.window(p);
        if !w.published {
            return None;
        }
        let end = p.publicity_until.unwrap_or(w.max_end);
        Some(match repaired {
            Some(r) if w.early_end_allowed => r.max(w.min_end).min(end),
            _ => end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Subject, SubjectCategory};

    fn day(s: &str) -> Day {
        crate::date::parse(s).unwrap()
    }

    fn penalty(decided: &str, categories: &[&str], fine: Option<&str>, authority: &str, violation: &str) -> Penalty {
        Penalty {
            subject: Subject {
                name: "某公司".into(),
                category: SubjectCategory::Organization,
                uscc: None,
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
            decision_doc_no: "x".into(),
            violation_type: violation.into(),
            violation_facts: "f".into(),
            basis: "b".into(),
            categories: categories.iter().map(|s| s.to_string()).collect(),
            content: "c".into(),
            fine: fine.map(|f| Decimal::from_str(f).unwrap()),
            confiscation: None,
            suspended_licenses: None,
            decision_date: day(decided),
            valid_until: day("2099-12-31"),
            publicity_until: None,
            authority: authority.into(),
            authority_uscc: "x".into(),
            source_unit: "s".into(),
            source_unit_uscc: "x".into(),
            division_code: None,
            remarks: None,
        }
    }

    #[test]
    fn regimes_by_decision_date() {
        let r = Rules::embedded();
        let w = r.window(&penalty("2020-06-01", &["罚款"], Some("1"), "长沙市生态环境局", "排污"));
        assert_eq!(
            (w.rule.as_str(), w.min_end, w.max_end),
            ("发改办财金〔2019〕527号", day("2020-09-01"), day("2021-06-01"))
        );
        let w = r.window(&penalty("2020-06-01", &["罚款", "吊销许可证件"], Some("1"), "长沙市生态环境局", "排污"));
        assert_eq!((w.min_end, w.max_end, w.early_end_allowed), (day("2020-12-01"), day("2023-06-01"), false));
        let w = r.window(&penalty("2024-01-31", &["罚款"], Some("1"), "长沙市应急管理局", "安全生产违法"));
        assert_eq!(
            (w.rule.as_str(), w.min_end, w.max_end),
            ("国家发展改革委令第58号", day("2025-01-31"), day("2027-01-31"))
        );
        let w = r.window(&penalty("2024-01-31", &["罚款"], Some("1"), "长沙市生态环境局", "排污"));
        assert_eq!(w.min_end, day("2024-04-30"), "3 months, clamped to the month's last day");
        let w = r.window(&penalty("2026-05-01", &["警告"], None, "长沙市生态环境局", "排污"));
        assert!(!w.published, "轻微 is not published from 2026-04-01");
        let w = r.window(&penalty("2026-05-01", &["罚款", "责令停产停业"], Some("20"), "长沙市生态环境局", "排污"));
        assert_eq!((w.min_end, w.max_end), (day("2027-05-01"), day("2029-05-01")));
    }

    #[test]
    fn market_regulation() {
        let r = Rules::embedded();
        let mr = "长沙市芙蓉区市场监督管理局";
        assert!(!r.window(&penalty("2024-03-05", &["警告"], None, mr, "广告")).published);
        let low = r.window(&penalty("2024-03-05", &["罚款"], Some("0.5"), mr, "广告"));
        assert_eq!((low.rule.as_str(), low.max_end), ("市场监管总局令第45号", day("2024-06-05")));
        let high = r.window(&penalty("2024-03-05", &["罚款"], Some("50"), mr, "广告"));
        assert_eq!((high.min_end, high.max_end), (day("2027-03-05"), day("2027-03-05")));
        let revoked = r.window(&penalty("2024-03-05", &["吊销营业执照"], None, mr, "无照"));
        assert!(!revoked.early_end_allowed);
        assert_eq!(
            r.publicity_end(&penalty("2024-03-05", &["吊销营业执照"], None, mr, "无照"), Some(day("2024-04-01"))),
            Some(day("2027-03-05"))
        );
    }

    #[test]
    fn stated_ends_and_repair() {
        let r = Rules::embedded();
        let mut p = penalty("2024-03-05", &["罚款"], Some("1"), "长沙市生态环境局", "排污");
        p.publicity_until = Some(day("2029-03-05"));
        let e = r.check_stated(&p).unwrap_err();
        assert!(e.to_string().contains("国家发展改革委令第58号") && e.to_string().contains("2027-03-05"), "{e}");
        p.publicity_until = Some(day("2025-03-05"));
        r.check_stated(&p).unwrap();
        // Repair a week after the decision ends publicity at the 3-month minimum, not earlier.
        assert_eq!(r.publicity_end(&p, Some(day("2024-03-12"))), Some(day("2024-06-05")));
        assert_eq!(r.publicity_end(&p, Some(day("2024-10-01"))), Some(day("2024-10-01")));
        assert_eq!(r.publicity_end(&p, None), Some(day("2025-03-05")));
        assert_eq!(add_months(day("2024-01-31"), 1), day("2024-02-29"));
    }
}
