//! No secrets in logs (issue 7): the built binary at `RUST_LOG=trace` (JSON lines) runs a full
//! flow (sign-up, sign-in, get-session by cookie and by bearer, tasks CRUD, change-password,
//! request-password-reset with the file mail transport, the reset itself, sign-out), and none of
//! its stdout or stderr may contain a password, a raw session token, a signed cookie value, a
//! `set-auth-token` value, a reset token, the email address or its local part; and a two-factor
//! flow (enrolment, TOTP confirmation, sign-ins completed with backup codes from an app and a
//! browser, a trusted device, new backup codes) logs no TOTP secret, backup code, pending sign-in
//! or cookie value.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    db::{TestDatabase, postgres_url},
    http::{ClientOptions, header_str, no_redirect_client, ok_json, plain_client, set_cookies},
    mail::MailOutbox,
    server::{Env, Server},
    two_factor::{Authenticator, ENABLE, GENERATE_BACKUP_CODES, Pending, VERIFY_BACKUP_CODE, VERIFY_TOTP},
    users::{PASSWORD, User},
    wire::session_cookie_pair,
};

/// Every secret the flow handled, with a name for the report.
#[derive(Default)]
pub(crate) struct Secrets(pub(crate) Vec<(String, String)>);

impl Secrets {
    pub(crate) fn add(&mut self, what: &str, value: &str) {
        assert!(value.len() >= 8, "{what} is too short to search for: {value:?}");
        self.0.push((what.to_owned(), value.to_owned()));
    }

    /// Records the value of every `Set-Cookie` line long enough to search for (an empty,
    /// clearing value is not a secret).
    pub(crate) fn add_cookie_values(&mut self, lines: &[String]) {
        for line in lines {
            let value = line.split(';').next().and_then(|pair| pair.split_once('=')).map_or("", |(_, v)| v);
            if value.len() >= 8 {
                self.add(&format!("cookie value ({line})"), value);
            }
        }
    }

    /// Records a response's session credentials: body token, `set-auth-token`, cookie value.
    pub(crate) fn add_session(&mut self, step: &str, response: &reqwest::Response, token: Option<&str>) {
        if let Some(token) = token {
            self.add(&format!("raw session token ({step})"), token);
        }
        if let Some(bearer) = response.headers().get("set-auth-token").and_then(|v| v.to_str().ok()) {
            self.add(&format!("set-auth-token ({step})"), bearer);
            if let Some((_, signature)) = bearer.rsplit_once('.') {
                self.add(&format!("token signature ({step})"), signature);
            }
        }
        if let Some(pair) = session_cookie_pair(response) {
            let value = pair.split_once('=').map(|(_, v)| v.to_owned()).unwrap_or_default();
            self.add(&format!("signed cookie value ({step})"), &value);
            self.add(
                &format!("decoded signed cookie value ({step})"),
                &value.replace("%2B", "+").replace("%2F", "/").replace("%3D", "="),
            );
        }
    }
}

/// Signs up with `browser` (cookies kept) and signs in with `native`, recording every session
/// credential the answers carry; returns the `Authorization` value of the sign-in's bearer token.
pub(crate) async fn sign_up_and_in(
    server: &Server,
    (browser, native): (&reqwest::Client, &reqwest::Client),
    email: &str,
    password: &str,
    secrets: &mut Secrets,
) -> String {
    let response = browser
        .post(server.url("/api/auth/sign-up/email"))
        .json(&json!({"name": "Secret Watch", "email": email, "password": password}))
        .send()
        .await
        .expect("sign-up");
    secrets.add_session("sign-up", &response, None);
    let signed_up = json_of(response, "sign-up", StatusCode::OK).await;
    secrets.add("raw session token (sign-up)", signed_up["token"].as_str().expect("token"));

    let response = native
        .post(server.url("/api/auth/sign-in/email"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("sign-in");
    secrets.add_session("sign-in", &response, None);
    let bearer = response.headers().get("set-auth-token").and_then(|v| v.to_str().ok()).expect("bearer").to_owned();
    let signed_in = json_of(response, "sign-in", StatusCode::OK).await;
    secrets.add("raw session token (sign-in)", signed_in["token"].as_str().expect("token"));
    format!("Bearer {bearer}")
}

/// Requests the flow makes.
const REQUESTS: usize = 16;

pub(crate) async fn json_of(response: reqwest::Response, step: &str, expected: StatusCode) -> Value {
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    assert_eq!(status, expected, "{step}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_flow_at_trace_level_logs_no_password_token_cookie_reset_token_or_email() {
    // Arrange: the binary at trace level, JSON logs, mail to a file; distinctive secrets.
    let store = TestDatabase::create().await;
    let outbox = MailOutbox::new();
    let mut env = Env::for_binary(&store).with(&[("RUST_LOG", "trace"), ("LOG_FORMAT", "json")]);
    for (name, value) in outbox.vars() {
        env = env.set(name, &value);
    }
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    // On PostgreSQL the URL carries a password (the test server trusts local connections, so any
    // password works): it is a secret too. `sslmode=prefer` makes the connection use TLS when the
    // server offers it, as a production database reached over the network would (the service
    // skips TLS on loopback only when no `sslmode` is given).
    let database_password = format!("db-Pw-{}", &nonce[..16]);
    let env = match postgres_url() {
        Some(_) => {
            let mut url = url::Url::parse(&store.url).expect("URL");
            url.set_password(Some(&database_password)).expect("password settable");
            url.set_query(Some("sslmode=prefer"));
            env.set("DATABASE_URL", url.as_str())
        }
        None => env,
    };
    let mut server = Server::start(&env, store.dir.path());
    let local_part = format!("logwatch{}", &nonce[..10]);
    let email = format!("{local_part}@example.com");
    let passwords = [
        format!("first-Pw-{}", &nonce[10..20]),
        format!("second-Pw-{}", &nonce[20..30]),
        format!("third-Pw-{}", &nonce[..12]),
    ];
    let mut secrets = Secrets::default();
    if postgres_url().is_some() {
        secrets.add("database password", &database_password);
    }
    secrets.add("email address", &email);
    secrets.add("email local part", &local_part);
    for (i, password) in passwords.iter().enumerate() {
        secrets.add(&format!("password {}", i + 1), password);
    }
    let browser = ClientOptions::default().browser().no_redirects().build();
    let native = no_redirect_client();

    // Act: the full flow.
    let authorization = sign_up_and_in(&server, (&browser, &native), &email, &passwords[0], &mut secrets).await;

    let by_cookie = json_of(
        browser.get(server.url("/api/auth/get-session")).send().await.expect("get"),
        "get-session by cookie",
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_cookie["user"]["email"], email.as_str());
    let by_bearer = json_of(
        native
            .get(server.url("/api/auth/get-session"))
            .header("authorization", &authorization)
            .send()
            .await
            .expect("get"),
        "get-session by bearer",
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_bearer["user"]["email"], email.as_str());

    let created = json_of(
        native
            .post(server.url("/api/v1/tasks"))
            .header("authorization", &authorization)
            .json(&json!({"title": "log flow task", "description": "d"}))
            .send()
            .await
            .expect("create"),
        "create",
        StatusCode::CREATED,
    )
    .await;
    let id = created["id"].as_i64().expect("id");
    let task = format!("/api/v1/tasks/{id}");
    json_of(
        native.get(server.url("/api/v1/tasks")).header("authorization", &authorization).send().await.expect("list"),
        "list",
        StatusCode::OK,
    )
    .await;
    json_of(
        native.get(server.url(&task)).header("authorization", &authorization).send().await.expect("get"),
        "get",
        StatusCode::OK,
    )
    .await;
    json_of(
        native
            .put(server.url(&task))
            .header("authorization", &authorization)
            .json(&json!({"title": "replaced", "description": null, "is_completed": true}))
            .send()
            .await
            .expect("put"),
        "replace",
        StatusCode::OK,
    )
    .await;
    json_of(
        browser.patch(server.url(&task)).json(&json!({"title": "patched by cookie"})).send().await.expect("patch"),
        "patch by cookie",
        StatusCode::OK,
    )
    .await;
    let deleted =
        native.delete(server.url(&task)).header("authorization", &authorization).send().await.expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let response = browser
        .post(server.url("/api/auth/change-password"))
        .json(&json!({"currentPassword": passwords[0], "newPassword": passwords[1], "revokeOtherSessions": true}))
        .send()
        .await
        .expect("change-password");
    secrets.add_session("change-password", &response, None);
    let changed = json_of(response, "change-password", StatusCode::OK).await;
    if let Some(token) = changed["token"].as_str() {
        secrets.add("raw session token (change-password)", token);
    }

    json_of(
        native
            .post(server.url("/api/auth/request-password-reset"))
            .json(&json!({"email": email, "redirectTo": "/reset"}))
            .send()
            .await
            .expect("reset request"),
        "request-password-reset",
        StatusCode::OK,
    )
    .await;
    let mail = outbox.wait_for(&email).await;
    let link = mail["url"].as_str().expect("mail url").to_owned();
    let reset_token = link
        .split("/reset-password/")
        .nth(1)
        .and_then(|rest| rest.split(['?', '&']).next())
        .expect("token in link")
        .to_owned();
    secrets.add("reset token", &reset_token);
    let opened = native.get(&link).send().await.expect("open link");
    assert_eq!(opened.status(), StatusCode::FOUND, "the reset link redirects");
    json_of(
        native
            .post(server.url("/api/auth/reset-password"))
            .json(&json!({"newPassword": passwords[2], "token": reset_token}))
            .send()
            .await
            .expect("reset"),
        "reset-password",
        StatusCode::OK,
    )
    .await;

    let response = browser
        .post(server.url("/api/auth/sign-in/email"))
        .json(&json!({"email": email, "password": passwords[2]}))
        .send()
        .await
        .expect("sign-in after reset");
    secrets.add_session("sign-in after reset", &response, None);
    let again = json_of(response, "sign-in after reset", StatusCode::OK).await;
    secrets.add("raw session token (sign-in after reset)", again["token"].as_str().expect("token"));
    let signed_out = json_of(
        browser.post(server.url("/api/auth/sign-out")).send().await.expect("sign-out"),
        "sign-out",
        StatusCode::OK,
    )
    .await;
    assert_eq!(signed_out["success"], true);

    // Stop the server so every line is flushed, then read all of its output.
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let output = server.output();

    // Assert: the whole log was captured (one access-log line per request, the shutdown line),
    // and no secret is anywhere in it.
    let access_lines = output.lines().filter(|line| line.contains(r#""message":"request""#)).count();
    assert!(access_lines >= REQUESTS, "{access_lines} access-log lines for {REQUESTS} requests:\n{output}");
    assert!(output.contains("shut down"), "the log runs to the end:\n{output}");
    let lower = output.to_lowercase();
    let mut leaks = Vec::new();
    for (what, value) in &secrets.0 {
        if let Some(at) = lower.find(&value.to_lowercase()) {
            let line_start = output[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = output[at..].find('\n').map_or(output.len(), |i| at + i);
            leaks.push(format!("{what} ({value}) appears in:\n    {}", &output[line_start..line_end]));
        }
    }
    let levels: std::collections::BTreeMap<&str, usize> = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
        .into_iter()
        .map(|level| (level, output.matches(&format!(r#""level":"{level}""#)).count()))
        .collect();
    eprintln!(
        "logs: {} bytes ({} lines, by level {levels:?}) checked for {} secrets",
        output.len(),
        output.lines().count(),
        secrets.0.len()
    );
    assert!(leaks.is_empty(), "secrets in the logs:\n{}", leaks.join("\n"));
}

/// An SMTP relay on loopback that refuses every recipient the way real relays do, quoting the
/// address in its reply (`550 5.1.1 <address>: Recipient address rejected`). Each refused
/// recipient is reported on the channel.
async fn rejecting_smtp_sink() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("sink binds");
    let port = listener.local_addr().expect("address").port();
    let (refused, report) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let refused = refused.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let command = line.to_ascii_uppercase();
                    let reply = if command.starts_with("RCPT TO:") {
                        let address = line["RCPT TO:".len()..].trim().to_owned();
                        let reply = format!("550 5.1.1 {address}: Recipient address rejected\r\n");
                        let _ = refused.send(address);
                        reply
                    } else if command.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        "250 OK\r\n".to_owned()
                    };
                    let _ = write.write_all(reply.as_bytes()).await;
                }
            });
        }
    });
    (port, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_rejects_the_recipient_leaves_no_address_in_the_logs() {
    // Issue 13, finding 6: `mail not sent error=... 550 5.1.1 <secret.person@example.com>:
    // Recipient address rejected`. Only the reply code may be logged.
    let (port, mut refused) = rejecting_smtp_sink().await;
    let store = TestDatabase::create().await;
    let env = Env::for_binary(&store).with(&[
        ("RUST_LOG", "debug"),
        ("LOG_FORMAT", "json"),
        ("MAIL_TRANSPORT", "smtp"),
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_PORT", &port.to_string()),
        ("SMTP_TLS", "none"),
    ]);
    let mut server = Server::start(&env, store.dir.path());
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let local_part = format!("secret.person{}", &nonce[..10]);
    let email = format!("{local_part}@example.com");
    let client = no_redirect_client();
    let signed_up = client
        .post(server.url("/api/auth/sign-up/email"))
        .json(&json!({"name": "Secret Person", "email": email, "password": "a long enough password"}))
        .send()
        .await
        .expect("sign-up");
    assert_eq!(signed_up.status(), StatusCode::OK);

    let requested = client
        .post(server.url("/api/auth/request-password-reset"))
        .json(&json!({"email": email}))
        .send()
        .await
        .expect("reset request");
    assert_eq!(requested.status(), StatusCode::OK);
    let address = tokio::time::timeout(Duration::from_secs(20), refused.recv()).await.expect("the relay was asked");
    assert!(address.is_some_and(|address| address.contains(&local_part)), "the relay refused the recipient");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server.output().contains("mail not sent") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(30)).success());
    let output = server.output();

    let failure = output.lines().find(|line| line.contains("mail not sent")).unwrap_or_else(|| panic!("{output}"));
    assert!(failure.contains("550"), "the reply code is logged: {failure}");
    assert!(!failure.contains("Recipient address rejected"), "the relay's text is not: {failure}");
    let lower = output.to_lowercase();
    assert!(!lower.contains(&local_part.to_lowercase()), "the address is in the logs:\n{output}");
}

#[tokio::test]
async fn a_two_factor_flow_at_trace_level_logs_no_secret_backup_code_or_pending_sign_in() {
    // Arrange: the binary at trace level with JSON logs; a user who enrols in two-factor sign-in.
    let store = TestDatabase::create().await;
    let env = Env::for_binary(&store).with(&[("RUST_LOG", "trace"), ("LOG_FORMAT", "json")]);
    let mut server = Server::start(&env, store.dir.path());
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let email = format!("twofactor{}@example.com", &nonce[..10]);
    let mut secrets = Secrets::default();
    let user = User::sign_up(&server, &email).await;
    secrets.add("raw session token (sign-up)", &user.token);
    secrets.add("set-auth-token (sign-up)", &user.bearer);

    // Act: enrol (the secret and the backup codes), confirm with a TOTP code, sign in again from
    // an app (the pending sign-in in a header, completed with a backup code) and from a browser
    // (the pending sign-in in a cookie, completed with a backup code and a trusted device), then
    // new backup codes.
    let enabled = ok_json(user.post(ENABLE, &json!({"password": PASSWORD})).await).await;
    let uri = enabled["totpURI"].as_str().expect("totpURI");
    let parsed = url::Url::parse(uri).expect("URL");
    let secret = parsed.query_pairs().find(|(k, _)| k == "secret").expect("secret").1.into_owned();
    secrets.add("TOTP secret", &secret);
    let backup_codes: Vec<String> = enabled["backupCodes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    for (i, code) in backup_codes.iter().enumerate() {
        secrets.add(&format!("backup code {}", i + 1), code);
    }
    let confirmed = user.post(VERIFY_TOTP, &json!({"code": Authenticator::scan(uri).code_now()})).await;
    secrets.add_session("two-factor confirmed", &confirmed, None);
    let confirmed = ok_json(confirmed).await;
    secrets.add("raw session token (two-factor confirmed)", confirmed["token"].as_str().expect("token"));

    let app = Pending::app(&server, &email).await;
    secrets.add("pending sign-in (app)", &app.token);
    let completed = app.post(VERIFY_BACKUP_CODE, &json!({"code": backup_codes[0]})).await;
    secrets.add_session("backup code (app)", &completed, None);
    let completed = ok_json(completed).await;
    secrets.add("raw session token (backup code, app)", completed["token"].as_str().expect("token"));

    let browser = Pending::browser(&server, &email).await;
    secrets.add("pending sign-in (browser)", &browser.token);
    secrets.add_cookie_values(&browser.set_cookies);
    let trusted = browser.post(VERIFY_BACKUP_CODE, &json!({"code": backup_codes[1], "trustDevice": true})).await;
    secrets.add_session("backup code (browser)", &trusted, None);
    secrets.add_cookie_values(&set_cookies(&trusted));
    assert_eq!(trusted.status(), StatusCode::OK);

    let app = Pending::app(&server, &email).await;
    secrets.add("pending sign-in (app, second)", &app.token);
    let completed = app.post(VERIFY_BACKUP_CODE, &json!({"code": backup_codes[2]})).await;
    let bearer = header_str(&completed, "set-auth-token").expect("set-auth-token");
    secrets.add_session("backup code (app, second)", &completed, None);
    let renewed = plain_client()
        .post(server.url(GENERATE_BACKUP_CODES))
        .bearer_auth(&bearer)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    for (i, code) in ok_json(renewed).await["backupCodes"].as_array().expect("codes").iter().enumerate() {
        secrets.add(&format!("renewed backup code {}", i + 1), code.as_str().expect("code"));
    }

    // Stop the server so every line is flushed, then read all of its output.
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let output = server.output();

    // Assert: the two-factor requests were logged, and no secret is anywhere in the log.
    assert!(output.contains("/api/auth/two-factor/verify-backup-code"), "requests are logged:\n{output}");
    let lower = output.to_lowercase();
    let leaks: Vec<String> = secrets
        .0
        .iter()
        .filter(|(_, value)| lower.contains(&value.to_lowercase()))
        .map(|(what, value)| format!("{what} ({value})"))
        .collect();
    assert!(leaks.is_empty(), "secrets in the logs:\n{}", leaks.join("\n"));
}
