//! The body of a post-mortem page: the template page's storage body filled
//! with the incident's facts, as Confluence storage-format XHTML, every
//! value escaped.
//!
//! The template may place the facts with placeholders, written as text in
//! the template page: `{{ incident.<name> }}` (spaces optional). Inline
//! ones: `id`, `reference`, `title`, `priority`, `category`,
//! `environments`, `status`, `declared_at`, `mitigated_at`, `url`. Block
//! ones, which replace the whole paragraph they stand alone in: `summary`,
//! `facts` (everything below), `roles`, `timeline`, `metrics`, `costs`. A
//! template without any placeholder gets every fact first, above its own
//! content. Unknown placeholders are left as they are, for a person to see
//! and fix. Every page starts with a line linking to the incident, which is
//! also how a page found by its title is known to be this incident's.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use firefighter_core::store::Catalog;
use firefighter_core::{IncidentDetails, TimelineEntry, UserId};

/// Everything a post-mortem page shows, gathered once.
#[derive(Debug, Clone)]
pub struct PostMortemFacts {
    /// The incident with roles, key events and costs.
    pub details: IncidentDetails,
    /// Its timeline (any order).
    pub timeline: Vec<TimelineEntry>,
    /// Display names of the people involved.
    pub people: HashMap<UserId, String>,
    /// The incident's page.
    pub incident_url: String,
    /// The Slack channel name or the incident's canonical name.
    pub reference: String,
    /// The product's name (`APP_DISPLAY_NAME`).
    pub app_name: String,
    /// `TIME_ZONE`.
    pub tz: chrono_tz::Tz,
}

/// Escapes text for storage-format XHTML (text and attribute values).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The line every page starts with: who made it, for which incident.
pub(crate) fn origin_line(app_name: &str, incident_id: i64, incident_url: &str) -> String {
    format!(
        "<p><em>Created by {} for <a href=\"{}\">incident #{incident_id}</a>.</em></p>",
        escape(app_name),
        escape(incident_url)
    )
}

/// Whether a page's storage body was made for this incident (it links to it).
pub(crate) fn made_for(body: &str, incident_url: &str) -> bool {
    body.contains(&format!("href=\"{}\"", escape(incident_url)))
}

struct Renderer<'a> {
    facts: &'a PostMortemFacts,
    catalog: &'a Catalog,
}

impl Renderer<'_> {
    fn time(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.facts.tz)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    fn person(&self, user: &UserId) -> String {
        self.facts
            .people
            .get(user)
            .cloned()
            .unwrap_or_else(|| "someone".into())
    }

    fn priority(&self) -> String {
        self.catalog
            .priority(self.facts.details.incident.priority_id)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    fn category(&self) -> String {
        let id = self.facts.details.incident.category_id;
        self.catalog
            .categories
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.clone())
            .unwrap_or_default()
    }

    fn environments(&self) -> String {
        let ids = &self.facts.details.incident.environment_ids;
        let mut envs: Vec<_> = self
            .catalog
            .environments
            .iter()
            .filter(|e| ids.contains(&e.id))
            .collect();
        envs.sort_by_key(|e| ids.iter().position(|i| *i == e.id));
        envs.iter()
            .map(|e| e.value.clone())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// An inline value, escaped; `None` for a name that is not one.
    fn inline(&self, name: &str) -> Option<String> {
        let i = &self.facts.details.incident;
        let text = match name {
            "id" => i.id.0.to_string(),
            "reference" => self.facts.reference.clone(),
            "title" => i.title.clone(),
            "priority" => self.priority(),
            "category" => self.category(),
            "environments" => self.environments(),
            "status" => i.status.to_string(),
            "declared_at" => self.time(i.created_at),
            "mitigated_at" => i.mitigated_at.map(|t| self.time(t)).unwrap_or_default(),
            "url" => self.facts.incident_url.clone(),
            _ => return None,
        };
        Some(escape(&text))
    }

    /// A block value; `None` for a name that is not one.
    fn block(&self, name: &str) -> Option<String> {
        Some(match name {
            "summary" => self.summary(),
            "facts" => self.all_facts(),
            "roles" => self.roles(),
            "timeline" => self.timeline(),
            "metrics" => self.metrics(),
            "costs" => self.costs(),
            _ => return None,
        })
    }

    fn summary(&self) -> String {
        let text = self.facts.details.incident.description.trim();
        if text.is_empty() {
            return "<p><em>No summary.</em></p>".into();
        }
        text.split("\n\n")
            .map(|para| format!("<p>{}</p>", escape(para.trim()).replace('\n', "<br />")))
            .collect()
    }

    fn table(&self) -> String {
        let i = &self.facts.details.incident;
        let mut rows = vec![
            (
                "Incident",
                format!(
                    "<a href=\"{}\">#{} {}</a>",
                    escape(&self.facts.incident_url),
                    i.id.0,
                    escape(&i.title)
                ),
            ),
            ("Status", escape(&i.status.to_string())),
            ("Priority", escape(&self.priority())),
            ("Category", escape(&self.category())),
            ("Environments", escape(&self.environments())),
            (
                "Declared",
                escape(&format!(
                    "{} by {}",
                    self.time(i.created_at),
                    self.person(&i.created_by)
                )),
            ),
        ];
        if let Some(at) = i.mitigated_at {
            rows.push(("Mitigated", escape(&self.time(at))));
        }
        if let Some(at) = i.closed_at {
            rows.push(("Closed", escape(&self.time(at))));
        }
        let mut out = String::from("<table><tbody>");
        for (name, value) in rows {
            let _ = write!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
        }
        out.push_str("</tbody></table>");
        out
    }

    fn roles(&self) -> String {
        let roles = &self.facts.details.roles;
        if roles.is_empty() {
            return "<p><em>No role assigned.</em></p>".into();
        }
        let mut out = String::from("<ul>");
        for r in roles {
            let name = self
                .catalog
                .role_types
                .iter()
                .find(|t| t.id == r.role_type_id)
                .map(|t| t.name.clone())
                .unwrap_or_else(|| r.slug.clone());
            let _ = write!(
                out,
                "<li><strong>{}</strong>: {}</li>",
                escape(&name),
                escape(&self.person(&r.user_id))
            );
        }
        out.push_str("</ul>");
        out
    }

    fn timeline(&self) -> String {
        let mut entries: Vec<&TimelineEntry> = self.facts.timeline.iter().collect();
        entries.sort_by_key(|t| (t.event_ts, t.created_at));
        let mut rows = String::new();
        for t in entries {
            let mut what = Vec::new();
            if let Some(s) = t.status {
                what.push(format!("Status {s}"));
            }
            if let Some(kind) = t.event_type.as_deref()
                && let Some(m) = self
                    .catalog
                    .milestone_types
                    .iter()
                    .find(|m| m.event_type == kind)
            {
                what.push(format!("Key event: {}", m.name));
            }
            if let Some(m) = t.message.as_deref().filter(|m| !m.trim().is_empty()) {
                what.push(m.trim().to_owned());
            }
            if what.is_empty() {
                continue;
            }
            let by = t
                .created_by
                .as_ref()
                .map(|u| self.person(u))
                .unwrap_or_default();
            let _ = write!(
                rows,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&self.time(t.event_ts)),
                escape(&what.join(" — ")).replace('\n', "<br />"),
                escape(&by)
            );
        }
        if rows.is_empty() {
            return "<p><em>Nothing recorded.</em></p>".into();
        }
        format!(
            "<table><tbody><tr><th>When ({})</th><th>What</th><th>Who</th></tr>{rows}</tbody></table>",
            escape(self.facts.tz.name())
        )
    }

    fn metrics(&self) -> String {
        let metrics = firefighter_core::metric::compute(
            &self.catalog.metric_types,
            &self.facts.details.key_events,
        );
        if metrics.is_empty() {
            return "<p><em>Record the key events to compute them.</em></p>".into();
        }
        let mut out = String::from("<ul>");
        for m in metrics {
            let name = self
                .catalog
                .metric_types
                .iter()
                .find(|t| t.slug == m.slug)
                .map(|t| t.name.clone())
                .unwrap_or(m.slug.clone());
            let _ = write!(
                out,
                "<li><strong>{}</strong>: {}</li>",
                escape(&name),
                escape(&firefighter_core::metric::format_hms(m.duration))
            );
        }
        out.push_str("</ul>");
        out
    }

    fn costs(&self) -> String {
        let costs = &self.facts.details.costs;
        if costs.is_empty() {
            return "<p><em>No cost recorded.</em></p>".into();
        }
        let mut out = String::from("<ul>");
        for c in costs {
            let kind = self
                .catalog
                .cost_types
                .iter()
                .find(|t| t.id == c.cost_type_id)
                .map(|t| t.name.clone())
                .unwrap_or_default();
            let amount = c
                .amount_cents
                .map(|a| {
                    format!(
                        "{}.{:02} {}",
                        a / 100,
                        (a % 100).abs(),
                        firefighter_core::cost::CURRENCY
                    )
                })
                .unwrap_or_else(|| "unknown amount".into());
            let details = c.details.trim();
            let _ = write!(
                out,
                "<li><strong>{}</strong>: {}{}</li>",
                escape(&kind),
                escape(&amount),
                if details.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", escape(details))
                }
            );
        }
        out.push_str("</ul>");
        out
    }

    fn all_facts(&self) -> String {
        format!(
            "<h2>Incident</h2>{}<h2>Summary</h2>{}<h2>Roles</h2>{}<h2>Timeline</h2>{}<h2>Metrics</h2>{}<h2>Costs</h2>{}",
            self.table(),
            self.summary(),
            self.roles(),
            self.timeline(),
            self.metrics(),
            self.costs()
        )
    }
}

/// The placeholders of a template: `(start, end, name)` for each
/// `{{ incident.<name> }}`, in order.
fn placeholders(template: &str) -> Vec<(usize, usize, String)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = template[from..].find("{{").map(|i| i + from) {
        let Some(close) = template[open..].find("}}").map(|i| i + open) else {
            break;
        };
        let inner = template[open + 2..close].trim();
        if let Some(name) = inner.strip_prefix("incident.")
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            found.push((open, close + 2, name.to_owned()));
        }
        from = close + 2;
    }
    found
}

/// The page's storage body: the origin line, then `template` with its
/// placeholders filled (or every fact above it when it has none).
pub fn render_postmortem(template: &str, facts: &PostMortemFacts, catalog: &Catalog) -> String {
    let r = Renderer { facts, catalog };
    let i = &facts.details.incident;
    let mut out = origin_line(&facts.app_name, i.id.0, &facts.incident_url);
    let found: Vec<_> = placeholders(template)
        .into_iter()
        .filter(|(_, _, name)| r.inline(name).is_some() || r.block(name).is_some())
        .collect();
    if found.is_empty() {
        out.push_str(&r.all_facts());
        out.push_str(template);
        return out;
    }
    let mut at = 0;
    for (start, end, name) in found {
        if start < at {
            continue;
        }
        if let Some(block) = r.block(&name) {
            // Alone in its paragraph: the paragraph is replaced (a table may
            // not sit in a <p>).
            let before = &template[at..start];
            let alone = before.trim_end().ends_with("<p>")
                && template[end..].trim_start().starts_with("</p>");
            if alone {
                let p = at + before.trim_end().len() - "<p>".len();
                out.push_str(&template[at..p]);
                out.push_str(&block);
                let rest = &template[end..];
                at = end + (rest.len() - rest.trim_start().len()) + "</p>".len();
            } else {
                out.push_str(before);
                out.push_str(&block);
                at = end;
            }
        } else if let Some(value) = r.inline(&name) {
            out.push_str(&template[at..start]);
            out.push_str(&value);
            at = end;
        }
    }
    out.push_str(&template[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_with_or_without_spaces() {
        let found = placeholders(
            "<p>{{ incident.title }}</p>{{incident.timeline}}{{ other }}{{ incident.Bad }}",
        );
        let names: Vec<_> = found.iter().map(|f| f.2.as_str()).collect();
        assert_eq!(names, vec!["title", "timeline"]);
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        let line = origin_line("Fire <Fighter>", 7, "https://ff.example.com/incident/7/");
        assert!(made_for(&line, "https://ff.example.com/incident/7/"));
        assert!(!made_for(&line, "https://ff.example.com/incident/70/"));
        assert!(line.contains("Fire &lt;Fighter&gt;"));
    }
}
