//! The HTML pages (Chinese first, inline CSS, no scripts, no external assets) and the parsing of their query
//! strings. Every query string is hostile: its length is bounded before it is parsed, each field is bounded,
//! codes are validated (USCC check character or resident ID check character), dates parsed, and nothing
//! unwraps. Every value written into a page goes through [`esc`] (or [`attr`] inside an attribute).

use super::StatusView;
use crate::app::check::{CheckQuery, SignedVerdict};
use crate::app::query::{normalise_code, Page, Search};
use axum::http::Uri;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Longest query string accepted, in bytes (before percent-decoding).
pub const MAX_QUERY_BYTES: usize = 1024;
/// Longest name prefix, in characters.
pub const MAX_NAME_CHARS: usize = 60;
/// Longest measure (事项), in characters.
pub const MAX_MEASURE_CHARS: usize = 40;
/// Most query-string parameters.
pub const MAX_PARAMS: usize = 8;
/// Results per page, and the furthest page.
pub const PAGE_SIZE: usize = 20;
pub const MAX_PAGE: usize = 50;

/// Escapes text content.
pub fn esc(s: &str) -> Cow<'_, str> {
    html_escape::encode_text(s)
}

/// Escapes a double-quoted attribute value.
pub fn attr(s: &str) -> Cow<'_, str> {
    html_escape::encode_double_quoted_attribute(s)
}

/// Why a query string was refused: the field and the reason, Chinese first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub field: &'static str,
    pub reason: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

fn bad(field: &'static str, reason: impl Into<String>) -> InputError {
    InputError { field, reason: reason.into() }
}

/// The parameters of a query string, bounded; a repeated or unknown parameter is refused.
fn params(uri: &Uri, known: &[&'static str]) -> Result<Vec<(&'static str, String)>, InputError> {
    let raw = uri.query().unwrap_or("");
    if raw.len() > MAX_QUERY_BYTES {
        return Err(bad(
            "query",
            format!("查询串过长，最多 {MAX_QUERY_BYTES} 字节 (query string over {MAX_QUERY_BYTES} bytes)"),
        ));
    }
    let pairs: Vec<(String, String)> = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|_| bad("query", "查询串格式错误 (malformed query string)"))?
        .0;
    if pairs.len() > MAX_PARAMS {
        return Err(bad("query", format!("参数过多，最多 {MAX_PARAMS} 个 (more than {MAX_PARAMS} parameters)")));
    }
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (k, v) in pairs {
        let Some(name) = known.iter().find(|n| **n == k) else {
            return Err(bad("query", "未知参数 (unknown parameter)"));
        };
        if out.iter().any(|(n, _)| n == name) {
            return Err(bad(name, "参数重复 (repeated parameter)"));
        }
        if v.chars().any(char::is_control) {
            return Err(bad(name, "含控制字符 (contains control characters)"));
        }
        let v = v.trim().to_string();
        if !v.is_empty() {
            out.push((name, v));
        }
    }
    Ok(out)
}

fn take(p: &mut Vec<(&'static str, String)>, name: &str) -> Option<String> {
    let i = p.iter().position(|(n, _)| *n == name)?;
    Some(p.remove(i).1)
}

/// A subject code: a USCC with a valid check character, or a resident ID number with a valid check character.
pub fn subject_code(field: &'static str, s: &str) -> Result<String, InputError> {
    if s.chars().count() > 20 {
        return Err(bad(field, "代码过长 (code too long)"));
    }
    let c = normalise_code(s);
    if gongxin_core::uscc::validate(&c).is_ok() {
        return Ok(c);
    }
    if let Ok(id) = gongxin_core::idcard::validate(&c) {
        return Ok(id);
    }
    Err(bad(
        field,
        "不是有效的统一社会信用代码或身份证号码（校验位不符或长度不对）(not a valid USCC or resident ID number)",
    ))
}

fn bounded(field: &'static str, s: String, max: usize) -> Result<String, InputError> {
    if s.chars().count() > max {
        return Err(bad(field, format!("最多 {max} 个字 (at most {max} characters)")));
    }
    Ok(s)
}

/// The query page's form.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QueryForm {
    pub code: Option<String>,
    pub name: Option<String>,
    pub page: usize,
}

impl QueryForm {
    pub fn parse(uri: &Uri) -> Result<Self, InputError> {
        let mut p = params(uri, &["code", "name", "page"])?;
        let code = take(&mut p, "code").map(|c| subject_code("code", &c)).transpose()?;
        let name = take(&mut p, "name").map(|n| bounded("name", n, MAX_NAME_CHARS)).transpose()?;
        if name.as_ref().is_some_and(|n| n.chars().count() < 2) {
            return Err(bad("name", "名称至少两个字 (give at least two characters of the name)"));
        }
        if code.is_some() && name.is_some() {
            return Err(bad("query", "代码和名称只填一项 (give a code or a name, not both)"));
        }
        let page = match take(&mut p, "page") {
            None => 0,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_PAGE)
                .ok_or_else(|| bad("page", format!("页码须为 0..={MAX_PAGE} (page must be 0..={MAX_PAGE})")))?,
        };
        Ok(QueryForm { code, name, page })
    }

    /// The search (in the public view unless the page is served to an operator), or `None` when nothing was
    /// asked.
    pub fn search(&self, public: bool) -> Option<Search> {
        if self.code.is_none() && self.name.is_none() {
            return None;
        }
        Some(Search {
            code: self.code.clone(),
            name: self.name.clone(),
            public,
            offset: self.page * PAGE_SIZE,
            limit: PAGE_SIZE,
            ..Default::default()
        })
    }
}

/// The check page's form.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckForm {
    pub code: Option<String>,
    pub measure: Option<String>,
    pub date: Option<gongxin_core::date::Day>,
}

impl CheckForm {
    pub fn parse(uri: &Uri) -> Result<Self, InputError> {
        let mut p = params(uri, &["code", "measure", "date"])?;
        let code = take(&mut p, "code").map(|c| subject_code("code", &c)).transpose()?;
        let measure = take(&mut p, "measure").map(|m| bounded("measure", m, MAX_MEASURE_CHARS)).transpose()?;
        let date = match take(&mut p, "date") {
            None => None,
            Some(d) if d.len() > 10 => return Err(bad("date", "日期格式为 2026-12-01 (date as YYYY-MM-DD)")),
            Some(d) => Some(
                gongxin_core::date::parse(&d).map_err(|_| bad("date", "日期格式为 2026-12-01 (date as YYYY-MM-DD)"))?,
            ),
        };
        Ok(CheckForm { code, measure, date })
    }

    pub fn query(&self) -> Option<CheckQuery> {
        Some(CheckQuery { subject: self.code.clone()?, measure: self.measure.clone()?, day: self.date })
    }
}

const CSS: &str = "body{font-family:'Noto Sans CJK SC','WenQuanYi Zen Hei','Microsoft YaHei',sans-serif;margin:0;background:#f5f6f8;color:#222}\
header{background:#b71c1c;color:#fff;padding:12px 24px}header a{color:#fff;margin-right:16px}\
main{padding:16px 24px}h1{font-size:20px;margin:0}h2{font-size:17px;border-left:4px solid #b71c1c;padding-left:8px}\
table{border-collapse:collapse;background:#fff;margin-bottom:12px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}\
th{background:#eee}.ok{color:#1b5e20}.bad{color:#b71c1c;font-weight:bold}.note{background:#fff8e1;border:1px solid #f0c36d;padding:8px;margin:8px 0}\
.card{background:#fff;border:1px solid #ccc;padding:8px;margin:8px 0}form{background:#fff;padding:8px;border:1px solid #ccc}\
input{margin:4px 8px 4px 0;padding:4px}.decision{font-size:20px;font-weight:bold}";

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{t} - 共信</title>\
         <style>{CSS}</style></head><body><header><h1>共信 公共信用节点 · {t}</h1>\
         <nav><a href=\"/\">节点状态</a><a href=\"/query\">信用查询</a><a href=\"/check\">联合惩戒核查</a>\
         <a href=\"/metrics\">指标 metrics</a></nav></header><main>{body}</main></body></html>",
        t = esc(title),
    )
}

pub fn error_page(title: &str, detail: &str) -> String {
    layout(title, &format!("<p class=\"bad\">{}</p><p>{}</p>", esc(title), esc(detail)))
}

fn level_zh(level: &str) -> &'static str {
    match level {
        "province" => "省级",
        "prefecture" => "市级",
        "county" => "县级",
        _ => "未知",
    }
}

fn state_cell(state: &str) -> String {
    let class = if state == "ok" { "ok" } else { "bad" };
    format!("<td class=\"{class}\">{}</td>", esc(state))
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "—".to_string(), |x| x.to_string())
}

fn bytes_human(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB {
        format!("{:.1} MiB ({n} 字节)", n as f64 / MIB as f64)
    } else {
        format!("{n} 字节 bytes")
    }
}

/// The status page of every node.
pub fn status(v: &StatusView, serves_queries: bool) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<h2>本节点 This node</h2><table><tr><th>节点代码</th><td>{}</td></tr><tr><th>名称</th><td>{}</td></tr>\
         <tr><th>层级</th><td>{} ({})</td></tr><tr><th>节点名册版本</th><td>{}</td></tr>\
         <tr><th>证据数</th><td>{}</td></tr><tr><th>证书到期天数</th><td>{}</td></tr>\
         <tr><th>存储大小</th><td>{}</td></tr></table>",
        esc(&v.code),
        esc(&v.name),
        level_zh(&v.level),
        esc(&v.level),
        opt(&v.registry_version),
        opt(&v.evidence),
        v.cert_expiry_days.map_or_else(|| "—（未加入联邦 standalone）".to_string(), |d| format!("{d} 天")),
        v.store_bytes.map_or_else(|| "—".to_string(), bytes_human),
    );
    b.push_str("<h2>上级节点 Uplink</h2>");
    match &v.parent {
        None => b.push_str("<p>无上级节点（省级节点或单机运行）no parent</p>"),
        Some(p) => {
            let _ = write!(
                b,
                "<table><tr><th>上级节点</th><th>地址</th><th>链路状态</th><th>最近联系</th><th>距今（秒）</th><th>最近错误</th></tr>\
                 <tr><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td></tr></table>",
                esc(&p.code),
                esc(&p.addr),
                state_cell(&p.state),
                esc(&opt(&p.last_contact)),
                opt(&p.last_contact_age_seconds),
                esc(&opt(&p.last_error)),
            );
            b.push_str("<h2>各来源同步滞后 Sync lag per origin</h2><table><tr><th>来源</th><th>本节点条目</th><th>上级已确认</th><th>滞后（条）</th></tr>");
            for o in &p.origins {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&o.origin),
                    o.held,
                    o.parent_cursor,
                    o.lag_entries
                );
            }
            b.push_str("</table>");
        }
    }
    b.push_str("<h2>下级链路 Children</h2>");
    if v.children.is_empty() {
        b.push_str("<p>无下级节点 no children</p>");
    } else {
        b.push_str("<table><tr><th>节点代码</th><th>名称</th><th>名册状态</th><th>链路状态</th><th>最近联系</th><th>距今（秒）</th><th>最近错误</th></tr>");
        for c in &v.children {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.code),
                esc(&c.name),
                esc(&c.status),
                state_cell(&c.state),
                esc(&opt(&c.last_contact)),
                opt(&c.last_contact_age_seconds),
                esc(&opt(&c.last_error)),
            );
        }
        b.push_str("</table>");
    }
    b.push_str("<h2>各来源日志 Logs held</h2><table><tr><th>来源</th><th>名称</th><th>条目数</th><th>最新检查点</th><th>距今（秒）</th></tr>");
    for l in &v.logs {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.origin),
            esc(&opt(&l.name)),
            l.size,
            esc(&opt(&l.latest_checkpoint_at)),
            opt(&l.age_seconds),
        );
    }
    b.push_str("</table><h2>最近审计 Latest audit</h2>");
    match &v.audit {
        None => b.push_str("<p>本节点尚无审计报告 no audit report yet (<code>gongxin audit run</code>)</p>"),
        Some((at, per)) => {
            let _ = write!(b, "<p>审计时间 {}</p><table><tr><th>来源</th><th>结论</th></tr>", esc(at));
            for (code, st) in per {
                let _ = write!(b, "<tr><td>{}</td>{}</tr>", esc(code), state_cell(st));
            }
            b.push_str("</table>");
        }
    }
    if serves_queries {
        b.push_str("<p><a href=\"/query\">信用查询</a> · <a href=\"/check\">联合惩戒核查</a></p>");
    }
    layout("节点状态", &b)
}

const PUBLIC_NOTICE: &str =
    "<div class=\"note\">本页为<b>公众视图</b>：自然人姓名、证件号码已打码，自然人行政处罚与未成年人信息\
    不公开，只显示公示期内的公示记录。本页经无 TLS 的回环 HTTP 提供，无法核验证书；运维视图在 HTTPS 运维端口\
    （<code>[http] operator_listen</code>，须出示本节点运维证书）或用 <code>gongxin query</code>。<br>Public view: \
    names and ID numbers are masked; the operator view is on the HTTPS operator port (an operator certificate of \
    this node) or <code>gongxin query</code>.</div>";

const OPERATOR_NOTICE: &str =
    "<div class=\"note\">本页为<b>运维视图（未脱敏）</b>：已核验本节点运维证书，显示完整姓名、证件号码与不公开的记录，\
    仅限工作使用，不得对外提供。<br>Operator view (unmasked): your operator certificate of this node was verified; \
    full names, ID numbers and records not published are shown. For official use only.</div>";

/// Labels of record fields, Chinese first (unknown fields show their key).
fn field_label(key: &str) -> &str {
    match key {
        "subject.name" => "名称",
        "subject.category" => "主体类别",
        "subject.uscc" => "统一社会信用代码",
        "subject.reg_no" => "工商注册号",
        "subject.org_code" => "组织机构代码",
        "subject.legal_rep" => "法定代表人",
        "subject.legal_rep_id_type" => "法定代表人证件类型",
        "subject.legal_rep_id_no" => "法定代表人证件号码",
        "subject.id_type" => "证件类型",
        "subject.id_no" => "证件号码",
        "list_type" => "名单类型",
        "reason" => "列入原因",
        "basis" => "依据",
        "decision_doc_no" => "决定文书号",
        "start" => "起始日期",
        "end" => "截止日期",
        "authority" => "认定机关",
        "authority_uscc" => "机关统一社会信用代码",
        "measures" => "惩戒措施",
        "decision_date" => "决定日期",
        "content" => "内容",
        other => other,
    }
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.iter().map(json_text).collect::<Vec<_>>().join("、"),
        other => other.to_string(),
    }
}

/// The record's fields as table rows (subject fields flattened).
fn record_rows(r: &gongxin_core::record::Record) -> String {
    let mut rows = String::new();
    let Ok(serde_json::Value::Object(m)) = serde_json::to_value(r) else { return rows };
    // `kind` is the card's 类别 row already.
    for (k, v) in m.iter().filter(|(k, _)| k.as_str() != "kind") {
        match v {
            serde_json::Value::Object(sub) => {
                for (k2, v2) in sub {
                    let key = format!("{k}.{k2}");
                    let _ =
                        write!(rows, "<tr><th>{}</th><td>{}</td></tr>", esc(field_label(&key)), esc(&json_text(v2)));
                }
            }
            serde_json::Value::Null => {}
            _ => {
                let _ = write!(rows, "<tr><th>{}</th><td>{}</td></tr>", esc(field_label(k)), esc(&json_text(v)));
            }
        }
    }
    rows
}

/// The one-stop query page: the public view (公众视图), or the operator view when served to an operator.
pub fn query(f: &QueryForm, result: Option<Result<Page, String>>, operator: bool) -> String {
    let mut b = String::from(if operator { OPERATOR_NOTICE } else { PUBLIC_NOTICE });
    let _ = write!(
        b,
        "<form method=\"get\" action=\"/query\"><label>统一社会信用代码或身份证号 <input name=\"code\" maxlength=\"20\" value=\"{}\"></label>\
         <label>或名称 <input name=\"name\" maxlength=\"{MAX_NAME_CHARS}\" value=\"{}\"></label>\
         <button type=\"submit\">查询</button></form>",
        attr(f.code.as_deref().unwrap_or("")),
        attr(f.name.as_deref().unwrap_or("")),
    );
    match result {
        None => {}
        Some(Err(e)) => {
            let _ = write!(b, "<p class=\"bad\">查询失败 query failed: {}</p>", esc(&e));
        }
        Some(Ok(page)) => {
            let today = crate::app::check::today_in_china();
            let _ = write!(b, "<h2>查询结果 Results</h2><p>共 {} 条（第 {} 页）</p>", page.matched, f.page + 1);
            if page.hits.is_empty() {
                b.push_str(if operator {
                    "<p>没有匹配的记录 no record matches</p>"
                } else {
                    "<p>公众视图中没有匹配的公示记录 no public record matches</p>"
                });
            }
            for h in &page.hits {
                let _ = write!(
                    b,
                    "<div class=\"card\"><table><tr><th>来源/序号</th><td>{}/{}</td></tr><tr><th>类别</th><td>{}</td></tr>\
                     <tr><th>当前状态</th><td>{}</td></tr>{}</table></div>",
                    esc(&h.state.id.origin),
                    h.state.id.index,
                    esc(&h.kind),
                    esc(h.state.status_on(today)),
                    record_rows(&h.state.current),
                );
            }
            if page.more {
                let key = if f.code.is_some() { "code" } else { "name" };
                let val = f.code.as_deref().or(f.name.as_deref()).unwrap_or("");
                let mut enc = String::new();
                for byte in val.bytes() {
                    if byte.is_ascii_alphanumeric() {
                        enc.push(char::from(byte));
                    } else {
                        let _ = write!(enc, "%{byte:02X}");
                    }
                }
                let _ =
                    write!(b, "<p><a href=\"/query?{key}={}&amp;page={}\">下一页 next</a></p>", attr(&enc), f.page + 1);
            }
        }
    }
    layout("信用查询", &b)
}

fn decision_zh(d: &gongxin_core::check::Decision) -> &'static str {
    use gongxin_core::check::Decision;
    match d {
        Decision::Restrict => "限制 restrict",
        Decision::None => "无限制 none",
        Decision::Incentive => "激励 incentive",
    }
}

/// The joint-punishment check page.
pub fn check(f: &CheckForm, result: Option<Result<SignedVerdict, String>>) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<form method=\"get\" action=\"/check\"><label>统一社会信用代码或身份证号 <input name=\"code\" maxlength=\"20\" value=\"{}\"></label>\
         <label>事项（措施）<input name=\"measure\" maxlength=\"{MAX_MEASURE_CHARS}\" value=\"{}\" placeholder=\"政府采购\"></label>\
         <label>日期 <input name=\"date\" maxlength=\"10\" value=\"{}\" placeholder=\"2026-12-01\"></label>\
         <button type=\"submit\">核查</button></form>",
        attr(f.code.as_deref().unwrap_or("")),
        attr(f.measure.as_deref().unwrap_or("")),
        attr(&f.date.map(|d| d.to_string()).unwrap_or_default()),
    );
    match result {
        None => {
            b.push_str("<p>填写主体代码和事项后核查；结论由本节点 SM2 签名 (the verdict is signed by this node)</p>")
        }
        Some(Err(e)) => {
            let _ = write!(b, "<p class=\"bad\">无法核查 check failed: {}</p>", esc(&e));
        }
        Some(Ok(sv)) => {
            let v = &sv.verdict;
            let class = if v.decision == gongxin_core::check::Decision::Restrict { "bad" } else { "ok" };
            let _ = write!(
                b,
                "<h2>核查结论 Verdict</h2><p class=\"decision {class}\">{}</p><table>\
                 <tr><th>主体代码</th><td>{}</td></tr><tr><th>事项</th><td>{}</td></tr><tr><th>日期</th><td>{}</td></tr>\
                 <tr><th>结论编号</th><td>{}</td></tr><tr><th>签发节点</th><td>{}</td></tr><tr><th>签发时间</th><td>{}</td></tr></table>",
                decision_zh(&v.decision),
                esc(&v.subject),
                esc(&v.measure),
                esc(&v.date.to_string()),
                esc(&sv.id),
                esc(&sv.signer),
                esc(&v.issued_at),
            );
            for n in &v.notes {
                let _ = write!(b, "<div class=\"note\">{}</div>", esc(n));
            }
            if !v.hits.is_empty() {
                b.push_str("<h2>命中名单 Hits</h2><table><tr><th>名单类型</th><th>来源/序号</th><th>起止</th><th>措施</th><th>法律依据</th></tr>");
                for h in &v.hits {
                    let _ = write!(
                        b,
                        "<tr><td>{}</td><td>{}/{}</td><td>{} 至 {}</td><td>{}</td><td>{}</td></tr>",
                        esc(&h.list_type),
                        esc(&h.origin),
                        h.index,
                        esc(&h.start.to_string()),
                        esc(&h.end.to_string()),
                        esc(&h.measure),
                        esc(&h.legal_basis),
                    );
                }
                b.push_str("</table>");
            }
        }
    }
    layout("联合惩戒核查", &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gongxin_core::testdata;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn values_are_escaped_in_text_and_attributes() {
        assert_eq!(esc("<script>alert('x')</script>&"), "&lt;script&gt;alert('x')&lt;/script&gt;&amp;");
        assert_eq!(attr("\" onmouseover=\"x"), "&quot; onmouseover=&quot;x");
        let page = error_page("<b>", "<img src=x onerror=alert(1)>");
        assert!(!page.contains("<img") && page.contains("&lt;img"), "{page}");
        // A form value echoed back stays inside its attribute.
        let f = QueryForm { name: Some("\"><script>".into()), ..Default::default() };
        let page = query(&f, None, false);
        assert!(!page.contains("\"><script>") && page.contains("&quot;&gt;&lt;script&gt;"), "{page}");
    }

    #[test]
    fn hostile_query_strings_are_refused_by_name() {
        let long = format!("/query?name={}", "a".repeat(MAX_QUERY_BYTES));
        assert_eq!(QueryForm::parse(&uri(&long)).unwrap_err().field, "query");
        let e = QueryForm::parse(&uri("/query?code=91430100MA4L00000X")).unwrap_err();
        assert_eq!(e.field, "code");
        assert!(e.reason.contains("统一社会信用代码"), "{e}");
        assert_eq!(QueryForm::parse(&uri("/query?code=1&code=2")).unwrap_err().field, "code");
        assert_eq!(QueryForm::parse(&uri("/query?evil=1")).unwrap_err().field, "query");
        assert_eq!(QueryForm::parse(&uri("/query?name=%E9%95%BF%00x")).unwrap_err().field, "name");
        assert_eq!(QueryForm::parse(&uri("/query?name=%E9%95%BF")).unwrap_err().field, "name");
        assert_eq!(
            QueryForm::parse(&uri(&format!("/query?name={}", "%E9%95%BF".repeat(61)))).unwrap_err().field,
            "name"
        );
        assert_eq!(QueryForm::parse(&uri("/query?page=99999999999999999999999")).unwrap_err().field, "page");
        assert_eq!(QueryForm::parse(&uri("/query?page=-1")).unwrap_err().field, "page");
        let code = testdata::make_uscc('9', '1', "430102", "MA4PQ7R2");
        assert_eq!(
            QueryForm::parse(&uri(&format!("/query?code={code}&name=%E9%95%BF%E6%B2%99"))).unwrap_err().field,
            "query"
        );
        assert_eq!(CheckForm::parse(&uri("/check?date=2026-13-01")).unwrap_err().field, "date");
        assert_eq!(CheckForm::parse(&uri(&format!("/check?measure={}", "x".repeat(41)))).unwrap_err().field, "measure");
        let id = testdata::make_id("430102", 1990, 1, 1, 123);
        let wrong = format!("{}{}", &id[..17], if id.ends_with('0') { '1' } else { '0' });
        assert_eq!(CheckForm::parse(&uri(&format!("/check?code={wrong}"))).unwrap_err().field, "code");
    }

    #[test]
    fn good_forms_parse_and_an_empty_form_asks_nothing() {
        let code = testdata::make_uscc('9', '1', "430102", "MA4PQ7R2");
        let f = QueryForm::parse(&uri(&format!("/query?code={}&page=2", code.to_lowercase()))).unwrap();
        assert_eq!(f.code.as_deref(), Some(code.as_str()));
        let s = f.search(true).unwrap();
        assert!(s.public, "the loopback page asks in the public view");
        assert!(!f.search(false).unwrap().public, "the operator page does not");
        assert_eq!((s.offset, s.limit), (2 * PAGE_SIZE, PAGE_SIZE));
        assert!(QueryForm::parse(&uri("/query")).unwrap().search(true).is_none());
        assert!(QueryForm::parse(&uri("/query?code=&name=")).unwrap().search(true).is_none());
        let id = testdata::make_id("430102", 1990, 1, 1, 123);
        let f = CheckForm::parse(&uri(&format!(
            "/check?code={id}&measure=%E6%94%BF%E5%BA%9C%E9%87%87%E8%B4%AD&date=2026-12-01"
        )))
        .unwrap();
        let q = f.query().unwrap();
        assert_eq!((q.subject.as_str(), q.measure.as_str()), (id.as_str(), "政府采购"));
        assert!(CheckForm::parse(&uri("/check?measure=x")).unwrap().query().is_none());
    }
}
