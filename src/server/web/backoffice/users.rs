//! Users: the list, creating an account, its flags (active, staff,
//! administrator, bot) and its password. Deactivating an account or
//! changing its password closes its sessions.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, Query, State};
use axum::response::IntoResponse;
use firefighter_core::{Email, NewUser, User, UserId};

use super::editor::{EditPage, ExtraForm, Field, Reader, general_messages, refill};
use crate::server::AppState;
use crate::server::auth::password::{hash_password, validate_password};
use crate::server::web::format;
use crate::server::web::forms::{FormData, Messages};
use crate::server::web::page::{Chrome, PageResult, StaffChrome, WebError, notice, unprocessable};

#[derive(Debug, Clone)]
struct UserRow {
    id: String,
    email: String,
    name: String,
    flags: Vec<&'static str>,
    created: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "backoffice/users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserRow>,
    notice: Option<&'static str>,
    fields: Vec<Field>,
    messages: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct NoticeQuery {
    notice: Option<String>,
}

fn new_user_fields() -> Vec<Field> {
    vec![
        Field::text("email", "E-mail", "").required(),
        Field::text("name", "Name", ""),
        Field::checkbox("is_staff", "Staff (back-office)", false),
    ]
}

async fn users_page(
    state: &AppState,
    chrome: Chrome,
    notice: Option<&'static str>,
    fields: Vec<Field>,
    messages: Vec<String>,
) -> Result<UsersPage, WebError> {
    let tz = state.app.time_zone();
    let users = state
        .app
        .store()
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            id: u.id.to_string(),
            flags: [
                (!u.is_active, "deactivated"),
                (u.is_staff, "staff"),
                (u.is_admin, "admin"),
                (u.bot, "bot"),
            ]
            .into_iter()
            .filter_map(|(on, label)| on.then_some(label))
            .collect(),
            created: format::instant(u.created_at, tz),
            email: u.email,
            name: u.name,
        })
        .collect();
    Ok(UsersPage {
        chrome,
        users,
        notice,
        fields,
        messages,
    })
}

/// `GET /admin/users/`.
pub(super) async fn list(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    Ok(users_page(
        &state,
        chrome,
        notice(q.notice.as_deref()),
        new_user_fields(),
        Vec::new(),
    )
    .await?
    .into_response())
}

/// `POST /admin/users/`: creates an account (it gets a password on its page).
pub(super) async fn create(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let form = FormData(fields);
    let mut r = Reader::new(&form);
    let name = r.text("name", 0, 150);
    let email = match Email::parse(form.text("email")) {
        Ok(e) => Some(e),
        Err(firefighter_core::Error::Invalid(errors)) => {
            for e in errors {
                r.problem("email", e.message);
            }
            None
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(email) = email.filter(|_| r.messages.is_empty()) {
        let new = NewUser {
            name: Some(name).filter(|n| !n.is_empty()),
            is_staff: form.checked("is_staff"),
            ..NewUser::person(email)
        };
        match state.app.store().create_user(&new).await {
            Ok(user) => {
                tracing::info!(user = %user.email, by = %chrome.user.user.email, "account created from the back-office");
                return Ok(chrome.redirect(&format!("/admin/users/{}/?notice=created", user.id)));
            }
            Err(firefighter_core::Error::Conflict(_)) => {
                r.problem("email", "an account with this e-mail already exists")
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut fields = new_user_fields();
    refill(&mut fields, &form, &r.messages);
    let general = general_messages(&fields, &r.messages);
    Ok(unprocessable(
        users_page(&state, chrome, None, fields, general).await?,
    ))
}

fn user_fields(user: &User) -> Vec<Field> {
    vec![
        Field::text("email", "E-mail", user.email.clone()).read_only(true),
        Field::text("name", "Name", user.name.clone()),
        Field::checkbox(
            "is_active",
            "Active: can log in and be invited",
            user.is_active,
        ),
        Field::checkbox("is_staff", "Staff: can use the back-office", user.is_staff),
        Field::checkbox("is_admin", "Administrator", user.is_admin),
        Field::checkbox(
            "bot",
            "Bot or service account: never invited, never holds a role",
            user.bot,
        ),
    ]
}

fn password_form(user: &User, messages: &Messages) -> ExtraForm {
    let mut fields = vec![
        Field::password("password", "New password")
            .help("At least 10 characters. The user's open sessions are closed."),
    ];
    refill(&mut fields, &FormData::default(), messages);
    ExtraForm {
        title: "Password",
        action: format!("/admin/users/{}/password", user.id),
        messages: Vec::new(),
        fields,
        submit: "Set password",
    }
}

fn edit_page(
    chrome: Chrome,
    user: &User,
    fields: Vec<Field>,
    messages: Vec<String>,
    password: ExtraForm,
    notice: Option<&'static str>,
) -> EditPage {
    EditPage {
        chrome,
        title: format!("User {}", user.email),
        back: "/admin/users/".into(),
        back_label: "Users".into(),
        action: format!("/admin/users/{}/", user.id),
        fields,
        messages,
        submit: "Save",
        notice,
        extra: Some(password),
    }
}

async fn find(state: &AppState, id: &str) -> Result<User, WebError> {
    let id = id.parse::<UserId>().map_err(|_| WebError::not_found())?;
    state
        .app
        .store()
        .user(id)
        .await?
        .ok_or_else(WebError::not_found)
}

/// `GET /admin/users/<id>/`.
pub(super) async fn edit(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let user = find(&state, &id).await?;
    let password = password_form(&user, &Messages::default());
    Ok(edit_page(
        chrome,
        &user,
        user_fields(&user),
        Vec::new(),
        password,
        notice(q.notice.as_deref()),
    )
    .into_response())
}

/// `POST /admin/users/<id>/`: name and flags.
pub(super) async fn save(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let before = find(&state, &id).await?;
    let form = FormData(fields);
    let mut r = Reader::new(&form);
    let after = User {
        name: r.text("name", 0, 150),
        is_active: r.checked("is_active"),
        is_staff: r.checked("is_staff"),
        is_admin: r.checked("is_admin"),
        bot: r.checked("bot"),
        ..before.clone()
    };
    if before.id == chrome.user.user.id && !(after.is_active && (after.is_staff || after.is_admin))
    {
        r.problem("", "You cannot deactivate yourself or remove your own staff rights: ask another staff member.");
    }
    if r.messages.is_empty() {
        state.app.store().update_user(&after).await?;
        if before.is_active && !after.is_active {
            state.app.store().delete_user_sessions(after.id).await?;
        }
        tracing::info!(user = %after.email, by = %chrome.user.user.email, active = after.is_active, staff = after.is_staff, admin = after.is_admin, "account changed from the back-office");
        return Ok(chrome.redirect(&format!("/admin/users/{}/?notice=saved", after.id)));
    }
    let mut fields = user_fields(&before);
    refill(&mut fields, &form, &r.messages);
    let general = general_messages(&fields, &r.messages);
    let password = password_form(&before, &Messages::default());
    Ok(unprocessable(edit_page(
        chrome, &before, fields, general, password, None,
    )))
}

/// `POST /admin/users/<id>/password`.
pub(super) async fn set_password(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let user = find(&state, &id).await?;
    let form = FormData(fields);
    let password = form.raw("password").to_owned();
    let problems = match validate_password(&password) {
        Ok(()) => {
            let hash = hash_password(password).await?;
            state
                .app
                .store()
                .set_password_hash(user.id, Some(&hash))
                .await?;
            state.app.store().delete_user_sessions(user.id).await?;
            tracing::info!(user = %user.email, by = %chrome.user.user.email, "password set from the back-office");
            if user.id == chrome.user.user.id {
                // Their own sessions are closed too: back to the login page.
                return Ok(chrome.redirect("/login"));
            }
            return Ok(chrome.redirect(&format!("/admin/users/{}/?notice=password", user.id)));
        }
        Err(e) => Messages::from_server(e).map_err(WebError::from)?,
    };
    let mut extra = password_form(&user, &problems);
    extra.messages = general_messages(&extra.fields, &problems);
    Ok(unprocessable(edit_page(
        chrome,
        &user,
        user_fields(&user),
        Vec::new(),
        extra,
        None,
    )))
}
