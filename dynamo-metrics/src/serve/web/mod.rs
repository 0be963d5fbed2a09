//! The web configuration file of the status server (exporter-toolkit format), kept in force
//! and reloaded when its files change: [`WebConfig`]. The format and the rules are documented
//! on [`SystemServerConfig::web_config_file`](crate::SystemServerConfig::web_config_file).
//!
//! - `file`: reading the file (YAML, keys, headers, users);
//! - `tls`: `tls_server_config` into a rustls configuration;
//! - `auth`: basic auth against the users' bcrypt hashes.

mod auth;
mod file;
mod tls;

pub(crate) use file::Settings;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use crate::error::Result;
use crate::metrics::IntCounter;
use crate::serve::listener::count;

/// How often the files are checked for changes.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// The loaded web configuration of a status server, reloaded when its files change.
pub(crate) struct WebConfig {
    path: PathBuf,
    tls: bool,
    state: Mutex<State>,
    /// Serializes bcrypt checks: each costs tens of milliseconds of CPU.
    bcrypt: tokio::sync::Mutex<()>,
    /// Digests of `user:password` pairs that passed, with the hash they passed against.
    verified: Mutex<HashMap<[u8; 32], String>>,
    reloads: Reloads,
    /// bcrypt checks made, for the tests.
    #[cfg(test)]
    bcrypt_checks: std::sync::atomic::AtomicUsize,
}

/// What reloads of the web configuration count into: those that took the changed files, and
/// those that kept the last good configuration because the files were broken.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reloads {
    pub(crate) succeeded: Option<IntCounter>,
    pub(crate) failed: Option<IntCounter>,
}

struct State {
    current: Arc<Settings>,
    stamp: Vec<Stamp>,
    checked: Instant,
}

/// A file's modification time and length, or `None` when it cannot be read.
type Stamp = Option<(SystemTime, u64)>;

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("path", &self.path)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl WebConfig {
    /// Loads the file at `path`; later reloads count into `reloads`.
    ///
    /// # Errors
    /// [`Error::WebConfig`] naming the file and the key at fault.
    pub(crate) fn load(path: &Path, reloads: Reloads) -> Result<Self> {
        let settings = Settings::load(path)?;
        let stamp = stamps(path, &settings.files);
        Ok(WebConfig {
            path: path.to_owned(),
            tls: settings.tls.is_some(),
            state: Mutex::new(State {
                current: Arc::new(settings),
                stamp,
                checked: Instant::now(),
            }),
            bcrypt: tokio::sync::Mutex::new(()),
            verified: Mutex::new(HashMap::new()),
            reloads,
            #[cfg(test)]
            bcrypt_checks: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Whether the server speaks TLS.
    pub(crate) fn tls(&self) -> bool {
        self.tls
    }

    /// The settings in force, reloaded first when a file changed since the last check (at
    /// most once a second).
    pub(crate) fn current(&self) -> Arc<Settings> {
        let mut state = self.state.lock();
        if state.checked.elapsed() < RELOAD_CHECK {
            return state.current.clone();
        }
        state.checked = Instant::now();
        let stamp = stamps(&self.path, &state.current.files);
        if stamp == state.stamp {
            return state.current.clone();
        }
        match Settings::load(&self.path) {
            Ok(settings) if settings.tls.is_some() != self.tls => {
                count(&self.reloads.failed);
                tracing::error!(
                    path = %self.path.display(),
                    "web configuration changed whether TLS is on, which needs a restart: kept the last one"
                );
            }
            Ok(settings) => {
                count(&self.reloads.succeeded);
                tracing::info!(path = %self.path.display(), "web configuration reloaded");
                state.stamp = stamps(&self.path, &settings.files);
                state.current = Arc::new(settings);
                self.verified.lock().clear();
                return state.current.clone();
            }
            Err(error) => {
                count(&self.reloads.failed);
                tracing::error!(%error, "web configuration not reloaded: kept the last one");
            }
        }
        // Not retried until the files change again.
        state.stamp = stamp;
        state.current.clone()
    }
}

fn stamps(path: &Path, files: &[PathBuf]) -> Vec<Stamp> {
    std::iter::once(path)
        .chain(files.iter().map(PathBuf::as_path))
        .map(|p| {
            let meta = std::fs::metadata(p).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    /// The error of loading `yaml`, as `key: reason`.
    fn error_of(yaml: &str) -> String {
        let dir = std::env::temp_dir().join(format!("dynamo-web-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = dir.join(format!("{n}.yml"));
        std::fs::write(&file, yaml).unwrap();
        let result = Settings::load(&file);
        let _ = std::fs::remove_file(&file);
        match result {
            Ok(_) => "ok".to_owned(),
            Err(Error::WebConfig { key, reason, .. }) => {
                format!("{}: {reason}", key.unwrap_or_default())
            }
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn keys_are_checked_and_named() {
        assert_eq!(error_of(""), "ok");
        assert_eq!(error_of("http_server_config:\n  http2: false\n"), "ok");
        for (yaml, want) in [
            ("nope: 1\n", "nope: unknown key"),
            (
                "tls_server_config:\n  certfile: a\n",
                "tls_server_config.certfile: unknown key",
            ),
            (
                "tls_server_config:\n  key_file: a\n",
                "tls_server_config.cert_file: missing",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  cert: b\n  key_file: c\n",
                "tls_server_config.cert_file: give tls_server_config.cert or",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
                "tls_server_config.min_version: TLS 1.0 and 1.1 are not supported",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
                "tls_server_config.min_version: is above max_version",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
                "tls_server_config.cipher_suites: unsupported value",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [CurveP521]\n",
                "tls_server_config.curve_preferences: unsupported value",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
                "tls_server_config.client_ca_file: client CAs are given but client_auth_type is NoClientCert",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
                "tls_server_config.client_ca_file: missing",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n",
                "tls_server_config.client_allowed_sans: not supported",
            ),
            (
                "tls_server_config:\n  prefer_server_cipher_suites: maybe\n",
                "tls_server_config.prefer_server_cipher_suites: expected true or false",
            ),
            (
                "http_server_config:\n  headers:\n    Server: x\n",
                "http_server_config.headers.Server: this header cannot be configured",
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                "http_server_config.headers.X-Frame-Options: invalid value \"allow\"",
            ),
            (
                "http_server_config:\n  http2: yes please\n",
                "http_server_config.http2: expected true or false",
            ),
            (
                "basic_auth_users:\n  alice: secret\n",
                "basic_auth_users.alice: not a bcrypt hash",
            ),
            (
                // A device is refused, not read until memory runs out.
                "tls_server_config:\n  cert_file: /dev/zero\n  key_file: b\n",
                "tls_server_config.cert_file: cannot read /dev/zero: not a regular file",
            ),
            (
                "basic_auth_users: [alice]\n",
                "basic_auth_users: expected a mapping",
            ),
            ("rate_limit:\n  burst: 1\n", "rate_limit: not supported"),
            ("tls_server_config: [\n", ": not YAML"),
        ] {
            let got = error_of(yaml);
            assert!(got.starts_with(want), "{yaml:?}: {got}");
        }
    }
}
