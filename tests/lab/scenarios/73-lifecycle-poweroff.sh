# SPDX-License-Identifier: GPL-2.0-or-later
# description: lifecycle: a guest with a pvbackd disk and vif powers off without the frontends' 5 s "timeout closing device" lines
# needs: vbd vif
# timeout: 180
scenario() {
        make_image $IMAGES/disk.img 16
        t0=$SECONDS
        # loglevel=7: the frontends' "timeout closing device" is KERN_INFO.
        run_guest_test pv-full lab-full 120 'extra="console=hvc0 loglevel=7 lab.test=hello"'
        note "boot, test and poweroff took $((SECONDS - t0)) s"
        grep -aq "reboot: " "$(guest_log lab-full)" || fail "the guest's shutdown messages were not captured"
        grep -a "timeout closing device" "$(guest_log lab-full)" && fail "a frontend timed out closing its device"
        return 0
}
