//! What the hosts serving one store share while they work: the runs in progress, so that
//! a cancel sent to any host stops the run on the host that has it, and the state of
//! uploads compiled in the background, so that any host answers their pollers.
//!
//! ```text
//! running  id, user, host, started_at    one row per run in progress, on every host
//! cancels  id, requested_at              cancels for runs on another host
//! uploads  sha256, state, detail         compiling | done ({"created"}) | failed (the error)
//! ```
//!
//! A cancel for a run on this host sets its flag at once; for a run on another host it is
//! written to `cancels`, which each host with runs in progress reads every
//! [`CANCEL_POLL`]. A host that dies leaves its `running` rows behind; they are deleted
//! after a day, and a cancel for one of them finds nothing to stop.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::ApiError;
use crate::auth::Caller;
use crate::db::{Db, DbError, unix_now};
use crate::users::Role;

/// How often a host with runs in progress looks for cancels sent to other hosts.
pub const CANCEL_POLL: Duration = Duration::from_millis(200);

/// A compile that has said nothing for this long is taken to have died with its host.
const STALE_COMPILE_SECS: i64 = 600;

/// Rows of runs in progress older than this are a dead host's.
const STALE_RUN_SECS: i64 = 86_400;

/// Where an upload compiled in the background is.
#[derive(Clone, Debug)]
pub(crate) enum Upload {
    Compiling,
    Done { created: bool },
    Failed(ApiError),
}

/// The runs in progress on this host and the store they are shared through.
pub(crate) struct Hosts {
    db: Arc<Db>,
    /// This host's name in `running`: random, new at every start.
    host: String,
    /// This host's runs: who started each, and its cancel flag.
    local: Mutex<HashMap<String, (String, Arc<AtomicBool>)>>,
}

impl Hosts {
    pub(crate) fn new(db: Arc<Db>) -> Hosts {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap_or_default();
        Hosts {
            db,
            host: hex::encode(bytes),
            local: Mutex::default(),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Arc<AtomicBool>)>> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a run that is starting here, so that any host can cancel it.
    pub(crate) async fn start_run(
        &self,
        id: &str,
        user: &str,
        cancel: Arc<AtomicBool>,
    ) -> Result<(), DbError> {
        self.local()
            .insert(id.to_owned(), (user.to_owned(), cancel));
        let written = self
            .db
            .execute(
                "INSERT INTO running (id, \"user\", host, started_at) VALUES ($1, $2, $3, $4)",
                &[
                    id.into(),
                    user.into(),
                    (&self.host).into(),
                    unix_now().into(),
                ],
            )
            .await;
        if written.is_err() {
            self.local().remove(id);
        }
        written.map(drop)
    }

    /// Forgets a run that ended here, however it ended.
    pub(crate) async fn end_run(&self, id: &str) {
        let cancelled = self
            .local()
            .remove(id)
            .is_some_and(|(_, flag)| flag.load(Ordering::Relaxed));
        let forgotten = async {
            self.db
                .execute("DELETE FROM running WHERE id = $1", &[id.into()])
                .await?;
            // Most runs were never cancelled: no row to delete. A cancel written after
            // the run's last poll is left to the sweep.
            if cancelled {
                self.db
                    .execute("DELETE FROM cancels WHERE id = $1", &[id.into()])
                    .await?;
            }
            Ok::<_, DbError>(())
        };
        if let Err(e) = forgotten.await {
            tracing::warn!(error = %e, run = id, "cannot remove a finished run from the store");
        }
    }

    /// Cancels run `id` for `caller`, on whichever host has it; `false` when no run in
    /// progress has that id, or it is someone else's and the caller is not an admin.
    pub(crate) async fn cancel(&self, id: &str, caller: &Caller) -> Result<bool, DbError> {
        let allowed = |owner: &str| owner == caller.name || caller.role >= Role::Admin;
        if let Some((owner, flag)) = self.local().get(id) {
            if !allowed(owner) {
                return Ok(false);
            }
            flag.store(true, Ordering::Relaxed);
            return Ok(true);
        }
        let owner = self
            .db
            .query_one("SELECT \"user\" FROM running WHERE id = $1", &[id.into()])
            .await?
            .and_then(|row| row.into_iter().next()?.text());
        match owner {
            Some(owner) if allowed(&owner) => {
                self.db
                    .execute(
                        "INSERT INTO cancels (id, requested_at) VALUES ($1, $2)
                         ON CONFLICT (id) DO NOTHING",
                        &[id.into(), unix_now().into()],
                    )
                    .await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Sets the flags of this host's runs that another host was asked to cancel.
    async fn take_cancels(&self) -> Result<(), DbError> {
        let rows = self
            .db
            .query(
                "SELECT c.id FROM cancels c JOIN running r ON r.id = c.id WHERE r.host = $1",
                &[(&self.host).into()],
            )
            .await?;
        let local = self.local();
        for id in rows
            .into_iter()
            .filter_map(|r| r.into_iter().next()?.text())
        {
            if let Some((_, flag)) = local.get(&id) {
                flag.store(true, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Looks for cancels every [`CANCEL_POLL`] while this host has runs in progress, and
    /// now and then deletes what dead hosts left. Ends when the server's state is dropped.
    pub(crate) fn watch(hosts: Weak<Hosts>) {
        tokio::spawn(async move {
            let mut ticks = 0u64;
            loop {
                tokio::time::sleep(CANCEL_POLL).await;
                let Some(hosts) = hosts.upgrade() else {
                    return;
                };
                ticks += 1;
                let busy = !hosts.local().is_empty();
                if busy && let Err(e) = hosts.take_cancels().await {
                    tracing::debug!(error = %e, "cannot read the cancels");
                }
                if ticks % 3000 == 1 {
                    hosts.sweep().await;
                }
            }
        });
    }

    /// Deletes the rows of runs and cancels that dead hosts left behind.
    async fn sweep(&self) {
        let before = unix_now() - STALE_RUN_SECS;
        for sql in [
            "DELETE FROM running WHERE started_at < $1",
            "DELETE FROM cancels WHERE requested_at < $1",
            "DELETE FROM uploads WHERE updated_at < $1",
        ] {
            if let Err(e) = self.db.execute(sql, &[before.into()]).await {
                tracing::debug!(error = %e, "cannot sweep the store");
                return;
            }
        }
    }

    /// Marks upload `sha256` as compiling; `true` when this caller should compile it (no
    /// host is compiling it, or the one that was has not been heard of for ten minutes).
    pub(crate) async fn begin_upload(&self, sha256: &str) -> Result<bool, DbError> {
        let now = unix_now();
        let taken = self
            .db
            .execute(
                "INSERT INTO uploads (sha256, state, detail, updated_at)
                 VALUES ($1, 'compiling', NULL, $2)
                 ON CONFLICT (sha256) DO UPDATE SET state = 'compiling', detail = NULL,
                     updated_at = excluded.updated_at
                 WHERE uploads.state <> 'compiling' OR uploads.updated_at < $3",
                &[sha256.into(), now.into(), (now - STALE_COMPILE_SECS).into()],
            )
            .await?;
        Ok(taken == 1)
    }

    /// Records how a background upload ended.
    pub(crate) async fn finish_upload(&self, sha256: &str, upload: &Upload) {
        let (state, detail) = match upload {
            Upload::Compiling => ("compiling", None),
            Upload::Done { created } => ("done", Some(json!({"created": created}))),
            Upload::Failed(error) => (
                "failed",
                Some(json!({"status": error.status.as_u16(), "error": error.body()})),
            ),
        };
        let written = self
            .db
            .execute(
                "UPDATE uploads SET state = $2, detail = $3, updated_at = $4 WHERE sha256 = $1",
                &[
                    sha256.into(),
                    state.into(),
                    detail.map(|d| d.to_string()).into(),
                    unix_now().into(),
                ],
            )
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, sha256, "cannot record how an upload ended");
        }
    }

    /// Where upload `sha256` is, when any host has been asked for it.
    pub(crate) async fn upload(&self, sha256: &str) -> Result<Option<Upload>, DbError> {
        let row = self
            .db
            .query_one(
                "SELECT state, detail FROM uploads WHERE sha256 = $1",
                &[sha256.into()],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut columns = row.into_iter();
        let state = columns.next().and_then(|v| v.text()).unwrap_or_default();
        let detail: serde_json::Value = columns
            .next()
            .and_then(|v| v.text())
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or_default();
        Ok(Some(match state.as_str() {
            "done" => Upload::Done {
                created: detail["created"].as_bool().unwrap_or(false),
            },
            "failed" => {
                let status = detail["status"]
                    .as_u64()
                    .and_then(|s| StatusCode::from_u16(s as u16).ok())
                    .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
                let error = &detail["error"];
                let mut failed = ApiError::new(
                    status,
                    error["kind"].as_str().unwrap_or("invalid"),
                    error["message"]
                        .as_str()
                        .unwrap_or("the upload was refused"),
                );
                failed.row = error["row"].as_u64().map(|r| r as u32);
                Upload::Failed(failed)
            }
            _ => Upload::Compiling,
        }))
    }
}
