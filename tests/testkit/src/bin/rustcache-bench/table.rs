//! Statistics, checks and the Markdown table of a scenario.

use std::fmt::Write as _;
use std::time::Duration;

use crate::scenario::Scenario;
use crate::system::System;

/// One line of a scenario's table.
pub struct Row {
    pub metric: String,
    pub system: System,
    pub value: Value,
}

pub enum Value {
    /// Times in nanoseconds, one per sample.
    Times(Vec<f64>),
    /// A count over a total (queries over questions).
    Fraction { count: usize, of: usize },
    /// A count, made over `n` lookups or processes.
    Count { count: usize, n: usize },
    /// Sizes in bytes, one per sample (file sizes, memory added to a process).
    Bytes(Vec<f64>),
    /// A fact that is not a number (a version, a list of libraries, yes or no).
    Fact(String),
}

impl Row {
    pub fn time(metric: &str, system: System, samples: &[Duration]) -> Row {
        Row::nanos(
            metric,
            system,
            samples.iter().map(|d| d.as_secs_f64() * 1e9).collect(),
        )
    }

    pub fn nanos(metric: &str, system: System, samples: Vec<f64>) -> Row {
        Row {
            metric: metric.to_string(),
            system,
            value: Value::Times(samples),
        }
    }

    pub fn queries(metric: &str, system: System, count: usize, of: usize) -> Row {
        Row {
            metric: metric.to_string(),
            system,
            value: Value::Fraction { count, of },
        }
    }

    pub fn count(metric: &str, system: System, count: usize, n: usize) -> Row {
        Row {
            metric: metric.to_string(),
            system,
            value: Value::Count { count, n },
        }
    }

    pub fn bytes(metric: &str, system: System, samples: Vec<f64>) -> Row {
        Row {
            metric: metric.to_string(),
            system,
            value: Value::Bytes(samples),
        }
    }

    pub fn fact(metric: &str, system: System, text: impl Into<String>) -> Row {
        Row {
            metric: metric.to_string(),
            system,
            value: Value::Fact(text.into()),
        }
    }

    /// The median, for times and sizes.
    pub fn median(&self) -> Option<f64> {
        match &self.value {
            Value::Times(samples) | Value::Bytes(samples) => Summary::of(samples).map(|s| s.median),
            _ => None,
        }
    }

    /// The samples, for times (nanoseconds) and sizes (bytes).
    pub fn samples(&self) -> Option<&[f64]> {
        match &self.value {
            Value::Times(samples) | Value::Bytes(samples) => Some(samples),
            _ => None,
        }
    }

    /// The count, for counts and fractions.
    pub fn counted(&self) -> Option<usize> {
        match self.value {
            Value::Fraction { count, .. } | Value::Count { count, .. } => Some(count),
            Value::Times(_) | Value::Bytes(_) | Value::Fact(_) => None,
        }
    }

    /// count / of, for fractions.
    pub fn ratio(&self) -> Option<f64> {
        match self.value {
            Value::Fraction { count, of } => Some(count as f64 / of.max(1) as f64),
            _ => None,
        }
    }
}

/// The row of `metric` for `system`.
pub fn find<'a>(rows: &'a [Row], metric: &str, system: System) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.metric == metric && r.system == system)
}

/// The median of `metric` for `system`, if it has one.
pub fn median_of(rows: &[Row], metric: &str, system: System) -> Option<f64> {
    find(rows, metric, system).and_then(Row::median)
}

/// How a target compares one system's median with another's.
pub struct Bound {
    /// The median may be this many times the other's...
    pub factor: f64,
    /// ...plus this much (nanoseconds or bytes, as the metric's values).
    pub plus: f64,
    /// Formats a value of the metric.
    pub fmt: fn(f64) -> String,
}

impl Bound {
    /// At most the other system's median (times).
    pub const TIME: Bound = Bound {
        factor: 1.0,
        plus: 0.0,
        fmt: fmt_time,
    };
}

/// The target "`system`'s median of `metric` <= bound applied to `other`'s median",
/// or `None` when either did not run.
/// The text adds the margin's bootstrap interval (`bootstrap`) where both rows have
/// samples, and says when the interval holds zero: a verdict the run cannot tell
/// from noise.
pub fn at_most(
    rows: &[Row],
    metric: &str,
    system: System,
    other: System,
    bound: &Bound,
    issue: &str,
) -> Option<Check> {
    let (mine, theirs) = (
        median_of(rows, metric, system)?,
        median_of(rows, metric, other)?,
    );
    let fmt = bound.fmt;
    let mut limit = format!("{}'s {}", other.name(), fmt(theirs));
    if bound.factor != 1.0 {
        limit = format!("{:.2}x {limit}", bound.factor);
    }
    if bound.plus != 0.0 {
        limit = format!("{limit} + {}", fmt(bound.plus));
    }
    let bound_value = theirs * bound.factor + bound.plus;
    let passed = mine <= bound_value;
    let mut text = format!(
        "{}: {metric}, median {}, at most {limit} ({issue})",
        system.name(),
        fmt(mine)
    );
    let samples = |s| find(rows, metric, s).and_then(Row::samples);
    if let Some((lo, hi)) = samples(system)
        .zip(samples(other))
        .and_then(|(a, b)| crate::bootstrap::margin_interval(a, b, bound.factor, bound.plus))
    {
        let signed = |v: f64| format!("{}{}", if v < 0.0 { "-" } else { "+" }, fmt(v.abs()));
        text.push_str(&format!(
            "; margin {}, 95% bootstrap interval {} to {}",
            signed(mine - bound_value),
            signed(lo),
            signed(hi)
        ));
        if lo <= 0.0 && hi >= 0.0 {
            text.push_str(if passed {
                ": met, but within this run's noise"
            } else {
                ": missed, but within this run's noise"
            });
        }
    }
    Some(Check::target(text, passed))
}

/// Order statistics of a set of times, in nanoseconds.
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            n: sorted.len(),
            median: quantile(&sorted, 0.5)?,
            p10: quantile(&sorted, 0.1)?,
            p90: quantile(&sorted, 0.9)?,
            min: *sorted.first()?,
            max: *sorted.last()?,
        })
    }

    pub fn of_durations(samples: &[Duration]) -> Option<Summary> {
        let ns: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e9).collect();
        Summary::of(&ns)
    }
}

/// The `q` quantile of sorted values, interpolating linearly between the two nearest
/// order statistics (numpy's default, R's type 7).
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = q * last as f64;
    let lo = h.floor() as usize;
    let a = *sorted.get(lo)?;
    let b = *sorted.get(lo + 1).unwrap_or(&a);
    Some(a + (h - lo as f64) * (b - a))
}

/// A time in the unit that suits it (ns, µs, ms, s), three significant digits or so.
pub fn fmt_time(ns: f64) -> String {
    let (value, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// A size in bytes: whole bytes below 1 KiB, else KiB or MiB, three significant
/// digits or so (signed, for sizes added).
pub fn fmt_bytes(bytes: f64) -> String {
    let (sign, b) = if bytes < 0.0 {
        ("-", -bytes)
    } else {
        ("", bytes)
    };
    let (value, unit) = if b >= 10.0 * 1024.0 * 1024.0 {
        (b / (1024.0 * 1024.0), "MiB")
    } else if b >= 1024.0 {
        (b / 1024.0, "KiB")
    } else {
        return format!("{sign}{b:.0} B");
    };
    if value >= 100.0 {
        format!("{sign}{value:.0} {unit}")
    } else {
        format!("{sign}{value:.1} {unit}")
    }
}

fn fmt_ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

/// A promise checked under a table, with whether it held.
pub struct Check {
    pub text: String,
    pub passed: bool,
    pub kind: CheckKind,
}

/// What a check that did not hold means for the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// Behaviour that does not depend on the machine's speed (query counts, what the
    /// harness itself counts): not holding fails the run (`check FAILED`, exit 1).
    Property,
    /// A performance or size target: timings on a shared machine are noisy, and a
    /// missed target is a finding to read, not a broken build (`check missed`, exit
    /// status unchanged).
    Target,
}

impl Check {
    pub fn property(text: String, passed: bool) -> Check {
        Check {
            text,
            passed,
            kind: CheckKind::Property,
        }
    }

    pub fn target(text: String, met: bool) -> Check {
        Check {
            text,
            passed: met,
            kind: CheckKind::Target,
        }
    }

    /// True unless it is a property that did not hold.
    pub fn acceptable(&self) -> bool {
        self.passed || self.kind == CheckKind::Target
    }

    fn verdict(&self) -> &'static str {
        match (self.passed, self.kind) {
            (true, _) => "ok",
            (false, CheckKind::Property) => "FAILED",
            (false, CheckKind::Target) => "missed",
        }
    }
}

/// Facts longer than this go under the table, one line each, so that one long list
/// does not widen every row.
const LONG_FACT: usize = 60;

/// One scenario's results for every system.
pub struct Section {
    pub scenario: Scenario,
    pub description: String,
    pub rows: Vec<Row>,
    pub checks: Vec<Check>,
    /// Lines printed under the description (systems skipped, how to read the table).
    pub notes: Vec<String>,
    /// The system the ratio column compares with.
    pub reference: Option<System>,
}

impl Section {
    /// The section as Markdown: heading, description, notes, table (rows grouped by
    /// metric; the reference system first, then the others in `order`), checks.
    pub fn render(&self, order: &[System]) -> String {
        let mut metrics: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !metrics.contains(&row.metric.as_str()) {
                metrics.push(&row.metric);
            }
        }
        let systems: Vec<System> = self
            .reference
            .into_iter()
            .chain(order.iter().copied().filter(|s| Some(*s) != self.reference))
            .collect();
        let versus = format!("vs {}", self.reference.map_or("ref", System::name));
        let header = [
            "metric", "system", "n", "median", "p10", "p90", "min", "max", &versus,
        ];
        let mut table: Vec<[String; 9]> = Vec::new();
        let mut long_facts = Vec::new();
        for metric in metrics {
            let of_metric: Vec<&Row> = systems
                .iter()
                .filter_map(|s| find(&self.rows, metric, *s))
                .collect();
            let reference = self.reference.and_then(|s| find(&self.rows, metric, s));
            for row in &of_metric {
                match &row.value {
                    Value::Fact(text) if text.chars().count() > LONG_FACT => {
                        long_facts.push(format!("{} ({}): {text}", row.metric, row.system.name()));
                    }
                    _ => table.extend(cells(row, reference, of_metric.len() > 1)),
                }
            }
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n## {}\n\n{}\n",
            self.scenario.name(),
            self.description
        );
        for note in &self.notes {
            let _ = writeln!(out, "{note}\n");
        }
        out.push_str(&markdown_table(&header, &table));
        for fact in &long_facts {
            let _ = writeln!(out, "\n{fact}");
        }
        for check in &self.checks {
            let _ = writeln!(out, "\ncheck {}: {}", check.verdict(), check.text);
        }
        out
    }
}

/// The cells of one row; `None` for a row without samples.
fn cells(row: &Row, reference: Option<&Row>, compared: bool) -> Option<[String; 9]> {
    let dash = || "–".to_string();
    let is_ref = reference.is_some_and(|r| std::ptr::eq(r, row));
    let versus = |text: Option<String>| {
        if !compared {
            dash()
        } else if is_ref {
            "ref".to_string()
        } else {
            text.unwrap_or_else(dash)
        }
    };
    match &row.value {
        Value::Times(samples) => {
            let s = Summary::of(samples)?;
            let ref_median = reference.and_then(Row::median);
            let ratio = ref_median.filter(|_| s.median > 0.0).map(|r| {
                let speedup = r / s.median;
                if speedup >= 1.0 {
                    format!("{}x faster", fmt_ratio(speedup))
                } else {
                    format!("{}x slower", fmt_ratio(1.0 / speedup))
                }
            });
            Some([
                row.metric.clone(),
                row.system.name().to_string(),
                s.n.to_string(),
                fmt_time(s.median),
                fmt_time(s.p10),
                fmt_time(s.p90),
                fmt_time(s.min),
                fmt_time(s.max),
                versus(ratio),
            ])
        }
        Value::Fraction { count, of } => {
            let value = *count as f64 / (*of).max(1) as f64;
            let ratio = reference
                .and_then(Row::ratio)
                .filter(|r| *r > 0.0)
                .map(|r| format!("x{}", fmt_ratio(value / r)));
            Some([
                row.metric.clone(),
                row.system.name().to_string(),
                of.to_string(),
                format!("{value:.3} ({count}/{of})"),
                dash(),
                dash(),
                dash(),
                dash(),
                versus(ratio),
            ])
        }
        Value::Bytes(samples) => {
            let s = Summary::of(samples)?;
            let ref_median = reference.and_then(Row::median);
            let diff = ref_median.map(|r| {
                let d = s.median - r;
                if d >= 0.0 {
                    format!("+{}", fmt_bytes(d))
                } else {
                    fmt_bytes(d)
                }
            });
            Some([
                row.metric.clone(),
                row.system.name().to_string(),
                s.n.to_string(),
                fmt_bytes(s.median),
                fmt_bytes(s.p10),
                fmt_bytes(s.p90),
                fmt_bytes(s.min),
                fmt_bytes(s.max),
                versus(diff),
            ])
        }
        Value::Fact(text) => Some([
            row.metric.clone(),
            row.system.name().to_string(),
            dash(),
            text.clone(),
            dash(),
            dash(),
            dash(),
            dash(),
            dash(),
        ]),
        Value::Count { count, n } => {
            let ratio = reference
                .and_then(Row::counted)
                .filter(|r| *r > 0)
                .map(|r| format!("x{}", fmt_ratio(*count as f64 / r as f64)));
            Some([
                row.metric.clone(),
                row.system.name().to_string(),
                n.to_string(),
                count.to_string(),
                dash(),
                dash(),
                dash(),
                dash(),
                versus(ratio),
            ])
        }
    }
}

/// A Markdown table with padded columns (readable as plain text too); the first two
/// columns are left-aligned, the others right-aligned.
fn markdown_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count().max(3));
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let mut s = String::from("|");
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i < 2 {
                let _ = write!(s, " {cell:<w$} |");
            } else {
                let _ = write!(s, " {cell:>w$} |");
            }
        }
        s.push('\n');
        s
    };
    let rules: [String; N] = std::array::from_fn(|i| {
        let w = widths.get(i).copied().unwrap_or(3);
        if i < 2 {
            "-".repeat(w)
        } else {
            format!("{}:", "-".repeat(w - 1))
        }
    });
    let mut out = line(*header);
    out.push_str(&line(rules.each_ref().map(String::as_str)));
    for row in rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&v, 0.1), Some(1.3));
        assert_eq!(quantile(&[7.0], 0.9), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn times_get_a_unit_that_fits() {
        assert_eq!(fmt_time(7.25), "7.25 ns");
        assert_eq!(fmt_time(183.4), "183 ns");
        assert_eq!(fmt_time(2_440.0), "2.44 µs");
        assert_eq!(fmt_time(40_812_000.0), "40.8 ms");
        assert_eq!(fmt_time(5_004_000_000.0), "5.00 s");
    }

    #[test]
    fn sizes_get_a_unit_that_fits() {
        assert_eq!(fmt_bytes(512.0), "512 B");
        assert_eq!(fmt_bytes(4096.0), "4.0 KiB");
        assert_eq!(fmt_bytes(135_168.0), "132 KiB");
        assert_eq!(fmt_bytes(-20_480.0), "-20.0 KiB");
        assert_eq!(fmt_bytes(9_007_192.0), "8796 KiB");
        assert_eq!(fmt_bytes(12_000_000.0), "11.4 MiB");
    }
}
