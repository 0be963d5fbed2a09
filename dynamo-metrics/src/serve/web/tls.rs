//! `tls_server_config`: certificates and keys (inline or by file), client certificate
//! verification as Go's `client_auth_type` names it, versions, cipher suites, curves, into a
//! rustls server configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use yaml_rust2::Yaml;

use super::file::{bad, entries, lookup, string, strings};
use crate::error::Result;

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
            Pem::File(file) => read_small_file(file)
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

/// The largest certificate or key file read: PEM files are kilobytes.
const MAX_PEM_FILE: u64 = 1 << 20;

/// The bytes of the regular file `file`, at most [`MAX_PEM_FILE`] of them: a name that
/// points at a device, a pipe or a huge file is an error, not a read that never ends.
fn read_small_file(file: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind, Read as _};
    if !std::fs::metadata(file)?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(file)?
        .take(MAX_PEM_FILE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("larger than {MAX_PEM_FILE} bytes"),
        ));
    }
    Ok(bytes)
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

/// The rustls configuration of `tls_server_config`, `None` when it is empty.
pub(super) fn tls_config(
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
