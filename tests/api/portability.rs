//! Issue 19's portability proof: the `api` binary hashes passwords byte-identically to Better
//! Auth on an x86-64 CPU without the features used for speed (Debian's `qemu-x86_64 -cpu
//! qemu64`: no SSE4, AVX, AVX2, AVX-512 or SHA extensions), and with its fast paths, the
//! allocator keeping a freed hash work area (`HASH_KEEP_WORK_AREA`) and the x86-64-v4 build
//! (`CPU_SPECIFIC_BUILD`, `api/src/cpu_build.rs`), switched off.
//!
//! Each variant runs `api hash-selftest`, which recomputes Better Auth's fixture hashes and
//! reports them with the CPU features the process saw and the build that ran. The expected
//! hashes are written here too, so a binary that checked itself wrongly would still fail.
//! `scripts/install-qemu-user` installs the emulator and `scripts/build-x86-64-v4` builds the
//! x86-64-v4 sibling (scripts/test runs both; without `API_BINARY` these tests build the sibling
//! themselves).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Duration,
};

use serde_json::Value;

use crate::support::{
    db::TestDatabase,
    server::{Env, Server, api_binary, without_the_tests_cargo_vars},
};

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
    self_test_of(&api_binary(), variant, emulator, extra_env)
}

/// [`self_test`] of the binary at `binary`.
fn self_test_of(binary: &Path, variant: &str, emulator: Option<&[&str]>, extra_env: &[(&str, &str)]) -> Value {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let mut command = match emulator {
        Some([program, args @ ..]) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary);
            command
        }
        _ => Command::new(binary),
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
    eprintln!(
        "{variant}: {} build ({}), {} ms per hash; cpu features {}",
        report["build"],
        report["build_reason"],
        times.join(", "),
        report["cpu_features"]
    );
    report
}

/// `api-x86-64-v4` beside [`api_binary`]: built by scripts/test, or here by
/// `scripts/build-x86-64-v4` when the tests build the binary themselves.
fn sibling() -> PathBuf {
    static SIBLING: OnceLock<PathBuf> = OnceLock::new();
    SIBLING
        .get_or_init(|| {
            let binary = api_binary();
            let sibling = binary.with_file_name("api-x86-64-v4");
            if std::env::var_os("API_BINARY").is_some() {
                assert!(
                    sibling.is_file(),
                    "{} is missing: run `bash scripts/build-x86-64-v4` (scripts/test does)",
                    sibling.display()
                );
                return sibling;
            }
            let release = binary.parent().and_then(Path::file_name).is_some_and(|profile| profile == "release");
            let mut script = Command::new("bash");
            script
                .arg("scripts/build-x86-64-v4")
                .args(release.then_some("--release"))
                .arg("--quiet")
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
            without_the_tests_cargo_vars(&mut script);
            let status = script.status().expect("bash runs");
            assert!(status.success(), "scripts/build-x86-64-v4 failed");
            sibling
        })
        .clone()
}

/// Whether this CPU has the AVX-512 features that make `api` run its sibling, read from the
/// kernel's `/proc/cpuinfo` (not from the detection the binary itself uses).
fn cpu_has_x86_64_v4() -> bool {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").expect("/proc/cpuinfo");
    let flags = cpuinfo.lines().find(|line| line.starts_with("flags")).expect("a flags line");
    let flags: Vec<&str> = flags.split_whitespace().collect();
    ["avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd", "avx2", "fma", "bmi2"]
        .iter()
        .all(|feature| flags.contains(feature))
}

/// A directory beside the binary (same file system) holding a hard link to it named `api`.
fn lone_copy_of_the_binary() -> (tempfile::TempDir, PathBuf) {
    let binary = api_binary();
    let dir = tempfile::tempdir_in(binary.parent().expect("the binary's directory")).expect("temporary directory");
    let copy = dir.path().join("api");
    std::fs::hard_link(&binary, &copy).unwrap_or_else(|err| panic!("cannot link {}: {err}", binary.display()));
    (dir, copy)
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
    let native = self_test("native", None, &[("CPU_SPECIFIC_BUILD", "false")]);
    assert_eq!(native["keep_work_area"], true, "the fast path is on by default");
    assert_eq!(native["build"], "generic", "{native}");

    let qemu = qemu();
    let qemu = qemu.to_str().expect("a UTF-8 path");
    let emulated = self_test("qemu64", Some(&[qemu, "-cpu", "qemu64"]), &[]);
    for feature in FEATURES {
        assert_eq!(emulated["cpu_features"][feature], false, "qemu64 must not offer {feature}: {emulated}");
    }
    assert_eq!(emulated["build"], "generic", "{emulated}");
    assert_eq!(emulated["build_reason"], "the CPU lacks x86-64-v4 (AVX-512) features");

    let slow = self_test(
        "HASH_KEEP_WORK_AREA=false",
        None,
        &[("HASH_KEEP_WORK_AREA", "false"), ("CPU_SPECIFIC_BUILD", "false")],
    );
    assert_eq!(slow["keep_work_area"], false, "the switch must turn the fast path off");

    let slow_emulated = self_test(
        "qemu64, HASH_KEEP_WORK_AREA=false",
        Some(&[qemu, "-cpu", "qemu64"]),
        &[("HASH_KEEP_WORK_AREA", "false")],
    );
    assert_eq!(slow_emulated["keep_work_area"], false);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn a_cpu_with_avx512_runs_the_x86_64_v4_build_with_identical_hashes_unless_switched_off() {
    let sibling = sibling();
    let default = self_test("default", None, &[]);
    if cpu_has_x86_64_v4() {
        assert_eq!(default["build"], "x86-64-v4", "{default}");
        assert_eq!(default["build_reason"], "selected: the CPU has AVX-512 and this build matches the generic one");
    } else {
        assert_eq!(default["build"], "generic", "{default}");
        assert_eq!(default["build_reason"], "the CPU lacks x86-64-v4 (AVX-512) features");
    }

    let off = self_test("CPU_SPECIFIC_BUILD=false", None, &[("CPU_SPECIFIC_BUILD", "false")]);
    assert_eq!(off["build"], "generic", "{off}");
    assert_eq!(off["build_reason"], "CPU_SPECIFIC_BUILD=false");
    assert_eq!(off["build_fallback"], false, "switched off on purpose");
    assert_eq!(default["build_fallback"], false);
    assert_eq!(off["build_id"], default["build_id"], "both builds come from the same sources");

    // The emulated CPU without AVX-512 never runs the sibling (it would die of an illegal
    // instruction): covered by the qemu64 variant above, which runs the same binary.
    assert!(sibling.is_file());
}

#[cfg(target_arch = "x86_64")]
#[test]
fn a_sibling_built_from_other_sources_hands_the_process_back_to_the_generic_build() {
    let sibling = sibling();
    if !cpu_has_x86_64_v4() {
        // The sibling cannot run on this CPU; the generic build never tries.
        assert_eq!(self_test("default", None, &[])["build"], "generic");
        return;
    }
    // What the generic build passes to its sibling, with an id no build has.
    let generic = api_binary();
    let generic = generic.to_str().expect("a UTF-8 path");
    let stale = self_test_of(
        &sibling,
        "stale sibling",
        None,
        &[("API_BUILD_EXPECTED_ID", "0000000000000000"), ("API_BUILD_GENERIC_PATH", generic)],
    );
    assert_eq!(stale["build"], "generic", "{stale}");
    assert_eq!(stale["build_fallback"], true, "a stale sibling is a fallback, logged as a warning");
    let reason = stale["build_reason"].as_str().expect("a reason");
    assert!(reason.starts_with("api-x86-64-v4 was built from other sources (build "), "{reason}");
    assert!(reason.ends_with(", expected 0000000000000000)"), "{reason}");

    // A stale sibling that cannot hand back refuses to run rather than serve old code.
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let output = Command::new(&sibling)
        .arg("hash-selftest")
        .env_clear()
        .env("AUTH_SECRET", "portability-test-secret-0123456789abcdef")
        .env("DATA_DIR", data_dir.path())
        .env("API_BUILD_EXPECTED_ID", "0000000000000000")
        .env("API_BUILD_GENERIC_PATH", "/nonexistent/api")
        .output()
        .expect("the sibling runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "no report from a stale build: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("was built from other sources"), "{stderr}");
    assert!(stderr.contains("the generic build /nonexistent/api cannot run: No such file or directory"), "{stderr}");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn without_a_runnable_sibling_the_generic_build_runs() {
    let _ = sibling();
    let (dir, lone) = lone_copy_of_the_binary();
    let report = self_test_of(&lone, "no sibling", None, &[]);
    assert_eq!(report["build"], "generic", "{report}");
    assert_eq!(report["build_fallback"], false, "no sibling installed is not a fault");
    if cpu_has_x86_64_v4() {
        assert_eq!(report["build_reason"], "no api-x86-64-v4 beside this binary");

        // A sibling copied without its executable bit: the exec fails and the generic build
        // carries on.
        let broken = dir.path().join("api-x86-64-v4");
        std::fs::copy(sibling(), &broken).expect("sibling copied");
        let mut permissions = std::fs::metadata(&broken).expect("metadata").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o644);
        std::fs::set_permissions(&broken, permissions).expect("mode set");
        let report = self_test_of(&lone, "broken sibling", None, &[]);
        assert_eq!(report["build"], "generic", "{report}");
        let reason = report["build_reason"].as_str().expect("a reason");
        assert_eq!(reason, format!("cannot run {}: Permission denied (os error 13)", broken.display()));
        assert_eq!(report["build_fallback"], true);
    }
}

/// The server itself, not only `hash-selftest`: the process keeps its id and runs the sibling.
#[cfg(target_arch = "x86_64")]
#[tokio::test]
async fn the_server_process_runs_the_x86_64_v4_build_and_says_so() {
    let sibling = sibling();
    let store = TestDatabase::create().await;
    let env = Env::for_binary(&store).set("RUST_LOG", "warn,api=info");
    let mut server = Server::start(&env, store.dir.path());
    let exe = std::fs::read_link(format!("/proc/{}/exe", server.pid())).expect("the process's binary");
    let log = server.output();
    let line = log.lines().find(|line| line.contains(r#""message":"binary build""#)).unwrap_or_else(|| panic!("{log}"));
    let line: Value = serde_json::from_str(line).expect("a JSON log line");
    if cpu_has_x86_64_v4() {
        assert_eq!(exe, sibling.canonicalize().expect("the sibling's path"));
        assert_eq!(line["build"], "x86-64-v4", "{line}");
    } else {
        assert_eq!(exe, api_binary().canonicalize().expect("the binary's path"));
        assert_eq!(line["build"], "generic", "{line}");
    }
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(20)).success());
}
