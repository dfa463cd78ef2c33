/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The tap device behind a vif: multi-queue, with the virtio-net header, one
 * non-blocking fd per queue. All queues are opened at probe, while the device
 * is still in our network namespace under the name we gave it: the hotplug
 * script may rename it (vifname=) or move it, and from then on we only ever
 * use the fds and the ifindex.
 *
 * Every queue fd is also in the service manager's FD store, under
 * tap-<domid>-<devid>-<queue>: the tap lives as long as one of its fds, so
 * a restarted or crashed pvbackd takes the same tap back (opening the name
 * again would add queues, or create a new tap if it was renamed or moved).
 * The stored copies are dropped when the device goes while the daemon runs;
 * `systemctl stop` closes them, and the tap goes with them. */

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "fdstore.h"
#include "netback.h"

static int tap_open_one(const char *name, char **ret_error) {
        struct ifreq ifr = {};
        int fd;

        fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                int r = negative_errno();
                if (asprintf(ret_error, "cannot open /dev/net/tun: %s", strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                int r = negative_errno();
                if (asprintf(ret_error,
                             "cannot create tap %s: %s%s", name, strerror(-r),
                             r == -EINVAL || r == -EBUSY ? " (an interface of that name exists and is not our tap)"
                                                         : "") < 0)
                        *ret_error = NULL;
                close(fd);
                return r;
        }
        return fd;
}

static void tap_fdname(Vif *v, unsigned i, char buf[static 48]) {
        snprintf(buf, 48, "tap-%u-%u-%u", xenbus_device_domid(v->dev), xenbus_device_devid(v->dev), i);
}

static void tap_store(Vif *v) {
        for (unsigned i = 0; i < v->n_taps; i++) {
                char name[48];
                int r;
                tap_fdname(v, i, name);
                r = fdstore_put(name, v->tap_fds[i]);
                if (r < 0) {
                        log_dev_warning_errno(v->dev, r, "Cannot store tap queue %u, the vif will not survive a restart: %m",
                                              i);
                        return;
                }
        }
}

/* The interface behind a tap fd, as it is now: a vif script may have renamed it. */
int tap_get_name(int fd, char ret[static IFNAMSIZ]) {
        struct ifreq ifr = {};

        if (ioctl(fd, TUNGETIFF, &ifr) < 0)
                return negative_errno();
        if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP || !(ifr.ifr_flags & IFF_MULTI_QUEUE))
                return -ENOTTY;
        snprintf(ret, IFNAMSIZ, "%s", ifr.ifr_name);
        return 0;
}

int tap_take_stored(Vif *v) {
        char name[48], ifname[IFNAMSIZ];
        unsigned n = 0;
        int r = 0;

        for (unsigned i = 0; i < VIF_MAX_QUEUES; i++) {
                int fd;
                tap_fdname(v, i, name);
                fd = fdstore_take(name);
                if (fd < 0)
                        break;
                if (n == i && (r = tap_get_name(fd, ifname)) >= 0)
                        v->tap_fds[n++] = fd;
                else {
                        /* Not a tap any more (deleted with its namespace), or after a gap. */
                        log_dev_warning_errno(v->dev, r, "Dropping stored tap queue %u: %m", i);
                        fdstore_remove(name);
                        close(fd);
                }
        }
        if (n == 0)
                return 0;
        v->n_taps = n;
        (void) tap_get_name(v->tap_fds[0], ifname);
        snprintf(v->ifname, sizeof v->ifname, "%s", ifname);
        /* 0 if it was moved to another namespace: the fds are all we need. */
        v->ifindex = (int) if_nametoindex(ifname);
        return (int) n;
}

int tap_rename(Vif *v, const char *name) {
        _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = {};

        if (s < 0)
                return negative_errno();
        if (!if_indextoname((unsigned) v->ifindex, ifr.ifr_name))
                return negative_errno();
        snprintf(ifr.ifr_newname, sizeof ifr.ifr_newname, "%s", name);
        if (ioctl(s, SIOCSIFNAME, &ifr) < 0)
                return negative_errno();
        snprintf(v->ifname, sizeof v->ifname, "%s", name);
        return 0;
}

int tap_open_queues(Vif *v, const char *name, unsigned n, char **ret_error) {
        int r;

        for (unsigned i = 0; i < n; i++) {
                int fd = tap_open_one(name, ret_error);
                if (fd < 0) {
                        tap_close_all(v);
                        return fd;
                }
                v->tap_fds[i] = fd;
                v->n_taps = i + 1;
        }
        v->ifindex = (int) if_nametoindex(name);
        if (v->ifindex <= 0) {
                r = negative_errno();
                tap_close_all(v);
                if (asprintf(ret_error, "tap %s vanished: %s", name, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        snprintf(v->ifname, sizeof v->ifname, "%s", name);
        /* Only queue 0 takes packets until a frontend connects more. */
        for (unsigned i = 1; i < n; i++)
                (void) tap_set_queue_attached(v->tap_fds[i], false);
        tap_store(v);
        return 0;
}

bool tap_still_ours(Vif *v) {
        struct ifreq ifr = {};

        return v->n_taps > 0 && ioctl(v->tap_fds[0], TUNGETIFF, &ifr) >= 0;
}

void tap_close_all(Vif *v) {
        /* Not persistent: closing the last fd deletes the device (the
         * store's copies are dropped too, unless the daemon is exiting). */
        for (unsigned i = 0; i < v->n_taps; i++)
                if (v->tap_fds[i] >= 0) {
                        char name[48];
                        tap_fdname(v, i, name);
                        fdstore_remove(name);
                        close(v->tap_fds[i]);
                }
        for (unsigned i = 0; i < VIF_MAX_QUEUES; i++)
                v->tap_fds[i] = -1;
        v->n_taps = 0;
        v->ifindex = 0;
}

int tap_set_queue_attached(int fd, bool attached) {
        struct ifreq ifr = { .ifr_flags = attached ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE };

        if (ioctl(fd, TUNSETQUEUE, &ifr) < 0 && errno != EINVAL) /* EINVAL: already so */
                return negative_errno();
        return 0;
}

int tap_set_offload(int fd, unsigned flags) {
        if (ioctl(fd, TUNSETOFFLOAD, flags) < 0)
                return negative_errno();
        return 0;
}

/* An interface ioctl on our tap. It is found by ifindex: after a vifname=
 * rename the name we created it with is stale. */
static int tap_ifreq_ioctl(Vif *v, unsigned long request, struct ifreq *ifr) {
        _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (s < 0)
                return negative_errno();
        if (!if_indextoname((unsigned) v->ifindex, ifr->ifr_name))
                return negative_errno();
        if (ioctl(s, request, ifr) < 0)
                return negative_errno();
        return 0;
}

int tap_set_mtu(Vif *v, unsigned mtu) {
        struct ifreq ifr = { .ifr_mtu = (int) mtu };

        return tap_ifreq_ioctl(v, SIOCSIFMTU, &ifr);
}

int tap_set_mac(Vif *v, const uint8_t mac[6]) {
        struct ifreq ifr = {};

        ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
        memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
        return tap_ifreq_ioctl(v, SIOCSIFHWADDR, &ifr);
}
