# SPDX-License-Identifier: GPL-2.0-or-later
# description: lifecycle: systemctl restart pvbackd with no guest running; it reaches READY again with a STATUS line and a clean stop
# needs:
# timeout: 120
scenario() {
        old=$(systemctl show -P MainPID pvbackd.service)
        t0=$SECONDS
        systemctl restart pvbackd.service || fail "systemctl restart failed"
        note "restarted in $((SECONDS - t0)) s"
        new=$(systemctl show -P MainPID pvbackd.service)
        [ "$new" != 0 ] && [ "$new" != "$old" ] || fail "no new main process ($old -> $new)"
        [ "$(systemctl show -P ActiveState pvbackd.service)" = active ] || fail "not active after restart"
        [[ "$(systemctl show -P StatusText pvbackd.service)" == Serving* ]] || fail "no STATUS after restart"
        [ "$(systemctl show -P NRestarts pvbackd.service)" = 0 ] || fail "pvbackd was restarted by systemd (it crashed)"
        [ "$(systemctl show -P Result pvbackd.service)" = success ] || fail "the previous instance did not stop cleanly"
        pvbackd_journal | sed 's/^/    | /'
        pvbackd_journal | grep -q Stopping || fail "no clean stop in the journal"
}
