//! `xinbao stress`: a programme's risk before it is signed, as the distribution over
//! thousands of seeded default paths, each run through the real rulebook.
//!
//! A model (docs/STRESS.md) holds the programme exactly as its `CreateProgramme`, the
//! fund, the rate filings, a horizon and a portfolio. For every path, [`draw`] draws the
//! portfolio's loans and their fates (outside the rulebook, seeded by the run's seed and
//! the path's number), [`path`] turns them into dated transactions and executes each with
//! `contracts::execute` on an in-memory ledger set up once ([`path::Base`]), and reads
//! the figures back from the rulebook's records. [`report`] summarises the paths and
//! [`svg`] draws the charts. Paths run in parallel on every core; their results are
//! gathered in path order, so the same seed gives the same report byte for byte.
//!
//! Several models (`A.json B.json`) or `--vary FIELD=V1,V2,…` run the same paths (the
//! same seed, so the same draws where the portfolios agree) through each design and print
//! the figures in columns.

pub mod draw;
pub mod model;
pub mod path;
pub mod report;
pub mod svg;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Args;
use serde_json::{json, Value};

use crate::files;
use model::Model;
use path::{Base, PathResult};

/// At most this many paths in one run.
pub const PATHS_MAX: u64 = 10_000_000;

#[derive(Debug, Args)]
pub struct StressArgs {
    /// The model file (docs/STRESS.md). Two or more files are run on the same paths and
    /// compared side by side.
    #[arg(required = true, value_name = "MODEL.json")]
    pub models: Vec<PathBuf>,
    /// How many paths to draw.
    #[arg(long, default_value_t = 1000)]
    pub paths: u64,
    /// The seed of the draws: the same seed gives the same report, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the report as one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as Markdown with SVG charts (and its JSON) into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run the model once per value of a field, side by side: `--vary
    /// programme.split.bank_bps=3000,2000`. Several --vary flags with the same number of
    /// values change their fields together (the split's shares must still sum to 10000).
    #[arg(long, value_name = "FIELD=V1,V2,…")]
    pub vary: Vec<String>,
    /// Worker threads (default: every core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Also print the speed: paths and rulebook transactions per second, next to the
    /// number of cores.
    #[arg(long)]
    pub bench: bool,
    /// Print path N's transactions as a scenario file (DOMAIN.md R10) instead of a
    /// report: replay it with `xinbao scenario run`, offline or through a devnet.
    #[arg(long, value_name = "N")]
    pub export_path: Option<u64>,
    /// The protocol version the rulebook runs under (R12.1); default: the newest this
    /// program supports.
    #[arg(long, value_name = "N", default_value_t = contracts::upgrade::NEWEST)]
    pub protocol_version: u32,
}

/// One design: a label and its model.
#[derive(Debug, Clone)]
pub struct Design {
    pub label: String,
    pub model: Model,
}

/// What running one design gives.
pub struct Run {
    pub results: Vec<PathResult>,
    pub report: Value,
    pub txs: u64,
}

fn read_model(path: &Path) -> anyhow::Result<Value> {
    let bytes = files::read_bounded(path, model::MODEL_FILE_BYTES_MAX)?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: not JSON", path.display()))
}

fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The designs the arguments name.
pub fn designs(models: &[PathBuf], vary: &[String]) -> anyhow::Result<Vec<Design>> {
    let docs: Vec<(String, Value)> = models
        .iter()
        .map(|p| {
            let label = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string());
            read_model(p).map(|doc| (label, doc))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut designs = Vec::new();
    if vary.is_empty() {
        for (label, doc) in docs {
            let model = Model::parse(&doc.to_string()).with_context(|| format!("model {label}"))?;
            designs.push(Design { label, model });
        }
        return Ok(designs);
    }
    ensure!(
        docs.len() == 1,
        "--vary changes one model; give one model file with it"
    );
    let mut fields: Vec<(String, Vec<Value>)> = Vec::new();
    for v in vary {
        let (field, values) = v
            .split_once('=')
            .with_context(|| format!("--vary {v}: expected FIELD=V1,V2,…"))?;
        let values: Vec<Value> = values.split(',').map(parse_value).collect();
        ensure!(
            !field.is_empty() && !values.is_empty(),
            "--vary {v}: expected FIELD=V1,V2,…"
        );
        fields.push((field.to_string(), values));
    }
    let count = fields[0].1.len();
    if let Some((field, values)) = fields.iter().find(|(_, v)| v.len() != count) {
        bail!(
            "--vary {field} has {} values, the first --vary has {count}: varied fields change together",
            values.len()
        );
    }
    let base = &docs[0].1;
    for i in 0..count {
        let mut doc = base.clone();
        let mut label = Vec::new();
        for (field, values) in &fields {
            model::set_field(&mut doc, field, values[i].clone())?;
            let short = field.rsplit('.').next().unwrap_or(field);
            label.push(format!("{short}={}", values[i]));
        }
        let label = label.join(" ");
        let model = Model::parse(&doc.to_string()).with_context(|| format!("design {label}"))?;
        designs.push(Design { label, model });
    }
    Ok(designs)
}

/// Run `paths` paths of a design on `threads` threads. `progress` is told each finished path.
pub fn run_design(
    model: &Model,
    base: &Base,
    paths: u64,
    seed: u64,
    threads: usize,
    progress: &AtomicU64,
) -> Run {
    let next = AtomicU64::new(0);
    let threads = threads.clamp(1, paths.max(1) as usize);
    let mut gathered: Vec<(u64, PathResult)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= paths {
                            break;
                        }
                        let draws = draw::draw_path(model, seed, i);
                        let (result, _) = path::run_path(model, base, &draws, false);
                        mine.push((i, result));
                        progress.fetch_add(1, Ordering::Relaxed);
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a stress worker panicked"))
            .collect()
    });
    gathered.sort_by_key(|(i, _)| *i);
    let results: Vec<PathResult> = gathered.into_iter().map(|(_, r)| r).collect();
    let txs = results.iter().map(|r| r.txs).sum();
    let report = report::build(model, &results, seed, base.version);
    Run {
        results,
        report,
        txs,
    }
}

/// Shows the paths done (out of `total`) while they run.
fn watch(done: &AtomicU64, total: u64, started: Instant, finished: &std::sync::atomic::AtomicBool) {
    let mut progress = crate::progress::Progress::new("stress", "paths", Some(total));
    while !finished.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        progress.set(done.load(Ordering::Relaxed), || {
            format!("{:.0} s", started.elapsed().as_secs_f64())
        });
    }
}

pub fn run(args: StressArgs) -> anyhow::Result<ExitCode> {
    ensure!(
        (1..=PATHS_MAX).contains(&args.paths),
        "--paths must be 1 to {PATHS_MAX}"
    );
    let designs = designs(&args.models, &args.vary)?;
    let bases: Vec<Base> = designs
        .iter()
        .map(|d| {
            Base::new(&d.model, args.protocol_version)
                .with_context(|| format!("design {}", d.label))
        })
        .collect::<anyhow::Result<_>>()?;

    if let Some(n) = args.export_path {
        ensure!(
            designs.len() == 1,
            "--export-path prints one design's path; give one model"
        );
        let (design, base) = (&designs[0], &bases[0]);
        let draws = draw::draw_path(&design.model, args.seed, n);
        let (_, steps) = path::run_path(&design.model, base, &draws, true);
        let description = format!(
            "Path {n} of seed {} of the stress model {}{}",
            args.seed,
            design.label,
            design
                .model
                .description
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
        let doc = path::scenario_json(base, &steps.unwrap_or_default(), description);
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = args.threads.unwrap_or(cores).max(1);
    let started = Instant::now();
    let done = AtomicU64::new(0);
    let finished = std::sync::atomic::AtomicBool::new(false);
    let total = args.paths * designs.len() as u64;
    let runs: Vec<Run> = std::thread::scope(|scope| {
        scope.spawn(|| watch(&done, total, started, &finished));
        let runs = designs
            .iter()
            .zip(&bases)
            .map(|(d, b)| run_design(&d.model, b, args.paths, args.seed, threads, &done))
            .collect();
        finished.store(true, Ordering::Relaxed);
        runs
    });
    let elapsed = started.elapsed().as_secs_f64();
    let txs: u64 = runs.iter().map(|r| r.txs).sum();

    let labels: Vec<String> = designs.iter().map(|d| d.label.clone()).collect();
    let reports: Vec<&Value> = runs.iter().map(|r| &r.report).collect();
    let document = if runs.len() == 1 {
        runs[0].report.clone()
    } else {
        json!({
            "designs": labels
                .iter()
                .zip(&runs)
                .map(|(label, run)| json!({ "label": label, "report": run.report }))
                .collect::<Vec<_>>()
        })
    };
    let bench = json!({
        "paths": total,
        "seconds": (elapsed * 1000.0).round() / 1000.0,
        "paths_per_s": (total as f64 / elapsed).round(),
        "rulebook_txs": txs,
        "rulebook_txs_per_s": (txs as f64 / elapsed).round(),
        "threads": threads,
        "cores": cores,
    });
    let footer = format!(
        "{total} paths in {elapsed:.1} s on {threads} threads ({cores} cores): {:.0} paths/s, \
         {txs} rulebook transactions, {:.0}/s ({:.0}/s per thread)",
        total as f64 / elapsed,
        txs as f64 / elapsed,
        txs as f64 / elapsed / threads as f64
    );

    if args.json {
        let mut out = document.clone();
        if args.bench {
            out["bench"] = bench.clone();
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", heading(&designs, &args));
        print!("{}", report::table(&labels, &report::rows(&reports)));
        if args.bench {
            println!("\n{footer}");
        }
    }
    if let Some(dir) = &args.out {
        write_out(dir, &designs, &runs, &document, &args)?;
        if !args.json {
            println!(
                "\nThe report and its charts: {}",
                dir.join("report.md").display()
            );
        }
    }
    if !args.bench {
        eprintln!("stress: {footer}");
    }
    Ok(ExitCode::SUCCESS)
}

fn heading(designs: &[Design], args: &StressArgs) -> String {
    let mut out = String::new();
    for d in designs {
        let m = &d.model;
        let s = m.programme.split;
        out.push_str(&format!(
            "{}: {}\n  {} to {}, split bank {}% / insurer {}% / fund {}%, {}, fund cap {} yuan a year\n",
            d.label,
            m.description.as_deref().unwrap_or(m.programme.name.as_str()),
            m.start,
            m.end(),
            s.bank_bps as f64 / 100.0,
            s.insurer_bps as f64 / 100.0,
            s.fund_bps as f64 / 100.0,
            report::fund_layer_words(m),
            m.fund.annual_cap_fen.0 / 100,
        ));
    }
    out.push_str(&format!(
        "{} paths, seed {}, protocol version {}. Losses are after recoveries; the banks' include rejected claims.\n\n",
        args.paths, args.seed, args.protocol_version
    ));
    out
}

fn file_name(designs: &[Design], i: usize, name: &str) -> String {
    if designs.len() == 1 {
        name.to_string()
    } else {
        let label: String = designs[i]
            .label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{label}-{name}")
    }
}

fn write_out(
    dir: &Path,
    designs: &[Design],
    runs: &[Run],
    document: &Value,
    args: &StressArgs,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write(
        "report.json",
        &format!("{}\n", serde_json::to_string_pretty(document)?),
    )?;
    let labels: Vec<String> = designs.iter().map(|d| d.label.clone()).collect();
    let reports: Vec<&Value> = runs.iter().map(|r| &r.report).collect();
    let mut md = String::from("# Programme stress test\n\n");
    md.push_str(&heading(designs, args).replace('\n', "\n\n"));
    md.push_str(&report::markdown_table(&labels, &report::rows(&reports)));
    for (i, (design, run)) in designs.iter().zip(runs).enumerate() {
        let charts = [
            (
                file_name(designs, i, "fund-outlay.svg"),
                svg::fund_outlay(&design.model, &run.results),
                "The fund's yearly outlay against its cap",
            ),
            (
                file_name(designs, i, "loss-ratio.svg"),
                svg::loss_ratio_fan(&run.report),
                "The insurer's loss ratio over time against the warning and suspension thresholds",
            ),
            (
                file_name(designs, i, "losses.svg"),
                svg::losses(&run.results),
                "Each party's loss distribution",
            ),
        ];
        md.push_str(&format!("\n## {}\n\n", design.label));
        for (name, chart, caption) in charts {
            write(&name, &chart)?;
            md.push_str(&format!("{caption}:\n\n![{caption}]({name})\n\n"));
        }
    }
    write("report.md", &md)
}
