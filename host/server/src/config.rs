//! `hookbox.toml`: the server's settings and its plugins.
//!
//! Every table rejects unknown keys. Errors name the file, and the line and key where the
//! TOML parser can point at them (syntax, unknown keys, wrong types); checks that need the
//! whole file (plugin names, limits, paths) name the file, the plugin and the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hookbox_registry::PluginManifest;
use serde::{Deserialize, Serialize};

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener and request settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// The OpenIM webhook endpoint.
    #[serde(default)]
    pub openim: OpenImConfig,
    /// The plugins, as `[[plugin]]` tables.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<PluginManifest>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the webhook listener binds.
    pub listen: SocketAddr,
    /// Largest request body accepted, in KiB.
    pub max_body_kb: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_kb: 1024,
        }
    }
}

/// `[openim]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenImConfig {
    /// URL path prefix: OpenIM posts to `{path}/{command}`; set OpenIM's `webhooks.yml`
    /// `url` to `http://host:port{path}`.
    pub path: String,
}

impl Default for OpenImConfig {
    fn default() -> Self {
        OpenImConfig {
            path: "/openim".to_owned(),
        }
    }
}

/// Why a config file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or does not match the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line, column and key.
        message: String,
    },
    /// The TOML is well-formed but a value is not acceptable.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
}

impl Config {
    /// Read and check `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parse and check config text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.check().map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let path = &self.openim.path;
        let valid_path = path.starts_with('/')
            && path.len() > 1
            && !path.ends_with('/')
            && !path.contains(['{', '}', '*', '?', '#'])
            && !path.contains("//");
        if !valid_path {
            return Err(format!(
                "openim.path {path:?} must start with '/', not end with '/', and not be '/' alone"
            ));
        }
        if self.server.max_body_kb == 0 {
            return Err("server.max_body_kb must be positive".to_owned());
        }
        let mut names = std::collections::HashSet::new();
        for plugin in &self.plugins {
            plugin.validate().map_err(|e| e.to_string())?;
            if !names.insert(&plugin.name) {
                return Err(format!("two [[plugin]] tables are named {:?}", plugin.name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("hookbox.toml"))
    }

    #[test]
    fn empty_file_means_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.server, ServerConfig::default());
        assert_eq!(config.openim.path, "/openim");
        assert!(config.plugins.is_empty());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let err = parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("hookbox.toml: "), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("unknown field `lisen`"), "{err}");

        let err = parse("[[plugin]]\nname = \"a\"\nsource = \"a.wasm\"\ncommands = [\"x\"]\npriority = \"high\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 5") && err.contains("invalid type"),
            "{err}"
        );
    }

    #[test]
    fn semantic_errors_name_the_plugin_and_key() {
        let text = "[[plugin]]\nname = \"a\"\nsource = \"a.wasm\"\ncommands = [\"x\"]\nlimits = { timeout_ms = 0 }\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains("\"a\"") && err.contains("limits.timeout_ms"),
            "{err}"
        );

        let dup = "[[plugin]]\nname = \"a\"\nsource = \"a.wasm\"\ncommands = [\"x\"]\n".repeat(2);
        assert!(
            parse(&dup)
                .unwrap_err()
                .to_string()
                .contains("two [[plugin]] tables are named \"a\"")
        );

        for bad in ["", "/", "openim", "/openim/", "/a/{x}"] {
            let err = parse(&format!("[openim]\npath = {bad:?}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("openim.path"), "{bad}: {err}");
        }
    }
}
