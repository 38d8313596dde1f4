//! Bearer-token authentication: HS256 JWTs issued by the web front end (shared secret), `sub` =
//! user id. Pure: the secret and the current time are passed in.
use hmac::{Hmac, Mac};
use jwt::{SignWithKey, VerifyWithKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing Authorization header; send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the Authorization header must use the Bearer scheme")]
    NotBearer,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("the server has no JWT secret configured")]
    NoSecret,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
}

/// The authenticated user id from an `Authorization` header value.
pub fn authenticate(
    header: Option<&str>,
    secret: &[u8],
    now_unix: u64,
) -> Result<String, AuthError> {
    if secret.is_empty() {
        return Err(AuthError::NoSecret);
    }
    let header = header.ok_or(AuthError::Missing)?.trim();
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(AuthError::NotBearer),
    };
    // `verify_with_key` refuses a header whose `alg` is not the key's (HS256), so `none` and
    // RS/ES tokens fail; `Claims` requires `sub` and `exp`. Time checks are done below against
    // the caller's clock, so tests can move time.
    let claims: Claims = token
        .verify_with_key(&hs256_key(secret))
        .map_err(|e| AuthError::Invalid(e.to_string()))?;
    if claims.exp + LEEWAY_SECONDS < now_unix {
        return Err(AuthError::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now_unix + LEEWAY_SECONDS)
    {
        return Err(AuthError::NotYetValid);
    }
    if claims.sub.trim().is_empty() {
        return Err(AuthError::Invalid("empty `sub` claim".to_owned()));
    }
    Ok(claims.sub)
}

/// Mint a token, as the front end would (dev tooling and tests).
pub fn issue_token(secret: &[u8], user_id: &str, now_unix: u64, ttl_seconds: u64) -> String {
    let claims = Claims {
        sub: user_id.to_owned(),
        exp: now_unix + ttl_seconds,
        nbf: None,
        iat: Some(now_unix),
    };
    claims
        .sign_with_key(&hs256_key(secret))
        .expect("HS256 signing of plain claims cannot fail")
}

fn hs256_key(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::new_from_slice(secret).expect("HMAC accepts a key of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret";
    const NOW: u64 = 1_800_000_000;

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    #[test]
    fn a_valid_token_yields_its_subject() {
        let token = issue_token(SECRET, "alice", NOW, 3600);
        assert_eq!(
            authenticate(Some(&bearer(&token)), SECRET, NOW).unwrap(),
            "alice"
        );
    }

    #[test]
    fn expired_foreign_and_malformed_tokens_are_rejected() {
        let token = issue_token(SECRET, "alice", NOW - 7200, 3600);
        assert_eq!(
            authenticate(Some(&bearer(&token)), SECRET, NOW),
            Err(AuthError::Expired)
        );
        let token = issue_token(b"other-secret", "alice", NOW, 3600);
        assert!(matches!(
            authenticate(Some(&bearer(&token)), SECRET, NOW),
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(authenticate(None, SECRET, NOW), Err(AuthError::Missing));
        assert_eq!(
            authenticate(Some("Basic abc"), SECRET, NOW),
            Err(AuthError::NotBearer)
        );
        assert!(matches!(
            authenticate(Some("Bearer abc.def.ghi"), SECRET, NOW),
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(
            authenticate(Some("Bearer x"), b"", NOW),
            Err(AuthError::NoSecret)
        );
    }

    #[test]
    fn not_before_is_honoured_with_leeway() {
        let claims = Claims {
            sub: "bob".into(),
            exp: NOW + 3600,
            nbf: Some(NOW + 600),
            iat: None,
        };
        let token = claims.sign_with_key(&hs256_key(SECRET)).unwrap();
        assert_eq!(
            authenticate(Some(&bearer(&token)), SECRET, NOW),
            Err(AuthError::NotYetValid)
        );
        assert_eq!(
            authenticate(Some(&bearer(&token)), SECRET, NOW + 590).unwrap(),
            "bob"
        );
    }

    /// A token whose header says `none` (or any algorithm but HS256) is refused even when its
    /// claims are fine: the classic JWT downgrade.
    #[test]
    fn a_token_with_another_algorithm_is_rejected() {
        use base64::Engine as _;
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let claims = b64(format!(r#"{{"sub":"mallory","exp":{}}}"#, NOW + 60).as_bytes());
        for alg in ["none", "HS384", "RS256"] {
            let signing_input = format!(
                "{}.{claims}",
                b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes())
            );
            // A correct HMAC-SHA256 under our key: only the header's `alg` is wrong.
            let mut mac = hs256_key(SECRET);
            mac.update(signing_input.as_bytes());
            let signature = b64(&mac.finalize().into_bytes());
            for token in [
                format!("{signing_input}."),
                format!("{signing_input}.{signature}"),
            ] {
                assert!(
                    matches!(
                        authenticate(Some(&bearer(&token)), SECRET, NOW),
                        Err(AuthError::Invalid(_))
                    ),
                    "{alg}: {token}"
                );
            }
        }
    }

    /// Tokens minted elsewhere (jsonwebtoken-style header with `typ`) verify the same.
    #[test]
    fn a_token_from_another_hs256_implementation_is_accepted() {
        use base64::Engine as _;
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let signing_input = format!(
            "{}.{}",
            b64(br#"{"typ":"JWT","alg":"HS256"}"#),
            b64(format!(r#"{{"sub":"carol","exp":{},"iat":{NOW}}}"#, NOW + 60).as_bytes())
        );
        let mut mac = hs256_key(SECRET);
        mac.update(signing_input.as_bytes());
        let token = format!("{signing_input}.{}", b64(&mac.finalize().into_bytes()));
        assert_eq!(
            authenticate(Some(&bearer(&token)), SECRET, NOW).unwrap(),
            "carol"
        );
    }

    #[test]
    fn a_token_without_exp_is_rejected() {
        #[derive(Serialize)]
        struct NoExp {
            sub: String,
        }
        let token = NoExp { sub: "x".into() }
            .sign_with_key(&hs256_key(SECRET))
            .unwrap();
        assert!(matches!(
            authenticate(Some(&bearer(&token)), SECRET, NOW),
            Err(AuthError::Invalid(_))
        ));
    }
}
