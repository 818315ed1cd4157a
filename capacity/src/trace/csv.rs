//! The trace file: CSV with a header, one server start a line.
//!
//! ```text
//! start,duration,cpu,memory,user,profile
//! 0,7200,,1G,alice,default
//! 45,25200,500m,4Gi,bob,large
//! ```
//!
//! - `start`: seconds from the trace's start to the spawn; `duration`:
//!   seconds the server runs, until stopped or culled. Non-negative decimal
//!   numbers; a fraction is rounded to the nearest second (halves up). At most
//!   2^32 − 1 (136 years).
//! - `cpu`, `memory`: Kubernetes quantities (`500m`, `0.5`, `1G`, `4Gi`),
//!   parsed exactly by [`score::quantity`] and converted as kube does: cpu to
//!   millicores rounded up (`MilliValue`), memory to bytes rounded up
//!   (`Value`). Empty means nothing requested, which is not the same as `0`
//!   (kube scores a pod without a request as 100m cpu / 200 MB).
//! - `user`, `profile`: optional names; empty means unknown.
//!
//! The four required columns may come in any order; `user` and `profile` may
//! be left out; any other column is an error. A UTF-8 byte order mark, CRLF
//! line ends, blank lines and spaces around fields are accepted. A field may
//! be double-quoted (`"a, b"`, with `""` for a quote inside) but may not span
//! lines. Lines need not be sorted: the trace is sorted by start, lines with
//! the same start keeping their order.
//!
//! Every error names the file, the 1-based line and the column, as
//! `trace.csv:7: column duration: negative number "-5"`.

use std::borrow::Cow;
use std::fmt::Write as _;

use score::quantity::{self, QuantityError};

use super::{NameError, Session, Trace, TraceBuilder};

/// The columns a trace file may have, in the order [`Trace::to_csv`] writes
/// them. The first four are required.
pub const COLUMNS: [&str; 6] = ["start", "duration", "cpu", "memory", "user", "profile"];

/// How many of [`COLUMNS`] are required.
const REQUIRED: usize = 4;

/// Indexes into [`COLUMNS`].
const START: usize = 0;
const DURATION: usize = 1;
const CPU: usize = 2;
const MEMORY: usize = 3;
const USER: usize = 4;
const PROFILE: usize = 5;

/// Why a trace file was rejected. Every message starts with
/// `FILE:LINE: column COLUMN:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// No header line (the file is empty or blank).
    #[error(
        "{file}:1: empty file: expected a header line naming the columns start, duration, cpu and memory"
    )]
    Empty {
        /// The file name as given.
        file: String,
    },
    /// A header names a column the contract does not know.
    #[error(
        "{file}:{line}: column {column}: unknown column (known: start, duration, cpu, memory, user, profile)"
    )]
    UnknownColumn {
        /// The file name as given.
        file: String,
        /// The header's line number.
        line: usize,
        /// The unknown name.
        column: String,
    },
    /// A header names a column twice.
    #[error("{file}:{line}: column {column}: duplicate column")]
    DuplicateColumn {
        /// The file name as given.
        file: String,
        /// The header's line number.
        line: usize,
        /// The repeated name.
        column: String,
    },
    /// A required column is missing from the header.
    #[error(
        "{file}:{line}: column {column}: missing from the header (start, duration, cpu and memory are required)"
    )]
    MissingColumn {
        /// The file name as given.
        file: String,
        /// The header's line number.
        line: usize,
        /// The first required column missing.
        column: String,
    },
    /// A line has more or fewer fields than the header has columns.
    #[error("{file}:{line}: column {column}: the line has {found} fields, the header {expected}")]
    FieldCount {
        /// The file name as given.
        file: String,
        /// The line number.
        line: usize,
        /// The first missing column's name, or `#N` for the first field past
        /// the header's columns.
        column: String,
        /// Fields on the line.
        found: usize,
        /// Columns in the header.
        expected: usize,
    },
    /// A quoted field is not closed on its line, or text follows its closing
    /// quote, or an unquoted field holds a quote.
    #[error("{file}:{line}: column {column}: malformed quoted field")]
    Quote {
        /// The file name as given.
        file: String,
        /// The line number.
        line: usize,
        /// The column's name (`#N` past the header's columns).
        column: String,
    },
    /// `start` or `duration` is not a number.
    #[error(
        "{file}:{line}: column {column}: malformed number {value:?} (expected seconds, like 3600 or 12.5)"
    )]
    Number {
        /// The file name as given.
        file: String,
        /// The line number.
        line: usize,
        /// `start` or `duration`.
        column: String,
        /// The field.
        value: String,
    },
    /// `start` or `duration` is negative.
    #[error("{file}:{line}: column {column}: negative number {value:?}")]
    Negative {
        /// The file name as given.
        file: String,
        /// The line number.
        line: usize,
        /// `start` or `duration`.
        column: String,
        /// The field.
        value: String,
    },
    /// `start` or `duration` is 2^32 seconds or more.
    #[error("{file}:{line}: column {column}: {value:?} is too large (at most 4294967295 seconds)")]
    TooLarge {
        /// The file name as given.
        file: String,
        /// The line number.
        line: usize,
        /// `start` or `duration`.
        column: String,
        /// The field.
        value: String,
    },
    /// `cpu` or `memory` is not a valid, non-negative Kubernetes quantity
    /// within kube's int64 range.
    #[error("{file}:{line}: column {column}: {source}")]
    Quantity {
        /// The file name as given.
        file: String,
        /// The line number.
        line: usize,
        /// `cpu` or `memory`.
        column: String,
        /// What is wrong with the quantity.
        source: QuantityError,
    },
    /// A `user` or `profile` name cannot be interned.
    #[error("{file}:{line}: column {column}: {source}")]
    Name {
        /// The file name as given.
        file: String,
        /// The line number.
        line: usize,
        /// `user` or `profile`.
        column: String,
        /// What is wrong with the name.
        source: NameError,
    },
}

/// What is wrong with a `start` or `duration` field.
enum SecondsError {
    Malformed,
    Negative,
    TooLarge,
}

/// Parses a trace file; `file` is only used in error messages. See the
/// module docs for the format.
///
/// # Errors
/// The first malformed line, as a [`TraceError`] naming `file`, the line and
/// the column.
pub fn parse(file: &str, text: &str) -> Result<Trace, TraceError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, line)| (i.saturating_add(1), line.strip_suffix('\r').unwrap_or(line)))
        .filter(|(_, line)| !line.trim().is_empty());

    let Some((header_line, header)) = lines.next() else {
        return Err(TraceError::Empty {
            file: file.to_string(),
        });
    };
    let names = split_fields(header).map_err(|field| TraceError::Quote {
        file: file.to_string(),
        line: header_line,
        column: format!("#{}", field.saturating_add(1)),
    })?;
    // For each field of a line, which of COLUMNS it is.
    let mut kinds = Vec::with_capacity(names.len());
    let mut seen = [false; COLUMNS.len()];
    for name in &names {
        let Some(kind) = COLUMNS.iter().position(|c| c == name) else {
            return Err(TraceError::UnknownColumn {
                file: file.to_string(),
                line: header_line,
                column: name.to_string(),
            });
        };
        if seen[kind] {
            return Err(TraceError::DuplicateColumn {
                file: file.to_string(),
                line: header_line,
                column: name.to_string(),
            });
        }
        seen[kind] = true;
        kinds.push(kind);
    }
    if let Some(missing) = (0..REQUIRED).find(|&k| !seen[k]) {
        return Err(TraceError::MissingColumn {
            file: file.to_string(),
            line: header_line,
            column: COLUMNS[missing].to_string(),
        });
    }

    let mut builder = TraceBuilder::new();
    for (line, text) in lines {
        let column_of = |field: usize| match names.get(field) {
            Some(name) => name.to_string(),
            None => format!("#{}", field.saturating_add(1)),
        };
        let fields = split_fields(text).map_err(|field| TraceError::Quote {
            file: file.to_string(),
            line,
            column: column_of(field),
        })?;
        if fields.len() != kinds.len() {
            return Err(TraceError::FieldCount {
                file: file.to_string(),
                line,
                column: column_of(fields.len().min(kinds.len())),
                found: fields.len(),
                expected: kinds.len(),
            });
        }
        let mut session = Session {
            start: 0,
            duration: 0,
            cpu: None,
            memory: None,
            user: None,
            profile: None,
        };
        for (&kind, value) in kinds.iter().zip(&fields) {
            let value: &str = value;
            let column = || COLUMNS[kind].to_string();
            match kind {
                START | DURATION => {
                    let seconds = parse_seconds(value).map_err(|e| {
                        let (file, column, value) = (file.to_string(), column(), value.to_string());
                        match e {
                            SecondsError::Malformed => TraceError::Number {
                                file,
                                line,
                                column,
                                value,
                            },
                            SecondsError::Negative => TraceError::Negative {
                                file,
                                line,
                                column,
                                value,
                            },
                            SecondsError::TooLarge => TraceError::TooLarge {
                                file,
                                line,
                                column,
                                value,
                            },
                        }
                    })?;
                    if kind == START {
                        session.start = seconds;
                    } else {
                        session.duration = seconds;
                    }
                }
                CPU | MEMORY if value.is_empty() => {}
                CPU | MEMORY => {
                    let amount = quantity::parse(value)
                        .and_then(|q| {
                            if kind == CPU {
                                q.to_milli_ceil()
                            } else {
                                q.to_int_ceil()
                            }
                        })
                        .map_err(|source| TraceError::Quantity {
                            file: file.to_string(),
                            line,
                            column: column(),
                            source,
                        })?;
                    if kind == CPU {
                        session.cpu = Some(amount);
                    } else {
                        session.memory = Some(amount);
                    }
                }
                USER | PROFILE if value.is_empty() => {}
                _ => {
                    let name_error = |source| TraceError::Name {
                        file: file.to_string(),
                        line,
                        column: column(),
                        source,
                    };
                    if kind == USER {
                        session.user = Some(builder.user(value).map_err(name_error)?);
                    } else {
                        debug_assert_eq!(kind, PROFILE);
                        session.profile = Some(builder.profile(value).map_err(name_error)?);
                    }
                }
            }
        }
        builder.push(session);
    }
    Ok(builder.finish())
}

/// Splits one line into fields: unquoted fields are trimmed of spaces and
/// tabs; a quoted field keeps its inside, `""` standing for `"`.
///
/// # Errors
/// The 0-based index of a malformed field.
fn split_fields(line: &str) -> Result<Vec<Cow<'_, str>>, usize> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let index = fields.len();
        let trimmed = rest.trim_start_matches([' ', '\t']);
        let after;
        if let Some(quoted) = trimmed.strip_prefix('"') {
            // Find the closing quote: a `"` not followed by another.
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c != '"' {
                    value.push(c);
                } else if quoted[i + 1..].starts_with('"') {
                    value.push('"');
                    chars.next();
                } else {
                    end = Some(i + 1);
                    break;
                }
            }
            let end = end.ok_or(index)?;
            let tail = quoted[end..].trim_start_matches([' ', '\t']);
            if !(tail.is_empty() || tail.starts_with(',')) {
                return Err(index);
            }
            fields.push(Cow::Owned(value));
            after = tail;
        } else {
            let end = trimmed.find(',').unwrap_or(trimmed.len());
            let value = trimmed[..end].trim_end_matches([' ', '\t']);
            if value.contains('"') {
                return Err(index);
            }
            fields.push(Cow::Borrowed(value));
            after = &trimmed[end..];
        }
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None => return Ok(fields),
        }
    }
}

/// Parses non-negative decimal seconds (`3600`, `12.5`, `.5`), rounded to
/// the nearest second, halves up.
fn parse_seconds(value: &str) -> Result<u32, SecondsError> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return Err(SecondsError::Malformed);
    }
    if negative {
        return Err(SecondsError::Negative);
    }
    let mut seconds: u32 = 0;
    for b in int.bytes() {
        seconds = seconds
            .checked_mul(10)
            .and_then(|s| s.checked_add(u32::from(b - b'0')))
            .ok_or(SecondsError::TooLarge)?;
    }
    if frac.as_bytes().first().is_some_and(|&b| b >= b'5') {
        seconds = seconds.checked_add(1).ok_or(SecondsError::TooLarge)?;
    }
    Ok(seconds)
}

impl Trace {
    /// The trace as a trace file (all six columns, sorted by start), which
    /// [`parse`] reads back to an equal trace. Cpu is written in whole cores
    /// or millicores (`2`, `250m`), memory with the shortest exact suffix
    /// (`1G`, `4Gi`, `450M`).
    pub fn to_csv(&self) -> String {
        let mut out = String::with_capacity(self.len().saturating_mul(40).saturating_add(64));
        out.push_str(&COLUMNS.join(","));
        out.push('\n');
        for s in self.sessions() {
            // Writing to a String cannot fail.
            let _ = write!(out, "{},{},", s.start, s.duration);
            if let Some(cpu) = s.cpu {
                out.push_str(&cpu_text(cpu));
            }
            out.push(',');
            if let Some(memory) = s.memory {
                out.push_str(&memory_text(memory));
            }
            out.push(',');
            if let Some(name) = s.user.and_then(|id| self.user_name(id)) {
                push_name(&mut out, name);
            }
            out.push(',');
            if let Some(name) = s.profile.and_then(|id| self.profile_name(id)) {
                push_name(&mut out, name);
            }
            out.push('\n');
        }
        out
    }
}

/// Millicores as a quantity: whole cores without a suffix, else `m`.
fn cpu_text(milli: u64) -> String {
    if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

/// Bytes as the shortest exact quantity.
fn memory_text(bytes: u64) -> String {
    const SUFFIXES: [(&str, u64); 10] = [
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("P", 1_000_000_000_000_000),
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("Pi", 1 << 50),
    ];
    let mut best = bytes.to_string();
    if bytes == 0 {
        return best;
    }
    for (suffix, unit) in SUFFIXES {
        if bytes.is_multiple_of(unit) {
            let text = format!("{}{suffix}", bytes / unit);
            if text.len() < best.len() {
                best = text;
            }
        }
    }
    best
}

/// Appends a name, quoted when it holds a comma or a quote or starts or
/// ends with a space or tab (which an unquoted field would lose).
fn push_name(out: &mut String, name: &str) {
    let blank = |c: Option<char>| c.is_some_and(|c| c == ' ' || c == '\t');
    if name.contains([',', '"']) || blank(name.chars().next()) || blank(name.chars().last()) {
        out.push('"');
        out.push_str(&name.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Trace {
        parse("t.csv", text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(text: &str) -> String {
        parse("t.csv", text).unwrap_err().to_string()
    }

    #[test]
    fn parses_the_contract() {
        let t = ok("start,duration,cpu,memory,user,profile\n\
                    0,7200,,1G,alice,default\n\
                    45,25200,500m,4Gi,bob,large\n\
                    10,60,0.1,,,\n");
        let s = t.sessions();
        assert_eq!(s.len(), 3);
        // Sorted by start.
        assert_eq!(s.iter().map(|s| s.start).collect::<Vec<_>>(), [0, 10, 45]);
        assert_eq!(
            (s[0].duration, s[0].cpu, s[0].memory),
            (7200, None, Some(1_000_000_000))
        );
        assert_eq!(t.user_name(s[0].user.unwrap()), Some("alice"));
        assert_eq!(t.profile_name(s[0].profile.unwrap()), Some("default"));
        assert_eq!(
            (s[1].cpu, s[1].memory, s[1].user, s[1].profile),
            (Some(100), None, None, None)
        );
        assert_eq!((s[2].cpu, s[2].memory), (Some(500), Some(4 << 30)));
    }

    #[test]
    fn columns_in_any_order_and_optional_ones_left_out() {
        let t = ok("memory, cpu ,duration,start\n512Mi,1,30,5\n");
        let s = t.sessions()[0];
        assert_eq!(
            (s.start, s.duration, s.cpu, s.memory),
            (5, 30, Some(1000), Some(512 << 20))
        );
        assert_eq!(t.user_count(), 0);
    }

    #[test]
    fn kube_rounding_of_quantities() {
        // cpu rounds up to millicores, memory up to bytes, as kube does.
        let t = ok("start,duration,cpu,memory\n0,1,0.0001,1.5\n0,1,1.0001m,100m\n0,1,0,0\n");
        let got: Vec<_> = t.sessions().iter().map(|s| (s.cpu, s.memory)).collect();
        assert_eq!(
            got,
            [(Some(1), Some(2)), (Some(2), Some(1)), (Some(0), Some(0))]
        );
    }

    #[test]
    fn seconds_round_to_nearest() {
        let t = ok("start,duration,cpu,memory\n1.5,2.49,,\n.5,0.,,\n");
        let got: Vec<_> = t.sessions().iter().map(|s| (s.start, s.duration)).collect();
        assert_eq!(got, [(1, 0), (2, 2)]);
        assert_eq!(
            ok("start,duration,cpu,memory\n4294967295,0,,\n").sessions()[0].start,
            u32::MAX
        );
    }

    #[test]
    fn bom_crlf_blank_lines_and_quotes() {
        let t = ok("\u{feff}start,duration,cpu,memory,user\r\n\r\n\
                    1,2,\"250m\",\"1Gi\",\"Doe, \"\"J\"\"\"  \r\n\
                    3,4,,,\"\"\r\n\r\n\n  \n");
        let s = t.sessions();
        assert_eq!(s.len(), 2);
        assert_eq!(t.user_name(s[0].user.unwrap()), Some("Doe, \"J\""));
        assert_eq!(s[1].user, None, "an empty quoted name is no name");
        // The quoted memory keeps its spaces, which kube does not accept.
        assert!(
            err("start,duration,cpu,memory\n1,2,,\" 1Gi\"\n")
                .starts_with("t.csv:2: column memory: invalid quantity")
        );
        assert_eq!(ok("start,duration,cpu,memory\n").len(), 0);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let h = "start,duration,cpu,memory\n";
        let cases: &[(&str, &str)] = &[
            (
                "",
                "t.csv:1: empty file: expected a header line naming the columns start, duration, cpu and memory",
            ),
            (
                "\u{feff}\r\n \n",
                "t.csv:1: empty file: expected a header line naming the columns start, duration, cpu and memory",
            ),
            (
                "start,duration,cpu,memory,node\n",
                "t.csv:1: column node: unknown column (known: start, duration, cpu, memory, user, profile)",
            ),
            (
                "start,duration,cpu,memory,start\n",
                "t.csv:1: column start: duplicate column",
            ),
            (
                "\nstart,cpu,user\n",
                "t.csv:2: column duration: missing from the header (start, duration, cpu and memory are required)",
            ),
            (
                "start,duration,cpu,memory\n0,1,,\n0,1,\n",
                "t.csv:3: column memory: the line has 3 fields, the header 4",
            ),
            (
                "start,duration,cpu,memory\n0,1,,,x\n",
                "t.csv:2: column #5: the line has 5 fields, the header 4",
            ),
            (
                "start,duration,cpu,memory\n0,x1,,\n",
                "t.csv:2: column duration: malformed number \"x1\" (expected seconds, like 3600 or 12.5)",
            ),
            (
                "start,duration,cpu,memory\n1e3,1,,\n",
                "t.csv:2: column start: malformed number \"1e3\" (expected seconds, like 3600 or 12.5)",
            ),
            (
                "start,duration,cpu,memory\n,1,,\n",
                "t.csv:2: column start: malformed number \"\" (expected seconds, like 3600 or 12.5)",
            ),
            (
                "start,duration,cpu,memory\n0,-5,,\n",
                "t.csv:2: column duration: negative number \"-5\"",
            ),
            (
                "start,duration,cpu,memory\n-0.5,5,,\n",
                "t.csv:2: column start: negative number \"-0.5\"",
            ),
            (
                "start,duration,cpu,memory\n4294967296,5,,\n",
                "t.csv:2: column start: \"4294967296\" is too large (at most 4294967295 seconds)",
            ),
            (
                "start,duration,cpu,memory\n4294967295.5,5,,\n",
                "t.csv:2: column start: \"4294967295.5\" is too large (at most 4294967295 seconds)",
            ),
            (
                "start,duration,cpu,memory\n0,1,2x,\n",
                "t.csv:2: column cpu: invalid quantity \"2x\": unknown suffix \"x\"",
            ),
            (
                "start,duration,cpu,memory\n0,1,,-1G\n",
                "t.csv:2: column memory: quantity \"-1G\" is negative",
            ),
            (
                "start,duration,cpu,memory\n0,1,,1e19\n",
                "t.csv:2: column memory: quantity \"1e19\" is too large (above 2^63-1, kube's int64 maximum)",
            ),
            (
                "start,duration,cpu,memory\n0,\"1,,\n",
                "t.csv:2: column duration: malformed quoted field",
            ),
            (
                "start,duration,cpu,memory\n0,\"1\"2,,\n",
                "t.csv:2: column duration: malformed quoted field",
            ),
            (
                "start,duration,cpu,memory\n0,1,,1\"G\n",
                "t.csv:2: column memory: malformed quoted field",
            ),
            (
                "start,duration,cpu,memory\n0,1,,,\"\n",
                "t.csv:2: column #5: malformed quoted field",
            ),
            (
                "\"start,duration,cpu,memory\n",
                "t.csv:1: column #1: malformed quoted field",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(text), *want, "{text:?}");
        }
        assert_eq!(
            err(&format!("{h}0,1,,\n\n0,1,,x\n")),
            "t.csv:4: column memory: invalid quantity \"x\": expected a number"
        );
    }

    #[test]
    fn the_documented_example_and_errors_are_real() {
        let doc = include_str!("../../../docs/capacity.md");
        let example = doc
            .split("```csv\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/capacity.md has a csv example");
        let t = ok(example);
        assert_eq!(t.len(), 3);
        let carol = t.sessions()[2];
        assert_eq!(t.user_name(carol.user.unwrap()), Some("carol"));
        assert_eq!(
            (carol.start, carol.cpu, carol.memory),
            (3600, Some(225), Some(1_825_000_000))
        );
        // The error examples, each on the line the doc shows.
        let good = "0,1,,1G\n";
        let at = |line: usize, bad: &str| {
            format!(
                "start,duration,cpu,memory\n{}{bad}\n",
                good.repeat(line - 2)
            )
        };
        for (text, want) in [
            (
                at(7, "0,-5,,"),
                "trace.csv:7: column duration: negative number \"-5\"",
            ),
            (
                at(9, "0,1,2 cores,"),
                "trace.csv:9: column cpu: invalid quantity \"2 cores\": unexpected \" cores\" after the number",
            ),
            (
                at(12, "0,1,"),
                "trace.csv:12: column memory: the line has 3 fields, the header 4",
            ),
        ] {
            assert_eq!(parse("trace.csv", &text).unwrap_err().to_string(), want);
            assert!(doc.contains(want), "docs/capacity.md shows {want}");
        }
    }

    #[test]
    fn to_csv_round_trips() {
        let text = "start,duration,cpu,memory,user,profile\n\
                    9,1,2,1G,\" lead\",\"a,b\"\n\
                    3,86400,250m,4Gi,bob,\"say \"\"hi\"\"\"\n\
                    3,0,0,0,,\n\
                    7,5,,1536Mi,alice,\n\
                    8,5,1m,450M,alice,small\n\
                    8,5,,1073741825,,small\n";
        let trace = ok(text);
        let written = trace.to_csv();
        assert_eq!(
            written,
            "start,duration,cpu,memory,user,profile\n\
             3,86400,250m,4Gi,bob,\"say \"\"hi\"\"\"\n\
             3,0,0,0,,\n\
             7,5,,1536Mi,alice,\n\
             8,5,1m,450M,alice,small\n\
             8,5,,1073741825,,small\n\
             9,1,2,1G,\" lead\",\"a,b\"\n"
        );
        assert_eq!(ok(&written), trace);
        assert_eq!(ok(&trace.to_csv()).to_csv(), written);
    }

    #[test]
    fn memory_text_is_exact_and_short() {
        for (bytes, want) in [
            (0, "0"),
            (1, "1"),
            (1000, "1k"),
            (1024, "1Ki"),
            (512_000_000, "512M"),
            (3 << 30, "3Gi"),
            (1 << 50, "1Pi"),
            (u64::from(u32::MAX), "4294967295"),
        ] {
            assert_eq!(memory_text(bytes), want);
            assert_eq!(quantity::parse(want).unwrap().to_int_ceil(), Ok(bytes));
        }
        assert_eq!(cpu_text(1500), "1500m");
        assert_eq!(cpu_text(3000), "3");
    }
}
