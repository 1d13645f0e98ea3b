#!/bin/bash
# sshd front door with text-message codes: sshd with key + keyboard-interactive (the
# repository's pam.d/sshd and key-and-code drop-in), `[sms]` pointing at a command gateway (a
# script that keeps each text in a file: the "phone"), and a user whose number was set with the
# real `twofold phone` and whose default method is sms. Everything happens in the prompts of the
# one keyboard-interactive exchange: the text-message prompt, the menu (?), a switch (sms
# again: a new code), the code read off the "phone" and typed.
# usage (through tests/front_doors.rs): sshd_sms.sh CASE — see lib.sh for the sandbox,
# sshd_lib.sh for sshd and the client.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sshd_lib.sh"

# sms_gateway: the command gateway, a root-owned script appending argv and stdin to $T/sms.*.
sms_gateway() {
    printf '#!/bin/sh\nprintf "%%s\\n" "$@" >>"%s/sms.argv"\ncat >>"%s/sms.text"\n' "$T" "$T" >"$T/gateway.sh"
    chmod 0755 "$T/gateway.sh"
    write_config "[sms]
gateway = \"command\"
default_country = \"NL\"
[sms.command]
argv = [\"/bin/sh\", \"$T/gateway.sh\", \"{phone}\"]"
}

# texts: how many texts the "phone" got.
texts() { grep -c . "$T/sms.text" 2>/dev/null || echo 0; }

case_ssh_key_and_text_message_code_signs_in() {
    install_pam sshd sshd
    sms_gateway
    start_sshd key
    add_user tfsms
    enroll tfsms
    "$TWOFOLD_CLI" --config "$CFG" phone tfsms set "06 12345678" --verified >/dev/null ||
        die "twofold phone failed"
    "$TWOFOLD_CLI" --config "$CFG" default-method tfsms sms >/dev/null ||
        die "twofold default-method failed"
    client_key tfsms
    ssh_pane a tfsms key
    wait_for a '\) Code sent by text message to \+31 6 \*\*\*\*5678\.$'
    wait_for a '^Type it \(sms: resend, \?: other ways\): $'
    [ "$(texts)" -eq 1 ] || die "expected one text, got $(texts)"
    [ "$(cat "$T/sms.argv")" = "+31612345678" ] || die "the gateway got $(cat "$T/sms.argv")"
    type_line a "?"
    wait_for a '\) Ways to sign in here \(type the word\):$'
    wait_for a '^  sms   a code by text message to \+31 6 \*\*\*\*5678$'
    wait_for a 'Code from your app or a recovery code \(\? for other ways\): $'
    type_line a "sms"
    wait_for a 'Code sent by text message to \+31 6 \*\*\*\*5678\.$' 2
    [ "$(texts)" -eq 2 ] || die "expected a second text, got $(texts)"
    local code
    code=$(tail -n 1 "$T/sms.text" | cut -c1-6)
    type_line a "$code"
    signed_in a
    audit_has "user=tfsms service=sshd .*method=sms result=success reason=ok"
    if grep -q -- "$code" "$AUDIT"; then die "the code is in the audit log"; fi
    if grep -q -- "612345678" "$AUDIT"; then die "the number is in the audit log"; fi
}

setup_sandbox
"case_$CASE"
