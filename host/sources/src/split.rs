//! Splitting a query into partitions that can be read at once, each its own stream.
//!
//! SQL is split only when it is a plain scan of one table, `SELECT <columns> FROM <table>
//! [WHERE <filter>]`: then ranges of one column (the rowid for SQLite, the
//! `--partition-by` column elsewhere, as Spark's JDBC reader does) give partitions whose
//! rows together are the query's, each once. Anything that needs all the rows in one place
//! (ORDER BY, LIMIT, GROUP BY, an aggregate, DISTINCT, a join, a window, a set operation)
//! is read as one stream, and the reason is given.

use quarry_core::contract::{Query, Statement, Value};

/// How a query is read.
#[derive(Clone, Debug, PartialEq)]
pub enum Split {
    /// These queries, each a partition of the rows, in key order.
    Parts(Vec<Query>),
    /// One stream, and why.
    Whole(String),
}

/// Fewer rows than this per partition are not worth a stream of their own.
pub const MIN_PARTITION_ROWS: u64 = 16_384;

/// How many partitions `rows` rows are worth, at most `streams`.
pub fn worth(rows: u64, streams: usize) -> usize {
    (rows / MIN_PARTITION_ROWS).clamp(1, streams.max(1) as u64) as usize
}

/// A query that scans one table: `SELECT <list> FROM <table> [WHERE <filter>]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Scan<'a> {
    /// `SELECT <list>`, as written.
    pub select: &'a str,
    /// The table, as written (perhaps quoted or qualified).
    pub table: &'a str,
    /// The filter after `WHERE`, as written.
    pub filter: Option<&'a str>,
}

/// Clauses after which a query's rows are no longer the union of its partitions' rows (or
/// not in the same order).
const WHOLE_CLAUSES: [(&str, &str); 13] = [
    ("ORDER", "ORDER BY: one stream keeps the order"),
    ("LIMIT", "LIMIT applies to all the rows at once"),
    ("OFFSET", "OFFSET applies to all the rows at once"),
    ("FETCH", "FETCH applies to all the rows at once"),
    ("GROUP", "GROUP BY needs all the rows of a group together"),
    ("HAVING", "HAVING needs all the rows of a group together"),
    ("DISTINCT", "DISTINCT needs all the rows together"),
    ("UNION", "a set operation (UNION) reads several queries"),
    (
        "INTERSECT",
        "a set operation (INTERSECT) reads several queries",
    ),
    ("EXCEPT", "a set operation (EXCEPT) reads several queries"),
    ("WINDOW", "a window function needs all the rows together"),
    ("OVER", "a window function needs all the rows together"),
    ("JOIN", "a join reads several tables"),
];

/// Aggregate functions, which fold all the rows into one.
const AGGREGATES: [&str; 14] = [
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "TOTAL",
    "GROUP_CONCAT",
    "STRING_AGG",
    "ARRAY_AGG",
    "JSON_AGG",
    "JSONB_AGG",
    "JSON_GROUP_ARRAY",
    "BOOL_AND",
    "BOOL_OR",
];

/// A word of the query outside quotes, comments and parentheses, or an opening parenthesis
/// right after a word (a function call).
#[derive(Debug)]
struct Word<'a> {
    text: &'a str,
    start: usize,
    end: usize,
    /// Inside parentheses.
    nested: bool,
    /// Followed by `(`.
    called: bool,
}

/// The words of `text`, with the position of every top-level `,` (as a word).
fn words(text: &str) -> Result<Vec<Word<'_>>, String> {
    let bytes = text.as_bytes();
    let mut words = Vec::new();
    let (mut i, mut depth) = (0, 0usize);
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != close {
                    i += 1;
                }
                if i == bytes.len() {
                    return Err("an unclosed quote".into());
                }
                i += 1;
                // A quoted name is a word (a table may be quoted).
                if c != b'\'' {
                    words.push(Word {
                        text: &text[start..i],
                        start,
                        end: i,
                        nested: depth > 0,
                        called: false,
                    });
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |end| i + 2 + end + 2);
            }
            b'(' => {
                if let Some(last) = words
                    .last_mut()
                    .filter(|w| w.end == i || text[w.end..i].trim().is_empty())
                {
                    last.called = true;
                }
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b',' if depth == 0 => {
                words.push(Word {
                    text: ",",
                    start: i,
                    end: i + 1,
                    nested: false,
                    called: false,
                });
                i += 1;
            }
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'$' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.' | b'$'))
                {
                    i += 1;
                }
                words.push(Word {
                    text: &text[start..i],
                    start,
                    end: i,
                    nested: depth > 0,
                    called: false,
                });
            }
            _ => i += 1,
        }
    }
    Ok(words)
}

/// `text` as a scan of one table, or why it is not one.
pub fn scan(text: &str) -> Result<Scan<'_>, String> {
    let text = text.trim().trim_end_matches(';').trim_end();
    let words = words(text)?;
    let not_a_scan = || "not a plain SELECT from one table".to_owned();
    let is = |w: &Word<'_>, keyword: &str| w.text.eq_ignore_ascii_case(keyword);
    let first = words.first().ok_or_else(not_a_scan)?;
    if !is(first, "SELECT") || first.start != 0 {
        return Err(not_a_scan());
    }
    let top: Vec<&Word<'_>> = words.iter().filter(|w| !w.nested).collect();
    if let Some((_, why)) = top
        .iter()
        .find_map(|word| WHOLE_CLAUSES.iter().find(|(keyword, _)| is(word, keyword)))
    {
        return Err((*why).to_owned());
    }
    let from = top
        .iter()
        .position(|w| is(w, "FROM"))
        .ok_or_else(not_a_scan)?;
    // An aggregate in the select list folds the rows; one in a filter's subquery does not.
    if let Some(aggregate) = words
        .iter()
        .find(|w| w.start < top[from].start && w.called && AGGREGATES.iter().any(|a| is(w, a)))
    {
        return Err(format!(
            "{}() folds all the rows into one",
            aggregate.text.to_lowercase()
        ));
    }
    let table = top
        .get(from + 1)
        .filter(|w| w.text != ",")
        .ok_or_else(not_a_scan)?;
    let filter = match top.get(from + 2) {
        None => None,
        Some(w) if is(w, "WHERE") => Some(text[w.end..].trim()),
        Some(w) if w.text == "," => return Err("a join reads several tables".into()),
        Some(_) => return Err(not_a_scan()),
    };
    if filter.is_some_and(str::is_empty) {
        return Err(not_a_scan());
    }
    Ok(Scan {
        select: text[..top[from].start].trim_end(),
        table: table.text,
        filter,
    })
}

/// Whether `name` is a plain or double-quoted identifier, safe to put into a query.
pub fn is_identifier(name: &str) -> bool {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let quoted = name.len() > 2
        && name.starts_with('"')
        && name.ends_with('"')
        && !name[1..name.len() - 1].contains('"');
    plain || quoted
}

/// The bounds of `parts` ranges over the integers `min..=max`: `parts + 1` ascending
/// values, the first `min` and the last `max + 1`.
pub fn bounds(min: i64, max: i64, parts: usize) -> Vec<i64> {
    let span = (max as i128 - min as i128 + 1).max(1);
    (0..=parts)
        .map(|i| (min as i128 + span * i as i128 / parts as i128) as i64)
        .collect()
}

/// The queries that read `scan`'s rows in ranges of `column` between consecutive `bounds`
/// (see [`bounds`]); the first also takes the rows where `column` is null. `params` are
/// the statement's bind values, kept in every part.
pub fn ranges(scan: &Scan<'_>, column: &str, bounds: &[i64], params: &[Value]) -> Vec<Query> {
    assert!(bounds.len() > 2, "ranges make two partitions or more");
    bounds
        .windows(2)
        .enumerate()
        .map(|(i, range)| {
            let (lo, hi) = (range[0], range[1]);
            let mut condition = format!("{column} >= {lo} AND {column} < {hi}");
            if i == 0 {
                condition = format!("({column} IS NULL OR {column} < {hi})");
            }
            if i == bounds.len() - 2 && i > 0 {
                condition = format!("{column} >= {lo}");
            }
            let text = match scan.filter {
                Some(filter) => format!(
                    "{} FROM {} WHERE {condition} AND ({filter})",
                    scan.select, scan.table
                ),
                None => format!("{} FROM {} WHERE {condition}", scan.select, scan.table),
            };
            Query::Sql(Statement {
                text,
                params: params.to_vec(),
            })
        })
        .collect()
}

/// The bounds of `parts` ranges of Murmur3 tokens, the whole signed 64-bit range: part
/// `i` holds the tokens in `(bounds[i], bounds[i + 1]]`, the first from the lowest token.
pub fn token_bounds(parts: usize) -> Vec<i64> {
    let span = 1i128 << 64;
    (0..=parts)
        .map(|i| (i64::MIN as i128 + span * i as i128 / parts as i128).min(i64::MAX as i128) as i64)
        .collect()
}

/// A CQL filter without its trailing `ALLOW FILTERING`, or `None` when it has none.
pub fn strip_allow_filtering(filter: &str) -> Option<&str> {
    let words: Vec<&str> = filter.split_whitespace().collect();
    let n = words.len();
    let ends = n >= 2
        && words[n - 2].eq_ignore_ascii_case("ALLOW")
        && words[n - 1].eq_ignore_ascii_case("FILTERING");
    if !ends {
        return None;
    }
    let cut = filter.to_ascii_uppercase().rfind("ALLOW")?;
    Some(filter[..cut].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_scan_splits_and_keeps_its_filter() {
        let s = scan("select carrier, distance from flights where dep_delay > 60;").unwrap();
        assert_eq!(s.select, "select carrier, distance");
        assert_eq!(s.table, "flights");
        assert_eq!(s.filter, Some("dep_delay > 60"));
        let s = scan("SELECT * FROM \"my table\"").unwrap();
        assert_eq!((s.table, s.filter), ("\"my table\"", None));
        // A subquery in the filter stays a filter; so does a function in the select list.
        let s = scan("SELECT upper(carrier) FROM flights WHERE dest IN (SELECT faa FROM airports)")
            .unwrap();
        assert_eq!(s.filter, Some("dest IN (SELECT faa FROM airports)"));
        assert!(
            scan("SELECT * FROM flights WHERE tailnum IN (SELECT max(tailnum) FROM planes)")
                .is_ok()
        );
    }

    #[test]
    fn what_needs_all_the_rows_is_read_whole() {
        let cases = [
            ("SELECT * FROM flights ORDER BY dep_delay", "ORDER BY"),
            ("SELECT * FROM flights LIMIT 100", "LIMIT"),
            (
                "SELECT carrier, count(*) FROM flights GROUP BY carrier",
                "GROUP BY",
            ),
            ("SELECT count(*) FROM flights", "count()"),
            ("SELECT avg(dep_delay) FROM flights", "avg()"),
            ("SELECT DISTINCT carrier FROM flights", "DISTINCT"),
            (
                "SELECT * FROM flights f JOIN airlines a USING (carrier)",
                "join",
            ),
            ("SELECT * FROM flights, airlines", "join"),
            (
                "SELECT * FROM flights UNION ALL SELECT * FROM flights",
                "UNION",
            ),
            ("SELECT rank() OVER (ORDER BY x) FROM t", "window"),
            ("WITH x AS (SELECT 1) SELECT * FROM x", "not a plain"),
            ("PRAGMA table_info(flights)", "not a plain"),
        ];
        for (query, why) in cases {
            let e = scan(query).unwrap_err();
            assert!(e.contains(why), "{query}: {e}");
        }
        // Keywords inside quotes are only text.
        assert!(scan("SELECT * FROM flights WHERE carrier = 'ORDER BY'").is_ok());
    }

    #[test]
    fn ranges_cover_every_row_once_nulls_in_the_first() {
        assert_eq!(bounds(1, 10, 3), [1, 4, 7, 11]);
        assert_eq!(bounds(5, 5, 2), [5, 5, 6]);
        let s = scan("SELECT * FROM flights WHERE origin = ?").unwrap();
        let parts = ranges(&s, "rowid", &bounds(1, 9, 3), &[Value::Text("JFK".into())]);
        let texts: Vec<_> = parts
            .iter()
            .map(|q| match q {
                Query::Sql(s) => {
                    assert_eq!(s.params.len(), 1);
                    s.text.clone()
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            texts,
            [
                "SELECT * FROM flights WHERE (rowid IS NULL OR rowid < 4) AND (origin = ?)",
                "SELECT * FROM flights WHERE rowid >= 4 AND rowid < 7 AND (origin = ?)",
                "SELECT * FROM flights WHERE rowid >= 7 AND (origin = ?)",
            ]
        );
        assert_eq!(token_bounds(2), [i64::MIN, 0, i64::MAX]);
        assert_eq!(
            strip_allow_filtering("dep_delay > 60 allow  filtering"),
            Some("dep_delay > 60")
        );
        assert_eq!(strip_allow_filtering("carrier = 'UA'"), None);
        assert!(is_identifier("year") && is_identifier("\"Year\"") && !is_identifier("x; DROP"));
        assert_eq!(worth(336_776, 8), 8);
        assert_eq!(worth(20_000, 4), 1);
    }
}
