//! Steps a case takes between probes: edit the proxy's manifests while it runs (live
//! reload, broken files) or stop the proxy (capture must then fail closed).

use std::time::Duration;

use crate::case::Mode;
use crate::error::Result;
use crate::lab::Lab;
use crate::probe::Step;

/// Apply `step` to the running lab.
pub fn apply(lab: &mut Lab, step: &Step, mode: Mode) -> Result<()> {
    for file in &step.write {
        lab.add_manifest(&file.name, &file.content)?;
    }
    for name in &step.remove {
        let path = lab.manifests_dir().join(name);
        if path.exists() {
            std::fs::remove_file(path)?;
        }
    }
    if step.stop_proxy && mode == Mode::Proxy {
        lab.stop_proxy();
    }
    if let Some(ms) = step.settle_ms {
        std::thread::sleep(Duration::from_millis(ms));
    }
    Ok(())
}
