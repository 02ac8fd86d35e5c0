//! Runnel's bytes on the wire and on disk.
//!
//! This crate is sans-IO: it turns bytes into typed values and back, and
//! never touches a socket or a file.
//!
//! # Layout
//! - [`frame`]: the `u32`-length framing, [`FrameCodec`] (tokio-util
//!   `Decoder`/`Encoder` with a maximum frame size) and [`FrameOut`], an
//!   outgoing frame as a scatter list of chunks for vectored writes.
//! - [`header`]: [`RequestHeader`] and [`ResponseHeader`].
//! - [`api_key`]: [`ApiKey`], the stable numbers naming each API.
//! - [`api`]: one module per API with its request and response types.
//! - [`request`] / [`response`]: the [`Request`] and [`Response`] enums over
//!   every served API, with dispatch by key and version.
//! - [`error_code`]: [`ErrorCode`], the wire error codes.
//! - [`reader`] / [`writer`]: checked reads and writes of the wire
//!   primitives; [`ids`]: identifier newtypes.
//! - [`record`]: Apache Kafka's RecordBatch v2 (magic 2), the unit that is
//!   produced, stored and fetched unchanged.
//!
//! `PROTOCOL.md` next to this crate is the byte-level specification.

pub mod api;
pub mod api_key;
pub mod error_code;
pub mod frame;
pub mod header;
pub mod ids;
pub mod reader;
pub mod record;
pub mod request;
pub mod response;
pub mod writer;

pub use api::ApiRequest;
pub use api_key::ApiKey;
pub use error_code::ErrorCode;
pub use frame::{DEFAULT_MAX_FRAME_BYTES, FrameCodec, FrameError, FrameOut};
pub use header::{HeaderError, RequestHeader, ResponseHeader};
pub use ids::{NodeId, PartitionId};
pub use reader::{CodeKind, Decode, DecodeError, Reader};
pub use request::{
    IncomingRequest, MessageError, Request, decode_request, decode_request_frame, encode_request,
};
pub use response::{Response, decode_response, decode_response_as, encode_response};
pub use writer::{Encode, EncodeError, Writer};
