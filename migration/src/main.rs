//! The migration CLI: `migration up | down | status | fresh | refresh | reset`.
//!
//! Reads `DATABASE_URL` (or `.env`); without it, uses the service's default SQLite file (creating
//! `./data/`), so `cargo run -p migration -- status` works on a fresh checkout.

use sea_orm_migration::{prelude::*, sea_orm::Database};

#[tokio::main]
async fn main() {
    cli::run_cli_with_custom_connection(migration::Migrator, async || {
        let url = match std::env::var("DATABASE_URL") {
            Ok(url) => url,
            Err(_) => {
                std::fs::create_dir_all("data").map_err(|err| DbErr::Custom(format!("cannot create ./data: {err}")))?;
                migration::DEFAULT_DATABASE_URL.to_owned()
            }
        };
        Database::connect(url).await
    })
    .await;
}
