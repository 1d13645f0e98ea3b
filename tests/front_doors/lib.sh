# tests/front_doors/lib.sh — shared by the front-door scripts (sshd.sh, sudo.sh, su.sh, login.sh).
#
# Each script is started by tests/front_doors.rs as root inside new mount and PID namespaces:
#
#     unshare --mount --propagation private --pid --fork --kill-child --mount-proc bash SCRIPT CASE
#
# Everything a script changes is a tmpfs or a bind mount that exists only in that namespace:
# /tmp, /run and /var/log are fresh tmpfs; /etc/passwd, shadow, group, gshadow, sudoers and the
# /etc/pam.d directory are temporary copies bind-mounted over the real ones. The host's files are
# never written, the test users exist only in the copies, and because the script is PID 1 of its
# PID namespace the kernel kills sshd, the tmux server and every other process it started when it
# exits, even if it is killed.
#
# Input (environment, set by the Rust test):
#   TWOFOLD_MODULE      absolute path of the built module (target/debug/libpam_twofold.so)
#   TWOFOLD_CLI         absolute path of the built `twofold` command
#   TWOFOLD_REPO        the repository: the pam.d/ and sshd_config.d/ files under test
#   TWOFOLD_HOST_MNTNS  the mount namespace of the test process (refuse to run in it)
#   TWOFOLD_PHONE       optional: the test phone command (twofold-test-phone), for push cases
#   TWOFOLD_WAIT        optional: seconds to wait for a prompt or an outcome (default 20)
#   TWOFOLD_SHOW=1      optional: print the screens and logs also when the case passes

set -euo pipefail
shopt -s inherit_errexit
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}

: "${TWOFOLD_MODULE:?}" "${TWOFOLD_CLI:?}" "${TWOFOLD_REPO:?}" "${TWOFOLD_HOST_MNTNS:?}"
WAIT=${TWOFOLD_WAIT:-20}
CASE=${1:?usage: $0 CASE}

log() { printf '[%s %6.2fs] %s\n' "$CASE" "$(bc_seconds)" "$*" >&2; }
bc_seconds() { local t=$EPOCHREALTIME; awk -v a="$t" -v b="$START_TIME" 'BEGIN { printf "%.2f", a - b }'; }
START_TIME=$EPOCHREALTIME

# Fails the case: says why, then the EXIT trap dumps the panes and logs.
die() {
    printf 'FAIL %s: %s\n' "$CASE" "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------------
# The sandbox
# ---------------------------------------------------------------------------------------------

# Refuses to touch anything unless this really is a new, private mount namespace.
check_namespace() {
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    local here
    here=$(readlink /proc/self/ns/mnt)
    [ "$here" != "$TWOFOLD_HOST_MNTNS" ] ||
        die "not in a new mount namespace (run me through unshare --mount --propagation private)"
    [ "$$" -eq 1 ] || die "not PID 1 of a new PID namespace (unshare --pid --fork --mount-proc)"
    local prop
    prop=$(findmnt -no PROPAGATION /)
    [ "$prop" = private ] || die "/ has propagation '$prop', expected private"
}

# Builds the sandbox: private /tmp, /run, /var/log; copies of the account files, sudoers and
# /etc/pam.d bound over the real ones; a twofold configuration and state directory.
setup_sandbox() {
    check_namespace
    # The repository and the build may live below /tmp (a CI clone does), which the fresh /tmp
    # would hide: the new tmpfs is filled at /mnt with what the tests use, then moved over /tmp.
    [ -d /mnt ] || die "/mnt is missing (needed as a staging mount point)"
    mount -t tmpfs -o mode=1777 twofold-tmp /mnt
    local src=/mnt/twofold-src
    mkdir -p -m 0755 "$src/repo/tests"
    cp "$TWOFOLD_MODULE" "$src/libpam_twofold.so"
    # Its requests and programs go through the object beside it (pam_twofold_outside.so).
    cp "${TWOFOLD_MODULE%.so}_outside.so" "$src/libpam_twofold_outside.so"
    cp "$TWOFOLD_CLI" "$src/twofold"
    if [ -n "${TWOFOLD_PHONE:-}" ]; then cp "$TWOFOLD_PHONE" "$src/twofold-test-phone"; fi
    cp -a "$TWOFOLD_REPO/pam.d" "$TWOFOLD_REPO/sshd_config.d" "$src/repo/"
    cp -a "$TWOFOLD_REPO/tests/front_doors" "$src/repo/tests/"
    mount --move /mnt /tmp
    TWOFOLD_MODULE=/tmp/twofold-src/libpam_twofold.so
    TWOFOLD_CLI=/tmp/twofold-src/twofold
    TWOFOLD_REPO=/tmp/twofold-src/repo
    if [ -n "${TWOFOLD_PHONE:-}" ]; then TWOFOLD_PHONE=/tmp/twofold-src/twofold-test-phone; fi
    mount -t tmpfs -o mode=0755 twofold-run /run
    mount -t tmpfs -o mode=0755 twofold-log /var/log
    T=$(mktemp -d /tmp/front-doors.XXXXXX)
    chmod 0755 "$T"   # the test users must reach their homes below it
    mkdir -m 0755 "$T/etc"
    local f
    for f in passwd shadow group gshadow; do
        cp -p "/etc/$f" "$T/etc/$f"
        mount --bind "$T/etc/$f" "/etc/$f"
    done
    cp -p /etc/sudoers "$T/etc/sudoers" 2>/dev/null || : >"$T/etc/sudoers"
    chmod 0440 "$T/etc/sudoers"
    if [ -e /etc/sudoers ]; then mount --bind "$T/etc/sudoers" /etc/sudoers; fi
    cp -a /etc/pam.d "$T/pam.d"
    mount --bind "$T/pam.d" /etc/pam.d

    # twofold: configuration directory and state directory owned by root, not group/world
    # writable (the module checks), audit lines in a file, no failure delay from the module.
    mkdir -m 0755 "$T/twofold"
    CFG=$T/twofold/twofold.toml
    STATE=$T/state
    AUDIT=$T/audit.log
    mkdir -m 0700 "$STATE"
    write_config ""
    mkdir -m 0755 "$T/home" "$T/panes"
    TMUX_SOCK=$T/tmux.sock
    printf '%s\n' 'set -g remain-on-exit on' 'set -g history-limit 50000' \
        'set -g default-terminal screen' >"$T/tmux.conf"
    trap on_exit EXIT
    log "sandbox in $T (module $TWOFOLD_MODULE)"
}

# write_config [TOML [RATE_LIMIT_LINES]]: the twofold configuration; TOML is appended (e.g. an
# [enrollment] section), RATE_LIMIT_LINES go into [rate_limit]. ISSUER (default twofold-test).
write_config() {
    {
        printf 'state_dir = "%s"\n' "$STATE"
        printf 'audit_log = "%s"\n' "$AUDIT"
        printf 'issuer = "%s"\n' "${ISSUER:-twofold-test}"
        printf '\n[rate_limit]\nfailure_delay_ms = 0\n'
        if [ -n "${2:-}" ]; then printf '%s\n' "$2"; fi
        if [ -n "${1:-}" ]; then printf '\n%s\n' "$1"; fi
    } >"$CFG"
    chmod 0644 "$CFG"
}

on_exit() {
    local rc=$?
    set +e
    if [ "$rc" -ne 0 ] || [ "${TWOFOLD_SHOW:-}" = 1 ]; then
        dump_diagnostics
    fi
    [ -n "${SSHD_PID:-}" ] && kill "$SSHD_PID" 2>/dev/null
    tm kill-server 2>/dev/null
    log "$( [ "$rc" -eq 0 ] && echo PASS || echo "FAIL (exit $rc)" )"
    exit "$rc"
}

dump_diagnostics() {
    local p
    for p in $(tm list-sessions -F '#{session_name}' 2>/dev/null); do
        printf -- '----- screen of pane %s -----\n' "$p" >&2
        screen "$p" | awk 'NF { while (blank) { print ""; blank-- } print; next } { blank++ }' >&2
    done
    for p in "$AUDIT" "$T/sshd.log" "$T/serve/serve.log"; do
        if [ -s "$p" ]; then
            printf -- '----- %s -----\n' "$p" >&2
            tail -n 60 "$p" >&2
        fi
    done
    printf -- '----- end of diagnostics -----\n' >&2
}

# ---------------------------------------------------------------------------------------------
# Users (only in the copies of the account files) and twofold records
# ---------------------------------------------------------------------------------------------

# add_user NAME: appends the user to the copies of passwd/shadow/group/gshadow with a fresh random
# password (in PASSWORD[NAME]) and a home directory under $T. useradd cannot be used: it renames
# files, which fails on bind mounts (and would touch the host's files).
# shellcheck disable=SC2034 # used by the scripts that source this file
declare -A PASSWORD=() HOME_OF=()
add_user() {
    local name=$1 id=61000
    while getent passwd "$id" >/dev/null || getent group "$id" >/dev/null; do id=$((id + 1)); done
    local pw hash home=$T/home/$name
    pw=$(openssl rand -hex 12)
    hash=$(openssl passwd -6 "$pw")
    printf '%s:x:%d:%d:twofold front-door test:%s:/bin/bash\n' "$name" "$id" "$id" "$home" >>/etc/passwd
    printf '%s:%s:%d:0:99999:7:::\n' "$name" "$hash" "$(($(date +%s) / 86400))" >>/etc/shadow
    printf '%s:x:%d:\n' "$name" "$id" >>/etc/group
    printf '%s:!::\n' "$name" >>/etc/gshadow
    mkdir -m 0755 "$home"
    chown "$id:$id" "$home"
    # shellcheck disable=SC2034 # read by the scripts that source this file
    PASSWORD[$name]=$pw
    HOME_OF[$name]=$home
    getent passwd "$name" >/dev/null || die "user $name not visible through NSS"
}

# add_group NAME MEMBER...: a supplementary group (in the copies of group and gshadow).
add_group() {
    local name=$1 id=62000
    shift
    while getent group "$id" >/dev/null; do id=$((id + 1)); done
    local IFS=,
    printf '%s:x:%d:%s\n' "$name" "$id" "$*" >>/etc/group
    printf '%s:!::%s\n' "$name" "$*" >>/etc/gshadow
}

# enroll NAME: enrolls the user with a fresh secret (in SECRET[NAME]) through the real command.
declare -A SECRET=()
enroll() {
    local name=$1 secret
    secret=$(head -c 20 /dev/urandom | base32 | tr -d '=')
    "$TWOFOLD_CLI" --config "$CFG" enroll "$name" --secret "$secret" --no-verify --json --qr none \
        >"$T/enroll-$name.json" || die "twofold enroll $name failed"
    SECRET[$name]=$secret
}

# code NAME [OFFSET_STEPS]: the user's TOTP code now (or OFFSET_STEPS steps of 30 s later).
code() {
    local name=$1 offset=${2:-0}
    if [ "$offset" -eq 0 ]; then
        oathtool --totp -b "${SECRET[$name]}"
    else
        oathtool --totp -b -N "now + $((offset * 30)) seconds" "${SECRET[$name]}"
    fi
}

# wrong_code NAME: six digits that are not the user's code for any step near now.
wrong_code() {
    local name=$1 c o near=" "
    for o in -2 -1 0 1 2; do near+="$(oathtool --totp -b -N "now + $((o * 30)) seconds" "${SECRET[$name]}") "; done
    while :; do
        c=$(printf '%06d' "$(shuf -i 0-999999 -n 1)")
        case $near in *" $c "*) ;; *) break ;; esac
    done
    printf '%s\n' "$c"
}

# install_pam SERVICE SNIPPET: the repository's pam.d/SNIPPET becomes /etc/pam.d/SERVICE (in the
# copy), with only the module path and config= argument substituted on the twofold line(s).
install_pam() {
    local service=$1 snippet=$TWOFOLD_REPO/pam.d/$2
    [ -f "$snippet" ] || die "no snippet $snippet"
    sed -E '/^[[:space:]]*#/! s#(^|[[:space:]])pam_twofold\.so([[:space:]]|$)#\1'"$TWOFOLD_MODULE"' config='"$CFG"'\2#' \
        "$snippet" >"/etc/pam.d/$service"
    grep -q "^[^#]*$TWOFOLD_MODULE config=$CFG" "/etc/pam.d/$service" ||
        die "no pam_twofold.so line substituted in $snippet"
}

# audit_has REGEX: the audit log has a matching line (waits a little: the line is written by
# the module in another process).
audit_has() {
    local re=$1 deadline=$((SECONDS + WAIT))
    until grep -qE -- "$re" "$AUDIT" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "no audit line matching /$re/"
        sleep 0.2
    done
}

# ---------------------------------------------------------------------------------------------
# Terminals: tmux panes, driven like a person at a keyboard
# ---------------------------------------------------------------------------------------------

tm() { tmux -u -S "$TMUX_SOCK" -f "$T/tmux.conf" "$@"; }

# pane NAME COMMAND...: starts COMMAND on a fresh 200x100 (PANE_COLS x PANE_ROWS) terminal in a UTF-8 locale. The
# command runs through a small script, so no quoting passes through tmux's shell; when it
# ends, the pane stays (remain-on-exit) and the script prints "PANE_EXIT=<status>".
pane() {
    local name=$1
    shift
    local script=$T/panes/$name.sh
    {
        printf '#!/bin/bash\n'
        printf 'export LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen\n'
        printf '%q ' "$@"
        printf '\necho "PANE_EXIT=$?"\n'
    } >"$script"
    chmod 0755 "$script"
    tm new-session -d -s "$name" -x "${PANE_COLS:-200}" -y "${PANE_ROWS:-100}" "$script"
}

# screen NAME: everything the pane showed (scrollback included), wrapped lines joined.
screen() { tm capture-pane -p -J -t "$1" -S - -E - 2>/dev/null || true; }

# screen_as_shown NAME: the screen as the terminal shows it, wrapped lines not joined.
screen_as_shown() { tm capture-pane -p -t "$1" -S - -E - 2>/dev/null || true; }

# screen_visible NAME: what the terminal shows right now (no scrollback), with its colours as
# SGR escapes (capture-pane -e), trailing blanks kept (-N: a white quiet zone is blanks): what
# a person could point a phone at.
screen_visible() { tm capture-pane -p -e -N -t "$1" 2>/dev/null || true; }

# keep_screen NAME FILE: saves the pane's visible screen (colours as escapes) as FILE under
# $TWOFOLD_SCREENS (target/front-door-screens), for a person to look at.
keep_screen() {
    [ -n "${TWOFOLD_SCREENS:-}" ] || return 0
    mkdir -p "$TWOFOLD_SCREENS"
    screen_visible "$1" >"$TWOFOLD_SCREENS/$2"
}

# count NAME REGEX: number of screen lines matching.
count() { screen "$1" | grep -cE -- "$2" || true; }

# wait_for NAME REGEX [N]: waits (up to $WAIT s) until at least N screen lines match. Fails at
# once when the pane's command has ended without it (the screen will not change any more).
wait_for() {
    local name=$1 re=$2 n=${3:-1} deadline=$((SECONDS + WAIT)) text
    while :; do
        text=$(screen "$name")
        [ "$(grep -cE -- "$re" <<<"$text" || true)" -lt "$n" ] || return 0
        if grep -qE '^PANE_EXIT=[0-9]+$' <<<"$text"; then
            die "pane $name ended without $n line(s) matching /$re/"
        fi
        [ $SECONDS -lt $deadline ] ||
            die "waited ${WAIT}s for $n line(s) matching /$re/ on pane $name"
        sleep 0.1
    done
}

# type_line NAME TEXT: types TEXT literally and presses Enter.
type_line() {
    if [ -n "$2" ]; then tm send-keys -t "$1" -l -- "$2"; fi
    tm send-keys -t "$1" Enter
}

# user_shell PANE NAME: an interactive shell of NAME (no PAM involved in getting it).
user_shell() {
    local p=$1 name=$2
    pane "$p" setpriv --reuid="$name" --regid="$name" --init-groups \
        env -i HOME="${HOME_OF[$name]}" USER="$name" LOGNAME="$name" SHELL=/bin/bash \
        PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=screen PS1='tf$ ' \
        bash --norc --noprofile -i
    wait_for "$p" '^tf\$ $'
}

# pane_exit NAME: waits for the pane's command to end and prints its exit status.
pane_exit() {
    wait_for "$1" '^PANE_EXIT=[0-9]+$'
    screen "$1" | sed -n 's/^PANE_EXIT=\([0-9]*\)$/\1/p' | tail -n 1
}

# assert_absent NAME REGEX: no screen line matches.
assert_absent() {
    local n
    n=$(count "$1" "$2")
    [ "$n" -eq 0 ] || die "pane $1 shows /$2/ $n time(s)"
}

# assert_count NAME REGEX N: exactly N screen lines match.
assert_count() {
    local n
    n=$(count "$1" "$2")
    [ "$n" -eq "$3" ] || die "pane $1 shows /$2/ $n time(s), expected $3"
}
