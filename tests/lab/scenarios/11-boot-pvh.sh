# SPDX-License-Identifier: GPL-2.0-or-later
# description: the same as a PVH guest (needs HAP: QEMU's +npt)
# needs:
# timeout: 180
scenario() {
        run_guest_test pvh-nodev lab-pvh 120
        no_zombies || fail "a domain was left behind"
}
