//! Sign-up and sign-in: the rules between the HTTP edge and the database.
//!
//! Sign-in does the same scrypt work whether or not the account exists, and answers unknown
//! email, missing password and wrong password identically (`better-auth-wire.md` §7.4).
//! Sign-up writes the user, its credential account and its first session in one transaction.

use sea_orm::TransactionTrait;

use crate::{
    app::AppState,
    auth::{
        dto::SignUpRequest,
        email::Email,
        error::AuthError,
        password::Password,
        repo::{self, SessionRow, UserRow},
        session::{self, ClientInfo},
        token::{SessionToken, new_id},
    },
    db::is_unique_violation,
    error::ApiError,
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
        let email = Email::parse(&request.email)
            .map_err(|err| issues.push(ValidationError::new("email", err.to_string()).in_body()))
            .ok();
        if request.password.is_empty() {
            issues
                .push(ValidationError::new("password", "Too small: expected string to have >=1 characters").in_body());
        }
        let (Some(email), true) = (email, issues.is_empty()) else {
            return Err(AuthError::Validation(ValidationErrors(issues)));
        };
        Ok(Self {
            name: request.name,
            email,
            password: Password::parse_new(request.password)?,
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

/// A user, a session and its raw token: what sign-up and sign-in produce.
pub type Established = (UserRow, SessionRow, SessionToken);

/// Creates the user, its credential account and a session.
pub async fn sign_up(state: &AppState, input: SignUp, client: &ClientInfo) -> Result<Established, ApiError> {
    if repo::email_exists(&state.db, input.email.as_str()).await? {
        return Err(AuthError::UserAlreadyExists.into());
    }
    let password_hash = state.hasher.hash(input.password).await?;
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
    let (session, token) = session::new_session(&user.id, input.remember, client, &state.config.session);
    let txn = state.db.begin().await?;
    let written = async {
        repo::insert_user(&txn, &user).await?;
        repo::insert_credential_account(&txn, &new_id(), &user.id, &password_hash, now).await?;
        repo::insert_session(&txn, &session).await
    }
    .await;
    match written {
        Ok(()) => txn.commit().await?,
        // Two sign-ups raced past the existence check: the unique index decides.
        Err(err) if is_unique_violation(&err) => return Err(AuthError::UserAlreadyExists.into()),
        Err(err) => return Err(err.into()),
    }
    tracing::info!(user.id = %user.id, "user signed up");
    Ok((user, session, token))
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
    let found = repo::find_user_with_password(&state.db, email.as_str()).await?;
    let (user, stored_hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let matches = state.hasher.verify(password, stored_hash).await?;
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!("sign-in refused");
        return Err(AuthError::InvalidEmailOrPassword.into());
    };
    let (session, token) = session::new_session(&user.id, remember, client, &state.config.session);
    repo::insert_session(&state.db, &session).await?;
    tracing::info!(user.id = %user.id, "user signed in");
    Ok((user, session, token))
}
