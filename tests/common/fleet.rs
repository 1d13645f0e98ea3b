//! Fleet test support: one real `twofold serve` in fleet mode (SQLite) with three registered
//! hosts, and three hosts (own configuration, host token and state directory) sharing one
//! fleet key. The service can be stopped and started again on the same port.

use super::Host;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use twofold_core::factor::totp::{Algorithm, TotpParams};
use twofold_core::fleet::envelope::SealedRecord;
use twofold_core::fleet::key::FleetKey;
use twofold_core::fleet::service::FleetService;
use twofold_core::push::local::{add_host, spawn, write_private};
use twofold_core::secret::SecretString;

const TWOFOLD: &str = env!("CARGO_BIN_EXE_twofold");

/// The service: its directory, configuration and (while running) process.
pub struct ServiceProcess {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub url: String,
    database: String,
    child: Option<Child>,
}

impl ServiceProcess {
    fn write_config(dir: &Path, listen: &str, database: &str) -> PathBuf {
        let config = dir.join("twofold.toml");
        let text = format!(
            "state_dir = {:?}\n\n[serve]\nlisten = {listen:?}\ndatabase = {database:?}\nvapid_key_file = {:?}\nfleet = true\nclient_requests_per_minute = 0\n",
            dir.join("state").display().to_string(),
            dir.join("vapid.key").display().to_string(),
        );
        write_private(&config, &text).expect("service config");
        config
    }

    /// A service instance in a directory of its own on `database` (None: SQLite in that
    /// directory); not started yet.
    fn new(database: Option<&str>) -> ServiceProcess {
        let dir = tempfile::Builder::new()
            .prefix("twofold-fleet-serve-")
            .tempdir()
            .expect("tempdir");
        let database = database.map_or_else(
            || dir.path().join("serve.db").display().to_string(),
            str::to_string,
        );
        let config = Self::write_config(dir.path(), "127.0.0.1:0", &database);
        ServiceProcess {
            dir,
            config,
            url: String::new(),
            database,
            child: None,
        }
    }

    /// Stops the service (all hosts are offline then).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again on the same address, once it had one).
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let listen = match self.url.strip_prefix("http://") {
            Some(addr) => addr.to_string(),
            None => "127.0.0.1:0".to_string(),
        };
        self.config = Self::write_config(self.dir.path(), &listen, &self.database);
        let (child, url) = spawn(
            Path::new(TWOFOLD),
            &self.config,
            &self.dir.path().join("serve.log"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            self.url.is_empty() || url == self.url,
            "{url} != {}",
            self.url
        );
        self.url = url;
        self.child = Some(child);
    }

    /// What the service logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One host of the fleet.
pub struct FleetHost {
    pub name: &'static str,
    pub host: Host,
    pub token: String,
}

impl FleetHost {
    /// This host's view of the service (its own token).
    pub fn client(&self, url: &str) -> FleetService {
        twofold_core::outside::install_system();
        FleetService::new(
            &[url.to_string()],
            SecretString::new(self.token.clone()),
            Duration::from_secs(2),
            None,
        )
        .expect("fleet client")
    }

    /// Changes this host's configuration file.
    pub fn edit_config(&self, change: impl FnOnce(&mut toml::Table)) {
        let text = std::fs::read_to_string(&self.host.config_path).unwrap();
        let mut table: toml::Table = toml::from_str(&text).unwrap();
        change(&mut table);
        self.host
            .write_config_text(&toml::to_string(&table).unwrap());
    }

    /// Sets `[fleet] key = value` (a TOML value).
    pub fn set_fleet(&self, key: &str, value: &str) {
        let value: toml::Value =
            toml::from_str::<toml::Table>(&format!("v = {value}")).unwrap()["v"].clone();
        self.edit_config(|t| {
            t["fleet"].as_table_mut().unwrap().insert(key.into(), value);
        });
    }

    /// `twofold --config <host> ARGS`.
    pub fn twofold(&self, args: &[&str]) -> std::process::Output {
        self.twofold_env(args, &[])
    }

    /// `twofold --config <host> ARGS` with `env` set (LC_ALL and LC_MESSAGES removed first, so
    /// that a LANG in `env` decides the language).
    pub fn twofold_env(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut command = Command::new(TWOFOLD);
        command
            .arg("--config")
            .arg(&self.host.config_path)
            .args(args)
            .stdin(Stdio::null());
        if !env.is_empty() {
            command.env_remove("LC_ALL").env_remove("LC_MESSAGES");
        }
        command.envs(env.iter().copied());
        command.output().expect("run twofold")
    }

    /// Enrolls `user` with `twofold enroll --no-verify --json` (fleet-wide): the key.
    pub fn enroll(&self, user: &str) -> TotpParams {
        let out = self.twofold(&["enroll", user, "--force", "--no-verify", "--json"]);
        assert!(
            out.status.success(),
            "enroll on {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("enroll JSON");
        TotpParams {
            secret: SecretString::new(json["secret"].as_str().unwrap().to_string()),
            algorithm: Algorithm::SHA1,
            digits: 6,
            period: 30,
            skew: None,
        }
    }
}

/// A fleet: one service (SQLite) or two instances on one PostgreSQL database, three hosts.
pub struct Fleet {
    pub service: ServiceProcess,
    /// The second instance (PostgreSQL only).
    pub second: Option<ServiceProcess>,
    pub hosts: Vec<FleetHost>,
    pub key: FleetKey,
    /// Keeps the PostgreSQL database (and its cluster) while the fleet lives.
    _database: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl Fleet {
    /// One service on SQLite and three hosts; `extra` is TOML merged into each host's config.
    pub fn new(extra: &str) -> Fleet {
        Fleet::build(extra, None, None)
    }

    /// Two instances on one PostgreSQL database, and three hosts whose URL lists start with
    /// instance 1 (A, C) or instance 2 (B), the other second.
    pub fn on_postgres(
        extra: &str,
        conninfo: &str,
        database: Box<dyn std::any::Any + Send + Sync>,
    ) -> Fleet {
        Fleet::build(extra, Some(conninfo), Some(database))
    }

    fn build(
        extra: &str,
        conninfo: Option<&str>,
        database: Option<Box<dyn std::any::Any + Send + Sync>>,
    ) -> Fleet {
        let mut service = ServiceProcess::new(conninfo);
        let names = ["host-a", "host-b", "host-c"];
        let tokens: Vec<String> = names
            .iter()
            .map(|n| {
                add_host(Path::new(TWOFOLD), &service.config, n)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .expose()
                    .to_string()
            })
            .collect();
        service.start();
        let second = conninfo.map(|c| {
            let mut second = ServiceProcess::new(Some(c));
            second.start();
            second
        });
        let key = FleetKey::generate().unwrap();
        let hosts = names
            .iter()
            .zip(tokens)
            .enumerate()
            .map(|(i, (name, token))| {
                let host = Host::new();
                let token_path = host.root.join("host-token");
                super::push::write_token(&token_path, &token);
                let key_path = host.root.join("fleet-key");
                write_private(&key_path, &key.to_text()).unwrap();
                let mut urls = vec![service.url.clone()];
                if let Some(second) = &second {
                    urls.insert(usize::from(i != 1), second.url.clone());
                }
                host.configure(&format!(
                    "[push]\nhost_token_file = {:?}\nconnect_timeout_ms = 500\nhost_name = {name:?}\n[fleet]\nurls = {urls:?}\nkey_file = {:?}\n",
                    token_path.display().to_string(),
                    key_path.display().to_string(),
                ));
                if !extra.is_empty() {
                    let mut text: toml::Table =
                        toml::from_str(&std::fs::read_to_string(&host.config_path).unwrap())
                            .unwrap();
                    super::merge(&mut text, toml::from_str(extra).unwrap());
                    host.write_config_text(&toml::to_string(&text).unwrap());
                }
                FleetHost { name, host, token }
            })
            .collect();
        Fleet {
            service,
            second,
            hosts,
            key,
            _database: database,
        }
    }

    pub fn a(&self) -> &FleetHost {
        &self.hosts[0]
    }
    pub fn b(&self) -> &FleetHost {
        &self.hosts[1]
    }
    pub fn c(&self) -> &FleetHost {
        &self.hosts[2]
    }

    /// The sealed record the service serves for `user` now, and its version.
    pub fn served(&self, user: &str) -> (u64, Option<SealedRecord>) {
        let view = self
            .a()
            .client(&self.service.url)
            .user(&super::user_name(user), 0)
            .expect("GET record");
        (view.version, view.record)
    }
}
