# SPDX-License-Identifier: GPL-2.0-or-later
# description: hot-plug: xl network-attach a vif to a running guest, it pings dom0; xl network-detach removes it and its tap
# needs: vif
# timeout: 240
scenario() {
        guest_create pv-shell || fail "xl create failed"
        wait_log lab-shell "LAB-GUEST-SHELL ready" 120 || fail "the guest's shell did not come up"
        xl network-attach lab-shell 'mac=00:16:3e:00:00:20, bridge=xenbr0, script=pvbackd-vif' || fail "xl network-attach failed"
        xl network-list lab-shell | sed 's/^/    /'
        $LAB/lab-console lab-shell 'sleep 2; ip link set eth0 up; ip addr add 10.99.0.3/24 dev eth0; ping -c 3 -W 2 10.99.0.1 && echo LAB-PING-$((40+2))' 'LAB-PING-42' 60 | sed 's/^/    | /'
        [ "${PIPESTATUS[0]}" = 0 ] || fail "no ping through the hot-plugged vif"
        xl network-detach lab-shell 0 || fail "xl network-detach failed"
        sleep 2
        $LAB/lab-console lab-shell 'ls /sys/class/net | tr "\n" " "; echo LAB-LS-$((40+2))' 'LAB-LS-42' 30 > /tmp/ls
        sed 's/^/    | /' /tmp/ls
        grep -q eth0 /tmp/ls && fail "eth0 still in the guest after network-detach"
        ip -br link | grep -q "^vif$(domid_of lab-shell)\." && fail "the tap outlived network-detach"
        xl destroy lab-shell
}
