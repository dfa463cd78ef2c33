# SPDX-License-Identifier: GPL-2.0-or-later
# description: disk: a pattern over the whole 64 MiB disk, read back with O_DIRECT and checksummed (PV guest)
# needs: vbd
# timeout: 300
scenario() {
        make_image $IMAGES/disk.img 64
        run_guest_test pv-disk lab-disk 240 'extra="console=hvc0 quiet lab.test=disk-pattern"'
        no_zombies || fail "a domain was left behind"
}
