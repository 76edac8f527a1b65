//! The command line of the `firefighter` binary (`cargo run --example
//! firefighter -- --help`): serve (the default), migrate, tasks, users and
//! API tokens. Every subcommand reads the same `DATABASE_URL`.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use firefighter_core::{Email, Firefighter, NewUser, Settings};

use crate::server::auth::password;
use crate::server::{AppState, Listener, ServerConfig, auth, ensure_admin};
use crate::{Error, Result};

/// Incident management: the server and its administration commands.
#[derive(Debug, Parser)]
#[command(name = "firefighter", version, about, long_about = None)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the web server and the workers (creates, migrates and seeds the database).
    Serve,
    /// Create the database if needed and bring its schema up to date.
    Migrate,
    /// Periodic tasks.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Slack.
    #[cfg(feature = "slack")]
    #[command(subcommand)]
    Slack(SlackCommand),
}

/// `slack ...`
#[cfg(feature = "slack")]
#[derive(Debug, Subcommand)]
pub enum SlackCommand {
    /// Print the Slack app manifest (command and aliases, scopes, events,
    /// interactivity and event URLs from BASE_URL), to create or update the app.
    Manifest,
}

/// `task ...`
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// List the tasks with their schedules and last runs.
    List,
    /// Run a task now, whatever its schedule.
    Run {
        /// The task's name (see `task list`).
        name: String,
    },
}

/// `user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (or update it if the e-mail exists) and set its password.
    Create(UserCreate),
}

/// `user create`
#[derive(Debug, Args)]
pub struct UserCreate {
    /// E-mail (the login).
    #[arg(long)]
    pub email: String,
    /// Display name (default: the e-mail's local part).
    #[arg(long)]
    pub name: Option<String>,
    /// Make the account an administrator (staff, back-office).
    #[arg(long)]
    pub admin: bool,
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; the token is printed alone on the last line.
    Create(TokenCreate),
}

/// `token create`
#[derive(Debug, Args)]
pub struct TokenCreate {
    /// Whose token (calls made with it act as this user).
    #[arg(long)]
    pub email: String,
    /// What it is for.
    #[arg(long, default_value = "cli")]
    pub name: String,
    /// Scopes (repeatable): incidents:read, incidents:write, incidents:read_private, admin.
    /// Default: incidents:read and incidents:write.
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Days until it expires (default: never).
    #[arg(long)]
    pub expires_in_days: Option<u32>,
}

/// Whether each integration is on, and why not when off. Integration
/// features add their line here.
pub fn integrations_status() -> Vec<(&'static str, bool, String)> {
    crate::server::integrations::status()
        .into_iter()
        .map(|s| (s.name, s.on, s.why))
        .collect()
}

/// Starts logging: `LOG_LEVEL` (an `EnvFilter`, default `info`), JSON lines when `LOG_FORMAT=json`.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_new(
        std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into()),
    )
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Runs the command line with the process's arguments and environment.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let settings = Settings::from_env()?;
        let config = ServerConfig::from_env()?;
        let mut out = std::io::stdout();
        execute(cli, settings, config, &mut out).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn build(settings: Settings) -> Result<Firefighter> {
    Ok(Firefighter::builder(settings).build().await?)
}

/// Runs one command with these settings, writing its output to `out`.
pub async fn execute(
    cli: Cli,
    settings: Settings,
    config: ServerConfig,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings, config, out).await,
        Command::Migrate => {
            use secrecy::ExposeSecret;
            let store =
                firefighter_core::store::connect(settings.database_url.expose_secret()).await?;
            writeln!(out, "The {} database is up to date.", store.backend())?;
            Ok(())
        }
        Command::Task(TaskCommand::List) => {
            let app = build(settings).await?;
            let schedules = app.store().task_schedules().await?;
            if app.tasks().is_empty() {
                writeln!(
                    out,
                    "No periodic task is registered (integrations add theirs)."
                )?;
            }
            for name in app.task_names() {
                let s = schedules.iter().find(|s| s.name == name);
                let schedule = s
                    .and_then(|s| s.schedule.as_ref())
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "by hand only".into());
                let enabled = if s.is_some_and(|s| s.enabled) {
                    "enabled"
                } else {
                    "disabled"
                };
                let last = app.store().task_runs(Some(&name), 1).await?;
                let last = last
                    .first()
                    .map(|r| format!("last run {} ({})", r.started_at.to_rfc3339(), r.outcome()))
                    .unwrap_or_else(|| "never run".into());
                writeln!(out, "{name}\t{enabled}\t{schedule}\t{last}")?;
            }
            Ok(())
        }
        Command::Task(TaskCommand::Run { name }) => {
            let app = build(settings).await?;
            if !app.task_names().contains(&name) {
                return Err(Error::invalid(
                    "name",
                    "does_not_exist",
                    format!("no task named \"{name}\" (see `task list`)"),
                ));
            }
            let run = firefighter_core::task::TaskRunner::for_app(&app)
                .run_now(&name)
                .await?;
            match &run.error {
                Some(e) => Err(Error::Internal(format!("task {name} failed: {e}"))),
                None => {
                    writeln!(out, "{name}: {}", run.summary.as_deref().unwrap_or("done"))?;
                    Ok(())
                }
            }
        }
        Command::User(UserCommand::Create(args)) => user_create(settings, args, out).await,
        #[cfg(feature = "slack")]
        Command::Slack(SlackCommand::Manifest) => {
            let slack = firefighter_slack::SlackConfig::from_env_for_manifest().map_err(|e| {
                Error::invalid(
                    "slack",
                    "invalid",
                    format!("the Slack settings are invalid: {e}"),
                )
            })?;
            let manifest = firefighter_slack::manifest(&settings, &slack);
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&manifest).expect("a manifest is plain JSON")
            )?;
            Ok(())
        }
        Command::Token(TokenCommand::Create(args)) => {
            let app = build(settings).await?;
            let state = AppState::new(app, config);
            let email = Email::parse(&args.email)?;
            let user = state
                .app
                .store()
                .user_by_email(email.as_str())
                .await?
                .ok_or_else(|| {
                    Error::invalid(
                        "email",
                        "does_not_exist",
                        format!("no account {email}; create it with `user create`"),
                    )
                })?;
            let expires = args
                .expires_in_days
                .map(|d| firefighter_core::store::now() + chrono::Duration::days(i64::from(d)));
            let (secret, token) =
                auth::issue_api_token(&state, user.id, &args.name, &args.scopes, expires).await?;
            writeln!(
                out,
                "API token \"{}\" for {} with scopes {}.",
                token.name,
                user.email,
                token.scopes.join(", ")
            )?;
            writeln!(
                out,
                "Send it as `Authorization: Bearer <token>`. It is shown only now:"
            )?;
            writeln!(out, "{secret}")?;
            Ok(())
        }
    }
}

async fn user_create(
    settings: Settings,
    args: UserCreate,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    let email = Email::parse(&args.email)?;
    let pw = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password(format!("Password for {email}: "))?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            return Err(Error::invalid(
                "password",
                "invalid",
                "the two passwords differ",
            ));
        }
        first
    };
    password::validate_password(&pw)?;
    let app = build(settings).await?;
    let store = app.store();
    let (user, created) = match store.user_by_email(email.as_str()).await? {
        Some(mut user) => {
            if let Some(name) = &args.name {
                user.name = name.clone();
            }
            if args.admin {
                user.is_admin = true;
                user.is_staff = true;
            }
            user.is_active = true;
            store.update_user(&user).await?;
            (user, false)
        }
        None => {
            let user = store
                .create_user(&NewUser {
                    name: args.name.clone(),
                    is_staff: args.admin,
                    is_admin: args.admin,
                    ..NewUser::person(email)
                })
                .await?;
            (user, true)
        }
    };
    let hash = password::hash_password(pw).await?;
    store.set_password_hash(user.id, Some(&hash)).await?;
    // A new password ends the sessions opened with the old one.
    store.delete_user_sessions(user.id).await?;
    writeln!(
        out,
        "{} {}{}.",
        if created { "Created" } else { "Updated" },
        user.email,
        if user.is_admin {
            " (administrator)"
        } else {
            ""
        }
    )?;
    Ok(())
}

/// E-mail of the account made on first start when nobody can log in.
pub const BOOTSTRAP_ADMIN: &str = "admin@firefighter.localhost";

/// When no account has a password (a fresh database) and `FF_ADMIN_EMAIL` is
/// not set, creates an administrator with a random password and returns it,
/// so that the first start can be logged into.
async fn bootstrap_admin(app: &Firefighter) -> Result<Option<String>> {
    let store = app.store();
    for user in store.list_users().await? {
        if user.is_active && store.password_hash(user.id).await?.is_some() {
            return Ok(None);
        }
    }
    let email = Email::parse(BOOTSTRAP_ADMIN)?;
    let existing = store.user_by_email(email.as_str()).await?;
    let user = match existing {
        Some(u) => u,
        None => match store
            .create_user(&NewUser {
                name: Some("Administrator".into()),
                is_staff: true,
                is_admin: true,
                ..NewUser::person(email.clone())
            })
            .await
        {
            Ok(u) => u,
            // Another instance started at the same moment created it.
            Err(firefighter_core::Error::Conflict(_)) => store
                .user_by_email(email.as_str())
                .await?
                .ok_or_else(|| firefighter_core::Error::not_found("user", BOOTSTRAP_ADMIN))?,
            Err(e) => return Err(e.into()),
        },
    };
    let secret = crate::server::auth::session::random_hex(10);
    let hash = password::hash_password(secret.clone()).await?;
    // Only the instance whose password landed shows it: the other one's would not work.
    if store.set_first_password_hash(user.id, &hash).await? {
        Ok(Some(secret))
    } else {
        Ok(None)
    }
}

async fn serve(
    mut settings: Settings,
    config: ServerConfig,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    // Bound first: without BASE_URL, links lead to the port actually got.
    let listener = Listener::bind(&config).await?;
    listener.fill_base_url(&mut settings)?;
    let app = build(settings).await?;
    let admin = ensure_admin(&app, &config).await?;
    let bootstrap = if admin.is_none() && config.trusted_proxy_user_header.is_none() {
        bootstrap_admin(&app).await?
    } else {
        None
    };
    writeln!(out, "Integrations:")?;
    for (name, on, why) in integrations_status() {
        if on {
            writeln!(out, "  {name:<11} on")?;
        } else {
            writeln!(out, "  {name:<11} off: {why}")?;
        }
    }
    let state = AppState::new(app, config);
    let addr = listener.local_addr()?;
    let server = listener.serve(state.clone());
    let base = state.app.settings().base_url().to_owned();
    writeln!(
        out,
        "firefighter listens on http://{addr} (BASE_URL {base}, database: {})",
        state.app.store().backend()
    )?;
    match (&admin, &bootstrap, &state.config.trusted_proxy_user_header) {
        (_, _, Some(header)) => writeln!(
            out,
            "Log in through your proxy: it passes the user's e-mail in the {header} header."
        )?,
        (Some(email), _, _) => {
            let has_password = match state.app.store().user_by_email(email).await? {
                Some(u) => state.app.store().password_hash(u.id).await?.is_some(),
                None => false,
            };
            if has_password {
                writeln!(out, "Log in at {base}/login as {email} (FF_ADMIN_EMAIL).")?;
            } else {
                writeln!(
                    out,
                    "{email} (FF_ADMIN_EMAIL) has no password yet: set FF_ADMIN_PASSWORD or run `user create --email {email} --admin`, then log in at {base}/login."
                )?;
            }
        }
        (None, Some(secret), _) => {
            writeln!(
                out,
                "Log in at {base}/login as {BOOTSTRAP_ADMIN} with the password {secret}"
            )?;
            writeln!(
                out,
                "(shown once; set your own with `user create --email {BOOTSTRAP_ADMIN} --admin`)."
            )?;
        }
        (None, None, _) => writeln!(
            out,
            "Log in at {base}/login (create accounts with `user create --email you@example.com [--admin]`)."
        )?,
    }
    out.flush()?;
    server.run().await
}
