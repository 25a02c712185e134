//! The SQL statement guard for PostgreSQL and CockroachDB: a run's statement must start with
//! a read-only keyword. The read-only transaction the sources open is the real barrier; this
//! guard also stops what such a transaction allows but a query tool must not.

use super::Refused;

/// Statements a run may execute, by their first keyword. The read-only transaction is the
/// real barrier; this one also stops what a read-only transaction allows but a query tool
/// must not: `COPY … TO`, `SET`, transaction control, `DO`, `CALL`, `LISTEN`, `LOCK`.
const ALLOWED_FIRST_WORDS: [&str; 6] = ["select", "with", "values", "table", "explain", "show"];

/// Refuses the statement when it does not start with an allowed keyword.
pub fn guard(text: &str) -> Result<(), Refused> {
    let first = first_word(text).to_ascii_lowercase();
    if ALLOWED_FIRST_WORDS.contains(&first.as_str()) {
        Ok(())
    } else {
        Err(Refused(format!(
            "{} (only SELECT, WITH, VALUES, TABLE, EXPLAIN and SHOW may run)",
            text.trim()
        )))
    }
}

/// The first word of SQL text, skipping whitespace, `--` comments and `/* */` comments
/// (which nest in PostgreSQL) and opening parentheses.
fn first_word(text: &str) -> &str {
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if rest.starts_with("/*") {
            let mut depth = 0usize;
            let mut i = 0;
            let bytes = rest.as_bytes();
            while i < bytes.len() {
                if bytes[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if bytes[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            rest = &rest[i.min(rest.len())..];
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !c.is_alphanumeric() && c != '_')
        .unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_reads_past_comments_and_case() {
        for ok in [
            "SELECT 1",
            "  select 1",
            "-- hi\nSELECT 1",
            "/* a /* nested */ */ WITH x AS (SELECT 1) TABLE x",
            "(SELECT 1)",
            "VALUES (1)",
            "explain select 1",
        ] {
            assert!(guard(ok).is_ok(), "{ok}");
        }
        for bad in [
            "DELETE FROM flights",
            "COPY flights TO PROGRAM 'touch /tmp/x'",
            "/* SELECT */ DROP TABLE flights",
            "-- SELECT\nINSERT INTO t VALUES (1)",
            "SET ROLE postgres",
            "RESET ALL",
            "COMMIT",
            "BEGIN",
            "DO $$ BEGIN END $$",
            "CALL p()",
            "",
        ] {
            assert!(guard(bad).is_err(), "{bad}");
        }
    }
}
