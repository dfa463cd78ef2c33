# SPDX-License-Identifier: GPL-2.0-or-later
# description: xl save / xl restore of a PV guest with a pvbackd disk and vif: data written before the save reads back intact after the restore, new writes work, the network works; nothing of the saved domain is left behind
# needs: vbd vif
# timeout: 300
scenario() {
        local chk=$LAB_VAR/lab-save.chk t0
        trap 'rm -f $LAB_VAR/lab-save.chk' EXIT
        resume_prepare pv-full lab-save 10.99.0.4

        t0=$SECONDS
        xl save lab-save $chk > /tmp/save.out 2>&1 || { sed 's/^/    | /' /tmp/save.out; fail "xl save failed"; }
        note "xl save took $((SECONDS - t0)) s ($(du -m $chk | cut -f1) MiB)"
        wait_gone lab-save 30 || fail "the saved domain is still there"
        backends_gone $RESUME_DOMID || fail "domain $RESUME_DOMID's devices outlived xl save"

        t0=$SECONDS
        xl restore $chk > /tmp/restore.out 2>&1 || { sed 's/^/    | /' /tmp/restore.out; fail "xl restore failed"; }
        note "xl restore took $((SECONDS - t0)) s"
        resume_check lab-save restore
}
