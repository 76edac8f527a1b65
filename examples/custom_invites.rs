//! A custom invitation strategy, written as a team using firefighter would:
//! "for payment incidents, page the payments guild; for P1s, add the VP on duty".
//!
//! Run it with `cargo run --example custom_invites`. It uses a throwaway
//! in-memory database and prints who would be invited to a few incidents.

use std::sync::Arc;

use async_trait::async_trait;
use firefighter::core::invite::{
    InviteCandidate, InviteContext, InviteProviderRegistration, ProviderError,
};
use firefighter::core::plugin::PluginContext;
use firefighter::core::store::SqliteStore;
use firefighter::core::{Email, Firefighter, InviteProvider, NewUser, Settings, Store, UserId};

/// Invites the members of a guild when the incident's category belongs to its group.
struct GuildProvider {
    store: Arc<dyn Store>,
}

/// Who is in which guild. A real team would read this from its HR system or a
/// synced table; here it is a fixed list of e-mails.
const GUILDS: &[(&str, &[&str])] = &[
    ("Payments", &["pay-lead@example.com", "pay-sre@example.com"]),
    ("Platform", &["platform-sre@example.com"]),
];

/// Always invited to P1s, whatever the category.
const VP_ON_DUTY: &str = "vp@example.com";

#[async_trait]
impl InviteProvider for GuildProvider {
    fn name(&self) -> &str {
        "example.guilds"
    }

    async fn invitees(
        &self,
        incident: &InviteContext,
    ) -> Result<Vec<InviteCandidate>, ProviderError> {
        let catalog = self
            .store
            .catalog()
            .await
            .map_err(|e| ProviderError(e.to_string()))?;
        let group = catalog
            .groups
            .iter()
            .find(|g| g.id == incident.category.group_id)
            .map(|g| g.name.as_str())
            .unwrap_or_default();
        let mut wanted: Vec<(String, String)> = GUILDS
            .iter()
            .filter(|(guild, _)| *guild == group)
            .flat_map(|(guild, emails)| {
                emails
                    .iter()
                    .map(move |e| ((*e).to_owned(), format!("member of the {guild} guild")))
            })
            .collect();
        if incident.priority.value == 1 {
            wanted.push((VP_ON_DUTY.to_owned(), "VP on duty for every P1".to_owned()));
        }
        let mut candidates = Vec::new();
        for (email, reason) in wanted {
            if let Some(user) = self
                .store
                .user_by_email(&email)
                .await
                .map_err(|e| ProviderError(e.to_string()))?
            {
                candidates.push(InviteCandidate::new(user.id, reason));
            }
        }
        Ok(candidates)
    }
}

fn build_guilds(ctx: &PluginContext) -> firefighter::core::Result<Option<Arc<dyn InviteProvider>>> {
    Ok(Some(Arc::new(GuildProvider {
        store: ctx.store.clone(),
    })))
}

// Static registration: any binary that links this code gets the provider.
firefighter::core::register_invite_provider!(InviteProviderRegistration {
    name: "example.guilds",
    build: build_guilds,
});

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect("sqlite::memory:").await?);
    let app = Firefighter::builder(Settings::default())
        .store(store.clone())
        .build()
        .await?;
    println!("registered invite providers: {:?}", app.invites().names());

    let mut users: Vec<(String, UserId)> = Vec::new();
    for email in [
        "pay-lead@example.com",
        "pay-sre@example.com",
        "platform-sre@example.com",
        VP_ON_DUTY,
        "jane@example.com",
    ] {
        let user = store
            .create_user(&NewUser::person(Email::parse(email)?))
            .await?;
        users.push((email.to_owned(), user.id));
    }
    let jane = users
        .iter()
        .find(|(e, _)| e == "jane@example.com")
        .map(|(_, id)| *id);
    let email_of = |id: UserId| {
        users
            .iter()
            .find(|(_, u)| *u == id)
            .map(|(e, _)| e.clone())
            .unwrap_or_default()
    };

    let catalog = app.catalog().await?;
    for (priority, category) in [
        ("P1", "Checkout"),
        ("P3", "Checkout"),
        ("P1", "Network"),
        ("P4", "Website"),
    ] {
        let priority = catalog
            .priorities
            .iter()
            .find(|p| p.name == priority)
            .expect("seeded priority");
        let category = catalog
            .categories
            .iter()
            .find(|c| c.name == category)
            .expect("seeded category");
        let resolution = app
            .dry_run_invites(priority.id, category.id, &[], None, jane, None)
            .await?;
        println!(
            "\n{} in {}: {} responder(s)",
            priority.name,
            category.name,
            resolution.invitees.len()
        );
        for invitee in &resolution.invitees {
            println!(
                "  - {} ({})",
                email_of(invitee.user_id),
                invitee.reasons.join("; ")
            );
        }
    }
    Ok(())
}
