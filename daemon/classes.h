/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "xenbus.h"

/* The device classes every build serves, one line each: a class's folder
 * defines its BackendClass and sets its line to "&<name>_class,". */
#define PVBACKD_VBD_CLASS     &vbd_class,
#define PVBACKD_VIF_CLASS     &vif_class,
#define PVBACKD_CONSOLE_CLASS &console_class,

#define PVBACKD_BUILTIN_CLASSES PVBACKD_VBD_CLASS PVBACKD_VIF_CLASS PVBACKD_CONSOLE_CLASS

extern const BackendClass vbd_class, vif_class, console_class;

/* NULL-terminated list of the classes in this binary. The daemon links
 * daemon/classes.c; the simulated-Xen build links tests/sim/classes-sim.c,
 * which adds the test-only vtest class to the same built-in list. */
extern const BackendClass *const pvbackd_classes[];
