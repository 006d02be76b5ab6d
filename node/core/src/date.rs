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
    Format {
        text: String,
    },
    NotReal {
        text: String,
    },
    OutOfRange {
        text: String,
    },
    /// A date-time whose time of day is not midnight, on a field that holds a date.
    HasTime {
        text: String,
    },
    /// A bare number that reads as an Excel date serial (days since 1899-12-30).
    Serial {
        text: String,
        day: Option<Day>,
    },
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
            DateError::HasTime { text } => write!(
                f,
                "日期 '{text}' 带有非零的时刻，此字段只填日期 (the date has a time of day that is not 00:00; this field holds a date only)"
            ),
            DateError::Serial { text, day } => {
                let as_day = day.map(|d| format!("，即 {d}")).unwrap_or_default();
                let en = day.map(|d| format!(" = {d}")).unwrap_or_default();
                write!(
                    f,
                    "日期 '{text}' 是 Excel 日期序列号{as_day}：请将该列设为日期格式或按 YYYY/MM/DD 填写 \
                     (an Excel date serial number{en}: format the column as a date or write YYYY/MM/DD)"
                )
            }
        }
    }
}

impl std::error::Error for DateError {}

/// Parses `YYYY/MM/DD`, `YYYY-MM-DD` (one separator kind, 1–2 digit month and day). Years 1949–2099.
/// A trailing time of day that is midnight is tolerated, in the forms Excel, Java and Oracle systems write
/// (`2024/3/5 0:00`, `2024-03-05 00:00:00`, `2024-03-05 00:00:00.0`, `2024-03-05T00:00:00`); any other time
/// is [`DateError::HasTime`]. A bare 5-digit number is [`DateError::Serial`] (an Excel date serial).
pub fn parse(text: &str) -> Result<Day, DateError> {
    let t = text.trim();
    let fmt_err = || DateError::Format { text: text.to_string() };
    if t.len() == 5 && t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateError::Serial { text: text.to_string(), day: t.parse().ok().and_then(from_serial) });
    }
    let (t, time) = match t.split_once([' ', 'T']) {
        Some((d, rest)) => (d, Some(rest.trim())),
        None => (t, None),
    };
    if let Some(time) = time {
        match midnight(time) {
            Some(true) => {}
            Some(false) => {
                // Only a well-formed date with a real time is "has a time"; anything else is a format error.
                parse_date_part(t, text)?;
                return Err(DateError::HasTime { text: text.to_string() });
            }
            None => return Err(fmt_err()),
        }
    }
    parse_date_part(t, text)
}

/// `Some(true)` for a midnight time of day (`0:00`, `00:00:00`, `00:00:00.000`), `Some(false)` for another
/// well-formed time, `None` when it is not a time at all.
fn midnight(time: &str) -> Option<bool> {
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (time, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || !parts.iter().all(|p| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let nums: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    if nums.len() != parts.len() || nums[0] > 23 || nums[1..].iter().any(|n| *n > 59) {
        return None;
    }
    let frac_zero = match frac {
        None => true,
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => f.bytes().all(|b| b == b'0'),
        Some(_) => return None,
    };
    Some(nums.iter().all(|n| *n == 0) && frac_zero)
}

fn parse_date_part(t: &str, text: &str) -> Result<Day, DateError> {
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

/// The day of an Excel (1900 system) date serial, for hints; `None` outside 1949–2099.
pub fn from_serial(serial: i64) -> Option<Day> {
    let epoch = time::macros::date!(1899 - 12 - 30);
    let d = epoch.checked_add(time::Duration::days(serial))?;
    (1949..=2099).contains(&d.year()).then_some(Day(d))
}

/// `长期`, `长期有效`, `永久`, `无期限`: the long-term marker of a validity end, as departments write it.
pub fn is_long_term_text(text: &str) -> bool {
    matches!(text.trim(), "长期" | "长期有效" | "永久" | "永久有效" | "无期限")
}

/// Adds whole months (clamping the day to the month's end), for plausibility windows.
pub fn add_months(d: Day, months: i32) -> Option<Day> {
    let total = d.0.year() * 12 + (d.0.month() as i32 - 1) + months;
    let (y, m) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u8);
    let month = Month::try_from(m).ok()?;
    let last = time::util::days_in_month(month, y);
    Date::from_calendar_date(y, month, d.0.day().min(last)).ok().map(Day)
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

    #[test]
    fn date_times_with_a_zero_time_are_dates() {
        for text in [
            "2024/3/5 0:00",
            "2024-03-05 00:00:00.0",
            "2024-03-05 00:00:00",
            "2024-03-05T00:00:00",
            "2024/03/05 00:00",
            "2024-03-05 00:00:00.000",
        ] {
            assert_eq!(parse(text).map(|d| d.to_string()), Ok("2024-03-05".to_string()), "{text}");
        }
        for text in ["2024/3/5 8:30", "2024-03-05 00:00:01", "2024-03-05 00:00:00.5"] {
            assert_eq!(parse(text), Err(DateError::HasTime { text: text.into() }), "{text}");
        }
        for text in ["2024/3/5 25:00", "2024-03-05 noon", "2024/02/30 0:00x"] {
            assert!(matches!(parse(text), Err(DateError::Format { .. })), "{text}");
        }
        assert_eq!(parse("45356"), Err(DateError::Serial { text: "45356".into(), day: Day::from_ymd(2024, 3, 5) }));
        let msg = parse("45356").unwrap_err().to_string();
        assert!(msg.starts_with("日期 '45356' 是 Excel 日期序列号，即 2024-03-05"), "{msg}");
        assert_eq!(add_months(Day::from_ymd(2024, 1, 31).unwrap(), 1), Day::from_ymd(2024, 2, 29));
        assert_eq!(add_months(Day::from_ymd(2024, 3, 5).unwrap(), 36), Day::from_ymd(2027, 3, 5));
        assert!(is_long_term_text(" 长期 ") && !is_long_term_text("短期"));
    }
}
