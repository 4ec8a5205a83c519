//! Native TLS on the public port (docs/architecture.md §8): the certificate chain and
//! key come from PEM files (`[server] tls_cert_file`, `tls_key_file`) and are
//! reloaded when the files change, so a rotation (cert-manager renewing a Secret
//! that Kubernetes projects into the pod) needs no restart.
//!
//! Every handshake asks [`ReloadingCertificate`] for the current key pair, which a
//! watcher replaces when the files' contents change. A new pair that does not load
//! (a half-written file, a key that does not match its certificate) keeps the old
//! one serving and is logged once; the watcher tries again when the files change
//! again.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

/// How often the files are read again. They are a few kilobytes; reading them is
/// cheaper than a file watcher's thread and works across the symlink swaps Kubernetes
/// uses for projected Secrets.
pub(crate) const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[server] tls_cert_file `{path}`: cannot read")]
    ReadCert {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("[server] tls_key_file `{path}`: cannot read")]
    ReadKey {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("[server] tls_cert_file `{0}`: no PEM certificate in it")]
    NoCertificate(String),
    #[error("[server] tls_cert_file `{path}`: not a PEM certificate chain")]
    BadCertificate {
        path: String,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    // The key file's contents are never put in an error or a log line.
    #[error("[server] tls_key_file `{0}`: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it")]
    BadKey(String),
    #[error("[server] tls_key_file `{key}` does not go with tls_cert_file `{cert}`")]
    Mismatch {
        cert: String,
        key: String,
        #[source]
        source: rustls::Error,
    },
    #[error("TLS configuration")]
    Config(#[source] rustls::Error),
}

/// What the files held when they were last read: their bytes, to notice a change.
#[derive(PartialEq, Eq)]
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl Contents {
    fn read(files: &TlsFiles) -> Result<Self, TlsError> {
        let cert = std::fs::read(&files.cert).map_err(|source| TlsError::ReadCert {
            path: shown(&files.cert),
            source,
        })?;
        let key = std::fs::read(&files.key).map_err(|source| TlsError::ReadKey {
            path: shown(&files.key),
            source,
        })?;
        Ok(Self { cert, key })
    }

    fn certified_key(&self, files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
        let chain = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsError::BadCertificate {
                path: shown(&files.cert),
                source,
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(shown(&files.cert)));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key)
            .map_err(|_| TlsError::BadKey(shown(&files.key)))?;
        CertifiedKey::from_der(chain, key, &provider()).map_err(|source| TlsError::Mismatch {
            cert: shown(&files.cert),
            key: shown(&files.key),
            source,
        })
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// aws-lc-rs, the workspace's one cryptographic library.
fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// The public port's certificate, replaced when its files change.
#[derive(Debug)]
pub(crate) struct ReloadingCertificate {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' bytes behind `current`, and those of the last failed attempt (so
    /// that a bad file is reported once, not at every check).
    seen: std::sync::Mutex<(Contents, Option<Contents>)>,
}

impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key's bytes.
        f.debug_struct("Contents").finish_non_exhaustive()
    }
}

impl ReloadingCertificate {
    /// Loads the files; an error names the file and what is wrong with it.
    pub(crate) fn load(files: &TlsFiles) -> Result<Arc<Self>, TlsError> {
        let contents = Contents::read(files)?;
        let key = contents.certified_key(files)?;
        Ok(Arc::new(Self {
            files: files.clone(),
            current: RwLock::new(Arc::new(key)),
            seen: std::sync::Mutex::new((contents, None)),
        }))
    }

    /// A rustls server configuration that asks this for its certificate at every
    /// handshake.
    pub(crate) fn server_config(self: &Arc<Self>) -> Result<ServerConfig, TlsError> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Reads the files again and, if they changed and load, serves the new pair.
    /// Returns whether the certificate was replaced.
    pub(crate) fn reload(&self) -> bool {
        let contents = match Contents::read(&self.files) {
            Ok(contents) => contents,
            Err(e) => {
                // Between a rename and the next write, say; the old pair keeps serving.
                tracing::debug!(error = %ostium_protocol::Causes(&e), "TLS files not readable now");
                return false;
            }
        };
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.0 == contents || seen.1.as_ref() == Some(&contents) {
            return false;
        }
        match contents.certified_key(&self.files) {
            Ok(key) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
                *seen = (contents, None);
                tracing::info!(
                    cert = %self.files.cert.display(),
                    "TLS certificate reloaded from its files"
                );
                true
            }
            Err(e) => {
                tracing::warn!(
                    error = %ostium_protocol::Causes(&e),
                    "the TLS files changed but do not load; the previous certificate keeps serving"
                );
                seen.1 = Some(contents);
                false
            }
        }
    }

    /// Checks the files every [`RELOAD_INTERVAL`] until the returned task is
    /// aborted. Runs on the current actix/tokio runtime; the reads are small and rare.
    pub(crate) fn watch(self: &Arc<Self>) -> actix_web::rt::task::JoinHandle<()> {
        let this = self.clone();
        actix_web::rt::spawn(async move {
            let mut ticks = actix_web::rt::time::interval(RELOAD_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                this.reload();
            }
        })
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    /// A self-signed certificate for `localhost`: (certificate PEM, key PEM).
    fn self_signed() -> (String, String) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (made.cert.pem(), made.signing_key.serialize_pem())
    }

    fn served(certificate: &ReloadingCertificate) -> Vec<u8> {
        let current = certificate.current.read().unwrap();
        current.end_entity_cert().unwrap().to_vec()
    }

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn missing_and_malformed_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("absent.crt"),
            key: dir.path().join("absent.key"),
        };
        let err = ReloadingCertificate::load(&files).unwrap_err().to_string();
        assert!(
            err.contains("tls_cert_file") && err.contains("absent.crt"),
            "{err}"
        );

        write(&files.cert, "not a certificate\n");
        write(&files.key, "not a key\n");
        let err = ReloadingCertificate::load(&files).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");

        let (cert, _) = self_signed();
        let (_, other_key) = self_signed();
        write(&files.cert, &cert);
        let err = ReloadingCertificate::load(&files).unwrap_err().to_string();
        assert!(err.contains("no PEM private key"), "{err}");
        write(&files.key, &other_key);
        let err = ReloadingCertificate::load(&files).unwrap_err().to_string();
        assert!(err.contains("does not go with"), "{err}");
    }

    #[test]
    fn changed_files_replace_the_certificate_and_bad_ones_keep_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
        };
        let (first, first_key) = self_signed();
        write(&files.cert, &first);
        write(&files.key, &first_key);
        let certificate = ReloadingCertificate::load(&files).unwrap();
        assert_eq!(served(&certificate), der(&first));
        assert!(
            !certificate.reload(),
            "unchanged files are not loaded again"
        );

        let (second, second_key) = self_signed();
        write(&files.cert, &second);
        write(&files.key, &second_key);
        assert!(certificate.reload());
        assert_eq!(served(&certificate), der(&second));

        // Half a rotation: the new certificate with the old key.
        let (third, _) = self_signed();
        write(&files.cert, &third);
        assert!(!certificate.reload());
        assert_eq!(served(&certificate), der(&second));
        write(&files.cert, "-----BEGIN CERTIFICATE-----\ntruncated");
        assert!(!certificate.reload());
        assert_eq!(served(&certificate), der(&second));
    }
}
