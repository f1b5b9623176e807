//! The `l7proxy` binary: parse the command line and hand over to the library.
//! `anyhow` stops here; every subsystem below speaks its own `thiserror` type.

#![deny(unsafe_code)]

fn main() -> std::process::ExitCode {
    l7proxy::cli::main()
}
