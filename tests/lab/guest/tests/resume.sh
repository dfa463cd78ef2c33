#!/bin/sh
# Save/restore and migration, typed into a lab.test=shell guest's console by
# dom0 (the guest's RAM, /tmp included, is what the save or migration carries
# over):
#   resume.sh before   8 MiB of random data at offset 0 of xvdb, written and
#                      read back with O_DIRECT; a copy kept in /tmp; ping dom0
#   resume.sh after    the same 8 MiB read back with O_DIRECT against the copy;
#                      8 MiB more written at offset 16 MiB and read back; ping
# Each ends with "LAB-RESUME-<phase> OK <sha256 of what it wrote>" (dom0
# checks the image file against it) or "LAB-RESUME-<phase> FAIL <why>".
d=/dev/xvdb
phase=${1:-}
die() { echo "LAB-RESUME-$phase FAIL $*"; exit 1; }
sha() { sha256sum < "$1" | cut -d' ' -f1; }
# write_check FILE SEEK-MiB: FILE onto xvdb at SEEK MiB, read back, compared.
write_check() {
        dd if="$1" of=$d bs=1M seek="$2" oflag=direct conv=fsync,notrunc 2>/dev/null || die "write at $2 MiB failed"
        echo 3 > /proc/sys/vm/drop_caches
        dd if=$d bs=1M skip="$2" count=8 iflag=direct 2>/dev/null | cmp -s - "$1" || die "read-back at $2 MiB differs"
}
. /lab/lib.sh
[ -b $d ] || die "no $d"
case $phase in
before)
        dd if=/dev/urandom of=/tmp/before bs=1M count=8 2>/dev/null
        write_check /tmp/before 0
        why=$(ping_dom0 3) || die "$why"
        echo "LAB-RESUME-$phase OK $(sha /tmp/before)"
        ;;
after)
        [ -f /tmp/before ] || die "no /tmp/before: this is not the guest that ran 'before'"
        echo 3 > /proc/sys/vm/drop_caches
        dd if=$d bs=1M count=8 iflag=direct 2>/dev/null | cmp -s - /tmp/before || die "the data written before is not intact"
        dd if=/dev/urandom of=/tmp/after bs=1M count=8 2>/dev/null
        write_check /tmp/after 16
        why=$(ping_dom0 3) || die "$why"
        echo "LAB-RESUME-$phase OK $(sha /tmp/after)"
        ;;
*)
        echo "usage: resume.sh before|after (typed into a lab.test=shell guest)"
        exit 1
        ;;
esac
