//! The SVG chart written next to the Markdown report: the latency distributions of
//! the fresh-process lookups and of the hot hits, one panel per metric, one lane per
//! system, on a logarithmic time axis (the systems differ by orders of magnitude).
//!
//! Hand-written SVG, no crate: a few rectangles, lines, circles and labels. Each lane
//! shows the samples as dots (at most [`MAX_DOTS`], evenly picked, spread vertically
//! so they do not hide each other), a box from p25 to p75, whiskers from p10 to p90
//! and a bar at the median.

use std::fmt::Write as _;

use crate::scenario::Scenario;
use crate::system::System;
use crate::table::{fmt_time, quantile, Section, Value};

/// The scenarios charted, and which of their time rows (the lookups themselves, not
/// the process rows).
const CHARTED: [Scenario; 2] = [Scenario::FreshProcess, Scenario::HitLatency];
const MAX_DOTS: usize = 200;
const WIDTH: f64 = 960.0;
const LEFT: f64 = 100.0;
const RIGHT: f64 = 30.0;
const LANE: f64 = 26.0;
const TITLE: f64 = 28.0;
const AXIS: f64 = 34.0;

/// One panel: a metric, and each system's samples in nanoseconds.
struct Panel {
    title: String,
    lanes: Vec<(System, Vec<f64>)>,
}

/// The chart, or `None` when no charted scenario ran.
pub fn render(sections: &[Section], order: &[System]) -> Option<String> {
    let panels = panels(sections, order);
    if panels.is_empty() {
        return None;
    }
    let height: f64 = panels.iter().map(panel_height).sum::<f64>() + 40.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"DejaVu Sans, Arial, sans-serif\" \
         font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"20\" font-size=\"13\" fill=\"#555\">rustcache-bench: each \
         dot one sample; box p25 to p75, whiskers p10 to p90, bar the median; log \
         scale</text>"
    );
    let mut top = 40.0;
    for panel in &panels {
        draw_panel(&mut svg, panel, top);
        top += panel_height(panel);
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

fn panels(sections: &[Section], order: &[System]) -> Vec<Panel> {
    let mut panels = Vec::new();
    for section in sections.iter().filter(|s| CHARTED.contains(&s.scenario)) {
        let mut metrics: Vec<&str> = Vec::new();
        for row in &section.rows {
            let lookup = row.metric.starts_with("getaddrinfo");
            if lookup && matches!(row.value, Value::Times(_)) && !metrics.contains(&&*row.metric) {
                metrics.push(&row.metric);
            }
        }
        for metric in metrics {
            let lanes: Vec<(System, Vec<f64>)> = order
                .iter()
                .filter_map(|&system| {
                    let row = section
                        .rows
                        .iter()
                        .find(|r| r.metric == metric && r.system == system)?;
                    let samples: Vec<f64> = row
                        .samples()?
                        .iter()
                        .copied()
                        .filter(|v| *v > 0.0)
                        .collect();
                    (!samples.is_empty()).then_some((system, samples))
                })
                .collect();
            if !lanes.is_empty() {
                panels.push(Panel {
                    title: format!("{}: {metric}", section.scenario.name()),
                    lanes,
                });
            }
        }
    }
    panels
}

fn panel_height(panel: &Panel) -> f64 {
    TITLE + LANE * panel.lanes.len() as f64 + AXIS + 16.0
}

/// A colour per system, the same in every panel (rustcache stands out).
fn colour(system: System) -> &'static str {
    match system {
        System::Rustcache => "#d62728",
        System::GlibcDns => "#7f7f7f",
        System::Nscd => "#9467bd",
        System::Dnsmasq => "#1f77b4",
        System::Unbound => "#2ca02c",
        System::Floor => "#ff7f0e",
    }
}

fn draw_panel(svg: &mut String, panel: &Panel, top: f64) {
    let all = panel.lanes.iter().flat_map(|(_, s)| s.iter().copied());
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo_dec, hi_dec) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let x = |v: f64| LEFT + (v.log10() - lo_dec) / (hi_dec - lo_dec) * plot_w;
    let lanes_top = top + TITLE;
    let bottom = lanes_top + LANE * panel.lanes.len() as f64;
    let _ = writeln!(
        svg,
        "<text x=\"{LEFT}\" y=\"{:.1}\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        top + 18.0,
        escape(&panel.title)
    );
    // Decade grid lines and labels, minor lines at 2 and 5.
    let mut decade = lo_dec;
    while decade <= hi_dec {
        let v = 10f64.powf(decade);
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" y1=\"{lanes_top:.1}\" x2=\"{0:.1}\" y2=\"{bottom:.1}\" \
             stroke=\"#ccc\"/>\n<text x=\"{0:.1}\" y=\"{1:.1}\" text-anchor=\"middle\" \
             fill=\"#333\">{2}</text>",
            x(v),
            bottom + 16.0,
            fmt_time(v)
        );
        // Minor labels only where a decade is wide enough for them.
        let minor_labels = hi_dec - lo_dec <= 3.0;
        for minor in [2.0, 5.0] {
            if decade < hi_dec {
                let _ = writeln!(
                    svg,
                    "<line x1=\"{0:.1}\" y1=\"{lanes_top:.1}\" x2=\"{0:.1}\" y2=\"{bottom:.1}\" \
                     stroke=\"#eee\"/>\n<text x=\"{0:.1}\" y=\"{1:.1}\" text-anchor=\"middle\" \
                     fill=\"#999\" font-size=\"10\">{2}</text>",
                    x(v * minor),
                    bottom + 14.0,
                    if minor_labels {
                        fmt_time(v * minor)
                    } else {
                        String::new()
                    }
                );
            }
        }
        decade += 1.0;
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\" \
         stroke=\"#333\"/>",
        WIDTH - RIGHT
    );
    for (i, (system, samples)) in panel.lanes.iter().enumerate() {
        let mid = lanes_top + LANE * (i as f64 + 0.5);
        draw_lane(svg, *system, samples, mid, &x);
    }
}

fn draw_lane(svg: &mut String, system: System, samples: &[f64], mid: f64, x: &dyn Fn(f64) -> f64) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| quantile(&sorted, p).unwrap_or(0.0);
    let c = colour(system);
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{c}\">{}</text>",
        LEFT - 8.0,
        mid + 4.0,
        system.name()
    );
    let step = (sorted.len() as f64 / MAX_DOTS as f64).max(1.0);
    let mut k = 0.0;
    let mut n = 0usize;
    while (k as usize) < samples.len() {
        // Dots in sample order (not sorted), spread over the lane's height by a
        // fixed pattern, so the same run always draws the same picture.
        let v = samples[k as usize];
        let jitter = ((n * 7919) % 17) as f64 / 16.0 - 0.5;
        let _ = writeln!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.6\" fill=\"{c}\" fill-opacity=\"0.35\"/>",
            x(v),
            mid + jitter * (LANE - 10.0)
        );
        k += step;
        n += 1;
    }
    let (p10, p25, p50, p75, p90) = (q(0.1), q(0.25), q(0.5), q(0.75), q(0.9));
    let half = LANE / 2.0 - 5.0;
    let (top, bottom) = (mid - half, mid + half);
    let _ = writeln!(
        svg,
        "<line x1=\"{:.1}\" y1=\"{mid:.1}\" x2=\"{:.1}\" y2=\"{mid:.1}\" stroke=\"{c}\" \
         stroke-width=\"1.5\"/>",
        x(p10),
        x(p90)
    );
    let _ = writeln!(
        svg,
        "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
         fill=\"{c}\" fill-opacity=\"0.12\" stroke=\"{c}\" stroke-width=\"1.5\"/>",
        x(p25),
        (x(p75) - x(p25)).max(1.0),
        bottom - top
    );
    let _ = writeln!(
        svg,
        "<line x1=\"{0:.1}\" y1=\"{top:.1}\" x2=\"{0:.1}\" y2=\"{bottom:.1}\" \
         stroke=\"black\" stroke-width=\"2.5\"/>",
        x(p50)
    );
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#333\" font-size=\"11\">{}</text>",
        x(p90.max(p75)) + 6.0,
        mid + 4.0,
        fmt_time(p50)
    );
}

/// Text safe inside SVG elements.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
