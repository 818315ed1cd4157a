//! The picture: nodes over time per policy, users over time beneath, as
//! SVG. Written by hand: two panels of polylines need no plotting crate.

use std::fmt::Write as _;

use super::report::RunStats;

const WIDTH: f64 = 960.0;
const PANEL: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const GAP: f64 = 44.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round step for an axis reaching `max`, about five ticks.
fn step(max: f64) -> f64 {
    let raw = (max / 5.0).max(1e-9);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

struct Axes {
    top: f64,
    hours: f64,
    max: f64,
}

impl Axes {
    fn x(&self, h: f64) -> f64 {
        LEFT + (WIDTH - LEFT - RIGHT) * (h / self.hours.max(1e-9))
    }
    fn y(&self, v: f64) -> f64 {
        self.top + PANEL - PANEL * (v / self.max.max(1e-9))
    }
    fn draw(&self, out: &mut String, title: &str) {
        let _ = writeln!(
            out,
            r##"<text x="{LEFT}" y="{:.1}" font-size="13" font-weight="bold">{}</text>"##,
            self.top - 8.0,
            escape(title)
        );
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{:.1}" width="{:.1}" height="{PANEL}" fill="none" stroke="#999"/>"##,
            self.top,
            WIDTH - LEFT - RIGHT
        );
        let s = step(self.max);
        let mut v = 0.0;
        while v <= self.max + 1e-9 {
            let y = self.y(v);
            let _ = writeln!(
                out,
                r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{v}</text>"##,
                WIDTH - RIGHT,
                LEFT - 4.0,
                y + 4.0
            );
            v += s;
        }
        let hs = step(self.hours);
        let mut h = 0.0;
        while h <= self.hours + 1e-9 {
            let x = self.x(h);
            let label = if self.hours > 72.0 {
                format!("{:.0}d", h / 24.0)
            } else {
                format!("{h:.0}h")
            };
            let _ = writeln!(
                out,
                r##"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{label}</text>"##,
                self.top + PANEL + 14.0
            );
            h += if self.hours > 72.0 {
                (hs / 24.0).ceil().max(1.0) * 24.0
            } else {
                hs
            };
        }
    }
}

fn polyline(out: &mut String, axes: &Axes, points: impl Iterator<Item = (f64, f64)>, colour: &str) {
    let mut d = String::new();
    for (h, v) in points {
        let _ = write!(d, "{:.1},{:.1} ", axes.x(h), axes.y(v));
    }
    let _ = writeln!(
        out,
        r##"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"##,
        d.trim_end()
    );
}

/// Nodes over time for each run (one per policy, usually each policy's
/// first seed), and users running and waiting beneath (from the first run).
#[must_use]
pub fn svg(runs: &[&RunStats]) -> String {
    let hours = runs.iter().map(|r| r.horizon_hours).fold(0.0_f64, f64::max);
    let total = |s: &super::report::Sample| f64::from(s.nodes.iter().sum::<u32>());
    let max_nodes = runs
        .iter()
        .flat_map(|r| r.timeline.iter().map(total))
        .fold(1.0_f64, f64::max);
    let max_users = runs
        .first()
        .map(|r| {
            r.timeline
                .iter()
                .map(|s| f64::from(s.users + s.pending))
                .fold(1.0_f64, f64::max)
        })
        .unwrap_or(1.0);
    let height = TOP + 2.0 * PANEL + GAP + 60.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif">"##
    );
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let nodes = Axes {
        top: TOP,
        hours,
        max: max_nodes,
    };
    nodes.draw(&mut out, "Nodes (all pools) per policy");
    for (i, r) in runs.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        polyline(
            &mut out,
            &nodes,
            r.timeline.iter().map(|s| (s.hours, total(s))),
            colour,
        );
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" fill="{colour}">{}</text>"##,
            LEFT + 8.0,
            TOP + 16.0 + 15.0 * i as f64,
            escape(&r.policy)
        );
    }
    let users = Axes {
        top: TOP + PANEL + GAP,
        hours,
        max: max_users,
    };
    users.draw(&mut out, "Users running (black) and waiting (grey)");
    if let Some(r) = runs.first() {
        polyline(
            &mut out,
            &users,
            r.timeline.iter().map(|s| (s.hours, f64::from(s.users))),
            "#000",
        );
        polyline(
            &mut out,
            &users,
            r.timeline.iter().map(|s| (s.hours, f64::from(s.pending))),
            "#aaa",
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_steps_are_round() {
        // 37 / 5 = 7.4 → the next of 1, 2, 5, 10 × 10^0 at least 7.4 is 10.
        assert_eq!(step(37.0), 10.0);
        // 4 / 5 = 0.8 → 1 × 10^-1 · {1,2,5,10}: 1.0.
        assert_eq!(step(4.0), 1.0);
        assert_eq!(step(600.0), 200.0);
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(escape("a<b>&\""), "a&lt;b&gt;&amp;&quot;");
    }
}
