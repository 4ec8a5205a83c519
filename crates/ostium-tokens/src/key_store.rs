//! Signing keys on disk, in `<data_dir>/keys/`, one JSON file per key.
//!
//! A node started for the first time generates a key for the configured algorithm;
//! a restarted node loads the same keys, so tokens it issued before still verify.
//! Changing the algorithm adds a key and keeps the old ones published. Files are
//! written atomically (temporary file, fsync, rename) and readable by the owner only.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::TokenError;
use crate::algorithm::SigningAlgorithm;
use crate::key::SigningKey;
use crate::key_ring::KeyRing;

/// A directory of key files.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    kid: String,
    alg: SigningAlgorithm,
    /// Seconds since the Unix epoch; the newest key of the configured algorithm signs.
    created_at: u64,
    /// PKCS#8 DER, base64.
    pkcs8: String,
}

struct StoredKey {
    created_at: u64,
    key: SigningKey,
}

impl KeyStore {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("keys"),
        }
    }

    /// Loads every stored key and makes the newest `algorithm` key active, generating
    /// one first if there is none.
    pub fn load_or_create(
        &self,
        algorithm: SigningAlgorithm,
        now: u64,
    ) -> Result<KeyRing, TokenError> {
        let mut keys = self.load()?;
        if !keys.iter().any(|k| k.key.algorithm() == algorithm) {
            let (key, pkcs8) = SigningKey::generate(algorithm)?;
            self.save(&key, &pkcs8, now)?;
            tracing::info!(kid = key.kid(), alg = %algorithm, "generated a new signing key");
            keys.push(StoredKey {
                created_at: now,
                key,
            });
        }
        // Newest first; the first of the configured algorithm becomes active.
        keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        let position = keys
            .iter()
            .position(|k| k.key.algorithm() == algorithm)
            .ok_or(TokenError::Crypto)?;
        let active = keys.remove(position).key;
        Ok(KeyRing::new(
            active,
            keys.into_iter().map(|k| k.key).collect(),
        ))
    }

    fn load(&self) -> Result<Vec<StoredKey>, TokenError> {
        let io = |source| TokenError::Io {
            path: self.dir.clone(),
            source,
        };
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|ext| ext == "json") {
                keys.push(load_file(&path)?);
            }
        }
        Ok(keys)
    }

    fn save(&self, key: &SigningKey, pkcs8: &[u8], now: u64) -> Result<(), TokenError> {
        let file = KeyFile {
            kid: key.kid().to_owned(),
            alg: key.algorithm(),
            created_at: now,
            pkcs8: STANDARD.encode(pkcs8),
        };
        let path = self.dir.join(format!("{}.json", key.kid()));
        let temporary = self.dir.join(format!(".{}.tmp", key.kid()));
        let io = |source| TokenError::Io {
            path: path.clone(),
            source,
        };
        private_dir(&self.dir).map_err(io)?;
        let mut out = private_file(&temporary).map_err(io)?;
        out.write_all(&serde_json::to_vec_pretty(&file)?)
            .and_then(|()| out.sync_all())
            .map_err(io)?;
        fs::rename(&temporary, &path).map_err(io)?;
        fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io)
    }
}

fn load_file(path: &Path) -> Result<StoredKey, TokenError> {
    let corrupt = |reason: String| TokenError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let bytes = fs::read(path).map_err(|source| TokenError::Io {
        path: path.to_owned(),
        source,
    })?;
    let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let pkcs8 = STANDARD
        .decode(&file.pkcs8)
        .map_err(|e| corrupt(format!("pkcs8: {e}")))?;
    let key = SigningKey::from_pkcs8(file.alg, &pkcs8)
        .map_err(|_| corrupt(format!("pkcs8 is not a valid {} key", file.alg)))?;
    if key.kid() != file.kid {
        return Err(corrupt("kid does not match the key".into()));
    }
    Ok(StoredKey {
        created_at: file.created_at,
        key,
    })
}

/// Creates the key directory (and its parents) readable by the owner only.
#[cfg(unix)]
fn private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

#[cfg(not(unix))]
fn private_dir(path: &Path) -> std::io::Result<()> {
    fs::create_dir_all(path)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::File::create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ostium-keys-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn keys_survive_a_restart() {
        let dir = temp_dir("restart");
        let store = KeyStore::new(&dir);
        let first = store.load_or_create(SigningAlgorithm::ES256, 100).unwrap();
        let again = store.load_or_create(SigningAlgorithm::ES256, 200).unwrap();
        assert_eq!(first.active().kid(), again.active().kid());
        assert_eq!(again.published().count(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn changing_algorithm_keeps_the_old_key_published() {
        let dir = temp_dir("algorithm");
        let store = KeyStore::new(&dir);
        let es = store.load_or_create(SigningAlgorithm::ES256, 100).unwrap();
        let ed = store.load_or_create(SigningAlgorithm::EdDSA, 200).unwrap();
        assert_eq!(ed.active().algorithm(), SigningAlgorithm::EdDSA);
        assert!(ed.published().any(|k| k.kid() == es.active().kid()));
        let back = store.load_or_create(SigningAlgorithm::ES256, 300).unwrap();
        assert_eq!(back.active().kid(), es.active().kid());
        assert_eq!(back.published().count(), 2);
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("mode");
        let ring = KeyStore::new(&dir)
            .load_or_create(SigningAlgorithm::ES256, 1)
            .unwrap();
        let path = dir
            .join("keys")
            .join(format!("{}.json", ring.active().kid()));
        for path in [path, dir.join("keys")] {
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{}: mode {mode:o}", path.display());
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = temp_dir("corrupt");
        fs::create_dir_all(dir.join("keys")).unwrap();
        fs::write(dir.join("keys/bad.json"), b"{}").unwrap();
        let err = KeyStore::new(&dir)
            .load_or_create(SigningAlgorithm::ES256, 1)
            .unwrap_err();
        assert!(err.to_string().contains("bad.json"), "{err}");
        fs::remove_dir_all(dir).unwrap();
    }
}
