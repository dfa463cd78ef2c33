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
