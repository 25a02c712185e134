//! Fair share: each caller (a user with `--auth token`, a client address without) may
//! have a few runs at once and so many a minute; beyond either the answer is
//! `429 too_many_runs` with `Retry-After`, so one caller cannot take every run slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// The length of the window `runs_per_minute` counts in.
const WINDOW: Duration = Duration::from_secs(60);

/// Callers not seen for this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug, Default)]
struct Usage {
    running: usize,
    window_start: Option<Instant>,
    started_in_window: u32,
    last_seen: Option<Instant>,
}

/// Per-caller counts of runs in progress and runs started this minute.
pub(crate) struct Quota {
    at_once: usize,
    per_minute: u32,
    usage: Arc<Mutex<HashMap<String, Usage>>>,
}

/// A run counted against its caller until dropped.
#[derive(Debug)]
pub(crate) struct Ticket {
    caller: String,
    usage: Arc<Mutex<HashMap<String, Usage>>>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(u) = usage.get_mut(&self.caller) {
            u.running = u.running.saturating_sub(1);
        }
    }
}

/// A run refused by the quota, with when to try again.
#[derive(Debug)]
pub(crate) struct TooMany {
    retry_after: Duration,
    message: String,
}

impl IntoResponse for TooMany {
    fn into_response(self) -> Response {
        let seconds = self.retry_after.as_secs().max(1);
        let mut response =
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_runs", self.message)
                .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        response
    }
}

impl Quota {
    pub(crate) fn new(at_once: usize, per_minute: u32) -> Quota {
        Quota {
            at_once: at_once.max(1),
            per_minute: per_minute.max(1),
            usage: Arc::default(),
        }
    }

    /// Counts a run for `caller`, or says why not and when to try again.
    pub(crate) fn start(&self, caller: &str) -> Result<Ticket, TooMany> {
        self.start_at(caller, Instant::now())
    }

    fn start_at(&self, caller: &str, now: Instant) -> Result<Ticket, TooMany> {
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        if usage.len() > 10_000 {
            usage.retain(|_, u| {
                u.running > 0 || u.last_seen.is_some_and(|t| now - t < FORGET_AFTER)
            });
        }
        let u = usage.entry(caller.to_owned()).or_default();
        u.last_seen = Some(now);
        if u.running >= self.at_once {
            return Err(TooMany {
                retry_after: Duration::from_secs(1),
                message: format!(
                    "{caller} has {} runs in progress, the most one caller may have at once \
                     (quarry serve --max-runs-per-caller); try again when one ends",
                    u.running
                ),
            });
        }
        let start = *u.window_start.get_or_insert(now);
        if now - start >= WINDOW {
            u.window_start = Some(now);
            u.started_in_window = 0;
        }
        if u.started_in_window >= self.per_minute {
            let retry_after = WINDOW.saturating_sub(now - u.window_start.unwrap_or(now));
            return Err(TooMany {
                retry_after,
                message: format!(
                    "{caller} started {} runs this minute, the most one caller may \
                     (quarry serve --max-runs-per-minute); try again in {} s",
                    u.started_in_window,
                    retry_after.as_secs().max(1)
                ),
            });
        }
        u.started_in_window += 1;
        u.running += 1;
        Ok(Ticket {
            caller: caller.to_owned(),
            usage: self.usage.clone(),
        })
    }
}

/// The memory that JSON answers being gathered may hold, all runs together. Each JSON run
/// reserves the most its answer may hold (`--max-answer-bytes`) before it starts; a run
/// that finds too little left is answered `503 busy` at once. Reserving up front, rather
/// than as the rows come, means that runs admitted always finish: eight runs growing
/// together cannot each take an eighth and all fail.
#[derive(Debug)]
pub(crate) struct Budget {
    held: std::sync::atomic::AtomicU64,
    limit: u64,
}

/// One answer's share of the [`Budget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Held {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Arc<Budget> {
        Arc::new(Budget {
            held: Default::default(),
            limit,
        })
    }

    /// Reserves `bytes` (at most the whole budget), or fails with `OutOfMemory` when
    /// the budget has not that much left.
    pub(crate) fn reserve(self: &Arc<Self>, bytes: u64) -> std::io::Result<Held> {
        use std::sync::atomic::Ordering;
        let bytes = bytes.min(self.limit);
        let before = self.held.fetch_add(bytes, Ordering::SeqCst);
        if before + bytes > self.limit {
            self.held.fetch_sub(bytes, Ordering::SeqCst);
            return Err(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!(
                    "the answers being gathered hold the server's whole memory budget of {} \
                     (quarry serve --memory-budget); try again shortly, ask for fewer rows, \
                     or stream them (?format=ndjson)",
                    quarry_core::size::format(self.limit)
                ),
            ));
        }
        Ok(Held {
            budget: self.clone(),
            bytes,
        })
    }

    /// Bytes held now.
    pub(crate) fn held(&self) -> u64 {
        self.held.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget
            .held
            .fetch_sub(self.bytes, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A quarter of the machine's memory (from `/proc/meminfo`), else 1 GiB.
pub fn default_memory_budget() -> u64 {
    let total_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
    total_kib.map_or(1 << 30, |kib| kib * 1024 / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_reserve_their_share_before_they_start() {
        let budget = Budget::new(100);
        let a = budget.reserve(60).unwrap();
        let refused = budget.reserve(50).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::OutOfMemory);
        let _b = budget.reserve(40).unwrap();
        assert_eq!(budget.held(), 100);
        drop(a);
        assert_eq!(budget.held(), 40);
        // More than the whole budget reserves the whole budget.
        assert!(budget.reserve(1000).is_err());
        drop(_b);
        assert_eq!(budget.reserve(1000).unwrap().bytes, 100);
    }

    #[test]
    fn runs_at_once_are_capped_per_caller_and_freed_when_they_end() {
        let quota = Quota::new(2, 100);
        let a1 = quota.start("a").unwrap();
        let _a2 = quota.start("a").unwrap();
        let refused = quota.start("a").unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        let _b = quota
            .start("b")
            .expect("another caller has their own share");
        drop(a1);
        quota.start("a").expect("a slot came free");
    }

    #[test]
    fn runs_per_minute_are_capped_and_the_window_moves_on() {
        let quota = Quota::new(10, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            drop(quota.start_at("a", t0).unwrap());
        }
        let refused = quota
            .start_at("a", t0 + Duration::from_secs(20))
            .unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(40));
        quota
            .start_at("a", t0 + Duration::from_secs(61))
            .expect("a new minute");
    }
}
