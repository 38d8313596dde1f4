//! W3C trace context (`traceparent: 00-<trace-id>-<parent-id>-<flags>`).

use rand::RngCore as _;

/// The header name.
pub const TRACEPARENT: &str = "traceparent";

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    loop {
        rand::rng().fill_bytes(&mut buf);
        // All-zero ids are invalid.
        if buf.iter().any(|b| *b != 0) {
            break;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The parts of a valid `traceparent` value (version `00` or a later one read as `00`).
pub fn parse(value: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let [version, trace_id, parent_id, flags, ..] = parts.as_slice() else {
        return None;
    };
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !hex(version, 2) || *version == "ff" || (*version == "00" && parts.len() != 4) {
        return None;
    }
    if !hex(trace_id, 32) || trace_id.bytes().all(|b| b == b'0') {
        return None;
    }
    if !hex(parent_id, 16) || parent_id.bytes().all(|b| b == b'0') || !hex(flags, 2) {
        return None;
    }
    Some((
        trace_id.to_string(),
        parent_id.to_string(),
        flags.to_string(),
    ))
}

/// A new trace (sampled).
pub fn new_traceparent() -> String {
    format!("00-{}-{}-01", random_hex(16), random_hex(8))
}

/// A child span of `parent` (same trace id and flags, new span id); a new trace when `parent`
/// is not a valid traceparent.
pub fn child_of(parent: &str) -> String {
    match parse(parent) {
        Some((trace_id, _, flags)) => format!("00-{trace_id}-{}-{flags}", random_hex(8)),
        None => new_traceparent(),
    }
}

/// The trace id of a valid traceparent.
pub fn trace_id(value: &str) -> Option<String> {
    parse(value).map(|(trace_id, _, _)| trace_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_and_rejects_invalid() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse(tp),
            Some((
                "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                "00f067aa0ba902b7".into(),
                "01".into()
            ))
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn child_keeps_trace_id_and_new_is_valid() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let child = child_of(tp);
        assert_eq!(trace_id(&child), trace_id(tp));
        assert_ne!(child, tp);
        assert!(parse(&new_traceparent()).is_some());
        assert!(parse(&child_of("garbage")).is_some());
    }
}
