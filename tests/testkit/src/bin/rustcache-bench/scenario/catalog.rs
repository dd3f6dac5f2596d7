//! The list of scenarios: names, the systems each applies to, the paragraph under
//! each table, and the loop that runs one scenario for every system.

use std::time::Instant;

use super::{dead_first, hit, shared, steady};
use crate::error::BenchError;
use crate::options::Options;
use crate::system::System;
use crate::table::{Check, Row, Section};
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
    pub const ALL: [Scenario; 8] = [
        Scenario::DeadFirst,
        Scenario::Steady,
        Scenario::DeadFirstWarm,
        Scenario::SharedNames,
        Scenario::Stampede,
        Scenario::HitLatency,
        Scenario::DirectCall,
        Scenario::DeadFirstLearned,
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
            Scenario::HitLatency => &HIT,
            Scenario::DirectCall => &MODULES,
            _ => &RESOLVERS,
        }
    }

    /// The system of the ratio column: the floor where it ran, else the first system.
    fn reference(self, ran: &[System]) -> Option<System> {
        let floor_first = matches!(self, Scenario::HitLatency | Scenario::DirectCall);
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
        if systems.is_empty() {
            notes.push("No selected system applies to this scenario.".to_string());
        }
        let mut rows = Vec::new();
        for &system in &systems {
            eprint!("[{}] {}: ", self.name(), system.name());
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
