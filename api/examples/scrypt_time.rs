//! Times one password hash as the service computes it (Better Auth's scrypt, N=16384, r=16,
//! p=1), on one thread: the unit of the sign-in throughput target, `cores ÷ time of one hash`.
//!
//! `cargo run --release -p api --example scrypt_time [rounds]` prints JSON:
//! `{"rounds": n, "median_ms": …, "min_ms": …, "max_ms": …}`. bench/run runs it alongside the
//! sign-in scenario.

use std::time::Instant;

use api::auth::password::hash_for_benchmark;

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(15).max(1);
    let password = "correct horse battery staple";
    hash_for_benchmark(password); // warm-up: page in the 32 MiB work area
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(hash_for_benchmark(password));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        r#"{{"rounds": {rounds}, "median_ms": {:.2}, "min_ms": {:.2}, "max_ms": {:.2}}}"#,
        times[rounds / 2],
        times[0],
        times[rounds - 1]
    );
}
