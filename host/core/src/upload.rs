//! The first look at an uploaded plugin, before it takes a compile slot: the magic bytes, a
//! component rather than a core module, and full validation of the binary format. Garbage
//! is refused here in microseconds.

/// Why a file cannot be a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileProblem {
    /// It does not start with `\0asm`.
    NotWasm,
    /// A core module, not a component.
    NotComponent,
    /// A component whose binary is malformed.
    Invalid(String),
}

/// Checks the first eight bytes only: a WebAssembly file, and a component rather than a
/// core module. The runtime checks this much before it compiles anything.
pub fn preamble(bytes: &[u8]) -> Result<(), FileProblem> {
    if bytes.len() < 8 || !bytes.starts_with(b"\0asm") {
        return Err(FileProblem::NotWasm);
    }
    // Version 1, layer 0 is a core module; components have layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(FileProblem::NotComponent);
    }
    Ok(())
}

/// Checks that `bytes` are a well-formed WebAssembly component: the [`preamble`], then the
/// whole binary format.
pub fn check(bytes: &[u8]) -> Result<(), FileProblem> {
    preamble(bytes)?;
    let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    validator
        .validate_all(bytes)
        .map(|_| ())
        .map_err(|e| FileProblem::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_sorted_by_what_is_wrong() {
        assert_eq!(check(b"hello"), Err(FileProblem::NotWasm));
        assert_eq!(check(b"\0asm\x01\0\0\0"), Err(FileProblem::NotComponent));
        assert!(matches!(
            check(b"\0asm\x0d\0\x01\0\xff"),
            Err(FileProblem::Invalid(_))
        ));
        // The smallest component: the preamble alone.
        assert_eq!(check(b"\0asm\x0d\0\x01\0"), Ok(()));
    }
}
