//! The contract's types exactly as `wit-bindgen` generates them from `quarry.wit`.
//!
//! Plugins rarely need these: [`Batch`](crate::Batch), [`Column`](crate::Column) and the
//! builders keep the layout right. They are here for code that must build what the
//! builders would refuse to, such as the host's tests of malformed batches, via
//! [`Batch::from_raw`](crate::Batch::from_raw).

pub use crate::bindings::quarry::plugin::types::*;
