//! Runs the data-driven cases of `integration/cases/`: each in direct mode (no proxy: every
//! probe must reach its real server, which checks the lab itself) and in proxy mode (capture
//! + proxy: every probe and event must match the case).

use l7proxy_integration::case::{self, Case, Mode};
use l7proxy_integration::require_root;

const PREFIX: &str = "l7t-lab";

fn run(file: &str, mode: Mode) {
    if !require_root() {
        return;
    }
    let case = Case::load(&case::cases_dir().join(file)).unwrap();
    match case::run(&case, mode, PREFIX) {
        Ok(lines) => {
            for l in lines {
                eprintln!("{l}");
            }
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn every_case_file_parses_and_names_known_endpoints() {
    let cases = Case::load_all().unwrap();
    assert!(cases.len() >= 7, "the seven spec policies are cases");
    for c in &cases {
        assert!(!c.probes.is_empty(), "{} has no probes", c.name);
        let expects: std::collections::BTreeSet<_> =
            c.probes.iter().map(|p| format!("{:?}", p.expect)).collect();
        assert!(
            expects.len() > 1 || c.name.starts_with("datapath"),
            "{}: probes must show both allowed and denied",
            c.name
        );
    }
}

/// Every case's expectations agree with the policy engine (`l7proxy explain`); no root.
#[test]
fn every_case_agrees_with_the_policy_engine() {
    let mut failures = Vec::new();
    for case in Case::load_all().unwrap() {
        match l7proxy_integration::explain::check_case(&case) {
            Ok(lines) => lines.iter().for_each(|l| eprintln!("{l}")),
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

macro_rules! cases {
    ($($direct:ident, $proxy:ident => $file:literal;)*) => {$(
        #[test]
        fn $direct() {
            run($file, Mode::Direct);
        }

        #[test]
        fn $proxy() {
            run($file, Mode::Proxy);
        }
    )*};
}

cases! {
    direct_1_ingress_http, proxy_1_ingress_http => "1-ingress-allow-http-request-to-api-v2.yaml";
    direct_2_admin_role, proxy_2_admin_role => "2-allow-privileged-url-to-admin-role.yaml";
    direct_3_egress_domain, proxy_3_egress_domain => "3-allow-web-access-to-internal-domain.yaml";
    direct_4_http_only, proxy_4_http_only => "4-allow-http-only.yaml";
    direct_5_ingress_tls, proxy_5_ingress_tls => "5-ingress-allow-tls-handshake.yaml";
    direct_6_egress_tls, proxy_6_egress_tls => "6-allow-tls-handshake-to-internal.yaml";
    direct_7_tls_only, proxy_7_tls_only => "7-allow-tls-only.yaml";
    direct_8_datapath, proxy_8_datapath => "8-datapath-l4-and-http.yaml";
    direct_9_live_changes, proxy_9_live_changes => "9-live-policy-changes.yaml";
    direct_10_exclusions_fail_closed, proxy_10_exclusions_fail_closed => "10-capture-exclusions-and-fail-closed.yaml";
    direct_11_limits_splice, proxy_11_limits_splice => "11-limits-and-splice.yaml";
}
