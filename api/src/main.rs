//! The `api` binary: configuration → logging and traces → build → serve until SIGINT/SIGTERM →
//! flush the queued trace spans.
//!
//! `api openapi` prints the OpenAPI document (the content of `openapi.yaml`) and exits.
//! `api hash-selftest` recomputes Better Auth's fixture password hashes on this CPU, prints a
//! JSON report (with the build that ran it) and exits 0 only if every hash is byte-identical
//! (`tests/api/portability.rs`).
//!
//! Before anything else, the generic build runs its x86-64-v4 sibling instead when the CPU
//! allows it (`api::cpu_build`).

use std::process::ExitCode;

use api::{app, config::Config, cpu_build, telemetry};

/// The allocator (the `allocator` crate) is mimalloc instead of glibc's: a request allocates
/// and frees many small buffers (headers, rows, JSON), and glibc's malloc/free were about 18 %
/// of the CPU profile of a task list under load (see the README's performance section). Its one
/// option (`HASH_KEEP_WORK_AREA`) is set before the runtime starts any thread, which is why the
/// configuration is read here and not in `run`; so is the choice of build, which may replace the
/// process.
fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    if command.as_deref() == Some("openapi") {
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
    let build = match cpu_build::select(config.allows_cpu_specific_build()) {
        Ok(build) => build,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    if config.keeps_hash_work_area() {
        allocator::keep_freed_large_blocks();
    }
    if command.as_deref() == Some("hash-selftest") {
        let (report, all_match) = api::auth::password::self_test(&build);
        println!("{report}");
        return if all_match { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run(config, build)),
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config, build: cpu_build::Choice) -> ExitCode {
    let telemetry = match telemetry::init(&config.log) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("cannot initialise logging: {err}");
            return ExitCode::from(2);
        }
    };
    if build.fallback {
        tracing::warn!(build = build.build, build_id = cpu_build::BUILD_ID, reason = %build.reason, "binary build");
    } else {
        tracing::info!(build = build.build, build_id = cpu_build::BUILD_ID, reason = %build.reason, "binary build");
    }
    let code = match app::build(config).await {
        // The signal handlers are installed here, before `serve` logs `listening on`.
        Ok(app) => match app.serve(app::shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(error = %err, "server failed");
                ExitCode::FAILURE
            }
        },
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            ExitCode::FAILURE
        }
    };
    // The spans of the last requests are still queued: export them before exiting. The flush
    // blocks (the exporter's own thread does the sending), so not on a runtime worker.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    code
}
