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
            (Numbers::Float64, Some(f)) => out.push_str(&format_float64(f)),
            _ => out.push_str(&n.to_string()),
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
            // Go sorts map keys by their bytes, whatever order they arrived in.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item, numbers);
            }
            out.push('}');
        }
    }
}

/// A JSON string literal with Go's HTML-safe escaping.
pub(crate) fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{0}'..='\u{1f}' => {
                let code = c as u32;
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((code >> shift) & 0xf) as usize] as char);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's float64 encoding: shortest round-trip digits, exponent form outside [1e-6, 1e21).
fn format_float64(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = format!("{f:e}");
        // Rust writes `1e21` / `1e-7`; Go writes `1e+21` / `1e-07` and then trims the zero.
        match e.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => e,
        }
    } else {
        format!("{f}")
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

    #[test]
    fn escapes_control_characters_with_lowercase_hex() {
        let mut out = String::new();
        write_string(&mut out, "\u{1}\n\u{1f}");
        assert_eq!(out, r#""\u0001\n\u001f""#);
    }
}
