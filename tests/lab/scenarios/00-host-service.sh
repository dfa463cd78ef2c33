# SPDX-License-Identifier: GPL-2.0-or-later
# description: pvbackd.service came up as installed: Type=notify reached READY with a STATUS line, the watchdog is armed, and the kernel backends are kept away
# needs:
# timeout: 60
scenario() {
        systemctl is-enabled pvbackd.service | grep -qx enabled || fail "pvbackd.service is not enabled"
        [ "$(systemctl show -P ActiveState pvbackd.service)" = active ] || {
                systemctl status --no-pager pvbackd.service
                journalctl -q -o cat -u pvbackd.service
                fail "pvbackd.service is not active"
        }
        [ "$(systemctl show -P Type pvbackd.service)" = notify ] || fail "not Type=notify"
        status=$(systemctl show -P StatusText pvbackd.service)
        note "STATUS: $status"
        [[ "$status" == Serving* ]] || fail "no sd_notify STATUS line"
        systemctl status --no-pager pvbackd.service | grep -q "Status: \"Serving" || fail "systemctl status shows no STATUS line"
        [ "$(systemctl show -P WatchdogUSec pvbackd.service)" != 0 ] || fail "no watchdog"
        systemctl status --no-pager pvbackd.service | sed 's/^/    /'
        journalctl -q -o cat -u pvbackd.service | grep -q "pvbackd .* started" || fail "no start message in the journal"
        # The kernel backends must not load (udev would autoload them by alias).
        grep -qE '^xen_(blkback|netback) ' /proc/modules && fail "a kernel backend is loaded"
        modprobe -n -v xen-blkback 2>&1 | grep -q /bin/false || fail "xen-blkback is not blocked by modprobe.d"
        modprobe -n -v xen-netback 2>&1 | grep -q /bin/false || fail "xen-netback is not blocked by modprobe.d"
        [ -f /etc/xen/pvbackd.conf ] || fail "/etc/xen/pvbackd.conf not installed"
        [ -f /usr/share/man/man8/pvbackd.8.gz ] || [ -f /usr/share/man/man8/pvbackd.8 ] || note "pvbackd.8 not installed (minbase strips man pages)"
        for s in pvbackd-block pvbackd-vif; do
                [ -x /etc/xen/scripts/$s ] && note "/etc/xen/scripts/$s installed" || note "/etc/xen/scripts/$s not installed yet"
        done
        return 0
}
