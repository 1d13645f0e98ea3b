#!/bin/bash
# sudo front door: the repository's pam.d/sudo as /etc/pam.d/sudo, a throwaway user granted
# ALL in a copy of /etc/sudoers, typing at a shell on a tmux terminal.
# usage (through tests/front_doors.rs): sudo.sh CASE — see lib.sh for the sandbox.
source "$(dirname "$0")/lib.sh"

SUDO_CMD='sudo -k; sudo echo SUDO_$((6*7))_OK'   # prints SUDO_42_OK; the typed line does not match
SUDO_OK='^SUDO_42_OK$'

# sudo_user NAME: a user who may run anything through sudo (password + code), enrolled.
sudo_user() {
    local name=$1
    install_pam sudo sudo
    add_user "$name"
    # Test-only sudoers lines (the copy): no lecture file under /var/lib/sudo, the rule itself.
    printf 'Defaults:%s lecture=never\n%s ALL=(ALL:ALL) ALL\n' "$name" "$name" >>/etc/sudoers
    visudo -c -q -f /etc/sudoers || die "sudoers copy does not parse"
    enroll "$name"
}

# sudo_until_code PANE NAME: runs sudo, types the password, waits for the code prompt (the Nth).
sudo_until_code() {
    local p=$1 name=$2 n=${3:-1}
    type_line "$p" "$SUDO_CMD"
    wait_for "$p" "^\\[sudo\\] password for $name: \$" "$n"
    type_line "$p" "${PASSWORD[$name]}"
    wait_for "$p" '^Verification code: $' "$n"
}

# refused_then_quit PANE: sudo says "Sorry, try again." (and asks again): Ctrl-C, back at the shell.
refused_then_quit() {
    local p=$1 n=${2:-1}
    wait_for "$p" '^Sorry, try again\.$' "$n"
    tm send-keys -t "$p" C-c
    assert_absent "$p" "$SUDO_OK"
}

case_sudo_password_and_code_signs_in() {
    sudo_user tfsudo
    user_shell a tfsudo
    sudo_until_code a tfsudo
    type_line a "$(code tfsudo)"
    wait_for a "$SUDO_OK"
    assert_count a 'password for tfsudo' 1
    audit_has "user=tfsudo service=sudo .*method=totp result=success reason=ok"
}

case_sudo_wrong_code_is_refused() {
    sudo_user tfsudowrong
    user_shell a tfsudowrong
    sudo_until_code a tfsudowrong
    type_line a "$(wrong_code tfsudowrong)"
    refused_then_quit a
    audit_has "user=tfsudowrong service=sudo .*result=failure reason=wrong_code"
}

case_sudo_replayed_code_is_refused() {
    sudo_user tfsudoreplay
    user_shell a tfsudoreplay
    local c
    c=$(code tfsudoreplay)
    sudo_until_code a tfsudoreplay
    type_line a "$c"
    wait_for a "$SUDO_OK"
    sudo_until_code a tfsudoreplay 2   # `sudo -k` first: the password and the code again
    type_line a "$c"
    wait_for a '^Sorry, try again\.$'
    tm send-keys -t a C-c
    assert_count a "$SUDO_OK" 1
    audit_has "user=tfsudoreplay service=sudo .*result=failure reason=replayed_code"
}

# Debian's common-auth ends its password block with `auth requisite pam_deny.so`: a wrong
# password ends the stack before the code is asked (what the snippets' comments explain).
case_sudo_wrong_password_stops_before_the_code_prompt() {
    sudo_user tfsudopw
    user_shell a tfsudopw
    type_line a "$SUDO_CMD"
    wait_for a '^\[sudo\] password for tfsudopw: $'
    type_line a "not-${PASSWORD[tfsudopw]}"
    refused_then_quit a
    assert_absent a 'Verification code:'
}

# The protected user cannot read or change the record that holds the key, nor the state that
# holds the replay and failure counters — also not the state the module wrote while running
# setuid root inside the user's own sudo.
case_sudo_user_cannot_read_own_record() {
    sudo_user tfsudoread
    user_shell a tfsudoread
    sudo_until_code a tfsudoread
    type_line a "$(code tfsudoread)"
    wait_for a "$SUDO_OK"
    local f
    for f in "$STATE" "$STATE/users" "$STATE/state"; do
        [ "$(stat -c '%U %a' "$f")" = "root 700" ] || die "$f is $(stat -c '%U %a' "$f")"
    done
    for f in "$STATE/users/tfsudoread.toml" "$STATE/state/tfsudoread.toml"; do
        [ "$(stat -c '%U %a' "$f")" = "root 600" ] || die "$f is $(stat -c '%U %a' "$f")"
    done
    type_line a "cat $STATE/users/tfsudoread.toml; echo \"RC_CAT=\$?\""
    wait_for a '^RC_CAT=[0-9]+$'
    screen a | grep -q "^cat: $STATE/users/tfsudoread.toml: Permission denied$" ||
        die "cat of the record did not fail with 'Permission denied'"
    assert_count a '^RC_CAT=1$' 1
    type_line a "cat $STATE/state/tfsudoread.toml; echo \"RC_STATE=\$?\""
    wait_for a '^RC_STATE=1$'
    type_line a "ls $STATE; echo \"RC_LS=\$?\""
    wait_for a '^RC_LS=2$'
    type_line a "touch $STATE/planted; echo \"RC_TOUCH=\$?\""
    wait_for a '^RC_TOUCH=1$'
    type_line a "echo x > $STATE/users/tfsudoread.toml; echo \"RC_WRITE=\$?\""
    wait_for a '^RC_WRITE=1$'
    [ ! -e "$STATE/planted" ] || die "the user created a file in the state directory"
    assert_absent a "secret =|${SECRET[tfsudoread]}"
}

setup_sandbox
"case_$CASE"
