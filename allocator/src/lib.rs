//! The process allocator: mimalloc, built without transparent huge pages (README, Performance),
//! with one option changed at start-up so that a password hash does not page in its work area
//! afresh every time.
//!
//! Each scrypt hash (`api/src/auth/password.rs`) allocates a 32 MiB work area and frees it.
//! mimalloc returns a freed block of that size to the OS ("purges" it) after
//! `purge_delay × arena_purge_mult` = 10 ms × 10 = 100 ms, so the next hash faults 8,192 fresh
//! zeroed pages back in: about a quarter of the CPU time of a hash. Raising the multiplier to
//! 1,000 keeps a freed block for 10 s: back-to-back sign-ins reuse the same pages, and an idle
//! process still returns the memory 10 s after its last hash. Small blocks keep the default
//! 10 ms delay. `MIMALLOC_*` environment variables are read before `main` runs, which is why
//! this is a function call and not a setting.
//!
//! This crate holds the workspace's only `unsafe` code (one FFI call); every other crate
//! forbids it.

use std::ffi::c_long;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_arena_purge_mult`: its position in `mi_option_e` of mimalloc 2.x's `mimalloc.h`
/// (the Rust binding names only some options). The test below checks the position through the
/// default values of this option and its neighbour.
const ARENA_PURGE_MULT: libmimalloc_sys::mi_option_t = 24;
const _: () = assert!(ARENA_PURGE_MULT < libmimalloc_sys::_mi_option_last);

/// Freed large blocks are purged after 10 ms × this = 10 s.
const LARGE_BLOCK_PURGE_MULT: c_long = 1_000;

/// Keeps freed large blocks (a password hash's work area) for 10 s instead of 100 ms.
///
/// Call it first thing in `main`, before the process starts other threads: mimalloc's option
/// table is plain integers, read without synchronisation when memory is purged.
pub fn keep_freed_large_blocks() {
    #[expect(unsafe_code, reason = "mimalloc's option setter is a C function")]
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; it takes no
    // pointers and is valid at any time. Callers run it before starting other threads, so no
    // read races with the write. The option's index is checked by
    // `arena_purge_mult_has_the_index_mimalloc_uses`.
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_PURGE_MULT, LARGE_BLOCK_PURGE_MULT);
    }
}

/// Whether [`keep_freed_large_blocks`] is in effect: read back from mimalloc's option table, so
/// that a run with it switched off (`HASH_KEEP_WORK_AREA=false`) can prove it really was off.
pub fn freed_large_blocks_kept() -> bool {
    option(ARENA_PURGE_MULT) == LARGE_BLOCK_PURGE_MULT
}

fn option(index: libmimalloc_sys::mi_option_t) -> c_long {
    #[expect(unsafe_code, reason = "mimalloc's option getter is a C function")]
    // SAFETY: `mi_option_get` reads an integer from mimalloc's option table; any index below
    // `_mi_option_last` is valid, and `ARENA_PURGE_MULT` is checked against it at compile time.
    unsafe {
        libmimalloc_sys::mi_option_get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_purge_mult_has_the_index_mimalloc_uses() {
        // Defaults from mimalloc.h: arena_reserve (the index before) is 1 GiB in KiB,
        // arena_purge_mult is 10, purge_extend_delay (the index after) is 1.
        assert_eq!(option(ARENA_PURGE_MULT - 1), 1024 * 1024);
        assert_eq!(option(ARENA_PURGE_MULT), 10);
        assert_eq!(option(ARENA_PURGE_MULT + 1), 1);
        assert!(!freed_large_blocks_kept());
        keep_freed_large_blocks();
        assert_eq!(option(ARENA_PURGE_MULT), LARGE_BLOCK_PURGE_MULT);
        assert!(freed_large_blocks_kept());
    }
}
