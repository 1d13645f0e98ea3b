# twofold (rpm): before erasing (not on upgrade, "$1" = 0). Takes the module out of the
# authselect stacks while it is still on disk, so that no sign-in names a missing module.
if [ "$1" -eq 0 ]; then
    if command -v authselect >/dev/null 2>&1 &&
        authselect current --raw 2>/dev/null | grep -qw with-twofold; then
        authselect disable-feature with-twofold || :
    fi
    systemctl --no-reload disable --now twofold-serve.service >/dev/null 2>&1 || :
fi
