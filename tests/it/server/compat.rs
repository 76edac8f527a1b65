//! Compatibility with the original's API schema: every field its components
//! require is present in our responses with the right JSON type.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::support::{client, spawn_app};

/// Where ours knowingly differs: the original's cost and cost type ids are
/// integers, ours are UUIDs everywhere; `duration_seconds` is typed string by
/// the original's schema generator (an unannotated method field) but the
/// original sends a number, as we do.
const DEVIATIONS: &[(&str, &str)] = &[
    ("IncidentCost", "id"),
    ("IncidentCostType", "id"),
    ("IncidentMetric", "duration_seconds"),
];

fn schema() -> Value {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/firefighter-openapi.yaml");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/server/fixtures/firefighter-openapi-components.yaml");
    let path = if shared.exists() { shared } else { fixture };
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Problems of `value` against component `name`: a field of the original's
/// schema that we do not send (required or not: its clients read them all),
/// or a wrong type.
fn check(schemas: &Value, name: &str, value: &Value, path: &str, problems: &mut Vec<String>) {
    let component = &schemas[name];
    let props = component["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for field in props.keys().map(String::as_str) {
        let spec = &props[field];
        if spec["writeOnly"] == true {
            continue;
        }
        if DEVIATIONS.contains(&(name, field)) {
            continue;
        }
        let Some(v) = value.get(field) else {
            problems.push(format!("{path}.{field} is missing"));
            continue;
        };
        check_type(schemas, spec, v, &format!("{path}.{field}"), problems);
    }
}

fn check_type(schemas: &Value, spec: &Value, v: &Value, path: &str, problems: &mut Vec<String>) {
    if v.is_null() {
        if spec["nullable"] != true {
            problems.push(format!("{path} is null"));
        }
        return;
    }
    let reference = spec["$ref"]
        .as_str()
        .or_else(|| spec["allOf"][0]["$ref"].as_str());
    if let Some(r) = reference {
        let name = r.rsplit('/').next().unwrap();
        let target = &schemas[name];
        if let Some(item) = target["additionalProperties"]["$ref"].as_str() {
            let item = item.rsplit('/').next().unwrap();
            match v.as_object() {
                Some(map) => {
                    for (k, each) in map {
                        check(schemas, item, each, &format!("{path}.{k}"), problems);
                    }
                }
                None => problems.push(format!("{path} should be an object")),
            }
        } else if target["type"] == "object" {
            if v.is_object() {
                check(schemas, name, v, path, problems);
            } else {
                problems.push(format!("{path} should be an object"));
            }
        }
        return;
    }
    let ok = match spec["type"].as_str() {
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        Some("array") => v.is_array(),
        Some("object") => v.is_object(),
        _ => true,
    };
    if !ok {
        problems.push(format!("{path} should be a {}, got {v}", spec["type"]));
    }
}

#[tokio::test]
async fn responses_carry_every_field_of_the_original_schema() {
    let schema = schema();
    let schemas = &schema["components"]["schemas"];
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let v = app
        .declare(&token, "Compatibility check of the API", json!({}))
        .await;
    let id = v["id"].as_i64().unwrap();
    let c = client();
    c.post(app.api(&format!("incidents/{id}/costs")))
        .bearer_auth(&token)
        .json(&json!({"cost_type_id": app.catalog.cost_types[0].id, "amount": "5.00"}))
        .send()
        .await
        .unwrap();
    c.put(app.api(&format!("incidents/{id}/key_events")))
        .bearer_auth(&token)
        .json(&json!({"started": (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339(), "detected": chrono::Utc::now().to_rfc3339()}))
        .send()
        .await
        .unwrap();

    let mut samples: BTreeMap<&str, Value> = BTreeMap::new();
    let get = |path: String| {
        let c = c.clone();
        let url = app.api(&path);
        let token = token.clone();
        async move {
            c.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    samples.insert("Incident", get(format!("incidents/{id}/")).await);
    samples.insert("Priority", get("severities/".into()).await[0].clone());
    samples.insert("Environment", get("environments/".into()).await[0].clone());
    samples.insert("Group", get("groups/".into()).await[0].clone());
    samples.insert(
        "IncidentCategory",
        get("incident-categories/".into()).await[0].clone(),
    );
    samples.insert(
        "IncidentCostType",
        get("incident_cost_types/".into()).await[0].clone(),
    );
    samples.insert(
        "IncidentCost",
        get("incident_costs/".into()).await[0].clone(),
    );
    let list = get("incidents/?show_tags=true".into()).await;

    let mut problems = Vec::new();
    // The answer of the declaration itself, too.
    check(schemas, "Incident", &v, "POST incidents", &mut problems);
    for (name, value) in &samples {
        assert!(schemas[*name].is_object(), "the schema has {name}");
        check(schemas, name, value, name, &mut problems);
    }
    check(
        schemas,
        "Incident",
        &list[0],
        "incidents/[0]",
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:#?}");
    // The metrics, roles and costs maps were filled, so their items were checked.
    let incident = &samples["Incident"];
    assert!(!incident["metrics"].as_object().unwrap().is_empty());
    assert!(!incident["costs"].as_object().unwrap().is_empty());
    assert!(!incident["roles"].as_object().unwrap().is_empty());
}
