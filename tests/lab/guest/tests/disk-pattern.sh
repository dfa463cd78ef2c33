#!/bin/sh
# xvdb: a pattern over the whole disk -- every 1 MiB chunk distinct (its
# index, then a random block) -- written with O_DIRECT, then read back with
# O_DIRECT (so the reads reach the backend, not the page cache); the
# checksums of what was written and of what was read must match.
set -e
d=/dev/xvdb
[ -b $d ] || { echo "no $d"; exit 1; }
mib=$(( $(cat /sys/block/xvdb/size) / 2048 ))
head -c 1048568 /dev/urandom > /tmp/base
pattern() {
        i=0
        while [ $i -lt $mib ]; do
                printf '%07d\n' $i
                cat /tmp/base
                i=$((i + 1))
        done
}
echo "writing $mib MiB"
want=$(pattern | sha256sum | cut -d' ' -f1)
pattern | dd of=$d bs=1M iflag=fullblock oflag=direct conv=fsync 2>/dev/null
echo "reading it back"
echo 3 > /proc/sys/vm/drop_caches
got=$(dd if=$d bs=1M iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
echo "written $want"
echo "read    $got"
[ "$want" = "$got" ] || { echo "read-back differs from what was written"; exit 1; }
# The last chunk really is the last MiB of the disk (nothing cut short).
last=$(dd if=$d bs=1M skip=$((mib - 1)) count=1 iflag=direct 2>/dev/null | head -c 8)
[ "$last" = "$(printf '%07d\n' $((mib - 1)))" ] || { echo "the last MiB is not chunk $((mib - 1))"; exit 1; }
echo "pattern verified over $mib MiB"
