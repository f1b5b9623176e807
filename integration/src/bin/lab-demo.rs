//! `lab-demo`: README command 1. Shows the spec's example policies enforced on real
//! connections in a network-namespace lab, then removes everything it created.

use std::process::ExitCode;

fn main() -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("lab-demo: run as root (it creates network namespaces and iptables rules)");
        return ExitCode::from(2);
    }
    match l7proxy_integration::demo::run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("lab-demo: {e}");
            ExitCode::FAILURE
        }
    }
}
