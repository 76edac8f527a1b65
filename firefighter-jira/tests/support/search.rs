//! Jira's JQL search as the wiremock-based tests mount it.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `GET /rest/api/3/search/jql` answering `found` (issue keys, each with
/// the issue id `id`), `times` times or always, at wiremock `priority`.
pub(crate) async fn mount_search(
    server: &MockServer,
    id: &str,
    found: &[&str],
    times: Option<u64>,
    priority: u8,
) {
    let issues: Vec<Value> = found.iter().map(|k| json!({"id": id, "key": k})).collect();
    let mock = Mock::given(method("GET"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"issues": issues})))
        .with_priority(priority);
    match times {
        Some(n) => mock.up_to_n_times(n).mount(server).await,
        None => mock.mount(server).await,
    }
}
