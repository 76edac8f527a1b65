pub(crate) fn router() -> axum::Router<crate::server::AppState> { axum::Router::new() }
pub(crate) fn assets() -> axum::Router<crate::server::AppState> { axum::Router::new() }
