//! The web configuration file of the status server (exporter-toolkit format): parsing with
//! errors that name the key, the rustls configuration, basic auth and reloading. The format
//! and the rules are documented on
//! [`SystemServerConfig::web_config_file`](crate::SystemServerConfig::web_config_file).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderName, HeaderValue};
use parking_lot::Mutex;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use yaml_rust2::{Yaml, YamlLoader};

use crate::error::{Error, Result};
use crate::metrics::IntCounter;
use crate::serve::listener::count;

/// How often the files are checked for changes.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// A bcrypt hash of a password nobody has, checked for unknown users so that a wrong user
/// name takes as long to refuse as a wrong password.
const DECOY_HASH: &str = "$2b$10$6tn6Tp2Q7sOV1m7ZB5Eek.VbD5fvqr4Y7n7mFZbiUq9iYQ5k3qUEu";

/// How many verified credentials are remembered, so that a scraper's every request does not
/// cost a bcrypt check.
const AUTH_CACHE: usize = 64;

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

/// What a web configuration file says, with its files read.
pub(crate) struct Settings {
    /// The TLS configuration, when `tls_server_config` is given.
    pub(crate) tls: Option<Arc<ServerConfig>>,
    /// User names and their bcrypt hashes; empty when basic auth is off.
    users: HashMap<String, String>,
    /// Headers added to every response.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// The files it names, watched for changes.
    files: Vec<PathBuf>,
}

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

    /// Whether `authorization` (the request's header) carries the credentials of a user of
    /// `settings`; always true when basic auth is off.
    pub(crate) async fn authorized(
        &self,
        settings: &Settings,
        authorization: Option<&HeaderValue>,
    ) -> bool {
        if settings.users.is_empty() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let known = settings.users.get(&user);
        let hash = known.map_or(DECOY_HASH, String::as_str).to_owned();
        let key = digest(&user, &password);
        if known.is_some() && self.verified.lock().get(&key) == Some(&hash) {
            return true;
        }
        let _one_at_a_time = self.bcrypt.lock().await;
        #[cfg(test)]
        self.bcrypt_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let checked = hash.clone();
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &checked))
            .await
            .is_ok_and(|r| r.unwrap_or(false))
            && known.is_some();
        if ok {
            let mut verified = self.verified.lock();
            if verified.len() >= AUTH_CACHE {
                verified.clear();
            }
            verified.insert(key, hash);
        }
        ok
    }
}

/// The user and password of a `Basic` authorization header.
fn basic_credentials(header: &HeaderValue) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// SHA-256 of `user` and `password`: the verified-credentials cache holds no password.
fn digest(user: &str, password: &str) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(&(user.len() as u64).to_le_bytes());
    context.update(user.as_bytes());
    context.update(password.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
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

/// An error at `key` of the file at `path`.
fn bad(path: &Path, key: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::WebConfig {
        path: path.to_owned(),
        key: Some(key.into()),
        reason: reason.into(),
    }
}

/// The entries of a mapping at `key`; an empty list for a missing or null value.
fn entries<'y>(path: &Path, key: &str, node: &'y Yaml) -> Result<Vec<(&'y str, &'y Yaml)>> {
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

fn string(path: &Path, key: &str, node: &Yaml) -> Result<String> {
    match node {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Integer(i) => Ok(i.to_string()),
        Yaml::Real(r) => Ok(r.clone()),
        _ => Err(bad(path, key, "expected a string")),
    }
}

fn strings(path: &Path, key: &str, node: &Yaml) -> Result<Vec<String>> {
    match node {
        Yaml::Null => Ok(Vec::new()),
        Yaml::Array(items) => items.iter().map(|i| string(path, key, i)).collect(),
        _ => Err(bad(path, key, "expected a list of strings")),
    }
}

/// PEM text given inline or by a file name.
enum Pem {
    Inline(String),
    File(PathBuf),
}

impl Pem {
    /// `inline` or `file` (relative to `dir`), not both.
    fn either(
        path: &Path,
        (inline_key, inline): (&str, Option<String>),
        (file_key, file): (&str, Option<String>),
    ) -> Result<Option<(String, Pem)>> {
        let dir = path.parent().unwrap_or(Path::new("."));
        match (inline, file) {
            (Some(_), Some(_)) => Err(bad(
                path,
                file_key,
                format!("give {inline_key} or {file_key}, not both"),
            )),
            (Some(text), None) => Ok(Some((inline_key.to_owned(), Pem::Inline(text)))),
            (None, Some(file)) => Ok(Some((file_key.to_owned(), Pem::File(dir.join(file))))),
            (None, None) => Ok(None),
        }
    }

    fn bytes(&self, path: &Path, key: &str) -> Result<Vec<u8>> {
        match self {
            Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
            Pem::File(file) => std::fs::read(file)
                .map_err(|e| bad(path, key, format!("cannot read {}: {e}", file.display()))),
        }
    }

    fn certificates(&self, path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>> {
        let bytes = self.bytes(path, key)?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(path, key, format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(bad(path, key, "no PEM certificate in it"));
        }
        Ok(certs)
    }

    fn file(&self) -> Option<PathBuf> {
        match self {
            Pem::File(f) => Some(f.clone()),
            Pem::Inline(_) => None,
        }
    }
}

/// `client_auth_type`, as Go's `crypto/tls` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

const CLIENT_AUTH_TYPES: [(&str, ClientAuth); 5] = [
    ("NoClientCert", ClientAuth::NoClientCert),
    ("RequestClientCert", ClientAuth::RequestClientCert),
    ("RequireAnyClientCert", ClientAuth::RequireAnyClientCert),
    (
        "VerifyClientCertIfGiven",
        ClientAuth::VerifyClientCertIfGiven,
    ),
    (
        "RequireAndVerifyClientCert",
        ClientAuth::RequireAndVerifyClientCert,
    ),
];

/// The headers a file may set, with the values allowed (any when empty): the exporter
/// toolkit's list, so that a file means the same to every exporter.
const HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// The TLS 1.2 cipher suites rustls implements, by their Go names (TLS 1.3 suites are not
/// configurable, as in Go).
const CIPHER_SUITES: [(&str, rustls::CipherSuite); 6] = {
    use rustls::CipherSuite as C;
    [
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
};

/// The key exchange groups rustls implements with ring, by their Go names.
const CURVES: [(&str, rustls::NamedGroup); 3] = [
    ("X25519", rustls::NamedGroup::X25519),
    ("CurveP256", rustls::NamedGroup::secp256r1),
    ("CurveP384", rustls::NamedGroup::secp384r1),
];

/// One of `table`'s values by name, or an error listing the names.
fn lookup<T: Copy>(path: &Path, key: &str, table: &[(&str, T)], name: &str) -> Result<T> {
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

fn tls_version(path: &Path, key: &str, node: &Yaml) -> Result<u8> {
    match string(path, key, node)?.as_str() {
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(bad(
            path,
            key,
            "TLS 1.0 and 1.1 are not supported (rustls speaks TLS12 and TLS13)",
        )),
        other => Err(bad(
            path,
            key,
            format!("unknown version {other:?}; expected TLS12 or TLS13"),
        )),
    }
}

impl Settings {
    fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::WebConfig {
            path: path.to_owned(),
            key: None,
            reason: format!("cannot read it: {e}"),
        })?;
        let docs = YamlLoader::load_from_str(&text).map_err(|e| Error::WebConfig {
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

/// The rustls configuration of `tls_server_config`, `None` when it is empty.
fn tls_config(
    path: &Path,
    node: &Yaml,
    files: &mut Vec<PathBuf>,
) -> Result<Option<Arc<ServerConfig>>> {
    let fields = entries(path, "tls_server_config", node)?;
    if fields.is_empty() {
        return Ok(None);
    }
    let (mut cert, mut key, mut ca) = ((None, None), (None, None), (None, None));
    let mut client_auth = ClientAuth::NoClientCert;
    let (mut min, mut max) = (12, 13);
    let mut suites = None;
    let mut curves = None;
    let mut prefer_server = true;
    for (name, value) in fields {
        let at = format!("tls_server_config.{name}");
        match name {
            "cert" => cert.0 = Some(string(path, &at, value)?),
            "cert_file" => cert.1 = Some(string(path, &at, value)?),
            "key" => key.0 = Some(string(path, &at, value)?),
            "key_file" => key.1 = Some(string(path, &at, value)?),
            "client_ca" => ca.0 = Some(string(path, &at, value)?),
            "client_ca_file" => ca.1 = Some(string(path, &at, value)?),
            "client_auth_type" => {
                client_auth = lookup(path, &at, &CLIENT_AUTH_TYPES, &string(path, &at, value)?)?;
            }
            "min_version" => min = tls_version(path, &at, value)?,
            "max_version" => max = tls_version(path, &at, value)?,
            "cipher_suites" => {
                suites = Some(
                    strings(path, &at, value)?
                        .iter()
                        .map(|s| lookup(path, &at, &CIPHER_SUITES, s))
                        .collect::<Result<Vec<_>>>()?,
                );
            }
            "curve_preferences" => {
                curves = Some(
                    strings(path, &at, value)?
                        .iter()
                        .map(|s| lookup(path, &at, &CURVES, s))
                        .collect::<Result<Vec<_>>>()?,
                );
            }
            "prefer_server_cipher_suites" => match value {
                Yaml::Boolean(b) => prefer_server = *b,
                _ => return Err(bad(path, &at, "expected true or false")),
            },
            "client_allowed_sans" => {
                return Err(bad(path, &at, "not supported by this server"));
            }
            _ => return Err(bad(path, &at, "unknown key")),
        }
    }
    let at = |k: &str| format!("tls_server_config.{k}");
    let cert = Pem::either(
        path,
        ("tls_server_config.cert", cert.0),
        (&at("cert_file"), cert.1),
    )?
    .ok_or_else(|| bad(path, at("cert_file"), "missing: give cert_file or cert"))?;
    let key = Pem::either(
        path,
        ("tls_server_config.key", key.0),
        (&at("key_file"), key.1),
    )?
    .ok_or_else(|| bad(path, at("key_file"), "missing: give key_file or key"))?;
    let ca = Pem::either(
        path,
        ("tls_server_config.client_ca", ca.0),
        (&at("client_ca_file"), ca.1),
    )?;
    files.extend(
        [&cert.1, &key.1]
            .into_iter()
            .chain(ca.as_ref().map(|c| &c.1))
            .filter_map(Pem::file),
    );
    if min > max {
        return Err(bad(path, at("min_version"), "is above max_version"));
    }

    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(wanted) = &suites {
        // TLS 1.3 suites stay; TLS 1.2 ones are those listed, in the listed order.
        let (tls13, tls12): (Vec<rustls::SupportedCipherSuite>, Vec<_>) = provider
            .cipher_suites
            .iter()
            .partition(|s| s.version() == &rustls::version::TLS13);
        let mut chosen = tls13;
        for w in wanted {
            chosen.extend(tls12.iter().filter(|s| s.suite() == *w));
        }
        provider.cipher_suites = chosen;
    }
    if let Some(wanted) = &curves {
        let all = provider.kx_groups.clone();
        provider.kx_groups = wanted
            .iter()
            .filter_map(|w| all.iter().find(|g| g.name() == *w).copied())
            .collect();
    }
    let provider = Arc::new(provider);
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, v)| v)
            .collect();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| {
            bad(
                path,
                at("cipher_suites"),
                format!("no usable cipher suite: {e}"),
            )
        })?;
    let builder = match (client_auth, ca) {
        (ClientAuth::NoClientCert, None) => builder.with_no_client_auth(),
        (ClientAuth::NoClientCert, Some((k, _))) => {
            return Err(bad(
                path,
                k,
                "client CAs are given but client_auth_type is NoClientCert: set it to RequireAndVerifyClientCert",
            ));
        }
        (ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert, _) => builder
            .with_client_cert_verifier(Arc::new(AnyClientCert {
                mandatory: client_auth == ClientAuth::RequireAnyClientCert,
                provider: provider.clone(),
            })),
        (_, None) => {
            return Err(bad(
                path,
                at("client_ca_file"),
                "missing: client_auth_type verifies client certificates against client_ca_file or client_ca",
            ));
        }
        (verify, Some((k, ca))) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in ca.certificates(path, &k)? {
                roots
                    .add(c)
                    .map_err(|e| bad(path, &k, format!("not a usable CA certificate: {e}")))?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = match verify {
                ClientAuth::VerifyClientCertIfGiven => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| bad(path, &k, format!("cannot verify clients with it: {e}")))?,
            )
        }
    };
    let chain = cert.1.certificates(path, &cert.0)?;
    let key_bytes = key.1.bytes(path, &key.0)?;
    let private = PrivateKeyDer::from_pem_slice(&key_bytes)
        .map_err(|e| bad(path, &key.0, format!("no PEM private key in it: {e}")))?;
    let mut config = builder
        .with_single_cert(chain, private)
        .map_err(|e| bad(path, &key.0, format!("does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = prefer_server;
    Ok(Some(Arc::new(config)))
}

/// `RequestClientCert` and `RequireAnyClientCert`: a client certificate is asked for (and
/// required by the latter) but its chain is not verified, as in Go; the handshake signature
/// still is, so the client holds the certificate's key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn unknown_users_cost_a_real_bcrypt_check() {
        // The decoy is a valid hash of the usual cost, so checking it takes as long as
        // checking a real user's password.
        let parts: bcrypt::HashParts = DECOY_HASH.parse().unwrap();
        assert_eq!(parts.get_cost(), 10);
        let dir = std::env::temp_dir().join(format!("dynamo-web-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("web.yml");
        let hash = bcrypt::hash("right", 4).unwrap();
        std::fs::write(&file, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
        let web = WebConfig::load(&file, Reloads::default()).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let settings = web.current();
        let checks = || web.bcrypt_checks.load(std::sync::atomic::Ordering::Relaxed);
        let basic = |credentials: &str| {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
        };
        // Each refusal costs one bcrypt check, a wrong user name as much as a wrong password.
        for (credentials, ok, after) in [
            ("mallory:right", false, 1),
            ("alice:wrong", false, 2),
            ("alice:right", true, 3),
            // A pair that passed is remembered: no check.
            ("alice:right", true, 3),
            ("nobody:", false, 4),
        ] {
            let header = basic(credentials);
            assert_eq!(
                web.authorized(&settings, Some(&header)).await,
                ok,
                "{credentials}"
            );
            assert_eq!(checks(), after, "{credentials}");
        }
        // No credentials, or not Basic ones: refused without a check.
        assert!(!web.authorized(&settings, None).await);
        assert_eq!(checks(), 4);
    }

    #[test]
    fn basic_credentials_are_parsed() {
        let header = |v: &str| HeaderValue::from_str(v).unwrap();
        assert_eq!(
            basic_credentials(&header("Basic YWxpY2U6b3Blbjpz")),
            Some(("alice".to_owned(), "open:s".to_owned()))
        );
        assert_eq!(
            basic_credentials(&header("basic  YWxpY2U6")),
            Some(("alice".to_owned(), String::new()))
        );
        for bad in [
            "Bearer YWxpY2U6b3Blbg==",
            "Basic !!!",
            "Basic YWxpY2U=",
            "Basic",
        ] {
            assert_eq!(basic_credentials(&header(bad)), None, "{bad}");
        }
        assert_ne!(digest("ab", "c"), digest("a", "bc"));
    }
}
