# SPDX-License-Identifier: GPL-2.0-or-later
# description: xl save / xl restore of a PV guest with a pvbackd disk and vif: data written before the save reads back intact after the restore, new writes work, the network works; nothing of the saved domain is left behind
# needs: vbd vif
# timeout: 300
scenario() {
        local img=$IMAGES/disk.img before chk=$LAB_VAR/lab-save.chk d1 d2 t0
        trap 'rm -f $LAB_VAR/lab-save.chk' EXIT
        make_image $img 32
        rm -f "$(guest_log lab-save)"
        guest_create pv-full 'name="lab-save"' 'extra="console=hvc0 quiet lab.test=shell lab.ip=10.99.0.4"' ||
                fail "xl create failed"
        wait_log lab-save "LAB-GUEST-SHELL ready" 120 || fail "the guest's shell did not come up"
        d1=$(domid_of lab-save)
        wait_connected $d1 vbd 51728 && wait_connected $d1 vif 0 || fail "pvbackd did not connect domain $d1's devices"
        guest_resume_phase lab-save before
        [ "$(image_sha $img 0)" = "$RESUME_SHA" ] || fail "the image does not hold what the guest wrote before the save"
        before=$RESUME_SHA
        note "before the save: 8 MiB written by domain $d1 are in the image ($RESUME_SHA)"

        t0=$SECONDS
        xl save lab-save $chk > /tmp/save.out 2>&1 || { sed 's/^/    | /' /tmp/save.out; fail "xl save failed"; }
        note "xl save took $((SECONDS - t0)) s ($(du -m $chk | cut -f1) MiB)"
        wait_gone lab-save 30 || fail "the saved domain is still there"
        backends_gone $d1 || fail "domain $d1's devices outlived xl save"

        t0=$SECONDS
        xl restore $chk > /tmp/restore.out 2>&1 || { sed 's/^/    | /' /tmp/restore.out; fail "xl restore failed"; }
        note "xl restore took $((SECONDS - t0)) s"
        d2=$(domid_of lab-save)
        [ -n "$d2" ] && [ "$d2" != "$d1" ] || fail "no restored domain (domid '$d2')"
        wait_connected $d2 vbd 51728 && wait_connected $d2 vif 0 || fail "pvbackd did not connect the restored domain $d2's devices"
        xl block-list lab-save | sed 's/^/    /'
        xl network-list lab-save | sed 's/^/    /'
        guest_resume_phase lab-save after
        [ "$(image_sha $img 0)" = "$before" ] || fail "the image's first 8 MiB changed"
        [ "$(image_sha $img 16)" = "$RESUME_SHA" ] || fail "the image does not hold what the restored guest wrote"
        note "after the restore (domain $d2): the data written before is intact, 8 MiB more written ($RESUME_SHA), dom0 answers pings"

        xl destroy lab-save || fail "xl destroy failed"
        backends_gone $d2 || fail "domain $d2's devices outlived xl destroy"
        no_zombies || fail "a domain was left behind"
}
