//! Resident identity card number (公民身份号码, GB 11643-1999): 6-digit address code, 8-digit birth date,
//! 3-digit sequence (odd = male), and an ISO 7064 MOD 11-2 check character.

use std::fmt;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// Why a string is not a valid resident ID number. Positions are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdCardError {
    Length { len: usize },
    OldFifteenDigit,
    NotDigit { pos: usize, ch: char },
    BirthDate { text: String },
    CheckChar { expected: char, found: char },
}

impl fmt::Display for IdCardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdCardError::Length { len } => {
                write!(f, "身份证号码应为 18 位，实为 {len} 位 (resident ID must have 18 characters, found {len})")
            }
            IdCardError::OldFifteenDigit => write!(
                f,
                "15 位一代身份证号码已停止使用，请填写 18 位号码 (15-digit first-generation numbers are no longer valid)"
            ),
            IdCardError::NotDigit { pos, ch } => write!(
                f,
                "身份证号码第 {pos} 位 '{ch}' 应为数字 (character {pos} must be a digit; only the last may be X)"
            ),
            IdCardError::BirthDate { text } => write!(
                f,
                "身份证号码中的出生日期 {text} 不是有效日期 (embedded birth date {text} is not a real date)"
            ),
            IdCardError::CheckChar { expected, found } => write!(
                f,
                "身份证号码校验位应为 {expected}，实为 {found} (GB 11643 check character should be {expected}, found {found})"
            ),
        }
    }
}

impl std::error::Error for IdCardError {}

/// The GB 11643 check character for the first 17 digits.
pub fn check_char(first17: &str) -> Option<char> {
    let b = first17.as_bytes();
    if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b.iter().zip(WEIGHTS).map(|(d, w)| (d - b'0') as u32 * w).sum();
    Some(CHECK[(sum % 11) as usize] as char)
}

/// Validates an 18-character resident ID number (a lower-case `x` is accepted as `X`) and returns it
/// normalised (upper-case X).
pub fn validate(id: &str) -> Result<String, IdCardError> {
    let norm = id.to_ascii_uppercase();
    let chars: Vec<char> = norm.chars().collect();
    if chars.len() == 15 && chars.iter().all(|c| c.is_ascii_digit()) {
        return Err(IdCardError::OldFifteenDigit);
    }
    if chars.len() != 18 {
        return Err(IdCardError::Length { len: chars.len() });
    }
    for (i, &c) in chars[..17].iter().enumerate() {
        if !c.is_ascii_digit() {
            return Err(IdCardError::NotDigit { pos: i + 1, ch: c });
        }
    }
    if !(chars[17].is_ascii_digit() || chars[17] == 'X') {
        return Err(IdCardError::NotDigit { pos: 18, ch: chars[17] });
    }
    let birth = &norm[6..14];
    if birth_date(birth).is_none() {
        return Err(IdCardError::BirthDate { text: birth.to_string() });
    }
    let expected = check_char(&norm[..17]).unwrap_or('?');
    if expected != chars[17] {
        return Err(IdCardError::CheckChar { expected, found: chars[17] });
    }
    Ok(norm)
}

/// The birth date embedded in a number that passed [`validate`].
pub fn embedded_birth_date(id: &str) -> Option<time::Date> {
    birth_date(id.get(6..14)?)
}

/// Province-level codes of GB/T 2260 (positions 1–2 of an address code), 71/81/82 included.
pub const PROVINCE_PREFIXES: &[&str] = &[
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43", "44",
    "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
];

/// Parses `YYYYMMDD` as a real calendar date from 1800 on.
fn birth_date(s: &str) -> Option<time::Date> {
    let y: i32 = s.get(0..4)?.parse().ok()?;
    let m: u8 = s.get(4..6)?.parse().ok()?;
    let d: u8 = s.get(6..8)?.parse().ok()?;
    if y < 1800 {
        return None;
    }
    let month = time::Month::try_from(m).ok()?;
    time::Date::from_calendar_date(y, month, d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_character() {
        // GB 11643 Annex example: 11010519491231002X.
        assert_eq!(validate("11010519491231002X"), Ok("11010519491231002X".to_string()));
        assert_eq!(validate("11010519491231002x"), Ok("11010519491231002X".to_string()));
        assert_eq!(validate("110105194912310021"), Err(IdCardError::CheckChar { expected: 'X', found: '1' }));
        assert!(matches!(validate("110105194902300021"), Err(IdCardError::BirthDate { .. })));
        assert_eq!(validate("110105491231002"), Err(IdCardError::OldFifteenDigit));
    }
}
