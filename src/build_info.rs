//! What was built: the version, the git commit and the cargo features, as `--version`,
//! `/version` and the `buoycast_build_info` gauge report them (filled in by `build.rs`).

/// The crate version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The short git commit of the build, or `unknown` when built without git.
pub const COMMIT: &str = env!("BUOYCAST_COMMIT");
/// The enabled cargo features, comma-separated (empty when none).
pub const FEATURES: &str = env!("BUOYCAST_FEATURES");
/// What `buoycast --version` prints after the name.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BUOYCAST_COMMIT"),
    ")"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_version_names_the_version_and_the_commit() {
        assert!(!COMMIT.is_empty());
        assert_eq!(LONG_VERSION, format!("{VERSION} (commit {COMMIT})"));
    }
}
