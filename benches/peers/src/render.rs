//! Renders of the same 10,000 counter series by every library, in every format it speaks:
//! the same lines (name, labels in the same order, values) on every side, so that time per
//! series and time per byte both compare like with like. Each render case can render one page
//! for checking: the quick run asserts that every page holds the 10,000 expected samples.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use dynamo_metrics::{Format, MetricsRegistry};
use measured::{CounterVec, LabelGroup, MetricGroup};
use paracord::ParaCord;
use prometheus::Encoder as _;
use prometheus_client::encoding::EncodeLabelSet;

use crate::hot::Case;

/// 100 endpoints x 100 ids.
pub const ENDPOINTS: usize = 100;
pub const IDS: usize = 100;
pub const SERIES: usize = ENDPOINTS * IDS;

/// The family every library renders.
pub const NAME: &str = "dynamo_component_render_requests_total";

/// The value of series (endpoint `e`, id `i`).
pub fn value(e: usize, i: usize) -> u64 {
    (e * IDS + i) as u64 * 7919
}

/// The id of series `i` of an endpoint: two digits, so that no two series' label values
/// concatenate to the same string. The `prometheus` crate (0.14) keys a family's series by a
/// hash of the values concatenated, and merges series such as `{endpoint="ep1",id="10"}` and
/// `{endpoint="ep11",id="0"}` into one: with plain ids it rendered 9,190 of the 10,000.
pub fn id_of(i: usize) -> String {
    format!("{i:02}")
}

/// The labels of series (endpoint `e`, id `i`) as every text page writes them.
fn labels(e: usize, i: usize) -> String {
    format!(
        "dynamo_namespace=\"ns\",dynamo_component=\"comp\",dynamo_endpoint=\"ep{e}\",id=\"{}\"",
        id_of(i)
    )
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    dynamo_namespace: String,
    dynamo_component: String,
    dynamo_endpoint: String,
    id: String,
}

#[derive(MetricGroup)]
struct MeasuredRender {
    /// Requests
    dynamo_component_render_requests_total: CounterVec<MeasuredSeriesSet>,
}

#[derive(Clone, Copy, PartialEq, Debug, LabelGroup)]
#[label(set = MeasuredSeriesSet)]
struct MeasuredSeries<'a> {
    #[label(dynamic_with = ParaCord)]
    dynamo_namespace: &'a str,
    #[label(dynamic_with = ParaCord)]
    dynamo_component: &'a str,
    #[label(dynamic_with = ParaCord)]
    dynamo_endpoint: &'a str,
    #[label(dynamic_with = ParaCord)]
    id: &'a str,
}

/// A render: writes one page and hands it to the sink.
type Render = Rc<RefCell<dyn FnMut(&mut dyn FnMut(&[u8]))>>;

/// The page formats, for the checks.
#[derive(Clone, Copy)]
enum Page {
    Text,
    Protobuf,
}

/// The render groups and the cold-cache group, the names compared after the table.
pub const TEXT: &str = "render 10,000 series, text 0.0.4";
pub const COLD: &str = "render 10,000 series, text, cold caches";
const OPENMETRICS: &str = "render 10,000 series, OpenMetrics";
const PROTOBUF: &str = "render 10,000 series, protobuf";
pub const OURS: &str = "dynamo render_into (reused buffer)";
pub const FLOOR: &str = "floor: the same lines pre-rendered + itoa (reused buffer)";
const OURS_NEW: &str = "dynamo render() (a new String, as a scrape)";
const PROMETHEUS: &str = "prometheus gather + TextEncoder (reused buffer)";
const PROMETHEUS_NEW: &str = "prometheus gather + TextEncoder (a new String)";
const MEASURED: &str = "measured BufferedTextEncoder (reused buffer)";
pub const OURS_COLD: &str = "dynamo render_into, cold";
pub const FLOOR_COLD: &str = "floor, cold";
const MEASURED_COLD: &str = "measured BufferedTextEncoder, cold";

/// Every render case, on one set of 10,000 series per library.
pub fn cases() -> Vec<Case> {
    // Ours: 100 endpoints, each with a family of 100 ids, so the hierarchy labels come first.
    let rt = crate::runtime();
    let comp = rt
        .namespace("ns")
        .expect("ns")
        .component("comp")
        .expect("comp");
    let theirs = prometheus::IntCounterVec::new(
        prometheus::Opts::new(NAME, "Requests"),
        &[
            "dynamo_namespace",
            "dynamo_component",
            "dynamo_endpoint",
            "id",
        ],
    )
    .expect("vec");
    let prometheus_registry = prometheus::Registry::new();
    prometheus_registry
        .register(Box::new(theirs.clone()))
        .expect("register");
    let client_family = prometheus_client::metrics::family::Family::<
        ClientLabels,
        prometheus_client::metrics::counter::Counter,
    >::default();
    let mut client_registry = prometheus_client::registry::Registry::default();
    client_registry.register(
        NAME.strip_suffix("_total").expect("a counter"),
        "Requests",
        client_family.clone(),
    );
    let measured_metrics = MeasuredRender {
        dynamo_component_render_requests_total: CounterVec::with_label_set(MeasuredSeriesSet {
            dynamo_namespace: ParaCord::default(),
            dynamo_component: ParaCord::default(),
            dynamo_endpoint: ParaCord::default(),
            id: ParaCord::default(),
        }),
    };
    let mut floor_lines = Vec::with_capacity(SERIES);
    for e in 0..ENDPOINTS {
        let endpoint = format!("ep{e}");
        let family = comp
            .endpoint(&endpoint)
            .expect("endpoint")
            .create_intcountervec("render_requests_total", "Requests", &["id"], &[])
            .expect("vec")
            .max_series(IDS);
        for i in 0..IDS {
            let (id, n) = (id_of(i), value(e, i));
            family.with_label_values(&[&id]).expect("series").inc_by(n);
            theirs
                .with_label_values(&["ns", "comp", &endpoint, &id])
                .inc_by(n);
            client_family
                .get_or_create(&ClientLabels {
                    dynamo_namespace: "ns".into(),
                    dynamo_component: "comp".into(),
                    dynamo_endpoint: endpoint.clone(),
                    id: id.clone(),
                })
                .inc_by(n);
            measured_metrics
                .dynamo_component_render_requests_total
                .inc_by(
                    MeasuredSeries {
                        dynamo_namespace: "ns",
                        dynamo_component: "comp",
                        dynamo_endpoint: &endpoint,
                        id: &id,
                    },
                    n,
                );
            floor_lines.push((format!("{NAME}{{{}}} ", labels(e, i)), n));
        }
    }

    let ours: Render = {
        let (rt, mut buf) = (rt.clone(), String::new());
        Rc::new(RefCell::new(move |sink: &mut dyn FnMut(&[u8])| {
            buf.clear();
            rt.render_into(&mut buf);
            sink(buf.as_bytes());
        }))
    };
    let ours_new: Render = {
        let rt = rt.clone();
        Rc::new(RefCell::new(move |sink: &mut dyn FnMut(&[u8])| {
            sink(rt.render().as_bytes())
        }))
    };
    let prometheus: Render = {
        let (registry, mut buf) = (prometheus_registry.clone(), String::new());
        Rc::new(RefCell::new(move |sink: &mut dyn FnMut(&[u8])| {
            buf.clear();
            prometheus::TextEncoder::new()
                .encode_utf8(&registry.gather(), &mut buf)
                .expect("encode");
            sink(buf.as_bytes());
        }))
    };
    let prometheus_new: Render = {
        let registry = prometheus_registry.clone();
        Rc::new(RefCell::new(move |sink: &mut dyn FnMut(&[u8])| {
            let mut out = String::new();
            prometheus::TextEncoder::new()
                .encode_utf8(&registry.gather(), &mut out)
                .expect("encode");
            sink(out.as_bytes());
        }))
    };
    let measured: Render = {
        let mut enc = measured::text::BufferedTextEncoder::new();
        Rc::new(RefCell::new(move |sink: &mut dyn FnMut(&[u8])| {
            measured_metrics
                .collect_group_into(&mut enc)
                .expect("encode");
            sink(&enc.finish());
        }))
    };
    let floor: Render = {
        let mut out = String::new();
        Rc::new(RefCell::new(move |sink: &mut dyn FnMut(&[u8])| {
            out.clear();
            out.push_str("# HELP ");
            out.push_str(NAME);
            out.push_str(" Requests\n# TYPE ");
            out.push_str(NAME);
            out.push_str(" counter\n");
            let mut itoa = itoa::Buffer::new();
            for (prefix, n) in &floor_lines {
                out.push_str(prefix);
                out.push_str(itoa.format(*n));
                out.push('\n');
            }
            sink(out.as_bytes());
        }))
    };
    let ours_openmetrics: Render = {
        let rt = rt.clone();
        Rc::new(RefCell::new(move |sink: &mut dyn FnMut(&[u8])| {
            sink(&rt.encode(Format::OpenMetrics, Some(&[NAME])))
        }))
    };
    let client: Render = Rc::new(RefCell::new(move |sink: &mut dyn FnMut(&[u8])| {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &client_registry).expect("encode");
        sink(out.as_bytes());
    }));
    let ours_protobuf: Render = Rc::new(RefCell::new(move |sink: &mut dyn FnMut(&[u8])| {
        sink(&rt.encode(Format::Protobuf, Some(&[NAME])))
    }));
    let prometheus_protobuf: Render = Rc::new(RefCell::new(move |sink: &mut dyn FnMut(&[u8])| {
        let mut out = Vec::new();
        prometheus::ProtobufEncoder::new()
            .encode(&prometheus_registry.gather(), &mut out)
            .expect("encode");
        sink(&out);
    }));

    let sweep = Rc::new(RefCell::new(vec![0u8; sweep_bytes()]));
    vec![
        render_case(
            TEXT,
            OURS,
            &[MEASURED, PROMETHEUS, FLOOR],
            Page::Text,
            &ours,
            None,
        ),
        render_case(
            TEXT,
            OURS_NEW,
            &[PROMETHEUS_NEW],
            Page::Text,
            &ours_new,
            None,
        ),
        render_case(TEXT, PROMETHEUS, &[], Page::Text, &prometheus, None),
        render_case(TEXT, PROMETHEUS_NEW, &[], Page::Text, &prometheus_new, None),
        render_case(TEXT, MEASURED, &[], Page::Text, &measured, None),
        render_case(TEXT, FLOOR, &[], Page::Text, &floor, None),
        render_case(
            COLD,
            OURS_COLD,
            &[MEASURED_COLD, FLOOR_COLD],
            Page::Text,
            &ours,
            Some(&sweep),
        ),
        render_case(
            COLD,
            MEASURED_COLD,
            &[],
            Page::Text,
            &measured,
            Some(&sweep),
        ),
        render_case(COLD, FLOOR_COLD, &[], Page::Text, &floor, Some(&sweep)),
        render_case(
            OPENMETRICS,
            "dynamo encode, OpenMetrics",
            &["prometheus-client encode"],
            Page::Text,
            &ours_openmetrics,
            None,
        ),
        render_case(
            OPENMETRICS,
            "prometheus-client encode",
            &[],
            Page::Text,
            &client,
            None,
        ),
        render_case(
            PROTOBUF,
            "dynamo encode, protobuf",
            &["prometheus gather + ProtobufEncoder"],
            Page::Protobuf,
            &ours_protobuf,
            None,
        ),
        render_case(
            PROTOBUF,
            "prometheus gather + ProtobufEncoder",
            &[],
            Page::Protobuf,
            &prometheus_protobuf,
            None,
        ),
    ]
}

/// Twice the machine's last-level cache (read from sysfs; 32 MiB where it cannot be read), so
/// that a sweep of it leaves nothing of a render's data in any cache.
fn sweep_bytes() -> usize {
    let largest = (0..8)
        .filter_map(|i| {
            let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
            let size = std::fs::read_to_string(format!("{dir}/size")).ok()?;
            let size = size.trim();
            let (digits, unit) = size.split_at(size.find(|c: char| !c.is_ascii_digit())?);
            let n: usize = digits.parse().ok()?;
            Some(match unit {
                "K" => n << 10,
                "M" => n << 20,
                _ => n,
            })
        })
        .max();
    2 * largest.unwrap_or(32 << 20)
}

/// A render case of `group`: times `render` (each render after a sweep of `sweep`, untimed,
/// when given), keeps its page's size for the per-byte ratios, and checks one page on demand.
fn render_case(
    group: &'static str,
    name: &'static str,
    peers: &[&'static str],
    page: Page,
    render: &Render,
    sweep: Option<&Rc<RefCell<Vec<u8>>>>,
) -> Case {
    let bytes = Rc::new(Cell::new(0));
    let (timed, size, sweep) = (render.clone(), bytes.clone(), sweep.cloned());
    let checked = render.clone();
    Case {
        group,
        name,
        peers: peers.to_vec(),
        run: Box::new(move |renders| {
            let mut took = Duration::ZERO;
            let mut render = timed.borrow_mut();
            for _ in 0..renders {
                if let Some(sweep) = &sweep {
                    let mut sweep = sweep.borrow_mut();
                    for b in sweep.iter_mut().step_by(64) {
                        *b = b.wrapping_add(1);
                    }
                    std::hint::black_box(&*sweep);
                }
                let start = Instant::now();
                render(&mut |out| size.set(std::hint::black_box(out).len()));
                took += start.elapsed();
            }
            took
        }),
        times: Vec::new(),
        bytes: Some(bytes),
        check: Some(Box::new(move || {
            let mut result = Err("no page".to_owned());
            (checked.borrow_mut())(&mut |out| {
                result = match page {
                    Page::Text => check_text(out),
                    Page::Protobuf => check_protobuf(out),
                }
                .map(|()| out.len());
            });
            result
        })),
    }
}

/// Whether `samples` (labels as the text formats write them, in any order, and the value) are
/// the 10,000 expected.
fn check_samples(samples: Vec<(String, f64)>) -> Result<(), String> {
    // The label pairs sorted: `prometheus` writes them sorted by name, the others as given.
    let sorted = |labels: &str| {
        let mut pairs: Vec<&str> = labels.split(',').collect();
        pairs.sort_unstable();
        pairs.join(",")
    };
    let mut samples: Vec<(String, f64)> = samples
        .into_iter()
        .map(|(labels, v)| (sorted(&labels), v))
        .collect();
    let mut expected: Vec<(String, f64)> = (0..ENDPOINTS)
        .flat_map(|e| (0..IDS).map(move |i| (labels(e, i), value(e, i) as f64)))
        .map(|(labels, v)| (sorted(&labels), v))
        .collect();
    if samples.len() != SERIES {
        return Err(format!("{} samples of {NAME}, not {SERIES}", samples.len()));
    }
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    match samples
        .iter()
        .zip(&expected)
        .find(|(got, want)| got != want)
    {
        Some((got, want)) => Err(format!("{got:?} where {want:?} was expected")),
        None => Ok(()),
    }
}

/// A text page (0.0.4 or OpenMetrics): its samples of the family, in full.
fn check_text(page: &[u8]) -> Result<(), String> {
    let page = std::str::from_utf8(page).map_err(|e| e.to_string())?;
    let prefix = format!("{NAME}{{");
    let samples = page
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            let (labels, value) = rest
                .rsplit_once("} ")
                .ok_or_else(|| format!("not a sample: {rest}"))?;
            let value = value.parse().map_err(|e| format!("{value}: {e}"))?;
            Ok((labels.to_owned(), value))
        })
        .collect::<Result<Vec<_>, String>>()?;
    check_samples(samples)
}

/// A protobuf page (length-delimited `MetricFamily` messages): the family's counters, read by
/// the `prometheus` crate's own protobuf model.
fn check_protobuf(mut page: &[u8]) -> Result<(), String> {
    use protobuf::Message as _;
    let mut samples = Vec::new();
    while !page.is_empty() {
        let mut input = protobuf::CodedInputStream::from_bytes(page);
        let len = input.read_raw_varint64().map_err(|e| e.to_string())? as usize;
        let at = input.pos() as usize;
        let message = page.get(at..at + len).ok_or("a cut message")?;
        let family = prometheus::proto::MetricFamily::parse_from_bytes(message)
            .map_err(|e| e.to_string())?;
        page = &page[at + len..];
        if family.name() != NAME {
            continue;
        }
        for m in family.get_metric() {
            let labels: Vec<String> = m
                .get_label()
                .iter()
                .map(|l| format!("{}=\"{}\"", l.name(), l.value()))
                .collect();
            samples.push((labels.join(","), m.get_counter().value()));
        }
    }
    check_samples(samples)
}
