//! Shutdown signals of the long-running commands (`l7proxy run`, `l7proxy controller`).
//!
//! Both stop on the first SIGTERM (kubelet) or SIGINT (^C) and then drain for a while. An
//! operator who presses ^C again does not want to wait for the drain: a second SIGINT ends
//! the process at once.

use std::fmt;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Exit status after a second ^C: 128 + SIGINT, as a shell reports an interrupted program.
const FORCED_EXIT: i32 = 130;

/// A signal handler could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("installing the {signal} handler")]
pub struct Error {
    signal: Stop,
    source: std::io::Error,
}

/// Which signal asked the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Terminate,
    Interrupt,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stop::Terminate => "SIGTERM",
            Stop::Interrupt => "SIGINT",
        })
    }
}

/// The installed SIGTERM and SIGINT handlers.
///
/// Installed before the process starts serving, so a signal during startup is not lost
/// (nor does it kill the process with its default action halfway through binding).
pub struct Shutdown {
    term: Signal,
    int: Signal,
}

impl Shutdown {
    /// Installs the handlers (needs a tokio runtime).
    pub fn install() -> Result<Shutdown, Error> {
        let install = |signal_kind, stop| {
            signal(signal_kind).map_err(|source| Error {
                signal: stop,
                source,
            })
        };
        Ok(Shutdown {
            term: install(SignalKind::terminate(), Stop::Terminate)?,
            int: install(SignalKind::interrupt(), Stop::Interrupt)?,
        })
    }

    /// Waits for the first SIGTERM or SIGINT. From then on, a further SIGINT exits the
    /// process without waiting for the caller's drain.
    pub async fn requested(&mut self) -> Stop {
        let stop = tokio::select! {
            _ = self.term.recv() => Stop::Terminate,
            _ = self.int.recv() => Stop::Interrupt,
        };
        tracing::info!(signal = %stop, "shutdown requested");
        exit_on_next_interrupt();
        stop
    }
}

/// A second ^C: no more draining.
fn exit_on_next_interrupt() {
    let mut int = match signal(SignalKind::interrupt()) {
        Ok(int) => int,
        Err(e) => {
            tracing::warn!(error = %e, "a second SIGINT will not end the drain");
            return;
        }
    };
    tokio::spawn(async move {
        int.recv().await;
        tracing::warn!("second SIGINT: exiting without finishing the drain");
        std::process::exit(FORCED_EXIT);
    });
}
