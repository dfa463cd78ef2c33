# SPDX-License-Identifier: GPL-2.0-or-later
# description: hot-plug: xl block-detach of a disk the guest has mounted completes within libxl's 10 s (Linux 6.1 blkfront closes a disk in use and marks it dead), the guest lives on, nothing of the disk is left, and pvbackd serves the next attach of the same image
# needs: vbd
# timeout: 240
scenario() {
        local d t0 took
        make_image $IMAGES/mnt.img 32
        mkfs.ext4 -q -F $IMAGES/mnt.img
        guest_create pv-shell || fail "xl create failed"
        wait_log lab-shell "LAB-GUEST-SHELL ready" 120 || fail "the guest's shell did not come up"
        d=$(domid_of lab-shell)
        xl block-attach lab-shell "format=raw, vdev=xvdc, access=rw, script=pvbackd-block, target=$IMAGES/mnt.img" ||
                fail "xl block-attach failed"
        $LAB/lab-console lab-shell 'sleep 2; mkdir -p /mnt && mount /dev/xvdc /mnt && echo data > /mnt/f && sync && echo LAB-MNT-$((40+2))' \
                'LAB-MNT-42' 30 | sed 's/^/    | /'
        [ "${PIPESTATUS[0]}" = 0 ] || fail "the guest cannot mount the attached disk"

        t0=$SECONDS
        xl block-detach lab-shell xvdc > /tmp/detach.out 2>&1 || { sed 's/^/    | /' /tmp/detach.out; fail "xl block-detach of the mounted disk failed"; }
        took=$((SECONDS - t0))
        note "xl block-detach of the mounted disk returned after $took s"
        [ $took -lt 10 ] || fail "block-detach of the mounted disk waited for libxl's timeout ($took s)"
        [ -z "$(xenstore-list /local/domain/0/backend/vbd/$d 2>/dev/null)" ] ||
                fail "backend nodes left after block-detach of the mounted disk"
        systemctl -q is-active pvbackd || fail "pvbackd is not running after the detach"

        # The guest lives on; the same image as another disk (the guest
        # still has xvdc mounted, dead) is served as a new device.
        xl block-attach lab-shell "format=raw, vdev=xvdd, access=rw, script=pvbackd-block, target=$IMAGES/mnt.img" ||
                fail "xl block-attach after the detach failed"
        wait_connected $d vbd 51760 || fail "pvbackd did not connect the disk attached after the detach"
        $LAB/lab-console lab-shell 'sleep 2; mkdir -p /mnt2 && mount -o ro /dev/xvdd /mnt2 && cat /mnt2/f && echo LAB-RO-$((40+2))' \
                'data\s+LAB-RO-42' 30 | sed 's/^/    | /'
        [ "${PIPESTATUS[0]}" = 0 ] || fail "the guest cannot read the file from the disk attached after the detach"
        xl destroy lab-shell
        backends_gone $d || fail "domain $d's devices outlived xl destroy"
}
