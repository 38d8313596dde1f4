//! JSON output byte-compatible with Go's `encoding/json`, which is what daprd uses to write
//! stored state values, CloudEvent envelopes and error bodies; and ([`decode`]) request bodies
//! read by Go's rules for decoding into a struct.
//!
//! Why not plain `serde_json::to_vec`: Go sorts map keys, escapes `<`, `>`, `&`, U+2028 and
//! U+2029, and (when a value was decoded into `interface{}`, as daprd does for state values)
//! turns every number into a float64 and prints it Go's way. Apps that compare bodies, or hash
//! them, must see the same bytes from us as from daprd.

pub(crate) mod decode;

use serde_json::Value;
use std::fmt::Write;

/// How numbers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Numbers {
    /// As Go prints a float64: daprd decodes state values into `interface{}` (float64 numbers),
    /// so `1.0` is stored as `1` and `12345678901234567890` as `12345678901234567000`.
    Float64,
    /// As given: daprd decodes CloudEvent payloads with `UseNumber`, which keeps the literal.
    Precise,
}

/// Serializes `value` as Go's `json.Marshal` would.
pub(crate) fn marshal(value: &Value, numbers: Numbers) -> String {
    let mut out = String::new();
    write_value(&mut out, value, numbers);
    out
}

pub(crate) fn write_value(out: &mut String, value: &Value, numbers: Numbers) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (numbers, n.as_f64()) {
            (Numbers::Float64, Some(f)) => write_float64(out, f),
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, numbers);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Go sorts map keys by their bytes, whatever order they arrived in. serde_json's map
            // is a BTreeMap (already in that order) unless a dependency turns on its
            // `preserve_order` feature: sort only then.
            if map.keys().is_sorted_by(|a, b| a.as_bytes() <= b.as_bytes()) {
                write_members(out, map.iter(), numbers);
            } else {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                write_members(out, entries.into_iter(), numbers);
            }
        }
    }
}

fn write_members<'a>(
    out: &mut String,
    members: impl Iterator<Item = (&'a String, &'a Value)>,
    numbers: Numbers,
) {
    out.push('{');
    for (i, (key, item)) in members.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, item, numbers);
    }
    out.push('}');
}

/// A JSON string literal with Go's HTML-safe escaping.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    // Copy the runs between characters that need escaping whole: most strings have none.
    let mut run_start = 0;
    for (at, c) in s.char_indices() {
        if let Some(escape) = go_escape(c) {
            out.push_str(&s[run_start..at]);
            escape.write(out);
            run_start = at + c.len_utf8();
        }
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

/// How Go's encoder writes a character that it does not write as itself.
enum Escape {
    Short(&'static str),
    Unicode(u32),
}

impl Escape {
    fn write(self, out: &mut String) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        match self {
            Escape::Short(text) => out.push_str(text),
            Escape::Unicode(code) => {
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((code >> shift) & 0xf) as usize] as char);
                }
            }
        }
    }
}

fn go_escape(c: char) -> Option<Escape> {
    match c {
        '"' => Some(Escape::Short("\\\"")),
        '\\' => Some(Escape::Short("\\\\")),
        '\n' => Some(Escape::Short("\\n")),
        '\r' => Some(Escape::Short("\\r")),
        '\t' => Some(Escape::Short("\\t")),
        '\u{8}' => Some(Escape::Short("\\b")),
        '\u{c}' => Some(Escape::Short("\\f")),
        '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{0}'..='\u{1f}' => {
            Some(Escape::Unicode(c as u32))
        }
        _ => None,
    }
}

/// Go's float64 encoding: shortest round-trip digits, exponent form outside [1e-6, 1e21).
/// Written straight into `out`: a stored document can hold hundreds of numbers.
fn write_float64(out: &mut String, f: f64) {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1e21` / `1e-7`; Go writes `1e+21` / `1e-07` and then trims the zero.
        let start = out.len();
        let _ = write!(out, "{f:e}");
        if let Some(e) = out[start..].find('e')
            && !out[start + e + 1..].starts_with('-')
        {
            out.insert(start + e + 1, '+');
        }
    } else {
        let _ = write!(out, "{f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_escapes_html_like_go() {
        let v = json!({"b": "<a&b>", "a": [1, "\u{2028}"]});
        assert_eq!(
            marshal(&v, Numbers::Precise),
            r#"{"a":[1,"\u2028"],"b":"\u003ca\u0026b\u003e"}"#
        );
    }

    #[test]
    fn prints_numbers_as_go_float64() {
        let v: Value = serde_json::from_str("[1.0, 12345678901234567890, 1e21, 1e-7, 0.5, -3]")
            .expect("valid");
        assert_eq!(
            marshal(&v, Numbers::Float64),
            "[1,12345678901234567000,1e+21,1e-7,0.5,-3]"
        );
    }

    /// Go's escaping one character at a time (as `write_string` was before it copied runs).
    fn escaped_char_by_char(s: &str) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            match go_escape(c) {
                Some(escape) => escape.write(&mut out),
                None => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn strings_written_in_runs_match_go_escaping_char_by_char() {
        let every_ascii: String = (0u8..0x80).map(char::from).collect();
        let cases = [
            String::new(),
            "plain title".to_owned(),
            every_ascii.clone(),
            format!("é<{every_ascii}>ü\u{2028}x\u{2029}"),
            "<>&".to_owned(),
            "ends with an escape\n".to_owned(),
            "\"starts with one".to_owned(),
            "日本語 🎉 mixed & wide".to_owned(),
        ];
        for case in cases {
            let mut out = String::new();
            write_string(&mut out, &case);
            assert_eq!(out, escaped_char_by_char(&case), "{case:?}");
        }
        // And the escapes themselves are Go's.
        let mut out = String::new();
        write_string(&mut out, "a\"b\\c\u{7f}\u{8}\u{c}");
        // (DEL is not escaped by Go.)
        assert_eq!(out, "\"a\\\"b\\\\c\u{7f}\\b\\f\"");
    }

    #[test]
    fn floats_are_written_in_place_as_go_prints_them() {
        let cases = [
            (0.0, "0"),
            (-0.0, "-0"),
            (3.0, "3"),
            (-42.0, "-42"),
            (0.1, "0.1"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (-2.5e-9, "-2.5e-9"),
        ];
        for (f, go) in cases {
            let mut out = String::from("[");
            write_float64(&mut out, f);
            assert_eq!(out, format!("[{go}"), "{f}");
        }
    }

    #[test]
    fn escapes_control_characters_with_lowercase_hex() {
        let mut out = String::new();
        write_string(&mut out, "\u{1}\n\u{1f}");
        assert_eq!(out, r#""\u0001\n\u001f""#);
    }
}
