#!/bin/sh
# eth0 on xenbr0: ping dom0 (10.99.0.1), fetch a 4 MiB payload and its
# checksum from dom0's HTTP server and verify it, then serve it back for dom0
# to fetch and verify (both directions of TCP through the vif). dom0 destroys
# the guest once done.
set -e
ip link set eth0 up
ip addr add ${LAB_IP:-10.99.0.2}/24 dev eth0
i=0
until ping -c 1 -W 2 10.99.0.1 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 15 ] || { echo "no ping reply from dom0"; exit 1; }
done
ping -c 5 -q 10.99.0.1
mkdir -p /tmp/www
wget -q -O /tmp/www/payload http://10.99.0.1:8080/payload
wget -q -O /tmp/sum http://10.99.0.1:8080/payload.sha256
[ "$(sha256sum < /tmp/www/payload | cut -d' ' -f1)" = "$(cut -d' ' -f1 /tmp/sum)" ] || {
        echo "payload from dom0 corrupted"; exit 1; }
echo "payload from dom0 verified ($(wc -c < /tmp/www/payload) bytes)"
httpd -p 8080 -h /tmp/www
echo "LAB-GUEST-NET serving"
sleep 600
