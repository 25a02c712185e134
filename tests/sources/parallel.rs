//! Runs that read several partitions at once (`parallel`): the same rows as one stream,
//! split only where that is safe, and plugins split only when they allow it.

use crate::common;

use std::sync::Arc;

use common::*;
use quarry_engine::run::{PluginChoice, RunReport, RunRequest};

/// Every output row as text, sorted: the multiset of the rows, whatever their order.
pub(crate) fn rows(out: &Collect) -> Vec<String> {
    let mut rows: Vec<String> = out
        .batches
        .iter()
        .flat_map(|batch| {
            (0..batch.num_rows).map(move |row| {
                let cells: Vec<String> = batch
                    .columns
                    .iter()
                    .map(|column| format!("{:?}", Owned::from(column.cell(row))))
                    .collect();
                cells.join("|")
            })
        })
        .collect();
    rows.sort_unstable();
    rows
}

fn run(request: RunRequest) -> (RunReport, Collect) {
    let (report, out) = run_on(runtime(), request);
    if let Err(e) = &report.result {
        panic!("run failed: {e}; logs: {:?}", report.logs);
    }
    (report, out)
}

/// The same request read as one stream and as `streams`.
fn both(request: RunRequest, streams: usize) -> [(RunReport, Collect); 2] {
    let one = run(RunRequest {
        parallel: 1,
        ..request.clone()
    });
    let several = run(RunRequest {
        parallel: streams,
        ..request
    });
    [one, several]
}

#[test]
fn a_scan_read_in_rowid_ranges_gives_the_same_rows() {
    let rt = runtime();
    let query = "SELECT * FROM flights WHERE origin = 'JFK'";
    let [(one, one_out), (two, two_out)] = both(request(rt, None, "{}", Some(query)), 2);
    assert_eq!(one.stats.streams, 1);
    assert_eq!(two.stats.streams, 2, "{:?}", two.logs);
    assert_eq!(two.stats.rows_out, 111_279);
    assert_eq!(one_out.fields, two_out.fields);
    assert_eq!(rows(&one_out), rows(&two_out));
}

#[test]
fn a_stateless_map_runs_one_instance_per_partition() {
    let rt = runtime();
    let [(_, one_out), (two, two_out)] = both(
        request(rt, Some("units"), "{}", Some("SELECT * FROM flights")),
        2,
    );
    assert_eq!(two.stats.streams, 2);
    assert_eq!(two.stats.rows_out, 336_776);
    assert_eq!(one_out.fields, two_out.fields);
    assert_eq!(rows(&one_out), rows(&two_out));
}

/// A script that says `const stateless = true;` runs one runner per partition, with the
/// rows of one stream; an aggregate script without the line reads one stream.
#[test]
fn a_stateless_script_runs_one_runner_per_partition() {
    let rt = runtime();
    let runner = load(rt, "script_runner");
    let script = |name: &str| PluginChoice {
        plugin: Arc::new(runner.with_script(quarry_runtime::script::starter(name).unwrap(), name)),
        load: Default::default(),
    };
    let query = Some("SELECT * FROM flights WHERE origin = 'LGA'");
    let [(_, one_out), (two, two_out)] = both(
        RunRequest {
            plugin: Some(script("units-columns")),
            ..request(rt, None, "{}", query)
        },
        2,
    );
    assert_eq!(two.stats.streams, 2, "{:?}", two.logs);
    assert_eq!(two.stats.rows_out, 104_662);
    assert_eq!(one_out.fields, two_out.fields);
    assert_eq!(rows(&one_out), rows(&two_out));

    let (report, _) = run(RunRequest {
        parallel: 2,
        partition_by: Some("rowid".into()),
        plugin: Some(script("delay-stats")),
        ..request(rt, None, "{}", query)
    });
    assert_eq!(report.stats.streams, 1);
    assert!(
        report
            .logs
            .iter()
            .any(|l| l.message.contains("keeps state")),
        "{:?}",
        report.logs
    );
}

#[test]
fn a_merging_aggregate_merges_its_partitions_into_the_same_answer() {
    let rt = runtime();
    let [(_, one_out), (three, three_out)] = both(
        request(rt, Some("delay_stats"), "{}", Some("SELECT * FROM flights")),
        3,
    );
    assert_eq!(three.stats.streams, 3);
    assert_eq!(three.stats.rows_in, 336_776);
    assert_eq!(one_out.fields, three_out.fields);
    assert_eq!(rows(&one_out), rows(&three_out));
}

#[test]
fn what_cannot_be_split_is_read_as_one_stream_and_says_why() {
    let rt = runtime();
    let cases = [
        (None, "SELECT * FROM flights ORDER BY dep_delay", "ORDER BY"),
        (
            None,
            "SELECT carrier, count(*) FROM flights GROUP BY carrier",
            "GROUP BY",
        ),
        (None, "SELECT * FROM airlines", "too few"),
        // A 0.1 plugin declares no stateless transform: its state may span batches.
        (Some("contract_v01"), "SELECT * FROM flights", "keeps state"),
    ];
    for (plugin, query, why) in cases {
        let (report, _) = run(RunRequest {
            parallel: 4,
            partition_by: Some("rowid".into()),
            ..request(rt, plugin, "{}", Some(query))
        });
        assert_eq!(report.stats.streams, 1, "{query}");
        let said = report.logs.iter().any(|l| l.message.contains(why));
        assert!(said, "{query}: {:?}", report.logs);
    }
    // With a row limit, the first rows of one stream, as before.
    let (report, out) = run(RunRequest {
        parallel: 4,
        limit: Some(5),
        ..request(rt, None, "{}", Some("SELECT * FROM flights"))
    });
    assert_eq!((report.stats.streams, report.stats.rows_out), (1, 5));
    assert_eq!(out.column("flight")[0], Owned::Int(1545));
}

#[test]
fn a_partition_column_that_is_no_column_name_is_refused() {
    let rt = runtime();
    let report = run_on(
        rt,
        RunRequest {
            parallel: 2,
            partition_by: Some("rowid; DROP TABLE flights".into()),
            ..request(rt, None, "{}", Some("SELECT * FROM flights"))
        },
    )
    .0;
    let e = report.result.unwrap_err().to_string();
    assert!(e.contains("must be a column name"), "{e}");
}
