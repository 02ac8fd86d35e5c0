//! Identifier newtypes that must not be mixed with other integers.

use std::fmt;

use crate::reader::{CodeKind, DecodeError, Reader};
use crate::writer::Writer;

/// A partition number within a topic: `u32` on the wire, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PartitionId(pub u32);

impl PartitionId {
    /// Reads a partition number.
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        r.u32("partition").map(PartitionId)
    }

    /// Writes a partition number.
    pub fn encode(self, w: &mut Writer) {
        w.u32(self.0);
    }
}

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u32> for PartitionId {
    fn from(v: u32) -> Self {
        PartitionId(v)
    }
}

/// A broker's node id: an `i32` on the wire that is never negative. Where a
/// node may be absent (a partition without a leader) the wire carries -1 and
/// the field is an `Option<NodeId>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(i32);

impl NodeId {
    /// A node id, if `id` is not negative.
    pub const fn new(id: i32) -> Option<Self> {
        if id >= 0 { Some(NodeId(id)) } else { None }
    }

    /// The number.
    pub const fn get(self) -> i32 {
        self.0
    }

    /// Reads a node id that must be present (not negative).
    pub fn decode(r: &mut Reader, what: &'static str) -> Result<Self, DecodeError> {
        let offset = r.position();
        let id = r.i32(what)?;
        NodeId::new(id).ok_or(DecodeError::UnknownCode {
            kind: CodeKind::NodeId,
            what,
            offset,
            code: i64::from(id),
        })
    }

    /// Reads an optional node id: -1 is `None`, other negatives are rejected.
    pub fn decode_optional(
        r: &mut Reader,
        what: &'static str,
    ) -> Result<Option<Self>, DecodeError> {
        let offset = r.position();
        match r.i32(what)? {
            -1 => Ok(None),
            id => NodeId::new(id).map(Some).ok_or(DecodeError::UnknownCode {
                kind: CodeKind::NodeId,
                what,
                offset,
                code: i64::from(id),
            }),
        }
    }

    /// Writes a node id.
    pub fn encode(self, w: &mut Writer) {
        w.i32(self.0);
    }

    /// Writes an optional node id, -1 for `None`.
    pub fn encode_optional(id: Option<Self>, w: &mut Writer) {
        w.i32(id.map_or(-1, NodeId::get));
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn node_ids_are_never_negative() {
        assert_eq!(NodeId::new(-1), None);
        assert_eq!(NodeId::new(0).map(NodeId::get), Some(0));
    }

    #[test]
    fn optional_node_id_uses_minus_one() {
        let mut w = Writer::new();
        NodeId::encode_optional(None, &mut w);
        NodeId::encode_optional(NodeId::new(7), &mut w);
        let mut r = Reader::new(w.finish().unwrap().to_bytes());
        assert_eq!(NodeId::decode_optional(&mut r, "leader").unwrap(), None);
        assert_eq!(
            NodeId::decode_optional(&mut r, "leader").unwrap(),
            NodeId::new(7)
        );
    }

    #[test]
    fn negative_node_ids_are_rejected() {
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]));
        assert!(NodeId::decode_optional(&mut r.clone(), "leader").is_err());
        assert!(matches!(
            NodeId::decode(&mut r, "node_id").unwrap_err(),
            DecodeError::UnknownCode {
                kind: CodeKind::NodeId,
                code: -2,
                ..
            }
        ));
    }
}
