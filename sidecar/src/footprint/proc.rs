//! The process's own resident memory and CPU time, read from `/proc/self` (Linux).

use super::{FootprintError, Result};

/// Clock ticks per second of `utime`/`stime` in `/proc/self/stat` (`USER_HZ`, 100 on Linux).
pub const USER_HZ: f64 = 100.0;

/// Resident memory of the process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set size (`VmHWM`).
    pub hwm_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` from `/proc/self/status`.
pub fn memory() -> Result<Memory> {
    let status = read("status")?;
    parse_memory(&status)
}

/// CPU time (user + system) the process has used so far, in seconds.
pub fn cpu_seconds() -> Result<f64> {
    let stat = read("stat")?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / USER_HZ)
}

fn read(file: &'static str) -> Result<String> {
    std::fs::read_to_string(format!("/proc/self/{file}")).map_err(|e| FootprintError::Proc {
        file,
        reason: e.to_string(),
    })
}

/// `VmRSS` and `VmHWM` of a `/proc/<pid>/status` text.
pub fn parse_memory(status: &str) -> Result<Memory> {
    Ok(Memory {
        rss_kib: status_kib(status, "VmRSS")?,
        hwm_kib: status_kib(status, "VmHWM")?,
    })
}

fn status_kib(status: &str, field: &str) -> Result<u64> {
    let missing = |reason: String| FootprintError::Proc {
        file: "status",
        reason,
    };
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .ok_or_else(|| missing(format!("no {field} line")))?;
    let mut words = line.split_whitespace();
    let value = words
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| missing(format!("{field}: no number in {line:?}")))?;
    match words.next() {
        Some("kB") => Ok(value),
        unit => Err(missing(format!("{field}: unit {unit:?}, expected kB"))),
    }
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line, in clock ticks. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Result<u64> {
    let bad = |reason: &str| FootprintError::Proc {
        file: "stat",
        reason: reason.to_owned(),
    };
    let after_name = stat
        .rfind(')')
        .map(|end| &stat[end + 1..])
        .ok_or_else(|| bad("no command name"))?;
    // After the name, field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let tick = |index: usize, name: &str| -> Result<u64> {
        fields
            .get(index)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(&format!("no {name} field")))
    };
    Ok(tick(11, "utime")? + tick(12, "stime")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_peak_from_a_status_text() {
        let status = "Name:\tx\nVmHWM:\t    9120 kB\nVmRSS:\t    8004 kB\nThreads:\t1\n";
        let memory = parse_memory(status).unwrap();
        assert_eq!(
            memory,
            Memory {
                rss_kib: 8004,
                hwm_kib: 9120
            }
        );
    }

    #[test]
    fn a_status_without_rss_is_an_error_naming_the_field() {
        let error = parse_memory("VmHWM:\t 1 kB\n").unwrap_err().to_string();
        assert!(error.contains("VmRSS"), "{error}");
    }

    #[test]
    fn cpu_ticks_count_fields_after_a_name_with_spaces_and_parens() {
        let stat = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 9 1 2";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 12);
    }

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        let memory = memory().unwrap();
        assert!(memory.rss_kib > 0 && memory.hwm_kib >= memory.rss_kib);
        assert!(cpu_seconds().unwrap() >= 0.0);
    }
}
