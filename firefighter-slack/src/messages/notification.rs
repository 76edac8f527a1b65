//! Notifications sent through core's `Notifier` (a private message, a post
//! in a tagged conversation): the sender's plain text rendered in Block Kit,
//! every piece of it escaped.

use firefighter_core::Notification;
use serde_json::Value;

use crate::models::blocks::{self, context, escape, fields, section, truncate, url_button};

/// Slack's limit of blocks in one message.
const MAX_BLOCKS: usize = 50;
/// Slack's limit of one section field's text.
const MAX_FIELD: usize = 2000;

/// The message of a notification: the title in bold, one section per
/// paragraph, the facts in two columns, the link as a button. Paragraphs
/// beyond Slack's 50 blocks are left out, and the message says so.
pub(crate) fn notification(note: &Notification) -> (String, Value) {
    let facts: Vec<String> = note
        .fields
        .iter()
        .map(|(label, value)| {
            truncate(
                &format!("*{}*\n{}", escape(label.trim()), escape(value)),
                MAX_FIELD,
            )
        })
        .collect();
    let fact_sections: Vec<Value> = facts.chunks(10).map(fields).collect();
    let paragraphs: Vec<&str> = note
        .body
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
    // Title, facts and link first; paragraphs get the room left (one block
    // kept for the note that some were left out).
    let fixed = 1 + fact_sections.len().min(MAX_BLOCKS / 2) + usize::from(note.link.is_some());
    let room = MAX_BLOCKS - fixed;
    let shown = if paragraphs.len() <= room {
        paragraphs.len()
    } else {
        room - 1
    };

    let mut b = vec![section(&format!("*{}*", escape(note.title.trim())))];
    b.extend(paragraphs[..shown].iter().map(|p| section(&escape(p))));
    if shown < paragraphs.len() {
        let left = paragraphs.len() - shown;
        b.push(context(&format!(
            "{left} more paragraph{} not shown here.",
            if left == 1 { " is" } else { "s are" }
        )));
    }
    b.extend(fact_sections.into_iter().take(MAX_BLOCKS / 2));
    if let Some((label, url)) = &note.link {
        b.push(blocks::actions(
            "notification_link",
            vec![url_button(label.trim(), url)],
        ));
    }
    (truncate(&escape(note.title.trim()), 3000), Value::Array(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_piece_of_text_is_escaped() {
        let note = Notification::new("k", "<script>alert(1)</script> & co")
            .paragraph("Use <!channel> & <@U123>")
            .field("<b>Reporter</b>", "Ada <ada@example.com>")
            .link("Open <it>", "https://jira.example.com/browse/INC-1?a=1&b=2");
        let (text, blocks) = notification(&note);
        let all = format!("{text}{blocks}");
        for raw in ["<script>", "<!channel>", "<@U123>", "<b>", "<ada@"] {
            assert!(!all.contains(raw), "{raw} reached Slack unescaped: {all}");
        }
        assert!(all.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
        assert_eq!(text, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co");
        // A button's URL and label are plain JSON strings, not mrkdwn.
        let button = &blocks[blocks.as_array().unwrap().len() - 1]["elements"][0];
        assert_eq!(
            button["url"],
            "https://jira.example.com/browse/INC-1?a=1&b=2"
        );
        assert_eq!(button["text"]["type"], "plain_text");
    }

    #[test]
    fn a_long_notification_stays_within_slacks_limits() {
        let mut note = Notification::new("k", "t".repeat(5000)).link("Open", "https://x.example");
        for i in 0..80 {
            note = note.paragraph(format!("paragraph {i} {}", "x".repeat(4000)));
        }
        for i in 0..25 {
            note = note.field(format!("f{i}"), "v".repeat(3000));
        }
        let (text, blocks) = notification(&note);
        let blocks = blocks.as_array().unwrap();
        assert_eq!(blocks.len(), MAX_BLOCKS);
        assert!(text.chars().count() <= 3000);
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= 3000);
            }
            for f in b["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= MAX_FIELD);
            }
            assert!(b["fields"].as_array().is_none_or(|f| f.len() <= 10));
        }
        let omitted = blocks
            .iter()
            .find(|b| b["type"] == "context")
            .expect("the note about paragraphs left out");
        assert!(omitted.to_string().contains("more paragraphs"), "{omitted}");
        assert_eq!(
            blocks.last().unwrap()["type"],
            "actions",
            "the link is kept"
        );
    }

    #[test]
    fn blank_paragraphs_are_skipped() {
        let note = Notification::new("k", "Title")
            .paragraph("  ")
            .paragraph("Kept");
        let (_, blocks) = notification(&note);
        assert_eq!(blocks.as_array().unwrap().len(), 2);
    }
}
