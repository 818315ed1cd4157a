//! Kubernetes resource quantities, parsed exactly.
//!
//! The grammar is the one of `resource.Quantity` in k8s.io/apimachinery
//! (`pkg/api/resource/quantity.go`):
//!
//! ```text
//! <quantity>        ::= <signedNumber><suffix>
//! <signedNumber>    ::= <number> | + <number> | - <number>
//! <number>          ::= <digits> | <digits>. | <digits>.<digits> | .<digits>
//! <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
//! <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
//! <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
//! <decimalExponent> ::= e <signedInteger> | E <signedInteger>
//! ```
//!
//! `1E` alone is 10^18 (exa); `1E3` is 1000. No whitespace is allowed anywhere.
//!
//! A [`Quantity`] holds the value exactly as a signed `i128` numerator over a
//! power of ten, `numerator / 10^scale`, with binary suffixes folded in. Values
//! whose magnitude does not fit an `i128` are rejected with
//! [`QuantityError::TooLarge`]. Two cases round, both away from zero (so a
//! negative value stays negative and a positive one never shrinks):
//!
//! - a number with more than 38 significant decimal digits keeps its first 38
//!   and rounds the last kept digit up;
//! - a binary suffix whose product would not fit keeps dropping the last
//!   fractional digit (rounding up) until it does.
//!
//! Because the rounding only touches digits far below the milli position for
//! any value that fits a `u64` milli count, [`Quantity::to_milli_ceil`] and
//! [`Quantity::to_int_ceil`] give the exact kube results for every input a
//! real cluster carries. Huge negative exponents do not round at all: the scale
//! is kept as an integer and `1e-400` ceils to exactly 1.
//!
//! # The largest quantity
//!
//! kube-scheduler does its resource arithmetic on `int64` values (`MilliValue`
//! for cpu, `Value` for the rest). Two rules follow kube's `resource.Quantity`:
//!
//! - **A binary-suffix quantity is capped at 2^63 − 1 when parsed**, silently,
//!   as kube's `ParseQuantity` does: `8Ei` (2^63) is 9223372036854775807, and
//!   so is `99999Ei`. Decimal quantities are not capped when parsed.
//! - **A conversion whose result exceeds [`MAX`] (2^63 − 1) is an error**
//!   ([`QuantityError::TooLarge`]). kube's `MilliValue` and `Value` of such a
//!   quantity overflow `int64` and their result is undefined (Go keeps the
//!   low 64 bits, so `9223372036854775808m` of cpu reads as a negative
//!   request there); rejecting it is the one defensible reading. Every
//!   converted amount therefore fits an `i64`, and sums of a few of them
//!   cannot wrap a `u64` (the engine's sums saturate anyway, see
//!   [`crate::cluster`]).

use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// The largest result of [`Quantity::to_milli_ceil`] and
/// [`Quantity::to_int_ceil`]: 2^63 − 1, the largest value kube's `int64`
/// arithmetic holds (see the module docs).
pub const MAX: u64 = i64::MAX as u64;

/// How many significant decimal digits a [`Quantity`] keeps: 10^38 - 1 is the
/// largest all-nines number below `i128::MAX` (about 1.7 × 10^38).
const MAX_DIGITS: usize = 38;

/// The largest power of ten that fits an `i128`.
const MAX_POW10: u64 = 38;

/// Why a quantity string was rejected or could not be converted.
///
/// Every message names the offending input, quoted, and reads well after a
/// prefix such as `pod default/p1: spec.containers[0].resources.requests[cpu]: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string was empty.
    #[error("invalid quantity \"\": empty string")]
    Empty,
    /// There are no digits where the number should be (`Gi`, `--1`, `.`).
    #[error("invalid quantity {input:?}: expected a number")]
    MissingNumber {
        /// The whole input string.
        input: String,
    },
    /// The part after the number is not a known suffix (`12x`, `1K`, `1e`).
    #[error("invalid quantity {input:?}: unknown suffix {suffix:?}")]
    UnknownSuffix {
        /// The whole input string.
        input: String,
        /// The unrecognised suffix.
        suffix: String,
    },
    /// Characters that cannot start a suffix follow the number (`1.2.3`, `1 Gi`).
    #[error("invalid quantity {input:?}: unexpected {rest:?} after the number")]
    Unexpected {
        /// The whole input string.
        input: String,
        /// Everything from the first unexpected character on.
        rest: String,
    },
    /// The exponent after `e`/`E` does not fit a 64-bit integer.
    #[error("invalid quantity {input:?}: exponent out of range")]
    ExponentOutOfRange {
        /// The whole input string.
        input: String,
    },
    /// A conversion that needs a non-negative value met a negative one.
    #[error("quantity {input:?} is negative")]
    Negative {
        /// The whole input string.
        input: String,
    },
    /// The value does not fit: an `i128` when parsing, [`MAX`] (2^63 − 1) when
    /// converting.
    #[error("quantity {input:?} is too large (above 2^63-1, kube's int64 maximum)")]
    TooLarge {
        /// The whole input string.
        input: String,
    },
}

/// An exact Kubernetes quantity: `numerator / 10^scale`.
///
/// The representation is normalised (no trailing decimal zeros in the
/// numerator while `scale > 0`, zero is `0 / 10^0`), so equality compares
/// values: `1.5`, `1.50` and `1500m` are equal. The original text is kept for
/// error messages and is not part of equality.
#[derive(Debug, Clone)]
pub struct Quantity {
    numerator: i128,
    scale: u64,
    text: Box<str>,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.numerator == other.numerator && self.scale == other.scale
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.numerator.hash(state);
        self.scale.hash(state);
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Quantity {
    /// The signed numerator of `numerator / 10^scale`.
    pub fn numerator(&self) -> i128 {
        self.numerator
    }

    /// The decimal scale of `numerator / 10^scale`.
    pub fn scale(&self) -> u64 {
        self.scale
    }

    /// The text this quantity was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the value is below zero (`-0` is not).
    pub fn is_negative(&self) -> bool {
        self.numerator < 0
    }

    /// Whether the value is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.numerator == 0
    }

    /// The value × 1000, rounded up to an integer, as kube's `MilliValue`
    /// does (`0.1m` → 1, `1.0001m` → 2). Used for CPU millicores.
    ///
    /// # Errors
    /// [`QuantityError::Negative`] for a negative value,
    /// [`QuantityError::TooLarge`] when the result exceeds [`MAX`].
    pub fn to_milli_ceil(&self) -> Result<u64, QuantityError> {
        self.ceil_times_pow10(3)
    }

    /// The value rounded up to an integer, as kube's `Value` does (`1.5` → 2,
    /// `100m` → 1). Used for bytes and counts.
    ///
    /// # Errors
    /// [`QuantityError::Negative`] for a negative value,
    /// [`QuantityError::TooLarge`] when the result exceeds [`MAX`].
    pub fn to_int_ceil(&self) -> Result<u64, QuantityError> {
        self.ceil_times_pow10(0)
    }

    /// `ceil(value × 10^k)` for small `k`, at most [`MAX`].
    fn ceil_times_pow10(&self, k: u64) -> Result<u64, QuantityError> {
        if self.numerator < 0 {
            return Err(QuantityError::Negative {
                input: self.text.to_string(),
            });
        }
        let too_large = || QuantityError::TooLarge {
            input: self.text.to_string(),
        };
        let n = self.numerator;
        let scaled = if self.scale <= k {
            // The shift is at most k (≤ 3), so the power itself cannot overflow.
            let up = u32::try_from(k - self.scale).map_err(|_| too_large())?;
            n.checked_mul(10_i128.pow(up)).ok_or_else(too_large)?
        } else {
            let down = self.scale - k;
            if down > MAX_POW10 {
                // 10^down exceeds every i128, so 0 < n / 10^down < 1 and the
                // ceiling is 1 (n is not 0 here: zero is normalised to scale 0).
                1
            } else {
                // down ≤ 38, so 10^down fits.
                let d = 10_i128.pow(down as u32);
                n / d + i128::from(n % d != 0)
            }
        };
        u64::try_from(scaled)
            .ok()
            .filter(|&v| v <= MAX)
            .ok_or_else(too_large)
    }
}

/// The decimal and binary exponent a suffix stands for.
struct Suffix {
    pow10: i128,
    pow2: u32,
}

/// Parses a Kubernetes quantity string exactly. See the module docs for the
/// grammar and the (rare) rounding.
///
/// # Errors
/// Any [`QuantityError`] except `Negative`; negative values parse fine.
pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
    if s.is_empty() {
        return Err(QuantityError::Empty);
    }
    let bytes = s.as_bytes();
    let mut pos = 0;
    let negative = match bytes[0] {
        b'-' => {
            pos = 1;
            true
        }
        b'+' => {
            pos = 1;
            false
        }
        _ => false,
    };
    let int_start = pos;
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    let int_digits = &bytes[int_start..pos];
    let mut frac_digits: &[u8] = &[];
    if pos < bytes.len() && bytes[pos] == b'.' {
        pos += 1;
        let frac_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        frac_digits = &bytes[frac_start..pos];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(QuantityError::MissingNumber {
            input: s.to_string(),
        });
    }
    // `pos` only ever advanced over ASCII bytes, so it is a char boundary.
    let suffix = parse_suffix(s, &s[pos..])?;

    let exact = exact_value(int_digits, frac_digits, &suffix);
    let (numerator, scale) = if suffix.pow2 > 0 {
        // kube caps binary-suffix quantities at 2^63 − 1 (module docs).
        binary_cap(exact)
    } else {
        exact.ok_or_else(|| QuantityError::TooLarge {
            input: s.to_string(),
        })?
    };
    Ok(Quantity {
        numerator: if negative { -numerator } else { numerator },
        scale,
        text: s.into(),
    })
}

/// A binary-suffix magnitude capped at 2^63 − 1 as kube's `ParseQuantity`
/// caps it (`None`: beyond every `i128`, so beyond the cap too).
fn binary_cap(exact: Option<(i128, u64)>) -> (i128, u64) {
    const CAP: i128 = i64::MAX as i128;
    match exact {
        // numerator / 10^scale > CAP ⟺ numerator > CAP × 10^scale; when
        // 10^scale × CAP overflows, numerator (< 2^127) is below it.
        Some((numerator, scale))
            if u32::try_from(scale)
                .ok()
                .and_then(|s| 10_i128.checked_pow(s))
                .and_then(|p| p.checked_mul(CAP))
                .is_none_or(|limit| numerator <= limit) =>
        {
            (numerator, scale)
        }
        _ => (CAP, 0),
    }
}

/// Interprets the text after the number.
fn parse_suffix(input: &str, suffix: &str) -> Result<Suffix, QuantityError> {
    let decimal = |pow10| Ok(Suffix { pow10, pow2: 0 });
    let binary = |pow2| Ok(Suffix { pow10: 0, pow2 });
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let first = suffix.as_bytes()[0];
            if (first == b'e' || first == b'E') && is_signed_integer(&suffix[1..]) {
                let exponent =
                    parse_i64(&suffix[1..]).ok_or_else(|| QuantityError::ExponentOutOfRange {
                        input: input.to_string(),
                    })?;
                decimal(i128::from(exponent))
            } else if first.is_ascii_alphabetic() {
                Err(QuantityError::UnknownSuffix {
                    input: input.to_string(),
                    suffix: suffix.to_string(),
                })
            } else {
                Err(QuantityError::Unexpected {
                    input: input.to_string(),
                    rest: suffix.to_string(),
                })
            }
        }
    }
}

/// `[+-]?[0-9]+`.
fn is_signed_integer(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Parses `[+-]?[0-9]+` into an `i64`, `None` on overflow.
fn parse_i64(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    // Accumulate towards the sign so that i64::MIN parses.
    let mut value: i64 = 0;
    for b in digits.bytes() {
        let d = i64::from(b - b'0');
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(d)?
        } else {
            value.checked_add(d)?
        };
    }
    Some(value)
}

/// The magnitude `numerator / 10^scale` of `int.frac × 10^pow10 × 2^pow2`,
/// normalised; `None` when it does not fit an `i128`.
fn exact_value(int: &[u8], frac: &[u8], suffix: &Suffix) -> Option<(i128, u64)> {
    let len = int.len() + frac.len();
    let digit = |i: usize| {
        if i < int.len() {
            int[i] - b'0'
        } else {
            frac[i - int.len()] - b'0'
        }
    };
    let Some(first) = (0..len).find(|&i| digit(i) != 0) else {
        return Some((0, 0));
    };
    // There is a non-zero digit, so there is a last one.
    let last = (first..len).rev().find(|&i| digit(i) != 0)?;
    let significant = last - first + 1;
    let kept = significant.min(MAX_DIGITS);
    let mut numerator: i128 = 0;
    for i in first..first + kept {
        // At most 38 digits: below 10^38, no overflow.
        numerator = numerator * 10 + i128::from(digit(i));
    }
    if kept < significant {
        // The dropped digits end in a non-zero one: round away from zero.
        numerator += 1;
    }
    // The value is numerator × 10^(digits after the last kept one − fraction length).
    let after_kept = (len - (first + kept)) as i128;
    let mut pow10 = after_kept - frac.len() as i128 + suffix.pow10;

    if suffix.pow2 > 0 {
        let factor = 1_i128 << suffix.pow2;
        loop {
            if let Some(product) = numerator.checked_mul(factor) {
                numerator = product;
                break;
            }
            if pow10 >= 0 {
                // numerator × 2^pow2 × 10^pow10 ≥ numerator × 2^pow2 > i128::MAX.
                return None;
            }
            // Give up the last fractional digit, rounding away from zero.
            numerator = numerator / 10 + i128::from(numerator % 10 != 0);
            pow10 += 1;
        }
    }

    let mut scale: u64 = if pow10 >= 0 {
        let up = u32::try_from(pow10).ok()?;
        numerator = numerator.checked_mul(10_i128.checked_pow(up)?)?;
        0
    } else {
        // |pow10| ≤ 2^63 + the input length; saturate beyond u64 (the value
        // is then below 10^-18446744073709551615 and every ceiling is 1).
        u64::try_from(-pow10).unwrap_or(u64::MAX)
    };
    while scale > 0 && numerator % 10 == 0 {
        numerator /= 10;
        scale -= 1;
    }
    Some((numerator, scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    /// `q == num / 10^scale`, checked by cross-multiplication so that the
    /// test does not depend on the normalisation it is testing.
    fn value_is(q: &Quantity, num: i128, scale: u32) -> bool {
        // Bring both to the larger scale; an overflow means they differ, as
        // the side that overflowed is beyond every i128.
        let qs = q.scale();
        let s = u64::from(scale);
        if qs >= s {
            u32::try_from(qs - s)
                .ok()
                .and_then(|d| 10_i128.checked_pow(d))
                .and_then(|p| num.checked_mul(p))
                == Some(q.numerator())
        } else {
            10_i128
                .checked_pow(scale - qs as u32)
                .and_then(|p| q.numerator().checked_mul(p))
                == Some(num)
        }
    }

    /// A conversion result with the error reduced to "did not fit or failed".
    type Conv = Result<u64, ()>;

    /// Above [`MAX`] (2^63 − 1), as a result.
    const BIG: Conv = Err(());

    fn ok_or_unit(r: Result<u64, QuantityError>) -> Result<u64, ()> {
        r.map_err(|_| ())
    }

    #[test]
    fn conversions() {
        // (input, to_milli_ceil, to_int_ceil)
        let table: &[(&str, Conv, Conv)] = &[
            ("0", Ok(0), Ok(0)),
            ("-0", Ok(0), Ok(0)),
            ("100m", Ok(100), Ok(1)), // 0.1 → int rounds up to 1
            ("3920m", Ok(3920), Ok(4)),
            ("0.5", Ok(500), Ok(1)),
            (".5", Ok(500), Ok(1)),
            ("1.", Ok(1000), Ok(1)),
            ("+5", Ok(5000), Ok(5)),
            ("1.5", Ok(1500), Ok(2)),
            ("1e3", Ok(1_000_000), Ok(1000)),
            ("1E3", Ok(1_000_000), Ok(1000)),
            ("1e+3", Ok(1_000_000), Ok(1000)),
            ("1.e3", Ok(1_000_000), Ok(1000)),
            ("1.5e3", Ok(1_500_000), Ok(1500)),
            ("1e-3", Ok(1), Ok(1)),    // 0.001 = 1 milli exactly
            ("1e-4", Ok(1), Ok(1)),    // 0.1 milli → 1
            ("0.1m", Ok(1), Ok(1)),    // 0.0001: 0.1 milli → 1
            ("1.0001m", Ok(2), Ok(1)), // 1.0001 milli → 2
            ("1n", Ok(1), Ok(1)),      // 10^-9: 10^-6 milli → 1
            ("1500u", Ok(2), Ok(1)),   // 0.0015: 1.5 milli → 2
            ("1k", Ok(1_000_000), Ok(1000)),
            // 1500 × 10^6 = 1.5 × 10^9 bytes
            ("1500M", Ok(1_500_000_000_000), Ok(1_500_000_000)),
            ("129e6", Ok(129_000_000_000), Ok(129_000_000)),
            ("1Ki", Ok(1_024_000), Ok(1024)),
            ("1.5Ki", Ok(1_536_000), Ok(1536)),
            // 0.3 × 1024 = 307.2 → int 308, milli 307200 exactly
            ("0.3Ki", Ok(307_200), Ok(308)),
            // 123 × 2^20 = 128974848
            ("123Mi", Ok(128_974_848_000), Ok(128_974_848)),
            // 2 × 2^30 = 2147483648
            ("2Gi", Ok(2_147_483_648_000), Ok(2_147_483_648)),
            // 1.5 × 2^30 = 1610612736
            ("1.5Gi", Ok(1_610_612_736_000), Ok(1_610_612_736)),
            // Binary suffixes are capped at 2^63 − 1 = 9223372036854775807
            // when parsed, as kube caps them: 8 × 2^60 = 2^63, 12 × 2^60 and
            // 99999 × 2^60 all read as the cap; × 1000 is above MAX.
            ("8Ei", BIG, Ok(MAX)),
            ("12Ei", BIG, Ok(MAX)),
            ("99999Ei", BIG, Ok(MAX)),
            // 7 × 2^60 = 8070450532247928832 < 2^63: not capped
            ("7Ei", BIG, Ok(8_070_450_532_247_928_832)),
            ("1E", BIG, Ok(1_000_000_000_000_000_000)), // exa, 10^18
            // Decimal quantities are not capped; conversions stop at MAX.
            ("9223372036854775807", BIG, Ok(MAX)),
            ("9223372036854775808", BIG, BIG), // MAX + 1
            // MAX millicores exactly; as an integer ⌈9223372036854775.807⌉
            ("9223372036854775807m", Ok(MAX), Ok(9_223_372_036_854_776)),
            // 2^63 millicores: kube's MilliValue overflows int64 here
            ("9223372036854775808m", BIG, Ok(9_223_372_036_854_776)),
            ("18446744073709551615", BIG, BIG), // u64::MAX
            ("18446744073709551.615", BIG, Ok(18_446_744_073_709_552)),
            // scale 400 is kept exactly: 10^-397 milli → 1
            ("1e-400", Ok(1), Ok(1)),
            ("0e999999", Ok(0), Ok(0)),
            ("000.000", Ok(0), Ok(0)),
            // 45 decimal places, still exact enough: tiny positive → 1
            (
                "0.000000000000000000000000000000000000000000001",
                Ok(1),
                Ok(1),
            ),
            // 46 significant digits, rounded to 38: 1234.567… milli → 1235
            (
                "1.234567890123456789012345678901234567890123456",
                Ok(1235),
                Ok(2),
            ),
            // 39 nines × 10^-39 rounds up to 1.0 at 38 digits; the exact
            // ceilings (999.99… milli → 1000, 0.99… → 1) are the same
            (
                "999999999999999999999999999999999999999e-39",
                Ok(1000),
                Ok(1),
            ),
        ];
        for (input, milli, int) in table {
            let parsed = q(input);
            assert_eq!(
                ok_or_unit(parsed.to_milli_ceil()),
                *milli,
                "milli of {input}"
            );
            assert_eq!(ok_or_unit(parsed.to_int_ceil()), *int, "int of {input}");
        }
    }

    #[test]
    fn exact_values() {
        // (input, numerator, scale) meaning numerator / 10^scale
        let table: &[(&str, i128, u32)] = &[
            ("100m", 1, 1),
            ("-1", -1, 0),
            ("-.5", -5, 1),
            ("1.50", 15, 1),
            ("1500m", 15, 1),
            ("0.3Ki", 3072, 1), // 0.3 × 1024 = 307.2
            ("1e-3", 1, 3),
            ("7Ei", 7 << 60, 0),
            // capped at 2^63 − 1, keeping the sign, as kube does
            ("12Ei", i64::MAX as i128, 0),
            ("-8Ei", -(i64::MAX as i128), 0),
            ("147573952589676412928Ei", i64::MAX as i128, 0), // 2^127 before the cap
            ("9223372036854775808", 1 << 63, 0),              // decimal: not capped
            ("1E", 1_000_000_000_000_000_000, 0),
            ("7Pi", 7 << 50, 0),
            ("3Ti", 3 << 40, 0),
            (
                "2e37",
                20_000_000_000_000_000_000_000_000_000_000_000_000,
                0,
            ),
        ];
        for (input, num, scale) in table {
            let parsed = q(input);
            assert!(
                value_is(&parsed, *num, *scale),
                "{input}: got {} / 10^{}",
                parsed.numerator(),
                parsed.scale()
            );
        }
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(q("1.5"), q("1500m"));
        assert_eq!(q("1.50"), q("15e-1"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("0"), q("-0.000"));
        assert_ne!(q("1"), q("-1"));
        assert_ne!(q("1"), q("1.0001"));
        assert_eq!("2Gi".parse::<Quantity>(), Ok(q("2147483648")));
    }

    #[test]
    fn sign() {
        assert!(q("-1").is_negative());
        assert!(q("-1n").is_negative());
        // 47 significant digits rounded away from zero stay negative.
        assert!(q("-0.00000000000000000000000000000000000000000000001").is_negative());
        assert!(!q("-0").is_negative());
        assert!(q("-0").is_zero());
        assert!(!q("+5").is_negative());
        assert_eq!(q("1.5Gi").as_str(), "1.5Gi");
    }

    #[test]
    fn rejections() {
        // (input, the full error message)
        let table: &[(&str, &str)] = &[
            ("12x", r#"invalid quantity "12x": unknown suffix "x""#),
            (
                "1.2.3",
                r#"invalid quantity "1.2.3": unexpected ".3" after the number"#,
            ),
            ("", r#"invalid quantity "": empty string"#),
            ("Gi", r#"invalid quantity "Gi": expected a number"#),
            (
                "1 Gi",
                r#"invalid quantity "1 Gi": unexpected " Gi" after the number"#,
            ),
            ("--1", r#"invalid quantity "--1": expected a number"#),
            ("1e", r#"invalid quantity "1e": unknown suffix "e""#),
            ("1ee3", r#"invalid quantity "1ee3": unknown suffix "ee3""#),
            ("0x10", r#"invalid quantity "0x10": unknown suffix "x10""#),
            ("1Kb", r#"invalid quantity "1Kb": unknown suffix "Kb""#),
            ("1K", r#"invalid quantity "1K": unknown suffix "K""#),
            (
                "1.5.",
                r#"invalid quantity "1.5.": unexpected "." after the number"#,
            ),
            (".", r#"invalid quantity ".": expected a number"#),
            ("+", r#"invalid quantity "+": expected a number"#),
            ("-", r#"invalid quantity "-": expected a number"#),
            ("1e+", r#"invalid quantity "1e+": unknown suffix "e+""#),
            ("1e-", r#"invalid quantity "1e-": unknown suffix "e-""#),
            (
                "1e3.5",
                r#"invalid quantity "1e3.5": unknown suffix "e3.5""#,
            ),
            ("1Ei3", r#"invalid quantity "1Ei3": unknown suffix "Ei3""#),
            ("1i", r#"invalid quantity "1i": unknown suffix "i""#),
            (
                "1 ",
                r#"invalid quantity "1 ": unexpected " " after the number"#,
            ),
            (" 1", r#"invalid quantity " 1": expected a number"#),
            (
                "1\n",
                r#"invalid quantity "1\n": unexpected "\n" after the number"#,
            ),
            (
                "1µ",
                r#"invalid quantity "1µ": unexpected "µ" after the number"#,
            ),
            ("1mi", r#"invalid quantity "1mi": unknown suffix "mi""#),
            ("1KI", r#"invalid quantity "1KI": unknown suffix "KI""#),
            (
                "1e99999999999999999999",
                r#"invalid quantity "1e99999999999999999999": exponent out of range"#,
            ),
            // 10^39 > i128::MAX ≈ 1.7 × 10^38
            (
                "1e39",
                r#"quantity "1e39" is too large (above 2^63-1, kube's int64 maximum)"#,
            ),
        ];
        for (input, message) in table {
            match parse(input) {
                Ok(v) => panic!("{input:?} should be rejected, got {v:?}"),
                Err(e) => assert_eq!(e.to_string(), *message, "{input:?}"),
            }
        }
    }

    #[test]
    fn conversion_errors_name_the_input() {
        assert_eq!(
            q("-1").to_milli_ceil().unwrap_err().to_string(),
            r#"quantity "-1" is negative"#
        );
        assert_eq!(
            q("-100m").to_int_ceil().unwrap_err(),
            QuantityError::Negative {
                input: "-100m".into()
            }
        );
        assert_eq!(
            q("1e19").to_int_ceil().unwrap_err().to_string(),
            r#"quantity "1e19" is too large (above 2^63-1, kube's int64 maximum)"#
        );
    }

    /// Each suffix as (text, numerator multiplier, scale): the value of
    /// `n<suffix>` is `n × multiplier / 10^scale`.
    const SUFFIXES: &[(&str, i128, u32)] = &[
        ("", 1, 0),
        ("n", 1, 9),
        ("u", 1, 6),
        ("m", 1, 3),
        ("k", 1_000, 0),
        ("M", 1_000_000, 0),
        ("G", 1_000_000_000, 0),
        ("T", 1_000_000_000_000, 0),
        ("P", 1_000_000_000_000_000, 0),
        ("E", 1_000_000_000_000_000_000, 0),
        ("Ki", 1 << 10, 0),
        ("Mi", 1 << 20, 0),
        ("Gi", 1 << 30, 0),
        ("Ti", 1 << 40, 0),
        ("Pi", 1 << 50, 0),
        ("Ei", 1 << 60, 0),
        ("e0", 1, 0),
        ("e7", 10_000_000, 0),
        ("E+18", 1_000_000_000_000_000_000, 0),
        ("e-2", 1, 2),
        ("E-30", 1, 30),
    ];

    /// The value of `n` with a suffix of multiplier `mult`: binary suffixes
    /// (`binary`) cap the magnitude at 2^63 − 1, as kube does.
    fn expected_value(n: i128, mult: i128, binary: bool) -> i128 {
        let cap = i128::from(i64::MAX);
        let v = n * mult;
        if binary { v.clamp(-cap, cap) } else { v }
    }

    /// ceil(v × 10^extra / 10^scale) for v ≥ 0, computed directly; above
    /// MAX is an error.
    fn expected_ceil(v: i128, scale: u32, extra: u32) -> Result<u64, ()> {
        let top = v.checked_mul(10_i128.pow(extra)).ok_or(())?;
        let d = 10_i128.pow(scale);
        let c = top / d + i128::from(top % d != 0);
        u64::try_from(c).ok().filter(|&c| c <= MAX).ok_or(())
    }

    proptest! {
        #[test]
        fn integers_with_every_suffix_are_exact(n in any::<i64>(), which in 0..SUFFIXES.len()) {
            let (suffix, mult, scale) = SUFFIXES[which];
            let input = format!("{n}{suffix}");
            let parsed = parse(&input).unwrap();
            let value = expected_value(i128::from(n), mult, suffix.ends_with('i'));
            prop_assert!(value_is(&parsed, value, scale), "{input}");
            prop_assert_eq!(parsed.is_negative(), n < 0);
            if n >= 0 {
                prop_assert_eq!(ok_or_unit(parsed.to_milli_ceil()), expected_ceil(value, scale, 3));
                prop_assert_eq!(ok_or_unit(parsed.to_int_ceil()), expected_ceil(value, scale, 0));
            } else {
                prop_assert!(
                    matches!(parsed.to_milli_ceil(), Err(QuantityError::Negative { .. })),
                    "negative"
                );
            }
        }

        #[test]
        fn decimals_are_exact(int in 0_u64..1_000_000, frac in 0_u32..1000, digits in 1_usize..=3) {
            // "int.fff" with `digits` fraction digits means (int × 10^digits + frac) / 10^digits.
            let frac = frac % 10_u32.pow(digits as u32);
            let input = format!("{int}.{frac:0digits$}");
            let parsed = parse(&input).unwrap();
            let num = i128::from(int) * 10_i128.pow(digits as u32) + i128::from(frac);
            prop_assert!(value_is(&parsed, num, digits as u32), "{input}");
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_near_misses(s in "[+-]{0,2}[0-9.]{0,45}[eEinumkKMGTP+-]{0,3}[0-9]{0,22}") {
            if let Ok(v) = parse(&s) {
                // Whatever parsed converts without panicking either.
                let _ = v.to_milli_ceil();
                let _ = v.to_int_ceil();
            }
        }
    }
}
