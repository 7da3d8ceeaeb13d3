//! TLS on the Socket.IO listener (`--tls-cert`, `--tls-key`), so that
//! `https://` pages connect with `wss://` without a proxy in front. The
//! certificate and key are PEM files, re-read on reload (SIGHUP) so that a
//! renewed certificate (Let's Encrypt) is served to new connections without
//! a restart; a reload that fails keeps the certificate in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// The certificate served, and the files it comes from.
#[derive(Debug)]
pub struct Tls {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Arc<Current>,
    server: Arc<ServerConfig>,
}

/// The certificate handed to each new handshake; replaced by a reload.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone())
    }
}

impl Tls {
    /// Reads the certificate chain and its key; fails with a message naming
    /// the file at fault.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Tls, String> {
        let provider = Arc::new(ring::default_provider());
        let key = certified_key(cert_file, key_file, &provider)?;
        let current = Arc::new(Current(RwLock::new(Arc::new(key))));
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        // Socket.IO runs on HTTP/1.1 (websocket upgrades).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server = Arc::new(config);
        Ok(Tls { cert_file: cert_file.to_owned(), key_file: key_file.to_owned(), provider, current, server })
    }

    /// Re-reads the files; the new certificate is served to new connections.
    /// On error the one in use stays.
    pub fn reload(&self) -> Result<(), String> {
        let key = certified_key(&self.cert_file, &self.key_file, &self.provider)?;
        *self.current.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(key);
        Ok(())
    }

    /// The server side of TLS, handing out the current certificate.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }
}

fn certified_key(cert_file: &Path, key_file: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    let certs = read(cert_file)?;
    let chain = CertificateDer::pem_slice_iter(&certs)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert_file.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", cert_file.display()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_file)?)
        .map_err(|e| format!("{}: not a PEM private key: {e}", key_file.display()))?;
    CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| format!("{} and {} do not go together: {e}", cert_file.display(), key_file.display()))
}
