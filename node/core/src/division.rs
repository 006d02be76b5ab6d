//! Administrative division codes (GB/T 2260) of Hunan: the current table and the historical (changed or
//! deprecated) codes. The data lives in `node/data/*.csv`; this module parses CSV text, it reads no files.

use std::collections::BTreeMap;
use std::fmt;

/// Level of a current division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Province,
    Prefecture,
    County,
}

impl Level {
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::Prefecture => "prefecture",
            Level::County => "county",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Division {
    pub code: String,
    pub name: String,
    pub parent: Option<String>,
    pub level: Level,
}

/// A code that was changed (变更) or retired (弃用), with the years it was used and its successors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoricalDivision {
    pub code: String,
    pub name: String,
    pub prefecture: String,
    pub status: String,
    pub from_year: Option<u16>,
    pub to_year: Option<u16>,
    pub successors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DivisionError {
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for DivisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "division table line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for DivisionError {}

#[derive(Debug, Clone, Default)]
pub struct DivisionTable {
    current: BTreeMap<String, Division>,
    historical: BTreeMap<String, Vec<HistoricalDivision>>,
}

fn is_code(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

fn records(text: &str) -> impl Iterator<Item = (u64, Result<csv::StringRecord, csv::Error>)> + '_ {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes())
        .into_records()
        .enumerate()
        .map(|(i, r)| (i as u64 + 2, r))
}

impl DivisionTable {
    /// Parses the current table (`code,name,parent_code,level`) and the historical table
    /// (`代码,一级行政区,二级行政区,名称,级别,状态,启用时间,变更/弃用时间,新代码`).
    pub fn parse(current_csv: &str, historical_csv: &str) -> Result<DivisionTable, DivisionError> {
        let mut t = DivisionTable::default();
        for (line, rec) in records(current_csv) {
            let rec = rec.map_err(|e| DivisionError { line, reason: e.to_string() })?;
            let get = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
            let code = get(0);
            if !is_code(&code) {
                return Err(DivisionError { line, reason: format!("bad code '{code}'") });
            }
            let level = match get(3).as_str() {
                "province" => Level::Province,
                "prefecture" => Level::Prefecture,
                "county" => Level::County,
                other => return Err(DivisionError { line, reason: format!("unknown level '{other}'") }),
            };
            let parent = Some(get(2)).filter(|p| !p.is_empty());
            if let Some(p) = &parent {
                if !is_code(p) {
                    return Err(DivisionError { line, reason: format!("bad parent code '{p}'") });
                }
            }
            let d = Division { code: code.clone(), name: get(1), parent, level };
            if t.current.insert(code.clone(), d).is_some() {
                return Err(DivisionError { line, reason: format!("duplicate code {code}") });
            }
        }
        for (code, d) in &t.current {
            if let Some(p) = &d.parent {
                if !t.current.contains_key(p) {
                    return Err(DivisionError { line: 0, reason: format!("{code}: parent {p} not in table") });
                }
            }
        }
        for (line, rec) in records(historical_csv) {
            let rec = rec.map_err(|e| DivisionError { line, reason: e.to_string() })?;
            let get = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
            let code = get(0);
            if !is_code(&code) {
                return Err(DivisionError { line, reason: format!("bad code '{code}'") });
            }
            let year = |s: String| s.parse::<u16>().ok();
            // Successor lists look like `430104[1996];430105[1996];430112`: a code with an optional year.
            let mut successors = Vec::new();
            for part in get(8).split(';').map(str::trim).filter(|s| !s.is_empty()) {
                let c = part.split('[').next().unwrap_or("").trim().to_string();
                if !is_code(&c) {
                    return Err(DivisionError { line, reason: format!("bad successor '{part}'") });
                }
                if !successors.contains(&c) {
                    successors.push(c);
                }
            }
            let h = HistoricalDivision {
                code: code.clone(),
                name: get(3),
                prefecture: get(2),
                status: get(5),
                from_year: year(get(6)),
                to_year: year(get(7)),
                successors,
            };
            t.historical.entry(code).or_default().push(h);
        }
        Ok(t)
    }

    /// A division of the current table.
    pub fn current(&self, code: &str) -> Option<&Division> {
        self.current.get(code)
    }

    pub fn is_current(&self, code: &str) -> bool {
        self.current.contains_key(code)
    }

    /// True when the code is in the current table or was ever used (historical table).
    pub fn is_known(&self, code: &str) -> bool {
        self.current.contains_key(code) || self.historical.contains_key(code)
    }

    /// The historical uses of a code (a code can be reused, so there may be several).
    pub fn historical(&self, code: &str) -> &[HistoricalDivision] {
        self.historical.get(code).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Name of a code: the current name, else the latest historical name.
    pub fn name(&self, code: &str) -> Option<&str> {
        self.current
            .get(code)
            .map(|d| d.name.as_str())
            .or_else(|| self.historical(code).iter().max_by_key(|h| h.to_year).map(|h| h.name.as_str()))
    }

    /// Current divisions of one level, in code order.
    pub fn of_level(&self, level: Level) -> impl Iterator<Item = &Division> {
        self.current.values().filter(move |d| d.level == level)
    }

    /// Names of every current division (湖南省, 长沙市, 芙蓉区, …).
    pub fn current_names(&self) -> impl Iterator<Item = &str> {
        self.current.values().map(|d| d.name.as_str())
    }

    /// Current children of a current division.
    pub fn children<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Division> + 'a {
        self.current.values().filter(move |d| d.parent.as_deref() == Some(code))
    }

    pub fn current_len(&self) -> usize {
        self.current.len()
    }

    pub fn historical_len(&self) -> usize {
        self.historical.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let cur = "code,name,parent_code,level\n430000,湖南省,,province\n430100,长沙市,430000,prefecture\n\
                   430102,芙蓉区,430100,county\n";
        let hist = "代码,一级行政区,二级行政区,名称,级别,状态,启用时间,变更/弃用时间,新代码\n\
                    430122,湖南省,长沙市,望城县,县级,弃用,1981,2011,430104[1996];430105[1996];430112\n";
        let t = DivisionTable::parse(cur, hist).expect("parse");
        assert!(t.is_current("430102"));
        assert!(!t.is_current("430122"));
        assert!(t.is_known("430122"));
        assert_eq!(t.historical("430122")[0].successors, vec!["430104", "430105", "430112"]);
        assert_eq!(t.name("430122"), Some("望城县"));
        let bad = "code,name,parent_code,level\n430102,芙蓉区,439999,county\n";
        assert!(DivisionTable::parse(bad, hist).is_err());
        let bad = "code,name,parent_code,level\n43010,芙蓉区,,county\n";
        assert_eq!(DivisionTable::parse(bad, hist).map_err(|e| e.line).err(), Some(2));
    }
}
