//! Unpadded URL-safe base64 (RFC 4648 §5), as the `base64` crate's `URL_SAFE_NO_PAD` engine
//! writes and strictly reads it (no `=`, no stray bits after the last byte): written out, it is
//! a few hundred bytes of a component where the crate's engine is several KB (the components
//! link another version of that crate for JWTs already). The tests check it against the crate.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |group, (i, &byte)| {
            group | u32::from(byte) << (16 - 8 * i)
        });
        // n bytes make n + 1 symbols.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(group >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// `None` for anything [`encode`] cannot have written.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let symbols = text.as_bytes();
    if symbols.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(symbols.len() / 4 * 3 + 2);
    for chunk in symbols.chunks(4) {
        let mut group = 0u32;
        for (i, &symbol) in chunk.iter().enumerate() {
            let value = match symbol {
                b'A'..=b'Z' => symbol - b'A',
                b'a'..=b'z' => symbol - b'a' + 26,
                b'0'..=b'9' => symbol - b'0' + 52,
                b'-' => 62,
                b'_' => 63,
                _ => return None,
            };
            group |= u32::from(value) << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1;
        // The bits after the last byte must be zero, as `encode` leaves them.
        if group & ((1 << (24 - 8 * bytes)) - 1) != 0 {
            return None;
        }
        for i in 0..bytes {
            out.push((group >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn encoding_is_the_crates() {
        let bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for start in 0..8 {
            for end in start..bytes.len() {
                let slice = &bytes[start..end];
                assert_eq!(encode(slice), URL_SAFE_NO_PAD.encode(slice));
                assert_eq!(decode(&encode(slice)).as_deref(), Some(slice));
            }
        }
    }

    #[test]
    fn decoding_accepts_and_refuses_what_the_crate_does() {
        let symbols = [
            'A', 'B', 'Q', 'g', 'w', '_', '-', '0', '9', '=', '+', '/', ' ', 'é',
        ];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            texts = texts
                .iter()
                .flat_map(|text| symbols.iter().map(move |s| format!("{text}{s}")))
                .collect();
            for text in &texts {
                for text in [text.clone(), format!("AAAA{text}")] {
                    assert_eq!(
                        decode(&text),
                        URL_SAFE_NO_PAD.decode(&text).ok(),
                        "{text:?}"
                    );
                }
            }
        }
        assert_eq!(decode(""), Some(Vec::new()));
    }
}
