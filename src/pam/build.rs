//! Links the unwinder statically into the module (libgcc_eh.a instead of libgcc_s.so.1).
//!
//! The module keeps `panic = "unwind"` so that pam-bindings can catch a panic before it reaches
//! libpam. Rust links that unwinder as `-lgcc_s`, so every sshd and sudo that loads the module
//! would also load, map and relocate libgcc_s.so.1: about 70,000 instructions per sign-in, half
//! of google-authenticator's whole cost (scripts/bench). GCC ships the same unwinder as the
//! static libgcc_eh.a (position-independent, under the GCC runtime library exception). For the
//! cdylib only, a directory is put first on the linker's search path that holds `libgcc_s.a`, a
//! link to libgcc_eh.a, so `-lgcc_s` resolves to it. The unwinder's symbols stay inside the
//! module (the cdylib exports only the pam_sm_* functions). If the C compiler has no
//! libgcc_eh.a, the module links libgcc_s.so.1 as before (a build warning says so).
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    match libgcc_eh() {
        Some(archive) => {
            let dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
                .join("static-unwinder");
            std::fs::create_dir_all(&dir).expect("OUT_DIR is writable");
            let link = dir.join("libgcc_s.a");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&archive, &link).expect("OUT_DIR is writable");
            println!("cargo:rustc-cdylib-link-arg=-L{}", dir.display());
        }
        None => println!(
            "cargo:warning=libgcc_eh.a not found: pam_twofold.so links libgcc_s.so.1 (slower to load)"
        ),
    }
}

/// The C compiler's libgcc_eh.a (`cc -print-file-name=libgcc_eh.a` prints the bare name when
/// it has none).
fn libgcc_eh() -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let out = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (path.is_absolute() && Path::new(&path).is_file()).then_some(path)
}
