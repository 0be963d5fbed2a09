//! Our encoders and hot paths beside the peers', in one process, the cases interleaved round
//! by round so that a noisy neighbour hits every side alike. Prints one table (median per
//! operation or render, and the ratio to each of the case's peers; per series and per byte for
//! renders), then the memory per series.
//!
//! `--quick`: one round, for CI. Its times mean nothing; it checks that every library's render
//! holds the same 10,000 samples with the same values, so that a broken case cannot look fast.
//! `--only TEXT`: only the groups whose name contains TEXT (or one of `A|B|..`), to profile
//! them. `--scaling`: the cost per series at 10,000, 100,000 and 1,000,000 series instead
//! (see `scaling.rs`).

mod hot;
mod labels;
mod mem;
mod otlp;
mod pinned;
mod relay;
mod render;
mod scaling;
mod scrape;

#[global_allocator]
static ALLOCATOR: mem::Counting = mem::Counting;

/// A runtime whose series carry the labels the peers' do: no `worker_id` (a worker's id
/// adds one label to every series; `mem` measures what it costs).
fn runtime() -> dynamo_metrics::DistributedRuntime {
    let config =
        dynamo_metrics::RuntimeConfig::default().with_worker_id(dynamo_metrics::WorkerId::Off);
    dynamo_metrics::DistributedRuntime::with_config(&config).expect("runtime")
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, library, n, runs] = &args[..]
        && flag == "--scaling-one"
    {
        scaling::print_one(
            library,
            n.parse().expect("series"),
            runs.parse().expect("runs"),
        );
        return;
    }
    if std::env::args().any(|a| a == "--scaling") {
        scaling::print(quick);
        return;
    }
    // First of all: the process's first striped value, counted on a pinned thread.
    let (pinned_runtime, pinned_counter) = pinned::striped_on_a_pinned_thread();
    let mut cases = render::cases();
    cases.extend(labels::cases());
    cases.extend(hot::cases());
    cases.extend(otlp::cases());
    cases.extend(relay::cases());
    cases.extend(pinned::cases(pinned_runtime, pinned_counter));
    if let Some(only) = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
    {
        cases.retain(|c| {
            only.split('|')
                .any(|o| c.group.contains(o) || format!("{} / {}", c.group, c.name).contains(o))
        });
    }
    if quick {
        let mut failed = Vec::new();
        for c in &mut cases {
            if let Some(check) = &mut c.check {
                match check() {
                    Ok(bytes) => println!(
                        "page of {}: holds the samples it was given, {bytes} bytes",
                        c.name
                    ),
                    Err(e) => failed.push(format!("{} / {}: {e}", c.group, c.name)),
                }
            }
        }
        if !failed.is_empty() {
            eprintln!(
                "pages that do not hold the expected samples:\n{}",
                failed.join("\n")
            );
            std::process::exit(1);
        }
    }
    hot::run(
        &mut cases,
        if quick { 1 } else { 31 },
        if quick { 1_000 } else { 200_000 },
    );
    hot::print(&cases, quick);
    mem::print();
}
