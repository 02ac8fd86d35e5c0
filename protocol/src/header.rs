//! Request and response headers: the start of every frame body.
//!
//! ```text
//! request header
//!   api_key         u16     which API (see ApiKey)
//!   api_version     u16     version of that API's request and response layout
//!   correlation_id  u32     chosen by the client, echoed in the response
//!   client_id       string  free-form name of the client, for logs and metrics
//!
//! response header
//!   correlation_id  u32     the correlation id of the request answered
//! ```
//!
//! The request header keeps the API key as a raw number: a key this build
//! does not know still decodes, so the broker can answer it with an error
//! response instead of dropping the connection.

use bytes::Bytes;

use crate::api::error_response::ErrorResponse;
use crate::api_key::ApiKey;
use crate::error_code::ErrorCode;
use crate::reader::{Decode, DecodeError, Reader};
use crate::response::Response;
use crate::writer::{Encode, EncodeError, Writer};

/// Smallest request header: four fixed fields and an empty client id.
pub const MIN_REQUEST_HEADER_LEN: usize = 2 + 2 + 4 + 2;
/// Length of the response header.
pub const RESPONSE_HEADER_LEN: usize = 4;

/// The header in front of every request body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHeader {
    /// The API, as a raw number so that unknown keys still decode.
    pub api_key: u16,
    /// The version of the API's layout the body uses.
    pub api_version: u16,
    /// Matches the response to the request; the broker echoes it.
    pub correlation_id: u32,
    /// Who is calling, for logs and metrics.
    pub client_id: String,
}

impl RequestHeader {
    /// The API key, if this build knows the number.
    pub fn api(&self) -> Option<ApiKey> {
        ApiKey::from_code(self.api_key)
    }

    /// Splits a request frame body into its header and the rest (the request
    /// body, zero-copy).
    pub fn split(frame: Bytes) -> Result<(Self, Bytes), HeaderError> {
        let mut r = Reader::new(frame);
        let header = Self::decode_partial(&mut r)?;
        Ok((header, r.into_rest()))
    }

    fn decode_partial(r: &mut Reader) -> Result<Self, HeaderError> {
        let fixed = (|| {
            Ok::<_, DecodeError>((
                r.u16("api_key")?,
                r.u16("api_version")?,
                r.u32("correlation_id")?,
            ))
        })();
        let (api_key, api_version, correlation_id) = fixed.map_err(|source| HeaderError {
            correlation_id: None,
            source,
        })?;
        let client_id = r.string("client_id").map_err(|source| HeaderError {
            correlation_id: Some(correlation_id),
            source,
        })?;
        Ok(RequestHeader {
            api_key,
            api_version,
            correlation_id,
            client_id,
        })
    }
}

/// A request header that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed request header")]
pub struct HeaderError {
    /// The correlation id, when the header got that far; the broker can then
    /// answer with an error response before closing the connection.
    pub correlation_id: Option<u32>,
    /// What was wrong.
    #[source]
    pub source: DecodeError,
}

impl HeaderError {
    /// The error response to send before closing the connection, if the
    /// correlation id was read: `INVALID_REQUEST` with the cause.
    pub fn to_response(&self) -> Option<(u32, Response)> {
        let correlation_id = self.correlation_id?;
        let message = format!("{self}: {}", self.source);
        Some((
            correlation_id,
            Response::Error(ErrorResponse::new(ErrorCode::InvalidRequest, message)),
        ))
    }
}

impl Decode for RequestHeader {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Self::decode_partial(r).map_err(|e| e.source)
    }
}

impl Encode for RequestHeader {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u16(self.api_key);
        w.u16(self.api_version);
        w.u32(self.correlation_id);
        w.string(&self.client_id)
    }
}

/// The header in front of every response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseHeader {
    /// The correlation id of the request this answers.
    pub correlation_id: u32,
}

impl ResponseHeader {
    /// Splits a response frame body into its header and the rest.
    pub fn split(frame: Bytes) -> Result<(Self, Bytes), DecodeError> {
        let mut r = Reader::new(frame);
        let header = Self::decode(&mut r)?;
        Ok((header, r.into_rest()))
    }
}

impl Decode for ResponseHeader {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ResponseHeader {
            correlation_id: r.u32("correlation_id")?,
        })
    }
}

impl Encode for ResponseHeader {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u32(self.correlation_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> RequestHeader {
        RequestHeader {
            api_key: 3,
            api_version: 0,
            correlation_id: 0x0102_0304,
            client_id: "cli".into(),
        }
    }

    #[test]
    fn request_header_layout() {
        let bytes = header().encode_body().unwrap();
        assert_eq!(
            &bytes[..],
            &[0, 3, 0, 0, 1, 2, 3, 4, 0, 3, b'c', b'l', b'i']
        );
        assert_eq!(bytes.len(), MIN_REQUEST_HEADER_LEN + 3);
    }

    #[test]
    fn split_returns_header_and_body() {
        let mut w = Writer::new();
        header().encode(&mut w).unwrap();
        w.u32(99);
        let (h, body) = RequestHeader::split(w.finish().unwrap().to_bytes()).unwrap();
        assert_eq!(h, header());
        assert_eq!(h.api(), Some(ApiKey::Metadata));
        assert_eq!(&body[..], &[0, 0, 0, 99]);
    }

    #[test]
    fn unknown_api_key_still_decodes() {
        let mut h = header();
        h.api_key = 999;
        let (back, _) = RequestHeader::split(h.encode_body().unwrap()).unwrap();
        assert_eq!(back.api(), None);
        assert_eq!(back.api_key, 999);
    }

    #[test]
    fn truncated_header_fails_at_every_length() {
        let bytes = header().encode_body().unwrap();
        for len in 0..bytes.len() {
            let err = RequestHeader::split(bytes.slice(..len)).unwrap_err();
            // The correlation id is known once the fixed fields are in.
            assert_eq!(err.correlation_id.is_some(), len >= 8, "len {len}");
        }
    }

    #[test]
    fn bad_client_id_keeps_the_correlation_id() {
        let bytes = Bytes::from_static(&[0, 3, 0, 0, 0, 0, 0, 9, 0, 1, 0xff]);
        let err = RequestHeader::split(bytes).unwrap_err();
        assert_eq!(err.correlation_id, Some(9));
        assert!(matches!(err.source, DecodeError::InvalidUtf8 { .. }));
        let (correlation_id, response) = err.to_response().unwrap();
        assert_eq!(correlation_id, 9);
        let Response::Error(e) = response else {
            panic!("not an error response");
        };
        assert_eq!(e.error_code, ErrorCode::InvalidRequest);
        assert!(e.error_message.contains("client_id"), "{}", e.error_message);
    }

    #[test]
    fn header_without_correlation_id_gets_no_response() {
        let err = RequestHeader::split(Bytes::from_static(&[0, 3, 0])).unwrap_err();
        assert_eq!(err.to_response(), None);
    }

    #[test]
    fn response_header_round_trips() {
        let h = ResponseHeader { correlation_id: 77 };
        let (back, rest) = ResponseHeader::split(h.encode_body().unwrap()).unwrap();
        assert_eq!(back, h);
        assert!(rest.is_empty());
        assert!(ResponseHeader::split(Bytes::from_static(&[0, 0, 1])).is_err());
    }

    proptest! {
        #[test]
        fn request_header_round_trips(api_key in any::<u16>(), api_version in any::<u16>(), correlation_id in any::<u32>(), client_id in ".{0,30}") {
            let h = RequestHeader { api_key, api_version, correlation_id, client_id };
            prop_assert_eq!(RequestHeader::decode_body(h.encode_body().unwrap()).unwrap(), h);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = RequestHeader::split(Bytes::from(bytes.clone()));
            let _ = ResponseHeader::split(Bytes::from(bytes));
        }
    }
}
