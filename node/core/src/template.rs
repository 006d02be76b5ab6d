//! The national 双公示 templates for 行政许可 and 行政处罚, and the 名单 (list) template: canonical column
//! names, header matching (full-width parentheses, bare names such as 统一社会信用代码, the national field
//! codes `XK_*`/`CF_*` of the 信用中国 exchange format), and row validation with every conditional rule of the
//! template and the plausibility checks of issue 12. Errors name the row, the field and the reason.

use crate::date::{self, Day, LONG_TERM};
use crate::division::DivisionTable;
use crate::idcard;
use crate::record::{
    IdType, License, LicenseCategory, LicenseStatus, ListEntry, ListType, Penalty, Record, Subject, SubjectCategory,
};
use crate::sheet::CellKind;
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

    // 名单 (list) template.
    pub const LS_NAME: &str = "主体名称";
    pub const LS_USCC: &str = "统一社会信用代码";
    pub const LS_ID_TYPE: &str = "证件类型";
    pub const LS_ID_NO: &str = "证件号码";
    pub const LS_TYPE: &str = "名单类型";
    pub const LS_REASON: &str = "列入原因";
    pub const LS_BASIS: &str = "列入依据";
    pub const LS_DOC_NO: &str = "列入决定文书号";
    pub const LS_START: &str = "列入日期";
    pub const LS_END: &str = "有效期至";
    pub const LS_AUTHORITY: &str = "认定部门";
    pub const LS_AUTHORITY_USCC: &str = "认定部门统一社会信用代码";
    pub const LS_MEASURES: &str = "惩戒措施";

    /// The row-number column many exports carry; recognised and ignored.
    pub const SERIAL: &str = "序号";
}

/// Pseudo-field used when a row has more non-empty cells than the header has columns.
pub const EXTRA_CELLS_KEY: &str = "(整行)";

/// Which template a file follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    License,
    Penalty,
    /// 名单: list entries set by a list-setting authority (`Record::ListEntry`).
    List,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::License => "license",
            Kind::Penalty => "penalty",
            Kind::List => "list",
        }
    }
    pub fn chinese(&self) -> &'static str {
        match self {
            Kind::License => "行政许可",
            Kind::Penalty => "行政处罚",
            Kind::List => "名单",
        }
    }
    pub const ALL: [Kind; 3] = [Kind::License, Kind::Penalty, Kind::List];
    fn others(&self) -> impl Iterator<Item = Kind> + '_ {
        Kind::ALL.into_iter().filter(move |k| *k != *self)
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
            "list" | "list_entry" | "名单" => Ok(Kind::List),
            other => Err(format!("unknown kind '{other}' (expected license, penalty or list)")),
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

/// The 名单 template. 统一社会信用代码 or 证件类型 + 证件号码 identify the subject (one of the two per file, checked
/// by [`map_headers`]).
const LIST_FIELDS: [FieldSpec; 13] = [
    spec(f::LS_NAME, &["市场主体名称", "当事人名称", "主体名称(姓名)", "名称", "企业名称"], true, 200),
    spec(f::LS_USCC, &["主体统一社会信用代码", "主体代码"], false, 18),
    spec(f::LS_ID_TYPE, &["主体证件类型"], false, 64),
    spec(f::LS_ID_NO, &["主体证件号码", "身份证号码"], false, 64),
    spec(f::LS_TYPE, &["名单类别", "名单名称"], true, 64),
    spec(f::LS_REASON, &["列入事由", "列入名单原因", "认定原因"], true, 2000),
    spec(f::LS_BASIS, &["列入名单依据", "认定依据"], true, 2000),
    spec(f::LS_DOC_NO, &["列入决定书文号", "认定文书号", "决定文书号"], true, 128),
    spec(f::LS_START, &["列入名单日期", "认定日期"], true, 32),
    spec(f::LS_END, &["有效期截止", "移出日期"], true, 32),
    spec(f::LS_AUTHORITY, &["认定单位", "列入部门", "作出决定机关"], true, 200),
    spec(f::LS_AUTHORITY_USCC, &["认定单位统一社会信用代码", "列入部门统一社会信用代码"], true, 18),
    spec(f::LS_MEASURES, &["联合惩戒措施", "惩戒措施(多项)"], false, 2000),
];

/// The national field codes of the 信用中国 双公示 exchange format and the column each stands for.
pub const FIELD_CODES: &[(&str, &str)] = &[
    ("XK_XDR_MC", f::NAME),
    ("XK_XDR_LB", f::CATEGORY),
    ("XK_XDR_SHXYM", f::CODE1_USCC),
    ("XK_XDR_GSZC", f::CODE2_REG_NO),
    ("XK_XDR_ZZJG", f::CODE3_ORG_CODE),
    ("XK_XDR_SWDJ", f::CODE4_TAX_NO),
    ("XK_XDR_SYDW", f::CODE5_INSTITUTION),
    ("XK_XDR_SHZZ", f::CODE6_SOCIAL_ORG),
    ("XK_FRDB", f::LEGAL_REP),
    ("XK_FR_ZJLX", f::LEGAL_REP_ID_TYPE),
    ("XK_FR_ZJHM", f::LEGAL_REP_ID_NO),
    ("XK_XDR_ZJLX", f::ID_TYPE),
    ("XK_XDR_ZJHM", f::ID_NO),
    ("XK_XKWS", f::L_DOC_NAME),
    ("XK_WSH", f::L_DOC_NO),
    ("XK_XKLB", f::L_CATEGORY),
    ("XK_XKZS", f::L_CERT_NAME),
    ("XK_XKBH", f::L_NO),
    ("XK_NR", f::L_CONTENT),
    ("XK_JDRQ", f::L_DATE),
    ("XK_YXQZ", f::L_FROM),
    ("XK_YXQZI", f::L_TO),
    ("XK_XKJG", f::L_AUTHORITY),
    ("XK_XKJGDM", f::L_AUTHORITY_USCC),
    ("XK_ZT", f::L_STATUS),
    ("XK_LYDW", f::SOURCE),
    ("XK_LYDWDM", f::SOURCE_USCC),
    ("CF_XDR_MC", f::NAME),
    ("CF_XDR_LB", f::CATEGORY),
    ("CF_XDR_SHXYM", f::CODE1_USCC),
    ("CF_XDR_GSZC", f::CODE2_REG_NO),
    ("CF_XDR_ZZJG", f::CODE3_ORG_CODE),
    ("CF_XDR_SWDJ", f::CODE4_TAX_NO),
    ("CF_XDR_SYDW", f::CODE5_INSTITUTION),
    ("CF_XDR_SHZZ", f::CODE6_SOCIAL_ORG),
    ("CF_FRDB", f::LEGAL_REP),
    ("CF_FR_ZJLX", f::LEGAL_REP_ID_TYPE),
    ("CF_FR_ZJHM", f::LEGAL_REP_ID_NO),
    ("CF_XDR_ZJLX", f::ID_TYPE),
    ("CF_XDR_ZJHM", f::ID_NO),
    ("CF_WSH", f::P_DOC_NO),
    ("CF_WFXW", f::P_VIOLATION_TYPE),
    ("CF_SY", f::P_FACTS),
    ("CF_YJ", f::P_BASIS),
    ("CF_CFLB", f::P_CATEGORY),
    ("CF_NR", f::P_CONTENT),
    ("CF_NR_FK", f::P_FINE),
    ("CF_NR_WFFF", f::P_CONFISCATION),
    ("CF_NR_ZKDX", f::P_SUSPENDED),
    ("CF_JDRQ", f::P_DATE),
    ("CF_YXQ", f::P_VALID_UNTIL),
    ("CF_GSJZQ", f::P_PUBLICITY_UNTIL),
    ("CF_CFJG", f::P_AUTHORITY),
    ("CF_CFJGDM", f::P_AUTHORITY_USCC),
    ("CF_SJLY", f::SOURCE),
    ("CF_SJLYDM", f::SOURCE_USCC),
    ("BZ", f::REMARKS),
    ("DFBM", f::DIVISION),
];

/// Columns only the 2016 双公示 templates have (项目名称, 审批类别, 许可截止期, 案件名称, 处罚类别1, 处罚事由,
/// 处罚结果, 数据更新时间戳). Their 行政相对人代码_2/_3/_5 mean other codes than today's, and they have no
/// 行政相对人类别, so a 2016 file cannot be mapped column by column.
pub const LAYOUT_2016_MARKERS: &[&str] = &[
    "项目名称",
    "审批类别",
    "许可截止期",
    "案件名称",
    "处罚类别1",
    "处罚类别2",
    "处罚事由",
    "处罚结果",
    "数据更新时间戳",
];

/// All columns of a template, in template order.
pub fn fields(kind: Kind) -> &'static [FieldSpec] {
    static L: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    static P: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    if kind == Kind::List {
        return &LIST_FIELDS;
    }
    let build = |own: &[FieldSpec]| -> Vec<FieldSpec> {
        SUBJECT_FIELDS.iter().chain(own).chain(COMMON_TAIL.iter()).copied().collect()
    };
    match kind {
        Kind::License => L.get_or_init(|| build(&LICENSE_FIELDS)),
        Kind::Penalty => P.get_or_init(|| build(&PENALTY_FIELDS)),
        Kind::List => &LIST_FIELDS,
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
            other => other.to_ascii_uppercase(),
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
    /// The header is in a layout that cannot be mapped onto today's template (the 2016 templates).
    Unmappable {
        layout: String,
        hint: String,
    },
    /// `--sheet` named a worksheet the workbook does not have.
    NoSuchSheet {
        wanted: String,
        available: Vec<String>,
    },
    /// No worksheet of the workbook holds data in the template; each sheet with why it was skipped.
    NoDataSheet {
        kind: Kind,
        sheets: Vec<(String, String)>,
    },
    /// A problem of one worksheet of a workbook.
    InSheet {
        sheet: String,
        error: Box<FileError>,
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
            FileError::Unmappable { layout, hint } => {
                write!(f, "表头是{layout}，无法对应到现行模板：{hint}")
            }
            FileError::NoSuchSheet { wanted, available } => write!(
                f,
                "工作簿中没有工作表 \"{wanted}\"；现有工作表：{} (no worksheet named or numbered {wanted})",
                available.join("，")
            ),
            FileError::NoDataSheet { kind, sheets } => {
                write!(f, "工作簿中没有{}模板的数据工作表 (no worksheet holds {kind} data)", kind.chinese())?;
                for (name, why) in sheets {
                    write!(f, "；工作表 \"{name}\"：{why}")?;
                }
                Ok(())
            }
            FileError::InSheet { sheet, error } => write!(f, "工作表 \"{sheet}\"：{error}"),
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
    /// The layout the header is in.
    pub layout: Layout,
}

/// Which header layout a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Chinese column names of the current national template.
    Template,
    /// The national field codes (`XK_XDR_MC`, `CF_WSH`, …) of the 信用中国 exchange format.
    FieldCodes,
}

impl Layout {
    pub fn describe(&self, kind: Kind) -> String {
        match self {
            Layout::Template => format!("{}模板（中文表头）({kind} template, Chinese headers)", kind.chinese()),
            Layout::FieldCodes => format!(
                "信用中国数据交换格式（字段代码表头，如 XK_XDR_MC、CF_WSH）({kind}, 信用中国 exchange format field codes)"
            ),
        }
    }
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

/// How a header cell matched: the canonical column, and whether through a national field code.
fn match_header_how(kind: Kind, header: &str) -> Option<(&'static str, bool)> {
    let n = normalize_header(header);
    if n.is_empty() {
        return None;
    }
    header_index(kind).get(&n).copied()
}

/// Every accepted header of `kind`, normalised once: field names and aliases (the first field that claims a
/// string wins, as the template lists them), then the standard's field codes not already taken by a name. Header
/// detection asks this for every cell of every candidate row, so it is built once per kind, not per cell.
fn header_index(kind: Kind) -> &'static std::collections::HashMap<String, (&'static str, bool)> {
    type Index = std::collections::HashMap<String, (&'static str, bool)>;
    static INDEX: [OnceLock<Index>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match kind {
        Kind::License => 0,
        Kind::Penalty => 1,
        Kind::List => 2,
    };
    INDEX[slot].get_or_init(|| {
        let mut m = Index::new();
        for spec in fields(kind) {
            for h in std::iter::once(&spec.name).chain(spec.aliases.iter()) {
                m.entry(normalize_header(h)).or_insert((spec.name, false));
            }
        }
        for (code, name) in FIELD_CODES.iter() {
            if fields(kind).iter().any(|s| s.name == *name) {
                m.entry(normalize_header(code)).or_insert((*name, true));
            }
        }
        m.remove("");
        m
    })
}

pub(crate) fn match_header(kind: Kind, header: &str) -> Option<&'static str> {
    match_header_how(kind, header).map(|(n, _)| n)
}

/// True for the 序号 (row number) column header.
pub fn is_serial_header(header: &str) -> bool {
    matches!(normalize_header(header).as_str(), "序号" | "编号" | "NO." | "NO" | "行号")
}

/// How many distinct template columns a row of header candidates names.
pub fn header_score(kind: Kind, cells: &[String]) -> usize {
    let mut found: Vec<&str> = cells.iter().filter_map(|h| match_header(kind, h)).collect();
    found.sort_unstable();
    found.dedup();
    found.len()
}

/// The 2016 layout's marker columns a header row has.
pub fn layout_2016_markers(cells: &[String]) -> Vec<String> {
    cells
        .iter()
        .map(|c| normalize_header(c))
        .filter(|n| LAYOUT_2016_MARKERS.iter().any(|m| normalize_header(m) == *n))
        .collect()
}

fn missing_required(kind: Kind, headers: &[String]) -> Vec<String> {
    let found: Vec<&str> = headers.iter().filter_map(|h| match_header(kind, h)).collect();
    let mut missing: Vec<String> = fields(kind)
        .iter()
        .filter(|s| s.required_column && !found.contains(&s.name))
        .map(|s| s.name.to_string())
        .collect();
    if kind == Kind::List
        && !found.contains(&f::LS_USCC)
        && !(found.contains(&f::LS_ID_TYPE) && found.contains(&f::LS_ID_NO))
    {
        missing.push(format!("{}（或 {} + {}）", f::LS_USCC, f::LS_ID_TYPE, f::LS_ID_NO));
    }
    missing
}

/// Maps a header row onto the template of `kind`. A missing required column or a column given twice
/// rejects the file; unknown columns are listed in the result; a 序号 column is ignored. A 2016-layout
/// header is [`FileError::Unmappable`].
pub fn map_headers(kind: Kind, headers: &[String]) -> Result<HeaderMap, FileError> {
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(FileError::Empty);
    }
    let markers = layout_2016_markers(headers);
    if markers.len() >= 2 {
        return Err(FileError::Unmappable {
            layout: "2016 版双公示模板".to_string(),
            hint: format!(
                "表头含 {}，2016 版的行政相对人代码_2/_3/_5 含义与现行模板不同且没有行政相对人类别，不能逐列对应；\
                 请按现行{}模板重新导出 (the header is the 2016 双公示 layout, which cannot be mapped column by \
                 column: export the data again in the current template)",
                markers.join("、"),
                kind.chinese()
            ),
        });
    }
    let mut columns = Vec::with_capacity(headers.len());
    let mut unknown = Vec::new();
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    let (mut by_code, mut by_name) = (0usize, 0usize);
    for (i, h) in headers.iter().enumerate() {
        match match_header_how(kind, h) {
            Some((name, code)) => {
                if let Some(first) = seen.insert(name, i + 1) {
                    return Err(FileError::DuplicateColumn {
                        name: name.to_string(),
                        first_column: first,
                        second_column: i + 1,
                    });
                }
                if code {
                    by_code += 1;
                } else {
                    by_name += 1;
                }
                columns.push(Some(name));
            }
            None => {
                if !h.trim().is_empty() && !is_serial_header(h) {
                    unknown.push((i + 1, h.trim().to_string()));
                }
                columns.push(None);
            }
        }
    }
    let missing = missing_required(kind, headers);
    if !missing.is_empty() {
        let hint = kind.others().find(|o| missing_required(*o, headers).is_empty()).map(|other| {
            format!("表头像是{}文件，请使用 --kind {other} (the header looks like a {other} file)", other.chinese())
        });
        return Err(FileError::MissingColumns { kind, missing, hint });
    }
    let absent_optional =
        fields(kind).iter().filter(|s| !s.required_column && !seen.contains_key(s.name)).map(|s| s.name).collect();
    let layout = if by_code > by_name { Layout::FieldCodes } else { Layout::Template };
    Ok(HeaderMap { kind, columns, unknown, absent_optional, layout })
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

/// True when division `code` lies in the subtree of the node `node` (a province, city or county code): by the
/// code's prefix, or, for a retired code, through one of its successors.
pub fn in_subtree(node: &str, code: &str, refs: &RefData) -> bool {
    let prefix = if node.ends_with("0000") {
        node.get(0..2)
    } else if node.ends_with("00") {
        node.get(0..4)
    } else {
        Some(node)
    };
    let Some(prefix) = prefix else { return false };
    if code.starts_with(prefix) {
        return true;
    }
    refs.divisions.historical(code).iter().flat_map(|h| h.successors.iter()).any(|s| s.starts_with(prefix))
}

/// Checks that a record belongs to node `node`: its 地方编码 must be in the node's subtree; without one, the
/// division in its authority's unified code (positions 3–8) must be in the subtree or above the node (a city or
/// province authority acting in the county), when it is a known Hunan code at all. `Err` names the field.
pub fn belongs_to(record: &Record, node: &str, refs: &RefData) -> Result<(), (String, String)> {
    let (division, authority_field, authority_uscc) = match record {
        Record::License(r) => (r.division_code.as_deref(), f::L_AUTHORITY_USCC, r.authority_uscc.as_str()),
        Record::Penalty(r) => (r.division_code.as_deref(), f::P_AUTHORITY_USCC, r.authority_uscc.as_str()),
        Record::ListEntry(r) => (None, f::LS_AUTHORITY_USCC, r.authority_uscc.as_str()),
        _ => return Ok(()),
    };
    let name = |c: &str| refs.divisions.name(c).unwrap_or("").to_string();
    if let Some(d) = division {
        if !in_subtree(node, d, refs) {
            return Err((
                f::DIVISION.to_string(),
                format!(
                    "地方编码 {d}（{}）不属于本节点 {node}（{}）的辖区：请在该地节点导入，或确有理由时加 --foreign 原因 \
                     (the record belongs to {d}, outside this node's subtree; import it there, or pass --foreign REASON)",
                    name(d),
                    name(node)
                ),
            ));
        }
        return Ok(());
    }
    let Some(d) = authority_uscc.get(2..8) else { return Ok(()) };
    let above =
        node.starts_with(d.trim_end_matches("00").trim_end_matches("00")) && (d.ends_with("0000") || d.ends_with("00"));
    if refs.divisions.is_known(d) && !in_subtree(node, d, refs) && !above {
        return Err((
            authority_field.to_string(),
            format!(
                "机关统一社会信用代码第 3–8 位 {d}（{}）不属于本节点 {node}（{}）的辖区：请在该地节点导入，或确有理由时加 \
                 --foreign 原因 (the authority is registered in {d}, outside this node's subtree; pass --foreign REASON)",
                name(d),
                name(node)
            ),
        ));
    }
    Ok(())
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

/// What a row's cell was in the workbook, where it matters (by canonical field name). Travels with the row
/// to the node as a tag (`number`, `number-inexact`, `date`, `merged:ROW`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellNote {
    Number {
        exact: bool,
    },
    Date,
    /// Covered by a merged range whose value is in data row `row` (0: above the data, e.g. the header).
    Merged {
        row: u64,
    },
}

impl CellNote {
    pub fn tag(&self) -> String {
        match self {
            CellNote::Number { exact: true } => "number".into(),
            CellNote::Number { exact: false } => "number-inexact".into(),
            CellNote::Date => "date".into(),
            CellNote::Merged { row } => format!("merged:{row}"),
        }
    }

    /// Parses a tag; unknown tags are `None` (ignored).
    pub fn from_tag(tag: &str) -> Option<CellNote> {
        match tag {
            "number" => Some(CellNote::Number { exact: true }),
            "number-inexact" => Some(CellNote::Number { exact: false }),
            "date" => Some(CellNote::Date),
            t => t.strip_prefix("merged:").and_then(|r| r.parse().ok()).map(|row| CellNote::Merged { row }),
        }
    }

    pub fn from_cell(kind: CellKind) -> CellNote {
        match kind {
            CellKind::Number { exact } => CellNote::Number { exact },
            CellKind::Date => CellNote::Date,
        }
    }
}

/// Checks that depend on the caller (the core reads no clock).
#[derive(Debug, Clone, Default)]
pub struct Checks {
    /// Today: decision dates after it are refused. `None`: not checked.
    pub today: Option<Day>,
    /// A 地方编码 retired before the decision date is a warning instead of an error (old records).
    pub allow_retired_division: bool,
}

/// Invisible characters that make a value look right and compare wrong, with their names.
const INVISIBLE: &[(char, &str, &str)] = &[
    ('\u{200B}', "零宽空格", "ZERO WIDTH SPACE"),
    ('\u{200C}', "零宽非连接符", "ZERO WIDTH NON-JOINER"),
    ('\u{200D}', "零宽连接符", "ZERO WIDTH JOINER"),
    ('\u{2060}', "零宽不换行符", "WORD JOINER"),
    ('\u{FEFF}', "字节顺序标记 BOM", "ZERO WIDTH NO-BREAK SPACE / BOM"),
    ('\u{00AD}', "软连字符", "SOFT HYPHEN"),
    ('\u{00A0}', "不换行空格", "NO-BREAK SPACE"),
    ('\u{3000}', "全角空格", "IDEOGRAPHIC SPACE"),
    ('\u{202F}', "窄不换行空格", "NARROW NO-BREAK SPACE"),
];

/// Fields that hold codes, numbers or dates: any invisible or space character inside is an error, and a
/// number cell is reported as such.
fn is_code_field(field: &str) -> bool {
    matches!(
        field,
        f::CODE1_USCC
            | f::CODE2_REG_NO
            | f::CODE3_ORG_CODE
            | f::CODE4_TAX_NO
            | f::LEGAL_REP_ID_NO
            | f::ID_NO
            | f::L_AUTHORITY_USCC
            | f::P_AUTHORITY_USCC
            | f::SOURCE_USCC
            | f::DIVISION
            | f::LS_USCC
            | f::LS_AUTHORITY_USCC
    )
}

/// Placeholders departments write into an empty optional amount.
const EMPTY_PLACEHOLDERS: &[&str] = &["/", "／", "无", "—", "——", "-", "－", "空"];

/// Row validation context: collects every error of the row.
struct Ctx<'a> {
    row: u64,
    kind: Kind,
    cells: &'a BTreeMap<String, String>,
    notes: &'a BTreeMap<String, String>,
    checks: &'a Checks,
    refs: &'a RefData,
    errors: Vec<RowError>,
    warnings: Vec<RowError>,
}

/// Checks the address code (positions 1–6) and the birth year of a resident ID number that passed the GB 11643
/// checks. Hunan codes must be in the division table (current or historical).
fn id_plausible(id: &str, refs: &RefData) -> Result<(), String> {
    let addr = id.get(0..6).unwrap_or("");
    let province = addr.get(0..2).unwrap_or("");
    if !idcard::PROVINCE_PREFIXES.contains(&province) {
        return Err(format!(
            "身份证号码前 2 位 {province} 不是省级行政区划代码（地址码 {addr} 不是行政区划）(address code {addr}: positions 1-2 are no province)"
        ));
    }
    if province == "43" {
        let prefecture = format!("{}00", addr.get(0..4).unwrap_or(""));
        let known = refs.divisions.is_known(addr) || (addr.ends_with("00") && refs.divisions.is_known(&prefecture));
        if !known {
            return Err(format!(
                "身份证号码地址码 {addr} 不在湖南省行政区划表（含历史代码）中 (address code {addr} is no Hunan division)"
            ));
        }
    }
    if let Some(b) = idcard::embedded_birth_date(id) {
        if b.year() < 1900 {
            return Err(format!("身份证号码中的出生日期 {b} 早于 1900 年 (embedded birth date {b} is before 1900)"));
        }
    }
    Ok(())
}

fn looks_scientific(s: &str) -> bool {
    let u = s.to_ascii_uppercase();
    u.contains("E+") && u.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'E' | '+'))
}

impl<'a> Ctx<'a> {
    fn err(&mut self, field: &str, reason: impl Into<String>) {
        let mut reason = reason.into();
        // "required" after the cell was already refused for what it holds (merged, invisible, number) is noise.
        let says_required = reason.starts_with("必填项为空") || reason.contains("时必填");
        if says_required && self.errors.iter().any(|e| e.field == field) {
            return;
        }
        if is_code_field(field) && self.note(field) == Some(CellNote::Number { exact: true }) {
            reason.push_str("；该单元格是数字格式（开头的 0、末位 X 会丢失）：请将该列设为文本 (the cell is a number: set the column to text)");
        }
        self.errors.push(RowError { row: self.row, field: field.to_string(), reason });
    }

    fn warn(&mut self, field: &str, reason: impl Into<String>) {
        self.warnings.push(RowError { row: self.row, field: field.to_string(), reason: reason.into() });
    }

    fn note(&self, field: &str) -> Option<CellNote> {
        self.notes.get(field).and_then(|t| CellNote::from_tag(t))
    }

    /// Trimmed cell text, `None` when blank or absent. Checks length, control and invisible characters,
    /// merged cells and codes typed into number cells.
    fn get(&mut self, field: &str) -> Option<String> {
        let raw = self.cells.get(field).map(String::as_str).unwrap_or("");
        let t = raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        if t.is_empty() {
            if let Some(CellNote::Merged { row }) = self.note(field) {
                let at = if row == 0 { "表头区域".to_string() } else { format!("第 {row} 行") };
                self.err(
                    field,
                    format!(
                        "单元格属于合并单元格，值只在{at}：请取消合并并在每一行填写 \
                         (merged cell: the value is only in {}; unmerge and fill every row)",
                        if row == 0 { "the header area".to_string() } else { format!("row {row}") }
                    ),
                );
            }
            return None;
        }
        if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
            self.err(field, "含有不可见的控制字符 (contains control characters)");
            return None;
        }
        let code = is_code_field(field);
        let invisible = t.chars().enumerate().find_map(|(i, c)| {
            INVISIBLE
                .iter()
                .find(|(x, _, _)| *x == c && (code || !matches!(c, '\u{00A0}' | '\u{3000}' | '\u{202F}')))
                .map(|inv| (i + 1, *inv))
        });
        if let Some((pos, (c, zh, en))) = invisible {
            self.err(
                field,
                format!(
                    "第 {pos} 个字符是不可见字符 {zh} U+{:04X}，请删除 (character {pos} is the invisible {en} U+{:04X}: delete it)",
                    c as u32, c as u32
                ),
            );
            return None;
        }
        if code && self.note(field) == Some(CellNote::Number { exact: false }) {
            self.err(
                field,
                format!(
                    "单元格是数字格式，Excel 只保留 15 位有效数字，'{t}' 已不是原来的代码：请将该列设为文本后重新填写 \
                     (the cell is a number: set the column to text; Excel keeps only 15 significant digits)"
                ),
            );
            return None;
        }
        if code && t.starts_with(['\'', '‘', '’']) {
            self.err(
                field,
                format!(
                    "开头的 ' 是 Excel 的文本标记，导出时被当成了字符：请删除开头的 '，实际值为 {} \
                     (a leading ' is Excel's text marker that was exported as a character: delete it)",
                    t.trim_start_matches(['\'', '‘', '’'])
                ),
            );
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

    /// A validity end: a date, or `长期` (= 2099/12/31).
    fn end_date(&mut self, field: &str) -> Option<Day> {
        match self.cells.get(field) {
            Some(v) if date::is_long_term_text(v) => Some(LONG_TERM),
            _ => self.date(field, true),
        }
    }

    /// A decision date: also refused when after today.
    fn decision_date(&mut self, field: &str) -> Option<Day> {
        let d = self.date(field, true)?;
        if let Some(today) = self.checks.today {
            if d > today {
                self.err(field, format!("日期 {d} 晚于今天 {today} (decision date is in the future)"));
                return None;
            }
        }
        Some(d)
    }

    fn date(&mut self, field: &str, required: bool) -> Option<Day> {
        let v = if required { self.required(field) } else { self.get(field) }?;
        if date::is_long_term_text(&v) {
            self.err(
                field,
                format!(
                    "'{v}' 只能用于有效期至/处罚有效期，此处应填日期 (long-term is only allowed in a validity end)"
                ),
            );
            return None;
        }
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
        match uscc::validate(&v).map_err(|e| e.to_string()).and_then(|()| uscc::check_registration_type(&v)) {
            Ok(()) => Some(v),
            Err(e) => {
                let mut reason = e;
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
            IdType::ResidentId => idcard::validate(v)
                .map_err(|e| {
                    let mut r = e.to_string();
                    if looks_scientific(v) {
                        r.push_str(
                            "；疑似被 Excel 转成科学计数法，请将该列设为文本 (looks like Excel scientific notation)",
                        );
                    }
                    r
                })
                .and_then(|n| id_plausible(&n, self.refs).map(|()| n)),
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
        if EMPTY_PLACEHOLDERS.contains(&v.as_str()) {
            return None;
        }
        match parse_money(&v) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(field, e);
                None
            }
        }
    }

    /// Resident ID numbers of the subject whose birth date is after the decision.
    fn born_before(&mut self, s: &Subject, decision: Option<Day>, decision_field: &str) {
        let Some(d) = decision else { return };
        for (field, t, no) in [
            (if self.kind == Kind::List { f::LS_ID_NO } else { f::ID_NO }, &s.id_type, &s.id_no),
            (f::LEGAL_REP_ID_NO, &s.legal_rep_id_type, &s.legal_rep_id_no),
        ] {
            if let (Some(IdType::ResidentId), Some(no)) = (t, no) {
                if let Some(b) = idcard::embedded_birth_date(no).map(Day) {
                    if b > d {
                        self.err(
                            field,
                            format!(
                                "身份证号码中的出生日期 {b} 晚于{decision_field} {d} (embedded birth date is after the decision date)"
                            ),
                        );
                    }
                }
            }
        }
    }

    /// A stated 公示截止期 must lie within the bounds of the publicity rule in force on the decision date
    /// (`publicity::Rules`, `node/data/publicity_rules.json`); the message names the rule. Judged only on an
    /// otherwise valid row, since the rule depends on the categories, fine, authority and subject.
    fn publicity_window(&mut self, p: &Penalty) {
        if !self.errors.is_empty() {
            return;
        }
        if let Err(e) = crate::publicity::Rules::embedded().check_stated(p) {
            self.err(f::P_PUBLICITY_UNTIL, e.to_string());
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

    fn division(&mut self, refs: &RefData, decision: Option<Day>) -> Option<String> {
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
        if let (false, Some(d)) = (refs.divisions.is_current(&v), decision) {
            let uses = refs.divisions.historical(&v);
            let last = uses.iter().filter_map(|h| h.to_year).max();
            if let Some(to) = last.filter(|to| i32::from(*to) < d.year()) {
                let name = refs.divisions.name(&v).unwrap_or("");
                let successors: Vec<String> = uses.iter().flat_map(|h| h.successors.clone()).collect();
                let reason = format!(
                    "地方编码 {v}（{name}）已于 {to} 年停用，早于决定日期 {d}；现行代码为 {} \
                     (division code retired in {to}, before the decision date)",
                    successors.join("/")
                );
                if self.checks.allow_retired_division {
                    self.warn(f::DIVISION, format!("{reason}；已按 --allow-retired-division 接受 (accepted as asked)"));
                } else {
                    self.err(
                        f::DIVISION,
                        format!("{reason}；如确为历史记录，请加 --allow-retired-division 导入 (allow with --allow-retired-division)"),
                    );
                    return None;
                }
            }
        }
        Some(v)
    }
}

/// Validates one data row (`fields`: canonical column name → cell text) and builds the record.
/// Every problem of the row is reported, not only the first. No cell notes, no caller checks.
pub fn validate_row(
    kind: Kind,
    row_number: u64,
    fields: &BTreeMap<String, String>,
    refs: &RefData,
) -> Result<Record, Vec<RowError>> {
    validate_row_with(kind, row_number, fields, &BTreeMap::new(), refs, &Checks::default()).0
}

/// [`validate_row`] with the cells' workbook notes (field → [`CellNote::tag`]) and the caller's checks.
/// Returns the record or the row's errors, and warnings (accepted with a remark).
pub fn validate_row_with(
    kind: Kind,
    row_number: u64,
    fields: &BTreeMap<String, String>,
    notes: &BTreeMap<String, String>,
    refs: &RefData,
    checks: &Checks,
) -> (Result<Record, Vec<RowError>>, Vec<RowError>) {
    let mut c =
        Ctx { row: row_number, kind, cells: fields, notes, checks, refs, errors: Vec::new(), warnings: Vec::new() };
    if let Some(n) = fields.get(EXTRA_CELLS_KEY) {
        c.err(
            EXTRA_CELLS_KEY,
            format!(
                "本行有 {n} 个非空单元格超出表头列数（是否有未加引号的逗号？）(row has more cells than the header)"
            ),
        );
    }
    let record = match kind {
        Kind::License => {
            let subject = c.subject();
            license(&mut c, subject, refs)
        }
        Kind::Penalty => {
            let subject = c.subject();
            penalty(&mut c, subject, refs)
        }
        Kind::List => list(&mut c),
    };
    if c.errors.is_empty() {
        (Ok(record), c.warnings)
    } else {
        (Err(c.errors), c.warnings)
    }
}

/// Splits 惩戒措施 on `、` `，` `,` `;` `；`, dropping empty parts and duplicates.
pub fn split_measures(s: &str) -> Vec<String> {
    split_categories(s)
}

fn list(c: &mut Ctx) -> Record {
    let name = c.required(f::LS_NAME);
    let code = c.get(f::LS_USCC);
    let id_type_text = c.get(f::LS_ID_TYPE);
    let id_no_text = c.get(f::LS_ID_NO);
    let mut subject = Subject {
        name: name.unwrap_or_default(),
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
    };
    match (code.is_some(), id_type_text, id_no_text) {
        (true, t, n) => {
            if t.is_some() || n.is_some() {
                c.err(
                    f::LS_ID_NO,
                    "已填统一社会信用代码时证件类型和证件号码应为空（自然人只填证件）(must be empty when a unified code is given)",
                );
            }
            let individual = c.cells.get(f::LS_USCC).is_some_and(|v| v.trim().starts_with("92"));
            subject.category =
                if individual { SubjectCategory::IndividualBusiness } else { SubjectCategory::Organization };
            subject.uscc = c.uscc(f::LS_USCC, true, false);
        }
        (false, None, None) => {
            if !c.errors.iter().any(|e| e.field == f::LS_USCC) {
                c.err(
                    f::LS_USCC,
                    "统一社会信用代码与证件类型+证件号码必须填一项 (give a unified code, or the document type and number of a natural person)",
                );
            }
        }
        (false, t, n) => {
            subject.category = SubjectCategory::NaturalPerson;
            let id_type: Option<IdType> = match t {
                None => {
                    c.err(f::LS_ID_TYPE, "已填证件号码时必填 (required when a document number is given)");
                    None
                }
                Some(t) => match t.parse() {
                    Ok(t) => Some(t),
                    Err(e) => {
                        c.err(f::LS_ID_TYPE, e);
                        None
                    }
                },
            };
            match (n, &id_type) {
                (None, _) => c.err(f::LS_ID_NO, "已填证件类型时必填 (required when a document type is given)"),
                (Some(n), Some(t)) => subject.id_no = c.id_number(f::LS_ID_NO, t, &n),
                (Some(_), None) => {}
            }
            subject.id_type = id_type;
        }
    }
    let list_type: Option<ListType> = c.coded(f::LS_TYPE);
    let reason = c.required(f::LS_REASON);
    let basis = c.required(f::LS_BASIS);
    let doc_no = c.required(f::LS_DOC_NO);
    let start = c.decision_date(f::LS_START);
    let end = c.end_date(f::LS_END);
    c.not_before(f::LS_END, end, f::LS_START, start);
    c.born_before(&subject, start, f::LS_START);
    let authority = c.required(f::LS_AUTHORITY);
    let authority_uscc = c.uscc(f::LS_AUTHORITY_USCC, true, false);
    let measures = c.get(f::LS_MEASURES).map(|m| split_measures(&m)).unwrap_or_default();
    Record::ListEntry(ListEntry {
        subject,
        list_type: list_type.unwrap_or(ListType::SeriousDishonesty),
        reason: reason.unwrap_or_default(),
        basis: basis.unwrap_or_default(),
        decision_doc_no: doc_no.unwrap_or_default(),
        start: start.unwrap_or(LONG_TERM),
        end: end.unwrap_or(LONG_TERM),
        authority: authority.unwrap_or_default(),
        authority_uscc: authority_uscc.unwrap_or_default(),
        measures,
        catalogue_version: None,
    })
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
    let decision_date = c.decision_date(f::L_DATE);
    let valid_from = c.date(f::L_FROM, true);
    let valid_to = c.end_date(f::L_TO);
    c.born_before(&subject, decision_date, f::L_DATE);
    c.not_before(f::L_TO, valid_to, f::L_FROM, valid_from);
    c.not_before(f::L_TO, valid_to, f::L_DATE, decision_date);
    let authority = c.required(f::L_AUTHORITY);
    let authority_uscc = c.uscc(f::L_AUTHORITY_USCC, true, false);
    let status: Option<LicenseStatus> = c.coded(f::L_STATUS);
    let source_unit = c.required(f::SOURCE);
    let source_unit_uscc = c.uscc(f::SOURCE_USCC, true, false);
    let remarks = c.get(f::REMARKS);
    let division_code = c.division(refs, decision_date);
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
    let decision_date = c.decision_date(f::P_DATE);
    let valid_until = c.end_date(f::P_VALID_UNTIL);
    let publicity_until = c.date(f::P_PUBLICITY_UNTIL, false);
    c.not_before(f::P_VALID_UNTIL, valid_until, f::P_DATE, decision_date);
    c.not_before(f::P_PUBLICITY_UNTIL, publicity_until, f::P_DATE, decision_date);
    c.born_before(&subject, decision_date, f::P_DATE);
    let authority = c.required(f::P_AUTHORITY);
    let authority_uscc = c.uscc(f::P_AUTHORITY_USCC, true, false);
    let source_unit = c.required(f::SOURCE);
    let source_unit_uscc = c.uscc(f::SOURCE_USCC, true, false);
    let remarks = c.get(f::REMARKS);
    let division_code = c.division(refs, decision_date);
    let p = Penalty {
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
    };
    c.publicity_window(&p);
    Record::Penalty(p)
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

    /// The header index answers exactly what a walk over the template answers (first field by name or alias,
    /// then the field codes), for every name, alias and code of every kind, decorated or not.
    #[test]
    fn header_index_matches_a_walk_over_the_template() {
        fn walk(kind: Kind, header: &str) -> Option<(&'static str, bool)> {
            let n = normalize_header(header);
            if n.is_empty() {
                return None;
            }
            let by_name = fields(kind)
                .iter()
                .find(|s| normalize_header(s.name) == n || s.aliases.iter().any(|a| normalize_header(a) == n))
                .map(|s| s.name);
            if let Some(name) = by_name {
                return Some((name, false));
            }
            FIELD_CODES
                .iter()
                .find(|(code, name)| normalize_header(code) == n && fields(kind).iter().any(|s| s.name == *name))
                .map(|(_, name)| (*name, true))
        }
        let mut probes: Vec<String> = vec!["".into(), " ".into(), "序号".into(), "备注".into(), "(必填)".into()];
        for k in [Kind::License, Kind::Penalty, Kind::List] {
            for spec in fields(k) {
                probes.push(spec.name.to_string());
                probes.extend(spec.aliases.iter().map(|a| a.to_string()));
            }
        }
        probes.extend(FIELD_CODES.iter().map(|(c, _)| c.to_string()));
        let decorated: Vec<String> =
            probes.iter().flat_map(|p| [format!("*{p}（必填）"), format!(" {} ", p.to_lowercase())]).collect();
        probes.extend(decorated);
        for k in [Kind::License, Kind::Penalty, Kind::List] {
            for p in &probes {
                assert_eq!(match_header_how(k, p), walk(k, p), "{k:?} {p:?}");
            }
        }
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
