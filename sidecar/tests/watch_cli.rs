//! `ripcord-sidecar watch` against real HTTP services (the demo's built-in ones), through the
//! built binary: exit codes, the flag edit, the command's stdin, and bad input.

use std::process::{Command, Output};
use std::sync::Arc;

use ripcord_sidecar::demo::load::{self, Client};
use ripcord_sidecar::demo::service::{self, Behaviour, HEALTHY, REGRESSED, Service};
use ripcord_sidecar::demo::{DEMO_SPEC, initial_flags};

fn sidecar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ripcord-sidecar"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Starts two services with load through both, on a runtime kept alive by the returned value.
fn services(baseline: Behaviour, canary: Behaviour) -> (tokio::runtime::Runtime, String, String) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (b, c) = runtime.block_on(async {
        let b = service::start(Arc::new(Service::new(baseline, 11).expect("b")))
            .await
            .expect("b");
        let c = service::start(Arc::new(Service::new(canary, 12).expect("c")))
            .await
            .expect("c");
        let clients = vec![
            Client::connect(b).await.expect("client"),
            Client::connect(c).await.expect("client"),
        ];
        tokio::spawn(async move {
            let mut clients = clients;
            let _ = load::steady(&mut clients, 200.0).await;
        });
        (b, c)
    });
    (
        runtime,
        format!("http://{b}/metrics"),
        format!("http://{c}/metrics"),
    )
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ripcord-watch-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[test]
fn a_regression_turns_the_flag_off_runs_the_command_and_exits_1() {
    let (_runtime, baseline, canary) = services(HEALTHY, REGRESSED);
    let dir = temp_dir("fail");
    let flags = dir.join("flags.json");
    std::fs::write(&flags, initial_flags().to_string()).expect("flags");
    let stdin_copy = dir.join("verdict.json");
    let command = format!("cat > '{}'", stdin_copy.display());
    let errors_only = DEMO_SPEC.lines().next().expect("errors line");
    let output = sidecar(&[
        "watch",
        "--target",
        &canary,
        "--baseline",
        &baseline,
        "--watch",
        errors_only,
        "--interval",
        "250ms",
        "--for",
        "40s",
        "--flagd-file",
        &flags.display().to_string(),
        "--flag",
        "new-checkout",
        "--command",
        &command,
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Decision: REGRESSION"), "{stdout}");
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&flags).expect("read")).expect("json");
    assert_eq!(after["flags"]["new-checkout"]["defaultVariant"], "off");
    let verdict: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stdin_copy).expect("stdin copy"))
            .expect("json");
    assert_eq!(verdict["decision"], "fail");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_difference_is_never_a_fail_and_ends_inconclusive_or_pass() {
    let (_runtime, baseline, canary) = services(HEALTHY, HEALTHY);
    let errors_only = DEMO_SPEC.lines().next().expect("errors line");
    let output = sidecar(&[
        "watch",
        "--target",
        &canary,
        "--baseline",
        &baseline,
        "--watch",
        errors_only,
        "--interval",
        "250ms",
        "--for",
        "2s",
    ]);
    let code = output.status.code();
    assert!(code == Some(2) || code == Some(0), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("Actions: none (no regression)."));
}

#[test]
fn bad_input_exits_64_with_a_clear_message() {
    let dir = temp_dir("bad");
    let flags = dir.join("flags.json");
    std::fs::write(
        &flags,
        r#"{"flags": {"color": {"variants": {"red": "r"}, "defaultVariant": "red"}}}"#,
    )
    .expect("flags");
    let no_off = sidecar(&[
        "watch",
        "--target",
        "http://127.0.0.1:9/m",
        "--baseline",
        "http://127.0.0.1:9/m",
        "--watch",
        "errors: a / b max +50%",
        "--flagd-file",
        &flags.display().to_string(),
        "--flag",
        "color",
    ]);
    assert_eq!(no_off.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&no_off.stderr).contains("no off variant"));
    let bad_spec = sidecar(&[
        "watch",
        "--target",
        "http://127.0.0.1:9/m",
        "--baseline",
        "http://127.0.0.1:9/m",
        "--watch",
        "errors: a / b maximum +50%",
    ]);
    assert_eq!(bad_spec.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&bad_spec.stderr).contains("line 1, column"));
    let https = sidecar(&[
        "watch",
        "--target",
        "https://127.0.0.1:9/m",
        "--baseline",
        "http://127.0.0.1:9/m",
        "--watch",
        "errors: a / b max +50%",
        "--for",
        "1s",
    ]);
    assert_eq!(https.status.code(), Some(64), "{https:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
