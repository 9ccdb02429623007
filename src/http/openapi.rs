//! The OpenAPI document (`GET /openapi.json`), generated from the route annotations and
//! the types the routes answer with (`utoipa`), so it cannot drift from the code.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "stagecraft", description = "GitOps for AI assistant configurations: the daemon's API."),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::hooks::hook,
        super::environments::list,
        super::environments::assistants,
        super::environments::pull,
        super::history::history,
        super::history::version,
        super::diff::diff,
        super::review::review,
        super::writes::publish,
        super::writes::discard,
        super::writes::promote,
        super::writes::rollback,
        super::writes::revert,
        super::writes::restore,
        super::testing::test,
        super::testing::chat,
    ),
    components(schemas(crate::wire::ChatEvent)),
    modifiers(&Bearer),
    tags((name = "read"), (name = "write"), (name = "operations"))
)]
pub struct Document;

/// The bearer token scheme of every `/v1` route.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The document as JSON.
pub fn json() -> String {
    Document::openapi().to_json().expect("the OpenAPI document serializes")
}

/// `GET /openapi.json`, anonymous.
pub async fn serve() -> axum::response::Response {
    use axum::response::IntoResponse;
    ([(axum::http::header::CONTENT_TYPE, "application/json")], json()).into_response()
}
