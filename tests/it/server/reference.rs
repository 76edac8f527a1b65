//! Reference data endpoints, health checks and the schema.

use serde_json::Value;

use super::support::{client, spawn_app};

#[tokio::test]
async fn reference_endpoints_list_and_retrieve() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let c = client();
    for path in [
        "severities",
        "environments",
        "groups",
        "incident-categories",
        "components",
        "incident_cost_types",
    ] {
        let r = c
            .get(app.api(&format!("{path}/")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let list: Value = r.json().await.unwrap();
        let first = &list.as_array().unwrap_or_else(|| panic!("{path}: {list}"))[0];
        let id = first["id"].as_str().unwrap();
        let r = c
            .get(app.api(&format!("{path}/{id}/")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}/{id}/");
        assert_eq!(r.json::<Value>().await.unwrap(), *first);
        let r = c
            .get(app.api(&format!("{path}/{}/", uuid::Uuid::new_v4())))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = c
            .get(app.api(&format!("{path}/not-a-uuid/")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        // Anonymous callers are refused.
        assert_eq!(
            c.get(app.api(&format!("{path}/")))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
    }
    let severities: Value = c
        .get(app.api("severities/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        severities
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "P1")
    );

    // Costs of visible incidents.
    let v = app
        .declare(
            &token,
            "An incident that costs money",
            serde_json::json!({}),
        )
        .await;
    let id = v["id"].as_i64().unwrap();
    let r = c
        .post(app.api(&format!("incidents/{id}/costs")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"cost_type_id": app.catalog.cost_types[0].id, "amount": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let costs: Value = c
        .get(app.api("incident_costs/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(costs[0]["amount"], "10.00");
    assert_eq!(costs[0]["incident"], id);
    let cid = costs[0]["id"].as_str().unwrap();
    let r = c
        .get(app.api(&format!("incident_costs/{cid}/")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn monitoring_and_schema() {
    let app = spawn_app().await;
    let c = client();
    let v: Value = c
        .get(app.api("monitoring/healthcheck"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ok");
    let v: Value = c
        .get(app.api("monitoring/readiness"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["checks"]["db"], "ok");
    let r = c.get(app.api("schema")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let schema: Value = r.json().await.unwrap();
    assert!(schema["paths"]["/api/v2/firefighter/incidents/"]["get"].is_object());
    assert!(schema["paths"]["/api/v2/firefighter/incidents"]["post"].is_object());
    assert!(schema["components"]["schemas"]["IncidentRepr"].is_object());
}
