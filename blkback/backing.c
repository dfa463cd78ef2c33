/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Opening the backing store: a raw regular file or a block device, with
 * O_DIRECT where the filesystem and the device's logical block size allow
 * it (tmpfs refuses O_DIRECT; a 4Kn device cannot take 512-byte direct I/O),
 * otherwise buffered, with durability from fdatasync on flush. */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
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

/* Whether the device does secure erase, asked without touching data: the
 * kernel (block/ioctl.c blk_ioctl_secure_erase(), since 5.19 and in 6.1)
 * answers EOPNOTSUPP before looking at the range when the device has no
 * secure erase, and EINVAL for a range past the end when it has. Needs a
 * writable fd (else EBADF: no). */
static bool has_secure_erase(int fd, uint64_t size) {
        uint64_t range[2] = { size / BLK_SECTOR_SIZE * BLK_SECTOR_SIZE, BLK_SECTOR_SIZE };

        return ioctl(fd, BLKSECDISCARD, range) < 0 && errno == EINVAL;
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
                b->secure_discard = !b->read_only && has_secure_erase(b->fd, size);
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

/* Filesystems whose O_DIRECT I/O is finished with the user pages when it
 * completes. Anything else (NFS, CIFS/SMB, Ceph, FUSE, 9p, GlusterFS, ...)
 * is treated as network storage. */
static bool fs_is_local(long type) {
        switch ((unsigned long) type) {
        case EXT4_SUPER_MAGIC: /* also ext2/ext3 */
        case XFS_SUPER_MAGIC:
        case BTRFS_SUPER_MAGIC:
        case TMPFS_MAGIC:
        case F2FS_SUPER_MAGIC:
        case 0xca451a4eul: /* bcachefs */
                return true;
        default:
                return false;
        }
}

static bool path_is_local(const char *path);

/* A block device by its sysfs directory: local if it sits on a local bus and
 * is not a network block device; loop, device-mapper and md devices are as
 * local as what they sit on. depth bounds the recursion. */
static bool sysfs_block_is_local(const char *sysdir, unsigned depth) {
        char real[PATH_MAX], p[PATH_MAX + 64], name[256];
        const char *base;
        FILE *f;

        if (depth > 4 || !realpath(sysdir, real))
                return false;
        base = strrchr(real, '/');
        base = base ? base + 1 : real;
        if (strstr(real, "/session") || strstr(real, "nvme-fabrics") || strncmp(base, "nbd", 3) == 0 ||
            strncmp(base, "rbd", 3) == 0 || strncmp(base, "drbd", 4) == 0)
                return false; /* iSCSI, NVMe-oF, NBD, Ceph RBD, DRBD */
        if (strncmp(base, "loop", 4) == 0) {
                snprintf(p, sizeof p, "%s/loop/backing_file", real);
                f = fopen(p, "re");
                if (!f)
                        return false;
                bool ok = fgets(name, sizeof name, f) != NULL;
                fclose(f);
                if (!ok)
                        return false;
                name[strcspn(name, "\n")] = 0;
                return path_is_local(name);
        }
        if (strncmp(base, "dm-", 3) == 0 || strncmp(base, "md", 2) == 0) {
                /* Local only if every device under it is. */
                DIR *dir;
                struct dirent *de;
                bool any = false, local = true;

                snprintf(p, sizeof p, "%s/slaves", real);
                dir = opendir(p);
                if (!dir)
                        return false;
                while (local && (de = readdir(dir))) {
                        if (de->d_name[0] == '.')
                                continue;
                        any = true;
                        local = snprintf(p, sizeof p, "%s/slaves/%s", real, de->d_name) < (int) sizeof p &&
                                sysfs_block_is_local(p, depth + 1);
                }
                closedir(dir);
                return any && local;
        }
        /* A partition: its disk decides. */
        snprintf(p, sizeof p, "%s/partition", real);
        if (access(p, F_OK) == 0) {
                snprintf(p, sizeof p, "%s/..", real);
                return sysfs_block_is_local(p, depth + 1);
        }
        return strncmp(real, "/sys/devices/pci", 16) == 0 || strncmp(real, "/sys/devices/platform/", 22) == 0 ||
               strncmp(real, "/sys/devices/virtual/block/zram", 31) == 0 ||
               strncmp(real, "/sys/devices/virtual/block/ram", 30) == 0;
}

static bool path_is_local(const char *path) {
        struct stat st;
        struct statfs sf;
        char p[64];

        if (stat(path, &st) < 0)
                return false;
        if (S_ISBLK(st.st_mode)) {
                snprintf(p, sizeof p, "/sys/dev/block/%u:%u", major(st.st_rdev), minor(st.st_rdev));
                return sysfs_block_is_local(p, 0);
        }
        return statfs(path, &sf) == 0 && fs_is_local(sf.f_type);
}

bool blk_backing_is_local(const BlkBacking *b) {
        char p[64];
        struct statfs sf;

        if (b->block_device) {
                snprintf(p, sizeof p, "/sys/dev/block/%u:%u", major(b->st_rdev), minor(b->st_rdev));
                return sysfs_block_is_local(p, 0);
        }
        return fstatfs(b->fd, &sf) == 0 && fs_is_local(sf.f_type);
}

int blk_backing_check_growth(BlkBacking *b, uint64_t *ret_size) {
        BlkBacking now = *b;
        int r;

        if (b->fd < 0)
                return -EBADF;
        r = query_store(&now, NULL);
        if (r < 0)
                return r;
        *ret_size = now.size;
        if (now.size == b->size)
                return 0;
        if (now.size < b->size)
                return -ESTALE; /* the guest may have data there: never shrink under it */
        b->size = now.size;
        return 1;
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
