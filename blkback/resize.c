/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Online resize. When the backing store grows, the new `sectors` is written
 * to the backend directory; the frontends re-read the disk information on
 * backend changes (the Windows PV drivers and Linux blkfront both watch
 * the backend directory). Requests are checked against the size the daemon
 * holds, so I/O to the new area works from the moment it is published.
 *
 * Regular files: an inotify watch (IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE).
 * Our own writes raise IN_MODIFY too, so an event only arms a short timer
 * and the watch stays off until it fires: at most one size check per
 * BLK_RESIZE_COALESCE_USEC per disk, however busy the disk.
 * Block devices: no inotify event for a capacity change, so the size is
 * re-read on SIGHUP (`systemctl reload pvbackd` after lvextend).
 *
 * Shrinking is refused: the size the guest was given stays, the shrink is
 * logged once, and I/O beyond the new end fails as I/O errors would. */

#include <inttypes.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "blkback.h"

#define BLK_RESIZE_COALESCE_USEC (200 * 1000)

static void publish_sectors(Blkback *bb) {
        XenbusDevice *d = bb->dev;
        XsBatch pub = {};
        int r;

        xs_batch_printf(&pub, xenbus_device_backend_path(d), "sectors", "%" PRIu64, bb->backing.size / BLK_SECTOR_SIZE);
        r = xenbus_device_publish(d, &pub);
        xs_batch_done(&pub);
        if (r < 0)
                log_dev_warning_errno(d, r, "Cannot publish the new size of %s: %m", bb->backing.path);
}

void blk_resize_check(Blkback *bb) {
        XenbusDevice *d = bb->dev;
        uint64_t old = bb->backing.size, size = 0;
        int r;

        if (!bb->backing_open)
                return;
        r = blk_backing_check_growth(&bb->backing, &size);
        if (r == -ESTALE) {
                if (bb->shrink_logged != size) {
                        bb->shrink_logged = size;
                        log_dev_warning(d,
                                        "%s shrank from %" PRIu64 " to %" PRIu64 " bytes: refused, the guest "
                                        "keeps %" PRIu64 " sectors; I/O beyond the new end fails",
                                        bb->backing.path, old, size, old / BLK_SECTOR_SIZE);
                }
                return;
        }
        if (r < 0) {
                log_dev_warning_errno(d, r, "Cannot re-read the size of %s: %m", bb->backing.path);
                return;
        }
        if (r == 0)
                return;
        bb->shrink_logged = 0;
        log_dev_info(d, "%s grew from %" PRIu64 " to %" PRIu64 " bytes: %" PRIu64 " sectors", bb->backing.path, old,
                     bb->backing.size, bb->backing.size / BLK_SECTOR_SIZE);
        publish_sectors(bb);
}

static void drain_inotify(int fd) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

        while (read(fd, buf, sizeof buf) > 0)
                ;
}

static int on_resize_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Blkback *bb = userdata;

        (void) s;
        (void) usec;
        drain_inotify(bb->inotify_fd);
        blk_resize_check(bb);
        (void) sd_event_source_set_enabled(bb->inotify_source, SD_EVENT_ON);
        return 0;
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Blkback *bb = userdata;
        int r;

        (void) fd;
        (void) revents;
        /* Off until the timer has looked: our own writes raise IN_MODIFY. */
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (!bb->resize_timer) {
                r = sd_event_add_time_relative(xenbus_device_event(bb->dev), &bb->resize_timer, CLOCK_MONOTONIC,
                                               BLK_RESIZE_COALESCE_USEC, 0, on_resize_timer, bb);
                if (r < 0) {
                        log_dev_warning_errno(bb->dev, r, "Cannot arm the resize timer: %m");
                        drain_inotify(bb->inotify_fd);
                        blk_resize_check(bb);
                        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
                }
                return 0;
        }
        (void) sd_event_source_set_time_relative(bb->resize_timer, BLK_RESIZE_COALESCE_USEC);
        (void) sd_event_source_set_enabled(bb->resize_timer, SD_EVENT_ONESHOT);
        return 0;
}

int blk_resize_watch_start(Blkback *bb) {
        int r;

        if (bb->inotify_fd >= 0 || bb->backing.block_device)
                return 0;
        bb->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (bb->inotify_fd < 0)
                return negative_errno();
        if (inotify_add_watch(bb->inotify_fd, bb->backing.path, IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE) < 0) {
                r = negative_errno();
                blk_resize_watch_stop(bb);
                return r;
        }
        r = sd_event_add_io(xenbus_device_event(bb->dev), &bb->inotify_source, bb->inotify_fd, EPOLLIN, on_inotify, bb);
        if (r < 0) {
                blk_resize_watch_stop(bb);
                return r;
        }
        return 0;
}

void blk_resize_watch_stop(Blkback *bb) {
        bb->inotify_source = sd_event_source_disable_unref(bb->inotify_source);
        bb->resize_timer = sd_event_source_disable_unref(bb->resize_timer);
        if (bb->inotify_fd >= 0)
                close(bb->inotify_fd);
        bb->inotify_fd = -1;
}
