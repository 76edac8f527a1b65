//! Invitation results.

use serde_json::Value;

use crate::models::blocks::{divider, section};

/// Who was invited, and who could not be.
pub fn invitations(invited: usize, failures: &[(String, String)]) -> Option<(String, Value)> {
    if failures.is_empty() {
        return None;
    }
    let list: Vec<String> = failures
        .iter()
        .take(20)
        .map(|(u, why)| format!("• {u}: {why}"))
        .collect();
    let text = format!(
        ":envelope: {invited} responders invited. Could not invite:\n{}",
        list.join("\n")
    );
    Some((
        "Some responders could not be invited".into(),
        Value::Array(vec![section(&text), divider()]),
    ))
}
