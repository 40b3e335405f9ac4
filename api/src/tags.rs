//! The operation groups of the OpenAPI document, shared by every API's `#[OpenApi]` impl.

use poem_openapi::Tags;

/// Operation groups in the OpenAPI document.
#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Better Auth compatible email/password sign-up, sign-in and sessions.
    Auth,
    /// Two-factor sign-in (Better Auth's `twoFactor` plugin): TOTP, backup codes, codes by email.
    TwoFactor,
    /// The signed-in user's tasks.
    Tasks,
    /// Liveness and readiness probes.
    Health,
}
