#!/bin/sh
# restart-io.sh start|stop: I/O that runs while dom0 restarts and kills
# pvbackd (scenario 75-restart-under-io), for a lab.test=shell guest driven
# through its console.
#
# start: checks that xvdb is a xen-blkfront disk and eth0 a xen-netfront
#   interface, clears the kernel log, then starts in the background
#   - two disk workers: each round writes 4 MiB of fresh random data to one of
#     its slots of xvdb (worker w has the 4 MiB slots w, w+2, w+4, ...) with
#     O_DIRECT and fsync, reads the slot back with O_DIRECT (the reads reach
#     the backend, not the page cache) and compares the sha256 of both;
#   - a network worker: fetches dom0's 4 MiB payload over TCP
#     (http://10.99.0.1:8081/payload) again and again and checks its sha256;
#   - busybox httpd on port 8080 serving a 4 MiB payload of its own, which
#     dom0 fetches over and over and checks against the checksum printed here.
#   Every round prints a line "rio disk wW round R slot S ok T" or
#   "rio net round R ok T" (T: seconds) on hvc0; dom0 counts them to see the
#   I/O go on after each restart. Prints "LAB-RIO-START OK <sha256 of the
#   served payload>" or "LAB-RIO-START FAIL <why>".
# stop: the workers finish their round; every slot is read back once more
#   and checked (and printed, "LAB-RIO slot S <sha256>", for dom0 to compare
#   with the image); one more transfer from dom0 must arrive intact; the
#   kernel log since start must have no I/O error and nothing from the
#   frontends. Prints "LAB-RIO disk PASS|FAIL ...", "LAB-RIO net PASS|FAIL
#   ..." and "LAB-GUEST restart-io PASS|FAIL ...".
. /lab/lib.sh
R=/tmp/rio
dev=/dev/xvdb
CHUNK=4 # MiB per slot
DOM0=http://10.99.0.1:8081

now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
drv() { basename "$(readlink "$1/driver")"; }

disk_worker() {
        w=$1 r=0 slots=$(( $(cat /sys/block/xvdb/size) / 2048 / CHUNK ))
        while [ ! -e $R/stop ]; do
                s=$((w + 2 * (r % (slots / 2))))
                head -c $((CHUNK * 1048576)) /dev/urandom > $R/w$w.data
                want=$(sha256sum < $R/w$w.data | cut -d' ' -f1)
                t0=$(now)
                if ! dd if=$R/w$w.data of=$dev bs=1M seek=$((s * CHUNK)) count=$CHUNK \
                        oflag=direct conv=fsync,notrunc 2> $R/w$w.err; then
                        echo "w$w round $r: writing slot $s failed: $(tail -1 $R/w$w.err)" | tee -a $R/disk.errors
                        rm -f $R/slot.$s # its content is unknown now
                elif ! dd if=$dev of=$R/w$w.back bs=1M skip=$((s * CHUNK)) count=$CHUNK \
                        iflag=direct 2> $R/w$w.err; then
                        echo "w$w round $r: reading slot $s back failed: $(tail -1 $R/w$w.err)" | tee -a $R/disk.errors
                        echo "$want" > $R/slot.$s
                else
                        got=$(sha256sum < $R/w$w.back | cut -d' ' -f1)
                        echo "$want" > $R/slot.$s
                        if [ "$got" = "$want" ]; then
                                t=$(since "$t0")
                                echo "$t" >> $R/disk.times
                                echo "rio disk w$w round $r slot $s ok $t"
                        else
                                echo "w$w round $r: slot $s read back $got, wrote $want" | tee -a $R/disk.errors
                        fi
                fi
                r=$((r + 1))
        done
        echo $r > $R/disk$w.done
}

net_worker() {
        r=0 want=$(cut -d' ' -f1 $R/dom0.sha256)
        while [ ! -e $R/stop ]; do
                t0=$(now)
                if timeout 20 wget -q -O $R/net.payload $DOM0/payload 2> $R/net.err; then
                        got=$(sha256sum < $R/net.payload | cut -d' ' -f1)
                        if [ "$got" = "$want" ]; then
                                t=$(since "$t0")
                                echo "$t" >> $R/net.times
                                echo "rio net round $r ok $t"
                        else
                                echo "round $r: the payload arrived corrupted ($got)" | tee -a $R/net.bad
                        fi
                else
                        echo "round $r: the transfer failed after $(since "$t0") s: $(tail -1 $R/net.err)" | tee -a $R/net.errors
                        sleep 1
                fi
                r=$((r + 1))
        done
        echo $r > $R/net.done
}

# stats FILE: "N rounds, median M s, slowest S s" of the round times in FILE.
stats() {
        [ -s "$1" ] || { echo "0 rounds"; return; }
        sort -n "$1" | awk '{ t[NR] = $1 } END { printf "%d rounds, median %.2f s, slowest %.2f s", NR, t[int((NR + 1) / 2)], t[NR] }'
}

start() {
        [ -b $dev ] || { echo "no $dev"; return 1; }
        [ "$(drv /sys/block/xvdb/device)" = vbd ] || { echo "xvdb is not driven by xen-blkfront"; return 1; }
        [ "$(drv /sys/class/net/eth0/device 2>/dev/null)" = vif ] || { echo "eth0 is not driven by xen-netfront"; return 1; }
        rm -rf $R /tmp/www
        mkdir -p $R /tmp/www
        # init configures eth0 (lab.ip=) in the background.
        i=0
        until ip addr show eth0 | grep -q "inet "; do
                i=$((i + 1)); [ $i -lt 60 ] || { echo "eth0 has no address"; return 1; }
                sleep 1
        done
        ping_dom0 3 || return 1
        wget -q -O $R/dom0.sha256 $DOM0/payload.sha256 || { echo "cannot fetch $DOM0/payload.sha256"; return 1; }
        head -c 4194304 /dev/urandom > /tmp/www/payload
        served=$(sha256sum < /tmp/www/payload | cut -d' ' -f1)
        httpd -p 8080 -h /tmp/www || { echo "cannot start httpd"; return 1; }
        # From here on the kernel log must stay free of errors.
        dmesg -c > $R/dmesg.boot
        for w in 0 1; do
                setsid sh -c ". /lab/tests/restart-io.sh; disk_worker $w" < /dev/null > /dev/hvc0 2>&1 &
        done
        setsid sh -c ". /lab/tests/restart-io.sh; net_worker" < /dev/null > /dev/hvc0 2>&1 &
        echo "LAB-RIO-START OK $served"
}

stop() {
        touch $R/stop
        i=0
        until [ -e $R/disk0.done ] && [ -e $R/disk1.done ] && [ -e $R/net.done ]; do
                i=$((i + 1)); [ $i -lt 180 ] || { echo "the workers did not finish"; break; }
                sleep 1
        done
        disk=PASS net=PASS why=""

        # Every slot once more, after all the restarts.
        for f in $R/slot.*; do
                [ -e "$f" ] || continue
                s=${f##*.}
                got=$(dd if=$dev bs=1M skip=$((s * CHUNK)) count=$CHUNK iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
                echo "LAB-RIO slot $s $got"
                [ "$got" = "$(cat "$f")" ] || echo "slot $s reads back $got at the end, wrote $(cat "$f")" >> $R/disk.errors
        done
        # The kernel's word since start.
        dmesg > $R/dmesg.run
        sed 's/^/dmesg: /' $R/dmesg.run
        grep -iE "I/O error|blk_update_request|blkfront|blkif|vbd|xvd|blocked for more than|hung task" $R/dmesg.run |
                sed 's/^/kernel: /' >> $R/disk.errors
        grep -iE "netfront|netif|vif|eth0" $R/dmesg.run | sed 's/^/kernel: /' >> $R/net.errors

        rounds="w0 $(cat $R/disk0.done 2>/dev/null) and w1 $(cat $R/disk1.done 2>/dev/null) rounds, $(stats $R/disk.times)"
        if [ -s $R/disk.errors ]; then
                disk=FAIL
                sed 's/^/disk error: /' $R/disk.errors
                why="$why disk: $(head -1 $R/disk.errors);"
        elif ! [ -s $R/disk.times ]; then
                disk=FAIL why="$why disk: no round completed;"
        fi
        echo "LAB-RIO disk $disk: $rounds; $(ls $R/slot.* 2>/dev/null | wc -l) slots verified at the end"

        # One more transfer after the restarts.
        final=failed
        timeout 20 wget -q -O $R/net.final $DOM0/payload 2>/dev/null &&
                [ "$(sha256sum < $R/net.final | cut -d' ' -f1)" = "$(cut -d' ' -f1 $R/dom0.sha256)" ] && final=ok
        [ "$final" = ok ] || echo "the transfer after the restarts failed" >> $R/net.errors
        if [ -s $R/net.bad ] || [ -s $R/net.errors ]; then
                net=FAIL
                cat $R/net.bad $R/net.errors 2>/dev/null | sed 's/^/net error: /'
                why="$why net: $(cat $R/net.bad $R/net.errors 2>/dev/null | head -1);"
        elif ! [ -s $R/net.times ]; then
                net=FAIL why="$why net: no transfer completed;"
        fi
        echo "LAB-RIO net $net: $(stats $R/net.times), $(cat $R/net.bad 2>/dev/null | wc -l) corrupted, $(cat $R/net.errors 2>/dev/null | wc -l) failed, final transfer $final"
        if [ $disk = PASS ] && [ $net = PASS ]; then
                echo "LAB-GUEST restart-io PASS"
        else
                echo "LAB-GUEST restart-io FAIL$why"
        fi
}

case "${1:-}" in
start) start > $R.start 2>&1; rc=$?; cat $R.start; [ $rc = 0 ] || echo "LAB-RIO-START FAIL $(tail -1 $R.start)" ;;
stop) stop ;;
esac
