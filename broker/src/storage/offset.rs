//! Newtypes for positions in a log, so offsets, relative offsets and file
//! positions cannot be mixed up.

use std::fmt;

/// An absolute record offset within a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Offset(pub u64);

impl Offset {
    /// The offset `n` records after this one.
    #[must_use]
    pub fn plus(self, n: u64) -> Offset {
        Offset(self.0 + n)
    }

    /// This offset relative to a segment's base offset, if it fits in a `u32`.
    pub fn relative_to(self, base: Offset) -> Option<RelativeOffset> {
        self.0
            .checked_sub(base.0)
            .and_then(|d| u32::try_from(d).ok())
            .map(RelativeOffset)
    }

    /// The wire form (Kafka offsets are signed 64-bit).
    pub fn as_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// From the wire form; negative values have no offset.
    pub fn from_i64(v: i64) -> Option<Offset> {
        u64::try_from(v).ok().map(Offset)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An offset relative to the base offset of its segment, as stored in the
/// indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RelativeOffset(pub u32);

impl RelativeOffset {
    /// The absolute offset within a segment whose base is `base`.
    pub fn absolute(self, base: Offset) -> Offset {
        base.plus(u64::from(self.0))
    }
}

/// A byte position within a segment's `.log` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FilePosition(pub u32);

impl FilePosition {
    /// The position as a file offset.
    pub fn as_u64(self) -> u64 {
        u64::from(self.0)
    }

    /// The position as an index into a slice.
    pub fn as_usize(self) -> usize {
        self.0 as usize
    }
}

/// A timestamp in milliseconds since the Unix epoch (Kafka's unit).
pub type TimestampMs = i64;
