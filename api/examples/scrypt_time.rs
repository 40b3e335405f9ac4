//! Times one password hash as the service computes it (Better Auth's scrypt, N=16384, r=16,
//! p=1, with the service's allocator), on one thread: the unit of the sign-in throughput
//! target, `cores ÷ time of one hash`.
//!
//! `cargo run --release -p api --example scrypt_time [rounds]` prints JSON:
//! `{"rounds": n, "median_ms": …, "min_ms": …, "max_ms": …, "cpu_median_ms": …,
//! "allocator_default": {…}}`. The top-level figures use the service's allocator setting
//! (`allocator::keep_freed_large_blocks`); `allocator_default` is the same measurement with
//! mimalloc's default purge delay, taken first (the setting is process-wide and one-way).
//! `cpu_*` is this thread's CPU time (Linux: `/proc/thread-self/schedstat`), which other load on
//! the machine disturbs less than wall time. bench/run runs it alongside the sign-in scenario.

use std::time::Instant;

use api::auth::password::hash_for_benchmark;

/// This thread's CPU time in milliseconds, if the kernel reports it.
fn thread_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: f64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(nanos / 1e6)
}

/// `{"median_ms": …, "min_ms": …, "max_ms": …, "cpu_median_ms": …, "cpu_min_ms": …}` over `rounds` hashes.
fn measure(rounds: usize) -> String {
    let password = "correct horse battery staple";
    hash_for_benchmark(password); // warm-up
    let mut wall = Vec::with_capacity(rounds);
    let mut cpu = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let cpu_before = thread_cpu_ms();
        let started = Instant::now();
        std::hint::black_box(hash_for_benchmark(password));
        wall.push(started.elapsed().as_secs_f64() * 1000.0);
        if let (Some(before), Some(after)) = (cpu_before, thread_cpu_ms()) {
            cpu.push(after - before);
        }
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let cpu_figure = |i: usize| cpu.get(i).map_or_else(|| "null".to_owned(), |ms| format!("{ms:.2}"));
    format!(
        r#""median_ms": {:.2}, "min_ms": {:.2}, "max_ms": {:.2}, "cpu_median_ms": {}, "cpu_min_ms": {}"#,
        wall[rounds / 2],
        wall[0],
        wall[rounds - 1],
        cpu_figure(cpu.len() / 2),
        cpu_figure(0)
    )
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(15).max(1);
    let default = measure(rounds);
    allocator::keep_freed_large_blocks();
    let tuned = measure(rounds);
    println!(r#"{{"rounds": {rounds}, {tuned}, "allocator_default": {{{default}}}}}"#);
}
