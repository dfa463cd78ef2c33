#!/bin/sh
# mkfs + mount + write files + umount + fsck -f clean.
set -e
d=/dev/xvdb
mkfs.ext4 -q -F $d
mount -t ext4 $d /mnt
dd if=/dev/urandom of=/mnt/f bs=1M count=8 2>/dev/null
sha256sum /mnt/f > /tmp/sum
umount /mnt
e2fsck -f -n $d
mount -t ext4 -o ro $d /mnt
(cd / && sed 's# /mnt/f# /mnt/f#' /tmp/sum | sha256sum -c -)
umount /mnt
echo "fs ok"
