//! Bounds on the YAML this program reads from files (`--config`,
//! `explain --cluster` and `--pod`), checked before the parser sees the text.
//!
//! libyaml, under serde_yaml_ng, keeps one pending "simple key" per open flow
//! collection and revisits all of them for every token, so a document of
//! nested brackets costs the square of its size: 160 KB of `[` took 34 s,
//! 400 KB almost six minutes, only to fail serde's recursion limit (128)
//! afterwards. Counting the brackets first costs one pass.
//!
//! The count is deliberately coarse: every `[` and `{` opens and every `]`
//! and `}` closes, in quoted strings and comments too, because telling a
//! quote from a plain character exactly is the parser's job, and a count
//! that skipped what it took for a string could be walked around. It can
//! only over-count (brackets left open in strings), so the bound is far
//! above any real nesting (a Kubernetes object nests a few dozen levels, and
//! serde refuses more than 128 anyway), and the count starts again at a line
//! beginning with `- ` or `---` in column 0: a block sequence entry or a
//! document marker, which libyaml refuses inside a flow collection (it stops
//! there), and which starts every item of `kubectl get -o yaml`'s lists.

/// Deepest bracket nesting accepted.
pub const MAX_FLOW_DEPTH: usize = 1000;

/// Largest configuration file: a ConfigMap holds at most 1 MiB.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// Largest pod file: the API server stores objects of at most about 1.5 MiB.
pub const MAX_POD_BYTES: u64 = 4 << 20;

/// Largest cluster file: `kubectl get -o yaml` of a very large cluster.
pub const MAX_CLUSTER_BYTES: u64 = 4 << 30;

/// Why a YAML text was refused before parsing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The file is larger than its kind of file can be.
    #[error("{size} bytes is more than the {limit} bytes such a file may have")]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Brackets nest deeper than [`MAX_FLOW_DEPTH`].
    #[error(
        "line {line}: brackets nested more than {MAX_FLOW_DEPTH} levels deep (a Kubernetes object nests a few dozen)"
    )]
    TooDeep {
        /// 1-based line where the bound was passed.
        line: usize,
    },
}

/// Refuses a file of `size` bytes above `limit`.
///
/// # Errors
/// [`InputError::TooLarge`].
pub fn check_size(size: u64, limit: u64) -> Result<(), InputError> {
    if size > limit {
        return Err(InputError::TooLarge { size, limit });
    }
    Ok(())
}

/// `text` without a leading UTF-8 byte order mark (kubectl accepts one, and
/// Windows editors write it), after checking its bracket nesting.
///
/// # Errors
/// [`InputError::TooDeep`].
pub fn checked(text: &str) -> Result<&str, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut line_start = true;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if line_start && (bytes[i..].starts_with(b"- ") || bytes[i..].starts_with(b"---")) {
            depth = 0;
        }
        line_start = false;
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(InputError::TooDeep { line });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => {
                line += 1;
                line_start = true;
            }
            _ => {}
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_dropped() {
        assert_eq!(checked("\u{feff}kind: Pod\n"), Ok("kind: Pod\n"));
        assert_eq!(checked("kind: Pod\n"), Ok("kind: Pod\n"));
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!(
            "{}{}",
            "[".repeat(MAX_FLOW_DEPTH),
            "]".repeat(MAX_FLOW_DEPTH)
        );
        assert!(checked(&ok).is_ok());
        let deep = format!("a: 1\n{}", "{".repeat(MAX_FLOW_DEPTH + 1));
        assert_eq!(checked(&deep), Err(InputError::TooDeep { line: 2 }));
        // Siblings do not add up.
        assert!(checked(&"[[]]".repeat(10_000)).is_ok());
    }

    #[test]
    fn list_items_and_documents_start_the_count_again() {
        // One bracket left open in a string per item, as a template could
        // write it: kubectl's lists start every item with `- ` in column 0.
        let item = "- metadata: {name: a}\n  args: [\"{\"]\n";
        assert!(checked(&item.repeat(5 * MAX_FLOW_DEPTH)).is_ok());
        let doc = "---\nargs: [\"{\"]\n";
        assert!(checked(&doc.repeat(5 * MAX_FLOW_DEPTH)).is_ok());
        // Without them, the open brackets count.
        let flat = "args: [\"{\"]\n".repeat(MAX_FLOW_DEPTH + 1);
        assert!(checked(&flat).is_err());
        // An indented `- ` does not reset (it can sit inside a flow
        // collection's plain scalars).
        let indented = format!("a:\n  - {}", "[".repeat(MAX_FLOW_DEPTH + 1));
        assert!(checked(&indented).is_err());
    }

    #[test]
    fn sizes_are_bounded() {
        assert!(check_size(MAX_POD_BYTES, MAX_POD_BYTES).is_ok());
        assert_eq!(
            check_size(MAX_POD_BYTES + 1, MAX_POD_BYTES),
            Err(InputError::TooLarge {
                size: MAX_POD_BYTES + 1,
                limit: MAX_POD_BYTES
            })
        );
    }
}
