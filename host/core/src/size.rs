//! Sizes in bytes as people read and type them: `64 MiB`, `1.5 KiB`, `1000 B`.

/// `64 MiB`, `1.5 KiB`, `1000 B`: a whole number of the largest unit that fits, else one
/// decimal.
pub fn format(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Why a size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// No number where the size starts.
    #[error("`{0}` is not a size like 64MiB")]
    NotASize(String),
    /// A suffix that is not a unit.
    #[error("unknown size unit `{unit}` in `{text}`; use KiB, MiB or GiB")]
    UnknownUnit {
        /// The suffix as written.
        unit: String,
        /// The whole size as written.
        text: String,
    },
    /// More bytes than 64 bits count.
    #[error("`{0}` is too large")]
    TooLarge(String),
}

/// Parses `64MiB`, `64M`, `1g`, `4096`: the form the command-line flags take.
pub fn parse(text: &str) -> Result<u64, SizeError> {
    let s = text.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| SizeError::NotASize(s.to_owned()))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(SizeError::UnknownUnit {
                unit: other.to_owned(),
                text: s.to_owned(),
            });
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| SizeError::TooLarge(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_and_parse() {
        assert_eq!(format(64 << 20), "64 MiB");
        assert_eq!(format(1536), "1.5 KiB");
        assert_eq!(format(1000), "1000 B");
        assert_eq!(format(12), "12 B");
        assert_eq!(parse("64MiB"), Ok(64 << 20));
        assert_eq!(parse("2g"), Ok(2 << 30));
        assert_eq!(parse("4096"), Ok(4096));
        assert!(matches!(
            parse("12 parsecs"),
            Err(SizeError::UnknownUnit { .. })
        ));
        assert_eq!(parse("MiB"), Err(SizeError::NotASize("MiB".into())));
        assert!(matches!(parse("99999999999G"), Err(SizeError::TooLarge(_))));
    }
}
