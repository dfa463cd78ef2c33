# SPDX-License-Identifier: GPL-2.0-or-later
# description: disk: mkfs.ext4, mount, write, umount, e2fsck -f clean, read back
# needs: vbd
# timeout: 200
scenario() {
        make_image $IMAGES/disk.img 64
        run_guest_test pv-disk lab-disk 140 'extra="console=hvc0 quiet lab.test=disk-fs"'
        no_zombies || fail "a domain was left behind"
}
