//! `GET /api/v1/tasks`: newest first, keyset pagination with opaque per-user cursors, the
//! `completed` and `q` filters, and the refusal of bad query values.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

use crate::support::{
    http::{assert_error, assert_json, plain_client},
    server::TestApp,
    tasks::{TASKS, assert_task_stored, id_of, ids},
    users::User,
};

/// Creates `n` tasks titled `Task 0`, `Task 1`, …; returns their ids in creation order.
async fn create_many(user: &User, n: usize) -> Vec<i64> {
    let mut created = Vec::with_capacity(n);
    for i in 0..n {
        created.push(id_of(&user.create_task_ok(&format!("Task {i}")).await));
    }
    created
}

/// Ids newest first.
fn newest_first(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

#[tokio::test]
async fn an_empty_list_is_an_empty_page_without_cursor() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;

    let response = alice.list_tasks("").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_json(&response);
    let body: Value = response.json().await.expect("page JSON");
    assert_eq!(body, json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn the_first_page_has_the_20_newest_tasks_as_stored() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let created = create_many(&alice, 25).await;

    let (items, next) = alice.task_page("").await;

    assert_eq!(ids(&items), newest_first(created.clone())[..20], "20 by default, newest first");
    assert!(next.is_some(), "more pages follow");
    for task in &items {
        assert_task_stored(&app, task).await;
    }
    let (rest, last) = alice.task_page(&format!("cursor={}", next.expect("cursor"))).await;
    assert_eq!(ids(&rest), newest_first(created)[20..], "the five oldest");
    assert_eq!(last, None, "null on the last page");
}

#[tokio::test]
async fn walking_all_pages_yields_every_task_exactly_once_in_order() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let created = create_many(&alice, 45).await;

    // Page by page, to count the pages as well.
    let mut walked = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.as_ref().map_or("limit=7".to_owned(), |c| format!("limit=7&cursor={c}"));
        let (items, next) = alice.task_page(&query).await;
        sizes.push(items.len());
        walked.extend(ids(&items));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }

    assert_eq!(sizes, [7, 7, 7, 7, 7, 7, 3], "six full pages and a last one of three");
    assert_eq!(walked, newest_first(created), "every task once, newest first");
}

#[tokio::test]
async fn when_the_tasks_fill_the_last_page_exactly_its_cursor_is_null() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let created = create_many(&alice, 14).await;

    let (first, next) = alice.task_page("limit=7").await;
    let (second, last) = alice.task_page(&format!("limit=7&cursor={}", next.expect("a second page"))).await;

    assert_eq!((first.len(), second.len()), (7, 7));
    assert_eq!(last, None, "no empty third page is announced");
    let (all, none) = alice.task_page("limit=100").await;
    assert_eq!((ids(&all), none), (newest_first(created), None), "limit=100 takes all 14 at once");
}

#[tokio::test]
async fn walking_while_tasks_are_inserted_sees_every_earlier_task_exactly_once() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let before: Vec<i64> = create_many(&alice, 45).await;

    // Another device of the same user keeps adding tasks during the walk.
    let (inserted_tx, mut inserted_rx) = watch::channel(Vec::<i64>::new());
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let (client, url, bearer) = (plain_client(), app.url(TASKS), alice.bearer.clone());
    let inserter = tokio::spawn(async move {
        let mut n = 0;
        while stop_rx.try_recv() == Err(oneshot::error::TryRecvError::Empty) {
            let response = client
                .post(&url)
                .bearer_auth(&bearer)
                .json(&json!({"title": format!("Concurrent {n}")}))
                .send()
                .await
                .expect("request sent");
            assert_eq!(response.status(), StatusCode::CREATED, "concurrent insert");
            let task: Value = response.json().await.expect("task JSON");
            inserted_tx.send_modify(|ids| ids.push(id_of(&task)));
            n += 1;
        }
    });

    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        // At least one insert lands between any two pages.
        let seen = inserted_rx.borrow_and_update().len();
        inserted_rx.wait_for(|ids| ids.len() > seen).await.expect("the inserter is running");
        let query = cursor.as_ref().map_or("limit=7".to_owned(), |c| format!("limit=7&cursor={c}"));
        let (items, next) = alice.task_page(&query).await;
        pages += 1;
        walked.extend(ids(&items));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    stop_tx.send(()).expect("the inserter is still running");
    inserter.await.expect("the inserter finished cleanly");
    let inserted: HashSet<i64> = inserted_rx.borrow().iter().copied().collect();

    assert!(inserted.len() >= pages, "inserts interleaved with the {pages} pages");
    assert!(walked.windows(2).all(|w| w[0] > w[1]), "strictly newest first, so no duplicates: {walked:?}");
    for id in &before {
        assert_eq!(walked.iter().filter(|w| *w == id).count(), 1, "task {id} from before the walk");
    }
    for id in &walked {
        assert!(before.contains(id) || inserted.contains(id), "task {id} came from nowhere");
    }
}

#[tokio::test]
async fn filters_combine_with_pagination() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    // (id, title, completed) of 30 tasks: every third is about milk, every other one is done.
    let mut tasks = Vec::new();
    for i in 0..30 {
        let title = if i % 3 == 0 { format!("Buy Milk #{i}") } else { format!("Chore #{i}") };
        let id = id_of(&alice.create_task_ok(&title).await);
        let done = i % 2 == 0;
        if done {
            assert_eq!(alice.patch_task(id, &json!({"is_completed": true})).await.status(), StatusCode::OK);
        }
        tasks.push((id, title, done));
    }
    let expect = |keep: &dyn Fn(&str, bool) -> bool| {
        newest_first(tasks.iter().filter(|(_, title, done)| keep(title, *done)).map(|(id, _, _)| *id).collect())
    };

    let cases: [(&str, Vec<i64>); 6] = [
        ("completed=true&limit=4", expect(&|_, done| done)),
        ("completed=false&limit=4", expect(&|_, done| !done)),
        ("q=milk&limit=3", expect(&|title, _| title.contains("Milk"))),
        ("q=MILK&completed=true&limit=2", expect(&|title, done| title.contains("Milk") && done)),
        ("q=%231&completed=false&limit=1", expect(&|title, done| title.contains("#1") && !done)),
        ("q=nothing-like-this&limit=5", Vec::new()),
    ];
    for (query, expected) in cases {
        let walked = ids(&alice.all_tasks(query).await);
        assert_eq!(walked, expected, "?{query}");
    }
    // Every item a filter returns really matches it.
    for task in alice.all_tasks("completed=true&q=milk&limit=3").await {
        assert_eq!(task["is_completed"], true);
        assert!(task["title"].as_str().unwrap_or_default().contains("Milk"));
    }
}

#[tokio::test]
async fn search_is_case_insensitive_and_takes_like_wildcards_literally() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let titles =
        ["50% off", "5000 off", "snake_case", "snakeXcase", r"C:\temp", "C:temp", "Buy MILK", "milkshake", "Oat milk"];
    for title in titles {
        alice.create_task_ok(title).await;
    }

    let cases: [(&str, &[&str]); 8] = [
        ("q=%25", &["50% off"]),
        ("q=0%25", &["50% off"]),
        ("q=_", &["snake_case"]),
        ("q=e_c", &["snake_case"]),
        ("q=%5C", &[r"C:\temp"]),
        ("q=milk", &["Oat milk", "milkshake", "Buy MILK"]),
        ("q=MiLk", &["Oat milk", "milkshake", "Buy MILK"]),
        ("q=off", &["5000 off", "50% off"]),
    ];
    for (query, expected) in cases {
        let found: Vec<String> = alice
            .all_tasks(query)
            .await
            .iter()
            .map(|task| task["title"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(found, expected, "?{query}");
    }
}

#[tokio::test]
async fn search_finds_non_ascii_titles_by_their_exact_text() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let elan = id_of(&alice.create_task_ok("Élan vital").await);
    let crab = id_of(&alice.create_task_ok("Feed the 🦀 Ferris").await);
    let decomposed = id_of(&alice.create_task_ok("Cafe\u{301} au lait").await);

    // Case folding beyond ASCII depends on the database (SQLite's lower() is ASCII-only), but
    // the exact text of a title must always find it.
    let cases = [
        ("q=%C3%89lan", vec![elan], "É as typed"),
        ("q=vital", vec![elan], "ASCII part"),
        ("q=VITAL", vec![elan], "ASCII case folding"),
        ("q=%F0%9F%A6%80", vec![crab], "an emoji"),
        ("q=Cafe%CC%81", vec![decomposed], "a combining accent"),
        ("q=Caf%C3%A9", vec![], "precomposed é is another text than e + U+0301"),
    ];
    for (query, expected, reason) in cases {
        assert_eq!(ids(&alice.all_tasks(query).await), expected, "?{query}: {reason}");
    }
}

#[tokio::test]
async fn bad_query_values_are_422_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    alice.create_task_ok("Something").await;
    let long_q = "q".repeat(201);

    let cases = [
        ("limit=0".to_owned(), "[query.limit]", "zero"),
        ("limit=101".to_owned(), "[query.limit]", "above 100"),
        ("limit=-1".to_owned(), "[query.limit]", "negative"),
        ("limit=abc".to_owned(), "[query.limit]", "not a number"),
        ("limit=2.5".to_owned(), "[query.limit]", "a fraction"),
        ("limit=99999999999999999999999".to_owned(), "[query.limit]", "beyond 64 bits"),
        ("completed=yes".to_owned(), "[query.completed]", "not a boolean"),
        ("completed=1".to_owned(), "[query.completed]", "a number for a boolean"),
        ("cursor=garbage".to_owned(), "[query.cursor] is not a valid cursor for this list", "garbage cursor"),
        ("cursor=%FF%FE".to_owned(), "[query.cursor]", "a cursor that is not UTF-8"),
        ("cursor=".to_owned(), "[query.cursor]", "an empty cursor"),
        ("q=a%00b".to_owned(), "[query.q]", "NUL in the search"),
        ("q=a%0Ab".to_owned(), "[query.q]", "newline in the search"),
        (format!("q={long_q}"), "[query.q]", "201-character search"),
    ];
    for (query, expected, reason) in cases {
        let response = alice.list_tasks(&query).await;
        let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "?{query} ({reason}): message {message:?} should contain {expected:?}");
    }
}

#[tokio::test]
async fn a_cursor_only_works_for_the_user_it_was_issued_to() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let bob = User::sign_up(&app, "bob@example.com").await;
    create_many(&alice, 3).await;
    create_many(&bob, 3).await;
    let (_, alices_cursor) = alice.task_page("limit=1").await;
    let alices_cursor = alices_cursor.expect("a second page");

    let response = bob.list_tasks(&format!("cursor={alices_cursor}")).await;

    let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert_eq!(error["message"], "[query.cursor] is not a valid cursor for this list");
    // Changing any character of a cursor makes it invalid too.
    for i in 0..alices_cursor.len() {
        let mut bytes = alices_cursor.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).expect("ASCII cursor");
        let response = alice.list_tasks(&format!("cursor={tampered}")).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "cursor with byte {i} changed");
    }
    assert_eq!(alice.list_tasks(&format!("cursor={alices_cursor}")).await.status(), StatusCode::OK, "still valid");
}

#[tokio::test]
async fn a_cursor_stays_valid_after_its_task_is_deleted() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let created = create_many(&alice, 5).await;
    let (first, cursor) = alice.task_page("limit=2").await;
    let last_seen = *ids(&first).last().expect("two items");
    assert_eq!(alice.delete_task(last_seen).await.status(), StatusCode::NO_CONTENT);

    let (rest, next) = alice.task_page(&format!("limit=10&cursor={}", cursor.expect("more pages"))).await;

    assert_eq!(ids(&rest), newest_first(created)[2..], "continues after the deleted task");
    assert_eq!(next, None);
}

#[tokio::test]
async fn a_query_string_that_is_not_utf8_is_never_a_server_error() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    alice.create_task_ok("Something").await;

    let ok = StatusCode::OK;
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    let cases = [
        ("q=%FF", ok, 0, "a lone invalid byte decodes to U+FFFD and matches nothing"),
        ("q=%C3", ok, 0, "a truncated sequence"),
        ("q=%ED%A0%80", ok, 0, "an encoded surrogate"),
        ("q=%", ok, 0, "a bare percent sign is taken literally"),
        ("q=%zz", ok, 0, "a percent sign without hex digits"),
        ("%FF=1", ok, 1, "an unknown, undecodable parameter name is ignored"),
        ("limit=%FF", invalid, 0, "a number that is not UTF-8"),
        ("completed=%FF", invalid, 0, "a boolean that is not UTF-8"),
    ];
    for (query, expected, items, why) in cases {
        let response = alice.request(Method::GET, &format!("{TASKS}?{query}")).send().await.expect("sent");
        assert_eq!(response.status(), expected, "?{query}: {why}");
        if expected == ok {
            let body: Value = response.json().await.expect("page JSON");
            assert_eq!(body["items"].as_array().map(Vec::len), Some(items), "?{query}: {why}");
        } else {
            assert_error(response, expected, "VALIDATION_ERROR").await;
        }
    }
}
