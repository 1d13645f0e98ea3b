# twofold (rpm): after erasing or upgrading.
systemctl daemon-reload >/dev/null 2>&1 || :
