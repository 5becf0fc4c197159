//! What the report says about where it ran: the machine (cores, memory, load average,
//! PostgreSQL version) and the spawned server's process figures (peak RSS, CPU time of the
//! server and of its embedded PostgreSQL, the postmaster and every backend), all read from
//! /proc. Reads that fail give `None`: a report without a figure beats no report.

use std::collections::HashMap;

use ferrobill::procfs::{cpu_seconds, kib_field, reaped_children_cpu_seconds};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_mib: Option<u64>,
    pub postgresql: Option<String>,
    pub kernel: Option<String>,
}

impl Machine {
    pub fn describe() -> Machine {
        let memory_mib = kib_field("/proc/meminfo", "MemTotal:").map(|kib| kib / 1024);
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |cores| cores.get()),
            memory_mib,
            postgresql: postgresql_version(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|text| text.trim().to_string()),
        }
    }
}

/// The 1-minute load average: how busy the shared machine was around a run.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// `postgres --version` of the newest PostgreSQL under /usr/lib/postgresql, the one the
/// embedded cluster picks.
fn postgresql_version() -> Option<String> {
    let binary = pg_binary("postgres")?;
    let output = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// `/usr/lib/postgresql/<newest>/bin/<name>`, if there.
pub fn pg_binary(name: &str) -> Option<std::path::PathBuf> {
    let mut versions: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            let binary = entry.path().join("bin").join(name);
            binary.is_file().then_some((version, binary))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, binary)| binary)
}

fn parent_of(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = text.rsplit_once(')')?;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Every live descendant of `root` (the embedded postmaster and its backends).
fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: HashMap<u32, u32> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_string_lossy().parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (&pid, _) in parents.iter().filter(|(_, &p)| p == parent) {
            found.push(pid);
            frontier.push(pid);
        }
    }
    found
}

/// CPU seconds of the server and of its PostgreSQL at one instant.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    pub server: f64,
    pub postgres: f64,
    pub at: std::time::Instant,
}

impl CpuMark {
    /// With the embedded cluster's `postmaster`, PostgreSQL's CPU is the postmaster's own, its
    /// live children's and its exited children's (which the postmaster reaped, so the kernel
    /// keeps their time in its cutime and cstime): every backend, whether or not it outlived
    /// the step. Without it, the server's live descendants stand for it.
    pub fn take(server_pid: u32, postmaster: Option<u32>) -> Option<CpuMark> {
        let postgres = match postmaster {
            Some(postmaster) => {
                cpu_seconds(postmaster)?
                    + reaped_children_cpu_seconds(postmaster)?
                    + descendants(postmaster)
                        .into_iter()
                        .filter_map(cpu_seconds)
                        .sum::<f64>()
            }
            None => descendants(server_pid)
                .into_iter()
                .filter_map(cpu_seconds)
                .sum(),
        };
        Some(CpuMark {
            server: cpu_seconds(server_pid)?,
            postgres,
            at: std::time::Instant::now(),
        })
    }
}

/// The spawned server over one step's measured window.
#[derive(Debug, Clone, Serialize)]
pub struct ServerFigures {
    /// VmHWM: the server's peak resident set, embedded PostgreSQL not included.
    pub peak_rss_mib: Option<f64>,
    pub rss_mib: Option<f64>,
    /// CPU used per wall second (1.0 = one core busy) by the server process.
    pub server_cores: f64,
    /// The same for its embedded PostgreSQL (see `CpuMark::take`).
    pub postgres_cores: f64,
}

impl ServerFigures {
    pub fn between(pid: u32, start: &CpuMark, end: &CpuMark) -> ServerFigures {
        let wall = (end.at - start.at).as_secs_f64().max(f64::EPSILON);
        let status = format!("/proc/{pid}/status");
        ServerFigures {
            peak_rss_mib: kib_field(&status, "VmHWM:").map(|kib| kib as f64 / 1024.0),
            rss_mib: ferrobill::procfs::rss_mib(pid),
            server_cores: (end.server - start.server) / wall,
            // Without the postmaster, backends that exited are lost: never below zero.
            postgres_cores: ((end.postgres - start.postgres) / wall).max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_figures() {
        let machine = Machine::describe();
        assert!(machine.cores >= 1);
        assert!(machine.memory_mib.is_some_and(|mib| mib > 0));
        let pid = std::process::id();
        let start = CpuMark::take(pid, None).expect("own /proc/self/stat is readable");
        let end = CpuMark::take(pid, None).expect("own /proc/self/stat is readable");
        let figures = ServerFigures::between(pid, &start, &end);
        // This process as a postmaster: its own, its reaped and its live children's time.
        assert!(CpuMark::take(pid, Some(pid)).is_some_and(|mark| mark.postgres >= end.server));
        assert!(figures.peak_rss_mib.is_some_and(|mib| mib > 0.0));
        assert!(figures.server_cores >= 0.0);
        assert!(load_average().is_some());
    }
}
