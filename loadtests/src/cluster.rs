//! A spawned server's embedded PostgreSQL as the suite reaches it: found from its data
//! directory, whose `postmaster.pid` names the postmaster, the port and the socket directory,
//! and reached over that Unix socket as the cluster's superuser, as the server itself does
//! (`src/db/embedded.rs`). This module only finds the cluster; it never starts, stops or
//! changes it.

use std::path::{Path, PathBuf};

use ferrobill::db::embedded::{superuser_config, SUPERUSER};

/// The server's database and the one every cluster has, for the suite's own connections.
pub use ferrobill::app::EMBEDDED_DATABASE as SERVER_DATABASE;
pub use ferrobill::db::embedded::MAINTENANCE_DB as MAINTENANCE_DATABASE;

/// Marks the log line the server prints once its embedded PostgreSQL is up.
const READY_MARKER: &str = "embedded PostgreSQL is ready";
const PID_FILE: &str = "postmaster.pid";

/// Where a spawned server's embedded PostgreSQL lives and listens.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub data_dir: PathBuf,
    pub socket_dir: PathBuf,
    pub port: u16,
}

impl Cluster {
    /// The cluster whose data directory the server's "embedded PostgreSQL is ready" line
    /// names (`data_dir=…`, canonical), once it runs.
    pub fn from_server_log(log: &str) -> Option<Cluster> {
        let line = log.lines().find(|line| line.contains(READY_MARKER))?;
        let (_, rest) = line.split_once("data_dir=")?;
        Cluster::from_data_dir(Path::new(rest.split_whitespace().next()?))
    }

    /// The cluster running in `data_dir`, from its `postmaster.pid`.
    pub fn from_data_dir(data_dir: &Path) -> Option<Cluster> {
        let text = std::fs::read_to_string(data_dir.join(PID_FILE)).ok()?;
        Cluster::from_pid_file(data_dir, &text)
    }

    /// `postmaster.pid` holds, one a line: the pid, the data directory, the start time, the
    /// port, the first socket directory, …
    fn from_pid_file(data_dir: &Path, text: &str) -> Option<Cluster> {
        let lines: Vec<&str> = text.lines().collect();
        let port = lines.get(3)?.trim().parse().ok()?;
        let socket_dir = lines.get(4)?.trim();
        (!socket_dir.is_empty()).then(|| Cluster {
            data_dir: data_dir.to_path_buf(),
            socket_dir: PathBuf::from(socket_dir),
            port,
        })
    }

    /// The postmaster's pid now (first line of `postmaster.pid`).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data_dir.join(PID_FILE)).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Connection settings for `database` as the superuser over the Unix socket.
    pub fn pg_config(&self, database: &str) -> tokio_postgres::Config {
        superuser_config(&self.socket_dir, self.port, database)
    }

    /// The same for psql and pgbench: `-h … -p … -U … <database>`.
    pub fn command_line_args(&self, database: &str) -> Vec<String> {
        vec![
            "-h".into(),
            self.socket_dir.display().to_string(),
            "-p".into(),
            self.port.to_string(),
            "-U".into(),
            SUPERUSER.into(),
            database.into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_and_port_are_read_from_postmaster_pid() {
        let text = "4242\n/srv/run/data/postgres\n1796540000\n5432\n/tmp/ferrobill-ab12\n\n\
                    1234567\nready   \n";
        let data_dir = Path::new("/srv/run/data/postgres");
        let cluster = Cluster::from_pid_file(data_dir, text).expect("found");
        assert_eq!(cluster.socket_dir, PathBuf::from("/tmp/ferrobill-ab12"));
        assert_eq!(cluster.port, 5432);
        assert_eq!(cluster.data_dir, data_dir);
        assert!(Cluster::from_pid_file(data_dir, "4242\n/x\n1\n5432\n\n").is_none());
        assert!(Cluster::from_server_log("nothing").is_none());
    }
}
