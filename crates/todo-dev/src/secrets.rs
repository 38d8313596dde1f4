//! Development secrets: the stable dev `jwt_secret` kept in the data dir, the per-run app API
//! token, and `todo-dev token`.

use crate::TokenArgs;
use anyhow::Context as _;
use rand::RngCore as _;
use spin_host::{Manifest, VariableResolver};
use std::path::{Path, PathBuf};

pub const JWT_SECRET_VAR: &str = "jwt_secret";
pub const APP_API_TOKEN_VAR: &str = "app_api_token";
const JWT_SECRET_FILE: &str = "jwt_secret";

/// `bytes` random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the dev JWT secret lives.
pub fn jwt_secret_path(data_dir: &Path) -> PathBuf {
    data_dir.join(JWT_SECRET_FILE)
}

/// The dev JWT secret stored in `data_dir`, created (random, 256 bits) on first use.
pub fn dev_jwt_secret(data_dir: &Path) -> anyhow::Result<(String, PathBuf)> {
    let path = jwt_secret_path(data_dir);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let secret = text.trim().to_string();
        if !secret.is_empty() {
            return Ok((secret, path));
        }
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    let secret = random_hex(32);
    write_private(&path, &format!("{secret}\n"))
        .with_context(|| format!("cannot write the dev JWT secret to {}", path.display()))?;
    Ok((secret, path))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(tmp, path)
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Where a variable's value came from, for the startup banner (never the value of a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtSecretSource {
    /// `SPIN_VARIABLE_JWT_SECRET` or a manifest default.
    Configured,
    /// Generated for development, stored at this path.
    DevFile(PathBuf),
    /// The manifest declares no `jwt_secret`.
    NotDeclared,
}

/// Give `resolver` the dev JWT secret as a fallback when `jwt_secret` has no value otherwise.
pub fn provide_dev_jwt_secret(
    manifest: &Manifest,
    resolver: &mut VariableResolver<'_>,
    data_dir: &Path,
) -> anyhow::Result<JwtSecretSource> {
    if !manifest.variables.contains_key(JWT_SECRET_VAR) {
        return Ok(JwtSecretSource::NotDeclared);
    }
    if resolver.has_value_without_fallback(JWT_SECRET_VAR) {
        return Ok(JwtSecretSource::Configured);
    }
    let (secret, path) = dev_jwt_secret(data_dir)?;
    resolver.set_fallback(JWT_SECRET_VAR, secret);
    Ok(JwtSecretSource::DevFile(path))
}

/// `todo-dev token --user alice [--ttl 1h]`: the token on stdout (alone, for `$(…)`), where the
/// secret came from on stderr.
pub fn token_command(args: &TokenArgs) -> anyhow::Result<()> {
    let manifest = Manifest::load(&args.common.manifest)?;
    let mut resolver = VariableResolver::new(&manifest);
    let source = provide_dev_jwt_secret(&manifest, &mut resolver, &args.common.data_dir)?;
    let secret = match source {
        JwtSecretSource::NotDeclared => anyhow::bail!(
            "the manifest declares no `{JWT_SECRET_VAR}` variable: nothing to sign tokens with"
        ),
        _ => resolver.get(JWT_SECRET_VAR)?,
    };
    match &source {
        JwtSecretSource::DevFile(path) => eprintln!(
            "todo-dev: signed with the dev jwt_secret in {} (valid for {}s)",
            path.display(),
            args.ttl
        ),
        _ => eprintln!(
            "todo-dev: signed with the configured jwt_secret ({} or the manifest default; valid for {}s)",
            VariableResolver::env_key(JWT_SECRET_VAR),
            args.ttl
        ),
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("system clock before 1970")?
        .as_secs();
    let token = issue_token(secret.as_bytes(), &args.user, now, args.ttl)?;
    println!("{token}");
    Ok(())
}

/// An HS256 JWT for `user`: `sub`, `iat` = `now_unix`, `exp` = `now_unix + ttl_seconds`, the
/// claims the components check (`todo_domain::auth::authenticate`) and the front end issues.
pub fn issue_token(
    secret: &[u8],
    user: &str,
    now_unix: u64,
    ttl_seconds: u64,
) -> anyhow::Result<String> {
    let exp = now_unix
        .checked_add(ttl_seconds)
        .context("token lifetime too long")?;
    let claims = serde_json::json!({ "sub": user, "exp": exp, "iat": now_unix });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .context("cannot sign the token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_hs256_with_sub_iat_and_exp() {
        let token = issue_token(b"dev-secret", "alice", 1_800_000_000, 3600).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(b"dev-secret"),
            &validation,
        )
        .unwrap();
        assert_eq!(
            decoded.claims,
            serde_json::json!({"sub": "alice", "iat": 1_800_000_000u64, "exp": 1_800_003_600u64})
        );
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(
                &token,
                &jsonwebtoken::DecodingKey::from_secret(b"another-secret"),
                &validation,
            )
            .is_err()
        );
        assert!(issue_token(b"s", "alice", u64::MAX, 1).is_err());
    }

    #[test]
    fn dev_secret_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("todo-dev-secret-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (first, path) = dev_jwt_secret(&dir).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(path, dir.join("jwt_secret"));
        let (second, _) = dev_jwt_secret(&dir).unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn configured_secret_wins_over_the_dev_file() {
        let text = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
jwt_secret = { required = true, secret = true }
"#;
        let m = Manifest::parse(text, Path::new("/x")).unwrap();
        let dir = std::env::temp_dir().join(format!("todo-dev-secret2-{}", std::process::id()));
        let mut r = VariableResolver::with_env(&m, |k| {
            (k == "SPIN_VARIABLE_JWT_SECRET").then(|| "configured".to_string())
        });
        assert_eq!(
            provide_dev_jwt_secret(&m, &mut r, &dir).unwrap(),
            JwtSecretSource::Configured
        );
        assert_eq!(r.get("jwt_secret").unwrap(), "configured");
        assert!(!dir.exists());

        let mut r = VariableResolver::with_env(&m, |_| None);
        let source = provide_dev_jwt_secret(&m, &mut r, &dir).unwrap();
        assert_eq!(source, JwtSecretSource::DevFile(dir.join("jwt_secret")));
        assert_eq!(r.get("jwt_secret").unwrap().len(), 64);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
