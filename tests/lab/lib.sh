# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the lab's host-side scripts (sourced, not run).

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(cd "$LAB_DIR/../.." && pwd)
# Outside the clone: a fresh clone or `git clean` must not cost the 700 MB base.
LAB_CACHE=${PVBACKD_LAB_CACHE:-/var/cache/pvbackd-lab}
# Per-run artefacts (image, serial log, results); not in the source tree.
LAB_RUN=${PVBACKD_LAB_RUN:-$LAB_CACHE/run}
LAB_BUILD=${PVBACKD_LAB_BUILD:-$SRC_DIR/build/lab}

lab_log() { printf '%s lab: %s\n' "$(date +%T)" "$*" >&2; }
lab_die() { lab_log "error: $*"; exit 1; }

lab_need_root() {
        [ "$(id -u)" -eq 0 ] || lab_die "run as root (mmdebstrap, mke2fs -d of a root-owned tree, apt-get)"
}

# Host packages the lab needs; installs the missing ones with apt-get.
lab_install_deps() {
        local deps=(qemu-system-x86 mmdebstrap e2fsprogs busybox-static cpio xz-utils
                    gcc pkg-config meson ninja-build libxen-dev libaio-dev libsystemd-dev libinih-dev)
        local missing=() p
        for p in "${deps[@]}"; do
                dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
        done
        [ ${#missing[@]} -eq 0 ] && return 0
        lab_log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The base image's cache key: everything that goes into the base tree.
lab_base_hash() {
        cat "$LAB_DIR/packages" "$LAB_DIR/build-base" | sha256sum | cut -c1-16
}
lab_base_dir() { echo "$LAB_CACHE/base-$(lab_base_hash)"; }

# Builds pvbackd for the image (no tests, plain release build) in $LAB_BUILD.
lab_build_pvbackd() {
        if [ ! -f "$LAB_BUILD/build.ninja" ]; then
                meson setup "$LAB_BUILD" "$SRC_DIR" --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
                        -Dtests=false -Dwerror=true >/dev/null
        fi
        ninja -C "$LAB_BUILD" -j2 >/dev/null
}
