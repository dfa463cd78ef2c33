# SPDX-License-Identifier: GPL-2.0-or-later
# description: restarts under I/O, HVM guest (emulated disk and NIC unplugged, xen-blkfront and xen-netfront served by pvbackd): the checks of 75-restart-under-io-pv
# needs: vbd vif console
# timeout: 720
scenario() {
        restart_under_io lab-rio-hvm
}
