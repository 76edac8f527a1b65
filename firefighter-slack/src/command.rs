//! The slash command (`/incident` and its aliases): sub-commands and help.

use serde_json::{Value, json};

use crate::SlackConfig;
use crate::interactivity::Target;
use crate::models::blocks::{context, divider, header, section};

/// What a slash command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// The creation wizard.
    Open,
    /// An incident-scoped modal.
    Scoped(Target),
    /// The help.
    Help,
    /// Anything else (the text as typed).
    Unknown(String),
}

/// Parses what follows the command (trimmed, case-insensitive).
pub(crate) fn parse(text: &str) -> Command {
    let t = text.trim().to_lowercase();
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    match t.as_str() {
        "" | "help" => Command::Help,
        "open" => Command::Open,
        "update" => Command::Scoped(Target::Update),
        "edit" => Command::Scoped(Target::Edit),
        "close" => Command::Scoped(Target::Close),
        "status" => Command::Scoped(Target::Status),
        "oncall" | "on-call" => Command::Scoped(Target::OnCall),
        "postmortem" | "post-mortem" | "post mortem" | "pm" => Command::Scoped(Target::Postmortem),
        "sos" | "sre" | "sos-sre" | "sos sre" => Command::Scoped(Target::Sos),
        "downgrade" | "convert" => Command::Scoped(Target::Downgrade),
        _ => Command::Unknown(text.trim().to_owned()),
    }
}

/// The help message blocks; `support` names the `dev_firefighter` channel.
pub(crate) fn help_blocks(config: &SlackConfig, app_name: &str, support: &str) -> Vec<Value> {
    let c = &config.command;
    let mut intro = format!(
        "{} *{app_name}* helps you declare and manage incidents from Slack.",
        config.app_emoji
    );
    if let Some(g) = &config.incident_help_guide_url {
        intro.push_str(&format!(" <{g}|Read the incident guide>."));
    }
    let commands = [
        ("open", "declare an incident"),
        ("update", "update the status, priority, roles or details"),
        ("close", "close the incident"),
        ("status", "see where the incident stands"),
        ("oncall", "page the on-call"),
        ("postmortem", "see the post-mortem"),
        ("sos", "ask a team for help"),
        ("help", "show this message"),
    ];
    let list: Vec<String> = commands
        .iter()
        .map(|(s, d)| format!("• `{c} {s}`: {d}"))
        .collect();
    vec![
        header(&format!("{app_name} - Incident management")),
        section(&intro),
        section(&format!("*Commands*\n{}", list.join("\n"))),
        section(
            ":bulb: Run the commands in an incident's channel to act on that incident. Post updates often: they are shared with everyone following the incident.",
        ),
        divider(),
        context(support),
    ]
}

/// The ephemeral answer to `help` (or to an empty command).
pub(crate) fn help(config: &SlackConfig, app_name: &str, support: &str) -> Value {
    json!({
        "response_type": "ephemeral",
        "text": format!("{app_name} help"),
        "blocks": help_blocks(config, app_name, support),
    })
}

/// The ephemeral answer to an unknown sub-command: the error, then the help.
pub(crate) fn unknown(config: &SlackConfig, app_name: &str, support: &str, text: &str) -> Value {
    let mut blocks = vec![section(&format!(
        ":x: Unknown command `{} {}`. Here is what you can do:",
        config.command,
        crate::models::blocks::escape(text)
    ))];
    blocks.extend(help_blocks(config, app_name, support));
    json!({"response_type": "ephemeral", "text": format!("Unknown command {text}"), "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_is_understood() {
        assert_eq!(parse(""), Command::Help);
        assert_eq!(parse("  HELP "), Command::Help);
        assert_eq!(parse("Open"), Command::Open);
        assert_eq!(parse("post  mortem"), Command::Scoped(Target::Postmortem));
        assert_eq!(parse("pm"), Command::Scoped(Target::Postmortem));
        assert_eq!(parse("on-call"), Command::Scoped(Target::OnCall));
        assert_eq!(parse("sos sre"), Command::Scoped(Target::Sos));
        assert_eq!(parse("convert"), Command::Scoped(Target::Downgrade));
        assert_eq!(parse("edit"), Command::Scoped(Target::Edit));
        assert_eq!(parse("reboot prod"), Command::Unknown("reboot prod".into()));
    }

    #[test]
    fn help_names_the_support_channel() {
        let c = SlackConfig::new("xoxb", "s");
        let h = unknown(&c, "FireFighter", "Ask in <#C42>.", "frobnicate").to_string();
        assert!(
            h.contains("Unknown command") && h.contains("frobnicate") && h.contains("<#C42>"),
            "{h}"
        );
        assert!(h.contains("/incident open"));
    }
}
