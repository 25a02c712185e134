//! The CQL statement guard: it must never panic, and its verdict must not change when the
//! statement gains a leading comment and whitespace, or when its letters change case
//! (neither changes what the statement does).

#![no_main]

use libfuzzer_sys::fuzz_target;
use quarry_core::guard::cql as cql_guard;

fuzz_target!(|text: &str| {
    let verdict = cql_guard::guard(text).is_ok();
    let commented = format!("/* note */ \n {text}");
    assert_eq!(cql_guard::guard(&commented).is_ok(), verdict, "comment: {text:?}");
    let upper = text.to_ascii_uppercase();
    assert_eq!(cql_guard::guard(&upper).is_ok(), verdict, "case: {text:?}");
});
