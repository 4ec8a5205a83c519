//! Secrets kept outside the configuration file: `client_secrets_file`,
//! `api_secrets_file` and `[cache] redis_url_file` name a file, such as a mounted
//! Kubernetes Secret, that holds what the field beside them would hold.
//!
//! The configuration itself can then be shared, versioned or put in a ConfigMap
//! without carrying a credential. The file is read when the configuration is
//! checked (so `check-config` finds a missing or unreadable one), and its contents
//! never appear in an error.

use std::path::Path;

use ostium_protocol::SecretDigest;

/// The secrets in `path`, one per line; blank lines are ignored and each line is
/// trimmed. A line is a `sha256:` digest, as in `client_secrets`, or the secret
/// itself, which is digested here: the rule that keeps plain text out of the
/// configuration does not apply to the file that exists to hold it, and a secret
/// generated into a Kubernetes Secret is plain text that clients mount as well.
pub(super) fn read_secrets(path: &Path) -> Result<Vec<SecretDigest>, String> {
    let text = read(path)?;
    text.lines()
        .map(str::trim)
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(n, line)| {
            if line.starts_with("sha256:") {
                // Not the line itself: a mistyped digest may be a secret.
                SecretDigest::parse(line)
                    .map_err(|e| format!("`{}` line {}: {e}", path.display(), n + 1))
            } else {
                Ok(SecretDigest::of(line))
            }
        })
        .collect()
}

/// The one value `path` holds, trimmed; it must not be empty.
pub(super) fn read_value(path: &Path) -> Result<String, String> {
    let value = read(path)?.trim().to_owned();
    if value.is_empty() {
        return Err(format!("`{}` is empty", path.display()));
    }
    Ok(value)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{BASE, SECRET, parse};

    /// A file in a directory of its own, removed at the end of the test.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("ostium-secret-files-{}-{name}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("secret");
            std::fs::write(&path, contents).unwrap();
            Self(path)
        }

        fn path(&self) -> String {
            self.0.display().to_string()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    fn client_with_file(path: &str, inline: &str) -> String {
        format!(
            "{BASE}\n[[clients]]\nclient_id = \"billing-worker\"\n{inline}\
             client_secrets_file = \"{path}\"\nallowed_grant_types = \"client_credentials\"\n\
             allowed_scopes = [\"orders.read\"]\n"
        )
    }

    #[test]
    fn client_secrets_come_from_a_file_as_digests_or_plain_text() {
        let file = TempFile::new("client", &format!("\n  plain-secret-from-k8s \n{SECRET}\n"));
        let config = parse(&client_with_file(&file.path(), "")).unwrap();
        let secrets = &config.clients[0].secrets;
        assert_eq!(secrets.len(), 2);
        assert!(secrets[0].matches("plain-secret-from-k8s"));
        assert_eq!(secrets[1].to_string(), SECRET);
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);

        // Secrets in the file add to those written inline.
        let inline = format!("client_secrets = [\"{SECRET}\"]\n");
        let config = parse(&client_with_file(&file.path(), &inline)).unwrap();
        assert_eq!(config.clients[0].secrets.len(), 3);
    }

    #[test]
    fn a_missing_empty_or_malformed_secrets_file_is_an_error_that_keeps_the_secret() {
        let err = parse(&client_with_file("/nonexistent/ostium/secret", ""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("client `billing-worker`: client_secrets_file: cannot read `/nonexistent/ostium/secret`"),
            "{err}"
        );
        let empty = TempFile::new("empty", "\n\n");
        let err = parse(&client_with_file(&empty.path(), ""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a confidential client needs at least one secret"),
            "{err}"
        );
        let malformed = TempFile::new("malformed", "sha256:not-hex-but-a-secret\n");
        let err = parse(&client_with_file(&malformed.path(), ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1: expected `sha256:`"), "{err}");
        assert!(!err.contains("not-hex-but-a-secret"), "{err}");
    }

    #[test]
    fn api_secrets_come_from_a_file() {
        let file = TempFile::new("api", "introspection-secret\n");
        let text = BASE.replace(
            "api_secrets = [",
            &format!("api_secrets_file = \"{}\"\napi_secrets = [", file.path()),
        );
        let config = parse(&text).unwrap();
        let secrets = &config.api_resources[0].api_secrets;
        assert_eq!(secrets.len(), 2);
        assert!(secrets[1].matches("introspection-secret"));
    }

    #[test]
    fn the_redis_url_comes_from_a_file_or_the_field_but_not_both() {
        let file = TempFile::new("redis", "redis://:p%40ss@redis.internal:6379/\n");
        let cache = |body: &str| parse(&format!("{BASE}\n[cache]\n{body}"));
        let config = cache(&format!("redis_url_file = \"{}\"\n", file.path())).unwrap();
        assert_eq!(
            config.cache.unwrap().redis_url,
            "redis://:p%40ss@redis.internal:6379/"
        );
        let both = format!(
            "redis_url = \"redis://10.0.0.9/\"\nredis_url_file = \"{}\"\n",
            file.path()
        );
        let err = cache(&both).unwrap_err().to_string();
        assert!(err.contains("either redis_url or redis_url_file"), "{err}");
        let err = cache("namespace = \"prod\"\n").unwrap_err().to_string();
        assert!(err.contains("either redis_url or redis_url_file"), "{err}");
        let bad = TempFile::new("bad-redis", "http://:hunter2@redis.internal/\n");
        let err = cache(&format!("redis_url_file = \"{}\"\n", bad.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be a redis:// or rediss:// URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
