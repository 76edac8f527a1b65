//! The incident lifecycle: statuses, closure reasons and the one function that
//! decides whether a status change is allowed.
//!
//! Everything here is pure: the caller gathers the facts (current status,
//! priority, post-mortem state, missing key events) and [`check_transition`]
//! answers with either `Ok(())` or a [`Refusal`] listing *every* reason.

use std::fmt;

use serde::{Deserialize, Serialize};

mod effects;

pub use effects::apply_transition;

/// Minimum length (in characters, trimmed) of the message that explains a reopening.
pub const REOPEN_MESSAGE_MIN_CHARS: usize = 10;

/// Priorities whose value is below this need their required key events before closing.
pub const KEY_EVENTS_REQUIRED_BELOW_PRIORITY: i32 = 4;

/// The status of an incident. Stored as the integers of FireFighter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(i16)]
pub enum Status {
    /// Declared, nobody has picked it up yet.
    Open = 10,
    /// Responders are looking for the cause.
    Investigating = 20,
    /// A fix or workaround is being applied.
    Mitigating = 30,
    /// The impact is over.
    Mitigated = 40,
    /// The post-mortem is being written.
    PostMortem = 50,
    /// Done. Closed incidents are final.
    Closed = 60,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 6] = [
        Status::Open,
        Status::Investigating,
        Status::Mitigating,
        Status::Mitigated,
        Status::PostMortem,
        Status::Closed,
    ];

    /// The stored integer.
    pub const fn value(self) -> i16 {
        self as i16
    }

    /// Parses the stored integer.
    pub const fn from_value(value: i16) -> Option<Status> {
        Some(match value {
            10 => Status::Open,
            20 => Status::Investigating,
            30 => Status::Mitigating,
            40 => Status::Mitigated,
            50 => Status::PostMortem,
            60 => Status::Closed,
            _ => return None,
        })
    }

    /// The label shown to people (and returned by the REST API).
    pub const fn label(self) -> &'static str {
        match self {
            Status::Open => "Open",
            Status::Investigating => "Investigating",
            Status::Mitigating => "Mitigating",
            Status::Mitigated => "Mitigated",
            Status::PostMortem => "Post-mortem",
            Status::Closed => "Closed",
        }
    }

    /// The machine name (`open`, `post_mortem`, ...).
    pub const fn slug(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Investigating => "investigating",
            Status::Mitigating => "mitigating",
            Status::Mitigated => "mitigated",
            Status::PostMortem => "post_mortem",
            Status::Closed => "closed",
        }
    }

    /// Parses a slug, a label or the stored integer, case-insensitively.
    pub fn parse(text: &str) -> Option<Status> {
        let t = text.trim();
        if let Ok(v) = t.parse::<i16>() {
            return Status::from_value(v);
        }
        let normalized = t.to_ascii_lowercase().replace(['-', ' '], "_");
        Status::ALL.into_iter().find(|s| {
            s.slug() == normalized || (normalized == "postmortem" && *s == Status::PostMortem)
        })
    }

    /// Not closed yet.
    pub const fn is_active(self) -> bool {
        (self as i16) < (Status::Closed as i16)
    }

    /// Inside the window where a `dedup_key` is reserved (Open to Mitigated).
    pub const fn holds_dedup_key(self) -> bool {
        (self as i16) <= (Status::Mitigated as i16)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why an incident was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosureReason {
    /// Resolved the normal way, through mitigation (and post-mortem when needed).
    Resolved,
    /// Another incident covers it.
    Duplicate,
    /// There was no real issue.
    FalsePositive,
    /// Replaced by another incident.
    Superseded,
    /// A known issue or an outside dependency, handled elsewhere.
    External,
    /// No longer relevant.
    Cancelled,
}

impl ClosureReason {
    /// Every reason.
    pub const ALL: [ClosureReason; 6] = [
        ClosureReason::Resolved,
        ClosureReason::Duplicate,
        ClosureReason::FalsePositive,
        ClosureReason::Superseded,
        ClosureReason::External,
        ClosureReason::Cancelled,
    ];

    /// Reasons that may close an incident before it was mitigated.
    pub const EARLY: [ClosureReason; 5] = [
        ClosureReason::Duplicate,
        ClosureReason::FalsePositive,
        ClosureReason::Superseded,
        ClosureReason::External,
        ClosureReason::Cancelled,
    ];

    /// The stored value.
    pub const fn slug(self) -> &'static str {
        match self {
            ClosureReason::Resolved => "resolved",
            ClosureReason::Duplicate => "duplicate",
            ClosureReason::FalsePositive => "false_positive",
            ClosureReason::Superseded => "superseded",
            ClosureReason::External => "external",
            ClosureReason::Cancelled => "cancelled",
        }
    }

    /// What people read.
    pub const fn label(self) -> &'static str {
        match self {
            ClosureReason::Resolved => "Resolved",
            ClosureReason::Duplicate => "Duplicate of another incident",
            ClosureReason::FalsePositive => "False alarm, nothing was wrong",
            ClosureReason::Superseded => "Superseded by another incident",
            ClosureReason::External => "Outside dependency or known issue",
            ClosureReason::Cancelled => "Cancelled, no longer relevant",
        }
    }

    /// Parses the stored value.
    pub fn parse(text: &str) -> Option<ClosureReason> {
        let t = text.trim().to_ascii_lowercase();
        ClosureReason::ALL.into_iter().find(|r| r.slug() == t)
    }
}

impl fmt::Display for ClosureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What the post-mortem backend says about an incident's post-mortem document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostMortemState {
    /// No post-mortem backend is enabled: only the status rules apply.
    NoBackend,
    /// A backend is enabled but no document is linked to the incident.
    Missing,
    /// The document exists and is not ready yet; the backend's own status name.
    NotReady(String),
    /// The document is ready.
    Ready,
    /// The backend could not be asked; what went wrong.
    Unknown(String),
}

/// The facts about an incident that the lifecycle rules look at.
#[derive(Debug, Clone, Copy)]
pub struct LifecycleFacts<'a> {
    /// Current status.
    pub status: Status,
    /// Value of the current priority (1 for P1 ... 5 for P5, 20 for GAMEDAY).
    pub priority_value: i32,
    /// The priority needs a post-mortem and the incident touches production.
    pub postmortem_required: bool,
    /// Ignored incidents bypass the closing guard.
    pub ignore: bool,
    /// The incident was mitigated once (and maybe reopened since): it can no
    /// longer be closed early, it has to be mitigated again.
    pub was_mitigated: bool,
    /// State of the post-mortem document.
    pub postmortem: &'a PostMortemState,
    /// Required key events that have not been recorded yet.
    pub missing_key_events: &'a [String],
}

/// A requested status change.
#[derive(Debug, Clone, Copy)]
pub struct StatusChange<'a> {
    /// Target status.
    pub to: Status,
    /// The message that comes with the change, if any.
    pub message: Option<&'a str>,
    /// A closure reason, when closing.
    pub closure_reason: Option<ClosureReason>,
}

/// One reason why a status change is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefusalReason {
    /// The lifecycle has no such step.
    NotAllowed,
    /// A closed incident only goes back to Investigating or Mitigating (a reopening).
    AlreadyClosed,
    /// Closing before mitigation needs a closure reason.
    ClosureReasonRequired,
    /// "Resolved" cannot be used to close an incident that was never mitigated.
    ResolvedBeforeMitigation,
    /// Closing early needs a message that explains it.
    MessageRequired,
    /// Reopening needs a message of at least [`REOPEN_MESSAGE_MIN_CHARS`] characters.
    ReopenMessageTooShort {
        /// Minimum number of characters.
        min_chars: usize,
    },
    /// The incident has to be mitigated first.
    StatusNotMitigated,
    /// A post-mortem is required: the incident has to go through Post-mortem.
    MustPassPostMortem,
    /// No post-mortem document is linked.
    PostMortemMissing,
    /// The post-mortem document is not ready.
    PostMortemNotReady {
        /// The backend's status of the document.
        current: String,
    },
    /// The post-mortem backend could not be asked.
    PostMortemStatusUnknown {
        /// What went wrong.
        error: String,
    },
    /// Required key events are missing.
    MissingKeyEvents {
        /// The missing key events (`started`, `detected`, ...).
        missing: Vec<String>,
    },
}

impl RefusalReason {
    /// A sentence for the person who asked.
    pub fn message(&self, from: Status, to: Status) -> String {
        match self {
            RefusalReason::NotAllowed => {
                format!("An incident cannot go from {from} to {to}.")
            }
            RefusalReason::AlreadyClosed => {
                "This incident is closed: it can only be reopened, to Investigating or Mitigating, with a message saying why.".to_owned()
            }
            RefusalReason::ClosureReasonRequired => format!(
                "Closing an incident that is still {from} needs a closure reason (duplicate, false alarm, superseded, outside dependency or cancelled)."
            ),
            RefusalReason::ResolvedBeforeMitigation => {
                "\"Resolved\" is only for incidents that were mitigated; pick another closure reason.".to_owned()
            }
            RefusalReason::MessageRequired => {
                "Say in a message why the incident is closed before it was mitigated.".to_owned()
            }
            RefusalReason::ReopenMessageTooShort { min_chars } => format!(
                "Reopening an incident needs a message of at least {min_chars} characters explaining why."
            ),
            RefusalReason::StatusNotMitigated => {
                format!("The incident is {from}; it has to be Mitigated first.")
            }
            RefusalReason::MustPassPostMortem => {
                "This incident needs a post-mortem: move it to Post-mortem before closing it.".to_owned()
            }
            RefusalReason::PostMortemMissing => {
                "No post-mortem document is linked to this incident yet.".to_owned()
            }
            RefusalReason::PostMortemNotReady { current } => format!(
                "The post-mortem is not ready yet (its status is \"{current}\")."
            ),
            RefusalReason::PostMortemStatusUnknown { error } => format!(
                "The post-mortem's status could not be checked ({error}); try again shortly."
            ),
            RefusalReason::MissingKeyEvents { missing } => format!(
                "Record these key events before closing: {}.",
                missing.join(", ")
            ),
        }
    }
}

/// A refused status change, with every reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Status before.
    pub from: Status,
    /// Status asked for.
    pub to: Status,
    /// Every reason, never empty.
    pub reasons: Vec<RefusalReason>,
}

impl Refusal {
    /// One human sentence per reason.
    pub fn messages(&self) -> Vec<String> {
        self.reasons
            .iter()
            .map(|r| r.message(self.from, self.to))
            .collect()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot change status from {} to {}: ",
            self.from, self.to
        )?;
        f.write_str(&self.messages().join(" "))
    }
}

impl std::error::Error for Refusal {}

fn message_chars(message: Option<&str>) -> usize {
    message.map(|m| m.trim().chars().count()).unwrap_or(0)
}

/// Decides whether `change` is allowed for an incident described by `facts`.
///
/// This is the only place where the lifecycle rules live; every path that
/// changes a status (Slack, web, API, integrations) goes through it.
pub fn check_transition(
    facts: &LifecycleFacts<'_>,
    change: &StatusChange<'_>,
) -> Result<(), Refusal> {
    use Status::*;
    let from = facts.status;
    let to = change.to;
    let refuse = |reasons: Vec<RefusalReason>| Err(Refusal { from, to, reasons });

    if from == to {
        return Ok(());
    }
    if from == Closed {
        // Reopening: back to work on an incident that recurs, with the reason.
        if !matches!(to, Investigating | Mitigating) {
            return refuse(vec![RefusalReason::AlreadyClosed]);
        }
        if message_chars(change.message) < REOPEN_MESSAGE_MIN_CHARS {
            return refuse(vec![RefusalReason::ReopenMessageTooShort {
                min_chars: REOPEN_MESSAGE_MIN_CHARS,
            }]);
        }
        return Ok(());
    }
    match to {
        Open => refuse(vec![RefusalReason::NotAllowed]),
        Investigating | Mitigating | Mitigated if from < to => Ok(()),
        Investigating | Mitigating => {
            // Going back: only a reopening of a mitigated incident, with a reason.
            if from < Mitigated {
                return refuse(vec![RefusalReason::NotAllowed]);
            }
            if message_chars(change.message) < REOPEN_MESSAGE_MIN_CHARS {
                return refuse(vec![RefusalReason::ReopenMessageTooShort {
                    min_chars: REOPEN_MESSAGE_MIN_CHARS,
                }]);
            }
            Ok(())
        }
        Mitigated => refuse(vec![RefusalReason::NotAllowed]),
        PostMortem => {
            if from < Mitigated {
                refuse(vec![RefusalReason::StatusNotMitigated])
            } else {
                Ok(())
            }
        }
        Closed => check_close(facts, change),
    }
}

fn check_close(facts: &LifecycleFacts<'_>, change: &StatusChange<'_>) -> Result<(), Refusal> {
    use Status::*;
    let from = facts.status;
    let refuse = |reasons: Vec<RefusalReason>| {
        Err(Refusal {
            from,
            to: Closed,
            reasons,
        })
    };
    if facts.ignore {
        return Ok(());
    }
    if from < Mitigated && facts.was_mitigated {
        // A reopened incident had an impact: it closes through mitigation again.
        return refuse(vec![RefusalReason::StatusNotMitigated]);
    }
    if from < Mitigated {
        // Early closure: the incident turned out not to be one.
        let mut reasons = Vec::new();
        match change.closure_reason {
            None => reasons.push(RefusalReason::ClosureReasonRequired),
            Some(ClosureReason::Resolved) => reasons.push(RefusalReason::ResolvedBeforeMitigation),
            Some(_) => {}
        }
        if message_chars(change.message) == 0 {
            reasons.push(RefusalReason::MessageRequired);
        }
        return if reasons.is_empty() {
            Ok(())
        } else {
            refuse(reasons)
        };
    }

    let mut reasons = Vec::new();
    if facts.postmortem_required {
        if from != PostMortem {
            reasons.push(RefusalReason::MustPassPostMortem);
        } else {
            match facts.postmortem {
                PostMortemState::NoBackend | PostMortemState::Ready => {}
                PostMortemState::Missing => reasons.push(RefusalReason::PostMortemMissing),
                PostMortemState::NotReady(current) => {
                    reasons.push(RefusalReason::PostMortemNotReady {
                        current: current.clone(),
                    })
                }
                PostMortemState::Unknown(error) => {
                    reasons.push(RefusalReason::PostMortemStatusUnknown {
                        error: error.clone(),
                    })
                }
            }
        }
    }
    if facts.priority_value < KEY_EVENTS_REQUIRED_BELOW_PRIORITY
        && !facts.missing_key_events.is_empty()
    {
        reasons.push(RefusalReason::MissingKeyEvents {
            missing: facts.missing_key_events.to_vec(),
        });
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        refuse(reasons)
    }
}

/// The statuses a person may pick next (each may still need a message or a
/// closure reason). The current status is included.
pub fn offered_statuses(facts: &LifecycleFacts<'_>) -> Vec<Status> {
    Status::ALL
        .into_iter()
        .filter(|&to| {
            let change = StatusChange {
                to,
                message: Some("(a message long enough for any rule)"),
                closure_reason: Some(ClosureReason::Duplicate),
            };
            let resolved = StatusChange {
                closure_reason: Some(ClosureReason::Resolved),
                ..change
            };
            check_transition(facts, &change).is_ok() || check_transition(facts, &resolved).is_ok()
        })
        .collect()
}

/// Whether closing from this status needs a closure reason (an early closure).
pub fn closing_needs_reason(facts: &LifecycleFacts<'_>) -> bool {
    !facts.ignore && !facts.was_mitigated && facts.status < Status::Mitigated
}

#[cfg(test)]
mod tests;
