//! The server and the command line as users meet them: the JSON API and pages, a real
//! browser, hostile HTTP, isolation under load, the `quarry` binary, and the Compose file.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod browser;
mod cli;
mod compose;
mod cross_origin;
mod hostile;
mod hosts;
mod load;
mod logs;
mod openapi;
mod operator;
mod paging;
mod roles;
