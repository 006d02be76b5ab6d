//! The one masking policy for public output (个人信息保护, 湘政办发〔2015〕104号 二(二十三)): every output meant for
//! the public applies [`public_view`]; government users (operator certificates) see full data.
//!
//! | what                         | public form |
//! |------------------------------|-------------|
//! | resident ID number           | first 4 and last 4 kept: `4301**********1234` |
//! | other document numbers       | at most the first and last one or two characters |
//! | a natural person's name      | the surname and one `*`: `张*`, `欧阳*` (a one-character name: `*`) |
//! | a natural person's penalty   | not in public output at all |
//! | anything about a minor       | not in public output at all |

use crate::date::Day;
use crate::record::{IdType, Record, Subject};

/// Compound surnames (复姓) kept whole when a name is masked.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐",
    "端木", "澹台", "轩辕", "呼延", "南宫", "独孤", "西门", "百里", "万俟", "闻人", "赫连", "申屠", "钟离", "太史",
    "公羊",
];

/// Masks a document number: a resident ID (18 or 15 characters) keeps its first 4 and last 4; any other keeps
/// at most its first and last one (up to 9 characters) or two characters; four or fewer are all masked.
pub fn mask_document(id_type: Option<&IdType>, id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let n = chars.len();
    let resident = matches!(id_type, None | Some(IdType::ResidentId)) && (n == 18 || n == 15);
    let (head, tail) = if resident {
        (4, 4)
    } else if n <= 4 {
        (0, 0)
    } else if n <= 9 {
        (1, 1)
    } else {
        (2, 2)
    };
    let mut out: String = chars[..head].iter().collect();
    out.extend(std::iter::repeat_n('*', n - head - tail));
    out.extend(&chars[n - tail..]);
    out
}

/// Masks a person's name: the surname (a compound surname whole) and one `*`, whatever the given name's length.
pub fn mask_person_name(name: &str) -> String {
    let name = name.trim();
    if name.chars().count() <= 1 {
        return "*".into();
    }
    let surname: String = match COMPOUND_SURNAMES.iter().find(|s| name.starts_with(**s)) {
        Some(s) if name.chars().count() > 2 => (*s).to_string(),
        _ => name.chars().take(1).collect(),
    };
    format!("{surname}*")
}

/// The birth date in a resident ID number (18 digits), if it has one.
fn birth_date(id: &str) -> Option<Day> {
    if id.len() != 18 || !id.is_ascii() {
        return None;
    }
    let y = id.get(6..10)?.parse().ok()?;
    let m = id.get(10..12)?.parse().ok()?;
    let d = id.get(12..14)?.parse().ok()?;
    Day::from_ymd(y, m, d)
}

/// Whether the subject is a natural person under 18 on `today` (from a resident ID number).
pub fn is_minor(s: &Subject, today: Day) -> bool {
    if !s.is_natural_person() {
        return false;
    }
    let Some(born) = s.id_no.as_deref().and_then(birth_date) else { return false };
    let (y, m, d) = (born.year(), born.date().month() as u8, born.date().day());
    let adult = Day::from_ymd(y + 18, m, d).or_else(|| Day::from_ymd(y + 18, m, d.saturating_sub(1)));
    adult.is_some_and(|a| today < a)
}

fn mask_subject(s: &Subject) -> Subject {
    let mut s = s.clone();
    if s.is_natural_person() {
        s.name = mask_person_name(&s.name);
        s.id_no = s.id_no.as_deref().map(|id| mask_document(s.id_type.as_ref(), id));
    }
    if let Some(rep) = s.legal_rep.as_deref() {
        s.legal_rep = Some(mask_person_name(rep));
    }
    s.legal_rep_id_no = s.legal_rep_id_no.as_deref().map(|id| mask_document(s.legal_rep_id_type.as_ref(), id));
    s
}

/// The record as the public may see it on `today`: `None` for a natural person's penalty and for anything about
/// a minor; otherwise a copy with names and document numbers masked.
pub fn public_view(r: &Record, today: Day) -> Option<Record> {
    if r.subject().is_some_and(|s| is_minor(s, today)) {
        return None;
    }
    if let Record::Penalty(p) = r {
        if p.subject.is_natural_person() {
            return None;
        }
    }
    let mut r = r.clone();
    match &mut r {
        Record::License(x) => x.subject = mask_subject(&x.subject),
        Record::Penalty(x) => x.subject = mask_subject(&x.subject),
        Record::ListEntry(x) => x.subject = mask_subject(&x.subject),
        Record::Commitment(x) => x.subject = mask_subject(&x.subject),
        Record::Amendment(x) => {
            if let Some(c) = x.corrected.take() {
                x.corrected = public_view(&c, today).map(Box::new);
            }
        }
    }
    Some(r)
}

/// Whether `r` holds personal information the public view would hide (a masked name or document number, or a
/// record kept out of public output altogether): such payloads stay out of outputs meant for the public, e.g.
/// the evaluator bundle unless an operator asks for it unmasked.
pub fn holds_personal_data(r: &Record, today: Day) -> bool {
    public_view(r, today).as_ref() != Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        assert_eq!(mask_document(None, "430102199001011234"), "4301**********1234");
        assert_eq!(mask_document(Some(&IdType::ResidentId), "43010219900101123X"), "4301**********123X");
        // A passport shows at most its first and last character, not 8 of 9.
        assert_eq!(mask_document(Some(&IdType::Passport), "E12345678"), "E*******8");
        assert_eq!(mask_document(Some(&IdType::HkMacauPass), "H1234567890"), "H1*******90");
        assert_eq!(mask_document(Some(&IdType::Passport), "1234"), "****");
    }

    #[test]
    fn names() {
        assert_eq!(mask_person_name("张三"), "张*");
        assert_eq!(mask_person_name("张三丰"), "张*");
        assert_eq!(mask_person_name("欧阳娜娜"), "欧阳*");
        assert_eq!(mask_person_name("欧阳"), "欧*");
        assert_eq!(mask_person_name("李"), "*", "a one-character name is not shown");
    }

    #[test]
    fn minors() {
        let mut s = Subject {
            name: "王小明".into(),
            category: crate::record::SubjectCategory::NaturalPerson,
            uscc: None,
            reg_no: None,
            org_code: None,
            tax_no: None,
            institution_no: None,
            social_org_no: None,
            legal_rep: None,
            legal_rep_id_type: None,
            legal_rep_id_no: None,
            id_type: Some(IdType::ResidentId),
            id_no: Some(crate::testdata::make_id("430102", 2010, 6, 1, 12)),
        };
        let today = Day::from_ymd(2026, 12, 2).unwrap();
        assert!(is_minor(&s, today));
        assert!(!is_minor(&s, Day::from_ymd(2028, 6, 1).unwrap()), "18 on the birthday");
        s.id_no = Some(crate::testdata::make_id("430102", 1990, 6, 1, 12));
        assert!(!is_minor(&s, today));
    }
}
