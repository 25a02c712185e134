//! Calendar arithmetic for the two time types of the contract: `timestamp` (microseconds since
//! the Unix epoch, UTC) and `date` (days since 1970-01-01). Output is always ISO 8601 in UTC.
//!
//! The conversions are Howard Hinnant's `days_from_civil` / `civil_from_days` (proleptic
//! Gregorian), exact for every `i64` day count the formats can print.

use std::fmt::{self, Write};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `2013-01-01`. Writes to a `String` or any other `fmt::Write`; only the writer can fail.
pub fn write_date(out: &mut impl Write, days: i64) -> fmt::Result {
    let (y, m, d) = civil_from_days(days);
    if !(0..10_000).contains(&y) {
        return write!(out, "{y:04}-{m:02}-{d:02}");
    }
    // The usual case, without the formatting machinery: output of a whole table runs
    // through here once per cell.
    push_digits(out, y as u32, 4)?;
    out.write_char('-')?;
    push_digits(out, m, 2)?;
    out.write_char('-')?;
    push_digits(out, d, 2)
}

/// `value` in exactly `width` decimal digits (it must fit).
fn push_digits(out: &mut impl Write, value: u32, width: u32) -> fmt::Result {
    for place in (0..width).rev() {
        let digit = value / 10u32.pow(place) % 10;
        out.write_char(char::from(b'0' + digit as u8))?;
    }
    Ok(())
}

/// `2013-01-01T10:00:00Z`, with `.fff` or `.ffffff` when the value has a fraction.
pub fn write_timestamp(out: &mut impl Write, micros: i64) -> fmt::Result {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let in_day = micros.rem_euclid(MICROS_PER_DAY);
    write_date(out, days)?;
    let secs = (in_day / 1_000_000) as u32;
    let frac = (in_day % 1_000_000) as u32;
    out.write_char('T')?;
    push_digits(out, secs / 3600, 2)?;
    out.write_char(':')?;
    push_digits(out, secs / 60 % 60, 2)?;
    out.write_char(':')?;
    push_digits(out, secs % 60, 2)?;
    if frac % 1000 == 0 && frac != 0 {
        out.write_char('.')?;
        push_digits(out, frac / 1000, 3)?;
    } else if frac != 0 {
        out.write_char('.')?;
        push_digits(out, frac, 6)?;
    }
    out.write_char('Z')
}

/// [`write_timestamp`] into a new `String`.
pub fn format_timestamp(micros: i64) -> String {
    let mut s = String::with_capacity(24);
    // Writing to a String cannot fail.
    let _ = write_timestamp(&mut s, micros);
    s
}

/// [`write_date`] into a new `String`.
pub fn format_date(days: i64) -> String {
    let mut s = String::with_capacity(10);
    let _ = write_date(&mut s, days);
    s
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&b[..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m as u32) {
        return None;
    }
    Some(days_from_civil(y, m as u32, d as u32))
}

fn days_in_month(year: i64, month: u32) -> i64 {
    let next = if month == 12 {
        days_from_civil(year + 1, 1, 1)
    } else {
        days_from_civil(year, month + 1, 1)
    };
    next - days_from_civil(year, month, 1)
}

/// Parses an ISO 8601 / SQL timestamp: `YYYY-MM-DD`, then optionally `T` or a space,
/// `HH:MM[:SS[.ffffff]]`, then optionally `Z` or `±HH[:MM]`. Without an offset it is UTC.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    let days = parse_date(s.get(..10)?)?;
    let rest = &s.as_bytes()[10..];
    if rest.is_empty() {
        return Some(days * MICROS_PER_DAY);
    }
    if rest[0] != b'T' && rest[0] != b't' && rest[0] != b' ' {
        return None;
    }
    let rest = &rest[1..];
    if rest.len() < 5 || rest[2] != b':' {
        return None;
    }
    let (h, mi) = (digits(&rest[..2])?, digits(&rest[3..5])?);
    let mut i = 5;
    let mut sec = 0;
    let mut micros = 0;
    if rest.get(i) == Some(&b':') {
        sec = digits(rest.get(i + 1..i + 3)?)?;
        i += 3;
        if rest.get(i) == Some(&b'.') {
            let start = i + 1;
            let end = start
                + rest[start..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
            if end == start {
                return None;
            }
            let frac = &rest[start..end.min(start + 6)];
            micros = digits(frac)? * 10_i64.pow(6 - frac.len() as u32);
            i = end;
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let offset_secs = match &rest[i..] {
        b"" | b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), tz @ ..] => {
            let (oh, om) = match tz {
                [a, b] => (digits(&[*a, *b])?, 0),
                [a, b, b':', c, d] | [a, b, c, d] => (digits(&[*a, *b])?, digits(&[*c, *d])?),
                _ => return None,
            };
            let secs = oh * 3600 + om * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    Some(secs * 1_000_000 + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-719_468, -1, 0, 1, 15_706, 15_705 + 365, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2013, 1, 1), 15_706);
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(format_date(11_016), "2000-02-29");
    }

    #[test]
    fn timestamps_format_and_parse() {
        let t = parse_timestamp("2013-01-01T10:00:00Z").unwrap();
        assert_eq!(t, (15_706 * 86_400 + 36_000) * 1_000_000);
        assert_eq!(format_timestamp(t), "2013-01-01T10:00:00Z");
        assert_eq!(parse_timestamp("2013-01-01 10:00:00"), Some(t));
        assert_eq!(parse_timestamp("2013-01-01 05:00:00-05:00"), Some(t));
        assert_eq!(parse_timestamp("2013-01-01T10:00"), Some(t));
        assert_eq!(format_timestamp(t + 1_500), "2013-01-01T10:00:00.001500Z");
        assert_eq!(format_timestamp(t + 250_000), "2013-01-01T10:00:00.250Z");
        assert_eq!(
            parse_timestamp("2013-01-01T10:00:00.25Z"),
            Some(t + 250_000)
        );
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999999Z");
        for bad in [
            "2013-13-01",
            "2013-02-29",
            "2013-01-01X",
            "2013-01-01T25:00",
            "nope",
            "",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
