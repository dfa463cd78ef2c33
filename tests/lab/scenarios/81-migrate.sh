# SPDX-License-Identifier: GPL-2.0-or-later
# description: xl migrate to localhost of a PVH guest with a pvbackd disk and vif (the image open for both domains while the old one is paused): data written before reads back intact after, new writes work, the network works; nothing of the old domain is left behind
# needs: vbd vif
# timeout: 300
# A PVH guest: live migration needs log-dirty mode, which Debian's Xen 4.17
# (CONFIG_SHADOW_PAGING unset) has only through HAP, so not for PV guests
# ("xc: error: Failed to enable logdirty: 95,22,0" at the sender).
scenario() {
        local img=$IMAGES/disk.img before d1 d2 t0
        note "xl info virt_caps: $(xl info | sed -n 's/^virt_caps *: //p')"
        make_image $img 32
        rm -f "$(guest_log lab-mig)"
        guest_create pvh-full 'name="lab-mig"' 'extra="console=hvc0 quiet lab.test=shell lab.ip=10.99.0.5"' ||
                fail "xl create failed"
        wait_log lab-mig "LAB-GUEST-SHELL ready" 120 || fail "the guest's shell did not come up"
        d1=$(domid_of lab-mig)
        wait_connected $d1 vbd 51728 && wait_connected $d1 vif 0 || fail "pvbackd did not connect domain $d1's devices"
        guest_resume_phase lab-mig before
        [ "$(image_sha $img 0)" = "$RESUME_SHA" ] || fail "the image does not hold what the guest wrote before the migration"
        before=$RESUME_SHA
        note "before the migration: 8 MiB written by domain $d1 are in the image ($RESUME_SHA)"

        # With -s "", xl runs the host argument as the whole command
        # (sh -c): the receiving xl on the same host, over a pipe.
        t0=$SECONDS
        xl migrate -s "" lab-mig "xl migrate-receive" > /tmp/migrate.out 2>&1
        rc=$?
        sed 's/^/    | /' /tmp/migrate.out
        [ $rc = 0 ] || fail "xl migrate failed (exit $rc)"
        note "xl migrate took $((SECONDS - t0)) s"
        d2=$(domid_of lab-mig)
        [ -n "$d2" ] && [ "$d2" != "$d1" ] || fail "no migrated domain (domid '$d2')"
        xl list | sed 's/^/    /'
        backends_gone $d1 || fail "the old domain $d1's devices outlived the migration"
        wait_connected $d2 vbd 51728 && wait_connected $d2 vif 0 || fail "pvbackd did not connect the new domain $d2's devices"
        guest_resume_phase lab-mig after
        [ "$(image_sha $img 0)" = "$before" ] || fail "the image's first 8 MiB changed"
        [ "$(image_sha $img 16)" = "$RESUME_SHA" ] || fail "the image does not hold what the migrated guest wrote"
        note "after the migration (domain $d2): the data written before is intact, 8 MiB more written ($RESUME_SHA), dom0 answers pings"

        xl destroy lab-mig || fail "xl destroy failed"
        backends_gone $d2 || fail "domain $d2's devices outlived xl destroy"
        no_zombies || fail "a domain was left behind"
}
