//! Moving a ticket to a status through Jira's documented endpoints: the
//! transitions offered from the ticket's status (`GET /issue/{key}/transitions`)
//! and, to go further than one step, the ticket's workflow
//! (`GET /rest/api/3/workflows/search`, its name from `JIRA_WORKFLOW_NAME` or
//! the project's workflow scheme, `GET /rest/api/3/workflowscheme/project`).
//! The path is the shortest one that never passes through a terminal status
//! (category Done, or named Closed); the target itself may be terminal.
//! Without a readable workflow (the account may not see workflows), only a
//! transition offered from the current status is taken.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::client::{json, segment};
use crate::{Error, JiraClient, Result};

/// How long a workflow read (or the refusal to read it) is kept.
const WORKFLOW_TTL: Duration = Duration::from_secs(600);
/// Most transitions applied for one change.
const MAX_STEPS: usize = 8;

/// A status of a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowStatus {
    /// Jira's reference of the status in the workflow.
    pub reference: String,
    /// Its name.
    pub name: String,
    /// Whether it ends the workflow (category Done, or named Closed).
    pub terminal: bool,
}

/// A transition of a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowTransition {
    /// The statuses it starts from (empty: every status, a global transition).
    pub from: Vec<String>,
    /// The status it leads to.
    pub to: String,
}

/// The statuses and transitions of a workflow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workflow {
    /// Its statuses.
    pub statuses: Vec<WorkflowStatus>,
    /// Its transitions (initial ones left out).
    pub transitions: Vec<WorkflowTransition>,
}

impl Workflow {
    fn status_by_name(&self, name: &str) -> Option<&WorkflowStatus> {
        self.statuses
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
    }

    /// The names of the statuses from `from` to `to`, both excluded and
    /// `to` appended: the shortest path never passing through a terminal
    /// status. `Some(vec![])` when already there, `None` when there is no path.
    pub fn path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let start = self.status_by_name(from)?;
        let goal = self.status_by_name(to)?;
        if start.reference == goal.reference {
            return Some(Vec::new());
        }
        let by_ref: HashMap<&str, &WorkflowStatus> = self
            .statuses
            .iter()
            .map(|s| (s.reference.as_str(), s))
            .collect();
        let mut previous: HashMap<&str, &str> = HashMap::new();
        let mut seen: HashSet<&str> = HashSet::from([start.reference.as_str()]);
        let mut queue = VecDeque::from([start.reference.as_str()]);
        while let Some(at) = queue.pop_front() {
            // A terminal status ends a path: it is never gone through.
            if at != start.reference && by_ref.get(at).is_some_and(|s| s.terminal) {
                continue;
            }
            for t in &self.transitions {
                if !(t.from.is_empty() || t.from.iter().any(|f| f == at)) {
                    continue;
                }
                let next = t.to.as_str();
                if !by_ref.contains_key(next) || !seen.insert(next) {
                    continue;
                }
                previous.insert(next, at);
                if next == goal.reference {
                    let mut path = vec![goal.name.clone()];
                    let mut cursor = at;
                    while cursor != start.reference {
                        path.push(by_ref[cursor].name.clone());
                        cursor = previous[cursor];
                    }
                    path.reverse();
                    return Some(path);
                }
                queue.push_back(next);
            }
        }
        None
    }
}

/// What moving a ticket did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    /// The ticket was already in the status.
    AlreadyThere,
    /// These statuses were gone through, the target last.
    Through(Vec<String>),
    /// No path from the ticket's status (the reason, for the timeline).
    NoPath(String),
}

// ------------------------------------------------------------------ Jira's JSON

#[derive(Debug, Deserialize)]
struct IssueFields {
    fields: IssueStatusFields,
}

#[derive(Debug, Deserialize)]
struct IssueStatusFields {
    // Always there when asked for; an answer without it is a ticket in no
    // known status (every move then reads the workflow).
    #[serde(default)]
    status: Option<NamedStatus>,
    #[serde(default)]
    project: Option<IdOnly>,
    #[serde(default)]
    issuetype: Option<IdOnly>,
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NamedStatus {
    name: String,
    #[serde(default)]
    status_category: Option<Category>,
}

#[derive(Debug, Deserialize)]
struct Category {
    #[serde(default)]
    key: String,
}

#[derive(Debug, Deserialize)]
struct Transitions {
    #[serde(default)]
    transitions: Vec<OfferedTransition>,
}

#[derive(Debug, Deserialize)]
struct OfferedTransition {
    id: String,
    to: NamedStatus,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkflowSearch {
    #[serde(default)]
    values: Vec<JiraWorkflow>,
    #[serde(default)]
    statuses: Vec<JiraWorkflowStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JiraWorkflow {
    name: String,
    #[serde(default)]
    statuses: Vec<StatusReference>,
    #[serde(default)]
    transitions: Vec<JiraTransition>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusReference {
    status_reference: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JiraWorkflowStatus {
    status_reference: String,
    name: String,
    #[serde(default)]
    status_category: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JiraTransition {
    #[serde(default)]
    links: Vec<TransitionLink>,
    to_status_reference: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransitionLink {
    #[serde(default)]
    from_status_reference: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemeAssociations {
    #[serde(default)]
    values: Vec<SchemeAssociation>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemeAssociation {
    workflow_scheme: WorkflowScheme,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkflowScheme {
    #[serde(default)]
    default_workflow: Option<String>,
    #[serde(default)]
    issue_type_mappings: HashMap<String, String>,
}

fn workflow_of(search: WorkflowSearch, name: &str) -> Option<Workflow> {
    let wf = search
        .values
        .into_iter()
        .find(|w| w.name.eq_ignore_ascii_case(name))?;
    let names: HashMap<&str, &JiraWorkflowStatus> = search
        .statuses
        .iter()
        .map(|s| (s.status_reference.as_str(), s))
        .collect();
    let statuses = wf
        .statuses
        .iter()
        .filter_map(|r| names.get(r.status_reference.as_str()))
        .map(|s| WorkflowStatus {
            reference: s.status_reference.clone(),
            name: s.name.clone(),
            terminal: s.status_category.as_deref() == Some("DONE")
                || s.name.eq_ignore_ascii_case("closed"),
        })
        .collect();
    let transitions = wf
        .transitions
        .into_iter()
        .filter(|t| !t.kind.eq_ignore_ascii_case("initial"))
        // A directed transition without a source is unusable, not global
        // (an empty `from` means every status to the path).
        .filter(|t| {
            t.kind.eq_ignore_ascii_case("global")
                || t.links.iter().any(|l| l.from_status_reference.is_some())
        })
        .map(|t| WorkflowTransition {
            from: if t.kind.eq_ignore_ascii_case("global") {
                Vec::new()
            } else {
                t.links
                    .into_iter()
                    .filter_map(|l| l.from_status_reference)
                    .collect()
            },
            to: t.to_status_reference,
        })
        .collect::<Vec<_>>();
    Some(Workflow {
        statuses,
        transitions,
    })
}

// ------------------------------------------------------------------ the mover

/// Workflows read, by (project, issue type), with when they were read
/// (`None`: Jira did not show it).
type WorkflowCache = HashMap<(String, String), (Instant, Option<Workflow>)>;

/// Moves tickets through their workflow; keeps each workflow read for a while.
#[derive(Debug, Default)]
pub struct Mover {
    workflow_name: Option<String>,
    cache: Mutex<WorkflowCache>,
}

impl Mover {
    /// A mover using `JIRA_WORKFLOW_NAME` when set.
    pub fn new(workflow_name: Option<String>) -> Mover {
        Mover {
            workflow_name,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Moves ticket `key` to the status named `target`, calling `before_step`
    /// with each status about to be entered (so the caller remembers the
    /// change before Jira announces it).
    pub async fn move_to<F, Fut>(
        &self,
        client: &JiraClient,
        key: &str,
        target: &str,
        mut before_step: F,
    ) -> Result<Moved>
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let issue = client.issue_workflow_state(key).await?;
        let current = issue
            .fields
            .status
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        if current.eq_ignore_ascii_case(target.trim()) {
            return Ok(Moved::AlreadyThere);
        }
        let offered = client.transitions(key).await?;
        let plan = match offered
            .iter()
            .find(|t| t.to.name.eq_ignore_ascii_case(target.trim()))
        {
            Some(t) => vec![t.to.name.clone()],
            None => {
                let workflow = match (&issue.fields.project, &issue.fields.issuetype) {
                    (Some(p), Some(t)) => self.workflow(client, &p.id, &t.id).await?,
                    _ => None,
                };
                let from = if current.is_empty() {
                    "its current status (Jira did not say which)".to_owned()
                } else {
                    format!("\"{current}\"")
                };
                let Some(workflow) = workflow else {
                    return Ok(Moved::NoPath(format!(
                        "Jira offers no transition from {from} to \"{target}\", and the workflow cannot be read to find a longer path (set JIRA_WORKFLOW_NAME and give the account the View read-only workflow permission)"
                    )));
                };
                match workflow.path(&current, target) {
                    Some(path) if path.len() <= MAX_STEPS => path,
                    _ => {
                        return Ok(Moved::NoPath(format!(
                            "the workflow has no path from \"{current}\" to \"{target}\" that does not go through a closed status"
                        )));
                    }
                }
            }
        };
        let mut through = Vec::new();
        let mut offered = Some(offered);
        for step in plan {
            let choices = match offered.take() {
                Some(o) => o,
                None => client.transitions(key).await?,
            };
            let Some(t) = choices
                .iter()
                .find(|t| t.to.name.eq_ignore_ascii_case(&step))
            else {
                return Ok(Moved::NoPath(format!(
                    "Jira did not offer the transition to \"{step}\" after {}",
                    if through.is_empty() {
                        format!("\"{current}\"")
                    } else {
                        through.join(" → ")
                    }
                )));
            };
            before_step(step.clone()).await?;
            client.transition(key, &t.id).await?;
            through.push(step);
        }
        Ok(Moved::Through(through))
    }

    async fn workflow(
        &self,
        client: &JiraClient,
        project: &str,
        issue_type: &str,
    ) -> Result<Option<Workflow>> {
        let cache_key = (project.to_owned(), issue_type.to_owned());
        if let Some((at, wf)) = self.cache.lock().expect("workflow cache").get(&cache_key)
            && at.elapsed() < WORKFLOW_TTL
        {
            return Ok(wf.clone());
        }
        let read = self.read_workflow(client, project, issue_type).await;
        let wf = match read {
            Ok(wf) => wf,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "the workflow of Jira tickets cannot be read; only direct transitions are used");
                None
            }
        };
        self.cache
            .lock()
            .expect("workflow cache")
            .insert(cache_key, (Instant::now(), wf.clone()));
        Ok(wf)
    }

    async fn read_workflow(
        &self,
        client: &JiraClient,
        project: &str,
        issue_type: &str,
    ) -> Result<Option<Workflow>> {
        let name = match &self.workflow_name {
            Some(name) => name.clone(),
            None => match client.workflow_name(project, issue_type).await? {
                Some(name) => name,
                None => return Ok(None),
            },
        };
        client.workflow(&name).await
    }
}

/// The transition names and target statuses offered from a ticket's status.
#[derive(Debug)]
struct Offered {
    id: String,
    to: NamedStatus,
}

impl JiraClient {
    async fn issue_workflow_state(&self, key: &str) -> Result<IssueFields> {
        let path = format!("/issue/{}", segment(key)?);
        let query = [("fields", "status,project,issuetype")];
        self.retried(Error::is_retryable, || async {
            json(self.send(Method::GET, &path, &query, None).await?).await
        })
        .await
    }

    /// The status name of ticket `key` and whether it is terminal.
    pub async fn status_of(&self, key: &str) -> Result<(String, bool)> {
        let status = self
            .issue_workflow_state(key)
            .await?
            .fields
            .status
            .ok_or_else(|| Error::Decode(format!("Jira did not tell the status of {key}")))?;
        let terminal = status
            .status_category
            .as_ref()
            .is_some_and(|c| c.key == "done");
        Ok((status.name, terminal))
    }

    async fn transitions(&self, key: &str) -> Result<Vec<Offered>> {
        let path = format!("/issue/{}/transitions", segment(key)?);
        let found: Transitions = self
            .retried(Error::is_retryable, || async {
                json(self.send(Method::GET, &path, &[], None).await?).await
            })
            .await?;
        Ok(found
            .transitions
            .into_iter()
            .map(|t| Offered { id: t.id, to: t.to })
            .collect())
    }

    /// Applies transition `id` (`POST /issue/{key}/transitions`). Not retried
    /// after a 5xx or a time-out: the next attempt reads the status first.
    async fn transition(&self, key: &str, id: &str) -> Result<()> {
        let path = format!("/issue/{}/transitions", segment(key)?);
        let body = json!({ "transition": { "id": id } });
        self.retried(
            |e| matches!(e, Error::RateLimited { .. }),
            || async {
                self.send(Method::POST, &path, &[], Some(&body))
                    .await
                    .map(drop)
            },
        )
        .await
    }

    /// Sets fields of an issue (`PUT /issue/{key}`, no notification mail).
    pub async fn set_fields(
        &self,
        key: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        let path = format!("/issue/{}", segment(key)?);
        let body = json!({ "fields": fields });
        self.retried(Error::is_retryable, || async {
            self.send(Method::PUT, &path, &[], Some(&body))
                .await
                .map(drop)
        })
        .await
    }

    /// The workflow the project's scheme maps `issue_type` to (`None`: not shown).
    pub async fn workflow_name(&self, project: &str, issue_type: &str) -> Result<Option<String>> {
        let query = [("projectId", project)];
        let found: SchemeAssociations = self
            .retried(Error::is_retryable, || async {
                json(
                    self.send(Method::GET, "/workflowscheme/project", &query, None)
                        .await?,
                )
                .await
            })
            .await?;
        Ok(found.values.into_iter().next().and_then(|a| {
            a.workflow_scheme
                .issue_type_mappings
                .get(issue_type)
                .cloned()
                .or(a.workflow_scheme.default_workflow)
        }))
    }

    /// The workflow named `name` (`GET /rest/api/3/workflows/search`, with its transitions).
    pub async fn workflow(&self, name: &str) -> Result<Option<Workflow>> {
        let query = [
            ("queryString", name),
            ("expand", "values.transitions"),
            ("maxResults", "50"),
        ];
        let found: WorkflowSearch = self
            .retried(Error::is_retryable, || async {
                json(
                    self.send(Method::GET, "/workflows/search", &query, None)
                        .await?,
                )
                .await
            })
            .await?;
        Ok(workflow_of(found, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(r: &str, name: &str, terminal: bool) -> WorkflowStatus {
        WorkflowStatus {
            reference: r.into(),
            name: name.into(),
            terminal,
        }
    }

    fn t(from: &[&str], to: &str) -> WorkflowTransition {
        WorkflowTransition {
            from: from.iter().map(|s| (*s).to_owned()).collect(),
            to: to.into(),
        }
    }

    /// FireFighter's incident workflow, with a shortcut through Closed.
    fn incident_workflow() -> Workflow {
        Workflow {
            statuses: vec![
                status("1", "Incoming", false),
                status("2", "Pending resolution", false),
                status("3", "in progress", false),
                status("4", "Reporter validation", false),
                status("5", "Closed", true),
            ],
            transitions: vec![
                t(&["1"], "2"),
                t(&["2"], "3"),
                t(&["3"], "4"),
                t(&["4"], "3"),
                t(&["1"], "5"),
                t(&["5"], "4"),
                t(&[], "5"),
            ],
        }
    }

    #[test]
    fn the_shortest_path_never_goes_through_closed() {
        let wf = incident_workflow();
        assert_eq!(
            wf.path("Incoming", "Reporter validation").unwrap(),
            ["Pending resolution", "in progress", "Reporter validation"]
        );
        assert_eq!(wf.path("incoming", "closed").unwrap(), ["Closed"]);
        assert_eq!(
            wf.path("in progress", "In Progress").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            wf.path("Reporter validation", "in progress").unwrap(),
            ["in progress"]
        );
        // From Closed (the start may be terminal) onwards.
        assert_eq!(
            wf.path("Closed", "Reporter validation").unwrap(),
            ["Reporter validation"]
        );
        assert!(wf.path("Incoming", "Unknown").is_none());
    }

    #[test]
    fn no_path_rather_than_through_a_terminal_status() {
        let wf = Workflow {
            statuses: vec![
                status("1", "Incoming", false),
                status("5", "Closed", true),
                status("4", "Reporter validation", false),
            ],
            transitions: vec![t(&["1"], "5"), t(&["5"], "4")],
        };
        assert!(wf.path("Incoming", "Reporter validation").is_none());
        assert_eq!(wf.path("Incoming", "Closed").unwrap(), ["Closed"]);
    }

    #[test]
    fn the_workflow_is_read_from_jiras_answer() {
        let answer = serde_json::json!({
            "values": [{
                "name": "Incidents",
                "statuses": [{"statusReference": "a"}, {"statusReference": "b"}, {"statusReference": "c"}],
                "transitions": [
                    {"id": "1", "type": "INITIAL", "toStatusReference": "a", "links": []},
                    {"id": "2", "type": "DIRECTED", "toStatusReference": "b", "links": [{"fromStatusReference": "a"}]},
                    {"id": "3", "type": "GLOBAL", "toStatusReference": "c", "links": []},
                    {"id": "4", "type": "DIRECTED", "toStatusReference": "a", "links": []}
                ]
            }],
            "statuses": [
                {"statusReference": "a", "name": "Incoming", "statusCategory": "TODO"},
                {"statusReference": "b", "name": "in progress", "statusCategory": "IN_PROGRESS"},
                {"statusReference": "c", "name": "Done", "statusCategory": "DONE"}
            ]
        });
        let wf = workflow_of(serde_json::from_value(answer).unwrap(), "incidents").unwrap();
        assert_eq!(
            wf.transitions.len(),
            2,
            "the initial transition and a directed one without a source are dropped"
        );
        assert!(wf.statuses[2].terminal);
        assert_eq!(wf.path("in progress", "Done").unwrap(), ["Done"]);
        assert_eq!(wf.path("Incoming", "in progress").unwrap(), ["in progress"]);
    }
}
