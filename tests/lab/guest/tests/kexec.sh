#!/bin/sh
# HVM guest, soft reset. lab.kexec=1 (first kernel): writes 4 MiB of random
# data at the start of xvdb and prints its checksum, then loads the kernel
# and initramfs from xvdc (ext2, mounted read-only) with kexec and executes it:
# Linux's HVM kexec shuts its frontends down and asks Xen for a soft reset
# (SHUTDOWN_soft_reset), and libxl tears the devices down and re-creates
# them for the same domain. lab.kexec=2 (the kexec'd kernel): the 4 MiB read
# back through xen-blkfront must be what the first kernel wrote; 4 MiB more
# written at 8 MiB (checksum printed for dom0), eth0 pings dom0; then prints
# "LAB-GUEST-KEXEC ready" and waits for dom0's checks.
set -e
phase= sha=
for w in $(cat /proc/cmdline); do
        case "$w" in
        lab.kexec=*) phase=${w#lab.kexec=} ;;
        lab.sha=*) sha=${w#lab.sha=} ;;
        esac
done
[ -b /dev/xvdb ] || { echo "no xvdb"; exit 1; }
case $phase in
1)
        [ -b /dev/xvdc ] || { echo "no xvdc (the kexec kernel's disk)"; exit 1; }
        dd if=/dev/urandom of=/tmp/data bs=1M count=4 2>/dev/null
        dd if=/tmp/data of=/dev/xvdb bs=1M oflag=direct 2>/dev/null
        blockdev --flushbufs /dev/xvdb
        sha=$(sha256sum < /tmp/data | cut -d' ' -f1)
        echo "LAB-KEXEC written $sha"
        mkdir -p /mnt
        mount -o ro /dev/xvdc /mnt
        kexec -l /mnt/vmlinuz --initrd=/mnt/initrd.img \
                --append="console=hvc0 quiet lab.test=kexec lab.kexec=2 lab.sha=$sha lab.ip=${LAB_IP:-10.99.0.7}"
        umount /mnt
        echo "LAB-KEXEC loaded"
        kexec -e
        echo "kexec -e returned"
        exit 1
        ;;
2)
        got=$(dd if=/dev/xvdb bs=1M count=4 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
        [ "$got" = "$sha" ] || { echo "xvdb does not hold what the first kernel wrote ($got, not $sha)"; exit 1; }
        echo "LAB-KEXEC read back $got"
        dd if=/dev/urandom of=/tmp/data bs=1M count=4 2>/dev/null
        dd if=/tmp/data of=/dev/xvdb bs=1M seek=8 oflag=direct 2>/dev/null
        blockdev --flushbufs /dev/xvdb
        echo "LAB-KEXEC written2 $(sha256sum < /tmp/data | cut -d' ' -f1)"
        . /lab/lib.sh
        eth0_up 10.99.0.7
        ping_dom0 3
        echo "LAB-GUEST-KEXEC ready"
        sleep 600
        ;;
*)
        echo "lab.kexec=1 or 2 expected"; exit 1 ;;
esac
