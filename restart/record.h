/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A connected device's record: what a restarted pvbackd needs to serve the
 * device on from where the earlier process stopped, without the frontend
 * noticing. The core keeps who the device is (backend path, the guest's
 * UUID); the class keeps the rest in its area (rings, indices, the shadow of
 * requests in flight). Made at connect, removed at disconnect or when the
 * device goes; kept when the daemon exits or dies. */

#include <stdbool.h>
#include <stddef.h>

typedef struct XenbusDevice XenbusDevice;

/* The class's area of d's record, size bytes: zeroed at a fresh connect, as
 * the earlier process left it while the core re-attaches d (then 1 is
 * returned, else 0). Call from connect(); a second call returns the same area
 * if size is unchanged. A negative errno after xenbus_device_set_error(),
 * also while re-attaching from a record that cannot be used. */
int xenbus_device_record(XenbusDevice *d, size_t size, void **ret);
/* The core is re-attaching d: connect() must take the rings as they are
 * (indices, requests in flight from the record) instead of starting them. */
bool xenbus_device_reattaching(const XenbusDevice *d);
