//! The one-stop query (一站式查询, 信用湖南) over everything the node holds: by code (USCC, ID number, 工商注册号,
//! 组织机构代码) or by name prefix (the name index, `core::names`), with filters and paging, in the operator's
//! full view or the public view (`core::mask::public_view`, 公示 records only, within their publicity window).

use super::credit::StateHit;
use super::ledger::Ledger;
use super::AppError;
use crate::views;
use gongxin_core::date::Day;
use gongxin_core::record::{Disclosure, Record};
use gongxin_core::state::EntryId;

/// Most results one page returns.
pub const MAX_PAGE: usize = 200;
/// Most name-index rows one search reads (a short prefix can match many names); past it the page says `more`.
pub const MAX_NAME_ROWS: usize = 20_000;

#[derive(Debug, Clone, Default)]
pub struct Search {
    /// A subject code, or
    pub code: Option<String>,
    /// a name prefix (the whole name or the part after its division names).
    pub name: Option<String>,
    pub kind: Option<String>,
    pub origin: Option<String>,
    /// Decision date range, inclusive.
    pub from: Option<Day>,
    pub to: Option<Day>,
    /// Only records whose state on `today` is this word (有效, 在列, 已移出, …).
    pub status: Option<String>,
    /// The public view: masked, 公示 records only, within their publicity window.
    pub public: bool,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub hits: Vec<StateHit>,
    /// Matching records skipped by `offset` plus those returned.
    pub matched: usize,
    /// More matches exist after this page.
    pub more: bool,
}

/// Normalises a subject code for lookup: trimmed, upper case (`x` → `X`), the hyphen of an 组织机构代码 removed.
pub fn normalise_code(s: &str) -> String {
    let t: String = s.trim().chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
    if t.len() == 10 && t.as_bytes().get(8) == Some(&b'-') {
        t.replace('-', "")
    } else {
        t
    }
}

/// Whether a record is in its publicity window on `today`: not void; a penalty published under the rule in force
/// on its decision date (`core::publicity`) and before the end of its publicity (its stated 公示截止期 or the
/// rule's longest, ended by repair no earlier than the rule's minimum); licences while valid; list entries while
/// listed.
pub fn in_publicity(h: &StateHit, today: Day) -> bool {
    let st = &h.state;
    if st.void.is_some_and(|(_, d)| today >= d) {
        return false;
    }
    let repaired = st.repaired.is_some_and(|d| today >= d);
    match &st.current {
        Record::Penalty(p) => gongxin_core::publicity::Rules::embedded()
            .publicity_end(p, st.repaired)
            .is_some_and(|end| today <= end && today >= p.decision_date),
        Record::License(l) => !repaired && today <= l.valid_to,
        Record::ListEntry(_) => st.listed_on(today),
        Record::Commitment(_) => !repaired,
        Record::Amendment(_) => false,
    }
}

impl Ledger {
    /// Records matching `q`, folded with their amendments, filtered and paged. The public view masks and
    /// withholds as `core::mask` says.
    pub fn search(&self, q: &Search, today: Day) -> Result<Page, AppError> {
        let limit = q.limit.clamp(1, MAX_PAGE);
        let mut page = Page::default();
        match (&q.code, &q.name) {
            (Some(code), None) => {
                for h in self.states_about(&normalise_code(code))? {
                    if !page.offer(q, limit, h, today) {
                        break;
                    }
                }
            }
            (None, Some(name)) => {
                let prefix = gongxin_core::names::normalise(name);
                if prefix.chars().count() < 2 {
                    return Err(AppError::Invalid {
                        field: "name",
                        reason: "名称至少两个字 (give at least two characters of the name)".into(),
                    });
                }
                // In name order, loading states only until the page is full. A record is indexed under two keys,
                // and an amendment leads to its target: one hit per record.
                let (mut rows, mut records) = (std::collections::HashSet::new(), std::collections::HashSet::new());
                let walk = views::walk_name_prefix(self.log().store(), &prefix, MAX_NAME_ROWS, |o, i| {
                    let id = EntryId::new(&o, i);
                    if !rows.insert(id.clone()) {
                        return Ok::<_, AppError>(true);
                    }
                    match self.state_hit(&id)? {
                        Some(h) if records.insert(h.state.id.clone()) => Ok(page.offer(q, limit, h, today)),
                        _ => Ok(true),
                    }
                })?;
                // Past the rows one search may read, more matches may exist: say so rather than end silently.
                page.more |= walk == views::Walk::Bounded;
            }
            _ => {
                return Err(AppError::Invalid {
                    field: "query",
                    reason: "请给出 --uscc 代码 或 --name 名称 之一 (give a code or a name)".into(),
                })
            }
        }
        Ok(page)
    }
}

impl Page {
    /// Offers one candidate to the page: filtered, masked for the public view, counted, and kept if it falls
    /// within `offset..offset + limit`. Returns `false` once the page is full and one more match was seen
    /// (`more`), so the caller stops.
    fn offer(&mut self, q: &Search, limit: usize, mut h: StateHit, today: Day) -> bool {
        if q.kind.as_deref().is_some_and(|k| k != h.kind) || q.origin.as_deref().is_some_and(|o| o != h.state.id.origin)
        {
            return true;
        }
        let decided = h.state.current.decision_date();
        if q.from.is_some_and(|f| decided < f) || q.to.is_some_and(|t| decided > t) {
            return true;
        }
        if q.status.as_deref().is_some_and(|s| s != h.state.status_on(today)) {
            return true;
        }
        if q.public {
            if h.entry.header.disclosure != Disclosure::Public || !in_publicity(&h, today) {
                return true;
            }
            let Some(masked) = gongxin_core::mask::public_view(&h.state.current, today) else { return true };
            h.state.current = masked;
            // The public sees what stands, not earlier versions or the reasons of ignored steps.
            h.state.original = None;
            h.state.history.retain(|s| s.ignored.is_none());
        }
        if self.matched < q.offset {
            self.matched += 1;
            return true;
        }
        if self.hits.len() == limit {
            self.more = true;
            return false;
        }
        self.matched += 1;
        self.hits.push(h);
        true
    }
}

/// One record in a credit profile: where it is, its state today, its content and history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProfileItem {
    pub origin: String,
    pub index: u64,
    pub status: String,
    /// Penalties and licences: whether the record is in its publicity window today.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_publicity: Option<bool>,
    /// Penalties: the day publicity ends under the rule in force at the decision (`core::publicity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publicity_ends: Option<Day>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publicity_rule: Option<String>,
    pub record: Record,
    pub history: Vec<gongxin_core::state::Step>,
}

/// 信用档案: everything held about one entity, grouped.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Profile {
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub licenses: Vec<ProfileItem>,
    pub penalties: Vec<ProfileItem>,
    pub lists: Vec<ProfileItem>,
    pub commitments: Vec<ProfileItem>,
    /// Check feedback about this entity's list entries (verdicts answered and what was done).
    pub feedback: Vec<gongxin_core::check::Feedback>,
}

impl Ledger {
    /// The credit profile of the entity with `code` (operator view).
    pub fn profile(&self, code: &str, today: Day) -> Result<Profile, AppError> {
        let code = normalise_code(code);
        let hits = self.states_about(&code)?;
        let mut p = Profile { subject: code, ..Default::default() };
        let rules = gongxin_core::publicity::Rules::embedded();
        let mut list_ids = Vec::new();
        for h in &hits {
            let st = &h.state;
            if p.name.is_none() {
                p.name = st.current.subject().map(|s| s.name.clone());
            }
            let (in_window, ends, rule) = match &st.current {
                Record::Penalty(x) => {
                    let w = rules.window(x);
                    (Some(in_publicity(h, today)), rules.publicity_end(x, st.repaired), Some(w.rule))
                }
                Record::License(_) => (Some(in_publicity(h, today)), None, None),
                _ => (None, None, None),
            };
            let item = ProfileItem {
                origin: st.id.origin.clone(),
                index: st.id.index,
                status: st.status_on(today).to_string(),
                in_publicity: in_window,
                publicity_ends: ends,
                publicity_rule: rule,
                record: st.current.clone(),
                history: st.history.clone(),
            };
            match &st.current {
                Record::License(_) => p.licenses.push(item),
                Record::Penalty(_) => p.penalties.push(item),
                Record::ListEntry(_) => {
                    list_ids.push(st.id.to_string());
                    p.lists.push(item)
                }
                Record::Commitment(_) => p.commitments.push(item),
                Record::Amendment(_) => {}
            }
        }
        if !list_ids.is_empty() {
            let feedback = &mut p.feedback;
            self.for_each_feedback(super::check::MAX_REPORT_ENTRIES, |fb| {
                if fb.hits.iter().any(|h| list_ids.contains(h)) && feedback.len() < MAX_NAME_ROWS {
                    feedback.push(fb);
                }
            })?;
        }
        Ok(p)
    }
}
