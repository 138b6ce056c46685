//! End-to-end harness: a real moto server on 127.0.0.1, a temporary project, the real
//! `lakepass` binary pointed at the server through `AWS_ENDPOINT_URL`, and SDK clients to
//! check what AWS holds afterwards.
#![allow(dead_code)]

pub mod proxy;

use aws_config::BehaviorVersion;
use aws_sdk_iam::config::Credentials;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ACCOUNT: &str = "123456789012";
pub const CALLER: &str = "arn:aws:iam::123456789012:user/moto";

/// The virtualenv's Python, where scripts/test installed the emulator.
pub fn venv_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = match std::env::var("LAKEPASS_MOTO_PYTHON") {
        Ok(p) => PathBuf::from(p),
        Err(_) => root.join(".venv/bin/python"),
    };
    assert!(python.exists(), "{} is missing: run scripts/test, which installs the emulator", python.display());
    python
}

/// A moto server of our own, killed on drop.
pub struct Emulator {
    child: Child,
    pub url: String,
    log: Arc<Mutex<String>>,
}

/// moto's server behind a lock (scripts/moto_serial.py: moto's backends are not
/// thread-safe), run by the virtualenv's Python.
fn moto_command() -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(venv_python());
    cmd.arg(root.join("scripts/moto_serial.py"));
    cmd
}

impl Emulator {
    pub fn start(extra_env: &[(&str, &str)]) -> Emulator {
        let mut cmd = moto_command();
        cmd.args(["-H", "127.0.0.1", "-p", "0"]).stdout(Stdio::null()).stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start moto_server");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Running on ").nth(1) {
                    let _ = tx.send(rest.trim().to_string());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(60)).expect("moto_server printed no address");
        let emu = Emulator { child, url, log };
        emu.wait_ready();
        emu
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.post("/moto-api/reset").is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto_server did not answer at {}", self.url);
    }

    /// A bare HTTP POST (the emulator's control API), without an HTTP client dependency.
    pub fn post(&self, path: &str) -> std::io::Result<String> {
        self.post_body(path, "")
    }

    pub fn post_body(&self, path: &str, body: &str) -> std::io::Result<String> {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let n = body.len();
        write!(s, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n{body}")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200") {
            Ok(out)
        } else {
            Err(std::io::Error::other(out))
        }
    }

    pub fn log_tail(&self) -> String {
        let l = self.log.lock().unwrap();
        let lines: Vec<&str> = l.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SDK clients pointed at the emulator, for setting up and checking AWS.
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub lf: aws_sdk_lakeformation::Client,
    pub glue: aws_sdk_glue::Client,
    pub sts: aws_sdk_sts::Client,
}

/// The outcome of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    pub fn fails(self) -> Run {
        assert_eq!(self.code, 1, "expected failure (exit 1)\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// An emulated account with Glue databases, the caller made a data lake administrator,
/// and an empty project directory.
pub struct World {
    pub emu: Emulator,
    /// Between the binary and the emulator: records actions, injects faults.
    pub proxy: proxy::Proxy,
    pub dir: tempfile::TempDir,
    pub aws: Clients,
}

pub const DATABASES: &[&str] = &["sales", "marketing", "finance"];

/// [`World::snapshot`] of an account holding nothing but what [`World::seed`] made.
pub const SEEDED: &str =
    "glue database finance at None\nglue database marketing at None\nglue database sales at None\n[]";

impl World {
    pub async fn new() -> World {
        World::with(true).await
    }

    /// With `admin` false the caller is not a data lake administrator.
    pub async fn with(admin: bool) -> World {
        let emu = Emulator::start(&[]);
        let aws = clients(&emu.url).await;
        let proxy = proxy::Proxy::start(&emu.url);
        let w = World { emu, proxy, dir: tempfile::tempdir().unwrap(), aws };
        w.seed(admin).await;
        w
    }

    /// Creates the databases (and a table) and, with `admin`, makes the caller a data
    /// lake administrator, as an account using lakepass would have.
    pub async fn seed(&self, admin: bool) {
        for db in DATABASES {
            let input = aws_sdk_glue::types::DatabaseInput::builder().name(*db).build().unwrap();
            self.aws.glue.create_database().database_input(input).send().await.unwrap();
        }
        let table = aws_sdk_glue::types::TableInput::builder().name("orders").build().unwrap();
        self.aws.glue.create_table().database_name("sales").table_input(table).send().await.unwrap();
        if admin {
            use aws_sdk_lakeformation::types::{DataLakePrincipal, DataLakeSettings};
            let me = DataLakePrincipal::builder().data_lake_principal_identifier(CALLER).build();
            let settings = DataLakeSettings::builder().data_lake_admins(me).build();
            self.aws.lf.put_data_lake_settings().data_lake_settings(settings).send().await.unwrap();
        }
    }

    /// Empties the emulator and the project's state, then seeds the account again.
    pub async fn reset(&self) {
        self.emu.post("/moto-api/reset").unwrap();
        let _ = std::fs::remove_dir_all(self.dir.path().join(".lakepass"));
        self.seed(true).await;
    }

    /// Creates Glue databases, many at a time. With `iam_allowed`, each gets AWS's default
    /// `IAM_ALLOWED_PRINCIPALS` grant for new tables: IAM alone governs it.
    pub async fn create_databases(&self, names: &[String], iam_allowed: bool) {
        use aws_sdk_glue::types::{DataLakePrincipal, DatabaseInput, Permission, PrincipalPermissions};
        use futures_util::{StreamExt, TryStreamExt};
        let creates = names.iter().map(|name| {
            let mut input = DatabaseInput::builder().name(name);
            if iam_allowed {
                let all = PrincipalPermissions::builder()
                    .principal(
                        DataLakePrincipal::builder().data_lake_principal_identifier("IAM_ALLOWED_PRINCIPALS").build(),
                    )
                    .permissions(Permission::All)
                    .build();
                input = input.create_table_default_permissions(all);
            }
            let glue = self.aws.glue.clone();
            async move { glue.create_database().database_input(input.build().unwrap()).send().await.map(|_| ()) }
        });
        futures_util::stream::iter(creates).buffer_unordered(16).try_collect::<Vec<()>>().await.unwrap();
    }

    /// The data lake settings: the caller as administrator, and whether new databases and
    /// tables default to IAM_ALLOWED_PRINCIPALS (AWS's default) or not (Lake Formation
    /// governs them).
    pub async fn data_lake_defaults(&self, iam_allowed: bool) {
        use aws_sdk_lakeformation::types::{DataLakePrincipal, DataLakeSettings, Permission, PrincipalPermissions};
        let me = DataLakePrincipal::builder().data_lake_principal_identifier(CALLER).build();
        let mut settings = DataLakeSettings::builder().data_lake_admins(me);
        if iam_allowed {
            let all = || {
                PrincipalPermissions::builder()
                    .principal(
                        DataLakePrincipal::builder().data_lake_principal_identifier("IAM_ALLOWED_PRINCIPALS").build(),
                    )
                    .permissions(Permission::All)
                    .build()
            };
            settings = settings.create_database_default_permissions(all()).create_table_default_permissions(all());
        } else {
            settings = settings
                .set_create_database_default_permissions(Some(vec![]))
                .set_create_table_default_permissions(Some(vec![]));
        }
        self.aws.lf.put_data_lake_settings().data_lake_settings(settings.build()).send().await.unwrap();
    }

    /// Every policy document attached to a principal, by name.
    pub async fn attached_documents(&self, role: &str) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for name in self.role_policies(role).await {
            let doc = self.policy_document(&name).await;
            out.push((name, doc));
        }
        out
    }

    /// What the user could check of AWS: every IAM name and key, policy versions, Glue
    /// databases, grants.
    pub async fn snapshot(&self) -> String {
        let w = self;
        let roles = w.aws.iam.list_roles().send().await.unwrap();
        let users = w.aws.iam.list_users().send().await.unwrap();
        let policies =
            w.aws.iam.list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).send().await.unwrap();
        let mut out = String::new();
        for r in roles.roles() {
            out.push_str(&format!("role {} {:?}\n", r.role_name(), w.role_policies(r.role_name()).await));
        }
        for u in users.users() {
            out.push_str(&format!("user {} keys {:?}\n", u.user_name(), w.access_keys(u.user_name()).await));
        }
        for p in policies.policies() {
            let name = p.policy_name().unwrap();
            out.push_str(&format!("policy {name} versions {}\n", w.policy_versions(name).await));
        }
        let mut databases: Vec<String> = (w.aws.glue.get_databases().send().await.unwrap().database_list().iter())
            .map(|d| format!("glue database {} at {:?}\n", d.name(), d.location_uri()))
            .collect();
        databases.sort();
        out.extend(databases);
        out.push_str(&format!("{:?}", w.grants().await));
        out
    }

    /// A Glue database's location and ownership tag, if it exists.
    pub async fn database(&self, name: &str) -> Option<(Option<String>, Option<String>)> {
        let got = self.aws.glue.get_database().name(name).send().await.ok()?;
        let arn = format!("arn:aws:glue:us-east-1:{ACCOUNT}:database/{name}");
        let tags = self.aws.glue.get_tags().resource_arn(arn).send().await.unwrap();
        let owner = tags.tags().and_then(|t| t.get("lakepass:deployment")).cloned();
        Some((got.database().unwrap().location_uri().map(str::to_string), owner))
    }

    pub fn config(&self, yaml: &str) {
        std::fs::write(self.dir.path().join("lakepass.yaml"), yaml).unwrap();
    }

    /// The secoda deployment with `values` (YAML lines, indented by the caller or not).
    pub fn secoda(&self, values: &str) {
        let mut yaml =
            String::from("deployments:\n  secoda:\n    stack: secoda-glue\n    region: us-east-1\n    values:\n");
        for line in values.lines().filter(|l| !l.trim().is_empty()) {
            yaml.push_str("      ");
            yaml.push_str(line.trim_start());
            yaml.push('\n');
        }
        self.config(&yaml);
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lakepass"));
        cmd.args(args).current_dir(self.dir.path()).env_clear();
        for (k, v) in env(&self.proxy.url, self.dir.path()) {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null());
        run(cmd, &self.emu)
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join(".lakepass/secoda.json")
    }

    pub fn state(&self) -> Option<Value> {
        self.state_of("secoda")
    }

    /// The state file of deployment `name`, if there is one.
    pub fn state_of(&self, name: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.dir.path().join(format!(".lakepass/{name}.json"))).ok()?;
        Some(serde_json::from_str(&text).unwrap())
    }

    // --- checks in AWS ---

    pub async fn role(&self, name: &str) -> Option<aws_sdk_iam::types::Role> {
        match self.aws.iam.get_role().role_name(name).send().await {
            Ok(out) => out.role().cloned(),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => None,
            Err(e) => panic!("GetRole: {e:?}"),
        }
    }

    pub async fn user_exists(&self, name: &str) -> bool {
        match self.aws.iam.get_user().user_name(name).send().await {
            Ok(_) => true,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => false,
            Err(e) => panic!("GetUser: {e:?}"),
        }
    }

    pub fn policy_arn(name: &str) -> String {
        format!("arn:aws:iam::{ACCOUNT}:policy/{name}")
    }

    pub async fn policy_exists(&self, name: &str) -> bool {
        self.aws.iam.get_policy().policy_arn(World::policy_arn(name)).send().await.is_ok()
    }

    /// The default version's document, parsed.
    pub async fn policy_document(&self, name: &str) -> Value {
        let arn = World::policy_arn(name);
        let p = self.aws.iam.get_policy().policy_arn(&arn).send().await.unwrap();
        let v = p.policy().unwrap().default_version_id().unwrap().to_string();
        let got = self.aws.iam.get_policy_version().policy_arn(&arn).version_id(v).send().await.unwrap();
        decode(got.policy_version().unwrap().document().unwrap())
    }

    pub async fn policy_versions(&self, name: &str) -> usize {
        let out = self.aws.iam.list_policy_versions().policy_arn(World::policy_arn(name)).send().await.unwrap();
        out.versions().len()
    }

    pub async fn role_policies(&self, role: &str) -> Vec<String> {
        let out = self.aws.iam.list_attached_role_policies().role_name(role).send().await.unwrap();
        out.attached_policies().iter().filter_map(|p| p.policy_name().map(str::to_string)).collect()
    }

    pub async fn user_policies(&self, user: &str) -> Vec<String> {
        let out = self.aws.iam.list_attached_user_policies().user_name(user).send().await.unwrap();
        out.attached_policies().iter().filter_map(|p| p.policy_name().map(str::to_string)).collect()
    }

    pub async fn access_keys(&self, user: &str) -> Vec<String> {
        let out = self.aws.iam.list_access_keys().user_name(user).send().await.unwrap();
        out.access_key_metadata().iter().filter_map(|k| k.access_key_id().map(str::to_string)).collect()
    }

    /// Every Lake Formation grant in the account as (principal, resource, permissions),
    /// sorted, resources written "database/x", "table/x/*" or "table/x/t".
    pub async fn grants(&self) -> Vec<(String, String, Vec<String>)> {
        let out = self.aws.lf.list_permissions().send().await.unwrap();
        let mut all = Vec::new();
        for p in out.principal_resource_permissions() {
            let principal = p.principal().and_then(|p| p.data_lake_principal_identifier()).unwrap_or_default();
            let r = p.resource().unwrap();
            let resource = if let Some(d) = r.database() {
                format!("database/{}", d.name())
            } else if let Some(t) = r.table() {
                format!("table/{}/{}", t.database_name(), t.name().unwrap_or("*"))
            } else {
                format!("{r:?}")
            };
            let mut perms: Vec<String> = p.permissions().iter().map(|x| x.as_str().to_string()).collect();
            perms.sort();
            if !perms.is_empty() {
                all.push((principal.to_string(), resource, perms));
            }
        }
        all.sort();
        all
    }

    pub async fn grants_to(&self, principal: &str) -> Vec<(String, Vec<String>)> {
        self.grants().await.into_iter().filter(|(p, _, _)| p == principal).map(|(_, r, perms)| (r, perms)).collect()
    }
}

pub fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

pub fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

/// The environment the binary runs with: the emulator, fake credentials, nothing of the
/// developer's own AWS config.
pub fn env(url: &str, home: &Path) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", url),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_MAX_ATTEMPTS", "2"),
        ("NO_COLOR", "1"),
        ("LAKEPASS_PROPAGATION_TIMEOUT_SECS", "5"),
        ("HOME", home.to_str().unwrap()),
        ("PATH", "/usr/bin:/bin"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn run(mut cmd: Command, emu: &Emulator) -> Run {
    let out = cmd.output().expect("run lakepass");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    if run.stderr.contains("500") || run.stderr.contains("InternalFailure") {
        eprintln!("emulator log:\n{}", emu.log_tail());
    }
    run
}

/// SDK configuration for the emulator, with fake credentials.
pub async fn sdk_config(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

pub async fn clients(url: &str) -> Clients {
    let config = sdk_config(url).await;
    Clients {
        iam: aws_sdk_iam::Client::new(&config),
        lf: aws_sdk_lakeformation::Client::new(&config),
        glue: aws_sdk_glue::Client::new(&config),
        sts: aws_sdk_sts::Client::new(&config),
    }
}

/// An Athena client on the emulator (for workgroup settings).
pub async fn clients_athena(url: &str) -> aws_sdk_athena::Client {
    aws_sdk_athena::Client::new(&sdk_config(url).await)
}

/// An S3 client on the emulator (path-style, as the emulator needs).
pub async fn clients_s3(url: &str) -> aws_sdk_s3::Client {
    let config = sdk_config(url).await;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build())
}

/// A KMS client on the emulator.
pub async fn clients_kms(url: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&sdk_config(url).await)
}

/// A policy document as IAM returns it (URL-encoded or raw), parsed.
pub fn decode(text: &str) -> Value {
    let raw = if text.starts_with('{') {
        text.to_string()
    } else {
        percent_encoding::percent_decode_str(text).decode_utf8().unwrap().into_owned()
    };
    serde_json::from_str(&raw).unwrap()
}

/// Standard values of the secoda deployment, role access.
pub const ROLE_VALUES: &str = r#"
access: role
external_id: "sec-7f3a9c21e4b8"
glue_buckets: [acme-lake]
athena_output_bucket: acme-athena-results
databases: [sales, marketing]
"#;

pub const USER_VALUES: &str = r#"
access: user
glue_buckets: [acme-lake]
athena_output_bucket: acme-athena-results
databases: [sales, marketing]
"#;
