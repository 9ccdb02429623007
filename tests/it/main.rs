//! The integration tests: one binary, a module per area, helpers in `common`.

mod common;

mod demo;
mod init;
mod load;
mod status;
mod validate;
