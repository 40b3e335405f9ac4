//! Liveness and readiness probes for orchestrators and load balancers.

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use crate::{auth::guard::NoAuth, error::ErrorBody, http::schema::Success, state::AppState, tags::ApiTags};

/// `GET /health` and `GET /ready`.
pub(crate) struct HealthApi;

/// A probe's answer.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct ProbeStatus {
    /// `ok` when alive, `ready` when the database answers.
    #[oai(validator(max_length = 16))]
    status: String,
}

impl poem_openapi::types::Example for ProbeStatus {
    fn example() -> Self {
        Self { status: "ok".to_owned() }
    }
}

/// Readiness: 200 when the database answers, 503 when it does not.
#[derive(ApiResponse)]
pub(crate) enum ReadyResponse {
    /// The service can serve requests.
    #[oai(status = 200)]
    Ready(Json<ProbeStatus>),
    /// The database is unreachable (`SERVICE_UNAVAILABLE`).
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        /// Seconds to wait before asking again.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: the process is up
    ///
    /// Answers without touching the database, so a database outage does not get the process
    /// restarted.
    #[oai(path = "/health", method = "get", operation_id = "get_health")]
    async fn health(&self, _auth: NoAuth) -> Success<ProbeStatus> {
        Success(ProbeStatus { status: "ok".to_owned() })
    }

    /// Readiness: the database is reachable
    ///
    /// Runs `SELECT 1`; answers 503 `SERVICE_UNAVAILABLE` when the database is down or the pool
    /// cannot hand out a connection within the configured timeout.
    #[oai(path = "/ready", method = "get", operation_id = "get_readiness")]
    async fn ready(&self, state: Data<&AppState>, _auth: NoAuth) -> ReadyResponse {
        match state.ping_database().await {
            Ok(()) => ReadyResponse::Ready(Json(ProbeStatus { status: "ready".to_owned() })),
            Err(err) => {
                tracing::warn!(error = %err, "readiness check failed");
                ReadyResponse::Unavailable(
                    Json(ErrorBody {
                        code: Some(crate::error::code::SERVICE_UNAVAILABLE.to_owned()),
                        message: "The database is unreachable".to_owned(),
                    }),
                    1,
                )
            }
        }
    }
}
