# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the scenarios (sourced by lab-dom0 in each scenario's subshell).
# A scenario fails with `fail "why"`, skips with `skip "why"`, passes by
# returning normally.

LAB=/usr/lib/pvbackd-lab
LAB_VAR=/var/lib/pvbackd-lab
GUEST_DIR=$LAB_VAR/guest
IMAGES=$LAB_VAR/images
CONSOLE_LOG=/var/log/xen/console

note() { echo "    $*"; }
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

# Domain id of NAME, or empty.
domid_of() { xl domid "$1" 2>/dev/null || true; }

# guest_create CFG [key=value ...]: xl create from $LAB/guests/CFG.cfg with
# extra settings on the command line (xl accepts them after the file).
guest_create() {
        local cfg=$1; shift
        note "xl create $cfg.cfg $*"
        xl create "$LAB/guests/$cfg.cfg" "$@"
}

# guest_log NAME: the guest's console log (xenconsoled --log=guest).
guest_log() { echo "$CONSOLE_LOG/guest-$1.log"; }

# wait_log NAME REGEX TIMEOUT: waits for a console line of NAME to match.
wait_log() {
        local name=$1 re=$2 t=${3:-120} i
        for ((i = 0; i < t * 2; i++)); do
                grep -aqE "$re" "$(guest_log "$name")" 2>/dev/null && return 0
                sleep 0.5
        done
        note "timed out after ${t}s waiting for /$re/ on $name's console; it says:"
        tail -n 20 "$(guest_log "$name")" 2>/dev/null | sed 's/^/    | /'
        return 1
}

# wait_gone NAME TIMEOUT: the domain no longer exists (not even as a zombie).
wait_gone() {
        local name=$1 t=${2:-60} i
        for ((i = 0; i < t * 2; i++)); do
                xl list 2>/dev/null | awk 'NR > 1 { print $1 }' | grep -qx "$name" || return 0
                sleep 0.5
        done
        return 1
}

# no_zombies: no domain other than dom0 is left, named or "(null)".
no_zombies() {
        local n
        n=$(xl list 2>/dev/null | awk 'NR > 2' | wc -l)
        [ "$n" -eq 0 ] || { xl list; return 1; }
}

# run_guest_test CFG NAME TIMEOUT [xl settings]: boots a guest whose test
# reports through its console and powers off; checks the verdict and that the
# domain is gone afterwards.
run_guest_test() {
        local cfg=$1 name=$2 t=$3; shift 3
        rm -f "$(guest_log "$name")"
        guest_create "$cfg" "name=\"$name\"" "$@" || fail "xl create failed"
        wait_log "$name" "LAB-GUEST [^ ]+ (PASS|FAIL)" "$t" || fail "no verdict from the guest"
        sed -n '/LAB-GUEST-BOOT/,$p' "$(guest_log "$name")" | tr -d '\r' | sed 's/^/    /'
        wait_gone "$name" 60 || fail "$name did not go away after powering off"
        grep -aq "LAB-GUEST [^ ]* PASS" "$(guest_log "$name")" || fail "the guest's test failed"
}

# Disk images for guests, created sparse in dom0.
make_image() { # PATH MiB
        mkdir -p "$(dirname "$1")"
        rm -f "$1"
        truncate -s "${2}M" "$1"
}

# Journal lines of pvbackd since the scenario started.
pvbackd_journal() { journalctl -q -o cat -u pvbackd.service --since "@$LAB_SCENARIO_START"; }

# wait_connected D CLASS DEVID TIMEOUT: backend/CLASS/D/DEVID reaches state 4
# (Connected) within TIMEOUT seconds.
wait_connected() {
        local d=$1 class=$2 dev=$3 t=${4:-30} i s
        for ((i = 0; i < t * 2; i++)); do
                s=$(xenstore-read "/local/domain/0/backend/$class/$d/$dev/state" 2>/dev/null)
                [ "$s" = 4 ] && return 0
                sleep 0.5
        done
        note "backend/$class/$d/$dev is in state '${s:-none}', not 4 (Connected), after ${t}s"
        return 1
}

# backends_gone D: nothing of domain D is left: no /local/domain/D, no vbd or
# vif backend directory, no tap vifD.*. Waits up to 10 s for the teardown.
backends_gone() {
        local d=$1 i left
        for ((i = 0; i < 20; i++)); do
                left=""
                xenstore-exists "/local/domain/$d" 2>/dev/null && left+=" /local/domain/$d"
                for c in vbd vif; do
                        [ -n "$(xenstore-list "/local/domain/0/backend/$c/$d" 2>/dev/null)" ] && left+=" backend/$c/$d"
                done
                ip -br link | grep -q "^vif$d\." && left+=" tap vif$d.*"
                [ -z "$left" ] && return 0
                sleep 0.5
        done
        note "left behind for domain $d:$left"
        return 1
}

# guest_resume_phase NAME PHASE: types "/lab/tests/resume.sh PHASE" into
# NAME's console (a lab.test=shell guest) and sets RESUME_SHA to the sha256
# the guest reports for the data it wrote; fails the scenario if the guest
# reports FAIL or nothing.
guest_resume_phase() {
        local name=$1 phase=$2 out
        out=$($LAB/lab-console "$name" "/lab/tests/resume.sh $phase" "LAB-RESUME-$phase (OK [0-9a-f]{64}|FAIL[^\n]*\n)" 120)
        sed 's/^/    | /' <<< "$out"
        grep -q "^LAB-RESUME-$phase OK" <<< "$out" || {
                # A guest that died says nothing on its console: show Xen's word.
                xl list "$name" 2>&1 | sed 's/^/    /'
                xl dmesg | tail -n 20 | sed 's/^/    xl dmesg: /'
                fail "the guest's '$phase' check: $(grep -o "LAB-RESUME-$phase FAIL.*" <<< "$out" || echo "no answer on its console")"
        }
        RESUME_SHA=$(sed -n "s/^LAB-RESUME-$phase OK \([0-9a-f]\{64\}\).*/\1/p" <<< "$out" | head -1)
}

# resume_prepare CFG NAME IP: the set-up of a save/restore or migration
# scenario: a shell guest NAME from CFG on a fresh $IMAGES/disk.img, its
# vbd and vif connected, 8 MiB written by it (guest_resume_phase before)
# and found in the image. Sets RESUME_DOMID and RESUME_BEFORE (the checksum).
resume_prepare() {
        local cfg=$1 name=$2 ip=$3 img=$IMAGES/disk.img
        make_image $img 32
        rm -f "$(guest_log "$name")"
        guest_create "$cfg" "name=\"$name\"" "extra=\"console=hvc0 quiet lab.test=shell lab.ip=$ip\"" ||
                fail "xl create failed"
        wait_log "$name" "LAB-GUEST-SHELL ready" 120 || fail "the guest's shell did not come up"
        RESUME_DOMID=$(domid_of "$name")
        wait_connected $RESUME_DOMID vbd 51728 && wait_connected $RESUME_DOMID vif 0 ||
                fail "pvbackd did not connect domain $RESUME_DOMID's devices"
        guest_resume_phase "$name" before
        [ "$(image_sha $img 0)" = "$RESUME_SHA" ] || fail "the image does not hold what the guest wrote before"
        RESUME_BEFORE=$RESUME_SHA
        note "before: 8 MiB written by domain $RESUME_DOMID are in the image ($RESUME_SHA)"
}

# resume_check NAME WHAT: after the save/restore or migration (WHAT) of
# resume_prepare's guest: a new domain NAME with its vbd and vif connected,
# the 8 MiB of before intact, 8 MiB more written by it (and in the image),
# dom0 answering its pings; then xl destroy leaves nothing.
resume_check() {
        local name=$1 what=$2 img=$IMAGES/disk.img d
        d=$(domid_of "$name")
        [ -n "$d" ] && [ "$d" != "$RESUME_DOMID" ] || fail "no new domain after the $what (domid '$d')"
        wait_connected $d vbd 51728 && wait_connected $d vif 0 || fail "pvbackd did not connect the new domain $d's devices"
        xl block-list "$name" | sed 's/^/    /'
        xl network-list "$name" | sed 's/^/    /'
        guest_resume_phase "$name" after
        [ "$(image_sha $img 0)" = "$RESUME_BEFORE" ] || fail "the image's first 8 MiB changed"
        [ "$(image_sha $img 16)" = "$RESUME_SHA" ] || fail "the image does not hold what the guest wrote after the $what"
        note "after the $what (domain $d): the data written before is intact, 8 MiB more written ($RESUME_SHA), dom0 answers pings"
        xl destroy "$name" || fail "xl destroy failed"
        backends_gone $d || fail "domain $d's devices outlived xl destroy"
        no_zombies || fail "a domain was left behind"
}

# image_sha IMAGE MiB [COUNT]: sha256 of the COUNT (8) MiB at MiB in IMAGE,
# read with O_DIRECT (what reached the file, not dom0's page cache).
image_sha() {
        dd if="$1" bs=1M skip="$2" count="${3:-8}" iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1
}

# [RIO_RESTARTS=N] restart_under_io GUEST...: pvbackd restarted and killed
# (N times in all, 6 unless set: systemctl restart, kill -9, restart, ...)
# while the guests (lab-rio-pv, lab-rio-hvm) run guest/tests/restart-io.sh
# (disk checksum loops and TCP transfers both ways with dom0); see
# 75-restart-under-io-pv.
# Their configs, IPs and MACs:
declare -gA RIO_CFG=([lab-rio-pv]=pv-full [lab-rio-hvm]=hvm-full)
declare -gA RIO_IP=([lab-rio-pv]=10.99.0.8 [lab-rio-hvm]=10.99.0.9)
declare -gA RIO_MAC=([lab-rio-pv]=00:16:3e:00:00:08 [lab-rio-hvm]=00:16:3e:00:00:09)
declare -gA RIO_DOMID RIO_SERVED
RIO_WWW=/tmp/rio-www

rio_img() { echo "$IMAGES/$1.img"; }

# rio_since T0: seconds since T0 (date +%s.%N), to the millisecond.
rio_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }

# rio_rounds NAME: disk rounds NAME's guest reported ok so far.
rio_rounds() { tr -d '\r' < "$(guest_log "$1")" | grep -ac '^rio disk w[01] round [0-9]* slot [0-9]* ok '; }

# rio_progress WHAT: each guest completes 2 more disk rounds within 120 s.
rio_progress() {
        local g t0=$SECONDS
        declare -A base
        for g in $RIO_GUESTS; do base[$g]=$(rio_rounds $g); done
        for g in $RIO_GUESTS; do
                while [ "$(rio_rounds $g)" -lt $((base[$g] + 2)) ]; do
                        ((SECONDS - t0 < 120)) || {
                                tail -n 15 "$(guest_log $g)" | tr -d '\r' | sed "s/^/    $g | /"
                                fail "$g's disk I/O did not go on $1 (2 rounds in 120 s)"
                        }
                        sleep 0.5
                done
        done
        note "  $RIO_GUESTS: 2 more disk rounds each within $((SECONDS - t0)) s $1"
}

# rio_console NAME: NAME's secondary console (pvbackd's) answers.
rio_console() {
        local out
        out=$($LAB/lab-console --num 1 "$1" 'echo LAB$((6*7))R' 'LAB42R' 30) || {
                sed 's/^/    | /' <<< "$out"
                note "no answer on $1's secondary console $2"
                return 1
        }
        note "$1's secondary console answers $2"
}

# rio_problem WHY: a failed check; the scenario goes on to the end (the
# others, xl destroy) and then fails with all of them.
rio_problem() {
        note "FAILED: $*"
        RIO_PROBLEMS+=("$*")
}

# rio_fetch_loop NAME: fetches NAME's payload from it over and over, until
# /tmp/rio-stop exists; one line per transfer in /tmp/rio-fetch-NAME.
rio_fetch_loop() {
        local g=$1 n=0 t0 got
        while [ ! -e /tmp/rio-stop ]; do
                t0=$(date +%s.%N)
                if timeout 30 busybox wget -q -O /tmp/rio-back-$g "http://${RIO_IP[$g]}:8080/payload" 2>/dev/null; then
                        got=$(sha256sum < /tmp/rio-back-$g | cut -d' ' -f1)
                        if [ "$got" = "${RIO_SERVED[$g]}" ]; then
                                echo "ok $n $(rio_since $t0)"
                        else
                                echo "BAD $n $got"
                        fi
                else
                        echo "ERR $n after $(rio_since $t0) s"
                        sleep 1
                fi
                n=$((n + 1))
        done > /tmp/rio-fetch-$g
}

rio_cleanup() {
        touch /tmp/rio-stop
        [ -n "${HTTPD_PID:-}" ] && kill "$HTTPD_PID" 2>/dev/null
        for p in ${FETCH_PIDS:-}; do kill "$p" 2>/dev/null; done
        cp /tmp/pvbackd.conf.rio /etc/xen/pvbackd.conf
        systemctl reload pvbackd.service
}

# Pauses from the journal: for each stop of pvbackd (systemd's "Stopping" or
# "Main process exited"), how long until the next process was ready
# ("Started") and until its last "Re-attached" line.
rio_pauses() {
        journalctl -q -o short-monotonic -u pvbackd.service --since "@$LAB_SCENARIO_START" | awk '
                function flush() { if (t0 != "") printf "%s: ready after %.3f s, last re-attach after %.3f s (%d devices)\n", how, ready - t0, last - t0, n }
                { if (!match($0, /^\[ *[0-9]+\.[0-9]+\]/)) next; t = substr($0, RSTART + 1, RLENGTH - 2) + 0 }
                /Stopping |Main process exited/ { if (t0 == "" || seen) { flush(); t0 = t; how = /Stopping/ ? "systemctl restart" : "kill -9"; seen = 0; n = 0; ready = t; last = t } }
                /Started / && t0 != "" { ready = t; seen = 1 }
                /Re-attached to the live rings/ && t0 != "" { last = t; n++ }
                END { flush() }'
}

restart_under_io() {
        RIO_GUESTS="$*" RIO_PROBLEMS=() RIO_RESTARTS=${RIO_RESTARTS:-6}
        local g d i n dev t0 old new out slot sum how vif_note net_skip="" net_ok=yes disk_ok=yes
        rm -f /tmp/rio-stop
        # dom0's payload for the guests to fetch.
        rm -rf $RIO_WWW && mkdir -p $RIO_WWW
        head -c 4194304 /dev/urandom > $RIO_WWW/payload
        sha256sum < $RIO_WWW/payload > $RIO_WWW/payload.sha256
        busybox httpd -f -p 10.99.0.1:8081 -h $RIO_WWW &
        HTTPD_PID=$!
        # A secondary console for each guest: pvbackd's own console device.
        cp /etc/xen/pvbackd.conf /tmp/pvbackd.conf.rio
        trap rio_cleanup EXIT
        for g in $RIO_GUESTS; do printf '\n[guest "%s"]\nconsole.lab = pty\n' $g >> /etc/xen/pvbackd.conf; done
        systemctl reload pvbackd.service || fail "pvbackd refused the configuration"

        t0=$SECONDS
        for g in $RIO_GUESTS; do
                make_image "$(rio_img $g)" 64
                rm -f "$(guest_log $g)"
                guest_create ${RIO_CFG[$g]} "name=\"$g\"" \
                        "extra=\"console=hvc0 quiet lab.test=shell lab.ip=${RIO_IP[$g]}\"" \
                        "disk=[ 'format=raw, vdev=xvdb, access=rw, script=pvbackd-block, target=$(rio_img $g)' ]" \
                        "vif=[ 'mac=${RIO_MAC[$g]}, bridge=xenbr0, script=pvbackd-vif' ]" || fail "xl create $g failed"
        done
        for g in $RIO_GUESTS; do
                [ "${RIO_CFG[$g]}" = hvm-full ] && ! [ -x /usr/libexec/xen-qemu-system-i386 ] &&
                        fail "no device model (qemu-system-xen is not in the image)"
                wait_log $g "LAB-GUEST-SHELL ready" 480 || fail "$g's shell did not come up"
                d=$(domid_of $g)
                RIO_DOMID[$g]=$d
                wait_connected $d vbd 51728 && wait_connected $d vif 0 && wait_connected $d console 1 ||
                        fail "pvbackd did not connect $g's devices"
        done
        note "up in $((SECONDS - t0)) s:$(for g in $RIO_GUESTS; do printf ' %s is domain %s' $g ${RIO_DOMID[$g]}; done)"
        for g in $RIO_GUESTS; do
                for i in $(seq 60); do
                        [ -n "$(xenstore-read /local/domain/${RIO_DOMID[$g]}/device/console/1/tty 2>/dev/null)" ] && break
                        sleep 1
                done
                rio_console $g "before the restarts" || fail "no answer on $g's secondary console before the restarts"
        done

        # The guests' I/O loops, and dom0 fetching from each guest. Typed
        # into the PV console (-t pv -n 0): `xl console` of an HVM guest
        # attaches to its emulated serial port by default.
        for g in $RIO_GUESTS; do
                out=$($LAB/lab-console --num 0 $g "/lab/tests/restart-io.sh start" "LAB-RIO-START (OK [0-9a-f]{64}|FAIL[^\n]*\n)" 180)
                sed "s/^/    $g | /" <<< "$out"
                grep -q "^LAB-RIO-START OK" <<< "$out" || fail "$g could not start its I/O: $(grep -o "LAB-RIO-START FAIL.*" <<< "$out")"
                RIO_SERVED[$g]=$(sed -n 's/^LAB-RIO-START OK \([0-9a-f]\{64\}\).*/\1/p' <<< "$out" | head -1)
        done
        FETCH_PIDS=""
        for g in $RIO_GUESTS; do
                rio_fetch_loop $g &
                FETCH_PIDS+=" $!"
        done
        rio_progress "before the restarts"

        # The restarts: systemctl restart and kill -9 in turn.
        for ((i = 1; i <= RIO_RESTARTS; i++)); do
                old=$(systemctl show -P MainPID pvbackd.service)
                t0=$(date +%s.%N)
                if ((i % 2)); then
                        how="systemctl restart"
                        systemctl restart pvbackd.service || fail "restart $i: systemctl restart failed"
                else
                        how="kill -9 $old"
                        kill -9 "$old" || fail "restart $i: cannot kill $old"
                fi
                for _ in $(seq 300); do
                        new=$(systemctl show -P MainPID pvbackd.service)
                        [ "$new" != 0 ] && [ "$new" != "$old" ] &&
                                [ "$(systemctl show -P ActiveState pvbackd.service)" = active ] && break
                        sleep 0.1
                done
                [ "$new" != 0 ] && [ "$new" != "$old" ] && [ "$(systemctl show -P ActiveState pvbackd.service)" = active ] ||
                        fail "restart $i ($how): pvbackd is not active again with a new process (MainPID $old -> $new, $(systemctl show -P ActiveState pvbackd.service))"
                note "restart $i ($how): pid $old -> $new, active again after $(rio_since $t0) s; $(systemctl show -P StatusText pvbackd.service)"
                rio_progress "after restart $i"
                sleep 2
        done

        # Stop dom0's fetching, then the guests' loops, and read their verdicts.
        touch /tmp/rio-stop
        for p in $FETCH_PIDS; do wait "$p"; done
        FETCH_PIDS=""
        for g in $RIO_GUESTS; do
                out=$($LAB/lab-console --num 0 $g "/lab/tests/restart-io.sh stop" "LAB-GUEST restart-io (PASS|FAIL)[^\n]*\n" 300)
                tr -d '\r' < "$(guest_log $g)" | grep -a "^rio disk w0 round" | tail -1 | sed "s/^/    $g | last: /"
                sed "s/^/    $g | /" <<< "$out"
                grep -q "^LAB-RIO disk PASS" <<< "$out" || { disk_ok=no; note "$g's disk loop FAILED"; }
                grep -q "^LAB-RIO net PASS" <<< "$out" || { net_ok=no; note "$g's network loop failed"; }
                grep -q "^LAB-GUEST restart-io " <<< "$out" || { disk_ok=no; note "$g gave no verdict after the restarts (through its primary console)"; }
                # What the guest read back at the end is what the image holds.
                while read -r slot sum; do
                        [ "$(image_sha "$(rio_img $g)" $((slot * 4)) 4)" = "$sum" ] ||
                                { disk_ok=no; note "$g: slot $slot of the image differs from what the guest reads"; }
                done < <(sed -n 's/^LAB-RIO slot \([0-9]*\) \([0-9a-f]\{64\}\)$/\1 \2/p' <<< "$out")
                note "$g: $(grep -c '^LAB-RIO slot' <<< "$out") slots of 4 MiB checked in the image"
                # dom0's transfers from the guest.
                note "$g: dom0 fetched its payload $(grep -c '^ok' /tmp/rio-fetch-$g) times intact, $(grep -c '^BAD' /tmp/rio-fetch-$g) corrupted, $(grep -c '^ERR' /tmp/rio-fetch-$g) failed"
                grep -q '^BAD' /tmp/rio-fetch-$g && { net_ok=no; grep '^BAD' /tmp/rio-fetch-$g | sed 's/^/    /'; }
                grep -q '^ok' /tmp/rio-fetch-$g || net_ok=no
                grep -q '^ERR' /tmp/rio-fetch-$g && { net_ok=no; grep '^ERR' /tmp/rio-fetch-$g | head -5 | sed 's/^/    /'; }
        done

        # The consoles after the restarts: the primary (xenconsoled) just
        # answered the stop; the secondary is pvbackd's.
        for g in $RIO_GUESTS; do
                rio_console $g "after the restarts" || rio_problem "$g's secondary console (pvbackd's) does not answer after the restarts"
        done

        # The journal: every disk and secondary console re-attached at every
        # restart; nothing refused.
        pvbackd_journal | grep -E "Re-attached|re-attach|Taking over|earlier|left no record|nothing took it over|Warning|rror" | sed 's/^/    j: /'
        note "pauses seen in the journal:"
        rio_pauses | sed 's/^/      /'
        pvbackd_journal | grep -q "Cannot re-attach" && rio_problem "the journal has 'Cannot re-attach'"
        n=$(pvbackd_journal | grep -c "Taking over [0-9]* event channels from the earlier process")
        [ "$n" = $RIO_RESTARTS ] || rio_problem "the journal says $n times, not $RIO_RESTARTS, 'Taking over N event channels from the earlier process'"
        for g in $RIO_GUESTS; do
                d=${RIO_DOMID[$g]}
                for dev in vbd/$d/51728 console/$d/1; do
                        n=$(pvbackd_journal | grep -c "^/local/domain/0/backend/$dev ($g): Re-attached to the live rings")
                        [ "$n" = $RIO_RESTARTS ] || rio_problem "backend/$dev ($g) was re-attached $n times, not $RIO_RESTARTS"
                done
        done

        # The network half: a pass, a failure, or a skip when this build
        # does not re-attach vifs at all.
        vif_note=""
        for g in $RIO_GUESTS; do
                d=${RIO_DOMID[$g]}
                n=$(pvbackd_journal | grep -c "^/local/domain/0/backend/vif/$d/0 ($g): Re-attached to the live rings")
                [ "$n" = $RIO_RESTARTS ] || vif_note+=" backend/vif/$d/0 re-attached $n times, not $RIO_RESTARTS;"
        done
        if [ $net_ok = no ] && [ -n "$vif_note" ] && ! pvbackd_journal | grep -q "/vif/.*Re-attached"; then
                n=$(pvbackd_journal | grep -m1 "backend/vif/.*left no record" || true)
                net_skip="vif restart not supported by this build: no vif 'Re-attached' in the journal${n:+, which says '$n'}"
        elif [ $net_ok = no ]; then
                rio_problem "the network half failed${vif_note:+ (journal:$vif_note)}"
        elif [ -n "$vif_note" ]; then
                rio_problem "the transfers survived, but the journal says:$vif_note"
        fi

        # xl destroy leaves nothing behind.
        for g in $RIO_GUESTS; do
                xl destroy $g || rio_problem "xl destroy $g failed"
        done
        for g in $RIO_GUESTS; do
                wait_gone $g 60 || rio_problem "$g still there after xl destroy"
                backends_gone ${RIO_DOMID[$g]} || rio_problem "domain ${RIO_DOMID[$g]}'s devices outlived xl destroy"
        done
        xl list | grep -q "(null)" && { xl list | sed 's/^/    /'; rio_problem "a (null) domain is left"; }
        no_zombies || rio_problem "a domain was left behind"

        [ $disk_ok = yes ] && note "disk half: PASS ($RIO_GUESTS, $RIO_RESTARTS restarts)" || rio_problem "the disk half failed (see above)"
        if ((${#RIO_PROBLEMS[@]})); then
                [ -n "$net_skip" ] && note "network half: SKIP, $net_skip"
                fail "$(printf '%s; ' "${RIO_PROBLEMS[@]}")"
        fi
        [ -n "$net_skip" ] && skip "network half: $net_skip; the disk half PASSED"
        note "network half: PASS"
}
