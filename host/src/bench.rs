//! `quarry bench`: throughput of the plugin path against no plugin and native Rust, and the
//! plugin lifecycle, measured in one process so the ratios are comparable.
//!
//! Pipelines run interleaved (A, B, A, B, …) so that noise on a shared machine hits both
//! sides alike; each figure is the median of the rounds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::batch::{Batch, Column, ColumnBuilder, DataType, Field, Values};
use crate::plugin::{Limits, LoadedPlugin, Runtime};
use crate::run::{PluginChoice, RunRequest, Sink, run_blocking};
use crate::source::{Backend, DEMO, Sources, demo};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Directory holding the built plugins (identity.wasm, units.wasm).
    #[arg(long, default_value = "target/wasm32-wasip2/release")]
    pub plugins: PathBuf,
    /// Rounds per pipeline; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Instantiations measured for the per-run instantiate time.
    #[arg(long, default_value_t = 2000)]
    pub instances: usize,
    /// Measure only the HTTP path.
    #[arg(long)]
    pub http: bool,
    /// Requests measured on the HTTP path.
    #[arg(long, default_value_t = 1000)]
    pub requests: usize,
    /// Measure isolation under load instead: 64 clients over loopback HTTP, one of them
    /// hostile (needs hostile.wasm from the test plugins).
    #[arg(long)]
    pub isolation: bool,
}

const ALL_FLIGHTS: &str = "SELECT * FROM flights";

pub fn main(
    data_dir: &Path,
    args: BenchArgs,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    demo::ensure(data_dir).map_err(anyhow::Error::msg)?;
    if args.isolation {
        return isolation(data_dir, &args, tokio);
    }
    if args.http {
        let server = Server::start(data_dir, &args.plugins, &[], tokio)?;
        http_path(&server, args.requests)?;
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = crate::cli::runtime(data_dir, &Limits::default())?;
    let load = |name: &str| -> anyhow::Result<Arc<LoadedPlugin>> {
        let path = args.plugins.join(format!("{name}.wasm"));
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "cannot read {} (build the plugins with `cargo plugins`)",
                path.display()
            )
        })?;
        Ok(runtime
            .load(&bytes)
            .with_context(|| format!("{} was refused", path.display()))?
            .0)
    };
    let identity = load("identity")?;
    let units = load("units")?;
    let sources = Sources::with_demo(data_dir);
    let handle = tokio.handle().clone();
    let bench = Bench {
        runtime: &runtime,
        sources: &sources,
        handle: &handle,
    };

    println!(
        "Quarry bench: all flights ({ALL_FLIGHTS}), median of {} rounds\n",
        args.rounds
    );
    let [none, ident] = bench.interleaved(args.rounds, [None, Some(&identity)], false)?;
    let [native, plugin] = bench.interleaved(args.rounds, [None, Some(&units)], true)?;
    let rows = none.rows as f64;
    println!(
        "{:<44} {:>10} {:>14} {:>8}",
        "pipeline", "median", "rows/s", "ratio"
    );
    let line = |name: &str, t: Duration, base: Duration| {
        let ratio = t.as_secs_f64() / base.as_secs_f64();
        println!(
            "{name:<44} {:>8.1}ms {:>14.0} {ratio:>7.3}×",
            ms(t),
            rows / t.as_secs_f64()
        );
    };
    line("no plugin", none.median, none.median);
    line("identity plugin (vs no plugin)", ident.median, none.median);
    line(
        "units, native Rust in the host",
        native.median,
        native.median,
    );
    line(
        "units plugin (vs native Rust)",
        plugin.median,
        native.median,
    );

    let batches = bench.collect_batches()?;
    let (native_t, plugin_t) = transform_only(&runtime, &units, &batches, args.rounds)?;
    println!(
        "\nTransform alone, {} batches of 1,024 rows in memory (the plugin's figure includes",
        batches.len()
    );
    println!("copying each batch in and out of the sandbox):");
    line("units, native Rust", native_t, native_t);
    line("units plugin (vs native Rust)", plugin_t, native_t);

    let (p50, p99) = instantiate_times(&runtime, &identity, args.instances)?;
    println!(
        "\nInstantiate (fresh store + instance per run), {} runs:",
        args.instances
    );
    println!(
        "  p50 {:.1} µs   p99 {:.1} µs",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );

    let server = Server::start(data_dir, &args.plugins, &[], tokio)?;
    http_path(&server, args.requests)?;
    Ok(ExitCode::SUCCESS)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Bench<'a> {
    runtime: &'a Runtime,
    sources: &'a Sources,
    handle: &'a tokio::runtime::Handle,
}

struct Timing {
    median: Duration,
    rows: u64,
}

impl Bench<'_> {
    /// One run on a thread of its own: the plugin side of a run blocks.
    fn run(&self, request: RunRequest, sink: &mut dyn Sink) -> crate::run::RunReport {
        std::thread::scope(|s| {
            s.spawn(|| {
                run_blocking(
                    self.runtime,
                    self.sources,
                    self.handle,
                    request,
                    sink,
                    |_| {},
                )
            })
            .join()
            .expect("a bench run does not panic")
        })
    }

    /// Runs each pipeline `rounds` times, alternating. With `native`, a pipeline without a
    /// plugin applies [`units_native`] in its sink instead.
    fn interleaved<const N: usize>(
        &self,
        rounds: usize,
        plugins: [Option<&Arc<LoadedPlugin>>; N],
        native: bool,
    ) -> anyhow::Result<[Timing; N]> {
        let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::new());
        let mut rows = [0u64; N];
        for _ in 0..rounds + 1 {
            for (i, plugin) in plugins.iter().enumerate() {
                let request = RunRequest {
                    plugin: plugin.map(|p| PluginChoice {
                        plugin: p.clone(),
                        load: Default::default(),
                    }),
                    query: Some(ALL_FLIGHTS.to_owned()),
                    ..RunRequest::new(DEMO)
                };
                let mut sink = Discard {
                    rows: 0,
                    native: native && plugin.is_none(),
                };
                let started = Instant::now();
                let report = self.run(request, &mut sink);
                times[i].push(started.elapsed());
                report.result?;
                rows[i] = sink.rows;
            }
        }
        // The first round warms caches and is not counted.
        Ok(std::array::from_fn(|i| Timing {
            median: median(&mut times[i][1..].to_vec()),
            rows: rows[i],
        }))
    }

    fn collect_batches(&self) -> anyhow::Result<Vec<Batch>> {
        struct Keep(Vec<Batch>);
        impl Sink for Keep {
            fn start(&mut self, _: &[Field]) -> std::io::Result<()> {
                Ok(())
            }
            fn batch(&mut self, b: &Batch) -> std::io::Result<()> {
                self.0.push(b.clone());
                Ok(())
            }
            fn finish(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut keep = Keep(Vec::new());
        let request = RunRequest {
            query: Some(ALL_FLIGHTS.to_owned()),
            ..RunRequest::new(DEMO)
        };
        let report = self.run(request, &mut keep);
        report.result?;
        Ok(keep.0)
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Counts rows; with `native`, first computes the units columns in Rust.
struct Discard {
    rows: u64,
    native: bool,
}

impl Sink for Discard {
    fn start(&mut self, _: &[Field]) -> std::io::Result<()> {
        Ok(())
    }

    fn batch(&mut self, batch: &Batch) -> std::io::Result<()> {
        if self.native {
            std::hint::black_box(units_native(batch));
        }
        self.rows += batch.num_rows as u64;
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `units` example plugin's logic, written against the host's batch: the native
/// baseline for the plugin path. Returns the three added columns.
pub fn units_native(batch: &Batch) -> [Column; 3] {
    let number = |name: &str| -> Option<&Column> { batch.columns.iter().find(|c| c.name == name) };
    let read = |c: Option<&Column>, row: usize| -> Option<f64> {
        let c = c?;
        if !c.is_valid(row) {
            return None;
        }
        match &c.values {
            Values::Int64(v) => Some(v[row] as f64),
            Values::Float64(v) => Some(v[row]),
            _ => None,
        }
    };
    let (distance, air_time) = (number("distance"), number("air_time"));
    let n = batch.num_rows;
    let mut km = ColumnBuilder::new("distance_km", DataType::Float64, n);
    let mut hours = ColumnBuilder::new("air_time_h", DataType::Float64, n);
    let mut speed = ColumnBuilder::new("speed_kmh", DataType::Float64, n);
    for row in 0..n {
        let d = read(distance, row).map(|d| d * 1.609_344);
        let h = read(air_time, row).map(|m| m / 60.0);
        match d {
            Some(d) => km.push_f64(d),
            None => km.push_null(),
        }
        match h {
            Some(h) => hours.push_f64(h),
            None => hours.push_null(),
        }
        match (d, h) {
            (Some(d), Some(h)) if h != 0.0 => speed.push_f64(d / h),
            _ => speed.push_null(),
        }
    }
    [km.finish(), hours.finish(), speed.finish()]
}

/// Times `units` over batches already in memory: native Rust against the plugin.
fn transform_only(
    runtime: &Runtime,
    units: &LoadedPlugin,
    batches: &[Batch],
    rounds: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let mut native = Vec::new();
    let mut plugin = Vec::new();
    for _ in 0..rounds + 1 {
        let started = Instant::now();
        for b in batches {
            std::hint::black_box(units_native(b));
        }
        native.push(started.elapsed());

        let mut run = runtime.start(units, runtime.default_limits(), Arc::default())?;
        run.init(DEMO, Backend::Sqlite, "{}")?;
        let started = Instant::now();
        for b in batches {
            std::hint::black_box(run.transform(b.clone())?);
        }
        plugin.push(started.elapsed());
    }
    Ok((
        median(&mut native[1..].to_vec()),
        median(&mut plugin[1..].to_vec()),
    ))
}

/// p50 and p99 of creating a fresh store and instance.
fn instantiate_times(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    n: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let started = Instant::now();
        let run = runtime.start(plugin, runtime.default_limits(), Arc::default())?;
        times.push(started.elapsed());
        drop(run);
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Ok((at(0.5), at(0.99)))
}

/// Isolation under load: the p99 latency of well-behaved runs with one hostile client among
/// 64, against the same load without it (target: within 3×), on an in-process server.
fn isolation(
    data_dir: &Path,
    args: &BenchArgs,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    use crate::load::{Load, Report};
    let server = Server::start(data_dir, &args.plugins, &["units", "hostile"], tokio)?;
    let (address, units, hostile) = (server.address, &server.plugins[0], &server.plugins[1]);
    let load = Load {
        clients: 64,
        runs_per_client: args.rounds.max(1),
    };
    println!(
        "Quarry bench: isolation, {} clients × {} runs (units on 5,000 flights) over loopback HTTP,\n\
         {} runs at once and the rest queued; one client hostile, with the default limits\n",
        load.clients,
        load.runs_per_client,
        crate::web::default_max_runs()
    );
    let result =
        crate::load::isolation(address, load, &units, &hostile).map_err(anyhow::Error::msg)?;
    println!(
        "{:<28} {:>6} {:>10} {:>10} {:>10} {:>8}",
        "load", "runs", "p50", "p99", "wall", "p99 ×"
    );
    let base = result.baseline.percentile(99.0).as_secs_f64();
    let mut worst: f64 = 0.0;
    let line = |name: &str, r: &Report, worst: &mut f64| {
        let ratio = r.percentile(99.0).as_secs_f64() / base;
        *worst = worst.max(ratio);
        println!(
            "{:<28} {:>6} {:>8.1}ms {:>8.1}ms {:>9.2}s {:>7.2}×",
            name,
            r.latencies.len(),
            r.percentile(50.0).as_secs_f64() * 1e3,
            r.percentile(99.0).as_secs_f64() * 1e3,
            r.wall.as_secs_f64(),
            ratio
        );
        for failure in r.failures.iter().take(3) {
            println!("    failed: {failure}");
        }
    };
    line("all well-behaved", &result.baseline, &mut worst);
    line("one plugin loops", &result.looping, &mut worst);
    line("one plugin eats memory", &result.hoarding, &mut worst);
    for (name, r) in [("loop", &result.looping), ("memory", &result.hoarding)] {
        if let Some((status, kind)) = &r.hostile {
            println!("the hostile {name} run: {status} {kind}");
        }
    }
    let failures = [&result.baseline, &result.looping, &result.hoarding]
        .iter()
        .map(|r| r.failures.len())
        .sum::<usize>();
    let met = worst <= 3.0 && failures == 0;
    println!(
        "\ntarget: every well-behaved run correct and p99 within 3× of the baseline: {} (worst {worst:.2}×, {failures} failures)",
        if met { "met" } else { "MISSED" }
    );
    Ok(ExitCode::SUCCESS)
}

/// A playground server in this process on a free loopback port, its library holding the
/// named plugins (SHA-256 in `plugins`, in order).
struct Server {
    address: std::net::SocketAddr,
    plugins: Vec<String>,
    _store: tempfile::TempDir,
}

impl Server {
    fn start(
        data_dir: &Path,
        plugin_dir: &Path,
        names: &[&str],
        tokio: &tokio::runtime::Runtime,
    ) -> anyhow::Result<Server> {
        let runtime = Arc::new(crate::cli::runtime(data_dir, &Limits::default())?);
        let store = tempfile::tempdir()?;
        let app = crate::web::App::new(
            runtime,
            Sources::with_demo(data_dir),
            store.path(),
            crate::web::Settings::default(),
        )?;
        let mut plugins = Vec::new();
        for name in names {
            let path = plugin_dir.join(format!("{name}.wasm"));
            let (_, refused) = app.preload(&path)?;
            if let Some((path, why)) = refused.first() {
                bail!(
                    "{} was refused: {why} (build the plugins with `cargo plugins`)",
                    path.display()
                );
            }
            plugins.push(crate::plugin::sha256_hex(&std::fs::read(&path)?));
        }
        let app = Arc::new(app);
        let address = tokio.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let address = listener.local_addr()?;
            tokio::spawn(crate::web::serve(listener, app, std::future::pending()));
            anyhow::Ok(address)
        })?;
        Ok(Server {
            address,
            plugins,
            _store: store,
        })
    }
}

/// The HTTP path: latency of a small run end to end (a fresh connection per request, the
/// way a page's fetch without keep-alive goes), and throughput with 1, 8 and 64 clients.
fn http_path(server: &Server, requests: usize) -> anyhow::Result<()> {
    use crate::load::{Load, post, run};
    let body = r#"{"source": "demo", "query": "SELECT carrier, name FROM airlines LIMIT 5"}"#;
    let check: Arc<crate::load::Check> = Arc::new(
        |answer: &serde_json::Value| match answer["rows"].as_array().map(Vec::len) {
            Some(5) => Ok(()),
            other => Err(format!("{other:?} rows")),
        },
    );
    for _ in 0..50 {
        post(server.address, "/api/runs", body).map_err(anyhow::Error::msg)?;
    }
    let one = run(
        server.address,
        Load {
            clients: 1,
            runs_per_client: requests,
        },
        body,
        check.clone(),
        None,
    )
    .map_err(anyhow::Error::msg)?;
    println!("\nHTTP path: POST /api/runs, 5 rows of airlines, a new connection per request:");
    println!(
        "  one client, {} runs: p50 {:.2} ms   p99 {:.2} ms",
        one.latencies.len(),
        one.percentile(50.0).as_secs_f64() * 1e3,
        one.percentile(99.0).as_secs_f64() * 1e3
    );
    for clients in [1, 8, 64] {
        let load = Load {
            clients,
            runs_per_client: (requests / clients).max(10),
        };
        let report =
            run(server.address, load, body, check.clone(), None).map_err(anyhow::Error::msg)?;
        if !report.failures.is_empty() {
            bail!(
                "{clients} clients: {} runs failed: {}",
                report.failures.len(),
                report.failures[0]
            );
        }
        println!(
            "  {clients:>2} client(s): {:>6.0} runs/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
            report.latencies.len() as f64 / report.wall.as_secs_f64(),
            report.percentile(50.0).as_secs_f64() * 1e3,
            report.percentile(99.0).as_secs_f64() * 1e3
        );
    }
    Ok(())
}
