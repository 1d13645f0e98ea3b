//! A throwaway PostgreSQL cluster from Debian's `postgresql` package for the service tests:
//! `initdb` and `pg_ctl` in a temporary directory, run as an unprivileged user (the `postgres`
//! system user when the tests run as root), listening only on a unix socket in that directory
//! (`listen_addresses = ''`), stopped with `pg_ctl stop -m immediate` when the last user of it
//! is dropped. Each test gets a database of its own in the one cluster of its test binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// A running cluster.
pub struct Cluster {
    bin: PathBuf,
    /// Data directory and socket directory inside it.
    dir: tempfile::TempDir,
    /// Run the server's commands as this user (`None`: as ourselves).
    run_as: Option<&'static str>,
    /// The TCP port of a TLS cluster ([`Cluster::start_tls`]).
    tls_port: Option<u16>,
}

/// What a TLS cluster listens with.
struct Tls {
    cert_pem: String,
    key_pem: String,
    port: u16,
}

/// One test's database in the shared cluster (the cluster stays up while one is held).
pub struct Database {
    pub cluster: Arc<Cluster>,
    pub name: String,
}

static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The directory of PostgreSQL's programs (`/usr/lib/postgresql/<version>/bin`), the newest
/// version installed, if any.
pub fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

impl Cluster {
    /// Starts a cluster, or says why it cannot (PostgreSQL not installed, no unprivileged user).
    fn start() -> Result<Cluster, String> {
        Cluster::start_with(None)
    }

    /// A cluster of its own that also listens on 127.0.0.1:`port` with TLS on (`cert_pem`, a
    /// certificate chain for 127.0.0.1, and `key_pem`); clients reach it with
    /// [`Cluster::tcp_conninfo`].
    pub fn start_tls(cert_pem: &str, key_pem: &str, port: u16) -> Result<Cluster, String> {
        Cluster::start_with(Some(Tls {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            port,
        }))
    }

    /// `host=HOST port=… user=postgres dbname=DB` and `more`, for a TLS cluster.
    pub fn tcp_conninfo(&self, host: &str, db: &str, more: &str) -> String {
        let port = self.tls_port.expect("a cluster started with start_tls");
        format!("host={host} port={port} user=postgres dbname={db} {more}")
    }

    fn start_with(tls: Option<Tls>) -> Result<Cluster, String> {
        let bin = bin_dir().ok_or("PostgreSQL is not installed (apt-get install postgresql)")?;
        let root = rustix::process::geteuid().is_root();
        let run_as = if root { Some("postgres") } else { None };
        let dir = tempfile::Builder::new()
            .prefix("twofold-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        if root {
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path())
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err("no 'postgres' system user to run the cluster as".into());
            }
        }
        let cluster = Cluster {
            bin,
            dir,
            run_as,
            tls_port: tls.as_ref().map(|t| t.port),
        };
        let data = cluster.data();
        let out = cluster.server_command(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut options = format!(
            "-c unix_socket_directories='{}' -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            cluster.socket_dir().display()
        );
        match &tls {
            None => options.push_str(" -c listen_addresses=''"),
            Some(tls) => {
                let cert = cluster.dir.path().join("server.crt");
                let key = cluster.dir.path().join("server.key");
                std::fs::write(&cert, &tls.cert_pem).map_err(|e| e.to_string())?;
                std::fs::write(&key, &tls.key_pem).map_err(|e| e.to_string())?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| e.to_string())?;
                if let Some(user) = cluster.run_as {
                    let status = Command::new("chown")
                        .arg(format!("{user}:{user}"))
                        .args([&cert, &key])
                        .status()
                        .map_err(|e| e.to_string())?;
                    if !status.success() {
                        return Err("chown of the TLS files failed".into());
                    }
                }
                options.push_str(&format!(
                    " -c listen_addresses='127.0.0.1' -c port={} -c ssl=on \
                     -c ssl_cert_file='{}' -c ssl_key_file='{}'",
                    tls.port,
                    cert.display(),
                    key.display()
                ));
            }
        }
        let log = cluster.dir.path().join("server.log").display().to_string();
        let out = cluster.server_command(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "30", "start",
            ],
        )?;
        if !out.status.success() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "pg_ctl start failed: {}{log}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Where the server's socket is.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs one of PostgreSQL's server programs as the cluster's user.
    fn server_command(&self, program: &str, args: &[&str]) -> Result<Output, String> {
        let exe = self.bin.join(program);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .current_dir("/")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))
    }

    /// Runs a client program (`psql`, `pg_dump`) against database `db` over the socket.
    pub fn client(&self, program: &str, db: &str, args: &[&str]) -> Output {
        let port = self.tls_port.unwrap_or(5432).to_string();
        Command::new(self.bin.join(program))
            .arg("-h")
            .arg(self.socket_dir())
            .args(["-p", &port, "-U", "postgres", "-d", db])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.server_command("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
    }
}

impl Database {
    /// A new empty database in this test binary's cluster (started if none runs), or the
    /// reason there can be none.
    pub fn create() -> Result<Database, String> {
        let cluster = {
            let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
            match shared.upgrade() {
                Some(c) => c,
                None => {
                    let c = Arc::new(Cluster::start()?);
                    *shared = Arc::downgrade(&c);
                    c
                }
            }
        };
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let out = cluster.client(
            "psql",
            "postgres",
            &[
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ],
        );
        if !out.status.success() {
            return Err(format!(
                "CREATE DATABASE: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(Database { cluster, name })
    }

    /// The `[serve] database` value for this database (key=value form, the socket directory).
    pub fn conninfo(&self) -> String {
        format!(
            "host={} user=postgres dbname={}",
            self.cluster.socket_dir().display(),
            self.name
        )
    }

    /// `pg_dump` of this database, as text.
    pub fn dump(&self) -> String {
        let out = self.cluster.client("pg_dump", &self.name, &[]);
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs SQL with psql; its output.
    pub fn sql(&self, sql: &str) -> String {
        let out = self.cluster.client(
            "psql",
            &self.name,
            &["-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
        );
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
