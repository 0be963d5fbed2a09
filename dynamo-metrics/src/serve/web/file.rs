//! The web configuration file itself: YAML read with errors that name the file and the key,
//! `basic_auth_users` and `http_server_config`; `tls_server_config` is read by [`super::tls`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use rustls::server::ServerConfig;
use yaml_rust2::{Yaml, YamlLoader};

use super::tls::tls_config;
use crate::error::{Error, Result};

/// What a web configuration file says, with its files read.
pub(crate) struct Settings {
    /// The TLS configuration, when `tls_server_config` is given.
    pub(crate) tls: Option<Arc<ServerConfig>>,
    /// User names and their bcrypt hashes; empty when basic auth is off.
    pub(super) users: HashMap<String, String>,
    /// Headers added to every response.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// The files it names, watched for changes.
    pub(super) files: Vec<PathBuf>,
}

impl Settings {
    pub(super) fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::WebConfig {
            path: path.to_owned(),
            key: None,
            reason: format!("cannot read it: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// The settings `text` gives, read as the file at `path` (files it names are relative to
    /// its folder).
    pub(crate) fn parse(path: &Path, text: &str) -> Result<Self> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| Error::WebConfig {
            path: path.to_owned(),
            key: None,
            reason: format!("not YAML: {e}"),
        })?;
        let mut settings = Settings {
            tls: None,
            users: HashMap::new(),
            headers: Vec::new(),
            files: Vec::new(),
        };
        let Some(root) = docs.first() else {
            return Ok(settings);
        };
        for (key, value) in entries(path, "(top level)", root)? {
            match key {
                "tls_server_config" => settings.tls = tls_config(path, value, &mut settings.files)?,
                "http_server_config" => settings.headers = http_config(path, value)?,
                "basic_auth_users" => {
                    for (user, hash) in entries(path, key, value)? {
                        let at = format!("basic_auth_users.{user}");
                        let hash = string(path, &at, hash)?;
                        hash.parse::<bcrypt::HashParts>()
                            .map_err(|e| bad(path, &at, format!("not a bcrypt hash: {e}")))?;
                        settings.users.insert(user.to_owned(), hash);
                    }
                }
                "rate_limit" => {
                    return Err(bad(path, key, "not supported by this server"));
                }
                other => return Err(bad(path, other, "unknown key")),
            }
        }
        Ok(settings)
    }
}

fn http_config(path: &Path, node: &Yaml) -> Result<Vec<(HeaderName, HeaderValue)>> {
    let mut headers = Vec::new();
    for (key, value) in entries(path, "http_server_config", node)? {
        match key {
            "http2" if matches!(value, Yaml::Boolean(_)) => {}
            "http2" => {
                return Err(bad(
                    path,
                    "http_server_config.http2",
                    "expected true or false",
                ));
            }
            "headers" => {
                for (name, value) in entries(path, "http_server_config.headers", value)? {
                    let at = format!("http_server_config.headers.{name}");
                    let allowed = HEADERS
                        .iter()
                        .find(|(n, _)| *n == name)
                        .ok_or_else(|| bad(path, &at, "this header cannot be configured"))?
                        .1;
                    let value = string(path, &at, value)?;
                    if value.is_empty() {
                        continue;
                    }
                    if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                        return Err(bad(
                            path,
                            &at,
                            format!(
                                "invalid value {value:?}; expected one of {}",
                                allowed.join(", ")
                            ),
                        ));
                    }
                    let value = HeaderValue::from_str(&value)
                        .map_err(|_| bad(path, &at, "not a valid header value"))?;
                    let name = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| bad(path, &at, "not a valid header name"))?;
                    headers.push((name, value));
                }
            }
            other => {
                return Err(bad(
                    path,
                    format!("http_server_config.{other}"),
                    "unknown key",
                ));
            }
        }
    }
    Ok(headers)
}

/// The headers a file may set, with the values allowed (any when empty): the exporter
/// toolkit's list, so that a file means the same to every exporter.
const HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// An error at `key` of the file at `path`.
pub(super) fn bad(path: &Path, key: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::WebConfig {
        path: path.to_owned(),
        key: Some(key.into()),
        reason: reason.into(),
    }
}

/// The entries of a mapping at `key`; an empty list for a missing or null value.
pub(super) fn entries<'y>(
    path: &Path,
    key: &str,
    node: &'y Yaml,
) -> Result<Vec<(&'y str, &'y Yaml)>> {
    match node {
        Yaml::Null | Yaml::BadValue => Ok(Vec::new()),
        Yaml::Hash(map) => map
            .iter()
            .map(|(k, v)| match k {
                Yaml::String(k) => Ok((k.as_str(), v)),
                _ => Err(bad(path, key, "expected text keys")),
            })
            .collect(),
        _ => Err(bad(path, key, "expected a mapping")),
    }
}

pub(super) fn string(path: &Path, key: &str, node: &Yaml) -> Result<String> {
    match node {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Integer(i) => Ok(i.to_string()),
        Yaml::Real(r) => Ok(r.clone()),
        _ => Err(bad(path, key, "expected a string")),
    }
}

pub(super) fn strings(path: &Path, key: &str, node: &Yaml) -> Result<Vec<String>> {
    match node {
        Yaml::Null => Ok(Vec::new()),
        Yaml::Array(items) => items.iter().map(|i| string(path, key, i)).collect(),
        _ => Err(bad(path, key, "expected a list of strings")),
    }
}

/// One of `table`'s values by name, or an error listing the names.
pub(super) fn lookup<T: Copy>(
    path: &Path,
    key: &str,
    table: &[(&str, T)],
    name: &str,
) -> Result<T> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            bad(
                path,
                key,
                format!(
                    "unsupported value {name:?}; expected one of {}",
                    names.join(", ")
                ),
            )
        })
}
