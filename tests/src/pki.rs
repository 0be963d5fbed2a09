//! Certificates for the TLS tests, made with the `openssl` command line (which `.ci/run`
//! installs), and an HTTPS client over them.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::{Response, parse_response};

/// A directory of test certificates, removed when dropped: two CAs (`ca`, `other-ca`), a
/// server certificate (`server`, for `localhost` and `127.0.0.1`, from `ca`), a client
/// certificate from each CA (`client` from `ca`, `stranger` from `other-ca`). Each `name`
/// has `name.crt` and `name.key`.
pub struct Pki {
    /// Where the files are.
    pub dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect(
            "the openssl command line must be installed (apt-get install openssl); .ci/run does it",
        );
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// Makes the certificates in a fresh directory named after `tag`.
    ///
    /// # Panics
    /// When `openssl` fails: this is test code.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dynamo-pki-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki { dir };
        pki.ca("ca");
        pki.ca("other-ca");
        pki.issue("server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1");
        pki.issue("client", "ca", "subjectAltName=DNS:prometheus");
        pki.issue("stranger", "other-ca", "subjectAltName=DNS:prometheus");
        pki
    }

    /// A self-signed CA `name`.
    pub fn ca(&self, name: &str) {
        openssl(
            &self.dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }

    /// A certificate `name` signed by `ca`, with the extension line `ext`.
    pub fn issue(&self, name: &str, ca: &str, ext: &str) {
        std::fs::write(self.dir.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            &self.dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }

    /// The path of `file` in the directory.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// A client that trusts `ca` and presents the certificate `client`, if any.
    ///
    /// # Panics
    /// When the files cannot be read: this is test code.
    pub fn client(&self, ca: &str, client: Option<&str>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.path(&format!("{ca}.crt"))).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        Arc::new(match client {
            None => builder.with_no_client_auth(),
            Some(name) => {
                let chain = CertificateDer::pem_file_iter(self.path(&format!("{name}.crt")))
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
                let key = PrivateKeyDer::from_pem_file(self.path(&format!("{name}.key"))).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
        })
    }
}

/// `GET path` over TLS to `addr` as `localhost`, with `Connection: close` and more request
/// headers; the response, or the error of the handshake or the connection.
///
/// # Errors
/// When the TLS handshake fails or the server closes without answering.
pub fn https_get(
    addr: SocketAddr,
    client: Arc<rustls::ClientConfig>,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let name = ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(client, name).map_err(std::io::Error::other)?;
    let socket = TcpStream::connect(addr)?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(connection, socket);
    crate::write_request(&mut tls, "GET", "localhost", path, headers)?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // A server that closes without close_notify after a complete answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    if raw.is_empty() {
        return Err(std::io::Error::other("closed without an answer"));
    }
    Ok(parse_response(&raw))
}
