/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Opening the backing store: a raw regular file or a block device, with
 * O_DIRECT where the filesystem and the device's logical block size allow
 * it (tmpfs refuses O_DIRECT; a 4Kn device cannot take 512-byte direct I/O),
 * otherwise buffered, with durability from fdatasync on flush. */

#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "blkback.h"

static uint64_t read_sysfs_u64(dev_t rdev, const char *attr) {
        char p[128], buf[64];
        FILE *f;
        uint64_t v = 0;

        snprintf(p, sizeof p, "/sys/dev/block/%u:%u/%s", major(rdev), minor(rdev), attr);
        f = fopen(p, "re");
        if (!f)
                return 0;
        if (fgets(buf, sizeof buf, f))
                v = strtoull(buf, NULL, 10);
        fclose(f);
        return v;
}

static int query_store(BlkBacking *b, char **ret_error) {
        struct stat st;

        if (fstat(b->fd, &st) < 0)
                return negative_errno();
        b->st_dev = st.st_dev;
        b->st_ino = st.st_ino;
        b->st_rdev = st.st_rdev;
        if (S_ISBLK(st.st_mode)) {
                unsigned pbsz = 0;
                uint64_t size = 0;

                b->block_device = true;
                if (ioctl(b->fd, BLKGETSIZE64, &size) < 0)
                        return negative_errno();
                b->size = size;
                if (ioctl(b->fd, BLKPBSZGET, &pbsz) < 0)
                        pbsz = BLK_SECTOR_SIZE;
                b->physical_sector_size = pbsz;
                b->discard = read_sysfs_u64(st.st_rdev, "queue/discard_max_bytes") > 0;
                b->discard_granularity = (uint32_t) read_sysfs_u64(st.st_rdev, "queue/discard_granularity");
        } else if (S_ISREG(st.st_mode)) {
                b->block_device = false;
                b->size = (uint64_t) st.st_size;
                /* The filesystem block: writes smaller than it are read-modify-write. */
                b->physical_sector_size = st.st_blksize >= 512 && st.st_blksize <= 4096 &&
                                                          (st.st_blksize & (st.st_blksize - 1)) == 0
                                                  ? (uint32_t) st.st_blksize
                                                  : BLK_SECTOR_SIZE;
                b->discard = true; /* punch holes; EOPNOTSUPP switches the guest's discard off */
                b->discard_granularity = b->physical_sector_size;
        } else {
                if (ret_error && asprintf(ret_error, "%s is neither a regular file nor a block device", b->path) < 0)
                        *ret_error = NULL;
                return -ENOTBLK;
        }
        if (b->physical_sector_size < BLK_SECTOR_SIZE)
                b->physical_sector_size = BLK_SECTOR_SIZE;
        return 0;
}

int blk_backing_open(const char *path, bool read_only, BlkBacking *ret, char **ret_error) {
        int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY;
        BlkBacking b = { .fd = -1, .read_only = read_only };
        int r;

        *ret_error = NULL;
        b.path = strdup(path);
        if (!b.path)
                return -ENOMEM;
        b.fd = open(path, flags | O_DIRECT);
        if (b.fd >= 0)
                b.direct = true;
        else if (errno == EINVAL)
                b.fd = open(path, flags); /* no O_DIRECT here (tmpfs) */
        if (b.fd < 0) {
                r = negative_errno();
                if (asprintf(ret_error, "disk image %s: %s", path, strerror(-r)) < 0)
                        *ret_error = NULL;
                free(b.path);
                return r;
        }
        r = query_store(&b, ret_error);
        if (r < 0) {
                if (!*ret_error && asprintf(ret_error, "disk image %s: %s", path, strerror(-r)) < 0)
                        *ret_error = NULL;
                blk_backing_close(&b);
                return r;
        }
        if (b.block_device && b.direct) {
                int lbsz = 0;
                /* 512-byte units on the ring need 512-byte direct I/O. */
                if (ioctl(b.fd, BLKSSZGET, &lbsz) == 0 && lbsz > (int) BLK_SECTOR_SIZE) {
                        int fd = open(path, flags);
                        if (fd >= 0) {
                                close(b.fd);
                                b.fd = fd;
                                b.direct = false;
                        }
                }
        }
        *ret = b;
        return 0;
}

void blk_backing_close(BlkBacking *b) {
        if (b->fd >= 0)
                close(b->fd);
        free(b->path);
        *b = (BlkBacking) { .fd = -1 };
}

bool blk_backing_refresh_size(BlkBacking *b) {
        uint64_t old = b->size;

        if (b->fd < 0 || query_store(b, NULL) < 0)
                return false;
        return b->size != old;
}

/* FNV-1a 64 over the identity fields: stable while the store is the same
 * file or device, different between stores. */
static uint64_t hash64(const void *p, size_t n, uint64_t h) {
        const uint8_t *s = p;
        for (size_t i = 0; i < n; i++)
                h = (h ^ s[i]) * 1099511628211ull;
        return h;
}

static bool read_sysfs_str(dev_t rdev, const char *attr, char *buf, size_t size) {
        char p[128];
        FILE *f;
        bool ok = false;

        snprintf(p, sizeof p, "/sys/dev/block/%u:%u/%s", major(rdev), minor(rdev), attr);
        f = fopen(p, "re");
        if (!f)
                return false;
        if (fgets(buf, (int) size, f)) {
                buf[strcspn(buf, "\n")] = 0;
                ok = buf[0] != 0;
        }
        fclose(f);
        return ok;
}

int blk_backing_serial(const BlkBacking *b, char *buf, size_t size) {
        uint64_t h = 14695981039346656037ull;
        char id[256];

        if (b->block_device && (read_sysfs_str(b->st_rdev, "device/wwid", id, sizeof id) ||
                                read_sysfs_str(b->st_rdev, "device/serial", id, sizeof id) ||
                                read_sysfs_str(b->st_rdev, "dm/uuid", id, sizeof id)))
                h = hash64(id, strlen(id), h);
        else if (b->block_device)
                h = hash64(&b->st_rdev, sizeof b->st_rdev, h);
        else {
                h = hash64(&b->st_dev, sizeof b->st_dev, h);
                h = hash64(&b->st_ino, sizeof b->st_ino, h);
        }
        if ((size_t) snprintf(buf, size, "PVBD%016" PRIx64, h) >= size)
                return -ENOBUFS;
        return 0;
}
