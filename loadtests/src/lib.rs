//! ferrobill's load generator as a library: the command line (`cli`), the Kill Bill HTTP calls
//! (`client`), the server it may spawn (`server`), the closed-loop runner (`runner`), the
//! scenarios it drives (`scenario`, one file each) and the statistics it reports (`stats`).
//! The `ferrobill-load` binary only wires these together. `bus_bench` is the library-level
//! benchmark of ferrobill's persistent bus behind the `ferrobill-bus-bench` binary.

pub mod bus_bench;
pub mod cli;
pub mod client;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod stats;
