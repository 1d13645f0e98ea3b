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
    wait_for a '\) Code from your authenticator app \(or a recovery code\): $'
    assert_absent a '[Pp]assword'
    type_line a "$(code tfkey)"
    signed_in a
    assert_count a 'Code from your authenticator app \(or a recovery code\):' 1
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
    wait_for a '\) Code from your authenticator app \(or a recovery code\): $'
    type_line a "$(code tfpass)"
    signed_in a
    assert_count a '[Pp]assword' 1
    assert_count a 'Code from your authenticator app \(or a recovery code\):' 1
    audit_has "user=tfpass service=sshd .*method=totp result=success reason=ok"
}

case_ssh_wrong_code_is_refused() {
    install_pam sshd sshd
    start_sshd key
    add_user tfwrong
    enroll tfwrong
    client_key tfwrong
    ssh_pane a tfwrong key -o NumberOfPasswordPrompts=1
    wait_for a 'Code from your authenticator app \(or a recovery code\): $'
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
    wait_for a 'Code from your authenticator app \(or a recovery code\): $'
    type_line a "$c"
    signed_in a
    ssh_pane b tfreplay key -o NumberOfPasswordPrompts=1
    wait_for b 'Code from your authenticator app \(or a recovery code\): $'
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
    wait_for a 'Code from your authenticator app \(or a recovery code\): $'
    type_line a "$rc"
    signed_in a
    audit_has "user=tfrecovery service=sshd .*method=recovery.* result=success reason=ok"
    ssh_pane b tfrecovery key -o NumberOfPasswordPrompts=1
    wait_for b 'Code from your authenticator app \(or a recovery code\): $'
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
        wait_for "$p" 'Code from your authenticator app \(or a recovery code\): $'
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
    [ "$(count a 'Code from your authenticator app \(or a recovery code\): $')" -eq 0 ] || die "a locked user was asked for a code"
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
    assert_absent a 'Code from your authenticator app \(or a recovery code\):'
    audit_has "user=tfexm service=sshd .*reason=exempt_group"
    ssh_pane b tfnonm key
    wait_for b '\) Code from your authenticator app \(or a recovery code\): $'
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
    wait_for a '\) Code from your authenticator app \(or a recovery code\): $'
    type_line a "$(code tfrem)"
    signed_in a
    ssh_pane b tfrem key
    signed_in b
    assert_absent b 'Code from your authenticator app \(or a recovery code\):'
    audit_has "user=tfrem service=sshd .*reason=remembered"
    ssh_pane c tfrem2 key
    wait_for c '\) Code from your authenticator app \(or a recovery code\): $'
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
    wait_for a '\) Code from your authenticator app \(or a recovery code\): $'
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
    assert_absent a 'Code from your authenticator app \(or a recovery code\):'
    audit_has "user=tfnullok service=sshd .*result=ignore reason=not_enrolled"
    ssh_pane b tfnullok2 key -o NumberOfPasswordPrompts=1
    wait_for b '\) Code from your authenticator app \(or a recovery code\): $'
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
            "$TWOFOLD_CLI" --config "$CFG" enroll "probe$style" --force --secret "$secret" --no-verify --qr "$style"
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
# a record, ONE echo-on prompt of at most 24 lines: "More information required. Scan with an
# authenticator app:", the QR code, "Light background, or won't scan? Type this key:", the key,
# and "Code from the app (or L to redraw ...): "; a wrong code gives "That code is not right
# (same key; ...). Newest code: " (3 attempts); the right one a second
# echo-on prompt with "Recovery codes", the codes, ending "Press Enter to continue: "; then
# success. Later sign-ins ask "Code from your authenticator app (or a recovery code): " as usual.
# ---------------------------------------------------------------------------------------------

# The end of the first enrollment prompt (a code drawn for dark / light backgrounds).
ENROLL_ASK_DARK='Code from the app \(or L to redraw the QR code for a light background\): $'
ENROLL_ASK_LIGHT='Code from the app \(or D to redraw the QR code for a dark background\): $'
ENROLL_RETRY='Wrong code \(same key\)\. Newest code from the app: $'

# key_on_screen FILE: the key shown in text: on the line "Light background, or won't scan? Key:
# ABCD ..." (a 6-digit key), or on the line under "... Type this key:".
key_on_screen() {
    {
        sed -n "s/^Light background, or won't scan? Key: \([A-Z2-7 ]*[A-Z2-7]\) *$/\1/p" "$1"
        sed -n '/Type this key:$/{n;s/^\([A-Z2-7 ]*[A-Z2-7]\)  (time-based.*/\1/p;}' "$1"
    } | tail -n 1 | tr -d ' '
}

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
    key=$(key_on_screen "$T/screen-$p.txt")
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
    wait_for first "$ENROLL_ASK_DARK"
    enroll_on_screen first tfenroll
    type_line first "$(code tfenroll)"
    wait_for first 'Press Enter to continue: $'
    screen first | grep -q 'Recovery codes' || die "no 'Recovery codes' before 'Press Enter'"
    type_line first ''
    signed_in first
    assert_absent first 'Code from your authenticator app \(or a recovery code\):'
    [ -f "$STATE/users/tfenroll.toml" ] || die "no record saved after enrollment"
    [ "$(stat -c '%U %a' "$STATE/users/tfenroll.toml")" = "root 600" ] ||
        die "record is $(stat -c '%U %a' "$STATE/users/tfenroll.toml"), expected root 600"

    # Later sign-ins: the usual code prompt, and a code of a later step than the one used above.
    ssh_pane second tfenroll key
    wait_for second '\) Code from your authenticator app \(or a recovery code\): $'
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
    wait_for a "$ENROLL_ASK_DARK"
    enroll_on_screen a tfenroll2
    type_line a "$(wrong_code tfenroll2)"
    wait_for a "$ENROLL_RETRY"
    [ ! -e "$STATE/users/tfenroll2.toml" ] || die "record saved after a wrong code"
    type_line a "$(code tfenroll2)"
    wait_for a 'Press Enter to continue: $'
    type_line a ''
    signed_in a
}

# read_visible PANE BACKGROUND FILE: saves the visible screen and prints what its QR code says
# on a terminal of that background (colours honoured); fails when nothing scans.
read_visible() {
    screen_visible "$1" >"$T/$3"
    keep_screen "$1" "$3"
    python3 "$TWOFOLD_REPO/tests/front_doors/qr_from_screen.py" --background "$2" "$T/$3" "$T"
}

# fits_80x24 FILE: the visible screen (24 lines) holds the whole prompt: its first line, the
# key under the code, and nothing wider than the terminal was wrapped (no line is cut).
fits_80x24() {
    grep -qE 'More information required\. Scan with an authenticator app: *$' "$1" ||
        die "the prompt's first line scrolled away on 80x24"
    grep -q "^Light background, or won't scan? \(Key: [A-Z2-7]\|Type this key:\)" "$1" || die "no key line on screen"
    [ "$(wc -l <"$1")" -le 24 ] || die "more than 24 lines captured"
}

# sign_in_with_uri PANE USER URI: the code of the key in URI (read off the screen) signs in.
sign_in_with_uri() {
    local p=$1 user=$2 uri=$3
    case $uri in
        "otpauth://totp/$user?secret="*"&issuer=${ISSUER:-twofold-test}") ;;
        *) die "QR says $uri" ;;
    esac
    SECRET[$user]=$(sed -n 's/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' <<<"$uri")
    type_line "$p" "$(code "$user")"
    wait_for "$p" 'Press Enter to continue: $'
    keep_screen "$p" recovery-codes.txt
    type_line "$p" ''
    signed_in "$p"
    audit_has "user=$user service=sshd .*method=enrollment result=success reason=enrolled"
}

case_ssh_first_sign_in_fits_80x24_on_a_dark_terminal() {
    install_pam sshd sshd
    # The default issuer: with it, a name of up to 15 characters gives a version-4 code.
    ISSUER=twofold
    enrollment_config enroll
    start_sshd key
    add_user tfnarrow
    client_key tfnarrow
    PANE_COLS=80 PANE_ROWS=24 ssh_pane a tfnarrow key
    wait_for a "$ENROLL_ASK_DARK"
    local uri
    uri=$(read_visible a dark first-sign-in-dark.txt) ||
        die "the QR code on the visible 80x24 screen does not scan on a dark terminal"
    fits_80x24 "$T/first-sign-in-dark.txt"
    log "read off the visible 80x24 screen (dark): $uri"
    [ "$(key_on_screen "$T/first-sign-in-dark.txt")" = "$(sed -n 's/.*secret=\([A-Z2-7]*\).*/\1/p' <<<"$uri")" ] ||
        die "the key in text is not the QR code's"
    sign_in_with_uri a tfnarrow "$uri"
}

case_ssh_first_sign_in_fits_80x24_on_a_light_terminal() {
    install_pam sshd sshd
    # The default issuer: with it, a name of up to 15 characters gives a version-4 code.
    ISSUER=twofold
    enrollment_config enroll
    start_sshd key
    add_user tflight
    client_key tflight
    PANE_COLS=80 PANE_ROWS=24 ssh_pane a tflight key
    wait_for a "$ENROLL_ASK_DARK"
    local uri
    # The default drawing is for dark terminals: on a light one it reads inverted.
    if uri=$(read_visible a light first-sign-in-light-before-L.txt); then
        die "the dark-terminal drawing scanned on a light background ($uri): the test reads colours wrong"
    fi
    fits_80x24 "$T/first-sign-in-light-before-L.txt"
    type_line a L
    wait_for a "$ENROLL_ASK_LIGHT"
    uri=$(read_visible a light first-sign-in-light.txt) ||
        die "after L, the QR code on the visible 80x24 screen does not scan on a light terminal"
    fits_80x24 "$T/first-sign-in-light.txt"
    log "read off the visible 80x24 screen (light, after L): $uri"
    sign_in_with_uri a tflight "$uri"
}

# First-sign-in enrollment in Dutch (`language = "nl"`): the same single prompt on 80x24, its
# first line, the Dutch key line and question on the visible screen, the QR code read off it
# scans and signs in; the recovery codes and the later code prompt in Dutch too.
case_ssh_first_sign_in_in_dutch_fits_80x24() {
    install_pam sshd sshd
    ISSUER=twofold
    enrollment_config enroll
    sed -i '1i language = "nl"' "$CFG"
    start_sshd key
    add_user tfdutch
    client_key tfdutch
    PANE_COLS=80 PANE_ROWS=24 ssh_pane a tfdutch key
    wait_for a 'Code uit de app \(of L: QR-code voor een lichte achtergrond\): $'
    local uri
    uri=$(read_visible a dark first-sign-in-nl.txt) ||
        die "the QR code on the visible 80x24 Dutch screen does not scan"
    grep -qE 'Meer informatie vereist\. Scan met een Authenticator-app: *$' "$T/first-sign-in-nl.txt" ||
        die "the prompt's first line scrolled away on 80x24"
    grep -q "^\(Scant het niet? Typ de sleutel: [A-Z2-7]\|Lichte achtergrond, of scant het niet? Typ deze sleutel:\)" \
        "$T/first-sign-in-nl.txt" || die "no Dutch key line on screen"
    [ "$(wc -l <"$T/first-sign-in-nl.txt")" -le 24 ] || die "more than 24 lines captured"
    log "read off the visible 80x24 Dutch screen: $uri"
    case $uri in
        "otpauth://totp/tfdutch?secret="*"&issuer=twofold") ;;
        *) die "QR says $uri" ;;
    esac
    SECRET[tfdutch]=$(sed -n 's/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' <<<"$uri")
    type_line a "$(code tfdutch)"
    wait_for a 'Druk op Enter om verder te gaan: $'
    screen a | grep -q 'Herstelcodes, elk goed voor één aanmelding' || die "no Dutch recovery codes text"
    keep_screen a recovery-codes-nl.txt
    type_line a ''
    signed_in a
    audit_has "user=tfdutch service=sshd .*method=enrollment result=success reason=enrolled"

    ssh_pane b tfdutch key
    wait_for b '\) Code uit uw Authenticator-app \(of een herstelcode\): $'
    type_line b "$(code tfdutch 1)"
    signed_in b
}

# A temporary access pass over SSH with `[enrollment] require_pass = true`: without one the
# sign-in asks for the pass and refuses (no QR code, no record); with the pass `twofold pass`
# printed, typed at that prompt (not echoed), first-sign-in enrollment follows and signs in.
case_ssh_access_pass_leads_into_enrollment() {
    install_pam sshd sshd
    enrollment_config enroll 'require_pass = true'
    start_sshd key
    add_user tfpass
    client_key tfpass
    ssh_pane a tfpass key -o NumberOfPasswordPrompts=1
    wait_for a 'Temporary access pass \(from your administrator\): $'
    assert_absent a 'More information required'
    type_line a abcd-efgh-jkmn-pqrs
    wait_for a 'That access pass is not valid'
    type_line a ''
    refused a
    [ ! -e "$STATE/users/tfpass.toml" ] || die "enrolled without a pass"
    audit_has "user=tfpass service=sshd .*method=pass result=failure reason=no_pass"

    local pass
    pass=$("$TWOFOLD_CLI" --config "$CFG" pass tfpass --once | sed -n 's/^    \([0-9a-z-]*\)$/\1/p')
    [ ${#pass} -eq 19 ] || die "no pass printed: '$pass'"
    ssh_pane b tfpass key
    wait_for b 'Temporary access pass \(from your administrator\): $'
    type_line b "$pass"
    wait_for b "$ENROLL_ASK_DARK"
    assert_absent b "$pass"
    enroll_on_screen b tfpass
    type_line b "$(code tfpass)"
    wait_for b 'Press Enter to continue: $'
    type_line b ''
    signed_in b
    audit_has "user=tfpass service=sshd .*method=pass result=success reason=enrolled_with_pass"
    ! grep -q -- "$pass" "$AUDIT" || die "the pass is in the audit log"
}

case_ssh_first_sign_in_three_wrong_codes_say_what_happens() {
    install_pam sshd sshd
    enrollment_config enroll
    start_sshd key
    add_user tfthree
    client_key tfthree
    PANE_COLS=80 PANE_ROWS=24 ssh_pane a tfthree key -o NumberOfPasswordPrompts=2
    wait_for a "$ENROLL_ASK_DARK"
    enroll_on_screen a tfthree
    local first=${SECRET[tfthree]}
    type_line a "$(wrong_code tfthree)"
    wait_for a "$ENROLL_RETRY"
    type_line a "$(wrong_code tfthree)"
    wait_for a 'Wrong code \(same key\)' 2
    wait_for a "$ENROLL_RETRY"
    type_line a "$(wrong_code tfthree)"
    wait_for a 'Press Enter: $'
    keep_screen a three-wrong-codes.txt
    screen a | grep -q 'nothing was saved' || die "the screen does not say nothing was saved"
    screen a | grep -q 'your next sign-in shows a new key' || die "the screen does not say what comes next"
    [ ! -e "$STATE/users/tfthree.toml" ] || die "record saved after three wrong codes"
    # As it said: the next attempt shows another key.
    type_line a ''
    audit_has "user=tfthree service=sshd .*result=failure reason=enrollment_wrong_code"
    wait_for a "$ENROLL_ASK_DARK" # the first one has the typed code after it
    screen a >"$T/screen-again.txt"
    local again
    again=$(key_on_screen "$T/screen-again.txt")
    [ -n "$again" ] && [ "$again" != "$first" ] || die "the next attempt did not bring a new key ($again)"
}

case_ssh_unenrolled_allow_lets_in_with_the_key_alone() {
    install_pam sshd sshd
    enrollment_config allow
    start_sshd key
    add_user tfallow
    client_key tfallow
    ssh_pane a tfallow key
    signed_in a
    assert_absent a 'Code from your authenticator app \(or a recovery code\):'
    assert_absent a 'Code from the app'
}

case_ssh_enrollment_after_the_deadline_is_refused() {
    install_pam sshd sshd
    enrollment_config enroll 'deadline = "2000-01-31"'
    start_sshd key
    add_user tflate
    client_key tflate
    ssh_pane a tflate key -o NumberOfPasswordPrompts=1
    # Whatever it asks, it must not offer enrollment, and must refuse.
    wait_for a 'Permission denied|Code from your authenticator app \(or a recovery code\): $'
    if [ "$(count a 'Code from your authenticator app \(or a recovery code\): $')" -gt 0 ]; then type_line a 123456; fi
    refused a
    assert_absent a 'More information required'
    [ ! -e "$STATE/users/tflate.toml" ] || die "record saved after the deadline"
    # Refused for the deadline, not because the configuration was not understood.
    audit_has "user=tflate service=sshd .*result=failure"
    ! grep -qE 'reason=(config_error|bad_state_dir)' "$AUDIT" || die "refused for a configuration error"
}

setup_sandbox
"case_$CASE"
