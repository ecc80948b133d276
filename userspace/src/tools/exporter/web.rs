//! The exporter's web configuration, as node_exporter users already write it: the Prometheus
//! exporter-toolkit's `--web.config.file` YAML, with TLS (`tls_server_config.cert_file`,
//! `key_file`) and basic auth (`basic_auth_users`: user -> bcrypt hash). Keys blkscope does not
//! implement are refused by name rather than ignored: a user who asked for client
//! certificates must not get a server that silently accepts everyone.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use base64::Engine as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};
use serde::Deserialize;
use tokio_rustls::{TlsAcceptor, rustls};

use crate::host::bounded::{TEXT_FILE_LIMIT, read_text};

#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("--web.config.file {path}: {reason}")]
    Read {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("--web.config.file {path}: {reason}")]
    Yaml {
        path: PathBuf,
        reason: serde_yaml_ng::Error,
    },
    #[error("--web.config.file {path}: {what} {file}: {reason}")]
    Pem {
        path: PathBuf,
        what: &'static str,
        file: PathBuf,
        reason: String,
    },
    #[error("--web.config.file {path}: basic_auth_users.{user}: not a bcrypt hash")]
    Hash { path: PathBuf, user: String },
    #[error("--web.config.file {path}: TLS: {reason}")]
    Tls {
        path: PathBuf,
        reason: rustls::Error,
    },
}

/// The file as written (exporter-toolkit's field names).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFile {
    tls_server_config: Option<TlsFile>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
}

/// TLS and basic auth, ready to serve with.
#[derive(Clone, Default)]
pub struct WebConfig {
    pub tls: Option<TlsAcceptor>,
    pub users: Arc<BasicAuthUsers>,
}

impl WebConfig {
    /// Reads and checks the file (paths in it are relative to the file's directory, as in
    /// exporter-toolkit).
    pub fn read(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = read_text(path, TEXT_FILE_LIMIT).map_err(|reason| WebConfigError::Read {
            path: path.to_owned(),
            reason,
        })?;
        let file: WebConfigFile = if text.trim().is_empty() {
            WebConfigFile::default()
        } else {
            serde_yaml_ng::from_str(&text).map_err(|reason| WebConfigError::Yaml {
                path: path.to_owned(),
                reason,
            })?
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = match file.tls_server_config {
            Some(tls) => Some(acceptor(
                path,
                &dir.join(tls.cert_file),
                &dir.join(tls.key_file),
            )?),
            None => None,
        };
        for (user, hash) in &file.basic_auth_users {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(WebConfigError::Hash {
                    path: path.to_owned(),
                    user: user.clone(),
                });
            }
        }
        Ok(WebConfig {
            tls,
            users: Arc::new(BasicAuthUsers(file.basic_auth_users)),
        })
    }
}

fn acceptor(config: &Path, cert: &Path, key: &Path) -> Result<TlsAcceptor, WebConfigError> {
    let pem = |what: &'static str, file: &Path, reason: String| WebConfigError::Pem {
        path: config.to_owned(),
        what,
        file: file.to_owned(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem("cert_file", cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem("cert_file", cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(pem("cert_file", cert, "no certificate in it".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem("key_file", key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|reason| WebConfigError::Tls {
            path: config.to_owned(),
            reason,
        })?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// `basic_auth_users`: who may read the metrics. Empty: everyone.
#[derive(Debug, Default)]
pub struct BasicAuthUsers(BTreeMap<String, String>);

impl BasicAuthUsers {
    /// Users and their bcrypt hashes (checked as hashes when read from `--web.config.file`).
    pub fn new(users: BTreeMap<String, String>) -> BasicAuthUsers {
        BasicAuthUsers(users)
    }

    pub fn required(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether an `Authorization` header value names a user and the password of its hash.
    pub fn admits(&self, authorization: Option<&str>) -> bool {
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        self.0
            .get(&user)
            .is_some_and(|hash| bcrypt::verify(password, hash).unwrap_or(false))
    }
}

/// `Basic base64(user:password)` -> (user, password).
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ")?.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<WebConfig, WebConfigError> {
        let dir = std::env::temp_dir().join(format!("blkscope-web-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("web.yml");
        std::fs::write(&path, text).unwrap();
        let result = WebConfig::read(&path);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn unique() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        u64::from(std::process::id()) << 20 | NEXT.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn basic_auth_checks_the_bcrypt_hash() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let web = config(&format!("basic_auth_users:\n  alice: '{hash}'\n")).unwrap();
        assert!(web.users.required());
        let header = |user_pass: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(user_pass)
            )
        };
        assert!(web.users.admits(Some(&header("alice:s3cret"))));
        assert!(!web.users.admits(Some(&header("alice:wrong"))));
        assert!(!web.users.admits(Some(&header("bob:s3cret"))));
        assert!(!web.users.admits(Some("Bearer x")));
        assert!(!web.users.admits(None));
    }

    #[test]
    fn unknown_keys_and_bad_hashes_are_refused_by_name() {
        let err = config("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n")
            .err()
            .expect("an error");
        assert!(err.to_string().contains("client_auth_type"), "{err}");
        let err = config("basic_auth_users:\n  alice: plain\n")
            .err()
            .expect("an error");
        assert!(err.to_string().contains("basic_auth_users.alice"), "{err}");
        let err = config("tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n")
            .err()
            .expect("an error");
        assert!(err.to_string().contains("nope.crt"), "{err}");
        let empty = config("").unwrap();
        assert!(empty.tls.is_none() && !empty.users.required());
    }
}
