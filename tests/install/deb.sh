#!/usr/bin/env bash
# tests/install/deb.sh DEB — the .deb on a throwaway root (run by tests/install_packages.rs).
#
# Started as root inside new mount and PID namespaces:
#
#     unshare --mount --propagation private --pid --fork --kill-child --mount-proc bash deb.sh DEB
#
# Stage "outside": an overlay of the machine's own / (lowerdir=/, upper and work on a tmpfs at
# /mnt that exists only in this namespace) is mounted at /mnt/root with its own /proc, /dev, /run
# and /tmp, and this script runs again, stage "inside", chrooted into it. Everything dpkg,
# pam-auth-update, useradd and the test write lands in the tmpfs: the machine's /etc is never
# written (checked at the end: /etc/pam.d, passwd and dpkg's status are unchanged), and the
# kernel drops the overlay with the namespace when the script exits.
#
# Inside: dpkg -i; Depends against the libraries the ELF files need; the files where Debian
# expects them, no test-only binary; the conffile as shipped changes nothing and names only
# real keys; pam-auth-update --enable twofold puts the module right after pam_unix's block in
# common-auth; a user enrolled with the installed command signs in through real sudo and
# Debian's unchanged /etc/pam.d/sudo (password + code; wrong and replayed codes refused); man -w
# finds the three pages; dpkg --purge leaves no twofold line under /etc/pam.d.
#
# Environment: TWOFOLD_HOST_MNTNS (the test process's mount namespace: refuse to run in it).

set -euo pipefail
shopt -s inherit_errexit
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
STAGE=${TWOFOLD_STAGE:-outside}

log() { printf '[deb %s] %s\n' "$STAGE" "$*" >&2; }
die() {
    printf 'FAIL deb_package: %s\n' "$*" >&2
    exit 1
}

# The packaged module and its name as the packages install it.
MODULE_DIR=/usr/lib/x86_64-linux-gnu/security
MODULE=$MODULE_DIR/pam_twofold.so

outside() {
    local deb=${1:?usage: deb.sh DEB}
    [ -f "$deb" ] || die "no package at $deb"
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    [ "$(readlink /proc/self/ns/mnt)" != "${TWOFOLD_HOST_MNTNS:?}" ] ||
        die "not in a new mount namespace (run me through unshare --mount --propagation private)"
    [ "$$" -eq 1 ] || die "not PID 1 of a new PID namespace"
    [ "$(findmnt -no PROPAGATION /)" = private ] || die "/ is not private in this namespace"
    [ -d /mnt ] || die "/mnt is missing (the overlay's mount point)"

    local before
    before=$(host_fingerprint)

    mount -t tmpfs -o mode=0755 twofold-install /mnt
    mkdir /mnt/upper /mnt/work /mnt/root
    mount -t overlay twofold-root -o lowerdir=/,upperdir=/mnt/upper,workdir=/mnt/work /mnt/root
    local R=/mnt/root
    mount -t proc proc "$R/proc"
    mount -t tmpfs -o mode=0755 twofold-dev "$R/dev"
    local node
    for node in null zero full random urandom tty; do
        touch "$R/dev/$node"
        mount --bind "/dev/$node" "$R/dev/$node"
    done
    mkdir "$R/dev/pts" "$R/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
    ln -s pts/ptmx "$R/dev/ptmx"
    mount -t tmpfs -o mode=1777 twofold-shm "$R/dev/shm"
    mount -t tmpfs -o mode=0755 twofold-run "$R/run"
    mount -t tmpfs -o mode=1777 twofold-tmp "$R/tmp"
    cp "$deb" "$R/tmp/twofold.deb"
    cp "$0" "$R/tmp/deb.sh"
    # The front-door harness (tmux terminals, sshd on loopback) and the sshd_config.d drop-in.
    local repo
    repo=$(cd "$(dirname "$0")/../.." && pwd)
    mkdir -p "$R/tmp/repo/tests"
    cp -a "$repo/tests/front_doors" "$R/tmp/repo/tests/"
    cp -a "$repo/sshd_config.d" "$R/tmp/repo/"
    mkdir -p "$R/tmp/repo/packaging"
    cp -a "$repo/packaging/authselect" "$R/tmp/repo/packaging/"

    log "throwaway root at $R (overlay of /, upper layer on tmpfs)"
    local rc=0
    TWOFOLD_STAGE=inside chroot "$R" /bin/bash /tmp/deb.sh /tmp/twofold.deb || rc=$?
    [ "$rc" -eq 0 ] || die "inside the throwaway root: exit $rc"

    [ "$(host_fingerprint)" = "$before" ] ||
        die "the machine's /etc/pam.d, passwd, group or dpkg status changed"
    log "the machine's own files are unchanged"
    echo "PASS deb_package"
}

# What must never change on the machine itself.
host_fingerprint() {
    sha256sum /etc/pam.d/* /etc/passwd /etc/group /etc/shadow /var/lib/dpkg/status 2>/dev/null
}

inside() {
    local deb=$1
    export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
    if dpkg-query -W -f='${Status}' twofold 2>/dev/null | grep 'install ok installed' >/dev/null; then
        die "twofold is installed on the machine itself; the test needs a machine without it"
    fi
    grep -q pam_twofold /etc/pam.d/common-auth && die "common-auth names pam_twofold before the test"

    log "dpkg -i"
    dpkg -i "$deb" >/tmp/dpkg-install.log 2>&1 || {
        cat /tmp/dpkg-install.log >&2
        die "dpkg -i failed (dependencies not installed on this machine?)"
    }
    dpkg-query -W -f='${Status}' twofold | grep 'install ok installed' >/dev/null ||
        die "dpkg does not report twofold as installed"
    check_depends
    check_files
    check_config
    local pristine
    pristine=$(cat /etc/pam.d/common-auth)
    grep -q pam_twofold /etc/pam.d/common-auth &&
        die "installing put the module into common-auth (the profile must be Default: no)"

    log "pam-auth-update --enable twofold"
    pam-auth-update --enable twofold
    check_common_auth_order

    check_sudo_sign_in
    check_ssh_sign_in
    check_authselect_stack
    check_man_pages
    check_completions

    log "dpkg --purge twofold"
    dpkg --purge twofold >/tmp/dpkg-purge.log 2>&1 || {
        cat /tmp/dpkg-purge.log >&2
        die "dpkg --purge failed"
    }
    local left
    left=$(grep -rl twofold /etc/pam.d || true)
    [ -z "$left" ] || die "after purge, /etc/pam.d still names twofold: $left"
    [ "$(cat /etc/pam.d/common-auth)" = "$pristine" ] ||
        die "after purge, common-auth differs from before --enable"
    [ ! -e "$MODULE" ] || die "after purge, $MODULE is still there"
    [ ! -e /etc/twofold/twofold.toml ] || die "after purge, the conffile is still there"
    [ ! -e /usr/share/pam-configs/twofold ] || die "after purge, the profile is still there"
    [ -f /var/lib/twofold/users/alice.toml ] ||
        die "purge removed the enrolled users' records (they are kept on purpose)"
    # The stack still works without the module: the password alone is enough again.
    local out
    out=$(printf '%s\n' "$PASSWORD" | as_alice sudo -S -k id -u 2>/dev/null) ||
        die "after purge, sudo with the right password fails"
    [ "$out" = 0 ] || die "after purge, sudo id -u printed '$out'"
    log "purged: no twofold line under /etc/pam.d, sudo asks for the password only"
}

# Every library the module and the command need comes from a package named in Depends.
check_depends() {
    local depends names f lib path pkg
    depends=$(dpkg-query -W -f='${Depends}' twofold)
    names=,$(printf '%s' "$depends" | sed -E 's/ *\([^)]*\)//g; s/ //g'),
    log "Depends: $depends"
    for f in /usr/sbin/twofold "$MODULE"; do
        for lib in $(objdump -p "$f" | awk '$1 == "NEEDED" { print $2 }'); do
            path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ && !found { print $NF; found = 1 }')
            [ -n "$path" ] || die "$f needs $lib, which ldconfig does not know"
            pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null ||
                dpkg -S "${path#/usr}" 2>/dev/null) || die "no package owns $path ($lib)"
            pkg=${pkg%%:*}
            case "$names" in
            *",$pkg,"*) ;;
            *) die "$f needs $lib from $pkg, which is not in Depends: $depends" ;;
            esac
        done
    done
    printf '%s\n' "$depends" | grep -w libpam-runtime >/dev/null || die "Depends lacks libpam-runtime (pam-auth-update)"
}

check_files() {
    [ -f "$MODULE" ] || die "no $MODULE"
    [ -f "$MODULE_DIR/pam_twofold_outside.so" ] || die "no $MODULE_DIR/pam_twofold_outside.so"
    [ -x /usr/sbin/twofold ] || die "no /usr/sbin/twofold"
    [ -f /usr/share/pam-configs/twofold ] || die "no pam-auth-update profile"
    [ -f /lib/systemd/system/twofold-serve.service ] || die "no twofold-serve.service"
    if dpkg -L twofold | grep test-phone >/dev/null; then die "the package contains the test phone"; fi
    [ "$(stat -c '%a %U %G' /var/lib/twofold)" = "700 root root" ] ||
        die "/var/lib/twofold is $(stat -c '%a %U %G' /var/lib/twofold), expected 700 root root"
    getent passwd twofold-serve >/dev/null || die "postinst did not create the user twofold-serve"
    local shell
    shell=$(getent passwd twofold-serve | cut -d: -f7)
    case "$shell" in */nologin | */false) ;; *) die "twofold-serve has the shell $shell" ;; esac
    local version
    version=$(dpkg-query -W -f='${Version}' twofold)
    [ "$(twofold --version)" = "twofold ${version%-*}" ] ||
        die "twofold --version says '$(twofold --version)', the package is $version"
    dpkg-query -W -f='${Conffiles}' twofold | grep '^ /etc/twofold/twofold.toml ' >/dev/null ||
        die "/etc/twofold/twofold.toml is not a conffile"
    log "files in place; twofold --version: $(twofold --version)"
}

# The shipped configuration: valid, changes nothing, and every commented key is a real key.
check_config() {
    local out
    out=$(twofold check-config 2>&1) || die "twofold check-config on the shipped file: $out"
    printf '%s\n' "$out" | grep '/etc/twofold/twofold.toml: OK' >/dev/null || die "check-config said: $out"
    local active
    active=$(grep -vE '^[[:space:]]*(#|$)|^\[[a-z_]+\]$' /etc/twofold/twofold.toml || true)
    [ -z "$active" ] || die "the shipped configuration sets keys: $active"
    mkdir -m 0755 /tmp/config-keys
    sed -E 's/^#([a-z_]+ = )/\1/' /etc/twofold/twofold.toml >/tmp/config-keys/twofold.toml
    chmod 0644 /tmp/config-keys/twofold.toml
    [ "$(grep -cE '^[a-z_]+ = ' /tmp/config-keys/twofold.toml)" -ge 40 ] ||
        die "fewer than 40 keys in the shipped configuration"
    out=$(twofold --config /tmp/config-keys/twofold.toml check-config 2>&1 || true)
    if printf '%s\n' "$out" | grep -iE 'unknown|expected one of|invalid type' >/dev/null; then
        die "the commented keys, uncommented, are not all valid: $out"
    fi
}

# pam-auth-update put the module right after pam_unix's block: pam_unix, Debian's pam_deny and
# pam_permit (which end that block), then pam_twofold, required.
check_common_auth_order() {
    local lines
    # "CONTROL MODULE" per auth line; CONTROL may be [a=b c=d], with spaces.
    lines=$(grep -E '^auth[[:space:]]' /etc/pam.d/common-auth |
        sed -E 's/^auth[[:space:]]+(\[[^]]*\]|[a-z]+)[[:space:]]+([^[:space:]]+).*/\1 \2/')
    log "common-auth now: $(printf '%s' "$lines" | tr '\n' ';')"
    local unix twofold
    unix=$(printf '%s\n' "$lines" | grep -n 'pam_unix.so' | cut -d: -f1)
    twofold=$(printf '%s\n' "$lines" | grep -n 'pam_twofold.so' | cut -d: -f1)
    [ -n "$unix" ] || die "no pam_unix line in common-auth"
    [ -n "$twofold" ] || die "pam-auth-update --enable twofold did not add the module to common-auth"
    [ "$(printf '%s\n' "$twofold" | wc -l)" -eq 1 ] || die "the module is in common-auth more than once"
    [ "$twofold" -eq $((unix + 3)) ] || die "pam_twofold is not right after pam_unix's block"
    [ "$(printf '%s\n' "$lines" | sed -n "$((unix + 1)),$((unix + 2))p" | awk '{ print $NF }' | tr '\n' ' ')" = \
        "pam_deny.so pam_permit.so " ] || die "pam_unix's block is not followed by pam_deny, pam_permit"
    printf '%s\n' "$lines" | sed -n "${twofold}p" | grep '^required pam_twofold.so$' >/dev/null ||
        die "the twofold line is not 'required pam_twofold.so'"
}

as_alice() { setpriv --reuid=alice --regid=alice --init-groups -- "$@"; }

# sudo: Debian's unchanged /etc/pam.d/sudo (@include common-auth), real sudo reading the answers
# from its standard input (-S), the prompts on its standard error.
check_sudo_sign_in() {
    grep '^@include common-auth' >/dev/null /etc/pam.d/sudo || die "/etc/pam.d/sudo does not include common-auth"
    grep -q twofold /etc/pam.d/sudo && die "/etc/pam.d/sudo names twofold itself"
    PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
    useradd -m -s /bin/bash -G sudo alice
    printf 'alice:%s\n' "$PASSWORD" | chpasswd
    local secret
    secret=$(head -c 20 /dev/urandom | base32 | tr -d '=')
    twofold enroll alice --secret "$secret" --no-verify --json --qr none >/tmp/enroll.json ||
        die "twofold enroll alice failed"
    [ "$(stat -c '%a %U' /var/lib/twofold/users/alice.toml)" = "600 root" ] ||
        die "the record is $(stat -c '%a %U' /var/lib/twofold/users/alice.toml)"

    local code wrong out err
    # Far from a step boundary, so the code stays the current one for the whole exchange.
    while [ $(($(date +%s) % 30)) -gt 20 ]; do sleep 1; done
    code=$(oathtool --totp -b "$secret")
    wrong=$(printf '%06d' $(((10#$code + 1) % 1000000)))

    log "sudo: right password, wrong code"
    if out=$(printf '%s\n%s\n' "$PASSWORD" "$wrong" | as_alice sudo -S -k id -u 2>/tmp/err); then
        die "sudo accepted a wrong code (printed '$out')"
    fi
    err=$(cat /tmp/err)
    printf '%s' "$err" | grep -F 'Code from your authenticator app (or a recovery code):' >/dev/null || die "sudo never asked for the code: $err"

    log "sudo: right password, right code"
    out=$(printf '%s\n%s\n' "$PASSWORD" "$code" | as_alice sudo -S -k id -u 2>/tmp/err) ||
        die "sudo refused the right password and code: $(cat /tmp/err)"
    [ "$out" = 0 ] || die "sudo id -u printed '$out'"
    err=$(cat /tmp/err)
    [ "$(printf '%s' "$err" | grep -o 'password for alice:' | wc -l)" -eq 1 ] || die "the password was asked more than once: $err"
    [ "$(printf '%s' "$err" | grep -oF 'Code from your authenticator app (or a recovery code):' | wc -l)" -eq 1 ] || die "the code was not asked once: $err"

    log "sudo: the same code again (replay)"
    if printf '%s\n%s\n' "$PASSWORD" "$code" | as_alice sudo -S -k true 2>/tmp/err; then
        die "sudo accepted a replayed code"
    fi

    log "sudo: wrong password stops before the code prompt"
    if printf '%s\n%s\n' "x$PASSWORD" "$code" | as_alice sudo -S -k true 2>/tmp/err; then
        die "sudo accepted a wrong password"
    fi
    if grep -F 'Code from your authenticator app (or a recovery code):' >/dev/null /tmp/err; then die "a wrong password reached the code prompt"; fi
    log "sudo signs in with password + code, refuses wrong and replayed codes"

    # A text message is sent by a program, run through pam_twofold_outside.so beside the
    # module: loaded only by a sign-in that needs it.
    log "sudo: a text-message code is sent through pam_twofold_outside.so"
    [ -f "$MODULE_DIR/pam_twofold_outside.so" ] || die "no $MODULE_DIR/pam_twofold_outside.so"
    cp /etc/twofold/twofold.toml /tmp/twofold.toml.packaged
    printf '#!/bin/sh\ncat >>/tmp/sms.sent\n' >/usr/local/sbin/twofold-test-sms
    chmod 755 /usr/local/sbin/twofold-test-sms
    printf '[sms]\ngateway = "command"\ndefault_country = "NL"\n[sms.command]\nargv = ["/usr/local/sbin/twofold-test-sms", "{phone}"]\n' \
        >/etc/twofold/twofold.toml
    twofold phone alice set --verified +31612345678 >/dev/null || die "twofold phone alice set failed"
    twofold default-method alice sms >/dev/null || die "twofold default-method alice sms failed"
    if printf '%s\n%s\n' "$PASSWORD" 000000 | as_alice sudo -S -k true 2>/tmp/err; then
        die "sudo accepted a made-up text-message code"
    fi
    grep -F 'Code sent by text message' >/dev/null /tmp/err || die "sudo never said a text was sent: $(cat /tmp/err)"
    grep -F 'is your twofold sign-in code' >/dev/null /tmp/sms.sent || die "the gateway got no text: $(cat /tmp/err)"
    rm /tmp/sms.sent
    mv "$MODULE_DIR/pam_twofold_outside.so" /tmp/pam_twofold_outside.so
    if printf '%s\n%s\n' "$PASSWORD" 000000 | as_alice sudo -S -k true 2>/tmp/err; then
        die "sudo accepted a made-up text-message code"
    fi
    [ ! -e /tmp/sms.sent ] || die "a text was sent without pam_twofold_outside.so"
    mv /tmp/pam_twofold_outside.so "$MODULE_DIR/pam_twofold_outside.so"
    twofold default-method alice app >/dev/null
    cp /tmp/twofold.toml.packaged /etc/twofold/twofold.toml
    log "a text goes out through pam_twofold_outside.so; without it none is sent and nobody gets in"
}

# sshd: a real sshd on 127.0.0.1 with the repository's password + code drop-in and Debian's
# unchanged /etc/pam.d/sshd (@include common-auth), the real ssh client on a tmux terminal —
# through the front-door harness (tests/front_doors/lib.sh, sshd_lib.sh).
check_ssh_sign_in() {
    grep '^@include common-auth' >/dev/null /etc/pam.d/sshd || die "/etc/pam.d/sshd does not include common-auth"
    grep -q twofold /etc/pam.d/sshd && die "/etc/pam.d/sshd names twofold itself"
    export TWOFOLD_MODULE=$MODULE TWOFOLD_CLI=/usr/sbin/twofold TWOFOLD_REPO=/tmp/repo
    set -- deb_package_sshd # lib.sh takes the case name from $1
    # shellcheck source=/dev/null # tests/front_doors/lib.sh, copied into the throwaway root
    source /tmp/repo/tests/front_doors/lib.sh
    # shellcheck source=/dev/null # tests/front_doors/sshd_lib.sh
    source /tmp/repo/tests/front_doors/sshd_lib.sh
    T=$(mktemp -d /tmp/sshd.XXXXXX)
    chmod 0755 "$T"
    mkdir -m 0755 "$T/home" "$T/panes"
    # shellcheck disable=SC2034 # CFG, TMUX_SOCK: read by lib.sh and sshd_lib.sh
    CFG=/etc/twofold/twofold.toml # the packaged configuration, as installed
    # shellcheck disable=SC2034
    TMUX_SOCK=$T/tmux.sock
    printf '%s\n' 'set -g remain-on-exit on' 'set -g history-limit 50000' \
        'set -g default-terminal screen' >"$T/tmux.conf"

    start_sshd password
    add_user bob
    enroll bob
    ssh_pane a bob password
    wait_for a '\) Password: $'
    type_line a "${PASSWORD[bob]}"
    wait_for a '\) Code from your authenticator app \(or a recovery code\): $'
    type_line a "$(code bob)"
    signed_in a
    assert_count a '[Pp]assword' 1
    assert_count a 'Code from your authenticator app' 1

    ssh_pane b bob password -o NumberOfPasswordPrompts=1
    wait_for b '\) Password: $'
    type_line b "${PASSWORD[bob]}"
    wait_for b '\) Code from your authenticator app \(or a recovery code\): $'
    type_line b "$(wrong_code bob)"
    refused b

    kill "$SSHD_PID"
    tm kill-server 2>/dev/null || true
    STAGE=inside
    log "sshd signs in with password + code (asked once each), refuses a wrong code"
}

# The rpm's authselect recipe, as far as Debian can check it: packaging/authselect/make-profile
# runs against a stand-in `authselect` that creates the profile from a template written after
# RHEL 9's sssd profile; the template is then rendered with and without with-twofold as
# authselect would, and the rendered stack is used by real sudo with RHEL's /etc/pam.d/sudo
# (`auth include system-auth`). Real authselect and RHEL's own files are not checked here.
check_authselect_stack() {
    local base=/tmp/rhel9-sssd stub=/tmp/authselect-stub
    mkdir -p "$base" "$stub"
    cat >"$base/system-auth" <<'EOT'
auth        required                                     pam_env.so
auth        required                                     pam_faildelay.so delay=2000000
auth        required                                     pam_faillock.so preauth silent                         {include if "with-faillock"}
auth        [default=1 ignore=ignore success=ok]         pam_usertype.so isregular
auth        [default=1 ignore=ignore success=ok]         pam_localuser.so
auth        sufficient                                   pam_unix.so {if not "without-nullok":nullok}
auth        [default=1 ignore=ignore success=ok]         pam_usertype.so isregular
auth        sufficient                                   pam_sss.so forward_pass
auth        required                                     pam_faillock.so authfail                               {include if "with-faillock"}
auth        required                                     pam_deny.so

account     required                                     pam_unix.so
password    required                                     pam_deny.so
session     required                                     pam_unix.so
EOT
    cp "$base/system-auth" "$base/password-auth"
    cat >"$stub/authselect" <<'EOT'
#!/bin/sh
# Stand-in for authselect: no current profile; create-profile copies the template.
case "$1" in
current) exit 2 ;;
create-profile) mkdir -p "/etc/authselect/custom/$2" && cp /tmp/rhel9-sssd/* "/etc/authselect/custom/$2/" ;;
*) exit 1 ;;
esac
EOT
    chmod 0755 "$stub/authselect"
    PATH=$stub:$PATH sh /tmp/repo/packaging/authselect/make-profile >/tmp/make-profile.log 2>&1 ||
        die "make-profile failed: $(cat /tmp/make-profile.log)"
    local made=/etc/authselect/custom/twofold/system-auth
    [ "$(grep -c 'pam_twofold.so {include if "with-twofold"}' "$made")" -eq 2 ] ||
        die "make-profile did not add two twofold lines: $(cat "$made")"
    # authselect's rendering, for the features given.
    render() { # TEMPLATE FEATURE...
        local file=$1 f script=''
        shift
        for f in with-twofold with-faillock; do
            case " $* " in
            *" $f "*) script+="/\{exclude if \"$f\"\}/d; s/ *\{include if \"$f\"\}//; " ;;
            *) script+="/\{include if \"$f\"\}/d; s/ *\{exclude if \"$f\"\}//; " ;;
            esac
        done
        sed -E "$script"' s/\{if not "without-nullok":nullok\}/nullok/' "$file"
    }
    [ "$(render "$made")" = "$(render "$base/system-auth")" ] ||
        die "without with-twofold the profile differs from its base"
    render "$made" with-twofold >/tmp/system-auth.rendered
    log "system-auth with with-twofold: $(grep "^auth" /tmp/system-auth.rendered | tr -s " " | tr "\n" ";")"
    grep '{' >/dev/null /tmp/system-auth.rendered && die "unrendered template left: $(cat /tmp/system-auth.rendered)"
    cp /etc/pam.d/sudo /tmp/sudo.debian
    cp /tmp/system-auth.rendered /etc/pam.d/system-auth
    cat >/etc/pam.d/sudo <<'EOT'
#%PAM-1.0
auth       include      system-auth
account    include      system-auth
password   include      system-auth
session    include      system-auth
EOT
    useradd -m -s /bin/bash -G sudo carol
    local pw secret code
    pw=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
    printf 'carol:%s\n' "$pw" | chpasswd
    secret=$(head -c 20 /dev/urandom | base32 | tr -d '=')
    twofold enroll carol --secret "$secret" --no-verify --json --qr none >/dev/null
    while [ $(($(date +%s) % 30)) -gt 20 ]; do sleep 1; done
    code=$(oathtool --totp -b "$secret")
    as_carol() { setpriv --reuid=carol --regid=carol --init-groups -- "$@"; }

    if printf '%s\n%s\n' "$pw" "$(printf '%06d' $(((10#$code + 1) % 1000000)))" |
        as_carol sudo -S -k true 2>/tmp/err; then
        die "RHEL-style stack: a wrong code got through"
    fi
    grep -F 'Code from your authenticator app (or a recovery code):' >/dev/null /tmp/err || die "RHEL-style stack: the code was not asked: $(cat /tmp/err)"
    if printf '%s\n%s\n' "x$pw" "$code" | as_carol sudo -S -k true 2>/tmp/err; then
        die "RHEL-style stack: a wrong password got through"
    fi
    if grep -F 'Code from your authenticator app (or a recovery code):' >/dev/null /tmp/err; then die "RHEL-style stack: a wrong password reached the code"; fi
    local out
    out=$(printf '%s\n%s\n' "$pw" "$code" | as_carol sudo -S -k id -u 2>/tmp/err) ||
        die "RHEL-style stack: the right password and code were refused: $(cat /tmp/err)"
    [ "$out" = 0 ] || die "RHEL-style stack: sudo id -u printed '$out'"

    cp /tmp/sudo.debian /etc/pam.d/sudo
    rm -f /etc/pam.d/system-auth
    rm -rf /etc/authselect
    log "make-profile's with-twofold stack (rendered, RHEL-style sudo): code after the password, wrong ones refused"
}

check_man_pages() {
    local page path
    for page in pam_twofold twofold twofold.toml; do
        path=$(man -w "$page" 2>/dev/null) || die "man -w $page finds nothing"
        case "$path" in /usr/share/man/man[58]/"$page".[58].gz) ;; *) die "man -w $page: $path" ;; esac
    done
    local warnings
    warnings=$(MANWIDTH=80 man --warnings pam_twofold twofold twofold.toml 2>&1 >/dev/null) || true
    [ -z "$warnings" ] || die "man reports: $warnings"
    log "man -w finds pam_twofold(8), twofold(8), twofold.toml(5)"
}

check_completions() {
    local spec
    spec=$(bash -c 'source /usr/share/bash-completion/completions/twofold && complete -p twofold') ||
        die "the bash completion does not load"
    printf '%s' "$spec" | grep 'twofold$' >/dev/null || die "unexpected completion: $spec"
    [ -f /usr/share/zsh/vendor-completions/_twofold ] || die "no zsh completion"
    [ -f /usr/share/fish/vendor_completions.d/twofold.fish ] || die "no fish completion"
}

case "$STAGE" in
outside) outside "$@" ;;
inside) inside "$@" ;;
*) die "unknown stage $STAGE" ;;
esac
