//! The report's charts as self-contained SVG: the fund's yearly outlay against its cap,
//! the fan of the insurer's loss ratio over the month ends against the warning and
//! suspension lines, and each party's loss distribution.

use serde_json::Value;

use super::model::Model;
use super::path::PathResult;
use super::report::PARTIES;

const W: f64 = 720.0;
const H: f64 = 360.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn header(title: &str, width: f64, height: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{width}\" height=\"{height}\" fill=\"#fff\"/>\n\
         <text x=\"{}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        LEFT,
        escape(title)
    )
}

/// Ten thousand yuan (万元) with one decimal, the unit programme budgets are read in.
fn wan(fen: f64) -> String {
    format!("{:.1}", fen / 1_000_000.0)
}

/// A "nice" step for about `ticks` intervals up to `max`.
fn nice_step(max: f64, ticks: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / ticks;
    // The power of ten at or below `raw`, by multiplication only (no maths library).
    let mut magnitude = 1.0;
    while magnitude * 10.0 <= raw {
        magnitude *= 10.0;
    }
    while magnitude > raw {
        magnitude /= 10.0;
    }
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// A histogram panel at (x0, y0) of size (w, h): counts of `values` in `bins` equal bins
/// from 0 to `top`, with an optional marked value (a cap).
#[allow(clippy::too_many_arguments)]
fn histogram_panel(
    out: &mut String,
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    values: &[u64],
    top: f64,
    mark: Option<(f64, &str)>,
    x_label: &str,
) {
    let bins = 30usize;
    let top = if top <= 0.0 { 1.0 } else { top };
    let mut counts = vec![0usize; bins];
    for v in values {
        let i = ((*v as f64 / top) * bins as f64).floor() as usize;
        counts[i.min(bins - 1)] += 1;
    }
    let most = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let bar = w / bins as f64;
    out.push_str(&format!(
        "<line x1=\"{x0}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>\n",
        y0 + h,
        x0 + w,
        y0 + h
    ));
    for (i, c) in counts.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        let bh = *c as f64 / most * h;
        out.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#4a78b5\"><title>{c} paths</title></rect>\n",
            x0 + i as f64 * bar + 0.5,
            y0 + h - bh,
            (bar - 1.0).max(0.5),
            bh
        ));
    }
    let step = nice_step(top, 5.0);
    let mut t = 0.0;
    while t <= top * 1.0001 {
        let x = x0 + t / top * w;
        out.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n",
            y0 + h + 15.0,
            wan(t)
        ));
        t += step;
    }
    out.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#333\">{}</text>\n",
        x0 + w / 2.0,
        y0 + h + 32.0,
        escape(x_label)
    ));
    out.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#555\">{} paths</text>\n",
        x0 - 6.0,
        y0 + 10.0,
        most as u64
    ));
    if let Some((at, label)) = mark {
        let x = x0 + (at / top).min(1.0) * w;
        out.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{y0}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#c0392b\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>\n\
             <text x=\"{:.1}\" y=\"{}\" fill=\"#c0392b\" text-anchor=\"end\">{}</text>\n",
            y0 + h,
            x - 4.0,
            y0 + 12.0,
            escape(label)
        ));
    }
}

/// The fund's outlay (subsidies and compensation, what counts against its cap) in every
/// calendar year of every path, against the annual cap.
pub fn fund_outlay(model: &Model, results: &[PathResult]) -> String {
    let values: Vec<u64> = results
        .iter()
        .flat_map(|r| r.fund_paid_by_year.iter().copied())
        .collect();
    let cap = model.fund.annual_cap_fen.0 as f64;
    let top = values.iter().copied().max().unwrap_or(0) as f64;
    let top = top.max(cap * 1.05);
    let mut out = header(
        "Fund outlay per calendar year (all paths) against its annual cap",
        W,
        H,
    );
    histogram_panel(
        &mut out,
        LEFT,
        TOP + 10.0,
        W - LEFT - RIGHT,
        H - TOP - BOTTOM - 10.0,
        &values,
        top,
        Some((cap, &format!("annual cap {} 万元", wan(cap)))),
        "fund paid in the year (万元)",
    );
    out.push_str("</svg>\n");
    out
}

/// Percentile bands of the loss ratio at each month end, with the warning and
/// suspension thresholds.
pub fn loss_ratio_fan(report: &Value) -> String {
    let months = report["loss_ratio"]["by_month"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let suspend = report["loss_ratio"]["suspend_bps"].as_u64().unwrap_or(0) as f64;
    let warn = report["loss_ratio"]["warn_bps"].as_u64().unwrap_or(0) as f64;
    let get = |m: &Value, k: &str| m[k].as_u64().unwrap_or(0) as f64;
    let top = months
        .iter()
        .map(|m| get(m, "p95_bps"))
        .fold(suspend * 1.1, f64::max)
        .max(100.0);
    let (x0, y0) = (LEFT, TOP);
    let (w, h) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let n = months.len().max(2) as f64 - 1.0;
    let x = |i: usize| x0 + i as f64 / n * w;
    let y = |bps: f64| y0 + h - bps / top * h;
    let mut out = header(
        "Insurer's loss ratio at month ends: median, 25–75 % and 5–95 % of paths",
        W,
        H,
    );
    let band = |lo: &str, hi: &str, fill: &str| {
        let mut points: Vec<String> = months
            .iter()
            .enumerate()
            .map(|(i, m)| format!("{:.1},{:.1}", x(i), y(get(m, hi))))
            .collect();
        points.extend(
            months
                .iter()
                .enumerate()
                .rev()
                .map(|(i, m)| format!("{:.1},{:.1}", x(i), y(get(m, lo)))),
        );
        format!(
            "<polygon points=\"{}\" fill=\"{fill}\" stroke=\"none\"/>\n",
            points.join(" ")
        )
    };
    out.push_str(&band("p5_bps", "p95_bps", "#c9d9ee"));
    out.push_str(&band("p25_bps", "p75_bps", "#8fb0da"));
    let median: Vec<String> = months
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{:.1},{:.1}", x(i), y(get(m, "p50_bps"))))
        .collect();
    out.push_str(&format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f3f73\" stroke-width=\"2\"/>\n",
        median.join(" ")
    ));
    for (at, label, colour) in [
        (suspend, "suspension", "#c0392b"),
        (warn, "warning", "#e67e22"),
    ] {
        if at > 0.0 {
            out.push_str(&format!(
                "<line x1=\"{x0}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" stroke=\"{colour}\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/>\n\
                 <text x=\"{}\" y=\"{:.1}\" fill=\"{colour}\" text-anchor=\"end\">{label} {}%</text>\n",
                x0 + w,
                x0 + w - 4.0,
                y(at) - 4.0,
                at / 100.0,
                yy = y(at)
            ));
        }
    }
    out.push_str(&format!(
        "<line x1=\"{x0}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>\n<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{}\" stroke=\"#333\"/>\n",
        y0 + h,
        x0 + w,
        y0 + h,
        y0 + h
    ));
    let step = nice_step(top, 5.0);
    let mut t = 0.0;
    while t <= top {
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">{}%</text>\n",
            x0 - 6.0,
            y(t) + 4.0,
            t / 100.0
        ));
        t += step;
    }
    let every = (months.len() / 8).max(1);
    for (i, m) in months.iter().enumerate() {
        if i % every == 0 || i + 1 == months.len() {
            out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n",
                x(i),
                y0 + h + 15.0,
                m["as_of"].as_str().map(|d| &d[..7]).unwrap_or("")
            ));
        }
    }
    out.push_str("</svg>\n");
    out
}

/// Each party's loss after recoveries, one histogram per party.
pub fn losses(results: &[PathResult]) -> String {
    let (pw, ph) = (330.0, 150.0);
    let width = 2.0 * (pw + 90.0);
    let height = 2.0 * (ph + 80.0) + 20.0;
    let mut out = header(
        "Loss after recoveries per path, by party (万元)",
        width,
        height,
    );
    for (i, party) in PARTIES.iter().enumerate() {
        let values: Vec<u64> = results.iter().map(|r| r.losses[i]).collect();
        let top = values.iter().copied().max().unwrap_or(0) as f64 * 1.02;
        let (col, row) = ((i % 2) as f64, (i / 2) as f64);
        let x0 = 70.0 + col * (pw + 90.0);
        let y0 = 60.0 + row * (ph + 80.0);
        out.push_str(&format!(
            "<text x=\"{x0}\" y=\"{}\" font-weight=\"bold\">{party}</text>\n",
            y0 - 8.0
        ));
        histogram_panel(&mut out, x0, y0, pw, ph, &values, top, None, "loss (万元)");
    }
    out.push_str("</svg>\n");
    out
}
