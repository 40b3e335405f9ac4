//! The spec and the server agree on which email addresses are valid. Contract fuzzing found
//! `format: email` (RFC 5322) admitting addresses the server refuses, such as
//! `d^0=h1{rvw@arn.example.io`; the server keeps Better Auth's rule (zod's email pattern, see
//! `docs/better-auth-wire.md` §7.5), and the spec now declares that rule as the `pattern` of
//! every email field. Here the declared pattern and the server's answers are compared on a
//! corpus of valid and invalid addresses. (`compat/tests/email-rule.test.mjs` checks the same
//! pattern against zod itself.)

use regex::Regex;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    http::{assert_error, plain_client},
    server::TestApp,
    users::{PASSWORD, SIGN_UP},
};

/// The request fields that take an email address: `(schema, property)`.
const EMAIL_INPUTS: [(&str, &str); 5] = [
    ("SignUpRequest", "email"),
    ("SignInRequest", "email"),
    ("RequestPasswordResetRequest", "email"),
    ("SendVerificationEmailRequest", "email"),
    ("ChangeEmailRequest", "newEmail"),
];

/// Addresses on both sides of the rule, with what Better Auth 1.7.25 answers (checked with its
/// zod 4.6.7: `z.email().safeParse(address).success`).
const CORPUS: [(&str, bool); 48] = [
    ("ada@example.com", true),
    ("Ada.Lovelace+tag@Example.COM", true),
    ("o'neil@sub.example.io", true),
    ("a_b-c@d-e.fg", true),
    ("x@y.zw", true),
    ("1@2a.bc", true),
    ("-a@b.co", true),
    ("'a@b.co", true),
    ("a@b-.co", true),
    ("a@b.co.uk", true),
    ("a+b@c.museum", true),
    // A local part over RFC 5321's 64 characters: `format: email` refuses it, Better Auth not.
    ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com", true),
    // What contract fuzzing found: valid for RFC 5322, not for Better Auth.
    ("d^0=h1{rvw@arn.example.io", false),
    ("a!b@c.co", false),
    ("a#b@c.co", false),
    ("a$b@c.co", false),
    ("a%b@c.co", false),
    ("a&b@c.co", false),
    ("a*b@c.co", false),
    ("a/b@c.co", false),
    ("a=b@c.co", false),
    ("a?b@c.co", false),
    ("a^b@c.co", false),
    ("a`b@c.co", false),
    ("a{b@c.co", false),
    ("a|b@c.co", false),
    ("a}b@c.co", false),
    ("a~b@c.co", false),
    ("\"quoted\"@example.com", false),
    ("a@[127.0.0.1]", false),
    ("a b@c.co", false),
    ("a@b", false),
    ("ab.co", false),
    ("a@b.c", false),
    ("a..b@c.co", false),
    (".a@b.co", false),
    ("a.@b.co", false),
    ("a'@b.co", false),
    ("a@-b.co", false),
    ("a@b..co", false),
    ("a@b.c0m", false),
    ("a@123.45", false),
    ("a@b@c.co", false),
    ("ü@example.com", false),
    ("a@exämple.com", false),
    ("a@b.co ", false),
    (" a@b.co", false),
    ("a@b.co\n", false),
];

/// The pattern the served spec declares for every email input; all must declare the same one,
/// with the length limit, and none `format: email`.
async fn declared_email_rule(app: &TestApp) -> (String, u64) {
    let spec: Value = app.get("/openapi.json").await.json().await.expect("the spec is JSON");
    let mut rules = EMAIL_INPUTS.iter().map(|(schema, property)| {
        let field = &spec["components"]["schemas"][schema]["properties"][property];
        assert_eq!(field["type"], "string", "{schema}.{property}");
        assert_eq!(field["format"], Value::Null, "{schema}.{property}: format: email is not the server's rule");
        let pattern = field["pattern"].as_str().unwrap_or_else(|| panic!("{schema}.{property} has a pattern"));
        (pattern.to_owned(), field["maxLength"].as_u64().expect("maxLength"))
    });
    let first = rules.next().expect("email inputs");
    for other in rules {
        assert_eq!(other, first, "every email input declares the same rule");
    }
    first
}

#[tokio::test]
async fn sign_in_refuses_exactly_the_addresses_the_declared_pattern_refuses() {
    let app = TestApp::spawn().await;
    let (pattern, max_length) = declared_email_rule(&app).await;
    assert_eq!(max_length, 254);
    // JSON Schema patterns are ECMAScript regexes; this one means the same in Rust's syntax
    // (no flags; `$` is the end of the input in both).
    let declared = Regex::new(&pattern).expect("the declared pattern compiles");
    for (address, better_auth_accepts) in CORPUS {
        assert_eq!(declared.is_match(address), better_auth_accepts, "the declared pattern on {address:?}");
        let response = app.sign_in(address, PASSWORD).await;
        if better_auth_accepts {
            // No such account: the credentials are wrong, the address is not.
            assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_EMAIL_OR_PASSWORD").await;
        } else {
            let body = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_EMAIL").await;
            assert_eq!(body["message"], "Invalid email", "{address:?}");
        }
    }
}

#[tokio::test]
async fn sign_up_accepts_an_address_the_pattern_accepts_and_refuses_the_fuzzers_one() {
    let app = TestApp::spawn().await;
    let (pattern, _) = declared_email_rule(&app).await;
    let declared = Regex::new(&pattern).expect("the declared pattern compiles");
    let sign_up = |email: &str| {
        plain_client()
            .post(app.url(SIGN_UP))
            .json(&json!({"name": "Pattern", "email": email, "password": PASSWORD}))
            .send()
    };

    let refused = "d^0=h1{rvw@arn.example.io";
    assert!(!declared.is_match(refused));
    let body = assert_error(sign_up(refused).await.expect("sent"), StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    assert_eq!(body["message"], "[body.email] Invalid email address");

    let accepted = "o'neil-.x+tag@sub-.example.io";
    assert!(declared.is_match(accepted));
    let response = sign_up(accepted).await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["user"]["email"], accepted);
    assert!(declared.is_match(body["user"]["email"].as_str().expect("email")), "the answer matches the pattern too");
}
