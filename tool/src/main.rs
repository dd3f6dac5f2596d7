//! The `rustcache` command: check the configuration, enable or disable the
//! module on the hosts line, look at the shared cache (statistics, entries,
//! one name's answer and where it came from), flush it, and translate a
//! dnsmasq configuration.
//!
//! A program of its own, never loaded into another process, so it uses
//! clap for its arguments and serde_json for `--json`; the module links
//! neither (tests/integration/linkage.rs).
//!
//! Exit codes: 0 success, 1 a problem was found (bad configuration line,
//! name not resolved), 2 usage error or the command
//! could not do its job.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod check;
mod dnsmasq;
mod dump;
mod files;
mod flush;
mod hosts_line;
mod query;
mod resolve;
mod stats;

#[derive(Parser)]
#[command(
    name = "rustcache",
    version,
    about = "Host DNS cache for glibc: the rustcache command"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the configuration the module uses and report every bad line.
    Check {
        /// resolv.conf to read instead of /etc/resolv.conf.
        #[arg(long, value_name = "PATH")]
        resolv_conf: Option<PathBuf>,
        /// rustcache.conf to read instead of /etc/rustcache.conf.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Put rustcache on the hosts line of nsswitch.conf (idempotent).
    Enable {
        #[arg(long, value_name = "PATH", default_value = "/etc/nsswitch.conf")]
        nsswitch: PathBuf,
    },
    /// Take rustcache off the hosts line.
    Disable {
        #[arg(long, value_name = "PATH", default_value = "/etc/nsswitch.conf")]
        nsswitch: PathBuf,
    },
    /// Show user N's shared cache: hit rate, counters, entries, servers.
    Stats {
        /// Whose cache file (default: yours).
        #[arg(long, value_name = "N")]
        uid: Option<u32>,
        /// As one JSON object.
        #[arg(long, conflicts_with = "prometheus")]
        json: bool,
        /// In Prometheus' text format, for node_exporter's textfile collector.
        #[arg(long)]
        prometheus: bool,
    },
    /// List every entry: name, type, state, remaining TTL, answer.
    Dump {
        #[arg(long, value_name = "N")]
        uid: Option<u32>,
        /// As a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Look NAME up the way the module does and say where the answer came from.
    Query {
        /// A host name, or an address (then the question is PTR).
        name: String,
        /// The question's type (default: A and AAAA for a name, PTR for an address).
        #[arg(long = "type", value_enum, ignore_case = true)]
        qtype: Option<TypeArg>,
        /// As one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Drop NAME's entries (every type), or invalidate the whole cache.
    Flush {
        /// The name whose entries go (as cached: the full name, any case).
        #[arg(conflicts_with = "all")]
        name: Option<String>,
        #[arg(long, value_name = "N", conflicts_with = "all")]
        uid: Option<u32>,
        /// Every user's cache (root).
        #[arg(long)]
        all: bool,
    },
    /// Look NAME up the way the module does (cache included), print the answer.
    Resolve {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Print the rustcache.conf equivalent to a dnsmasq configuration.
    ImportDnsmasq {
        /// dnsmasq.conf to translate.
        file: PathBuf,
    },
}

/// `--type` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TypeArg {
    A,
    Aaaa,
    Ptr,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check {
            resolv_conf,
            config,
        } => check::run(resolv_conf, config),
        Command::Enable { nsswitch } => hosts_line::edit(&nsswitch, true),
        Command::Disable { nsswitch } => hosts_line::edit(&nsswitch, false),
        Command::Stats {
            uid,
            json,
            prometheus,
        } => stats::run(uid, stats::Format::pick(json, prometheus)),
        Command::Dump { uid, json } => dump::run(uid, json),
        Command::Query { name, qtype, json } => query::run(&name, qtype, json),
        Command::Flush { name, uid, all } => flush::run(name.as_deref(), uid, all),
        Command::Resolve { names } => resolve::run(&names),
        Command::ImportDnsmasq { file } => dnsmasq::run(&file),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("rustcache: {message}");
            ExitCode::from(2)
        }
    }
}
