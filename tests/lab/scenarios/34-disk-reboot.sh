# SPDX-License-Identifier: GPL-2.0-or-later
# description: disk: data written before a guest reboot (on_reboot=restart, a new domain) is read back intact after it
# needs: vbd
# timeout: 240
scenario() {
        make_image $IMAGES/disk.img 64
        run_guest_test pv-disk lab-disk 180 'extra="console=hvc0 quiet lab.test=disk-reboot"'
        grep -aq "LAB-GUEST disk-reboot REBOOT" "$(guest_log lab-disk)" || fail "the guest never rebooted"
        no_zombies || fail "a domain was left behind"
}
