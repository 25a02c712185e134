//! The MongoDB operator guard: stages and operators that write or run server-side code are
//! refused wherever they appear in a filter, projection, sort or pipeline.

use bson::Bson;

use super::Refused;

/// Operators and stages that write, or run code on the server.
const REFUSED: [&str; 5] = ["$out", "$merge", "$where", "$function", "$accumulator"];

/// Refuses, naming the operator, when a refused operator or stage appears anywhere in `value`, at any
/// depth, in any case, with any surrounding whitespace.
pub fn guard(value: &Bson) -> Result<(), Refused> {
    match value {
        Bson::Document(d) => {
            for (key, v) in d {
                let normalized = key.trim().to_ascii_lowercase();
                if let Some(op) = REFUSED.iter().find(|op| normalized == **op) {
                    return Err(Refused((*op).to_owned()));
                }
                guard(v)?;
            }
            Ok(())
        }
        Bson::Array(items) => items.iter().try_for_each(guard),
        // Server-side JavaScript, however it is spelled.
        Bson::JavaScriptCode(_) | Bson::JavaScriptCodeWithScope(_) => {
            Err(Refused("JavaScript code".to_owned()))
        }
        _ => Ok(()),
    }
}
