//! The MongoDB operator guard: for any JSON the user or a plugin sends (read as extended
//! JSON, as the source reads it), the guard must never panic, and when it lets a document
//! through, no refused operator may appear as a key anywhere in it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use quarry_core::guard::mongo as mongo_guard;

const REFUSED: [&str; 5] = ["$out", "$merge", "$where", "$function", "$accumulator"];

/// An independent walk over the JSON: does a refused operator appear as a key?
fn has_refused_key(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => map.iter().any(|(key, v)| {
            REFUSED.contains(&key.trim().to_ascii_lowercase().as_str()) || has_refused_key(v)
        }),
        serde_json::Value::Array(items) => items.iter().any(has_refused_key),
        _ => false,
    }
}

fuzz_target!(|text: &str| {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let Ok(bson) = bson::Bson::try_from(json.clone()) else {
        return;
    };
    if mongo_guard::guard(&bson).is_ok() {
        assert!(!has_refused_key(&json), "let through: {text}");
    }
});
