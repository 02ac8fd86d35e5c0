//! Partition choice, as Apache Kafka's default partitioner makes it.
//!
//! - A record with an explicit partition goes there.
//! - A keyed record goes to `toPositive(murmur2(key)) % partitions`
//!   ([`partition_for_key`]), byte for byte Kafka's choice, so keys land on
//!   the same partitions as with Kafka's clients. An empty key is a key.
//! - A keyless record goes to the topic's *sticky* partition, which changes
//!   (to another partition, at random) once a batch there has filled or been
//!   sent: batches fill faster than with round-robin, and load still spreads
//!   ([`StickyPartitions`], Kafka's KIP-480).

use std::sync::Arc;

use rand::Rng;

/// Kafka's `Utils.murmur2`: MurmurHash2, 32-bit, seed `0x9747b28c`, over
/// little-endian 4-byte words.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Kafka hashes with the length as a Java int; keys beyond i32::MAX bytes
    // cannot occur in a record.
    let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut h = SEED ^ length;
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes(word.try_into().unwrap_or_default());
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h.cast_signed()
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which
/// overflows at `i32::MIN`).
pub fn to_positive(n: i32) -> u32 {
    (n & 0x7fff_ffff).cast_unsigned()
}

/// The partition Kafka's default partitioner gives a keyed record:
/// `toPositive(murmur2(key)) % partitions`. `partitions` must not be 0.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    to_positive(murmur2(key)) % partitions.max(1)
}

/// Each topic's sticky partition for keyless records.
#[derive(Debug, Default)]
pub struct StickyPartitions {
    /// Topic → its current sticky partition (looked up per keyless record).
    topics: foldhash::HashMap<Arc<str>, u32>,
}

impl StickyPartitions {
    /// The topic's sticky partition, choosing one at random the first time.
    pub fn current(&mut self, topic: &Arc<str>, partitions: u32) -> u32 {
        let partition = *self
            .topics
            .entry(Arc::clone(topic))
            .or_insert_with(|| random_partition(partitions));
        if partition < partitions {
            partition
        } else {
            // The partition count changed under us.
            self.next(topic, partitions, partition)
        }
    }

    /// Moves the topic on from `previous` (whose batch filled or was sent)
    /// to another partition, at random; returns the new one. With one
    /// partition, stays.
    pub fn next(&mut self, topic: &Arc<str>, partitions: u32, previous: u32) -> u32 {
        let next = if partitions <= 1 {
            0
        } else {
            // Any partition but `previous`, uniformly.
            let pick = rand::rng().random_range(0..partitions - 1);
            if pick >= previous { pick + 1 } else { pick }
        };
        self.topics.insert(Arc::clone(topic), next);
        next
    }
}

fn random_partition(partitions: u32) -> u32 {
    if partitions <= 1 {
        0
    } else {
        rand::rng().random_range(0..partitions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn murmur2_matches_kafka_utils_test_vectors() {
        // Apache Kafka, clients/src/test/.../common/utils/UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, hash) in cases {
            assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn murmur2_matches_librdkafka_java_compatible_vectors() {
        // librdkafka's rdmurmur2.c unit test, which checks against Java.
        let cases: [(&[u8], u32); 11] = [
            (b"kafka", 0xd067_cf64),
            (b"giberish123456789", 0x8f55_2b0c),
            (b"1234", 0x9fc9_7b14),
            (b"234", 0xe7c0_09ca),
            (b"34", 0x8739_30da),
            (b"4", 0x5a4b_5ca1),
            (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x7842_4f1c),
            (b"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62_b377),
            (b"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4_e09e),
            (b"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8_b43f),
            (b"", 0x106e_08d9),
        ];
        for (key, hash) in cases {
            assert_eq!(
                murmur2(key).cast_unsigned(),
                hash,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn keyed_partition_is_the_positive_hash_modulo_the_count() {
        // "21" hashes to -973932308 = 0xc5f3_a7ec; toPositive keeps the low
        // 31 bits: 0x45f3_a7ec = 1173551340.
        assert_eq!(to_positive(-973_932_308), 1_173_551_340);
        assert_eq!(partition_for_key(b"21", 10), 1_173_551_340 % 10);
        assert_eq!(partition_for_key(b"abc", 3), 479_470_107 % 3);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), 0x7fff_ffff);
        // Kafka's DefaultPartitionerTest uses key "test" on 3 partitions.
        assert_eq!(
            partition_for_key(b"test", 3),
            to_positive(murmur2(b"test")) % 3
        );
    }

    #[test]
    fn sticky_partition_holds_then_moves_elsewhere() {
        let mut sticky = StickyPartitions::default();
        let topic: Arc<str> = Arc::from("t");
        let first = sticky.current(&topic, 4);
        assert!(first < 4);
        assert_eq!(sticky.current(&topic, 4), first);
        for _ in 0..50 {
            let previous = sticky.current(&topic, 4);
            let next = sticky.next(&topic, 4, previous);
            assert_ne!(next, previous);
            assert!(next < 4);
            assert_eq!(sticky.current(&topic, 4), next);
        }
        assert_eq!(sticky.next(&topic, 1, 0), 0);
        // A shrunken partition count re-picks within range.
        assert!(sticky.current(&topic, 1) < 1);
    }

    proptest! {
        #[test]
        fn keyed_partitions_are_stable_and_in_range(key in proptest::collection::vec(any::<u8>(), 0..64), partitions in 1u32..1000) {
            let p = partition_for_key(&key, partitions);
            prop_assert!(p < partitions);
            prop_assert_eq!(p, partition_for_key(&key, partitions));
        }
    }
}
