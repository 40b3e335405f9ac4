//! The build id (`API_BUILD_ID`): a hash of every source file that goes into the `api` binary,
//! the lock file, the manifests (features, profiles) and the profile name.
//!
//! `api` runs its x86-64-v4 build only when that build carries the same id (`src/cpu_build.rs`):
//! a sibling left over from an older checkout, or from the other profile, is never run in its
//! place. The id does not depend on the compiler flags, which is the point: the two builds differ
//! only in the CPU they target.

use std::{
    collections::hash_map::DefaultHasher,
    fs,
    hash::{Hash, Hasher},
    path::{Path, PathBuf},
};

/// Relative to the `api` package: the workspace crates the binary is built from, and the files
/// that choose its dependencies and profiles.
const INPUTS: [&str; 9] = [
    "src",
    "build.rs",
    "Cargo.toml",
    "../migration/src",
    "../migration/Cargo.toml",
    "../allocator/src",
    "../allocator/Cargo.toml",
    "../Cargo.toml",
    "../Cargo.lock",
];

fn main() {
    let mut files = Vec::new();
    for input in INPUTS {
        println!("cargo:rerun-if-changed={input}");
        collect(Path::new(input), &mut files);
    }
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in &files {
        file.hash(&mut hasher);
        fs::read(file).unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display())).hash(&mut hasher);
    }
    std::env::var("PROFILE").unwrap_or_default().hash(&mut hasher);
    println!("cargo:rustc-env=API_BUILD_ID={:016x}", hasher.finish());
}

/// Every file under `path` (or `path` itself), in any order.
fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    match fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries {
                collect(&entry.expect("a readable directory entry").path(), files);
            }
        }
        Err(_) if path.is_file() => files.push(path.to_owned()),
        Err(err) => panic!("cannot read {}: {err}", path.display()),
    }
}
