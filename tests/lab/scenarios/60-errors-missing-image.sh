# SPDX-License-Identifier: GPL-2.0-or-later
# description: errors: a disk whose image is missing makes xl create fail with pvbackd's message naming the path, and no domain is left behind
# needs: vbd
# timeout: 120
scenario() {
        rm -f $IMAGES/does-not-exist.img
        if guest_create pv-missing > /tmp/out 2>&1; then
                cat /tmp/out
                fail "xl create succeeded with a missing image"
        fi
        sed 's/^/    | /' /tmp/out
        grep -q "script: .*$IMAGES/does-not-exist.img" /tmp/out || fail "xl's error does not carry pvbackd's message naming the path"
        wait_gone lab-missing 30 || fail "the failed domain was left behind"
        no_zombies || fail "a domain was left behind"
}
