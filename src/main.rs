//! The `stagecraft` binary: parse the command line, run it, exit with its code.
//!
//! I/O: the process (arguments, exit code).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(stagecraft::cli::main())
}
