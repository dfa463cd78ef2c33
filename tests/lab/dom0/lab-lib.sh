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
