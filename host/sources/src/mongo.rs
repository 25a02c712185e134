//! MongoDB, through the official `mongodb` driver.
//!
//! Only `find` and `aggregate` run, with `maxTimeMS` and `allowDiskUse: false`. Stages and
//! operators that write or run server-side code (`$out`, `$merge`, `$where`, `$function`,
//! `$accumulator`) are refused wherever they appear, before anything is sent.
//!
//! Documents become columns: top-level fields in first-seen order; nested documents and
//! arrays become JSON; ObjectId text; dates timestamps; Decimal128 decimals; binary bytes.
//! A field whose values have different types within a batch is JSON, with a note in the
//! run's log. A field that first appears in a later batch is added at the end, and the rows
//! before it hold null (the run pipeline widens its output for it). A field's
//! type is settled by the batch it first appears in; a later value that type cannot hold
//! is null, with a note.

use std::collections::HashSet;
use std::time::Duration;

use bson::{Bson, Document};
use futures_util::TryStreamExt;
use mongodb::Client;
use tokio::sync::OnceCell;

use super::explain::{self, Plan};
use super::schema::{Field, Index, Schema, Table};
use super::split::{self, Split};
use super::{
    Backend, BatchSender, MongoAggregate, MongoFind, Query, Source, SourceError, StreamOptions,
};
use quarry_core::batch::{Batch, ColumnBuilder, DataType};

/// A MongoDB database; reads run `find` and `aggregate` in it.
pub struct MongoSource {
    name: String,
    uri: String,
    database: String,
    /// User and password from the configuration, when the URI has none.
    user: Option<String>,
    password: Option<String>,
    pool_size: u32,
    /// Connected on first use; the driver pools connections itself.
    client: OnceCell<Client>,
}

impl MongoSource {
    /// A source for `database` at `uri`, with at most `pool_size` connections; it connects
    /// on first use.
    pub fn new(name: &str, uri: &str, database: &str, pool_size: usize) -> Self {
        MongoSource {
            name: name.to_owned(),
            uri: uri.to_owned(),
            database: database.to_owned(),
            user: None,
            password: None,
            pool_size: u32::try_from(pool_size.max(1)).unwrap_or(u32::MAX),
            client: OnceCell::new(),
        }
    }

    /// User and password from the configuration; with a user, they replace any in the URI.
    pub fn set_credentials(&mut self, user: Option<&str>, password: Option<&str>) {
        self.user = user.map(str::to_owned);
        self.password = password.map(str::to_owned);
    }

    async fn client(&self) -> Result<&Client, SourceError> {
        let unavailable = |e: mongodb::error::Error| SourceError::Unavailable {
            source_name: self.name.clone(),
            message: e.to_string(),
        };
        self.client
            .get_or_try_init(|| async {
                let mut options = mongodb::options::ClientOptions::parse(&self.uri)
                    .await
                    .map_err(unavailable)?;
                // Fail fast on a dead server instead of the driver's 30 s default.
                options
                    .server_selection_timeout
                    .get_or_insert(Duration::from_secs(5));
                options.max_pool_size = Some(self.pool_size);
                options.app_name.get_or_insert_with(|| "quarry".to_owned());
                if let Some(user) = &self.user {
                    let credential = mongodb::options::Credential::builder()
                        .username(user.clone())
                        .password(self.password.clone())
                        .build();
                    options.credential = Some(credential);
                }
                Client::with_options(options).map_err(unavailable)
            })
            .await
    }

    /// The configured database; runs use [`Source::stream`], only `quarry seed` writes.
    pub async fn database(&self) -> Result<mongodb::Database, SourceError> {
        Ok(self.client().await?.database(&self.database))
    }

    /// The server's `buildInfo`.
    async fn build_info(&self) -> Result<Document, SourceError> {
        let client = self.client().await?;
        client
            .database("admin")
            .run_command(bson::doc! { "buildInfo": 1 })
            .await
            .map_err(|e| SourceError::Unavailable {
                source_name: self.name.clone(),
                message: e.to_string(),
            })
    }

    /// Whether the server is FerretDB, whose `buildInfo` carries `ferretdbVersion`.
    async fn is_ferretdb(&self) -> Result<bool, SourceError> {
        Ok(self.build_info().await?.contains_key("ferretdbVersion"))
    }

    fn error(&self, e: impl std::fmt::Display) -> SourceError {
        SourceError::Query {
            source_name: self.name.clone(),
            message: e.to_string(),
        }
    }

    fn driver_error(&self, e: mongodb::error::Error, timeout: Duration) -> SourceError {
        use mongodb::error::ErrorKind;
        let unavailable = |message: String| SourceError::Unavailable {
            source_name: self.name.clone(),
            message,
        };
        match e.kind.as_ref() {
            ErrorKind::Command(c) if c.code == MAX_TIME_MS_EXPIRED => SourceError::Timeout {
                source_name: self.name.clone(),
                timeout,
            },
            ErrorKind::Command(c) if server_going_away(c) => unavailable(format!(
                "the server stopped during the query: {} ({}): {}",
                c.code_name, c.code, c.message
            )),
            // The driver's own rendering appends the raw reply as hex: the server's words
            // are enough.
            ErrorKind::Command(c) => {
                self.error(format!("{} ({}): {}", c.code_name, c.code, c.message))
            }
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. } => unavailable(e.to_string()),
            _ => self.error(e),
        }
    }
}

/// `parts + 1` bounds from `first` to `last`, the smallest and largest `_id`, or why there
/// are none. Both must be of one kind, ObjectIds, integers or dates: `_id`s sort by type
/// first, so then every `_id` between is of that kind too and a range of them matches every
/// document once (a range of one type never matches another). Consecutive equal bounds are
/// merged.
fn id_bounds(first: &Bson, last: &Bson, parts: usize) -> Result<Vec<Bson>, String> {
    let integer = |b: &Bson| match b {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        _ => None,
    };
    let mut bounds: Vec<Bson> = match (first, last) {
        (Bson::ObjectId(a), Bson::ObjectId(b)) => {
            let value = |id: &bson::oid::ObjectId| {
                let mut wide = [0u8; 16];
                wide[4..].copy_from_slice(&id.bytes());
                u128::from_be_bytes(wide)
            };
            let (lo, hi) = (value(a), value(b));
            let span = hi - lo + 1;
            (0..=parts as u128)
                .map(|i| {
                    // The last bound is never compared with: kept within 12 bytes.
                    let v = (lo + span * i / parts as u128).min(hi);
                    let mut bytes = [0u8; 12];
                    bytes.copy_from_slice(&v.to_be_bytes()[4..]);
                    Bson::ObjectId(bson::oid::ObjectId::from_bytes(bytes))
                })
                .collect()
        }
        (Bson::DateTime(a), Bson::DateTime(b)) => {
            split::bounds(a.timestamp_millis(), b.timestamp_millis(), parts)
                .into_iter()
                .map(|ms| Bson::DateTime(bson::DateTime::from_millis(ms)))
                .collect()
        }
        (a, b) => match (integer(a), integer(b)) {
            (Some(lo), Some(hi)) => split::bounds(lo, hi, parts)
                .into_iter()
                .map(Bson::Int64)
                .collect(),
            _ if a.element_type() == b.element_type() => {
                return Err(format!(
                    "`_id` values of type {:?} cannot be cut into even ranges",
                    a.element_type()
                ));
            }
            _ => return Err("`_id` values are of more than one type".into()),
        },
    };
    bounds.dedup();
    Ok(bounds)
}

/// MongoDB's `MaxTimeMSExpired`: the server stopped the query at its `maxTimeMS`.
const MAX_TIME_MS_EXPIRED: i32 = 50;

/// Whether a command error means the server itself is going away rather than that the
/// query is wrong: the codes the SDAM specification lists for a node that is shutting
/// down or recovering (`InterruptedAtShutdown`, `ShutdownInProgress`,
/// `InterruptedDueToReplStateChange`, `PrimarySteppedDown`, …), and FerretDB's answer to a
/// request still in flight 3 s after it was told to stop: an `InternalError` that ends
/// "context canceled after delay" (`ctxutil.WithDelay` in FerretDB 1.24).
fn server_going_away(c: &mongodb::error::CommandError) -> bool {
    const RECOVERING: [i32; 5] = [11600, 11602, 13436, 189, 91];
    const INTERNAL_ERROR: i32 = 1;
    RECOVERING.contains(&c.code)
        || (c.code == INTERNAL_ERROR && c.message.ends_with("context canceled after delay"))
}

/// The server's error code for a command it does not know.
const COMMAND_NOT_FOUND: i32 = 59;

/// How many documents of a collection the schema samples for its fields.
const SCHEMA_SAMPLE: u64 = 100;

/// A BSON value's type as MongoDB's `$type` names it.
fn bson_type_name(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}

#[async_trait::async_trait]
impl Source for MongoSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn backend(&self) -> Backend {
        Backend::Mongo
    }

    fn address(&self) -> String {
        let without_credentials = match self.uri.split_once('@') {
            Some((scheme_and_user, rest)) => {
                let scheme = scheme_and_user.split("://").next().unwrap_or("mongodb");
                format!("{scheme}://{rest}")
            }
            None => self.uri.clone(),
        };
        format!("{without_credentials} database {}", self.database)
    }

    /// `{"collection": "flights", "filter": {...}, "projection": ..., "sort": ..., "skip": N,
    /// "limit": N}` runs a find; `{"collection": "flights", "pipeline": [...]}` an aggregate.
    fn parse_query(&self, text: &str) -> Result<Query, SourceError> {
        parse_query(text).map_err(|message| self.error(message))
    }

    /// The server's `explain` of the find or aggregate, at `queryPlanner` verbosity: the
    /// plan it would choose, without running it.
    async fn explain(&self, query: &Query, timeout: Duration) -> Result<Plan, SourceError> {
        let command = match query {
            Query::MongoFind(find) => {
                let f = FindParts::parse(find).map_err(|m| self.error(m))?;
                let mut command = bson::doc! {"find": &find.collection, "filter": f.filter};
                if let Some(p) = f.projection {
                    command.insert("projection", p);
                }
                if let Some(s) = f.sort {
                    command.insert("sort", s);
                }
                if let Some(n) = find.skip {
                    command.insert("skip", i64::try_from(n).unwrap_or(i64::MAX));
                }
                if let Some(n) = find.limit {
                    command.insert("limit", i64::try_from(n).unwrap_or(i64::MAX));
                }
                command
            }
            Query::MongoAggregate(agg) => {
                let pipeline = parse_pipeline(&agg.pipeline).map_err(|m| self.error(m))?;
                bson::doc! {"aggregate": &agg.collection, "pipeline": pipeline, "cursor": {}}
            }
            other => {
                return Err(SourceError::WrongDialect {
                    source_name: self.name.clone(),
                    backend: "mongo",
                    kind: super::sqlite::query_kind(other),
                });
            }
        };
        let millis = i64::try_from(timeout.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let explained =
            self.client()
                .await?
                .database(&self.database)
                .run_command(bson::doc! {
                    "explain": command, "verbosity": "queryPlanner", "maxTimeMS": millis,
                })
                .await
                .map_err(|e| match e.kind.as_ref() {
                    mongodb::error::ErrorKind::Command(c) if c.code == COMMAND_NOT_FOUND => self
                        .error("this server cannot explain a query: it has no `explain` command"),
                    _ => self.driver_error(e, timeout),
                })?;
        let raw = Bson::Document(explained).into_relaxed_extjson();
        Ok(Plan {
            method: "explain".into(),
            tree: explain::tree_of_mongo(&raw),
            raw,
        })
    }

    /// Collections with the fields of up to [`SCHEMA_SAMPLE`] of their documents (a
    /// collection's documents need not agree), and their indexes.
    async fn schema(&self) -> Result<Schema, SourceError> {
        let timeout = Duration::from_secs(10);
        let db = self.client().await?.database(&self.database);
        let mut names = db
            .list_collection_names()
            .await
            .map_err(|e| self.driver_error(e, timeout))?;
        names.retain(|name| !name.starts_with("system."));
        names.sort();
        let mut tables = Vec::with_capacity(names.len());
        for name in names {
            let collection = db.collection::<Document>(&name);
            let mut cursor = collection
                .find(Document::new())
                .limit(SCHEMA_SAMPLE as i64)
                .max_time(timeout)
                .await
                .map_err(|e| self.driver_error(e, timeout))?;
            let mut fields: Vec<(String, Vec<&'static str>)> = Vec::new();
            let mut sampled = 0;
            while let Some(doc) = cursor
                .try_next()
                .await
                .map_err(|e| self.driver_error(e, timeout))?
            {
                sampled += 1;
                for (key, value) in &doc {
                    let kind = bson_type_name(value);
                    match fields.iter_mut().find(|(name, _)| name == key) {
                        Some((_, kinds)) if !kinds.contains(&kind) => kinds.push(kind),
                        Some(_) => {}
                        None => fields.push((key.clone(), vec![kind])),
                    }
                }
            }
            let mut indexes = Vec::new();
            if let Ok(mut listed) = collection.list_indexes().await {
                while let Ok(Some(index)) = listed.try_next().await {
                    let options = index.options.unwrap_or_default();
                    indexes.push(Index {
                        name: options.name.unwrap_or_default(),
                        columns: index.keys.keys().cloned().collect(),
                        unique: options.unique.unwrap_or(false),
                    });
                }
            }
            tables.push(Table {
                name,
                kind: "collection",
                columns: fields
                    .into_iter()
                    .map(|(name, kinds)| Field {
                        key: (name == "_id").then_some("primary"),
                        ..Field::new(name, kinds.join("|"))
                    })
                    .collect(),
                indexes,
                sampled: Some(sampled),
            });
        }
        Ok(Schema { tables })
    }

    async fn stream(
        &self,
        query: Query,
        options: StreamOptions,
        out: BatchSender,
    ) -> Result<(), SourceError> {
        let timeout = options.timeout;
        let batch = options.batch_rows.min(u32::MAX as usize) as u32;
        let db = self.client().await?.database(&self.database);
        let mut cursor = match &query {
            Query::MongoFind(find) => {
                let f = FindParts::parse(find).map_err(|m| self.error(m))?;
                let collection = db.collection::<Document>(&find.collection);
                let mut action = collection
                    .find(f.filter)
                    .max_time(timeout)
                    .allow_disk_use(false)
                    .batch_size(batch);
                if let Some(p) = f.projection {
                    action = action.projection(p);
                }
                if let Some(s) = f.sort {
                    action = action.sort(s);
                }
                if let Some(n) = find.skip {
                    action = action.skip(n);
                }
                if let Some(n) = find.limit {
                    action = action.limit(i64::try_from(n).unwrap_or(i64::MAX));
                }
                action.await.map_err(|e| self.driver_error(e, timeout))?
            }
            Query::MongoAggregate(agg) => {
                let pipeline = parse_pipeline(&agg.pipeline).map_err(|m| self.error(m))?;
                db.collection::<Document>(&agg.collection)
                    .aggregate(pipeline)
                    .max_time(timeout)
                    .allow_disk_use(false)
                    .batch_size(batch)
                    .await
                    .map_err(|e| self.driver_error(e, timeout))?
            }
            other => {
                return Err(SourceError::WrongDialect {
                    source_name: self.name.clone(),
                    backend: "mongo",
                    kind: super::sqlite::query_kind(other),
                });
            }
        };
        let mut columns = Columns::default();
        let mut docs = Vec::with_capacity(options.batch_rows);
        let mut total: u64 = 0;
        loop {
            if options.is_cancelled() {
                return Err(SourceError::Cancelled);
            }
            let room = options
                .max_rows
                .map(|m| m.saturating_sub(total + docs.len() as u64));
            let next = match room {
                Some(0) => None,
                _ => cursor
                    .try_next()
                    .await
                    .map_err(|e| self.driver_error(e, timeout))?,
            };
            let done = next.is_none();
            docs.extend(next);
            if docs.len() >= options.batch_rows || (done && !docs.is_empty()) {
                total += docs.len() as u64;
                let batch = columns.batch(&docs, total, &self.name, &options);
                docs.clear();
                if out.send(batch).await.is_err() {
                    return Ok(());
                }
            }
            if done {
                return Ok(());
            }
        }
    }

    /// Ranges of `_id` of a plain `find` (no sort, skip or limit), as the MongoDB Spark
    /// connector reads: `_id` is always indexed, so on MongoDB each range is an index scan.
    /// FerretDB filters ranges only after reading every document, so there a query is split
    /// only when asked (`--partition-by _id`).
    async fn split(
        &self,
        query: &Query,
        streams: usize,
        by: Option<&str>,
    ) -> Result<Split, SourceError> {
        if let Some(field) = by.filter(|field| *field != "_id") {
            return Err(self.error(format!(
                "a MongoDB run is split by ranges of `_id`, not of `{field}`"
            )));
        }
        let Query::MongoFind(find) = query else {
            return Ok(Split::Whole(
                "an aggregation pipeline needs all the documents".into(),
            ));
        };
        let whole = [
            (find.sort.is_some(), "sort: one stream keeps the order"),
            (
                find.skip.is_some(),
                "skip applies to all the documents at once",
            ),
            (
                find.limit.is_some(),
                "limit applies to all the documents at once",
            ),
        ];
        if let Some((_, why)) = whole.iter().find(|(applies, _)| *applies) {
            return Ok(Split::Whole((*why).into()));
        }
        let timeout = Duration::from_secs(30);
        let filter = document("the filter", &find.filter).map_err(|e| self.error(e))?;
        let collection = self
            .database()
            .await?
            .collection::<Document>(&find.collection);
        let parts = if by.is_some() {
            streams
        } else {
            if self.is_ferretdb().await? {
                return Ok(Split::Whole(
                    "FerretDB reads every document for each `_id` range, so one stream is faster \
                     (--partition-by _id splits anyway)"
                        .into(),
                ));
            }
            let documents = collection
                .estimated_document_count()
                .await
                .map_err(|e| self.driver_error(e, timeout))?;
            let parts = split::worth(documents, streams);
            if parts < 2 {
                return Ok(Split::Whole(format!(
                    "{documents} documents are too few to split (at least {} a partition)",
                    split::MIN_PARTITION_ROWS
                )));
            }
            parts
        };
        let end = |order: i32| {
            let collection = collection.clone();
            async move {
                collection
                    .find_one(bson::doc! {})
                    .sort(bson::doc! { "_id": order })
                    .projection(bson::doc! { "_id": 1 })
                    .max_time(timeout)
                    .await
                    .map(|d| d.and_then(|d| d.get("_id").cloned()))
            }
        };
        let first = end(1).await.map_err(|e| self.driver_error(e, timeout))?;
        let last = end(-1).await.map_err(|e| self.driver_error(e, timeout))?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(Split::Whole("the collection is empty".into()));
        };
        let bounds = match id_bounds(&first, &last, parts) {
            Ok(bounds) if bounds.len() > 2 => bounds,
            Ok(_) => {
                return Ok(Split::Whole(
                    "every document has the same `_id` range".into(),
                ));
            }
            Err(why) => return Ok(Split::Whole(why)),
        };
        let queries = bounds
            .windows(2)
            .enumerate()
            .map(|(i, range)| {
                // The first and last ranges are open, for documents added meanwhile.
                let mut id = Document::new();
                if i > 0 {
                    id.insert("$gte", range[0].clone());
                }
                if i < bounds.len() - 2 {
                    id.insert("$lt", range[1].clone());
                }
                let range = bson::doc! { "_id": id };
                let filter = if filter.is_empty() {
                    range
                } else {
                    bson::doc! { "$and": [filter.clone(), range] }
                };
                Query::MongoFind(MongoFind {
                    filter: Bson::Document(filter).into_canonical_extjson().to_string(),
                    ..find.clone()
                })
            })
            .collect();
        Ok(Split::Parts(queries))
    }

    async fn check(&self) -> Result<String, SourceError> {
        let info = self.build_info().await?;
        let version = info.get_str("version").unwrap_or("unknown version");
        Ok(format!("MongoDB {version}, database {}", self.database))
    }
}

/// Parses a query the user typed (see [`MongoSource::parse_query`]).
pub fn parse_query(text: &str) -> Result<Query, QueryError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| QueryError::NotJson {
        what: "the query",
        message: e.to_string(),
    })?;
    let obj = value.as_object().ok_or(QueryError::NotAQuery)?;
    let collection = obj
        .get("collection")
        .and_then(|c| c.as_str())
        .ok_or(QueryError::NoCollection)?
        .to_owned();
    let text_of = |key: &str| obj.get(key).map(|v| v.to_string());
    if let Some(pipeline) = obj.get("pipeline") {
        return Ok(Query::MongoAggregate(MongoAggregate {
            collection,
            pipeline: pipeline.to_string(),
        }));
    }
    let number = |key: &'static str| -> Result<Option<u64>, QueryError> {
        obj.get(key)
            .map(|v| v.as_u64().ok_or(QueryError::NotACount(key)))
            .transpose()
    };
    Ok(Query::MongoFind(MongoFind {
        collection,
        filter: text_of("filter").unwrap_or_else(|| "{}".to_owned()),
        projection: text_of("projection"),
        sort: text_of("sort"),
        skip: number("skip")?,
        limit: number("limit")?,
    }))
}

/// Extended JSON (relaxed or canonical) text as BSON.
fn extended_json(what: &'static str, text: &str) -> Result<Bson, QueryError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| QueryError::NotJson {
        what,
        message: e.to_string(),
    })?;
    Bson::try_from(value).map_err(|e| QueryError::NotExtendedJson {
        what,
        message: e.to_string(),
    })
}

/// Why a MongoDB query cannot run as written.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Text that does not parse as JSON.
    #[error("{what} is not JSON: {message}")]
    NotJson {
        /// The part of the query.
        what: &'static str,
        /// The parser's words.
        message: String,
    },
    /// JSON that is not MongoDB Extended JSON.
    #[error("{what} is not MongoDB Extended JSON: {message}")]
    NotExtendedJson {
        /// The part of the query.
        what: &'static str,
        /// The converter's words.
        message: String,
    },
    /// A query that is not an object.
    #[error("the query must be a JSON object with `collection`")]
    NotAQuery,
    /// A query without its collection.
    #[error("the query needs `collection`, a string")]
    NoCollection,
    /// `skip` or `limit` that is not a count.
    #[error("`{0}` must be a non-negative integer")]
    NotACount(&'static str),
    /// A filter, projection or sort that is not an object.
    #[error("{0} must be a JSON object")]
    NotAnObject(&'static str),
    /// A pipeline that is not an array.
    #[error("the pipeline must be a JSON array of stages")]
    NotAPipeline,
    /// A stage that is not an object.
    #[error("stage {0} of the pipeline is not an object")]
    NotAStage(usize),
    /// An operator the guard refuses.
    #[error("{what} uses {refused}, which Quarry refuses")]
    Refused {
        /// The part of the query.
        what: &'static str,
        /// The operator.
        refused: quarry_core::guard::Refused,
    },
}

fn document(what: &'static str, text: &str) -> Result<Document, QueryError> {
    match extended_json(what, text)? {
        Bson::Document(d) => {
            guard(&Bson::Document(d.clone()))
                .map_err(|refused| QueryError::Refused { what, refused })?;
            Ok(d)
        }
        _ => Err(QueryError::NotAnObject(what)),
    }
}

struct FindParts {
    filter: Document,
    projection: Option<Document>,
    sort: Option<Document>,
}

impl FindParts {
    fn parse(find: &MongoFind) -> Result<Self, QueryError> {
        Ok(FindParts {
            filter: document("the filter", &find.filter)?,
            projection: find
                .projection
                .as_deref()
                .map(|p| document("the projection", p))
                .transpose()?,
            sort: find
                .sort
                .as_deref()
                .map(|s| document("the sort", s))
                .transpose()?,
        })
    }
}

fn parse_pipeline(text: &str) -> Result<Vec<Document>, QueryError> {
    let Bson::Array(stages) = extended_json("the pipeline", text)? else {
        return Err(QueryError::NotAPipeline);
    };
    guard(&Bson::Array(stages.clone())).map_err(|refused| QueryError::Refused {
        what: "the pipeline",
        refused,
    })?;
    stages
        .into_iter()
        .enumerate()
        .map(|(i, s)| match s {
            Bson::Document(d) => Ok(d),
            _ => Err(QueryError::NotAStage(i)),
        })
        .collect()
}

pub use quarry_core::guard::mongo::guard;

/// The type a BSON value maps to; `None` for null.
fn bson_type(v: &Bson) -> Option<DataType> {
    Some(match v {
        Bson::Null | Bson::Undefined => return None,
        Bson::Double(_) => DataType::Float64,
        Bson::Int32(_) | Bson::Int64(_) => DataType::Int64,
        Bson::String(_) => DataType::Text,
        Bson::Boolean(_) => DataType::Boolean,
        Bson::DateTime(_) => DataType::Timestamp,
        Bson::ObjectId(_) => DataType::Text,
        Bson::Decimal128(_) => DataType::Decimal,
        Bson::Binary(_) => DataType::Bytes,
        _ => DataType::Json,
    })
}

/// The relaxed Extended JSON text of a value.
fn json_text(v: &Bson) -> String {
    v.clone().into_relaxed_extjson().to_string()
}

/// The run's columns: top-level fields in first-seen order across the run. A field first
/// seen in a later batch is added to the end; the rows before it hold null.
#[derive(Default)]
struct Columns {
    fields: Vec<(String, DataType)>,
    /// Fields already noted for a value their column's type cannot hold.
    noted: HashSet<String>,
}

impl Columns {
    fn batch(
        &mut self,
        docs: &[Document],
        seen: u64,
        source: &str,
        options: &StreamOptions,
    ) -> Batch {
        self.add_new_fields(docs, source, options);
        let first_doc = seen - docs.len() as u64 + 1;
        let columns = self
            .fields
            .iter()
            .map(|(name, data_type)| {
                let mut b = ColumnBuilder::new(name.clone(), *data_type, docs.len());
                for (i, doc) in docs.iter().enumerate() {
                    let value = doc.get(name);
                    if !push(&mut b, value) && self.noted.insert(name.clone()) {
                        let kind = value.and_then(bson_type).map_or("other".into(), |t| t.to_string());
                        options.note(format!(
                            "source `{source}`: field `{name}` holds a {kind} value in document {}, \
                             but its column is {data_type} (fixed by an earlier batch); such values are null",
                            first_doc + i as u64
                        ));
                    }
                }
                b.finish()
            })
            .collect();
        Batch {
            num_rows: docs.len(),
            columns,
        }
    }

    /// Appends the fields this batch adds, in first-seen order, one type per field (JSON
    /// when its values in the batch differ; text when they are all null).
    fn add_new_fields(&mut self, docs: &[Document], source: &str, options: &StreamOptions) {
        let known = self.fields.len();
        let mut new: Vec<(String, Option<DataType>)> = Vec::new();
        for doc in docs {
            for (key, value) in doc {
                if self.fields[..known].iter().any(|(name, _)| name == key) {
                    continue;
                }
                let t = bson_type(value);
                match new.iter_mut().find(|(name, _)| name == key) {
                    None => new.push((key.clone(), t)),
                    Some((_, slot)) => {
                        if let Some(t) = t {
                            *slot = Some(match *slot {
                                None => t,
                                Some(existing) => unify(existing, t, key, source, options),
                            });
                        }
                    }
                }
            }
        }
        self.fields.extend(
            new.into_iter()
                .map(|(k, t)| (k, t.unwrap_or(DataType::Text))),
        );
    }
}

fn unify(a: DataType, b: DataType, key: &str, source: &str, options: &StreamOptions) -> DataType {
    use DataType::{Float64, Int64, Json};
    match (a, b) {
        _ if a == b => a,
        (Int64, Float64) | (Float64, Int64) => Float64,
        (Json, _) => Json,
        _ => {
            options.note(format!(
                "source `{source}`: field `{key}` holds both {a} and {b} values; it is output as JSON"
            ));
            Json
        }
    }
}

/// Appends a value to a column of the type [`Columns`] chose for its field; false when
/// the value does not fit that type and a null went in instead.
fn push(b: &mut ColumnBuilder, value: Option<&Bson>) -> bool {
    let Some(v) = value else {
        b.push_null();
        return true;
    };
    match (b.data_type(), v) {
        (_, Bson::Null | Bson::Undefined) => b.push_null(),
        (DataType::Json, v) => b.push_str(&json_text(v)),
        (DataType::Float64, Bson::Double(f)) => b.push_f64(*f),
        (DataType::Float64, Bson::Int32(i)) => b.push_f64(f64::from(*i)),
        (DataType::Float64, Bson::Int64(i)) => b.push_f64(*i as f64),
        (DataType::Int64, Bson::Int32(i)) => b.push_i64(i64::from(*i)),
        (DataType::Int64, Bson::Int64(i)) => b.push_i64(*i),
        (DataType::Text, Bson::String(s)) => b.push_str(s),
        (DataType::Text, Bson::ObjectId(id)) => b.push_str(&id.to_hex()),
        (DataType::Boolean, Bson::Boolean(x)) => b.push_bool(*x),
        (DataType::Timestamp, Bson::DateTime(t)) => {
            b.push_i64(t.timestamp_millis().saturating_mul(1000))
        }
        (DataType::Decimal, Bson::Decimal128(d)) => b.push_str(&d.to_string()),
        (DataType::Bytes, Bson::Binary(bin)) => b.push_bytes(&bin.bytes),
        // A value of another type in a text column fixed by an earlier batch.
        (DataType::Text, v) => b.push_str(&json_text(v)),
        _ => {
            b.push_null();
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn refused(json: &str) -> Option<String> {
        guard(&extended_json("test", json).unwrap())
            .err()
            .map(|r| r.0)
    }

    fn command_error(code: i32, code_name: &str, message: &str) -> mongodb::error::CommandError {
        bson::from_document(bson::doc! { "code": code, "codeName": code_name, "errmsg": message })
            .unwrap()
    }

    #[test]
    fn id_ranges_cut_objectids_integers_and_dates_evenly() {
        use bson::oid::ObjectId;
        let first = ObjectId::parse_str("65a000000000000000000000").unwrap();
        let last = ObjectId::parse_str("65a0000000000000000003e7").unwrap(); // 999 later
        let bounds = id_bounds(&Bson::ObjectId(first), &Bson::ObjectId(last), 4).unwrap();
        let hex: Vec<String> = bounds
            .iter()
            .map(|b| b.as_object_id().unwrap().to_hex())
            .collect();
        assert_eq!(
            hex,
            [
                "65a000000000000000000000",
                "65a0000000000000000000fa", // 250
                "65a0000000000000000001f4", // 500
                "65a0000000000000000002ee", // 750
                "65a0000000000000000003e7", // the last, kept within 12 bytes
            ]
        );
        let ints = id_bounds(&Bson::Int32(0), &Bson::Int64(99), 4).unwrap();
        assert_eq!(ints, [0, 25, 50, 75, 100].map(Bson::Int64));
        let day = 86_400_000;
        let dates = id_bounds(
            &Bson::DateTime(bson::DateTime::from_millis(0)),
            &Bson::DateTime(bson::DateTime::from_millis(2 * day - 1)),
            2,
        )
        .unwrap();
        assert_eq!(dates[1], Bson::DateTime(bson::DateTime::from_millis(day)));
        // One `_id` value: no range to cut.
        assert_eq!(
            id_bounds(&Bson::Int32(5), &Bson::Int32(5), 4)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn ids_of_several_types_or_of_text_are_not_cut() {
        let text = id_bounds(&Bson::String("a".into()), &Bson::String("z".into()), 2);
        assert!(text.unwrap_err().contains("cannot be cut"));
        let mixed = id_bounds(&Bson::Int32(1), &Bson::String("z".into()), 2);
        assert!(mixed.unwrap_err().contains("more than one type"));
    }

    /// What a server says when it is stopped under a running query (FerretDB's words were
    /// captured from a CI run) is "unavailable"; a wrong query stays a query error.
    #[test]
    fn a_server_going_away_is_told_from_a_wrong_query() {
        let ferretdb_stopping = "[msg_getmore.go:204 handler.(*Handler).MsgGetMore] \
            [query_iterator.go:79 sqlite.(*queryIterator).Next] context canceled after delay";
        assert!(server_going_away(&command_error(
            1,
            "InternalError",
            ferretdb_stopping
        )));
        assert!(server_going_away(&command_error(
            11600,
            "InterruptedAtShutdown",
            ""
        )));
        assert!(server_going_away(&command_error(
            91,
            "ShutdownInProgress",
            ""
        )));
        assert!(!server_going_away(&command_error(
            1,
            "InternalError",
            "context canceled"
        )));
        assert!(!server_going_away(&command_error(
            2,
            "BadValue",
            "unknown operator: $foo"
        )));
    }

    #[test]
    fn the_guard_finds_refused_operators_anywhere() {
        assert_eq!(
            refused(r#"{"origin": "JFK", "dep_delay": {"$gt": 60}}"#),
            None
        );
        assert_eq!(
            refused(r#"[{"$match": {}}, {"$group": {"_id": "$carrier", "n": {"$sum": 1}}}]"#),
            None
        );
        for (json, op) in [
            (r#"[{"$match": {}}, {"$out": "stolen"}]"#, "$out"),
            (r#"[{"$merge": {"into": "x"}}]"#, "$merge"),
            (r#"{"$where": "sleep(100000)"}"#, "$where"),
            (
                r#"{"$expr": {"$function": {"body": "x", "args": [], "lang": "js"}}}"#,
                "$function",
            ),
            (
                r#"[{"$group": {"_id": 1, "x": {"$accumulator": {}}}}]"#,
                "$accumulator",
            ),
            (
                r#"{"$and": [{"a": 1}, {"$or": [{"$where": "1"}]}]}"#,
                "$where",
            ),
            (
                r#"[{"$lookup": {"from": "f", "pipeline": [{"$merge": "y"}], "as": "z"}}]"#,
                "$merge",
            ),
            (r#"[{"$facet": {"a": [{"$out": "x"}]}}]"#, "$out"),
            (r#"[{"$OUT": "x"}]"#, "$out"),
            (r#"[{" $merge ": "x"}]"#, "$merge"),
            (
                r#"{"$where": {"$code": "function() { return true }"}}"#,
                "$where",
            ),
            (
                r#"{"f": {"$code": "function() { return true }"}}"#,
                "JavaScript code",
            ),
        ] {
            assert_eq!(refused(json).as_deref(), Some(op), "{json}");
        }
    }

    #[test]
    fn typed_queries_parse() {
        let Query::MongoFind(f) =
            parse_query(r#"{"collection": "flights", "filter": {"origin": "JFK"}, "limit": 5}"#)
                .unwrap()
        else {
            panic!("find")
        };
        assert_eq!((f.collection.as_str(), f.limit), ("flights", Some(5)));
        assert!(matches!(
            parse_query(r#"{"collection": "f", "pipeline": []}"#),
            Ok(Query::MongoAggregate(_))
        ));
        assert!(
            parse_query(r#"{"filter": {}}"#)
                .unwrap_err()
                .to_string()
                .contains("collection")
        );
        assert!(
            parse_query("SELECT 1")
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
    }

    fn options() -> StreamOptions {
        StreamOptions {
            batch_rows: 10,
            max_rows: None,
            timeout: Duration::from_secs(1),
            cancel: Arc::default(),
            notes: Arc::default(),
        }
    }

    #[test]
    fn documents_become_typed_columns_in_first_seen_order() {
        let oid = bson::oid::ObjectId::parse_str("64b7f0c2a1b2c3d4e5f60718").unwrap();
        let docs = vec![
            bson::doc! { "_id": oid, "n": 1, "when": bson::DateTime::from_millis(1_000), "nested": { "a": [1, 2] } },
            bson::doc! { "_id": oid, "n": 2.5, "late": "x", "mixed": "text", "bin": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![1, 2] } },
            bson::doc! { "mixed": 3, "n": bson::Bson::Null },
        ];
        let options = options();
        let mut columns = Columns::default();
        let batch = columns.batch(&docs, 3, "m", &options);
        let fields: Vec<(String, DataType)> = batch
            .fields()
            .into_iter()
            .map(|f| (f.name, f.data_type))
            .collect();
        use DataType::*;
        assert_eq!(
            fields,
            [
                ("_id", Text),
                ("n", Float64),
                ("when", Timestamp),
                ("nested", Json),
                ("late", Text),
                ("mixed", Json),
                ("bin", Bytes)
            ]
            .map(|(n, t)| (n.to_owned(), t))
        );
        use quarry_core::batch::Cell;
        assert_eq!(
            batch.columns[0].cell(0),
            Cell::Text("64b7f0c2a1b2c3d4e5f60718")
        );
        assert_eq!(batch.columns[1].cell(0), Cell::Float64(1.0));
        assert_eq!(batch.columns[1].cell(2), Cell::Null);
        assert_eq!(batch.columns[2].cell(0), Cell::Int64(1_000_000));
        assert_eq!(batch.columns[3].cell(0), Cell::Text(r#"{"a":[1,2]}"#));
        assert_eq!(
            batch.columns[4].cell(0),
            Cell::Null,
            "a field seen later holds null in earlier rows"
        );
        assert_eq!(batch.columns[5].cell(1), Cell::Text("\"text\""));
        assert_eq!(batch.columns[5].cell(2), Cell::Text("3"));
        assert_eq!(batch.columns[6].cell(1), Cell::Bytes(&[1, 2]));
        let notes = options.notes.lock().unwrap().clone();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("`mixed` holds both text and int64")),
            "{notes:?}"
        );

        // A field first seen in a later batch is added at the end; a value that the
        // column's type cannot hold is null, with a note.
        let later = columns.batch(
            &[bson::doc! { "n": 4, "surprise": true, "when": "not a date" }],
            4,
            "m",
            &options,
        );
        assert_eq!(later.columns.len(), 8);
        assert_eq!(later.columns[7].name, "surprise");
        assert_eq!(later.columns[7].data_type, Boolean);
        assert_eq!(later.columns[7].cell(0), Cell::Boolean(true));
        assert_eq!(later.columns[2].cell(0), Cell::Null);
        let notes = options.notes.lock().unwrap().clone();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("`when` holds a text value in document 4")),
            "{notes:?}"
        );
    }
}
