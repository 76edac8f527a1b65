//! Embedding firefighter in an existing axum service: its routes live under
//! `/incidents`, next to the service's own.
//!
//! ```text
//! cargo run --example embed
//! curl http://127.0.0.1:3000/hello
//! curl http://127.0.0.1:3000/incidents/api/v2/firefighter/monitoring/healthcheck
//! ```

use axum::Router;
use axum::routing::get;
use firefighter::core::{Firefighter, Settings};
use firefighter::server::{AppState, ServerConfig};

/// The service: its own routes, and firefighter nested under `/incidents`.
pub(crate) fn service(state: AppState) -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello from the host service" }))
        .nest("/incidents", firefighter::server::router(state))
}

#[tokio::main]
async fn main() -> firefighter::Result<()> {
    firefighter::cli::init_logging();
    let app = Firefighter::builder(Settings::from_env()?).build().await?;
    let state = AppState::new(app, ServerConfig::from_env()?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, service(state)).await?;
    Ok(())
}
