//! The national 双公示 templates for 行政许可 and 行政处罚: canonical column names, header matching
//! (full-width parentheses, bare names such as 统一社会信用代码), and row validation with every
//! conditional rule of the template. Errors name the row, the field and the reason.

use crate::date::{self, Day, LONG_TERM};
use crate::division::DivisionTable;
use crate::idcard;
use crate::record::{IdType, License, LicenseCategory, LicenseStatus, Penalty, Record, Subject, SubjectCategory};
use crate::uscc;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// Canonical column names (the keys of a row's field map).
pub mod f {
    pub const NAME: &str = "行政相对人名称";
    pub const CATEGORY: &str = "行政相对人类别";
    pub const CODE1_USCC: &str = "行政相对人代码_1(统一社会信用代码)";
    pub const CODE2_REG_NO: &str = "行政相对人代码_2(工商注册号)";
    pub const CODE3_ORG_CODE: &str = "行政相对人代码_3(组织机构代码)";
    pub const CODE4_TAX_NO: &str = "行政相对人代码_4(税务登记号)";
    pub const CODE5_INSTITUTION: &str = "行政相对人代码_5(事业单位证书号)";
    pub const CODE6_SOCIAL_ORG: &str = "行政相对人代码_6(社会组织登记证号)";
    pub const LEGAL_REP: &str = "法定代表人";
    pub const LEGAL_REP_ID_TYPE: &str = "法定代表人证件类型";
    pub const LEGAL_REP_ID_NO: &str = "法定代表人证件号码";
    pub const ID_TYPE: &str = "证件类型";
    pub const ID_NO: &str = "证件号码";

    pub const L_DOC_NAME: &str = "行政许可决定文书名称";
    pub const L_DOC_NO: &str = "行政许可决定文书号";
    pub const L_CATEGORY: &str = "许可类别";
    pub const L_CERT_NAME: &str = "许可证书名称";
    pub const L_NO: &str = "许可编号";
    pub const L_CONTENT: &str = "许可内容";
    pub const L_DATE: &str = "许可决定日期";
    pub const L_FROM: &str = "有效期自";
    pub const L_TO: &str = "有效期至";
    pub const L_AUTHORITY: &str = "许可机关";
    pub const L_AUTHORITY_USCC: &str = "许可机关统一社会信用代码";
    pub const L_STATUS: &str = "当前状态";

    pub const P_DOC_NO: &str = "行政处罚决定书文号";
    pub const P_VIOLATION_TYPE: &str = "违法行为类型";
    pub const P_FACTS: &str = "违法事实";
    pub const P_BASIS: &str = "处罚依据";
    pub const P_CATEGORY: &str = "处罚类别";
    pub const P_CONTENT: &str = "处罚内容";
    pub const P_FINE: &str = "罚款金额（万元）";
    pub const P_CONFISCATION: &str = "没收违法所得、没收非法财物的金额（万元）";
    pub const P_SUSPENDED: &str = "暂扣或吊销证照名称及编号";
    pub const P_DATE: &str = "处罚决定日期";
    pub const P_VALID_UNTIL: &str = "处罚有效期";
    pub const P_PUBLICITY_UNTIL: &str = "公示截止期";
    pub const P_AUTHORITY: &str = "处罚机关";
    pub const P_AUTHORITY_USCC: &str = "处罚机关统一社会信用代码";

    pub const SOURCE: &str = "数据来源单位";
    pub const SOURCE_USCC: &str = "数据来源单位统一社会信用代码";
    pub const REMARKS: &str = "备注";
    /// Optional provincial extension: GB/T 2260 division code of the record.
    pub const DIVISION: &str = "地方编码";
}

/// Pseudo-field used when a row has more non-empty cells than the header has columns.
pub const EXTRA_CELLS_KEY: &str = "(整行)";

/// Which template a file follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    License,
    Penalty,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::License => "license",
            Kind::Penalty => "penalty",
        }
    }
    pub fn chinese(&self) -> &'static str {
        match self {
            Kind::License => "行政许可",
            Kind::Penalty => "行政处罚",
        }
    }
    fn other(&self) -> Kind {
        match self {
            Kind::License => Kind::Penalty,
            Kind::Penalty => Kind::License,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        match s.trim() {
            "license" | "行政许可" => Ok(Kind::License),
            "penalty" | "行政处罚" => Ok(Kind::Penalty),
            other => Err(format!("unknown kind '{other}' (expected license or penalty)")),
        }
    }
}

/// One column of a template.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    /// Other header texts that mean this column.
    pub aliases: &'static [&'static str],
    /// The file is rejected when this column is absent.
    pub required_column: bool,
    /// Maximum length in characters.
    pub max_len: usize,
}

const fn spec(name: &'static str, aliases: &'static [&'static str], req: bool, max_len: usize) -> FieldSpec {
    FieldSpec { name, aliases, required_column: req, max_len }
}

const SUBJECT_FIELDS: [FieldSpec; 13] = [
    spec(f::NAME, &["相对人名称"], true, 200),
    spec(f::CATEGORY, &["相对人类别"], true, 16),
    spec(f::CODE1_USCC, &["统一社会信用代码", "行政相对人代码_1", "行政相对人统一社会信用代码"], true, 18),
    spec(f::CODE2_REG_NO, &["工商注册号", "行政相对人代码_2", "注册号"], false, 32),
    spec(f::CODE3_ORG_CODE, &["组织机构代码", "行政相对人代码_3"], false, 16),
    spec(f::CODE4_TAX_NO, &["税务登记号", "行政相对人代码_4"], false, 32),
    spec(f::CODE5_INSTITUTION, &["事业单位证书号", "行政相对人代码_5"], false, 64),
    spec(f::CODE6_SOCIAL_ORG, &["社会组织登记证号", "行政相对人代码_6"], false, 64),
    spec(f::LEGAL_REP, &["法定代表人(负责人)", "法定代表人姓名", "法定代表人/负责人"], true, 50),
    spec(f::LEGAL_REP_ID_TYPE, &["法定代表人身份证件类型"], false, 64),
    spec(f::LEGAL_REP_ID_NO, &["法定代表人身份证件号码", "法定代表人身份证号"], false, 64),
    spec(f::ID_TYPE, &["行政相对人证件类型"], true, 64),
    spec(f::ID_NO, &["行政相对人证件号码"], true, 64),
];

const COMMON_TAIL: [FieldSpec; 4] = [
    spec(f::SOURCE, &[], true, 200),
    spec(f::SOURCE_USCC, &[], true, 18),
    spec(f::REMARKS, &[], false, 1000),
    spec(f::DIVISION, &["行政区划代码"], false, 6),
];

const LICENSE_FIELDS: [FieldSpec; 12] = [
    spec(f::L_DOC_NAME, &["行政许可决定书名称"], true, 200),
    spec(f::L_DOC_NO, &["行政许可决定书文号", "行政许可决定文书文号", "许可决定书文号"], true, 128),
    spec(f::L_CATEGORY, &["行政许可类别"], true, 16),
    spec(f::L_CERT_NAME, &[], false, 200),
    spec(f::L_NO, &["许可证书编号"], false, 128),
    spec(f::L_CONTENT, &["行政许可内容"], true, 4000),
    spec(f::L_DATE, &["行政许可决定日期"], true, 32),
    spec(f::L_FROM, &["许可有效期自"], true, 32),
    spec(f::L_TO, &["许可有效期至"], true, 32),
    spec(f::L_AUTHORITY, &["行政许可机关"], true, 200),
    spec(f::L_AUTHORITY_USCC, &["行政许可机关统一社会信用代码"], true, 18),
    spec(f::L_STATUS, &[], true, 8),
];

const PENALTY_FIELDS: [FieldSpec; 14] = [
    spec(f::P_DOC_NO, &["处罚决定书文号", "行政处罚决定文书号"], true, 128),
    spec(f::P_VIOLATION_TYPE, &[], true, 2000),
    spec(f::P_FACTS, &[], true, 5000),
    spec(f::P_BASIS, &[], true, 2000),
    spec(f::P_CATEGORY, &["行政处罚类别"], true, 200),
    spec(f::P_CONTENT, &[], true, 4000),
    spec(f::P_FINE, &["罚款金额"], true, 32),
    spec(f::P_CONFISCATION, &["没收违法所得、没收非法财物的金额", "没收金额(万元)", "没收金额"], true, 32),
    spec(f::P_SUSPENDED, &["暂扣或者吊销证照名称及编号"], false, 500),
    spec(f::P_DATE, &["行政处罚决定日期"], true, 32),
    spec(f::P_VALID_UNTIL, &["处罚有效期至"], true, 32),
    spec(f::P_PUBLICITY_UNTIL, &["公示截止日期"], false, 32),
    spec(f::P_AUTHORITY, &["行政处罚机关"], true, 200),
    spec(f::P_AUTHORITY_USCC, &["行政处罚机关统一社会信用代码"], true, 18),
];

/// All columns of a template, in template order.
pub fn fields(kind: Kind) -> &'static [FieldSpec] {
    static L: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    static P: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    let build = |own: &[FieldSpec]| -> Vec<FieldSpec> {
        SUBJECT_FIELDS.iter().chain(own).chain(COMMON_TAIL.iter()).copied().collect()
    };
    match kind {
        Kind::License => L.get_or_init(|| build(&LICENSE_FIELDS)),
        Kind::Penalty => P.get_or_init(|| build(&PENALTY_FIELDS)),
    }
}

fn spec_of(kind: Kind, name: &str) -> Option<&'static FieldSpec> {
    fields(kind).iter().find(|s| s.name == name)
}

/// Normalises a header cell for matching: drops whitespace, `*` markers, `_`, a `(必填)`/`(选填)` note,
/// and maps full-width parentheses to ASCII.
pub fn normalize_header(h: &str) -> String {
    let mut s: String = h
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '*' | '＊' | '_' | '＿' | '\u{feff}'))
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            other => other,
        })
        .collect();
    for note in ["(必填)", "(选填)", "(必填项)", "(选填项)"] {
        if let Some(stripped) = s.strip_suffix(note) {
            s = stripped.to_string();
        }
    }
    s
}

/// A file-level problem: the whole file is rejected before any row is validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    Empty,
    /// Neither UTF-8 nor GB18030; `line` and `byte_offset` locate the first bad byte (1-based line).
    Encoding {
        line: u64,
        byte_offset: usize,
    },
    Csv {
        line: u64,
        reason: String,
    },
    Workbook {
        reason: String,
    },
    MissingColumns {
        kind: Kind,
        missing: Vec<String>,
        hint: Option<String>,
    },
    DuplicateColumn {
        name: String,
        first_column: usize,
        second_column: usize,
    },
    /// A size limit of the reader (`sheet::limit`) was hit; `at` says where (empty: the whole file).
    Limit {
        limit: &'static str,
        max: u64,
        at: String,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Empty => write!(f, "文件为空或没有表头行 (the file is empty or has no header row)"),
            FileError::Encoding { line, byte_offset } => write!(
                f,
                "文件编码无法识别：第 {line} 行（字节偏移 {byte_offset}）既不是 UTF-8 也不是 GB18030；请在 Excel 中另存为 \
                 \"CSV UTF-8\" 或 XLSX (unreadable encoding at line {line}, byte {byte_offset}: neither UTF-8 nor GB18030)"
            ),
            FileError::Csv { line, reason } => {
                write!(f, "CSV 格式错误，第 {line} 行：{reason} (malformed CSV at line {line})")
            }
            FileError::Workbook { reason } => {
                write!(f, "无法读取 Excel 工作簿：{reason} (cannot read the workbook)")
            }
            FileError::MissingColumns { kind, missing, hint } => {
                write!(
                    f,
                    "{}模板缺少必需列：{} (missing required columns for {kind})",
                    kind.chinese(),
                    missing.join("，")
                )?;
                if let Some(h) = hint {
                    write!(f, "；{h}")?;
                }
                Ok(())
            }
            FileError::Limit { limit, max, at } => {
                let at = if at.is_empty() { String::new() } else { format!("，{at}") };
                write!(
                    f,
                    "文件超出读取限制：{limit} 上限 {max}{at}；请拆分文件后分批校验或导入 \
                     (the file exceeds the reader's limit on {limit}: at most {max}; split the file)"
                )
            }
            FileError::DuplicateColumn { name, first_column, second_column } => write!(
                f,
                "列 {name} 出现两次（第 {first_column} 列和第 {second_column} 列）(column appears twice)"
            ),
        }
    }
}

impl std::error::Error for FileError {}

/// How the columns of a file map onto a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMap {
    pub kind: Kind,
    /// Canonical name for each column of the file (`None`: unknown column, ignored).
    pub columns: Vec<Option<&'static str>>,
    /// Unknown columns: 1-based column number and header text.
    pub unknown: Vec<(usize, String)>,
    /// Optional template columns the file does not have.
    pub absent_optional: Vec<&'static str>,
}

impl HeaderMap {
    /// Warnings to show the operator (unknown columns are ignored, not an error).
    pub fn warnings(&self) -> Vec<String> {
        self.unknown
            .iter()
            .map(|(i, h)| {
                format!("第 {i} 列 \"{h}\" 不是{}模板的字段，已忽略 (unknown column ignored)", self.kind.chinese())
            })
            .collect()
    }

    /// The canonical field map of one row. Missing trailing cells are empty; non-empty cells beyond the
    /// header are reported under [`EXTRA_CELLS_KEY`].
    pub fn fields(&self, cells: &[String]) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for (i, name) in self.columns.iter().enumerate() {
            if let Some(name) = name {
                m.insert((*name).to_string(), cells.get(i).cloned().unwrap_or_default());
            }
        }
        let extra = cells.iter().skip(self.columns.len()).filter(|c| !c.trim().is_empty()).count();
        if extra > 0 {
            m.insert(EXTRA_CELLS_KEY.to_string(), extra.to_string());
        }
        m
    }
}

fn match_header(kind: Kind, header: &str) -> Option<&'static str> {
    let n = normalize_header(header);
    if n.is_empty() {
        return None;
    }
    fields(kind)
        .iter()
        .find(|s| normalize_header(s.name) == n || s.aliases.iter().any(|a| normalize_header(a) == n))
        .map(|s| s.name)
}

fn missing_required(kind: Kind, headers: &[String]) -> Vec<String> {
    let found: Vec<&str> = headers.iter().filter_map(|h| match_header(kind, h)).collect();
    fields(kind).iter().filter(|s| s.required_column && !found.contains(&s.name)).map(|s| s.name.to_string()).collect()
}

/// Maps a header row onto the template of `kind`. A missing required column or a column given twice
/// rejects the file; unknown columns are listed in the result.
pub fn map_headers(kind: Kind, headers: &[String]) -> Result<HeaderMap, FileError> {
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(FileError::Empty);
    }
    let mut columns = Vec::with_capacity(headers.len());
    let mut unknown = Vec::new();
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (i, h) in headers.iter().enumerate() {
        match match_header(kind, h) {
            Some(name) => {
                if let Some(first) = seen.insert(name, i + 1) {
                    return Err(FileError::DuplicateColumn {
                        name: name.to_string(),
                        first_column: first,
                        second_column: i + 1,
                    });
                }
                columns.push(Some(name));
            }
            None => {
                if !h.trim().is_empty() {
                    unknown.push((i + 1, h.trim().to_string()));
                }
                columns.push(None);
            }
        }
    }
    let missing = missing_required(kind, headers);
    if !missing.is_empty() {
        let other = kind.other();
        let hint = missing_required(other, headers).is_empty().then(|| {
            format!("表头像是{}文件，请使用 --kind {other} (the header looks like a {other} file)", other.chinese())
        });
        return Err(FileError::MissingColumns { kind, missing, hint });
    }
    let absent_optional =
        fields(kind).iter().filter(|s| !s.required_column && !seen.contains_key(s.name)).map(|s| s.name).collect();
    Ok(HeaderMap { kind, columns, unknown, absent_optional })
}

/// One problem with one row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct RowError {
    /// Data row number, counting from 1 (the header is not counted).
    pub row: u64,
    /// Canonical field name.
    pub field: String,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "第 {} 行 (row {})，字段 {}：{}", self.row, self.row, self.field, self.reason)
    }
}

/// Reference data the validation needs.
#[derive(Debug, Clone)]
pub struct RefData {
    pub divisions: DivisionTable,
}

const HUNAN_DIVISIONS: &str = include_str!("../../data/hunan_divisions.csv");
const HUNAN_DIVISIONS_HISTORY: &str = include_str!("../../data/hunan_divisions_history_deprecated.csv");

impl RefData {
    /// The reference data compiled into the binary (Hunan divisions, current and historical).
    pub fn embedded() -> &'static RefData {
        static R: OnceLock<RefData> = OnceLock::new();
        R.get_or_init(|| {
            // The embedded tables are part of the build; a unit test parses them, so this cannot fail in a
            // released binary.
            let divisions = DivisionTable::parse(HUNAN_DIVISIONS, HUNAN_DIVISIONS_HISTORY)
                .expect("embedded division tables parse (checked by tests)");
            RefData { divisions }
        })
    }
}

/// 处罚类别 values of the template (2021 行政处罚法 art. 9 and the older template wording). `其他-…` is also
/// accepted.
pub const PENALTY_CATEGORIES: &[&str] = &[
    "警告",
    "通报批评",
    "罚款",
    "没收违法所得",
    "没收非法财物",
    "暂扣许可证件",
    "降低资质等级",
    "吊销许可证件",
    "限制开展生产经营活动",
    "责令停产停业",
    "责令关闭",
    "限制从业",
    "行政拘留",
    "暂扣或者吊销许可证",
    "暂扣或者吊销执照",
    "暂扣许可证",
    "吊销许可证",
    "暂扣执照",
    "吊销执照",
];

/// Splits a multi-valued 处罚类别 on `；` `;` `、` `,` `，`, dropping empty parts and duplicates.
pub fn split_categories(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in s.split(['；', ';', '、', ',', '，']).map(str::trim).filter(|p| !p.is_empty()) {
        if !out.iter().any(|o| o == p) {
            out.push(p.to_string());
        }
    }
    out
}

/// Parses an amount in 万元: plain decimal, at most 6 decimal places (0.01 元), not negative.
pub fn parse_money(s: &str) -> Result<Decimal, String> {
    let t = s.trim();
    if t.contains(',') || t.contains('，') {
        return Err(format!("金额 '{t}' 不能含千位分隔符 (no thousands separators)"));
    }
    if t.ends_with('元') {
        return Err(format!("金额 '{t}' 应只填数字，单位为万元 (numbers only, unit is 万元)"));
    }
    if !t.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '+') || t.is_empty() {
        return Err(format!("金额 '{t}' 不是数字 (not a decimal number)"));
    }
    let d = Decimal::from_str_exact(t).map_err(|_| format!("金额 '{t}' 不是数字 (not a decimal number)"))?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(format!("金额 '{t}' 不能为负数 (must not be negative)"));
    }
    let d = d.normalize();
    if d.scale() > 6 {
        return Err(format!("金额 '{t}' 小数位超过 6 位（万元精确到分）(more than 6 decimal places)"));
    }
    Ok(d)
}

/// Row validation context: collects every error of the row.
struct Ctx<'a> {
    row: u64,
    kind: Kind,
    cells: &'a BTreeMap<String, String>,
    errors: Vec<RowError>,
}

fn looks_scientific(s: &str) -> bool {
    let u = s.to_ascii_uppercase();
    u.contains("E+") && u.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'E' | '+'))
}

impl<'a> Ctx<'a> {
    fn err(&mut self, field: &str, reason: impl Into<String>) {
        self.errors.push(RowError { row: self.row, field: field.to_string(), reason: reason.into() });
    }

    /// Trimmed cell text, `None` when blank or absent. Checks length and control characters.
    fn get(&mut self, field: &str) -> Option<String> {
        let raw = self.cells.get(field)?;
        let t = raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        if t.is_empty() {
            return None;
        }
        if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
            self.err(field, "含有不可见的控制字符 (contains control characters)");
            return None;
        }
        let max = spec_of(self.kind, field).map(|s| s.max_len).unwrap_or(200);
        let n = t.chars().count();
        if n > max {
            self.err(field, format!("长度 {n} 超过上限 {max} 个字符 (longer than {max} characters)"));
            return None;
        }
        Some(t.to_string())
    }

    fn required(&mut self, field: &str) -> Option<String> {
        let v = self.get(field);
        if v.is_none() && !self.errors.iter().any(|e| e.field == field) {
            self.err(field, "必填项为空 (required field is empty)");
        }
        v
    }

    fn must_be_empty(&mut self, field: &str, why: &str) {
        if self.get(field).is_some() {
            self.err(field, why.to_string());
        }
    }

    fn date(&mut self, field: &str, required: bool) -> Option<Day> {
        let v = if required { self.required(field) } else { self.get(field) }?;
        match date::parse(&v) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(field, e.to_string());
                None
            }
        }
    }

    fn coded<T: FromStr<Err = String>>(&mut self, field: &str) -> Option<T> {
        let v = self.required(field)?;
        match v.parse::<T>() {
            Ok(x) => Some(x),
            Err(e) => {
                self.err(field, e);
                None
            }
        }
    }

    /// A unified social credit code; `allow_placeholder` for a 个体工商户's own code.
    fn uscc(&mut self, field: &str, required: bool, allow_placeholder: bool) -> Option<String> {
        let v = if required { self.required(field) } else { self.get(field) }?;
        if uscc::is_placeholder(&v) {
            if allow_placeholder {
                return Some(v);
            }
            self.err(
                field,
                "占位码 00000000000000000X 只允许用于个体工商户 (the placeholder code is only allowed for 个体工商户)",
            );
            return None;
        }
        match uscc::validate(&v) {
            Ok(()) => Some(v),
            Err(e) => {
                let mut reason = e.to_string();
                if looks_scientific(&v) {
                    reason.push_str("；疑似被 Excel 转成科学计数法 (looks like Excel scientific notation)");
                } else if v.chars().any(|c| c.is_ascii_lowercase()) {
                    reason.push_str("；字母应为大写 (letters must be upper-case)");
                }
                self.err(field, reason);
                None
            }
        }
    }

    fn id_number(&mut self, field: &str, id_type: &IdType, v: &str) -> Option<String> {
        let checked = match id_type {
            IdType::ResidentId => idcard::validate(v).map_err(|e| {
                let mut r = e.to_string();
                if looks_scientific(v) {
                    r.push_str(
                        "；疑似被 Excel 转成科学计数法，请将该列设为文本 (looks like Excel scientific notation)",
                    );
                }
                r
            }),
            IdType::ForeignPermanentResident => {
                let u = v.to_ascii_uppercase();
                let old = u.len() == 15
                    && u[..3].bytes().all(|b| b.is_ascii_uppercase())
                    && u[3..].bytes().all(|b| b.is_ascii_digit());
                let new = u.len() == 18 && u.starts_with('9');
                if old {
                    Ok(u)
                } else if new {
                    let expected = idcard::check_char(&u[..17]);
                    match expected {
                        Some(c) if u.ends_with(c) => Ok(u),
                        _ => Err("外国人永久居留身份证号码校验位不正确 (check character does not match)".to_string()),
                    }
                } else {
                    Err("外国人永久居留身份证号码应为 15 位（3 个字母+12 位数字）或以 9 开头的 18 位 \
                         (must be 3 letters + 12 digits, or 18 characters starting with 9)"
                        .to_string())
                }
            }
            _ => {
                let ok = (5..=30).contains(&v.chars().count())
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '(' || c == ')');
                if ok {
                    Ok(v.to_string())
                } else {
                    Err(format!("证件号码 '{v}' 应为 5–30 位字母或数字 (must be 5-30 letters or digits)"))
                }
            }
        };
        match checked {
            Ok(x) => Some(x),
            Err(e) => {
                self.err(field, e);
                None
            }
        }
    }

    fn money(&mut self, field: &str) -> Option<Decimal> {
        let v = self.get(field)?;
        match parse_money(&v) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(field, e);
                None
            }
        }
    }

    fn not_before(&mut self, later_field: &str, later: Option<Day>, earlier_field: &str, earlier: Option<Day>) {
        let already = self.errors.iter().any(|x| x.field == later_field);
        if let (Some(l), Some(e), false) = (later, earlier, already) {
            if l < e {
                self.err(
                    later_field,
                    format!("{later_field} {l} 早于 {earlier_field} {e} (is before {earlier_field})"),
                );
            }
        }
    }

    fn subject(&mut self) -> Subject {
        let name = self.required(f::NAME);
        let category: Option<SubjectCategory> = self.coded(f::CATEGORY);
        let natural = category == Some(SubjectCategory::NaturalPerson);
        let individual = category == Some(SubjectCategory::IndividualBusiness);

        let mut s = Subject {
            name: name.unwrap_or_default(),
            category: category.unwrap_or(SubjectCategory::Organization),
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
        };
        if category.is_none() {
            return s;
        }
        if natural {
            const WHY: &str = "行政相对人类别为自然人时此项应为空 (must be empty for a natural person)";
            for fld in [
                f::CODE1_USCC,
                f::CODE2_REG_NO,
                f::CODE3_ORG_CODE,
                f::CODE4_TAX_NO,
                f::CODE5_INSTITUTION,
                f::CODE6_SOCIAL_ORG,
                f::LEGAL_REP,
                f::LEGAL_REP_ID_TYPE,
                f::LEGAL_REP_ID_NO,
            ] {
                self.must_be_empty(fld, WHY);
            }
            if s.name.chars().count() > 50 {
                self.err(f::NAME, "自然人姓名超过 50 个字符 (a natural person's name is at most 50 characters)");
            }
            let id_type: Option<IdType> = match self.get(f::ID_TYPE) {
                None => {
                    self.err(f::ID_TYPE, "行政相对人类别为自然人时必填 (required for a natural person)");
                    None
                }
                Some(v) => match v.parse() {
                    Ok(t) => Some(t),
                    Err(e) => {
                        self.err(f::ID_TYPE, e);
                        None
                    }
                },
            };
            match self.get(f::ID_NO) {
                None => self.err(f::ID_NO, "行政相对人类别为自然人时必填 (required for a natural person)"),
                Some(v) => {
                    if let Some(t) = &id_type {
                        s.id_no = self.id_number(f::ID_NO, t, &v);
                    }
                }
            }
            s.id_type = id_type;
            return s;
        }

        // 法人及非法人组织 and 个体工商户.
        const NOT_NATURAL: &str =
            "行政相对人类别不是自然人时此项应为空，法定代表人证件请填在法定代表人证件类型/号码 (must be empty unless 自然人)";
        self.must_be_empty(f::ID_TYPE, NOT_NATURAL);
        self.must_be_empty(f::ID_NO, NOT_NATURAL);
        s.uscc = self.uscc(f::CODE1_USCC, true, individual);
        let placeholder = s.uscc.as_deref().is_some_and(uscc::is_placeholder);
        match self.get(f::CODE2_REG_NO) {
            Some(v) => match uscc::validate_reg_no(&v) {
                Ok(()) => s.reg_no = Some(v),
                Err(e) => self.err(f::CODE2_REG_NO, e),
            },
            None if placeholder => self.err(
                f::CODE2_REG_NO,
                "统一社会信用代码为占位码 00000000000000000X 时必须填写工商注册号 \
                 (required when the unified code is the placeholder)",
            ),
            None => {}
        }
        if let Some(v) = self.get(f::CODE3_ORG_CODE) {
            match uscc::validate_org_code(&v) {
                Ok(code) => {
                    let embedded =
                        s.uscc.as_deref().filter(|u| !uscc::is_placeholder(u)).and_then(uscc::embedded_org_code);
                    match embedded {
                        Some(e) if e != code => self.err(
                            f::CODE3_ORG_CODE,
                            format!(
                                "组织机构代码 {code} 与统一社会信用代码第 9–17 位 {e} 不一致 \
                                 (does not match positions 9-17 of the unified code)"
                            ),
                        ),
                        _ => s.org_code = Some(code),
                    }
                }
                Err(e) => self.err(f::CODE3_ORG_CODE, e),
            }
        }
        if let Some(v) = self.get(f::CODE4_TAX_NO) {
            let ok = match v.len() {
                18 => uscc::validate(&v).map_err(|e| e.to_string()),
                15 | 20 => {
                    if v.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) {
                        Ok(())
                    } else {
                        Err("税务登记号只能包含数字和大写字母 (digits and upper-case letters only)".to_string())
                    }
                }
                n => Err(format!("税务登记号应为 15、18 或 20 位，实为 {n} 位 (must have 15, 18 or 20 characters)")),
            };
            match ok {
                Ok(()) => s.tax_no = Some(v),
                Err(e) => self.err(f::CODE4_TAX_NO, e),
            }
        }
        s.institution_no = self.get(f::CODE5_INSTITUTION);
        s.social_org_no = self.get(f::CODE6_SOCIAL_ORG);
        s.legal_rep = match self.get(f::LEGAL_REP) {
            Some(v) => Some(v),
            None => {
                self.err(
                    f::LEGAL_REP,
                    "法人及非法人组织、个体工商户必填（个体工商户填经营者）(required unless the subject is a natural person)",
                );
                None
            }
        };
        let rep_type = self.get(f::LEGAL_REP_ID_TYPE);
        let rep_no = self.get(f::LEGAL_REP_ID_NO);
        match (rep_type, rep_no) {
            (None, None) => {}
            (Some(_), None) => self.err(
                f::LEGAL_REP_ID_NO,
                "已填法定代表人证件类型时必填 (required when the representative's document type is given)",
            ),
            (None, Some(_)) => self.err(
                f::LEGAL_REP_ID_TYPE,
                "已填法定代表人证件号码时必填 (required when the representative's document number is given)",
            ),
            (Some(t), Some(n)) => match t.parse::<IdType>() {
                Ok(t) => {
                    s.legal_rep_id_no = self.id_number(f::LEGAL_REP_ID_NO, &t, &n);
                    s.legal_rep_id_type = Some(t);
                }
                Err(e) => self.err(f::LEGAL_REP_ID_TYPE, e),
            },
        }
        s
    }

    fn division(&mut self, refs: &RefData) -> Option<String> {
        let v = self.get(f::DIVISION)?;
        if v.len() != 6 || !v.bytes().all(|b| b.is_ascii_digit()) {
            self.err(f::DIVISION, format!("地方编码 '{v}' 应为 6 位行政区划代码 (must be a 6-digit division code)"));
            return None;
        }
        if !refs.divisions.is_known(&v) {
            self.err(
                f::DIVISION,
                format!("地方编码 {v} 不在湖南省行政区划表（含历史代码）中 (not a known Hunan division code)"),
            );
            return None;
        }
        Some(v)
    }
}

/// Validates one data row (`fields`: canonical column name → cell text) and builds the record.
/// Every problem of the row is reported, not only the first.
pub fn validate_row(
    kind: Kind,
    row_number: u64,
    fields: &BTreeMap<String, String>,
    refs: &RefData,
) -> Result<Record, Vec<RowError>> {
    let mut c = Ctx { row: row_number, kind, cells: fields, errors: Vec::new() };
    if let Some(n) = fields.get(EXTRA_CELLS_KEY) {
        c.err(
            EXTRA_CELLS_KEY,
            format!(
                "本行有 {n} 个非空单元格超出表头列数（是否有未加引号的逗号？）(row has more cells than the header)"
            ),
        );
    }
    let subject = c.subject();
    let record = match kind {
        Kind::License => license(&mut c, subject, refs),
        Kind::Penalty => penalty(&mut c, subject, refs),
    };
    if c.errors.is_empty() {
        Ok(record)
    } else {
        Err(c.errors)
    }
}

fn license(c: &mut Ctx, subject: Subject, refs: &RefData) -> Record {
    let decision_doc_name = c.required(f::L_DOC_NAME);
    let decision_doc_no = c.required(f::L_DOC_NO);
    let category: Option<LicenseCategory> = c.coded(f::L_CATEGORY);
    let certificate_name = c.get(f::L_CERT_NAME);
    let license_no = c.get(f::L_NO);
    if certificate_name.is_some() && license_no.is_none() {
        c.err(f::L_NO, "已填许可证书名称时必填许可编号 (required when a certificate name is given)");
    }
    let content = c.required(f::L_CONTENT);
    let decision_date = c.date(f::L_DATE, true);
    let valid_from = c.date(f::L_FROM, true);
    let valid_to = c.date(f::L_TO, true);
    c.not_before(f::L_TO, valid_to, f::L_FROM, valid_from);
    c.not_before(f::L_TO, valid_to, f::L_DATE, decision_date);
    let authority = c.required(f::L_AUTHORITY);
    let authority_uscc = c.uscc(f::L_AUTHORITY_USCC, true, false);
    let status: Option<LicenseStatus> = c.coded(f::L_STATUS);
    let source_unit = c.required(f::SOURCE);
    let source_unit_uscc = c.uscc(f::SOURCE_USCC, true, false);
    let remarks = c.get(f::REMARKS);
    let division_code = c.division(refs);
    Record::License(License {
        subject,
        decision_doc_name: decision_doc_name.unwrap_or_default(),
        decision_doc_no: decision_doc_no.unwrap_or_default(),
        category: category.unwrap_or(LicenseCategory::Other),
        certificate_name,
        license_no,
        content: content.unwrap_or_default(),
        decision_date: decision_date.unwrap_or(LONG_TERM),
        valid_from: valid_from.unwrap_or(LONG_TERM),
        valid_to: valid_to.unwrap_or(LONG_TERM),
        authority: authority.unwrap_or_default(),
        authority_uscc: authority_uscc.unwrap_or_default(),
        status: status.unwrap_or(LicenseStatus::Valid),
        source_unit: source_unit.unwrap_or_default(),
        source_unit_uscc: source_unit_uscc.unwrap_or_default(),
        division_code,
        remarks,
    })
}

fn penalty(c: &mut Ctx, subject: Subject, refs: &RefData) -> Record {
    let decision_doc_no = c.required(f::P_DOC_NO);
    let violation_type = c.required(f::P_VIOLATION_TYPE);
    let violation_facts = c.required(f::P_FACTS);
    let basis = c.required(f::P_BASIS);
    let categories = c.required(f::P_CATEGORY).map(|s| split_categories(&s)).unwrap_or_default();
    for cat in &categories {
        let known = PENALTY_CATEGORIES.contains(&cat.as_str());
        let other = cat
            .strip_prefix("其他")
            .map(|r| {
                let named = r.trim_start_matches(['-', '－', '—', ':', '：']).trim();
                !named.is_empty() && named.len() < r.len()
            })
            .unwrap_or(false);
        if !known && !other {
            let reason = if cat == "其他" {
                "处罚类别为其他时须注明具体类别，如 其他-责令改正 (write 其他-<kind>)".to_string()
            } else {
                format!("处罚类别 '{cat}' 不是模板允许的取值（警告、通报批评、罚款、没收违法所得、没收非法财物、暂扣许可证件、降低资质等级、吊销许可证件、限制开展生产经营活动、责令停产停业、责令关闭、限制从业、行政拘留、其他-…）(unknown penalty category)")
            };
            c.err(f::P_CATEGORY, reason);
        }
    }
    let has = |needle: &str| categories.iter().any(|x| x.contains(needle));
    // With a mistyped category the "amount must be empty" checks would only add noise.
    let categories_ok = !c.errors.iter().any(|e| e.field == f::P_CATEGORY);
    let content = c.required(f::P_CONTENT);
    let fine = c.money(f::P_FINE);
    let confiscation = c.money(f::P_CONFISCATION);
    let mut fine_out = fine;
    if has("罚款") {
        match fine {
            None if !c.errors.iter().any(|e| e.field == f::P_FINE) => {
                c.err(f::P_FINE, "处罚类别含罚款时必填 (required when 处罚类别 contains 罚款)")
            }
            Some(d) if d.is_zero() => c.err(
                f::P_FINE,
                "处罚类别含罚款时罚款金额应大于 0 (must be greater than 0 when 处罚类别 contains 罚款)",
            ),
            _ => {}
        }
    } else if let Some(d) = fine {
        if d.is_zero() {
            fine_out = None;
        } else if categories_ok {
            c.err(f::P_FINE, "处罚类别不含罚款，罚款金额应为空 (must be empty unless 处罚类别 contains 罚款)");
        }
    }
    let mut confiscation_out = confiscation;
    if has("没收") {
        if confiscation.is_none() && !c.errors.iter().any(|e| e.field == f::P_CONFISCATION) {
            c.err(f::P_CONFISCATION, "处罚类别含没收时必填 (required when 处罚类别 contains 没收)");
        }
    } else if let Some(d) = confiscation {
        if d.is_zero() {
            confiscation_out = None;
        } else if categories_ok {
            c.err(f::P_CONFISCATION, "处罚类别不含没收，没收金额应为空 (must be empty unless 处罚类别 contains 没收)");
        }
    }
    let suspended_licenses = c.get(f::P_SUSPENDED);
    if (has("暂扣") || has("吊销")) && suspended_licenses.is_none() {
        c.err(f::P_SUSPENDED, "处罚类别含暂扣或吊销时必填 (required when 处罚类别 contains 暂扣 or 吊销)");
    }
    let decision_date = c.date(f::P_DATE, true);
    let valid_until = c.date(f::P_VALID_UNTIL, true);
    let publicity_until = c.date(f::P_PUBLICITY_UNTIL, false);
    c.not_before(f::P_VALID_UNTIL, valid_until, f::P_DATE, decision_date);
    c.not_before(f::P_PUBLICITY_UNTIL, publicity_until, f::P_DATE, decision_date);
    let authority = c.required(f::P_AUTHORITY);
    let authority_uscc = c.uscc(f::P_AUTHORITY_USCC, true, false);
    let source_unit = c.required(f::SOURCE);
    let source_unit_uscc = c.uscc(f::SOURCE_USCC, true, false);
    let remarks = c.get(f::REMARKS);
    let division_code = c.division(refs);
    Record::Penalty(Penalty {
        subject,
        decision_doc_no: decision_doc_no.unwrap_or_default(),
        violation_type: violation_type.unwrap_or_default(),
        violation_facts: violation_facts.unwrap_or_default(),
        basis: basis.unwrap_or_default(),
        categories,
        content: content.unwrap_or_default(),
        fine: fine_out,
        confiscation: confiscation_out,
        suspended_licenses,
        decision_date: decision_date.unwrap_or(LONG_TERM),
        valid_until: valid_until.unwrap_or(LONG_TERM),
        publicity_until,
        authority: authority.unwrap_or_default(),
        authority_uscc: authority_uscc.unwrap_or_default(),
        source_unit: source_unit.unwrap_or_default(),
        source_unit_uscc: source_unit_uscc.unwrap_or_default(),
        division_code,
        remarks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_reference_data_parses() {
        let t = DivisionTable::parse(HUNAN_DIVISIONS, HUNAN_DIVISIONS_HISTORY).expect("embedded tables parse");
        assert_eq!(t.of_level(crate::division::Level::County).count(), 122);
        assert!(RefData::embedded().divisions.is_current("430102"));
    }

    #[test]
    fn header_variants() {
        assert_eq!(match_header(Kind::License, "行政相对人代码_1（统一社会信用代码）"), Some(f::CODE1_USCC));
        assert_eq!(match_header(Kind::License, " 统一社会信用代码 "), Some(f::CODE1_USCC));
        assert_eq!(match_header(Kind::Penalty, "罚款金额(万元)"), Some(f::P_FINE));
        assert_eq!(match_header(Kind::Penalty, "*处罚决定日期"), Some(f::P_DATE));
        assert_eq!(match_header(Kind::License, "罚款金额(万元)"), None);
    }

    #[test]
    fn money() {
        assert_eq!(parse_money("1.50").map(|d| d.to_string()), Ok("1.5".to_string()));
        assert!(parse_money("-1").is_err());
        assert!(parse_money("1,000").is_err());
        assert!(parse_money("0.0000001").is_err());
        assert!(parse_money("1e3").is_err());
    }
}
