//! Dynamic SQL: bound arguments, incident filters and their order.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::IncidentFilter;
use crate::incident::IncidentOrder;

/// A bound value of dynamically built SQL.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    I64(i64),
    I16(i16),
    Uuid(Uuid),
    Text(String),
    NullText,
    Ts(DateTime<Utc>),
    Bool(bool),
}

/// Collects bound values and hands out their `$N` placeholders.
#[derive(Debug, Default)]
pub(super) struct Params {
    pub(super) args: Vec<Arg>,
}

impl Params {
    pub(super) fn push(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    pub(super) fn list(&mut self, args: impl IntoIterator<Item = Arg>) -> String {
        args.into_iter()
            .map(|a| self.push(a))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Escapes `LIKE` wildcards (the escape character is `\`).
pub(super) fn escape_like(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    for c in word.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `WHERE` clause (possibly empty) of an incident filter; `like` is the
/// dialect's case-insensitive `LIKE`.
pub(super) fn filter_clause(f: &IncidentFilter, like: &str, p: &mut Params) -> String {
    let mut conds: Vec<String> = Vec::new();
    if !f.ids.is_empty() {
        conds.push(format!(
            "i.id IN ({})",
            p.list(f.ids.iter().map(|i| Arg::I64(i.0)))
        ));
    }
    if let Some(id) = f.id_min {
        conds.push(format!("i.id >= {}", p.push(Arg::I64(id.0))));
    }
    if let Some(id) = f.id_max {
        conds.push(format!("i.id <= {}", p.push(Arg::I64(id.0))));
    }
    if !f.statuses.is_empty() {
        conds.push(format!(
            "i.status IN ({})",
            p.list(f.statuses.iter().map(|s| Arg::I16(s.value())))
        ));
    }
    if let Some(s) = f.status_at_least {
        conds.push(format!("i.status >= {}", p.push(Arg::I16(s.value()))));
    }
    if let Some(s) = f.status_below {
        conds.push(format!("i.status < {}", p.push(Arg::I16(s.value()))));
    }
    if !f.priority_ids.is_empty() {
        conds.push(format!(
            "i.priority_id IN ({})",
            p.list(f.priority_ids.iter().map(|i| Arg::Uuid(i.0)))
        ));
    }
    if !f.category_ids.is_empty() {
        conds.push(format!(
            "i.category_id IN ({})",
            p.list(f.category_ids.iter().map(|i| Arg::Uuid(i.0)))
        ));
    }
    if !f.group_ids.is_empty() {
        conds.push(format!(
            "i.category_id IN (SELECT c.id FROM incident_categories c WHERE c.group_id IN ({}))",
            p.list(f.group_ids.iter().map(|i| Arg::Uuid(i.0)))
        ));
    }
    if !f.environment_ids.is_empty() {
        conds.push(format!(
            "EXISTS (SELECT 1 FROM incident_environments ie WHERE ie.incident_id = i.id AND ie.environment_id IN ({}))",
            p.list(f.environment_ids.iter().map(|i| Arg::Uuid(i.0)))
        ));
    }
    if !f.created_by.is_empty() {
        conds.push(format!(
            "i.created_by IN ({})",
            p.list(f.created_by.iter().map(|i| Arg::Uuid(i.0)))
        ));
    }
    if let Some(t) = f.created_from {
        conds.push(format!("i.created_at >= {}", p.push(Arg::Ts(t))));
    }
    if let Some(t) = f.created_before {
        conds.push(format!("i.created_at < {}", p.push(Arg::Ts(t))));
    }
    if let Some(b) = f.ignore {
        conds.push(format!("i.ignore = {}", p.push(Arg::Bool(b))));
    }
    if let Some(search) = &f.search {
        // No title or description holds a control character: a search with
        // one matches nothing (SQLite would read a NUL as the end of the
        // pattern, and `%` alone matches everything).
        if search.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            conds.push("1 = 0".to_owned());
        }
        for word in search.split_whitespace() {
            let pattern = p.push(Arg::Text(format!("%{}%", escape_like(word))));
            let mut alternatives = format!(
                "i.title {like} {pattern} ESCAPE '\\' OR i.description {like} {pattern} ESCAPE '\\'"
            );
            if let Ok(id) = word.strip_prefix('#').unwrap_or(word).parse::<i64>() {
                alternatives.push_str(&format!(" OR i.id = {}", p.push(Arg::I64(id))));
            }
            conds.push(format!("({alternatives})"));
        }
    }
    match f.postmortem {
        None => {}
        Some(crate::incident::PostMortemFilter::Missing) => conds.push(
            // Needs one: its priority does and it touches production (the
            // lifecycle's rule, `Firefighter::postmortem_required`).
            "i.status >= 40 AND NOT EXISTS (SELECT 1 FROM postmortems pm WHERE pm.incident_id = i.id) \
             AND EXISTS (SELECT 1 FROM priorities pr WHERE pr.id = i.priority_id AND pr.needs_postmortem) \
             AND EXISTS (SELECT 1 FROM incident_environments ie JOIN environments e ON e.id = ie.environment_id \
                         WHERE ie.incident_id = i.id AND UPPER(e.value) = 'PRD')"
                .to_owned(),
        ),
        Some(crate::incident::PostMortemFilter::NotReady) => conds.push(
            // The ready mark is the built-in document's; external backends say
            // theirs when asked (a label, a status), not in this table.
            "EXISTS (SELECT 1 FROM postmortems pm WHERE pm.incident_id = i.id AND pm.backend = 'firefighter' AND NOT pm.ready)".to_owned(),
        ),
    }
    if let Some(user) = f.visible_to {
        conds.push(format!(
            "(NOT i.private OR EXISTS (SELECT 1 FROM incident_members m WHERE m.incident_id = i.id AND m.user_id = {}))",
            p.push(Arg::Uuid(user.0))
        ));
    }
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// `ORDER BY` terms; `p` is `priorities` joined on the incident's priority.
/// The leading sort key of an order, and what breaks its ties.
pub(super) fn order_key(order: IncidentOrder) -> (&'static str, &'static str) {
    match order {
        IncidentOrder::NewestFirst => ("i.created_at DESC", "i.id DESC"),
        IncidentOrder::OldestFirst => ("i.created_at ASC", "i.id ASC"),
        IncidentOrder::Priority => ("p.value ASC", "i.created_at DESC, i.id DESC"),
        IncidentOrder::StatusThenPriority => {
            ("i.status ASC, p.value ASC", "i.created_at DESC, i.id DESC")
        }
        IncidentOrder::Title => ("LOWER(i.title) ASC", "i.id ASC"),
        IncidentOrder::PriorityDescending => ("p.value DESC", "i.created_at DESC, i.id DESC"),
        IncidentOrder::TitleDescending => ("LOWER(i.title) DESC", "i.id DESC"),
        IncidentOrder::CreatedBy => ("i.created_by ASC", "i.created_at DESC, i.id DESC"),
        IncidentOrder::CreatedByDescending => ("i.created_by DESC", "i.created_at DESC, i.id DESC"),
    }
}

/// `ORDER BY` of a filter: its order's key, then each of `then_by`'s, then
/// the first order's tie-breakers. Built from constant fragments only.
pub(super) fn order_clause(filter: &IncidentFilter) -> String {
    let (first, ties) = order_key(filter.order);
    let mut keys = vec![first];
    for then in &filter.then_by {
        let (key, _) = order_key(*then);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    format!("{}, {ties}", keys.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
    }

    #[test]
    fn search_words_are_bound_not_inlined() {
        let filter = IncidentFilter {
            search: Some("checkout' OR 1=1 #42".into()),
            ..IncidentFilter::default()
        };
        let mut p = Params::default();
        let clause = filter_clause(&filter, "LIKE", &mut p);
        assert!(!clause.contains("checkout"));
        assert!(clause.contains("i.id = $"));
        assert_eq!(p.args.len(), 5);
    }
}
