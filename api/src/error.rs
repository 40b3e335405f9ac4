//! The one error type of the HTTP layer and THE mapping from every failure to
//! `(status, code, message)`, written once as JSON `{"code", "message"}`.
//!
//! Domain modules return their own enums (`AuthError`, `TaskError`) with no HTTP in them; they
//! reach [`ApiError`] through `From`, so `?` works in handlers. Framework errors (unknown route,
//! bad JSON, wrong content type, oversized body, unparsable parameters) are converted by
//! [`ErrorResponses`], the layer around every route, so no response body is ever plain text.
//!
//! Nothing here knows a route: how an API reports its malformed parameters (the status, where
//! each parameter lives) is a [`ParamErrors`] that API declares, and `app.rs` assigns each one
//! to its path prefix.

use poem::{
    Endpoint, IntoResponse, Request, Response,
    error::{MethodNotAllowedError, NotFoundError, ResponseError},
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::{
    Object,
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type,
};
use sea_orm::DbErr;

use crate::{
    auth::error::{AuthError, LinkProblem, RedirectField, TwoFactorError},
    http::layer::{Layer, call_next},
    tasks::model::TaskError,
};

/// Every error code this service sends, in one list.
pub(crate) mod code {
    pub(crate) const BAD_REQUEST: &str = "BAD_REQUEST";
    pub(crate) const NOT_FOUND: &str = "NOT_FOUND";
    pub(crate) const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    pub(crate) const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    pub(crate) const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub(crate) const VALIDATION_ERROR: &str = "VALIDATION_ERROR";
    pub(crate) const UNAUTHORIZED: &str = "UNAUTHORIZED";
    pub(crate) const FAILED_TO_GET_SESSION: &str = "FAILED_TO_GET_SESSION";
    pub(crate) const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
    pub(crate) const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
    pub(crate) const TASK_NOT_FOUND: &str = "TASK_NOT_FOUND";
    pub(crate) const TASK_LIMIT_REACHED: &str = "TASK_LIMIT_REACHED";
    pub(crate) const PRECONDITION_FAILED: &str = "PRECONDITION_FAILED";
    pub(crate) const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";
    pub(crate) const IDEMPOTENCY_IN_PROGRESS: &str = "IDEMPOTENCY_IN_PROGRESS";
    pub(crate) const SYNC_CURSOR_EXPIRED: &str = "SYNC_CURSOR_EXPIRED";
    pub(crate) const TOO_MANY_STREAMS: &str = "TOO_MANY_STREAMS";
    // Better Auth's catalogue (`docs/better-auth-wire.md` §2.2).
    pub(crate) const INVALID_EMAIL: &str = "INVALID_EMAIL";
    pub(crate) const INVALID_EMAIL_OR_PASSWORD: &str = "INVALID_EMAIL_OR_PASSWORD";
    pub(crate) const USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL: &str = "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL";
    pub(crate) const PASSWORD_TOO_SHORT: &str = "PASSWORD_TOO_SHORT";
    pub(crate) const PASSWORD_TOO_LONG: &str = "PASSWORD_TOO_LONG";
    pub(crate) const INVALID_PASSWORD: &str = "INVALID_PASSWORD";
    pub(crate) const INVALID_ORIGIN: &str = "INVALID_ORIGIN";
    pub(crate) const MISSING_OR_NULL_ORIGIN: &str = "MISSING_OR_NULL_ORIGIN";
    pub(crate) const CROSS_SITE_NAVIGATION_LOGIN_BLOCKED: &str = "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED";
    pub(crate) const INVALID_CALLBACK_URL: &str = "INVALID_CALLBACK_URL";
    pub(crate) const INVALID_REDIRECT_URL: &str = "INVALID_REDIRECT_URL";
    pub(crate) const EMAIL_NOT_VERIFIED: &str = "EMAIL_NOT_VERIFIED";
    pub(crate) const INVALID_TOKEN: &str = "INVALID_TOKEN";
    pub(crate) const USER_NOT_FOUND: &str = "USER_NOT_FOUND";
    pub(crate) const CREDENTIAL_ACCOUNT_NOT_FOUND: &str = "CREDENTIAL_ACCOUNT_NOT_FOUND";
    pub(crate) const SESSION_NOT_FRESH: &str = "SESSION_NOT_FRESH";
    pub(crate) const EMAIL_CAN_NOT_BE_UPDATED: &str = "EMAIL_CAN_NOT_BE_UPDATED";
    pub(crate) const EMAIL_ALREADY_VERIFIED: &str = "EMAIL_ALREADY_VERIFIED";
    pub(crate) const EMAIL_MISMATCH: &str = "EMAIL_MISMATCH";
    pub(crate) const METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED: &str = "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED";
    pub(crate) const RESET_PASSWORD_DISABLED: &str = "RESET_PASSWORD_DISABLED";
    pub(crate) const VERIFICATION_EMAIL_NOT_ENABLED: &str = "VERIFICATION_EMAIL_NOT_ENABLED";
    // The two-factor plugin's (`docs/better-auth-plugins.md` §Two-factor, "Errors").
    pub(crate) const INVALID_TWO_FACTOR_COOKIE: &str = "INVALID_TWO_FACTOR_COOKIE";
    pub(crate) const TOTP_NOT_ENABLED: &str = "TOTP_NOT_ENABLED";
    pub(crate) const TOTP_ALREADY_ENABLED: &str = "TOTP_ALREADY_ENABLED";
    pub(crate) const TWO_FACTOR_NOT_ENABLED: &str = "TWO_FACTOR_NOT_ENABLED";
    pub(crate) const BACKUP_CODES_NOT_ENABLED: &str = "BACKUP_CODES_NOT_ENABLED";
    pub(crate) const INVALID_CODE: &str = "INVALID_CODE";
    pub(crate) const INVALID_BACKUP_CODE: &str = "INVALID_BACKUP_CODE";
    pub(crate) const TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE: &str = "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE";
    pub(crate) const OTP_NOT_CONFIGURED: &str = "OTP_NOT_CONFIGURED";
    pub(crate) const OTP_HAS_EXPIRED: &str = "OTP_HAS_EXPIRED";
    pub(crate) const ACCOUNT_TEMPORARILY_LOCKED: &str = "ACCOUNT_TEMPORARILY_LOCKED";
}

/// The JSON body of every error response.
#[derive(Debug, Object)]
#[oai(rename = "Error", example)]
pub(crate) struct ErrorBody {
    /// Machine-readable error code in SCREAMING_SNAKE_CASE, e.g. `TASK_NOT_FOUND`. Absent only
    /// on the few Better Auth errors that carry a message alone (rate limiting, "No fields to
    /// update", "Email is the same").
    #[oai(skip_serializing_if_is_none, validator(max_length = 64))]
    pub(crate) code: Option<String>,
    /// Human-readable explanation; for validation errors it names the field, e.g.
    /// `[body.title] Too big: expected string to have <=200 characters`.
    #[oai(validator(max_length = 65536))]
    pub(crate) message: String,
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        Self { code: Some(code::TASK_NOT_FOUND.to_owned()), message: "Task not found".to_owned() }
    }
}

/// Which status a malformed parameter gets: Better Auth answers 400, this service's own
/// APIs 422.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParamStatus {
    /// `400 VALIDATION_ERROR`.
    BadRequest,
    /// `422 VALIDATION_ERROR`.
    UnprocessableEntity,
}

/// How one API reports a parameter that does not parse; each API declares its own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ParamErrors {
    /// The status of a malformed parameter.
    pub(crate) status: ParamStatus,
    /// Where the parameter of a name is sent (`query`, `path`, `header`), for the message's
    /// `[place.name]` prefix.
    pub(crate) place: fn(&str) -> &'static str,
    /// The message for a path segment that does not parse at all.
    pub(crate) unparsable_path: &'static str,
}

/// For paths outside every API (none has parameters): 422, named as query parameters.
const DEFAULT_PARAM_ERRORS: ParamErrors = ParamErrors {
    status: ParamStatus::UnprocessableEntity,
    place: |_| "query",
    unparsable_path: "[path] is not valid",
};

/// Request-level failures detected by the HTTP layer before any domain code runs.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// No route matches the path.
    #[error("not found")]
    NotFound,
    /// The path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is not valid JSON (including an empty body declared as JSON).
    #[error("invalid JSON")]
    InvalidJson,
    /// The body's media type is missing or not accepted; `allowed` lists what is.
    #[error("unsupported media type")]
    UnsupportedMediaType {
        /// The `Content-Type` sent, if any.
        found: Option<String>,
        /// Accepted media types, comma separated.
        allowed: &'static str,
    },
    /// The body is larger than `BODY_LIMIT`.
    #[error("payload too large")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A path or query parameter that does not parse.
    #[error("invalid parameter: {message}")]
    InvalidParameter {
        /// `[query.limit] …`-style message.
        message: String,
        /// The status its API gives it.
        status: ParamStatus,
    },
}

/// Every failure a handler can return.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// An auth-domain failure.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A tasks-domain failure.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// A malformed request.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The client exceeded its rate limit.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until the window resets.
        retry_after_secs: u64,
    },
    /// The password-hashing queue is full.
    #[error("overloaded")]
    Overloaded {
        /// Suggested wait in seconds.
        retry_after_secs: u64,
    },
    /// The database cannot be reached (down, pool exhausted, timed out).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected state; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        if crate::db::is_unavailable(&err) {
            Self::Unavailable(err.to_string())
        } else {
            Self::Internal(err.to_string())
        }
    }
}

/// Status, code and message of one error. This is THE mapping.
fn describe(err: &ApiError) -> (StatusCode, Option<&'static str>, String) {
    use StatusCode as S;
    let fixed = |status: StatusCode, code: &'static str, message: &str| (status, Some(code), message.to_owned());
    match err {
        ApiError::Auth(auth) => match auth {
            AuthError::Validation(errors) => (S::BAD_REQUEST, Some(code::VALIDATION_ERROR), errors.to_string()),
            AuthError::InvalidEmail => fixed(S::BAD_REQUEST, code::INVALID_EMAIL, "Invalid email"),
            AuthError::InvalidEmailOrPassword => {
                fixed(S::UNAUTHORIZED, code::INVALID_EMAIL_OR_PASSWORD, "Invalid email or password")
            }
            AuthError::UserAlreadyExists => fixed(
                S::UNPROCESSABLE_ENTITY,
                code::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL,
                "User already exists. Use another email.",
            ),
            AuthError::PasswordTooShort => fixed(S::BAD_REQUEST, code::PASSWORD_TOO_SHORT, "Password too short"),
            AuthError::PasswordTooLong => fixed(S::BAD_REQUEST, code::PASSWORD_TOO_LONG, "Password too long"),
            AuthError::InvalidPassword => fixed(S::BAD_REQUEST, code::INVALID_PASSWORD, "Invalid password"),
            AuthError::Unauthorized { .. } => fixed(S::UNAUTHORIZED, code::UNAUTHORIZED, "Unauthorized"),
            AuthError::FailedToGetSession { .. } => {
                fixed(S::UNAUTHORIZED, code::FAILED_TO_GET_SESSION, "Failed to get session")
            }
            AuthError::InvalidOrigin => fixed(S::FORBIDDEN, code::INVALID_ORIGIN, "Invalid origin"),
            AuthError::MissingOrNullOrigin => {
                fixed(S::FORBIDDEN, code::MISSING_OR_NULL_ORIGIN, "Missing or null Origin")
            }
            AuthError::CrossSiteNavigationLoginBlocked => fixed(
                S::FORBIDDEN,
                code::CROSS_SITE_NAVIGATION_LOGIN_BLOCKED,
                "Cross-site navigation login blocked. This request appears to be a CSRF attack.",
            ),
            AuthError::InvalidRedirect(field) => match field {
                RedirectField::Callback => fixed(S::FORBIDDEN, code::INVALID_CALLBACK_URL, "Invalid callbackURL"),
                RedirectField::Redirect => fixed(S::FORBIDDEN, code::INVALID_REDIRECT_URL, "Invalid redirectURL"),
            },
            AuthError::EmailNotVerified => fixed(S::FORBIDDEN, code::EMAIL_NOT_VERIFIED, "Email not verified"),
            AuthError::InvalidToken => fixed(S::BAD_REQUEST, code::INVALID_TOKEN, "Invalid token"),
            AuthError::UserNotFound => fixed(S::BAD_REQUEST, code::USER_NOT_FOUND, "User not found"),
            AuthError::CredentialAccountNotFound => {
                fixed(S::BAD_REQUEST, code::CREDENTIAL_ACCOUNT_NOT_FOUND, "Credential account not found")
            }
            AuthError::SessionNotFresh => fixed(S::FORBIDDEN, code::SESSION_NOT_FRESH, "Session is not fresh"),
            AuthError::EmailCanNotBeUpdated => {
                fixed(S::BAD_REQUEST, code::EMAIL_CAN_NOT_BE_UPDATED, "Email can not be updated")
            }
            // Better Auth sends these two with a message only (§2.1).
            AuthError::NoFieldsToUpdate => (S::BAD_REQUEST, None, "No fields to update".to_owned()),
            AuthError::EmailIsTheSame => (S::BAD_REQUEST, None, "Email is the same".to_owned()),
            AuthError::EmailAlreadyVerified => {
                fixed(S::BAD_REQUEST, code::EMAIL_ALREADY_VERIFIED, "Email is already verified")
            }
            AuthError::EmailMismatch => fixed(S::BAD_REQUEST, code::EMAIL_MISMATCH, "Email mismatch"),
            AuthError::ResetPasswordDisabled => {
                fixed(S::BAD_REQUEST, code::RESET_PASSWORD_DISABLED, "Reset password isn't enabled")
            }
            AuthError::VerificationEmailNotEnabled { with_code: true } => {
                fixed(S::BAD_REQUEST, code::VERIFICATION_EMAIL_NOT_ENABLED, "Verification email isn't enabled")
            }
            AuthError::VerificationEmailNotEnabled { with_code: false } => {
                (S::BAD_REQUEST, None, "Verification email isn't enabled".to_owned())
            }
            AuthError::VerificationLink(problem) => {
                let message = match problem {
                    LinkProblem::InvalidToken => "Invalid token",
                    LinkProblem::TokenExpired => "Token expired",
                    LinkProblem::UserNotFound => "User not found",
                };
                (S::UNAUTHORIZED, Some(problem.code()), message.to_owned())
            }
            AuthError::DeferSessionRefreshRequired => fixed(
                S::METHOD_NOT_ALLOWED,
                code::METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED,
                "POST method requires deferSessionRefresh to be enabled in session config",
            ),
            AuthError::TwoFactor(problem) => describe_two_factor(*problem),
        },
        ApiError::Task(task) => match task {
            TaskError::NotFound => fixed(S::NOT_FOUND, code::TASK_NOT_FOUND, "Task not found"),
            TaskError::LimitReached { limit } => (
                S::UNPROCESSABLE_ENTITY,
                Some(code::TASK_LIMIT_REACHED),
                format!("Task limit reached: at most {limit} tasks per user"),
            ),
            TaskError::PreconditionFailed => fixed(
                S::PRECONDITION_FAILED,
                code::PRECONDITION_FAILED,
                "The task has changed since the given ETag; fetch it again",
            ),
            TaskError::Validation(errors) => {
                (S::UNPROCESSABLE_ENTITY, Some(code::VALIDATION_ERROR), errors.to_string())
            }
            TaskError::IdempotencyKeyReused => fixed(
                S::UNPROCESSABLE_ENTITY,
                code::IDEMPOTENCY_KEY_REUSED,
                "This Idempotency-Key was already used for a different request",
            ),
            TaskError::IdempotencyInProgress => fixed(
                S::CONFLICT,
                code::IDEMPOTENCY_IN_PROGRESS,
                "A request with this Idempotency-Key is still in progress; retry later",
            ),
            TaskError::SyncCursorExpired => fixed(
                S::GONE,
                code::SYNC_CURSOR_EXPIRED,
                "The sync cursor is older than the change feed's retention; list all tasks again",
            ),
            TaskError::TooManyStreams => fixed(
                S::TOO_MANY_REQUESTS,
                code::TOO_MANY_STREAMS,
                "Too many open event streams; close one or retry later",
            ),
        },
        ApiError::Request(request) => match request {
            RequestError::NotFound => fixed(S::NOT_FOUND, code::NOT_FOUND, "Not found"),
            RequestError::MethodNotAllowed => {
                fixed(S::METHOD_NOT_ALLOWED, code::METHOD_NOT_ALLOWED, "Method not allowed")
            }
            RequestError::InvalidJson => fixed(S::BAD_REQUEST, code::BAD_REQUEST, "Invalid JSON in request body"),
            // Better Auth's exact wording (§1.2).
            RequestError::UnsupportedMediaType { found: None, allowed } => (
                S::UNSUPPORTED_MEDIA_TYPE,
                Some(code::UNSUPPORTED_MEDIA_TYPE),
                format!("Content-Type is required. Allowed types: {allowed}"),
            ),
            RequestError::UnsupportedMediaType { found: Some(found), allowed } => (
                S::UNSUPPORTED_MEDIA_TYPE,
                Some(code::UNSUPPORTED_MEDIA_TYPE),
                format!("Content-Type \"{found}\" is not allowed. Allowed types: {allowed}"),
            ),
            RequestError::PayloadTooLarge { limit } => (
                S::PAYLOAD_TOO_LARGE,
                Some(code::PAYLOAD_TOO_LARGE),
                format!("Request body is larger than the limit of {limit} bytes"),
            ),
            RequestError::InvalidParameter { message, status: ParamStatus::BadRequest } => {
                (S::BAD_REQUEST, Some(code::VALIDATION_ERROR), message.clone())
            }
            RequestError::InvalidParameter { message, status: ParamStatus::UnprocessableEntity } => {
                (S::UNPROCESSABLE_ENTITY, Some(code::VALIDATION_ERROR), message.clone())
            }
        },
        // Better Auth's rate-limit body has no code (§7.3).
        ApiError::RateLimited { .. } => {
            (S::TOO_MANY_REQUESTS, None, "Too many requests. Please try again later.".to_owned())
        }
        ApiError::Overloaded { .. } => fixed(
            S::SERVICE_UNAVAILABLE,
            code::SERVICE_UNAVAILABLE,
            "The server is busy; retry after the time in Retry-After",
        ),
        ApiError::Unavailable(_) => fixed(
            S::SERVICE_UNAVAILABLE,
            code::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable; try again shortly",
        ),
        ApiError::Internal(_) => fixed(S::INTERNAL_SERVER_ERROR, code::INTERNAL_SERVER_ERROR, "Internal server error"),
    }
}

/// Status, code and message of a two-factor failure: Better Auth's plugin catalogue.
fn describe_two_factor(problem: TwoFactorError) -> (StatusCode, Option<&'static str>, String) {
    use StatusCode as S;
    let (status, code, message) = match problem {
        TwoFactorError::InvalidCookie => {
            (S::UNAUTHORIZED, code::INVALID_TWO_FACTOR_COOKIE, "Invalid two factor cookie")
        }
        TwoFactorError::TotpNotEnabled => (S::BAD_REQUEST, code::TOTP_NOT_ENABLED, "TOTP not enabled"),
        TwoFactorError::TotpAlreadyEnabled => (S::BAD_REQUEST, code::TOTP_ALREADY_ENABLED, "TOTP is already enabled"),
        TwoFactorError::NotEnabled => (S::BAD_REQUEST, code::TWO_FACTOR_NOT_ENABLED, "Two factor isn't enabled"),
        TwoFactorError::BackupCodesNotEnabled => {
            (S::BAD_REQUEST, code::BACKUP_CODES_NOT_ENABLED, "Backup codes aren't enabled")
        }
        TwoFactorError::InvalidCode => (S::UNAUTHORIZED, code::INVALID_CODE, "Invalid code"),
        TwoFactorError::InvalidBackupCode => (S::UNAUTHORIZED, code::INVALID_BACKUP_CODE, "Invalid backup code"),
        TwoFactorError::TooManyAttempts => {
            (S::BAD_REQUEST, code::TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE, "Too many attempts. Please request a new code.")
        }
        TwoFactorError::OtpNotConfigured => (S::BAD_REQUEST, code::OTP_NOT_CONFIGURED, "OTP is not available"),
        TwoFactorError::OtpExpired => (S::BAD_REQUEST, code::OTP_HAS_EXPIRED, "OTP has expired"),
        TwoFactorError::Locked { .. } => (
            S::TOO_MANY_REQUESTS,
            code::ACCOUNT_TEMPORARILY_LOCKED,
            "Too many failed verification attempts. Your account is temporarily locked. Please try again later.",
        ),
    };
    (status, Some(code), message.to_owned())
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        describe(self).0
    }

    fn as_response(&self) -> Response {
        let (status, code, message) = describe(self);
        match self {
            // Logged once, inside the request's span (which carries the request id).
            ApiError::Internal(detail) => tracing::error!(error = %detail, "internal error"),
            ApiError::Unavailable(detail) => tracing::warn!(error = %detail, "database unavailable"),
            _ => {}
        }
        let mut response = json_error(status, code, message);
        let headers = response.headers_mut();
        match self {
            ApiError::RateLimited { retry_after_secs } => {
                let value = HeaderValue::from(*retry_after_secs);
                headers.insert(header::RETRY_AFTER, value.clone());
                headers.insert("x-retry-after", value);
            }
            ApiError::Overloaded { retry_after_secs }
            | ApiError::Auth(AuthError::TwoFactor(TwoFactorError::Locked { retry_after_secs })) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::Task(TaskError::TooManyStreams) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::Auth(AuthError::Unauthorized { set_cookies } | AuthError::FailedToGetSession { set_cookies }) => {
                for line in set_cookies {
                    if let Ok(value) = HeaderValue::from_str(line) {
                        headers.append(header::SET_COOKIE, value);
                    }
                }
            }
            _ => {}
        }
        response
    }
}

/// Writes one error body.
fn json_error(status: StatusCode, code: Option<&str>, message: String) -> Response {
    let body = ErrorBody { code: code.map(str::to_owned), message };
    let mut response = poem::web::Json(poem_openapi::types::ToJSON::to_json(&body)).into_response();
    response.set_status(status);
    response
}

/// The catch-all around every route: turns any error that escaped the handlers into JSON, with
/// the parameter rules of the API whose path prefix the request matches.
pub(crate) struct ErrorResponses {
    apis: Vec<(&'static str, ParamErrors)>,
}

impl ErrorResponses {
    /// The layer, given each API's path prefix and parameter rules.
    pub(crate) fn new(apis: Vec<(&'static str, ParamErrors)>) -> Self {
        Self { apis }
    }

    fn param_errors(&self, path: &str) -> ParamErrors {
        self.apis.iter().find(|(prefix, _)| path.starts_with(prefix)).map_or(DEFAULT_PARAM_ERRORS, |(_, rules)| *rules)
    }
}

impl Layer for ErrorResponses {
    async fn call<E: Endpoint>(&self, next: &E, req: Request) -> poem::Result<Response> {
        let rules = self.param_errors(req.uri().path());
        Ok(match call_next(next, req).await {
            Ok(response) => response,
            Err(err) => framework_error_response(err, &rules),
        })
    }
}

/// Our own [`ApiError`]s keep their response; poem's and poem-openapi's framework errors are
/// mapped by type, then by status, so even an unforeseen one is `{code, message}`.
fn framework_error_response(err: poem::Error, rules: &ParamErrors) -> Response {
    if err.is::<ApiError>() || err.is_from_response() {
        return err.into_response();
    }
    api_error_from_framework(&err, rules).as_response()
}

fn api_error_from_framework(err: &poem::Error, rules: &ParamErrors) -> ApiError {
    use poem_openapi::error::{
        ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError, ParseRequestPayloadError,
    };
    if err.is::<NotFoundError>() {
        return RequestError::NotFound.into();
    }
    if err.is::<MethodNotAllowedError>() {
        return RequestError::MethodNotAllowed.into();
    }
    if let Some(content_type) = err.downcast_ref::<ContentTypeError>() {
        let found = match content_type {
            ContentTypeError::NotSupported { content_type } => Some(content_type.clone()),
            ContentTypeError::ExpectContentType => None,
        };
        return RequestError::UnsupportedMediaType { found, allowed: "application/json" }.into();
    }
    if err.is::<ParseRequestPayloadError>() || err.is::<ParseMultipartError>() {
        return RequestError::InvalidJson.into();
    }
    if let Some(param) = err.downcast_ref::<ParseParamError>() {
        let place = (rules.place)(param.name);
        let message = format!("[{place}.{}] {}", param.name, param.reason);
        return RequestError::InvalidParameter { message, status: rules.status }.into();
    }
    if err.is::<ParsePathError>() {
        return RequestError::InvalidParameter { message: rules.unparsable_path.to_owned(), status: rules.status }
            .into();
    }
    match err.status() {
        StatusCode::NOT_FOUND => RequestError::NotFound.into(),
        StatusCode::METHOD_NOT_ALLOWED => RequestError::MethodNotAllowed.into(),
        StatusCode::PAYLOAD_TOO_LARGE => RequestError::PayloadTooLarge { limit: 0 }.into(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            RequestError::UnsupportedMediaType { found: None, allowed: "application/json" }.into()
        }
        StatusCode::UNAUTHORIZED => AuthError::Unauthorized { set_cookies: Vec::new() }.into(),
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(err.to_string()),
        status if status.is_client_error() => {
            tracing::debug!(%status, error = %err, "unmapped client error");
            RequestError::InvalidParameter { message: err.to_string(), status: ParamStatus::UnprocessableEntity }.into()
        }
        _ => ApiError::Internal(err.to_string()),
    }
}

/// OpenAPI documentation of the error statuses one operation can return: each status with
/// its meaning and the [`ErrorBody`] schema.
pub(crate) fn error_responses(statuses: &[u16]) -> MetaResponses {
    MetaResponses {
        responses: statuses
            .iter()
            .map(|&status| MetaResponse {
                description: status_description(status),
                status: Some(status),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json; charset=utf-8",
                    schema: ErrorBody::schema_ref(),
                }],
                headers: match status {
                    429 | 503 => vec![MetaHeader {
                        name: "Retry-After".to_owned(),
                        description: Some("Seconds to wait before retrying.".to_owned()),
                        required: true,
                        deprecated: false,
                        schema: u64::schema_ref(),
                    }],
                    _ => vec![],
                },
            })
            .collect(),
    }
}

/// Registers the error schema.
pub(crate) fn register_error_schema(registry: &mut Registry) {
    ErrorBody::register(registry);
}

fn status_description(status: u16) -> &'static str {
    match status {
        400 => {
            "Bad request: invalid JSON (`BAD_REQUEST`) or a field failed validation (`VALIDATION_ERROR`, Better Auth codes such as `PASSWORD_TOO_SHORT`); the message names the field"
        }
        401 => "No valid session (`UNAUTHORIZED`), or wrong credentials (`INVALID_EMAIL_OR_PASSWORD`)",
        403 => {
            "Refused: untrusted or missing `Origin` on a cookie-authenticated request (`INVALID_ORIGIN`, `MISSING_OR_NULL_ORIGIN`), or another policy"
        }
        404 => "Not found (`TASK_NOT_FOUND` also for another user's task)",
        405 => "Method not allowed",
        409 => "A request with the same `Idempotency-Key` is still running (`IDEMPOTENCY_IN_PROGRESS`); retry it later",
        410 => {
            "The sync cursor is older than the change feed's retention (`SYNC_CURSOR_EXPIRED`): list every task again and sync from the start"
        }
        412 => "`If-Match` did not match the current ETag (`PRECONDITION_FAILED`); nothing changed",
        413 => "Body larger than the configured limit (`PAYLOAD_TOO_LARGE`)",
        415 => "Missing or unsupported `Content-Type` (`UNSUPPORTED_MEDIA_TYPE`)",
        422 => {
            "Well-formed but invalid (`VALIDATION_ERROR` naming the field, `TASK_LIMIT_REACHED`, `IDEMPOTENCY_KEY_REUSED`, `USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL`)"
        }
        429 => "Rate limited, or too many open event streams (`TOO_MANY_STREAMS`); retry after `Retry-After` seconds",
        503 => {
            "Temporarily unavailable (`SERVICE_UNAVAILABLE`: database down or server busy); retry after `Retry-After` seconds"
        }
        _ => "Error",
    }
}

/// Declares an operation's error type: a newtype over [`ApiError`] that documents exactly the
/// listed statuses in the OpenAPI spec. Anything convertible into `ApiError` converts into it,
/// so `?` works in the handler.
macro_rules! api_errors {
    ($(#[$meta:meta])* $name:ident: $($status:literal),+ $(,)?) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub(crate) struct $name(pub(crate) $crate::error::ApiError);

        impl<E: Into<$crate::error::ApiError>> From<E> for $name {
            fn from(err: E) -> Self {
                Self(err.into())
            }
        }

        impl From<$name> for poem::Error {
            fn from(err: $name) -> Self {
                poem::Error::from(err.0)
            }
        }

        impl poem_openapi::ApiResponse for $name {
            fn meta() -> poem_openapi::registry::MetaResponses {
                $crate::error::error_responses(&[$($status),+])
            }

            fn register(registry: &mut poem_openapi::registry::Registry) {
                $crate::error::register_error_schema(registry);
            }
        }
    };
}

pub(crate) use api_errors;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_responses_carry_both_retry_headers_and_no_code() {
        let response = ApiError::RateLimited { retry_after_secs: 7 }.as_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(response.headers()["x-retry-after"], "7");
    }

    #[test]
    fn internal_errors_never_leak_their_detail() {
        let (status, code, message) = describe(&ApiError::Internal("secret detail".to_owned()));
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(code, Some(code::INTERNAL_SERVER_ERROR));
        assert!(!message.contains("secret"));
    }
}
