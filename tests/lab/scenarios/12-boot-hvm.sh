# SPDX-License-Identifier: GPL-2.0-or-later
# description: an HVM guest (QEMU device model, direct kernel boot) with a pvbackd disk and vif: its Linux unplugs the emulated disk and NIC and uses xen-blkfront and xen-netfront, which pvbackd serves (state 4, a pattern over the disk checked in the image, pings both ways); nothing is left after xl destroy
# needs: vbd vif
# timeout: 600
scenario() {
        local img=$IMAGES/hvm.img d t0 want log out
        [ -x /usr/libexec/xen-qemu-system-i386 ] || fail "no device model (/usr/libexec/xen-qemu-system-i386: qemu-system-xen is not in the image)"
        make_image $img 16
        log=$(guest_log lab-hvm)
        rm -f "$log"
        t0=$SECONDS
        guest_create hvm-full || fail "xl create failed"
        note "xl create took $((SECONDS - t0)) s"
        d=$(domid_of lab-hvm)
        wait_log lab-hvm "LAB-GUEST-HVM ready|LAB-GUEST hvm-pv FAIL" 480 || {
                note "the end of /var/log/xen/qemu-dm-lab-hvm.log:"
                tail -n 20 /var/log/xen/qemu-dm-lab-hvm.log 2>/dev/null | sed 's/^/    | /'
                fail "the HVM guest did not finish its checks"
        }
        note "booted and checked in $((SECONDS - t0)) s"
        sed -n '/LAB-GUEST-BOOT/,$p' "$log" | tr -d '\r' | sed 's/^/    /'
        grep -aq "LAB-GUEST-HVM ready" "$log" || fail "the guest's checks failed"
        if [ "$(grep -ac "LAB-GUEST-BOOT" "$log")" -gt 1 ]; then
                xl dmesg | grep -a -A6 "Triple fault" | sed 's/^/    xen: /'
                fail "the HVM guest restarted"
        fi
        wait_connected $d vbd 51728 && wait_connected $d vif 0 || fail "pvbackd does not have domain $d's devices connected"
        [ "$(xenstore-read /local/domain/$d/device/vbd/51728/state)" = 4 ] &&
                [ "$(xenstore-read /local/domain/$d/device/vif/0/state)" = 4 ] || fail "the frontends are not connected"
        want=$(tr -d '\r' < "$log" | sed -n 's/^written \([0-9a-f]\{64\}\)$/\1/p' | tail -1)
        [ -n "$want" ] || fail "no checksum of the pattern on the guest's console"
        [ "$(sha256sum < $img | cut -d' ' -f1)" = "$want" ] || fail "the image does not hold the pattern the guest wrote"
        note "the image holds the guest's pattern ($want)"
        busybox ping -c 3 -W 3 10.99.0.6 > /tmp/ping || { cat /tmp/ping; fail "dom0 cannot ping the HVM guest"; }
        note "dom0 pings the guest: $(tail -1 /tmp/ping)"
        # libxl gave QEMU the image (emulated IDE) and a NIC on the tap
        # vifD.0-emu (through pvbackd-vif, type_if=tap); the unplug removed both.
        out=$(xl qemu-monitor-command lab-hvm "info block" 2>&1) || fail "xl qemu-monitor-command failed: $out"
        note "QEMU's block devices after the unplug: ${out:-none}"
        grep -q "$img" <<< "$out" && fail "QEMU still has the emulated disk"
        journalctl -q -o cat --since "@$LAB_SCENARIO_START" | grep -q "Successful vif-bridge add for vif$d.0-emu" ||
                fail "the emulated NIC's tap vif$d.0-emu never went through the hotplug script"
        ip -br link | grep -q "^vif$d\.0-emu" && fail "the emulated NIC's tap vif$d.0-emu is still there after the unplug"
        note "vif$d.0-emu was bridged by pvbackd-vif and is gone after the unplug; taps now: $(ip -br link | awk -v p="^vif$d\\." '$1 ~ p { printf "%s ", $1 }')"
        pvbackd_journal | sed "s/^/    j: /"
        t0=$SECONDS
        xl destroy lab-hvm || fail "xl destroy failed"
        note "xl destroy took $((SECONDS - t0)) s"
        backends_gone $d || fail "domain $d's devices outlived xl destroy"
        no_zombies || fail "a domain was left behind"
}
