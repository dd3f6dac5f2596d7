//! `fresh-process`: the first lookup of a fresh process, the situation of every
//! short-lived program (cron jobs, CLI tools, scripts), where everything the module
//! costs to load is paid inside that one `getaddrinfo`.
//!
//! Every sample is a new run of the C probe ([`crate::cprobe`], a program linking only
//! libc, like most programs that resolve). First a cached name (filled by one earlier
//! process), then for the systems with an upstream a new name per sample.

use std::iter;

use rustcache_testkit::dns::Behaviour;
use rustcache_testkit::ns::Sandbox;

use super::catalog::{per_round, rounds_note, LOADING_ROUNDS};
use super::hit::{DUAL_NAME, DUAL_V4, DUAL_V6};
use super::servers::{self, HEALTHY};
use crate::answer::{check_lookups, lookup_limit, progress, zone_of, Expected};
use crate::error::BenchError;
use crate::options::Options;
use crate::runner::Runner;
use crate::system::System;
use crate::table::{at_most, fmt_time, Bound, Check, Row};
use crate::Context;

pub const CACHED: &str = "getaddrinfo, fresh process, cached name";
const CACHED_WALL: &str = "process, cached name (spawn to exit)";
pub const CACHED_LIBCURL: &str = "getaddrinfo, fresh process linked with libcurl, cached name";
pub const CACHED_USER: &str = "getaddrinfo, fresh process of a user (uid 65534), name it cached";
pub const UNCACHED: &str = "getaddrinfo, fresh process, uncached name";
const UNCACHED_WALL: &str = "process, uncached name (spawn to exit)";
/// Issue 6's stretch goal: a cached first lookup within this much of the floor's.
const FLOOR_STRETCH_NS: f64 = 50_000.0;
/// The floor's hosts line for new names: the do-nothing module, then glibc's dns.
/// What a fresh process pays for a new name under a module that costs nothing of its
/// own and asks upstream as fast as glibc does: the least any NSS module that resolves
/// new names can cost, against glibc's dns, which is inside libc and loads nothing.
const FLOOR_THEN_DNS: &str = "floor dns";
/// The user of the user row: `nobody` on Debian and Amazon Linux alike.
const USER: (u32, u32) = (65534, 65534);

pub fn describe(opts: &Options) -> String {
    format!(
        "Issue 6: the first `getaddrinfo({DUAL_NAME}, AF_UNSPEC)` of a fresh process, the \
         module's dlopen and first-call work included (glibc loads an NSS module inside \
         the first lookup that needs it). Each sample is a new run of the C probe \
         (bench/cprobe/cprobe.c, linking only libc); `getaddrinfo` is timed inside it (ns \
         clock), `process` from spawn to exit. The libcurl row runs the same probe linked \
         against the installed curl's libcurl, so that, as in curl, libcurl and its \
         thirty-odd libraries are loaded before the module (its samples alternate with \
         the plain probe's); it is left out when curl is not installed. The user row runs \
         the plain probe as uid 65534 on a name only that user asks, as a command a user \
         runs in a loop: the user looked it up once first (rustcache: the answer is in the \
         user's own cache file, and root's file is not opened). `nameserver {HEALTHY}` \
         (for the daemons: their upstream). Cached: one process looked the name up first \
         (filling the shared cache or the daemon's), then {runs} fresh processes. \
         Uncached: {runs} more fresh processes, each looking up a name nobody asked before; \
         floor only answers fixed names, so its uncached rows run `hosts: {FLOOR_THEN_DNS}`: \
         the do-nothing module's load and call, then glibc's own exchange, the least any \
         module that resolves new names can cost (no target). Targets: \
         rustcache's cached median at most dnsmasq's (stretch: floor's + {}), its \
         uncached median at most glibc-dns's. {}",
        fmt_time(FLOOR_STRETCH_NS),
        rounds_note(),
        runs = per_round(opts.runs) * LOADING_ROUNDS
    )
}

pub fn fresh_process(system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
    let Some(cprobe) = ctx.cprobe else {
        return Ok(Vec::new());
    };
    let runs = per_round(ctx.opts.runs);
    Sandbox::run(|sb| {
        let cached = Expected::new(DUAL_NAME, DUAL_V4, Some(DUAL_V6));
        let new_names: Vec<Expected> = (0..runs)
            .map(|i| Expected::numbered(&format!("u{i}.fresh.example.com"), i))
            .collect();
        // A name only the user asks: in rustcache, its own file's (root's file is
        // not opened); to the daemons, any name; the floor's own.
        let users = Expected::numbered("user.fresh.example.com", runs);
        let zone = zone_of(
            iter::once(&cached)
                .chain(&new_names)
                .chain(iter::once(&users)),
        );
        // The floor answers only its fixed names.
        let users = if system == System::Floor {
            &cached
        } else {
            &users
        };
        let _server = servers::start(HEALTHY, zone, Behaviour::Answer, false)?;
        let mut prepared = system.prepare(sb, ctx, &[HEALTHY])?;
        let runner = Runner::with_program(sb, &cprobe.path());
        let with_libcurl = cprobe
            .libcurl()
            .ok()
            .map(|(program, _)| Runner::with_program(sb, program));
        let lookup_by = |runner: &Runner<'_>, e: &Expected| -> Result<_, BenchError> {
            let out = runner.probe(&["gai".to_string(), e.name.clone()], lookup_limit(1))?;
            let took = check_lookups(&out, std::slice::from_ref(e))?;
            Ok((took, out.elapsed))
        };
        let lookup = |e: &Expected| lookup_by(&runner, e);
        let as_user = Runner::with_program(sb, &cprobe.path()).with_user(USER.0, USER.1);
        lookup(&cached)?;
        lookup_by(&as_user, users)?;
        let (mut gai, mut wall, mut libcurl_gai) = (Vec::new(), Vec::new(), Vec::new());
        let mut user_gai = Vec::new();
        for i in 0..runs {
            let (took, elapsed) = lookup(&cached)?;
            gai.extend(took);
            wall.push(elapsed);
            if let Some(runner) = &with_libcurl {
                libcurl_gai.extend(lookup_by(runner, &cached)?.0);
            }
            user_gai.extend(lookup_by(&as_user, users)?.0);
            progress(i, runs);
        }
        if system == System::Floor {
            // The floor knows only its fixed names: behind it, glibc's dns asks.
            sb.write_nsswitch(FLOOR_THEN_DNS);
        }
        let (mut new_gai, mut new_wall) = (Vec::new(), Vec::new());
        for (i, name) in new_names.iter().enumerate() {
            let (took, elapsed) = lookup(name)?;
            new_gai.extend(took);
            new_wall.push(elapsed);
            progress(i, runs);
        }
        prepared.still_running()?;
        let mut rows = vec![
            Row::time(CACHED, system, &gai),
            Row::time(CACHED_WALL, system, &wall),
        ];
        if with_libcurl.is_some() {
            rows.push(Row::time(CACHED_LIBCURL, system, &libcurl_gai));
        }
        rows.push(Row::time(CACHED_USER, system, &user_gai));
        rows.push(Row::time(UNCACHED, system, &new_gai));
        rows.push(Row::time(UNCACHED_WALL, system, &new_wall));
        Ok(rows)
    })
}

pub fn checks(rows: &[Row]) -> Vec<Check> {
    let rc = System::Rustcache;
    let stretch = Bound {
        plus: FLOOR_STRETCH_NS,
        ..Bound::TIME
    };
    [
        at_most(rows, CACHED, rc, System::Dnsmasq, &Bound::TIME, "issue 6"),
        at_most(
            rows,
            CACHED_LIBCURL,
            rc,
            System::Dnsmasq,
            &Bound::TIME,
            "issue 6, in a libcurl process",
        ),
        at_most(
            rows,
            CACHED_USER,
            rc,
            System::Dnsmasq,
            &Bound::TIME,
            "issue 6, a user's process",
        ),
        at_most(
            rows,
            CACHED,
            rc,
            System::Floor,
            &stretch,
            "issue 6, stretch",
        ),
        at_most(
            rows,
            UNCACHED,
            rc,
            System::GlibcDns,
            &Bound::TIME,
            "issue 6",
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}
