//! Isolation under load, on a real server over loopback: 64 concurrent clients, one of them
//! hostile (its plugin loops forever, or eats memory). The other 63 must all complete with
//! the right answer, and the hostile run must end with its limit. The latency figures are
//! printed; the 3× target on p99 is measured by `quarry bench --isolation` (figures in
//! BENCHMARKS.md), not asserted here, since timing on a shared machine is noisy.

use crate::common;

use std::time::Duration;

use common::*;
use quarry_bench::load::{Load, isolation};
use quarry_runtime::Limits;
use quarry_server::Settings;

#[test]
fn one_hostile_run_among_64_neither_fails_nor_starves_the_others() {
    let store = tempfile::tempdir().unwrap();
    let app = web_app(
        store.path(),
        Settings {
            // The 64 clients share one address: no per-caller share here.
            max_runs_per_caller: usize::MAX,
            max_runs_per_minute: u32::MAX,
            limits: Limits {
                cpu_time: Duration::from_secs(3),
                ..Limits::default()
            },
            ..Settings::default()
        },
    );
    let add = |name: &str| store_plugin(&app, name);
    let (units, hostile) = (add("units"), add("hostile"));
    let address = serve_app(app);

    let load = Load {
        clients: 64,
        runs_per_client: 2,
    };
    let result = isolation(address, load, &units, &hostile).unwrap();
    for (name, report, well_behaved) in [
        ("baseline", &result.baseline, 64),
        ("with a looping plugin", &result.looping, 63),
        ("with a memory-eating plugin", &result.hoarding, 63),
    ] {
        assert!(report.failures.is_empty(), "{name}: {:?}", report.failures);
        assert_eq!(report.latencies.len(), well_behaved * 2, "{name}");
        eprintln!(
            "{name}: {} runs, p50 {:?}, p99 {:?}, wall {:?}",
            report.latencies.len(),
            report.percentile(50.0),
            report.percentile(99.0),
            report.wall
        );
    }
    assert_eq!(
        result.looping.hostile,
        Some((422, "plugin_limit".to_owned()))
    );
    assert_eq!(
        result.hoarding.hostile,
        Some((422, "plugin_limit".to_owned()))
    );
    let ratio = |r: &quarry_bench::load::Report| {
        r.percentile(99.0).as_secs_f64() / result.baseline.percentile(99.0).as_secs_f64()
    };
    eprintln!(
        "p99 against the baseline: looping {:.2}×, memory-eating {:.2}×",
        ratio(&result.looping),
        ratio(&result.hoarding)
    );
}
