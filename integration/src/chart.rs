//! What the Helm chart passes, as the tests that pretend to be it need it.

use std::sync::LazyLock;

/// The flags `charts/l7proxy/templates/deployment.yaml` passes to `l7proxy controller`
/// with default values, except the listen addresses and certificate paths (which each
/// test chooses). One file, read by these tests and by the controller's unit tests, so
/// the two lists cannot drift apart.
pub static CHART_FLAGS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    include_str!("../chart/fixtures/controller-flags.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect()
});
