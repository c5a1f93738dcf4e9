//! Which backend a database URL names, decided before anything is opened, so that a typo never
//! silently becomes a new SQLite file.
//!
//! Decision: SQLite is `sqlite:…` (`sqlite://FILE`, `sqlite::memory:`) or a plain path that is
//! visibly a path: it has a `/`, or ends in `.db`, `.sqlite` or `.sqlite3`. A bare word such as
//! `foo` is refused (it is more often a mistyped URL or variable than a wanted file `./foo`), and
//! so is any other scheme (`mysql://…`).

use crate::config::redact_url;

/// The backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded store: one SQLite file.
    Sqlite,
    /// The distributed store.
    Postgres,
}

impl StoreKind {
    /// The backend of `url`, or a one-line message naming the value (password redacted) and
    /// the forms that work.
    pub fn of(url: &str) -> Result<Self, String> {
        const FORMS: &str = "use sqlite://FILE (embedded) or postgres://USER:PASSWORD@HOST:PORT/DB \
                             (distributed)";
        let lower = url.trim().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Self::Postgres);
        }
        if lower.starts_with("sqlite:") {
            return Ok(Self::Sqlite);
        }
        if lower.is_empty() {
            return Err(format!("--database-url is empty; {FORMS}"));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(format!(
                "--database-url {}: unknown scheme `{scheme}`; {FORMS}",
                redact_url(url)
            ));
        }
        let path_like = lower.contains('/')
            || [".db", ".sqlite", ".sqlite3"]
                .iter()
                .any(|ext| lower.ends_with(ext));
        if path_like {
            Ok(Self::Sqlite)
        } else {
            Err(format!(
                "--database-url `{url}` is neither a URL nor a SQLite file path; for a SQLite \
                 file write sqlite://{url}.db or ./{url}, otherwise {FORMS}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_name_their_backend() {
        for (url, want) in [
            ("sqlite://buoycast.db", StoreKind::Sqlite),
            ("sqlite::memory:", StoreKind::Sqlite),
            ("./foo", StoreKind::Sqlite),
            ("/var/lib/buoycast/db", StoreKind::Sqlite),
            ("foo.db", StoreKind::Sqlite),
            ("data.sqlite3", StoreKind::Sqlite),
            ("postgres://u:p@db/x", StoreKind::Postgres),
            ("postgresql://db/x", StoreKind::Postgres),
            ("POSTGRES://db/x", StoreKind::Postgres),
        ] {
            assert_eq!(StoreKind::of(url), Ok(want), "{url}");
        }
    }

    #[test]
    fn mistakes_are_named_with_their_fix() {
        let bare = StoreKind::of("foo").expect_err("bare word");
        assert!(
            bare.contains("`foo`") && bare.contains("sqlite://foo.db"),
            "{bare}"
        );
        let mysql = StoreKind::of("mysql://app:hunter2@db/buoy").expect_err("mysql");
        assert!(mysql.contains("unknown scheme `mysql`"), "{mysql}");
        assert!(mysql.contains("mysql://app:***@db/buoy") && !mysql.contains("hunter2"));
        assert!(StoreKind::of("").is_err());
    }
}
