//! The creation wizard: its view as impacts are picked, and its submission (recorded, declared after the acknowledgement).

use std::collections::BTreeMap;

use firefighter_core::{Declaration, ImpactLevel, UserId};
use serde_json::{Value, json};

use super::*;
use crate::models::inbound::{ViewState, ViewSubmission};
use crate::views::{self, WizardState};
use crate::{Result, Slack};

pub(super) fn wizard_state(
    catalog: &firefighter_core::store::Catalog,
    state: &ViewState,
) -> WizardState {
    let mut w = WizardState::default();
    for t in &catalog.impact_types {
        if let Some(level) = state
            .single(&format!("impact:{}", t.value))
            .and_then(|c| ImpactLevel::from_code(&c))
        {
            w.impacts.insert(t.value.clone(), level);
        }
    }
    w.category = state.single("category").and_then(|c| c.parse().ok());
    w.environments = state
        .many("environments")
        .iter()
        .filter_map(|e| e.parse().ok())
        .collect();
    w
}

impl Slack {
    /// The creation wizard for `user` (the review counts responders with a dry run).
    pub(crate) async fn wizard_view(
        &self,
        state: &WizardState,
        creator: Option<UserId>,
    ) -> Result<Value> {
        let app = self.app()?;
        let catalog = app.catalog().await?;
        let responders = match (state.suggested_priority(&catalog), state.category) {
            (Some(p), Some(c)) if p.value < 4 => app
                .dry_run_invites(
                    p.id,
                    c,
                    &state.environments,
                    None,
                    creator,
                    Some(crate::PLATFORM),
                )
                .await
                .ok()
                .map(|r| r.invitees.len().max(1)),
            _ => None,
        };
        Ok(views::open_wizard(
            &catalog,
            state,
            responders,
            self.config().severity_help_guide_url.as_deref(),
            !firefighter_core::oncall::is_office_hours(chrono::Utc::now(), app.time_zone()),
        ))
    }

    pub(super) async fn submit_open(&self, payload: &ViewSubmission) -> Result<Value> {
        let view = &payload.view;
        let app = self.app()?;
        let catalog = app.catalog().await?;
        let w = wizard_state(&catalog, &view.state);
        let mut errors = BTreeMap::new();
        let priority = w.suggested_priority(&catalog).cloned();
        if priority.is_none()
            && let Some(t) = catalog.impact_types.first()
        {
            errors.insert(
                format!("impact:{}", t.value),
                "Select at least one impact: without impact there is no incident.".to_owned(),
            );
        }
        if w.category.is_none() {
            errors.insert("category".into(), "Choose the incident category.".into());
        }
        if !errors.is_empty() {
            return Ok(response_errors(errors));
        }
        let title = view.state.single("title").unwrap_or_default();
        let description = view.state.single("description").unwrap_or_default();
        if let Err(e) = firefighter_core::Title::parse(&title) {
            errors.extend(field_errors(&e, &[], "title"));
        }
        if let Err(e) = firefighter_core::Description::parse(&description) {
            errors.extend(field_errors(&e, &[], "description"));
        }
        if let Some(c) = w.category
            && !catalog.categories.iter().any(|x| x.id == c)
        {
            errors.insert(
                "category".into(),
                "This category does not exist any more.".into(),
            );
        }
        if w.environments
            .iter()
            .any(|e| !catalog.environments.iter().any(|x| x.id == *e))
        {
            errors.insert(
                "environments".into(),
                "An environment does not exist any more.".into(),
            );
        }
        if !errors.is_empty() {
            return Ok(response_errors(errors));
        }
        let creator = self.user_id_for(&payload.user.id).await?;
        let mut custom = serde_json::Map::new();
        custom.insert(
            "impacts".into(),
            json!(
                w.impacts
                    .iter()
                    .map(|(k, v)| (k.clone(), v.code()))
                    .collect::<BTreeMap<_, _>>()
            ),
        );
        let label = priority
            .as_ref()
            .map(|p| format!("{} {}", p.emoji, p.name))
            .unwrap_or_default();
        let critical = priority
            .as_ref()
            .is_some_and(|p| p.response_type() == firefighter_core::ResponseType::Critical);
        let work = crate::submissions::DeclareWork {
            declaration: Declaration {
                title,
                description,
                priority_id: priority.as_ref().map(|p| p.id),
                category_id: w.category,
                environment_ids: w.environments.clone(),
                created_by: Some(creator),
                // The view id is stable while the modal is open: a second submission finds the first incident.
                dedup_key: Some(format!(
                    "slack-view:{}",
                    view.root_view_id.as_deref().unwrap_or(&view.id)
                )),
                custom_fields: custom,
                extras: json!({"source": "slack", "slack_user": payload.user.id}),
                ..Declaration::default()
            },
            view_id: view.id.clone(),
            label,
            critical,
        };
        // Recorded before the acknowledgement, declared after it; the modal then shows the outcome.
        match self
            .record_submission(crate::submissions::kind::DECLARE, &work, &payload.user.id)
            .await
        {
            Ok(row) => self.apply_submission_later(row),
            Err(e) => {
                return Ok(response_errors(BTreeMap::from([(
                    "title".to_owned(),
                    format!(":x: {e}. Nothing was declared; try again."),
                )])));
            }
        }
        Ok(response_notice(
            "Declaring the incident",
            ":hourglass_flowing_sand: Declaring the incident…",
        ))
    }
}
