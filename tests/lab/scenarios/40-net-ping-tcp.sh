# SPDX-License-Identifier: GPL-2.0-or-later
# description: network: guest <-> dom0 over xenbr0 (pvbackd-vif): ping, then a 4 MiB payload both ways over TCP, checksums verified on both sides
# needs: vif
# timeout: 240
scenario() {
        mkdir -p /tmp/www
        head -c 4194304 /dev/urandom > /tmp/www/payload
        sha256sum < /tmp/www/payload > /tmp/www/payload.sha256
        busybox httpd -p 10.99.0.1:8080 -h /tmp/www || fail "cannot start dom0's HTTP server"
        trap 'pkill -f "busybox httpd -p 10.99.0.1:8080"' EXIT
        rm -f "$(guest_log lab-net)"
        guest_create pv-net 'extra="console=hvc0 quiet lab.test=net lab.ip=10.99.0.2"' || fail "xl create failed"
        ip -br link show master xenbr0 | sed 's/^/    /'
        wait_log lab-net "LAB-GUEST-NET serving|LAB-GUEST net FAIL" 240 || fail "the guest did not finish its half"
        sed -n '/LAB-GUEST-BOOT/,$p' "$(guest_log lab-net)" | tr -d '\r' | sed 's/^/    /'
        grep -aq "LAB-GUEST-NET serving" "$(guest_log lab-net)" || fail "the guest's side failed"
        busybox wget -q -O /tmp/back http://10.99.0.2:8080/payload || fail "cannot fetch the payload back from the guest"
        [ "$(sha256sum < /tmp/back)" = "$(cat /tmp/www/payload.sha256)" ] || fail "the payload came back corrupted"
        note "4 MiB payload verified in both directions"
        xl destroy lab-net
        wait_gone lab-net 30 || fail "lab-net still there after xl destroy"
        ip link show | grep -q 'vif[0-9]*\.0' && fail "a vif tap outlived its guest"
        return 0
}
