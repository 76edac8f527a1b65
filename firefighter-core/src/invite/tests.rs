use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use super::*;
use crate::{CategoryId, GroupId};

struct Directory(HashMap<UserId, User>);

#[async_trait]
impl UserDirectory for Directory {
    async fn invitee_facts(
        &self,
        ids: &[UserId],
        platform: Option<&str>,
    ) -> Result<Vec<InviteeFacts>> {
        Ok(ids
            .iter()
            .filter_map(|id| self.0.get(id))
            .map(|u| InviteeFacts::of(u, platform))
            .collect())
    }
}

fn user(name: &str, slack: Option<&str>, active: bool, bot: bool) -> User {
    let mut identities = BTreeMap::new();
    if let Some(s) = slack {
        identities.insert("slack".to_owned(), s.to_owned());
    }
    User {
        id: UserId::new(),
        email: format!("{name}@example.com"),
        name: name.into(),
        is_active: active,
        is_staff: false,
        is_admin: false,
        bot,
        avatar: None,
        identities,
        created_at: Utc::now(),
    }
}

fn context(private: bool, created_by: Option<UserId>) -> InviteContext {
    InviteContext {
        incident_id: None,
        priority: crate::seed::priorities().remove(0),
        category: IncidentCategory {
            id: CategoryId::new(),
            name: "Checkout".into(),
            description: String::new(),
            order: 0,
            group_id: GroupId::new(),
            private: false,
            deploy_warning: true,
            enabled_create: true,
        },
        environments: crate::seed::environments(),
        private,
        created_by,
        role_holders: vec![],
    }
}

fn provider(name: &'static str, answer: Vec<InviteCandidate>) -> Arc<dyn InviteProvider> {
    let mut mock = MockInviteProvider::new();
    mock.expect_name().return_const(name.to_owned());
    mock.expect_includes_private().return_const(false);
    mock.expect_invitees()
        .returning(move |_| Ok(answer.clone()));
    Arc::new(mock)
}

fn candidate(u: &User, reason: &str) -> InviteCandidate {
    InviteCandidate {
        user_id: u.id,
        reason: reason.into(),
    }
}

#[tokio::test]
async fn merges_providers_keeps_every_reason_and_filters_users() {
    let alice = user("alice", Some("U1"), true, false);
    let bob = user("bob", Some("U2"), true, false);
    let gone = user("gone", Some("U3"), false, false);
    let robot = user("robot", Some("U4"), true, true);
    let no_slack = user("noslack", None, true, false);
    let creator = user("creator", Some("U5"), true, false);
    let directory = Directory(
        [&alice, &bob, &gone, &robot, &no_slack, &creator]
            .into_iter()
            .map(|u| (u.id, u.clone()))
            .collect(),
    );
    let mut registry = InviteRegistry::new();
    registry
        .register(provider(
            "a",
            vec![
                candidate(&alice, "in @sre"),
                candidate(&gone, "in @sre"),
                candidate(&robot, "in @sre"),
            ],
        ))
        .unwrap();
    registry
        .register(provider(
            "b",
            vec![
                candidate(&alice, "on call"),
                candidate(&bob, "on call"),
                candidate(&no_slack, "on call"),
            ],
        ))
        .unwrap();
    let result = registry
        .resolve(&context(false, Some(creator.id)), Some("slack"), &directory)
        .await
        .unwrap();
    let invited: HashMap<UserId, &Invitee> =
        result.invitees.iter().map(|i| (i.user_id, i)).collect();
    assert_eq!(invited.len(), 3, "{result:?}");
    assert_eq!(
        invited[&alice.id].reasons,
        vec![Arc::<str>::from("in @sre"), Arc::from("on call")]
    );
    assert_eq!(invited[&alice.id].external_id.as_deref(), Some("U1"));
    assert!(invited.contains_key(&bob.id));
    assert_eq!(
        invited[&creator.id].reasons,
        vec![Arc::<str>::from(CREATOR_REASON)]
    );
    let excluded: HashMap<UserId, &str> = result
        .excluded
        .iter()
        .map(|e| (e.user_id, e.why.as_str()))
        .collect();
    assert_eq!(excluded[&gone.id], "is deactivated");
    assert_eq!(excluded[&robot.id], "is a bot");
    assert_eq!(excluded[&no_slack.id], "has no slack account");
    // Without a platform, people without Slack are kept.
    let result = registry
        .resolve(&context(false, None), None, &directory)
        .await
        .unwrap();
    assert!(result.invitees.iter().any(|i| i.user_id == no_slack.id));
}

#[tokio::test(start_paused = true)]
async fn a_failing_or_slow_provider_does_not_lose_the_others() {
    let alice = user("alice", Some("U1"), true, false);
    let directory = Directory([(alice.id, alice.clone())].into_iter().collect());

    let mut failing = MockInviteProvider::new();
    failing.expect_name().return_const("failing".to_owned());
    failing.expect_includes_private().return_const(false);
    failing
        .expect_invitees()
        .returning(|_| Err(ProviderError("the directory is down".into())));

    struct Slow;
    #[async_trait]
    impl InviteProvider for Slow {
        fn name(&self) -> &str {
            "slow"
        }
        async fn invitees(&self, _: &InviteContext) -> Result<Vec<InviteCandidate>, ProviderError> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(vec![])
        }
    }

    let mut registry = InviteRegistry::new().with_timeout(Duration::from_secs(2));
    registry.register(Arc::new(failing)).unwrap();
    registry.register(Arc::new(Slow)).unwrap();
    registry
        .register(provider("good", vec![candidate(&alice, "in @sre")]))
        .unwrap();
    let result = registry
        .resolve(&context(false, None), Some("slack"), &directory)
        .await
        .unwrap();
    assert_eq!(result.invitees.len(), 1);
    assert_eq!(result.invitees[0].user_id, alice.id);
    let failed: Vec<&str> = result
        .failed_providers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(failed, vec!["failing", "slow"]);
    assert!(result.failed_providers[1].1.contains("timed out"));
}

#[tokio::test]
async fn private_incidents_only_ask_providers_that_opt_in() {
    let alice = user("alice", Some("U1"), true, false);
    let bob = user("bob", Some("U2"), true, false);
    let directory = Directory(
        [(alice.id, alice.clone()), (bob.id, bob.clone())]
            .into_iter()
            .collect(),
    );
    let mut opted_in = MockInviteProvider::new();
    opted_in.expect_name().return_const("category".to_owned());
    opted_in.expect_includes_private().return_const(true);
    let alice_id = alice.id;
    opted_in.expect_invitees().times(1).returning(move |ctx| {
        assert!(ctx.private, "providers are told the incident is private");
        Ok(vec![InviteCandidate {
            user_id: alice_id,
            reason: "owns the category".into(),
        }])
    });
    let mut public_only = MockInviteProvider::new();
    public_only.expect_name().return_const("oncall".to_owned());
    public_only.expect_includes_private().return_const(false);
    public_only.expect_invitees().never();
    let mut registry = InviteRegistry::new();
    registry.register(Arc::new(opted_in)).unwrap();
    registry.register(Arc::new(public_only)).unwrap();
    let result = registry
        .resolve(&context(true, None), Some("slack"), &directory)
        .await
        .unwrap();
    assert_eq!(
        result
            .invitees
            .iter()
            .map(|i| i.user_id)
            .collect::<Vec<_>>(),
        vec![alice.id]
    );
    assert_eq!(result.skipped_providers, vec!["oncall".to_owned()]);
}

#[test]
fn provider_names_are_unique() {
    let mut registry = InviteRegistry::new();
    registry.register(provider("same", vec![])).unwrap();
    let err = registry.register(provider("same", vec![])).unwrap_err();
    assert!(err.to_string().contains("same"));
}
