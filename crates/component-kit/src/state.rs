//! What every component that keeps documents in the Dapr state store needs: key parts that stay
//! printable and free of Dapr's `||` separator, the backoff between optimistic-concurrency
//! retries, and the error for a stored document that does not parse.
use crate::{ApiError, Runtime};

/// A user id (or another caller-chosen string) as a key part: every byte outside
/// `A-Z a-z 0-9 - _ . @` becomes `%XX` (upper-case hex), so no value can contain `:`, `{`, `}`
/// or Dapr's `||` (docs/contracts.md "Stored documents").
pub fn escape_key_part(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'@' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Wait before retrying a lost optimistic-concurrency race: full jitter over a window that
/// doubles per attempt (0 → 1 ms), capped at 64 ms.
pub async fn backoff<R: Runtime>(runtime: &R, attempt: u32) {
    let window_micros = 1000u128 << attempt.min(6);
    let jitter = (uuid::Uuid::new_v4().as_u128() % window_micros) as u64;
    runtime
        .sleep(std::time::Duration::from_micros(jitter))
        .await;
}

/// A stored document that does not parse as the shape we write: a bug or a hand-edited store.
pub fn unreadable(key: &str, cause: &str) -> ApiError {
    ApiError::Internal(format!("stored document {key} is unreadable: {cause}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_escape_separators() {
        assert_eq!(escape_key_part("alice@example.com"), "alice@example.com");
        assert_eq!(escape_key_part("a||b c"), "a%7C%7Cb%20c");
        assert_eq!(escape_key_part("{x}:y"), "%7Bx%7D%3Ay");
        assert_eq!(escape_key_part("é"), "%C3%A9");
    }

    #[test]
    fn unreadable_documents_are_internal_errors_naming_the_key() {
        let error = unreadable("tasks:a:00", "expected a map");
        assert_eq!(error.status(), 500);
        assert!(error.to_string().contains("tasks:a:00"), "{error}");
    }
}
