//! The list of scenarios: names, the systems each applies to, the paragraph under
//! each table, and the loop that runs one scenario for every system.

use std::time::Instant;

use super::{dead_first, facts, fresh, hit, loading, memory, miss, shared, steady};
use crate::error::BenchError;
use crate::options::Options;
use crate::system::System;
use crate::table::{Check, Row, Section, Value};
use crate::Context;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// A dead first nameserver, one lookup per fresh process.
    DeadFirst,
    /// A healthy server, many processes, every name distinct.
    Steady,
    /// A dead first nameserver, many names in one process.
    DeadFirstWarm,
    /// 8 processes x the same 50 names x 5 rounds: upstream queries.
    SharedNames,
    /// 64 processes released together on one cold name: upstream queries per type.
    Stampede,
    /// getaddrinfo of cached names in a loop, against the floor module.
    HitLatency,
    /// gethostbyname4_r called directly in a loop, against the floor module.
    DirectCall,
    /// A dead first nameserver already met by another process: fresh processes.
    DeadFirstLearned,
    /// The first lookup of fresh C processes, of a cached name and of new names.
    FreshProcess,
    /// Distinct new names in one running process: a miss without loading work.
    MissInProcess,
    /// dlopen of the module in a fresh C process, then its first and second call.
    Dlopen,
    /// Resident memory a lookup adds to a fresh C process.
    Memory,
    /// Size, needed libraries, glibc symbol versions and crates of the module file.
    ModuleFacts,
}

/// Caching daemons and the two plain systems: every scenario with a real upstream.
const RESOLVERS: [System; 5] = [
    System::GlibcDns,
    System::Rustcache,
    System::Nscd,
    System::Dnsmasq,
    System::Unbound,
];

impl Scenario {
    pub const ALL: [Scenario; 13] = [
        Scenario::DeadFirst,
        Scenario::Steady,
        Scenario::DeadFirstWarm,
        Scenario::SharedNames,
        Scenario::Stampede,
        Scenario::HitLatency,
        Scenario::DirectCall,
        Scenario::DeadFirstLearned,
        Scenario::FreshProcess,
        Scenario::MissInProcess,
        Scenario::Dlopen,
        Scenario::Memory,
        Scenario::ModuleFacts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::DeadFirst => "dead-first",
            Scenario::Steady => "steady",
            Scenario::DeadFirstWarm => "dead-first-warm",
            Scenario::SharedNames => "shared-names",
            Scenario::Stampede => "stampede",
            Scenario::HitLatency => "hit-latency",
            Scenario::DirectCall => "direct-call",
            Scenario::DeadFirstLearned => "dead-first-learned",
            Scenario::FreshProcess => "fresh-process",
            Scenario::MissInProcess => "miss-in-process",
            Scenario::Dlopen => "dlopen",
            Scenario::Memory => "memory",
            Scenario::ModuleFacts => "module-facts",
        }
    }

    pub fn parse(text: &str) -> Result<Scenario, BenchError> {
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| BenchError::Usage(format!("unknown scenario {text:?}")))
    }

    /// The systems the scenario applies to.
    pub fn systems(self) -> &'static [System] {
        const HIT: [System; 6] = [
            System::GlibcDns,
            System::Rustcache,
            System::Nscd,
            System::Dnsmasq,
            System::Unbound,
            System::Floor,
        ];
        const MODULES: [System; 2] = [System::Rustcache, System::Floor];
        match self {
            Scenario::HitLatency | Scenario::FreshProcess | Scenario::Memory => &HIT,
            Scenario::DirectCall | Scenario::Dlopen | Scenario::ModuleFacts => &MODULES,
            _ => &RESOLVERS,
        }
    }

    /// True for the scenarios whose fresh processes are the C probe.
    pub fn needs_c_probe(self) -> bool {
        matches!(
            self,
            Scenario::FreshProcess | Scenario::Dlopen | Scenario::Memory
        )
    }

    /// The system of the ratio column: the floor where it ran, else the first system.
    fn reference(self, ran: &[System]) -> Option<System> {
        let floor_first = matches!(
            self,
            Scenario::HitLatency | Scenario::DirectCall | Scenario::Dlopen | Scenario::ModuleFacts
        );
        if floor_first && ran.contains(&System::Floor) {
            Some(System::Floor)
        } else {
            ran.first().copied()
        }
    }

    /// The paragraph under the scenario's heading.
    fn describe(self, opts: &Options) -> String {
        match self {
            Scenario::DeadFirst => dead_first::describe_dead_first(opts),
            Scenario::Steady => steady::describe(opts),
            Scenario::DeadFirstWarm => dead_first::describe_warm(opts),
            Scenario::SharedNames => shared::describe_shared_names(),
            Scenario::Stampede => shared::describe_stampede(),
            Scenario::HitLatency => hit::describe_hit_latency(opts),
            Scenario::DirectCall => hit::describe_direct_call(opts),
            Scenario::DeadFirstLearned => dead_first::describe_learned(opts),
            Scenario::FreshProcess => fresh::describe(opts),
            Scenario::MissInProcess => miss::describe(),
            Scenario::Dlopen => loading::describe(opts),
            Scenario::Memory => memory::describe(),
            Scenario::ModuleFacts => facts::describe(),
        }
    }

    /// How many times every system is measured, the systems taking turns:
    /// the hot loops are short and their ratios to the floor are the point,
    /// so they are split into rounds that drift in the machine's speed
    /// (a VM's neighbours, frequency) reaches every system alike.
    fn rounds(self) -> u32 {
        match self {
            Scenario::HitLatency | Scenario::DirectCall => HOT_ROUNDS,
            Scenario::FreshProcess
            | Scenario::Dlopen
            | Scenario::Memory
            | Scenario::MissInProcess => LOADING_ROUNDS as u32,
            _ => 1,
        }
    }

    /// Measures one system (each scenario function makes its own sandboxes).
    fn measure(self, system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
        match self {
            Scenario::DeadFirst => dead_first::dead_first(system, ctx),
            Scenario::Steady => steady::steady(system, ctx),
            Scenario::DeadFirstWarm => dead_first::dead_first_warm(system, ctx),
            Scenario::SharedNames => shared::shared_names(system, ctx),
            Scenario::Stampede => shared::stampede(system, ctx),
            Scenario::HitLatency => hit::hit_latency(system, ctx),
            Scenario::DirectCall => hit::direct_call(system, ctx),
            Scenario::DeadFirstLearned => dead_first::dead_first_learned(system, ctx),
            Scenario::FreshProcess => fresh::fresh_process(system, ctx),
            Scenario::MissInProcess => miss::miss_in_process(system, ctx),
            Scenario::Dlopen => loading::dlopen(system, ctx),
            Scenario::Memory => memory::memory(system, ctx),
            Scenario::ModuleFacts => facts::module_facts(system, ctx),
        }
    }

    /// The promises checked under the table, from every system's rows.
    fn checks(self, rows: &[Row]) -> Vec<Check> {
        match self {
            Scenario::DeadFirst | Scenario::DeadFirstWarm => Vec::new(),
            Scenario::Steady => steady::checks(rows),
            Scenario::SharedNames => shared::checks_shared_names(rows),
            Scenario::Stampede => shared::checks_stampede(rows),
            Scenario::HitLatency => hit::checks_hit_latency(rows),
            Scenario::DirectCall => hit::checks_direct_call(rows),
            Scenario::DeadFirstLearned => dead_first::checks_learned(rows),
            Scenario::FreshProcess => fresh::checks(rows),
            Scenario::MissInProcess => miss::checks(rows),
            Scenario::Dlopen => loading::checks(rows),
            Scenario::Memory => memory::checks(rows),
            Scenario::ModuleFacts => facts::checks(rows),
        }
    }

    /// Runs the scenario for every system it applies to, one after the other.
    pub fn run(self, ctx: &Context<'_>) -> Result<Section, BenchError> {
        let systems = ctx.systems_for(self);
        let notes = ctx
            .tools
            .skipped()
            .into_iter()
            .filter(|(s, _)| self.systems().contains(s))
            .map(|(s, why)| format!("Skipped {}: {why}.", s.name()))
            .collect::<Vec<_>>();
        let mut notes = notes;
        if self.needs_c_probe() && ctx.cprobe.is_none() {
            notes.push("Skipped: the C probe needs `cc` (Debian: gcc, libc6-dev).".to_string());
        }
        if systems.is_empty() {
            notes.push("No selected system applies to this scenario.".to_string());
        }
        let mut rows = Vec::new();
        for round in 0..self.rounds() {
            for &system in &systems {
                eprint!("[{}] {}: ", self.name(), system.name());
                if self.rounds() > 1 {
                    eprint!("round {}/{}: ", round + 1, self.rounds());
                }
                let started = Instant::now();
                match self.measure(system, ctx) {
                    Ok(measured) => {
                        eprintln!(" done in {:.1} s", started.elapsed().as_secs_f64());
                        rows.extend(measured);
                    }
                    Err(e) => {
                        eprintln!(" FAILED");
                        return Err(e);
                    }
                }
            }
        }
        let rows = merge_rounds(rows);
        Ok(Section {
            scenario: self,
            description: self.describe(ctx.opts),
            checks: self.checks(&rows),
            rows,
            notes,
            reference: self.reference(&systems),
        })
    }
}

/// Rounds of the hot loops (hit-latency, direct-call): each measures
/// `--hot-ms / HOT_ROUNDS` per name and system.
pub const HOT_ROUNDS: u32 = 5;

/// Rounds of the loading scenarios (fresh-process, dlopen, memory,
/// miss-in-process): the same reason as the hot loops', with fewer, longer
/// rounds (each makes a sandbox and, for the daemons, starts one).
pub const LOADING_ROUNDS: usize = 3;

/// A loading scenario's processes (or lookups) per round, `total` in all.
pub fn per_round(total: usize) -> usize {
    total.div_ceil(LOADING_ROUNDS).max(1)
}

/// What the loading scenarios' descriptions say about their rounds.
pub fn rounds_note() -> String {
    format!(
        "Measured in {LOADING_ROUNDS} rounds in which the systems take turns (a fresh \
         sandbox each), the samples pooled, so that drift in the machine's speed meets \
         every system alike."
    )
}

/// Rows of several rounds as one row per metric and system: samples
/// concatenated, counts summed, in the order each row first appeared.
fn merge_rounds(rows: Vec<Row>) -> Vec<Row> {
    let mut merged: Vec<Row> = Vec::new();
    for row in rows {
        let Some(into) = merged
            .iter_mut()
            .find(|r| r.metric == row.metric && r.system == row.system)
        else {
            merged.push(row);
            continue;
        };
        match (&mut into.value, row.value) {
            (Value::Times(a), Value::Times(b)) | (Value::Bytes(a), Value::Bytes(b)) => a.extend(b),
            (Value::Fraction { count, of }, Value::Fraction { count: c, of: o }) => {
                *count += c;
                *of += o;
            }
            (Value::Count { count, n }, Value::Count { count: c, n: m }) => {
                *count += c;
                *n += m;
            }
            // Facts do not add up: the first round's stands.
            _ => {}
        }
    }
    merged
}
