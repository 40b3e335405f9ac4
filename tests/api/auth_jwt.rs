//! The `jwt` plugin (`docs/better-auth-plugins.md` §JWT): `GET /api/auth/token`, the key set at
//! `GET /api/auth/jwks` and `/.well-known/jwks.json`, the `jwks` table (one key however many ask
//! at once, private keys sealed), rotation with a grace period across instances, the
//! `set-auth-jwt` header of `get-session` (its token kept with the cached session: served again
//! while most of its lifetime remains, signed again after a user update or a key rotation), and
//! no token or key material in the log.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    db::{TestDatabase, postgres_url},
    http::{assert_error, header_str, ok_json, plain_client},
    server::{Env, ORIGIN, Server, TestApp},
    users::{GET_SESSION, User, Via},
    wire::{is_iso_millis, unix_now, verify_jwt},
};

const TOKEN: &str = "/api/auth/token";
const JWKS: &str = "/api/auth/jwks";
const WELL_KNOWN: &str = "/.well-known/jwks.json";

/// Members of a private JWK; none may ever appear in a response.
const PRIVATE_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];

async fn jwks(app: &TestApp) -> Value {
    ok_json(plain_client().get(app.url(JWKS)).send().await.expect("request sent")).await
}

/// `GET /token` at `app` presenting the user's session by bearer token.
async fn token(app: &TestApp, user: &User) -> String {
    let response = plain_client().get(app.url(TOKEN)).bearer_auth(&user.bearer).send().await.expect("sent");
    let body = ok_json(response).await;
    body["token"].as_str().expect("token").to_owned()
}

fn kid(token: &str) -> String {
    crate::support::wire::jwt_parts(token).0["kid"].as_str().expect("kid").to_owned()
}

fn kids(set: &Value) -> Vec<String> {
    set["keys"].as_array().expect("keys").iter().map(|key| key["kid"].as_str().expect("kid").to_owned()).collect()
}

#[tokio::test]
async fn the_token_is_an_eddsa_jwt_for_the_user_that_verifies_against_the_key_set() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "jwt@example.com").await;

    let jwt = token(&app, &user).await;
    let set = jwks(&app).await;

    let (header, claims) = verify_jwt(&jwt, &set).expect("verifies against the JWKS");
    assert_eq!(header.as_object().map(|h| h.len()), Some(2), "header is {{alg, kid}}: {header}");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["id"], user.id.as_str());
    assert_eq!(claims["iss"], app.base.as_str(), "iss defaults to the base URL");
    assert_eq!(claims["aud"], app.base.as_str(), "aud defaults to the base URL");
    assert_eq!(claims["email"], "jwt@example.com");
    assert_eq!(claims["name"], "Test User");
    assert_eq!(claims["emailVerified"], false);
    assert_eq!(claims["image"], Value::Null);
    assert_eq!(claims["twoFactorEnabled"], false, "the user's fields, the two-factor plugin's included");
    assert!(is_iso_millis(&claims["createdAt"]) && is_iso_millis(&claims["updatedAt"]), "{claims}");
    let iat = claims["iat"].as_i64().expect("iat");
    assert!((iat - unix_now()).abs() <= 5, "iat is now");
    assert_eq!(claims["exp"].as_i64(), Some(iat + 900), "15 minutes");
    let keys = set["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let key = keys[0].as_object().expect("a JWK");
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    let mut members: Vec<&str> = key.keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["alg", "crv", "kid", "kty", "x"], "public members only");
}

#[tokio::test]
async fn a_tampered_or_foreign_token_does_not_verify() {
    let app = TestApp::spawn().await;
    let other = TestApp::spawn().await;
    let user = User::sign_up(&app, "tamper@example.com").await;
    let issued = token(&app, &user).await;
    let set = jwks(&app).await;

    let (head, rest) = issued.split_once('.').expect("JWT");
    let (payload, signature) = rest.split_once('.').expect("JWT");
    let mut forged_payload = crate::support::wire::jwt_parts(&issued).1;
    forged_payload["sub"] = Value::from("someone-else");
    let forged = format!(
        "{head}.{}.{signature}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, forged_payload.to_string())
    );
    assert!(verify_jwt(&forged, &set).is_err(), "a changed claim");
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    assert!(
        verify_jwt(&format!("{head}.{payload}.{flipped}{}", &signature[1..]), &set).is_err(),
        "a changed signature"
    );
    verify_jwt(&issued, &set).expect("the untouched token verifies");
    let foreign_user = User::sign_up(&other, "tamper@example.com").await;
    let foreign_token = token(&other, &foreign_user).await;
    assert!(verify_jwt(&foreign_token, &set).is_err(), "a token of another deployment's key");
}

#[tokio::test]
async fn the_token_needs_a_session() {
    let app = TestApp::spawn().await;

    assert_error(
        plain_client().get(app.url(TOKEN)).send().await.expect("sent"),
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    let forged = plain_client().get(app.url(TOKEN)).bearer_auth("not-a-session.sig").send().await.expect("sent");
    assert_error(forged, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert_eq!(app.db.count_rows("jwks").await, 0, "no key is made for nobody");
}

#[tokio::test]
async fn the_key_set_is_cacheable_with_an_etag_and_served_at_the_well_known_path() {
    let app = TestApp::spawn().await;

    let first = plain_client().get(app.url(JWKS)).send().await.expect("sent");
    assert_eq!(first.status(), StatusCode::OK);
    let cache_control = header_str(&first, "cache-control").expect("Cache-Control");
    assert!(cache_control.starts_with("public, max-age="), "{cache_control}");
    let etag = header_str(&first, "etag").expect("ETag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "a strong ETag: {etag}");
    let body: Value = first.json().await.expect("JSON");
    assert_eq!(kids(&body).len(), 1, "the first key is created on first use");

    let well_known = plain_client().get(app.url(WELL_KNOWN)).send().await.expect("sent");
    assert_eq!(header_str(&well_known, "etag").as_deref(), Some(etag.as_str()));
    assert_eq!(ok_json(well_known).await, body, "the same key set");

    for (path, if_none_match) in
        [(JWKS, etag.clone()), (WELL_KNOWN, format!("W/{etag}")), (JWKS, format!("\"x\", {etag}"))]
    {
        let again =
            plain_client().get(app.url(path)).header("if-none-match", &if_none_match).send().await.expect("sent");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path} If-None-Match: {if_none_match}");
        assert_eq!(header_str(&again, "etag").as_deref(), Some(etag.as_str()));
        assert!(again.bytes().await.expect("body").is_empty());
    }
    for path in [JWKS, WELL_KNOWN] {
        let huge =
            plain_client().get(app.url(path)).header("if-none-match", "0".repeat(1100)).send().await.expect("sent");
        assert_error(huge, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    }
    let stale = plain_client().get(app.url(JWKS)).header("if-none-match", "\"old\"").send().await.expect("sent");
    assert_eq!(stale.status(), StatusCode::OK, "another ETag gets the key set");
    assert_eq!(app.db.count_rows("jwks").await, 1);
}

#[tokio::test]
async fn the_private_key_is_stored_encrypted_and_never_served() {
    let app = TestApp::spawn().await;
    let user = User::sign_up_via(&app, "sealed@example.com", Via::Browser).await;
    let jwt = token(&app, &user).await;
    let session = user.get(GET_SESSION).await;
    let session_jwt = header_str(&session, "set-auth-jwt").expect("set-auth-jwt");
    let set = jwks(&app).await;

    let rows = app.db.query(r#"SELECT * FROM "jwks""#, vec![]).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let private: Value = serde_json::from_str(row["privateKey"].as_str().expect("text")).expect("JSON text");
    let sealed = private.as_str().expect("a JSON string, as Better Auth stores symmetricEncrypt output");
    assert!(sealed.len() > 80 && sealed.bytes().all(|b| b.is_ascii_hexdigit()), "hex ciphertext: {sealed}");
    let public: Value = serde_json::from_str(row["publicKey"].as_str().expect("text")).expect("a JWK");
    assert!(PRIVATE_MEMBERS.iter().all(|m| public.get(m).is_none()), "{public}");
    assert_eq!(row["alg"], "EdDSA");
    assert_eq!(row["crv"], "Ed25519");
    assert_eq!(row["expiresAt"], Value::Null, "no rotation configured");
    for key in set["keys"].as_array().expect("keys") {
        assert!(PRIVATE_MEMBERS.iter().all(|m| key.get(m).is_none()), "{key}");
    }
    for issued in [&jwt, &session_jwt] {
        let (header, claims) = verify_jwt(issued, &set).expect("verifies");
        assert!(header.get("jwk").is_none() && claims.get("d").is_none());
    }
}

#[tokio::test]
async fn many_instances_asking_at_once_create_one_key() {
    let first = TestApp::spawn().await;
    let mut apps = vec![first.sibling().spawn().await, first.sibling().spawn().await];
    let user = User::sign_up(&first, "race@example.com").await;
    apps.push(first);

    let mut requests = Vec::new();
    for round in 0..8 {
        for app in &apps {
            let (url, user) = (app.url(if round % 2 == 0 { JWKS } else { TOKEN }), user.clone());
            requests.push(tokio::spawn(async move {
                plain_client().get(url).bearer_auth(&user.bearer).send().await.expect("sent").status()
            }));
        }
    }
    for request in requests {
        assert_eq!(request.await.expect("joins"), StatusCode::OK);
    }

    assert_eq!(apps[0].db.count_rows("jwks").await, 1, "one key for every instance");
    let kids: Vec<String> = {
        let mut all = Vec::new();
        for app in &apps {
            all.push(kid(&token(app, &user).await));
        }
        all
    };
    assert!(kids.windows(2).all(|pair| pair[0] == pair[1]), "every instance signs with it: {kids:?}");
}

#[tokio::test]
async fn keys_rotate_and_retired_keys_stay_published_for_the_grace_period() {
    let rotation = [("JWKS_ROTATION_INTERVAL", "2"), ("JWKS_GRACE_PERIOD", "2"), ("JWT_EXPIRES_IN", "2")];
    let mut builder = TestApp::builder();
    for (name, value) in rotation {
        builder = builder.var(name, value);
    }
    let a = builder.spawn().await;
    let mut sibling = a.sibling();
    for (name, value) in rotation {
        sibling = sibling.var(name, value);
    }
    let b = sibling.spawn().await;
    let user = User::sign_up(&a, "rotate@example.com").await;

    let before = token(&a, &user).await;
    let first_kid = kid(&before);
    assert_eq!(kid(&token(&b, &user).await), first_kid, "both instances sign with the first key");
    let row = &a.db.query(r#"SELECT "expiresAt" FROM "jwks""#, vec![]).await[0];
    assert_ne!(row["expiresAt"], Value::Null, "a rotating key has an expiry");

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let rotated = token(&b, &user).await;
    let second_kid = kid(&rotated);
    assert_ne!(second_kid, first_kid, "the expired key no longer signs");
    assert_eq!(kid(&token(&a, &user).await), second_kid, "the other instance takes the new key, not a third");
    assert_eq!(a.db.count_rows("jwks").await, 2);
    let set = jwks(&a).await;
    assert_eq!(kids(&set), [first_kid.clone(), second_kid.clone()], "the retired key is still published");
    verify_jwt(&before, &set).expect("a token signed before the rotation still verifies");
    verify_jwt(&rotated, &set).expect("and the new one");

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let later = jwks(&b).await;
    assert!(!kids(&later).contains(&first_kid), "past the grace period the retired key is gone: {later}");
    assert!(verify_jwt(&before, &later).is_err());
}

#[tokio::test]
async fn es256_and_rs256_keys_are_configurable() {
    for (alg, kty) in [("ES256", "EC"), ("RS256", "RSA")] {
        let app = TestApp::builder().var("JWT_ALG", alg).spawn().await;
        let user = User::sign_up(&app, "alg@example.com").await;

        let jwt = token(&app, &user).await;
        let set = jwks(&app).await;

        let (header, claims) = verify_jwt(&jwt, &set).unwrap_or_else(|err| panic!("{alg}: {err}"));
        assert_eq!(header["alg"], alg);
        assert_eq!(claims["sub"], user.id.as_str());
        assert_eq!(set["keys"][0]["kty"], kty);
        for key in set["keys"].as_array().expect("keys") {
            assert!(PRIVATE_MEMBERS.iter().all(|m| key.get(m).is_none()), "{alg}: {key}");
        }
    }
}

#[tokio::test]
async fn issuer_audience_and_lifetime_are_configurable() {
    let app = TestApp::builder()
        .var("JWT_ISSUER", "https://auth.example.com")
        .var("JWT_AUDIENCE", "tasks-worker")
        .var("JWT_EXPIRES_IN", "60")
        .spawn()
        .await;
    let user = User::sign_up(&app, "claims@example.com").await;

    let (_, claims) = verify_jwt(&token(&app, &user).await, &jwks(&app).await).expect("verifies");

    assert_eq!(claims["iss"], "https://auth.example.com");
    assert_eq!(claims["aud"], "tasks-worker");
    assert_eq!(claims["exp"].as_i64().zip(claims["iat"].as_i64()).map(|(exp, iat)| exp - iat), Some(60));
}

#[tokio::test]
async fn get_session_adds_a_fresh_jwt_and_exposes_the_header() {
    let app = TestApp::spawn().await;
    let user = User::sign_up_via(&app, "header@example.com", Via::Browser).await;

    let response = user.get(GET_SESSION).await;
    let jwt = header_str(&response, "set-auth-jwt").expect("set-auth-jwt with a session");
    let exposed = header_str(&response, "access-control-expose-headers").unwrap_or_default();
    assert!(exposed.split(',').any(|name| name.trim() == "set-auth-jwt"), "exposed to {ORIGIN}: {exposed}");
    let (_, claims) = verify_jwt(&jwt, &jwks(&app).await).expect("verifies");
    assert_eq!(claims["sub"], user.id.as_str());

    let anonymous = plain_client().request(Method::GET, app.url(GET_SESSION)).send().await.expect("sent");
    assert!(header_str(&anonymous, "set-auth-jwt").is_none(), "no session, no JWT");
}

/// `get-session`'s `set-auth-jwt` token at `app`, verified against its key set, and its claims.
async fn session_jwt(app: &TestApp, user: &User) -> (String, Value) {
    let response = user.get(GET_SESSION).await;
    let jwt = header_str(&response, "set-auth-jwt").expect("set-auth-jwt with a session");
    let (_, claims) = verify_jwt(&jwt, &jwks(app).await).expect("verifies against the key set");
    (jwt, claims)
}

fn lifetime(claims: &Value) -> Option<i64> {
    claims["exp"].as_i64().zip(claims["iat"].as_i64()).map(|(exp, iat)| exp - iat)
}

#[tokio::test]
async fn get_session_serves_the_same_jwt_while_most_of_its_lifetime_remains() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "reuse@example.com").await;

    let (first, claims) = session_jwt(&app, &user).await;
    // Past the second of its `iat`, a newly signed token would differ.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (second, _) = session_jwt(&app, &user).await;

    assert_eq!(second, first, "the session's token is served again, not signed again");
    assert_eq!(lifetime(&claims), Some(900), "15 minutes, as before");
    assert_ne!(token(&app, &user).await, first, "GET /token signs a new one");
}

#[tokio::test]
async fn get_session_signs_a_new_jwt_once_a_third_of_its_lifetime_is_used() {
    let app = TestApp::builder().var("JWT_EXPIRES_IN", "3").spawn().await;
    let user = User::sign_up(&app, "renew@example.com").await;

    let (first, claims) = session_jwt(&app, &user).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (second, renewed) = session_jwt(&app, &user).await;

    assert_ne!(second, first, "less than two thirds of 3 s left: signed again");
    assert!(renewed["iat"].as_i64() > claims["iat"].as_i64(), "{claims} then {renewed}");
    assert_eq!(lifetime(&renewed), Some(3));
}

#[tokio::test]
async fn get_session_jwt_carries_the_user_as_updated() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "rename@example.com").await;
    let (first, claims) = session_jwt(&app, &user).await;
    assert_eq!(claims["name"], "Test User");

    let updated = user.post("/api/auth/update-user", &json!({"name": "Renamed User"})).await;
    assert_eq!(updated.status(), StatusCode::OK);
    let (second, claims) = session_jwt(&app, &user).await;

    assert_ne!(second, first, "the user changed: the kept token is dropped");
    assert_eq!(claims["name"], "Renamed User");
    assert_eq!(claims["sub"], user.id.as_str());
}

#[tokio::test]
async fn get_session_jwt_on_another_instance_carries_the_user_as_updated() {
    let first = TestApp::spawn().await;
    // PostgreSQL: the default cache lifetime, so only the change notifications can drop the other
    // instance's entry (and its token); SQLite, where nothing tells it: a 1 s lifetime bounds it.
    let second = match postgres_url() {
        Some(_) => first.sibling().spawn().await,
        None => first.sibling().var("SESSION_CACHE_TTL", "1").spawn().await,
    };
    let user = User::sign_up(&first, "elsewhere@example.com").await;
    let there = user.on(&second);
    let (_, claims) = session_jwt(&second, &there).await;
    assert_eq!(claims["name"], "Test User", "the other instance caches the session with its token");

    let updated = user.post("/api/auth/update-user", &json!({"name": "Renamed Elsewhere"})).await;
    assert_eq!(updated.status(), StatusCode::OK);

    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, claims) = session_jwt(&second, &there).await;
        if claims["name"] == "Renamed Elsewhere" {
            break;
        }
        assert!(Instant::now() < until, "the other instance still hands out the old name: {claims}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn get_session_jwt_is_signed_again_by_a_rotated_key() {
    let app = TestApp::builder().var("JWKS_ROTATION_INTERVAL", "2").spawn().await;
    let user = User::sign_up(&app, "rekey@example.com").await;
    let (first, _) = session_jwt(&app, &user).await;
    assert_eq!(session_jwt(&app, &user).await.0, first);

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let (second, claims) = session_jwt(&app, &user).await;

    assert_ne!(kid(&second), kid(&first), "the token of the retired key is not served again");
    assert_eq!(lifetime(&claims), Some(900));
    verify_jwt(&first, &jwks(&app).await).expect("the earlier token still verifies (grace period)");
}

#[tokio::test]
async fn the_get_session_header_can_be_turned_off() {
    let app = TestApp::builder().var("JWT_SESSION_HEADER", "false").spawn().await;
    let user = User::sign_up(&app, "off@example.com").await;

    let response = user.get(GET_SESSION).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(header_str(&response, "set-auth-jwt").is_none());
    assert_eq!(app.db.count_rows("jwks").await, 0, "no key until a token is asked for");
    token(&app, &user).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_private_key_material_reaches_the_log_at_trace_level() {
    let store = TestDatabase::create().await;
    let env = Env::for_binary(&store).with(&[("RUST_LOG", "trace"), ("LOG_FORMAT", "json")]);
    let mut server = Server::start(&env, store.dir.path());
    let user = User::sign_up(&server, "jwt-logs@example.com").await;

    let token = ok_json(plain_client().get(server.url(TOKEN)).bearer_auth(&user.bearer).send().await.expect("sent"))
        .await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let session = plain_client().get(server.url(GET_SESSION)).bearer_auth(&user.bearer).send().await.expect("sent");
    let session_jwt = header_str(&session, "set-auth-jwt").expect("set-auth-jwt");
    ok_json(plain_client().get(server.url(JWKS)).send().await.expect("sent")).await;
    let db = crate::support::db::TestDb::connect(&store.url).await;
    let rows = db.query(r#"SELECT "privateKey" FROM "jwks""#, vec![]).await;
    let sealed: String = serde_json::from_str(rows[0]["privateKey"].as_str().expect("text")).expect("JSON text");
    server.signal("TERM");
    server.wait_exit(Duration::from_secs(30));

    let output = server.output();
    assert!(output.contains("JWT signing key created"), "the creation is logged (without the key)");
    for (what, secret) in [
        ("a JWT from /token", token.as_str()),
        ("its signature", token.rsplit_once('.').expect("JWT").1),
        ("the set-auth-jwt header", session_jwt.as_str()),
        ("the sealed private key", sealed.as_str()),
        ("a slice of the sealed private key", &sealed[48..96]),
    ] {
        assert!(!output.contains(secret), "{what} appears in the log");
    }
    assert!(!output.contains(r#""d":"#) && !output.contains(r#"\"d\":"#), "a private JWK member appears in the log");
}
