//! What the intake sends Jira: the label, the description, the fields.

use reqwest::Url;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{IntakeRequest, IntakeSettings};
use crate::JiraConfig;
use crate::models::adf;

/// The label of a keyed intake ticket: how a retry finds it. Made of the
/// caller's scope and the key, hashed (a label has no spaces and a bounded
/// length).
pub fn intake_label(scope: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{scope}\n{key}").as_bytes());
    format!("ff-intake-{}", &hex::encode(digest)[..32])
}

/// The description sent to Jira: the text, the additional information, and
/// the intake's footer.
pub fn intake_description(settings: &IntakeSettings, request: &IntakeRequest) -> String {
    let mut text = request.description.trim().to_owned();
    let mut addenda = Vec::new();
    if request.suggested_team_routing != "SBI" {
        addenda.push(format!(
            "Team suggested for routing: *{}*",
            request.suggested_team_routing
        ));
    }
    if let (Some(toolbox), Some(seller)) = (&settings.toolbox_url, &request.seller_contract_id)
        && let Ok(mut url) = Url::parse(toolbox)
    {
        url.query_pairs_mut().append_pair("seller_id", seller);
        addenda.push(format!("Seller in the toolbox: {url}"));
    }
    if !addenda.is_empty() {
        text = format!("{text}\n\n*Additional Information*\n{}", addenda.join("\n"));
    }
    let mut footer = "🤖 This ticket came in through FireFighter's ticket intake.".to_owned();
    if settings.is_outside(&request.reporter_email) {
        footer.push_str(&format!("\nReported by {}", request.reporter_email));
    }
    format!("{text}\n\n{footer}")
}

/// The `fields` of the create request.
pub fn intake_fields(
    config: &JiraConfig,
    settings: &IntakeSettings,
    request: &IntakeRequest,
    reporter: &str,
    label: Option<&str>,
) -> Map<String, Value> {
    let f = &config.fields;
    let mut fields = Map::new();
    fields.insert("project".into(), json!({ "key": request.project }));
    fields.insert("issuetype".into(), json!({ "name": request.issue_type }));
    fields.insert("summary".into(), json!(request.summary));
    fields.insert(
        "description".into(),
        adf::document(&intake_description(settings, request)),
    );
    fields.insert("reporter".into(), json!({ "id": reporter }));
    let mut labels = request.labels.clone();
    if let Some(label) = label {
        labels.push(label.to_owned());
    }
    fields.insert("labels".into(), json!(labels));
    let priority = request
        .priority
        .map_or_else(|| "-".to_owned(), |p| p.to_string());
    fields.insert(f.priority.clone(), json!({ "value": priority }));
    let environments: Vec<Value> = request
        .environments
        .iter()
        .map(|e| json!({ "value": e }))
        .collect();
    fields.insert(f.environments.clone(), Value::Array(environments));
    fields.insert(f.platform.clone(), json!({ "value": request.platform }));
    if let Some(impact) = &request.business_impact {
        fields.insert(f.business_impact.clone(), json!({ "value": impact }));
    }
    for (value, field) in [
        (&request.zendesk, &f.zendesk_ticket),
        (&request.zoho, &f.zoho_desk_ticket),
        (&request.seller_contract_id, &f.seller_contract_id),
    ] {
        if let Some(value) = value {
            fields.insert(field.clone(), json!(value));
        }
    }
    if let (Some(field), Some(category)) = (&f.incident_category, &request.incident_category) {
        fields.insert(field.clone(), json!({ "value": category }));
    }
    fields
}
