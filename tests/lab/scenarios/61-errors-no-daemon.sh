# SPDX-License-Identifier: GPL-2.0-or-later
# description: errors: with pvbackd stopped, xl create of a guest with a vbd fails (libxl waits 10 s for InitWait: "unable to add device") and leaves no domain; pvbackd then starts again
# needs:
# timeout: 120
scenario() {
        trap 'systemctl start pvbackd.service' EXIT
        systemctl stop pvbackd.service
        make_image $IMAGES/disk.img 16
        t0=$SECONDS
        if guest_create pv-disk > /tmp/out 2>&1; then
                fail "xl create succeeded with nobody serving the disk"
        fi
        sed 's/^/    | /' /tmp/out
        note "xl create failed after $((SECONDS - t0)) s"
        grep -q "unable to add device with path" /tmp/out || fail "not libxl's 'unable to add device' timeout"
        wait_gone lab-disk 30 || fail "the failed domain was left behind"
        no_zombies || fail "a domain was left behind"
        systemctl start pvbackd.service || fail "pvbackd did not start again"
        [ "$(systemctl show -P ActiveState pvbackd.service)" = active ] || fail "pvbackd not active"
}
