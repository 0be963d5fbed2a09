//! The status server with a web configuration file (exporter-toolkit format): TLS, basic
//! auth, client certificates, headers, reloads, and a real Prometheus scraping it over
//! https. Certificates come from the `openssl` command line.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dynamo_metrics::{DistributedRuntime, Error, RuntimeConfig, SystemServerConfig};
use dynamo_metrics_tests::pki::{Pki, https_get};
use dynamo_metrics_tests::{Prometheus, encode, request};

/// `user:password` in a Basic authorization header.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

/// A runtime whose status server uses the web configuration `yaml`, written next to the
/// certificates of `pki`.
async fn serve(pki: &Pki, yaml: &str) -> Result<(DistributedRuntime, SocketAddr), Error> {
    serve_with(pki, yaml, SystemServerConfig::at(([127, 0, 0, 1], 0))).await
}

/// As [`serve`], with the other settings of `server`.
async fn serve_with(
    pki: &Pki,
    yaml: &str,
    mut server: SystemServerConfig,
) -> Result<(DistributedRuntime, SocketAddr), Error> {
    let file = pki.path("web.yml");
    std::fs::write(&file, yaml).unwrap();
    server.web_config_file = Some(file);
    let mut config = RuntimeConfig::default();
    config.system_server = Some(server);
    config.gpu = None;
    // Without `worker_id`, expected lines are written out whole.
    config.worker_id = dynamo_metrics::WorkerId::Off;
    let rt = DistributedRuntime::from_config(config).await?;
    let addr = rt.system_server_addr().unwrap();
    Ok((rt, addr))
}

async fn get(
    addr: SocketAddr,
    client: std::sync::Arc<rustls::ClientConfig>,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
) -> std::io::Result<dynamo_metrics_tests::Response> {
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        https_get(addr, client, path, &headers)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn tls_with_basic_auth_and_headers() {
    let pki = Pki::new("auth");
    let yaml = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
         http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n    \
         Strict-Transport-Security: max-age=31536000\n\
         basic_auth_users:\n  prometheus: {}\n",
        hash("s3cret")
    );
    let (rt, addr) = serve(&pki, &yaml).await.unwrap();
    let client = pki.client("ca", None);
    let good = vec![("Authorization", basic("prometheus", "s3cret"))];

    let ok = get(addr, client.clone(), "/metrics", good.clone())
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(
        ok.body.contains("dynamo_metrics_scrapes_total 0\n"),
        "{}",
        ok.body
    );
    assert_eq!(ok.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        ok.header("strict-transport-security"),
        Some("max-age=31536000")
    );

    // Wrong password, unknown user, no credentials, another scheme: 401 with a challenge,
    // no metrics, and the headers still set.
    for headers in [
        vec![("Authorization", basic("prometheus", "wrong"))],
        vec![("Authorization", basic("nobody", "s3cret"))],
        vec![],
        vec![("Authorization", "Bearer s3cret".to_owned())],
    ] {
        let r = get(addr, client.clone(), "/metrics", headers.clone())
            .await
            .unwrap();
        assert_eq!(r.status, 401, "{headers:?}");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Basic realm=")),
            "{:?}",
            r.headers
        );
        assert!(!r.body.contains("dynamo_"), "{}", r.body);
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }

    // Probes carry no credentials: /health and /live answer without them.
    let health = get(addr, client.clone(), "/health", vec![]).await.unwrap();
    assert_eq!(health.status, 200);

    // Plain HTTP to the TLS port: 400, nothing served.
    let plain = tokio::task::spawn_blocking(move || request(addr, "GET", "/metrics"))
        .await
        .unwrap();
    assert_eq!(plain.status, 400);
    assert!(
        plain.body.contains("HTTP request to an HTTPS server"),
        "{}",
        plain.body
    );

    // A client that does not trust the server's CA: the handshake fails.
    let stranger = pki.client("other-ca", None);
    assert!(get(addr, stranger, "/metrics", good.clone()).await.is_err());

    // Refusals are counted by kind.
    let r = get(addr, client, "/metrics", good).await.unwrap();
    assert!(
        r.body
            .contains("dynamo_metrics_refused_total{what=\"auth\"} 4\n"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("dynamo_metrics_refused_total{what=\"tls\"} 2\n"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("dynamo_metrics_scrapes_total 1\n"),
        "{}",
        r.body
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn client_certificates_are_required_and_verified() {
    let pki = Pki::new("mtls");
    let yaml = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
                client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
                min_version: TLS13\n";
    let (rt, addr) = serve(&pki, yaml).await.unwrap();
    let with_cert = get(addr, pki.client("ca", Some("client")), "/metrics", vec![]).await;
    assert_eq!(with_cert.unwrap().status, 200);
    // No certificate, or one from a CA the server does not trust: refused.
    let without = get(addr, pki.client("ca", None), "/metrics", vec![]).await;
    assert!(without.is_err(), "{without:?}");
    let stranger = get(addr, pki.client("ca", Some("stranger")), "/metrics", vec![]).await;
    assert!(stranger.is_err(), "{stranger:?}");
    rt.shutdown().await;
}

/// Connections that start a handshake and stall are closed at the header timeout and
/// counted; meanwhile scrapes are served.
#[tokio::test]
async fn stalled_handshakes_are_closed() {
    use std::io::{Read, Write};
    let pki = Pki::new("stall");
    let mut server = SystemServerConfig::at(([127, 0, 0, 1], 0));
    server.header_read_timeout = Duration::from_millis(300);
    let yaml = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let (rt, addr) = serve_with(&pki, yaml, server).await.unwrap();
    let stalled: Vec<std::net::TcpStream> = (0..50)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            // A handshake record header, and nothing after it.
            s.write_all(&[0x16, 0x03, 0x01]).unwrap();
            s
        })
        .collect();
    let ok = get(addr, pki.client("ca", None), "/metrics", vec![])
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    // Each is closed by the server (end of stream, or a reset), long before the generous
    // deadline of the read: a read that times out finds it still open. (Read off the runtime's
    // thread, which serves meanwhile.)
    tokio::task::spawn_blocking(move || {
        for mut s in stalled {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut buf = [0u8; 16];
            match s.read(&mut buf) {
                Ok(0) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                other => panic!("still open: {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    let r = get(addr, pki.client("ca", None), "/metrics", vec![])
        .await
        .unwrap();
    assert!(
        r.body
            .contains("dynamo_metrics_refused_total{what=\"tls\"} 50\n"),
        "{}",
        r.body
    );
    rt.shutdown().await;
}

/// Whether `GET /metrics` with `authorization` answers 200 to `client`.
async fn scrapes(
    addr: SocketAddr,
    client: std::sync::Arc<rustls::ClientConfig>,
    authorization: String,
) -> bool {
    get(
        addr,
        client,
        "/metrics",
        vec![("Authorization", authorization)],
    )
    .await
    .is_ok_and(|r| r.status == 200)
}

/// Waits for the reload check (once a second) and for `f` to hold.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn certificates_and_users_reload_without_restart() {
    let pki = Pki::new("reload");
    let yaml = |password: &str| {
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             basic_auth_users:\n  prometheus: {}\n",
            hash(password)
        )
    };
    let (rt, addr) = serve(&pki, &yaml("old")).await.unwrap();
    let (old_ca, old) = (pki.client("ca", None), basic("prometheus", "old"));
    let ok = get(
        addr,
        old_ca.clone(),
        "/metrics",
        vec![("Authorization", old.clone())],
    );
    assert_eq!(ok.await.unwrap().status, 200);

    // A new password: the old one stops working, the new one works.
    std::fs::write(pki.path("web.yml"), yaml("new")).unwrap();
    let new = basic("prometheus", "new");
    eventually("the new password works", || {
        scrapes(addr, old_ca.clone(), new.clone())
    })
    .await;
    let r = get(
        addr,
        old_ca.clone(),
        "/metrics",
        vec![("Authorization", old)],
    )
    .await;
    assert_eq!(r.unwrap().status, 401);

    // A rotated certificate from another CA: new connections get it.
    pki.issue(
        "server",
        "other-ca",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
    );
    let new_ca = pki.client("other-ca", None);
    eventually("the rotated certificate is served", || {
        scrapes(addr, new_ca.clone(), new.clone())
    })
    .await;
    assert!(get(addr, old_ca, "/health", vec![]).await.is_err());

    // A broken file keeps the last good configuration: the reload is counted as failed, and
    // the new password and certificate still work.
    let reloads = |result: &str| {
        let text = rt.render();
        let series = format!("dynamo_metrics_web_config_reloads_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {series} in {text}"))
    };
    let succeeded = reloads("success");
    assert!(succeeded >= 2, "{succeeded} reloads taken");
    assert_eq!(reloads("failure"), 0);
    std::fs::write(pki.path("web.yml"), "tls_server_config: [").unwrap();
    eventually("the broken file is read and refused", || {
        let (ca, new) = (new_ca.clone(), new.clone());
        let failed = reloads("failure");
        async move { scrapes(addr, ca, new).await && failed == 1 }
    })
    .await;
    assert_eq!(reloads("success"), succeeded);
    assert!(scrapes(addr, new_ca, new).await);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_bad_file_is_a_startup_error_naming_the_key() {
    let pki = Pki::new("bad");
    for (yaml, key, reason) in [
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Sometimes\n",
            "tls_server_config.client_auth_type",
            "RequireAndVerifyClientCert",
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
            "tls_server_config.cert_file",
            "missing.crt",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n",
            "tls_server_config.key_file",
            "does not fit",
        ),
        (
            "basic_auth_users:\n  prometheus: plaintext\n",
            "basic_auth_users.prometheus",
            "bcrypt",
        ),
        ("tls_server_confg: {}\n", "tls_server_confg", "unknown key"),
    ] {
        let error = serve(&pki, yaml).await.unwrap_err();
        let Error::WebConfig {
            path,
            key: Some(got),
            reason: why,
        } = &error
        else {
            panic!("{error}");
        };
        assert_eq!(path, &pki.path("web.yml"));
        assert_eq!(got, key, "{error}");
        assert!(why.contains(reason), "{error}");
        assert!(error.to_string().contains(key), "{error}");
    }
}

/// Debian's Prometheus scrapes the status server over https with a client certificate and
/// basic auth; a job with a wrong password is refused.
#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_over_https_with_basic_auth() {
    let pki = Pki::new("prometheus");
    let yaml = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n\
         basic_auth_users:\n  prometheus: {}\n",
        hash("s3cret")
    );
    let (rt, addr) = serve(&pki, &yaml).await.unwrap();
    let dir = Prometheus::dir("tls");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["ca.crt", "client.crt", "client.key"] {
        std::fs::copy(pki.path(file), dir.join(file)).unwrap();
    }
    let job = |name: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: ca.crt\n      \
             cert_file: client.crt\n      key_file: client.key\n      server_name: localhost\n    \
             basic_auth:\n      username: prometheus\n      password: {password}\n    \
             static_configs:\n      - targets: [\"{addr}\"]\n"
        )
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n{}{}",
        job("good", "s3cret"),
        job("bad", "wrong")
    );
    let prometheus = tokio::task::spawn_blocking(move || Prometheus::start("tls", &config, &[]))
        .await
        .unwrap();
    let query = |q: &str| {
        let (addr, path) = (
            prometheus.addr,
            format!("/api/v1/query?query={}", encode(q)),
        );
        tokio::task::spawn_blocking(move || request(addr, "GET", &path).body)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let good =
            query("up{job=\"good\"} == 1 and on() dynamo_metrics_scrapes_total{job=\"good\"} > 0");
        let bad = query("up{job=\"bad\"} == 0");
        let (good, bad) = (good.await.unwrap(), bad.await.unwrap());
        if good.contains("\"job\":\"good\"") && bad.contains("\"job\":\"bad\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape over https: {good} / {bad}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(prometheus);
    rt.shutdown().await;
}
