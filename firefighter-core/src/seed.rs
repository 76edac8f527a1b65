//! Reference data every installation starts with: priorities, environments,
//! role types, key event types, metric types, impact types, cost types and a
//! small demo set of groups and categories. Ids are derived from names, so
//! seeding is idempotent even when several instances start at once.

use std::time::Duration;

use uuid::Uuid;

use crate::{
    CategoryId, CostType, CostTypeId, Environment, EnvironmentId, Group, GroupId, ImpactLevel,
    ImpactLevelOption, ImpactType, IncidentCategory, MetricType, MilestoneType, Priority,
    PriorityId, Result, RoleType, RoleTypeId, Store, key_event,
};

fn id(kind: &str, name: &str) -> Uuid {
    // A fixed namespace: the same name always gives the same id.
    const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_52d8_7a0e_4b8e_9d4f_1f1e_f1f1_0001);
    Uuid::new_v5(&NAMESPACE, format!("{kind}:{name}").as_bytes())
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// The seeded priorities.
pub fn priorities() -> Vec<Priority> {
    let p = |name: &str,
             value: i32,
             order: i32,
             emoji: &str,
             description: &str,
             default: bool,
             pm: bool,
             sla: u64| {
        Priority {
            id: PriorityId(id("priority", name)),
            name: name.into(),
            value,
            emoji: emoji.into(),
            description: description.into(),
            order,
            default,
            needs_postmortem: pm,
            enabled_create: true,
            enabled_update: true,
            reminder_time: Duration::from_secs(HOUR),
            postmortem_reminder_time: std::time::Duration::from_secs(5 * 24 * 3600),
            postmortem_reminder_repeat_time: std::time::Duration::ZERO,
            sla: Duration::from_secs(sla),
            recommended_response_type: None,
        }
    };
    vec![
        p(
            "P1",
            1,
            0,
            "🌪️",
            "Critical: most customers or the whole business are hit.",
            false,
            true,
            2 * HOUR,
        ),
        p(
            "P2",
            2,
            1,
            "⛈️",
            "Major: a large share of customers is hit.",
            false,
            true,
            4 * HOUR,
        ),
        p(
            "P3",
            3,
            2,
            "🌩️",
            "Minor: some customers are hit.",
            false,
            false,
            DAY,
        ),
        p(
            "P4",
            4,
            3,
            "🌦️",
            "Minor: no customer is hit.",
            true,
            false,
            5 * DAY,
        ),
        p(
            "P5",
            5,
            4,
            "🐞",
            "Cosmetic: nobody is really hit.",
            false,
            false,
            10 * DAY,
        ),
        p(
            "GAMEDAY",
            20,
            20,
            "🤡",
            "Game day exercise.",
            false,
            false,
            HOUR,
        ),
    ]
}

/// The seeded environments.
pub fn environments() -> Vec<Environment> {
    let e = |value: &str, name: &str, description: &str, order: i32, default: bool| Environment {
        id: EnvironmentId(id("environment", value)),
        value: value.into(),
        name: name.into(),
        description: description.into(),
        order,
        default,
    };
    vec![
        e("PRD", "Production", "What customers use.", 0, true),
        e("STG", "Staging", "Pre-production.", 1, false),
        e("INT", "Integration", "Shared test environment.", 3, false),
    ]
}

/// The seeded role types.
pub fn role_types() -> Vec<RoleType> {
    vec![
        RoleType {
            id: RoleTypeId(id("role_type", crate::role::COMMANDER)),
            slug: crate::role::COMMANDER.into(),
            name: "Commander".into(),
            emoji: "🧑‍✈️".into(),
            required: true,
            order: 1,
            summary: "Leads the response and makes the calls.".into(),
            description: "Keeps the response organised: sets priorities, delegates, decides when the incident is mitigated, and makes sure updates go out.".into(),
            aka: "Incident commander, IC".into(),
        },
        RoleType {
            id: RoleTypeId(id("role_type", crate::role::COMMUNICATION_LEAD)),
            slug: crate::role::COMMUNICATION_LEAD.into(),
            name: "Communication Lead".into(),
            emoji: "🧑‍💼".into(),
            required: false,
            order: 2,
            summary: "Keeps everyone outside the response informed.".into(),
            description: "Writes the status updates for stakeholders and customers, so that responders can focus on the fix.".into(),
            aka: "Comms lead".into(),
        },
    ]
}

/// The seeded key event types.
pub fn milestone_types() -> Vec<MilestoneType> {
    let m = |event_type: &str,
             name: &str,
             summary: &str,
             editable: bool,
             required: bool,
             asked: bool| MilestoneType {
        event_type: event_type.into(),
        name: name.into(),
        summary: summary.into(),
        user_editable: editable,
        required,
        asked_for: asked,
        description: String::new(),
    };
    vec![
        m(
            key_event::STARTED,
            "Started",
            "When the impact began.",
            true,
            true,
            true,
        ),
        m(
            key_event::DETECTED,
            "Detected",
            "When someone or something noticed.",
            true,
            true,
            true,
        ),
        m(
            key_event::DECLARED,
            "Declared",
            "When the incident was declared.",
            false,
            true,
            true,
        ),
        m(
            key_event::RECOVERED,
            "Recovered",
            "When the impact ended.",
            true,
            true,
            true,
        ),
        m(
            key_event::MITIGATED,
            "Mitigated",
            "When the status became Mitigated.",
            false,
            false,
            false,
        ),
        m(
            key_event::RESOLVED,
            "Resolved",
            "When the incident was closed.",
            false,
            false,
            false,
        ),
    ]
}

/// The seeded metric types.
pub fn metric_types() -> Vec<MetricType> {
    let t = |slug: &str, code: &str, name: &str, end: &str, start: &str, description: &str| {
        MetricType {
            slug: slug.into(),
            code: code.into(),
            name: name.into(),
            description: description.into(),
            end_event: end.into(),
            start_event: start.into(),
        }
    };
    use key_event::*;
    vec![
        t(
            "time_to_detect",
            "TTD",
            "Time to detect",
            DETECTED,
            STARTED,
            "From the start of the impact to its detection.",
        ),
        t(
            "time_to_internal_response",
            "TTA",
            "Time to respond internally",
            DECLARED,
            STARTED,
            "From the start of the impact to the declaration.",
        ),
        t(
            "time_to_repair",
            "TTRep",
            "Time to repair",
            MITIGATED,
            DECLARED,
            "From the declaration to the Mitigated status.",
        ),
        t(
            "time_to_fix",
            "TTF",
            "Time to fix",
            RECOVERED,
            DECLARED,
            "From the declaration to the end of the impact.",
        ),
        t(
            "time_to_recovery",
            "TTRec",
            "Time to recover",
            RECOVERED,
            STARTED,
            "From the start to the end of the impact.",
        ),
        t(
            "time_to_respond",
            "TTResp",
            "Time to respond",
            RECOVERED,
            DETECTED,
            "From detection to the end of the impact.",
        ),
        t(
            "time_to_resolve",
            "TTReso",
            "Time to resolve",
            RESOLVED,
            STARTED,
            "From the start of the impact to the closing.",
        ),
    ]
}

/// The seeded cost types.
pub fn cost_types() -> Vec<CostType> {
    let c = |name: &str, category: &str, description: &str| CostType {
        id: CostTypeId(id("cost_type", name)),
        name: name.into(),
        description: description.into(),
        category: category.into(),
        default: false,
        editable: true,
    };
    vec![
        c("Lost revenue", "business", "Sales that did not happen."),
        c(
            "Refunds and compensation",
            "business",
            "Money given back to customers.",
        ),
        c("Response effort", "people", "Time spent by responders."),
        c(
            "Infrastructure",
            "technical",
            "Extra infrastructure paid for during or after the incident.",
        ),
    ]
}

/// The seeded impact types.
pub fn impact_types() -> Vec<ImpactType> {
    let level = |level: ImpactLevel, name: &str, description: &str| ImpactLevelOption {
        level,
        name: name.into(),
        description: description.into(),
    };
    let none = || level(ImpactLevel::None, "None", "Not impacted.");
    vec![
        ImpactType {
            value: "business_impact".into(),
            name: "Business".into(),
            emoji: "💰".into(),
            help_text: "Revenue, reputation, legal exposure.".into(),
            order: 0,
            levels: vec![
                level(
                    ImpactLevel::Highest,
                    "Critical",
                    "Large revenue loss or a legal or reputational crisis.",
                ),
                level(
                    ImpactLevel::High,
                    "Major",
                    "Noticeable revenue loss or press exposure.",
                ),
                level(ImpactLevel::Medium, "Moderate", "Limited revenue loss."),
                none(),
            ],
        },
        ImpactType {
            value: "customers_impact".into(),
            name: "Customers".into(),
            emoji: "👥".into(),
            help_text: "People who buy from us.".into(),
            order: 1,
            levels: vec![
                level(
                    ImpactLevel::Highest,
                    "Critical",
                    "Most customers cannot buy or use the service.",
                ),
                level(
                    ImpactLevel::High,
                    "Major",
                    "Many customers are blocked on an important flow.",
                ),
                level(
                    ImpactLevel::Medium,
                    "Moderate",
                    "Some customers are hindered.",
                ),
                level(
                    ImpactLevel::Low,
                    "Minor",
                    "A few customers see a glitch with a workaround.",
                ),
                level(ImpactLevel::Lowest, "Cosmetic", "A visual glitch."),
                none(),
            ],
        },
        ImpactType {
            value: "sellers_impact".into(),
            name: "Sellers".into(),
            emoji: "📦".into(),
            help_text: "Partners who sell through us.".into(),
            order: 2,
            levels: vec![
                level(
                    ImpactLevel::Highest,
                    "Critical",
                    "Most sellers cannot work.",
                ),
                level(
                    ImpactLevel::High,
                    "Major",
                    "Many sellers are blocked on an important flow.",
                ),
                level(
                    ImpactLevel::Medium,
                    "Moderate",
                    "Some sellers are hindered.",
                ),
                level(
                    ImpactLevel::Low,
                    "Minor",
                    "A few sellers see a glitch with a workaround.",
                ),
                level(ImpactLevel::Lowest, "Cosmetic", "A visual glitch."),
                none(),
            ],
        },
        ImpactType {
            value: "employees_impact".into(),
            name: "Employees".into(),
            emoji: "🧑‍💼".into(),
            help_text: "People who work here.".into(),
            order: 3,
            levels: vec![
                level(
                    ImpactLevel::Highest,
                    "Critical",
                    "Most employees cannot work.",
                ),
                level(ImpactLevel::High, "Major", "A whole team cannot work."),
                level(
                    ImpactLevel::Medium,
                    "Moderate",
                    "Some employees are slowed down.",
                ),
                level(
                    ImpactLevel::Low,
                    "Minor",
                    "A few employees see a glitch with a workaround.",
                ),
                level(ImpactLevel::Lowest, "Cosmetic", "A visual glitch."),
                none(),
            ],
        },
    ]
}

/// A small demo set of groups and their categories.
pub fn groups_and_categories() -> (Vec<Group>, Vec<IncidentCategory>) {
    // (group, description, [(category, private)])
    type Demo<'a> = (&'a str, &'a str, &'a [(&'a str, bool)]);
    let demo: &[Demo<'_>] = &[
        (
            "Storefront",
            "What customers see and use.",
            &[
                ("Website", false),
                ("Mobile apps", false),
                ("Search", false),
            ],
        ),
        (
            "Payments",
            "Taking and giving back money.",
            &[("Checkout", false), ("Refunds", false)],
        ),
        (
            "Platform",
            "Infrastructure shared by every team.",
            &[("Network", false), ("Databases", false), ("CI/CD", false)],
        ),
        (
            "Security",
            "Threats and vulnerabilities.",
            &[("Vulnerability", true), ("Data leak", true)],
        ),
        ("Other", "Everything else.", &[("Other", false)]),
    ];
    let mut groups = Vec::new();
    let mut categories = Vec::new();
    for (gi, (name, description, cats)) in demo.iter().enumerate() {
        let group_id = GroupId(id("group", name));
        groups.push(Group {
            id: group_id,
            name: (*name).into(),
            description: (*description).into(),
            order: gi as i32,
        });
        for (ci, (cat, private)) in cats.iter().enumerate() {
            categories.push(IncidentCategory {
                id: CategoryId(id("category", &format!("{name}/{cat}"))),
                name: (*cat).into(),
                description: String::new(),
                order: ci as i32,
                group_id,
                private: *private,
                deploy_warning: !*private,
                enabled_create: true,
            });
        }
    }
    (groups, categories)
}

/// Seeds the reference data once. Returns whether anything was written.
pub async fn seed(store: &dyn Store) -> Result<bool> {
    if store.seeded().await? {
        return Ok(false);
    }
    for p in priorities() {
        store.upsert_priority(&p).await?;
    }
    for e in environments() {
        store.upsert_environment(&e).await?;
    }
    for r in role_types() {
        store.upsert_role_type(&r).await?;
    }
    for m in milestone_types() {
        store.upsert_milestone_type(&m).await?;
    }
    for m in metric_types() {
        store.upsert_metric_type(&m).await?;
    }
    for c in cost_types() {
        store.upsert_cost_type(&c).await?;
    }
    for i in impact_types() {
        store.upsert_impact_type(&i).await?;
    }
    let (groups, categories) = groups_and_categories();
    for g in groups {
        store.upsert_group(&g).await?;
    }
    for c in categories {
        store.upsert_category(&c).await?;
    }
    store.mark_seeded().await?;
    tracing::info!("reference data seeded");
    Ok(true)
}
