//! Test fixture: misbehaves on request, so the host's tests can show that each kind of
//! misbehaviour is contained and reported. Never an example to copy.
//!
//! Params: `{"attack": ..., "in": "init" | "build_query" | "transform" | "finish"}`,
//! `in` defaulting to `transform`. The export `in` names attacks; the others act like
//! `identity` and build no query.
//!
//! | attack | does |
//! | --- | --- |
//! | `loop` | spins forever |
//! | `alloc` | allocates and touches 1 MiB blocks until memory runs out |
//! | `recurse` | recurses until the stack runs out |
//! | `panic` | `panic!("boom at row 3")` |
//! | `rows` | returns 1,000,000 rows of int64 `n` from *every* `transform` and `finish`, whatever `in` says |
//! | `log` | writes 1 KiB lines to the log import forever |
//! | `stdout` | prints 1 KiB lines forever |
//! | `file` | reads `/etc/passwd` and lists `/`; errors with both io errors (`LEAK: ...` and what it read if either worked) |
//! | `env` | errors with `env: N vars, args: M` (`LEAK: ...; names: ...` if there are variables) |
//! | `socket` | connects to 127.0.0.1:80; errors with `socket: <io error>` (`LEAK: ...` if it connected) |
//! | `lie` | a batch that says 5 rows and holds 3 |
//! | `offsets` | a text column whose offsets go backwards |
//! | `utf8` | a text column that is not UTF-8 |
//! | `validity` | a validity bitmap of 1 byte for 20 rows |
//! | `columns` | two columns of 3 and 2 rows |
//! | `type` | a column typed int64 that holds text |
//! | `error_row` | errors with `bad value` at row 2 |
//! | `select` | an edit that keeps input rows 0 and 4,000,000,000 (`transform` only) |
//! | `short` | an edit that sets a column `n` of one row, whatever the input's rows (`transform` only) |
//! | `slow` | busy-waits `"ms"` milliseconds (default 200), then acts like `identity` |
//!
//! The malformed batches (`lie` to `type`) can only be returned from `transform` or
//! `finish`, and the malformed edits (`select`, `short`) only from `transform`; naming
//! another export for them fails `init`.

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use quarry_plugin::raw::{self, VarData, Vector};
use quarry_plugin::{
    Batch, DataType, Error, Info, Int64Builder, Level, Output, Plugin, Query, Source,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    attack: Attack,
    #[serde(rename = "in", default)]
    phase: Phase,
    /// How long `slow` busy-waits, in milliseconds.
    #[serde(default = "two_hundred")]
    ms: u64,
}

fn two_hundred() -> u64 {
    200
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Attack {
    Loop,
    Alloc,
    Recurse,
    Panic,
    Rows,
    Log,
    Stdout,
    File,
    Dir,
    Env,
    Socket,
    Dns,
    Huge,
    Billions,
    Lie,
    Offsets,
    OffsetsRange,
    Utf8,
    Validity,
    Columns,
    Type,
    ErrorRow,
    Slow,
    Select,
    Short,
}

impl Attack {
    /// Whether the attack is a malformed batch, which only `transform` and `finish`
    /// can return.
    fn is_malformed_batch(self) -> bool {
        use Attack::*;
        matches!(
            self,
            Lie | Offsets | OffsetsRange | Utf8 | Validity | Columns | Type | Billions
        )
    }

    /// The malformed edit this attack returns from `transform`, if it is one.
    fn malformed_edit(self) -> Option<Output> {
        let mut one_row = Int64Builder::new("n");
        one_row.push(Some(1));
        match self {
            Attack::Select => Some(Output::keep(vec![0, 4_000_000_000])),
            Attack::Short => Some(Output::unchanged().set(one_row.finish())),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Phase {
    Init,
    BuildQuery,
    #[default]
    Transform,
    Finish,
}

struct Hostile {
    attack: Attack,
    phase: Phase,
    ms: u64,
}

impl Plugin for Hostile {
    type Params = Params;

    fn describe() -> Info {
        quarry_plugin::plugin_info!().builds_query().transforms()
    }

    fn init(_source: &Source, params: Params) -> Result<Self, Error> {
        let plugin = Hostile {
            attack: params.attack,
            phase: params.phase,
            ms: params.ms,
        };
        let edit_elsewhere =
            plugin.attack.malformed_edit().is_some() && plugin.phase != Phase::Transform;
        if edit_elsewhere
            || plugin.attack.is_malformed_batch()
                && matches!(plugin.phase, Phase::Init | Phase::BuildQuery)
        {
            let attack = format!("{:?}", plugin.attack).to_lowercase();
            return Err(Error::new(format!(
                "invalid params: in: attack `{attack}` returns a batch, so it runs in transform or finish"
            )));
        }
        plugin.attack_in(Phase::Init)?;
        Ok(plugin)
    }

    fn build_query(&mut self) -> Result<Option<Query>, Error> {
        self.attack_in(Phase::BuildQuery)?;
        Ok(None)
    }

    fn transform(&mut self, _input: Batch) -> Result<Output, Error> {
        if let Some(edit) = self.attack.malformed_edit() {
            return Ok(edit);
        }
        Ok(match self.attack_in(Phase::Transform)? {
            Some(batch) => batch.into(),
            None => Output::unchanged(),
        })
    }

    fn finish(&mut self) -> Result<Option<Batch>, Error> {
        self.attack_in(Phase::Finish)
    }
}

impl Hostile {
    /// Attacks if `phase` is the one named; `Ok(Some)` is a batch to return instead of
    /// the usual result, `Ok(None)` means carry on as usual.
    fn attack_in(&self, phase: Phase) -> Result<Option<Batch>, Error> {
        let rows_here =
            self.attack == Attack::Rows && matches!(phase, Phase::Transform | Phase::Finish);
        if phase != self.phase && !rows_here {
            return Ok(None);
        }
        match self.attack {
            Attack::Loop => spin(),
            Attack::Alloc => hoard(),
            Attack::Recurse => Err(Error::new(format!(
                "recursion ended at depth {}",
                recurse(0)
            ))),
            Attack::Panic => panic!("boom at row 3"),
            Attack::Log => loop {
                quarry_plugin::write_log(Level::Info, &kib_line());
            },
            Attack::Stdout => loop {
                println!("{}", kib_line());
            },
            Attack::File => Err(read_files()),
            Attack::Dir => Err(list_dir()),
            Attack::Env => Err(env()),
            Attack::Socket => Err(connect()),
            Attack::Dns => Err(resolve()),
            Attack::Huge => Ok(Some(huge_value())),
            Attack::ErrorRow => Err(Error::at_row(2, "bad value")),
            Attack::Slow => {
                busy_wait(Duration::from_millis(self.ms));
                Ok(None)
            }
            Attack::Rows => Ok(Some(million_rows())),
            Attack::Select | Attack::Short => Ok(None),
            Attack::Lie
            | Attack::Offsets
            | Attack::OffsetsRange
            | Attack::Utf8
            | Attack::Validity
            | Attack::Columns
            | Attack::Type
            | Attack::Billions => Ok(Some(Batch::from_raw(malformed(self.attack)))),
        }
    }
}

/// Spins forever on a counter the optimizer must keep.
fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Where `alloc` keeps what it allocates, so that nothing is ever freed.
static HOARD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Allocates and touches 1 MiB after 1 MiB until memory runs out.
fn hoard() -> ! {
    loop {
        let block = black_box(vec![1u8; 1 << 20]);
        HOARD
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(block);
    }
}

/// Recurses until the stack runs out. The early return the optimizer cannot rule out,
/// and the frame that must outlive each call, keep it from becoming a loop.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return depth;
    }
    let frame = [depth; 32];
    let deeper = recurse(depth + 1);
    black_box(&frame);
    deeper
}

fn kib_line() -> String {
    "x".repeat(1024)
}

fn busy_wait(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        black_box(());
    }
}

/// Tries to read a file and list a directory; neither should be possible.
fn read_files() -> Error {
    let file = std::fs::read_to_string("/etc/passwd");
    let dir = std::fs::read_dir("/").map(|entries| {
        entries
            .map(|entry| {
                entry.map_or_else(
                    |e| e.to_string(),
                    |e| e.file_name().to_string_lossy().into_owned(),
                )
            })
            .collect::<Vec<_>>()
    });
    let leaked = file.is_ok() || dir.is_ok();
    let file = file.unwrap_or_else(|e| e.to_string());
    let dir = dir.map_or_else(|e| e.to_string(), |names| names.join(", "));
    let message = format!("file: read /etc/passwd: {file}; read_dir /: {dir}");
    Error::new(if leaked {
        format!("LEAK: {message}")
    } else {
        message
    })
}

/// Tries to list the root directory; it should not be possible.
fn list_dir() -> Error {
    Error::new(match std::fs::read_dir("/") {
        Ok(entries) => format!("LEAK: dir: / has {} entries", entries.count()),
        Err(error) => format!("dir: {error}"),
    })
}

/// Tries to resolve a host name; it should fail without a network.
fn resolve() -> Error {
    use std::net::ToSocketAddrs;
    Error::new(match ("example.com", 80).to_socket_addrs() {
        Ok(addresses) => format!(
            "LEAK: dns: example.com is {:?}",
            addresses.collect::<Vec<_>>()
        ),
        Err(error) => format!("dns: {error}"),
    })
}

/// One text value of 256 MiB: more than a plugin's memory holds by default.
fn huge_value() -> Batch {
    let mut column = quarry_plugin::TextBuilder::new("huge");
    column.push(Some(&"x".repeat(256 << 20)));
    Batch::new(vec![column.finish()]).expect("one column")
}

/// Counts the environment variables and arguments; there should be none of either.
fn env() -> Error {
    let names: Vec<String> = std::env::vars().map(|(name, _)| name).collect();
    let message = format!(
        "env: {} vars, args: {}",
        names.len(),
        std::env::args().count()
    );
    Error::new(if names.is_empty() {
        message
    } else {
        format!("LEAK: {message}; names: {}", names.join(", "))
    })
}

/// Tries to open a TCP connection; it should be refused.
fn connect() -> Error {
    Error::new(match std::net::TcpStream::connect("127.0.0.1:80") {
        Ok(stream) => format!(
            "LEAK: socket: connected to 127.0.0.1:80 from {:?}",
            stream.local_addr()
        ),
        Err(error) => format!("socket: {error}"),
    })
}

fn million_rows() -> Batch {
    let mut numbers = Int64Builder::new("n");
    numbers.extend((0..1_000_000).map(Some));
    Batch::new(vec![numbers.finish()]).expect("one column")
}

/// A batch that breaks the contract the way `attack` names, built from the raw types
/// because the SDK's builders cannot produce it.
fn malformed(attack: Attack) -> raw::Batch {
    let int64 = |name: &str, values: Vec<i64>| raw::Column {
        name: name.into(),
        data_type: DataType::Int64,
        validity: None,
        values: Vector::Int64(values),
    };
    let text = |offsets: Vec<u32>, data: Vec<u8>| raw::Column {
        name: "s".into(),
        data_type: DataType::Text,
        validity: None,
        values: Vector::Text(VarData { offsets, data }),
    };
    let (num_rows, columns) = match attack {
        // Says 5 rows, holds 3.
        Attack::Lie => (5, vec![int64("n", vec![1, 2, 3])]),
        // The second value would run backwards.
        Attack::Offsets => (3, vec![text(vec![0, 4, 2, 6], b"abcdef".to_vec())]),
        // The last value would end past the data.
        Attack::OffsetsRange => (2, vec![text(vec![0, 2, 100], b"abcdef".to_vec())]),
        Attack::Utf8 => (2, vec![text(vec![0, 2, 3], vec![0xff, 0xfe, 0x80])]),
        // 20 rows need 3 bytes of bitmap; this has 1.
        Attack::Validity => {
            let mut column = int64("n", (0..20).collect());
            column.validity = Some(vec![0xff]);
            (20, vec![column])
        }
        Attack::Columns => (3, vec![int64("a", vec![1, 2, 3]), int64("b", vec![1, 2])]),
        // Declares four billion rows and holds one.
        Attack::Billions => (u32::MAX, vec![int64("n", vec![1])]),
        // Says int64, holds text.
        Attack::Type => {
            let mut column = text(vec![0, 1, 2], b"ab".to_vec());
            column.data_type = DataType::Int64;
            (2, vec![column])
        }
        _ => unreachable!("{attack:?} is not a malformed batch"),
    };
    raw::Batch { num_rows, columns }
}

quarry_plugin::export!(Hostile);

#[cfg(test)]
mod tests {
    use super::*;

    fn hostile(params: &str) -> Result<Hostile, Error> {
        let source = Source {
            name: "demo".into(),
            backend: quarry_plugin::Backend::Sqlite,
        };
        Hostile::init(&source, serde_json::from_str(params).unwrap())
    }

    #[test]
    fn other_exports_act_like_identity() {
        let mut plugin = hostile(r#"{"attack": "panic", "in": "finish"}"#).unwrap();
        assert_eq!(plugin.build_query().unwrap(), None);
        let input = million_rows();
        assert_eq!(plugin.transform(input).unwrap(), Output::unchanged());
    }

    #[test]
    fn error_attacks_report() {
        let mut plugin = hostile(r#"{"attack": "error_row"}"#).unwrap();
        let error = plugin.transform(Batch::empty()).unwrap_err();
        assert_eq!((error.message(), error.row()), ("bad value", Some(2)));
        let error = hostile(r#"{"attack": "env", "in": "init"}"#).err().unwrap();
        assert!(error.message().contains(" vars, args: "), "{error}");
    }

    #[test]
    fn malformed_batches_are_malformed() {
        let lie = malformed(Attack::Lie);
        assert_eq!(
            (lie.num_rows, Batch::from_raw(lie).columns()[0].len()),
            (5, 3)
        );
        let columns = Batch::from_raw(malformed(Attack::Columns));
        assert_ne!(columns.columns()[0].len(), columns.columns()[1].len());
        let error = hostile(r#"{"attack": "lie", "in": "init"}"#).err().unwrap();
        assert!(
            error.message().contains("runs in transform or finish"),
            "{error}"
        );
    }

    #[test]
    fn rows_come_from_transform_and_finish() {
        let mut plugin = hostile(r#"{"attack": "rows"}"#).unwrap();
        assert_eq!(
            plugin.transform(Batch::empty()).unwrap(),
            million_rows().into()
        );
        assert_eq!(plugin.finish().unwrap().unwrap().num_rows(), 1_000_000);
    }

    #[test]
    fn slow_waits_then_passes_through() {
        let mut plugin = hostile(r#"{"attack": "slow", "ms": 30}"#).unwrap();
        let start = Instant::now();
        assert_eq!(
            plugin.transform(Batch::empty()).unwrap(),
            Output::unchanged()
        );
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
