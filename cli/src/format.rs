//! How `consume` prints a record: [`RecordFormat`] for `--format` (text),
//! [`record_json`] for `--output json`.
//!
//! # Text
//! `%t` topic, `%p` partition, `%o` offset, `%k` key, `%v` value, `%T`
//! timestamp (ms since the Unix epoch), `%h` headers as `k=v` joined by
//! `,`, `%%` a percent sign; `\n`, `\t` and `\\` are a newline, a tab and a
//! backslash. Keys, values and header values are written as their raw
//! bytes; a null key or value prints as nothing. A newline ends each
//! record. The default format is `%v`.
//!
//! # JSON
//! One object per line:
//! `{"topic":"t","partition":0,"offset":5,"timestamp":1700000000000,"key":"k","value":"v","headers":[{"key":"h","value":"x"}]}`.
//! A key, value or header value is a JSON string when its bytes are valid
//! UTF-8, `{"base64":"..."}` (standard alphabet, padded) when they are not,
//! and `null` when null.

use std::fmt;
use std::io::{self, Write};

use base64::Engine as _;
use bytes::Bytes;
use runnel_consumer::ConsumerRecord;
use serde_json::{Map, Value, json};

/// One piece of a `--format` string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text printed as is.
    Literal(String),
    /// `%t`.
    Topic,
    /// `%p`.
    Partition,
    /// `%o`.
    Offset,
    /// `%k`.
    Key,
    /// `%v`.
    Value,
    /// `%T`.
    Timestamp,
    /// `%h`.
    Headers,
}

/// A parsed `--format` string.
///
/// ```
/// use runnel_cli::format::RecordFormat;
///
/// let format = RecordFormat::parse("%p:%o\\t%k=%v").unwrap();
/// assert_eq!(format.to_string(), "%p:%o\\t%k=%v");
/// assert!(RecordFormat::parse("%x").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFormat {
    /// The pieces in order.
    pieces: Vec<Piece>,
}

impl Default for RecordFormat {
    fn default() -> Self {
        RecordFormat {
            pieces: vec![Piece::Value],
        }
    }
}

impl RecordFormat {
    /// Parses a format; an unknown `%` directive or `\` escape, or a lone
    /// `%` or `\` at the end, is an error naming it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let piece = match chars.next() {
                        Some('t') => Piece::Topic,
                        Some('p') => Piece::Partition,
                        Some('o') => Piece::Offset,
                        Some('k') => Piece::Key,
                        Some('v') => Piece::Value,
                        Some('T') => Piece::Timestamp,
                        Some('h') => Piece::Headers,
                        Some('%') => {
                            literal.push('%');
                            continue;
                        }
                        Some(other) => {
                            return Err(format!(
                                "unknown directive %{other} (use %t %p %o %k %v %T %h or %%)"
                            ));
                        }
                        None => return Err("the format ends with a lone %".to_owned()),
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                }
                '\\' => match chars.next() {
                    Some('n') => literal.push('\n'),
                    Some('t') => literal.push('\t'),
                    Some('\\') => literal.push('\\'),
                    Some(other) => {
                        return Err(format!("unknown escape \\{other} (use \\n, \\t or \\\\)"));
                    }
                    None => return Err("the format ends with a lone \\".to_owned()),
                },
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(RecordFormat { pieces })
    }

    /// Writes `record` in this format, then a newline.
    pub fn write(&self, record: &ConsumerRecord, out: &mut impl Write) -> io::Result<()> {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.write_all(text.as_bytes())?,
                Piece::Topic => out.write_all(record.topic.as_bytes())?,
                Piece::Partition => write!(out, "{}", record.partition)?,
                Piece::Offset => write!(out, "{}", record.offset)?,
                Piece::Key => out.write_all(record.key.as_deref().unwrap_or_default())?,
                Piece::Value => out.write_all(record.value.as_deref().unwrap_or_default())?,
                Piece::Timestamp => write!(out, "{}", record.timestamp)?,
                Piece::Headers => {
                    for (i, header) in record.headers.iter().enumerate() {
                        if i > 0 {
                            out.write_all(b",")?;
                        }
                        out.write_all(header.key.as_bytes())?;
                        out.write_all(b"=")?;
                        out.write_all(header.value.as_deref().unwrap_or_default())?;
                    }
                }
            }
        }
        out.write_all(b"\n")
    }
}

impl fmt::Display for RecordFormat {
    /// The format as it would be written on the command line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => {
                    for c in text.chars() {
                        match c {
                            '%' => f.write_str("%%")?,
                            '\n' => f.write_str("\\n")?,
                            '\t' => f.write_str("\\t")?,
                            '\\' => f.write_str("\\\\")?,
                            c => write!(f, "{c}")?,
                        }
                    }
                }
                Piece::Topic => f.write_str("%t")?,
                Piece::Partition => f.write_str("%p")?,
                Piece::Offset => f.write_str("%o")?,
                Piece::Key => f.write_str("%k")?,
                Piece::Value => f.write_str("%v")?,
                Piece::Timestamp => f.write_str("%T")?,
                Piece::Headers => f.write_str("%h")?,
            }
        }
        Ok(())
    }
}

/// A key, value or header value as JSON: a string when the bytes are
/// UTF-8, `{"base64": ...}` otherwise, `null` for null.
pub fn bytes_json(bytes: Option<&Bytes>) -> Value {
    match bytes {
        None => Value::Null,
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) }),
        },
    }
}

/// The record as one JSON object (see the module docs).
pub fn record_json(record: &ConsumerRecord) -> Value {
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|h| json!({ "key": h.key, "value": bytes_json(h.value.as_ref()) }))
        .collect();
    let mut object = Map::with_capacity(7);
    object.insert("topic".into(), Value::String(record.topic.to_string()));
    object.insert("partition".into(), json!(record.partition));
    object.insert("offset".into(), json!(record.offset));
    object.insert("timestamp".into(), json!(record.timestamp));
    object.insert("key".into(), bytes_json(record.key.as_ref()));
    object.insert("value".into(), bytes_json(record.value.as_ref()));
    object.insert("headers".into(), Value::Array(headers));
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_consumer::TimestampType;
    use runnel_protocol::record::{BatchBuilder, BatchOptions, NewRecord, RecordBatch};
    use std::sync::Arc;

    fn record(key: Option<&[u8]>, value: Option<&[u8]>) -> ConsumerRecord {
        let mut b = BatchBuilder::new(BatchOptions::default()).unwrap();
        b.append(&NewRecord {
            timestamp: 1_700_000_000_000,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: vec![
                ("a".into(), Some(Bytes::from_static(b"1"))),
                ("b".into(), None),
            ],
        })
        .unwrap();
        let batch = RecordBatch::new(b.build().unwrap()).unwrap();
        let r = batch.records().unwrap().next().unwrap().unwrap();
        ConsumerRecord {
            topic: Arc::from("orders"),
            partition: 2,
            offset: 41,
            timestamp: r.timestamp,
            timestamp_type: TimestampType::CreateTime,
            key: r.key,
            value: r.value,
            headers: r.headers,
        }
    }

    fn text(format: &str, record: &ConsumerRecord) -> String {
        let mut out = Vec::new();
        RecordFormat::parse(format)
            .unwrap()
            .write(record, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_directive_prints_its_field() {
        let r = record(Some(b"k"), Some(b"v"));
        assert_eq!(
            text("%t %p %o %k %v %T %h", &r),
            "orders 2 41 k v 1700000000000 a=1,b=\n"
        );
        assert_eq!(text("%k\\t%v\\n%%\\\\", &r), "k\tv\n%\\\n");
    }

    #[test]
    fn the_default_prints_the_value_and_nulls_print_as_nothing() {
        let mut out = Vec::new();
        RecordFormat::default()
            .write(&record(None, Some(b"hello")), &mut out)
            .unwrap();
        assert_eq!(out, b"hello\n");
        assert_eq!(text("[%k][%v]", &record(None, None)), "[][]\n");
    }

    #[test]
    fn bad_formats_name_the_problem() {
        assert_eq!(
            RecordFormat::parse("%z").unwrap_err(),
            "unknown directive %z (use %t %p %o %k %v %T %h or %%)"
        );
        assert!(RecordFormat::parse("abc%").is_err());
        assert!(RecordFormat::parse("\\q").is_err());
        assert!(RecordFormat::parse("abc\\").is_err());
    }

    #[test]
    fn formats_print_back_as_written() {
        for f in ["%t %p", "a%%b\\n", "%k\\t%v", ""] {
            assert_eq!(RecordFormat::parse(f).unwrap().to_string(), f);
        }
    }

    #[test]
    fn json_has_the_documented_fields() {
        let v = record_json(&record(Some(b"k"), Some(b"v")));
        assert_eq!(
            v,
            json!({
                "topic": "orders", "partition": 2, "offset": 41,
                "timestamp": 1_700_000_000_000_i64, "key": "k", "value": "v",
                "headers": [{"key": "a", "value": "1"}, {"key": "b", "value": null}]
            })
        );
    }

    #[test]
    fn json_marks_binary_as_base64_and_null_as_null() {
        let v = record_json(&record(None, Some(&[0xff, 0x00, 0x10])));
        assert_eq!(v["key"], Value::Null);
        assert_eq!(v["value"], json!({ "base64": "/wAQ" }));
    }
}
