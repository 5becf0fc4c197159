//! The `overload` scenario, seed 003's question: what happens past saturation. Account
//! creations arrive at a fixed rate (`--rate`, open loop) well above what the server can
//! serve; a server that sheds load answers the excess with fast 503s (admission control,
//! `ferrobill.server.maxInFlight` and `maxWaiting`) instead of timeouts and connection resets.
//! The report counts 2xx, 429/503 rejections, timeouts and resets apart.

pub use super::accounts::{iteration, SAMPLERS};
