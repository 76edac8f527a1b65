//! CSV and TSV: default columns, `fields` with wildcards, `labels`, content negotiation.

use serde_json::json;

use super::support::{client, spawn_app};

#[tokio::test]
async fn csv_tsv_fields_and_labels() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let v = app
        .declare(&token, "Export me in every format", json!({}))
        .await;
    let id = v["id"].as_i64().unwrap();
    let c = client();
    let get = |q: &str, accept: Option<&str>| {
        let mut r = c
            .get(app.api(&format!("incidents/{q}")))
            .bearer_auth(&token);
        if let Some(a) = accept {
            r = r.header("Accept", a);
        }
        async move { r.send().await.unwrap() }
    };

    let r = get("?format=csv", None).await;
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = r.text().await.unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("id,status,environment.value,priority.name,title,description,incident_category.name,incident_category.group.name,created_at,slack_channel_name,status_page_url,jira_ticket_key,jira_ticket_url"), "{header}");
    assert!(
        header.contains("roles.commander.email"),
        "wildcards expand: {header}"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(&format!("{id},Open,PRD,P3,Export me in every format"))
    );

    let text = get("", Some("text/tab-separated-values"))
        .await
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("id\tstatus\t"));

    let text = get(
        "?format=csv&fields=title,id,roles.*.email&labels=__hidden__",
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    assert_eq!(
        text.trim(),
        format!("Export me in every format,{id},declarer@example.com")
    );
    let text = get("?format=csv&fields=id,title&labels=title:Title", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("id,Title\n"));
    let text = get("?format=csv&fields=__all__", None)
        .await
        .text()
        .await
        .unwrap();
    let header = text.lines().next().unwrap();
    let mut sorted: Vec<&str> = header.split(',').collect();
    sorted.sort();
    assert_eq!(
        header.split(',').collect::<Vec<_>>(),
        sorted,
        "__all__ is sorted"
    );
    assert!(header.contains("priority.sla"));

    // One incident in CSV too.
    let text = get(&format!("{id}/?format=csv&fields=id,status"), None)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text, format!("id,status\n{id},Open\n"));
    // Nothing acceptable.
    assert_eq!(get("", Some("image/png")).await.status(), 406);
}

#[tokio::test]
async fn format_suffixes_of_the_original_work() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let v = app
        .declare(&token, "Export me through a suffix", json!({}))
        .await;
    let id = v["id"].as_i64().unwrap();
    let c = client();
    let get = |path: String| {
        let r = c.get(app.api(&path)).bearer_auth(&token);
        async move { r.send().await.unwrap() }
    };

    let r = get("incidents.csv".into()).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(r.text().await.unwrap().starts_with("id,status,"));

    let r = get(format!("incidents/{id}.tsv")).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.starts_with("id\tstatus\t"), "{text}");
    assert!(text.contains("Export me through a suffix"));

    // With other parameters, and JSON.
    let r = get("incidents.json?fields=id".into()).await;
    assert_eq!(r.status(), 200);
    let list: serde_json::Value = r.json().await.unwrap();
    assert_eq!(list[0]["id"], id);
    let r = get("severities.csv".into()).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("P1"));

    // Unknown formats are not suffixes: nothing matches.
    assert_eq!(get("incidents.xml".into()).await.status(), 404);
}
