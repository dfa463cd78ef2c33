# SPDX-License-Identifier: GPL-2.0-or-later
# description: soft reset: an HVM guest kexecs into a new kernel (Linux asks Xen for SHUTDOWN_soft_reset, xl's on_soft_reset="soft-reset" has libxl tear the devices down and re-create them for the same domain); pvbackd releases the old devices and serves the new ones: the data the first kernel wrote reads back in the second, new writes reach the image, the network works; nothing is left after xl destroy
# needs: vbd vif
# timeout: 900
scenario() {
        local img=$IMAGES/kexec.img boot=$IMAGES/kexec-boot.img log d d2 t0 first second
        [ -x /usr/libexec/xen-qemu-system-i386 ] || fail "no device model (qemu-system-xen is not in the image)"
        make_image $img 16
        # The second kernel and its initramfs, on an ext2 disk the first
        # kernel mounts read-only (served by pvbackd; writable in the config,
        # since libxl refuses read-only disks for an HVM guest's emulated IDE).
        rm -rf /tmp/kexec-boot && mkdir /tmp/kexec-boot
        cp /var/lib/pvbackd-lab/guest/vmlinuz /var/lib/pvbackd-lab/guest/initrd.img /tmp/kexec-boot/
        rm -f $boot && mke2fs -q -t ext2 -d /tmp/kexec-boot $boot 32M || fail "cannot build $boot"
        log=$(guest_log lab-kexec)
        rm -f "$log"
        t0=$SECONDS
        guest_create hvm-full 'name="lab-kexec"' \
                'extra="console=hvc0 quiet lab.test=kexec lab.kexec=1 lab.ip=10.99.0.7"' \
                "disk=[ 'format=raw, vdev=xvdb, access=rw, script=pvbackd-block, target=$img', 'format=raw, vdev=xvdc, access=rw, script=pvbackd-block, target=$boot' ]" \
                'vif=[ "mac=00:16:3e:00:00:07, bridge=xenbr0, script=pvbackd-vif" ]' || fail "xl create failed"
        d=$(domid_of lab-kexec)
        wait_log lab-kexec "LAB-KEXEC loaded|LAB-GUEST kexec FAIL" 480 || fail "the first kernel did not get to kexec"
        grep -aq "LAB-KEXEC loaded" "$log" || fail "the first kernel's checks failed"
        first=$(tr -d '\r' < "$log" | sed -n 's/^LAB-KEXEC written \([0-9a-f]\{64\}\)$/\1/p' | tail -1)
        note "first kernel up in $((SECONDS - t0)) s, wrote 4 MiB ($first), kexec -e"
        t0=$SECONDS
        wait_log lab-kexec "LAB-GUEST-KEXEC ready|LAB-GUEST kexec FAIL" 300 || fail "the kexec'd kernel did not finish its checks"
        note "second kernel ready $((SECONDS - t0)) s after kexec -e"
        sed -n '/LAB-KEXEC loaded/,$p' "$log" | tr -d '\r' | grep -a -E "LAB-|xen|blkfront|netfront|vbd|vif" | sed 's/^/    /' | head -30
        grep -aq "LAB-GUEST-KEXEC ready" "$log" || fail "the kexec'd kernel's checks failed"
        d2=$(domid_of lab-kexec)
        [ "$d2" = "$d" ] || fail "the domain changed ($d -> ${d2:-none}): not a soft reset"
        grep -aq "LAB-KEXEC read back $first" "$log" || fail "the second kernel did not read back what the first wrote"
        wait_connected $d vbd 51728 && wait_connected $d vbd 51744 && wait_connected $d vif 0 ||
                fail "pvbackd does not have domain $d's new devices connected"
        second=$(tr -d '\r' < "$log" | sed -n 's/^LAB-KEXEC written2 \([0-9a-f]\{64\}\)$/\1/p' | tail -1)
        [ "$(image_sha $img 0 4)" = "$first" ] || fail "the image does not hold what the first kernel wrote"
        [ "$(image_sha $img 8 4)" = "$second" ] || fail "the image does not hold what the second kernel wrote"
        note "the image holds both kernels' writes; domain $d kept its id"
        busybox ping -c 3 -W 3 10.99.0.7 > /tmp/ping || { cat /tmp/ping; fail "dom0 cannot ping the kexec'd guest"; }
        note "dom0 pings the guest: $(tail -1 /tmp/ping)"
        pvbackd_journal | sed "s/^/    j: /"
        # Each device was served twice: released at the soft reset, then new.
        [ "$(pvbackd_journal | grep -c "Released")" -ge 3 ] || fail "pvbackd did not release the first kernel's devices"
        # Each line names its device and guest (journalctl shows only the text).
        [ "$(pvbackd_journal | grep -c "^/local/domain/0/backend/vbd/$d/51728 (lab-kexec): Connected")" = 2 ] ||
                fail "the journal does not say twice that backend/vbd/$d/51728 of lab-kexec connected"
        xl destroy lab-kexec || fail "xl destroy failed"
        backends_gone $d || fail "domain $d's devices outlived xl destroy"
        no_zombies || fail "a domain was left behind"
}
