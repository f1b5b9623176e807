//! Install, rollback and uninstall against a model of the namespace: the programs' state
//! (our chains, policy rules and routes per family) and the commands run, in order.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::super::detect::BackendChoice;
use super::super::render::{CHAIN_OUTPUT, CHAIN_PREROUTING};
use super::*;

/// What one family of the namespace holds of ours.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Held {
    chains: bool,
    rules: usize,
    route: bool,
}

/// The namespace as `iptables-*` and `ip` show it; the program named `fails` exits 1.
struct Namespace {
    cfg: Config,
    fails: &'static str,
    held: RefCell<BTreeMap<&'static str, Held>>,
    commands: RefCell<Vec<String>>,
}

impl Namespace {
    fn new(fails: &'static str) -> Namespace {
        Namespace {
            cfg: Config::default(),
            fails,
            held: RefCell::default(),
            commands: RefCell::default(),
        }
    }

    fn held(&self, family: Family) -> Held {
        self.held
            .borrow()
            .get(family.ip_flag())
            .cloned()
            .unwrap_or_default()
    }

    fn commands(&self) -> Vec<String> {
        self.commands.borrow().clone()
    }

    /// `iptables-save -t mangle` with or without our chains and jumps.
    fn save(&self, family: Family) -> String {
        let mut out = String::from("*mangle\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
        if self.held(family).chains {
            out.push_str(&format!(
                ":{CHAIN_PREROUTING} - [0:0]\n:{CHAIN_OUTPUT} - [0:0]\n\
                 -A PREROUTING -p tcp -j {CHAIN_PREROUTING}\n-A OUTPUT -p tcp -j {CHAIN_OUTPUT}\n"
            ));
        }
        out + "COMMIT\n"
    }

    /// `ip -j rule show` / `ip -j route show table T`.
    fn show(&self, family: Family, what: &str) -> String {
        let held = self.held(family);
        let cfg = &self.cfg;
        let entries: Vec<serde_json::Value> = match what {
            "rule" => (0..held.rules)
                .map(|_| {
                    serde_json::json!({
                        "priority": cfg.route_pref,
                        "fwmark": format!("{:#x}", cfg.route_mark),
                        "fwmask": format!("{:#x}", cfg.route_mask),
                        "table": cfg.route_table.to_string(),
                    })
                })
                .collect(),
            _ => held
                .route
                .then(|| serde_json::json!({"type": "local", "dst": "default", "dev": "lo"}))
                .into_iter()
                .collect(),
        };
        serde_json::to_string(&entries).unwrap()
    }
}

fn family_of(flag: &str) -> Family {
    match flag {
        "-6" => Family::V6,
        _ => Family::V4,
    }
}

impl Runner for Namespace {
    fn run(
        &self,
        binary: &str,
        args: &[String],
        stdin: Option<&str>,
    ) -> Result<String, RedirectError> {
        let command = format!("{binary} {}", args.join(" "));
        self.commands.borrow_mut().push(match stdin {
            Some(script) if script.contains("-X ") => format!("{command} (remove)"),
            Some(_) => format!("{command} (install)"),
            None => command.clone(),
        });
        if binary == self.fails {
            return Err(RedirectError::CommandFailed {
                command,
                status: "exit status: 1".to_owned(),
                stderr: "iptables-restore: line 3 failed".to_owned(),
            });
        }
        let v6 = binary.starts_with("ip6tables");
        let iptables_family = if v6 { Family::V6 } else { Family::V4 };
        if binary.ends_with("-save") {
            return Ok(self.save(iptables_family));
        }
        let mut held = self.held.borrow_mut();
        if binary.ends_with("-restore") {
            let script = stdin.unwrap_or_default();
            held.entry(iptables_family.ip_flag()).or_default().chains = !script.contains("-X ");
            return Ok(String::new());
        }
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["-j", flag, what, "show", ..] => {
                drop(held);
                Ok(self.show(family_of(flag), what))
            }
            [flag, what, verb, ..] => {
                let entry = held.entry(family_of(flag).ip_flag()).or_default();
                match (*what, *verb) {
                    ("rule", "add") => entry.rules += 1,
                    ("rule", "del") => entry.rules -= 1,
                    ("route", "replace") => entry.route = true,
                    ("route", "del") => entry.route = false,
                    other => panic!("unexpected ip {other:?}"),
                }
                Ok(String::new())
            }
            other => panic!("unexpected {binary} {other:?}"),
        }
    }
}

const BOTH: [Family; 2] = [Family::V4, Family::V6];

fn tools() -> Tools {
    Tools::detect(BackendChoice::Auto)
}

#[test]
fn install_then_uninstall_both_families() {
    let ns = Namespace::new("");
    install_with(&ns, &ns.cfg, &tools(), &BOTH).unwrap();
    let installed = Held {
        chains: true,
        rules: 1,
        route: true,
    };
    assert_eq!(ns.held(Family::V4), installed);
    assert_eq!(ns.held(Family::V6), installed);
    // Again: idempotent, one policy rule per family.
    install_with(&ns, &ns.cfg, &tools(), &BOTH).unwrap();
    assert_eq!(ns.held(Family::V6), installed);
    remove(&ns, &ns.cfg, &tools(), &BOTH, &mut Err).unwrap();
    assert_eq!(ns.held(Family::V4), Held::default());
    assert_eq!(ns.held(Family::V6), Held::default());
}

#[test]
fn a_failed_ipv6_commit_rolls_back_ipv4_and_reports_the_ipv6_error() {
    let ns = Namespace::new("ip6tables-restore");
    let err = install_with(&ns, &ns.cfg, &tools(), &BOTH).unwrap_err();
    assert!(
        matches!(&err, RedirectError::CommandFailed { command, .. } if command.starts_with("ip6tables-restore")),
        "{err}"
    );
    // IPv4 was fully in place when IPv6 failed; nothing of either family remains.
    let commands = ns.commands();
    let v4_installed = commands
        .iter()
        .position(|c| c.starts_with("iptables-restore") && c.ends_with("(install)"))
        .expect("IPv4 committed first");
    let v4_removed = commands
        .iter()
        .position(|c| c.starts_with("iptables-restore") && c.ends_with("(remove)"))
        .unwrap_or_else(|| panic!("IPv4 chains not removed: {commands:#?}"));
    assert!(v4_installed < v4_removed, "{commands:#?}");
    assert_eq!(ns.held(Family::V4), Held::default(), "{commands:#?}");
    assert_eq!(ns.held(Family::V6), Held::default(), "{commands:#?}");
}

#[test]
fn rollback_goes_on_past_a_step_that_fails_again() {
    // ip6tables-save fails while installing and again while rolling back: the IPv4 chains
    // and both families' routing are removed all the same.
    let ns = Namespace::new("ip6tables-save");
    let err = install_with(&ns, &ns.cfg, &tools(), &BOTH).unwrap_err();
    assert!(err.to_string().contains("ip6tables-save"), "{err}");
    assert_eq!(ns.held(Family::V4), Held::default());
    assert_eq!(ns.held(Family::V6), Held::default());
    // Uninstall, in contrast, stops at the first failed step.
    let ns = Namespace::new("ip6tables-save");
    install_with(&ns, &ns.cfg, &tools(), &[Family::V4]).unwrap();
    assert!(remove(&ns, &ns.cfg, &tools(), &BOTH, &mut Err).is_err());
    assert_eq!(ns.held(Family::V4).rules, 1, "{:#?}", ns.commands());
}
