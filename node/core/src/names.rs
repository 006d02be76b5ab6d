//! Search keys for names (一站式查询 by name): a Chinese enterprise name is 行政区划 + 字号 + 行业 + 组织形式
//! (`长沙市湘江餐饮管理有限公司`), so a search by the trade name (`湘江`, `湘江餐饮`) is a prefix search of the name
//! with its leading division names removed. [`index_keys`] gives the whole name and that remainder; the views
//! index both, and a query is a prefix scan of [`normalise`]d text: no table scan, two rows per record.

use std::sync::OnceLock;

/// Longest name indexed, in bytes (longer names are indexed by their first characters).
pub const MAX_NAME_BYTES: usize = 200;

fn divisions() -> &'static [String] {
    static D: OnceLock<Vec<String>> = OnceLock::new();
    D.get_or_init(|| {
        let table = &crate::template::RefData::embedded().divisions;
        let mut names: Vec<String> = table.current_names().map(normalise).collect();
        // Short forms as names are written: 湖南, 长沙, 芙蓉 (a 市/县/区 suffix dropped), longest first.
        let short: Vec<String> = names
            .iter()
            .filter_map(|n| {
                let c = n.chars().count();
                (c >= 3)
                    .then(|| n.chars().take(c - 1).collect::<String>())
                    .filter(|_| n.ends_with('省') || n.ends_with('市') || n.ends_with('县') || n.ends_with('区'))
            })
            .collect();
        names.extend(short);
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        names.dedup();
        names
    })
}

/// The form names are indexed and searched in: trimmed, whitespace removed, full-width ASCII and parentheses
/// folded to half-width, Latin letters upper-cased.
pub fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '\u{200b}' | '\u{feff}'))
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_uppercase)
        .collect()
}

fn clip(s: &str) -> String {
    let mut end = s.len().min(MAX_NAME_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The keys a name is indexed under: the whole name, and the name after its leading division names
/// (`湘江餐饮管理有限公司` for `长沙市湘江餐饮管理有限公司`, also after `湖南省长沙市…`). Deduplicated, non-empty.
pub fn index_keys(name: &str) -> Vec<String> {
    let full = normalise(name);
    let mut out = vec![clip(&full)];
    let mut rest = full.as_str();
    loop {
        let Some(d) = divisions().iter().find(|d| rest.starts_with(d.as_str()) && rest.len() > d.len()) else { break };
        rest = &rest[d.len()..];
    }
    if rest.len() < full.len() && rest.chars().count() >= 2 {
        let k = clip(rest);
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out.retain(|k| !k.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_strip_leading_divisions() {
        assert_eq!(
            index_keys("长沙市湘江餐饮管理有限公司"),
            vec!["长沙市湘江餐饮管理有限公司", "湘江餐饮管理有限公司"]
        );
        assert_eq!(index_keys("湖南省长沙市芙蓉区某某建材有限公司")[1], "某某建材有限公司");
        assert_eq!(index_keys("湖南湘江新区投资集团有限公司")[1], "湘江新区投资集团有限公司");
        assert_eq!(index_keys("华为技术有限公司"), vec!["华为技术有限公司"]);
        assert_eq!(index_keys(" 长沙 市（分店） "), vec!["长沙市(分店)", "(分店)"]);
        assert_eq!(normalise("ＡＢＣ餐厅"), "ABC餐厅");
        assert_eq!(index_keys(&"长".repeat(300))[0].len(), 198, "clipped at a character boundary");
    }
}
