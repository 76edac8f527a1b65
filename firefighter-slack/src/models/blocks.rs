//! Block Kit builders. Each returns the JSON Slack expects and enforces
//! Slack's length limits, so a long title can never make a view invalid.

use serde_json::{Value, json};

/// Cuts `text` to `max` characters, ending with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Escapes `&`, `<` and `>` for mrkdwn.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Whether `url` can be a link in a message, a button or a bookmark: an
/// absolute http(s) URL within Slack's 3,000 characters, with nothing that
/// would end a mrkdwn link early (`<`, `>`, `|`, whitespace).
pub(crate) fn is_web_link(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty())
        && url.len() <= 3000
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '|'))
}

/// A plain text object.
pub(crate) fn plain(text: &str, max: usize) -> Value {
    json!({"type": "plain_text", "text": truncate(text, max), "emoji": true})
}

/// A mrkdwn text object.
pub(crate) fn mrkdwn(text: &str) -> Value {
    json!({"type": "mrkdwn", "text": truncate(text, 3000)})
}

/// A header block.
pub(crate) fn header(text: &str) -> Value {
    json!({"type": "header", "text": plain(text, 150)})
}

/// A section of mrkdwn text.
pub(crate) fn section(text: &str) -> Value {
    json!({"type": "section", "text": mrkdwn(text)})
}

/// A section of mrkdwn text with an id.
pub(crate) fn section_id(block_id: &str, text: &str) -> Value {
    json!({"type": "section", "block_id": block_id, "text": mrkdwn(text)})
}

/// A section of up to 10 two-column fields.
pub(crate) fn fields(items: &[String]) -> Value {
    let fields: Vec<Value> = items.iter().take(10).map(|f| mrkdwn(f)).collect();
    json!({"type": "section", "fields": fields})
}

/// A context block (small grey text).
pub(crate) fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [mrkdwn(text)]})
}

/// A divider.
pub(crate) fn divider() -> Value {
    json!({"type": "divider"})
}

/// An actions block.
pub(crate) fn actions(block_id: &str, elements: Vec<Value>) -> Value {
    json!({"type": "actions", "block_id": block_id, "elements": elements})
}

/// A button sending `value` with `action_id`.
pub(crate) fn button(text: &str, action_id: &str, value: &str) -> Value {
    json!({"type": "button", "text": plain(text, 75), "action_id": action_id, "value": value})
}

/// A primary (green) button.
pub(crate) fn primary_button(text: &str, action_id: &str, value: &str) -> Value {
    let mut b = button(text, action_id, value);
    b["style"] = json!("primary");
    b
}

/// A button opening a URL.
pub(crate) fn url_button(text: &str, url: &str) -> Value {
    json!({"type": "button", "text": plain(text, 75), "action_id": "open_link", "url": url})
}

/// An option of a select.
pub(crate) fn option(text: &str, value: &str) -> Value {
    json!({"text": plain(text, 75), "value": value})
}

/// An option with a description below it.
pub(crate) fn option_described(text: &str, value: &str, description: &str) -> Value {
    let mut o = option(text, value);
    if !description.trim().is_empty() {
        o["description"] = plain(description, 75);
    }
    o
}

/// A group of options.
pub(crate) fn option_group(label: &str, options: Vec<Value>) -> Value {
    json!({"label": plain(label, 75), "options": options})
}

/// A static select; `initial` must be one of `options`.
pub(crate) fn static_select(
    action_id: &str,
    placeholder: &str,
    options: Vec<Value>,
    initial: Option<Value>,
) -> Value {
    let mut s = json!({
        "type": "static_select",
        "action_id": action_id,
        "placeholder": plain(placeholder, 150),
        "options": options,
    });
    if let Some(i) = initial {
        s["initial_option"] = i;
    }
    s
}

/// A static select with option groups.
pub(crate) fn grouped_select(
    action_id: &str,
    placeholder: &str,
    groups: Vec<Value>,
    initial: Option<Value>,
) -> Value {
    let mut s = json!({
        "type": "static_select",
        "action_id": action_id,
        "placeholder": plain(placeholder, 150),
        "option_groups": groups,
    });
    if let Some(i) = initial {
        s["initial_option"] = i;
    }
    s
}

/// A multi-select.
pub(crate) fn multi_select(
    action_id: &str,
    placeholder: &str,
    options: Vec<Value>,
    initial: Vec<Value>,
) -> Value {
    let mut s = json!({
        "type": "multi_static_select",
        "action_id": action_id,
        "placeholder": plain(placeholder, 150),
        "options": options,
    });
    if !initial.is_empty() {
        s["initial_options"] = json!(initial);
    }
    s
}

/// A user picker.
pub(crate) fn users_select(
    action_id: &str,
    placeholder: &str,
    initial_user: Option<&str>,
) -> Value {
    let mut s = json!({
        "type": "users_select",
        "action_id": action_id,
        "placeholder": plain(placeholder, 150),
    });
    if let Some(u) = initial_user {
        s["initial_user"] = json!(u);
    }
    s
}

/// A text input.
pub(crate) fn text_input(
    action_id: &str,
    multiline: bool,
    initial: Option<&str>,
    min: Option<u32>,
    max: Option<u32>,
) -> Value {
    let mut s = json!({"type": "plain_text_input", "action_id": action_id, "multiline": multiline});
    if let Some(i) = initial.filter(|i| !i.is_empty()) {
        s["initial_value"] = json!(i);
    }
    if let Some(m) = min {
        s["min_length"] = json!(m);
    }
    if let Some(m) = max {
        s["max_length"] = json!(m);
    }
    s
}

/// A date and time picker (Unix seconds).
pub(crate) fn datetimepicker(action_id: &str, initial: Option<i64>) -> Value {
    let mut s = json!({"type": "datetimepicker", "action_id": action_id});
    if let Some(t) = initial {
        s["initial_date_time"] = json!(t);
    }
    s
}

/// An input block.
pub(crate) fn input(
    block_id: &str,
    label: &str,
    element: Value,
    optional: bool,
    hint: Option<&str>,
) -> Value {
    let mut b = json!({
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
        "optional": optional,
    });
    if let Some(h) = hint {
        b["hint"] = plain(h, 2000);
    }
    b
}

/// Makes an input block send a block action on change (for live recomputation).
pub(crate) fn dispatching(mut block: Value) -> Value {
    block["dispatch_action"] = json!(true);
    block
}

/// A modal view.
pub(crate) fn modal(
    callback_id: &str,
    title: &str,
    submit: Option<&str>,
    blocks: Vec<Value>,
    private_metadata: &str,
) -> Value {
    let mut v = json!({
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "close": plain("Cancel", 24),
        "blocks": blocks,
        "private_metadata": truncate(private_metadata, 3000),
    });
    if let Some(s) = submit {
        v["submit"] = plain(s, 24);
    } else {
        v["close"] = plain("Close", 24);
    }
    v
}

/// A home tab view.
pub(crate) fn home(blocks: Vec<Value>) -> Value {
    json!({"type": "home", "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_enforced() {
        let v = modal(
            "x",
            "A title far longer than Slack allows",
            Some("Go"),
            vec![],
            "",
        );
        assert_eq!(v["title"]["text"].as_str().unwrap().chars().count(), 24);
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(escape("a<b>&"), "a&lt;b&gt;&amp;");
        let o = option(&"x".repeat(100), "v");
        assert_eq!(o["text"]["text"].as_str().unwrap().chars().count(), 75);
    }
}
