# SPDX-License-Identifier: GPL-2.0-or-later
# description: disk: the same from a PVH guest
# needs: vbd
# timeout: 300
scenario() {
        make_image $IMAGES/disk.img 64
        run_guest_test pvh-disk lab-disk-pvh 240 'extra="console=hvc0 quiet lab.test=disk-pattern"'
        no_zombies || fail "a domain was left behind"
}
