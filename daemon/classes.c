/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "classes.h"

const BackendClass *const pvbackd_classes[] = {
        PVBACKD_BUILTIN_CLASSES
        NULL,
};
