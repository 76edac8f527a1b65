//! Confluence as a post-mortem backend (`confluence`): the page is created
//! by the event handler `confluence.postmortems` when core asks for it
//! (`IncidentEvent::PostMortemRequested { backend: "confluence" }`), exactly
//! once, and is ready when it carries `CONFLUENCE_POSTMORTEM_READY_LABEL`.
//!
//! Exactly once: before creating, the page is looked up by its title in the
//! space (Confluence titles are unique per space); a page found there that
//! links to the incident (see [`crate::render`]) was made by an earlier
//! attempt whose answer was lost, and is adopted instead; when the title
//! changed meanwhile (the incident's title or priority was edited between
//! the two attempts), the folder's pages titled `#<reference> (` are
//! looked at too. The create itself is never retried by the client; the
//! delivery is, and starts with the look-up again.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use firefighter_core::event::{Delivery, EventHandler, EventHandlerRegistration, HandlerError};
use firefighter_core::lifecycle::PostMortemState;
use firefighter_core::plugin::{AppHandle, PluginContext};
use firefighter_core::postmortem::PostMortemRegistration;
use firefighter_core::{
    Firefighter, Incident, IncidentEvent, IncidentId, PostMortemProvider, Store, UserId,
};

use crate::client::CreatedPage;
use crate::config::PostMortemConfig;
use crate::render::{PostMortemFacts, made_for, render_postmortem};
use crate::{ConfluenceClient, ConfluenceConfig, Error, Result};

/// The backend's name, in core's post-mortem records.
pub const BACKEND: &str = "confluence";
/// The event handler that creates the pages.
pub const HANDLER_POSTMORTEMS: &str = "confluence.postmortems";
/// Longest title Confluence takes (FireFighter shortens to it).
pub const MAX_TITLE_CHARS: usize = 250;

/// What creating an incident's post-mortem page did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostMortemOutcome {
    /// The incident already has its Confluence post-mortem recorded.
    AlreadyRecorded,
    /// The page was created now.
    Created(CreatedPage),
    /// The page existed (made by an earlier attempt) and was recorded.
    Adopted(CreatedPage),
}

/// FireFighter's `textwrap.shorten(text, width, placeholder="...")`:
/// whitespace collapsed, then whole words up to `width` characters, ending
/// with `...` when some were left out.
pub fn shorten(text: &str, width: usize) -> String {
    const PLACEHOLDER: &str = "...";
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() <= width {
        return joined;
    }
    let mut out = String::new();
    for word in &words {
        let len = out.chars().count();
        let extra = word.chars().count() + usize::from(!out.is_empty());
        if len + extra + PLACEHOLDER.len() > width {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        // One word longer than the width: cut it.
        out = joined
            .chars()
            .take(width.saturating_sub(PLACEHOLDER.len()))
            .collect();
    }
    out.push_str(PLACEHOLDER);
    out
}

/// How the incident is named in the title: its Slack channel's name when
/// there is one (`custom_fields["slack_channel_name"]`, with or without
/// `#`), else its canonical name (`YYYYMMDD-<id>` in `TIME_ZONE`), which
/// FireFighter's post-mortem title pattern also matches.
pub fn incident_reference(incident: &Incident, tz: chrono_tz::Tz) -> String {
    incident
        .custom_fields
        .get("slack_channel_name")
        .and_then(|v| v.as_str())
        .map(|name| name.trim().trim_start_matches('#').trim())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| incident.canonical_name(tz))
}

/// FireFighter's title: `[IGNORE - TEST <ENV>] ` outside production, then
/// `#<reference> (<priority>) <title>`, shortened to 250 characters.
pub fn postmortem_title(
    config: &PostMortemConfig,
    reference: &str,
    priority: &str,
    title: &str,
) -> String {
    shorten(
        &format!("{}#{reference} ({priority}) {title}", config.title_prefix()),
        MAX_TITLE_CHARS,
    )
}

/// Gathers what the page shows.
async fn facts(app: &Firefighter, id: IncidentId) -> Result<PostMortemFacts> {
    let details = app.incident_details(id).await?;
    let timeline = app.timeline(id).await?;
    let mut people = HashMap::new();
    let mut ids: Vec<UserId> = details.roles.iter().map(|r| r.user_id).collect();
    ids.extend(timeline.iter().filter_map(|t| t.created_by));
    ids.push(details.incident.created_by);
    ids.sort_unstable_by_key(|u| u.0);
    ids.dedup();
    for user in app.store().users(&ids).await? {
        let name = if user.name.is_empty() {
            user.email.to_string()
        } else {
            user.name.clone()
        };
        people.insert(user.id, name);
    }
    let tz = app.time_zone();
    Ok(PostMortemFacts {
        reference: incident_reference(&details.incident, tz),
        incident_url: app.settings().incident_url(id),
        app_name: app.settings().app_display_name.clone(),
        details,
        timeline,
        people,
        tz,
    })
}

/// Whether Confluence refused a page because its title is taken.
fn title_taken(e: &Error) -> bool {
    matches!(e, Error::Api { status: 400 | 409, message }
        if message.to_lowercase().contains("title") && message.to_lowercase().contains("exist"))
}

/// The page titled `title` in the space, when there is one: adopted when
/// it links to the incident, else [`Error::TitleTaken`].
async fn find_ours(
    client: &ConfluenceClient,
    config: &PostMortemConfig,
    space_id: &str,
    title: &str,
    facts: &PostMortemFacts,
) -> Result<Option<CreatedPage>> {
    let Some(found) = client
        .pages_titled(space_id, title)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let page = client.page(&found.id).await?;
    if !made_for(&page.body, &facts.incident_url) {
        return Err(Error::TitleTaken {
            title: title.to_owned(),
            page_id: found.id,
            space_key: config.space_key.clone(),
            incident: facts.details.incident.id.0,
        });
    }
    Ok(Some(CreatedPage {
        url: client.page_url(&found.id, found.links.webui.as_deref()),
        id: found.id,
        title: found.title,
    }))
}

/// A page of the folder made for the incident under an older title (its
/// title or priority changed between an attempt whose answer was lost and
/// this one): among the folder's children titled `#<reference> (`, the one
/// linking to the incident. Only when the folder is a page (the v2 API lists
/// a folder's children only for pages).
async fn find_renamed(
    client: &ConfluenceClient,
    config: &PostMortemConfig,
    facts: &PostMortemFacts,
) -> Result<Option<CreatedPage>> {
    let start = format!("{}#{} (", config.title_prefix(), facts.reference);
    let Some(children) = client.children(&config.folder_id).await? else {
        return Ok(None);
    };
    for child in children.into_iter().filter(|c| c.title.starts_with(&start)) {
        let page = client.page(&child.id).await?;
        if made_for(&page.body, &facts.incident_url) {
            return Ok(Some(CreatedPage {
                url: client.page_url(&child.id, child.links.webui.as_deref()),
                id: child.id,
                title: child.title,
            }));
        }
    }
    Ok(None)
}

/// Checks the folder is in the space (a folder proper cannot be checked:
/// the API does not say its space; Confluence refuses the create then).
async fn check_folder(
    client: &ConfluenceClient,
    config: &PostMortemConfig,
    space_id: &str,
) -> Result<()> {
    match client.parent_space(&config.folder_id).await {
        Ok(Some(folder_space)) if folder_space != space_id => Err(Error::FolderInAnotherSpace {
            folder_id: config.folder_id.clone(),
            folder_space_id: folder_space,
            space_key: config.space_key.clone(),
            space_id: space_id.to_owned(),
        }),
        Ok(_) => Ok(()),
        Err(Error::PageNotFound(_)) => Err(Error::FolderNotFound(config.folder_id.clone())),
        Err(e) => Err(e),
    }
}

/// Puts the page first among the folder's post-mortems (newest first, as
/// FireFighter does): just before the newest other page whose title is a
/// post-mortem's. Only when the folder is a page (the v2 API lists a
/// folder's children only for pages); a failure is logged, the page stays
/// where Confluence put it (last).
async fn sort_first(client: &ConfluenceClient, config: &PostMortemConfig, page_id: &str) {
    let prefix = config.title_prefix();
    let children = match client.children(&config.folder_id).await {
        Ok(Some(children)) => children,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, page_id, "could not list the post-mortem folder; the page is not moved");
            return;
        }
    };
    let newest = children
        .into_iter()
        .filter(|c| c.id != page_id)
        .filter(|c| {
            c.title.starts_with('#') || (!prefix.is_empty() && c.title.starts_with(&prefix))
        })
        .filter_map(|c| c.id.parse::<u64>().ok().map(|n| (n, c.id)))
        .max_by_key(|(n, _)| *n);
    if let Some((_, target)) = newest
        && let Err(e) = client.move_before(page_id, &target).await
    {
        tracing::warn!(error = %e, page_id, target, "could not move the post-mortem page first");
    }
}

/// Creates the incident's post-mortem page once (looked up by title first,
/// adopted when an earlier attempt made it) and records it in core.
pub async fn create_postmortem_page(
    app: &Firefighter,
    client: &ConfluenceClient,
    config: &PostMortemConfig,
    id: IncidentId,
) -> Result<PostMortemOutcome> {
    if app
        .postmortems(id)
        .await?
        .iter()
        .any(|d| d.backend == BACKEND)
    {
        return Ok(PostMortemOutcome::AlreadyRecorded);
    }
    let facts = facts(app, id).await?;
    let catalog = app.catalog().await?;
    let priority = catalog
        .priority(facts.details.incident.priority_id)
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let title = postmortem_title(
        config,
        &facts.reference,
        &priority,
        &facts.details.incident.title,
    );
    let space_id = client.space_id(&config.space_key).await?;
    let found = match find_ours(client, config, &space_id, &title, &facts).await? {
        Some(page) => Some(page),
        None => find_renamed(client, config, &facts).await?,
    };
    let outcome = match found {
        Some(page) => PostMortemOutcome::Adopted(page),
        None => {
            check_folder(client, config, &space_id).await?;
            let template = match &config.template_page_id {
                Some(template_id) => match client.page(template_id).await {
                    Ok(page) => page.body,
                    Err(Error::PageNotFound(_)) => {
                        return Err(Error::TemplateMissing(template_id.clone()));
                    }
                    Err(e) => return Err(e),
                },
                None => String::new(),
            };
            let body = render_postmortem(&template, &facts, &catalog);
            match client
                .create_page(&space_id, &config.folder_id, &title, &body)
                .await
            {
                Ok(page) => PostMortemOutcome::Created(page),
                // Made meanwhile (or by the attempt whose answer was lost).
                Err(e) if title_taken(&e) => {
                    match find_ours(client, config, &space_id, &title, &facts).await? {
                        Some(page) => PostMortemOutcome::Adopted(page),
                        None => return Err(e),
                    }
                }
                Err(Error::Api {
                    status: status @ (401 | 403),
                    message,
                }) => {
                    return Err(Error::Api {
                        status,
                        message: format!(
                            "{message} (CONFLUENCE_USERNAME needs the permission to add pages in space \"{}\" under {}; grant it, then re-queue this delivery)",
                            config.space_key, config.folder_id
                        ),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    };
    let (PostMortemOutcome::Created(page) | PostMortemOutcome::Adopted(page)) = &outcome else {
        return Ok(outcome);
    };
    sort_first(client, config, &page.id).await;
    app.record_postmortem(id, BACKEND, &page.id, &page.url)
        .await?;
    Ok(outcome)
}

/// The `confluence.postmortems` event handler.
#[derive(Debug)]
pub struct PostMortemHandler {
    client: ConfluenceClient,
    config: PostMortemConfig,
    app: AppHandle,
}

impl PostMortemHandler {
    /// The handler for this configuration.
    pub fn new(
        client: ConfluenceClient,
        config: PostMortemConfig,
        app: AppHandle,
    ) -> PostMortemHandler {
        PostMortemHandler {
            client,
            config,
            app,
        }
    }
}

#[async_trait]
impl EventHandler for PostMortemHandler {
    fn name(&self) -> &str {
        HANDLER_POSTMORTEMS
    }

    async fn handle(&self, delivery: &Delivery) -> std::result::Result<(), HandlerError> {
        let IncidentEvent::PostMortemRequested { backend } = &delivery.event.event else {
            return Ok(());
        };
        if backend != BACKEND {
            return Ok(());
        }
        let Some(app) = self.app.get() else {
            return Err(HandlerError::retry("the application is not running yet"));
        };
        let id = delivery.event.incident_id;
        match create_postmortem_page(&app, &self.client, &self.config, id).await {
            Ok(outcome) => {
                tracing::info!(incident = id.0, ?outcome, "Confluence post-mortem");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(incident = id.0, error = %e, "Confluence post-mortem not created");
                let outcome = HandlerError::classify(&e);
                if matches!(outcome, HandlerError::Permanent(_)) {
                    // Retrying will not help: the responders are told what to fix,
                    // in the incident's timeline and its conversation.
                    let text = format!("The Confluence post-mortem could not be created: {e}");
                    if let Err(told) = app
                        .publish(
                            id,
                            vec![IncidentEvent::Notice { text: text.clone() }],
                            Some((&text, None)),
                        )
                        .await
                    {
                        tracing::warn!(incident = id.0, error = %told, "could not tell the responders");
                    }
                }
                Err(outcome)
            }
        }
    }
}

/// The `confluence` post-mortem backend: the recorded page is ready when it
/// carries the ready label.
#[derive(Debug)]
pub struct ConfluencePostMortems {
    client: ConfluenceClient,
    ready_label: String,
    store: Arc<dyn Store>,
}

impl ConfluencePostMortems {
    /// The backend over core's records in `store`.
    pub fn new(
        client: ConfluenceClient,
        config: &PostMortemConfig,
        store: Arc<dyn Store>,
    ) -> ConfluencePostMortems {
        ConfluencePostMortems {
            client,
            ready_label: config.ready_label.to_lowercase(),
            store,
        }
    }
}

#[async_trait]
impl PostMortemProvider for ConfluencePostMortems {
    fn name(&self) -> &str {
        BACKEND
    }

    async fn state(&self, incident: &Incident) -> PostMortemState {
        let record = match firefighter_core::postmortem::recorded_postmortem(
            self.store.as_ref(),
            incident.id,
            BACKEND,
        )
        .await
        {
            Ok(record) => record,
            Err(state) => return state,
        };
        match self.client.labels(&record.external_id).await {
            Ok(labels) if labels.contains(&self.ready_label) => PostMortemState::Ready,
            Ok(_) => PostMortemState::NotReady(format!("not labelled {}", self.ready_label)),
            Err(e) => PostMortemState::Unknown(format!(
                "could not read the labels of the Confluence page {}: {e}",
                record.external_id
            )),
        }
    }
}

static BACKEND_OFF: firefighter_core::env_vars::LogOnce =
    firefighter_core::env_vars::LogOnce::new();

/// The Confluence configuration with the post-mortem backend on, if it is.
fn postmortem_settings() -> firefighter_core::Result<Option<(ConfluenceClient, PostMortemConfig)>> {
    let config =
        ConfluenceConfig::from_env().map_err(|e| firefighter_core::Error::Config(e.to_string()))?;
    let Some(config) = config else {
        return Ok(None);
    };
    let pm = match &config.postmortems {
        Ok(pm) => pm.clone(),
        Err(why) => {
            BACKEND_OFF.info(&format!("Confluence post-mortems are switched off: {why}"));
            return Ok(None);
        }
    };
    let client = ConfluenceClient::new(&config)
        .map_err(|e| firefighter_core::Error::Config(e.to_string()))?;
    Ok(Some((client, pm)))
}

fn build_handler(ctx: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn EventHandler>>> {
    Ok(postmortem_settings()?.map(|(client, pm)| {
        Arc::new(PostMortemHandler::new(client, pm, ctx.app_handle())) as Arc<dyn EventHandler>
    }))
}

fn build_provider(
    ctx: &PluginContext,
) -> firefighter_core::Result<Option<Arc<dyn PostMortemProvider>>> {
    Ok(postmortem_settings()?.map(|(client, pm)| {
        Arc::new(ConfluencePostMortems::new(client, &pm, ctx.store.clone()))
            as Arc<dyn PostMortemProvider>
    }))
}

firefighter_core::register_event_handler!(EventHandlerRegistration {
    name: HANDLER_POSTMORTEMS,
    build: build_handler,
});

firefighter_core::register_postmortem_provider!(PostMortemRegistration {
    name: BACKEND,
    build: build_provider,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_follow_fire_fighter() {
        let mut config = PostMortemConfig::new("PM", "1");
        config.env = "prod".into();
        assert_eq!(
            postmortem_title(&config, "20260101-12-prd-checkout", "P1", "Checkout  fails"),
            "#20260101-12-prd-checkout (P1) Checkout fails"
        );
        config.env = "staging".into();
        let long = "word ".repeat(80);
        let title = postmortem_title(&config, "inc", "P2", &long);
        assert!(
            title.starts_with("[IGNORE - TEST staging] #inc (P2) word"),
            "{title}"
        );
        assert!(title.ends_with("word..."), "{title}");
        assert!(
            title.chars().count() <= MAX_TITLE_CHARS,
            "{}",
            title.chars().count()
        );
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("aaaaaaaaaaaaaaa", 10), "aaaaaaa...");
        assert_eq!(shorten("one two three", 10), "one two...");
    }

    #[test]
    fn titles_take_on_lost_answers_as_taken_titles() {
        assert!(title_taken(&Error::Api {
            status: 400,
            message: "A page with this title already exists".into()
        }));
        assert!(!title_taken(&Error::Api {
            status: 400,
            message: "Invalid parent".into()
        }));
        assert!(!title_taken(&Error::Api {
            status: 500,
            message: "title exists".into()
        }));
    }
}
