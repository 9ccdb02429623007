//! The integration tests: one binary, a module per area, helpers in `common`.

mod common;

mod api;
mod concurrency;
mod crash;
mod daemon;
mod dashboard;

mod demo;
mod diff;
mod diff_properties;
mod help;
mod init;
mod ledger;
mod lifecycle;
mod load;
mod merge_properties;
mod readme;
mod remote;
mod revert;
mod review;
mod scaling;
mod serve;
mod status;
mod suites;
mod validate;
mod webhook;
