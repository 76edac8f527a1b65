//! Atlassian Document Format: the descriptions of issues.

use serde_json::{Value, json};

/// A document of paragraphs: one per block of text separated by an empty
/// line; the lines of a block joined by hard breaks. Empty text gives an
/// empty document.
pub fn document(text: &str) -> Value {
    let mut content = Vec::new();
    for block in text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        let mut inline = Vec::new();
        for (i, line) in block.lines().enumerate() {
            if i > 0 {
                inline.push(json!({"type": "hardBreak"}));
            }
            if !line.is_empty() {
                inline.push(json!({"type": "text", "text": line}));
            }
        }
        content.push(json!({"type": "paragraph", "content": inline}));
    }
    json!({"type": "doc", "version": 1, "content": content})
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
}
