//! The settings one partition log obeys, derived from the topic config.

/// Settings of one partition log. The broker builds this from the topic's
/// configuration; the storage engine does not read config files itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll to a new segment before the active one would exceed this size
    /// (`segment.bytes`). At most `u32::MAX` because index positions are u32.
    pub segment_bytes: u64,
    /// Roll when the active segment is older than this (`segment.ms`).
    pub segment_ms: u64,
    /// Delete sealed segments whose newest record is older than this
    /// (`retention.ms`); `None` keeps them forever.
    pub retention_ms: Option<u64>,
    /// Delete the oldest sealed segments while the log is larger than this
    /// (`retention.bytes`); `None` means no size limit.
    pub retention_bytes: Option<u64>,
    /// Write an index entry every this many bytes of log (`index.interval.bytes`).
    pub index_interval_bytes: u32,
    /// Maximum size of each index file; the segment rolls when one fills
    /// (Kafka's `segment.index.bytes`).
    pub max_index_bytes: u32,
    /// Largest batch accepted (`max.message.bytes`).
    pub max_batch_bytes: u32,
    /// Grow the active `.log` file by this many bytes at a time, so appends
    /// rarely touch file metadata and a full disk fails the allocation rather
    /// than a write into the map.
    pub preallocate_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: Some(7 * 24 * 3600 * 1000),
            retention_bytes: None,
            index_interval_bytes: 4096,
            max_index_bytes: 10 << 20,
            max_batch_bytes: 1_048_588,
            preallocate_bytes: 16 << 20,
        }
    }
}
