//! The `api` binary: configuration → logging → build → serve until SIGINT/SIGTERM.
//!
//! `api openapi` prints the OpenAPI document (the content of `openapi.yaml`) and exits.

use std::process::ExitCode;

use api::{app, config::Config, telemetry};

/// The allocator (the `allocator` crate) is mimalloc instead of glibc's: a request allocates
/// and frees many small buffers (headers, rows, JSON), and glibc's malloc/free were about 18 %
/// of the CPU profile of a task list under load (see the README's performance section). Its one
/// option is set before the runtime starts any thread.
fn main() -> ExitCode {
    allocator::keep_freed_large_blocks();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run()),
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("openapi") {
        print!("{}", app::spec_yaml());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = telemetry::init(&config.log) {
        eprintln!("cannot initialise logging: {err}");
        return ExitCode::from(2);
    }
    let app = match app::build(config).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            return ExitCode::FAILURE;
        }
    };
    match app.serve(app::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}
