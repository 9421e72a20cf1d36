//! The report's picture, as a self-contained SVG written by hand (no plotting crate): latency
//! per second of intended start (p50, p99, max on a log scale) above answers per second (ok,
//! failed, and the target rate). Pure: a [`Report`] in, text out.

use std::fmt::Write as _;

use crate::report::Report;

const WIDTH: f64 = 820.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const PANEL: f64 = 200.0;
const LATENCY_TOP: f64 = 50.0;
const THROUGHPUT_TOP: f64 = 310.0;
const HEIGHT: f64 = 560.0;

/// One line of a panel: its name, colour and points `(second, value)`.
struct Series<'a> {
    name: &'a str,
    colour: &'a str,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// The SVG of `report`.
#[must_use]
pub fn render(report: &Report) -> String {
    #[allow(
        clippy::cast_precision_loss,
        reason = "seconds of a run stay far below 2^52"
    )]
    let span = report.seconds.len().max(1) as f64;
    let latency = latency_series(report);
    let throughput = throughput_series(report, span);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="24" font-size="15">{}</text>"#,
        escape(&format!(
            "{} req/s for {} s against {}",
            report.rate, report.duration_s, report.target
        ))
    );
    panel(
        &mut svg,
        LATENCY_TOP,
        "latency ms (log), by second due",
        span,
        &latency,
        Scale::Log,
    );
    panel(
        &mut svg,
        THROUGHPUT_TOP,
        "answers per second",
        span,
        &throughput,
        Scale::Linear,
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds since the first intended start</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        THROUGHPUT_TOP + PANEL + 35.0
    );
    svg.push_str("</svg>\n");
    svg
}

/// The middle of second `t`, where its point is drawn.
fn at(t: u64) -> f64 {
    #[allow(
        clippy::cast_precision_loss,
        reason = "seconds of a run stay far below 2^52"
    )]
    let t = t as f64;
    t + 0.5
}

/// Max, p99 and p50 latency per second (max dashed and drawn first, since in a second with
/// fewer than 100 answers the p99 is the max); seconds with no successful answer have no point.
fn latency_series(report: &Report) -> [Series<'static>; 3] {
    [("max", "#d62728"), ("p99", "#ff7f0e"), ("p50", "#1f77b4")].map(|(name, colour)| Series {
        name,
        colour,
        dashed: name == "max",
        points: report
            .seconds
            .iter()
            .map(|s| {
                let ms = match name {
                    "p50" => s.p50_ms,
                    "p99" => s.p99_ms,
                    _ => s.max_ms,
                };
                (at(s.t), ms)
            })
            .filter(|&(_, ms)| ms > 0.0)
            .collect(),
    })
}

/// Successful and failed answers per second, and the target rate across the run.
#[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
fn throughput_series(report: &Report, span: f64) -> [Series<'static>; 3] {
    [
        Series {
            name: "ok/s",
            colour: "#2ca02c",
            dashed: false,
            points: report
                .seconds
                .iter()
                .map(|s| (at(s.t), s.ok as f64))
                .collect(),
        },
        Series {
            name: "failed/s",
            colour: "#d62728",
            dashed: false,
            points: report
                .seconds
                .iter()
                .map(|s| (at(s.t), s.errors as f64))
                .collect(),
        },
        Series {
            name: "target",
            colour: "#7f7f7f",
            dashed: true,
            points: vec![
                (0.0, f64::from(report.rate)),
                (span, f64::from(report.rate)),
            ],
        },
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scale {
    Linear,
    /// Decades of 10 from the smallest value's to the largest's.
    Log,
}

fn panel(svg: &mut String, top: f64, title: &str, span: f64, series: &[Series<'_>], scale: Scale) {
    let plot_width = WIDTH - LEFT - RIGHT;
    let values = series.iter().flat_map(|s| s.points.iter().map(|&(_, v)| v));
    let max = values.clone().fold(0.0_f64, f64::max);
    let min = values.filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
    // The y axis: the value at the bottom and the top, and the gridlines between.
    let (low, high, ticks): (f64, f64, Vec<f64>) = match scale {
        Scale::Log if max > 0.0 => {
            let (lo, hi) = (
                min.log10().floor(),
                max.log10().ceil().max(min.log10().floor() + 1.0),
            );
            let mut ticks = Vec::new();
            let mut decade = lo;
            while decade <= hi {
                ticks.push(10_f64.powf(decade));
                decade += 1.0;
            }
            (lo, hi, ticks)
        }
        _ => {
            // Headroom above the highest line, so it does not run along the frame.
            let high = nice(max.max(1.0) * 1.1);
            (
                0.0,
                high,
                (0..=5).map(|i| high * f64::from(i) / 5.0).collect(),
            )
        }
    };
    let y = |v: f64| -> f64 {
        let v = if scale == Scale::Log && max > 0.0 {
            v.log10()
        } else {
            v
        };
        top + PANEL - (v - low) / (high - low) * PANEL
    };
    let x = |t: f64| LEFT + t / span * plot_width;
    let step = nice(span / 10.0).max(1.0);
    let mut second = 0.0;
    while second <= span {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{second}</text>"#,
            x(second),
            top + PANEL + 15.0
        );
        second += step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>"#,
        top - 8.0,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{top}" width="{plot_width}" height="{PANEL}" fill="none" stroke="#444"/>"##
    );
    for tick in ticks {
        let ty = y(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_width,
            LEFT - 6.0,
            ty + 4.0,
            label(tick)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        if !points.is_empty() {
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"/>"#,
                s.colour,
                points.join(" ")
            );
        }
        #[allow(clippy::cast_precision_loss, reason = "a handful of series")]
        let ly = top + 14.0 + i as f64 * 18.0;
        let lx = LEFT + plot_width + 12.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            lx + 20.0,
            s.colour,
            lx + 26.0,
            ly + 4.0,
            escape(s.name)
        );
    }
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `x`.
fn nice(x: f64) -> f64 {
    let decade = 10_f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|&v| v >= x)
        .unwrap_or(10.0 * decade)
}

fn label(v: f64) -> String {
    if v >= 1.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::SecondReport;

    fn second(t: u64, ok: u64, p99_ms: f64) -> SecondReport {
        SecondReport {
            t,
            ok,
            errors: 0,
            p50_ms: p99_ms / 4.0,
            p99_ms,
            max_ms: p99_ms * 2.0,
        }
    }

    #[test]
    fn the_plot_is_one_svg_with_both_panels_and_a_line_per_series() {
        let mut report = crate::markdown::tests::sample();
        report.target = "http://127.0.0.1:8080/?a&b".into();
        report.seconds = vec![
            second(0, 48, 4.0),
            second(1, 50, 40.0),
            second(2, 50, 400.0),
        ];
        let svg = render(&report);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("latency ms (log)") && svg.contains("answers per second"));
        assert_eq!(
            svg.matches("<polyline").count(),
            6,
            "max, p99, p50, ok, failed, target"
        );
        assert!(svg.contains("?a&amp;b"), "text is escaped");
        assert!(svg.contains(">3</text>"), "the seconds are labelled: {svg}");
        // The log axis spans the decades of the data: 1 ms (p50 1 ms) to 1 000 ms (max 800 ms).
        assert!(
            svg.contains(">1</text>") && svg.contains(">1000</text>"),
            "{svg}"
        );
    }

    #[test]
    fn an_empty_run_still_draws_its_axes() {
        let mut report = crate::markdown::tests::sample();
        report.seconds = Vec::new();
        let svg = render(&report);
        assert!(svg.contains("answers per second"));
        assert_eq!(svg.matches("<polyline").count(), 1, "only the target rate");
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert!((nice(37.0) - 50.0).abs() < 1e-9);
        assert!((nice(50.0) - 50.0).abs() < 1e-9);
        assert!((nice(101.0) - 200.0).abs() < 1e-9);
        assert!((nice(1.0) - 1.0).abs() < 1e-9);
        assert!((nice(0.3) - 0.5).abs() < 1e-9);
    }
}
