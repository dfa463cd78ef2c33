#!/bin/sh
# eth0 on xenbr0: ping dom0 (10.99.0.1), fetch a 4 MiB payload and its
# checksum from dom0's HTTP server and verify it, then serve it back for dom0
# to fetch and verify (both directions of TCP through the vif). dom0 destroys
# the guest once done.
set -e
. /lab/lib.sh
eth0_up 10.99.0.2
ping_dom0 5
mkdir -p /tmp/www
wget -q -O /tmp/www/payload http://10.99.0.1:8080/payload
wget -q -O /tmp/sum http://10.99.0.1:8080/payload.sha256
[ "$(sha256sum < /tmp/www/payload | cut -d' ' -f1)" = "$(cut -d' ' -f1 /tmp/sum)" ] || {
        echo "payload from dom0 corrupted"; exit 1; }
echo "payload from dom0 verified ($(wc -c < /tmp/www/payload) bytes)"
httpd -p 8080 -h /tmp/www
echo "LAB-GUEST-NET serving"
sleep 600
