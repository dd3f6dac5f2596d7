//! `scripted-dns`: one [`ScriptedServer`] from the command line, for benchmarks and
//! demos. Run it inside a private network namespace (`unshare -n`, or a sandbox's
//! `command`), never on a shared network.
//!
//! ```text
//! scripted-dns --listen 127.0.0.3 [--port 53] [--behaviour answer|blackhole|servfail|refused|
//!              truncate|delay:MS|wrongid|wrongquestion|wrongidonly|wrongquestiononly]
//!              [--ttl 300] [--soa example.com[=MINTTL]] [--a name=1.2.3.4] [--aaaa name=::1]
//!              [--cname alias=target] [--ptr 4.3.2.1.in-addr.arpa=name]
//!              [--name-behaviour name=BEHAVIOUR] [--count-file PATH]
//! ```
//!
//! Record options repeat; `--ttl` applies to the records after it. On SIGTERM or
//! SIGINT it prints the number of queries received on stdout and exits 0. With
//! `--count-file` it also writes that number to the file (atomically, by rename) at
//! start and every 200 ms.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use rustcache_testkit::dns::{Behaviour, ScriptedServer, Zone};

const USAGE: &str = "usage: scripted-dns --listen ADDR [--port N] [--behaviour B] [--ttl N] \
[--soa APEX[=MINTTL]] [--a NAME=IPV4] [--aaaa NAME=IPV6] [--cname NAME=TARGET] \
[--ptr NAME=TARGET] [--name-behaviour NAME=B] [--count-file PATH]";

struct Config {
    listen: IpAddr,
    port: u16,
    behaviour: Behaviour,
    zone: Zone,
    per_name: Vec<(String, Behaviour)>,
    count_file: Option<String>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("scripted-dns: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Block the stop signals before any thread exists, so every server thread inherits
    // the mask and only the sigtimedwait below receives them.
    let signals = stop_signals();
    // SAFETY: `signals` is an initialised sigset_t; a NULL old-set pointer is allowed.
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &signals, std::ptr::null_mut()) } != 0 {
        eprintln!("scripted-dns: cannot block signals");
        return ExitCode::FAILURE;
    }
    let bind = SocketAddr::new(config.listen, config.port);
    let server = match ScriptedServer::start_on(bind, config.zone, config.behaviour) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scripted-dns: cannot listen on {bind}: {e}");
            return ExitCode::FAILURE;
        }
    };
    server.set_logging(false);
    for (name, b) in &config.per_name {
        server.set_name_behaviour(name, *b);
    }
    eprintln!(
        "scripted-dns: listening on {} (udp+tcp), behaviour {}",
        server.addr(),
        config.behaviour
    );
    loop {
        if let Some(path) = &config.count_file {
            write_count(path, server.count());
        }
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: 200_000_000,
        };
        // SAFETY: `signals` is initialised; a NULL siginfo pointer is allowed; the
        // timespec is a valid local.
        let sig = unsafe { libc::sigtimedwait(&signals, std::ptr::null_mut(), &timeout) };
        if sig == libc::SIGTERM || sig == libc::SIGINT {
            break;
        }
    }
    let count = server.count();
    if let Some(path) = &config.count_file {
        write_count(path, count);
    }
    println!("{count}");
    drop(server);
    ExitCode::SUCCESS
}

fn stop_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before sigaddset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

fn write_count(path: &str, count: usize) {
    let tmp = format!("{path}.tmp");
    if std::fs::write(&tmp, format!("{count}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

fn parse(args: &[String]) -> Result<Config, String> {
    let mut listen = None;
    let mut port = 53u16;
    let mut behaviour = Behaviour::Answer;
    let mut ttl = 300u32;
    let mut zone = Zone::new();
    let mut per_name = Vec::new();
    let mut count_file = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                listen = Some(v.parse().map_err(|_| format!("bad address {v:?}"))?);
            }
            "--port" => {
                let v = value()?;
                port = v.parse().map_err(|_| format!("bad port {v:?}"))?;
            }
            "--behaviour" | "--behavior" => {
                behaviour = value()?.parse().map_err(|e| format!("{e}"))?;
            }
            "--ttl" => {
                let v = value()?;
                ttl = v.parse().map_err(|_| format!("bad ttl {v:?}"))?;
            }
            "--soa" => {
                let v = value()?;
                let (apex, min) = match v.split_once('=') {
                    Some((a, m)) => (
                        a.to_string(),
                        m.parse().map_err(|_| format!("bad ttl {m:?}"))?,
                    ),
                    None => (v.clone(), ttl),
                };
                zone = zone.soa(&apex, min);
            }
            "--a" | "--aaaa" | "--cname" | "--ptr" => {
                let v = value()?;
                let (name, data) = v
                    .split_once('=')
                    .ok_or_else(|| format!("{flag} wants NAME=VALUE, got {v:?}"))?;
                zone = match flag.as_str() {
                    "--a" => zone.a(
                        name,
                        ttl,
                        data.parse().map_err(|_| format!("bad IPv4 {data:?}"))?,
                    ),
                    "--aaaa" => zone.aaaa(
                        name,
                        ttl,
                        data.parse().map_err(|_| format!("bad IPv6 {data:?}"))?,
                    ),
                    "--cname" => zone.cname(name, ttl, data),
                    _ => zone.ptr(name, ttl, data),
                };
            }
            "--name-behaviour" | "--name-behavior" => {
                let v = value()?;
                let (name, b) = v
                    .split_once('=')
                    .ok_or_else(|| format!("{flag} wants NAME=BEHAVIOUR, got {v:?}"))?;
                per_name.push((name.to_string(), b.parse().map_err(|e| format!("{e}"))?));
            }
            "--count-file" => count_file = Some(value()?),
            "-h" | "--help" => return Err("help".to_string()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Config {
        listen: listen.ok_or("--listen is required")?,
        port,
        behaviour,
        zone,
        per_name,
        count_file,
    })
}
