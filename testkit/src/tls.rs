//! Test certificates, made at test time so that no private key is
//! committed: a CA, and server certificates it signs for `localhost` and
//! 127.0.0.1. And a client that reports which certificate a server presents.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A certificate authority whose certificate is in a PEM file, for clients
/// to trust (node: `NODE_EXTRA_CA_CERTS`).
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate's PEM file.
    pub cert_file: PathBuf,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").field("cert_file", &self.cert_file).finish_non_exhaustive()
    }
}

/// A server certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct ServerCertificate {
    /// The certificate (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// The certificate, DER-encoded, to compare with what a server presents.
    pub der: Vec<u8>,
}

impl TestCa {
    /// A new CA, its certificate written in `dir`.
    pub fn new(dir: &Path) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "msgpush test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let cert_file = dir.join("ca.pem");
        std::fs::write(&cert_file, cert.pem()).unwrap();
        TestCa { issuer: Issuer::new(params, key), cert_file }
    }

    /// A new server certificate for `localhost` and 127.0.0.1, written to
    /// `cert_file` and `key_file` (replacing what is there).
    pub fn server_certificate(&self, cert_file: &Path, key_file: &Path) -> ServerCertificate {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        std::fs::write(cert_file, cert.pem()).unwrap();
        std::fs::write(key_file, key.serialize_pem()).unwrap();
        ServerCertificate { cert_file: cert_file.to_owned(), key_file: key_file.to_owned(), der: cert.der().to_vec() }
    }

    /// The certificate the TLS server at `addr` presents, once it verified
    /// against this CA for 127.0.0.1 (DER).
    pub fn presented_certificate(&self, addr: SocketAddr) -> Vec<u8> {
        let ca = std::fs::read(&self.cert_file).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(&ca).unwrap()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::IpAddress(addr.ip().into());
        let connection = ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(crate::wait::PATIENCE)).unwrap();
        let mut tls = StreamOwned::new(connection, tcp);
        tls.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").expect("a TLS handshake");
        tls.flush().unwrap();
        let chain = tls.conn.peer_certificates().expect("the server's certificate");
        chain[0].to_vec()
    }
}
