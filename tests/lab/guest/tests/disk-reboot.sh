#!/bin/sh
# First boot: write a marker and random data, ask for a reboot (exit 10).
# Second boot (the marker is there): the data must be intact.
d=/dev/xvdb
if dd if=$d bs=512 count=1 2>/dev/null | grep -q LAB-REBOOT-MARK; then
        dd if=$d bs=1M skip=1 count=4 iflag=direct 2>/dev/null | sha256sum > /tmp/now
        dd if=$d bs=512 skip=1 count=1 2>/dev/null | head -1 > /tmp/then
        cut -d' ' -f1 /tmp/now > /tmp/now1
        cmp /tmp/now1 /tmp/then || { echo "data changed across the reboot"; exit 1; }
        echo "data survived the reboot"
        exit 0
fi
dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null
dd if=/tmp/a of=$d bs=1M seek=1 conv=fsync 2>/dev/null
sha256sum < /tmp/a | cut -d' ' -f1 > /tmp/sum
{ echo LAB-REBOOT-MARK; } | dd of=$d bs=512 count=1 conv=sync,fsync 2>/dev/null
dd if=/tmp/sum of=$d bs=512 seek=1 count=1 conv=sync,fsync 2>/dev/null
sync
exit 10
