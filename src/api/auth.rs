//! Subscriber authentication (SPEC §5): JWT verification, where a request's token is taken
//! from, and the `stations` claim as the limit of what the request may read.
//!
//! Off unless a key is configured. When on, every read of observation data takes an [`Access`]
//! (an extractor): no token → `401`, a bad one → `401` with `error="invalid_token"`, and the
//! stations the token grants become the read's filter (a station outside them → `403`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::config::Secret;
use crate::domain::{MAX_FILTER_STATIONS, StationFilter, StationId};

/// Name of the cookie a token may come in.
pub const TOKEN_COOKIE: &str = "buoycast_token";
/// Name of the query parameter a token may come in (an `EventSource` cannot set headers).
pub const TOKEN_QUERY: &str = "access_token";
/// Clock skew tolerated on `exp` and `nbf`, seconds.
pub const LEEWAY_SECS: u64 = 30;
/// Shortest HS256 secret accepted, bytes (RFC 7518 §3.2: a key as long as the hash).
pub const MIN_SECRET_BYTES: usize = 32;

/// The key material subscriber tokens are checked against.
#[derive(Clone)]
pub enum JwtKey {
    /// A shared secret: HS256 (and HS384/HS512).
    Secret(Secret),
    /// A public key in PEM: RSA (RS256/384/512, PS256/384/512), EC P-256/P-384 (ES256/ES384)
    /// or Ed25519 (EdDSA).
    PublicKeyPem(Vec<u8>),
    /// A JWKS document: tokens name their key with `kid`.
    Jwks(String),
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Secret(_) => "JwtKey::Secret([redacted])",
            Self::PublicKeyPem(_) => "JwtKey::PublicKeyPem",
            Self::Jwks(_) => "JwtKey::Jwks",
        })
    }
}

/// What subscriber tokens must satisfy.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The key (and so the algorithms) tokens are signed with.
    pub key: JwtKey,
    /// Required `aud` (one of the token's audiences must be this), if any.
    pub audience: Option<String>,
    /// Required `iss`, if any.
    pub issuer: Option<String>,
}

/// Why a configuration cannot be used; the message names what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// One key and the checks of the tokens it verifies.
#[derive(Clone)]
struct VerifyingKey {
    key: DecodingKey,
    /// Algorithms (of this key's family only), claims, leeway.
    validation: Validation,
}

enum Keys {
    /// A secret or one public key: every token is checked against it.
    One(Box<VerifyingKey>),
    /// A JWKS: by the token's `kid`; `default` is the set's only key, for tokens without one.
    ByKid {
        keys: HashMap<String, VerifyingKey>,
        default: Option<Box<VerifyingKey>>,
    },
}

/// Verifies subscriber tokens; built once at start-up.
#[derive(Clone)]
pub struct JwtVerifier {
    keys: Arc<Keys>,
    /// `--jwt-issuer` is set: `iss` must be that one string.
    issuer_required: bool,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtVerifier")
    }
}

/// The claims read beyond what [`Validation`] checks. A claim present with any value (`null`
/// included) is `Some`; only an absent one is `None`.
#[derive(serde::Deserialize)]
struct Claims {
    /// Station ids the token may read; absent: every station.
    #[serde(default, deserialize_with = "present")]
    stations: Option<Value>,
    /// The issuer: [`Validation`] also takes an array that contains the configured issuer,
    /// which RFC 7519 does not allow (`iss` is one string).
    #[serde(default, deserialize_with = "present")]
    iss: Option<Value>,
}

/// A claim that is present, whatever its value (`null` too).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    <Value as serde::Deserialize>::deserialize(d).map(Some)
}

/// What a request may read.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The stations granted; `None`: every station (no auth, or a token without the claim).
    granted: Option<StationFilter>,
}

impl JwtVerifier {
    /// Checks the configuration and prepares the keys; every problem is a start-up error.
    pub fn new(config: &JwtConfig) -> Result<Self, ConfigError> {
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(ConfigError(
                "no JWT crypto backend is available in this build".into(),
            ));
        }
        let validation = |algorithms: Vec<Algorithm>| {
            let mut v = Validation::new(algorithms.first().copied().unwrap_or_default());
            v.algorithms = algorithms;
            v.leeway = LEEWAY_SECS;
            v.validate_exp = true;
            v.validate_nbf = true;
            let mut required = vec!["exp"];
            v.validate_aud = config.audience.is_some();
            if let Some(audience) = &config.audience {
                v.set_audience(&[audience]);
                required.push("aud");
            }
            if let Some(issuer) = &config.issuer {
                v.set_issuer(&[issuer]);
                required.push("iss");
            }
            v.set_required_spec_claims(&required);
            v
        };
        let keys = match &config.key {
            JwtKey::Secret(secret) => {
                let bytes = secret.expose().as_bytes();
                if bytes.len() < MIN_SECRET_BYTES {
                    return Err(ConfigError(format!(
                        "--jwt-secret must be at least {MIN_SECRET_BYTES} bytes long (HS256 needs a 256-bit key)"
                    )));
                }
                let key = DecodingKey::from_secret(bytes)
                    .map_err(|e| ConfigError(format!("--jwt-secret: {e}")))?;
                Keys::One(Box::new(VerifyingKey {
                    key,
                    validation: validation(family_algorithms(AlgorithmFamily::Hmac)),
                }))
            }
            JwtKey::PublicKeyPem(pem) => {
                let key = public_key_from_pem(pem)?;
                let algorithms = family_algorithms(key.family());
                Keys::One(Box::new(VerifyingKey {
                    key,
                    validation: validation(algorithms),
                }))
            }
            JwtKey::Jwks(json) => jwks_keys(json, validation)?,
        };
        Ok(Self {
            keys: Arc::new(keys),
            issuer_required: config.issuer.is_some(),
        })
    }

    /// Verifies a token: signature, algorithm, `exp` (required), `nbf`, `aud` and `iss` as
    /// configured; returns the stations it grants (`None`: every station).
    pub fn verify(&self, token: &str) -> Result<Option<StationFilter>, ApiError> {
        let key = match self.keys.as_ref() {
            Keys::One(key) => key,
            Keys::ByKid { keys, default } => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|e| invalid_token(e.kind(), token))?;
                match header.kid {
                    Some(kid) => keys.get(&kid).ok_or_else(|| {
                        ApiError::InvalidToken("the token's kid names no key of this server".into())
                    })?,
                    None => default.as_deref().ok_or_else(|| {
                        ApiError::InvalidToken(
                            "the token has no kid, and this server has several keys".into(),
                        )
                    })?,
                }
            }
        };
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation)
            .map_err(|e| invalid_token(e.kind(), token))?
            .claims;
        if self.issuer_required && !matches!(claims.iss, Some(Value::String(_))) {
            return Err(ApiError::InvalidToken(
                "the token's iss claim is malformed (one string is required)".into(),
            ));
        }
        granted_stations(claims.stations)
    }
}

/// The stations a `stations` claim grants: `None` (every station) only when the claim is absent.
/// Anything but an array of station ids — `null` included — is refused, never read as "every
/// station".
fn granted_stations(claim: Option<Value>) -> Result<Option<StationFilter>, ApiError> {
    let Some(claim) = claim else {
        return Ok(None);
    };
    let malformed =
        || ApiError::InvalidToken("the stations claim must be an array of station ids".into());
    let Value::Array(items) = claim else {
        return Err(malformed());
    };
    if items.len() > MAX_FILTER_STATIONS {
        return Err(ApiError::InvalidToken(format!(
            "the stations claim names more than {MAX_FILTER_STATIONS} stations"
        )));
    }
    items
        .iter()
        .map(|item| {
            let id = item.as_str().ok_or_else(malformed)?;
            StationId::parse(id)
                .map_err(|e| ApiError::InvalidToken(format!("the stations claim: {e}")))
        })
        .collect::<Result<StationFilter, _>>()
        .map(Some)
}

/// The algorithms a key of this family may verify.
fn family_algorithms(family: AlgorithmFamily) -> Vec<Algorithm> {
    family.algorithms().to_vec()
}

/// A public key in PEM (SPKI `PUBLIC KEY`, or PKCS#1 `RSA PUBLIC KEY`).
fn public_key_from_pem(pem: &[u8]) -> Result<DecodingKey, ConfigError> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("PRIVATE KEY") {
        return Err(ConfigError(
            "--jwt-public-key holds a private key; give the public key (openssl pkey -pubout)"
                .into(),
        ));
    }
    DecodingKey::from_rsa_pem(pem)
        .or_else(|_| DecodingKey::from_ec_pem(pem))
        .or_else(|_| DecodingKey::from_ed_pem(pem))
        .map_err(|_| {
            ConfigError(
                "--jwt-public-key is not a PEM public key (RSA, EC P-256/P-384 or Ed25519)".into(),
            )
        })
}

/// The keys of a JWKS document, by `kid`.
fn jwks_keys(
    json: &str,
    validation: impl Fn(Vec<Algorithm>) -> Validation,
) -> Result<Keys, ConfigError> {
    let set: JwkSet = serde_json::from_str(json)
        .map_err(|e| ConfigError(format!("--jwt-jwks is not a JWKS document: {e}")))?;
    let signing: Vec<_> = set
        .keys
        .iter()
        .filter(|k| !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption)))
        .collect();
    if signing.is_empty() {
        return Err(ConfigError("--jwt-jwks holds no signing key".into()));
    }
    let only = signing.len() == 1;
    let mut keys = HashMap::new();
    let mut default = None;
    for (i, jwk) in signing.into_iter().enumerate() {
        let name = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
        let fail = |why: &str| ConfigError(format!("--jwt-jwks: key {name}: {why}"));
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 | EllipticCurve::P384 => AlgorithmFamily::Ec,
                _ => return Err(fail("only the curves P-256 and P-384 are supported")),
            },
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                AlgorithmFamily::Ed
            }
            AlgorithmParameters::OctetKey(_) => {
                return Err(fail(
                    "shared secrets (kty oct) are not taken from a JWKS file; use --jwt-secret",
                ));
            }
            _ => return Err(fail("unsupported key type")),
        };
        let algorithms = match jwk.common.key_algorithm {
            None => family_algorithms(family),
            Some(alg) => {
                let alg = Algorithm::from_str(&alg.to_string())
                    .ok()
                    .filter(|a| a.family() == family)
                    .ok_or_else(|| fail("its alg is not a signature algorithm of its key type"))?;
                vec![alg]
            }
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| fail(&e.to_string()))?;
        let verifying = VerifyingKey {
            key,
            validation: validation(algorithms),
        };
        if only {
            default = Some(Box::new(verifying.clone()));
        }
        match jwk.common.key_id.clone() {
            Some(kid) => {
                if keys.insert(kid, verifying).is_some() {
                    return Err(fail("the kid is used twice"));
                }
            }
            None if only => {}
            None => return Err(fail("a set of several keys needs a kid on each")),
        }
    }
    Ok(Keys::ByKid { keys, default })
}

/// Why a token was rejected, for the 401's message (never the token itself). The token is
/// read again only to tell a malformed registered claim from a missing one (the verifier reports
/// both as missing).
fn invalid_token(kind: &ErrorKind, token: &str) -> ApiError {
    let message = match kind {
        ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidAudience => "the token is not meant for this audience (aud)".to_owned(),
        ErrorKind::InvalidIssuer => "the token is from another issuer (iss)".to_owned(),
        ErrorKind::InvalidSignature => "the token's signature does not verify".to_owned(),
        ErrorKind::InvalidAlgorithm => {
            "the token's algorithm (alg) is not one this server's key accepts".to_owned()
        }
        ErrorKind::MissingRequiredClaim(claim) => {
            let present = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(token)
                .is_ok_and(|claims| claims.get(claim).is_some_and(|v| !v.is_null()));
            if present {
                format!("the token's {claim} claim is malformed")
            } else {
                format!("the token has no {claim} claim")
            }
        }
        ErrorKind::InvalidClaimFormat(claim) => format!("the token's {claim} claim is malformed"),
        _ => "the token is malformed".to_owned(),
    };
    ApiError::InvalidToken(message)
}

/// The token of an `Authorization: Bearer <token>` header (scheme in any case).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A request's subscriber token: the `Authorization` header, else the `access_token` query
/// parameter, else the `buoycast_token` cookie.
fn presented_token(parts: &Parts) -> Option<String> {
    if let Some(token) = bearer(&parts.headers) {
        return Some(token.to_owned());
    }
    if let Some(query) = parts.uri.query()
        && let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        && let Some((_, token)) = pairs
            .into_iter()
            .rev()
            .find(|(name, value)| name == TOKEN_QUERY && !value.is_empty())
    {
        return Some(token);
    }
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == TOKEN_COOKIE && !value.is_empty())
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

impl FromRequestParts<AppState> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(verifier) = state.subscriber_auth.as_ref() else {
            return Ok(Self::default());
        };
        let Some(token) = presented_token(parts) else {
            return Err(ApiError::Unauthorized(format!(
                "this server needs a token: send Authorization: Bearer <token>, the {TOKEN_QUERY} query parameter or the {TOKEN_COOKIE} cookie"
            )));
        };
        let granted = verifier.verify(&token).inspect_err(|e| {
            tracing::debug!(event = "subscriber_token_rejected", reason = %e, "token rejected");
        })?;
        Ok(Self { granted })
    }
}

impl Access {
    /// Access to every station (no auth configured, or a token without a `stations` claim).
    pub fn everything() -> Self {
        Self::default()
    }

    /// Access to these stations only.
    pub fn only(stations: StationFilter) -> Self {
        Self {
            granted: Some(stations),
        }
    }

    /// The filter of a read that asked for `requested` (`stations=`): that, when every station
    /// in it is granted (else `403`); without one, the granted stations.
    pub fn filter(
        &self,
        requested: Option<StationFilter>,
    ) -> Result<Option<StationFilter>, ApiError> {
        let Some(granted) = &self.granted else {
            return Ok(requested);
        };
        match requested {
            Some(requested) => {
                if let Some(outside) = requested.iter().find(|s| !granted.contains(s)) {
                    return Err(not_granted(outside));
                }
                Ok(Some(requested))
            }
            None => {
                self.grants_some()?;
                Ok(Some(granted.clone()))
            }
        }
    }

    /// `403` if the token grants no station at all (an empty `stations` claim): every read is
    /// refused, listings included.
    pub fn grants_some(&self) -> Result<(), ApiError> {
        match &self.granted {
            Some(granted) if granted.is_empty() => Err(ApiError::StationNotGranted(
                "this token grants no station".into(),
            )),
            _ => Ok(()),
        }
    }

    /// `Ok` if the station may be read, else `403`.
    pub fn check(&self, station: &StationId) -> Result<(), ApiError> {
        match &self.granted {
            Some(granted) if !granted.contains(station) => Err(not_granted(station)),
            _ => Ok(()),
        }
    }

    /// Whether the station may be read.
    pub fn allows(&self, station: &StationId) -> bool {
        self.check(station).is_ok()
    }
}

fn not_granted(station: &StationId) -> ApiError {
    ApiError::StationNotGranted(format!("this token may not read station {station}"))
}

/// Checks `/metrics`' bearer token, when one is configured (compared in constant time).
pub fn check_metrics_token(expected: Option<&Secret>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    match bearer(headers) {
        Some(p) if bool::from(p.as_bytes().ct_eq(expected.expose().as_bytes())) => Ok(()),
        Some(_) => Err(ApiError::InvalidToken(
            "the metrics token is not valid".into(),
        )),
        None => Err(ApiError::Unauthorized(
            "/metrics needs Authorization: Bearer <metrics token>".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::builder().uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn filter(ids: &str) -> StationFilter {
        StationFilter::parse(ids).unwrap().unwrap()
    }

    #[test]
    fn the_token_comes_from_the_header_then_the_query_then_the_cookie() {
        let cookie = ("cookie", "a=1; buoycast_token=from-cookie; b=2");
        let check = |uri: &str, headers: &[(&str, &str)], want: Option<&str>| {
            assert_eq!(
                presented_token(&parts(uri, headers)).as_deref(),
                want,
                "{uri} {headers:?}"
            );
        };
        check(
            "/x?access_token=q",
            &[("authorization", "bEaReR  h "), cookie],
            Some("h"),
        );
        check("/x?stations=1&access_token=q", &[cookie], Some("q"));
        check("/x", &[cookie], Some("from-cookie"));
        check("/x?access_token=", &[("authorization", "Basic abc")], None);
        check("/x", &[("authorization", "Bearer ")], None);
        check("/x", &[("cookie", "other_token=x")], None);
    }

    #[test]
    fn the_grant_bounds_the_filter() {
        let all = Access::everything();
        assert_eq!(all.filter(None).unwrap(), None);
        assert_eq!(all.filter(Some(filter("B"))).unwrap(), Some(filter("B")));

        let a = Access::only(filter("A,C"));
        assert_eq!(a.filter(None).unwrap(), Some(filter("A,C")));
        assert_eq!(a.filter(Some(filter("c"))).unwrap(), Some(filter("C")));
        assert!(matches!(
            a.filter(Some(filter("A,B"))),
            Err(ApiError::StationNotGranted(_))
        ));
        assert!(a.check(&StationId::parse("a").unwrap()).is_ok());
        assert!(!a.allows(&StationId::parse("B").unwrap()));

        let none = Access::only(StationFilter::default());
        assert!(none.filter(None).is_err());
    }

    fn config(key: JwtKey) -> JwtConfig {
        JwtConfig {
            key,
            audience: None,
            issuer: None,
        }
    }

    fn refused(key: JwtKey) -> String {
        match JwtVerifier::new(&config(key)) {
            Ok(_) => panic!("the configuration was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unusable_keys_fail_at_start_up_with_a_clear_message() {
        assert!(refused(JwtKey::Secret("short".into())).contains("at least 32 bytes"));
        assert!(JwtVerifier::new(&config(JwtKey::Secret("x".repeat(32).into()))).is_ok());
        assert!(
            refused(JwtKey::PublicKeyPem(b"not a key".to_vec())).contains("not a PEM public key")
        );
        let private =
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        assert!(refused(JwtKey::PublicKeyPem(private.to_vec())).contains("private key"));
        assert!(refused(JwtKey::Jwks("{".into())).contains("not a JWKS document"));
        assert!(refused(JwtKey::Jwks(r#"{"keys":[]}"#.into())).contains("no signing key"));
        let oct = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"a"}]}"#;
        assert!(refused(JwtKey::Jwks(oct.into())).contains("--jwt-secret"));
        let ec = |kid: &str| {
            format!(
                r#"{{"kty":"EC","crv":"P-256","kid":"{kid}","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}"#
            )
        };
        let twice = format!(r#"{{"keys":[{},{}]}}"#, ec("a"), ec("a"));
        assert!(refused(JwtKey::Jwks(twice)).contains("used twice"));
        let no_kid = format!(
            r#"{{"keys":[{},{}]}}"#,
            ec("a"),
            ec("").replace(r#""kid":"","#, "")
        );
        assert!(refused(JwtKey::Jwks(no_kid)).contains("needs a kid"));
        let two = format!(r#"{{"keys":[{},{}]}}"#, ec("a"), ec("b"));
        assert!(JwtVerifier::new(&config(JwtKey::Jwks(two))).is_ok());
    }

    #[test]
    fn a_metrics_token_is_checked_only_when_configured() {
        let token = Secret::from("m3trics");
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            h
        };
        assert!(check_metrics_token(None, &HeaderMap::new()).is_ok());
        assert!(check_metrics_token(Some(&token), &headers("Bearer m3trics")).is_ok());
        assert!(matches!(
            check_metrics_token(Some(&token), &HeaderMap::new()),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            check_metrics_token(Some(&token), &headers("bearer nope")),
            Err(ApiError::InvalidToken(_))
        ));
    }
}
