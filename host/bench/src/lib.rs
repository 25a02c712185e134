//! `quarry bench`: throughput of the plugin path against no plugin and native Rust, and the
//! plugin lifecycle, measured in one process so the ratios are comparable.
//!
//! Pipelines run interleaved (A, B, A, B, …) so that noise on a shared machine hits both
//! sides alike; each figure is the median of the rounds.
//!
//! # Layout
//!
//! - this file: the harness ([`main`], [`BenchArgs`]), the native Rust baselines the plugins
//!   are measured against (also the tests' reference answers), the lifecycle and HTTP-path
//!   figures, client loops in Python for the distributed backends, and the SVG chart.
//! - [`load`]: HTTP load on a playground server (loopback only), for `--isolation` and the
//!   load test.

#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod figures;
pub mod load;

pub use figures::Figures;

/// Why `quarry bench` stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Flags that do not make a bench.
    #[error("{0}")]
    Usage(String),
    /// A file that cannot be read, or a program that cannot be run.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file or program.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file that cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A plugin the runtime refuses.
    #[error("{} was refused: {source}", path.display())]
    Refused {
        /// The plugin file.
        path: PathBuf,
        /// Why.
        source: PluginError,
    },
    /// A measurement's own check failed: the figures would be wrong.
    #[error("{0}")]
    Check(String),
    /// Anything else the file system or network said.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The plugin runtime did not start.
    #[error(transparent)]
    Start(#[from] quarry_runtime::StartError),
    /// A plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A run failed.
    #[error(transparent)]
    Run(#[from] quarry_engine::run::RunError),
    /// A source failed.
    #[error(transparent)]
    Source(#[from] quarry_sources::SourceError),
    /// `quarry.toml` is wrong.
    #[error(transparent)]
    Config(#[from] quarry_sources::config::ConfigError),
    /// The demo database could not be built.
    #[error(transparent)]
    Demo(#[from] quarry_sources::demo::DemoError),
    /// Seeding PostgreSQL for the bench failed.
    #[error(transparent)]
    Seed(#[from] quarry_sources::seed::SeedError),
    /// The server's store could not be opened.
    #[error(transparent)]
    Store(#[from] quarry_server::OpenError),
    /// The HTTP load failed.
    #[error(transparent)]
    Load(#[from] load::LoadError),
}

/// A built plugin's bytes, or an error that says how to build them.
fn read_plugin(path: &Path) -> Result<Vec<u8>, BenchError> {
    std::fs::read(path).map_err(|e| BenchError::Read {
        path: path.to_owned(),
        source: std::io::Error::new(
            e.kind(),
            format!("{e} (build the plugins with `cargo plugins`)"),
        ),
    })
}

fn refused(path: &Path) -> impl FnOnce(PluginError) -> BenchError + '_ {
    move |e| BenchError::Refused {
        path: path.to_owned(),
        source: e,
    }
}

use quarry_core::batch::{Batch, Column, ColumnBuilder, DataType, Field, Values};
use quarry_engine::run::{PluginChoice, RunRequest, Sink, run_blocking};
use quarry_runtime::{Limits, LoadedPlugin, PluginError, Runtime, script};
use quarry_sources::config::Config;
use quarry_sources::{Backend, DEMO, Sources, demo};
use serde_json::json;

/// The flags of `quarry bench`.
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
    /// Write a chart of rows/s by batch size for each pipeline to this SVG file.
    #[arg(long)]
    pub chart: Option<PathBuf>,
    /// Also run the pipelines on this PostgreSQL database (its `flights` table is loaded
    /// with the demo's when it does not hold them).
    #[arg(long)]
    pub postgres: Option<String>,
    /// Measure only the plugin lifecycle: compile, cache load, instantiate, empty call.
    #[arg(long)]
    pub lifecycle: bool,
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
    /// The source every pipeline reads: the demo, or one from quarry.toml.
    #[arg(long, default_value = DEMO)]
    pub source: String,
    /// The query every pipeline runs [default: every flight, `SELECT * FROM flights`, or
    /// on MongoDB `{"collection": "flights", "projection": {"_id": 0}}`]. The example
    /// transforms run when its result has the flights columns they read.
    #[arg(long)]
    pub query: Option<String>,
    /// Run only these pipelines (comma-separated): `identity`, `map`, `filter`,
    /// `aggregate`, `scripts` [default: all]; no plugin always runs, as the baseline.
    /// Each example transform brings its native Rust baseline.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub pipelines: Vec<String>,
    /// Measure only these batch sizes (repeatable) [default: 256, 1024, 4096 and 16384].
    #[arg(long = "batch-size", value_name = "ROWS")]
    pub batch_sizes: Vec<usize>,
    /// Also time the loop people write with the database's own Python client, reading the
    /// same table, against Quarry reading it with no plugin, interleaved: psycopg2's
    /// `fetchall()`, cassandra-driver's `for row in session.execute(...)`, pymongo's
    /// `find()`. PYTHON is an interpreter that has the client installed
    /// (scripts/bench-clients.sh makes one).
    #[arg(long, value_name = "PYTHON")]
    pub clients: Option<PathBuf>,
    /// Your own plugin, measured against no plugin (repeat for several).
    #[arg(long = "plugin", value_name = "FILE")]
    pub user_plugins: Vec<PathBuf>,
    /// Params for the `--plugin`s, a JSON object.
    #[arg(long, default_value = "{}")]
    pub params: String,
    /// Also run the no-plugin pipeline, the `map` and `aggregate` plugins and each
    /// `--plugin` reading this many partitions at once (comma-separated, e.g. `2,4`), each
    /// against the same pipeline on one stream.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub parallel: Vec<usize>,
    /// The column whose ranges split a SQL query for `--parallel` (PostgreSQL needs one;
    /// SQLite uses the rowid without it).
    #[arg(long, value_name = "COLUMN")]
    pub partition_by: Option<String>,
    /// Also write every figure to FILE as JSON (`end_to_end`, `transform_alone`,
    /// `lifecycle`, `http`), for a CI to track.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

const ALL_FLIGHTS: &str = "SELECT * FROM flights";
const ALL_FLIGHTS_MONGO: &str = r#"{"collection": "flights", "projection": {"_id": 0}}"#;

/// `quarry bench`: measures what `args` asks for on `config`'s sources and prints it.
pub fn main(
    data_dir: &Path,
    config: &Config,
    args: BenchArgs,
    tokio: &tokio::runtime::Runtime,
) -> Result<ExitCode, BenchError> {
    if args.rounds == 0 {
        return Err(BenchError::Usage("--rounds must be at least 1".into()));
    }
    demo::ensure(data_dir)?;
    if args.isolation {
        return isolation(data_dir, &args, tokio);
    }
    let mut figures = Figures::default();
    let json = args.json.as_deref();
    if args.lifecycle {
        let runtime = Runtime::in_data_dir(data_dir, &Limits::default())?;
        let wasm = read_plugin(&args.plugins.join("identity.wasm"))?;
        let (identity, _) = runtime.load(&wasm)?;
        lifecycle(
            &args,
            &runtime,
            &identity,
            data_dir,
            tokio.handle(),
            &mut figures,
        )?;
        figures.write(json)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.http {
        let server = Server::start(data_dir, &args.plugins, &[], tokio)?;
        http_path(&server, args.requests, &mut figures)?;
        figures.write(json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = Runtime::in_data_dir(data_dir, &Limits::default())?;
    let load = |name: &str| -> Result<Arc<LoadedPlugin>, BenchError> {
        let path = args.plugins.join(format!("{name}.wasm"));
        let bytes = read_plugin(&path)?;
        Ok(runtime.load(&bytes).map_err(refused(&path))?.0)
    };
    let identity = load("identity")?;
    let sources = config.sources(data_dir)?;
    let backend = sources.get(&args.source)?.backend();
    let query = args.query.clone().unwrap_or_else(|| {
        match backend {
            Backend::Mongo => ALL_FLIGHTS_MONGO,
            _ => ALL_FLIGHTS,
        }
        .to_owned()
    });
    let batch_sizes = if args.batch_sizes.is_empty() {
        vec![256, 1024, 4096, 16_384]
    } else {
        args.batch_sizes.clone()
    };
    if batch_sizes.contains(&0) {
        return Err(BenchError::Usage("--batch-size must be at least 1".into()));
    }
    let handle = tokio.handle().clone();
    let bench = Bench {
        runtime: &runtime,
        sources: &sources,
        handle: &handle,
        query: &query,
        batch_sizes: &batch_sizes,
        partition_by: args.partition_by.clone(),
    };
    let batches = bench.collect_batches(&args.source)?;
    let fields = batches.first().map(Batch::fields).unwrap_or_default();
    const KINDS: [&str; 5] = ["identity", "map", "filter", "aggregate", "scripts"];
    if let Some(bad) = args.pipelines.iter().find(|p| !KINDS.contains(&p.as_str())) {
        return Err(BenchError::Usage(format!(
            "--pipelines: no pipeline `{bad}`; there are {}",
            KINDS.join(", ")
        )));
    }
    let wanted = |kind: &str| args.pipelines.is_empty() || args.pipelines.iter().any(|p| p == kind);
    let mut pipelines = vec![Pipeline::native("no plugin", Native::None, 0)];
    if wanted("identity") {
        pipelines.push(Pipeline::plugin("identity plugin", &identity, "{}", 0));
    }
    let missing: Vec<&str> = EXAMPLE_COLUMNS
        .into_iter()
        .filter(|name| !fields.iter().any(|f| f.name == *name))
        .collect();
    if missing.is_empty() {
        let examples = [
            ("map (units)", "units", "{}", Native::Map, "map"),
            (
                "filter (delayed ≥ 45)",
                "delayed",
                FILTER_PARAMS,
                Native::Filter,
                "filter",
            ),
            (
                "aggregate (delay-stats)",
                "delay_stats",
                "{}",
                Native::Aggregate,
                "aggregate",
            ),
        ];
        let runner = load("script_runner")?;
        for (name, file, params, native, kind) in examples {
            if !wanted(kind) {
                continue;
            }
            let baseline = pipelines.len();
            pipelines.push(Pipeline::native(
                &format!("{name}, native Rust"),
                native,
                baseline,
            ));
            pipelines.push(Pipeline::plugin(
                &format!("{name} plugin"),
                &load(file)?,
                params,
                baseline,
            ));
            // The starter scripts that do the same, by rows and by columns, where there are.
            let stem = file.replace('_', "-");
            let scripts = if wanted("scripts") {
                vec![stem.clone(), format!("{stem}-columns")]
            } else {
                Vec::new()
            };
            for script_name in scripts {
                if let Some(text) = script::starter(&script_name) {
                    pipelines.push(Pipeline::plugin(
                        &format!("{name} script ({script_name}.js)"),
                        &Arc::new(runner.with_script(text, &script_name)),
                        params,
                        baseline,
                    ));
                }
            }
        }
    } else {
        println!(
            "The example transforms are left out: the query's result has no {} column.\n",
            missing.join(", ")
        );
    }
    for path in &args.user_plugins {
        let bytes = std::fs::read(path).map_err(|e| BenchError::Read {
            path: path.clone(),
            source: e,
        })?;
        let (plugin, _) = runtime.load(&bytes).map_err(refused(path))?;
        let name = format!("{} (your plugin)", plugin.info.name);
        pipelines.push(Pipeline::plugin(&name, &plugin, &args.params, 0));
    }
    if args.parallel.contains(&0) {
        return Err(BenchError::Usage("--parallel must be at least 1".into()));
    }
    // Reading several partitions at once: each against the same pipeline on one stream.
    let splittable: Vec<usize> = pipelines
        .iter()
        .enumerate()
        .filter(|(_, p)| match &p.plugin {
            None => p.name == "no plugin",
            // The plugins and scripts that may be split.
            Some((plugin, _)) => plugin.info.stateless || plugin.info.merges,
        })
        .map(|(i, _)| i)
        .collect();
    for &streams in args.parallel.iter().filter(|&&n| n > 1) {
        for &i in &splittable {
            let one = &pipelines[i];
            pipelines.push(Pipeline {
                name: format!("{}, {streams} streams", one.name),
                streams,
                baseline: i,
                ..one.clone()
            });
        }
    }
    let input_bytes: usize = batches.iter().map(batch_bytes).sum();
    println!(
        "Quarry bench: {} on {} ({} rows, {:.1} MB in columnar form), median of {} rounds\n",
        query,
        args.source,
        batches.iter().map(|b| b.num_rows).sum::<usize>(),
        input_bytes as f64 / 1e6,
        args.rounds
    );
    let series = bench.matrix(
        &args.source,
        args.rounds,
        &pipelines,
        input_bytes,
        &mut figures,
    )?;
    if let Some(python) = &args.clients {
        if args.query.is_some() {
            println!(
                "The client loops read the whole `flights` table: they are left out with --query.\n"
            );
        } else {
            client_loops(&bench, config, &args.source, python, args.rounds)?;
        }
    }
    if let Some(url) = &args.postgres {
        let pg = postgres_sources(data_dir, url, tokio)?;
        let on_pg = Bench {
            sources: &pg,
            partition_by: bench.partition_by.clone(),
            ..bench
        };
        println!("The same on PostgreSQL ({}):\n", pg.get("pg")?.address());
        on_pg.matrix("pg", args.rounds, &pipelines, input_bytes, &mut figures)?;
    }

    if let Some(path) = &args.chart {
        let title = format!("Quarry: rows/s of {query}, by batch size");
        let svg = chart_svg(&title, &series);
        std::fs::write(path, svg).map_err(|e| BenchError::Write {
            path: path.clone(),
            source: e,
        })?;
        println!("chart written to {}\n", path.display());
    }
    println!(
        "Transform alone, the same rows in memory ({} batches of up to 1,024 rows); each plugin",
        batches.len()
    );
    println!("call includes copying its batch into the sandbox and the result out (targets: the");
    println!("units map ≥ 90 % of native, delay-stats ≥ 80 %, other compiled plugins ≥ 50 %;");
    println!("none for scripts, which are interpreted):");
    println!(
        "{:<40} {:>10} {:>12} {:>10}",
        "transform", "median", "rows/s", "of native"
    );
    let rows = batches.iter().map(|b| b.num_rows).sum::<usize>() as f64;
    // Each plugin against its native Rust baseline, if it has one.
    let transforms = pipelines
        .iter()
        .filter(|p| p.plugin.is_some() && p.streams == 1)
        .map(|p| {
            let native = &pipelines[p.baseline];
            let has_native = !matches!(native.native, Native::None);
            (p, has_native.then_some(native))
        });
    for (plugin, native) in transforms {
        let source = sources.get(&args.source)?;
        let (plugin_t, native_t) = transform_only(
            &runtime,
            source.as_ref(),
            plugin,
            native,
            &batches,
            args.rounds,
        )?;
        if let (Some(native), Some(native_t)) = (native, native_t) {
            println!(
                "{:<40} {:>8.2}ms {:>12.0}",
                native.name,
                ms(native_t),
                rows / native_t.as_secs_f64()
            );
            figures.transform_alone(json!({
                "transform": native.name, "kind": "native", "median_ms": ms(native_t),
                "rows_per_s": rows / native_t.as_secs_f64(),
            }));
        }
        let is_script = plugin
            .plugin
            .as_ref()
            .is_some_and(|(p, _)| p.script().is_some());
        let share = native_t.map_or(String::new(), |native_t| {
            let share = native_t.as_secs_f64() / plugin_t.as_secs_f64();
            // The targets are for compiled plugins; a script is interpreted.
            match (is_script, share >= transform_target(&plugin.name)) {
                (true, _) => format!("{:>5.1} %", share * 100.0),
                (false, true) => format!("{:>5.0} % met", share * 100.0),
                (false, false) => format!("{:>5.0} % MISSED", share * 100.0),
            }
        });
        println!(
            "{:<40} {:>8.2}ms {:>12.0} {share:>10}",
            plugin.name,
            ms(plugin_t),
            rows / plugin_t.as_secs_f64()
        );
        figures.transform_alone(json!({
            "transform": plugin.name,
            "kind": if is_script { "script" } else { "plugin" },
            "median_ms": ms(plugin_t),
            "rows_per_s": rows / plugin_t.as_secs_f64(),
            "of_native": native_t.map(|n| n.as_secs_f64() / plugin_t.as_secs_f64()),
        }));
    }

    println!();
    lifecycle(
        &args,
        &runtime,
        &identity,
        data_dir,
        tokio.handle(),
        &mut figures,
    )?;

    let server = Server::start(data_dir, &args.plugins, &[], tokio)?;
    http_path(&server, args.requests, &mut figures)?;
    figures.write(json)?;
    Ok(ExitCode::SUCCESS)
}

/// Instantiate times, a fresh store and instance per run: printed and kept.
fn instantiate(
    runtime: &Runtime,
    identity: &LoadedPlugin,
    runs: usize,
    figures: &mut Figures,
) -> Result<(), BenchError> {
    let (p50, p99) = instantiate_times(runtime, identity, runs)?;
    let (p50, p99) = (p50.as_secs_f64() * 1e6, p99.as_secs_f64() * 1e6);
    println!(
        "Instantiate (fresh store + instance per run), {runs} runs: p50 {p50:.1} µs   p99 {p99:.1} µs"
    );
    figures.lifecycle(
        "instantiate",
        json!({"runs": runs, "p50_us": p50, "p99_us": p99}),
    );
    Ok(())
}

/// The loop a Python user writes with the database's own client, reading the `flights`
/// table that Quarry reads with no plugin, interleaved round by round (one process per
/// round; only the loop is timed, not the interpreter's start or the connection).
fn client_loops(
    bench: &Bench<'_>,
    config: &Config,
    source: &str,
    python: &Path,
    rounds: usize,
) -> Result<(), BenchError> {
    let Some(s) = config.sources.iter().find(|s| s.name == source) else {
        println!("No client loop for `{source}`: it is not a server source of quarry.toml.\n");
        return Ok(());
    };
    let mut env: Vec<(&str, String)> = Vec::new();
    if let Some(password) = s.password_env.as_ref().and_then(|v| std::env::var(v).ok()) {
        env.push(("PGPASSWORD", password));
    }
    let needs = |what: &str| BenchError::Usage(format!("source `{source}` has no {what}"));
    let (client, backend, address, table) = match s.backend {
        Backend::Postgres | Backend::Cockroach => (
            "psycopg2 fetchall()",
            "postgres",
            s.url.clone().ok_or_else(|| needs("url"))?,
            "flights".to_owned(),
        ),
        Backend::Scylla => (
            "cassandra-driver `for row in session.execute`",
            "cassandra",
            s.contact_points
                .as_ref()
                .and_then(|c| c.first().cloned())
                .ok_or_else(|| needs("contact_points"))?,
            format!(
                "{}.flights",
                s.keyspace.as_deref().ok_or_else(|| needs("keyspace"))?
            ),
        ),
        Backend::Mongo => (
            "pymongo find()",
            "mongo",
            s.url.clone().ok_or_else(|| needs("url"))?,
            format!(
                "{}.flights",
                s.database.as_deref().ok_or_else(|| needs("database"))?
            ),
        ),
        Backend::Sqlite => {
            println!("No client loop for `{source}`, a SQLite file.\n");
            return Ok(());
        }
    };
    let script = tempfile::Builder::new().suffix(".py").tempfile()?;
    std::fs::write(
        script.path(),
        include_str!("../../../benches/clients/read_all.py"),
    )?;
    println!(
        "Every flight on `{source}`: Quarry with no plugin (batch 1,024) against the {client} loop\nin Python ({}), interleaved, median of {rounds} rounds:",
        python.display()
    );
    let (mut quarry_times, mut client_times) = (Vec::new(), Vec::new());
    let (mut quarry_rows, mut client_rows) = (0, 0);
    for round in 0..=rounds {
        let request = RunRequest {
            query: Some(bench.query.to_owned()),
            batch_rows: 1024,
            ..RunRequest::new(source)
        };
        let mut sink = Discard::new(Native::None);
        let started = Instant::now();
        let report = bench.run(request, &mut sink);
        let quarry = started.elapsed();
        report.result?;
        quarry_rows = report.stats.rows_in;

        let out = std::process::Command::new(python)
            .arg(script.path())
            .args([backend, &address, &table, "1"])
            .envs(env.iter().cloned())
            .output()
            .map_err(|e| BenchError::Read {
                path: python.to_owned(),
                source: e,
            })?;
        if !out.status.success() {
            return Err(BenchError::Check(format!(
                "the {client} loop failed (scripts/bench-clients.sh installs the clients):\n{}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let (rows, seconds) = stdout
            .split_whitespace()
            .collect::<Vec<_>>()
            .get(..2)
            .and_then(|f| Some((f[0].parse::<u64>().ok()?, f[1].parse::<f64>().ok()?)))
            .ok_or_else(|| BenchError::Check(format!("the client loop printed {stdout:?}")))?;
        client_rows = rows;
        // The first round warms caches and is not counted.
        if round > 0 {
            quarry_times.push(quarry);
            client_times.push(Duration::from_secs_f64(seconds));
        }
    }
    if quarry_rows != client_rows {
        return Err(BenchError::Check(format!(
            "Quarry read {quarry_rows} rows but the client loop {client_rows}"
        )));
    }
    let (quarry, client_t) = (median(&mut quarry_times), median(&mut client_times));
    let rate = |t: Duration| quarry_rows as f64 / t.as_secs_f64();
    println!("{:<48} {:>10} {:>12}", "reader", "median", "rows/s");
    println!(
        "{:<48} {:>8.1}ms {:>12.0}",
        "Quarry, no plugin",
        ms(quarry),
        rate(quarry)
    );
    println!(
        "{:<48} {:>8.1}ms {:>12.0}",
        format!("Python, {client}"),
        ms(client_t),
        rate(client_t)
    );
    let ratio = client_t.as_secs_f64() / quarry.as_secs_f64();
    println!(
        "Quarry reads {quarry_rows} rows at {ratio:.1}× the rate of the Python loop (target ≥ 5×: {})\n",
        if ratio >= 5.0 { "met" } else { "MISSED" }
    );
    Ok(())
}

/// A plugin's lifecycle: instantiating it, compiling it cold, loading it from the on-disk
/// cache (a new runtime, as a restarted server), calling an empty `transform`, and the
/// first run of a new script.
fn lifecycle(
    args: &BenchArgs,
    runtime: &Runtime,
    identity: &LoadedPlugin,
    data_dir: &Path,
    handle: &tokio::runtime::Handle,
    figures: &mut Figures,
) -> Result<(), BenchError> {
    instantiate(runtime, identity, args.instances, figures)?;
    let plugin_dir = &args.plugins;
    println!("\nPlugin lifecycle (each a median of 5; the cache is a fresh directory):");
    println!(
        "{:<16} {:>12} {:>16} {:>10}",
        "plugin", "size", "cold compile", "from cache"
    );
    for name in [
        "identity",
        "units",
        "delayed",
        "delay_stats",
        "flights_between",
        "script_runner",
    ] {
        let wasm = std::fs::read(plugin_dir.join(format!("{name}.wasm")))?;
        let cache = tempfile::tempdir()?;
        let fresh = || {
            Runtime::new(quarry_runtime::RuntimeConfig {
                cache_dir: Some(cache.path().to_path_buf()),
                ..Default::default()
            })
        };
        let mut cold = Vec::new();
        let mut cached = Vec::new();
        for round in 0..5 {
            if round > 0 {
                // Compile again from nothing: an empty cache directory.
                for entry in std::fs::read_dir(cache.path())? {
                    let path = entry?.path();
                    if path.is_dir() {
                        std::fs::remove_dir_all(path)?;
                    } else {
                        std::fs::remove_file(path)?;
                    }
                }
            }
            let runtime = fresh()?;
            let started = Instant::now();
            let (_, stats) = runtime.load(&wasm)?;
            cold.push(started.elapsed());
            if stats.from_cache {
                return Err(BenchError::Check(format!(
                    "{name}: the first load compiled"
                )));
            }
            let runtime = fresh()?;
            let started = Instant::now();
            let (_, stats) = runtime.load(&wasm)?;
            cached.push(started.elapsed());
            if !stats.from_cache {
                return Err(BenchError::Check(format!(
                    "{name}: the second load came from the cache"
                )));
            }
        }
        let (cold, cached) = (ms(median(&mut cold)), ms(median(&mut cached)));
        println!(
            "{name:<16} {:>9.0} KiB {cold:>13.1} ms {cached:>7.2} ms",
            wasm.len() as f64 / 1024.0,
        );
        figures.lifecycle(
            "compile",
            json!({"plugin": name, "bytes": wasm.len(), "cold_ms": cold, "from_cache_ms": cached}),
        );
    }
    new_scripts(plugin_dir, runtime, data_dir, handle, figures)?;
    let mut run = runtime.start(identity, runtime.default_limits(), Arc::default())?;
    run.init(DEMO, Backend::Sqlite, "{}")?;
    let calls = 20_000;
    let empty = Batch {
        num_rows: 0,
        columns: Vec::new(),
    };
    let started = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(run.transform(empty.clone())?);
    }
    let each = started.elapsed().as_secs_f64() * 1e6 / calls as f64;
    println!("an empty transform call (identity, {calls} calls): {each:.2} µs each");
    figures.lifecycle("empty_transform_us", json!(each));
    Ok(())
}

/// The first run of scripts never seen before (the runner is compiled and loaded once):
/// a new script costs no compilation, only evaluating it. Target: ≤ 100 ms plus the query.
fn new_scripts(
    plugin_dir: &Path,
    runtime: &Runtime,
    data_dir: &Path,
    handle: &tokio::runtime::Handle,
    figures: &mut Figures,
) -> Result<(), BenchError> {
    let wasm = std::fs::read(plugin_dir.join(script::RUNNER_FILE))?;
    let (runner, _) = runtime.load(&wasm)?;
    let sources = Sources::with_demo(data_dir);
    let units = script::starter("units").expect("the units starter script is built in");
    let rounds = 20;
    let (mut totals, mut beside_query) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // A text never run before: a new SHA-256, a new script.
        let text = format!("{units}\n// round {round} at {:?}\n", Instant::now());
        let started = Instant::now();
        let plugin = Arc::new(runner.with_script(&text, "units"));
        let request = RunRequest {
            plugin: Some(PluginChoice {
                plugin,
                load: Default::default(),
            }),
            query: Some("SELECT * FROM flights LIMIT 100".to_owned()),
            ..RunRequest::new(DEMO)
        };
        let report = run_blocking(
            runtime,
            &sources,
            handle,
            request,
            &mut quarry_engine::compare::Collected::default(),
            |_| {},
        );
        report.result?;
        let total = started.elapsed();
        totals.push(total);
        beside_query
            .push(total.saturating_sub(Duration::from_secs_f64(report.stats.query_ms / 1e3)));
    }
    let (total, other) = (median(&mut totals), median(&mut beside_query));
    let verdict = if other <= Duration::from_millis(100) {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "first run of a new script (units.js, 100 flights, median of {rounds}): {:.1} ms, \
         {:.1} ms of it beside the query (target ≤ 100 ms plus the query: {verdict})",
        ms(total),
        ms(other)
    );
    figures.lifecycle(
        "new_script",
        json!({"runs": rounds, "total_ms": ms(total), "beside_query_ms": ms(other)}),
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Bench<'a> {
    runtime: &'a Runtime,
    sources: &'a Sources,
    handle: &'a tokio::runtime::Handle,
    /// The query every pipeline runs.
    query: &'a str,
    /// The batch sizes of the matrix.
    batch_sizes: &'a [usize],
    /// The partition column of parallel pipelines.
    partition_by: Option<String>,
}

struct Timing {
    median: Duration,
    rows_in: u64,
}

/// One way through all flights: a plugin (with its params), or a native Rust transform in
/// the sink, or neither.
#[derive(Clone)]
struct Pipeline {
    name: String,
    /// Partitions read at once (`parallel`).
    streams: usize,
    /// The plugin and its params.
    plugin: Option<(Arc<LoadedPlugin>, String)>,
    native: Native,
    /// The pipeline this one is compared with: the one it replaces.
    baseline: usize,
}

impl Pipeline {
    fn native(name: &str, native: Native, baseline: usize) -> Self {
        Pipeline {
            name: name.to_owned(),
            streams: 1,
            plugin: None,
            native,
            baseline,
        }
    }

    fn plugin(name: &str, plugin: &Arc<LoadedPlugin>, params: &str, baseline: usize) -> Self {
        Pipeline {
            name: name.to_owned(),
            streams: 1,
            plugin: Some((plugin.clone(), params.to_owned())),
            native: Native::None,
            baseline,
        }
    }
}

/// The share of native speed a compiled plugin's transform alone should reach.
fn transform_target(pipeline: &str) -> f64 {
    if pipeline.starts_with("map (units)") {
        0.9
    } else if pipeline.starts_with("aggregate (delay-stats)") {
        0.8
    } else {
        0.5
    }
}

/// The flights columns the example transforms read.
const EXAMPLE_COLUMNS: [&str; 5] = ["distance", "air_time", "dep_delay", "carrier", "arr_delay"];

/// The example plugins' logic written against the host's batch: the physical baseline.
#[derive(Clone, Copy)]
enum Native {
    None,
    Map,
    Filter,
    Aggregate,
}

/// The filter keeps flights that left at least 45 minutes late: about 10 % of them.
const FILTER_PARAMS: &str = r#"{"min_delay": 45}"#;
const FILTER_MIN_DELAY: i64 = 45;

/// Bytes of a batch's buffers: values, offsets and validity.
fn batch_bytes(batch: &Batch) -> usize {
    batch
        .columns
        .iter()
        .map(|c| {
            let values = match &c.values {
                Values::Boolean(v) => v.len(),
                Values::Int64(v) => v.len() * 8,
                Values::Float64(v) => v.len() * 8,
                Values::Text(d) | Values::Bytes(d) => d.offsets.len() * 4 + d.data.len(),
            };
            values + c.validity.as_ref().map_or(0, Vec::len)
        })
        .sum()
}

impl Bench<'_> {
    /// One run on a thread of its own: the plugin side of a run blocks.
    fn run(&self, request: RunRequest, sink: &mut dyn Sink) -> quarry_engine::run::RunReport {
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

    /// Every pipeline at every batch size on `source`, printed as a table; returns each
    /// pipeline's rows/s by batch size, for the chart.
    fn matrix(
        &self,
        source: &str,
        rounds: usize,
        pipelines: &[Pipeline],
        input_bytes: usize,
        figures: &mut Figures,
    ) -> Result<Vec<(String, Vec<(usize, f64)>)>, BenchError> {
        println!(
            "{:<40} {:>7} {:>10} {:>10} {:>8} {:>8}",
            "pipeline", "batch", "median", "rows/s", "MB/s", "ratio"
        );
        let mut series: Vec<(String, Vec<(usize, f64)>)> = pipelines
            .iter()
            .map(|p| (p.name.clone(), Vec::new()))
            .collect();
        for &batch_rows in self.batch_sizes {
            let timings = self.interleaved(source, rounds, batch_rows, pipelines)?;
            for (line, t) in series.iter_mut().zip(&timings) {
                line.1
                    .push((batch_rows, t.rows_in as f64 / t.median.as_secs_f64()));
            }
            for (i, (pipeline, t)) in pipelines.iter().zip(&timings).enumerate() {
                // Plugins against what they replace: identity against no plugin, each
                // transform plugin against its native Rust; baselines against themselves.
                // A parallel pipeline against the same on one stream.
                let base = match (&pipeline.plugin, pipeline.streams) {
                    (Some(_), _) | (None, 2..) => timings[pipeline.baseline].median,
                    (None, _) => timings[i].median,
                };
                let seconds = t.median.as_secs_f64();
                let (rows_per_s, mb_per_s) = (
                    t.rows_in as f64 / seconds,
                    input_bytes as f64 / 1e6 / seconds,
                );
                let ratio = seconds / base.as_secs_f64();
                println!(
                    "{:<40} {:>7} {:>8.1}ms {rows_per_s:>10.0} {mb_per_s:>8.1} {ratio:>7.3}×",
                    pipeline.name,
                    batch_rows,
                    ms(t.median),
                );
                figures.end_to_end(json!({
                    "source": source, "pipeline": pipeline.name, "batch_rows": batch_rows,
                    "median_ms": ms(t.median), "rows_per_s": rows_per_s, "mb_per_s": mb_per_s,
                    "ratio": ratio,
                }));
            }
            println!();
        }
        Ok(series)
    }

    /// Runs each pipeline `rounds` times over all flights in batches of `batch_rows`,
    /// alternating pipelines so that noise hits them alike.
    fn interleaved(
        &self,
        source: &str,
        rounds: usize,
        batch_rows: usize,
        pipelines: &[Pipeline],
    ) -> Result<Vec<Timing>, BenchError> {
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); pipelines.len()];
        let mut rows_in = vec![0u64; pipelines.len()];
        for _ in 0..rounds + 1 {
            for (i, pipeline) in pipelines.iter().enumerate() {
                let request = RunRequest {
                    plugin: pipeline.plugin.as_ref().map(|(p, _)| PluginChoice {
                        plugin: p.clone(),
                        load: Default::default(),
                    }),
                    params: pipeline
                        .plugin
                        .as_ref()
                        .map_or("{}", |(_, params)| params)
                        .to_owned(),
                    query: Some(self.query.to_owned()),
                    batch_rows,
                    parallel: pipeline.streams,
                    partition_by: self.partition_by.clone(),
                    ..RunRequest::new(source)
                };
                let mut sink = Discard::new(pipeline.native);
                let started = Instant::now();
                let report = self.run(request, &mut sink);
                times[i].push(started.elapsed());
                report.result?;
                rows_in[i] = report.stats.rows_in;
            }
        }
        // The first round warms caches and is not counted.
        Ok(times
            .iter_mut()
            .zip(rows_in)
            .map(|(t, rows_in)| Timing {
                median: median(&mut t[1..].to_vec()),
                rows_in,
            })
            .collect())
    }

    fn collect_batches(&self, source: &str) -> Result<Vec<Batch>, BenchError> {
        collect_batches(
            self.runtime,
            self.sources,
            self.handle,
            source,
            self.query,
            1024,
        )
    }
}

/// The batches of `query` on the demo, as a source hands them to a plugin.
pub fn collect_batches(
    runtime: &Runtime,
    sources: &Sources,
    handle: &tokio::runtime::Handle,
    source: &str,
    query: &str,
    batch_rows: usize,
) -> Result<Vec<Batch>, BenchError> {
    let mut keep = quarry_engine::compare::Collected::default();
    let request = RunRequest {
        query: Some(query.to_owned()),
        batch_rows,
        ..RunRequest::new(source)
    };
    run_blocking(runtime, sources, handle, request, &mut keep, |_| {}).result?;
    Ok(keep.batches)
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Counts rows; first applies the native transform, if any.
struct Discard {
    rows: u64,
    native: Native,
    /// The aggregate's state: arrival delays by carrier.
    groups: std::collections::BTreeMap<String, Vec<f64>>,
}

impl Discard {
    fn new(native: Native) -> Self {
        Discard {
            rows: 0,
            native,
            groups: Default::default(),
        }
    }
}

impl Sink for Discard {
    fn start(&mut self, _: &[Field]) -> std::io::Result<()> {
        Ok(())
    }

    fn batch(&mut self, batch: &Batch) -> std::io::Result<()> {
        match self.native {
            Native::None => {}
            Native::Map => {
                std::hint::black_box(units_native(batch));
            }
            Native::Filter => {
                std::hint::black_box(filter_native(batch, FILTER_MIN_DELAY));
            }
            Native::Aggregate => aggregate_native(batch, &mut self.groups),
        }
        self.rows += batch.num_rows as u64;
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        if let Native::Aggregate = self.native {
            std::hint::black_box(finish_aggregate(&mut self.groups));
        }
        Ok(())
    }
}

/// The `delayed` example's logic: the rows whose `dep_delay` is at least `min`.
pub fn filter_native(batch: &Batch, min: i64) -> Batch {
    let Some(delay) = batch.columns.iter().find(|c| c.name == "dep_delay") else {
        return Batch {
            num_rows: 0,
            columns: Vec::new(),
        };
    };
    let keep: Vec<usize> = (0..batch.num_rows)
        .filter(|&row| match delay.cell(row) {
            quarry_core::batch::Cell::Int64(d) => d >= min,
            quarry_core::batch::Cell::Float64(d) => d >= min as f64,
            _ => false,
        })
        .collect();
    let columns = batch
        .columns
        .iter()
        .map(|c| {
            let mut b = ColumnBuilder::new(c.name.clone(), c.data_type, keep.len());
            for &row in &keep {
                match c.cell(row) {
                    quarry_core::batch::Cell::Null => b.push_null(),
                    quarry_core::batch::Cell::Boolean(v) => b.push_bool(v),
                    quarry_core::batch::Cell::Int64(v) => b.push_i64(v),
                    quarry_core::batch::Cell::Float64(v) => b.push_f64(v),
                    quarry_core::batch::Cell::Text(v) => b.push_str(v),
                    quarry_core::batch::Cell::Bytes(v) => b.push_bytes(v),
                }
            }
            b.finish()
        })
        .collect();
    Batch {
        num_rows: keep.len(),
        columns,
    }
}

/// The `delay-stats` example's per-batch step: arrival delays collected by carrier.
pub fn aggregate_native(batch: &Batch, groups: &mut std::collections::BTreeMap<String, Vec<f64>>) {
    let column = |name: &str| batch.columns.iter().find(|c| c.name == name);
    let (Some(carrier), Some(delay)) = (column("carrier"), column("arr_delay")) else {
        return;
    };
    for row in 0..batch.num_rows {
        let value = match delay.cell(row) {
            quarry_core::batch::Cell::Int64(d) => d as f64,
            quarry_core::batch::Cell::Float64(d) => d,
            _ => continue,
        };
        if let quarry_core::batch::Cell::Text(key) = carrier.cell(row) {
            match groups.get_mut(key) {
                Some(values) => values.push(value),
                None => {
                    groups.insert(key.to_owned(), vec![value]);
                }
            }
        }
    }
}

/// The `delay-stats` example's finish: count, mean, p50 and p95 per carrier.
pub fn finish_aggregate(
    groups: &mut std::collections::BTreeMap<String, Vec<f64>>,
) -> Vec<(String, usize, f64, f64, f64)> {
    groups
        .iter_mut()
        .map(|(key, values)| {
            values.sort_by(f64::total_cmp);
            let n = values.len();
            let rank = |p: usize| values[(p * n).div_ceil(100) - 1];
            (
                key.clone(),
                n,
                values.iter().sum::<f64>() / n as f64,
                rank(50),
                rank(95),
            )
        })
        .collect()
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

/// Times a plugin's transform over batches already in memory, and its native Rust
/// counterpart if there is one, interleaved; returns their medians. Each side gets its own
/// copies of the batches, made before the clock starts, and drops each batch when done
/// with it, as a run does with the batches a source hands over.
fn transform_only(
    runtime: &Runtime,
    source: &dyn quarry_sources::Source,
    plugin: &Pipeline,
    native: Option<&Pipeline>,
    batches: &[Batch],
    rounds: usize,
) -> Result<(Duration, Option<Duration>), BenchError> {
    let (loaded, params) = plugin
        .plugin
        .as_ref()
        .expect("a plugin pipeline has a plugin");
    let limits = Limits {
        output_rows: u64::MAX,
        output_bytes: u64::MAX,
        ..runtime.default_limits().clone()
    };
    let mut plugin_times = Vec::new();
    let mut native_times = Vec::new();
    for _ in 0..rounds + 1 {
        if let Some(native) = native {
            let mut sink = Discard::new(native.native);
            let copies = batches.to_vec();
            let started = Instant::now();
            for b in copies {
                sink.batch(&b)?;
            }
            sink.finish()?;
            native_times.push(started.elapsed());
        }

        let mut run = runtime.start(loaded, &limits, Arc::default())?;
        run.init(source.name(), source.backend(), &loaded.init_params(params))?;
        let copies = batches.to_vec();
        let started = Instant::now();
        for b in copies {
            std::hint::black_box(run.transform(b)?);
        }
        std::hint::black_box(run.finish()?);
        plugin_times.push(started.elapsed());
    }
    let native = (!native_times.is_empty()).then(|| median(&mut native_times[1..]));
    Ok((median(&mut plugin_times[1..]), native))
}

/// p50 and p99 of creating a fresh store and instance.
fn instantiate_times(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    n: usize,
) -> Result<(Duration, Duration), BenchError> {
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
) -> Result<ExitCode, BenchError> {
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
        quarry_server::default_max_runs()
    );
    let result = crate::load::isolation(address, load, &units, &hostile)?;
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
    ) -> Result<Server, BenchError> {
        let runtime = Arc::new(Runtime::in_data_dir(data_dir, &Limits::default())?);
        let store = tempfile::tempdir()?;
        let app = tokio.block_on(quarry_server::App::new(
            runtime,
            Sources::with_demo(data_dir),
            store.path(),
            // The load comes from one address: no per-caller share.
            quarry_server::Settings {
                max_runs_per_caller: usize::MAX,
                max_runs_per_minute: u32::MAX,
                ..quarry_server::Settings::default()
            },
        ))?;
        let mut plugins = Vec::new();
        for name in names {
            let path = plugin_dir.join(format!("{name}.wasm"));
            let (_, refused) = tokio.block_on(app.preload(&path, |_, _| {}))?;
            if let Some((path, why)) = refused.first() {
                return Err(BenchError::Check(format!(
                    "{} was refused: {why} (build the plugins with `cargo plugins`)",
                    path.display()
                )));
            }
            plugins.push(quarry_runtime::sha256_hex(&std::fs::read(&path)?));
        }
        let app = Arc::new(app);
        let address = tokio.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let address = listener.local_addr()?;
            tokio::spawn(quarry_server::serve(listener, app, std::future::pending()));
            Ok::<_, std::io::Error>(address)
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
fn http_path(server: &Server, requests: usize, figures: &mut Figures) -> Result<(), BenchError> {
    use crate::load::{Load, post, run};
    let body = r#"{"source": "demo", "query": "SELECT carrier, name FROM airlines LIMIT 5"}"#;
    let check: Arc<crate::load::Check> = Arc::new(
        |answer: &serde_json::Value| match answer["rows"].as_array().map(Vec::len) {
            Some(5) => Ok(()),
            other => Err(crate::load::Mismatch(format!("{other:?} rows"))),
        },
    );
    for _ in 0..50 {
        post(server.address, "/api/runs", body)?;
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
    )?;
    println!("\nHTTP path: POST /api/runs, 5 rows of airlines, a new connection per request:");
    let (p50, p99) = (
        one.percentile(50.0).as_secs_f64() * 1e3,
        one.percentile(99.0).as_secs_f64() * 1e3,
    );
    println!(
        "  one client, {} runs: p50 {p50:.2} ms   p99 {p99:.2} ms",
        one.latencies.len()
    );
    figures.http(
        "one_client",
        json!({"runs": one.latencies.len(), "p50_ms": p50, "p99_ms": p99}),
    );
    for clients in [1, 8, 64] {
        let load = Load {
            clients,
            runs_per_client: (requests / clients).max(10),
        };
        let report = run(server.address, load, body, check.clone(), None)?;
        if !report.failures.is_empty() {
            return Err(BenchError::Check(format!(
                "{clients} clients: {} runs failed: {}",
                report.failures.len(),
                report.failures[0]
            )));
        }
        let per_second = report.latencies.len() as f64 / report.wall.as_secs_f64();
        let (p50, p99) = (
            report.percentile(50.0).as_secs_f64() * 1e3,
            report.percentile(99.0).as_secs_f64() * 1e3,
        );
        println!(
            "  {clients:>2} client(s): {per_second:>6.0} runs/s   p50 {p50:>6.2} ms   p99 {p99:>6.2} ms"
        );
        figures.http(
            "clients",
            json!({"clients": clients, "runs_per_s": per_second, "p50_ms": p50, "p99_ms": p99}),
        );
    }
    Ok(())
}

/// Colours of the chart's lines, one per pipeline.
const PALETTE: [(u8, u8, u8); 8] = [
    (0x4e, 0x79, 0xa7),
    (0x9c, 0x75, 0x5f),
    (0xf2, 0x8e, 0x2b),
    (0xe1, 0x57, 0x59),
    (0x59, 0xa1, 0x4f),
    (0x76, 0xb7, 0xb2),
    (0xb0, 0x7a, 0xa1),
    (0xed, 0xc9, 0x48),
];

/// An SVG line chart of rows/s by batch size, one line per pipeline (native Rust dashed),
/// drawn with `plotters`: `series` holds each pipeline's name and its (batch size, rows/s)
/// points, batch sizes ascending.
pub fn chart_svg(title: &str, series: &[(String, Vec<(usize, f64)>)]) -> String {
    use plotters::prelude::*;
    let sizes: Vec<usize> = series
        .first()
        .map(|s| s.1.iter().map(|p| p.0).collect())
        .unwrap_or_default();
    let max = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .fold(1.0_f64, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 420)).into_drawing_area();
        root.fill(&WHITE).expect("drawing into a string");
        let last = sizes.len().max(2) as i32 - 1;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0..last, 0.0..max * 1.1)
            .expect("drawing into a string");
        chart
            .configure_mesh()
            .x_labels(sizes.len().max(2))
            .x_label_formatter(&|i| {
                sizes
                    .get(*i as usize)
                    .map_or_else(String::new, usize::to_string)
            })
            .y_label_formatter(&|v| human_rate(*v))
            .x_desc("rows per batch")
            .y_desc("rows/s")
            .light_line_style(WHITE)
            .draw()
            .expect("drawing into a string");
        for (k, (name, points)) in series.iter().enumerate() {
            let (r, g, b) = PALETTE[k % PALETTE.len()];
            let style = RGBColor(r, g, b).stroke_width(2);
            let line = points.iter().enumerate().map(|(i, p)| (i as i32, p.1));
            let drawn = if name.contains("native") {
                chart.draw_series(DashedLineSeries::new(line, 6, 4, style))
            } else {
                chart.draw_series(LineSeries::new(line, style))
            };
            drawn
                .expect("drawing into a string")
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .draw()
            .expect("drawing into a string");
        root.present().expect("drawing into a string");
    }
    svg
}

fn human_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_a_line_and_a_legend_entry_per_pipeline() {
        let series = vec![
            ("no plugin".to_owned(), vec![(256, 1e6), (1024, 2e6)]),
            ("map, native Rust".to_owned(), vec![(256, 5e5), (1024, 9e5)]),
        ];
        let svg = chart_svg("rows/s", &series);
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        // plotters writes each text on a line of its own.
        let texts: Vec<&str> = svg.lines().collect();
        for text in [
            "no plugin",
            "map, native Rust",
            "rows per batch",
            "256",
            "1024",
            "2.0 M",
        ] {
            assert!(texts.contains(&text), "no `{text}` in {svg}");
        }
        // The native baseline is dashed: many short segments in its colour; the plugin's
        // line is one (and its legend entry another).
        assert!(svg.matches(r##"stroke="#9C755F""##).count() > 4, "{svg}");
        assert!(svg.matches(r##"stroke="#4E79A7""##).count() <= 2, "{svg}");
    }
}

/// The demo plus a source `pg` on the PostgreSQL at `url`, its flights seeded when needed.
fn postgres_sources(
    data_dir: &Path,
    url: &str,
    tokio: &tokio::runtime::Runtime,
) -> Result<Sources, BenchError> {
    use quarry_sources::postgres::PostgresSource;
    let seed_to = quarry_sources::seed::Target::Postgres(PostgresSource::new(
        "pg",
        url,
        Backend::Postgres,
        1,
    )?);
    let demo = demo::ensure(data_dir)?;
    tokio.block_on(quarry_sources::seed::seed(
        &seed_to,
        &demo,
        &["flights".to_owned()],
        None,
        &mut |_, _| {},
    ))?;
    let mut sources = Sources::with_demo(data_dir);
    sources.insert(
        Arc::new(PostgresSource::new("pg", url, Backend::Postgres, 4)?),
        quarry_sources::config::SourceSettings::default(),
    );
    Ok(sources)
}
