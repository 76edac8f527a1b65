//! The HTTP form of [`crate::Error`], in one place: status codes and the
//! drf-standardized-errors body the original's clients read
//! (`{"type": "validation_error" | "client_error" | "server_error", "errors": [{"code", "detail", "attr"}]}`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firefighter_core::Error as CoreError;
use serde::Serialize;

use crate::error::{Error, Problem};

/// The error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// `validation_error`, `client_error` or `server_error`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// Every problem found.
    pub(crate) errors: Vec<ErrorItem>,
}

/// One problem.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorItem {
    /// A stable code.
    pub(crate) code: String,
    /// A sentence for a person.
    pub(crate) detail: String,
    /// The field concerned, if any.
    pub(crate) attr: Option<String>,
}

impl From<Problem> for ErrorItem {
    fn from(p: Problem) -> Self {
        ErrorItem {
            code: p.code,
            detail: p.detail,
            attr: p.attr,
        }
    }
}

fn item(code: &str, detail: impl Into<String>) -> ErrorItem {
    ErrorItem {
        code: code.to_owned(),
        detail: detail.into(),
        attr: None,
    }
}

/// A stable code for a core validation message (core gives a field and a sentence).
pub(crate) fn code_for(message: &str) -> &'static str {
    if message.ends_with("is required") || message.contains("is required (") {
        "required"
    } else if message.contains("does not exist") {
        "does_not_exist"
    } else if message.contains("at most") {
        "max_length"
    } else if message.contains("at least") {
        "min_length"
    } else {
        "invalid"
    }
}

impl Error {
    /// The status and body of this error.
    pub(crate) fn parts(self) -> (StatusCode, ErrorBody) {
        let client = |status, errors| {
            (
                status,
                ErrorBody {
                    kind: "client_error",
                    errors,
                },
            )
        };
        match self {
            Error::Core(CoreError::Invalid(fields)) => (
                StatusCode::BAD_REQUEST,
                ErrorBody {
                    kind: "validation_error",
                    errors: fields
                        .into_iter()
                        .map(|f| ErrorItem {
                            code: code_for(&f.message).to_owned(),
                            detail: f.message,
                            attr: (!f.field.is_empty()).then_some(f.field),
                        })
                        .collect(),
                },
            ),
            Error::Invalid(problems) => (
                StatusCode::BAD_REQUEST,
                ErrorBody {
                    kind: "validation_error",
                    errors: problems.into_iter().map(ErrorItem::from).collect(),
                },
            ),
            Error::Core(CoreError::NotFound { what, id }) => client(
                StatusCode::NOT_FOUND,
                vec![item("not_found", format!("{what} {id} does not exist"))],
            ),
            Error::Core(CoreError::Refused(refusal)) => {
                let messages = refusal.messages();
                client(
                    StatusCode::CONFLICT,
                    refusal
                        .reasons
                        .iter()
                        .zip(messages)
                        .map(|(reason, detail)| ErrorItem {
                            code: serde_json::to_value(reason)
                                .ok()
                                .and_then(|v| v.get("code")?.as_str().map(str::to_owned))
                                .unwrap_or_else(|| "refused".into()),
                            detail,
                            attr: Some("status".into()),
                        })
                        .collect(),
                )
            }
            Error::Core(CoreError::Conflict(message)) => {
                client(StatusCode::CONFLICT, vec![item("conflict", message)])
            }
            Error::Core(other) => {
                tracing::error!(error = %other, "request failed");
                server_error()
            }
            Error::NotAuthenticated => client(
                StatusCode::UNAUTHORIZED,
                vec![item(
                    "not_authenticated",
                    Error::NotAuthenticated.to_string(),
                )],
            ),
            Error::AuthenticationFailed => client(
                StatusCode::UNAUTHORIZED,
                vec![item(
                    "authentication_failed",
                    Error::AuthenticationFailed.to_string(),
                )],
            ),
            Error::PermissionDenied(detail) => client(
                StatusCode::FORBIDDEN,
                vec![item("permission_denied", detail)],
            ),
            Error::Csrf => client(
                StatusCode::FORBIDDEN,
                vec![item("csrf_failed", Error::Csrf.to_string())],
            ),
            Error::Parse(detail) => {
                client(StatusCode::BAD_REQUEST, vec![item("parse_error", detail)])
            }
            Error::NotFound => client(
                StatusCode::NOT_FOUND,
                vec![item("not_found", Error::NotFound.to_string())],
            ),
            e @ Error::IdempotencyMismatch => client(
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![item("idempotency_key_reused", e.to_string())],
            ),
            e @ Error::IdempotencyInProgress => client(
                StatusCode::CONFLICT,
                vec![item("idempotency_key_in_use", e.to_string())],
            ),
            e @ Error::PayloadTooLarge(_) => client(
                StatusCode::PAYLOAD_TOO_LARGE,
                vec![item("payload_too_large", e.to_string())],
            ),
            Error::NotAcceptable(detail) => client(
                StatusCode::NOT_ACCEPTABLE,
                vec![item("not_acceptable", detail)],
            ),
            Error::UnsupportedMediaType(detail) => client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                vec![item("unsupported_media_type", detail)],
            ),
            e @ Error::Timeout(_) => {
                tracing::warn!(error = %e, "request stopped");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorBody {
                        kind: "server_error",
                        errors: vec![item("timeout", e.to_string())],
                    },
                )
            }
            e @ (Error::Config(_) | Error::Io(_) | Error::Internal(_)) => {
                tracing::error!(error = %e, "request failed");
                server_error()
            }
        }
    }
}

fn server_error() -> (StatusCode, ErrorBody) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorBody {
            kind: "server_error",
            errors: vec![item("error", "A server error occurred.")],
        },
    )
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let unauthenticated = matches!(self, Error::NotAuthenticated | Error::AuthenticationFailed);
        let (status, body) = self.parts();
        let mut response = (status, axum::Json(body)).into_response();
        if unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"api\""),
            );
        }
        response
    }
}

/// The error as a small HTML page, for browsers (forms posted without a valid CSRF token...).
pub(crate) fn html_response(error: Error) -> Response {
    let (status, body) = error.parts();
    let details: String = body
        .errors
        .iter()
        .map(|e| format!("<li>{}</li>", escape_html(&e.detail)))
        .collect();
    let reason = status.canonical_reason().unwrap_or("Error");
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code} {reason}</title>\
         <link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main><h1>{code} {reason}</h1>\
         <ul>{details}</ul><p><a href=\"/\">Back to the dashboard</a></p></main></body></html>",
        code = status.as_u16(),
    );
    (status, axum::response::Html(page)).into_response()
}

/// Escapes text for HTML.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
