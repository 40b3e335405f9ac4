//! Issue 19's portability proof: the `api` binary hashes passwords byte-identically to Better
//! Auth on an x86-64 CPU without the features used for speed (Debian's `qemu-x86_64 -cpu
//! qemu64`: no SSE4, AVX, AVX2, AVX-512 or SHA extensions), and with its fast path, the
//! allocator keeping a freed hash work area (`HASH_KEEP_WORK_AREA`), switched off.
//!
//! Each variant runs `api hash-selftest`, which recomputes Better Auth's fixture hashes and
//! reports them with the CPU features the process saw. The expected hashes are written here
//! too, so a binary that checked itself wrongly would still fail. `scripts/install-qemu-user`
//! installs the emulator (scripts/test runs it).

use std::{path::PathBuf, process::Command};

use serde_json::Value;

use crate::support::server::api_binary;

/// Better Auth's hashes (`docs/better-auth-wire.md` §6.2), in the order `hash-selftest` prints.
const EXPECTED: [&str; 3] = [
    "0123456789abcdef0123456789abcdef:e8b256b6f9f4b1641136a66d4a26ba41a47b6c8c9bad6aa4145559ffda45ece1f0f16dec8482a3e5545feada0ba62f2b05eeb943b750c9396874e1762c78d27d",
    "0123456789abcdef0123456789abcdef:7daaf11981732893a8a382ee79154efe022344a9f261f1c8ecc9579216b76d4ba4e84990eb385d040924552c72a417984c0ba9d1001a13e4aaa8bb03036d75e2",
    "01a6893c74b9fe934c866a9f8429041a:121fe91e067730b52e2027f4d8a30d59d497a5f9bc50532335cbaf1406954b715a075cffaa0b6d5b8f2649880ae1c1074f4194ea6870dd2e5f1c238bec1dbf0c",
];

const FEATURES: [&str; 5] = ["sse4.1", "avx", "avx2", "avx512f", "sha"];

/// Runs `api hash-selftest` (under `emulator` if given) with only the variables it needs, and
/// returns its JSON report after checking the exit status and the hashes.
fn self_test(variant: &str, emulator: Option<&[&str]>, extra_env: &[(&str, &str)]) -> Value {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let binary = api_binary();
    let mut command = match emulator {
        Some([program, args @ ..]) => {
            let mut command = Command::new(program);
            command.args(args).arg(&binary);
            command
        }
        _ => Command::new(&binary),
    };
    command
        .arg("hash-selftest")
        .env_clear()
        .env("AUTH_SECRET", "portability-test-secret-0123456789abcdef")
        .env("DATA_DIR", data_dir.path())
        .envs(extra_env.iter().copied());
    let output = command.output().unwrap_or_else(|err| panic!("{variant}: cannot run {command:?}: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{variant}: exit status {:?}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|err| panic!("{variant}: {err}: {stdout}"));
    let hashes: Vec<&str> =
        report["hashes"].as_array().expect("hashes").iter().map(|h| h["hash"].as_str().expect("hash")).collect();
    assert_eq!(hashes, EXPECTED, "{variant}: hashes differ from Better Auth's");
    let times: Vec<String> = report["hashes"].as_array().expect("hashes").iter().map(|h| h["ms"].to_string()).collect();
    eprintln!("{variant}: {} ms per hash; cpu features {}", times.join(", "), report["cpu_features"]);
    report
}

/// Debian's `qemu-x86_64`, which `scripts/install-qemu-user` installs.
fn qemu() -> PathBuf {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("qemu-x86_64"))
        .find(|path| path.is_file());
    found.expect("qemu-x86_64 is not installed: run scripts/install-qemu-user (scripts/test does)")
}

#[cfg(target_arch = "x86_64")]
#[test]
fn hashes_are_identical_on_a_cpu_without_sse4_or_avx_and_without_the_work_area_fast_path() {
    let native = self_test("native", None, &[]);
    assert_eq!(native["keep_work_area"], true, "the fast path is on by default");

    let qemu = qemu();
    let qemu = qemu.to_str().expect("a UTF-8 path");
    let emulated = self_test("qemu64", Some(&[qemu, "-cpu", "qemu64"]), &[]);
    for feature in FEATURES {
        assert_eq!(emulated["cpu_features"][feature], false, "qemu64 must not offer {feature}: {emulated}");
    }

    let slow = self_test("HASH_KEEP_WORK_AREA=false", None, &[("HASH_KEEP_WORK_AREA", "false")]);
    assert_eq!(slow["keep_work_area"], false, "the switch must turn the fast path off");

    let slow_emulated = self_test(
        "qemu64, HASH_KEEP_WORK_AREA=false",
        Some(&[qemu, "-cpu", "qemu64"]),
        &[("HASH_KEEP_WORK_AREA", "false")],
    );
    assert_eq!(slow_emulated["keep_work_area"], false);
}
