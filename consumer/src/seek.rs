//! [`SeekTo`]: where [`crate::Consumer::seek`] moves a partition's position.

use runnel_protocol::api::list_offsets::OffsetSpec;

/// A position to move a partition to.
///
/// ```no_run
/// # async fn run(consumer: &mut runnel_consumer::Consumer) -> Result<(), runnel_consumer::ConsumerError> {
/// use runnel_consumer::SeekTo;
///
/// consumer.seek("orders", 0, SeekTo::Offset(42)).await?;
/// consumer.seek("orders", 1, SeekTo::Earliest).await?;
/// consumer.seek("orders", 2, SeekTo::Timestamp(1_700_000_000_000)).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeekTo {
    /// This offset. An offset the partition does not hold is handled on
    /// the next fetch by `auto.offset.reset`.
    Offset(i64),
    /// The oldest record still held (the log start offset).
    Earliest,
    /// After the last readable record (the high watermark): only records
    /// written from now on.
    Latest,
    /// The first record whose timestamp is at or after this time (ms since
    /// the Unix epoch); [`SeekTo::Latest`] when there is none.
    Timestamp(i64),
}

impl SeekTo {
    /// The ListOffsets lookup that resolves this position; `None` for an
    /// explicit offset, which needs none.
    pub(crate) fn lookup(self) -> Option<OffsetSpec> {
        match self {
            SeekTo::Offset(_) => None,
            SeekTo::Earliest => Some(OffsetSpec::Earliest),
            SeekTo::Latest => Some(OffsetSpec::Latest),
            SeekTo::Timestamp(ms) => Some(OffsetSpec::Timestamp(ms.max(0))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_symbolic_positions_need_a_lookup() {
        assert_eq!(SeekTo::Offset(5).lookup(), None);
        assert_eq!(SeekTo::Earliest.lookup(), Some(OffsetSpec::Earliest));
        assert_eq!(SeekTo::Latest.lookup(), Some(OffsetSpec::Latest));
        assert_eq!(
            SeekTo::Timestamp(-3).lookup(),
            Some(OffsetSpec::Timestamp(0))
        );
    }
}
