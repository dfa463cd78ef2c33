/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* State that outlives the process, in files under the runtime directory
 * ($RUNTIME_DIRECTORY from systemd's RuntimeDirectory=, else /run/pvbackd),
 * mapped shared: every store into them is in the page cache the moment it
 * is made, so a SIGKILL loses nothing written before it, and they survive
 * `systemctl stop` too (RuntimeDirectoryPreserve=yes); a reboot clears them
 * with the guests. Each file starts with a StateHeader saying what wrote it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_MAGIC 0x70766264u /* "pvbd" */
#define STATE_VERSION 1u

typedef struct StateHeader {
        uint32_t magic, version;
        uint32_t size;   /* of the whole file */
        uint32_t kind;   /* what the rest is: the writer's own tag */
} StateHeader;

typedef struct StateFile {
        char *path;
        void *addr;
        size_t size;
} StateFile;

/* The runtime directory, created if missing. */
const char *state_dir(void);
/* Maps name (a file in state_dir()) at size bytes. With restore, an existing
 * file of the same kind and size is kept and *ret_restored says so;
 * otherwise the file is made anew, zeroed, with its header filled in. */
int state_file_open(const char *name, uint32_t kind, size_t size, bool restore, StateFile *ret,
                    bool *ret_restored);
/* Unmaps; with remove, deletes the file (the state is no longer needed). */
void state_file_close(StateFile *f, bool remove);
/* Whether name exists (a record left by an earlier process). */
bool state_file_exists(const char *name);
void state_file_remove(const char *name);
