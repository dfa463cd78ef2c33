# SPDX-License-Identifier: GPL-2.0-or-later
# description: xl migrate to localhost of a PVH guest with a pvbackd disk and vif (the image open for both domains while the old one is paused): data written before reads back intact after, new writes work, the network works; nothing of the old domain is left behind
# needs: vbd vif
# timeout: 300
# A PVH guest: live migration needs log-dirty mode, which Debian's Xen 4.17
# (CONFIG_SHADOW_PAGING unset) has only through HAP, so not for PV guests
# ("xc: error: Failed to enable logdirty: 95,22,0" at the sender).
scenario() {
        local rc t0
        note "xl info virt_caps: $(xl info | sed -n 's/^virt_caps *: //p')"
        resume_prepare pvh-full lab-mig 10.99.0.5

        # With -s "", xl runs the host argument as the whole command
        # (sh -c): the receiving xl on the same host, over a pipe.
        t0=$SECONDS
        xl migrate -s "" lab-mig "xl migrate-receive" > /tmp/migrate.out 2>&1
        rc=$?
        sed 's/^/    | /' /tmp/migrate.out
        [ $rc = 0 ] || fail "xl migrate failed (exit $rc)"
        note "xl migrate took $((SECONDS - t0)) s"
        xl list | sed 's/^/    /'
        backends_gone $RESUME_DOMID || fail "the old domain $RESUME_DOMID's devices outlived the migration"
        resume_check lab-mig migration
}
