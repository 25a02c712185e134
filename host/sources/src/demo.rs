//! The embedded demo database: nycflights13 (all 336,776 flights of 2013 out of New York,
//! with airlines, airports, planes and hourly weather), shipped inside the binary and built
//! into `<data dir>/demo.sqlite` on first use.
//!
//! Timestamps are stored as SQLite's canonical UTC text (`2013-01-01 10:00:00`) in columns
//! declared `TIMESTAMP`, so SQL comparisons and SQLite's date functions work on them and
//! the host reads them as the `timestamp` type.

use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use tokio::sync::OnceCell;

use super::sqlite::SqliteSource;
use super::{Backend, BatchSender, DEMO, Query, Source, SourceError, StreamOptions};

const FLIGHTS_ZIP: &[u8] = include_bytes!("../data/flights.csv.zip");
const AIRLINES: &str = include_str!("../data/airlines.csv");
const AIRPORTS: &str = include_str!("../data/airports.csv");
const PLANES: &str = include_str!("../data/planes.csv");
const WEATHER: &str = include_str!("../data/weather.csv");

/// File name of the built database inside the data directory.
pub const FILE_NAME: &str = "demo.sqlite";

/// Bumped whenever the schema changes, so an old file is rebuilt rather than misread.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE airlines (
    carrier TEXT PRIMARY KEY,
    name    TEXT NOT NULL
);
CREATE TABLE airports (
    faa   TEXT PRIMARY KEY,
    name  TEXT NOT NULL,
    lat   REAL NOT NULL,
    lon   REAL NOT NULL,
    alt   INTEGER NOT NULL,
    tz    INTEGER,
    dst   TEXT,
    tzone TEXT
);
CREATE TABLE planes (
    tailnum      TEXT PRIMARY KEY,
    year         INTEGER,
    type         TEXT,
    manufacturer TEXT,
    model        TEXT,
    engines      INTEGER,
    seats        INTEGER,
    speed        INTEGER,
    engine       TEXT
);
CREATE TABLE weather (
    origin     TEXT NOT NULL,
    year       INTEGER NOT NULL,
    month      INTEGER NOT NULL,
    day        INTEGER NOT NULL,
    hour       INTEGER NOT NULL,
    temp       REAL,
    dewp       REAL,
    humid      REAL,
    wind_dir   INTEGER,
    wind_speed REAL,
    wind_gust  REAL,
    precip     REAL,
    pressure   REAL,
    visib      REAL,
    time_hour  TIMESTAMP NOT NULL,
    PRIMARY KEY (origin, time_hour)
);
-- (year, month, day, carrier, flight) repeats for 24 flights, so flights keeps SQLite's
-- rowid as its key.
CREATE TABLE flights (
    year           INTEGER NOT NULL,
    month          INTEGER NOT NULL,
    day            INTEGER NOT NULL,
    dep_time       INTEGER,
    sched_dep_time INTEGER NOT NULL,
    dep_delay      INTEGER,
    arr_time       INTEGER,
    sched_arr_time INTEGER NOT NULL,
    arr_delay      INTEGER,
    carrier        TEXT NOT NULL REFERENCES airlines (carrier),
    flight         INTEGER NOT NULL,
    tailnum        TEXT,
    origin         TEXT NOT NULL,
    dest           TEXT NOT NULL,
    air_time       INTEGER,
    distance       INTEGER NOT NULL,
    hour           INTEGER NOT NULL,
    minute         INTEGER NOT NULL,
    time_hour      TIMESTAMP NOT NULL
);
";

const INDEXES: &str = "
CREATE INDEX flights_route ON flights (origin, dest, time_hour);
CREATE INDEX flights_time ON flights (time_hour);
CREATE INDEX flights_carrier ON flights (carrier);
CREATE INDEX flights_tailnum ON flights (tailnum);
";

/// The demo source: a SQLite source whose file is built the first time a run needs it.
pub struct DemoSource {
    data_dir: PathBuf,
    /// The built file; set once, by the first run that needs it.
    path: OnceCell<PathBuf>,
}

impl DemoSource {
    /// The demo source, building its file in `data_dir` on first use.
    pub fn new(data_dir: PathBuf) -> Self {
        DemoSource {
            data_dir,
            path: OnceCell::new(),
        }
    }

    async fn sqlite(&self) -> Result<SqliteSource, SourceError> {
        let path = self
            .path
            .get_or_try_init(|| {
                let data_dir = self.data_dir.clone();
                async move {
                    match tokio::task::spawn_blocking(move || ensure(&data_dir)).await {
                        Ok(built) => built.map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                }
            })
            .await
            .map_err(|message| SourceError::Unavailable {
                source_name: DEMO.to_owned(),
                message,
            })?;
        Ok(SqliteSource::new(DEMO, path))
    }
}

#[async_trait::async_trait]
impl Source for DemoSource {
    fn name(&self) -> &str {
        DEMO
    }

    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn address(&self) -> String {
        format!(
            "embedded nycflights13, {}",
            self.data_dir.join(FILE_NAME).display()
        )
    }

    async fn stream(
        &self,
        query: Query,
        options: StreamOptions,
        out: BatchSender,
    ) -> Result<(), SourceError> {
        self.sqlite().await?.stream(query, options, out).await
    }

    async fn check(&self) -> Result<String, SourceError> {
        self.sqlite().await?.check().await
    }

    async fn explain(
        &self,
        query: &Query,
        timeout: std::time::Duration,
    ) -> Result<crate::explain::Plan, SourceError> {
        self.sqlite().await?.explain(query, timeout).await
    }

    async fn schema(&self) -> Result<crate::schema::Schema, SourceError> {
        self.sqlite().await?.schema().await
    }

    async fn split(
        &self,
        query: &Query,
        streams: usize,
        by: Option<&str>,
    ) -> Result<crate::split::Split, SourceError> {
        self.sqlite().await?.split(query, streams, by).await
    }
}

/// Whether the demo database in `data_dir` is built and current.
pub fn is_built(data_dir: &Path) -> bool {
    let path = data_dir.join(FILE_NAME);
    let Ok(conn) = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return false;
    };
    conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .is_ok_and(|v| v == SCHEMA_VERSION)
}

/// Builds the demo database in `data_dir` unless it is already there, and returns its path.
/// The file is written under a temporary name and renamed into place, so a crash or a
/// concurrent build never leaves a half-built database behind.
pub fn ensure(data_dir: &Path) -> Result<PathBuf, DemoError> {
    let path = data_dir.join(FILE_NAME);
    if is_built(data_dir) {
        return Ok(path);
    }
    std::fs::create_dir_all(data_dir).map_err(|e| DemoError::DataDir {
        dir: data_dir.to_owned(),
        source: e,
    })?;
    let tmp = tempfile_in(data_dir);
    build(&tmp).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DemoError::Build(e.to_string())
    })?;
    std::fs::rename(&tmp, &path).map_err(DemoError::Rename)?;
    Ok(path)
}

/// Why the demo database could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The data directory cannot be made.
    #[error("cannot create data directory {}: {source}", dir.display())]
    DataDir {
        /// The directory.
        dir: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// Loading the embedded data into SQLite failed.
    #[error("building the demo database failed: {0}")]
    Build(String),
    /// The built file cannot take its place.
    #[error("cannot move the demo database into place: {0}")]
    Rename(std::io::Error),
}

fn tempfile_in(dir: &Path) -> PathBuf {
    let unique = format!(
        ".{FILE_NAME}.{}.{}.tmp",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    dir.join(unique)
}

fn build(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    conn.execute_batch(SCHEMA)?;
    let tx = conn.transaction()?;
    load_csv(
        &tx,
        "airlines",
        AIRLINES.as_bytes(),
        &[Kind::Text, Kind::Text],
    )?;
    use Kind::{Int, Real, Text, Time};
    load_csv(
        &tx,
        "airports",
        AIRPORTS.as_bytes(),
        &[Text, Text, Real, Real, Int, Int, Text, Text],
    )?;
    load_csv(
        &tx,
        "planes",
        PLANES.as_bytes(),
        &[Text, Int, Text, Text, Text, Int, Int, Int, Text],
    )?;
    let weather = [
        Text, Int, Int, Int, Int, Real, Real, Real, Int, Real, Real, Real, Real, Real, Time,
    ];
    load_csv(&tx, "weather", WEATHER.as_bytes(), &weather)?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(FLIGHTS_ZIP))?;
    let mut flights = Vec::new();
    zip.by_name("flights.csv")?.read_to_end(&mut flights)?;
    let kinds = [
        Int, Int, Int, Int, Int, Int, Int, Int, Int, Text, Int, Text, Text, Text, Int, Int, Int,
        Int, Time,
    ];
    load_csv(&tx, "flights", &flights, &kinds)?;
    tx.execute_batch(INDEXES)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    conn.execute_batch("ANALYZE;")?;
    Ok(())
}

/// How a CSV field is stored.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Real,
    Text,
    /// ISO 8601 in the CSV (`2013-01-01T10:00:00Z`), SQLite's canonical UTC text in the table.
    Time,
}

fn load_csv(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    csv_bytes: &[u8],
    kinds: &[Kind],
) -> Result<(), Box<dyn std::error::Error>> {
    let placeholders = vec!["?"; kinds.len()].join(", ");
    let mut insert = tx.prepare(&format!("INSERT INTO {table} VALUES ({placeholders})"))?;
    let mut reader = csv::Reader::from_reader(csv_bytes);
    let mut record = csv::ByteRecord::new();
    let mut line = 1;
    while reader.read_byte_record(&mut record)? {
        line += 1;
        if record.len() != kinds.len() {
            return Err(format!(
                "{table}.csv line {line}: {} fields, expected {}",
                record.len(),
                kinds.len()
            )
            .into());
        }
        for (i, (field, kind)) in record.iter().zip(kinds).enumerate() {
            let field = std::str::from_utf8(field)?;
            let param = i + 1;
            if field == "NA" {
                insert.raw_bind_parameter(param, rusqlite::types::Null)?;
                continue;
            }
            let bad = || format!("{table}.csv line {line}: bad value {field:?} in field {param}");
            match kind {
                Kind::Int => {
                    insert.raw_bind_parameter(param, field.parse::<i64>().map_err(|_| bad())?)?
                }
                Kind::Real => {
                    insert.raw_bind_parameter(param, field.parse::<f64>().map_err(|_| bad())?)?
                }
                Kind::Text => insert.raw_bind_parameter(param, field)?,
                Kind::Time => {
                    let micros = quarry_core::datetime::parse_timestamp(field).ok_or_else(bad)?;
                    let mut text = quarry_core::datetime::format_timestamp(micros);
                    // 2013-01-01T10:00:00Z -> 2013-01-01 10:00:00
                    text.replace_range(10..11, " ");
                    text.pop();
                    insert.raw_bind_parameter(param, text)?
                }
            }
        }
        insert.raw_execute()?;
    }
    Ok(())
}
