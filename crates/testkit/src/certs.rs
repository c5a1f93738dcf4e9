//! A test certificate authority and a server certificate it signed, as PEM files.

use std::time::Duration;

/// A test CA and a server certificate it signed (for `127.0.0.1` and `localhost`), as PEM files
/// in a directory of their own.
#[derive(Debug)]
pub struct TestCerts {
    pub ca_pem: String,
    /// The CA's certificate.
    pub ca: std::path::PathBuf,
    /// The server's certificate.
    pub cert: std::path::PathBuf,
    /// The server's private key.
    pub key: std::path::PathBuf,
    pub dir: tempfile::TempDir,
}

impl TestCerts {
    pub fn generate() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "buoycast test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write PEM");
            path
        };
        Self {
            ca_pem: ca_cert.pem(),
            ca: write("ca.pem", &ca_cert.pem()),
            cert: write("cert.pem", &cert.pem()),
            key: write("key.pem", &key.serialize_pem()),
            dir,
        }
    }

    pub fn files(&self) -> buoycast::server::tls::TlsFiles {
        buoycast::server::tls::TlsFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }

    /// A reqwest client that trusts only the test CA (HTTP/2 when ALPN chooses it).
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("CA")])
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    }
}
