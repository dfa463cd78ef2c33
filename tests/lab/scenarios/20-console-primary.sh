# SPDX-License-Identifier: GPL-2.0-or-later
# description: the primary console (xenconsoled) through `xl console` on a pty: type a command into the guest, read its answer
# needs:
# timeout: 180
scenario() {
        guest_create pv-shell || fail "xl create failed"
        wait_log lab-shell "LAB-GUEST-SHELL ready" 120 || fail "the guest's shell did not come up"
        # The typed line is echoed back; only the shell's answer says LAB42X.
        $LAB/lab-console lab-shell 'echo LAB$((6*7))X' 'LAB42X' 30 | sed 's/^/    | /'
        [ "${PIPESTATUS[0]}" = 0 ] || fail "no answer through xl console"
        xl destroy lab-shell
        wait_gone lab-shell 30 || fail "lab-shell still there after xl destroy"
}
