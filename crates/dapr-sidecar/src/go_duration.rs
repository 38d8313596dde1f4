//! Go's `time.ParseDuration`, which daprd and the libraries it uses apply to every duration
//! written as text: resiliency timeouts and retry intervals (`resources::resiliency`), the job
//! scheduler's `@every <duration>`, `dueTime` and `ttl` (`jobs::schedule`).
//!
//! Grammar (Go `src/time/format.go`, `ParseDuration`): `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, where
//! each number has digits before or after its point (`5.s` and `.5s` are fine, `.s` is not),
//! every number needs a unit (`ns`, `us`, `µs` U+00B5, `μs` U+03BC, `ms`, `s`, `m`, `h`), and
//! `0` alone (optionally signed) is the only unitless duration. The value is Go's
//! `time.Duration`: signed nanoseconds in an `i64`, so anything beyond ±2562047h47m16.854775807s
//! is an error. Fractions are converted exactly as Go converts them (through an `f64`, per
//! component, truncated), so a result is the nanosecond Go gets.
//!
//! Negative durations are valid Go durations; whether one is acceptable is the caller's decision
//! ([`parse_non_negative`] for callers that refuse them).

use std::fmt;

/// A duration Go's `time.ParseDuration` refuses, or a negative one where the caller needs a
/// non-negative one. Its text is Go's error text (`time: invalid duration "1d"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GoDurationError {
    /// Not the grammar, or out of the `i64` nanosecond range.
    #[error("time: invalid duration {}", quote(.0))]
    Invalid(String),
    /// A number without a unit (`"5"`, `"1h30"`).
    #[error("time: missing unit in duration {}", quote(.0))]
    MissingUnit(String),
    /// A unit Go does not know (`"1d"`).
    #[error("time: unknown unit {} in duration {}", quote(.unit), quote(.input))]
    UnknownUnit { unit: String, input: String },
    /// A valid but negative duration, refused by [`parse_non_negative`] (not a Go error).
    #[error("negative duration {}", quote(.0))]
    Negative(String),
}

/// Nanoseconds per unit (Go's `unitMap`).
fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

const LIMIT: u64 = 1 << 63;

/// Go's `time.ParseDuration`: signed nanoseconds.
pub(crate) fn parse(input: &str) -> Result<i64, GoDurationError> {
    let invalid = || GoDurationError::Invalid(input.to_owned());
    let bytes = input.as_bytes();
    let mut s = bytes;
    let mut negative = false;
    if let Some(&sign @ (b'-' | b'+')) = s.first() {
        negative = sign == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // [0-9]*
        let before = s.len();
        let (mut value, rest) = leading_int(s).ok_or_else(invalid)?;
        s = rest;
        let pre = before != s.len();
        // (\.[0-9]*)?
        let (mut fraction, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix(b".") {
            let before = rest.len();
            let (f, sc, rest) = leading_fraction(rest);
            (fraction, scale, post) = (f, sc, before != rest.len());
            s = rest;
        }
        if !pre && !post {
            return Err(invalid());
        }
        // The unit: everything up to the next number.
        let unit_len = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(GoDurationError::MissingUnit(input.to_owned()));
        }
        // The unit ends at an ASCII byte or at the end, so it is whole UTF-8.
        let unit = String::from_utf8_lossy(&s[..unit_len]).into_owned();
        s = &s[unit_len..];
        let Some(nanos) = unit_nanos(&unit) else {
            return Err(GoDurationError::UnknownUnit {
                unit,
                input: input.to_owned(),
            });
        };
        if value > LIMIT / nanos {
            return Err(invalid());
        }
        value *= nanos;
        if fraction > 0 {
            // As Go: through a float64, nanosecond-exact for fractions of hours.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let extra = (fraction as f64 * (nanos as f64 / scale)) as u64;
            value += extra;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total += value;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        // total <= 2^63: -2^63 is i64::MIN.
        return Ok(0i64.wrapping_sub_unsigned(total));
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// [`parse`] for callers that refuse negative durations (`-0` is zero, not negative).
pub(crate) fn parse_non_negative(input: &str) -> Result<std::time::Duration, GoDurationError> {
    let nanos = parse(input)?;
    u64::try_from(nanos)
        .map(std::time::Duration::from_nanos)
        .map_err(|_| GoDurationError::Negative(input.to_owned()))
}

/// Go's `leadingInt`: the leading `[0-9]*`; `None` on overflow past 2^63.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if x > LIMIT / 10 {
            return None;
        }
        x = x * 10 + u64::from(s[i] - b'0');
        if x > LIMIT {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// Go's `leadingFraction`: the leading `[0-9]*` after a point, as `x / scale`; digits beyond
/// what fits are consumed and ignored.
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let mut x: u64 = 0;
    let mut scale = 1f64;
    let mut overflow = false;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if !overflow {
            if x > (LIMIT - 1) / 10 {
                overflow = true;
            } else {
                let y = x * 10 + u64::from(s[i] - b'0');
                if y > LIMIT {
                    overflow = true;
                } else {
                    x = y;
                    scale *= 10.0;
                }
            }
        }
        i += 1;
    }
    (x, scale, &s[i..])
}

/// Go's `time.quote`: double quotes, `"` and `\` escaped, every byte of a non-ASCII or control
/// character as `\xNN`.
fn quote(s: &str) -> String {
    struct Quoted<'a>(&'a str);
    impl fmt::Display for Quoted<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("\"")?;
            for c in self.0.chars() {
                if !c.is_ascii() || c < ' ' {
                    let mut buf = [0u8; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        write!(f, "\\x{byte:02x}")?;
                    }
                } else {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
            }
            f.write_str("\"")
        }
    }
    Quoted(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: i64 = 1;
    const US: i64 = 1_000;
    const MS: i64 = 1_000_000;
    const S: i64 = 1_000_000_000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;

    /// Go's `parseDurationTests` (`src/time/time_test.go`), every row.
    #[test]
    fn parses_like_go() {
        let table: &[(&str, i64)] = &[
            // simple
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            // sign
            ("-5s", -5 * S),
            ("+5s", 5 * S),
            ("-0", 0),
            ("+0", 0),
            // decimal
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600 * MS),
            ("5.s", 5 * S),
            (".5s", 500 * MS),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4 * MS),
            ("1.0040s", S + 4 * MS),
            ("100.00100s", 100 * S + MS),
            // different units
            ("10ns", 10 * NS),
            ("11us", 11 * US),
            ("12µs", 12 * US), // U+00B5
            ("12μs", 12 * US), // U+03BC
            ("13ms", 13 * MS),
            ("14s", 14 * S),
            ("15m", 15 * M),
            ("16h", 16 * H),
            // composite durations
            ("3h30m", 3 * H + 30 * M),
            ("10.5s4m", 4 * M + 10 * S + 500 * MS),
            ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
            (
                "1h2m3s4ms5us6ns",
                H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS,
            ),
            ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
            // large value
            ("52763797000ns", 52_763_797_000 * NS),
            // more than 9 digits after decimal point, see https://golang.org/issue/6617
            ("0.3333333333333333333h", 20 * M),
            // 9007199254740993 = 1<<53+1 cannot be stored precisely in a float64
            ("9007199254740993ns", (1 << 53) + 1),
            // largest duration that can be represented by int64 in nanoseconds
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-9223372036s854ms775us808ns", i64::MIN),
            // largest negative round trip value, see https://golang.org/issue/48629
            ("-2562047h47m16.854775808s", i64::MIN),
            // huge string; issue 15011.
            ("0.100000000000000000000h", 6 * M),
            // This value tests the first overflow check in leadingFraction.
            (
                "0.830103483285477580700h",
                49 * M + 48 * S + 372_539_827 * NS,
            ),
        ];
        for (input, want) in table {
            assert_eq!(parse(input), Ok(*want), "{input}");
        }
    }

    /// Go's `parseDurationErrorTests`: the error names the input as Go quotes it. Go's rows
    /// with invalid UTF-8 (`"\x85\x85"`, `"\xffff"`, `"hello \xffff world"`) have no `&str`
    /// form; YAML and JSON text is always UTF-8.
    #[test]
    fn refuses_like_go() {
        let table: &[(&str, &str)] = &[
            // invalid
            ("", r#""""#),
            ("3", r#""3""#),
            ("-", r#""-""#),
            ("s", r#""s""#),
            (".", r#"".""#),
            ("-.", r#""-.""#),
            (".s", r#"".s""#),
            ("+.s", r#""+.s""#),
            ("1d", r#""1d""#),
            ("\u{FFFD}", r#""\xef\xbf\xbd""#),
            (
                "\u{FFFD} hello \u{FFFD} world",
                r#""\xef\xbf\xbd hello \xef\xbf\xbd world""#,
            ),
            // overflow
            ("9223372036854775810ns", r#""9223372036854775810ns""#),
            ("9223372036854775808ns", r#""9223372036854775808ns""#),
            ("-9223372036854775809ns", r#""-9223372036854775809ns""#),
            ("9223372036854776us", r#""9223372036854776us""#),
            ("3000000h", r#""3000000h""#),
            ("9223372036854775.808us", r#""9223372036854775.808us""#),
            (
                "9223372036854ms775us808ns",
                r#""9223372036854ms775us808ns""#,
            ),
        ];
        for (input, quoted) in table {
            let err = parse(input).expect_err(input).to_string();
            assert!(err.starts_with("time: "), "{input}: {err}");
            assert!(err.contains(quoted), "{input}: {err} lacks {quoted}");
        }
    }

    #[test]
    fn errors_say_what_go_says() {
        assert_eq!(
            parse("5").unwrap_err().to_string(),
            r#"time: missing unit in duration "5""#
        );
        assert_eq!(
            parse("1h30").unwrap_err().to_string(),
            r#"time: missing unit in duration "1h30""#
        );
        assert_eq!(
            parse("1d").unwrap_err().to_string(),
            r#"time: unknown unit "d" in duration "1d""#
        );
        assert_eq!(
            parse("5 s").unwrap_err().to_string(),
            r#"time: unknown unit " s" in duration "5 s""#
        );
        assert_eq!(
            parse(" 5s").unwrap_err().to_string(),
            r#"time: invalid duration " 5s""#
        );
        assert_eq!(
            parse("2µh").unwrap_err().to_string(),
            r#"time: unknown unit "\xc2\xb5h" in duration "2\xc2\xb5h""#
        );
    }

    #[test]
    fn callers_that_refuse_negatives_get_a_negative_error() {
        use std::time::Duration;
        assert_eq!(parse_non_negative("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_non_negative("-0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_non_negative("-1s"),
            Err(GoDurationError::Negative("-1s".into()))
        );
        assert_eq!(
            parse_non_negative("-1s").unwrap_err().to_string(),
            r#"negative duration "-1s""#
        );
        assert!(matches!(
            parse_non_negative("1d"),
            Err(GoDurationError::UnknownUnit { .. })
        ));
    }
}
