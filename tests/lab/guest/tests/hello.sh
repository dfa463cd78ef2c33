#!/bin/sh
# Proves the guest booted its kernel and initramfs: the frontends loaded.
grep -q xen_blkfront /proc/modules || { echo "xen_blkfront not loaded"; exit 1; }
grep -q xen_netfront /proc/modules || { echo "xen_netfront not loaded"; exit 1; }
echo "kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) vcpu(s)"
