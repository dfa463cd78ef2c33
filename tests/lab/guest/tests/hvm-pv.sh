#!/bin/sh
# HVM guest: the Xen platform device unplugged QEMU's emulated disks and NICs,
# xvdb is a xen-blkfront disk and eth0 a xen-netfront interface; then the
# disk pattern over xvdb (disk-pattern.sh, which prints the checksum dom0
# compares with the image) and pings of dom0. Prints "LAB-GUEST-HVM ready"
# and waits: dom0 checks pvbackd's side, pings back, then destroys the guest.
set -e
dmesg > /tmp/dmesg
grep -q "unplug emulated disks" /tmp/dmesg || { echo "the emulated disks were not unplugged"; exit 1; }
grep -q "unplug emulated NICs" /tmp/dmesg || { echo "the emulated NICs were not unplugged"; exit 1; }
[ -b /dev/xvdb ] || { echo "no xvdb"; exit 1; }
drv() { basename "$(readlink "$1/driver")"; }
[ "$(drv /sys/block/xvdb/device)" = vbd ] || { echo "xvdb is not driven by xen-blkfront ($(drv /sys/block/xvdb/device))"; exit 1; }
ip link show eth0 >/dev/null 2>&1 || { echo "no eth0"; exit 1; }
[ "$(drv /sys/class/net/eth0/device)" = vif ] || { echo "eth0 is not driven by xen-netfront ($(drv /sys/class/net/eth0/device))"; exit 1; }
echo "emulated disk and NIC unplugged; xvdb: $(basename "$(readlink /sys/block/xvdb/device)"), eth0: $(basename "$(readlink /sys/class/net/eth0/device)")"
/lab/tests/disk-pattern.sh
. /lab/lib.sh
eth0_up 10.99.0.6
ping_dom0 3
echo "LAB-GUEST-HVM ready"
sleep 600
