//! A case-insensitive user directory (sssd, winbind): the system resolves `CASEY` to the
//! account `casey`. Simulated with a tiny NSS module compiled by the test and put, inside a
//! private mount namespace only, in place of Debian's unused `libnss_hesiod.so.2`, with an
//! nsswitch.conf that consults it. Needs root and a C compiler; through real libpam.
//!
//! One test per binary: glibc loads NSS modules once per process.

mod common;

use common::*;
use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

const NSS_MODULE: &str = r#"
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <string.h>
#include <strings.h>

/* Like a case-insensitive directory: any spelling of "casey" is the account "casey". */
enum nss_status _nss_hesiod_getpwnam_r(const char *name, struct passwd *pw, char *buf,
                                       size_t len, int *err) {
    static const char *fields[] = {"casey", "x", "", "/nonexistent", "/bin/sh"};
    char **slots[] = {&pw->pw_name, &pw->pw_passwd, &pw->pw_gecos, &pw->pw_dir, &pw->pw_shell};
    size_t used = 0;
    if (strcasecmp(name, "casey") != 0)
        return NSS_STATUS_NOTFOUND;
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(fields[i]) + 1;
        if (used + n > len) {
            *err = ERANGE;
            return NSS_STATUS_TRYAGAIN;
        }
        memcpy(buf + used, fields[i], n);
        *slots[i] = buf + used;
        used += n;
    }
    pw->pw_uid = 64242;
    pw->pw_gid = 64242;
    return NSS_STATUS_SUCCESS;
}
"#;

const HESIOD: &str = "/lib/x86_64-linux-gnu/libnss_hesiod.so.2";

fn bind(source: &Path, target: &Path) -> Result<(), String> {
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let (s, t) = (c(source), c(target));
    // SAFETY: NUL-terminated paths that outlive the call; a bind mount of one file on another.
    let rc = unsafe {
        libc::mount(
            s.as_ptr(),
            t.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(format!(
            "bind {} on {}: {}",
            source.display(),
            target.display(),
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

#[test]
fn a_name_the_system_spells_differently_is_refused_even_with_nullok() {
    const TEST: &str = "a_name_the_system_spells_differently_is_refused_even_with_nullok";
    if !is_root() {
        return skip(TEST, "needs root for a private mount namespace");
    }
    if !Path::new(HESIOD).exists() {
        return skip(TEST, &format!("{HESIOD} is missing (nothing to bind over)"));
    }
    let host = Host::with("", "nullok");
    let source = host.root.join("nss.c");
    let library = host.root.join("libnss_hesiod.so.2");
    fs::write(&source, NSS_MODULE).unwrap();
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .output();
    match built {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("cc failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => return skip(TEST, &format!("no C compiler: {e}")),
    }
    let nsswitch = host.root.join("nsswitch.conf");
    fs::write(
        &nsswitch,
        "passwd: files hesiod\ngroup: files\nshadow: files\n",
    )
    .unwrap();
    let casey = host.enroll("casey");

    let result = in_private_namespace(|| {
        bind(&library, Path::new(HESIOD))?;
        bind(&nsswitch, Path::new("/etc/nsswitch.conf"))?;
        // The resolver itself, as the module will see it.
        let resolved = user_name("CASEY").check_system_name();
        if resolved.is_ok() {
            return Err("the test resolver does not answer".to_string());
        }
        let upper = host.sign_in("CASEY", &[&wrong_code(&casey.params)]);
        let right = host.sign_in("casey", &[&code_now(&casey.params)]);
        Ok((upper, right))
    });
    let ((upper, right), _) = match result {
        Ok(Ok(pair)) => (pair, ()),
        Ok(Err(why)) | Err(why) => return skip(TEST, &why),
    };
    // Without the check: no record for "CASEY", so nullok would answer PAM_IGNORE — in
    // without a second factor.
    assert_eq!(upper.0.name, "PAM_AUTH_ERR", "{upper:?}");
    assert_eq!(upper.1, vec![CODE_PROMPT], "prompted like anyone else");
    let decisions = host.decisions();
    let d = &decisions[decisions.len() - 2];
    assert_eq!(d.get("user"), "CASEY", "{}", d.raw);
    assert_eq!(
        (d.get("result"), d.get("reason")),
        ("failure", "user_name_mismatch"),
        "{}",
        d.raw
    );
    assert!(d.get("detail").contains("\"casey\""), "{}", d.raw);
    assert_eq!(
        right.0.name, "PAM_SUCCESS",
        "the system's own spelling works"
    );
}
