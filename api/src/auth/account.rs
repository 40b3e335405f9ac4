//! Accounts: sign-up, sign-in, password change and reset, email verification and change, and
//! deletion. The rules between the HTTP edge and the database.
//!
//! Sign-in does the same scrypt work whether or not the account exists, and answers unknown
//! email, missing password and wrong password identically (`better-auth-wire.md` §7.4).
//! Sign-up writes the user, its credential account and its first session in one transaction.

use sea_orm::TransactionTrait;

use time::OffsetDateTime;

use crate::{
    app::AppState,
    auth::{
        cookies::encode_uri_component,
        dto::SignUpRequest,
        email::Email,
        error::{AuthError, LinkProblem},
        password::Password,
        repo::{self, SessionRow, UserRow},
        session::{self, ClientInfo, CurrentSession},
        token::{SessionToken, new_id},
        verification::{self, TokenProblem, VerificationClaims},
    },
    db::is_unique_violation,
    error::ApiError,
    mail::Mail,
    timestamp::now_millis,
    validation::{ValidationError, ValidationErrors},
};

/// A validated sign-up.
#[derive(Debug)]
pub struct SignUp {
    name: String,
    email: Email,
    password: Password,
    image: Option<String>,
    remember: bool,
}

impl TryFrom<SignUpRequest> for SignUp {
    type Error = AuthError;

    /// Better Auth's order: schema issues (email format, empty password) together, then the
    /// password's minimum, then its maximum.
    fn try_from(request: SignUpRequest) -> Result<Self, AuthError> {
        let mut issues = Vec::new();
        let email = Email::parse(&request.email.0)
            .map_err(|err| issues.push(ValidationError::new("email", err.to_string()).in_body()))
            .ok();
        if request.password.0.is_empty() {
            issues
                .push(ValidationError::new("password", "Too small: expected string to have >=1 characters").in_body());
        }
        let (Some(email), true) = (email, issues.is_empty()) else {
            return Err(AuthError::Validation(ValidationErrors(issues)));
        };
        Ok(Self {
            name: request.name,
            email,
            password: Password::parse_new(request.password.0)?,
            image: request.image,
            remember: request.remember_me.unwrap_or(true),
        })
    }
}

impl SignUp {
    /// Whether the session should outlive the browser.
    pub fn remember(&self) -> bool {
        self.remember
    }
}

/// A user, a session and its raw token: what sign-in produces.
pub type Established = (UserRow, SessionRow, SessionToken);

/// What sign-up produces: the user, and a session unless email verification is required.
pub struct SignedUp {
    /// The new user (a synthetic one when the address was taken and verification is required).
    pub user: UserRow,
    /// The first session and its raw token.
    pub session: Option<(SessionRow, SessionToken)>,
}

/// Creates the user, its credential account and (unless verification is required) a session.
///
/// With `REQUIRE_EMAIL_VERIFICATION`, a taken address gets the same answer as a new one (a
/// synthetic user, no session) after the same hashing work, so sign-up cannot probe for
/// accounts; the verification mail goes out only for a real new account.
pub async fn sign_up(state: &AppState, input: SignUp, client: &ClientInfo) -> Result<SignedUp, ApiError> {
    let require_verification = state.config.verification.require_verified_email;
    let now = now_millis();
    let user = UserRow {
        id: new_id(),
        name: input.name,
        email: input.email.as_str().to_owned(),
        email_verified: false,
        image: input.image,
        created_at: now,
        updated_at: now,
    };
    // Reserve hashing capacity first: under overload the request is shed before any database work.
    let slot = state.hasher.reserve().await?;
    if repo::email_exists(&state.db, &user.email).await? {
        if require_verification {
            let _ = slot.hash(input.password).await?;
            return Ok(SignedUp { user, session: None });
        }
        return Err(AuthError::UserAlreadyExists.into());
    }
    let password_hash = slot.hash(input.password).await?;
    let session =
        (!require_verification).then(|| session::new_session(&user.id, input.remember, client, &state.config.session));
    let txn = state.db.begin().await?;
    let written = async {
        repo::insert_user(&txn, &user).await?;
        repo::insert_credential_account(&txn, &new_id(), &user.id, &password_hash, now).await?;
        if let Some((row, _)) = &session {
            repo::insert_session(&txn, row).await?;
        }
        Ok::<_, sea_orm::DbErr>(())
    }
    .await;
    match written {
        Ok(()) => txn.commit().await?,
        // Two sign-ups raced past the existence check: the unique index decides.
        Err(err) if is_unique_violation(&err) && require_verification => return Ok(SignedUp { user, session: None }),
        Err(err) if is_unique_violation(&err) => return Err(AuthError::UserAlreadyExists.into()),
        Err(err) => return Err(err.into()),
    }
    tracing::info!(user.id = %user.id, "user signed up");
    if require_verification {
        send_verification_mail(state, &user, None, None);
    }
    Ok(SignedUp { user, session })
}

/// Checks the credentials and creates a session.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: String,
    remember: bool,
    client: &ClientInfo,
) -> Result<Established, ApiError> {
    let email = Email::parse(email).map_err(|_| AuthError::InvalidEmail)?;
    let password = Password::parse_existing(password)?;
    // Reserve hashing capacity first: under overload the request is shed before any database work.
    let slot = state.hasher.reserve().await?;
    let found = repo::find_user_with_password(&state.db, email.as_str()).await?;
    let (user, stored_hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let matches = slot.verify(password, stored_hash).await?;
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!("sign-in refused");
        return Err(AuthError::InvalidEmailOrPassword.into());
    };
    if state.config.verification.require_verified_email && !user.email_verified {
        // Only the account's owner gets here (the password matched): send them a new link.
        send_verification_mail(state, &user, None, None);
        return Err(AuthError::EmailNotVerified.into());
    }
    let (session, token) = session::new_session(&user.id, remember, client, &state.config.session);
    repo::insert_session(&state.db, &session).await?;
    tracing::info!(user.id = %user.id, "user signed in");
    Ok((user, session, token))
}

/// Checks a user's current password against their credential account.
async fn check_password(state: &AppState, user_id: &str, password: Password) -> Result<(), ApiError> {
    let stored = repo::credential_password(&state.db, user_id).await?.flatten();
    let Some(stored) = stored else {
        return Err(AuthError::CredentialAccountNotFound.into());
    };
    if !state.hasher.verify(password, Some(stored)).await? {
        return Err(AuthError::InvalidPassword.into());
    }
    Ok(())
}

/// Changes the password. With `revoke_others`, every session of the user ends (this one too)
/// and a new session is returned, all in one transaction.
pub async fn change_password(
    state: &AppState,
    current: &CurrentSession,
    new_password: Password,
    current_password: Password,
    revoke_others: bool,
    client: &ClientInfo,
) -> Result<Option<(SessionRow, SessionToken)>, ApiError> {
    let user_id = &current.user.id;
    check_password(state, user_id, current_password).await?;
    let hash = state.hasher.hash(new_password).await?;
    let remember = current.session.expires_at - current.session.created_at > session::DONT_REMEMBER_LIFETIME;
    let replacement = revoke_others.then(|| session::new_session(user_id, remember, client, &state.config.session));
    let txn = state.db.begin().await?;
    if !repo::update_password(&txn, user_id, &hash, now_millis()).await? {
        return Err(AuthError::CredentialAccountNotFound.into());
    }
    if let Some((row, _)) = &replacement {
        repo::delete_user_sessions(&txn, user_id, None).await?;
        repo::insert_session(&txn, row).await?;
    }
    txn.commit().await?;
    state.session_cache.invalidate_user(user_id);
    tracing::info!(user.id = %user_id, revoke_others, "password changed");
    Ok(replacement)
}

/// Starts a password reset: when the address has an account, stores a single-use token and
/// mails its link. All of it runs in the background, so the answer (always the same) takes the
/// same time whether or not the account exists.
pub fn request_password_reset(state: &AppState, email: Email, redirect_to: Option<String>) {
    let state = state.clone();
    let work = async move {
        let result = async {
            let Some(user) = repo::find_user_by_email(&state.db, email.as_str()).await? else {
                return Ok::<_, sea_orm::DbErr>(());
            };
            let token = verification::new_reset_token();
            let now = now_millis();
            verification::store_reset_token(&state.db, &token, &user.id, now, now + state.config.verification.reset_token_lifetime).await?;
            let url = format!(
                "{}/api/auth/reset-password/{token}?callbackURL={}",
                state.public_base_url,
                encode_uri_component(redirect_to.as_deref().unwrap_or_default())
            );
            state.mailer.send_in_background(Mail {
                to: user.email.clone(),
                subject: "Reset your password".to_owned(),
                text: format!("Someone asked to reset the password of your account. If it was you, open this link within the hour:\n\n{url}\n\nIf it was not you, ignore this message."),
                url,
            });
            tracing::info!(user.id = %user.id, "password reset requested");
            Ok(())
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "password reset request failed");
        }
    };
    tokio::spawn(tracing::Instrument::in_current_span(work));
}

/// Whether a reset token is currently valid (for the mailed link's redirect).
pub async fn reset_token_is_valid(state: &AppState, token: &str) -> Result<bool, ApiError> {
    Ok(verification::peek_reset_token(&state.db, token, OffsetDateTime::now_utc()).await?.is_some())
}

/// Completes a password reset: consumes the token, sets the password and ends every session
/// of the user, in one transaction.
pub async fn reset_password(state: &AppState, token: &str, new_password: Password) -> Result<(), ApiError> {
    if verification::peek_reset_token(&state.db, token, OffsetDateTime::now_utc()).await?.is_none() {
        return Err(AuthError::InvalidToken.into());
    }
    let hash = state.hasher.hash(new_password).await?;
    let now = now_millis();
    let txn = state.db.begin().await?;
    // Consuming is what counts: of two concurrent uses, only one gets the user.
    let Some(user_id) = verification::consume_reset_token(&txn, token, OffsetDateTime::now_utc()).await? else {
        return Err(AuthError::InvalidToken.into());
    };
    if repo::find_user(&txn, &user_id).await?.is_none() {
        txn.commit().await?;
        return Err(AuthError::UserNotFound.into());
    }
    if !repo::update_password(&txn, &user_id, &hash, now).await? {
        repo::insert_credential_account(&txn, &new_id(), &user_id, &hash, now).await?;
    }
    let ended = repo::delete_user_sessions(&txn, &user_id, None).await?;
    txn.commit().await?;
    state.session_cache.invalidate_user(&user_id);
    tracing::info!(user.id = %user_id, sessions_ended = ended, "password reset");
    Ok(())
}

/// Mails a verification link to `user` (or, for an email change, to `update_to`).
pub fn send_verification_mail(state: &AppState, user: &UserRow, update_to: Option<&Email>, callback: Option<&str>) {
    if !state.mailer.is_enabled() {
        return;
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let lifetime = i64::try_from(state.config.verification.verification_token_lifetime.as_secs()).unwrap_or(3600);
    let claims = VerificationClaims {
        email: user.email.clone(),
        user_id: Some(user.id.clone()),
        update_to: update_to.map(|e| e.as_str().to_owned()),
        request_type: update_to.map(|_| "change-email-verification".to_owned()),
        iat: now,
        exp: now + lifetime,
    };
    let token = verification::sign_jwt(&claims, &state.config.auth_secret);
    let url = format!(
        "{}/api/auth/verify-email?token={token}&callbackURL={}",
        state.public_base_url,
        encode_uri_component(callback.unwrap_or("/"))
    );
    let (to, subject) = match update_to {
        Some(new) => (new.as_str().to_owned(), "Confirm your new email address"),
        None => (user.email.clone(), "Verify your email address"),
    };
    state.mailer.send_in_background(Mail {
        to,
        subject: subject.to_owned(),
        text: format!(
            "Open this link to confirm this address:\n\n{url}\n\nIf you did not ask for this, ignore this message."
        ),
        url,
    });
}

/// Applies a verification link: verifies the address, or completes an email change. Returns
/// the user after an email change, `None` after a plain verification.
pub async fn verify_email(state: &AppState, token: &str) -> Result<Option<UserRow>, ApiError> {
    let claims =
        verification::verify_jwt(token, &state.config.auth_secret, OffsetDateTime::now_utc()).map_err(|problem| {
            AuthError::VerificationLink(match problem {
                TokenProblem::Invalid => LinkProblem::InvalidToken,
                TokenProblem::Expired => LinkProblem::TokenExpired,
            })
        })?;
    // A link is bound to the user it was sent to (`userId`), as in Better Auth: once the address
    // has moved on (changed, then taken by someone else), an old link must not verify or move
    // the new owner's address.
    let user = if claims.update_to.is_some() {
        let Some(user_id) = claims.user_id.as_deref() else {
            return Err(AuthError::VerificationLink(LinkProblem::InvalidToken).into());
        };
        let Some(user) = repo::find_user(&state.db, user_id).await? else {
            return Err(AuthError::VerificationLink(LinkProblem::UserNotFound).into());
        };
        if user.email != claims.email.to_lowercase() {
            return Err(AuthError::VerificationLink(LinkProblem::InvalidToken).into());
        }
        user
    } else {
        let Some(user) = repo::find_user_by_email(&state.db, &claims.email).await? else {
            return Err(AuthError::VerificationLink(LinkProblem::UserNotFound).into());
        };
        if claims.user_id.as_deref().is_some_and(|id| id != user.id) {
            return Err(AuthError::VerificationLink(LinkProblem::InvalidToken).into());
        }
        user
    };
    let now = now_millis();
    match (&claims.update_to, claims.request_type.as_deref()) {
        (Some(new_email), Some("change-email-verification")) => {
            let new_email =
                Email::parse(new_email).map_err(|_| AuthError::VerificationLink(LinkProblem::InvalidToken))?;
            match repo::update_email(&state.db, &user.id, &user.email, new_email.as_str(), now).await {
                Ok(true) => {}
                // Another link or change moved the address first.
                Ok(false) => return Err(AuthError::VerificationLink(LinkProblem::InvalidToken).into()),
                // The address was taken since the link was sent.
                Err(err) if is_unique_violation(&err) => {
                    return Err(AuthError::VerificationLink(LinkProblem::InvalidToken).into());
                }
                Err(err) => return Err(err.into()),
            }
            state.session_cache.invalidate_user(&user.id);
            tracing::info!(user.id = %user.id, "email changed");
            Ok(repo::find_user(&state.db, &user.id).await?)
        }
        _ => {
            if !user.email_verified {
                repo::set_email_verified(&state.db, &user.id, now).await?;
                state.session_cache.invalidate_user(&user.id);
                tracing::info!(user.id = %user.id, "email verified");
            }
            Ok(None)
        }
    }
}

/// Starts an email change: mails a confirmation link to the new address. An address already
/// in use gets the same answer and no mail.
pub async fn change_email(
    state: &AppState,
    user: &UserRow,
    new_email: Email,
    callback: Option<&str>,
) -> Result<(), ApiError> {
    if new_email.as_str() == user.email {
        return Err(AuthError::EmailIsTheSame.into());
    }
    if !state.mailer.is_enabled() {
        return Err(AuthError::VerificationEmailNotEnabled { with_code: false }.into());
    }
    if repo::email_exists(&state.db, new_email.as_str()).await? {
        return Ok(());
    }
    send_verification_mail(state, user, Some(&new_email), callback);
    Ok(())
}

/// Deletes the account after checking its password: tasks, sessions, accounts and the user go
/// in one transaction.
pub async fn delete_user(state: &AppState, user_id: &str, password: Password) -> Result<(), ApiError> {
    check_password(state, user_id, password).await?;
    let txn = state.db.begin().await?;
    repo::delete_user(&txn, user_id).await?;
    txn.commit().await?;
    state.session_cache.invalidate_user(user_id);
    tracing::info!(user.id = %user_id, "user deleted");
    Ok(())
}
