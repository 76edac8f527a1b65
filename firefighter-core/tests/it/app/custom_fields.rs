//! `set_custom_fields`: keys merged into the incident's `custom_fields`
//! with one timeline entry; setting the same values again writes nothing.

use serde_json::json;

use super::support::*;

#[tokio::test]
async fn custom_fields_are_set_once_with_a_timeline_entry() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = app
        .declare(declaration(&app, &jane, "P3", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    let before = app.timeline(id).await.unwrap().len();
    let mut fields = serde_json::Map::new();
    fields.insert("jira_ticket_key".into(), json!("INC-7"));
    fields.insert("jira_ticket_url".into(), json!("https://x/browse/INC-7"));
    assert!(
        app.set_custom_fields(id, fields.clone(), "Jira ticket INC-7 created")
            .await
            .unwrap()
    );
    // The same values again: nothing written.
    assert!(
        !app.set_custom_fields(id, fields.clone(), "Jira ticket INC-7 created")
            .await
            .unwrap()
    );
    let incident = app.incident(id).await.unwrap();
    assert_eq!(incident.custom_fields["jira_ticket_key"], json!("INC-7"));
    assert_eq!(
        incident.custom_fields["jira_ticket_url"],
        json!("https://x/browse/INC-7")
    );
    let timeline = app.timeline(id).await.unwrap();
    assert_eq!(timeline.len(), before + 1);
    assert!(
        timeline
            .iter()
            .filter(|t| t.event_type.as_deref() == Some("custom_fields"))
            .all(|t| t.message.as_deref() == Some("Jira ticket INC-7 created"))
    );
    // Other keys are kept.
    let mut other = serde_json::Map::new();
    other.insert("x".into(), json!(1));
    assert!(app.set_custom_fields(id, other, "x").await.unwrap());
    let incident = app.incident(id).await.unwrap();
    assert_eq!(incident.custom_fields["jira_ticket_key"], json!("INC-7"));
    assert_eq!(incident.custom_fields["x"], json!(1));
    // Nothing to set is refused.
    assert!(
        app.set_custom_fields(id, serde_json::Map::new(), "none")
            .await
            .is_err()
    );
}
