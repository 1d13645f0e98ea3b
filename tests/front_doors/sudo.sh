#!/bin/bash
# sudo front door: the repository's pam.d/sudo as /etc/pam.d/sudo, a throwaway user granted
# ALL in a copy of /etc/sudoers, typing at a shell on a tmux terminal.
# usage (through tests/front_doors.rs): sudo.sh CASE — see lib.sh for the sandbox.
source "$(dirname "$0")/lib.sh"

# shellcheck disable=SC2016 # expanded by the user's shell
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
    wait_for "$p" '^Code from your authenticator app \(or a recovery code\): $' "$n"
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
    assert_absent a 'Code from your authenticator app \(or a recovery code\):'
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

# The RHEL-family recipe (README, "Front doors"), as far as it can be checked on Debian: Linux-PAM
# is the same, the files are not. system-auth is written here after RHEL 9's authselect output,
# with the modules Debian has: pam_unix is `sufficient`, so its success returns at once —
# from the whole stack with `include` (the twofold line after it never runs: the code is
# skipped), only from the substack with `substack` (the recipe: the code is asked).
case_sudo_rhel_style_stack_needs_substack() {
    sudo_user tfrhel
    cat >/etc/pam.d/system-auth <<'EOT'
auth        required      pam_env.so
auth        required      pam_faildelay.so delay=2000000
auth        sufficient    pam_unix.so nullok
auth        required      pam_deny.so
account     required      pam_unix.so
password    required      pam_deny.so
session     required      pam_unix.so
EOT
    local mode
    for mode in include substack; do
        # RHEL 9's /etc/pam.d/sudo, with the twofold line after the auth line.
        cat >/etc/pam.d/sudo <<EOT
#%PAM-1.0
auth       $mode      system-auth
auth       required     $TWOFOLD_MODULE config=$CFG
account    include      system-auth
password   include      system-auth
session    optional     pam_keyinit.so revoke
session    required     pam_limits.so
session    include      system-auth
EOT
        user_shell "$mode" tfrhel
        type_line "$mode" "$SUDO_CMD"
        wait_for "$mode" '^\[sudo\] password for tfrhel: $'
        type_line "$mode" "${PASSWORD[tfrhel]}"
        if [ "$mode" = include ]; then
            wait_for "$mode" "$SUDO_OK"     # through on the password alone
            assert_absent "$mode" 'Code from your authenticator app \(or a recovery code\):'
        else
            wait_for "$mode" '^Code from your authenticator app \(or a recovery code\): $'
            type_line "$mode" "$(code tfrhel)"
            wait_for "$mode" "$SUDO_OK"
        fi
    done
    audit_has "user=tfrhel service=sudo .*method=totp result=success reason=ok"
    [ "$(grep -c 'user=tfrhel' "$AUDIT")" -eq 1 ] || die "twofold ran more than once"
}

# [remember] is for remote sign-ins unless `local = true`: sudo (no remote address) asks for
# the code every time by default, and not within the window with `local = true`.
case_sudo_remember_only_with_local() {
    write_config '[remember]
seconds = 600'
    sudo_user tfsudorem
    user_shell a tfsudorem
    sudo_until_code a tfsudorem
    type_line a "$(code tfsudorem)"
    wait_for a "$SUDO_OK"
    sudo_until_code a tfsudorem 2      # asked again: local services are not remembered
    tm send-keys -t a C-c
    write_config '[remember]
seconds = 600
local = true'
    sudo_user tfsudorem2
    user_shell b tfsudorem2
    sudo_until_code b tfsudorem2
    type_line b "$(code tfsudorem2)"
    wait_for b "$SUDO_OK"
    type_line b "$SUDO_CMD"
    wait_for b '^\[sudo\] password for tfsudorem2: $' 2
    type_line b "${PASSWORD[tfsudorem2]}"
    wait_for b "$SUDO_OK" 2
    assert_count b 'Code from your authenticator app \(or a recovery code\):' 1
    audit_has "user=tfsudorem2 service=sudo .*reason=remembered"
}

# A user whose default is text messages, and sudo's line with methods=app,push (as the comment
# in pam.d/sudo suggests): sudo asks for an app code, sends no text, and says so for "sms".
case_sudo_methods_keep_text_messages_out() {
    sudo_user tfsudosms
    sed -i -E "/^[^#]*pam_twofold/ s#\$# methods=app,push#" /etc/pam.d/sudo
    printf '#!/bin/sh\ncat >>"%s/sms.text"\n' "$T" >"$T/gateway.sh"
    chmod 0755 "$T/gateway.sh"
    write_config "[sms]
gateway = \"command\"
[sms.command]
argv = [\"/bin/sh\", \"$T/gateway.sh\", \"{phone}\"]"
    "$TWOFOLD_CLI" --config "$CFG" phone tfsudosms set +31612345678 --verified >/dev/null ||
        die "twofold phone failed"
    "$TWOFOLD_CLI" --config "$CFG" default-method tfsudosms sms >/dev/null ||
        die "twofold default-method failed"
    user_shell a tfsudosms
    sudo_until_code a tfsudosms
    type_line a "sms"
    wait_for a '^Text-message codes are not available here\.$'
    wait_for a '^Code from your authenticator app \(or a recovery code\): $' 2
    type_line a "$(code tfsudosms)"
    wait_for a "$SUDO_OK"
    [ ! -e "$T/sms.text" ] || die "a text was sent: $(cat "$T/sms.text")"
    audit_has "user=tfsudosms service=sudo .*method=totp result=success reason=ok"
}

setup_sandbox
"case_$CASE"
