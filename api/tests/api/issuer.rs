//! A local OIDC issuer for the tests, on loopback: a discovery document, a JWKS with
//! generated RSA and EC keys (which a test may rotate), request counters, and GitHub
//! Actions' runner endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`) that mints job tokens.

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::{SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::{elliptic_curve::sec1::ToEncodedPoint, pkcs8::EncodePrivateKey};
use poem::{
    EndpointExt, Route, Server, get, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::{Data, Json, Query},
};
use rsa::{
    pkcs1::EncodeRsaPrivateKey,
    pkcs8::{EncodePublicKey, LineEnding},
    traits::PublicKeyParts,
};
use serde_json::{Value, json};

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signing key with its public forms.
#[derive(Clone)]
pub struct Key {
    pub kid: String,
    pub algorithm: Algorithm,
    encoding: EncodingKey,
    /// The public key as a JWK.
    pub jwk: Value,
    /// The public key as PEM (what the HMAC confusion attack uses as a secret).
    pub public_pem: String,
}

fn rsa_key(kid: &str) -> Key {
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let public = private.to_public_key();
    let der = private.to_pkcs1_der().unwrap();
    Key {
        kid: kid.to_owned(),
        algorithm: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }),
        public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
    }
}

fn ec_key(kid: &str) -> Key {
    let secret = p256::SecretKey::random(&mut rsa::rand_core::OsRng);
    let point = secret.public_key().to_encoded_point(false);
    let der = secret.to_pkcs8_der().unwrap();
    Key {
        kid: kid.to_owned(),
        algorithm: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        }),
        public_pem: secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    }
}

/// Two RSA keys and one EC key, generated once per test run (RSA generation is slow).
pub fn keys() -> &'static (Key, Key, Key) {
    static KEYS: OnceLock<(Key, Key, Key)> = OnceLock::new();
    KEYS.get_or_init(|| (rsa_key("rsa-1"), rsa_key("rsa-2"), ec_key("ec-1")))
}

impl Key {
    /// Signs `claims` with this key, with its `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(claims, &self.kid)
    }

    /// Signs `claims` with this key, naming `kid` (another key's, or one never published).
    pub fn sign_as(&self, claims: &Value, kid: &str) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

#[derive(Default)]
pub struct State {
    /// The keys the JWKS publishes.
    pub published: Vec<Value>,
    pub discovery_requests: usize,
    pub jwks_requests: usize,
    /// The runner endpoint: its bearer, the key and claims of the tokens it mints.
    pub runner_bearer: String,
    pub runner_claims: Value,
    pub runner_requests: Vec<String>,
}

pub struct Issuer {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

#[derive(Clone)]
struct Shared {
    url: String,
    state: Arc<Mutex<State>>,
}

#[handler]
fn discovery(Data(shared): Data<&Shared>) -> Json<Value> {
    shared.state.lock().unwrap().discovery_requests += 1;
    Json(json!({
        "issuer": shared.url,
        "jwks_uri": format!("{}/.well-known/jwks", shared.url),
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
}

#[handler]
fn jwks(Data(shared): Data<&Shared>) -> Json<Value> {
    let mut state = shared.state.lock().unwrap();
    state.jwks_requests += 1;
    Json(json!({"keys": state.published}))
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    audience: Option<String>,
}

/// GitHub's runner: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…` with the request token
/// as bearer answers `{"value": "<JWT>"}`.
#[handler]
fn runner_token(
    Data(shared): Data<&Shared>,
    req: &poem::Request,
    Query(query): Query<TokenQuery>,
) -> poem::Result<Json<Value>> {
    let mut state = shared.state.lock().unwrap();
    let bearer = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if bearer != state.runner_bearer {
        return Err(poem::Error::from_status(
            poem::http::StatusCode::UNAUTHORIZED,
        ));
    }
    state
        .runner_requests
        .push(query.audience.clone().unwrap_or_default());
    let mut claims = state.runner_claims.clone();
    claims["aud"] = json!(
        query
            .audience
            .unwrap_or_else(|| "https://github.com/acme".to_owned())
    );
    claims["iss"] = json!(shared.url);
    claims["iat"] = json!(now());
    claims["nbf"] = json!(now() - 5);
    claims["exp"] = json!(now() + 300);
    Ok(Json(json!({"count": 1, "value": keys().0.sign(&claims)})))
}

impl Issuer {
    /// Starts an issuer on a free loopback port publishing `published`.
    pub async fn start(published: &[&Key]) -> Issuer {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State {
            published: published.iter().map(|k| k.jwk.clone()).collect(),
            ..State::default()
        }));
        let app = Route::new()
            .at("/.well-known/openid-configuration", get(discovery))
            .at("/.well-known/jwks", get(jwks))
            .at("/_apis/idtoken", get(runner_token))
            .data(Shared {
                url: url.clone(),
                state: state.clone(),
            });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async {
                        let _ = rx.await;
                    },
                    None,
                )
                .await;
        });
        Issuer {
            url,
            state,
            _shutdown: tx,
        }
    }

    /// Publishes these keys from now on.
    pub fn publish(&self, keys: &[&Key]) {
        self.state.lock().unwrap().published = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    pub fn jwks_requests(&self) -> usize {
        self.state.lock().unwrap().jwks_requests
    }

    /// GitHub Actions-like claims of a job of `repository` on `git_ref`.
    pub fn github_claims(&self, repository: &str, git_ref: &str) -> Value {
        let owner = repository.split('/').next().unwrap_or_default();
        json!({
            "iss": self.url, "aud": "dora-tracker",
            "sub": format!("repo:{repository}:ref:{git_ref}"),
            "repository": repository, "repository_owner": owner, "ref": git_ref,
            "ref_type": "branch", "workflow": "deploy", "run_id": "42",
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now(), "nbf": now() - 5, "exp": now() + 300,
        })
    }

    /// GitLab CI-like claims of a job of project `path` on `branch`.
    pub fn gitlab_claims(&self, path: &str, branch: &str) -> Value {
        let namespace = path.rsplit_once('/').map_or(path, |(ns, _)| ns);
        json!({
            "iss": self.url, "aud": "dora-tracker",
            "sub": format!("project_path:{path}:ref_type:branch:ref:{branch}"),
            "project_path": path, "namespace_path": namespace, "ref": branch,
            "ref_type": "branch", "ref_protected": "true", "job_id": "99",
            "iat": now(), "nbf": now() - 5, "exp": now() + 300,
        })
    }

    /// The runner endpoint's URL, as GitHub hands it to a job (with its query).
    pub fn runner_url(&self) -> String {
        format!("{}/_apis/idtoken?api-version=2.0", self.url)
    }
}

/// An address on which nothing listens (bound, then released).
pub async fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
