//! RFC 9457 problem details (`application/problem+json`): every API error, with `type`
//! from its stable error code, the status of that code, and the members the CLI's JSON
//! errors carry (`code`, `details`, `hint`, `retryable`). The document is the
//! [`crate::wire::ProblemBody`] that the `--server` client reads back.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{Code, Error};
pub use crate::wire::ProblemBody;

/// The `type` URI of a code.
pub fn type_uri(code: Code) -> String {
    format!("urn:stagecraft:error:{}", code.as_str())
}

/// A problem, ready to send (boxed: errors travel through many `Result`s).
#[derive(Debug, Clone)]
pub struct Problem(pub Box<ProblemBody>);

impl Problem {
    pub fn new(code: Code, detail: impl Into<String>, hint: Option<String>) -> Problem {
        Problem(Box::new(ProblemBody {
            kind: type_uri(code),
            title: code.as_str().to_string(),
            status: code.http_status(),
            detail: detail.into(),
            code: code.as_str().to_string(),
            details: Vec::new(),
            hint,
            retryable: code.retryable(),
            environment: None,
            notes: Vec::new(),
        }))
    }

    pub fn usage(detail: impl Into<String>) -> Problem {
        Problem::new(Code::Usage, detail, None)
    }

    pub fn not_found(detail: impl Into<String>, hint: impl Into<String>) -> Problem {
        Problem::new(Code::NotFound, detail, Some(hint.into()))
    }

    /// A status outside the error codes' own (405, 503), typed by the nearest code.
    pub fn with_status(mut self, status: StatusCode) -> Problem {
        self.0.status = status.as_u16();
        self
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Problem {
        let report = error.report();
        let details = report.to_json()["error"]["details"].as_array().cloned().unwrap_or_default();
        let mut problem = Problem::new(report.code, report.message.clone(), report.hint.clone());
        problem.0.details = details;
        if let Error::ConfirmationRequired { environment, .. } = &error {
            problem.0.environment = Some(environment.clone());
        }
        problem.0.notes = report.notes;
        problem
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let challenge = self.0.code == Code::Unauthenticated.as_str();
        let body = serde_json::to_vec(&self.0).expect("problems serialize");
        let mut response = (status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"stagecraft\""));
        }
        response
    }
}

/// The problems a write can answer, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum WriteProblems {
    #[response(
        status = 400,
        description = "bad input, or a protected environment without `confirm`",
        content_type = "application/problem+json"
    )]
    BadRequest(ProblemBody),
    #[response(status = 401, description = "no token, or an unknown one", content_type = "application/problem+json")]
    Unauthenticated(ProblemBody),
    #[response(status = 403, description = "too weak a role", content_type = "application/problem+json")]
    Forbidden(ProblemBody),
    #[response(
        status = 404,
        description = "no such environment, version or assistant",
        content_type = "application/problem+json"
    )]
    NotFound(ProblemBody),
    #[response(
        status = 409,
        description = "conflict, held, drift, nothing to do, …",
        content_type = "application/problem+json"
    )]
    Conflict(ProblemBody),
    #[response(status = 413, description = "a body over 1 MiB", content_type = "application/problem+json")]
    TooLarge(ProblemBody),
    #[response(status = 422, description = "the result does not validate", content_type = "application/problem+json")]
    Invalid(ProblemBody),
    #[response(status = 500, description = "git or the file system failed", content_type = "application/problem+json")]
    Failed(ProblemBody),
}
