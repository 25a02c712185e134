//! Runs that read several partitions of a query at once.
//!
//! A source splits a query into partitions (rowid or column ranges, token ranges, `_id`
//! ranges) whose rows together are the query's. Each partition is its own stream on the
//! async runtime, and each has its own thread and, for a plugin that may be split (its
//! `transform` keeps no state, or it merges partial aggregates), its own instance. Their
//! output batches meet on the calling thread, which writes them in the order they come:
//! an unordered query gives the same multiset of rows as one stream would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use quarry_core::batch::Batch;
use quarry_runtime::{PluginError, PluginRun};
use quarry_sources::{Query, Source, SourceError, StreamOptions};

/// One output batch of one partition.
pub(crate) struct Delivery {
    /// The rows: the plugin's output, or the source's batch when no plugin transforms.
    pub batch: Batch,
    /// Rows the source gave for it.
    pub rows_in: u64,
    /// Time inside the plugin's `transform`.
    pub transform: Duration,
}

/// What the partitions left: each instance (to finish or merge), and the time the
/// calling thread waited for output.
pub(crate) struct Finished {
    pub instances: Vec<PluginRun>,
    pub waited: Duration,
}

/// Streams every partition of `parts` from `source`, each through its instance in
/// `instances` (none when no plugin transforms; else one per partition), and hands each
/// output batch to `deliver` on the calling thread, which returns false to stop early
/// (the row limit). Returns the instances, with the first error of any partition.
pub(crate) fn run<E>(
    handle: &tokio::runtime::Handle,
    source: &Arc<dyn Source>,
    parts: Vec<Query>,
    options: &StreamOptions,
    instances: Vec<PluginRun>,
    mut deliver: impl FnMut(Delivery) -> Result<bool, E>,
) -> (Finished, Result<(), E>)
where
    E: From<SourceError> + From<PluginError>,
{
    assert!(instances.is_empty() || instances.len() == parts.len());
    let stop = Arc::new(AtomicBool::new(false));
    // The source's batches and the plugin's output, a few per partition in flight.
    let (out_tx, out_rx) = std_mpsc::sync_channel::<Result<Delivery, PluginError>>(2 * parts.len());
    let mut streams = Vec::with_capacity(parts.len());
    let mut inputs = Vec::with_capacity(parts.len());
    for part in parts {
        let (tx, rx) = mpsc::channel::<Batch>(4);
        let source = Arc::clone(source);
        let options = options.clone();
        streams.push(handle.spawn(async move { source.stream(part, options, tx).await }));
        inputs.push(rx);
    }
    let mut instances: Vec<Option<PluginRun>> = if instances.is_empty() {
        inputs.iter().map(|_| None).collect()
    } else {
        instances.into_iter().map(Some).collect()
    };
    // Only the calling thread waits for output: a plain sum.
    let mut waited = Duration::ZERO;
    let outcome = std::thread::scope(|scope| {
        let workers: Vec<_> = inputs
            .into_iter()
            .zip(instances.iter_mut())
            .map(|(rx, instance)| {
                let (out_tx, stop) = (out_tx.clone(), Arc::clone(&stop));
                let cancel = options.cancel.clone();
                scope.spawn(move || partition(rx, instance.as_mut(), out_tx, &stop, &cancel))
            })
            .collect();
        drop(out_tx);
        let mut result = Ok(());
        loop {
            let started = Instant::now();
            let Ok(delivery) = out_rx.recv() else { break };
            waited += started.elapsed();
            let more = match delivery {
                Ok(delivery) => deliver(delivery),
                Err(error) => Err(E::from(error)),
            };
            match more {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => {
                    result = Err(error);
                    break;
                }
            }
        }
        // Stops the partitions still running: they see the flag, or a closed channel.
        stop.store(true, Ordering::Relaxed);
        drop(out_rx);
        for worker in workers {
            let _ = worker.join();
        }
        result
    });
    // Every stream ends once its partition's receiver is gone; the first failure counts.
    let mut source_result = Ok(());
    for stream in streams {
        let ended = handle.block_on(stream).unwrap_or_else(|e| {
            Err(SourceError::Query {
                source_name: source.name().to_owned(),
                message: e.to_string(),
            })
        });
        if source_result.is_ok() {
            source_result = ended;
        }
    }
    let finished = Finished {
        instances: instances.into_iter().flatten().collect(),
        waited,
    };
    (finished, outcome.and(source_result.map_err(E::from)))
}

/// One partition's thread: its batches through its instance, out to the calling thread.
fn partition(
    mut rx: mpsc::Receiver<Batch>,
    mut instance: Option<&mut PluginRun>,
    out: std_mpsc::SyncSender<Result<Delivery, PluginError>>,
    stop: &AtomicBool,
    cancel: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) && !cancel.load(Ordering::Relaxed) {
        let Some(batch) = rx.blocking_recv() else {
            return;
        };
        let rows_in = batch.num_rows as u64;
        let started = Instant::now();
        let output = match instance.as_deref_mut() {
            Some(run) => run.transform(batch),
            None => Ok(batch),
        };
        let transform = started.elapsed();
        let failed = output.is_err();
        let delivery = output.map(|batch| Delivery {
            batch,
            rows_in,
            transform,
        });
        if out.send(delivery).is_err() || failed {
            return;
        }
    }
}
