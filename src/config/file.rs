//! The optional TOML configuration file (`--config FILE` / `BUOYCAST_CONFIG`), layered under
//! flags and environment variables: flags > environment > file > defaults. Its keys are the
//! flags' names (`listen`, `database_url`, `heartbeat_secs`; `-` and `_` alike), so clap stays
//! the one definition of every setting, its checks and its messages. Also renders
//! `buoycast config print`.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::builder::ArgAction;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command, CommandFactory, FromArgMatches};

use super::{Cli, ConfigAction, DEFAULT_LISTEN, Secret};

/// Id of the `--config` argument.
const CONFIG_FILE: &str = "config_file";

impl Cli {
    /// Parses the command line and the environment, then fills what neither set from the config
    /// file. Prints the error and exits (as `clap::Parser::parse` does) when anything is wrong.
    pub fn load() -> Self {
        Self::try_load_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// [`Cli::load`] on these arguments (the first is the program name).
    pub fn try_load_from(
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Result<Self, clap::Error> {
        let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let command = Cli::command();
        // First pass: only to find the subcommand, the file and what flags and environment set
        // (a required flag may still come from the file, so errors wait for the second pass).
        let first = command
            .clone()
            .ignore_errors(true)
            .try_get_matches_from(&args)?;
        let (subcommand, leaf_matches) = leaf(&command, &first);
        let path = leaf_matches
            .try_get_one::<PathBuf>(CONFIG_FILE)
            .ok()
            .flatten()
            .cloned();
        // Settings taken from the file: id → long flag.
        let mut from_file = BTreeMap::new();
        if let Some(path) = &path {
            let table = read(path)?;
            let known = file_keys(&command);
            for (key, value) in &table {
                let id = key.replace('-', "_");
                if !known.contains(&id) {
                    return Err(unknown_key(path, key, &known));
                }
                let Some(arg) = subcommand
                    .get_arguments()
                    .find(|a| a.get_id() == id.as_str())
                else {
                    continue; // a setting of another subcommand
                };
                if set_outside_the_file(leaf_matches, &id) {
                    continue;
                }
                args.extend(to_flags(path, key, arg, value)?);
                from_file.insert(id, arg.get_long().unwrap_or(key).to_owned());
            }
        }
        let command = Cli::command();
        let matches = match command.clone().try_get_matches_from(&args) {
            Ok(m) => m,
            Err(e) if blamed_on(&e, &from_file).is_some() => {
                let path = path.as_deref().unwrap_or(Path::new(""));
                let key = blamed_on(&e, &from_file).unwrap_or_default();
                return Err(error(format!(
                    "{} (`{key}` in the config file {})",
                    first_line(&e),
                    path.display(),
                )));
            }
            Err(e) => return Err(e),
        };
        let mut cli = Cli::from_arg_matches(&matches)?;
        if let super::Command::Config(config) = &mut cli.command {
            let ConfigAction::Print(print) = &mut config.action;
            let (leaf, leaf_matches) = leaf(&command, &matches);
            print.effective = render(leaf, leaf_matches, path.as_deref(), &from_file);
        }
        Ok(cli)
    }
}

/// The innermost subcommand and its matches (`bridge osc`, `config print`, `run`, ...).
fn leaf<'a>(command: &'a Command, matches: &'a ArgMatches) -> (&'a Command, &'a ArgMatches) {
    match matches
        .subcommand()
        .and_then(|(name, sub)| Some((command.find_subcommand(name)?, sub)))
    {
        Some((command, matches)) => leaf(command, matches),
        None => (command, matches),
    }
}

/// A flag or an environment variable set this, so the file's value does not count.
fn set_outside_the_file(matches: &ArgMatches, id: &str) -> bool {
    let outside = |id: &str| {
        matches!(
            matches
                .try_contains_id(id)
                .ok()
                .and(matches.value_source(id)),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    // `PORT` from the environment beats a `listen` from the file (environment > file).
    outside(id) || (id == "listen" && outside("port"))
}

/// Reads and parses the file.
fn read(path: &Path) -> Result<toml::Table, clap::Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        error(format!(
            "cannot read the config file {}: {e}",
            path.display()
        ))
    })?;
    text.parse::<toml::Table>().map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
        let at = line.map(|l| format!(", line {l}")).unwrap_or_default();
        error(format!(
            "the config file {}{at} is not valid TOML: {}",
            path.display(),
            e.message().trim_end()
        ))
    })
}

/// Every key a file may hold: the long flags of all subcommands, less hidden ones and
/// `--config` itself.
fn file_keys(command: &Command) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut stack = vec![command];
    while let Some(command) = stack.pop() {
        keys.extend(
            command
                .get_arguments()
                .filter(|a| a.get_long().is_some() && !a.is_hide_set())
                .map(|a| a.get_id().as_str().to_owned())
                .filter(|id| !matches!(id.as_str(), CONFIG_FILE | "help" | "version")),
        );
        stack.extend(command.get_subcommands());
    }
    keys
}

fn unknown_key(path: &Path, key: &str, known: &BTreeSet<String>) -> clap::Error {
    let id = key.replace('-', "_");
    let hint = known
        .iter()
        .map(|k| (distance(&id, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_else(|| {
            "; keys are the flags' names, as `buoycast run --help` lists them (`listen`, \
             `database_url`, ...)"
                .to_owned()
        });
    error(format!(
        "unknown key `{key}` in the config file {}{hint}",
        path.display()
    ))
}

/// The file's value as command-line arguments for `arg`.
fn to_flags(
    path: &Path,
    key: &str,
    arg: &Arg,
    value: &toml::Value,
) -> Result<Vec<OsString>, clap::Error> {
    let long = arg.get_long().unwrap_or(key);
    let wrong = |expected: &str| {
        error(format!(
            "`{key}` in the config file {} must be {expected}, not {value}",
            path.display()
        ))
    };
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return match value {
            toml::Value::Boolean(true) => Ok(vec![format!("--{long}").into()]),
            toml::Value::Boolean(false) => Ok(Vec::new()),
            _ => Err(wrong("true or false")),
        };
    }
    let scalar = |value: &toml::Value| match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    };
    let text = match value {
        toml::Value::Array(items) => items
            .iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()
            .map(|items| items.join(",")),
        other => scalar(other),
    }
    .ok_or_else(|| wrong("a string, a number, a boolean or a list of them"))?;
    Ok(vec![format!("--{long}={text}").into()])
}

/// `config print`: every setting of the subcommand, as TOML, with where it came from.
fn render(
    command: &Command,
    matches: &ArgMatches,
    file: Option<&Path>,
    from_file: &BTreeMap<String, String>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Settings of `buoycast run`: flags > environment > config file > defaults.\n\
         # Config file: {}. Secrets are redacted.",
        file.map_or_else(|| "none".to_owned(), |p| p.display().to_string())
    );
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if arg.is_hide_set() || arg.get_long().is_none() || matches!(id, CONFIG_FILE | "help") {
            continue;
        }
        let source = match matches.value_source(id) {
            _ if from_file.contains_key(id) => "config file".to_owned(),
            Some(ValueSource::CommandLine) => "flag".to_owned(),
            Some(ValueSource::EnvVariable) => {
                arg.get_env().map_or("environment".to_owned(), |env| {
                    format!("env {}", env.to_string_lossy())
                })
            }
            Some(ValueSource::DefaultValue) => "default".to_owned(),
            _ => {
                if id == "listen" {
                    let (addr, source) = match matches.get_one::<u16>("port") {
                        Some(port) => (format!("0.0.0.0:{port}"), "env PORT"),
                        None => (DEFAULT_LISTEN.to_string(), "default"),
                    };
                    let _ = writeln!(out, "listen = {}  # {source}", toml::Value::from(addr));
                } else if id == "log_format" {
                    let _ = writeln!(out, "# {id}: not set (pretty on a terminal, else json)");
                } else {
                    let _ = writeln!(out, "# {id}: not set");
                }
                continue;
            }
        };
        let _ = writeln!(out, "{id} = {}  # {source}", value(matches, id));
    }
    out
}

/// One setting's value as TOML, typed where the parsed type is a number or a boolean.
fn value(matches: &ArgMatches, id: &str) -> toml::Value {
    if let Ok(Some(secret)) = matches.try_get_one::<Secret>(id) {
        return secret.redacted().into();
    }
    if let Ok(Some(addr)) = matches.try_get_one::<std::net::SocketAddr>(id) {
        return addr.to_string().into();
    }
    if let Ok(Some(b)) = matches.try_get_one::<bool>(id) {
        return (*b).into();
    }
    if let Ok(Some(f)) = matches.try_get_one::<f64>(id) {
        return (*f).into();
    }
    let number = integer::<u64>(matches, id)
        .or_else(|| integer::<u32>(matches, id))
        .or_else(|| integer::<u16>(matches, id))
        .or_else(|| integer::<usize>(matches, id));
    if let Some(number) = number {
        return number;
    }
    let raw = matches
        .get_raw(id)
        .map(|values| {
            values
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    raw.into()
}

/// The value of `id` as a TOML integer, if clap parsed it as a `T` that fits in one.
fn integer<T>(matches: &clap::ArgMatches, id: &str) -> Option<toml::Value>
where
    T: Copy + Clone + Send + Sync + 'static,
    i64: TryFrom<T>,
{
    let n = *matches.try_get_one::<T>(id).ok().flatten()?;
    i64::try_from(n).ok().map(toml::Value::Integer)
}

/// The file's key an error of the second parse is about, if it is about one of them.
fn blamed_on(e: &clap::Error, from_file: &BTreeMap<String, String>) -> Option<String> {
    let Some(ContextValue::String(invalid)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    from_file.iter().find_map(|(id, long)| {
        let flag = format!("--{long}");
        (invalid == &flag || invalid.starts_with(&format!("{flag} "))).then(|| id.clone())
    })
}

/// An error of the file, printed as `error: MESSAGE` (no usage: the flags were not the problem)
/// with clap's exit code for bad values.
fn error(message: String) -> clap::Error {
    clap::Error::raw(ErrorKind::InvalidValue, format!("{message}\n"))
}

/// A clap error's message line, without its `error: ` prefix and usage hints.
fn first_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

/// Levenshtein distance, for suggesting a key.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("lisen", "listen"), 1);
        assert_eq!(distance("listen", "listen"), 0);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn every_file_key_is_a_flag_of_some_subcommand() {
        let keys = file_keys(&Cli::command());
        for key in [
            "listen",
            "database_url",
            "redis_url",
            "replay_speed",
            "url",
            "target",
        ] {
            assert!(keys.contains(key), "{key}");
        }
        for hidden in ["port", "no_color", CONFIG_FILE, "help"] {
            assert!(!keys.contains(hidden), "{hidden}");
        }
    }
}
