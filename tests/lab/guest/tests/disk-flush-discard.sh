#!/bin/sh
# Flush (fsync on the block device = a flush request) and discard
# (blkdiscard), then data outside the discarded range is intact.
set -e
d=/dev/xvdb
[ -b $d ] || { echo "no $d"; exit 1; }
cat /sys/block/xvdb/queue/discard_max_bytes
dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null
dd if=/tmp/a of=$d bs=1M count=4 conv=fsync 2>/dev/null
sync
[ "$(cat /sys/block/xvdb/queue/discard_max_bytes)" != 0 ] || { echo "backend offers no discard"; exit 1; }
blkdiscard -o $((8 << 20)) -l $((8 << 20)) $d
echo 3 > /proc/sys/vm/drop_caches
dd if=$d bs=1M count=4 iflag=direct 2>/dev/null | cmp - /tmp/a || { echo "data lost after discard"; exit 1; }
echo "flush and discard ok"
