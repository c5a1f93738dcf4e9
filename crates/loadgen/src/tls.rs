//! TLS for `https://` targets (`--tls-ca`): the CA that signed the server's certificate, ALPN
//! `http/1.1` (the clients speak HTTP/1.1), and the connection type every client and the
//! publisher read and write, plain or TLS.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::http::Url;

/// A connection, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

/// An open connection to a target.
pub type Conn = Box<dyn Io>;

/// A TLS client configuration that trusts one CA.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Trusts the certificates of a PEM file (the CA, or a self-signed server certificate).
    pub fn trusting(ca: &Path) -> anyhow::Result<Self> {
        let pem = std::fs::read(ca).with_context(|| format!("--tls-ca {}", ca.display()))?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.with_context(|| format!("--tls-ca {}: not PEM", ca.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("--tls-ca {}: not a CA certificate", ca.display()))?;
        }
        if roots.is_empty() {
            bail!("--tls-ca {}: no certificate in it", ca.display());
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }
}

/// The connection to `url` over `tcp`: TLS (handshake included) for `https://`, else as is.
pub async fn open(tcp: TcpStream, url: &Url, tls: Option<&Tls>) -> anyhow::Result<Conn> {
    if !url.tls {
        return Ok(Box::new(tcp));
    }
    let Some(tls) = tls else {
        bail!("an https:// URL needs --tls-ca");
    };
    // The host is a loopback IP address (in `addr`) or `localhost`.
    let name = if url.host.to_ascii_lowercase().starts_with("localhost") {
        ServerName::try_from("localhost").context("TLS server name")?
    } else {
        ServerName::IpAddress(url.addr.ip().into())
    };
    let stream = tls
        .connector
        .connect(name, tcp)
        .await
        .context("TLS handshake")?;
    Ok(Box::new(stream))
}
