//! Atlassian Document Format: the descriptions of issues and the rich-text
//! fields of post-mortems.

use serde_json::{Value, json};

/// A document of paragraphs: one per block of text separated by an empty
/// line; the lines of a block joined by hard breaks. Empty text gives an
/// empty document.
pub fn document(text: &str) -> Value {
    doc(paragraphs(text))
}

/// A document of these blocks (paragraphs, headings, tables, lists).
pub fn doc(content: Vec<Value>) -> Value {
    json!({"type": "doc", "version": 1, "content": content})
}

/// The paragraphs of `text`, as [`document`] splits it.
pub fn paragraphs(text: &str) -> Vec<Value> {
    let mut content = Vec::new();
    for block in text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        let mut inline = Vec::new();
        for (i, line) in block.lines().enumerate() {
            if i > 0 {
                inline.push(json!({"type": "hardBreak"}));
            }
            if !line.is_empty() {
                inline.push(text_node(line));
            }
        }
        content.push(paragraph(inline));
    }
    content
}

/// A paragraph of inline nodes.
pub fn paragraph(inline: Vec<Value>) -> Value {
    json!({"type": "paragraph", "content": inline})
}

/// A heading (level 1 to 6).
pub fn heading(level: u8, text: &str) -> Value {
    json!({"type": "heading", "attrs": {"level": level.clamp(1, 6)}, "content": [text_node(text)]})
}

/// Plain text (ADF refuses empty text nodes: callers leave those out).
pub fn text_node(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// Bold text.
pub fn strong(text: &str) -> Value {
    json!({"type": "text", "text": text, "marks": [{"type": "strong"}]})
}

/// Text linking to `href`.
pub fn link(text: &str, href: &str) -> Value {
    json!({"type": "text", "text": text, "marks": [{"type": "link", "attrs": {"href": href}}]})
}

/// A bullet list, one paragraph per item.
pub fn bullet_list(items: Vec<Vec<Value>>) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|inline| json!({"type": "listItem", "content": [paragraph(inline)]}))
        .collect();
    json!({"type": "bulletList", "content": items})
}

/// A table: a header row, then one row per entry (cells of plain text;
/// an empty cell is an empty paragraph).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> Value {
    let cell = |kind: &str, text: &str| {
        let inline = if text.is_empty() {
            Vec::new()
        } else {
            vec![text_node(text)]
        };
        json!({"type": kind, "attrs": {}, "content": [paragraph(inline)]})
    };
    let mut content = vec![json!({
        "type": "tableRow",
        "content": header.iter().map(|h| cell("tableHeader", h)).collect::<Vec<_>>(),
    })];
    for row in rows {
        content.push(json!({
            "type": "tableRow",
            "content": row.iter().map(|c| cell("tableCell", c)).collect::<Vec<_>>(),
        }));
    }
    json!({
        "type": "table",
        "attrs": {"isNumberColumnEnabled": false, "layout": "default"},
        "content": content,
    })
}

/// The plain text of a node, for people and checks: a line per
/// paragraph, heading, list item or table row; a row's cells joined by
/// ` | `.
pub fn plain_text(node: &Value) -> String {
    let mut lines = Vec::new();
    collect_lines(node, &mut lines);
    lines.join("\n")
}

fn collect_lines(node: &Value, lines: &mut Vec<String>) {
    match node.get("type").and_then(Value::as_str) {
        Some("paragraph" | "heading") => lines.push(inline_text(node)),
        Some("tableRow") => lines.push(
            children(node)
                .map(inline_text)
                .collect::<Vec<_>>()
                .join(" | "),
        ),
        _ => children(node).for_each(|child| collect_lines(child, lines)),
    }
}

fn children(node: &Value) -> impl Iterator<Item = &Value> {
    node.get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn inline_text(node: &Value) -> String {
    match node.get("type").and_then(Value::as_str) {
        Some("text") => node["text"].as_str().unwrap_or_default().to_owned(),
        Some("hardBreak") => "\n".to_owned(),
        _ => children(node).map(inline_text).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_and_line_breaks() {
        let doc = document("One\ntwo\n\nThree");
        assert_eq!(doc["type"], "doc");
        assert_eq!(doc["version"], 1);
        let paragraphs = doc["content"].as_array().unwrap();
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(paragraphs[0]["content"][0]["text"], "One");
        assert_eq!(paragraphs[0]["content"][1]["type"], "hardBreak");
        assert_eq!(paragraphs[0]["content"][2]["text"], "two");
        assert_eq!(paragraphs[1]["content"][0]["text"], "Three");
        assert_eq!(document("")["content"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn tables_have_a_header_row_and_no_empty_text() {
        let t = table(&["Time", "Event"], &[vec!["10:00".into(), String::new()]]);
        let rows = t["content"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["content"][0]["type"], "tableHeader");
        assert_eq!(rows[1]["content"][0]["type"], "tableCell");
        assert_eq!(rows[1]["content"][1]["content"][0]["content"], json!([]));
        assert_eq!(
            plain_text(&doc(vec![heading(2, "Timeline"), t])),
            "Timeline\nTime | Event\n10:00 | "
        );
    }
}
