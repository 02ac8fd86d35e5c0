//! Writes scrape-time families in the Prometheus text exposition format
//! (version 0.0.4): a `# HELP` and a `# TYPE` line, then one line per
//! sample, label values escaped. A family with no sample is left out
//! entirely.

use std::fmt::Write as _;

use super::names::Family;

/// A sample value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Written as an integer.
    Int(u64),
    /// Written as a float (`NaN`, `+Inf`, `-Inf` spelled as Prometheus wants).
    Float(f64),
}

/// Appends families to a text exposition.
#[derive(Debug)]
pub struct TextWriter<'a> {
    /// Where the text goes.
    out: &'a mut String,
    /// The family whose header was written last, so each gets one header.
    current: Option<&'static str>,
}

impl<'a> TextWriter<'a> {
    /// Appends to `out`.
    pub fn new(out: &'a mut String) -> Self {
        TextWriter { out, current: None }
    }

    /// Writes one sample of `family`, with its header first if this is the
    /// family's first sample. Samples of a family must be written together.
    /// `labels` are (name, value) pairs: the family's labels, or fewer when
    /// the sample aggregates over one (per topic instead of per partition).
    pub fn sample(&mut self, family: &'static Family, labels: &[(&str, &str)], value: Value) {
        if self.current != Some(family.name) {
            if self.current.is_some() {
                self.out.push('\n');
            }
            self.current = Some(family.name);
            let _ = writeln!(
                self.out,
                "# HELP {} {}",
                family.name,
                escape_help(family.help)
            );
            let _ = writeln!(self.out, "# TYPE {} {}", family.name, family.kind.as_str());
        }
        self.out.push_str(family.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(name);
                self.out.push_str("=\"");
                escape_label_value(self.out, value);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        match value {
            Value::Int(v) => {
                let _ = write!(self.out, "{v}");
            }
            Value::Float(v) if v.is_nan() => self.out.push_str("NaN"),
            Value::Float(v) if v.is_infinite() => {
                self.out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
            }
            Value::Float(v) => {
                let _ = write!(self.out, "{v}");
            }
        }
        self.out.push('\n');
    }

    /// Ends the last family.
    pub fn finish(self) {
        if self.current.is_some() {
            self.out.push('\n');
        }
    }
}

/// Help text may not contain raw newlines or backslashes.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::names::{Kind, Source};

    static PLAIN: Family = Family {
        name: "runnel_test_things",
        kind: Kind::Gauge,
        labels: &[],
        source: Source::Scrape,
        help: "Things.",
    };
    static LABELLED: Family = Family {
        name: "runnel_test_total",
        kind: Kind::Counter,
        labels: &["topic", "partition"],
        source: Source::Scrape,
        help: "Back\\slash\nnewline.",
    };

    #[test]
    fn writes_one_header_per_family_and_escapes_labels() {
        let mut out = String::new();
        let mut w = TextWriter::new(&mut out);
        w.sample(&PLAIN, &[], Value::Int(3));
        w.sample(
            &LABELLED,
            &[("topic", "a\"b\\c\nd"), ("partition", "0")],
            Value::Int(1),
        );
        w.sample(
            &LABELLED,
            &[("topic", "t"), ("partition", "1")],
            Value::Float(0.25),
        );
        w.finish();
        assert_eq!(
            out,
            "# HELP runnel_test_things Things.\n\
             # TYPE runnel_test_things gauge\n\
             runnel_test_things 3\n\
             \n\
             # HELP runnel_test_total Back\\\\slash\\nnewline.\n\
             # TYPE runnel_test_total counter\n\
             runnel_test_total{topic=\"a\\\"b\\\\c\\nd\",partition=\"0\"} 1\n\
             runnel_test_total{topic=\"t\",partition=\"1\"} 0.25\n\
             \n"
        );
    }

    #[test]
    fn special_floats_use_the_prometheus_spelling() {
        let mut out = String::new();
        let mut w = TextWriter::new(&mut out);
        w.sample(&PLAIN, &[], Value::Float(f64::NAN));
        w.sample(&PLAIN, &[], Value::Float(f64::INFINITY));
        w.sample(&PLAIN, &[], Value::Float(f64::NEG_INFINITY));
        w.finish();
        assert!(out.contains("runnel_test_things NaN\n"));
        assert!(out.contains("runnel_test_things +Inf\n"));
        assert!(out.contains("runnel_test_things -Inf\n"));
    }

    #[test]
    fn nothing_is_written_without_samples() {
        let mut out = String::new();
        TextWriter::new(&mut out).finish();
        assert!(out.is_empty());
    }
}
