#!/bin/bash
# login front door: `login USER` on a tmux terminal, run by root as getty would, with either the
# repository's pam.d/login as /etc/pam.d/login, or pam.d/common-auth-twofold as
# /etc/pam.d/common-auth under Debian's unchanged /etc/pam.d/login.
# usage (through tests/front_doors.rs): login.sh CASE — see lib.sh for the sandbox.
source "$(dirname "$0")/lib.sh"

# shellcheck disable=SC2016 # expanded by the new shell
LOGIN_CMD='echo LOGIN_$((6*7))_OK'   # the new shell prints LOGIN_42_OK; the typed line does not match
LOGIN_OK='^LOGIN_42_OK$'

# login_until_code NAME: `login NAME` on pane a; types the password; waits for the code prompt.
login_until_code() {
    local name=$1 password=${2:-${PASSWORD[$1]}}
    # Root calling login without -f still authenticates: no pam_rootok in Debian's login stack.
    pane a login "$name"
    wait_for a '^Password: $'
    type_line a "$password"
    wait_for a '^Code from your authenticator app \(or a recovery code\): $'
}

# shell_works NAME: the session started (Debian's prompt, from /etc/bash.bashrc); the user's
# shell runs a command and exits.
shell_works() {
    wait_for a "^$1@[^ ]*:~\\\$ \$"
    type_line a "$LOGIN_CMD"
    wait_for a "$LOGIN_OK"
    type_line a exit
    [ "$(pane_exit a)" -eq 0 ] || die "login exited non-zero after the session"
}

# login_refused: login says so (after pam_faildelay's 3 s) and asks for a user name again.
login_refused() {
    wait_for a '^Login incorrect$'
    assert_absent a "$LOGIN_OK"
}

case_login_password_and_code_signs_in() {
    install_pam login login
    add_user tflogin
    enroll tflogin
    login_until_code tflogin
    type_line a "$(code tflogin)"
    shell_works tflogin
    assert_count a 'Password:' 1
    audit_has "user=tflogin service=login .*method=totp result=success reason=ok"
}

case_login_wrong_code_is_refused() {
    install_pam login login
    add_user tfloginwrong
    enroll tfloginwrong
    login_until_code tfloginwrong
    type_line a "$(wrong_code tfloginwrong)"
    login_refused
    audit_has "user=tfloginwrong service=login .*result=failure reason=wrong_code"
}

case_login_common_auth_password_and_code_signs_in() {
    install_pam common-auth common-auth-twofold
    cmp -s "$TWOFOLD_REPO/pam.d/login" /etc/pam.d/login && die "expected Debian's own login file"
    add_user tfcommon
    enroll tfcommon
    login_until_code tfcommon
    type_line a "$(code tfcommon)"
    shell_works tfcommon
    audit_has "user=tfcommon service=login .*method=totp result=success reason=ok"
}

# common-auth-twofold makes pam_deny `required`: after a wrong password the code is still asked,
# and even the right code does not let the wrong password through.
case_login_common_auth_wrong_password_still_asks_for_the_code() {
    install_pam common-auth common-auth-twofold
    add_user tfcommonpw
    enroll tfcommonpw
    login_until_code tfcommonpw "not-${PASSWORD[tfcommonpw]}"
    type_line a "$(code tfcommonpw)"
    login_refused
    audit_has "user=tfcommonpw service=login .*method=totp result=success reason=ok"
}

setup_sandbox
"case_$CASE"
