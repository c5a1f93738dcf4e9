//! Value types and parsers of the command line: secrets, listen addresses, durations and speeds,
//! each with an error message that names the value and the expected form.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

use secrecy::{ExposeSecret, SecretString};

/// Where the server listens when nothing is configured.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// A value that must never be printed (tokens, URLs with passwords). It stays wrapped (and is
/// zeroed when dropped) until [`Secret::expose`] is called where it is used.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// A form safe to print: a URL with its password (and any `password=` parameter) replaced
    /// by `***`, anything else `[redacted]`.
    pub fn redacted(&self) -> String {
        let value = self.expose();
        if value.contains("://") || value.starts_with("sqlite:") {
            redact_url(value)
        } else {
            "[redacted]".to_owned()
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(SecretString::from(s))
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(SecretString::from(s))
    }
}

/// A URL with the password of its user info, and the value of any `password=` query parameter,
/// replaced by `***` (user name, host, port and path stay: they are what an operator checks).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("&");
            format!("{path}?{query}")
        }
        None => tail.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

/// Parses `--listen`: `PORT` (on 127.0.0.1, like the default), `:PORT` (all IPv4 interfaces, as
/// in Go servers), `HOST:PORT` (`127.0.0.1:8080`, `0.0.0.0:8080`, `localhost:8080`, any name
/// that resolves) or `[IPv6]:PORT` (`[::]:8080`).
pub fn parse_listen(raw: &str) -> Result<SocketAddr, String> {
    const FORMS: &str = "expected PORT (8080: 127.0.0.1:8080), :PORT (:8080: all interfaces), \
                         HOST:PORT (127.0.0.1:8080, 0.0.0.0:8080, localhost:8080) or [IPv6]:PORT \
                         ([::]:8080)";
    let value = raw.trim();
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("`{raw}`: the port must be a number from 0 to 65535; {FORMS}"))
    };
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(SocketAddr::new(DEFAULT_LISTEN.ip(), port(value)?));
    }
    if let Some(p) = value.strip_prefix(':')
        && !p.contains(':')
    {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port(p)?)));
    }
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, p)) = value.rsplit_once(':') else {
        return Err(format!("`{raw}` has no port; {FORMS}"));
    };
    let p = port(p)?;
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(DEFAULT_LISTEN.ip(), p));
    }
    if host.is_empty() || host.contains(['/', '[', ']', ' ']) {
        return Err(format!("`{raw}` is not an address to listen on; {FORMS}"));
    }
    match (host, p).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("`{host}` resolves to no address; {FORMS}")),
        Err(e) => Err(format!("`{host}` does not resolve ({e}); {FORMS}")),
    }
}

/// Parses `PORT` (the variable container platforms set): the server then listens on all
/// interfaces on that port, unless `--listen`/`BUOYCAST_LISTEN` says otherwise.
pub fn parse_port(raw: &str) -> Result<u16, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("PORT=`{raw}` is not a port number (0 to 65535)"))
}

/// A parser of whole seconds in `min..=max`, whose messages say what is wrong with the value.
pub fn seconds(
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |raw: &str| {
        let range = if max == u64::MAX {
            format!("a whole number of seconds, at least {min}")
        } else {
            format!("a whole number of seconds from {min} to {max}")
        };
        let value = raw.trim();
        if value.starts_with('-') {
            return Err(format!("`{raw}` is negative; give {range}"));
        }
        match value.parse::<u64>() {
            Ok(n) if n < min => Err(format!("`{raw}` is too small; give {range}")),
            Ok(n) if n > max => Err(format!("`{raw}` is too large; give {range}")),
            Ok(n) => Ok(n),
            Err(_) => Err(format!("`{raw}` is not {range}")),
        }
    }
}

/// Parses `--replay-speed`: a factor ≥ 0 (0 plays without waiting).
pub fn parse_replay_speed(raw: &str) -> Result<f64, String> {
    const EXPECTED: &str = "the replay speed is a factor ≥ 0 (60: an hour of observations per \
                            minute; 0: no waiting)";
    match raw.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(v) if v < 0.0 => Err(format!("`{raw}` is negative; {EXPECTED}")),
        _ => Err(format!("`{raw}` is not a number; {EXPECTED}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::from("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.redacted(), "[redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn urls_keep_all_but_their_passwords() {
        for (url, want) in [
            (
                "postgres://app:hunter2@db.internal:5432/buoy",
                "postgres://app:***@db.internal:5432/buoy",
            ),
            ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
            ("redis://cache:6379", "redis://cache:6379"),
            ("postgres://app@db/buoy", "postgres://app@db/buoy"),
            (
                "postgres://db/buoy?user=app&password=hunter2&sslmode=require",
                "postgres://db/buoy?user=app&password=***&sslmode=require",
            ),
            ("sqlite://buoycast.db", "sqlite://buoycast.db"),
            ("postgres://u:p@ss@db/x", "postgres://u:***@db/x"),
        ] {
            assert_eq!(Secret::from(url).redacted(), want, "{url}");
        }
    }

    #[test]
    fn listen_takes_the_usual_forms() {
        for (raw, want) in [
            ("8080", "127.0.0.1:8080"),
            (":8080", "0.0.0.0:8080"),
            ("localhost:8080", "127.0.0.1:8080"),
            ("[::]:8080", "[::]:8080"),
            ("0.0.0.0:9000", "0.0.0.0:9000"),
            ("127.0.0.1:0", "127.0.0.1:0"),
            (" 8080 ", "127.0.0.1:8080"),
        ] {
            assert_eq!(parse_listen(raw).map(|a| a.to_string()), Ok(want.into()));
        }
        for raw in [
            "",
            "http://localhost:8080",
            "8080x",
            ":99999",
            "localhost",
            "[::]",
        ] {
            let err = parse_listen(raw).expect_err(raw);
            assert!(err.contains("expected PORT"), "{raw}: {err}");
        }
    }

    #[test]
    fn seconds_and_speeds_say_what_is_wrong() {
        let heartbeat = seconds(1, 3600);
        assert_eq!(heartbeat("15"), Ok(15));
        assert!(heartbeat("-1").expect_err("negative").contains("negative"));
        assert!(heartbeat("0").expect_err("zero").contains("too small"));
        assert!(heartbeat("4000").expect_err("big").contains("too large"));
        assert!(
            heartbeat("1.5")
                .expect_err("fraction")
                .contains("not a whole")
        );
        assert_eq!(parse_replay_speed("0"), Ok(0.0));
        assert_eq!(parse_replay_speed("2.5"), Ok(2.5));
        assert!(
            parse_replay_speed("-1")
                .expect_err("negative")
                .contains("negative")
        );
        assert!(parse_replay_speed("NaN").is_err());
        assert!(parse_replay_speed("fast").is_err());
    }
}
