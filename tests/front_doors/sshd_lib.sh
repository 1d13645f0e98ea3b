# shellcheck shell=bash
# tests/front_doors/sshd_lib.sh — the sshd front door's helpers, shared by sshd.sh (codes,
# first-sign-in enrollment) and sshd_push.sh (push approval); sourced after lib.sh.
#
# A real OpenSSH sshd on 127.0.0.1 (its own configuration, host key and port) with the
# repository's sshd_config.d/ drop-in, and the real ssh client on a tmux terminal.

# shellcheck disable=SC2016 # expanded by the remote shell
MARKER_CMD='echo TWOFOLD_LOGIN_$((6*7))'   # the remote shell prints TWOFOLD_LOGIN_42
MARKER='^TWOFOLD_LOGIN_42$'

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_sshd key|password: sshd with the test-only lines (port, host key, where keys are)
# followed by the repository's drop-in, included exactly as an administrator would.
start_sshd() {
    local variant=$1
    PORT=$(free_port)
    mkdir -m 0700 "$T/ssh"
    ssh-keygen -q -t ed25519 -N '' -C twofold-test-host -f "$T/ssh/host_ed25519"
    mkdir -m 0755 /run/sshd "$T/authorized_keys"
    cat >"$T/ssh/sshd_config" <<EOF
# The recipe under test:
Include $TWOFOLD_REPO/sshd_config.d/twofold-$variant-and-code.conf
# Test-only: loopback, a free port, own host key and pid file, keys kept under $T.
ListenAddress 127.0.0.1
Port $PORT
HostKey $T/ssh/host_ed25519
PidFile $T/sshd.pid
AuthorizedKeysFile $T/authorized_keys/%u
StrictModes no
PermitRootLogin no
PrintMotd no
PrintLastLog no
LogLevel VERBOSE
EOF
    /usr/sbin/sshd -t -f "$T/ssh/sshd_config" || die "sshd -t rejects the configuration"
    : >"$T/sshd.log"
    /usr/sbin/sshd -D -e -f "$T/ssh/sshd_config" >>"$T/sshd.log" 2>&1 &
    SSHD_PID=$!
    local deadline=$((SECONDS + WAIT))
    until grep -q "Server listening on 127.0.0.1 port $PORT" "$T/sshd.log"; do
        kill -0 "$SSHD_PID" 2>/dev/null || die "sshd exited: $(cat "$T/sshd.log")"
        [ $SECONDS -lt $deadline ] || die "sshd is not listening after ${WAIT}s"
        sleep 0.1
    done
    log "sshd ($variant + code) listening on 127.0.0.1:$PORT"
}

# client_key NAME: a key pair for NAME, authorised for NAME on this sshd.
client_key() {
    local name=$1
    ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$T/ssh/id_$name"
    cp "$T/ssh/id_$name.pub" "$T/authorized_keys/$name"
    chmod 0644 "$T/authorized_keys/$name"
}

# ssh_pane PANE USER key|password [extra ssh options...]: the real client, no user config, no
# known_hosts, on a fresh terminal, running the marker command.
ssh_pane() {
    local name=$1 user=$2 variant=$3
    shift 3
    local opts=(-F /dev/null -p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
        -o LogLevel=ERROR -o BatchMode=no)
    if [ "$variant" = key ]; then
        # shellcheck disable=SC2054 # the commas belong to one ssh option
        opts+=(-i "$T/ssh/id_$user" -o IdentitiesOnly=yes
            -o PreferredAuthentications=publickey,keyboard-interactive)
    else
        opts+=(-o PubkeyAuthentication=no -o PreferredAuthentications=keyboard-interactive)
    fi
    pane "$name" ssh "${opts[@]}" "$@" -l "$user" 127.0.0.1 "$MARKER_CMD"
}

# signed_in PANE: the marker appears and ssh exits 0.
signed_in() {
    wait_for "$1" "$MARKER"
    local rc
    rc=$(pane_exit "$1")
    [ "$rc" -eq 0 ] || die "ssh exited $rc after the marker"
}

# refused PANE: the client gives up (one keyboard-interactive attempt), no marker.
refused() {
    wait_for "$1" 'Permission denied'
    local rc
    rc=$(pane_exit "$1")
    [ "$rc" -eq 255 ] || die "ssh exited $rc, expected 255 (refused)"
    assert_absent "$1" "$MARKER"
}
