//! Runs the built binary's `demo` end to end and checks the exit code, the report and the time.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_demo_catches_the_regression_turns_the_flag_off_and_is_quick() {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_ripcord-sidecar"))
        .arg("demo")
        .output()
        .expect("the binary runs");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(took < Duration::from_secs(20), "the demo took {took:?}");
    for expected in [
        "Ripcord evidence report",
        "errors:",
        "latency:",
        "conversion:",
        "canary:",
        "baseline:",
        "always-valid interval",
        "how sure: e-value",
        "Decision: REGRESSION",
        "turned flag `new-checkout` off",
        "Flag `new-checkout` is now OFF",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
    assert!(
        stderr.contains("tick"),
        "no progress lines on stderr:\n{stderr}"
    );
    let flag_file = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Flag `new-checkout` is ON in "))
        .expect("the report names the flag file");
    let flags: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(flag_file).expect("flag file"))
            .expect("json");
    assert_eq!(flags["flags"]["new-checkout"]["defaultVariant"], "off");
    assert!(flags["flags"]["new-checkout"].get("targeting").is_none());
    assert_eq!(flags["flags"]["dark-mode"]["defaultVariant"], "off");
}
