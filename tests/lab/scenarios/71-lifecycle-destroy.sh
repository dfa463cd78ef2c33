# SPDX-License-Identifier: GPL-2.0-or-later
# description: lifecycle: xl destroy of a running guest with no devices returns promptly and leaves no zombie domain
# needs:
# timeout: 180
scenario() {
        guest_create pv-shell || fail "xl create failed"
        wait_log lab-shell "LAB-GUEST-SHELL ready" 120 || fail "the guest did not come up"
        t0=$SECONDS
        xl destroy lab-shell || fail "xl destroy failed"
        note "xl destroy took $((SECONDS - t0)) s"
        [ $((SECONDS - t0)) -lt 10 ] || fail "xl destroy stalled"
        no_zombies || fail "a (null) or other domain was left behind"
}
