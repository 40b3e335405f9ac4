//! Request and response bodies of the two-factor endpoints, in the wire format of Better Auth's
//! `twoFactor` plugin (`docs/better-auth-plugins.md` §Two-factor): camelCase keys, `totpURI`.

use poem_openapi::{Enum, Object, types::Example};

use crate::auth::{dto::UserDto, fields::PasswordInput};

/// The second factor `enable` turns on: `totp` (the default) or `otp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub(crate) enum TwoFactorMethod {
    /// An authenticator app (TOTP), active after the first code.
    Totp,
    /// Codes by email, active at once (needs outgoing mail).
    Otp,
}

/// Body of `POST /two-factor/enable`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct EnableTwoFactorRequest {
    /// The current password.
    pub(crate) password: PasswordInput<0>,
    /// The issuer the authenticator app shows (default `TWO_FACTOR_ISSUER`).
    #[oai(skip_serializing_if_is_none, validator(min_length = 1, max_length = 100))]
    pub(crate) issuer: Option<String>,
    // `totp` (default) or `otp`. No field doc, here and below: with one the schema becomes
    // `allOf: [$ref, {description}]`, which the generated Python client cannot read for an enum;
    // `TwoFactorMethod` describes itself.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) method: Option<TwoFactorMethod>,
}

impl Example for EnableTwoFactorRequest {
    fn example() -> Self {
        Self { password: PasswordInput("correct horse battery".to_owned()), issuer: None, method: None }
    }
}

/// Answer of `POST /two-factor/enable`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct EnableTwoFactorResponse {
    // The method turned on (no field doc: see `EnableTwoFactorRequest::method`).
    pub(crate) method: TwoFactorMethod,
    /// `otpauth://totp/…` for the authenticator app (TOTP only).
    #[oai(rename = "totpURI", skip_serializing_if_is_none, validator(max_length = 1024))]
    pub(crate) totp_uri: Option<String>,
    /// Ten single-use backup codes `xxxxx-xxxxx` (TOTP only): shown once.
    #[oai(skip_serializing_if_is_none, validator(max_items = 100))]
    pub(crate) backup_codes: Option<Vec<String>>,
}

impl Example for EnableTwoFactorResponse {
    fn example() -> Self {
        Self {
            method: TwoFactorMethod::Totp,
            totp_uri: Some(
                "otpauth://totp/Better%20Auth:ann%40example.com?secret=MFRGGZDFMZTWQ2LKIFBEGRCFIZDUQSKKGAYTEMZUGU3DOOBZFVPQ&issuer=Better+Auth&digits=6&period=30"
                    .to_owned(),
            ),
            backup_codes: Some(vec!["a1B2c-3D4e5".to_owned()]),
        }
    }
}

/// A body with only the current password.
#[derive(Debug, Object)]
#[oai(rename = "TwoFactorPasswordRequest", example)]
pub(crate) struct PasswordRequest {
    /// The current password.
    pub(crate) password: PasswordInput<0>,
}

impl Example for PasswordRequest {
    fn example() -> Self {
        Self { password: PasswordInput("correct horse battery".to_owned()) }
    }
}

/// Answer of `POST /two-factor/get-totp-uri`.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct TotpUriResponse {
    /// `otpauth://totp/…` for the authenticator app.
    #[oai(rename = "totpURI", validator(max_length = 1024))]
    pub(crate) totp_uri: String,
}

impl Example for TotpUriResponse {
    fn example() -> Self {
        Self { totp_uri: EnableTwoFactorResponse::example().totp_uri.unwrap_or_default() }
    }
}

/// Answer of `POST /two-factor/generate-backup-codes`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct BackupCodesResponse {
    /// Always `true`.
    pub(crate) status: bool,
    /// Ten new single-use codes; the old ones no longer work.
    #[oai(validator(max_items = 100))]
    pub(crate) backup_codes: Vec<String>,
}

impl Example for BackupCodesResponse {
    fn example() -> Self {
        Self { status: true, backup_codes: vec!["a1B2c-3D4e5".to_owned()] }
    }
}

/// Body of `POST /two-factor/verify-totp` and `/two-factor/verify-otp`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct VerifyCodeRequest {
    /// The 6-digit code.
    #[oai(validator(max_length = 64))]
    pub(crate) code: String,
    /// Trust this device for 30 days: its sign-ins skip the second factor.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) trust_device: Option<bool>,
}

impl Example for VerifyCodeRequest {
    fn example() -> Self {
        Self { code: "123456".to_owned(), trust_device: Some(false) }
    }
}

/// Body of `POST /two-factor/verify-backup-code`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct VerifyBackupCodeRequest {
    /// One of the backup codes (each works once).
    #[oai(validator(max_length = 64))]
    pub(crate) code: String,
    /// `true`: check the code without starting a session.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) disable_session: Option<bool>,
    /// Trust this device for 30 days.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) trust_device: Option<bool>,
}

impl Example for VerifyBackupCodeRequest {
    fn example() -> Self {
        Self { code: "a1B2c-3D4e5".to_owned(), disable_session: None, trust_device: None }
    }
}

/// Optional body of `POST /two-factor/send-otp` (accepted for Better Auth compatibility).
#[derive(Debug, Default, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct SendOtpRequest {
    /// Ignored here (give it to `verify-otp`).
    #[oai(skip_serializing_if_is_none)]
    pub(crate) trust_device: Option<bool>,
}

impl Example for SendOtpRequest {
    fn example() -> Self {
        Self::default()
    }
}

/// Answer of a successful verification: the session's token (`null` with `disableSession`)
/// and the user.
#[derive(Debug, Object)]
#[oai(rename = "TwoFactorVerified", example)]
pub(crate) struct VerifiedResponse {
    /// The session token (also set as the session cookie and in `set-auth-token` when a
    /// session was started).
    #[oai(nullable, validator(max_length = 64))]
    pub(crate) token: Option<String>,
    pub(crate) user: UserDto,
}

impl Example for VerifiedResponse {
    fn example() -> Self {
        Self { token: Some("nECYb2EDNXop2bY5l15uIjhYsg2RiOCu".to_owned()), user: UserDto::example() }
    }
}
