//! Deterministic, realistic and *valid* 行政许可 / 行政处罚 rows for tests, benchmarks and the sample data in
//! `deploy/sample`: unified social credit codes with correct GB 32100 and GB 11714 check characters, resident
//! ID numbers with correct GB 11643 check characters, Hunan division codes. The same seed and county always
//! give the same rows. Pure: no I/O.

use crate::record::Record;
use crate::template::{self, f, Kind, RefData};
use crate::{idcard, uscc};
use std::collections::BTreeMap;

/// SplitMix64: small, fast, reproducible across platforms and crate versions (test data only, not crypto).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Characters allowed in the body of an organisation code that is embedded in a unified code.
const ORG_BODY: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// A unified social credit code with correct check characters: `dept` (registration authority), `kind`
/// (entity type), the 6-digit division and an 8-character organisation-code body.
pub fn make_uscc(dept: char, kind: char, division: &str, org_body: &str) -> String {
    let org_check = uscc::org_code_check_char(org_body).unwrap_or('0');
    let first17 = format!("{dept}{kind}{division}{org_body}{org_check}");
    let check = uscc::check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// A resident ID number with a correct check character.
pub fn make_id(division: &str, year: i32, month: u8, day: u8, seq: u16) -> String {
    let first17 = format!("{division}{year:04}{month:02}{day:02}{:03}", seq % 1000);
    let check = idcard::check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// A 15-digit registration number (工商注册号) with a correct ISO 7064 MOD 11,10 check digit.
pub fn make_reg_no(division: &str, serial: u64) -> String {
    let first14 = format!("{division}{:08}", serial % 100_000_000);
    let check = uscc::reg_no_check_digit(&first14).unwrap_or(0);
    format!("{first14}{check}")
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马",
    "罗", "梁", "宋", "郑", "谢", "唐", "彭", "曾", "邓", "易", "欧阳",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "秀英", "建华", "志强",
    "丽华", "湘平", "海燕", "德胜", "桂英", "卫东", "晓明", "国庆", "春林", "玉兰", "红梅", "思远",
];
const TRADE_NAMES: &[&str] = &[
    "湘江", "麓山", "星城", "橘洲", "韶峰", "楚韵", "潇湘", "金霞", "华远", "鑫源", "恒达", "瑞丰", "天成", "润和",
    "长青", "弘毅", "兴旺", "佳美", "德馨", "新岳",
];
const INDUSTRIES: &[&str] = &[
    "餐饮管理",
    "商贸",
    "建筑工程",
    "医药连锁",
    "食品",
    "网络科技",
    "物业管理",
    "建材",
    "汽车服务",
    "农业开发",
    "文化传媒",
    "教育咨询",
    "装饰工程",
    "物流",
    "酒店管理",
];
const SHOPS: &[&str] =
    &["米粉店", "小吃店", "副食店", "理发店", "便利店", "五金店", "水果店", "烧烤店", "茶馆", "药店"];

/// One government department of a county, with its own unified code.
#[derive(Debug, Clone)]
struct Dept {
    name: String,
    abbr: &'static str,
    uscc: String,
}

/// Generates rows for one county.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: Rng,
    county: String,
    county_name: String,
    prefecture_name: String,
    depts: Vec<Dept>,
    seq: u64,
    seq_offset: u64,
    counties: Vec<String>,
}

impl Generator {
    /// A generator for a county (a current Hunan division code such as `430102`); unknown codes still work
    /// with a generic name.
    pub fn new(seed: u64, county: &str) -> Generator {
        let refs = RefData::embedded();
        let d = &refs.divisions;
        let county_name = d.name(county).unwrap_or("某县").to_string();
        let prefecture_name =
            d.current(county).and_then(|c| c.parent.as_deref()).and_then(|p| d.name(p)).unwrap_or("湖南省").to_string();
        let counties: Vec<String> = d.of_level(crate::division::Level::County).map(|c| c.code.clone()).collect();
        let depts = [
            ("市场监督管理局", "市监"),
            ("卫生健康局", "卫健"),
            ("住房和城乡建设局", "住建"),
            ("交通运输局", "交运"),
            ("应急管理局", "应急"),
            ("城市管理和综合执法局", "城管"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (name, abbr))| {
            // Deterministic per county and department, so every seed agrees on the authorities' codes.
            let n: u64 = county.parse::<u64>().unwrap_or(0) * 7 + i as u64 * 104_729;
            let body = format!("MB{:06}", n % 1_000_000);
            Dept { name: format!("{county_name}{name}"), abbr, uscc: make_uscc('1', '1', county, &body) }
        })
        .collect();
        Generator {
            rng: Rng::new(seed ^ county.parse::<u64>().unwrap_or(0).wrapping_mul(0x2545_F491_4F6C_DD1D)),
            county: county.to_string(),
            county_name,
            prefecture_name,
            depts,
            seq: 0,
            seq_offset: (seed % 1000) * 1_000_000,
            counties,
        }
    }

    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    fn person_name(&mut self) -> String {
        format!("{}{}", self.rng.pick(SURNAMES), self.rng.pick(GIVEN))
    }

    fn org_body(&mut self) -> String {
        (0..8).map(|_| ORG_BODY[self.rng.below(ORG_BODY.len() as u64) as usize] as char).collect()
    }

    /// A valid unified code of a company (`91`), registered in a Hunan county or, sometimes, elsewhere.
    pub fn company_uscc(&mut self) -> String {
        let division = if self.rng.chance(10) {
            self.rng.pick(&["110105", "440300", "310115", "420106", "330106"]).to_string()
        } else if self.rng.chance(70) {
            self.county.clone()
        } else {
            let cs = self.counties.clone();
            self.rng.pick(&cs).clone()
        };
        let body = self.org_body();
        make_uscc('9', '1', &division, &body)
    }

    /// A valid resident ID number of someone born 1955–2003 in a Hunan county.
    pub fn id_number(&mut self) -> String {
        let cs = self.counties.clone();
        let division = if self.rng.chance(60) { self.county.clone() } else { self.rng.pick(&cs).clone() };
        let year = 1955 + self.rng.below(49) as i32;
        let month = 1 + self.rng.below(12) as u8;
        let day = 1 + self.rng.below(28) as u8;
        let seq = self.rng.below(1000) as u16;
        make_id(&division, year, month, day, seq)
    }

    fn date(&mut self) -> (i32, u8, u8) {
        (2023 + self.rng.below(3) as i32, 1 + self.rng.below(12) as u8, 1 + self.rng.below(28) as u8)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq_offset + self.seq
    }

    /// Subject fields: 65 % companies, 25 % individual businesses (some with the placeholder code and a
    /// registration number), 10 % natural persons.
    fn subject(&mut self, m: &mut BTreeMap<String, String>, allow_natural: bool) {
        let roll = self.rng.below(100);
        let mut set = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        if roll < 65 {
            let name =
                format!("{}{}{}有限公司", self.prefecture_name, self.rng.pick(TRADE_NAMES), self.rng.pick(INDUSTRIES));
            let code = self.company_uscc();
            set(f::NAME, name);
            set(f::CATEGORY, "法人及非法人组织".into());
            if self.rng.chance(30) {
                set(f::CODE3_ORG_CODE, uscc::embedded_org_code(&code).unwrap_or_default());
            }
            if self.rng.chance(20) {
                set(f::CODE4_TAX_NO, code.clone());
            }
            set(f::CODE1_USCC, code);
            let rep = self.person_name();
            set(f::LEGAL_REP, rep);
            if self.rng.chance(25) {
                let id = self.id_number();
                set(f::LEGAL_REP_ID_TYPE, "身份证".into());
                set(f::LEGAL_REP_ID_NO, id);
            }
        } else if roll < 90 || !allow_natural {
            let owner = self.person_name();
            let surname: String = owner.chars().take(1).collect();
            let name = format!("{}{}记{}", self.county_name, surname, self.rng.pick(SHOPS));
            set(f::NAME, name);
            set(f::CATEGORY, "个体工商户".into());
            if self.rng.chance(15) {
                set(f::CODE1_USCC, uscc::PLACEHOLDER.into());
                let serial = self.rng.below(100_000_000);
                set(f::CODE2_REG_NO, make_reg_no(&self.county, serial));
            } else {
                let body = self.org_body();
                set(f::CODE1_USCC, make_uscc('9', '2', &self.county, &body));
            }
            set(f::LEGAL_REP, owner);
        } else {
            let name = self.person_name();
            let id = self.id_number();
            set(f::NAME, name);
            set(f::CATEGORY, "自然人".into());
            set(f::ID_TYPE, "身份证".into());
            set(f::ID_NO, id);
        }
    }

    fn dept(&mut self, indices: &[usize]) -> Dept {
        let i = *self.rng.pick(indices);
        self.depts[i].clone()
    }

    fn authority(&self, m: &mut BTreeMap<String, String>, d: &Dept, name_key: &str, uscc_key: &str) {
        m.insert(name_key.to_string(), d.name.clone());
        m.insert(uscc_key.to_string(), d.uscc.clone());
        m.insert(f::SOURCE.to_string(), d.name.clone());
        m.insert(f::SOURCE_USCC.to_string(), d.uscc.clone());
    }

    /// One valid 行政许可 row (canonical column name → cell text, dates as `YYYY/MM/DD`).
    pub fn license_row(&mut self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        self.subject(&mut m, false);
        let seq = self.next_seq();
        let (y, mo, d) = self.date();
        let short: String = self.county_name.chars().take(1).collect();
        let dept = self.dept(&[0, 0, 0, 1, 2, 3]);
        let individual = m.get(f::CATEGORY).map(String::as_str) == Some("个体工商户");
        let (doc_name, category, cert, content, years): (&str, &str, Option<&str>, &str, Option<i32>) = match dept.abbr
        {
            "市监" if individual && self.rng.chance(40) => {
                ("个体工商户登记决定书", "登记", Some("营业执照"), "个体工商户设立登记", None)
            }
            "市监" => (
                "食品经营许可决定书",
                "普通",
                Some("食品经营许可证"),
                *self.rng.pick(&[
                    "预包装食品（含冷藏冷冻食品）销售；散装食品（不含冷藏冷冻食品）销售",
                    "热食类食品制售；冷食类食品制售",
                    "预包装食品（不含冷藏冷冻食品）销售；保健食品销售",
                ]),
                Some(5),
            ),
            "卫健" => (
                "公共场所卫生许可决定书",
                "普通",
                Some("公共场所卫生许可证"),
                *self.rng.pick(&["住宿业", "美容美发场所", "沐浴场所", "游泳场所"]),
                Some(4),
            ),
            "住建" => ("建筑工程施工许可决定书", "普通", Some("建筑工程施工许可证"), "房屋建筑工程施工", None),
            _ => ("道路运输经营许可决定书", "普通", Some("道路运输经营许可证"), "道路普通货物运输", Some(4)),
        };
        let prefix = match dept.abbr {
            "市监" => "市监",
            "卫健" => "卫公",
            "住建" => "建施",
            _ => "交运",
        };
        m.insert(f::L_DOC_NAME.into(), doc_name.into());
        m.insert(f::L_DOC_NO.into(), format!("{short}{prefix}许字〔{y}〕第{seq:05}号"));
        m.insert(f::L_CATEGORY.into(), category.into());
        if let Some(c) = cert {
            m.insert(f::L_CERT_NAME.into(), c.into());
            let no = match dept.abbr {
                "市监" if category == "登记" => m.get(f::CODE1_USCC).cloned().unwrap_or_default(),
                "市监" => format!("JY{}{}{:06}", self.rng.below(2) + 1, self.county, seq % 1_000_000),
                "卫健" => format!("湘卫公证字〔{y}〕第{}{:05}号", self.county, seq % 100_000),
                "住建" => format!("{}{y}{mo:02}{:04}0101", self.county, seq % 10_000),
                _ => format!("湘交运管许可{short}字{}{:06}号", self.county, seq % 1_000_000),
            };
            m.insert(f::L_NO.into(), no);
        }
        m.insert(f::L_CONTENT.into(), content.into());
        let date = format!("{y}/{mo:02}/{d:02}");
        m.insert(f::L_DATE.into(), date.clone());
        m.insert(f::L_FROM.into(), date);
        let to = match years {
            Some(n) => {
                // The day before the anniversary; 28 is the highest day the generator uses, so d-1 is valid.
                let (ty, tm, td) = if d > 1 { (y + n, mo, d - 1) } else { (y + n, mo, 28.min(d)) };
                format!("{ty}/{tm:02}/{td:02}")
            }
            None => "2099/12/31".into(),
        };
        m.insert(f::L_TO.into(), to);
        self.authority(&mut m, &dept, f::L_AUTHORITY, f::L_AUTHORITY_USCC);
        m.insert(f::L_STATUS.into(), if self.rng.chance(90) { "1" } else { "有效" }.into());
        m.insert(f::DIVISION.into(), self.county.clone());
        m
    }

    /// One valid 行政处罚 row.
    pub fn penalty_row(&mut self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        self.subject(&mut m, true);
        let seq = self.next_seq();
        let (y, mo, d) = self.date();
        let short: String = self.county_name.chars().take(1).collect();
        let natural = m.get(f::CATEGORY).map(String::as_str) == Some("自然人");
        let dept = if natural { self.dept(&[5]) } else { self.dept(&[0, 0, 0, 1, 4, 5]) };
        let fine_yuan = (1 + self.rng.below(40)) * 500;
        let (vtype, facts, basis, cats): (&str, String, &str, &str) = match dept.abbr {
            "市监" => match self.rng.below(4) {
                0 => (
                    "经营超过保质期的食品",
                    format!("经查，当事人于{y}年{mo}月在其经营场所销售超过保质期的预包装食品，货值金额较小。"),
                    "《中华人民共和国食品安全法》第一百二十四条第一款第（五）项",
                    "警告；罚款",
                ),
                1 => (
                    "未按规定公示营业执照",
                    format!("{y}年{mo}月执法人员检查发现，当事人未在经营场所醒目位置公示营业执照。"),
                    "《中华人民共和国市场主体登记管理条例》第四十八条第一款",
                    "罚款",
                ),
                2 => (
                    "销售不合格产品",
                    format!("经抽样检验，当事人于{y}年{mo}月销售的产品不合格，违法所得已查明。"),
                    "《中华人民共和国产品质量法》第四十九条",
                    "没收违法所得、没收非法财物；罚款",
                ),
                _ => (
                    "拒不改正食品安全违法行为",
                    format!("当事人经责令改正后拒不改正，情节严重（{y}年{mo}月复查）。"),
                    "《中华人民共和国食品安全法》第一百二十六条第一款",
                    "罚款；吊销许可证件",
                ),
            },
            "卫健" => (
                "未取得公共场所卫生许可证擅自营业",
                format!("{y}年{mo}月卫生监督员检查发现，当事人未取得公共场所卫生许可证擅自营业。"),
                "《公共场所卫生管理条例实施细则》第三十五条第一款",
                "警告；罚款",
            ),
            "应急" => (
                "未按规定开展安全生产教育和培训",
                format!("{y}年{mo}月执法检查发现，当事人未对从业人员进行安全生产教育和培训。"),
                "《中华人民共和国安全生产法》第九十七条第（三）项",
                "罚款",
            ),
            _ => (
                "违法占道经营",
                format!("当事人于{y}年{mo}月{d}日在城市道路上擅自摆摊设点，经劝阻拒不改正。"),
                "《湖南省城市综合管理条例》第五十八条",
                if natural && self.rng.chance(30) { "警告" } else { "罚款" },
            ),
        };
        let mut content = Vec::new();
        if cats.contains("警告") {
            content.push("警告".to_string());
        }
        if cats.contains("没收") {
            let conf = (1 + self.rng.below(50)) * 100;
            content.push(format!("没收违法所得人民币{conf}元"));
            m.insert(f::P_CONFISCATION.into(), yuan_to_wan(conf));
        }
        if cats.contains("罚款") {
            content.push(format!("罚款人民币{fine_yuan}元"));
            m.insert(f::P_FINE.into(), yuan_to_wan(fine_yuan));
        }
        let severe = cats.contains("吊销");
        if severe {
            content.push("吊销食品经营许可证".to_string());
            let cert = format!("食品经营许可证 JY1{}{:06}", self.county, self.rng.below(1_000_000));
            m.insert(f::P_SUSPENDED.into(), cert);
        }
        let content: Vec<String> = content.iter().enumerate().map(|(i, c)| format!("{}.{c}", i + 1)).collect();
        m.insert(f::P_DOC_NO.into(), format!("{short}{}罚决字〔{y}〕{seq}号", dept.abbr));
        m.insert(f::P_VIOLATION_TYPE.into(), vtype.into());
        m.insert(f::P_FACTS.into(), facts);
        m.insert(f::P_BASIS.into(), basis.into());
        m.insert(f::P_CATEGORY.into(), cats.into());
        m.insert(f::P_CONTENT.into(), content.join("；"));
        m.insert(f::P_DATE.into(), format!("{y}/{mo:02}/{d:02}"));
        let valid = if severe { "2099/12/31".to_string() } else { format!("{}/{mo:02}/{d:02}", y + 1) };
        m.insert(f::P_VALID_UNTIL.into(), valid);
        let publicity_years = if severe {
            3
        } else if cats == "警告" {
            0
        } else {
            1
        };
        let publicity = if publicity_years == 0 {
            let (py, pm) = if mo > 9 { (y + 1, mo - 9) } else { (y, mo + 3) };
            format!("{py}/{pm:02}/{d:02}")
        } else {
            format!("{}/{mo:02}/{d:02}", y + publicity_years)
        };
        m.insert(f::P_PUBLICITY_UNTIL.into(), publicity);
        self.authority(&mut m, &dept, f::P_AUTHORITY, f::P_AUTHORITY_USCC);
        m.insert(f::DIVISION.into(), self.county.clone());
        fit_publicity(&mut m);
        m
    }

    /// One valid 名单 row: a company, an individual business (USCC `92…`) or a natural person.
    pub fn list_row(&mut self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let seq = self.next_seq();
        let (y, mo, d) = self.date();
        let roll = self.rng.below(100);
        if roll < 70 {
            let name =
                format!("{}{}{}有限公司", self.prefecture_name, self.rng.pick(TRADE_NAMES), self.rng.pick(INDUSTRIES));
            m.insert(f::LS_NAME.into(), name);
            let code = self.company_uscc();
            m.insert(f::LS_USCC.into(), code);
        } else if roll < 85 {
            let owner = self.person_name();
            m.insert(f::LS_NAME.into(), format!("{}{}记{}", self.county_name, &owner, self.rng.pick(SHOPS)));
            let body = self.org_body();
            m.insert(f::LS_USCC.into(), make_uscc('9', '2', &self.county, &body));
        } else {
            let name = self.person_name();
            let id = self.id_number();
            m.insert(f::LS_NAME.into(), name);
            m.insert(f::LS_ID_TYPE.into(), "身份证".into());
            m.insert(f::LS_ID_NO.into(), id);
        }
        let dept = self.dept(&[0, 4]);
        let (list_type, reason, measures) = if self.rng.chance(50) {
            ("严重失信主体名单", "因提供虚假材料骗取行政许可被认定为严重失信主体", "政府采购、财政资金、行政许可")
        } else {
            ("经营异常名录", "未按规定期限公示年度报告", "")
        };
        let short: String = self.county_name.chars().take(1).collect();
        m.insert(f::LS_TYPE.into(), list_type.into());
        m.insert(f::LS_REASON.into(), reason.into());
        m.insert(f::LS_BASIS.into(), "《严重失信主体名单管理办法》第八条".into());
        m.insert(f::LS_DOC_NO.into(), format!("{short}{}列字〔{y}〕{seq}号", dept.abbr));
        m.insert(f::LS_START.into(), format!("{y}/{mo:02}/{d:02}"));
        let end = if self.rng.chance(30) { "长期".to_string() } else { format!("{}/{mo:02}/{d:02}", y + 3) };
        m.insert(f::LS_END.into(), end);
        m.insert(f::LS_AUTHORITY.into(), dept.name.clone());
        m.insert(f::LS_AUTHORITY_USCC.into(), dept.uscc.clone());
        if !measures.is_empty() {
            m.insert(f::LS_MEASURES.into(), measures.into());
        }
        m
    }

    /// One valid row of the given kind.
    pub fn row(&mut self, kind: Kind) -> BTreeMap<String, String> {
        match kind {
            Kind::License => self.license_row(),
            Kind::Penalty => self.penalty_row(),
            Kind::List => self.list_row(),
        }
    }

    /// One valid record of the given kind (a generated row run through the template validation).
    pub fn record(&mut self, kind: Kind) -> Record {
        let row = self.row(kind);
        match template::validate_row(kind, self.seq, &row, RefData::embedded()) {
            Ok(r) => r,
            // The generator only produces valid rows; the test suite checks thousands of them.
            Err(e) => panic!("testdata generated an invalid {kind} row: {e:?}"),
        }
    }
}

/// Keeps a penalty row's 公示截止期 when the publicity rule in force on its decision date allows it; otherwise
/// states the rule's longest end, or none when the rule publishes nothing (warning-only market penalties).
fn fit_publicity(m: &mut BTreeMap<String, String>) {
    let refs = RefData::embedded();
    if template::validate_row(Kind::Penalty, 1, m, refs).is_ok() {
        return;
    }
    let mut probe = m.clone();
    probe.remove(f::P_PUBLICITY_UNTIL);
    let Ok(Record::Penalty(p)) = template::validate_row(Kind::Penalty, 1, &probe, refs) else { return };
    let w = crate::publicity::Rules::embedded().window(&p);
    if w.published {
        let e = w.max_end.0;
        m.insert(f::P_PUBLICITY_UNTIL.into(), format!("{}/{:02}/{:02}", e.year(), u8::from(e.month()), e.day()));
    } else {
        m.remove(f::P_PUBLICITY_UNTIL);
    }
}

/// `n` valid rows of one kind for one county.
pub fn rows(kind: Kind, seed: u64, county: &str, n: usize) -> Vec<BTreeMap<String, String>> {
    let mut g = Generator::new(seed, county);
    (0..n).map(|_| g.row(kind)).collect()
}

/// Yuan (integer) as 万元 text, exact: 1500 → `0.15`.
pub fn yuan_to_wan(yuan: u64) -> String {
    rust_decimal::Decimal::new(yuan as i64, 4).normalize().to_string()
}

/// A CSV file (UTF-8, no BOM) with the template's canonical header, in template order.
pub fn to_csv(kind: Kind, rows: &[BTreeMap<String, String>]) -> Vec<u8> {
    let names: Vec<&str> = template::fields(kind).iter().map(|s| s.name).collect();
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(&names);
    for r in rows {
        let _ = w.write_record(names.iter().map(|n| r.get(*n).map(String::as_str).unwrap_or("")));
    }
    w.into_inner().unwrap_or_default()
}

/// Bundles, audits and fuzzing: a log of `n` leaves of `code` signed by `key`: `(leaf, signature, payload)` each, and signed checkpoints at the
/// sizes `cps` (dated `2026-12-01T00:00:01Z`).
pub fn signed_log(
    key: &crate::crypto::SigningKey,
    code: &str,
    n: u64,
    cps: &[u64],
) -> (Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>, Vec<crate::checkpoint::SignedCheckpoint>) {
    let (mut leaves, mut checkpoints, mut f) = (Vec::new(), Vec::new(), crate::merkle::Frontier::new());
    for i in 0..n {
        let payload = format!("{{\"i\":{i}}}").into_bytes();
        let leaf = crate::envelope::LeafHeader {
            origin: code.into(),
            index: i,
            kind: "penalty".into(),
            share: crate::record::ShareType::Unconditional,
            disclosure: crate::record::Disclosure::Public,
            recorded_at: "2026-12-01T00:00:00Z".into(),
            decided_on: "-".into(),
            natural_key: crate::crypto::sm3(&i.to_be_bytes()),
            payload_digest: crate::crypto::sm3(&payload),
        }
        .encode();
        f.push_leaf(&leaf);
        if cps.contains(&(i + 1)) {
            checkpoints.push(crate::checkpoint::SignedCheckpoint::sign(
                &crate::checkpoint::Checkpoint::new(code, i + 1, f.root(), "2026-12-01T00:00:01Z"),
                key,
            ));
        }
        leaves.push((key.sign(&leaf), leaf, payload));
    }
    (leaves.into_iter().map(|(sig, leaf, payload)| (leaf, sig, payload)).collect(), checkpoints)
}
