//! `lab-bench`: end-to-end benchmark of l7proxy against direct traffic and HAProxy on the
//! netns lab; prints min/median/max per mode and the P/D and P/H ratios.
//!
//! `lab-bench run [--rounds 3] [--duration 3]` (root; see `integration/bench/run.sh`).
//! `lab-bench serve ...` is the origin server the runner starts inside the workload namespace.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use l7proxy_integration::bench::{
    self,
    mode::Mode,
    run::{Options, PerfStep},
    topo::Cpus,
};

#[derive(Parser)]
#[command(about = "End-to-end benchmark: direct vs HAProxy vs l7proxy, as ratios")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the benchmark (needs root).
    Run(RunArgs),
    /// Write the benchmark's manifests (policy with RULES HTTP entries + Pod objects) to DIR.
    Policy {
        #[arg(long, default_value_t = 10)]
        rules: usize,
        dir: PathBuf,
    },
    /// The origin server (started by `run` inside the workload namespace).
    Serve {
        #[arg(long)]
        http: Vec<SocketAddr>,
        #[arg(long)]
        https: Vec<SocketAddr>,
        /// HTTP/2 cleartext with prior knowledge.
        #[arg(long)]
        h2: Vec<SocketAddr>,
        #[arg(long)]
        bulk: Vec<SocketAddr>,
        /// Answers each connection with the count of accepted `--http` connections.
        #[arg(long)]
        stats: Vec<SocketAddr>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Rounds; every round runs every mode.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds per throughput step.
    #[arg(long, default_value_t = 3)]
    duration: u64,
    /// The l7proxy binary (a release build).
    #[arg(long)]
    l7proxy: Option<PathBuf>,
    /// CPU of the load generator and origin server.
    #[arg(long, default_value_t = 0)]
    load_cpu: usize,
    /// CPU of the proxy (H and P).
    #[arg(long, default_value_t = 1)]
    proxy_cpu: usize,
    /// Concurrent connections of the closed-loop steps.
    #[arg(long, default_value_t = 32)]
    conns: usize,
    /// Size of each bulk object, in MB.
    #[arg(long, default_value_t = 1000)]
    bulk_mb: u64,
    /// Idle connections for the memory step.
    #[arg(long, default_value_t = 10_000)]
    idle_conns: usize,
    /// HTTP rules of the scaling variant (against 10).
    #[arg(long, default_value_t = 10_000)]
    many_rules: usize,
    /// Skip the TLS handshake step.
    #[arg(long)]
    no_tls: bool,
    /// Skip the idle-connection memory step.
    #[arg(long)]
    no_idle: bool,
    /// Record a perf CPU profile of l7proxy (last round, `--perf-step`) to this file.
    #[arg(long)]
    perf: Option<PathBuf>,
    /// The step `--perf` profiles.
    #[arg(long, value_enum, default_value_t = PerfStep::KeepAlive)]
    perf_step: PerfStep,
    /// Modes to run: any of D (direct), H (HAProxy), P (l7proxy).
    #[arg(long, default_value = "DHP")]
    modes: String,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve {
            http,
            https,
            h2,
            bulk,
            stats,
        } => serve(http, https, h2, bulk, stats),
        Command::Run(args) => run(args),
        Command::Policy { rules, dir } => match bench::policy::write(&dir, rules.max(1)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lab-bench policy: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve(
    http: Vec<SocketAddr>,
    https: Vec<SocketAddr>,
    h2: Vec<SocketAddr>,
    bulk: Vec<SocketAddr>,
    stats: Vec<SocketAddr>,
) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lab-bench serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(bench::server::serve(http, https, h2, bulk, stats)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lab-bench serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("lab-bench run: needs root (network namespaces, iptables)");
        return ExitCode::from(2);
    }
    let l7proxy = args.l7proxy.unwrap_or_else(|| {
        l7proxy_integration::workspace_dir()
            .join("target")
            .join("release")
            .join("l7proxy")
    });
    if !l7proxy.is_file() {
        eprintln!(
            "lab-bench run: {} not found (cargo build --release -p l7proxy)",
            l7proxy.display()
        );
        return ExitCode::from(2);
    }
    let self_exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("lab-bench run: cannot find own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Idle connections: the proxy holds two descriptors per connection. Raise the soft limit
    // to the hard one (raising the hard one needs CAP_SYS_RESOURCE, which containers often
    // lack) and fit the connection count under it.
    let (_, hard) = match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lab-bench run: cannot read RLIMIT_NOFILE: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) =
        nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard)
    {
        eprintln!("lab-bench run: cannot raise RLIMIT_NOFILE: {e}");
        return ExitCode::FAILURE;
    }
    let fit = (hard.saturating_sub(256) / 2) as usize;
    let idle_conns = if args.idle_conns > fit {
        eprintln!(
            "lab-bench run: RLIMIT_NOFILE hard limit {hard} allows {fit} idle proxied connections, not {}",
            args.idle_conns
        );
        fit
    } else {
        args.idle_conns
    };
    if let Err(e) = bench::stop::install() {
        eprintln!("lab-bench run: cannot catch signals: {e}");
        return ExitCode::FAILURE;
    }
    let modes: Vec<Mode> = Mode::ALL
        .into_iter()
        .filter(|m| args.modes.to_ascii_uppercase().contains(m.letter()))
        .collect();
    if modes.is_empty() {
        eprintln!("lab-bench run: --modes needs at least one of D, H, P");
        return ExitCode::from(2);
    }
    let opts = Options {
        modes,
        perf: args.perf,
        perf_step: args.perf_step,
        rounds: args.rounds.max(1),
        duration: Duration::from_secs(args.duration.max(1)),
        l7proxy,
        cpus: Cpus {
            load: args.load_cpu,
            proxy: args.proxy_cpu,
        },
        conns: args.conns.max(1),
        bulk_bytes: args.bulk_mb.max(1) * 1_000_000,
        idle_conns: idle_conns.max(1),
        many_rules: args.many_rules.max(10),
        no_tls: args.no_tls,
        no_idle: args.no_idle,
    };
    let load_before = loadavg();
    let started = std::time::Instant::now();
    match bench::run::run(&opts, &self_exe) {
        Ok(samples) => {
            println!(
                "\nl7proxy end-to-end benchmark: {} rounds x {} s steps, modes interleaved; \
                 D direct, H HAProxy, P l7proxy ({}); proxy on CPU {}, load+server on CPU {}",
                opts.rounds,
                opts.duration.as_secs(),
                opts.l7proxy.display(),
                opts.cpus.proxy,
                opts.cpus.load
            );
            println!(
                "load average before/after: {load_before} / {}; took {:.0} s\n",
                loadavg(),
                started.elapsed().as_secs_f64()
            );
            print!("{}", samples.table());
            println!(
                "\nratios are of medians; P runs with every EVE event on (one per HTTP request) unless a row says otherwise"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lab-bench run: {e}");
            ExitCode::FAILURE
        }
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
