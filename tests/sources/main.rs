//! Sources: SQLite and the embedded demo, and the real servers that run here (PostgreSQL,
//! Apache Cassandra, FerretDB, a MongoDB emulator), one plugin across all of them, and
//! hostile queries. Tests that share a server take its lock in `common` (the one that
//! restarts it, for writing), so no test loses its connection to another's restart.

#[path = "../common/mod.rs"]
mod common;

mod backends;
mod cassandra;
mod cockroach;
mod hostile;
mod mongo;
mod parallel;
mod postgres;
mod sqlite;
