//! A process's CPU time and memory as Linux's /proc reports them, for the dashboard (this
//! process) and the load suite (the server it spawned). Reads that fail give `None`: a figure
//! missing beats a page that fails. Reads only.

use std::path::Path;

/// Linux reports /proc CPU times in USER_HZ ticks, which is 100 on every architecture it
/// exports to user space.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system) of process `pid` since it started, from /proc/<pid>/stat.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    // utime and stime are fields 14 and 15 (1-based, `man 5 proc`).
    stat_seconds(pid, 14)
}

/// CPU seconds (user + system) of the children of `pid` that exited and were waited for: a
/// parent that reaps its children (PostgreSQL's postmaster) keeps their CPU time here.
pub fn reaped_children_cpu_seconds(pid: u32) -> Option<f64> {
    // cutime and cstime are fields 16 and 17.
    stat_seconds(pid, 16)
}

/// The sum of the two tick counts at 1-based `field` and the next of /proc/<pid>/stat, in
/// seconds.
fn stat_seconds(pid: u32, field: usize) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold blanks; the fields after its closing parenthesis
    // do not, and start with field 3.
    let (_, after) = text.rsplit_once(')')?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let user: f64 = fields.get(field - 3)?.parse().ok()?;
    let system: f64 = fields.get(field - 2)?.parse().ok()?;
    Some((user + system) / TICKS_PER_SECOND)
}

/// A `Name:   1234 kB` line of a /proc file such as `/proc/<pid>/status` (`VmRSS:`,
/// `VmHWM:`) or `/proc/meminfo` (`MemTotal:`), in KiB.
pub fn kib_field(path: impl AsRef<Path>, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|line| line.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// Process `pid`'s resident memory now (`VmRSS`), in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    kib_field(format!("/proc/{pid}/status"), "VmRSS:").map(|kib| kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_figures() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_some_and(|seconds| seconds >= 0.0));
        assert!(reaped_children_cpu_seconds(pid).is_some_and(|seconds| seconds >= 0.0));
        assert!(rss_mib(pid).is_some_and(|mib| mib > 0.0));
        assert!(kib_field("/proc/meminfo", "MemTotal:").is_some_and(|kib| kib > 0));
        assert_eq!(kib_field("/proc/meminfo", "NoSuchField:"), None);
    }
}
