//! The I/O edge of the actions: the flagd file, the webhook and the command. Each is bounded in
//! time, tried once, and its outcome recorded; a failed action never stops the next one.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::decide::Action;
use super::flagd;

/// Bound on the webhook call and on the command.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// What one action did, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Performed {
    /// The action.
    pub action: Action,
    /// When it finished, in Unix milliseconds.
    pub at_ms: i64,
    /// `Ok` with a detail, or the error.
    pub outcome: Result<String, String>,
}

/// Runs the actions in order with `verdict_json` as the payload; each gets `timeout`.
pub async fn perform(actions: &[Action], verdict_json: &str, timeout: Duration) -> Vec<Performed> {
    let mut performed = Vec::with_capacity(actions.len());
    for action in actions {
        let outcome = match action {
            Action::FlagOff { path, key } => flagd::turn_off_in_file(path, key)
                .map(|()| "defaultVariant set to the off variant, targeting removed".to_string())
                .map_err(|e| e.to_string()),
            Action::Webhook(url) => post(url, verdict_json, timeout).await,
            Action::Command(command) => run_command(command, verdict_json, timeout).await,
        };
        performed.push(Performed {
            action: action.clone(),
            at_ms: super::now_ms(),
            outcome,
        });
    }
    performed
}

/// POSTs `body` as JSON to a plain `http://` URL, once, within `timeout`.
pub async fn post(url: &str, body: &str, timeout: Duration) -> Result<String, String> {
    let exchange = post_once(url, body.to_string());
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer from {url} within {timeout:?}")),
    }
}

async fn post_once(url: &str, body: String) -> Result<String, String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("webhook URL `{url}`: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "webhook URL `{url}`: only plain http:// is supported"
        ));
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("webhook URL `{url}`: no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("connecting to {url}: {e}"))?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {url}: {e}"))?;
    tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
    let request = Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("building the request to {url}: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("posting to {url}: {e}"))?;
    let status = response.status();
    let _ = response.into_body().collect().await;
    if status.is_success() {
        Ok(format!("answered {status}"))
    } else {
        Err(format!("{url} answered {status}"))
    }
}

/// Runs `command` with `sh -c`, `stdin_text` on its stdin, killed after `timeout`.
pub async fn run_command(
    command: &str,
    stdin_text: &str,
    timeout: Duration,
) -> Result<String, String> {
    let command = command.to_string();
    let stdin_text = stdin_text.to_string();
    tokio::task::spawn_blocking(move || run_command_blocking(&command, &stdin_text, timeout))
        .await
        .map_err(|e| format!("the command's task failed: {e}"))?
}

fn run_command_blocking(
    command: &str,
    stdin_text: &str,
    timeout: Duration,
) -> Result<String, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting `{command}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input closes the pipe; that is not an error.
        let _ = stdin.write_all(stdin_text.as_bytes());
    }
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok("exited 0".to_string()),
            Ok(Some(status)) => return Err(format!("`{command}` failed: {status}")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{command}` still running after {timeout:?}; killed"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for `{command}`: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_command_reads_the_verdict_on_stdin() {
        let dir = std::env::temp_dir().join(format!("ripcord-act-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let out = dir.join("stdin.json");
        let command = format!("cat > '{}'", out.display());
        let result = run_command(&command, "{\"decision\":\"fail\"}", ACTION_TIMEOUT).await;
        assert_eq!(result, Ok("exited 0".to_string()));
        let written = std::fs::read_to_string(&out).expect("read");
        assert_eq!(written, "{\"decision\":\"fail\"}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_failing_or_slow_command_is_reported_not_waited_for() {
        let failed = run_command("exit 3", "", ACTION_TIMEOUT).await;
        assert!(failed.expect_err("fails").contains("exit status: 3"));
        let started = Instant::now();
        let slow = run_command("sleep 5", "", Duration::from_millis(200)).await;
        assert!(slow.expect_err("killed").contains("killed"));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn an_unreachable_webhook_is_an_error_quickly() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/hook");
        let result = post(&url, "{}", Duration::from_secs(2)).await;
        assert!(result.expect_err("refused").contains("connecting"));
        let https = post("https://example.com/hook", "{}", Duration::from_secs(2)).await;
        assert!(https.expect_err("refused").contains("only plain http"));
    }
}
