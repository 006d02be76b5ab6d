//! Calendar dates as the templates write them: `YYYY/MM/DD` or `YYYY-MM-DD` (Excel also writes `2024/3/5`,
//! which is accepted). `2099/12/31` means long-term (长期) wherever a validity end is asked for.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::{Date, Month};

/// A calendar day. Serialises as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub Date);

/// `2099-12-31`: the template's marker for "long-term / no end".
pub const LONG_TERM: Day = Day(time::macros::date!(2099 - 12 - 31));

impl Day {
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Option<Day> {
        let m = Month::try_from(month).ok()?;
        Date::from_calendar_date(year, m, day).ok().map(Day)
    }

    /// True for `2099-12-31` (长期).
    pub fn is_long_term(&self) -> bool {
        *self == LONG_TERM
    }

    pub fn year(&self) -> i32 {
        self.0.year()
    }

    pub fn date(&self) -> Date {
        self.0
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), self.0.month() as u8, self.0.day())
    }
}

/// Why a cell is not a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateError {
    Format { text: String },
    NotReal { text: String },
    OutOfRange { text: String },
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateError::Format { text } => {
                write!(f, "日期 '{text}' 格式应为 YYYY/MM/DD 或 YYYY-MM-DD (date must be YYYY/MM/DD or YYYY-MM-DD)")
            }
            DateError::NotReal { text } => write!(f, "日期 '{text}' 不存在 (not a real calendar date)"),
            DateError::OutOfRange { text } => {
                write!(f, "日期 '{text}' 超出 1949–2099 年范围 (year must be between 1949 and 2099)")
            }
        }
    }
}

impl std::error::Error for DateError {}

/// Parses `YYYY/MM/DD`, `YYYY-MM-DD` (one separator kind, 1–2 digit month and day). Years 1949–2099.
/// A trailing midnight time (`2024-03-05 00:00:00`, as some exports append) is tolerated.
pub fn parse(text: &str) -> Result<Day, DateError> {
    let t = text.trim();
    let t = t.strip_suffix(" 00:00:00").or_else(|| t.strip_suffix("T00:00:00")).unwrap_or(t);
    let fmt_err = || DateError::Format { text: text.to_string() };
    let sep = if t.contains('/') { '/' } else { '-' };
    let parts: Vec<&str> = t.split(sep).collect();
    if parts.len() != 3 {
        return Err(fmt_err());
    }
    let digits =
        |s: &str, min: usize, max: usize| (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(parts[0], 4, 4) && digits(parts[1], 1, 2) && digits(parts[2], 1, 2)) {
        return Err(fmt_err());
    }
    let y: i32 = parts[0].parse().map_err(|_| fmt_err())?;
    let m: u8 = parts[1].parse().map_err(|_| fmt_err())?;
    let d: u8 = parts[2].parse().map_err(|_| fmt_err())?;
    if !(1949..=2099).contains(&y) {
        return Err(DateError::OutOfRange { text: text.to_string() });
    }
    Day::from_ymd(y, m, d).ok_or(DateError::NotReal { text: text.to_string() })
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(serde::de::Error::custom(format!("date '{s}' is not YYYY-MM-DD")));
        }
        parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A moment as the logs write it: RFC 3339 in UTC, whole seconds, `Z` (`2026-12-01T21:30:00Z`). Callers pass the
/// time (`OffsetDateTime::now_utc()`); years outside 0000–9999 cannot be written and give the epoch.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc_whole_seconds() {
        let t = time::macros::datetime!(2026-12-01 23:30:07.987 +08:00);
        assert_eq!(rfc3339(t), "2026-12-01T15:30:07Z");
        assert_eq!(rfc3339(time::macros::datetime!(2026-01-02 03:04:05 UTC)), "2026-01-02T03:04:05Z");
    }

    #[test]
    fn formats() {
        assert_eq!(parse("2024/03/05").map(|d| d.to_string()), Ok("2024-03-05".to_string()));
        assert_eq!(parse("2024-3-5").map(|d| d.to_string()), Ok("2024-03-05".to_string()));
        assert!(parse("2099/12/31").map(|d| d.is_long_term()).unwrap_or(false));
        assert!(matches!(parse("2023/02/29"), Err(DateError::NotReal { .. })));
        assert!(matches!(parse("2024/03-05"), Err(DateError::Format { .. })));
        assert!(matches!(parse("20240305"), Err(DateError::Format { .. })));
        assert!(matches!(parse("1900/01/01"), Err(DateError::OutOfRange { .. })));
    }
}
