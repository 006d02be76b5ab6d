//! The working-day calendar (法定节假日与调休工作日, 2004–2026 in `node/data/cn_holidays_2004_2026.csv`): which
//! days are working days, and the day a duty of N working days falls due. A year the data does not cover is an
//! error, never "weekends only".

use crate::date::Day;
use std::collections::{BTreeMap, BTreeSet};
use time::Weekday;

/// The calendar shipped with the software.
pub const EMBEDDED: &str = include_str!("../../data/cn_holidays_2004_2026.csv");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Holiday,
    AdjustedWorkday,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("节假日数据没有 {0} 年，无法计算工作日 (the holiday calendar has no data for {0})")]
    NoData(i32),
    #[error("节假日数据第 {line} 行无效 (calendar line {line} is invalid): {reason}")]
    Bad { line: usize, reason: String },
}

/// Holidays and adjusted working days by date, and the years they cover.
#[derive(Debug, Clone, Default)]
pub struct WorkCalendar {
    days: BTreeMap<Day, Kind>,
    years: BTreeSet<i32>,
}

impl WorkCalendar {
    /// Parses `date,kind,…` lines (`kind` = `holiday` or `adjusted_workday`) after a header.
    pub fn parse(csv: &str) -> Result<WorkCalendar, CalendarError> {
        let mut c = WorkCalendar::default();
        for (i, line) in csv.lines().enumerate().skip(1) {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = |reason: String| CalendarError::Bad { line: i + 1, reason };
            let mut cols = line.split(',');
            let date = cols.next().unwrap_or("");
            let kind = cols.next().unwrap_or("");
            let day = crate::date::parse(date).map_err(|e| bad(e.to_string()))?;
            let kind = match kind {
                "holiday" => Kind::Holiday,
                "adjusted_workday" => Kind::AdjustedWorkday,
                other => return Err(bad(format!("unknown kind '{other}'"))),
            };
            c.years.insert(day.year());
            c.days.insert(day, kind);
        }
        Ok(c)
    }

    /// The embedded calendar.
    pub fn embedded() -> &'static WorkCalendar {
        static C: std::sync::OnceLock<WorkCalendar> = std::sync::OnceLock::new();
        C.get_or_init(|| WorkCalendar::parse(EMBEDDED).unwrap_or_default())
    }

    /// The years covered.
    pub fn years(&self) -> std::ops::RangeInclusive<i32> {
        let first = self.years.iter().next().copied().unwrap_or(0);
        let last = self.years.iter().next_back().copied().unwrap_or(-1);
        first..=last
    }

    /// Whether `day` is a working day: a holiday is not, an adjusted working day is, otherwise Monday–Friday.
    pub fn is_workday(&self, day: Day) -> Result<bool, CalendarError> {
        if !self.years.contains(&day.year()) {
            return Err(CalendarError::NoData(day.year()));
        }
        Ok(match self.days.get(&day) {
            Some(Kind::Holiday) => false,
            Some(Kind::AdjustedWorkday) => true,
            None => !matches!(day.date().weekday(), Weekday::Saturday | Weekday::Sunday),
        })
    }

    /// The `n`th working day after `from` (the day itself not counted): when a duty of `n` working days that
    /// starts on `from` falls due.
    pub fn add_workdays(&self, from: Day, n: u32) -> Result<Day, CalendarError> {
        let mut d = from;
        let mut left = n;
        while left > 0 {
            d = Day(d.date().next_day().ok_or(CalendarError::NoData(d.year() + 1))?);
            if self.is_workday(d)? {
                left -= 1;
            }
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        crate::date::parse(s).unwrap()
    }

    #[test]
    fn seven_working_days_known_answers() {
        let c = WorkCalendar::embedded();
        assert_eq!(c.years(), 2004..=2026);
        // National Day and the adjusted Saturday 10-10.
        assert_eq!(c.add_workdays(day("2026-09-30"), 7).unwrap(), day("2026-10-15"));
        // Spring Festival with the adjusted Saturdays 02-14 and 02-28.
        assert_eq!(c.add_workdays(day("2026-02-13"), 7).unwrap(), day("2026-03-02"));
        // New Year with the adjusted Sunday 01-04.
        assert_eq!(c.add_workdays(day("2025-12-31"), 7).unwrap(), day("2026-01-12"));
        assert!(c.is_workday(day("2026-02-14")).unwrap(), "adjusted working day");
        assert!(!c.is_workday(day("2026-10-05")).unwrap(), "holiday on a Monday");
        assert!(!c.is_workday(day("2026-11-28")).unwrap(), "an ordinary Saturday");
    }

    #[test]
    fn a_year_without_data_is_an_error() {
        let c = WorkCalendar::embedded();
        assert_eq!(c.is_workday(day("2027-01-04")), Err(CalendarError::NoData(2027)));
        assert_eq!(c.add_workdays(day("2026-12-28"), 7), Err(CalendarError::NoData(2027)));
        assert!(WorkCalendar::parse("date,kind\n2026-01-01,party\n").is_err());
    }
}
