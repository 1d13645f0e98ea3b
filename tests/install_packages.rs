//! The packages as an administrator gets them: `scripts/package` builds the .deb and the .rpm
//! (once per run of this test binary, a release build), then
//!
//! - the .deb is installed on a throwaway root — an overlay of the machine's own `/` in private
//!   mount and PID namespaces, chrooted into — by tests/install/deb.sh: `dpkg -i`, Depends,
//!   `pam-auth-update --enable twofold`, sign-ins through real sudo and a real sshd on loopback
//!   with Debian's unchanged /etc/pam.d/sudo and sshd, the rpm's authselect recipe (rendered,
//!   through sudo), `man -w`, `dpkg --purge`; the machine's own /etc is never written;
//! - the .rpm's file list, scripts and requirements are read with `rpm -qp` (it cannot be
//!   installed here).
//!
//! Without root (or a needed program) the .deb test prints `SKIP <test>: <reason>` and passes;
//! with CI=true it fails instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The PAM module's two objects as cargo builds them in target/release (installed as
/// pam_twofold.so and pam_twofold_outside.so).
const MODULE_BUILD_NAMES: [&str; 2] = ["libpam_twofold.so", "libpam_twofold_outside.so"];

/// Longest the .deb's whole case may take before it is killed (with its namespace).
const DEB_TIMEOUT: Duration = Duration::from_secs(300);

/// The two packages, built once by scripts/package.
struct Packages {
    deb: PathBuf,
    rpm: PathBuf,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs scripts/package (once) and returns the paths it printed; panics if it fails.
fn packages() -> &'static Packages {
    static BUILT: OnceLock<Packages> = OnceLock::new();
    BUILT.get_or_init(|| {
        let started = Instant::now();
        let mut package = Command::new(repo().join("scripts/package"));
        // As an administrator's shell runs it: without what cargo and rustup set for this test
        // (another rustc path or build-script input would make cargo rebuild everything, twice).
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let injected = name == "CARGO"
                || name == "LD_LIBRARY_PATH"
                || name == "RUSTC"
                || name == "RUSTDOC"
                || name.starts_with("CARGO_") && name != "CARGO_HOME"
                || name.starts_with("RUSTUP_") && name != "RUSTUP_HOME";
            if injected {
                package.env_remove(name.as_ref());
            }
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::split_paths(&path).filter(|d| !d.to_string_lossy().contains("/toolchains/"));
        package.env("PATH", std::env::join_paths(path).expect("PATH"));
        let out = package
            .current_dir(repo())
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/package");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "scripts/package failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
        println!(
            "scripts/package: {:.0} s\n{stdout}",
            started.elapsed().as_secs_f64()
        );
        let path = |suffix: &str| {
            let line = stdout
                .lines()
                .find(|l| l.ends_with(suffix))
                .unwrap_or_else(|| panic!("scripts/package printed no {suffix} path:\n{stdout}"));
            let path = repo().join(line);
            assert!(path.is_file(), "{} does not exist", path.display());
            path
        };
        Packages {
            deb: path(".deb"),
            rpm: path(".rpm"),
        }
    })
}

fn found(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|dir| dir.join(tool).is_file())
}

/// Why the .deb test cannot run here, if it cannot.
fn deb_requirement_missing() -> Option<String> {
    if !common::is_root() {
        return Some("needs root (dpkg -i on an overlay of / in a private mount namespace)".into());
    }
    let tools = [
        "unshare",
        "findmnt",
        "chroot",
        "dpkg",
        "pam-auth-update",
        "sudo",
        "setpriv",
        "oathtool",
        "objdump",
        "man",
        "useradd",
        "chpasswd",
        // The front-door harness (tests/front_doors/lib.sh, sshd_lib.sh) for the sshd sign-in.
        "tmux",
        "sshd",
        "ssh",
        "ssh-keygen",
        "python3",
        "openssl",
        "base32",
        "shuf",
    ];
    let missing: Vec<&str> = tools.into_iter().filter(|t| !found(t)).collect();
    if !missing.is_empty() {
        return Some(format!(
            "not installed: {} (scripts/test installs them)",
            missing.join(", ")
        ));
    }
    let overlay = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !overlay.lines().any(|l| l.ends_with("\toverlay")) {
        // Not loaded yet is fine (mount loads it); absent from the kernel is not.
        let module = Command::new("modinfo").arg("overlay").output();
        if !module.is_ok_and(|o| o.status.success()) {
            return Some("the kernel has no overlay file system".into());
        }
    }
    None
}

#[test]
fn deb_installs_enables_signs_in_through_sudo_and_purges_cleanly() {
    let test = "deb_installs_enables_signs_in_through_sudo_and_purges_cleanly";
    if let Some(reason) = deb_requirement_missing() {
        common::skip(test, &reason); // panics when CI=true
        return;
    }
    let deb = &packages().deb;
    let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("install_packages");
    std::fs::create_dir_all(&log_dir).unwrap();
    let log_path = log_dir.join(format!("{test}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let host_mntns = std::fs::read_link("/proc/self/ns/mnt").expect("read /proc/self/ns/mnt");

    let started = Instant::now();
    let mut child = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "bash",
        ])
        .arg(repo().join("tests/install/deb.sh"))
        .arg(deb)
        .env("TWOFOLD_HOST_MNTNS", &host_mntns)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start unshare");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > DEB_TIMEOUT {
            let _ = child.kill(); // --kill-child: the namespace and the overlay go with it
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    print!("{output}");
    println!("{test}: {:.1} s", started.elapsed().as_secs_f64());
    match status {
        Some(s) if s.success() => assert!(
            output.lines().any(|l| l == "PASS deb_package"),
            "deb.sh exited 0 without reaching its end"
        ),
        Some(s) => panic!("{test} failed ({s}); log: {}", log_path.display()),
        None => panic!("{test} killed after {} s", DEB_TIMEOUT.as_secs()),
    }
}

/// `rpm -qp ARGS RPM`'s standard output; panics if rpm fails.
fn rpm_query(rpm: &Path, args: &[&str]) -> String {
    let out = Command::new("rpm")
        .arg("-qp")
        .args(args)
        .arg(rpm)
        .output()
        .expect("run rpm");
    assert!(
        out.status.success(),
        "rpm -qp {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("rpm output is UTF-8")
}

/// The shared libraries an ELF file needs (objdump -p).
fn needed_libraries(file: &Path) -> Vec<String> {
    let out = Command::new("objdump")
        .arg("-p")
        .arg(file)
        .output()
        .expect("run objdump");
    assert!(out.status.success(), "objdump -p {}", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("NEEDED"))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn rpm_has_the_files_where_rpm_distributions_expect_them() {
    let test = "rpm_has_the_files_where_rpm_distributions_expect_them";
    if !found("rpm") || !found("objdump") {
        common::skip(
            test,
            "rpm or objdump not installed (scripts/test installs them)",
        );
        return;
    }
    let rpm = &packages().rpm;

    let files = rpm_query(rpm, &["-l"]);
    println!("rpm -qlp {}:\n{files}", rpm.display());
    let files: Vec<&str> = files.lines().collect();
    for expected in [
        "/usr/lib64/security/pam_twofold.so",
        "/usr/lib64/security/pam_twofold_outside.so",
        "/usr/sbin/twofold",
        "/etc/twofold/twofold.toml",
        "/usr/share/man/man8/twofold.8.gz",
        "/usr/share/man/man8/pam_twofold.8.gz",
        "/usr/share/man/man5/twofold.toml.5.gz",
        "/usr/lib/systemd/system/twofold-serve.service",
        "/usr/lib/sysusers.d/twofold-serve.conf",
        "/usr/share/twofold/authselect/make-profile",
        "/usr/share/bash-completion/completions/twofold",
    ] {
        assert!(files.contains(&expected), "the rpm lacks {expected}");
    }
    for file in &files {
        assert!(!file.contains("test-phone"), "the rpm contains {file}");
        assert!(
            !file.contains("x86_64-linux-gnu") && !file.starts_with("/lib/"),
            "Debian path in the rpm: {file}"
        );
    }
    assert_eq!(
        rpm_query(rpm, &["--configfiles"]).trim(),
        "/etc/twofold/twofold.toml"
    );

    let scripts = rpm_query(rpm, &["--scripts"]);
    println!("rpm -qp --scripts:\n{scripts}");
    for expected in [
        "postinstall scriptlet",
        "mkdir -m 0700 /var/lib/twofold",
        "twofold-serve",
        "preuninstall scriptlet",
        "authselect disable-feature with-twofold",
    ] {
        assert!(scripts.contains(expected), "rpm scripts lack {expected:?}");
    }

    // Built on Debian, the requirements are written by hand: each library the module and the
    // command link must be provided by a required package (Fedora/RHEL package names).
    let requires = rpm_query(rpm, &["--requires"]);
    let requires: Vec<&str> = requires.lines().map(str::trim).collect();
    let release = repo().join("target/release");
    for file in std::iter::once("twofold").chain(MODULE_BUILD_NAMES) {
        for lib in needed_libraries(&release.join(file)) {
            let package = match lib.as_str() {
                "libpam.so.0" => "pam",
                "libsqlite3.so.0" => "sqlite-libs",
                "libgcc_s.so.1" => "libgcc",
                "libc.so.6" | "libm.so.6" | "ld-linux-x86-64.so.2" => "glibc",
                other => panic!("{file} needs {other}: name its rpm package in packaging/rpm.toml"),
            };
            assert!(
                requires.contains(&package),
                "{file} needs {lib}, but the rpm does not require {package}"
            );
        }
    }
}
