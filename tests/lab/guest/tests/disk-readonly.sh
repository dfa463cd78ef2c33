#!/bin/sh
# xvdb is attached access=ro: reads work, writes are refused.
d=/dev/xvdb
[ "$(cat /sys/block/xvdb/ro)" = 1 ] || { echo "xvdb is not read-only in the guest"; exit 1; }
dd if=$d of=/dev/null bs=1M count=1 iflag=direct 2>/dev/null || { echo "read failed"; exit 1; }
blockdev --setrw $d 2>/dev/null
if dd if=/dev/zero of=$d bs=4k count=1 oflag=direct 2>/dev/null; then
        echo "a write to the read-only disk succeeded"
        exit 1
fi
echo "write refused"
