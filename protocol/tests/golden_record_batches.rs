//! Golden RecordBatch v2 vectors made by an independent encoder
//! (kafka-python's `DefaultRecordBatchBuilder`, see
//! `fixtures/gen_record_batches.py`). Each batch must decode to exactly the
//! records described in `fixtures/record_batches.json`, and our builder must
//! encode those records back to the same bytes.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use runnel_protocol::record::{
    ATTRIBUTES_POS, BatchBuilder, BatchHeader, BatchOptions, Batches, Compression, NewRecord,
    Record, RecordBatch, RecordError, TimestampType, validate_batch,
};
use serde::Deserialize;

/// `record_batches.json`.
#[derive(Debug, Deserialize)]
struct Manifest {
    /// The kafka-python release that produced the files.
    kafka_python_version: String,
    /// One entry per `.bin` file.
    batches: Vec<BatchCase>,
}

/// Expected header fields and records of one fixture.
#[derive(Debug, Deserialize)]
struct BatchCase {
    name: String,
    file: String,
    size: usize,
    base_offset: i64,
    partition_leader_epoch: i32,
    crc: u32,
    attributes: i16,
    compression: String,
    transactional: bool,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: i32,
    records: Vec<RecordCase>,
}

/// One expected record; byte strings are hex, `null` for null.
#[derive(Debug, Deserialize)]
struct RecordCase {
    offset: i64,
    timestamp: i64,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, Option<String>)>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(fixtures_dir().join("record_batches.json"))
        .expect("fixtures/record_batches.json is checked in");
    serde_json::from_str(&text).expect("record_batches.json parses")
}

fn load(case: &BatchCase) -> Bytes {
    let path = fixtures_dir().join(&case.file);
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn unhex(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd-length hex {hex:?}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn bytes_of(hex: Option<&String>) -> Option<Bytes> {
    hex.map(|h| Bytes::from(unhex(h)))
}

fn is_compressed(case: &BatchCase) -> bool {
    case.compression != "none"
}

fn check_header(case: &BatchCase, header: &BatchHeader) {
    let name = &case.name;
    assert_eq!(header.base_offset, case.base_offset, "{name}: base_offset");
    assert_eq!(
        header.partition_leader_epoch, case.partition_leader_epoch,
        "{name}: partition_leader_epoch"
    );
    assert_eq!(header.crc, case.crc, "{name}: crc");
    assert_eq!(header.attributes, case.attributes, "{name}: attributes");
    assert_eq!(
        header.compression().map(Compression::name),
        Ok(case.compression.as_str()),
        "{name}: compression"
    );
    assert_eq!(
        header.is_transactional(),
        case.transactional,
        "{name}: transactional"
    );
    assert!(!header.is_control(), "{name}: control");
    assert_eq!(header.timestamp_type(), TimestampType::CreateTime);
    assert_eq!(
        header.last_offset_delta, case.last_offset_delta,
        "{name}: last_offset_delta"
    );
    assert_eq!(
        header.base_timestamp, case.base_timestamp,
        "{name}: base_timestamp"
    );
    assert_eq!(
        header.max_timestamp, case.max_timestamp,
        "{name}: max_timestamp"
    );
    assert_eq!(header.producer_id, case.producer_id, "{name}: producer_id");
    assert_eq!(
        header.producer_epoch, case.producer_epoch,
        "{name}: producer_epoch"
    );
    assert_eq!(
        header.base_sequence, case.base_sequence,
        "{name}: base_sequence"
    );
    assert_eq!(
        header.record_count, case.record_count,
        "{name}: record_count"
    );
    assert_eq!(header.total_len(), case.size, "{name}: size");
}

fn check_record(case: &BatchCase, index: usize, got: &Record, want: &RecordCase) {
    let name = &case.name;
    assert_eq!(got.offset, want.offset, "{name}[{index}]: offset");
    assert_eq!(
        got.offset_delta,
        i32::try_from(index).unwrap(),
        "{name}[{index}]: offset_delta"
    );
    assert_eq!(got.timestamp, want.timestamp, "{name}[{index}]: timestamp");
    assert_eq!(
        got.timestamp_delta,
        want.timestamp - case.base_timestamp,
        "{name}[{index}]: timestamp_delta"
    );
    assert_eq!(got.attributes, 0, "{name}[{index}]: attributes");
    assert_eq!(got.key, bytes_of(want.key.as_ref()), "{name}[{index}]: key");
    assert_eq!(
        got.value,
        bytes_of(want.value.as_ref()),
        "{name}[{index}]: value"
    );
    let headers: Vec<(String, Option<Bytes>)> = got
        .headers
        .iter()
        .map(|h| (h.key.to_owned(), h.value))
        .collect();
    let expected: Vec<(String, Option<Bytes>)> = want
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), bytes_of(v.as_ref())))
        .collect();
    assert_eq!(headers, expected, "{name}[{index}]: headers");
}

#[test]
fn manifest_lists_every_fixture_file() {
    let manifest = manifest();
    assert!(!manifest.kafka_python_version.is_empty());
    let mut listed: Vec<&str> = manifest.batches.iter().map(|b| b.file.as_str()).collect();
    listed.sort_unstable();
    let mut present: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "bin"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    present.sort_unstable();
    assert_eq!(listed, present);
    assert!(manifest.batches.len() >= 10);
    for case in &manifest.batches {
        assert_eq!(load(case).len(), case.size, "{}", case.name);
    }
}

#[test]
fn every_fixture_passes_full_validation() {
    for case in &manifest().batches {
        let bytes = load(case);
        let header = validate_batch(&bytes).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        check_header(case, &header);
    }
}

#[test]
fn uncompressed_fixtures_decode_to_the_described_records() {
    let manifest = manifest();
    let cases: Vec<&BatchCase> = manifest
        .batches
        .iter()
        .filter(|c| !is_compressed(c))
        .collect();
    assert!(cases.len() >= 9);
    for case in cases {
        let batch = RecordBatch::new(load(case)).unwrap();
        check_header(case, batch.header());
        let records: Vec<Record> = batch
            .records()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(records.len(), case.records.len(), "{}", case.name);
        for (index, (got, want)) in records.iter().zip(&case.records).enumerate() {
            check_record(case, index, got, want);
        }
    }
}

#[test]
fn builder_reencodes_uncompressed_fixtures_byte_for_byte() {
    for case in manifest().batches.iter().filter(|c| !is_compressed(c)) {
        let options = BatchOptions {
            base_offset: case.base_offset,
            partition_leader_epoch: case.partition_leader_epoch,
            producer_id: case.producer_id,
            producer_epoch: case.producer_epoch,
            base_sequence: case.base_sequence,
            transactional: case.transactional,
            ..BatchOptions::default()
        };
        let mut builder = BatchBuilder::new(options).unwrap();
        for record in &case.records {
            builder
                .append(&NewRecord {
                    timestamp: record.timestamp,
                    key: bytes_of(record.key.as_ref()),
                    value: bytes_of(record.value.as_ref()),
                    headers: record
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), bytes_of(v.as_ref())))
                        .collect(),
                })
                .unwrap();
        }
        assert_eq!(builder.estimated_size(), case.size, "{}", case.name);
        let built = builder.build().unwrap();
        assert_eq!(built, load(case), "{}: re-encoded bytes differ", case.name);
    }
}

#[test]
fn compressed_fixture_decodes_to_the_described_records() {
    let manifest = manifest();
    let case = manifest
        .batches
        .iter()
        .find(|c| c.compression == "gzip")
        .expect("a gzip fixture");
    let batch = RecordBatch::new(load(case)).unwrap();
    check_header(case, batch.header());
    assert_eq!(batch.compression(), Ok(Compression::Gzip));
    assert_eq!(batch.validate(), Ok(()));
    let records: Vec<Record> = batch
        .records()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    assert_eq!(records.len(), case.records.len());
    for (index, (got, want)) in records.iter().zip(&case.records).enumerate() {
        check_record(case, index, got, want);
    }
}

#[test]
fn fixtures_back_to_back_split_into_batches_and_stop_at_a_cut() {
    let manifest = manifest();
    let all: Vec<Bytes> = manifest.batches.iter().map(load).collect();
    let stream = Bytes::from(all.concat());
    let split: Vec<RecordBatch> = Batches::new(stream.clone())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        split.iter().map(RecordBatch::as_bytes).collect::<Vec<_>>(),
        all.iter().collect::<Vec<_>>()
    );

    // A fetch cut inside the last batch yields the others, then a partial tail.
    let cut = stream.len() - 5;
    let mut batches = Batches::new(stream.slice(..cut));
    assert_eq!(batches.by_ref().count(), all.len() - 1);
    let partial = batches.partial_tail().unwrap();
    assert_eq!(partial.declared, Some(all[all.len() - 1].len()));
    assert_eq!(partial.position + partial.available, cut);
}

#[test]
fn flipping_any_crc_covered_byte_of_a_fixture_is_detected() {
    for case in manifest().batches.iter().filter(|c| c.size < 200) {
        let bytes = load(case);
        for position in ATTRIBUTES_POS..bytes.len() {
            let mut corrupt = bytes.to_vec();
            corrupt[position] ^= 0x20;
            assert!(
                matches!(validate_batch(&corrupt), Err(RecordError::BadCrc { .. })),
                "{}: flip at {position} went unnoticed",
                case.name
            );
        }
    }
}
