//! The OpenBao (or HashiCorp Vault) KV v2 store: one secret shared by every host.
//!
//! The secret `NAME` lives at `<mount>/data/<prefix>/<NAME>` in the field `value`. KV v2
//! gives what several hosts need:
//!
//! - **race-free creation**: [`BaoClient::create_or_get`] reads, and when nothing is there
//!   writes with `cas=0`; of any number of hosts and workers starting together exactly one
//!   write wins, the others re-read and use the winner's value, so one version is created;
//! - **shared rotation**: [`BaoClient::rotate`] writes version n+1 with `cas=n` and records
//!   the expiry of version n in the secret's `custom_metadata`, so [`BaoClient::key_set`] on
//!   every host returns the same current and previous secrets for the same window.
//!
//! The client is blocking (ureq with rustls, no async runtime) and in-process: the token is
//! sent in the `X-Vault-Token` header, never put on a command line or in a child's
//! environment. Every call is bounded by the operation's [`Deadline`].
//!
//! # What is wiped
//! Tokens, secret ids and values are held in `SecretString`s; request bodies that carry a
//! value are serialized into a zeroizing buffer of a size fixed in advance, and response
//! bodies are read into a zeroizing buffer and parsed from it, the value copied straight
//! into a `SecretString`. Not wiped: a token variable's value in the process environment
//! itself, ureq's and rustls's own connection buffers (the
//! plaintext of a response and of a request passes through them), the copy of the token
//! in the request's header map, and `serde_json`'s scratch buffer when a value contains JSON
//! escapes (generated secrets never do).

mod config;
mod error;
#[cfg(test)]
mod server;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use ureq::http::HeaderValue;
use zeroize::{Zeroize, Zeroizing};

use config::APPROLE_MOUNT;
pub(crate) use config::{Auth, BaoConfig};
pub(crate) use error::{BaoError, policy_hcl};

use crate::Error;
use crate::deadline::Deadline;
use crate::name::SecretName;

/// The largest response body read; KV answers for one small secret are far smaller.
const MAX_BODY: usize = 64 * 1024;
/// The largest CA file read (a full system bundle is about 200 KiB).
const MAX_CA_FILE: u64 = 1024 * 1024;
/// How many versions a rotated secret keeps when its `max_versions` would keep fewer than
/// two (the KV v2 default).
pub(crate) const KEEP_VERSIONS: u64 = 10;
/// `custom_metadata` key: the version that was current before the last rotation.
pub(crate) const META_PREVIOUS_VERSION: &str = "continuum_previous_version";
/// `custom_metadata` key: until when (Unix seconds) that version stays valid.
pub(crate) const META_PREVIOUS_EXPIRES: &str = "continuum_previous_expires";
/// How many times [`BaoClient::create_or_get`] re-reads after losing a check-and-set.
const CREATE_ATTEMPTS: usize = 3;

/// One version of a secret, as read from the store. Its `Debug` never shows the value.
pub(crate) struct Versioned {
    /// The field `value`.
    pub(crate) value: SecretString,
    /// The KV version (1 for the first write).
    pub(crate) version: u64,
    /// The secret's `custom_metadata` (shared by all its versions).
    pub(crate) custom_metadata: BTreeMap<String, String>,
}

impl fmt::Debug for Versioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Versioned")
            .field("value", &"[REDACTED]")
            .field("version", &self.version)
            .field("custom_metadata", &self.custom_metadata)
            .finish()
    }
}

/// What [`BaoClient::create_or_get`] returned.
#[derive(Debug)]
pub(crate) struct Obtained {
    /// The secret, created or found.
    pub(crate) secret: Versioned,
    /// Whether this call wrote it.
    pub(crate) created: bool,
}

/// The secret's metadata (`<mount>/metadata/<prefix>/<NAME>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretMetadata {
    /// The newest version (0 when none was ever written).
    pub(crate) current_version: u64,
    /// How many versions are kept (0: the mount's setting).
    pub(crate) max_versions: u64,
    /// The secret's `custom_metadata`.
    pub(crate) custom_metadata: BTreeMap<String, String>,
    /// Versions that were deleted or destroyed.
    pub(crate) gone: BTreeMap<u64, &'static str>,
}

/// A change of the secret's metadata; fields left `None` are kept as they are.
#[derive(Debug, Default, Serialize)]
pub(crate) struct MetadataUpdate {
    /// Keep this many versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_versions: Option<u64>,
    /// Replace the whole `custom_metadata` with this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) custom_metadata: Option<BTreeMap<String, String>>,
}

/// What [`BaoClient::rotate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rotation {
    /// The new current version.
    pub(crate) version: u64,
    /// The replaced version, now the previous secret.
    pub(crate) previous_version: u64,
    /// Until when the previous secret is valid.
    pub(crate) previous_expires: SystemTime,
}

/// The current secret and the previous one while its window lasts.
pub(crate) struct StoreKeySet {
    /// The current version.
    pub(crate) current: Versioned,
    /// The previous value and its expiry, while valid.
    pub(crate) previous: Option<(SecretString, SystemTime)>,
    /// Why a previous secret recorded as valid could not be read (deleted, destroyed).
    pub(crate) previous_unavailable: Option<BaoError>,
}

impl fmt::Debug for StoreKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreKeySet")
            .field("current", &self.current)
            .field(
                "previous",
                &self.previous.as_ref().map(|(_, t)| ("[REDACTED]", t)),
            )
            .field("previous_unavailable", &self.previous_unavailable)
            .finish()
    }
}

/// A blocking KV v2 client. Its `Debug` never shows the token.
pub(crate) struct BaoClient {
    agent: ureq::Agent,
    address: String,
    mount: String,
    prefix: String,
    auth: Auth,
    /// The token an AppRole login returned.
    login_token: OnceLock<SecretString>,
    login_lock: Mutex<()>,
}

impl fmt::Debug for BaoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaoClient")
            .field("address", &self.address)
            .field("mount", &self.mount)
            .field("prefix", &self.prefix)
            .field("token_source", &self.token_source())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// An HTTP answer; the body may hold a secret.
struct Reply {
    status: u16,
    body: Zeroizing<Vec<u8>>,
}

impl Reply {
    /// This answer to `path` is not one the API gives: `reason` says what is off.
    fn malformed(&self, path: &str, reason: &'static str) -> BaoError {
        BaoError::Malformed {
            path: path.to_owned(),
            status: self.status,
            reason,
        }
    }
}

impl BaoClient {
    /// A client for `config`; reads the CA file when one is configured. Connects to nothing.
    pub(crate) fn new(config: BaoConfig) -> Result<Self, BaoError> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = &config.ca_cert {
            tls = tls.root_certs(read_ca(path)?);
        }
        let agent_config = ureq::Agent::config_builder()
            // Status codes are the API's answers; they are classified here.
            .http_status_as_error(false)
            // A redirect would carry the token to another address: never follow one, and
            // classify the answer (a standby node's redirect) like any other.
            .max_redirects(0)
            .max_redirects_will_error(false)
            // The process environment's proxy variables are not the vault's configuration.
            .proxy(None)
            .tls_config(tls.build())
            .build();
        Ok(Self {
            agent: agent_config.new_agent(),
            address: config.address,
            mount: config.mount,
            prefix: config.prefix,
            auth: config.auth,
            login_token: OnceLock::new(),
            login_lock: Mutex::new(()),
        })
    }

    /// The server's address, for messages.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// `<mount>/data/<prefix>/<NAME>`: where the secret's versions are.
    pub(crate) fn data_path(&self, name: &SecretName) -> String {
        format!("{}/data/{}/{}", self.mount, self.prefix, name.as_str())
    }

    /// `<mount>/metadata/<prefix>/<NAME>`: the secret's metadata.
    pub(crate) fn metadata_path(&self, name: &SecretName) -> String {
        format!("{}/metadata/{}/{}", self.mount, self.prefix, name.as_str())
    }

    /// The smallest policy this client's token needs.
    #[cfg_attr(not(test), allow(dead_code, reason = "only the tests call it"))]
    pub(crate) fn policy(&self) -> String {
        policy_hcl(&self.mount, &self.prefix)
    }

    /// Whether the server is initialized, unsealed and active. Needs no token.
    #[cfg_attr(not(test), allow(dead_code, reason = "only the tests call it"))]
    pub(crate) fn health(&self, deadline: &Deadline) -> Result<(), BaoError> {
        let reply = self.send(Method::Get, "sys/health", None, None, deadline)?;
        match reply.status {
            200 => Ok(()),
            503 => Err(BaoError::Sealed {
                address: self.address.clone(),
            }),
            status => Err(BaoError::Unavailable {
                address: self.address.clone(),
                status,
            }),
        }
    }

    /// Logs in with AppRole now (otherwise done at the first call that needs a token).
    /// With a token login, does nothing.
    #[cfg_attr(not(test), allow(dead_code, reason = "only the tests call it"))]
    pub(crate) fn login(&self, deadline: &Deadline) -> Result<(), BaoError> {
        self.token(deadline).map(|_| ())
    }

    /// The current version; `None` when the secret was never written.
    ///
    /// A current version that was deleted or destroyed is an error ([`BaoError::Deleted`]),
    /// not an absence: a new secret must never be generated over it.
    pub(crate) fn read_current(
        &self,
        name: &SecretName,
        deadline: &Deadline,
    ) -> Result<Option<Versioned>, BaoError> {
        let path = self.data_path(name);
        self.read_at(&path, &path, 0, deadline)
    }

    /// Version `version` of the secret.
    pub(crate) fn read_version(
        &self,
        name: &SecretName,
        version: u64,
        deadline: &Deadline,
    ) -> Result<Versioned, BaoError> {
        let path = self.data_path(name);
        let query = format!("{path}?version={version}");
        self.read_at(&path, &query, version, deadline)?
            .ok_or(BaoError::NotFound { path, version })
    }

    fn read_at(
        &self,
        path: &str,
        query: &str,
        version: u64,
        deadline: &Deadline,
    ) -> Result<Option<Versioned>, BaoError> {
        let reply = self.authed(Method::Get, query, None, deadline)?;
        let malformed = |reason| reply.malformed(path, reason);
        match reply.status {
            200 => {
                let read: Envelope<ReadData> =
                    parse(&reply.body).map_err(|()| malformed("not a KV v2 read answer"))?;
                let data = read.data.ok_or_else(|| malformed("no `data`"))?;
                let meta = data.metadata.ok_or_else(|| malformed("no `metadata`"))?;
                let value = data
                    .data
                    .and_then(|d| d.value)
                    .ok_or_else(|| malformed("the secret has no string field `value`"))?;
                Ok(Some(Versioned {
                    value: value.0,
                    version: meta.version,
                    custom_metadata: meta.custom_metadata.unwrap_or_default(),
                }))
            }
            404 => {
                if no_route(&reply.body) {
                    return Err(self.no_mount());
                }
                // A deleted version answers 404 with its metadata and no data.
                if let Ok(read) = parse::<Envelope<ReadData>>(&reply.body)
                    && let Some(meta) = read.data.and_then(|d| d.metadata)
                    && meta.version > 0
                {
                    return Err(BaoError::Deleted {
                        path: path.to_owned(),
                        version: meta.version,
                        how: if meta.destroyed {
                            "destroyed"
                        } else {
                            "deleted"
                        },
                    });
                }
                if version == 0 {
                    Ok(None)
                } else {
                    Err(BaoError::NotFound {
                        path: path.to_owned(),
                        version,
                    })
                }
            }
            _ => Err(self.refused(&reply, "read", path, deadline)),
        }
    }

    /// Writes `value` as a new version with check-and-set: `cas=0` creates (fails when the
    /// secret exists), `cas=n` succeeds only while version n is the current one. Returns
    /// the new version.
    pub(crate) fn write(
        &self,
        name: &SecretName,
        value: &SecretString,
        cas: u64,
        deadline: &Deadline,
    ) -> Result<u64, BaoError> {
        let path = self.data_path(name);
        let body = write_body(value, cas);
        let reply = self.authed(Method::Post, &path, Some(&body), deadline)?;
        match reply.status {
            200 => {
                let written: Envelope<VersionOnly> = parse(&reply.body)
                    .map_err(|()| reply.malformed(&path, "not a KV v2 write answer"))?;
                written
                    .data
                    .map(|d| d.version)
                    .ok_or_else(|| reply.malformed(&path, "no `data.version`"))
            }
            400 if errors_mention(&reply.body, "check-and-set") => Err(BaoError::CasConflict {
                path,
                expected: cas,
            }),
            404 if no_route(&reply.body) => Err(self.no_mount()),
            _ => Err(self.refused(&reply, "write", &path, deadline)),
        }
    }

    /// The secret's metadata; `None` when it has none (never written).
    pub(crate) fn read_metadata(
        &self,
        name: &SecretName,
        deadline: &Deadline,
    ) -> Result<Option<SecretMetadata>, BaoError> {
        let path = self.metadata_path(name);
        let reply = self.authed(Method::Get, &path, None, deadline)?;
        match reply.status {
            200 => {
                let malformed = |reason| reply.malformed(&path, reason);
                let read: Envelope<MetadataData> =
                    parse(&reply.body).map_err(|()| malformed("not a KV v2 metadata answer"))?;
                let m = read.data.ok_or_else(|| malformed("no `data`"))?;
                let mut gone = BTreeMap::new();
                for (v, state) in m.versions.unwrap_or_default() {
                    let v: u64 = v
                        .parse()
                        .map_err(|_| malformed("a version is not a number"))?;
                    if state.destroyed {
                        gone.insert(v, "destroyed");
                    } else if !state.deletion_time.is_empty() {
                        gone.insert(v, "deleted");
                    }
                }
                Ok(Some(SecretMetadata {
                    current_version: m.current_version,
                    max_versions: m.max_versions,
                    custom_metadata: m.custom_metadata.unwrap_or_default(),
                    gone,
                }))
            }
            404 if no_route(&reply.body) => Err(self.no_mount()),
            404 => Ok(None),
            _ => Err(self.refused(&reply, "read the metadata of", &path, deadline)),
        }
    }

    /// Changes the secret's metadata.
    pub(crate) fn write_metadata(
        &self,
        name: &SecretName,
        update: &MetadataUpdate,
        deadline: &Deadline,
    ) -> Result<(), BaoError> {
        let path = self.metadata_path(name);
        let body = serde_json::to_vec(update).expect("metadata serializes");
        let reply = self.authed(Method::Post, &path, Some(&body), deadline)?;
        match reply.status {
            200 | 204 => Ok(()),
            404 if no_route(&reply.body) => Err(self.no_mount()),
            _ => Err(self.refused(&reply, "write the metadata of", &path, deadline)),
        }
    }

    /// Returns the secret, creating it with `generate` when it does not exist yet.
    ///
    /// Reads first; when absent, generates and writes with `cas=0`. The loser of a race
    /// re-reads and returns the winner's value, so however many callers start together,
    /// exactly one version is created. `generate` runs at most once, and only after the
    /// server answered that there is no secret: never while it cannot be reached.
    pub(crate) fn create_or_get(
        &self,
        name: &SecretName,
        generate: impl FnOnce() -> Result<SecretString, Error>,
        deadline: &Deadline,
    ) -> Result<Obtained, BaoError> {
        let mut generate = Some(generate);
        let mut fresh: Option<SecretString> = None;
        for _ in 0..CREATE_ATTEMPTS {
            if let Some(secret) = self.read_current(name, deadline)? {
                return Ok(Obtained {
                    secret,
                    created: false,
                });
            }
            if fresh.is_none()
                && let Some(generate) = generate.take()
            {
                fresh = Some(generate().map_err(|e| BaoError::Generate(Box::new(e)))?);
            }
            let value = fresh.as_ref().expect("generated above");
            match self.write(name, value, 0, deadline) {
                Ok(version) => {
                    return Ok(Obtained {
                        secret: Versioned {
                            value: fresh.take().expect("generated above"),
                            version,
                            custom_metadata: BTreeMap::new(),
                        },
                        created: true,
                    });
                }
                // Someone else created it between the read and the write: read theirs.
                Err(BaoError::CasConflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(BaoError::CasConflict {
            path: self.data_path(name),
            expected: 0,
        })
    }

    /// Replaces the secret with `new`, keeping the replaced version valid for `grace`.
    ///
    /// Writes version n+1 with `cas=n`, so of two hosts rotating at once one fails with
    /// [`BaoError::CasConflict`] and nothing is lost. Before that, `max_versions` is raised
    /// to [`KEEP_VERSIONS`] if it would not keep version n; after it, version n and its
    /// expiry are recorded in `custom_metadata` (other keys there are kept).
    pub(crate) fn rotate(
        &self,
        name: &SecretName,
        new: &SecretString,
        grace: Duration,
        deadline: &Deadline,
    ) -> Result<Rotation, BaoError> {
        let meta = self
            .read_metadata(name, deadline)?
            .filter(|m| m.current_version > 0)
            .ok_or_else(|| BaoError::NotFound {
                path: self.data_path(name),
                version: 0,
            })?;
        let n = meta.current_version;
        if let Some(how) = meta.gone.get(&n) {
            return Err(BaoError::Deleted {
                path: self.data_path(name),
                version: n,
                how,
            });
        }
        if meta.max_versions == 0 || meta.max_versions == 1 {
            // 0 means "the mount's setting", which may be 1: make sure n survives n+1.
            self.write_metadata(
                name,
                &MetadataUpdate {
                    max_versions: Some(KEEP_VERSIONS),
                    custom_metadata: None,
                },
                deadline,
            )?;
        }
        let version = self.write(name, new, n, deadline)?;
        let previous_expires = SystemTime::now() + grace;
        let mut custom = meta.custom_metadata;
        custom.insert(META_PREVIOUS_VERSION.into(), n.to_string());
        custom.insert(
            META_PREVIOUS_EXPIRES.into(),
            unix_secs(previous_expires).to_string(),
        );
        self.write_metadata(
            name,
            &MetadataUpdate {
                max_versions: None,
                custom_metadata: Some(custom),
            },
            deadline,
        )?;
        Ok(Rotation {
            version,
            previous_version: n,
            previous_expires: UNIX_EPOCH + Duration::from_secs(unix_secs(previous_expires)),
        })
    }

    /// The current secret and, while its recorded expiry lasts, the previous one (the
    /// version before the current one). `None` when the secret does not exist.
    pub(crate) fn key_set(
        &self,
        name: &SecretName,
        deadline: &Deadline,
    ) -> Result<Option<StoreKeySet>, BaoError> {
        let Some(current) = self.read_current(name, deadline)? else {
            return Ok(None);
        };
        let mut set = StoreKeySet {
            previous: None,
            previous_unavailable: None,
            current,
        };
        let Some((version, expires)) = previous_record(&set.current, SystemTime::now()) else {
            return Ok(Some(set));
        };
        match self.read_version(name, version, deadline) {
            Ok(previous) => set.previous = Some((previous.value, expires)),
            Err(e @ (BaoError::Deleted { .. } | BaoError::NotFound { .. })) => {
                set.previous_unavailable = Some(e);
            }
            Err(e) => return Err(e),
        }
        Ok(Some(set))
    }

    /// Where the token comes from, for messages.
    fn token_source(&self) -> String {
        match &self.auth {
            Auth::Token { source, .. } => source.clone(),
            Auth::AppRole { role_id, .. } => format!("the AppRole login of role id {role_id}"),
        }
    }

    fn token(&self, deadline: &Deadline) -> Result<&SecretString, BaoError> {
        let (role_id, secret_id) = match &self.auth {
            Auth::Token { token, .. } => return Ok(token),
            Auth::AppRole { role_id, secret_id } => (role_id, secret_id),
        };
        if let Some(token) = self.login_token.get() {
            return Ok(token);
        }
        let _one_login = self
            .login_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(token) = self.login_token.get() {
            return Ok(token);
        }
        let path = format!("auth/{APPROLE_MOUNT}/login");
        let body = login_body(role_id, secret_id);
        let reply = self.send(Method::Post, &path, Some(&body), None, deadline)?;
        match reply.status {
            200 => {
                let login: LoginAnswer = parse(&reply.body)
                    .map_err(|()| reply.malformed(&path, "not a login answer"))?;
                let token = login
                    .auth
                    .map(|a| a.client_token.0)
                    .ok_or_else(|| reply.malformed(&path, "no `auth.client_token`"))?;
                Ok(self.login_token.get_or_init(|| token))
            }
            400 | 403 => Err(BaoError::LoginRefused {
                role_id: role_id.clone(),
                status: reply.status,
            }),
            _ => Err(self.server_error(&reply, &path)),
        }
    }

    /// A request with the token.
    fn authed(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        deadline: &Deadline,
    ) -> Result<Reply, BaoError> {
        let token = self.token(deadline)?;
        self.send(method, path, body, Some(token), deadline)
    }

    /// One HTTP exchange with `/v1/<path>`, bounded by what is left of the deadline.
    fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        token: Option<&SecretString>,
        deadline: &Deadline,
    ) -> Result<Reply, BaoError> {
        let remaining = deadline.remaining();
        if remaining.is_zero() {
            return Err(self.timeout(deadline));
        }
        let url = format!("{}/v1/{path}", self.address);
        let header = match token {
            Some(t) => {
                let mut v =
                    HeaderValue::from_str(t.expose_secret()).map_err(|_| BaoError::BadToken {
                        token_source: self.token_source(),
                    })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let result = match method {
            Method::Get => {
                let mut req = self
                    .agent
                    .get(&url)
                    .config()
                    .timeout_global(Some(remaining))
                    .build();
                if let Some(h) = header {
                    req = req.header("X-Vault-Token", h);
                }
                req.call()
            }
            Method::Post => {
                let mut req = self
                    .agent
                    .post(&url)
                    .config()
                    .timeout_global(Some(remaining))
                    .build()
                    .content_type("application/json");
                if let Some(h) = header {
                    req = req.header("X-Vault-Token", h);
                }
                req.send(body.unwrap_or_default())
            }
        };
        let response = result.map_err(|e| self.transport_error(e, deadline))?;
        let status = response.status().as_u16();
        let mut reader = response.into_body().into_reader();
        // One allocation of the final size: the buffer never reallocates, so no unwiped
        // copy of a secret in it is left behind.
        let mut buf = Zeroizing::new(vec![0u8; MAX_BODY + 1]);
        let filled = crate::fs::read::fill(&mut reader, &mut buf)
            .map_err(|e| self.transport_error(ureq::Error::from(e), deadline))?;
        if filled > MAX_BODY {
            return Err(BaoError::Malformed {
                path: strip_query(path).to_owned(),
                status,
                reason: "the answer is larger than 64 KiB",
            });
        }
        buf.truncate(filled);
        Ok(Reply { status, body: buf })
    }

    fn transport_error(&self, e: ureq::Error, deadline: &Deadline) -> BaoError {
        let address = self.address.clone();
        match e {
            ureq::Error::Timeout(_) => self.timeout(deadline),
            ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_) => {
                BaoError::Tls { address, source: e }
            }
            // rustls reports a failed handshake as an `InvalidData` I/O error.
            ureq::Error::Io(ref io)
                if self.address.starts_with("https://")
                    && io.kind() == std::io::ErrorKind::InvalidData =>
            {
                BaoError::Tls { address, source: e }
            }
            _ if deadline.remaining().is_zero() => self.timeout(deadline),
            source => BaoError::Unreachable { address, source },
        }
    }

    fn timeout(&self, deadline: &Deadline) -> BaoError {
        BaoError::Timeout {
            address: self.address.clone(),
            budget: deadline.budget(),
        }
    }

    fn no_mount(&self) -> BaoError {
        BaoError::NoMount {
            mount: self.mount.clone(),
        }
    }

    /// The error for a status the operation did not expect.
    ///
    /// A 403 means a bad token or a good one without the policy; the token's own lookup,
    /// which every token's default policy allows, tells them apart.
    fn refused(
        &self,
        reply: &Reply,
        operation: &'static str,
        path: &str,
        deadline: &Deadline,
    ) -> BaoError {
        if reply.status != 403 {
            return self.server_error(reply, path);
        }
        let token_valid = self
            .token(deadline)
            .and_then(|t| {
                self.send(
                    Method::Get,
                    "auth/token/lookup-self",
                    None,
                    Some(t),
                    deadline,
                )
            })
            .map(|r| r.status != 403);
        match token_valid {
            Ok(false) => BaoError::BadToken {
                token_source: self.token_source(),
            },
            Ok(true) | Err(_) => BaoError::PermissionDenied {
                operation,
                path: path.to_owned(),
                mount: self.mount.clone(),
                prefix: self.prefix.clone(),
            },
        }
    }

    fn server_error(&self, reply: &Reply, path: &str) -> BaoError {
        let address = self.address.clone();
        match reply.status {
            503 if errors_mention(&reply.body, "sealed") => BaoError::Sealed { address },
            // 3xx: a standby node redirecting to the active one, which is not followed.
            status @ (300..=399 | 429 | 472 | 473 | 500..=599) => {
                BaoError::Unavailable { address, status }
            }
            _ => reply.malformed(path, "a status the KV v2 API does not answer here"),
        }
    }
}

/// The previous version and its expiry recorded in `custom_metadata`, when it is the
/// version right before the current one and has not expired at `now`. A record left by an
/// older rotation (it names another version) is ignored.
pub(crate) fn previous_record(current: &Versioned, now: SystemTime) -> Option<(u64, SystemTime)> {
    let version: u64 = current
        .custom_metadata
        .get(META_PREVIOUS_VERSION)?
        .parse()
        .ok()?;
    let expires: u64 = current
        .custom_metadata
        .get(META_PREVIOUS_EXPIRES)?
        .parse()
        .ok()?;
    let expires = UNIX_EPOCH + Duration::from_secs(expires);
    (version > 0 && version + 1 == current.version && expires > now).then_some((version, expires))
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn strip_query(path: &str) -> &str {
    path.split_once('?').map_or(path, |(p, _)| p)
}

/// The JSON of a KV v2 write, in a zeroizing buffer sized for the worst case (every byte
/// escaped as `\u00XX`) so that it never reallocates.
fn write_body(value: &SecretString, cas: u64) -> Zeroizing<Vec<u8>> {
    #[derive(Serialize)]
    struct Options {
        cas: u64,
    }
    #[derive(Serialize)]
    struct Data<'a> {
        value: &'a str,
    }
    #[derive(Serialize)]
    struct Write<'a> {
        options: Options,
        data: Data<'a>,
    }
    let secret = value.expose_secret();
    let mut buf = Zeroizing::new(Vec::with_capacity(secret.len() * 6 + 64));
    let cap = buf.capacity();
    serde_json::to_writer(
        &mut *buf,
        &Write {
            options: Options { cas },
            data: Data { value: secret },
        },
    )
    .expect("a string serializes");
    debug_assert_eq!(buf.capacity(), cap, "the body buffer reallocated");
    buf
}

/// The JSON of an AppRole login, in a zeroizing buffer that never reallocates.
fn login_body(role_id: &str, secret_id: &SecretString) -> Zeroizing<Vec<u8>> {
    #[derive(Serialize)]
    struct Login<'a> {
        role_id: &'a str,
        secret_id: &'a str,
    }
    let secret_id = secret_id.expose_secret();
    let mut buf = Zeroizing::new(Vec::with_capacity(
        (role_id.len() + secret_id.len()) * 6 + 64,
    ));
    serde_json::to_writer(&mut *buf, &Login { role_id, secret_id }).expect("strings serialize");
    buf
}

/// Parses a body. The error is deliberately empty: serde's messages quote the input, which
/// may be a secret.
fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ()> {
    serde_json::from_slice(body).map_err(|_| ())
}

/// Whether the body is an error answer `{"errors": [...]}` one of whose messages contains
/// `needle` (the messages are matched, never shown).
fn errors_mention(body: &[u8], needle: &str) -> bool {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<String>,
    }
    parse::<Errors>(body).is_ok_and(|e| e.errors.iter().any(|m| m.contains(needle)))
}

/// The answer for a path no engine is mounted at.
fn no_route(body: &[u8]) -> bool {
    errors_mention(body, "no handler for route")
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
}

#[derive(Deserialize)]
struct ReadData {
    data: Option<Fields>,
    metadata: Option<VersionMetadata>,
}

#[derive(Deserialize)]
struct Fields {
    value: Option<SecretValue>,
}

#[derive(Deserialize)]
struct VersionMetadata {
    version: u64,
    custom_metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    destroyed: bool,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u64,
}

#[derive(Deserialize)]
struct MetadataData {
    current_version: u64,
    #[serde(default)]
    max_versions: u64,
    custom_metadata: Option<BTreeMap<String, String>>,
    versions: Option<BTreeMap<String, VersionState>>,
}

#[derive(Deserialize)]
struct VersionState {
    #[serde(default)]
    deletion_time: String,
    #[serde(default)]
    destroyed: bool,
}

#[derive(Deserialize)]
struct LoginAnswer {
    auth: Option<LoginAuth>,
}

#[derive(Deserialize)]
struct LoginAuth {
    client_token: SecretValue,
}

/// A JSON string copied straight into a `SecretString`. Without escapes, `serde_json` hands
/// over a slice of the (zeroizing) body, so the only copy is the `SecretString`'s own.
struct SecretValue(SecretString);

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SecretValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<SecretValue, E> {
                Ok(SecretValue(SecretString::from(s)))
            }

            fn visit_string<E: de::Error>(self, mut s: String) -> Result<SecretValue, E> {
                let v = SecretValue(SecretString::from(s.as_str()));
                s.zeroize();
                Ok(v)
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads and parses the PEM CA file.
fn read_ca(path: &std::path::Path) -> Result<ureq::tls::RootCerts, BaoError> {
    let file_error = |reason: String| BaoError::File {
        what: "the CA certificate file",
        path: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| file_error(e.to_string()))?;
    if meta.len() > MAX_CA_FILE {
        return Err(file_error("it is larger than 1 MiB".into()));
    }
    let pem = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(_) => return Err(file_error("it is not valid PEM".into())),
        }
    }
    if certs.is_empty() {
        return Err(file_error("it holds no PEM certificate".into()));
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}
