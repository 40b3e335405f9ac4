//! Several instances started at once on one empty database (issue 14, point 1): the migrator
//! runs under a database-wide lock (PostgreSQL advisory lock, SQLite file lock), so every
//! instance comes up and the schema is applied once. Before the lock, most of them exited with
//! a duplicate-key error from racing `CREATE TABLE`s.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};

use crate::support::{
    db::{TestDatabase, TestDb},
    http::plain_client,
    server::{Env, Server, api_binary},
};

const INSTANCES: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaleout_startup_eight_instances_on_an_empty_database_all_become_ready() {
    let database = TestDatabase::create().await;
    // Built before the clock starts, so the instances really start together.
    api_binary();
    let env = Env::for_binary(&database).set("DB_MAX_CONNECTIONS", "2");
    let cwd = database.dir.path().to_owned();
    let starts: Vec<_> = (0..INSTANCES)
        .map(|_| {
            let (env, cwd) = (env.clone(), cwd.clone());
            std::thread::spawn(move || Server::start(&env, &cwd))
        })
        .collect();
    let mut servers: Vec<Server> =
        starts.into_iter().map(|start| start.join().expect("every instance starts")).collect();

    let client = plain_client();
    for server in &servers {
        let ready = client.get(server.url("/ready")).timeout(Duration::from_secs(10)).send().await.expect("answers");
        assert_eq!(ready.status(), 200, "/ready of {}", server.base);
    }
    let db = TestDb::connect(&database.url).await;
    let applied = db.count(r#"SELECT count(*) FROM "seaql_migrations""#, vec![]).await;
    assert_eq!(applied, i64::try_from(Migrator::migrations().len()).expect("few"), "each migration recorded once");
    for server in &mut servers {
        server.signal("TERM");
        assert!(server.wait_exit(Duration::from_secs(20)).success());
        let output = server.output();
        assert!(!output.contains("start-up failed"), "{output}");
        assert!(!output.contains("\"level\":\"ERROR\""), "no instance logged an error: {output}");
    }
}
