# SPDX-License-Identifier: GPL-2.0-or-later
# description: hot-plug: xl block-attach a disk to a running guest, the guest reads it; xl block-detach removes it; then again with block-detach -f
# needs: vbd
# timeout: 240
scenario() {
        make_image $IMAGES/hot.img 32
        printf 'LAB-HOT-CONTENT' | dd of=$IMAGES/hot.img conv=notrunc 2>/dev/null
        guest_create pv-shell || fail "xl create failed"
        wait_log lab-shell "LAB-GUEST-SHELL ready" 120 || fail "the guest's shell did not come up"
        for force in "" -f; do
                xl block-attach lab-shell "format=raw, vdev=xvdc, access=rw, script=pvbackd-block, target=$IMAGES/hot.img" ||
                        fail "xl block-attach failed"
                xl block-list lab-shell | sed 's/^/    /'
                $LAB/lab-console lab-shell 'sleep 2; head -c 15 /dev/xvdc; echo :$(cat /sys/block/xvdc/size)' 'LAB-HOT-CONTENT:65536' 30 |
                        sed 's/^/    | /'
                [ "${PIPESTATUS[0]}" = 0 ] || fail "the guest cannot read the attached disk"
                xl block-detach $force lab-shell xvdc || fail "xl block-detach $force failed"
                $LAB/lab-console lab-shell 'sleep 2; ls /sys/block/ | tr "\n" " "; echo LAB-LS-$((40+2))' 'LAB-LS-42' 30 > /tmp/ls
                sed 's/^/    | /' /tmp/ls
                grep -q xvdc /tmp/ls && fail "xvdc still in the guest after block-detach $force"
                [ -z "$(xenstore-list /local/domain/0/backend/vbd/$(domid_of lab-shell) 2>/dev/null)" ] ||
                        fail "backend nodes left after block-detach $force"
        done
        xl destroy lab-shell
}
