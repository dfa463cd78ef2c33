/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "classes.h"

extern const BackendClass vtest_class;

const BackendClass *const pvbackd_classes[] = {
        PVBACKD_BUILTIN_CLASSES
        &vtest_class,
        NULL,
};
