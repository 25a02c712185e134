//! The Extism peer: Quarry's `units` plugin against the same map written as an Extism
//! plugin (rows in and out as JSON), over all flights of the demo, in one process.
//!
//! Both plugins are first checked to compute the same rows. The pipelines then run
//! interleaved round by round, as in `quarry bench`, so that noise on a shared machine hits
//! them alike; each figure is the median of the rounds, after one round that warms caches.

mod rows;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use quarry::batch::{Batch, Cell};
use quarry::bench::units_native;
use quarry::plugin::{Limits, LoadedPlugin, Runtime};
use quarry::source::{Backend, DEMO, Sources, demo};
use serde_json::Value;

use rows::Rows;

/// One flight as the Extism plugin returns it.
type JsonRow = serde_json::Map<String, Value>;

/// The columns both plugins add, in the order Quarry's plugin adds them.
const ADDED: [&str; 3] = ["distance_km", "air_time_h", "speed_kmh"];

/// Quarry's plugin must do at least this many times the Extism peer's rows/s.
const TARGET: f64 = 10.0;

#[derive(Parser)]
#[command(about = "Quarry's units plugin against the same map as an Extism plugin.")]
struct Args {
    /// Quarry's data directory; the demo database is built there if it is missing.
    #[arg(long, env = "QUARRY_DATA", default_value = "quarry-data")]
    data_dir: PathBuf,
    /// Quarry's `units` example plugin, built by `cargo plugins`.
    #[arg(long, default_value = "target/wasm32-wasip2/release/units.wasm")]
    quarry_plugin: PathBuf,
    /// The Extism guest (peers/extism/guest), built for wasm32-unknown-unknown.
    #[arg(
        long,
        default_value = "target/wasm32-unknown-unknown/plugin/units_extism.wasm"
    )]
    extism_plugin: PathBuf,
    /// Timed rounds; the median is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Batches whose output is compared row by row before anything is timed.
    #[arg(long, default_value_t = 8)]
    check_batches: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    let runtime = quarry::cli::runtime(&args.data_dir, &Limits::default())?;
    let batches = all_flights(&runtime, &args.data_dir)?;
    let rows = batches.iter().map(|b| b.num_rows).sum::<usize>();

    let wasm = std::fs::read(&args.quarry_plugin).with_context(|| {
        format!(
            "cannot read {} (build it with `cargo plugins`)",
            args.quarry_plugin.display()
        )
    })?;
    let (units, _) = runtime
        .load(&wasm)
        .with_context(|| format!("{} was refused", args.quarry_plugin.display()))?;
    let guest = std::fs::read(&args.extism_plugin).with_context(|| {
        format!(
            "cannot read {} (build peers/extism/guest for wasm32-unknown-unknown)",
            args.extism_plugin.display()
        )
    })?;
    let manifest = extism::Manifest::new([extism::Wasm::data(guest)]);
    let mut peer = extism::Plugin::new(manifest, [], false)
        .with_context(|| format!("Extism refused {}", args.extism_plugin.display()))?;

    let checked = check(&runtime, &units, &mut peer, &batches, args.check_batches)?;
    println!(
        "Checked: Quarry's plugin, the Extism plugin and native Rust agree on the first {} rows \
         ({} nulls among the added values).",
        checked.rows, checked.nulls
    );

    let encoded = batches
        .iter()
        .map(|b| serde_json::to_vec(&Rows(b)))
        .collect::<Result<Vec<_>, _>>()?;
    let json_in: usize = encoded.iter().map(Vec::len).sum();
    let mut json_out = 0;
    for json in &encoded {
        json_out += peer.call::<&[u8], &[u8]>("units", json)?.len();
    }
    println!(
        "{} flights in {} batches of up to 1,024 rows; as JSON {:.1} MB in, {:.1} MB out. \
         Median of {} rounds.\n",
        rows,
        batches.len(),
        json_in as f64 / 1e6,
        json_out as f64 / 1e6,
        args.rounds
    );

    let [native, quarry, extism, extism_call] =
        timings(&runtime, &units, &mut peer, &batches, &encoded, args.rounds)?;
    println!(
        "{:<46} {:>9} {:>12} {:>22}",
        "pipeline", "ms", "rows/s", "time vs Quarry plugin"
    );
    for (name, t) in [
        ("native Rust (quarry::bench::units_native)", native),
        ("Quarry plugin (units.wasm)", quarry),
        ("Extism end to end (encode, call, parse)", extism),
        ("Extism call alone (JSON encoded beforehand)", extism_call),
    ] {
        println!(
            "{name:<46} {:>9.1} {:>12} {:>21.2}×",
            t.as_secs_f64() * 1e3,
            rate(rows as f64 / t.as_secs_f64()),
            t.as_secs_f64() / quarry.as_secs_f64()
        );
    }
    println!();
    for (what, t) in [
        ("end to end", extism),
        ("against the Extism call alone", extism_call),
    ] {
        let times = t.as_secs_f64() / quarry.as_secs_f64();
        let verdict = if times >= TARGET { "met" } else { "MISSED" };
        println!(
            "target: Quarry's plugin ≥ {TARGET}× the Extism peer's rows/s, {what}: {verdict} ({times:.1}×)"
        );
    }
    Ok(())
}

/// All flights of the demo in batches of 1,024 rows, read the way a run reads them.
fn all_flights(runtime: &Runtime, data_dir: &Path) -> anyhow::Result<Vec<Batch>> {
    demo::ensure(data_dir).map_err(anyhow::Error::msg)?;
    let tokio = tokio::runtime::Runtime::new()?;
    let sources = Sources::with_demo(data_dir);
    quarry::bench::collect_batches(
        runtime,
        &sources,
        tokio.handle(),
        DEMO,
        "SELECT * FROM flights",
        1024,
    )
}

/// Rows and null values compared by [`check`].
struct Checked {
    rows: usize,
    nulls: usize,
}

/// Runs the first `n` batches through both plugins and native Rust and fails unless all
/// three give the same rows: the input columns unchanged, the same added values (within
/// 1e-9, relative to values above 1), and nulls in the same places.
fn check(
    runtime: &Runtime,
    units: &LoadedPlugin,
    peer: &mut extism::Plugin,
    batches: &[Batch],
    n: usize,
) -> anyhow::Result<Checked> {
    let mut run = runtime.start(units, runtime.default_limits(), Arc::default())?;
    run.init(DEMO, Backend::Sqlite, "{}")?;
    let mut checked = Checked { rows: 0, nulls: 0 };
    for (b, batch) in batches.iter().take(n.max(1)).enumerate() {
        let quarry = run.transform(batch.clone())?;
        let native = units_native(batch);
        let json = serde_json::to_vec(&Rows(batch))?;
        let input: Vec<JsonRow> = serde_json::from_slice(&json)?;
        let extism: Vec<JsonRow> =
            serde_json::from_slice(peer.call::<&[u8], &[u8]>("units", &json)?)?;

        let width = batch.columns.len();
        ensure!(
            quarry.num_rows == batch.num_rows && quarry.columns.len() == width + ADDED.len(),
            "batch {b}: Quarry's plugin returned {} rows × {} columns for {} rows × {width}",
            quarry.num_rows,
            quarry.columns.len(),
            batch.num_rows
        );
        for (c, column) in batch.columns.iter().enumerate() {
            let out = &quarry.columns[c];
            let same = out.name == column.name
                && out.data_type == column.data_type
                && (0..batch.num_rows).all(|row| out.cell(row) == column.cell(row));
            ensure!(
                same,
                "batch {b}: Quarry's plugin changed column `{}`",
                column.name
            );
        }
        for (k, name) in ADDED.iter().enumerate() {
            let (q, r) = (&quarry.columns[width + k].name, &native[k].name);
            ensure!(
                q == name && r == name,
                "batch {b}: column {} is `{q}` (native Rust: `{r}`), expected `{name}`",
                width + k
            );
        }
        ensure!(
            extism.len() == batch.num_rows,
            "batch {b}: the Extism plugin returned {} rows for {}",
            extism.len(),
            batch.num_rows
        );
        for (row, (out, inp)) in extism.iter().zip(&input).enumerate() {
            let same_input = out.len() == inp.len() + ADDED.len()
                && inp.iter().all(|(key, value)| out.get(key) == Some(value));
            ensure!(
                same_input,
                "batch {b} row {row}: the Extism plugin changed the input: {inp:?} became {out:?}"
            );
            for (k, name) in ADDED.iter().enumerate() {
                let values = [
                    number(quarry.columns[width + k].cell(row)),
                    number(native[k].cell(row)),
                    match out.get(*name) {
                        Some(Value::Null) => None,
                        Some(v) => Some(v.as_f64().with_context(|| {
                            format!("batch {b} row {row}: Extism's {name} is {v}, not a number")
                        })?),
                        None => bail!("batch {b} row {row}: Extism's output has no {name}"),
                    },
                ];
                let agree = match values {
                    [None, None, None] => true,
                    [Some(q), Some(r), Some(e)] => close(q, r) && close(q, e),
                    _ => false,
                };
                ensure!(
                    agree,
                    "batch {b} row {row}: {name} differs: Quarry's plugin {:?}, native Rust {:?}, \
                     Extism {:?}",
                    values[0],
                    values[1],
                    values[2]
                );
                checked.nulls += usize::from(values[0].is_none());
            }
        }
        checked.rows += batch.num_rows;
    }
    // The flights checked must include cancelled ones, or nulls went untested.
    ensure!(
        checked.nulls > 0,
        "the first {} rows hold no null added value: check more batches",
        checked.rows
    );
    Ok(checked)
}

/// Rows per second, to three significant figures: `17.7 M`, `78.3 k`.
fn rate(per_second: f64) -> String {
    let (value, unit) = if per_second >= 1e6 {
        (per_second / 1e6, " M")
    } else if per_second >= 1e3 {
        (per_second / 1e3, " k")
    } else {
        (per_second, "")
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$}{unit}")
}

fn number(cell: Cell<'_>) -> Option<f64> {
    match cell {
        Cell::Float64(f) => Some(f),
        _ => None,
    }
}

/// Equal within 1e-9, relative to the size of values above 1: the JSON round trip may
/// move a float by one unit in the last place.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

/// Median times over all batches of: native Rust, Quarry's plugin, Extism end to end, and
/// the Extism call alone.
fn timings(
    runtime: &Runtime,
    units: &LoadedPlugin,
    peer: &mut extism::Plugin,
    batches: &[Batch],
    encoded: &[Vec<u8>],
    rounds: usize,
) -> anyhow::Result<[Duration; 4]> {
    let mut times: [Vec<Duration>; 4] = Default::default();
    for _ in 0..rounds + 1 {
        let started = Instant::now();
        for b in batches {
            std::hint::black_box(units_native(b));
        }
        times[0].push(started.elapsed());

        // The plugin takes its batches by value: the copy is made before the clock starts.
        let input = batches.to_vec();
        let mut run = runtime.start(units, runtime.default_limits(), Arc::default())?;
        run.init(DEMO, Backend::Sqlite, "{}")?;
        let started = Instant::now();
        for b in input {
            std::hint::black_box(run.transform(b)?);
        }
        times[1].push(started.elapsed());

        let started = Instant::now();
        for b in batches {
            let json = serde_json::to_vec(&Rows(b))?;
            let out = peer.call::<&[u8], &[u8]>("units", &json)?;
            let rows: Vec<JsonRow> = serde_json::from_slice(out)?;
            std::hint::black_box(rows);
        }
        times[2].push(started.elapsed());

        let started = Instant::now();
        for json in encoded {
            std::hint::black_box(peer.call::<&[u8], &[u8]>("units", json)?);
        }
        times[3].push(started.elapsed());
    }
    // The first round warms caches and is not counted.
    Ok(times.map(|mut t| {
        let counted = &mut t[1..];
        counted.sort();
        counted[counted.len() / 2]
    }))
}
