//! `ripcord-footprint`: the sidecar's footprint while scraping a 10,000-series exposition every
//! second. Starts a synthetic app in a child process, then measures, each in its own child process,
//! the sidecar's path (scrape + parse + window update) and a plain `prometheus-parse` full parse of
//! the same scrapes; prints both side by side and a PASS/MISS line per bar of issue 3. Exits 1 if a
//! bar is missed.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use ripcord_sidecar::footprint::{Figures, RipcordStep, Step, SyntheticApp, measure, serve_app};

/// Measures the sidecar's RSS, CPU and per-tick time against a plain prometheus-parse parse.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Series in the app's exposition.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Measured seconds (one scrape each) per path.
    #[arg(long, default_value_t = 30)]
    seconds: usize,
    /// Internal: serve the synthetic app and print its port.
    #[arg(long, hide = true)]
    serve_app: bool,
    /// Internal: measure one path against `--target` and print its figures as JSON.
    #[arg(long, hide = true, value_enum)]
    measure: Option<Path>,
    /// Internal: the app's metrics URL for `--measure`.
    #[arg(long, hide = true)]
    target: Option<String>,
}

/// A measured path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Path {
    /// The sidecar: scrape, `expo::parse` through the extractor, window update.
    Ripcord,
    /// Scrape, then a full `prometheus_parse::Scrape::parse` of the text.
    PrometheusParse,
}

const RSS_BAR_MIB: f64 = 15.0;
const CPU_BAR_PERCENT: f64 = 2.0;
const TICK_BAR_MS: f64 = 5.0;

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = if args.serve_app {
        serve(args.series)
    } else if let Some(path) = args.measure {
        measure_child(path, args.target.as_deref(), args.seconds)
    } else {
        orchestrate(&args)
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ripcord-footprint: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// The app child: binds an ephemeral loopback port, prints it, serves until its stdin closes
/// (the parent exited).
fn serve(series: usize) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0")?;
        println!("{}", listener.local_addr()?.port());
        let parent_gone = tokio::task::spawn_blocking(|| {
            std::io::copy(&mut std::io::stdin(), &mut std::io::sink())
        });
        tokio::select! {
            served = serve_app(listener, SyntheticApp::new(series, 20_260_101)) => served?,
            _ = parent_gone => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// A plain full parse by `prometheus-parse`; the previous scrape is kept until the next one is
/// parsed, as a consumer computing deltas from full parses must.
#[derive(Default)]
struct PrometheusParseStep {
    previous: Option<prometheus_parse::Scrape>,
}

impl Step for PrometheusParseStep {
    fn process(&mut self, _at_ms: i64, body: &[u8]) -> Result<bool, String> {
        let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .map_err(|e| e.to_string())?;
        let usable = !scrape.samples.is_empty();
        self.previous = Some(scrape);
        Ok(usable)
    }
}

fn measure_child(path: Path, target: Option<&str>, seconds: usize) -> Result<ExitCode> {
    let target = target.context("--measure needs --target")?;
    let figures = runtime()?.block_on(async {
        match path {
            Path::Ripcord => measure(target, seconds, &mut RipcordStep::new()?).await,
            Path::PrometheusParse => {
                measure(target, seconds, &mut PrometheusParseStep::default()).await
            }
        }
    })?;
    println!("{}", serde_json::to_string(&figures)?);
    Ok(ExitCode::SUCCESS)
}

/// A child process killed and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_self(args: &[&str]) -> Result<(Reaped, BufReader<ChildStdout>)> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting a child with {args:?}"))?;
    let stdout = child.stdout.take().context("child stdout")?;
    Ok((Reaped(child), BufReader::new(stdout)))
}

fn first_line(reader: &mut BufReader<ChildStdout>, what: &str) -> Result<String> {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .with_context(|| format!("reading {what}"))?;
    if line.trim().is_empty() {
        bail!("{what}: the child printed nothing (see its error above)");
    }
    Ok(line.trim().to_owned())
}

fn orchestrate(args: &Args) -> Result<ExitCode> {
    let series = args.series.to_string();
    let (_app, mut app_out) = spawn_self(&["--serve-app", "--series", &series])?;
    let port = first_line(&mut app_out, "the app's port")?;
    let target = format!("http://127.0.0.1:{port}/metrics");
    println!(
        "ripcord-footprint: app with {} series at {target} (child process); {} s per path, \
         1 scrape/s, each path in its own process",
        args.series, args.seconds
    );
    let seconds = args.seconds.to_string();
    let run = |path: &str| -> Result<Figures> {
        eprintln!("measuring {path} for {seconds} s ...");
        let (_child, mut out) = spawn_self(&[
            "--measure",
            path,
            "--target",
            &target,
            "--seconds",
            &seconds,
        ])?;
        let line = first_line(&mut out, path)?;
        serde_json::from_str(&line).with_context(|| format!("{path} figures {line:?}"))
    };
    let ours = run("ripcord")?;
    let theirs = run("prometheus-parse")?;
    print_table(&ours, &theirs);
    Ok(if print_bars(&ours) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Renders one figure of a column.
type Cell = fn(&Figures) -> String;

fn print_table(ours: &Figures, theirs: &Figures) {
    println!("exposition: {} bytes per scrape", ours.body_bytes);
    println!("{:<42} {:>12} {:>18}", "", "ripcord", "prometheus-parse");
    let rows: [(&str, Cell); 9] = [
        ("scrape+parse+window median (ms)", |f| {
            format!("{:.3}", f.total_median_ms)
        }),
        ("scrape+parse+window p99 (ms)", |f| {
            format!("{:.3}", f.total_p99_ms)
        }),
        ("parse+window median (ms)", |f| {
            format!("{:.3}", f.step_median_ms)
        }),
        ("parse+window p99 (ms)", |f| format!("{:.3}", f.step_p99_ms)),
        ("VmRSS at end (MiB)", |f| format!("{:.1}", mib(f.rss_kib))),
        ("VmHWM peak (MiB)", |f| format!("{:.1}", mib(f.hwm_kib))),
        ("CPU (% of one core)", |f| format!("{:.2}", f.cpu_percent)),
        ("usable ticks / measured", |f| {
            format!("{}/{}", f.usable_ticks, f.ticks)
        }),
        ("failed ticks", |f| f.failed_ticks.to_string()),
    ];
    for (name, cell) in rows {
        println!("{name:<42} {:>12} {:>18}", cell(ours), cell(theirs));
    }
    println!("(prometheus-parse column: scrape + full parse, the previous parse kept; no window)");
}

/// Prints one line per bar for the sidecar's path; true if all pass.
fn print_bars(ours: &Figures) -> bool {
    let bars = [
        (
            format!("RSS (VmHWM peak) <= {RSS_BAR_MIB} MiB"),
            format!("{:.1} MiB", mib(ours.hwm_kib)),
            mib(ours.hwm_kib) <= RSS_BAR_MIB,
        ),
        (
            format!("CPU <= {CPU_BAR_PERCENT} % of one core at 1 scrape/s"),
            format!("{:.2} %", ours.cpu_percent),
            ours.cpu_percent <= CPU_BAR_PERCENT,
        ),
        (
            format!("scrape+parse+window median <= {TICK_BAR_MS} ms"),
            format!("{:.3} ms", ours.total_median_ms),
            ours.total_median_ms <= TICK_BAR_MS,
        ),
        (
            "every measured tick usable".to_owned(),
            format!("{}/{}", ours.usable_ticks, ours.ticks),
            ours.usable_ticks == ours.ticks && ours.ticks > 0,
        ),
    ];
    let mut all = true;
    for (bar, value, pass) in bars {
        println!(
            "{bar:<48} {value:>12}  {}",
            if pass { "PASS" } else { "MISS" }
        );
        all &= pass;
    }
    all
}
