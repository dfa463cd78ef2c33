/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>

#include "record.h"
#include "state.h"
#include "xenbus-internal.h"

#define RECORD_KIND 0x64657631u /* "dev1" */

typedef struct DeviceRecord {
        StateHeader h;
        char backend_path[128];
        uint32_t domid, devid;
        xen_domain_handle_t uuid;
        uint64_t class_size;
        uint8_t class_area[] __attribute__((aligned(16)));
} DeviceRecord;

static int name_of(const char *kind, uint32_t domid, uint32_t devid, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s-%u-%u", kind, domid, devid);

        return n < 0 || (size_t) n >= size ? -EINVAL : 0;
}

static int record_name(const XenbusDevice *d, char *buf, size_t size) {
        return name_of(d->class->kind, d->domid, d->devid, buf, size);
}

bool xenbus_device_reattaching(const XenbusDevice *d) {
        return d->reattaching;
}

int xenbus_device_record(XenbusDevice *d, size_t size, void **ret) {
        size_t total = sizeof(DeviceRecord) + size;
        DeviceRecord *rec;
        bool restored = false;
        char name[64];
        int r;

        if (d->record.addr && d->record.size == total) {
                *ret = ((DeviceRecord *) d->record.addr)->class_area;
                return d->reattaching;
        }
        if (!d->domain || strlen(d->backend_path) >= sizeof rec->backend_path)
                return xenbus_device_set_error(d, -EINVAL, "no record for a device without a domain");
        state_file_close(&d->record, false);
        r = record_name(d, name, sizeof name);
        if (r >= 0)
                r = state_file_open(name, RECORD_KIND, total, d->reattaching, &d->record, &restored);
        if (r < 0)
                return xenbus_device_set_error(d, r, "cannot keep the device's record in %s: %s", state_dir(),
                                               strerror(-r));
        rec = d->record.addr;
        if (restored &&
            (!streq(rec->backend_path, d->backend_path) || rec->domid != d->domid || rec->devid != d->devid ||
             memcmp(rec->uuid, d->domain->uuid, sizeof rec->uuid) != 0 || rec->class_size != size)) {
                /* Another guest's, or another device's: start afresh. */
                memset(rec->class_area, 0, size);
                restored = false;
        }
        if (!restored && d->reattaching)
                /* The frontend is mid-stream: starting its rings afresh would
                 * answer requests twice or never. */
                return xenbus_device_set_error(d, -ESTALE, "the record an earlier pvbackd left for this device "
                                               "cannot be used (another version, or damaged)");
        if (!restored) {
                snprintf(rec->backend_path, sizeof rec->backend_path, "%s", d->backend_path);
                rec->domid = d->domid;
                rec->devid = d->devid;
                memcpy(rec->uuid, d->domain->uuid, sizeof rec->uuid);
                rec->class_size = size;
        }
        *ret = rec->class_area;
        return restored && d->reattaching;
}

bool xenbus_record_exists(const BackendClass *c, uint32_t domid, uint32_t devid) {
        char name[64];

        return name_of(c->kind, domid, devid, name, sizeof name) == 0 && state_file_exists(name);
}

void xenbus_device_record_drop(XenbusDevice *d, bool keep_file) {
        char name[64];

        if (!d->record.addr) {
                /* Left by an earlier process for a device not re-attached. */
                if (!keep_file && record_name(d, name, sizeof name) == 0)
                        state_file_remove(name);
                return;
        }
        state_file_close(&d->record, !keep_file);
}

/* Records of devices that went while no pvbackd ran (their guest destroyed,
 * the device detached): nothing will take them over. */
void xenbus_records_sweep(Backend *b) {
        DIR *dir = opendir(state_dir());
        struct dirent *de;

        if (!dir)
                return;
        while ((de = readdir(dir))) {
                for (size_t i = 0; i < b->n_classes; i++) {
                        const char *rest = startswith(de->d_name, b->classes[i]->kind);
                        unsigned domid, devid;
                        char path[256];
                        XenbusDevice *d;
                        int n = 0;

                        if (!rest || sscanf(rest, "-%u-%u%n", &domid, &devid, &n) != 2 || rest[n] != '\0')
                                continue;
                        snprintf(path, sizeof path, BACKEND_ROOT "/%s/%u/%u", b->classes[i]->kind, domid, devid);
                        d = xenbus_device_find(b, path);
                        if (d && d->record.addr)
                                continue;
                        log_info("Removing the record of %s: no device took it over", path);
                        state_file_remove(de->d_name);
                }
        }
        closedir(dir);
}
