//! The CQL statement guard: it must never panic, and its verdict must not change when the
//! statement gains a leading comment and whitespace, or when its letters change case
//! (neither changes what the statement does).

#![no_main]

#[path = "../../host/src/source/cql_guard.rs"]
mod cql_guard;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let verdict = cql_guard::guard(text).is_ok();
    let commented = format!("/* note */ \n {text}");
    assert_eq!(cql_guard::guard(&commented).is_ok(), verdict, "comment: {text:?}");
    let upper = text.to_ascii_uppercase();
    assert_eq!(cql_guard::guard(&upper).is_ok(), verdict, "case: {text:?}");
});
