//! The CQL statement guard: only a single `SELECT` may run on a ScyllaDB/Cassandra source.

use super::Refused;

/// Refuses `text` unless `text` is exactly one `SELECT`. Comments (`--`, `//`, `/* */`) and
/// case do not hide anything: a second statement after `;` is refused too.
pub fn guard(text: &str) -> Result<(), Refused> {
    let code = strip(text);
    let mut statements = code.split(';').map(str::trim).filter(|s| !s.is_empty());
    let first = statements.next().unwrap_or_default();
    let keyword = first
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    if !keyword.eq_ignore_ascii_case("select") {
        let shown = if keyword.is_empty() {
            "an empty statement".to_owned()
        } else {
            keyword.to_ascii_uppercase()
        };
        return Err(Refused(format!(
            "{} (only SELECT may run; this is {shown})",
            text.trim()
        )));
    }
    if statements.next().is_some() {
        return Err(Refused(format!("{} (one statement per run)", text.trim())));
    }
    Ok(())
}

/// The text with comments removed and string literals emptied, so that neither can hide
/// a keyword or a `;`.
fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('-', Some('-')) | ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                out.push(' ');
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
                out.push(' ');
            }
            ('\'', _) => {
                // '' inside a literal is an escaped quote: skip pairs until a lone quote.
                while let Some(c) = chars.next() {
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push_str("''");
            }
            ('"', _) => {
                // A quoted identifier; "" inside it is an escaped quote.
                while let Some(c) = chars.next() {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push_str("\"\"");
            }
            ('$', Some('$')) => {
                chars.next();
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '$' && c == '$' {
                        break;
                    }
                    prev = c;
                }
                out.push_str("''");
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_identifiers_cannot_hide_a_statement() {
        assert!(guard(r#"SELECT "it's" FROM t"#).is_ok());
        assert!(guard(r#"SELECT "x'" FROM t; DELETE FROM t WHERE a = '"'"#).is_err());
        assert!(guard(r#"SELECT "a;b" FROM t"#).is_ok());
        assert!(guard(r#"SELECT "a""; DROP TABLE t" FROM t"#).is_ok());
    }
}
