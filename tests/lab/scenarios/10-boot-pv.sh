# SPDX-License-Identifier: GPL-2.0-or-later
# description: a PV guest (Debian kernel, lab initramfs) boots, loads the frontends, reports through its console and powers off; no domain is left
# needs:
# timeout: 180
scenario() {
        run_guest_test pv-nodev lab-pv 120
        no_zombies || fail "a domain was left behind"
}
