//! The settings: flags, environment variables and the settings file
//! (`--config`, TOML), in that order of precedence, over the defaults.
//!
//! The file's keys are the flags' names with underscores. Each value is
//! checked by the flag's own parser, so a setting means the same wherever
//! it is given; a key that is no flag, or a bad value, is an error naming
//! the file and its line.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches};
use toml::{Spanned, Value};

use crate::settings::flags::Config;

/// Flags that have no place in a settings file.
const NOT_IN_FILE: &[&str] = &["config", "check_config", "help", "version"];

/// Why the settings could not be read.
#[derive(Debug)]
pub enum SettingsError {
    /// The command line or the environment is wrong (clap's own message,
    /// with usage; `--help` and `--version` come this way too).
    Usage(clap::Error),
    /// The settings file is wrong.
    File(String),
}

/// The settings given by `args` (the program name first), the environment
/// and the settings file `--config` names.
pub fn load(args: &[OsString]) -> Result<Config, SettingsError> {
    let matches = Config::command().try_get_matches_from(args).map_err(SettingsError::Usage)?;
    let Some(path) = matches.get_one::<std::path::PathBuf>("config") else {
        return Config::from_arg_matches(&matches).map_err(SettingsError::Usage);
    };
    let mut merged: Vec<OsString> = args.first().cloned().into_iter().collect();
    for (key, values) in read(path)? {
        // Set by a flag or an environment variable: those win.
        if matches!(matches.value_source(&key), Some(ValueSource::CommandLine | ValueSource::EnvVariable)) {
            continue;
        }
        merged.extend(values);
    }
    merged.extend(args.iter().skip(1).cloned());
    let matches = Config::command().try_get_matches_from(merged).map_err(SettingsError::Usage)?;
    Config::from_arg_matches(&matches).map_err(SettingsError::Usage)
}

/// The settings of the file at `path`, each as its flag and values
/// (`["--max-sessions", "5000"]`), by key.
fn read(path: &Path) -> Result<BTreeMap<String, Vec<OsString>>, SettingsError> {
    let at = |line: Option<usize>, why: String| {
        let place = line.map_or(String::new(), |line| format!(" line {line}"));
        SettingsError::File(format!("{}{place}: {why}", path.display()))
    };
    let text = std::fs::read_to_string(path).map_err(|e| at(None, format!("cannot read it: {e}")))?;
    let table: BTreeMap<Spanned<String>, Value> =
        toml::from_str(&text).map_err(|e| at(line_of(&text, e.span().map(|s| s.start)), e.message().to_owned()))?;
    let command = Config::command();
    let mut settings = BTreeMap::new();
    for (key, value) in table {
        let line = line_of(&text, Some(key.span().start));
        let key = key.into_inner();
        let arg = command
            .get_arguments()
            .filter(|arg| !NOT_IN_FILE.contains(&arg.get_id().as_str()))
            .find(|arg| arg.get_id() == key.as_str())
            .ok_or_else(|| at(line, format!("unknown setting `{key}` (see msgpushd --help; `-` becomes `_`)")))?;
        let flag = format!("--{}", arg.get_long().expect("every setting is a long flag"));
        let args = if matches!(arg.get_action(), ArgAction::SetTrue) {
            match value {
                Value::Boolean(true) => vec![flag.into()],
                Value::Boolean(false) => vec![],
                _ => return Err(at(line, format!("`{key}` is true or false"))),
            }
        } else {
            let values = match value {
                Value::Array(values) => values,
                value => vec![value],
            };
            let mut args = Vec::new();
            for value in values {
                let value = match value {
                    Value::String(s) => s,
                    Value::Integer(n) => n.to_string(),
                    Value::Float(x) => x.to_string(),
                    Value::Boolean(b) => b.to_string(),
                    other => return Err(at(line, format!("`{key}` cannot be a {}", other.type_str()))),
                };
                args.push(OsString::from(&flag));
                args.push(value.into());
            }
            args
        };
        check(&args).map_err(|why| at(line, format!("{key}: {why}")))?;
        settings.insert(key, args);
    }
    Ok(settings)
}

/// Parses one setting's flag and values alone, to blame the file's line
/// for a bad value. (A setting that needs another, as `tls_cert` needs
/// `tls_key`, is checked with all of them.)
fn check(args: &[OsString]) -> Result<(), String> {
    let argv = std::iter::once(OsString::from("msgpushd")).chain(args.iter().cloned());
    match Config::command().try_get_matches_from(argv) {
        Err(e) if e.kind() != clap::error::ErrorKind::MissingRequiredArgument => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            Err(first.strip_prefix("error: ").unwrap_or(first).to_owned())
        }
        _ => Ok(()),
    }
}

/// The line (from 1) holding byte `offset` of `text`.
fn line_of(text: &str, offset: Option<usize>) -> Option<usize> {
    let offset = offset?.min(text.len());
    Some(text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1)
}

/// The effective settings as a settings file would state them (secrets hidden).
pub fn effective(config: &Config) -> String {
    toml::to_string(config).expect("the settings serialize to TOML")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// A settings file, removed when dropped, and the arguments naming it.
    struct File(std::path::PathBuf);

    impl Drop for File {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn file(text: &str) -> (File, Vec<OsString>) {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("msgpushd-config-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let args = vec!["msgpushd".into(), "--config".into(), path.clone().into()];
        (File(path), args)
    }

    fn error(result: Result<Config, SettingsError>) -> String {
        match result {
            Err(SettingsError::File(why)) => why,
            Err(SettingsError::Usage(e)) => panic!("a usage error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn the_file_sets_what_flags_do_not() {
        let (_f, mut args) =
            file("# comment\nmax_sessions = 7\ncors_origin = [\"https://a.example\", \"https://b.example\"]\ndemo = true\nsocket_mode = \"600\"\n");
        let config = load(&args).unwrap();
        assert_eq!(config.max_sessions, 7);
        assert_eq!(config.cors_origin, ["https://a.example", "https://b.example"]);
        assert!(config.demo);
        assert_eq!(config.socket_mode, 0o600);
        args.extend(["--max-sessions".into(), "9".into()]);
        assert_eq!(load(&args).unwrap().max_sessions, 9, "a flag beats the file");
    }

    #[test]
    fn an_unknown_key_or_a_bad_value_names_the_file_and_the_line() {
        let (f, args) = file("max_sessions = 7\n\nmax_sesions = 8\n");
        let why = error(load(&args));
        assert!(why.starts_with(&format!("{} line 3: unknown setting `max_sesions`", f.0.display())), "{why}");
        let (_f, args) = file("listen = \"0.0.0.0:2120\"\nmax_sessions = \"many\"\n");
        let why = error(load(&args));
        assert!(why.contains("line 2: max_sessions: invalid value 'many'"), "{why}");
        let (_f, args) = file("demo = \"yes\"\n");
        assert!(error(load(&args)).contains("line 1: `demo` is true or false"));
        let (_f, args) = file("config = \"/other.toml\"\n");
        assert!(error(load(&args)).contains("unknown setting `config`"));
        let (_f, args) = file("max_sessions = \n");
        assert!(error(load(&args)).contains("line 1: "), "TOML syntax errors have their line too");
    }

    #[test]
    fn the_effective_settings_read_back_as_the_same_settings() {
        let config =
            Config::try_parse_from(["msgpushd", "--max-sessions", "12", "--cors-origin", "https://a.example"]).unwrap();
        let (_f, args) = file(&effective(&config));
        let again = load(&args).unwrap();
        assert_eq!(effective(&again), effective(&config));
        assert_eq!(again.max_sessions, 12);
        let hidden = Config::try_parse_from(["msgpushd", "--http-api-key", "s3cret"]).unwrap();
        assert!(!effective(&hidden).contains("s3cret"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// A settings file's line: a known or made-up key, and a TOML value
        /// of any type, or a line of anything.
        fn line() -> impl Strategy<Value = String> {
            let keys: Vec<String> =
                Config::command().get_arguments().map(|arg| arg.get_id().as_str().to_owned()).collect();
            let key = prop_oneof![prop::sample::select(keys), "[a-z_]{1,12}"];
            let value = prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                any::<bool>().prop_map(|b| b.to_string()),
                "[ -~]{0,16}".prop_map(|s| format!("{s:?}")),
                Just("[\"a\", 1]".to_owned()),
                Just("{ x = 1 }".to_owned()),
                Just("1.5".to_owned()),
            ];
            prop_oneof![(key, value).prop_map(|(k, v)| format!("{k} = {v}")), "\\PC{0,30}"]
        }

        proptest! {
            #[test]
            fn any_settings_file_gives_settings_or_an_error_naming_the_file(lines in prop::collection::vec(line(), 0..6)) {
                let (f, args) = file(&lines.join("\n"));
                match load(&args) {
                    Ok(_) => {}
                    Err(SettingsError::File(why)) => prop_assert!(why.starts_with(&f.0.display().to_string()), "{}", why),
                    // A file can only set what flags set, so it fails where they would: with clap's message.
                    Err(SettingsError::Usage(_)) => {}
                }
            }
        }
    }
}
