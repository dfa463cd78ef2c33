# SPDX-License-Identifier: GPL-2.0-or-later
# description: disk: an access=ro disk is read-only in the guest, reads work and writes are refused; the image is unchanged
# needs: vbd
# timeout: 180
scenario() {
        make_image $IMAGES/disk-ro.img 16
        printf 'LAB-RO-CONTENT' | dd of=$IMAGES/disk-ro.img conv=notrunc 2>/dev/null
        before=$(sha256sum < $IMAGES/disk-ro.img)
        run_guest_test pv-disk-ro lab-disk-ro 120
        [ "$(sha256sum < $IMAGES/disk-ro.img)" = "$before" ] || fail "the read-only image was modified"
}
