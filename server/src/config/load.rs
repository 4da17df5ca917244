//! Where settings come from: flags, then `SKIRMISH_*` environment variables, then the `--config` TOML
//! file, then the defaults. Every error names the setting the way it was given.

use super::{Args, ConfigError};
use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches};
use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where each setting was taken from, so that errors can name it as the operator wrote it.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    file: Option<PathBuf>,
    from_file: HashSet<String>,
    from_env: HashSet<String>,
}

impl Sources {
    /// The setting whose flag is `--{flag}` as it was given: the flag, its environment variable, or
    /// its key in the config file.
    pub fn describe(&self, flag: &str) -> String {
        let command = Args::command();
        let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(flag)) else {
            return format!("--{flag}");
        };
        let id = arg.get_id().as_str();
        if self.from_env.contains(id) {
            if let Some(env) = arg.get_env() {
                return env.to_string_lossy().into_owned();
            }
        }
        match &self.file {
            Some(file) if self.from_file.contains(id) => {
                format!("key `{id}` in {}", file.display())
            }
            _ => format!("--{flag}"),
        }
    }
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_message(error: &clap::Error) -> String {
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

/// A clap error, blamed on the environment variable that caused it when one did.
fn blame(error: clap::Error, argv: &[OsString]) -> ConfigError {
    use clap::error::{ContextKind, ContextValue};
    let offending = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.clone(),
        _ => return ConfigError::Cli(error),
    };
    let long = offending
        .trim_start_matches("--")
        .split([' ', '='])
        .next()
        .unwrap_or_default()
        .to_string();
    let on_command_line = argv.iter().any(|a| {
        let a = a.to_string_lossy();
        a == format!("--{long}") || a.starts_with(&format!("--{long}="))
    });
    let command = Args::command();
    let env = command
        .get_arguments()
        .find(|a| a.get_long() == Some(long.as_str()))
        .and_then(|a| a.get_env())
        .filter(|env| std::env::var_os(env).is_some());
    match env {
        Some(env) if !on_command_line => ConfigError::Load(format!(
            "environment variable {}: {}",
            env.to_string_lossy(),
            clap_message(&error)
        )),
        _ => ConfigError::Cli(error),
    }
}

/// A TOML value as the strings a flag would take.
fn toml_strings(value: &toml::Value) -> Result<Vec<String>, String> {
    let scalar = |value: &toml::Value| match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err("expected a string, number or boolean".to_string()),
    };
    match value {
        toml::Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

/// The flags a config file's `key = value` stands for, checked on their own so that a bad value is
/// blamed on its key.
fn file_flags(
    file: &Path,
    key: &str,
    value: &toml::Value,
    program: &OsString,
) -> Result<Vec<OsString>, ConfigError> {
    let at = |problem: String| {
        ConfigError::Load(format!(
            "config file {}: key `{key}`: {problem}",
            file.display()
        ))
    };
    let command = Args::command();
    let arg = command
        .get_arguments()
        .find(|a| a.get_id() == key && a.get_long().is_some() && key != "config")
        .ok_or_else(|| {
            ConfigError::Load(format!(
                "config file {}: unknown key `{key}` (keys are the flags' names in snake_case; see --help)",
                file.display()
            ))
        })?;
    let long = arg.get_long().unwrap_or(key);
    let mut flags: Vec<OsString> = Vec::new();
    match arg.get_action() {
        ArgAction::SetTrue => match value {
            toml::Value::Boolean(true) => flags.push(format!("--{long}").into()),
            toml::Value::Boolean(false) => {}
            _ => return Err(at("expected true or false".into())),
        },
        action => {
            if matches!(value, toml::Value::Array(_)) && !matches!(action, ArgAction::Append) {
                return Err(at("takes one value, not a list".into()));
            }
            for item in toml_strings(value).map_err(at)? {
                flags.push(format!("--{long}={item}").into());
            }
        }
    }
    let alone = std::iter::once(program.clone()).chain(flags.iter().cloned());
    match Args::command().try_get_matches_from(alone) {
        // Settings that need a partner (tls_cert and tls_key) are checked together afterwards.
        Err(e) if e.kind() != clap::error::ErrorKind::MissingRequiredArgument => {
            Err(at(clap_message(&e)))
        }
        _ => Ok(flags),
    }
}

impl Args {
    /// Reads the settings from `argv` (flags), the `SKIRMISH_*` environment variables and the
    /// `--config` file, in that order of precedence.
    pub fn load<I, T>(argv: I) -> Result<Args, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
        let matches = Args::command()
            .try_get_matches_from(&argv)
            .map_err(|e| blame(e, &argv))?;
        let mut sources = Sources::default();
        for arg in Args::command().get_arguments() {
            let id = arg.get_id().as_str();
            if matches.value_source(id) == Some(ValueSource::EnvVariable) {
                sources.from_env.insert(id.to_string());
            }
        }
        let mut all = argv.clone();
        if let Some(file) = matches.get_one::<PathBuf>("config") {
            let text = std::fs::read_to_string(file)
                .map_err(|e| ConfigError::Load(format!("config file {}: {e}", file.display())))?;
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                ConfigError::Load(format!("config file {}: {e}", file.display()))
            })?;
            let program = argv
                .first()
                .cloned()
                .unwrap_or_else(|| "skirmish-server".into());
            for (key, value) in &table {
                let flags = file_flags(file, key, value, &program)?;
                let given = matches!(
                    matches.value_source(key),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                );
                if !given {
                    all.extend(flags);
                    sources.from_file.insert(key.clone());
                }
            }
            sources.file = Some(file.clone());
        }
        let matches = Args::command()
            .try_get_matches_from(&all)
            .map_err(|e| blame(e, &argv))?;
        let mut args = Args::from_arg_matches(&matches).map_err(ConfigError::Cli)?;
        args.sources = sources;
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LogFormat, ServerConfig};

    /// A config file in a fresh temporary folder.
    fn file(name: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("skirmish-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("skirmish.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    fn load(flags: &[&str]) -> Result<Args, ConfigError> {
        Args::load(std::iter::once("skirmish-server").chain(flags.iter().copied()))
    }

    #[test]
    fn the_file_fills_what_flags_leave_and_flags_win() {
        let path = file(
            "layers",
            "tick_hz = 30\nsnapshot_hz = 10\nallowed_origins = [\"https://a.example\", \"https://b.example\"]\nconformance_echo = true\nlog_format = \"json\"\nreconnect_grace = 2\nfill_bots = 7\n",
        );
        let path = path.to_str().expect("utf-8 path");
        let args = load(&["--config", path, "--snapshot-hz", "15"]).expect("loads");
        assert_eq!(args.tick_hz, 30);
        assert_eq!(args.snapshot_hz, 15, "the flag beats the file");
        assert_eq!(
            args.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert!(args.conformance_echo);
        assert_eq!(args.log_format, LogFormat::Json);
        assert_eq!(args.reconnect_grace, 2.0);
        assert_eq!(args.max_rooms, 256, "defaults stay");
        let config = ServerConfig::from_args(&args).expect("valid");
        assert_eq!(config.tick_rate.hz(), 30);
        assert_eq!(config.snapshot_rate.hz(), 15);
        assert_eq!(config.fill_bots, 7, "fill bots from the file");
        let too_many = load(&["--fill-bots", "65"]).expect("parses");
        let err = ServerConfig::from_args(&too_many).expect_err("over the limit");
        assert!(err.to_string().contains("--fill-bots"), "{err}");
    }

    #[test]
    fn partners_may_come_from_different_layers() {
        let path = file("partners", "tls_key = \"/etc/skirmish/key.pem\"\n");
        let args = load(&[
            "--config",
            path.to_str().expect("utf-8"),
            "--tls-cert",
            "/etc/skirmish/cert.pem",
        ])
        .expect("loads");
        assert_eq!(
            args.tls_cert.as_deref(),
            Some(Path::new("/etc/skirmish/cert.pem"))
        );
        assert_eq!(
            args.tls_key.as_deref(),
            Some(Path::new("/etc/skirmish/key.pem"))
        );
    }

    #[test]
    fn file_errors_name_the_file_and_key() {
        let unknown = file("unknown", "tick_hz = 60\ntick_rate = 60\n");
        let err = load(&["--config", unknown.to_str().expect("utf-8")]).expect_err("unknown key");
        let text = err.to_string();
        assert!(
            text.contains("unknown key `tick_rate`") && text.contains("skirmish.toml"),
            "{text}"
        );

        let unparsable = file("type", "tick_hz = \"fast\"\n");
        let err = load(&["--config", unparsable.to_str().expect("utf-8")]).expect_err("bad value");
        assert!(err.to_string().contains("key `tick_hz`"), "{err}");

        let list = file("list", "bind = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n");
        let err = load(&["--config", list.to_str().expect("utf-8")]).expect_err("a list");
        assert!(
            err.to_string().contains("key `bind`: takes one value"),
            "{err}"
        );

        let flag = file("flag", "conformance_echo = \"yes\"\n");
        let err = load(&["--config", flag.to_str().expect("utf-8")]).expect_err("not a bool");
        assert!(
            err.to_string()
                .contains("key `conformance_echo`: expected true or false"),
            "{err}"
        );

        let syntax = file("syntax", "tick_hz = = 3\n");
        let err = load(&["--config", syntax.to_str().expect("utf-8")]).expect_err("bad TOML");
        assert!(err.to_string().starts_with("config file"), "{err}");

        let err = load(&["--config", "/nonexistent/skirmish.toml"]).expect_err("missing");
        assert!(
            err.to_string().contains("/nonexistent/skirmish.toml"),
            "{err}"
        );
    }

    #[test]
    fn out_of_range_values_are_named_as_they_were_given() {
        let path = file("range", "tick_hz = 500\n");
        let args = load(&["--config", path.to_str().expect("utf-8")]).expect("parses");
        let err = ServerConfig::from_args(&args).expect_err("too fast");
        assert!(err.to_string().starts_with("key `tick_hz` in "), "{err}");
        let args = load(&["--tick-hz", "500"]).expect("parses");
        let err = ServerConfig::from_args(&args).expect_err("too fast");
        assert!(err.to_string().starts_with("--tick-hz:"), "{err}");
    }

    #[test]
    fn the_example_config_sets_every_key_validly() {
        let example = include_str!("../../../assets/skirmish.example.toml");
        // Uncomment every `# key = value` line.
        let text: String = example
            .lines()
            .filter_map(|line| line.strip_prefix("# "))
            .filter(|line| {
                line.split_once(" = ")
                    .is_some_and(|(key, _)| key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let table: toml::Table = text.parse().expect("the example parses");
        let keys: HashSet<&str> = table.keys().map(String::as_str).collect();
        let command = Args::command();
        let settings: HashSet<&str> = command
            .get_arguments()
            .map(|a| a.get_id().as_str())
            .filter(|id| !["help", "version", "config"].contains(id))
            .collect();
        assert_eq!(keys, settings, "the example documents exactly the settings");
        let path = file("example", &text);
        let args = load(&["--config", path.to_str().expect("utf-8")]).expect("the example loads");
        // Its paths are examples: use the repository's map and no TLS files.
        let args = Args {
            map: None,
            assets: None,
            tls_cert: None,
            tls_key: None,
            ..args
        };
        ServerConfig::from_args(&args).expect("the example's values are valid");
    }

    #[test]
    fn every_setting_has_its_environment_variable() {
        for arg in Args::command().get_arguments() {
            let id = arg.get_id().as_str();
            if ["help", "version"].contains(&id) {
                continue;
            }
            let expected = format!("SKIRMISH_{}", id.to_uppercase());
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            assert_eq!(env, Some(expected), "{id}");
        }
    }
}
