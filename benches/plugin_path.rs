//! `cargo bench`: the plugin path in small pieces, each against its native Rust baseline.
//!
//! - `transform`: one 1,024-row batch of flights through the example plugins and through the
//!   same logic in native Rust (`quarry_bench`), the figure `quarry bench` reports as
//!   "transform alone";
//! - `lifecycle`: a fresh instance, and a call of `transform` on an empty batch;
//! - `output`: one batch written as JSON, NDJSON and CSV;
//! - `scan`: 16,384 flights read from the embedded demo, with and without the identity plugin.
//!
//! The plugins must be built first (`cargo plugins`); the demo database is built in
//! `target/bench-data` on the first run. `quarry bench` covers whole runs, batch sizes,
//! PostgreSQL and the HTTP path.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use quarry_core::batch::Batch;
use quarry_engine::run::{PluginChoice, RunRequest, Sink, run_blocking};
use quarry_runtime::{Limits, LoadedPlugin, PluginRun, Runtime};
use quarry_sources::{Backend, DEMO, Sources};

fn main() {
    divan::main();
}

struct Fixture {
    runtime: Runtime,
    sources: Sources,
    tokio: tokio::runtime::Runtime,
    /// The first 1,024 flights, as the demo source batches them.
    batch: Batch,
    plugins: PathBuf,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let data = repo().join("target/bench-data");
        quarry_sources::demo::ensure(&data).expect("the demo database builds");
        let runtime = quarry_runtime::Runtime::in_data_dir(&data, &bench_limits())
            .expect("the runtime starts");
        let sources = Sources::with_demo(&data);
        let tokio = tokio::runtime::Runtime::new().expect("tokio starts");
        let batch = quarry_bench::collect_batches(
            &runtime,
            &sources,
            tokio.handle(),
            DEMO,
            "SELECT * FROM flights LIMIT 1024",
            1024,
        )
        .expect("the demo answers")
        .remove(0);
        Fixture {
            runtime,
            sources,
            tokio,
            batch,
            plugins: repo().join("target/wasm32-wasip2/release"),
        }
    })
}

/// Default limits, except that a run may output as much as the benchmark asks of it.
fn bench_limits() -> Limits {
    Limits {
        output_rows: u64::MAX,
        output_bytes: u64::MAX,
        cpu_time: std::time::Duration::from_secs(3600),
        ..Limits::default()
    }
}

fn plugin(name: &str) -> Arc<LoadedPlugin> {
    let f = fixture();
    let path = f.plugins.join(format!("{name}.wasm"));
    let wasm = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); build the plugins with `cargo plugins`",
            path.display()
        )
    });
    f.runtime.load(&wasm).expect("the plugin loads").0
}

fn started(name: &str, params: &str) -> PluginRun {
    let f = fixture();
    let mut run = f
        .runtime
        .start(&plugin(name), &bench_limits(), Arc::default())
        .expect("an instance");
    run.init(DEMO, Backend::Sqlite, params)
        .expect("init succeeds");
    run
}

/// Reports rows/s and bytes/s (of the batch's column buffers) next to the time.
fn counted<'a, 'b>(bencher: Bencher<'a, 'b>, batch: &Batch) -> Bencher<'a, 'b> {
    bencher
        .counter(ItemsCount::new(batch.num_rows))
        .counter(BytesCount::new(batch.byte_size()))
}

mod transform {
    use super::*;
    use quarry_bench::{aggregate_native, filter_native, units_native};

    /// Each plugin call gets its own copy of the batch, made outside the timing, as a
    /// source hands over a batch it no longer needs.
    fn through(bencher: Bencher, plugin: &str, params: &str) {
        let mut run = started(plugin, params);
        counted(bencher, &fixture().batch)
            .with_inputs(|| fixture().batch.clone())
            .bench_local_values(|batch| run.transform(batch).expect("transform succeeds"));
    }

    #[divan::bench]
    fn identity_plugin(bencher: Bencher) {
        through(bencher, "identity", "{}");
    }

    #[divan::bench]
    fn map_native(bencher: Bencher) {
        counted(bencher, &fixture().batch).bench_local(|| units_native(&fixture().batch));
    }

    #[divan::bench]
    fn map_plugin(bencher: Bencher) {
        through(bencher, "units", "{}");
    }

    #[divan::bench]
    fn filter_native_rust(bencher: Bencher) {
        counted(bencher, &fixture().batch).bench_local(|| filter_native(&fixture().batch, 45));
    }

    #[divan::bench]
    fn filter_plugin(bencher: Bencher) {
        through(bencher, "delayed", r#"{"min_delay": 45}"#);
    }

    #[divan::bench]
    fn aggregate_native_rust(bencher: Bencher) {
        let mut groups = Default::default();
        counted(bencher, &fixture().batch)
            .bench_local(|| aggregate_native(&fixture().batch, &mut groups));
    }

    #[divan::bench]
    fn aggregate_plugin(bencher: Bencher) {
        through(bencher, "delay_stats", "{}");
    }
}

mod lifecycle {
    use super::*;

    #[divan::bench]
    fn instantiate(bencher: Bencher) {
        let (f, identity) = (fixture(), plugin("identity"));
        bencher.bench_local(|| {
            f.runtime
                .start(&identity, &bench_limits(), Arc::default())
                .expect("an instance")
        });
    }

    #[divan::bench]
    fn empty_transform(bencher: Bencher) {
        let mut run = started("identity", "{}");
        bencher
            .with_inputs(|| Batch {
                num_rows: 0,
                columns: Vec::new(),
            })
            .bench_local_values(|batch| run.transform(batch).expect("transform succeeds"));
    }
}

mod output {
    use super::*;
    use quarry_engine::output::Format;

    /// Counts the bytes written and drops them.
    struct Discard;

    impl std::io::Write for Discard {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(std::hint::black_box(buf).len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn write(bencher: Bencher, format: Format) {
        let f = fixture();
        let fields = f.batch.fields();
        counted(bencher, &f.batch).bench_local(|| {
            let mut sink = quarry_engine::output::sink(format, Discard);
            sink.start(&fields).unwrap();
            sink.batch(&f.batch).unwrap();
            sink.finish().unwrap();
        });
    }

    #[divan::bench]
    fn json(bencher: Bencher) {
        write(bencher, Format::Json);
    }

    #[divan::bench]
    fn ndjson(bencher: Bencher) {
        write(bencher, Format::Ndjson);
    }

    #[divan::bench]
    fn csv(bencher: Bencher) {
        write(bencher, Format::Csv);
    }
}

mod scan {
    use super::*;

    struct Count(u64);

    impl Sink for Count {
        fn start(&mut self, _: &[quarry_core::batch::Field]) -> std::io::Result<()> {
            Ok(())
        }
        fn batch(&mut self, b: &Batch) -> std::io::Result<()> {
            self.0 += b.num_rows as u64;
            Ok(())
        }
        fn finish(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn scan(bencher: Bencher, plugin: Option<Arc<LoadedPlugin>>) {
        let f = fixture();
        let rows = ItemsCount::new(16_384usize);
        bencher.counter(rows).bench_local(|| {
            let request = RunRequest {
                plugin: plugin.clone().map(|plugin| PluginChoice {
                    plugin,
                    load: Default::default(),
                }),
                query: Some("SELECT * FROM flights LIMIT 16384".to_owned()),
                ..RunRequest::new(DEMO)
            };
            let mut count = Count(0);
            let report = run_blocking(
                &f.runtime,
                &f.sources,
                f.tokio.handle(),
                request,
                &mut count,
                |_| {},
            );
            report.result.expect("the scan succeeds");
            assert_eq!(count.0, 16_384);
        });
    }

    #[divan::bench(sample_count = 20)]
    fn no_plugin(bencher: Bencher) {
        scan(bencher, None);
    }

    #[divan::bench(sample_count = 20)]
    fn identity_plugin(bencher: Bencher) {
        scan(bencher, Some(plugin("identity")));
    }
}
