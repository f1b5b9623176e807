//! Pure renderer: [`Config`] in, `iptables-restore --noflush` text and `ip` commands out.
//! Nothing here touches the system, so the exact rule set is unit-tested and kept as golden
//! files under `iptables/`.

use std::fmt::Write as _;

use super::config::{
    ALWAYS_EXCLUDED_OUTBOUND_PORTS, ALWAYS_EXCLUDED_OUTBOUND_V4, Config, Family, PortRange,
};

/// Our chain in mangle PREROUTING: inbound capture and the second half of outbound capture.
pub const CHAIN_PREROUTING: &str = "L7PROXY_PREROUTING";
/// Our chain in mangle OUTPUT: marks the app's new outbound connections, loop guards.
pub const CHAIN_OUTPUT: &str = "L7PROXY_OUTPUT";
/// multiport accepts at most 15 ports (a range takes two).
const MULTIPORT_SLOTS: usize = 15;

/// A jump from a built-in chain into one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    pub builtin: &'static str,
    pub chain: &'static str,
}

impl Jump {
    /// The rule after `-A <builtin> ` / `-I <builtin> 1 `, exactly as `iptables-save` prints it
    /// (needed to recognise it again for idempotence and removal).
    pub fn spec(&self) -> String {
        format!("-p tcp -j {}", self.chain)
    }
}

/// The jumps install adds, first in each built-in chain.
pub fn jumps() -> [Jump; 2] {
    [
        Jump {
            builtin: "PREROUTING",
            chain: CHAIN_PREROUTING,
        },
        Jump {
            builtin: "OUTPUT",
            chain: CHAIN_OUTPUT,
        },
    ]
}

/// The rules of our two chains for one family, as `-A CHAIN ...` lines.
pub fn chain_rules(cfg: &Config, family: Family) -> Vec<String> {
    let mut out = Vec::new();
    let pre = |rule: String| format!("-A {CHAIN_PREROUTING} {rule}");
    let outp = |rule: String| format!("-A {CHAIN_OUTPUT} {rule}");
    let proxy_mark = format!("{:#x}", cfg.proxy_mark);
    let route = format!("{:#x}/{:#x}", cfg.route_mark, cfg.route_mask);
    let mask = format!("{:#x}", cfg.route_mask);
    let lo = family.loopback();

    // PREROUTING. Only TCP reaches this chain (the jump matches -p tcp). The proxy's own
    // packets only ever arrive here over lo (upstream to the Pod's own address); their mark
    // never matches the routing mark, so they fall through to `-i lo -j RETURN`.
    // Established connections were either captured on their first packet (the socket lookup
    // finds the proxy's accepted socket) or deliberately not captured; TPROXY on replies to the
    // proxy's own outbound connections would drop them.
    // A pure SYN is never exempt, even when conntrack calls it ESTABLISHED: after the proxy
    // resets a denied connection, its conntrack entry lingers in CLOSE state and a new SYN
    // on the same 4-tuple re-opens that entry instead of creating a NEW one. Exempting it
    // would hand the new connection straight to the app, past the policy.
    out.push(pre(
        "-p tcp ! --syn -m conntrack --ctstate ESTABLISHED -j RETURN".to_owned(),
    ));
    // Outbound capture, second half: the app's new connection, marked in OUTPUT and routed to
    // lo, is handed to the outbound listener.
    out.push(pre(format!(
        "-i lo -p tcp -m mark --mark {route} -j TPROXY --on-port {} --on-ip {lo} --tproxy-mark {route}",
        cfg.outbound_port
    )));
    // Anything else on lo is the Pod talking to itself (localhost or its own Pod IP).
    out.push(pre("-i lo -j RETURN".to_owned()));
    // The metrics port goes to the proxy's own admin listener (transparent, on loopback),
    // whatever listens on the Pod IP there: kubelet probes and Prometheus reach the proxy's
    // `/healthz`, `/readyz`, `/metrics`, and nothing else can be reached on that port. No
    // admin listener: TPROXY drops the packet (fails closed, as the data listeners do).
    out.push(pre(format!(
        "-p tcp -m tcp --dport {port} -m addrtype --dst-type LOCAL -j TPROXY --on-port {port} --on-ip {lo} --tproxy-mark 0x0/0x0",
        port = cfg.metrics_port
    )));
    // The user's exclusions reach their sockets directly. The proxy's listener ports are not
    // exempt: the listeners are on loopback, so the Pod IP on those ports is an app's and is
    // decided like any other port.
    for ports in multiport_groups(&cfg.inbound_excluded()) {
        out.push(pre(format!(
            "-p tcp -m multiport --dports {ports} -j RETURN"
        )));
    }
    // Inbound capture: new TCP connections to any of the Pod's addresses. The destination is
    // already local, so no routing mark is needed (and none can trip src_valid_mark). With no
    // transparent listener on the port, TPROXY drops the packet: capture fails closed.
    out.push(pre(format!(
        "-p tcp -m addrtype --dst-type LOCAL -j TPROXY --on-port {} --on-ip {lo} --tproxy-mark 0x0/0x0",
        cfg.inbound_port
    )));

    // OUTPUT.
    // The proxy's upstream connection that borrows the client's address (transparent bind):
    // tag the connection so the app's replies are routed back to the proxy, not to eth0.
    out.push(outp(format!(
        "-m mark --mark {proxy_mark} -m conntrack --ctstate NEW -m addrtype ! --src-type LOCAL -j CONNMARK --set-xmark {route}"
    )));
    // Loop prevention: the proxy's sockets carry its mark; its UID is the backstop.
    out.push(outp(format!("-m mark --mark {proxy_mark} -j RETURN")));
    out.push(outp(format!(
        "-m owner --uid-owner {} -j RETURN",
        cfg.proxy_uid
    )));
    // Later packets of a captured connection (and the app's replies to a spoofed-source
    // upstream) follow the connection's routing mark.
    out.push(outp(format!(
        "-m connmark --mark {route} -j CONNMARK --restore-mark --nfmask {mask} --ctmask {mask}"
    )));
    out.push(outp(format!("-m mark --mark {route} -j RETURN")));
    // Only the first packet of a connection the app opens is a capture candidate: replies of
    // connections that were not captured (kubelet probes on excluded ports) stay on eth0.
    out.push(outp("-m conntrack ! --ctstate NEW -j RETURN".to_owned()));
    // Loopback and the Pod's own addresses (their route goes through lo).
    out.push(outp("-o lo -j RETURN".to_owned()));
    if family == Family::V4 {
        out.push(outp(format!("-d {ALWAYS_EXCLUDED_OUTBOUND_V4} -j RETURN")));
    }
    for cidr in cfg
        .exclude_outbound_cidrs
        .iter()
        .filter(|c| family.contains(c))
    {
        out.push(outp(format!("-d {cidr} -j RETURN")));
    }
    let mut out_ports: Vec<PortRange> = ALWAYS_EXCLUDED_OUTBOUND_PORTS
        .iter()
        .map(|p| PortRange::single(*p))
        .collect();
    for p in &cfg.exclude_outbound_ports {
        if !out_ports.contains(p) {
            out_ports.push(*p);
        }
    }
    for ports in multiport_groups(&out_ports) {
        out.push(outp(format!(
            "-p tcp -m multiport --dports {ports} -j RETURN"
        )));
    }
    // Outbound capture, first half: mark the connection; the ip rule sends it to lo, where
    // PREROUTING hands it to the outbound listener.
    out.push(outp(format!("-p tcp -j MARK --set-xmark {route}")));
    out.push(outp(format!("-p tcp -j CONNMARK --set-xmark {route}")));
    out
}

/// Splits a port list into multiport-sized, comma-joined groups.
fn multiport_groups(ports: &[PortRange]) -> Vec<String> {
    let mut groups = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut used = 0;
    for p in ports {
        if used + p.slots() > MULTIPORT_SLOTS {
            groups.push(current.join(","));
            current.clear();
            used = 0;
        }
        used += p.slots();
        current.push(p.to_string());
    }
    if !current.is_empty() {
        groups.push(current.join(","));
    }
    groups
}

/// What `iptables-save -t mangle` shows of our objects right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Existing {
    /// Our chains that exist.
    pub chains: Vec<String>,
    /// `-A <builtin> ... -j <our chain>` lines, verbatim.
    pub jump_lines: Vec<String>,
}

impl Existing {
    /// Reads the relevant parts of `iptables-save -t mangle` output.
    pub fn parse(save: &str) -> Existing {
        let ours = [CHAIN_PREROUTING, CHAIN_OUTPUT];
        let mut existing = Existing::default();
        for line in save.lines().map(str::trim) {
            if let Some(decl) = line.strip_prefix(':') {
                let name = decl.split_whitespace().next().unwrap_or_default();
                if ours.contains(&name) {
                    existing.chains.push(name.to_owned());
                }
            } else if let Some(rule) = line.strip_prefix("-A ") {
                let mut words = rule.split_whitespace();
                let chain = words.next().unwrap_or_default();
                let target = rule.rsplit_once(" -j ").map(|(_, t)| t.trim());
                if !ours.contains(&chain) && target.is_some_and(|t| ours.contains(&t)) {
                    existing.jump_lines.push(line.to_owned());
                }
            }
        }
        existing
    }

    fn jump_count(&self, jump: &Jump) -> usize {
        let wanted = format!("-A {} {}", jump.builtin, jump.spec());
        self.jump_lines.iter().filter(|l| **l == wanted).count()
    }
}

/// `iptables-restore --noflush` input that installs the rule set over `existing` in one
/// commit: declaring our chains flushes them if present, jumps are added only when missing
/// (and duplicates left by hand are removed), so running it twice leaves one copy.
pub fn install_script(cfg: &Config, family: Family, existing: &Existing) -> String {
    let mut s = String::from("*mangle\n");
    for chain in [CHAIN_PREROUTING, CHAIN_OUTPUT] {
        let _ = writeln!(s, ":{chain} - [0:0]");
    }
    for jump in jumps() {
        let count = existing.jump_count(&jump);
        for _ in 1..count {
            let _ = writeln!(s, "-D {} {}", jump.builtin, jump.spec());
        }
        if count == 0 {
            let _ = writeln!(s, "-I {} 1 {}", jump.builtin, jump.spec());
        }
    }
    for rule in chain_rules(cfg, family) {
        s.push_str(&rule);
        s.push('\n');
    }
    s.push_str("COMMIT\n");
    s
}

/// `iptables-restore --noflush` input that removes every jump into our chains and the chains
/// themselves, or `None` when there is nothing of ours.
pub fn uninstall_script(existing: &Existing) -> Option<String> {
    if existing.chains.is_empty() && existing.jump_lines.is_empty() {
        return None;
    }
    let mut s = String::from("*mangle\n");
    for line in &existing.jump_lines {
        if let Some(rule) = line.strip_prefix("-A ") {
            let _ = writeln!(s, "-D {rule}");
        }
    }
    for chain in &existing.chains {
        let _ = writeln!(s, "-F {chain}");
    }
    for chain in &existing.chains {
        let _ = writeln!(s, "-X {chain}");
    }
    s.push_str("COMMIT\n");
    Some(s)
}

/// The `ip` arguments that route marked packets to `lo` (install side).
pub fn route_add(cfg: &Config, family: Family) -> Vec<Vec<String>> {
    vec![
        rule_args(cfg, family, "add"),
        route_args(cfg, family, "replace"),
    ]
}

/// `ip rule add|del ...` arguments for our policy rule.
pub fn rule_args(cfg: &Config, family: Family, verb: &str) -> Vec<String> {
    [
        family.ip_flag(),
        "rule",
        verb,
        "fwmark",
        &format!("{:#x}/{:#x}", cfg.route_mark, cfg.route_mask),
        "lookup",
        &cfg.route_table.to_string(),
        "pref",
        &cfg.route_pref.to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// `ip route replace|del local default dev lo table T` arguments.
pub fn route_args(cfg: &Config, family: Family, verb: &str) -> Vec<String> {
    [
        family.ip_flag(),
        "route",
        verb,
        "local",
        family.any(),
        "dev",
        "lo",
        "table",
        &cfg.route_table.to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The full rule set for one family as it is after a fresh install (golden files, `render`).
pub fn full_rules(cfg: &Config, family: Family) -> String {
    install_script(cfg, family, &Existing::default())
}

/// The routing commands for the given families, one shell line each.
pub fn routing_commands(cfg: &Config, families: &[Family]) -> String {
    let mut s = String::new();
    for family in families {
        for args in route_add(cfg, *family) {
            let _ = writeln!(s, "ip {}", args.join(" "));
        }
    }
    s
}
