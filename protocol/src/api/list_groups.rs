//! ListGroups (key 16, version 0): the consumer groups a coordinator holds.
//!
//! ```text
//! ListGroupsRequest
//!   states_filter      array of string   only groups in one of these states; empty: every group
//!
//! ListGroupsResponse
//!   groups             array of          in group id order
//!     group_id         string
//!     group_state      string            Empty, Reconciling or Stable
//!     member_count     u32
//! ```
//!
//! States: `Empty` (no members; committed offsets may remain), `Stable`
//! (every member owns exactly its target assignment at the group's
//! assignment epoch) and `Reconciling` (some member still has partitions to
//! give up or to receive). State names are compared exactly; clients must
//! accept states they do not know.

use crate::api::ApiRequest;
use crate::api_key::ApiKey;
use crate::reader::{Decode, DecodeError, Reader};
use crate::writer::{Encode, EncodeError, Writer};

/// Smallest encoded state name.
const MIN_STATE_BYTES: usize = 2;
/// Smallest encoded [`ListedGroup`].
const MIN_GROUP_BYTES: usize = 2 + 2 + 4;

/// List groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListGroupsRequest {
    /// Keep only groups in one of these states; empty keeps every group.
    pub states_filter: Vec<String>,
}

/// The groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListGroupsResponse {
    /// Every matching group, in group id order.
    pub groups: Vec<ListedGroup>,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListedGroup {
    /// The group id.
    pub group_id: String,
    /// Its state: `Empty`, `Reconciling` or `Stable`.
    pub group_state: String,
    /// How many members it has.
    pub member_count: u32,
}

impl ApiRequest for ListGroupsRequest {
    const KEY: ApiKey = ApiKey::ListGroups;
    const VERSION: u16 = 0;
    type Response = ListGroupsResponse;
}

impl Encode for ListGroupsRequest {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array(&self.states_filter, |w, s| w.string(s))
    }
}

impl Decode for ListGroupsRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ListGroupsRequest {
            states_filter: r.array("states_filter", MIN_STATE_BYTES, |r| r.string("state"))?,
        })
    }
}

impl Encode for ListGroupsResponse {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.array_of(&self.groups)
    }
}

impl Decode for ListGroupsResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ListGroupsResponse {
            groups: r.array_of("groups", MIN_GROUP_BYTES)?,
        })
    }
}

impl Encode for ListedGroup {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.string(&self.group_id)?;
        w.string(&self.group_state)?;
        w.u32(self.member_count);
        Ok(())
    }
}

impl Decode for ListedGroup {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ListedGroup {
            group_id: r.string("group_id")?,
            group_state: r.string("group_state")?,
            member_count: r.u32("member_count")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::testing::*;
    use proptest::prelude::*;

    pub(crate) fn arb_request() -> impl Strategy<Value = ListGroupsRequest> {
        arb_vec(arb_string()).prop_map(|states_filter| ListGroupsRequest { states_filter })
    }

    pub(crate) fn arb_response() -> impl Strategy<Value = ListGroupsResponse> {
        let group = (arb_string(), arb_string(), any::<u32>()).prop_map(
            |(group_id, group_state, member_count)| ListedGroup {
                group_id,
                group_state,
                member_count,
            },
        );
        arb_vec(group).prop_map(|groups| ListGroupsResponse { groups })
    }

    pub(crate) fn sample_request() -> ListGroupsRequest {
        ListGroupsRequest {
            states_filter: vec!["Stable".into()],
        }
    }

    pub(crate) fn sample_response() -> ListGroupsResponse {
        ListGroupsResponse {
            groups: vec![ListedGroup {
                group_id: "g".into(),
                group_state: "Stable".into(),
                member_count: 2,
            }],
        }
    }

    #[test]
    fn request_layout_matches_the_doc() {
        let bytes = round_trip(&sample_request());
        let mut expected = vec![0, 0, 0, 1, 0, 6];
        expected.extend_from_slice(b"Stable");
        assert_eq!(&bytes[..], &expected[..]);
        assert_eq!(
            &round_trip(&ListGroupsRequest::default())[..],
            &[0, 0, 0, 0]
        );
    }

    #[test]
    fn response_layout_matches_the_doc() {
        let bytes = round_trip(&sample_response());
        let mut expected = vec![0, 0, 0, 1, 0, 1, b'g', 0, 6];
        expected.extend_from_slice(b"Stable");
        expected.extend_from_slice(&[0, 0, 0, 2]);
        assert_eq!(&bytes[..], &expected[..]);
    }

    #[test]
    fn truncated_request_fails_at_every_length() {
        assert_truncations_fail(&sample_request());
    }

    #[test]
    fn truncated_response_fails_at_every_length() {
        assert_truncations_fail(&sample_response());
    }

    proptest! {
        #[test]
        fn request_round_trips(v in arb_request()) {
            round_trip(&v);
        }

        #[test]
        fn response_round_trips_any(v in arb_response()) {
            round_trip(&v);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in arb_input()) {
            decode_arbitrary::<ListGroupsRequest>(bytes.clone())?;
            decode_arbitrary::<ListGroupsResponse>(bytes)?;
        }

        #[test]
        fn corrupted_encodings_never_panic(req in arb_request(), resp in arb_response(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            decode_corrupted(&req, at, byte)?;
            decode_corrupted(&resp, at, byte)?;
        }
    }
}
