//! ferrobill's load suite as a library: the command line (`cli`), the Kill Bill HTTP calls
//! (`client`), the server it may spawn (`server`) and its embedded PostgreSQL (`cluster`),
//! the server settings a run sweeps (`sweep`), the load models (`runner`), the scenarios
//! (`scenario`, one file each), the statistics (`stats`), one run from plan to files (`suite`)
//! with its charts (`chart`) and HTML report (`html_report`), what the server's own samples
//! say (`server_samples`), what a step cost PostgreSQL and the server (`costs`), the machine
//! and process figures (`machine`), the slow push-notification receiver (`callback`) and the
//! pgbench limit (`sql_limit`); `diff` is the differential test against a real Kill Bill
//! behind the `ferrobill-diff` binary. The `ferrobill-load` binary only wires these together.
//! `bus_bench` is the library-level benchmark of ferrobill's persistent bus behind the
//! `ferrobill-bus-bench` binary.

pub mod bus_bench;
pub mod callback;
pub mod chart;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod costs;
pub mod diff;
pub mod html_report;
pub mod machine;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod server_samples;
pub mod sql_limit;
pub mod stats;
pub mod suite;
pub mod sweep;
