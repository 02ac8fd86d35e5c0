//! Frame splitting and request decoding on arbitrary bytes: never panics,
//! and every request that decodes re-encodes to a frame that decodes to
//! the same request.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use runnel_protocol::{FrameCodec, decode_request_frame};
use tokio_util::codec::Decoder as _;

/// Small enough that the fuzzer reaches the limit.
const MAX_FRAME: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut codec = FrameCodec::new(MAX_FRAME);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        check_frame(frame);
    }
    // The whole input as one frame body, too: most inputs have no valid
    // length prefix.
    check_frame(Bytes::copy_from_slice(data));
});

fn check_frame(frame: Bytes) {
    let Ok(incoming) = decode_request_frame(frame) else {
        return;
    };
    let Ok(request) = incoming.request else {
        return;
    };
    let header = incoming.header;
    let encoded = request
        .encode_frame(header.correlation_id, &header.client_id)
        .expect("a decoded request re-encodes");
    let bytes = encoded.to_bytes();
    let mut codec = FrameCodec::new(usize::MAX);
    let mut buf = BytesMut::from(&bytes[..]);
    let body = codec
        .decode(&mut buf)
        .expect("re-encoded frame has a valid prefix")
        .expect("re-encoded frame is complete");
    assert!(buf.is_empty(), "re-encoded frame has trailing bytes");
    let again = decode_request_frame(body).expect("re-encoded header decodes");
    assert_eq!(again.header.correlation_id, header.correlation_id);
    assert_eq!(again.header.api_key, header.api_key);
    assert_eq!(again.header.api_version, header.api_version);
    assert_eq!(again.header.client_id, header.client_id);
    assert_eq!(
        again.request.as_ref(),
        Ok(&request),
        "round trip changed the request"
    );
}
