//! Unified social credit code (统一社会信用代码, GB 32100-2015) with the embedded organisation code
//! (组织机构代码, GB 11714-1997) check, and the 15-digit market-entity registration number (工商注册号).
//!
//! Layout of the 18 characters: 1 registration authority, 2 entity type, 3–8 division code of the issuing
//! registration office, 9–17 organisation code (8 body characters + GB 11714 check character), 18 the
//! GB 32100 check character. Positions 3–8 are checked for shape only: entities registered anywhere in China
//! appear in Hunan records, and old codes keep their issuing division.

use std::fmt;

/// The 31 characters of GB 32100 in value order (no I, O, Z, S, V).
pub const CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The code a 个体工商户 without a unified code is reported with (then the registration number is required).
pub const PLACEHOLDER: &str = "00000000000000000X";

/// Why a code is not a valid unified social credit code. Positions are 1-based, as an operator counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsccError {
    Length { len: usize },
    BadChar { pos: usize, ch: char },
    DivisionShape { division: String },
    OrgCodeCheck { expected: char, found: char },
    CheckChar { expected: char, found: char },
}

impl fmt::Display for UsccError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsccError::Length { len } => {
                write!(f, "统一社会信用代码应为 18 位，实为 {len} 位 (must be 18 characters, found {len})")
            }
            UsccError::BadChar { pos, ch } => write!(
                f,
                "第 {pos} 位字符 '{ch}' 不在 GB 32100 字符集内（不含 I O Z S V 及小写）(character {pos} '{ch}' is not allowed)"
            ),
            UsccError::DivisionShape { division } => write!(
                f,
                "第 3–8 位行政区划码 '{division}' 应为 6 位数字 (positions 3-8 must be a 6-digit division code)"
            ),
            UsccError::OrgCodeCheck { expected, found } => write!(
                f,
                "内含组织机构代码（第 9–17 位）校验位应为 {expected}，实为 {found} (embedded GB 11714 organisation code check character should be {expected}, found {found})"
            ),
            UsccError::CheckChar { expected, found } => write!(
                f,
                "校验位应为 {expected}，实为 {found} (GB 32100 check character should be {expected}, found {found})"
            ),
        }
    }
}

impl std::error::Error for UsccError {}

fn char_value(c: char) -> Option<u32> {
    CHARSET.find(c).map(|i| i as u32)
}

/// The GB 32100 check character for the first 17 characters (weights 3^(i-1) mod 31).
pub fn check_char(first17: &str) -> Result<char, UsccError> {
    let chars: Vec<char> = first17.chars().collect();
    if chars.len() != 17 {
        return Err(UsccError::Length { len: chars.len() + 1 });
    }
    let mut sum = 0u32;
    let mut weight = 1u32;
    for (i, &c) in chars.iter().enumerate() {
        let v = char_value(c).ok_or(UsccError::BadChar { pos: i + 1, ch: c })?;
        sum += v * weight;
        weight = weight * 3 % 31;
    }
    let check = (31 - sum % 31) % 31;
    Ok(CHARSET.as_bytes()[check as usize] as char)
}

/// The GB 11714 check character for the 8 body characters of an organisation code
/// (digits 0–9, letters A=10 … Z=35; weights 3 7 9 10 5 8 4 2; 10 → X, 11 → 0).
pub fn org_code_check_char(body8: &str) -> Option<char> {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let chars: Vec<char> = body8.chars().collect();
    if chars.len() != 8 {
        return None;
    }
    let mut sum = 0;
    for (c, w) in chars.iter().zip(W) {
        let v = match c {
            '0'..='9' => *c as u32 - '0' as u32,
            'A'..='Z' => *c as u32 - 'A' as u32 + 10,
            _ => return None,
        };
        sum += v * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from_digit(d, 10).unwrap_or('0'),
    })
}

/// Validates an 18-character unified social credit code. The placeholder `00000000000000000X` is *not*
/// accepted here (it fails the checks); callers that allow it for 个体工商户 test [`is_placeholder`] first.
pub fn validate(code: &str) -> Result<(), UsccError> {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != 18 {
        return Err(UsccError::Length { len: chars.len() });
    }
    for (i, &c) in chars.iter().enumerate() {
        if char_value(c).is_none() {
            return Err(UsccError::BadChar { pos: i + 1, ch: c });
        }
    }
    let division: String = chars[2..8].iter().collect();
    if !division.chars().all(|c| c.is_ascii_digit()) {
        return Err(UsccError::DivisionShape { division });
    }
    let body: String = chars[8..16].iter().collect();
    let expected_org = org_code_check_char(&body).ok_or(UsccError::BadChar { pos: 9, ch: chars[8] })?;
    if expected_org != chars[16] {
        return Err(UsccError::OrgCodeCheck { expected: expected_org, found: chars[16] });
    }
    let first17: String = chars[..17].iter().collect();
    let expected = check_char(&first17)?;
    if expected != chars[17] {
        return Err(UsccError::CheckChar { expected, found: chars[17] });
    }
    Ok(())
}

/// Registration authorities (position 1) and the entity types each issues (position 2), GB 32100-2015 Table 1
/// with the later additions (A 中央军委改革和编制办公室, N 农业农村 for rural collective economic organisations).
pub const REGISTRATION_TYPES: &[(char, &str, &str)] = &[
    ('1', "机构编制", "1239"),
    ('2', "外交", "19"),
    ('3', "司法行政", "123459"),
    ('4', "文化", "19"),
    ('5', "民政", "1239"),
    ('6', "旅游", "129"),
    ('7', "宗教", "129"),
    ('8', "工会", "19"),
    ('9', "工商（市场监管）", "123"),
    ('A', "中央军委改革和编制办公室", "19"),
    ('N', "农业农村", "1239"),
    ('Y', "其他", "1"),
];

/// Checks positions 1–2 of a code that passed [`validate`]: a registration authority and one of its entity
/// types. `Err` is the operator message.
pub fn check_registration_type(code: &str) -> Result<(), String> {
    let mut chars = code.chars();
    let (Some(a), Some(t)) = (chars.next(), chars.next()) else {
        return Err("统一社会信用代码过短 (code too short)".to_string());
    };
    match REGISTRATION_TYPES.iter().find(|(c, _, _)| *c == a) {
        None => Err(format!(
            "第 1 位登记管理部门代码 '{a}' 不存在（应为 1–9、A、N、Y）(position 1 '{a}' is not a registration authority)"
        )),
        Some((_, name, types)) if !types.contains(t) => Err(format!(
            "第 2 位机构类别代码 '{t}' 不是登记管理部门 {a}（{name}）的机构类别（应为 {}）\
             (position 2 '{t}' is not an entity type of registration authority {a})",
            types.chars().map(String::from).collect::<Vec<_>>().join("/")
        )),
        Some(_) => Ok(()),
    }
}

/// True for the 个体工商户 placeholder `00000000000000000X`.
pub fn is_placeholder(code: &str) -> bool {
    code == PLACEHOLDER
}

/// The organisation code embedded in a unified code (positions 9–17), as 9 characters without hyphen.
pub fn embedded_org_code(code: &str) -> Option<String> {
    let chars: Vec<char> = code.chars().collect();
    (chars.len() == 18).then(|| chars[8..17].iter().collect())
}

/// Validates a GB 11714 organisation code, written `XXXXXXXX-X` or `XXXXXXXXX`; returns it without hyphen.
pub fn validate_org_code(code: &str) -> Result<String, String> {
    let plain: String = code.chars().filter(|c| *c != '-' && *c != '－').collect();
    let chars: Vec<char> = plain.chars().collect();
    if chars.len() != 9 {
        return Err(format!(
            "组织机构代码应为 9 位（可写作 XXXXXXXX-X），实为 {} 位 (organisation code must have 9 characters)",
            chars.len()
        ));
    }
    if let Some((i, c)) = chars[..8].iter().enumerate().find(|(_, c)| !(c.is_ascii_digit() || c.is_ascii_uppercase())) {
        return Err(format!("组织机构代码第 {} 位字符 '{c}' 无效 (character {} is not 0-9/A-Z)", i + 1, i + 1));
    }
    let body: String = chars[..8].iter().collect();
    let expected = org_code_check_char(&body).unwrap_or('?');
    if expected != chars[8] {
        return Err(format!(
            "组织机构代码校验位应为 {expected}，实为 {} (GB 11714 check character should be {expected}, found {})",
            chars[8], chars[8]
        ));
    }
    Ok(plain)
}

/// ISO 7064 MOD 11,10 check digit over the first 14 digits of a 15-digit registration number.
pub fn reg_no_check_digit(first14: &str) -> Option<u32> {
    if first14.len() != 14 || !first14.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut p = 10u32;
    for b in first14.bytes() {
        let s = (p + (b - b'0') as u32) % 10;
        let s = if s == 0 { 10 } else { s };
        p = (s * 2) % 11;
    }
    Some((11 - p) % 10)
}

/// Validates a market-entity registration number (工商注册号): 15 digits with the ISO 7064 MOD 11,10 check
/// digit (the 2007 rules), or 13 digits of the older scheme (shape only).
pub fn validate_reg_no(code: &str) -> Result<(), String> {
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err("工商注册号只能包含数字 (registration number must be digits only)".to_string());
    }
    match code.len() {
        13 => Ok(()),
        15 => {
            let expected = reg_no_check_digit(&code[..14]).unwrap_or(0);
            let found = (code.as_bytes()[14] - b'0') as u32;
            if expected == found {
                Ok(())
            } else {
                Err(format!(
                    "工商注册号校验位应为 {expected}，实为 {found} (ISO 7064 MOD 11,10 check digit should be {expected}, found {found})"
                ))
            }
        }
        n => Err(format!("工商注册号应为 15 位（旧号 13 位），实为 {n} 位 (registration number must have 15 digits)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(validate("914403001922038216"), Ok(()));
        assert_eq!(validate("91430000183764483Y"), Ok(()));
        assert_eq!(validate("91350100M000100Y43"), Ok(()));
        assert_eq!(validate("91350100M000100Y4Z"), Err(UsccError::BadChar { pos: 18, ch: 'Z' }));
        assert_eq!(validate("91350100M000100Y44"), Err(UsccError::CheckChar { expected: '3', found: '4' }));
        assert_eq!(validate("91350100M000100Y53"), Err(UsccError::OrgCodeCheck { expected: '4', found: '5' }));
        assert!(validate(PLACEHOLDER).is_err());
    }

    #[test]
    fn org_code_and_reg_no() {
        assert_eq!(validate_org_code("19220382-1"), Ok("192203821".to_string()));
        assert!(validate_org_code("192203822").is_err());
        // 110108000000016 is a published example of a valid 15-digit registration number.
        assert_eq!(validate_reg_no("110108000000016"), Ok(()));
        assert!(validate_reg_no("110108000000017").is_err());
    }
}
