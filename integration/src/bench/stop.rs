//! Interruption: SIGINT/SIGTERM/SIGHUP set a flag instead of killing the runner, so every
//! step returns an error at its next check and the Drop guards remove namespaces, processes
//! and files.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// True once a termination signal arrived.
pub fn requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Error out of the current step when a stop was requested.
pub fn check() -> crate::Result<()> {
    if requested() {
        return Err(crate::Error::Other("interrupted".into()));
    }
    Ok(())
}

/// Catch the termination signals on a background thread (tokio's safe signal API).
pub fn install() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Register on this thread so no signal can arrive unhandled after we return.
    let (mut int, mut term, mut hup) = rt.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        ))
    })?;
    std::thread::spawn(move || {
        rt.block_on(async {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
        });
        eprintln!("lab-bench: interrupted, cleaning up");
        STOP.store(true, Ordering::Relaxed);
    });
    Ok(())
}
