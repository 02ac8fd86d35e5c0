//! Records the git commit the broker is built from as `BROKER_BUILD_COMMIT`
//! (for `runnel_build_info`), or `unknown` outside a git checkout or
//! without git. Not a `RUNNEL_*` name: cargo also exports it to the
//! processes of `cargo test`, and brokers they start refuse unknown
//! `RUNNEL_*` variables.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=BROKER_BUILD_COMMIT={commit}");
    // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it
    // names (a commit), and packed refs. Only paths that exist are named,
    // as cargo reruns the script every build for a missing one.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) {
        watch(&dir.join("HEAD"));
    }
    // Branches live in the common directory (the same one, except in a
    // linked worktree).
    let common = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]);
    if let Some(common) = common.map(PathBuf::from) {
        watch(&common.join("packed-refs"));
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(&common.join(reference));
        }
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
