# SPDX-License-Identifier: GPL-2.0-or-later
# description: errors: a disk whose image is missing makes xl create of a PV, a PVH and an HVM guest fail with pvbackd's message naming the path, and no domain is left behind
# needs: vbd
# timeout: 300
scenario() {
        local type name
        rm -f $IMAGES/does-not-exist.img
        for type in pv pvh hvm; do
                name=lab-missing-$type
                # The same guest as pv-missing.cfg, of each type (HVM: no
                # display; QEMU is given the disk too).
                if guest_create pv-missing "type=\"$type\"" "name=\"$name\"" 'memory=256' 'vga="none"' 'vnc=0' \
                        > /tmp/out 2>&1; then
                        cat /tmp/out
                        fail "xl create of a $type guest succeeded with a missing image"
                fi
                sed 's/^/    | /' /tmp/out
                grep -q "script: .*$IMAGES/does-not-exist.img" /tmp/out ||
                        fail "xl's error for the $type guest does not carry pvbackd's message naming the path"
                wait_gone $name 30 || fail "the failed $type domain was left behind"
                no_zombies || fail "a domain was left behind ($type)"
        done
}
