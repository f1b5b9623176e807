//! Renderer, parser and golden-file tests. Regenerate the golden files with
//! `UPDATE_GOLDEN=1 cargo test -p l7proxy --lib redirect`.

use std::path::PathBuf;

use clap::Parser;

use super::config::{Config, Family, PortRange, parse_cidr};
use super::detect::{Backend, parse_backend};
use super::render::{self, Existing};
use super::{Action, Ipv6Mode, RedirectArgs, RedirectError};
use crate::cli::{Cli, Command};

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("iptables")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(
        expected,
        actual,
        "{} differs from the renderer; review and regenerate with UPDATE_GOLDEN=1",
        path.display()
    );
}

#[test]
fn golden_default_rule_set() {
    let cfg = Config::default();
    golden("rules.v4", &render::full_rules(&cfg, Family::V4));
    golden("rules.v6", &render::full_rules(&cfg, Family::V6));
    golden(
        "routes.sh",
        &format!(
            "# Policy routing installed by `l7proxy redirect install` (defaults).\n{}",
            render::routing_commands(&cfg, &[Family::V4, Family::V6])
        ),
    );
}

fn args(extra: &[&str]) -> RedirectArgs {
    let mut argv = vec!["l7proxy", "redirect", "render"];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Redirect(args) => args,
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn cli_defaults_match_the_proxy_defaults() {
    let a = args(&[]);
    assert_eq!(a.action, Action::Render);
    assert_eq!(a.ipv6, Ipv6Mode::Auto);
    assert_eq!(a.config().unwrap(), Config::default());
    let d = Config::default();
    assert_eq!(
        (
            d.inbound_port,
            d.outbound_port,
            d.proxy_mark,
            d.proxy_uid,
            d.metrics_port
        ),
        (15006, 15001, 0x539, 1337, 15020)
    );
}

#[test]
fn cli_lists_parse_into_config() {
    let cfg = args(&[
        "--exclude-inbound-ports",
        "8081,9000-9010",
        "--exclude-outbound-ports",
        "5432",
        "--exclude-outbound-cidrs",
        "10.0.0.0/8,fd00::1",
        "--mark",
        "4096",
        "--ipv6",
        "off",
    ])
    .config()
    .unwrap();
    assert_eq!(
        cfg.exclude_inbound_ports,
        vec![
            PortRange::single(8081),
            PortRange {
                first: 9000,
                last: 9010
            }
        ]
    );
    assert_eq!(cfg.exclude_outbound_ports, vec![PortRange::single(5432)]);
    assert_eq!(cfg.exclude_outbound_cidrs.len(), 2);
    assert_eq!(cfg.proxy_mark, 0x1000);
}

#[test]
fn cli_rejects_bad_input_with_clear_errors() {
    let err = args(&["--exclude-inbound-ports", "80,abc"])
        .config()
        .unwrap_err();
    assert!(err.to_string().contains("\"abc\""), "{err}");
    let err = args(&["--exclude-outbound-cidrs", "10.0.0.0/33"])
        .config()
        .unwrap_err();
    assert!(err.to_string().contains("CIDR"), "{err}");
    assert!(Cli::try_parse_from(["l7proxy", "redirect", "render", "--mark", "0xzz"]).is_err());
    assert!(Cli::try_parse_from(["l7proxy", "redirect", "bogus"]).is_err());
}

#[test]
fn overlapping_marks_are_refused() {
    for mark in [0x111, 0x1111, 0xabc111] {
        let cfg = Config {
            proxy_mark: mark,
            ..Config::default()
        };
        assert!(
            matches!(cfg.validate(), Err(RedirectError::MarkOverlap { .. })),
            "{mark:#x}"
        );
    }
    Config::default().validate().unwrap();
}

#[test]
fn port_ranges_parse() {
    assert_eq!("80".parse::<PortRange>().unwrap(), PortRange::single(80));
    let r: PortRange = "8000-8100".parse().unwrap();
    assert_eq!((r.first, r.last), (8000, 8100));
    assert_eq!("8000:8100".parse::<PortRange>().unwrap(), r);
    assert_eq!(r.to_string(), "8000:8100");
    for bad in ["0", "9-1", "x", "70000", "", "1-"] {
        assert!(bad.parse::<PortRange>().is_err(), "{bad:?}");
    }
}

#[test]
fn cidrs_and_marks_parse() {
    assert_eq!(parse_cidr("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
    assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
    assert_eq!(parse_cidr("fd00::1").unwrap().to_string(), "fd00::1/128");
    assert!(parse_cidr("bogus").is_err());
    let mark = |s: &str| s.parse::<crate::args::Mark>().map(|m| m.get());
    assert_eq!(mark("0x539"), Ok(0x539));
    assert_eq!(mark("1337"), Ok(1337));
    assert!(mark("0").is_err());
    assert!(mark("0x1_0000_0000").is_err());
}

#[test]
fn options_change_the_rules() {
    let cfg = Config {
        inbound_port: 16006,
        outbound_port: 16001,
        proxy_mark: 0x2000,
        proxy_uid: 2102,
        metrics_port: 9090,
        exclude_outbound_ports: vec![PortRange::single(5432)],
        exclude_outbound_cidrs: vec![
            parse_cidr("10.96.0.0/12").unwrap(),
            parse_cidr("fd00:10::/64").unwrap(),
        ],
        ..Config::default()
    };
    let v4 = render::full_rules(&cfg, Family::V4);
    let v6 = render::full_rules(&cfg, Family::V6);
    assert!(v4.contains("--on-port 16006 --on-ip 127.0.0.1 --tproxy-mark 0x0/0x0"));
    assert!(v4.contains("--on-port 16001 --on-ip 127.0.0.1 --tproxy-mark 0x111/0xfff"));
    assert!(v6.contains("--on-port 16006 --on-ip ::1"));
    // The proxy's ports are captured; the metrics port goes to the admin listener.
    assert!(!v4.contains("--dports 16001") && !v4.contains("--dports 16006"));
    assert!(v4.contains(
        "--dport 9090 -m addrtype --dst-type LOCAL -j TPROXY --on-port 9090 --on-ip 127.0.0.1"
    ));
    assert!(v6.contains(
        "--dport 9090 -m addrtype --dst-type LOCAL -j TPROXY --on-port 9090 --on-ip ::1"
    ));
    assert!(v4.contains("-m mark --mark 0x2000 -j RETURN"));
    assert!(!v4.contains("0x539"));
    assert!(v4.contains("--uid-owner 2102"));
    assert!(v4.contains("--dports 53,5432 -j RETURN"));
    // Each family gets only its own CIDRs; the metadata address is IPv4-only.
    assert!(v4.contains("-d 10.96.0.0/12 -j RETURN") && !v4.contains("fd00:10::"));
    assert!(v6.contains("-d fd00:10::/64 -j RETURN") && !v6.contains("10.96.0.0"));
    assert!(v4.contains("169.254.169.254") && !v6.contains("169.254.169.254"));
}

#[test]
fn long_port_lists_are_split_for_multiport() {
    let cfg = Config {
        exclude_inbound_ports: (1..=20)
            .map(|p| PortRange::single(8000 + p))
            .chain([PortRange {
                first: 9000,
                last: 9100,
            }])
            .collect(),
        ..Config::default()
    };
    let rules = render::chain_rules(&cfg, Family::V4);
    let groups: Vec<&String> = rules.iter().filter(|r| r.contains("--dports")).collect();
    // 20 user ports + one range (2 slots) = 22 slots (two groups); plus the TCP/53 rule.
    assert_eq!(groups.len(), 3, "{groups:#?}");
    for g in &groups {
        let list = g
            .split("--dports ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let slots: usize = list
            .split(',')
            .map(|p| if p.contains(':') { 2 } else { 1 })
            .sum();
        assert!(slots <= 15, "{g}");
    }
}

#[test]
fn capture_rules_come_after_their_guards() {
    let rules = render::chain_rules(&Config::default(), Family::V4);
    let pos = |needle: &str| {
        rules
            .iter()
            .position(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("{needle} missing"))
    };
    // PREROUTING: mark bypass and ESTABLISHED before any TPROXY; lo bypass before inbound.
    assert!(
        !rules
            .iter()
            .any(|r| r.contains("PREROUTING -m mark --mark 0x539"))
    );
    assert!(pos("--ctstate ESTABLISHED") < pos("--on-port 15001"));
    assert!(pos("--on-port 15001") < pos("-i lo -j RETURN"));
    assert!(pos("-i lo -j RETURN") < pos("--on-port 15006"));
    assert!(pos("--on-port 15020") < pos("--on-port 15006"));
    // No port of the proxy's is exempt from capture.
    assert!(
        !rules
            .iter()
            .any(|r| r.contains("--dports") && r.contains("PREROUTING")),
        "{rules:#?}"
    );
    // OUTPUT: proxy mark and uid bypass before restoring/setting the routing mark; NEW only.
    assert!(pos("OUTPUT -m mark --mark 0x539 -j RETURN") < pos("--restore-mark"));
    assert!(pos("--uid-owner 1337") < pos("--restore-mark"));
    assert!(pos("! --ctstate NEW") < pos("-j MARK"));
    assert!(pos("-o lo -j RETURN") < pos("-j MARK"));
    // TPROXY only ever appears with -p tcp in the same rule.
    for r in rules.iter().filter(|r| r.contains("TPROXY")) {
        assert!(r.contains("-p tcp"), "{r}");
    }
}

const SAVE_WITH_OURS: &str = "\
# Generated by iptables-save
*mangle
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:L7PROXY_OUTPUT - [0:0]
:L7PROXY_PREROUTING - [0:0]
:OTHER - [0:0]
-A PREROUTING -p tcp -j L7PROXY_PREROUTING
-A PREROUTING -p tcp -j L7PROXY_PREROUTING
-A PREROUTING -p udp -j OTHER
-A OUTPUT -p tcp -j L7PROXY_OUTPUT
-A L7PROXY_OUTPUT -o lo -j RETURN
COMMIT
";

#[test]
fn install_over_existing_keeps_one_copy() {
    let existing = Existing::parse(SAVE_WITH_OURS);
    assert_eq!(existing.chains, ["L7PROXY_OUTPUT", "L7PROXY_PREROUTING"]);
    assert_eq!(existing.jump_lines.len(), 3);
    let script = render::install_script(&Config::default(), Family::V4, &existing);
    // The duplicate PREROUTING jump goes, no jump is added, our chains are redeclared
    // (which flushes them) and refilled.
    assert_eq!(
        script
            .matches("-D PREROUTING -p tcp -j L7PROXY_PREROUTING")
            .count(),
        1
    );
    assert!(!script.contains("-I "));
    assert!(script.contains(":L7PROXY_OUTPUT - [0:0]"));
    assert!(!script.contains("OTHER"));
    let fresh = render::install_script(&Config::default(), Family::V4, &Existing::default());
    assert!(fresh.contains("-I PREROUTING 1 -p tcp -j L7PROXY_PREROUTING"));
    assert!(fresh.contains("-I OUTPUT 1 -p tcp -j L7PROXY_OUTPUT"));
    assert!(!fresh.contains("-D "));
}

#[test]
fn uninstall_removes_only_ours() {
    let script = render::uninstall_script(&Existing::parse(SAVE_WITH_OURS)).unwrap();
    assert_eq!(
        script,
        "*mangle\n\
         -D PREROUTING -p tcp -j L7PROXY_PREROUTING\n\
         -D PREROUTING -p tcp -j L7PROXY_PREROUTING\n\
         -D OUTPUT -p tcp -j L7PROXY_OUTPUT\n\
         -F L7PROXY_OUTPUT\n-F L7PROXY_PREROUTING\n\
         -X L7PROXY_OUTPUT\n-X L7PROXY_PREROUTING\n\
         COMMIT\n"
    );
    assert_eq!(
        render::uninstall_script(&Existing::parse(
            "*mangle\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"
        )),
        None
    );
}

#[test]
fn backend_is_read_from_the_version_line() {
    assert_eq!(parse_backend("iptables v1.8.9 (nf_tables)"), Backend::Nft);
    assert_eq!(parse_backend("iptables v1.8.9 (legacy)"), Backend::Legacy);
    assert_eq!(parse_backend("iptables v1.4.21"), Backend::Unknown);
    assert_eq!(Backend::Nft.to_string(), "iptables-nft");
    assert_eq!(Backend::Legacy.to_string(), "iptables-legacy");
}

#[test]
fn routing_commands_cover_both_families() {
    let cmds = render::routing_commands(&Config::default(), &[Family::V4, Family::V6]);
    assert_eq!(
        cmds,
        "ip -4 rule add fwmark 0x111/0xfff lookup 133 pref 32764\n\
         ip -4 route replace local 0.0.0.0/0 dev lo table 133\n\
         ip -6 rule add fwmark 0x111/0xfff lookup 133 pref 32764\n\
         ip -6 route replace local ::/0 dev lo table 133\n"
    );
}
