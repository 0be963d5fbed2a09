//! The system status server over real sockets: routes, status codes, content type, health,
//! port in use, graceful shutdown.

use std::net::{SocketAddr, TcpStream};

use dynamo_metrics::{
    DistributedRuntime, Error, MetricsRegistry, RuntimeConfig, SystemServerConfig,
};
use dynamo_metrics_tests::request;

fn loopback(port: u16) -> SystemServerConfig {
    SystemServerConfig::at(([127, 0, 0, 1], port))
}

async fn started() -> (DistributedRuntime, SocketAddr) {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let addr = rt.start_system_server(loopback(0)).await.unwrap();
    (rt, addr)
}

async fn get(
    addr: SocketAddr,
    method: &'static str,
    path: &'static str,
) -> dynamo_metrics_tests::Response {
    tokio::task::spawn_blocking(move || request(addr, method, path))
        .await
        .unwrap()
}

/// `GET /metrics`, checked for status and content type.
async fn get_metrics(addr: SocketAddr) -> dynamo_metrics_tests::Response {
    let r = get(addr, "GET", "/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    r
}

#[tokio::test]
async fn metrics_route_serves_the_render() {
    let (rt, addr) = started().await;
    assert_eq!(rt.system_server_addr(), Some(addr));
    assert_ne!(addr.port(), 0, "port 0 resolves to the bound port");
    rt.namespace("n")
        .unwrap()
        .create_intcounter("hits_total", "Hits", &[])
        .unwrap()
        .inc_by(9);
    let r = get_metrics(addr).await;
    assert!(
        r.body
            .contains("dynamo_component_hits_total{dynamo_namespace=\"n\"} 9\n"),
        "{}",
        r.body
    );
    assert!(r.body.contains("dynamo_component_uptime_seconds "));
    let head = get(addr, "HEAD", "/metrics").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    rt.shutdown().await;
}

#[tokio::test]
async fn health_and_live_follow_readiness() {
    let (rt, addr) = started().await;
    for path in ["/health", "/live"] {
        let r = get(addr, "GET", path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(json["status"], "ready");
        assert!(json["uptime_seconds"].as_f64().unwrap() >= 0.0);
    }
    rt.set_ready(false);
    for path in ["/health", "/live"] {
        let r = get(addr, "GET", path).await;
        assert_eq!(r.status, 503, "{path}");
        let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(json["status"], "notready");
    }
    rt.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let (rt, addr) = started().await;
    assert_eq!(get(addr, "GET", "/nope").await.status, 404);
    assert_eq!(get(addr, "GET", "/metrics/extra").await.status, 404);
    let r = get(addr, "POST", "/metrics").await;
    assert_eq!(r.status, 405);
    assert!(
        r.header("allow").unwrap().contains("GET"),
        "{:?}",
        r.headers
    );
    assert_eq!(get(addr, "DELETE", "/health").await.status, 405);
    assert_eq!(get(addr, "PUT", "/live").await.status, 405);
    rt.shutdown().await;
}

#[tokio::test]
async fn port_in_use_is_a_clear_error() {
    let (rt, addr) = started().await;
    let other = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let err = other
        .start_system_server(loopback(addr.port()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Bind { addr: a, .. } if a == addr),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("system status server cannot listen on {addr}: ")),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("in use"), "{msg}");
    // Starting twice on one runtime is refused too.
    let err = rt.start_system_server(loopback(0)).await.unwrap_err();
    assert!(matches!(err, Error::ServerRunning { .. }));
    rt.shutdown().await;
}

#[tokio::test]
async fn from_config_starts_the_server_and_shutdown_stops_it() {
    let mut config = RuntimeConfig::default();
    let mut server = loopback(0);
    server.header_read_timeout = std::time::Duration::from_secs(60);
    config.system_server = Some(server);
    config.starting_ready = false;
    let rt = DistributedRuntime::from_config(config).await.unwrap();
    let addr = rt.system_server_addr().unwrap();
    assert_eq!(get(addr, "GET", "/health").await.status, 503);
    // A connection that never sends a byte does not hold shutdown back until its timeout.
    let idle = TcpStream::connect(addr).unwrap();
    // Connections are accepted in order: once a later one is answered, the idle one is held.
    assert_eq!(get(addr, "GET", "/health").await.status, 503);
    // Far below the idle connection's 60 s header timeout.
    tokio::time::timeout(std::time::Duration::from_secs(30), rt.shutdown())
        .await
        .expect("shutdown waited for an idle connection's header timeout");
    drop(idle);
    assert_eq!(rt.system_server_addr(), None);
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn a_slow_client_does_not_block_others() {
    let mut config = loopback(0);
    config.max_connections = 2;
    config.header_read_timeout = std::time::Duration::from_millis(300);
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let addr = rt.start_system_server(config).await.unwrap();
    // Two idle connections take every slot: one more is answered 503, not queued (queued, it
    // would be answered 200 once the header timeout closed an idle one). Until the server
    // has accepted both, a request may still find a slot.
    let mut idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = get(addr, "GET", "/health").await;
        if r.status == 503 {
            assert_eq!(r.header("retry-after"), Some("1"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never refused: {r:?}");
    }
    // The header timeout closes the idle ones (the server ends their streams) and frees
    // their slots.
    let idle = tokio::task::spawn_blocking(move || {
        for s in &mut idle {
            s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
                .unwrap();
            let mut buf = [0u8; 1];
            assert!(
                matches!(std::io::Read::read(s, &mut buf), Ok(0)),
                "an idle connection was not closed"
            );
        }
        idle
    })
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while get(addr, "GET", "/health").await.status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "no slot after the idle connections closed"
        );
    }
    let text = rt.render();
    assert!(
        text.contains("dynamo_metrics_refused_total{what=\"connection\"} 1\n"),
        "{text}"
    );
    drop(idle);
    rt.shutdown().await;
}

#[tokio::test]
async fn metrics_router_mounts_in_an_application_router() {
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    rt.create_intcounter("mounted_total", "Hits", &[])
        .unwrap()
        .inc_by(4);
    // An application with its own routes and state, and ours merged in.
    let app: axum::Router = axum::Router::new()
        .route(
            "/app",
            axum::routing::get(
                |axum::extract::State(greeting): axum::extract::State<&'static str>| async move {
                    greeting
                },
            ),
        )
        .merge(rt.metrics_router())
        .with_state("hello");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let r = get_metrics(addr).await;
    assert!(
        r.body.contains("dynamo_component_mounted_total 4\n"),
        "{}",
        r.body
    );
    assert_eq!(get(addr, "GET", "/app").await.body, "hello");
    assert_eq!(get(addr, "GET", "/live").await.status, 200);
    rt.set_ready(false);
    assert_eq!(get(addr, "GET", "/health").await.status, 503);
    // The routes hold the runtime weakly: dropped, they answer 503.
    drop(rt);
    assert_eq!(get(addr, "GET", "/metrics").await.status, 503);
    server.abort();
}

#[tokio::test]
async fn what_outlives_the_grace_period_is_cancelled() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Sets its flag when the handler's future is dropped.
    struct Dropped(Arc<AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let (entered, mut in_flight) = tokio::sync::mpsc::unbounded_channel::<()>();
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::get(move || {
            let guard = Dropped(flag.clone());
            let _ = entered.send(());
            async move {
                std::future::pending::<()>().await;
                drop(guard);
            }
        }),
    );
    let rt = DistributedRuntime::with_config(
        &dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = loopback(0);
    config.shutdown_grace = std::time::Duration::from_millis(200);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = {
        let rt = rt.clone();
        tokio::spawn(async move {
            rt.serve(listener, app, &config, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        })
    };
    let client = tokio::task::spawn_blocking(move || request(addr, "GET", "/slow"));
    in_flight
        .recv()
        .await
        .expect("the request reached its handler");
    assert!(!dropped.load(Ordering::SeqCst));
    stop.send(()).unwrap();
    serving.await.unwrap();
    assert!(
        dropped.load(Ordering::SeqCst),
        "the request was left running after serve returned"
    );
    let _ = client.await;
}
