# SPDX-License-Identifier: GPL-2.0-or-later
# description: lifecycle: xl destroy of a guest with a pvbackd disk and vif: no 10 s stall, no zombie, the backend directories and the tap are gone
# needs: vbd vif
# timeout: 180
scenario() {
        make_image $IMAGES/disk.img 16
        guest_create pv-full 'extra="console=hvc0 quiet lab.test=shell"' || fail "xl create failed"
        wait_log lab-full "LAB-GUEST-SHELL ready" 120 || fail "the guest did not come up"
        d=$(domid_of lab-full)
        t0=$SECONDS
        xl destroy lab-full || fail "xl destroy failed"
        note "xl destroy took $((SECONDS - t0)) s"
        [ $((SECONDS - t0)) -lt 10 ] || fail "xl destroy stalled"
        no_zombies || fail "a domain was left behind"
        sleep 1
        [ -z "$(xenstore-list /local/domain/0/backend/vbd/$d 2>/dev/null)$(xenstore-list /local/domain/0/backend/vif/$d 2>/dev/null)" ] ||
                fail "backend directories left for domain $d"
        ip -br link | grep -q "^vif$d\." && fail "the tap outlived the domain"
        return 0
}
