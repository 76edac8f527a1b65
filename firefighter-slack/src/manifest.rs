//! The Slack app manifest: the command and its aliases, scopes, event
//! subscriptions (member and sharing events included, unlike FireFighter's),
//! interactivity and events URLs from `BASE_URL`.

use firefighter_core::Settings;
use serde_json::{Value, json};

use crate::{SLACK_PATH, SlackConfig};

/// Bot scopes the app uses.
pub(crate) const BOT_SCOPES: &[&str] = &[
    "bookmarks:read",
    "bookmarks:write",
    "channels:history",
    "channels:join",
    "channels:manage",
    "channels:read",
    "chat:write",
    "chat:write.customize",
    "chat:write.public",
    "commands",
    "groups:history",
    "groups:read",
    "groups:write",
    "im:read",
    "im:write",
    "metadata.message:read",
    "mpim:read",
    "mpim:write",
    "pins:read",
    "pins:write",
    "reactions:read",
    "team:read",
    "usergroups:read",
    "users.profile:read",
    "users:read",
    "users:read.email",
];

/// Events the app subscribes to.
pub(crate) const BOT_EVENTS: &[&str] = &[
    "app_home_opened",
    "channel_archive",
    "channel_id_changed",
    "channel_rename",
    "channel_shared",
    "channel_unarchive",
    "channel_unshared",
    "group_archive",
    "group_rename",
    "group_unarchive",
    "member_joined_channel",
    "member_left_channel",
    "message.channels",
    "message.groups",
    "reaction_added",
];

/// The manifest (JSON; Slack also accepts it as YAML).
pub fn manifest(settings: &Settings, config: &SlackConfig) -> Value {
    let name = &settings.app_display_name;
    let url = format!("{}{SLACK_PATH}", settings.base_url());
    let commands: Vec<Value> = config
        .commands()
        .map(|c| {
            json!({
                "command": c,
                "url": url,
                "description": format!("Declare and manage incidents with {name}"),
                "usage_hint": "[open|update|close|status|oncall|postmortem|sos|help]",
                "should_escape": false,
            })
        })
        .collect();
    json!({
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": crate::models::blocks::truncate(name, 35),
            "description": "Incident management: declare, follow and close incidents from Slack.",
            "background_color": "#b91c1c",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": true,
                // Read-only, so role DMs can be delivered.
                "messages_tab_enabled": true,
                "messages_tab_read_only_enabled": true,
            },
            "bot_user": {"display_name": crate::models::blocks::truncate(name, 80), "always_online": true},
            "shortcuts": [{
                "name": "Declare an incident",
                "type": "global",
                "callback_id": crate::ids::action::OPEN,
                "description": "Open the incident creation form",
            }],
            "slash_commands": commands,
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "event_subscriptions": {"request_url": url, "bot_events": BOT_EVENTS},
            "interactivity": {"is_enabled": true, "request_url": url},
            "org_deploy_enabled": false,
            "socket_mode_enabled": false,
            "token_rotation_enabled": false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_points_everything_at_our_path() {
        let settings = Settings {
            base_url: "https://ff.example.com/".into(),
            ..Settings::default()
        };
        let mut config = SlackConfig::new("x", "y");
        config.aliases = vec!["/ff".into()];
        let m = manifest(&settings, &config);
        let url = "https://ff.example.com/api/v2/firefighter/slack/incident/";
        assert_eq!(m["settings"]["interactivity"]["request_url"], url);
        assert_eq!(m["settings"]["event_subscriptions"]["request_url"], url);
        let commands = m["features"]["slash_commands"].as_array().unwrap();
        assert_eq!(commands.len(), 2);
        assert_eq!(commands[1]["command"], "/ff");
        let events = m["settings"]["event_subscriptions"]["bot_events"].to_string();
        for e in [
            "member_joined_channel",
            "member_left_channel",
            "channel_shared",
            "channel_unshared",
        ] {
            assert!(events.contains(e), "{e} missing");
        }
    }
}
