/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "xenbus.h"

/* The device classes every build serves. vbd (blkback/), vif (netback/) and
 * console (consback/) are added here as they land, e.g. "&vbd_class,". */
#define PVBACKD_BUILTIN_CLASSES

/* NULL-terminated list of the classes in this binary. The daemon links
 * daemon/classes.c; the simulated-Xen build links tests/sim/classes-sim.c,
 * which adds the test-only vtest class to the same built-in list. */
extern const BackendClass *const pvbackd_classes[];
