# twofold (rpm): after installing. Creates the state directory and the approval service's user.
# Nothing is put into any sign-in: see /usr/share/twofold/authselect/README.
if [ ! -d /var/lib/twofold ]; then
    mkdir -m 0700 /var/lib/twofold
fi
chown root:root /var/lib/twofold
chmod 0700 /var/lib/twofold
if ! getent passwd twofold-serve >/dev/null; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        systemd-sysusers /usr/lib/sysusers.d/twofold-serve.conf || :
    else
        useradd -r -M -d /var/lib/twofold-serve -s /sbin/nologin \
            -c "twofold push approval service" twofold-serve || :
    fi
fi
systemctl daemon-reload >/dev/null 2>&1 || :
