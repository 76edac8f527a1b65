//! The OpenAPI document: generated from the handlers' annotations, then
//! completed with what every handler shares and would be noise to repeat on
//! each: the error answers, the paths served with and without their
//! trailing slash, the paginated envelope of lists and the CSV/TSV forms.

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use super::{incidents, monitoring, reference};

/// The generated part of the document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "firefighter API", description = "Incidents and reference data; compatible with FireFighter's API v2."),
    paths(
        incidents::list, incidents::retrieve, incidents::create, incidents::change_status,
        incidents::post_update, incidents::set_roles, incidents::set_key_events, incidents::close,
        incidents::add_cost, incidents::show_postmortem, incidents::create_postmortem,
        incidents::edit_postmortem, reference::severities_doc, reference::environments_doc, reference::groups_doc,
        reference::categories_doc, reference::cost_types_doc, reference::costs_doc,
        monitoring::healthcheck, monitoring::readiness,
    ),
    components(schemas(crate::server::error::ErrorBody, crate::server::error::ErrorItem)),
    modifiers(&Security),
    tags((name = "incidents"), (name = "reference"), (name = "monitoring")),
)]
pub(super) struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "tokenAuth",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

const PREFIX: &str = "/api/v2/firefighter";

/// Lists that are also served under another name.
const ALIASES: &[(&str, &str)] = &[("/incident-categories/", "/components/")];

/// The whole document, as the server describes itself.
pub(crate) fn document() -> Result<Value, serde_json::Error> {
    let mut doc = serde_json::to_value(ApiDoc::openapi())?;
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        let mut completed = Map::new();
        for (path, item) in std::mem::take(paths) {
            let mut item = item;
            if let Some(ops) = item.as_object_mut() {
                for (method, op) in ops.iter_mut() {
                    complete(&path, method, op);
                }
            }
            let mut spellings = vec![path.clone()];
            spellings.extend(served_aliases(&path));
            for spelling in &spellings {
                merge(&mut completed, spelling.clone(), item.clone());
                if let Some((at, one)) = reference_item(spelling, &item) {
                    merge(&mut completed, at, one);
                }
            }
        }
        *paths = completed;
    }
    Ok(doc)
}

/// Merges a path item, keeping the operations already there.
fn merge(paths: &mut Map<String, Value>, path: String, item: Value) {
    match (paths.get_mut(&path), item) {
        (Some(Value::Object(existing)), Value::Object(more)) => {
            for (method, op) in more {
                existing.entry(method).or_insert(op);
            }
        }
        (_, item) => {
            paths.insert(path, item);
        }
    }
}

/// The other spellings the router serves a documented path under: with and
/// without the trailing slash (reads), the item route of each reference
/// list, and the lists' second names.
fn served_aliases(path: &str) -> Vec<String> {
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let reads = [
        "/incidents",
        "/monitoring/healthcheck",
        "/monitoring/readiness",
    ];
    let trimmed = rest.trim_end_matches('/');
    let is_collection_or_item = trimmed == "/incidents"
        || trimmed == "/incidents/{id}"
        || reads.contains(&trimmed)
        || is_reference_list(trimmed);
    if is_collection_or_item {
        if rest.ends_with('/') {
            out.push(format!("{PREFIX}{trimmed}"));
        } else {
            out.push(format!("{PREFIX}{trimmed}/"));
        }
    }
    for (name, alias) in ALIASES {
        if rest == *name {
            out.push(format!("{PREFIX}{alias}"));
            out.push(format!("{PREFIX}{}", alias.trim_end_matches('/')));
        }
    }
    out
}

/// The `{id}/` route of a reference list (`severities/{id}/`...): one of
/// the list's items, or 404.
fn reference_item(path: &str, list: &Value) -> Option<(String, Value)> {
    let rest = path.strip_prefix(PREFIX)?;
    let name = rest.trim_end_matches('/');
    if !is_reference_list(name) {
        return None;
    }
    let get = list.get("get")?;
    let items =
        get["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"][0]["items"]
            .clone();
    let mut one = get.clone();
    let slash = if rest.ends_with('/') { "/" } else { "" };
    one["summary"] = json!(format!("One of {name}/ by id"));
    one["parameters"] =
        json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
    one["responses"]["200"]["content"]["application/json"]["schema"] = items;
    one["responses"]["404"] = error("No such record");
    Some((
        format!("{PREFIX}{name}/{{id}}{slash}"),
        json!({ "get": one }),
    ))
}

fn is_reference_list(trimmed: &str) -> bool {
    matches!(
        trimmed,
        "/severities"
            | "/environments"
            | "/groups"
            | "/incident-categories"
            | "/components"
            | "/incident_cost_types"
            | "/incident_costs"
    )
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// Adds what a handler of this kind answers besides its own responses.
fn complete(path: &str, method: &str, op: &mut Value) {
    let Some(op) = op.as_object_mut() else {
        return;
    };
    let secured = op.contains_key("security");
    if secured && matches!(method, "post" | "put" | "patch" | "delete") {
        let parameters = op
            .entry("parameters")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = parameters.as_array_mut()
            && !list.iter().any(|p| p["name"] == "Idempotency-Key")
        {
            list.push(json!({
                "name": "Idempotency-Key",
                "in": "header",
                "required": false,
                "description": "Makes a retry safe: the same key with the same request replays the stored response, and a change whose answer was lost is not applied twice",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }));
        }
    }
    let responses = op
        .entry("responses")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status)
            .or_insert_with(|| error(description));
    };
    if secured {
        add(
            "401",
            "Not authenticated: no token or session, or an unknown one",
        );
        add("403", "Authenticated, but without the scope this needs");
    }
    if path.contains("{id}") {
        add(
            "404",
            "No such record, or one the caller may not see (private incidents)",
        );
    }
    match method {
        "get" => {
            add(
                "400",
                "Invalid parameter (filter, page, format...): each problem names its parameter",
            );
            add(
                "406",
                "The format asked for (?format= or Accept) is not json, csv or tsv",
            );
        }
        "post" | "put" | "patch" => {
            add("400", "Invalid body: each problem names its field");
            add(
                "409",
                "Conflict: a concurrent change, or an Idempotency-Key still in use",
            );
            add("413", "The body is larger than the configured limit");
            add("415", "The body is not JSON");
            add("422", "An Idempotency-Key already used with another body");
        }
        _ => {}
    }
    add("500", "A server error (the same error body)");
    add("503", "The request took longer than the configured timeout");
    if method == "get"
        && let Some(ok) = responses.get_mut("200")
    {
        describe_formats(ok);
    }
}

/// A list answers a bare array, or with `page`/`limit` the paginated
/// envelope; every read also answers CSV and TSV.
fn describe_formats(ok: &mut Value) {
    let Some(content) = ok.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(schema) = content
        .get_mut("application/json")
        .and_then(|c| c.get_mut("schema"))
        && schema.get("type") == Some(&json!("array"))
    {
        let items = schema["items"].clone();
        *schema = json!({
            "oneOf": [
                schema.clone(),
                {
                    "type": "object",
                    "description": "With page/page_size or limit/offset",
                    "required": ["count", "next", "previous", "results"],
                    "properties": {
                        "count": {"type": "integer", "minimum": 0},
                        "next": {"type": ["string", "null"], "description": "URL of the next page"},
                        "previous": {"type": ["string", "null"], "description": "URL of the previous page"},
                        "results": {"type": "array", "items": items},
                    }
                }
            ]
        });
    }
    for media in ["text/csv", "text/tab-separated-values"] {
        content
            .entry(media)
            .or_insert_with(|| json!({"schema": {"type": "string"}}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_spelling_is_documented_with_its_error_answers() {
        let doc = document().unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/api/v2/firefighter/incidents",
            "/api/v2/firefighter/incidents/",
            "/api/v2/firefighter/incidents/{id}",
            "/api/v2/firefighter/incidents/{id}/",
            "/api/v2/firefighter/components/",
            "/api/v2/firefighter/severities",
        ] {
            assert!(paths.contains_key(path), "{path} is not documented");
        }
        let incidents = &paths["/api/v2/firefighter/incidents"];
        assert!(incidents["get"].is_object() && incidents["post"].is_object());
        let incidents = &paths["/api/v2/firefighter/incidents/"];
        assert!(incidents["get"].is_object() && incidents["post"].is_object());
        let list = &incidents["get"]["responses"];
        for status in ["400", "401", "406"] {
            assert!(list[status].is_object(), "GET incidents/ {status}");
        }
        assert!(
            list["200"]["content"]["application/json"]["schema"]["oneOf"][1]["properties"]
                ["results"]
                .is_object()
        );
        let retrieve = &paths["/api/v2/firefighter/incidents/{id}/"]["get"]["responses"];
        assert!(retrieve["404"].is_object());
        let create = &incidents["post"]["responses"];
        for status in ["400", "401", "409", "422"] {
            assert!(create[status].is_object(), "POST incidents {status}");
        }
    }
}
