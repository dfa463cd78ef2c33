# SPDX-License-Identifier: GPL-2.0-or-later
# description: disk: flush (fsync of the block device) and blkdiscard; data outside the discarded range intact
# needs: vbd
# timeout: 200
scenario() {
        make_image $IMAGES/disk.img 64
        run_guest_test pv-disk lab-disk 140 'extra="console=hvc0 quiet lab.test=disk-flush-discard"'
        no_zombies || fail "a domain was left behind"
}
