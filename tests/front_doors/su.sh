#!/bin/bash
# su front door: the repository's pam.d/su as /etc/pam.d/su (`su -` uses su-l, which includes
# it); one throwaway user runs `su - OTHER` at a shell on a tmux terminal and must give
# OTHER's password and OTHER's code.
# usage (through tests/front_doors.rs): su.sh CASE — see lib.sh for the sandbox.
source "$(dirname "$0")/lib.sh"

SU_CMD="su - tfsuto -c 'echo SU_\$((6*7))_OK'"   # prints SU_42_OK as tfsuto
SU_OK='^SU_42_OK$'

su_setup() {
    install_pam su su
    add_user tfsufrom   # runs su; not enrolled: its own code is never asked
    add_user tfsuto     # the target
    enroll tfsuto
    user_shell a tfsufrom
    type_line a "$SU_CMD"
    wait_for a '^Password: $'
    type_line a "${PASSWORD[tfsuto]}"
    wait_for a '^Code from your authenticator app \(or a recovery code\): $'
}

case_su_password_and_code_signs_in() {
    su_setup
    type_line a "$(code tfsuto)"
    wait_for a "$SU_OK"
    assert_count a 'Password:' 1
    audit_has "user=tfsuto service=su-l .*method=totp result=success reason=ok"
}

case_su_wrong_code_is_refused() {
    su_setup
    type_line a "$(wrong_code tfsuto)"
    wait_for a '^su: Authentication failure$'
    assert_absent a "$SU_OK"
    audit_has "user=tfsuto service=su-l .*result=failure reason=wrong_code"
}

# At a console the default (`qr = "auto"`) draws the code in explicit black on white: on an
# 80x24 terminal it scans read off the visible screen as a dark AND as a light terminal would
# show it (colours honoured), and its code completes the first sign-in.
case_su_first_sign_in_colour_code_scans_on_dark_and_light() {
    install_pam su su
    write_config "$(printf '[enrollment]\nunenrolled = "enroll"\n')"
    add_user tfsufrom
    add_user tfsuto
    PANE_COLS=80 PANE_ROWS=24 user_shell a tfsufrom
    type_line a "$SU_CMD"
    wait_for a '^Password: $'
    type_line a "${PASSWORD[tfsuto]}"
    wait_for a '^Code from the app: $'
    screen_visible a >"$T/console.txt"
    keep_screen a first-sign-in-console.txt
    local uri background
    for background in dark light; do
        uri=$(python3 "$TWOFOLD_REPO/tests/front_doors/qr_from_screen.py" --background "$background" "$T/console.txt" "$T") ||
            die "the colour QR code does not scan on a $background terminal"
        case $uri in
            "otpauth://totp/tfsuto?secret="*) ;;
            *) die "QR ($background) says $uri" ;;
        esac
        log "read off the visible 80x24 screen ($background): $uri"
    done
    grep -qE 'More information required\. Scan with an authenticator app: *$' "$T/console.txt" ||
        die "the prompt's first line is not on the visible screen"
    sed 's/\x1b\[[0-9;]*m//g' "$T/console.txt" |
        grep -E "^Light background, or won't scan\? Key: [A-Z2-7]{4}( [A-Z2-7]{1,4})+ *$" >/dev/null ||
        die "the key is not on the visible screen"
    SECRET[tfsuto]=$(sed -n 's/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' <<<"$uri")
    type_line a "$(code tfsuto)"
    wait_for a 'Press Enter to continue: $'
    type_line a ''
    wait_for a "$SU_OK"
    audit_has "user=tfsuto service=su-l .*method=enrollment result=success reason=enrolled"
}

setup_sandbox
"case_$CASE"
