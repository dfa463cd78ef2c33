# SPDX-License-Identifier: GPL-2.0-or-later
# description: restarts under I/O, HVM guest (emulated disk and NIC unplugged, xen-blkfront and xen-netfront served by pvbackd): the checks of 75-restart-under-io-pv, with one systemctl restart and one kill -9 (the HVM boot alone takes minutes under TCG; the restart machinery is the PV scenario's)
# needs: vbd vif console
# timeout: 720
scenario() {
        RIO_RESTARTS=2 restart_under_io lab-rio-hvm
}
