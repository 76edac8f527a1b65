//! What an allowed status change does to an incident besides its status,
//! kept beside the rules so the two cannot drift apart.

use chrono::{DateTime, Utc};

use super::{ClosureReason, Status};
use crate::Incident;
use crate::key_event::{self, KeyEvent};

/// Applies a status change that [`super::check_transition`] allowed: sets
/// the status and the times and closure reason that come with it, and
/// answers the key events the system records for it (at `at`).
///
/// `recorded` are the incident's key events before the change.
pub fn apply_transition(
    incident: &mut Incident,
    recorded: &[KeyEvent],
    to: Status,
    closure_reason: Option<ClosureReason>,
    at: DateTime<Utc>,
) -> Vec<KeyEvent> {
    let from = incident.status;
    let has = |slug: &str| recorded.iter().any(|k| k.event_type == slug);
    let mut system = Vec::new();
    if to == Status::Mitigated && from != Status::Mitigated {
        if !has(key_event::MITIGATED) {
            system.push(key_event::MITIGATED);
        }
        // A re-mitigation after a reopening moves the end of the impact.
        if !has(key_event::RECOVERED) || incident.mitigated_at.is_some() {
            system.push(key_event::RECOVERED);
        }
        incident.mitigated_at.get_or_insert(at);
    }
    if to == Status::Closed && from != Status::Closed {
        incident.closed_at = Some(at);
        // Closing after mitigation is the normal way: resolved unless said otherwise.
        incident.closure_reason =
            closure_reason.or((from >= Status::Mitigated).then_some(ClosureReason::Resolved));
        if !has(key_event::RESOLVED) {
            system.push(key_event::RESOLVED);
        }
    }
    if from == Status::Closed && to != Status::Closed {
        // Reopened: open again; the closing stays on the timeline.
        incident.closed_at = None;
        incident.closure_reason = None;
    }
    incident.status = to;
    system
        .into_iter()
        .map(|slug| KeyEvent {
            event_type: slug.to_owned(),
            at,
            recorded_by: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CategoryId, EnvironmentId, IncidentId, PriorityId, UserId};

    fn incident(status: Status) -> Incident {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        Incident {
            id: IncidentId(1),
            title: "Checkout answers 500".into(),
            description: String::new(),
            status,
            priority_id: PriorityId(uuid::Uuid::nil()),
            category_id: CategoryId(uuid::Uuid::nil()),
            environment_id: EnvironmentId(uuid::Uuid::nil()),
            environment_ids: vec![EnvironmentId(uuid::Uuid::nil())],
            created_by: UserId(uuid::Uuid::nil()),
            created_at: at,
            updated_at: at,
            mitigated_at: None,
            closed_at: None,
            closure_reason: None,
            closure_reference: String::new(),
            custom_fields: Default::default(),
            dedup_key: None,
            ignore: false,
            private: false,
            tags: Vec::new(),
            version: 1,
        }
    }

    fn slugs(events: &[KeyEvent]) -> Vec<&str> {
        events.iter().map(|k| k.event_type.as_str()).collect()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn first_mitigation_records_mitigated_and_recovered_and_its_time() {
        let mut i = incident(Status::Mitigating);
        let system = apply_transition(&mut i, &[], Status::Mitigated, None, at(60));
        assert_eq!(slugs(&system), ["mitigated", "recovered"]);
        assert_eq!(i.status, Status::Mitigated);
        assert_eq!(i.mitigated_at, Some(at(60)));
    }

    #[test]
    fn a_re_mitigation_keeps_the_first_time_and_moves_recovered() {
        let mut i = incident(Status::Investigating);
        i.mitigated_at = Some(at(60));
        let recorded = [
            KeyEvent {
                event_type: "mitigated".into(),
                at: at(60),
                recorded_by: None,
            },
            KeyEvent {
                event_type: "recovered".into(),
                at: at(60),
                recorded_by: None,
            },
        ];
        let system = apply_transition(&mut i, &recorded, Status::Mitigated, None, at(600));
        assert_eq!(slugs(&system), ["recovered"]);
        assert_eq!(i.mitigated_at, Some(at(60)));
    }

    #[test]
    fn closing_after_mitigation_is_resolved_and_an_early_closure_keeps_its_reason() {
        let mut i = incident(Status::PostMortem);
        let system = apply_transition(&mut i, &[], Status::Closed, None, at(900));
        assert_eq!(slugs(&system), ["resolved"]);
        assert_eq!(i.closure_reason, Some(ClosureReason::Resolved));
        assert_eq!(i.closed_at, Some(at(900)));

        let mut early = incident(Status::Investigating);
        apply_transition(
            &mut early,
            &[],
            Status::Closed,
            Some(ClosureReason::Duplicate),
            at(30),
        );
        assert_eq!(early.closure_reason, Some(ClosureReason::Duplicate));
        let mut unexplained = incident(Status::Open);
        apply_transition(&mut unexplained, &[], Status::Closed, None, at(30));
        assert_eq!(unexplained.closure_reason, None);
    }

    #[test]
    fn other_changes_only_set_the_status() {
        let mut i = incident(Status::Open);
        let system = apply_transition(&mut i, &[], Status::Investigating, None, at(5));
        assert!(system.is_empty());
        assert_eq!(
            (i.status, i.mitigated_at, i.closed_at),
            (Status::Investigating, None, None)
        );
    }
}
