//! OTLP receivers on loopback built from the official definitions (the generated types of
//! `opentelemetry-proto`): a gRPC `MetricsService` served by tonic, and an HTTP/protobuf
//! endpoint. Each keeps what it received and answers as a test scripts it.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
pub use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use prost::Message;
use tokio::sync::oneshot;

/// What the receiver answers to one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Taken whole.
    Ok,
    /// Taken, with this many points rejected.
    Partial(i64),
    /// HTTP: this status, with `Retry-After` seconds if given.
    Http(u16, Option<u64>),
    /// gRPC: this code, with a `google.rpc.RetryInfo` delay if given.
    Grpc(tonic::Code, Option<Duration>),
    /// No answer at all (the request is kept).
    Hang,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<ExportMetricsServiceRequest>>,
    bodies: Mutex<Vec<Vec<u8>>>,
    headers: Mutex<Vec<HeaderMap>>,
    attempts: AtomicUsize,
    script: Mutex<VecDeque<Answer>>,
}

impl Shared {
    /// Counts a request and gives its answer: the next scripted one, else `Ok`.
    fn next(&self) -> Answer {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Answer::Ok)
    }

    fn keep(&self, request: ExportMetricsServiceRequest) {
        self.requests.lock().unwrap().push(request);
    }
}

/// A receiver on a loopback port; stops when dropped.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    grpc: bool,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

fn response(rejected: i64) -> ExportMetricsServiceResponse {
    ExportMetricsServiceResponse {
        partial_success: (rejected > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: rejected,
            error_message: "points rejected by the test".to_owned(),
        }),
    }
}

struct Grpc(Arc<Shared>);

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let answer = self.0.next();
        self.0
            .headers
            .lock()
            .unwrap()
            .push(request.metadata().clone().into_headers());
        self.0.keep(request.into_inner());
        match answer {
            Answer::Ok => Ok(tonic::Response::new(response(0))),
            Answer::Partial(n) => Ok(tonic::Response::new(response(n))),
            Answer::Grpc(code, delay) => Err(match delay {
                Some(delay) => {
                    tonic::Status::with_details(code, "scripted", retry_info(delay).into())
                }
                None => tonic::Status::new(code, "scripted"),
            }),
            Answer::Http(..) => Err(tonic::Status::internal("an HTTP answer scripted for gRPC")),
            Answer::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Err(tonic::Status::unavailable("hung"))
            }
        }
    }
}

/// A `google.rpc.Status` with one `google.rpc.RetryInfo` detail, encoded by hand.
fn retry_info(delay: Duration) -> Vec<u8> {
    let mut duration = Vec::new();
    prost::encoding::int64::encode(1, &i64::try_from(delay.as_secs()).unwrap(), &mut duration);
    prost::encoding::int32::encode(
        2,
        &i32::try_from(delay.subsec_nanos()).unwrap(),
        &mut duration,
    );
    let mut info = Vec::new();
    prost::encoding::bytes::encode(1, &duration, &mut info);
    let mut any = Vec::new();
    prost::encoding::string::encode(
        1,
        &"type.googleapis.com/google.rpc.RetryInfo".to_owned(),
        &mut any,
    );
    prost::encoding::bytes::encode(2, &info, &mut any);
    let mut status = Vec::new();
    prost::encoding::int32::encode(1, &8, &mut status);
    prost::encoding::bytes::encode(3, &any, &mut status);
    status
}

async fn http_export(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let answer = shared.next();
    let body = if headers.get("content-encoding").is_some_and(|e| e == "gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        body.to_vec()
    };
    let request =
        ExportMetricsServiceRequest::decode(&body[..]).expect("an ExportMetricsServiceRequest");
    shared.bodies.lock().unwrap().push(body);
    shared.headers.lock().unwrap().push(headers);
    shared.keep(request);
    let mut out = HeaderMap::new();
    match answer {
        Answer::Ok => (StatusCode::OK, out, response(0).encode_to_vec()),
        Answer::Partial(n) => (StatusCode::OK, out, response(n).encode_to_vec()),
        Answer::Http(status, after) => {
            if let Some(after) = after {
                out.insert("retry-after", after.into());
            }
            (StatusCode::from_u16(status).unwrap(), out, Vec::new())
        }
        Answer::Grpc(..) => (StatusCode::INTERNAL_SERVER_ERROR, out, Vec::new()),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            (StatusCode::OK, out, Vec::new())
        }
    }
}

impl Receiver {
    /// A gRPC receiver (gzip accepted).
    pub async fn grpc() -> Self {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let service = MetricsServiceServer::new(Grpc(shared.clone()))
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );
        Receiver {
            addr,
            grpc: true,
            shared,
            _stop: stop,
        }
    }

    /// An HTTP/protobuf receiver at `/v1/metrics` (gzip accepted).
    pub async fn http() -> Self {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = axum::Router::new()
            .route("/v1/metrics", axum::routing::post(http_export))
            .with_state(shared.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Receiver {
            addr,
            grpc: false,
            shared,
            _stop: stop,
        }
    }

    /// The endpoint to configure: `http://addr` for gRPC, `http://addr/v1/metrics` for HTTP.
    pub fn endpoint(&self) -> String {
        if self.grpc {
            format!("http://{}", self.addr)
        } else {
            format!("http://{}/v1/metrics", self.addr)
        }
    }

    /// Queues answers for the next requests (then `Ok` again).
    pub fn answer(&self, answers: impl IntoIterator<Item = Answer>) {
        self.shared.script.lock().unwrap().extend(answers);
    }

    /// Every request received, decoded.
    pub fn requests(&self) -> Vec<ExportMetricsServiceRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The bodies of the HTTP requests received, uncompressed.
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.shared.bodies.lock().unwrap().clone()
    }

    /// The headers (gRPC metadata) of every request received.
    pub fn headers(&self) -> Vec<HeaderMap> {
        self.shared.headers.lock().unwrap().clone()
    }

    /// How many requests came, answered or not.
    pub fn attempts(&self) -> usize {
        self.shared.attempts.load(Ordering::SeqCst)
    }
}
