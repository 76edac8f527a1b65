//! Post-mortem backends (Confluence, Jira) tell the lifecycle whether an
//! incident's post-mortem document exists and is ready.

use async_trait::async_trait;

use crate::{Incident, lifecycle::PostMortemState};

/// A post-mortem backend.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait PostMortemProvider: Send + Sync + 'static {
    /// The backend's name (`confluence`, `jira`).
    fn name(&self) -> &str;
    /// The state of the incident's post-mortem document. Errors are reported
    /// as [`PostMortemState::Unknown`], never hidden.
    async fn state(&self, incident: &Incident) -> PostMortemState;
}

/// Static registration of a post-mortem backend, submitted with
/// [`crate::register_postmortem_provider!`]. Only constant data and function
/// pointers can be submitted (an `inventory` rule).
#[derive(Debug)]
pub struct PostMortemRegistration {
    /// The backend's name (the one its provider answers in
    /// [`PostMortemProvider::name`]).
    pub name: &'static str,
    /// Builds the provider; `Ok(None)` when its integration is switched off.
    pub build: crate::plugin::PluginBuilder<dyn PostMortemProvider>,
}

inventory::collect!(PostMortemRegistration);

/// Names of every statically registered post-mortem backend, built or not (sorted).
pub fn registered_names() -> Vec<&'static str> {
    let mut names: Vec<_> = inventory::iter::<PostMortemRegistration>
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort_unstable();
    names
}

/// Registers a post-mortem backend from any crate.
#[macro_export]
macro_rules! register_postmortem_provider {
    ($registration:expr) => {
        $crate::__inventory::submit! { $registration }
    };
}

/// Combines the states of several backends: every enabled backend must be ready.
pub fn combine(states: Vec<PostMortemState>) -> PostMortemState {
    if states.is_empty() {
        return PostMortemState::NoBackend;
    }
    let mut result = PostMortemState::Ready;
    for state in states {
        let rank = |s: &PostMortemState| match s {
            PostMortemState::Unknown(_) => 4,
            PostMortemState::Missing => 3,
            PostMortemState::NotReady(_) => 2,
            PostMortemState::Ready => 1,
            PostMortemState::NoBackend => 0,
        };
        if rank(&state) > rank(&result) {
            result = state;
        }
    }
    result
}

/// The name of the post-mortem firefighter holds itself.
pub const BUILT_IN: &str = "firefighter";

/// One post-mortem document of an incident, in one backend.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PostMortem {
    /// The incident.
    pub incident_id: crate::IncidentId,
    /// The backend that holds it ([`BUILT_IN`], `confluence`, `jira`).
    pub backend: String,
    /// The backend's id of the document (empty for the built-in one).
    pub external_id: String,
    /// Where people read it.
    pub url: String,
    /// Marked ready (the built-in one; other backends tell through their state).
    pub ready: bool,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The sections of the built-in post-mortem that people write (the rest is
/// generated from the incident).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PostMortemNotes {
    /// Who and what was affected, for how long.
    pub impact: String,
    /// Why it happened.
    pub root_causes: String,
    /// What went well.
    pub went_well: String,
    /// What went badly.
    pub went_badly: String,
    /// When they were last saved.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Who saved them last.
    pub updated_by: Option<crate::UserId>,
}

/// The longest a written section may be.
pub const MAX_SECTION_CHARS: usize = 20_000;

impl PostMortemNotes {
    /// Checks the sections' lengths: a clear error per section that is too long.
    pub fn validate(&self) -> crate::Result<()> {
        validate_sections([
            ("impact", Some(&self.impact)),
            ("root_causes", Some(&self.root_causes)),
            ("went_well", Some(&self.went_well)),
            ("went_badly", Some(&self.went_badly)),
        ])
    }
}

/// A clear error per written section that is too long.
fn validate_sections(sections: [(&'static str, Option<&String>); 4]) -> crate::Result<()> {
    let mut problems = crate::error::Validation::default();
    for (field, text) in sections {
        let n = text.map_or(0, |t| t.chars().count());
        if n > MAX_SECTION_CHARS {
            problems.push(
                field,
                format!("at most {MAX_SECTION_CHARS} characters (got {n})"),
            );
        }
    }
    problems.finish()
}

/// Written sections to save: those left `None` keep their saved text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SectionsEdit {
    /// Who and what was affected, for how long.
    pub impact: Option<String>,
    /// Why it happened.
    pub root_causes: Option<String>,
    /// What went well.
    pub went_well: Option<String>,
    /// What went badly.
    pub went_badly: Option<String>,
}

impl SectionsEdit {
    /// Whether no section is given.
    pub fn is_empty(&self) -> bool {
        *self == SectionsEdit::default()
    }

    /// Checks the given sections' lengths.
    pub fn validate(&self) -> crate::Result<()> {
        validate_sections([
            ("impact", self.impact.as_ref()),
            ("root_causes", self.root_causes.as_ref()),
            ("went_well", self.went_well.as_ref()),
            ("went_badly", self.went_badly.as_ref()),
        ])
    }
}

impl From<&PostMortemNotes> for SectionsEdit {
    /// All four sections, replacing the saved ones.
    fn from(notes: &PostMortemNotes) -> Self {
        SectionsEdit {
            impact: Some(notes.impact.clone()),
            root_causes: Some(notes.root_causes.clone()),
            went_well: Some(notes.went_well.clone()),
            went_badly: Some(notes.went_badly.clone()),
        }
    }
}

/// A follow-up action of a post-mortem: something to do, by someone, by a date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FollowUpAction {
    /// Identifier.
    pub id: uuid::Uuid,
    /// The incident.
    pub incident_id: crate::IncidentId,
    /// What to do.
    pub description: String,
    /// Who does it (a name or an e-mail, as people write it).
    pub owner: String,
    /// By when.
    pub due_on: chrono::NaiveDate,
    /// Done.
    pub done: bool,
    /// When it was added.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A follow-up action to add, as a person typed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewFollowUpAction {
    /// What to do (1 to 500 characters).
    pub description: String,
    /// Who does it (1 to 200 characters).
    pub owner: String,
    /// By when.
    pub due_on: Option<chrono::NaiveDate>,
}

impl NewFollowUpAction {
    /// Validates every field; the action to store.
    pub fn validate(
        self,
        incident_id: crate::IncidentId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::Result<FollowUpAction> {
        let description = self.description.trim().to_owned();
        let owner = self.owner.trim().to_owned();
        let mut problems = crate::error::Validation::default();
        let length = |field: &'static str,
                      text: &str,
                      max: usize,
                      problems: &mut crate::error::Validation| {
            let n = text.chars().count();
            if n == 0 {
                problems.push(field, "this field is required");
            } else if n > max {
                problems.push(field, format!("at most {max} characters (got {n})"));
            }
        };
        length("description", &description, 500, &mut problems);
        length("owner", &owner, 200, &mut problems);
        if self.due_on.is_none() {
            problems.push("due_on", "a due date (YYYY-MM-DD) is required");
        }
        problems.finish()?;
        Ok(FollowUpAction {
            id: uuid::Uuid::now_v7(),
            incident_id,
            description,
            owner,
            due_on: self.due_on.unwrap_or_default(),
            done: false,
            created_at: now,
        })
    }
}

/// Changes to the built-in post-mortem made together (one API call): they
/// are applied in one transaction, or none is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostMortemEdit {
    /// Written sections to save (the others keep their text).
    pub sections: SectionsEdit,
    /// A follow-up action to add.
    pub add_action: Option<NewFollowUpAction>,
    /// Follow-up actions to mark done.
    pub done_actions: Vec<uuid::Uuid>,
    /// Follow-up actions to mark not done.
    pub undone_actions: Vec<uuid::Uuid>,
    /// Follow-up actions to remove.
    pub removed_actions: Vec<uuid::Uuid>,
    /// The ready mark closing waits for.
    pub ready: Option<bool>,
}

impl PostMortemEdit {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == PostMortemEdit::default()
    }
}

/// The built-in post-mortem as a backend: its readiness is the "ready" mark a
/// person sets on the incident's post-mortem page.
#[derive(Debug, Clone)]
pub struct BuiltInPostMortems {
    store: std::sync::Arc<dyn crate::Store>,
}

impl BuiltInPostMortems {
    /// The backend over this store.
    pub fn new(store: std::sync::Arc<dyn crate::Store>) -> BuiltInPostMortems {
        BuiltInPostMortems { store }
    }
}

/// The document `backend` recorded for `incident`; without one, the state
/// a provider reports: `Missing`, or `Unknown` when the records cannot be read.
pub async fn recorded_postmortem(
    store: &dyn crate::Store,
    incident: crate::IncidentId,
    backend: &str,
) -> Result<PostMortem, PostMortemState> {
    match store.postmortems(incident).await {
        Ok(docs) => docs
            .into_iter()
            .find(|d| d.backend == backend)
            .ok_or(PostMortemState::Missing),
        Err(e) => Err(PostMortemState::Unknown(format!(
            "could not read the post-mortem records: {e}"
        ))),
    }
}

#[async_trait]
impl PostMortemProvider for BuiltInPostMortems {
    fn name(&self) -> &str {
        BUILT_IN
    }

    async fn state(&self, incident: &Incident) -> PostMortemState {
        match recorded_postmortem(self.store.as_ref(), incident.id, BUILT_IN).await {
            Ok(d) if d.ready => PostMortemState::Ready,
            Ok(_) => PostMortemState::NotReady("draft".into()),
            Err(state) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::plugin::PluginContext;
    use crate::{Firefighter, Settings};

    /// Only on in the applications of these tests, so no other test of the
    /// crate meets a backend it did not ask for.
    const MARK: &str = "postmortem-registration-test";

    struct Registered;

    #[async_trait]
    impl PostMortemProvider for Registered {
        fn name(&self) -> &str {
            "registered-test"
        }

        async fn state(&self, _: &Incident) -> PostMortemState {
            PostMortemState::Missing
        }
    }

    fn build(ctx: &PluginContext) -> crate::Result<Option<Arc<dyn PostMortemProvider>>> {
        Ok((ctx.settings.app_display_name == MARK)
            .then(|| Arc::new(Registered) as Arc<dyn PostMortemProvider>))
    }

    crate::register_postmortem_provider!(PostMortemRegistration {
        name: "registered-test",
        build,
    });

    async fn backends(settings: Settings, registered: bool) -> crate::Result<Vec<String>> {
        let store = crate::store::SqliteStore::connect("sqlite::memory:").await?;
        let app = Firefighter::builder(settings)
            .store(Arc::new(store))
            .with_registered_plugins(registered)
            .build()
            .await?;
        Ok(app.postmortem_backends())
    }

    #[tokio::test]
    async fn registered_backends_are_built_after_the_built_in_one() {
        assert!(registered_names().contains(&"registered-test"));
        let on = Settings {
            app_display_name: MARK.into(),
            ..Settings::default()
        };
        assert_eq!(
            backends(on.clone(), true).await.unwrap(),
            vec![BUILT_IN.to_owned(), "registered-test".to_owned()]
        );
        assert_eq!(
            backends(
                Settings {
                    builtin_postmortem: false,
                    ..on.clone()
                },
                true
            )
            .await
            .unwrap(),
            vec!["registered-test".to_owned()]
        );
        // Switched off (its build answers None), or registrations not used.
        assert_eq!(
            backends(Settings::default(), true).await.unwrap(),
            vec![BUILT_IN.to_owned()]
        );
        assert_eq!(
            backends(on, false).await.unwrap(),
            vec![BUILT_IN.to_owned()]
        );
    }

    #[tokio::test]
    async fn two_backends_with_one_name_are_refused() {
        let store = crate::store::SqliteStore::connect("sqlite::memory:")
            .await
            .unwrap();
        let err = Firefighter::builder(Settings {
            app_display_name: MARK.into(),
            ..Settings::default()
        })
        .store(Arc::new(store))
        .postmortem_provider(Arc::new(Registered))
        .build()
        .await
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("two post-mortem backends are named \"registered-test\""),
            "{err}"
        );
    }
}
