//! No query string crashes a list endpoint: huge page numbers and offsets
//! are refused with a 400 that names the parameter, and a property test
//! throws arbitrary parameters at every list endpoint and finds no 5xx.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use super::support::{TestApp, client, spawn_app};

/// Every list endpoint of the API.
const LISTS: &[&str] = &[
    "incidents/",
    "incidents",
    "severities/",
    "environments/",
    "groups/",
    "incident-categories/",
    "components/",
    "incident_cost_types/",
    "incident_costs/",
];

async fn get(app: &TestApp, token: &str, path_and_query: &str) -> reqwest::Response {
    client()
        .get(app.api(path_and_query))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn huge_pages_and_offsets_are_refused_by_name_on_every_list() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.declare(&token, "A payment provider refuses cards", Value::Null)
        .await;
    for list in LISTS {
        for (query, name) in [
            ("page=9223372036854775808", "page"),
            ("page=18446744073709551615", "page"),
            ("offset=18446744073709551615&limit=1", "offset"),
            ("offset=9223372036854775807&limit=1000", "offset"),
        ] {
            let r = get(&app, &token, &format!("{list}?{query}")).await;
            assert_eq!(r.status(), 400, "{list}?{query}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["errors"][0]["attr"], name, "{list}?{query}: {v}");
        }
        // The largest allowed values answer an empty page, not an error.
        for query in [
            "offset=1000000000&limit=1000",
            "page=1000001&page_size=1000",
        ] {
            let r = get(&app, &token, &format!("{list}?{query}")).await;
            assert_eq!(r.status(), 200, "{list}?{query}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["results"], Value::Array(Vec::new()), "{list}?{query}");
            assert!(v["next"].is_null(), "{list}?{query}: {v}");
        }
    }
    // The web list clamps its page number the same way.
    let (browser, _) = super::support::browser();
    let r = browser
        .get(app.url("/incident/?page=18446744073709551615"))
        .send()
        .await
        .unwrap();
    assert!(r.status().as_u16() < 500, "{}", r.status());
}

#[tokio::test]
async fn an_empty_format_lets_accept_decide() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let r = client()
        .get(app.api("incidents/?format="))
        .bearer_auth(&token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let r = get(&app, &token, "severities/?format=").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

/// Parameter names the lists read, and a few they do not.
const NAMES: &[&str] = &[
    "page",
    "page_size",
    "limit",
    "offset",
    "format",
    "fields",
    "labels",
    "search",
    "ordering",
    "order_by",
    "status",
    "status__lt",
    "status__gte",
    "priority",
    "environment",
    "group",
    "incident_category",
    "created_at",
    "created_at__gte",
    "created_at__lte",
    "created_by",
    "id",
    "id__in",
    "id__gte",
    "ignore",
    "private",
    "unknown",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_owned()),
        Just(String::new()),
        Just("\0".to_owned()),
        Just("-1".to_owned()),
        Just("1e309".to_owned()),
        Just("*.*.*".to_owned()),
        Just("2024-13-45T99:99".to_owned()),
        Just("last 999999999999 years".to_owned()),
        "[a-z_.,*-]{0,20}",
        any::<String>(),
    ]
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (prop::sample::select(NAMES).prop_map(str::to_owned), value()),
        0..6,
    )
}

#[test]
fn no_query_string_makes_a_list_fail() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, token) = runtime.block_on(async {
        let app = spawn_app().await;
        let token = app.admin_token().await;
        app.declare(
            &token,
            "The search page answers in ten seconds",
            Value::Null,
        )
        .await;
        (app, token)
    });
    let cases = std::env::var("FF_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(prop::sample::select(LISTS), query()), |(list, params)| {
            let mut encoded = form_urlencoded::Serializer::new(String::new());
            encoded.extend_pairs(&params);
            let path = format!("{list}?{}", encoded.finish());
            let status = runtime.block_on(get(&app, &token, &path)).status();
            prop_assert!(status.as_u16() < 500, "{path} answered {status}");
            Ok(())
        })
        .unwrap();
    runtime.block_on(async move { drop(app) });
}
