//! Build script: records the git commit (`BUOYCAST_COMMIT`) and the enabled cargo features
//! (`BUOYCAST_FEATURES`) for `--version`, `/version` and `buoycast_build_info`.
//!
//! The commit comes from `BUOYCAST_BUILD_COMMIT` when set (a build from a source tarball or a
//! container context without `.git`), else from `git rev-parse --short HEAD`, else `unknown`.
//! Cargo reruns this script only when `HEAD` or the ref it points to moves, not on every build.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=BUOYCAST_BUILD_COMMIT");
    let commit = std::env::var("BUOYCAST_BUILD_COMMIT")
        .ok()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=BUOYCAST_COMMIT={commit}");

    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(str::to_owned))
        .map(|f| f.to_lowercase().replace('_', "-"))
        .collect();
    features.sort();
    println!("cargo:rustc-env=BUOYCAST_FEATURES={}", features.join(","));
}

/// `git rev-parse --short HEAD`, and the files whose change means a new commit: `HEAD` and the
/// ref it names (in a linked worktree they live in different directories; `--git-path` knows).
fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    for watched in [
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["symbolic-ref", "-q", "HEAD"])
            .and_then(|r| git(&["rev-parse", "--git-path", r.as_str()])),
        git(&["rev-parse", "--git-path", "packed-refs"]),
    ]
    .into_iter()
    .flatten()
    {
        // A path that does not exist would make cargo rerun the script on every build.
        if Path::new(&watched).exists() {
            let absolute = std::fs::canonicalize(&watched).unwrap_or_else(|_| watched.into());
            println!("cargo:rerun-if-changed={}", absolute.display());
        }
    }
    Some(commit)
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}
