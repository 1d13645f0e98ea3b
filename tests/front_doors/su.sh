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

setup_sandbox
"case_$CASE"
