# SPDX-License-Identifier: GPL-2.0-or-later
# description: restarts under I/O, PV guest: it runs disk checksum loops (4 MiB of random data written and read back with O_DIRECT, over and over, on its pvbackd disk) and TCP transfers both ways with dom0 while dom0 restarts pvbackd three times (systemctl restart) and kills it three times (kill -9; systemd starts it again); every checksum matches, in the guest and in the image, the guest's kernel logs no I/O error, the I/O goes on after every restart, the journal has the disk and the secondary console re-attached at every restart, the secondary console answers, xl destroy leaves nothing. If this build does not re-attach vifs, the network half is SKIPPED (the scenario then says SKIP, and that the disk half passed)
# needs: vbd vif console
# timeout: 420
scenario() {
        restart_under_io lab-rio-pv
}
