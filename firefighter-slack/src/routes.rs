//! The ingress: slash commands, interactivity and Events API callbacks on
//! FireFighter's path. Every request is verified (`v0` signature over the raw
//! body) before anything is parsed, and acknowledged at once: slow work runs
//! after the answer.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use firefighter_core::Firefighter;
use serde_json::{Value, json};

use crate::Slack;
use crate::command::{self, Command};
use crate::models::inbound::{Envelope, Interaction, SlashCommand};

/// FireFighter's path, so existing Slack app configurations keep working.
pub const SLACK_PATH: &str = "/api/v2/firefighter/slack/incident/";

/// The Slack ingress router (state applied: it merges into the server's router).
/// Public: Slack calls it; requests are authenticated by their signature.
pub fn routes(app: Firefighter, slack: Slack) -> Router {
    slack.attach(&app);
    // Submissions a previous run acknowledged but did not finish: now, and
    // again once a crashed process's heartbeat has gone silent long enough
    // for its leases to be taken over (seconds, not the 5-minute lease; the
    // periodic task takes any left after that).
    let replay = slack.clone();
    slack.spawn(async move { replay.replay_at_start("at start").await });
    let replay = slack.clone();
    tokio::spawn(async move {
        let silence =
            firefighter_core::instance::PRESUMED_DEAD_AFTER + firefighter_core::instance::HEARTBEAT;
        tokio::time::sleep(silence).await;
        replay
            .replay_at_start("after a crashed instance's silence")
            .await;
    });
    Router::new()
        .route(SLACK_PATH, post(ingress))
        .route(SLACK_PATH.trim_end_matches('/'), post(ingress))
        .with_state(slack)
}

fn reject(status: StatusCode, text: &str) -> Response {
    (status, text.to_owned()).into_response()
}

fn json_response(v: Value) -> Response {
    axum::Json(v).into_response()
}

async fn ingress(State(slack): State<Slack>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = slack.inner.verifier.verify(
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        chrono::Utc::now().timestamp(),
    ) {
        tracing::warn!(error = %e, "Slack request refused");
        return reject(StatusCode::UNAUTHORIZED, "invalid signature");
    }
    let is_json = header("content-type").is_some_and(|c| c.starts_with("application/json"));
    if is_json {
        return events(slack, &headers, &body).await;
    }
    let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) else {
        return reject(StatusCode::BAD_REQUEST, "malformed form body");
    };
    if let Some(payload) = form.get("payload") {
        return interaction(slack, payload).await;
    }
    if form.contains_key("command") {
        return slash_command(slack, &body).await;
    }
    reject(
        StatusCode::BAD_REQUEST,
        "neither a command, an interaction nor an event",
    )
}

async fn slash_command(slack: Slack, body: &[u8]) -> Response {
    let Ok(cmd) = serde_urlencoded::from_bytes::<SlashCommand>(body) else {
        return reject(StatusCode::BAD_REQUEST, "malformed slash command");
    };
    let app_name = slack.settings().app_display_name.clone();
    if !slack.config().is_our_command(&cmd.command) {
        return json_response(json!({
            "response_type": "ephemeral",
            "text": format!(":x: {} is not a command of {app_name}.", cmd.command),
        }));
    }
    match command::parse(&cmd.text) {
        Command::Help => {
            let support = slack.support_line().await;
            json_response(command::help(slack.config(), &app_name, &support))
        }
        Command::Unknown(text) => {
            let support = slack.support_line().await;
            json_response(command::unknown(slack.config(), &app_name, &support, &text))
        }
        Command::Open => {
            slack.clone().spawn(async move {
                let result = async {
                    let creator = slack.user_for(&cmd.user_id).await.ok().map(|u| u.id);
                    let view = slack.wizard_view(&Default::default(), creator).await?;
                    slack.api().open_view(&cmd.trigger_id, &view).await
                }
                .await;
                if let Err(e) = result {
                    slack
                        .answer(
                            &cmd.response_url,
                            &format!(":x: Could not open the form: {e}"),
                        )
                        .await;
                }
            });
            StatusCode::OK.into_response()
        }
        Command::Scoped(target) => {
            slack.clone().spawn(async move {
                let result = async {
                    let view = slack
                        .scoped_view(target, &cmd.channel_id, &cmd.user_id)
                        .await?;
                    slack.api().open_view(&cmd.trigger_id, &view).await
                }
                .await;
                if let Err(e @ crate::Error::NotMember(_)) = &result {
                    slack
                        .answer(&cmd.response_url, &format!(":lock: {e}"))
                        .await;
                } else if let Err(e) = result {
                    slack
                        .answer(
                            &cmd.response_url,
                            &format!(":x: Could not open the form: {e}"),
                        )
                        .await;
                }
            });
            StatusCode::OK.into_response()
        }
    }
}

async fn interaction(slack: Slack, payload: &str) -> Response {
    let interaction: Interaction = match serde_json::from_str(payload) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "malformed interactivity payload");
            return reject(StatusCode::BAD_REQUEST, "malformed interactivity payload");
        }
    };
    match interaction {
        Interaction::ViewSubmission(p) => {
            let answer = slack.handle_submission(p).await;
            if answer.as_object().is_some_and(|o| o.is_empty()) {
                StatusCode::OK.into_response()
            } else {
                json_response(answer)
            }
        }
        Interaction::BlockActions(p) => {
            // Actions that change data are recorded before the acknowledgement.
            let recorded = match slack.record_key_event(&p).await {
                Some(r) => Some(r),
                None => slack.record_postmortem_creation(&p).await,
            };
            match recorded {
                Some(Ok(row)) => {
                    slack.apply_submission_later(row);
                    return StatusCode::OK.into_response();
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "could not record a click");
                    return reject(StatusCode::SERVICE_UNAVAILABLE, "try again");
                }
                None => {}
            }
            slack.clone().spawn(async move {
                if let Err(e) = slack.handle_block_actions(p).await {
                    tracing::warn!(error = %e, "block action failed");
                }
            });
            StatusCode::OK.into_response()
        }
        Interaction::Shortcut {
            user,
            callback_id,
            trigger_id,
        } if callback_id == crate::ids::action::OPEN => {
            slack.clone().spawn(async move {
                let creator = slack.user_for(&user.id).await.ok().map(|u| u.id);
                match slack.wizard_view(&Default::default(), creator).await {
                    Ok(view) => {
                        if let Err(e) = slack.api().open_view(&trigger_id, &view).await {
                            tracing::warn!(error = %e, "could not open the wizard");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not build the wizard"),
                }
            });
            StatusCode::OK.into_response()
        }
        Interaction::ViewClosed { .. } | Interaction::Shortcut { .. } | Interaction::Other => {
            StatusCode::OK.into_response()
        }
    }
}

async fn events(slack: Slack, headers: &HeaderMap, body: &[u8]) -> Response {
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "malformed Events API payload");
            return reject(StatusCode::BAD_REQUEST, "malformed event");
        }
    };
    match envelope {
        Envelope::UrlVerification { challenge } => json_response(json!({"challenge": challenge})),
        Envelope::AppRateLimited {
            minute_rate_limited,
        } => {
            tracing::warn!(
                ?minute_rate_limited,
                "Slack stopped sending events for a while (app_rate_limited)"
            );
            StatusCode::OK.into_response()
        }
        Envelope::EventCallback {
            event_id, event, ..
        } => {
            let retry = headers
                .get("x-slack-retry-num")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0")
                .to_owned();
            match slack.store().claim_event(&event_id).await {
                // Recorded before the acknowledgement, like submissions: a
                // crash after it leaves the event for the replay.
                Ok(true) => {
                    match slack
                        .record_submission(crate::submissions::kind::EVENT, &event, "")
                        .await
                    {
                        Ok(row) => slack.apply_submission_later(row),
                        Err(e) => {
                            tracing::warn!(error = %e, event_id, "could not record the event");
                            // Slack's retry must find the event id free again.
                            if let Err(e) = slack.store().release_event(&event_id).await {
                                tracing::warn!(error = %e, event_id, "could not release the event id");
                            }
                            return reject(StatusCode::SERVICE_UNAVAILABLE, "try again");
                        }
                    }
                }
                Ok(false) => {
                    tracing::debug!(event_id, retry, "event already taken; Slack retry ignored")
                }
                // Not acknowledged: Slack retries later.
                Err(e) => {
                    tracing::warn!(error = %e, "could not record the event");
                    return reject(StatusCode::SERVICE_UNAVAILABLE, "try again");
                }
            }
            StatusCode::OK.into_response()
        }
    }
}

impl Slack {
    /// Answers through a `response_url` (errors only logged: the user may be gone).
    pub(crate) async fn answer(&self, response_url: &str, text: &str) {
        if response_url.is_empty() {
            return;
        }
        let body = json!({"response_type": "ephemeral", "text": text});
        if let Err(e) = self.api().respond(response_url, &body).await {
            tracing::warn!(error = %e, "could not answer through the response_url");
        }
    }
}
