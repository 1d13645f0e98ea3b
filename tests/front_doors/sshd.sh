#!/bin/bash
# sshd front door: a real OpenSSH sshd on 127.0.0.1 (its own configuration, host key and port),
# the repository's pam.d/sshd or pam.d/sshd-password as /etc/pam.d/sshd and the matching
# sshd_config.d/ drop-in, and the real ssh client on a tmux terminal.
# usage (through tests/front_doors.rs): sshd.sh CASE — see lib.sh for the sandbox, sshd_lib.sh
# for sshd and the client.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sshd_lib.sh"

# ---------------------------------------------------------------------------------------------

case_ssh_key_and_code_signs_in() {
    install_pam sshd sshd
    start_sshd key
    add_user tfkey
    enroll tfkey
    client_key tfkey
    ssh_pane a tfkey key
    wait_for a '\) Verification code: $'
    assert_absent a '[Pp]assword'
    type_line a "$(code tfkey)"
    signed_in a
    assert_count a 'Verification code:' 1
    audit_has "user=tfkey service=sshd .*method=totp result=success reason=ok"
}

case_ssh_password_and_code_single_password_prompt() {
    install_pam sshd sshd-password
    start_sshd password
    add_user tfpass
    enroll tfpass
    # The client's own defaults (three attempts): a second password prompt would show.
    ssh_pane a tfpass password
    wait_for a '\) Password: $'
    type_line a "${PASSWORD[tfpass]}"
    wait_for a '\) Verification code: $'
    type_line a "$(code tfpass)"
    signed_in a
    assert_count a '[Pp]assword' 1
    assert_count a 'Verification code:' 1
    audit_has "user=tfpass service=sshd .*method=totp result=success reason=ok"
}

case_ssh_wrong_code_is_refused() {
    install_pam sshd sshd
    start_sshd key
    add_user tfwrong
    enroll tfwrong
    client_key tfwrong
    ssh_pane a tfwrong key -o NumberOfPasswordPrompts=1
    wait_for a 'Verification code: $'
    type_line a "$(wrong_code tfwrong)"
    refused a
    audit_has "user=tfwrong service=sshd .*result=failure reason=wrong_code"
}

case_ssh_replayed_code_is_refused() {
    install_pam sshd sshd
    start_sshd key
    add_user tfreplay
    enroll tfreplay
    client_key tfreplay
    local c
    c=$(code tfreplay)
    ssh_pane a tfreplay key
    wait_for a 'Verification code: $'
    type_line a "$c"
    signed_in a
    ssh_pane b tfreplay key -o NumberOfPasswordPrompts=1
    wait_for b 'Verification code: $'
    type_line b "$c"
    refused b
    audit_has "user=tfreplay service=sshd .*result=failure reason=replayed_code"
}

# A recovery code typed at the code prompt works once.
case_ssh_recovery_code_works_once() {
    install_pam sshd sshd
    start_sshd key
    add_user tfrecovery
    enroll tfrecovery
    client_key tfrecovery
    local rc
    rc=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["recovery_codes"][0])' \
        "$T/enroll-tfrecovery.json")
    ssh_pane a tfrecovery key
    wait_for a 'Verification code: $'
    type_line a "$rc"
    signed_in a
    audit_has "user=tfrecovery service=sshd .*method=recovery.* result=success reason=ok"
    ssh_pane b tfrecovery key -o NumberOfPasswordPrompts=1
    wait_for b 'Verification code: $'
    type_line b "$rc"
    refused b
    audit_has "user=tfrecovery service=sshd .*result=failure reason=wrong_recovery_code"
}

# [rate_limit] max_failures: after that many wrong codes even the right code is refused.
case_ssh_lockout_refuses_the_right_code() {
    install_pam sshd sshd
    write_config "" "max_failures = 2"
    start_sshd key
    add_user tflocked
    enroll tflocked
    client_key tflocked
    local p
    for p in w1 w2; do
        ssh_pane "$p" tflocked key -o NumberOfPasswordPrompts=1
        wait_for "$p" 'Verification code: $'
        type_line "$p" "$(wrong_code tflocked)"
        if [ "$p" = w2 ]; then
            # The failure that locks says so, in a prompt of its own.
            wait_for "$p" 'Press Enter: $'
            type_line "$p" ''
        fi
        refused "$p"
    done
    # The locked user is told why, in a prompt of its own (sshd shows PAM messages only with a
    # prompt), and is refused without being asked for a code.
    ssh_pane a tflocked key -o NumberOfPasswordPrompts=1
    wait_for a 'Press Enter: $'
    [ "$(count a 'Too many failed attempts')" -gt 0 ] || die "the lockout message did not reach the ssh client"
    [ "$(count a 'Verification code: $')" -eq 0 ] || die "a locked user was asked for a code"
    type_line a ''
    refused a
    audit_has "user=tflocked service=sshd .*result=failure reason=locked_out"
}

# [policy] exempt_groups: a member gets in with the key alone (the snippet's pam_permit line
# carries the PAM_IGNORE); an enrolled non-member still needs the code.
case_ssh_exempt_group_member_needs_only_the_key() {
    install_pam sshd sshd
    write_config '[policy]
exempt_groups = ["tfexempt"]'
    start_sshd key
    add_user tfexm
    add_user tfnonm
    add_group tfexempt tfexm
    enroll tfexm
    enroll tfnonm
    client_key tfexm
    client_key tfnonm
    ssh_pane a tfexm key
    signed_in a
    assert_absent a 'Verification code:'
    audit_has "user=tfexm service=sshd .*reason=exempt_group"
    ssh_pane b tfnonm key
    wait_for b '\) Verification code: $'
    type_line b "$(code tfnonm)"
    signed_in b
}

# [remember] seconds: after a success, the same user from the same address skips the code for
# a while; the window is per user.
case_ssh_remember_skips_the_code_within_the_window() {
    install_pam sshd sshd
    write_config '[remember]
seconds = 600'
    start_sshd key
    add_user tfrem
    add_user tfrem2
    enroll tfrem
    enroll tfrem2
    client_key tfrem
    client_key tfrem2
    ssh_pane a tfrem key
    wait_for a '\) Verification code: $'
    type_line a "$(code tfrem)"
    signed_in a
    ssh_pane b tfrem key
    signed_in b
    assert_absent b 'Verification code:'
    audit_has "user=tfrem service=sshd .*reason=remembered"
    ssh_pane c tfrem2 key
    wait_for c '\) Verification code: $'
    tm send-keys -t c C-c
}

# What exists today: without nullok (and without an [enrollment] policy) a user who is not
# enrolled is asked for a code like everybody else, and refused.
case_ssh_unenrolled_user_is_refused() {
    install_pam sshd sshd
    start_sshd key
    add_user tfnone
    client_key tfnone
    ssh_pane a tfnone key -o NumberOfPasswordPrompts=1
    wait_for a '\) Verification code: $'
    type_line a 123456
    refused a
    audit_has "user=tfnone service=sshd .*result=failure reason=not_enrolled"
}

# The roll-out variant the snippet documents: `nullok` added to the twofold line lets a user who
# is not enrolled in with the key alone — which needs the snippet's pam_permit line (without it
# the only module returns PAM_IGNORE and libpam refuses); enrolled users still need the code.
case_ssh_key_nullok_lets_unenrolled_users_in() {
    install_pam sshd sshd
    sed -i -E "s#(config=$CFG)#\1 nullok#" /etc/pam.d/sshd
    grep -q "config=$CFG nullok" /etc/pam.d/sshd || die "nullok not added"
    start_sshd key
    add_user tfnullok
    client_key tfnullok
    add_user tfnullok2
    enroll tfnullok2
    client_key tfnullok2
    ssh_pane a tfnullok key
    signed_in a
    assert_absent a 'Verification code:'
    audit_has "user=tfnullok service=sshd .*result=ignore reason=not_enrolled"
    ssh_pane b tfnullok2 key -o NumberOfPasswordPrompts=1
    wait_for b '\) Verification code: $'
    type_line b "$(wrong_code tfnullok2)"
    refused b
}

# The harness itself, and the OpenSSH client, with a prompt like first-sign-in enrollment's: a
# test-only module (prompt_probe.c) sends `twofold enroll`'s own QR output (qr::render, both
# styles) as ONE echo-on prompt; the QR is read back off the client's screen with zbarimg.
case_ssh_long_qr_prompt_reaches_the_client() {
    gcc -shared -fPIC -o "$T/prompt_probe.so" "$TWOFOLD_REPO/tests/front_doors/prompt_probe.c" -lpam
    cat >/etc/pam.d/sshd <<EOF
auth     required  $T/prompt_probe.so text=$T/prompt.txt reply=$T/reply.txt
@include common-account
@include common-session
EOF
    start_sshd key
    add_user tfprobe
    client_key tfprobe
    local style secret uri
    for style in utf8 ansi; do
        secret=$(head -c 20 /dev/urandom | base32 | tr -d '=')
        {
            printf 'More information required\nYour organisation needs more information to keep your account secure.\n\n'
            "$TWOFOLD_CLI" --config "$CFG" enroll "probe$style" --secret "$secret" --no-verify --qr "$style"
            printf '\nCode shown in the app: '
        } >"$T/prompt.txt"
        log "prompt ($style): $(wc -c <"$T/prompt.txt") bytes, $(wc -l <"$T/prompt.txt") lines"
        rm -f "$T/reply.txt"
        ssh_pane "$style" tfprobe key
        wait_for "$style" 'Code shown in the app: $'
        screen "$style" >"$T/screen-$style.txt"
        uri=$(python3 "$TWOFOLD_REPO/tests/front_doors/qr_from_screen.py" "$T/screen-$style.txt" "$T") ||
            die "no QR code read off the ssh client's screen ($style)"
        case $uri in
            "otpauth://totp/probe$style?secret=$secret&issuer=twofold-test") ;;
            *) die "QR ($style) says $uri" ;;
        esac
        grep -q '^(tfprobe@127.0.0.1) More information required$' "$T/screen-$style.txt" ||
            die "first line of the prompt not shown as expected ($style)"
        if grep -qF '\033[' "$T/screen-$style.txt"; then
            log "OpenSSH client shows ESC of the $style prompt as the text \\033 (vis(3))"
        fi
        type_line "$style" 424242
        signed_in "$style"
        grep -qx 'reply=424242' "$T/reply.txt" || die "module got $(cat "$T/reply.txt")"
        log "QR ($style) read back off the ssh client's screen: $uri"
    done
}

# ---------------------------------------------------------------------------------------------
# First-sign-in enrollment ([enrollment] unenrolled = "enroll"), as specified: for a user without
# a record, ONE echo-on prompt holding "More information required", an explanation, the QR code,
# "Or enter this key by hand: XXXX XXXX ..." and ending "Code shown in the app: "; a wrong code
# gives "That code is not right. Code shown in the app: " (3 attempts); the right one a second
# echo-on prompt with "Recovery codes", the codes, ending "Press Enter to continue: "; then
# success. Later sign-ins ask "Verification code: " as usual.
# ---------------------------------------------------------------------------------------------

# enroll_on_screen PANE USER: reads the QR off the pane, checks it against the key in text and
# sets SECRET[USER] from it.
enroll_on_screen() {
    local p=$1 user=$2 uri secret key
    screen "$p" >"$T/screen-$p.txt"
    grep -q 'More information required' "$T/screen-$p.txt" || die "no 'More information required'"
    uri=$(python3 "$TWOFOLD_REPO/tests/front_doors/qr_from_screen.py" "$T/screen-$p.txt" "$T") ||
        die "no QR code read off the ssh client's screen"
    case $uri in
        otpauth://totp/*"$user"\?*) ;;
        *) die "the QR code is not an otpauth URI for $user: $uri" ;;
    esac
    secret=$(sed -n 's/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' <<<"$uri")
    [ -n "$secret" ] || die "no secret in $uri"
    key=$(sed -n 's/.*Or enter this key by hand: *\([A-Za-z2-7 ]*[A-Za-z2-7]\).*/\1/p' "$T/screen-$p.txt" | head -n 1)
    key=${key// /}
    [ "${key^^}" = "$secret" ] || die "key in text '$key' differs from the QR's secret $secret"
    SECRET[$user]=$secret
    log "read the QR code off the ssh client: $uri"
    # Not part of the spec, but what a user at an 80-column terminal would see.
    local widest
    widest=$(python3 -c 'import sys
print(max((len(l.rstrip()) for l in open(sys.argv[1], encoding="utf-8") if set(l) & set("▀▄█")), default=0))' "$T/screen-$p.txt")
    if [ "$widest" -gt 80 ]; then
        log "NOTE: QR lines are $widest columns wide on the ssh client's screen (wrap at 80)"
    fi
}

enrollment_config() {
    write_config "$(printf '[enrollment]\nunenrolled = "%s"\n%s' "$1" "${2:-}")"
}

case_ssh_first_sign_in_enrolls_then_requires_a_code() {
    install_pam sshd sshd
    enrollment_config enroll
    start_sshd key
    add_user tfenroll
    client_key tfenroll
    [ ! -e "$STATE/users/tfenroll.toml" ] || die "record exists before enrollment"

    ssh_pane first tfenroll key
    wait_for first 'Code shown in the app: $'
    enroll_on_screen first tfenroll
    type_line first "$(code tfenroll)"
    wait_for first 'Press Enter to continue: $'
    screen first | grep -q 'Recovery codes' || die "no 'Recovery codes' before 'Press Enter'"
    type_line first ''
    signed_in first
    assert_absent first 'Verification code:'
    [ -f "$STATE/users/tfenroll.toml" ] || die "no record saved after enrollment"
    [ "$(stat -c '%U %a' "$STATE/users/tfenroll.toml")" = "root 600" ] ||
        die "record is $(stat -c '%U %a' "$STATE/users/tfenroll.toml"), expected root 600"

    # Later sign-ins: the usual code prompt, and a code of a later step than the one used above.
    ssh_pane second tfenroll key
    wait_for second '\) Verification code: $'
    assert_absent second 'More information required'
    type_line second "$(code tfenroll 1)"
    signed_in second
}

case_ssh_first_sign_in_wrong_code_asks_again() {
    install_pam sshd sshd
    enrollment_config enroll 'qr = "utf8"'
    start_sshd key
    add_user tfenroll2
    client_key tfenroll2
    ssh_pane a tfenroll2 key
    wait_for a 'Code shown in the app: $'
    enroll_on_screen a tfenroll2
    type_line a "$(wrong_code tfenroll2)"
    wait_for a 'That code is not right\. Code shown in the app: $'
    [ ! -e "$STATE/users/tfenroll2.toml" ] || die "record saved after a wrong code"
    type_line a "$(code tfenroll2)"
    wait_for a 'Press Enter to continue: $'
    type_line a ''
    signed_in a
}

# With the default configuration, on the 80-column terminal many users have, the QR code as
# displayed (wrapped lines not joined) must still scan.
case_ssh_first_sign_in_qr_scans_on_an_80_column_terminal() {
    install_pam sshd sshd
    enrollment_config enroll
    start_sshd key
    add_user tfnarrow
    client_key tfnarrow
    PANE_COLS=80 ssh_pane a tfnarrow key
    wait_for a 'Code shown in the app: $'
    screen_as_shown a >"$T/screen-80.txt"
    local uri
    if grep -qF '\033[' "$T/screen-80.txt"; then
        log "the ssh client shows the prompt's ANSI escapes as text (\\033[...m), widening every QR line"
    fi
    uri=$(python3 "$TWOFOLD_REPO/tests/front_doors/qr_from_screen.py" "$T/screen-80.txt" "$T") ||
        die "the QR code does not scan as an 80-column terminal shows it"
    case $uri in
        otpauth://totp/*tfnarrow\?*) ;;
        *) die "QR says $uri" ;;
    esac
}

case_ssh_unenrolled_allow_lets_in_with_the_key_alone() {
    install_pam sshd sshd
    enrollment_config allow
    start_sshd key
    add_user tfallow
    client_key tfallow
    ssh_pane a tfallow key
    signed_in a
    assert_absent a 'Verification code:'
    assert_absent a 'Code shown in the app:'
}

case_ssh_enrollment_after_the_deadline_is_refused() {
    install_pam sshd sshd
    enrollment_config enroll 'deadline = "2000-01-31"'
    start_sshd key
    add_user tflate
    client_key tflate
    ssh_pane a tflate key -o NumberOfPasswordPrompts=1
    # Whatever it asks, it must not offer enrollment, and must refuse.
    wait_for a 'Permission denied|Verification code: $'
    if [ "$(count a 'Verification code: $')" -gt 0 ]; then type_line a 123456; fi
    refused a
    assert_absent a 'More information required'
    [ ! -e "$STATE/users/tflate.toml" ] || die "record saved after the deadline"
    # Refused for the deadline, not because the configuration was not understood.
    audit_has "user=tflate service=sshd .*result=failure"
    ! grep -qE 'reason=(config_error|bad_state_dir)' "$AUDIT" || die "refused for a configuration error"
}

setup_sandbox
"case_$CASE"
