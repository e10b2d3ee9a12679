//! `ripcord-sidecar replay` end to end: the built binary on the real recorded scenarios of
//! `testdata/scenarios`, and on broken inputs derived from them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ripcord_sidecar::verdict::{Basis, Decision, VERDICT_VERSION, Verdict};

const BAD_INPUT: i32 = 64;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/scenarios")
}

fn scenario_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(scenarios_dir())
        .expect("testdata/scenarios exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.join("expected").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ripcord-sidecar"))
        .arg("replay")
        .args(args)
        .env_remove("RIPCORD_ALPHA")
        .output()
        .expect("the binary runs")
}

fn replay_scenario(dir: &Path, extra: &[&str]) -> Output {
    let file = |name: &str| dir.join(name).to_str().expect("UTF-8 path").to_string();
    let (baseline, canary, watch) = (file("baseline.rec"), file("canary.rec"), file("watch.txt"));
    let mut args = vec![
        "--baseline",
        &baseline,
        "--canary",
        &canary,
        "--watch-file",
        &watch,
    ];
    args.extend_from_slice(extra);
    replay(&args)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn verdicts(output: &Output) -> Vec<Verdict> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not a verdict: {err}: {line}"))
        })
        .collect()
}

#[test]
fn every_scenario_gives_its_expected_exit_code() {
    let dirs = scenario_dirs();
    assert!(
        dirs.len() >= 7,
        "expected the recorded scenarios, found {dirs:?}"
    );
    let outcomes: Vec<(String, i32, Option<i32>, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = dirs
            .iter()
            .map(|dir| {
                scope.spawn(move || {
                    let expected = fs::read_to_string(dir.join("expected")).expect("expected file");
                    let expected: i32 = expected
                        .trim()
                        .parse()
                        .expect("expected holds an exit code");
                    let output = replay_scenario(dir, &[]);
                    let name = dir
                        .file_name()
                        .expect("named")
                        .to_string_lossy()
                        .into_owned();
                    let last = stderr(&output)
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .to_string();
                    (name, expected, output.status.code(), last)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("replay thread"))
            .collect()
    });
    let wrong: Vec<String> = outcomes
        .iter()
        .filter(|(_, expected, got, _)| Some(*expected) != *got)
        .map(|(name, expected, got, last)| {
            format!("{name}: expected {expected}, got {got:?} ({last})")
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "scenarios with the wrong outcome:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn json_lines_are_running_verdicts_one_per_canary_scrape() {
    let dir = scenarios_dir().join("errors");
    let output = replay_scenario(&dir, &["--quiet"]);
    let canary_scrapes = fs::read_to_string(dir.join("canary.rec"))
        .expect("canary recording")
        .lines()
        .filter(|line| line.starts_with("# SCRAPE "))
        .count();
    let verdicts = verdicts(&output);
    assert_eq!(verdicts.len(), canary_scrapes);
    for (index, verdict) in verdicts.iter().enumerate() {
        assert_eq!(verdict.version, VERDICT_VERSION);
        assert_eq!(verdict.ticks, index as u64 + 1);
        assert_eq!(
            verdict.metrics.len(),
            3,
            "one evidence entry per watched metric"
        );
    }
    assert!(
        verdicts.windows(2).all(|w| w[0].at_ms < w[1].at_ms),
        "verdict times increase"
    );
    let last = verdicts.last().expect("at least one verdict");
    assert_eq!(
        output.status.code(),
        Some(i32::from(last.decision.exit_code()))
    );
    assert!(
        output.stderr.is_empty(),
        "--quiet prints no summary: {}",
        stderr(&output)
    );
}

#[test]
fn the_summary_says_what_was_compared_and_decided() {
    let dir = scenarios_dir().join("errors");
    let output = replay_scenario(&dir, &[]);
    let summary = stderr(&output);
    let last = verdicts(&output).pop().expect("a verdict");
    for needle in [
        "canary.rec",
        "baseline.rec",
        "errors:",
        "latency:",
        "conversion:",
        "e-value",
        "Decision:",
    ] {
        assert!(
            summary.contains(needle),
            "summary lacks {needle:?}:\n{summary}"
        );
    }
    if last.decision == Decision::Fail {
        assert!(summary.contains("REGRESSION"), "{summary}");
    }
}

/// The first `blocks` scrape blocks of a real recording.
fn real_blocks(scenario: &str, arm: &str, blocks: usize) -> String {
    let text = fs::read_to_string(scenarios_dir().join(scenario).join(arm)).expect("recording");
    let mut kept = String::new();
    let mut seen = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("# SCRAPE ") {
            seen += 1;
            if seen > blocks {
                break;
            }
        }
        kept.push_str(line);
    }
    kept
}

/// Writes `canary` as the canary of a replay against a real baseline and returns its output and
/// the canary's path.
fn replay_with_canary(name: &str, canary: &str, watch: &str) -> (Output, String) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("replay-inputs");
    fs::create_dir_all(&dir).expect("temp dir");
    let canary_path = dir.join(format!("{name}.rec"));
    fs::write(&canary_path, canary).expect("write canary");
    let baseline = scenarios_dir().join("errors/baseline.rec");
    let canary_path = canary_path.to_str().expect("UTF-8").to_string();
    let output = replay(&[
        "--baseline",
        baseline.to_str().expect("UTF-8"),
        "--canary",
        &canary_path,
        "--watch",
        watch,
    ]);
    (output, canary_path)
}

const WATCH: &str = "errors: http_requests_total{code=~\"5..\"} / http_requests_total max +50%";

fn assert_bad_input(output: &Output, place: &str) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(BAD_INPUT), "stderr: {message}");
    assert!(
        message.contains(place),
        "message should name {place:?}: {message}"
    );
    assert!(output.stdout.is_empty(), "no verdict on bad input");
}

#[test]
fn a_bad_header_names_its_file_and_line() {
    let mut canary = real_blocks("errors", "canary.rec", 3);
    let line = canary.lines().count() + 1;
    canary.push_str("# SCRAPE 17955231x\n");
    let (output, path) = replay_with_canary("bad-header", &canary, WATCH);
    assert_bad_input(
        &output,
        &format!("{path}:{line}: timestamp is not a whole number"),
    );
}

#[test]
fn garbage_exposition_names_its_file_line_and_column() {
    let mut canary = real_blocks("errors", "canary.rec", 3);
    let line = canary.lines().count() + 3;
    canary.push_str("# SCRAPE 9999999999999\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\" 5\n");
    let (output, path) = replay_with_canary("garbage", &canary, WATCH);
    assert_bad_input(&output, &format!("{path}:{line}:"));
    assert!(
        stderr(&output).contains("bad exposition"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn decreasing_timestamps_name_the_offending_header() {
    let real = real_blocks("errors", "canary.rec", 2);
    let first_header = real.lines().next().expect("first header");
    let first_ms: i64 = first_header["# SCRAPE ".len()..]
        .parse()
        .expect("a timestamp");
    let second_line = real_blocks("errors", "canary.rec", 1).lines().count() + 1;
    let second_header = real.lines().nth(second_line - 1).expect("second header");
    let earlier = real.replacen(second_header, &format!("# SCRAPE {}", first_ms - 1000), 1);
    let (output, path) = replay_with_canary("decreasing", &earlier, WATCH);
    assert_bad_input(
        &output,
        &format!("{path}:{second_line}: scrape at {} ms", first_ms - 1000),
    );
    assert!(
        stderr(&output).contains("timestamps must increase"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_empty_recording_is_bad_input() {
    let (output, path) = replay_with_canary("empty", "", WATCH);
    assert_bad_input(&output, &format!("{path}: empty recording"));
}

#[test]
fn a_missing_recording_is_bad_input() {
    let output = replay(&[
        "--baseline",
        "/nonexistent/b.rec",
        "--canary",
        "/nonexistent/c.rec",
        "--watch",
        WATCH,
    ]);
    assert_bad_input(&output, "/nonexistent/b.rec: cannot read");
}

#[test]
fn an_unknown_metric_names_the_metric_and_its_line() {
    let canary = real_blocks("errors", "canary.rec", 5);
    let watch = format!("{WATCH}\nlatency: http_request_duration_secs p99 max +20%");
    let (output, _) = replay_with_canary("unknown-metric", &canary, &watch);
    assert_bad_input(
        &output,
        "--watch:2: metric `latency`: no series named `http_request_duration_secs_bucket`",
    );
}

#[test]
fn a_spec_typo_names_its_line_and_column() {
    let canary = real_blocks("errors", "canary.rec", 5);
    let watch =
        format!("{WATCH}\nconversion: checkout_completed_total / checkout_started_total mni -5%");
    let (output, _) = replay_with_canary("spec-typo", &canary, &watch);
    let column = watch
        .lines()
        .nth(1)
        .expect("line 2")
        .find("mni")
        .expect("the typo")
        + 1;
    assert_bad_input(&output, &format!("--watch: line 2, column {column}:"));
}

#[test]
fn usage_errors_exit_64() {
    let missing_canary = replay(&["--baseline", "b.rec", "--watch", WATCH]);
    assert_eq!(
        missing_canary.status.code(),
        Some(BAD_INPUT),
        "{}",
        stderr(&missing_canary)
    );
    let both_watches = replay(&[
        "--baseline",
        "b",
        "--canary",
        "c",
        "--watch",
        WATCH,
        "--watch-file",
        "w",
    ]);
    assert_eq!(
        both_watches.status.code(),
        Some(BAD_INPUT),
        "{}",
        stderr(&both_watches)
    );
    let bad_alpha = replay(&[
        "--baseline",
        "b",
        "--canary",
        "c",
        "--watch",
        WATCH,
        "--alpha",
        "1.5",
    ]);
    assert_eq!(bad_alpha.status.code(), Some(BAD_INPUT));
    assert!(
        stderr(&bad_alpha).contains("alpha must be between 0 and 1"),
        "{}",
        stderr(&bad_alpha)
    );
}

#[test]
fn a_recording_over_the_size_cap_is_refused_unread() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("replay-inputs");
    fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("huge.rec");
    let file = fs::File::create(&path).expect("create");
    file.set_len(ripcord_sidecar::replay::MAX_RECORDING_BYTES + 1)
        .expect("sparse file");
    let baseline = scenarios_dir().join("errors/baseline.rec");
    let output = replay(&[
        "--baseline",
        baseline.to_str().expect("UTF-8"),
        "--canary",
        path.to_str().expect("UTF-8"),
        "--watch",
        WATCH,
    ]);
    fs::remove_file(&path).expect("remove");
    assert_bad_input(
        &output,
        &format!("{}: recording is larger than", path.display()),
    );
}

#[test]
fn help_exits_0_and_alpha_comes_from_the_environment() {
    let help = replay(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--watch-file"));
    let dir = scenarios_dir().join("errors");
    let file = |name: &str| dir.join(name).to_str().expect("UTF-8").to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_ripcord-sidecar"))
        .args([
            "replay",
            "-q",
            "--baseline",
            &file("baseline.rec"),
            "--canary",
            &file("canary.rec"),
        ])
        .args(["--watch-file", &file("watch.txt")])
        .env("RIPCORD_ALPHA", "0.05")
        .output()
        .expect("the binary runs");
    let last = verdicts(&output).pop().expect("a verdict");
    assert_eq!(last.alpha, 0.05);
}

#[test]
fn scenario_flag_reads_the_three_files_of_a_scenario_directory() {
    let dir = scenarios_dir().join("errors");
    let by_flag = replay(&["--scenario", dir.to_str().unwrap(), "--quiet"]);
    let by_files = replay_scenario(&dir, &["--quiet"]);
    assert_eq!(by_flag.status.code(), Some(1), "{}", stderr(&by_flag));
    assert_eq!(by_flag.stdout, by_files.stdout);

    let missing = replay(&["--scenario", "no/such/dir"]);
    assert_bad_input(&missing, "no/such/dir");
    let both = replay(&["--scenario", dir.to_str().unwrap(), "--baseline", "x.rec"]);
    assert_eq!(both.status.code(), Some(64));
}

#[test]
fn a_canary_alone_is_judged_against_its_absolute_limits() {
    let canary = scenarios_dir().join("errors/canary.rec");
    let canary = canary.to_str().expect("UTF-8");
    for (limit, code, decision, basis) in [
        (" limit 1%", 1, Decision::Fail, Basis::Absolute),
        (" limit 20%", 0, Decision::Pass, Basis::Absolute),
        ("", 2, Decision::Inconclusive, Basis::Relative),
    ] {
        let output = replay(&["--canary", canary, "--watch", &format!("{WATCH}{limit}")]);
        assert_eq!(output.status.code(), Some(code), "{}", stderr(&output));
        let last = verdicts(&output).pop().expect("one verdict a tick");
        assert_eq!(
            (last.decision, last.basis),
            (decision, basis),
            "{}",
            last.reason
        );
        if limit.is_empty() {
            assert!(last.reason.contains("no absolute limit"), "{}", last.reason);
        } else {
            assert!(stderr(&output).contains("judged on the canary alone"));
        }
    }
}
