//! Which build of the binary runs: the generic x86-64 one, or the same code built for
//! x86-64-v4 (AVX-512), which hashes passwords about a third faster (README, Performance).
//!
//! `api` is the generic build, portable to any x86-64 CPU. `scripts/build-x86-64-v4` builds the
//! same sources for x86-64-v4 and places the result beside it as `api-x86-64-v4`. At start-up,
//! before any thread exists, the generic build replaces itself with that sibling (`exec`: same
//! process id, arguments and environment) when all of these hold:
//!
//! - `CPU_SPECIFIC_BUILD` is not `false`;
//! - the CPU has every x86-64-v4 feature (detected at run time);
//! - `api-x86-64-v4` exists beside the running binary;
//! - the sibling was built from the same sources and profile: it receives the generic build's
//!   id (`build.rs`) and, if its own differs, hands the process back to the generic build,
//!   which then stays (no loop: a hand-back carries its reason and is never dispatched again).
//!
//! Otherwise the generic build runs, and [`Choice`] says why; start-up logs it and
//! `api hash-selftest` reports it (`tests/api/portability.rs`). Hashes are byte-identical in
//! both builds: only code generation differs.

use std::{ffi::OsString, path::PathBuf};

/// The name of the x86-64-v4 build, beside the generic `api`.
pub const SIBLING: &str = "api-x86-64-v4";

/// This binary's build: `x86-64-v4` when compiled with those target features, else `generic`.
pub const BUILD: &str = if cfg!(all(
    target_feature = "avx512f",
    target_feature = "avx512vl",
    target_feature = "avx512bw",
    target_feature = "avx512dq",
    target_feature = "avx512cd"
)) {
    "x86-64-v4"
} else {
    "generic"
};

/// The hash of the sources and profile this binary was built from (`build.rs`).
pub const BUILD_ID: &str = env!("API_BUILD_ID");

/// Set by the generic build for its sibling: the build id the sibling must have.
const EXPECTED_ID: &str = "API_BUILD_EXPECTED_ID";
/// Set by the generic build for its sibling: where to hand the process back.
const GENERIC_PATH: &str = "API_BUILD_GENERIC_PATH";
/// Set by the sibling when it hands the process back: why the generic build runs.
const HANDED_BACK: &str = "API_BUILD_HANDED_BACK";

/// The build that runs, and why.
#[derive(Clone, Debug)]
pub struct Choice {
    /// [`BUILD`] of the running binary.
    pub build: &'static str,
    /// Why this build runs, for the start-up log and `hash-selftest`.
    pub reason: String,
    /// Whether the x86-64-v4 build should have run but could not (a sibling from other sources,
    /// or one that cannot be run): start-up logs it as a warning.
    pub fallback: bool,
}

/// Runs the x86-64-v4 build in place of this one if it should (see the module documentation),
/// or returns which build runs and why. Call it before starting any thread: a successful
/// `exec` replaces the whole process.
///
/// Fails only in a sibling built from other sources that cannot hand the process back: it must
/// not serve in the generic build's place.
pub fn select(cpu_specific_build: bool) -> Result<Choice, String> {
    let stay = |reason: String| Ok(Choice { build: BUILD, reason, fallback: false });
    let fall_back = |reason: String| Ok(Choice { build: BUILD, reason, fallback: true });
    if BUILD != "generic" {
        return match std::env::var(EXPECTED_ID) {
            Ok(expected) if expected != BUILD_ID => Err(hand_back(&expected)),
            Ok(_) => stay("selected: the CPU has AVX-512 and this build matches the generic one".to_owned()),
            Err(_) => stay("started directly".to_owned()),
        };
    }
    if let Ok(reason) = std::env::var(HANDED_BACK) {
        return fall_back(reason);
    }
    if !cpu_specific_build {
        return stay("CPU_SPECIFIC_BUILD=false".to_owned());
    }
    if !cpu_has_x86_64_v4() {
        return stay("the CPU lacks x86-64-v4 (AVX-512) features".to_owned());
    }
    let Some((me, sibling)) =
        std::env::current_exe().ok().and_then(|me| Some((me.clone(), me.parent()?.join(SIBLING))))
    else {
        return stay("the path of the running binary is unknown".to_owned());
    };
    if !sibling.is_file() {
        return stay(format!("no {SIBLING} beside this binary"));
    }
    let err = exec(&sibling, &[(EXPECTED_ID, BUILD_ID.into()), (GENERIC_PATH, me.into_os_string())]);
    fall_back(format!("cannot run {}: {err}", sibling.display()))
}

/// In the sibling: its build id differs from the generic build's, so the generic build runs
/// instead. Only returns, with the error, if that fails.
fn hand_back(expected: &str) -> String {
    let reason = format!("{SIBLING} was built from other sources (build {BUILD_ID}, expected {expected})");
    let failure = match std::env::var_os(GENERIC_PATH).map(PathBuf::from) {
        Some(generic) => {
            let err = exec(&generic, &[(HANDED_BACK, reason.clone().into())]);
            format!("the generic build {} cannot run: {err}", generic.display())
        }
        None => format!("{GENERIC_PATH} is not set"),
    };
    format!("{reason}, and {failure}")
}

/// Replaces the process with `program`, keeping the arguments and environment and adding
/// `vars`; returns only on failure.
fn exec(program: &PathBuf, vars: &[(&str, OsString)]) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    std::process::Command::new(program)
        .args(std::env::args_os().skip(1))
        .envs(vars.iter().map(|(name, value)| (name, value)))
        .exec()
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_x86_64_v4() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("avx512f")
        && has!("avx512vl")
        && has!("avx512bw")
        && has!("avx512dq")
        && has!("avx512cd")
        && has!("avx2")
        && has!("fma")
        && has!("bmi1")
        && has!("bmi2")
        && has!("lzcnt")
        && has!("movbe")
        && has!("f16c")
        && has!("popcnt")
        && has!("sse4.2")
        && has!("cmpxchg16b")
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_x86_64_v4() -> bool {
    false
}
