//! The OpenAPI document describes what the server does: real answers, good
//! and bad, are validated against the schema of their operation and status.

use serde_json::{Value, json};

use super::support::{TestApp, client, spawn_app};

/// Resolves `$ref`s of the document.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// The problems of `v` against `schema` (the subset of JSON Schema that
/// utoipa writes: types, required, properties, items, maps, oneOf/anyOf/allOf).
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    for (key, all) in [("oneOf", false), ("anyOf", false), ("allOf", true)] {
        if let Some(options) = schema[key].as_array() {
            let results: Vec<Vec<String>> = options
                .iter()
                .map(|o| {
                    let mut p = Vec::new();
                    validate(doc, o, v, at, &mut p);
                    p
                })
                .collect();
            let ok = if all {
                results.iter().all(Vec::is_empty)
            } else {
                results.iter().any(Vec::is_empty)
            };
            if !ok {
                problems.push(format!("{at}: matches no {key} branch: {results:?}"));
            }
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, v)) {
        if !(v.is_null() && schema["nullable"] == true) {
            problems.push(format!("{at}: {v} is not {types:?}"));
        }
        return;
    }
    if let Some(map) = v.as_object() {
        if let Some(required) = schema["required"].as_array() {
            for r in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    problems.push(format!("{at}.{r} is required but missing"));
                }
            }
        }
        if let Some(props) = schema["properties"].as_object() {
            for (k, each) in map {
                if let Some(spec) = props.get(k) {
                    validate(doc, spec, each, &format!("{at}.{k}"), problems);
                }
            }
        }
        if let Some(extra) = schema.get("additionalProperties").filter(|e| e.is_object()) {
            for (k, each) in map {
                validate(doc, extra, each, &format!("{at}.{k}"), problems);
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), v.as_array()) {
        for (i, each) in list.iter().enumerate() {
            validate(doc, items, each, &format!("{at}[{i}]"), problems);
        }
    }
}

/// The documented path template that `path` (without query) matches.
fn template<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    doc["paths"]
        .as_object()?
        .keys()
        .map(String::as_str)
        .find(|t| {
            let a: Vec<&str> = t.split('/').collect();
            let b: Vec<&str> = path.split('/').collect();
            a.len() == b.len()
                && a.iter()
                    .zip(&b)
                    .all(|(x, y)| x == y || (x.starts_with('{') && x.ends_with('}')))
        })
}

struct Checker<'a> {
    app: &'a TestApp,
    doc: Value,
    checked: usize,
    problems: Vec<String>,
}

impl Checker<'_> {
    async fn call(&mut self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) {
        let url = self.app.api(path);
        let mut r = match method {
            "get" => client().get(&url),
            "post" => client().post(&url),
            "put" => client().put(&url),
            _ => unreachable!(),
        };
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16().to_string();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = r.text().await.unwrap();
        let full = format!("/api/v2/firefighter/{}", path.split('?').next().unwrap());
        let Some(t) = template(&self.doc, &full) else {
            self.problems
                .push(format!("{method} {full}: not documented"));
            return;
        };
        let op = &self.doc["paths"][t][method];
        if !op.is_object() {
            self.problems
                .push(format!("{method} {t}: the method is not documented"));
            return;
        }
        let response = &op["responses"][&status];
        if !response.is_object() {
            self.problems
                .push(format!("{method} {t}: answer {status} is not documented"));
            return;
        }
        let media = content_type.split(';').next().unwrap_or_default().trim();
        let Some(schema) = response["content"][media].get("schema") else {
            self.problems.push(format!(
                "{method} {t} {status}: content type {media} is not documented"
            ));
            return;
        };
        if media == "application/json" {
            let v: Value = serde_json::from_str(&text).unwrap();
            validate(
                &self.doc,
                schema,
                &v,
                &format!("{method} {path} {status}"),
                &mut self.problems,
            );
        }
        self.checked += 1;
    }
}

#[tokio::test]
async fn real_answers_match_the_published_schema() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let doc: Value = client()
        .get(app.api("schema"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Every write says it takes an Idempotency-Key, PUT and PATCH included.
    for (path, method) in [
        ("/api/v2/firefighter/incidents", "post"),
        ("/api/v2/firefighter/incidents/{id}/key_events", "put"),
        ("/api/v2/firefighter/incidents/{id}/postmortem", "patch"),
    ] {
        let parameters = doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} has parameters"));
        assert!(
            parameters.iter().any(|p| p["name"] == "Idempotency-Key"),
            "{method} {path} documents its Idempotency-Key"
        );
    }
    let declared = app
        .declare(&token, "A sample incident for the schema", json!({}))
        .await;
    let id = declared["id"].as_i64().unwrap();
    let mut c = Checker {
        app: &app,
        doc,
        checked: 0,
        problems: Vec::new(),
    };
    let t = Some(token.as_str());
    c.call("get", "incidents/", t, None).await;
    c.call("get", "incidents", t, None).await;
    c.call("get", "incidents/?page=1&page_size=1", t, None)
        .await;
    c.call("get", "incidents/?limit=1&offset=1", t, None).await;
    c.call("get", "incidents/?format=csv", t, None).await;
    c.call("get", "incidents/?page=0", t, None).await;
    c.call("get", "incidents/?format=xml", t, None).await;
    c.call("get", "incidents/", None, None).await;
    c.call("get", &format!("incidents/{id}/"), t, None).await;
    c.call("get", &format!("incidents/{id}"), t, None).await;
    c.call("get", "incidents/999999/", t, None).await;
    for list in [
        "severities/",
        "environments/",
        "groups/",
        "incident-categories/",
        "components/",
        "incident_cost_types/",
        "incident_costs/",
    ] {
        c.call("get", list, t, None).await;
        c.call("get", &format!("{list}?page=1"), t, None).await;
    }
    let severity = app.catalog.priorities[0].id;
    c.call("get", &format!("severities/{severity}/"), t, None)
        .await;
    let body = json!({
        "title": "Another sample incident for the schema",
        "incident_category_id": app.category(),
    });
    c.call("post", "incidents", t, Some(body.clone())).await;
    c.call("post", "incidents/", t, Some(body.clone())).await;
    c.call("post", "incidents", t, Some(json!({"title": "short"})))
        .await;
    c.call("post", "incidents", None, Some(body)).await;
    c.call(
        "post",
        &format!("incidents/{id}/status"),
        t,
        Some(json!({"status": 20, "message": "Looking at the logs"})),
    )
    .await;
    c.call(
        "post",
        &format!("incidents/{id}/costs"),
        t,
        Some(json!({"cost_type_id": app.catalog.cost_types[0].id, "amount": "3.50"})),
    )
    .await;
    c.call(
        "put",
        &format!("incidents/{id}/key_events"),
        t,
        Some(json!({"detected": chrono::Utc::now().to_rfc3339()})),
    )
    .await;
    c.call("get", "monitoring/healthcheck", None, None).await;
    c.call("get", "monitoring/readiness/", None, None).await;
    assert!(c.problems.is_empty(), "{:#?}", c.problems);
    assert!(c.checked >= 30, "only {} answers checked", c.checked);
}
