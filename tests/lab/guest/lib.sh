# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the guest tests (sourced: . /lab/lib.sh).

# eth0_up DEFAULT-IP: eth0 (xen-netfront) up with $LAB_IP (lab.ip=) or
# DEFAULT-IP on xenbr0's 10.99.0.0/24.
eth0_up() {
        ip link set eth0 up && ip addr add "${LAB_IP:-$1}/24" dev eth0
}

# ping_dom0 COUNT: waits (up to 15 tries) until dom0 (10.99.0.1) answers,
# then COUNT pings, none of them lost. Non-zero with a message otherwise.
ping_dom0() {
        i=0
        until ping -c 1 -W 2 10.99.0.1 >/dev/null 2>&1; do
                i=$((i + 1))
                [ $i -lt 15 ] || { echo "no ping reply from dom0"; return 1; }
        done
        ping -c "$1" -W 3 -q 10.99.0.1 >/dev/null || { echo "pings to dom0 lost"; return 1; }
}
