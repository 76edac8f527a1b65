//! The lifecycle rules, checked over every combination of inputs against an
//! independent statement of the rules, plus the cases FireFighter's own tests assert.

use proptest::prelude::*;

use super::*;
use Status::*;

const PM_STATES: [fn() -> PostMortemState; 5] = [
    || PostMortemState::NoBackend,
    || PostMortemState::Missing,
    || PostMortemState::NotReady("Draft".into()),
    || PostMortemState::Ready,
    || PostMortemState::Unknown("HTTP 503".into()),
];

/// P1, P2 (post-mortem priorities), P3 (key events), P4 (nothing), GAMEDAY.
const PRIORITIES: [(i32, bool); 5] = [(1, true), (2, true), (3, false), (4, false), (20, false)];

fn reasons_options() -> Vec<Option<ClosureReason>> {
    std::iter::once(None)
        .chain(ClosureReason::ALL.into_iter().map(Some))
        .collect()
}

/// The rules, stated a second time as a plain decision list.
#[allow(clippy::too_many_arguments)]
fn expected(
    from: Status,
    to: Status,
    priority: i32,
    pm_required: bool,
    ignore: bool,
    pm: &PostMortemState,
    missing: bool,
    message: &str,
    reason: Option<ClosureReason>,
    was_mitigated: bool,
) -> Vec<&'static str> {
    let long_enough = message.trim().chars().count() >= 10;
    if from == to {
        return vec![];
    }
    if from == Closed {
        return match to {
            Investigating | Mitigating if long_enough => vec![],
            Investigating | Mitigating => vec!["ReopenMessageTooShort"],
            _ => vec!["AlreadyClosed"],
        };
    }
    let forward_active = [Investigating, Mitigating, Mitigated].contains(&to) && to > from;
    if forward_active {
        return vec![];
    }
    match (from, to) {
        (_, Open) => vec!["NotAllowed"],
        (Mitigated | PostMortem, Investigating | Mitigating) => {
            if long_enough {
                vec![]
            } else {
                vec!["ReopenMessageTooShort"]
            }
        }
        (_, Investigating | Mitigating | Mitigated) => vec!["NotAllowed"],
        (Open | Investigating | Mitigating, PostMortem) => vec!["StatusNotMitigated"],
        (_, PostMortem) => vec![],
        (_, Closed) if ignore => vec![],
        (Open | Investigating | Mitigating, Closed) if was_mitigated => vec!["StatusNotMitigated"],
        (Open | Investigating | Mitigating, Closed) => {
            let mut r = vec![];
            match reason {
                None => r.push("ClosureReasonRequired"),
                Some(ClosureReason::Resolved) => r.push("ResolvedBeforeMitigation"),
                _ => {}
            }
            if message.trim().is_empty() {
                r.push("MessageRequired");
            }
            r
        }
        (Mitigated | PostMortem, Closed) => {
            let mut r = vec![];
            if pm_required && from == Mitigated {
                r.push("MustPassPostMortem");
            }
            if pm_required && from == PostMortem {
                match pm {
                    PostMortemState::Missing => r.push("PostMortemMissing"),
                    PostMortemState::NotReady(_) => r.push("PostMortemNotReady"),
                    PostMortemState::Unknown(_) => r.push("PostMortemStatusUnknown"),
                    _ => {}
                }
            }
            if priority < 4 && missing {
                r.push("MissingKeyEvents");
            }
            r
        }
        _ => unreachable!("every (from, to) pair is covered: {from:?} {to:?}"),
    }
}

fn code(reason: &RefusalReason) -> &'static str {
    match reason {
        RefusalReason::NotAllowed => "NotAllowed",
        RefusalReason::AlreadyClosed => "AlreadyClosed",
        RefusalReason::ClosureReasonRequired => "ClosureReasonRequired",
        RefusalReason::ResolvedBeforeMitigation => "ResolvedBeforeMitigation",
        RefusalReason::MessageRequired => "MessageRequired",
        RefusalReason::ReopenMessageTooShort { .. } => "ReopenMessageTooShort",
        RefusalReason::StatusNotMitigated => "StatusNotMitigated",
        RefusalReason::MustPassPostMortem => "MustPassPostMortem",
        RefusalReason::PostMortemMissing => "PostMortemMissing",
        RefusalReason::PostMortemNotReady { .. } => "PostMortemNotReady",
        RefusalReason::PostMortemStatusUnknown { .. } => "PostMortemStatusUnknown",
        RefusalReason::MissingKeyEvents { .. } => "MissingKeyEvents",
    }
}

#[test]
fn every_combination_matches_the_rules() {
    let messages = ["", "short", "the fix did not hold, errors are back"];
    let missing_sets: [Vec<String>; 2] = [vec![], vec!["started".into(), "detected".into()]];
    let mut checked = 0;
    for from in Status::ALL {
        for to in Status::ALL {
            for (priority, needs_pm) in PRIORITIES {
                for production in [true, false] {
                    let pm_required = needs_pm && production;
                    for pm in PM_STATES.iter().map(|f| f()) {
                        for reason in reasons_options() {
                            for (ignore, was_mitigated) in
                                [(false, false), (true, false), (false, true), (true, true)]
                            {
                                for missing in &missing_sets {
                                    for message in messages {
                                        let facts = LifecycleFacts {
                                            status: from,
                                            priority_value: priority,
                                            postmortem_required: pm_required,
                                            ignore,
                                            was_mitigated,
                                            postmortem: &pm,
                                            missing_key_events: missing,
                                        };
                                        let change = StatusChange {
                                            to,
                                            message: Some(message),
                                            closure_reason: reason,
                                        };
                                        let got: Vec<&str> = match check_transition(&facts, &change)
                                        {
                                            Ok(()) => vec![],
                                            Err(refusal) => {
                                                assert!(!refusal.reasons.is_empty());
                                                assert_eq!(
                                                    refusal.messages().len(),
                                                    refusal.reasons.len()
                                                );
                                                refusal.reasons.iter().map(code).collect()
                                            }
                                        };
                                        let want = expected(
                                            from,
                                            to,
                                            priority,
                                            pm_required,
                                            ignore,
                                            &pm,
                                            !missing.is_empty(),
                                            message,
                                            reason,
                                            was_mitigated,
                                        );
                                        assert_eq!(
                                            got, want,
                                            "from {from:?} to {to:?}, P{priority}, prod {production}, pm {pm:?}, reason {reason:?}, ignore {ignore}, was mitigated {was_mitigated}, missing {missing:?}, message {message:?}"
                                        );
                                        checked += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 6 * 6 * 5 * 2 * 5 * 7 * 4 * 2 * 3);
}

fn facts<'a>(
    status: Status,
    priority: i32,
    pm_required: bool,
    pm: &'a PostMortemState,
    missing: &'a [String],
) -> LifecycleFacts<'a> {
    LifecycleFacts {
        status,
        priority_value: priority,
        postmortem_required: pm_required,
        ignore: false,
        was_mitigated: status >= Mitigated,
        postmortem: pm,
        missing_key_events: missing,
    }
}

fn to(status: Status) -> StatusChange<'static> {
    StatusChange {
        to: status,
        message: None,
        closure_reason: None,
    }
}

#[test]
fn p1_in_production_cannot_close_straight_from_mitigated() {
    let pm = PostMortemState::NoBackend;
    let err = check_transition(&facts(Mitigated, 1, true, &pm, &[]), &to(Closed)).unwrap_err();
    assert_eq!(err.reasons, vec![RefusalReason::MustPassPostMortem]);
    assert!(err.to_string().contains("Post-mortem"));
}

#[test]
fn p1_closes_from_post_mortem_only_when_the_document_is_ready() {
    let not_ready = PostMortemState::NotReady("In review".into());
    let err =
        check_transition(&facts(PostMortem, 1, true, &not_ready, &[]), &to(Closed)).unwrap_err();
    assert_eq!(
        err.reasons,
        vec![RefusalReason::PostMortemNotReady {
            current: "In review".into()
        }]
    );
    assert!(err.messages()[0].contains("In review"));
    let ready = PostMortemState::Ready;
    assert!(check_transition(&facts(PostMortem, 1, true, &ready, &[]), &to(Closed)).is_ok());
}

#[test]
fn without_a_backend_the_post_mortem_status_is_still_required() {
    let none = PostMortemState::NoBackend;
    assert!(check_transition(&facts(Mitigated, 2, true, &none, &[]), &to(Closed)).is_err());
    assert!(check_transition(&facts(Mitigated, 2, true, &none, &[]), &to(PostMortem)).is_ok());
    assert!(check_transition(&facts(PostMortem, 2, true, &none, &[]), &to(Closed)).is_ok());
}

#[test]
fn p3_needs_key_events_and_every_refusal_reason_is_listed() {
    let pm = PostMortemState::Missing;
    let missing = vec!["started".to_owned(), "detected".to_owned()];
    let err =
        check_transition(&facts(PostMortem, 1, true, &pm, &missing), &to(Closed)).unwrap_err();
    assert_eq!(err.reasons.len(), 2, "{err}");
    let err =
        check_transition(&facts(Mitigated, 3, false, &pm, &missing), &to(Closed)).unwrap_err();
    assert_eq!(
        err.reasons,
        vec![RefusalReason::MissingKeyEvents {
            missing: missing.clone()
        }]
    );
    assert!(err.to_string().contains("started, detected"));
    // P4 and GAMEDAY skip the key events.
    assert!(check_transition(&facts(Mitigated, 4, false, &pm, &missing), &to(Closed)).is_ok());
    assert!(check_transition(&facts(Mitigated, 20, false, &pm, &missing), &to(Closed)).is_ok());
}

#[test]
fn early_closure_needs_a_reason_other_than_resolved_and_a_message() {
    let pm = PostMortemState::NoBackend;
    let f = facts(Open, 1, true, &pm, &[]);
    let err = check_transition(&f, &to(Closed)).unwrap_err();
    assert_eq!(
        err.reasons,
        vec![
            RefusalReason::ClosureReasonRequired,
            RefusalReason::MessageRequired
        ]
    );
    let resolved = StatusChange {
        to: Closed,
        message: Some("fixed itself"),
        closure_reason: Some(ClosureReason::Resolved),
    };
    assert_eq!(
        check_transition(&f, &resolved).unwrap_err().reasons,
        vec![RefusalReason::ResolvedBeforeMitigation]
    );
    let duplicate = StatusChange {
        to: Closed,
        message: Some("same as #12"),
        closure_reason: Some(ClosureReason::Duplicate),
    };
    assert!(check_transition(&f, &duplicate).is_ok());
    assert!(closing_needs_reason(&f));
}

#[test]
fn reopening_needs_ten_characters() {
    let pm = PostMortemState::NoBackend;
    let f = facts(Mitigated, 2, true, &pm, &[]);
    let short = StatusChange {
        to: Investigating,
        message: Some("  again   "),
        closure_reason: None,
    };
    assert!(check_transition(&f, &short).is_err());
    let ok = StatusChange {
        message: Some("errors are back"),
        ..short
    };
    assert!(check_transition(&f, &ok).is_ok());
}

#[test]
fn offered_statuses_follow_the_rules() {
    let pm = PostMortemState::NoBackend;
    assert_eq!(
        offered_statuses(&facts(Open, 1, true, &pm, &[])),
        vec![Open, Investigating, Mitigating, Mitigated, Closed]
    );
    assert_eq!(
        offered_statuses(&facts(Mitigated, 1, true, &pm, &[])),
        vec![Investigating, Mitigating, Mitigated, PostMortem]
    );
    assert_eq!(
        offered_statuses(&facts(Mitigated, 4, false, &pm, &[])),
        vec![Investigating, Mitigating, Mitigated, PostMortem, Closed]
    );
    assert_eq!(
        offered_statuses(&facts(Closed, 4, false, &pm, &[])),
        vec![Investigating, Mitigating, Closed]
    );
}

#[test]
fn statuses_parse_and_keep_their_stored_values() {
    for s in Status::ALL {
        assert_eq!(Status::from_value(s.value()), Some(s));
        assert_eq!(Status::parse(s.slug()), Some(s));
        assert_eq!(Status::parse(s.label()), Some(s));
    }
    assert_eq!(Status::parse("40"), Some(Mitigated));
    assert_eq!(Status::parse("postmortem"), Some(PostMortem));
    assert_eq!(Status::parse("fixed"), None);
    assert_eq!(Status::from_value(15), None);
}

fn any_status() -> impl Strategy<Value = Status> {
    prop::sample::select(Status::ALL.to_vec())
}

/// The state a sequence of accepted commands leads to.
#[derive(Debug, Clone)]
struct Model {
    status: Status,
    visited_post_mortem: bool,
    mitigated: bool,
}

proptest! {
    /// Whatever commands are tried, an accepted sequence never reaches a state
    /// the rules forbid: a post-mortem incident in production is only closed
    /// after Post-mortem, nothing is closed before mitigation without a reason,
    /// Closed is left only by a reopening (to Investigating or Mitigating,
    /// with an explanation) and nothing returns to Open.
    #[test]
    fn no_command_sequence_reaches_a_forbidden_state(
        steps in prop::collection::vec((any_status(), any::<bool>(), 0usize..7, any::<bool>()), 1..40),
        priority in prop::sample::select(vec![1, 2, 3, 4, 5, 20]),
        production in any::<bool>(),
    ) {
        let pm_required = priority <= 2 && production;
        let pm = PostMortemState::Ready;
        let mut model = Model { status: Open, visited_post_mortem: false, mitigated: false };
        for (target, long_message, reason_index, key_events_done) in steps {
            let missing: Vec<String> = if key_events_done { vec![] } else { vec!["started".into()] };
            let facts = LifecycleFacts {
                status: model.status,
                priority_value: priority,
                postmortem_required: pm_required,
                ignore: false,
                was_mitigated: model.mitigated,
                postmortem: &pm,
                missing_key_events: &missing,
            };
            let reason = ClosureReason::ALL.get(reason_index).copied();
            let change = StatusChange {
                to: target,
                message: Some(if long_message { "a long enough explanation" } else { "" }),
                closure_reason: reason,
            };
            if check_transition(&facts, &change).is_ok() && target != model.status {
                if model.status == Closed {
                    prop_assert!(
                        matches!(target, Investigating | Mitigating) && long_message,
                        "left Closed other than by a reopening"
                    );
                }
                prop_assert!(target != Open, "went back to Open");
                if target == Closed {
                    if model.mitigated || model.status >= Mitigated {
                        if pm_required {
                            prop_assert!(model.status == PostMortem && model.visited_post_mortem);
                        }
                        if priority < 4 {
                            prop_assert!(key_events_done);
                        }
                    } else {
                        prop_assert!(reason.is_some() && reason != Some(ClosureReason::Resolved) && long_message);
                    }
                }
                if target == PostMortem {
                    prop_assert!(model.status >= Mitigated);
                    model.visited_post_mortem = true;
                }
                if target == Mitigated {
                    model.mitigated = true;
                }
                model.status = target;
            }
        }
    }
}

#[test]
fn checking_a_transition_is_cheap_and_allocation_free_on_success() {
    // A smoke check of the fast path; the benchmark measures it.
    let pm = PostMortemState::Ready;
    let f = facts(Investigating, 1, true, &pm, &[]);
    for _ in 0..1000 {
        assert!(check_transition(&f, &to(Mitigating)).is_ok());
    }
}
