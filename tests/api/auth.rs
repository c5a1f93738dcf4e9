//! Subscriber auth (SPEC §5): JWTs from the header, a cookie or the query; 401 with a
//! `WWW-Authenticate` challenge for missing and bad tokens; the `stations` claim as a limit on
//! the stream and every REST read; the `/metrics` token. Keys are generated per test run.

use std::time::Duration;

use buoycast::api::auth::{JwtConfig, JwtKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use buoycast_testkit::{TestApp, obs, spawn_app_with};

const SECRET: &str = "a shared secret of at least 32 bytes, for tests";
const A: &str = "44009";
const B: &str = "46042";
const CHALLENGE: &str = r#"Bearer realm="buoycast""#;
const INVALID: &str = r#"Bearer realm="buoycast", error="invalid_token""#;
const WAIT: Duration = Duration::from_secs(5);

/// Every read of observation data, with a station where the path names one.
const READS: [&str; 6] = [
    "/v1/observations/stream",
    "/v1/observations",
    "/v1/observations/latest",
    "/v1/observations/by-station/44009",
    "/v1/stations",
    "/v1/stations/44009",
];

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims valid for ten minutes, with `extra` merged in (a `null` removes a claim).
fn claims(extra: Value) -> Value {
    let mut claims = json!({ "sub": "listener", "exp": now() + 600 });
    for (k, v) in extra.as_object().expect("object") {
        if v.is_null() {
            claims.as_object_mut().expect("object").remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn sign(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET.as_bytes()).expect("key"),
        None,
        claims,
    )
}

/// A token with `alg: none` and no signature (the claims of a signed one, its signature cut).
fn unsigned(claims: &Value) -> String {
    // {"alg":"none","typ":"JWT"}, base64url.
    const NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    let signed = hs256(claims);
    let payload = signed.split('.').nth(1).expect("payload");
    format!("{NONE_HEADER}.{payload}.")
}

async fn app_with_auth(key: JwtKey, audience: Option<&str>, issuer: Option<&str>) -> TestApp {
    let config = JwtConfig {
        key,
        audience: audience.map(str::to_owned),
        issuer: issuer.map(str::to_owned),
    };
    let app = spawn_app_with(|s| {
        if let Some(server) = s.server.as_mut() {
            server.subscriber_auth = Some(config);
        }
    })
    .await;
    app.publish(&[obs(A, 0), obs(B, 1), obs(A, 2), obs(B, 3)])
        .await;
    app
}

async fn hs256_app() -> TestApp {
    app_with_auth(JwtKey::Secret(SECRET.into()), None, None).await
}

/// Status, `WWW-Authenticate` and JSON body of a GET with extra headers.
async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, String, Value) {
    let mut request = app
        .client
        .get(app.url(path))
        .header("accept", "text/event-stream, application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("text").to_owned())
        .unwrap_or_default();
    let body = if status == 200 && path.ends_with("/stream") {
        Value::Null // an endless stream: not read
    } else {
        response.json().await.unwrap_or(Value::Null)
    };
    (status, challenge, body)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn without_a_token_every_read_is_401_with_a_challenge_and_the_rest_stays_open() {
    for lean in [true, false] {
        let app = spawn_app_with(|s| {
            if let Some(server) = s.server.as_mut() {
                server.subscriber_auth = Some(JwtConfig {
                    key: JwtKey::Secret(SECRET.into()),
                    audience: None,
                    issuer: None,
                });
                server.lean_streams = lean;
            }
        })
        .await;
        for path in READS
            .iter()
            .chain(&["/v1/observations/latest?stations=44009"])
        {
            let (status, challenge, body) = get(&app, path, &[]).await;
            assert_eq!(status, 401, "{path}");
            assert_eq!(challenge, CHALLENGE, "{path}");
            assert_eq!(body["error"]["code"], "unauthorized", "{path}");
        }
        let head = app
            .client
            .head(app.url("/v1/observations/stream"))
            .send()
            .await
            .expect("HEAD");
        assert_eq!(head.status(), 401);
        for open in [
            "/health",
            "/version",
            "/ready",
            "/openapi.json",
            "/",
            "/client/buoycast.js",
            "/metrics",
        ] {
            let (status, _, _) = get(&app, open, &[]).await;
            assert_eq!(status, 200, "{open} must stay open");
        }
    }
}

#[tokio::test]
async fn bad_tokens_are_401_invalid_token() {
    let app = app_with_auth(
        JwtKey::Secret(SECRET.into()),
        Some("buoycast-readers"),
        Some("https://issuer.example"),
    )
    .await;
    let good = json!({"aud": "buoycast-readers", "iss": "https://issuer.example"});
    let with = |extra: Value| {
        let mut c = claims(good.clone());
        for (k, v) in extra.as_object().expect("object") {
            if v.is_null() {
                c.as_object_mut().expect("object").remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let other_secret =
        EncodingKey::from_secret(b"another secret, also 32 bytes long....").expect("key");
    let cases = [
        ("expired", hs256(&with(json!({"exp": now() - 3600})))),
        (
            "wrong signature",
            sign(Algorithm::HS256, &other_secret, None, &with(json!({}))),
        ),
        (
            "wrong audience",
            hs256(&with(json!({"aud": "someone-else"}))),
        ),
        ("no audience", hs256(&with(json!({"aud": null})))),
        (
            "wrong issuer",
            hs256(&with(json!({"iss": "https://evil.example"}))),
        ),
        (
            "nbf in the future",
            hs256(&with(json!({"nbf": now() + 3600}))),
        ),
        ("no exp", hs256(&with(json!({"exp": null})))),
        ("alg none", unsigned(&with(json!({})))),
        (
            "stations not an array",
            hs256(&with(json!({"stations": "44009"}))),
        ),
        (
            "bad station id",
            hs256(&with(json!({"stations": ["44009;"]}))),
        ),
        ("garbage", "not-a-jwt".to_owned()),
        (
            "stations null",
            hs256(&{
                let mut c = with(json!({}));
                c["stations"] = Value::Null;
                c
            }),
        ),
        (
            "stations of numbers",
            hs256(&with(json!({"stations": [44009]}))),
        ),
        (
            "iss an array holding the issuer",
            hs256(&with(
                json!({"iss": ["https://evil.example", "https://issuer.example"]}),
            )),
        ),
        ("exp negative", hs256(&with(json!({"exp": -1})))),
        ("exp a string", hs256(&with(json!({"exp": "tomorrow"})))),
    ];
    for (what, token) in &cases {
        for path in ["/v1/observations", "/v1/observations/stream"] {
            let (status, challenge, body) =
                get(&app, path, &[("authorization", &bearer(token))]).await;
            assert_eq!(status, 401, "{what} on {path}");
            assert_eq!(challenge, INVALID, "{what} on {path}");
            assert_eq!(body["error"]["code"], "unauthorized", "{what}");
            assert!(
                !body.to_string().contains(token.as_str()),
                "the token is never echoed"
            );
        }
    }
    // The message says which claim is wrong, and how.
    for (what, says) in [
        (
            "stations null",
            "the stations claim must be an array of station ids",
        ),
        (
            "stations of numbers",
            "the stations claim must be an array of station ids",
        ),
        (
            "iss an array holding the issuer",
            "the token's iss claim is malformed",
        ),
        ("exp negative", "the token's exp claim is malformed"),
        ("exp a string", "the token's exp claim is malformed"),
        ("no exp", "the token has no exp claim"),
    ] {
        let token = &cases.iter().find(|(w, _)| *w == what).expect("case").1;
        let (_, _, body) = get(
            &app,
            "/v1/observations",
            &[("authorization", &bearer(token))],
        )
        .await;
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(says), "{what}: {message}");
    }
    // The same claims, correctly signed, pass.
    let (status, _, body) = get(
        &app,
        "/v1/observations",
        &[("authorization", &bearer(&hs256(&with(json!({})))))],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["observations"].as_array().expect("array").len(), 4);
}

#[tokio::test]
async fn a_valid_token_is_taken_from_the_header_the_cookie_or_the_query() {
    let app = hs256_app().await;
    let token = hs256(&claims(json!({})));
    let cookie = format!("theme=dark; buoycast_token={token}");
    let lowercase = format!("bearer {token}");
    for (how, path, headers) in [
        (
            "header",
            "/v1/observations".to_owned(),
            vec![("authorization", bearer(&token))],
        ),
        (
            "scheme in any case",
            "/v1/observations".to_owned(),
            vec![("authorization", lowercase)],
        ),
        (
            "cookie",
            "/v1/observations".to_owned(),
            vec![("cookie", cookie.clone())],
        ),
        (
            "query",
            format!("/v1/observations?access_token={token}"),
            vec![],
        ),
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, body) = get(&app, &path, &headers).await;
        assert_eq!(status, 200, "{how}: {body}");
        assert_eq!(
            body["observations"].as_array().expect("array").len(),
            4,
            "{how}"
        );
    }

    // The stream, as an EventSource opens it (query) and with a cookie, replays and goes live.
    for (path, headers) in [
        (
            format!("/v1/observations/stream?access_token={token}&lastEventId=0"),
            vec![],
        ),
        (
            "/v1/observations/stream?lastEventId=2".to_owned(),
            vec![("cookie", cookie.as_str())],
        ),
    ] {
        let mut stream = app.stream(&path, &headers).await;
        assert_eq!(stream.status, 200, "{path}: {}", stream.body_text);
        let after: i64 = path
            .rsplit('=')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("id");
        let replayed = stream.observations(4 - after as usize, WAIT).await;
        assert_eq!(replayed.last().and_then(|e| e.id), Some(4), "{path}");
    }
}

/// An RSA and an EC P-256 key pair: (private PKCS#8 PEM, public SPKI PEM).
fn key_pairs() -> [(Algorithm, String, String); 2] {
    let rsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
    [
        (Algorithm::RS256, rsa.serialize_pem(), rsa.public_key_pem()),
        (Algorithm::ES256, ec.serialize_pem(), ec.public_key_pem()),
    ]
}

fn encoding_key(alg: Algorithm, private_pem: &str) -> EncodingKey {
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(private_pem.as_bytes()),
        _ => EncodingKey::from_ec_pem(private_pem.as_bytes()),
    }
    .expect("encoding key")
}

#[tokio::test]
async fn public_key_tokens_verify_and_algorithm_confusion_is_refused() {
    let [rsa, ec] = key_pairs();
    for (alg, private, public) in [&rsa, &ec] {
        let app = app_with_auth(JwtKey::PublicKeyPem(public.as_bytes().to_vec()), None, None).await;
        let key = encoding_key(*alg, private);
        let token = sign(*alg, &key, None, &claims(json!({})));
        let (status, _, body) = get(
            &app,
            "/v1/observations",
            &[("authorization", &bearer(&token))],
        )
        .await;
        assert_eq!(status, 200, "{alg:?}: {body}");

        // HS256 "signed" with the public key's bytes: the classic confusion is refused.
        let confused = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(public.as_bytes()).expect("key"),
            None,
            &claims(json!({})),
        );
        // Signed by the other key pair: a valid signature of the wrong key.
        let (other_alg, other_private, _) = if *alg == Algorithm::RS256 { &ec } else { &rsa };
        let foreign = sign(
            *other_alg,
            &encoding_key(*other_alg, other_private),
            None,
            &claims(json!({})),
        );
        for (what, bad) in [
            ("HS256 with the public key", confused),
            ("another key", foreign),
            ("alg none", unsigned(&claims(json!({})))),
        ] {
            let (status, challenge, _) = get(
                &app,
                "/v1/observations",
                &[("authorization", &bearer(&bad))],
            )
            .await;
            assert_eq!(
                (status, challenge.as_str()),
                (401, INVALID),
                "{alg:?}: {what}"
            );
        }
    }
}

#[tokio::test]
async fn a_jwks_picks_the_key_by_kid() {
    let [rsa, ec] = key_pairs();
    let jwk = |alg: Algorithm, private: &str, kid: &str| {
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding_key(alg, private), alg)
            .expect("jwk");
        jwk.common.key_id = Some(kid.to_owned());
        jwk
    };
    let set = jsonwebtoken::jwk::JwkSet {
        keys: vec![jwk(rsa.0, &rsa.1, "rsa-1"), jwk(ec.0, &ec.1, "ec-1")],
    };
    let app = app_with_auth(
        JwtKey::Jwks(serde_json::to_string(&set).expect("JSON")),
        None,
        None,
    )
    .await;
    let ok =
        |alg, private: &str, kid| sign(alg, &encoding_key(alg, private), kid, &claims(json!({})));
    for (what, token, want) in [
        ("RSA by kid", ok(rsa.0, &rsa.1, Some("rsa-1")), 200),
        ("EC by kid", ok(ec.0, &ec.1, Some("ec-1")), 200),
        ("EC signed, RSA kid", ok(ec.0, &ec.1, Some("rsa-1")), 401),
        ("unknown kid", ok(ec.0, &ec.1, Some("other")), 401),
        ("no kid", ok(ec.0, &ec.1, None), 401),
    ] {
        let (status, _, body) = get(
            &app,
            "/v1/observations",
            &[("authorization", &bearer(&token))],
        )
        .await;
        assert_eq!(status, want, "{what}: {body}");
    }
}

#[tokio::test]
async fn the_stations_claim_limits_the_stream_and_every_rest_read() {
    let app = hs256_app().await;
    let token = hs256(&claims(json!({"stations": [A]})));
    let auth = bearer(&token);
    let h = [("authorization", auth.as_str())];

    // The stream: without `stations=` it carries A only, in replay and live.
    let mut stream = app
        .stream("/v1/observations/stream?lastEventId=0", &h)
        .await;
    assert_eq!(stream.status, 200, "{}", stream.body_text);
    app.publish(&[obs(B, 4), obs(B, 5), obs(A, 6)]).await;
    let seen = stream.observations(3, WAIT).await;
    let stations: Vec<String> = seen
        .iter()
        .map(|e| e.json()["stationId"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(stations, [A, A, A], "only station A, replayed then live");
    assert_eq!(
        seen.iter().map(|e| e.id.expect("id")).collect::<Vec<_>>(),
        [1, 3, 7]
    );
    // The same through the query parameter, as an EventSource sends it.
    let mut stream = app
        .stream(
            &format!("/v1/observations/stream?access_token={token}&lastEventId=0"),
            &[],
        )
        .await;
    let seen = stream.observations(3, WAIT).await;
    assert!(seen.iter().all(|e| e.json()["stationId"] == A));

    for path in [
        "/v1/observations/stream?stations=46042",
        "/v1/observations/stream?stations=44009,46042",
        "/v1/observations?stations=46042",
        "/v1/observations/latest?stations=46042",
        "/v1/observations/by-station/46042",
        "/v1/observations/by-station/46042?limit=1",
        "/v1/stations/46042",
    ] {
        let (status, _, body) = get(&app, path, &h).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(body["error"]["code"], "forbidden", "{path}");
    }

    let stations_of = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("array")
            .iter()
            .map(|o| {
                o.get("stationId")
                    .or_else(|| o.get("id"))
                    .and_then(Value::as_str)
                    .expect("station")
                    .to_owned()
            })
            .collect()
    };
    let (status, _, page) = get(&app, "/v1/observations?limit=1000", &h).await;
    assert_eq!(status, 200);
    assert_eq!(stations_of(&page["observations"]), [A, A, A]);
    assert_eq!(page["lastSeq"], 7);
    let (_, _, latest) = get(&app, "/v1/observations/latest", &h).await;
    assert_eq!(stations_of(&latest["observations"]), [A]);
    let (status, _, _) = get(&app, "/v1/observations/latest?stations=44009", &h).await;
    assert_eq!(status, 200);
    let (status, _, history) = get(&app, "/v1/observations/by-station/44009", &h).await;
    assert_eq!(status, 200);
    assert_eq!(stations_of(&history["observations"]), [A, A, A]);
    let (_, _, stations) = get(&app, "/v1/stations", &h).await;
    assert_eq!(stations_of(&stations["stations"]), [A]);
    let (status, _, station) = get(&app, "/v1/stations/44009", &h).await;
    assert_eq!((status, station["id"].as_str()), (200, Some(A)));

    // An empty claim grants nothing: every read is 403, the list of stations too.
    let none = bearer(&hs256(&claims(json!({"stations": []}))));
    for path in [
        "/v1/stations",
        "/v1/stations/44009",
        "/v1/observations",
        "/v1/observations/latest",
        "/v1/observations/stream",
    ] {
        let (status, _, body) = get(&app, path, &[("authorization", &none)]).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{path}");
    }

    // A token without the claim reads every station.
    let everything = bearer(&hs256(&claims(json!({}))));
    let (_, _, stations) = get(&app, "/v1/stations", &[("authorization", &everything)]).await;
    assert_eq!(stations_of(&stations["stations"]), [A, B]);
}

#[tokio::test]
async fn metrics_needs_its_token_when_one_is_configured() {
    let app = spawn_app_with(|s| {
        if let Some(server) = s.server.as_mut() {
            server.metrics_token = Some("scrape-me".into());
        }
    })
    .await;
    let (status, challenge, body) = get(&app, "/metrics", &[]).await;
    assert_eq!((status, challenge.as_str()), (401, CHALLENGE));
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, challenge, _) = get(&app, "/metrics", &[("authorization", "Bearer nope")]).await;
    assert_eq!((status, challenge.as_str()), (401, INVALID));
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-me")
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("text").contains("# TYPE"));
    // Subscriber auth is off by default: reads and /health need nothing.
    for path in ["/health", "/v1/observations", "/v1/stations"] {
        let (status, _, _) = get(&app, path, &[]).await;
        assert_eq!(status, 200, "{path}");
    }
}

#[tokio::test]
async fn metrics_allow_lets_listed_addresses_scrape_and_closes_it_to_others() {
    let allow = |list: &str| buoycast::domain::AddressRanges::parse(list).expect("ranges");
    // The test client connects from 127.0.0.1.
    let listed = spawn_app_with(|s| {
        s.server.as_mut().expect("server").metrics_allow = allow("127.0.0.0/8");
    })
    .await;
    let (status, _, _) = get(&listed, "/metrics", &[]).await;
    assert_eq!(status, 200, "a listed address scrapes without a token");

    let elsewhere = spawn_app_with(|s| {
        s.server.as_mut().expect("server").metrics_allow = allow("10.0.0.0/8");
    })
    .await;
    let (status, _, body) = get(&elsewhere, "/metrics", &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _, _) = get(&elsewhere, "/health", &[]).await;
    assert_eq!(status, 200, "/health stays open");

    // With a token as well, an unlisted client may still scrape with the token.
    let both = spawn_app_with(|s| {
        let server = s.server.as_mut().expect("server");
        server.metrics_allow = allow("10.0.0.0/8");
        server.metrics_token = Some("scrape-me".into());
    })
    .await;
    let (status, challenge, _) = get(&both, "/metrics", &[]).await;
    assert_eq!((status, challenge.as_str()), (401, CHALLENGE));
    let (status, _, _) = get(&both, "/metrics", &[("authorization", "Bearer scrape-me")]).await;
    assert_eq!(status, 200);
}
