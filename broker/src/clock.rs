//! Wall-clock time in Kafka's unit. Storage and group logic take `now_ms`
//! as an argument, so tests drive time explicitly; only the server reads
//! the clock, here.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
