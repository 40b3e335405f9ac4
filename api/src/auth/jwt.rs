//! Short-lived JWTs that other backends verify offline, and the key set they verify them with:
//! Better Auth's `jwt` plugin (`docs/better-auth-plugins.md` §JWT).
//!
//! Keys live in the `jwks` table as Better Auth stores them (public JWK as JSON text, private JWK
//! sealed with `auth::symmetric` under `AUTH_SECRET`), so keys and tokens are interchangeable
//! with a Node Better Auth on the same database. A key is created on first use, once however
//! many requests or instances ask at once (`AuthWrite::insert_signing_key`). With
//! `JWKS_ROTATION_INTERVAL` each key signs until its `expiresAt`; the next request then takes
//! the newest live key, creating one only if no instance has yet. Retired keys stay published
//! for `JWKS_GRACE_PERIOD`, so tokens signed just before a rotation keep verifying.
//!
//! Unlike Better Auth, which reads the key table and decrypts the key for every token, the
//! signing key is kept in memory: signing costs no database round trip. It is reloaded when it
//! expires and at least every [`RELOAD_AFTER`], which is how a key another instance (or a Node
//! Better Auth) created becomes the one this instance signs with.
//!
//! Nor does `get-session` sign a new token for every request, as Better Auth does: the token of
//! the `set-auth-jwt` header is kept with the cached session ([`JwtSlot`], in the session cache
//! entry of `auth::cache`, so whatever invalidates the session or its user drops the token too)
//! and served again while more than two thirds of its lifetime remain and its key still signs
//! ([`Jwts::session_token`]). `GET /token` always signs a new one.

use std::{
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair},
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::{
    auth::{
        model::{JwtSlot, SigningKeyRow, User},
        store::AuthStore,
        symmetric,
        token::new_id,
    },
    config::{AuthSecret, JwtAlgorithm},
    error::ApiError,
    timestamp::{iso_millis, now_millis},
};

/// The longest an instance signs with a key without looking at the key table again.
pub(crate) const RELOAD_AFTER: Duration = Duration::from_secs(60);

/// The most keys the key set lists (the newest): a bound for verifiers' caches even with a
/// rotation interval far shorter than the grace period.
pub(crate) const MAX_PUBLISHED_KEYS: usize = 100;

/// How many times a key creation that lost a race is retried before giving up.
const CREATE_ATTEMPTS: usize = 3;

/// What the tokens say and how long keys live.
#[derive(Clone, Debug)]
pub(crate) struct JwtSettings {
    /// The algorithm of new keys, and of the keys that sign.
    pub(crate) algorithm: JwtAlgorithm,
    /// `iss`
    pub(crate) issuer: String,
    /// `aud`
    pub(crate) audience: String,
    /// `exp - iat`
    pub(crate) expires_in: Duration,
    /// How long a new key signs (`None`: until replaced by hand).
    pub(crate) rotation_interval: Option<Duration>,
    /// How long a retired key stays in the key set.
    pub(crate) grace_period: Duration,
}

/// One public key of the key set, with the fields a JWK of its type has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublicJwk {
    /// `kid`: the key's id.
    pub(crate) kid: String,
    /// `alg`
    pub(crate) alg: String,
    /// `kty`: `OKP`, `EC` or `RSA`.
    pub(crate) kty: String,
    /// `crv` (OKP and EC keys).
    pub(crate) crv: Option<String>,
    /// `x` (OKP and EC keys).
    pub(crate) x: Option<String>,
    /// `y` (EC keys).
    pub(crate) y: Option<String>,
    /// `n` (RSA keys).
    pub(crate) n: Option<String>,
    /// `e` (RSA keys).
    pub(crate) e: Option<String>,
}

/// Issues JWTs and publishes the key set; cheap to clone.
#[derive(Clone)]
pub(crate) struct Jwts(Arc<Inner>);

struct Inner {
    store: AuthStore,
    secret: AuthSecret,
    settings: JwtSettings,
    current: RwLock<Option<Arc<Signer>>>,
    loading: tokio::sync::Mutex<()>,
}

/// The key that signs, ready in memory.
struct Signer {
    kid: String,
    key: PrivateKey,
    expires_at: Option<OffsetDateTime>,
    loaded_at: Instant,
}

enum PrivateKey {
    Ed25519(Ed25519KeyPair),
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// The claims of a token, in the order Better Auth's payload has them: `iat`, the user's public
/// fields, `sub`, then `exp`, `iss`, `aud`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Claims<'a> {
    iat: i64,
    name: &'a str,
    email: &'a str,
    email_verified: bool,
    image: Option<&'a str>,
    created_at: String,
    updated_at: String,
    two_factor_enabled: bool,
    id: &'a str,
    sub: &'a str,
    exp: i64,
    iss: &'a str,
    aud: &'a str,
}

impl Jwts {
    /// Issues tokens with `settings`, storing keys through `store`, sealed under `secret`.
    pub(crate) fn new(store: AuthStore, secret: AuthSecret, settings: JwtSettings) -> Self {
        Self(Arc::new(Inner {
            store,
            secret,
            settings,
            current: RwLock::new(None),
            loading: tokio::sync::Mutex::new(()),
        }))
    }

    /// A fresh token for `user`: `sub` is their id, the claims their public fields.
    pub(crate) async fn token_for(&self, user: &User) -> Result<String, ApiError> {
        let signer = self.signer().await?;
        self.sign(&signer, user, OffsetDateTime::now_utc().unix_timestamp())
    }

    /// The token for the `set-auth-jwt` header of `user`'s session: the one in `slot` (the
    /// session's cache entry) while more than two thirds of its lifetime remain and its key is
    /// still the signing key, otherwise a fresh one, kept in `slot`.
    pub(crate) async fn session_token(&self, user: &User, slot: &JwtSlot) -> Result<String, ApiError> {
        let signer = self.signer().await?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if let Some(token) = slot.kept(&signer.kid, now) {
            return Ok(token);
        }
        let token = self.sign(&signer, user, now)?;
        let reuse_for = i64::try_from(self.0.settings.expires_in.as_secs() / 3).unwrap_or(i64::MAX);
        slot.keep(token.clone(), signer.kid.clone(), now.saturating_add(reuse_for));
        Ok(token)
    }

    /// A token for `user` signed by `signer`, issued at `iat` (unix seconds).
    fn sign(&self, signer: &Signer, user: &User, iat: i64) -> Result<String, ApiError> {
        let settings = &self.0.settings;
        let claims = Claims {
            iat,
            name: &user.name,
            email: &user.email,
            email_verified: user.email_verified,
            image: user.image.as_deref(),
            created_at: iso_millis(user.created_at),
            updated_at: iso_millis(user.updated_at),
            two_factor_enabled: user.two_factor_enabled,
            id: user.id.as_str(),
            sub: user.id.as_str(),
            exp: iat.saturating_add(i64::try_from(settings.expires_in.as_secs()).unwrap_or(i64::MAX)),
            iss: &settings.issuer,
            aud: &settings.audience,
        };
        let header = json!({"alg": settings.algorithm.name(), "kid": signer.kid});
        let payload = serde_json::to_vec(&claims).map_err(|err| ApiError::Internal(err.to_string()))?;
        let mut token = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(payload));
        let signature = signer.key.sign(token.as_bytes())?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }

    /// The published key set: every key not retired for longer than the grace period (the
    /// newest [`MAX_PUBLISHED_KEYS`] of them), oldest first. Creates the first key if there is
    /// none yet, as Better Auth does.
    pub(crate) async fn public_keys(&self) -> Result<Vec<PublicJwk>, ApiError> {
        self.signer().await?;
        let now = OffsetDateTime::now_utc();
        let grace = self.0.settings.grace_period;
        let rows = self.0.store.signing_keys().await?;
        let mut keys: Vec<PublicJwk> = rows
            .iter()
            .filter(|row| row.expires_at.is_none_or(|expires| expires + grace > now))
            .filter_map(|row| self.public_jwk(row))
            .collect();
        keys.drain(..keys.len().saturating_sub(MAX_PUBLISHED_KEYS));
        Ok(keys)
    }

    /// A key row as a public JWK; `None` (and a warning) for a row whose public key is not a
    /// JWK. Only public members are copied, whatever else the stored text holds.
    fn public_jwk(&self, row: &SigningKeyRow) -> Option<PublicJwk> {
        let Ok(Value::Object(stored)) = serde_json::from_str::<Value>(&row.public_key) else {
            tracing::warn!(key.id = %row.id, "a jwks row's publicKey is not a JSON object; not published");
            return None;
        };
        let member = |name: &str| stored.get(name).and_then(Value::as_str).map(str::to_owned);
        Some(PublicJwk {
            kid: row.id.clone(),
            alg: row.alg.clone().unwrap_or_else(|| self.0.settings.algorithm.name().to_owned()),
            kty: member("kty")?,
            crv: member("crv").or_else(|| row.crv.clone()),
            x: member("x"),
            y: member("y"),
            n: member("n"),
            e: member("e"),
        })
    }

    /// The signing key: from memory while it is live and recently loaded, otherwise (one
    /// caller at a time) from the key table, created there when no live key exists.
    async fn signer(&self) -> Result<Arc<Signer>, ApiError> {
        if let Some(signer) = self.loaded() {
            return Ok(signer);
        }
        let _loading = self.0.loading.lock().await;
        if let Some(signer) = self.loaded() {
            return Ok(signer);
        }
        let signer = Arc::new(self.load().await?);
        *self.0.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&signer));
        Ok(signer)
    }

    /// The key in memory, if it may still sign without a look at the table.
    fn loaded(&self) -> Option<Arc<Signer>> {
        let current = self.0.current.read().unwrap_or_else(PoisonError::into_inner).clone()?;
        let live = current.expires_at.is_none_or(|expires| expires > OffsetDateTime::now_utc());
        (live && current.loaded_at.elapsed() < RELOAD_AFTER).then_some(current)
    }

    /// The newest live key of the configured algorithm, created if there is none.
    async fn load(&self) -> Result<Signer, ApiError> {
        let store = &self.0.store;
        for _ in 0..CREATE_ATTEMPTS {
            let rows = store.signing_keys().await?;
            let now = OffsetDateTime::now_utc();
            if let Some(row) = newest_live(&rows, self.0.settings.algorithm, now) {
                return self.open(row);
            }
            let row = self.generate().await?;
            let mut write = store.begin().await?;
            let created = write.insert_signing_key(&row, rows.len()).await?;
            write.commit().await?;
            if created {
                tracing::info!(key.id = %row.id, alg = self.0.settings.algorithm.name(), "JWT signing key created");
                return self.open(&row);
            }
        }
        Err(ApiError::Internal("the JWT signing key could not be created: the key table kept changing".to_owned()))
    }

    /// Decrypts and imports a stored key.
    fn open(&self, row: &SigningKeyRow) -> Result<Signer, ApiError> {
        let broken = |why: &str| ApiError::Internal(format!("JWT signing key {}: {why}", row.id));
        // Better Auth stores the sealed text as a JSON string.
        let sealed: String =
            serde_json::from_str(&row.private_key).map_err(|_| broken("privateKey is not JSON text"))?;
        let jwk = symmetric::open(&self.0.secret, &sealed)
            .map_err(|_| broken("privateKey does not decrypt under AUTH_SECRET"))?;
        let jwk: Map<String, Value> = serde_json::from_str(&jwk).map_err(|_| broken("not a JWK"))?;
        let key = PrivateKey::from_jwk(self.0.settings.algorithm, &jwk).map_err(broken)?;
        Ok(Signer { kid: row.id.clone(), key, expires_at: row.expires_at, loaded_at: Instant::now() })
    }

    /// A new key row: a fresh key pair, the private half sealed.
    async fn generate(&self) -> Result<SigningKeyRow, ApiError> {
        let algorithm = self.0.settings.algorithm;
        // RSA key generation takes a noticeable time; keep it off the async threads.
        let (public, private) = tokio::task::spawn_blocking(move || generate_jwk(algorithm))
            .await
            .map_err(|err| ApiError::Internal(err.to_string()))?
            .map_err(|why| ApiError::Internal(format!("JWT key generation failed: {why}")))?;
        let created_at = now_millis();
        let sealed = symmetric::seal(&self.0.secret, &Value::Object(private).to_string());
        Ok(SigningKeyRow {
            id: new_id(),
            crv: public.get("crv").and_then(Value::as_str).map(str::to_owned),
            public_key: Value::Object(public).to_string(),
            private_key: Value::String(sealed).to_string(),
            created_at,
            expires_at: self.0.settings.rotation_interval.map(|interval| created_at + interval),
            alg: Some(algorithm.name().to_owned()),
        })
    }
}

/// Better Auth's choice of signing key: the newest unexpired key of the algorithm (a row
/// without `alg` counts as the configured one).
fn newest_live(rows: &[SigningKeyRow], algorithm: JwtAlgorithm, now: OffsetDateTime) -> Option<&SigningKeyRow> {
    rows.iter()
        .filter(|row| row.alg.as_deref().is_none_or(|alg| alg == algorithm.name()))
        .filter(|row| row.expires_at.is_none_or(|expires| expires > now))
        .max_by_key(|row| row.created_at)
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(URL_SAFE_NO_PAD.encode(bytes))
}

/// A JWK as a JSON object.
type Jwk = Map<String, Value>;

/// A JWK object from `(member, value)` pairs, in the order Node's `exportJWK` writes them.
fn jwk(members: &[(&str, Value)]) -> Jwk {
    members.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect()
}

/// A new key pair as (public JWK, private JWK).
fn generate_jwk(algorithm: JwtAlgorithm) -> Result<(Jwk, Jwk), &'static str> {
    let rng = SystemRandom::new();
    match algorithm {
        JwtAlgorithm::EdDsa => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|_| "no randomness")?;
            let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| "Ed25519 seed refused")?;
            let x = b64(pair.public_key().as_ref());
            let crv = Value::from("Ed25519");
            let kty = Value::from("OKP");
            Ok((
                jwk(&[("crv", crv.clone()), ("x", x.clone()), ("kty", kty.clone())]),
                jwk(&[("crv", crv), ("d", b64(&seed)), ("x", x), ("kty", kty)]),
            ))
        }
        JwtAlgorithm::Es256 => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| "P-256 key generation failed")?;
            let (d, point) = p256_from_pkcs8(pkcs8.as_ref()).ok_or("unexpected P-256 PKCS#8 layout")?;
            let (kty, crv) = (Value::from("EC"), Value::from("P-256"));
            let (x, y) = (b64(&point[1..33]), b64(&point[33..65]));
            Ok((
                jwk(&[("kty", kty.clone()), ("x", x.clone()), ("y", y.clone()), ("crv", crv.clone())]),
                jwk(&[("kty", kty), ("x", x), ("y", y), ("crv", crv), ("d", b64(d))]),
            ))
        }
        JwtAlgorithm::Rs256 => {
            use rsa::traits::{PrivateKeyParts, PublicKeyParts};
            let key =
                rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(|_| "RSA key generation failed")?;
            let [p, q] = key.primes() else { return Err("an RSA key of two primes") };
            let (dp, dq, qi) = (key.dp(), key.dq(), key.crt_coefficient());
            let (Some(dp), Some(dq), Some(qi)) = (dp, dq, qi) else { return Err("RSA CRT values missing") };
            let int = |value: &rsa::BigUint| b64(&value.to_bytes_be());
            let (kty, n, e) = (Value::from("RSA"), int(key.n()), int(key.e()));
            Ok((
                jwk(&[("kty", kty.clone()), ("n", n.clone()), ("e", e.clone())]),
                jwk(&[
                    ("kty", kty),
                    ("n", n),
                    ("e", e),
                    ("d", int(key.d())),
                    ("p", int(p)),
                    ("q", int(q)),
                    ("dp", int(dp)),
                    ("dq", int(dq)),
                    ("qi", int(&qi)),
                ]),
            ))
        }
    }
}

/// The private scalar and the uncompressed public point of the PKCS#8 document *ring* writes
/// for a new P-256 key (RFC 5915 `ECPrivateKey` inside PKCS#8 v1: a fixed 138-byte layout).
fn p256_from_pkcs8(der: &[u8]) -> Option<(&[u8], &[u8])> {
    const SCALAR: std::ops::Range<usize> = 36..68;
    const POINT: std::ops::Range<usize> = 73..138;
    let layout = der.len() == 138
        && der.get(34..36) == Some(&[0x04, 0x20])
        && der.get(68..74) == Some(&[0xa1, 0x44, 0x03, 0x42, 0x00, 0x04]);
    layout.then(|| (&der[SCALAR], &der[POINT]))
}

impl PrivateKey {
    /// Imports a private JWK (ours or one Node's `exportJWK` wrote) for `algorithm`.
    fn from_jwk(algorithm: JwtAlgorithm, jwk: &Map<String, Value>) -> Result<Self, &'static str> {
        let member = |name: &str| -> Result<Vec<u8>, &'static str> {
            let text = jwk.get(name).and_then(Value::as_str).ok_or("a JWK member is missing")?;
            URL_SAFE_NO_PAD.decode(text).map_err(|_| "a JWK member is not base64url")
        };
        let rng = SystemRandom::new();
        match algorithm {
            JwtAlgorithm::EdDsa => Ed25519KeyPair::from_seed_and_public_key(&member("d")?, &member("x")?)
                .map(Self::Ed25519)
                .map_err(|_| "not an Ed25519 key pair"),
            JwtAlgorithm::Es256 => {
                let point = [&[0x04][..], &member("x")?, &member("y")?].concat();
                EcdsaKeyPair::from_private_key_and_public_key(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &member("d")?,
                    &point,
                    &rng,
                )
                .map(Self::Ecdsa)
                .map_err(|_| "not a P-256 key pair")
            }
            JwtAlgorithm::Rs256 => {
                let components = ring::rsa::KeyPairComponents {
                    public_key: ring::rsa::PublicKeyComponents { n: member("n")?, e: member("e")? },
                    d: member("d")?,
                    p: member("p")?,
                    q: member("q")?,
                    dP: member("dp")?,
                    dQ: member("dq")?,
                    qInv: member("qi")?,
                };
                RsaKeyPair::from_components(&components).map(Self::Rsa).map_err(|_| "not an RSA key pair")
            }
        }
    }

    /// The JWS signature of `message` (ECDSA as `r || s`, as JWS wants it).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, ApiError> {
        let failed = |_| ApiError::Internal("JWT signing failed".to_owned());
        match self {
            Self::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Self::Ecdsa(pair) => Ok(pair.sign(&SystemRandom::new(), message).map_err(failed)?.as_ref().to_vec()),
            Self::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut signature)
                    .map_err(failed)?;
                Ok(signature)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ring::signature::UnparsedPublicKey;

    use super::*;

    fn verify(algorithm: JwtAlgorithm, public: &Map<String, Value>, message: &[u8], signature: &[u8]) -> bool {
        let member = |name: &str| URL_SAFE_NO_PAD.decode(public[name].as_str().expect("member")).expect("base64url");
        match algorithm {
            JwtAlgorithm::EdDsa => UnparsedPublicKey::new(&signature::ED25519, member("x")).verify(message, signature),
            JwtAlgorithm::Es256 => {
                let point = [&[0x04][..], &member("x"), &member("y")].concat();
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(message, signature)
            }
            JwtAlgorithm::Rs256 => signature::RsaPublicKeyComponents { n: member("n"), e: member("e") }.verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                message,
                signature,
            ),
        }
        .is_ok()
    }

    #[test]
    fn generated_keys_round_trip_through_their_jwk_and_verify() {
        for algorithm in [JwtAlgorithm::EdDsa, JwtAlgorithm::Es256, JwtAlgorithm::Rs256] {
            let (public, private) = generate_jwk(algorithm).expect("generates");
            assert!(public.keys().all(|k| !matches!(k.as_str(), "d" | "p" | "q" | "dp" | "dq" | "qi")), "{public:?}");
            let key = PrivateKey::from_jwk(algorithm, &private).expect("imports");
            let signature = key.sign(b"header.payload").expect("signs");
            assert!(verify(algorithm, &public, b"header.payload", &signature), "{algorithm:?}");
            assert!(!verify(algorithm, &public, b"header.payload!", &signature), "{algorithm:?}");
        }
    }

    /// Made by jose (`generateKeyPair` + `exportJWK`), as Better Auth 1.7.25 makes its keys.
    #[test]
    fn imports_a_jwk_node_exported() {
        let private: Map<String, Value> = serde_json::from_str(
            r#"{"crv":"Ed25519","d":"HDPzDCA0alTArd72WuZ6OlNYZ7tjGZDlDI5OGkREtpg","x":"BYHebPL_xYvX2WXHYal4S7TA__8hiwcbAW2jsqKJRLk","kty":"OKP"}"#,
        )
        .expect("JSON");
        let key = PrivateKey::from_jwk(JwtAlgorithm::EdDsa, &private).expect("imports");
        let signature = key.sign(b"m").expect("signs");
        assert!(verify(JwtAlgorithm::EdDsa, &private, b"m", &signature));
        assert!(PrivateKey::from_jwk(JwtAlgorithm::Es256, &private).is_err(), "another algorithm's key is refused");
        let p256: Map<String, Value> = serde_json::from_str(
            r#"{"kty":"EC","x":"XIy6o5O2oUq4MG02oFgfp3hIGESEovktfRHHIaJGcxs","y":"QVFpOAqInli9NbNVFWgxMA8MnFwwIa6aPdTFZ1qm_sU","crv":"P-256","d":"JMxD8b9UaI0jxkbaGHI3b4fL0q6oqQ1y9twEmx4yfws"}"#,
        )
        .expect("JSON");
        let key = PrivateKey::from_jwk(JwtAlgorithm::Es256, &p256).expect("imports");
        assert!(verify(JwtAlgorithm::Es256, &p256, b"m", &key.sign(b"m").expect("signs")));
    }

    #[test]
    fn the_newest_live_key_of_the_algorithm_signs() {
        let now = OffsetDateTime::now_utc();
        let row = |id: &str, age: i64, expires: Option<i64>, alg: Option<&str>| SigningKeyRow {
            id: id.to_owned(),
            public_key: String::new(),
            private_key: String::new(),
            created_at: now - time::Duration::seconds(age),
            expires_at: expires.map(|s| now + time::Duration::seconds(s)),
            alg: alg.map(str::to_owned),
            crv: None,
        };
        let rows = [
            row("old", 30, None, Some("EdDSA")),
            row("legacy", 20, None, None),
            row("expired", 5, Some(-1), Some("EdDSA")),
            row("other-alg", 1, None, Some("ES512")),
        ];
        assert_eq!(newest_live(&rows, JwtAlgorithm::EdDsa, now).map(|r| r.id.as_str()), Some("legacy"));
        assert_eq!(newest_live(&rows[2..], JwtAlgorithm::EdDsa, now).map(|r| r.id.as_str()), None);
    }
}
