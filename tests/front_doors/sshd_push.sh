#!/bin/bash
# sshd front door with push approval: sshd with key + keyboard-interactive (the repository's
# pam.d/sshd and key-and-code drop-in), the module's [push] pointing at the real `twofold serve`
# started inside this namespace on 127.0.0.1, and a user whose phone — the test device as a
# command, twofold-test-phone — was paired with the real `twofold enroll --push`. The number is
# read off the ssh client's screen, as the user reads it, and typed on the "phone".
# usage (through tests/front_doors.rs): sshd_push.sh CASE — see lib.sh for the sandbox,
# sshd_lib.sh for sshd and the client.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sshd_lib.sh"

# What the module asks over SSH: everything in one prompt (OpenSSH before 10.3 shows PAM
# messages only with the next prompt), two lines that fit 80 columns: "(user@host) Approve the
# sign-in on your phone: number 42." and "Then press Enter, or type a code: ".
PUSH_PROMPT='^Then press Enter, or type a code: $'

# wait_file_line FILE REGEX: waits (up to $WAIT s) for a line of FILE matching REGEX, prints it.
wait_file_line() {
    local file=$1 re=$2 deadline=$((SECONDS + WAIT)) line
    while :; do
        line=$(grep -m 1 -E -- "$re" "$file" 2>/dev/null || true)
        if [ -n "$line" ]; then
            printf '%s\n' "$line"
            return 0
        fi
        [ $SECONDS -lt $deadline ] || die "waited ${WAIT}s for /$re/ in $file: $(cat "$file" 2>/dev/null)"
        sleep 0.1
    done
}

# start_serve: `twofold serve` on 127.0.0.1 (a free port) with its configuration, database and
# log in $T/serve; host "front-door" registered with --add-host and its token stored where the
# module reads it (root, 0600). Sets SERVE_URL and TOKEN_FILE.
start_serve() {
    local dir=$T/serve token
    mkdir -m 0700 "$dir"
    cat >"$dir/twofold.toml" <<EOF
[serve]
listen = "127.0.0.1:0"
database = "$dir/serve.db"
vapid_key_file = "$dir/vapid.key"
EOF
    chmod 0600 "$dir/twofold.toml"
    token=$("$TWOFOLD_CLI" --config "$dir/twofold.toml" serve --add-host front-door |
        grep -oE '^  [A-Za-z0-9_-]{43}$' | tr -d ' ') || true
    [ -n "$token" ] || die "twofold serve --add-host printed no token"
    TOKEN_FILE=$T/twofold/host-token
    (umask 077 && printf '%s\n' "$token" >"$TOKEN_FILE")
    "$TWOFOLD_CLI" --config "$dir/twofold.toml" serve >"$dir/stdout" 2>"$dir/serve.log" &
    SERVE_URL=$(wait_file_line "$dir/stdout" '^twofold serve: listening on ' |
        sed 's/^twofold serve: listening on //')
    log "twofold serve listening on $SERVE_URL"
}

# push_config: the module's configuration with [push] pointing at that service.
push_config() {
    write_config "$(printf '[push]\nurl = "%s"\nhost_token_file = "%s"\nhost_name = "front-door-host"\ntimeout_seconds = 60\n' \
        "$SERVE_URL" "$TOKEN_FILE")"
}

# phone NAME ARGS...: NAME's phone (its key kept in $T/phone-NAME.json).
phone() {
    local name=$1
    shift
    "$TWOFOLD_PHONE" "$T/phone-$name.json" "$@"
}

# pair_phone NAME: the real `twofold enroll --push NAME`; the phone opens the pairing URL it
# prints, then approves the test notification with the number it prints.
pair_phone() {
    local name=$1 out=$T/enroll-push-$1.out url line number pid
    "$TWOFOLD_CLI" --config "$CFG" enroll --push "$name" --qr none >"$out" 2>&1 &
    pid=$!
    url=$(wait_file_line "$out" '/pair#')
    line=$(phone "$name" pair "$url") || die "the phone could not pair"
    log "$line"
    line=$(wait_file_line "$out" 'approve it with number [0-9]+')
    number=$(sed -E 's/.*approve it with number ([0-9]+).*/\1/' <<<"$line")
    line=$(phone "$name" approve "$number") || die "the phone could not approve the test push"
    log "$line"
    wait "$pid" || die "twofold enroll --push $name failed: $(cat "$out")"
    grep -q '✓ Notification approved' "$out" || die "no test push approval: $(cat "$out")"
}

# push_user NAME: a user with a key, enrolled (codes) and a paired phone, on sshd key + push.
push_user() {
    local name=$1
    install_pam sshd sshd
    start_serve
    push_config
    start_sshd key
    add_user "$name"
    enroll "$name"
    client_key "$name"
    pair_phone "$name"
}

# number_on_screen PANE: the number in the last push prompt the ssh client shows.
number_on_screen() {
    screen "$1" | sed -nE 's/.*Approve the sign-in on your phone: number ([0-9]{2})\.$/\1/p' | tail -n 1
}

# ---------------------------------------------------------------------------------------------

case_ssh_key_and_push_signs_in() {
    push_user tfpush
    PANE_COLS=80 PANE_ROWS=24 ssh_pane a tfpush key
    wait_for a "$PUSH_PROMPT"
    keep_screen a push-prompt.txt
    # At 80 columns, as shown (wrapped lines not joined): both lines whole, no word cut.
    screen_as_shown a | grep -qE '^\(tfpush@127\.0\.0\.1\) Approve the sign-in on your phone: number [0-9]{2}\.$' ||
        die "the push prompt's first line is not whole at 80 columns"
    assert_absent a 'Code from your authenticator app'
    local n said
    n=$(number_on_screen a)
    [ -n "$n" ] || die "no number on the ssh client's screen"
    log "the ssh client shows number $n"
    said=$(phone tfpush approve "$n") || die "the phone could not approve"
    log "$said"
    case $said in
        *"request for tfpush@front-door-host from 127.0.0.1 (service sshd), number typed $n, approved") ;;
        *) die "the phone saw: $said" ;;
    esac
    type_line a ''
    signed_in a
    assert_count a 'Approve the sign-in on your phone' 1
    audit_has "user=tfpush service=sshd .*method=push result=success reason=push_approved"
}

case_ssh_push_number_mismatch_is_refused() {
    push_user tfmismatch
    ssh_pane a tfmismatch key -o NumberOfPasswordPrompts=1
    wait_for a "$PUSH_PROMPT"
    local n wrong said
    n=$(number_on_screen a)
    [ -n "$n" ] || die "no number on the ssh client's screen"
    wrong=$((n == 99 ? 10 : n + 1))
    log "the ssh client shows number $n; the phone types $wrong"
    said=$(phone tfmismatch approve "$wrong") || die "the phone could not answer"
    log "$said"
    type_line a ''
    # The terminal says what happened instead of starting over with a new number.
    wait_for a "The number typed on your phone was not $n, so the"
    wait_for a 'Press Enter: $'
    keep_screen a number-mismatch.txt
    type_line a ''
    refused a
    audit_has "user=tfmismatch service=sshd .*method=push result=failure reason=push_number_mismatch"
}

setup_sandbox
[ -n "${TWOFOLD_PHONE:-}" ] || die "TWOFOLD_PHONE is not set (the test phone, twofold-test-phone)"
"case_$CASE"
