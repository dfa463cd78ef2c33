# SPDX-License-Identifier: GPL-2.0-or-later
# description: a secondary console declared in pvbackd.conf ([guest "lab-shell"]) answers through `xl console -t pv -n 1`
# needs: console
# timeout: 180
scenario() {
        cp /etc/xen/pvbackd.conf /tmp/pvbackd.conf.orig
        trap 'cp /tmp/pvbackd.conf.orig /etc/xen/pvbackd.conf; systemctl reload pvbackd.service' EXIT
        printf '\n[guest "lab-shell"]\nconsole.lab = pty\n' >> /etc/xen/pvbackd.conf
        systemctl reload pvbackd.service || fail "pvbackd refused the configuration"
        sleep 1
        guest_create pv-shell || fail "xl create failed"
        wait_log lab-shell "LAB-GUEST-SHELL ready" 120 || fail "the guest's shell did not come up"
        for i in $(seq 60); do
                [ -n "$(xenstore-read /local/domain/$(domid_of lab-shell)/device/console/1/tty 2>/dev/null)" ] && break
                sleep 1
        done
        xenstore-ls -fp /local/domain/0/backend/console/$(domid_of lab-shell) | sed 's/^/    /'
        $LAB/lab-console --num 1 lab-shell 'echo LAB$((6*7))Y' 'LAB42Y' 30 | sed 's/^/    | /'
        [ "${PIPESTATUS[0]}" = 0 ] || fail "no answer on the secondary console"
        xl destroy lab-shell
        wait_gone lab-shell 30 || fail "lab-shell still there after xl destroy"
        sleep 1
        [ -z "$(xenstore-list /local/domain/0/backend/console/$(domid_of lab-shell) 2>/dev/null)" ] || true
}
