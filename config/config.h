/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * pvbackd configuration file (/etc/xen/pvbackd.conf) parser.
 *
 * The file is INI style:
 *
 *         [section]
 *         key = value
 *
 * Comments are lines starting with '#' or ';', or an inline ';' preceded by whitespace. Every key must
 * live in a known section; unknown sections, unknown keys, duplicate keys and malformed or out-of-range
 * values are errors. All keys and their defaults are documented in config/pvbackd.conf.
 */

#include <errno.h>
#include <stdbool.h>

#ifndef PVBACKD_CONFIG_FILE
#define PVBACKD_CONFIG_FILE "/etc/xen/pvbackd.conf"
#endif

typedef enum LogTarget {
        LOG_TARGET_AUTO,
        LOG_TARGET_JOURNAL,
        LOG_TARGET_STDERR,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

#define CONFIG_CONSOLE_LOG_DIR "/var/log/xen/console"
/* Secondary consoles are device/console/1..9 (Linux's hvc_xen parses one digit). */
#define CONFIG_GUEST_CONSOLES_MAX 9
#define CONFIG_GUESTS_MAX 4096
#define CONFIG_GUEST_NAME_MAX 64
#define CONFIG_CONSOLE_LABEL_MAX 32
#define CONFIG_DISKS_MAX 4096
/* A [disk "<params>"] header must fit inih's 200-byte line with its brackets and quotes. */
#define CONFIG_DISK_NAME_MAX 190
/* The SCSI unit serial number Windows shows; xenvbd's INQUIRY limit. */
#define CONFIG_DISK_SERIAL_MAX 20

typedef enum ConsoleOutput {
        CONSOLE_OUTPUT_PTY,    /* pty: a pty whose path goes to the frontend's tty node */
        CONSOLE_OUTPUT_SOCKET, /* socket:<path>: a listening unix stream socket */
        CONSOLE_OUTPUT_LOG,    /* log: the log file (and the journal if enabled) only */
} ConsoleOutput;

typedef enum ConsoleOverflow {
        CONSOLE_OVERFLOW_DISCARD, /* drop the oldest buffered output (xenconsoled's default) */
        CONSOLE_OVERFLOW_KEEP,    /* stop reading the guest's ring until the buffer drains */
} ConsoleOverflow;

/* One `console.<label> = ...` line of a [guest "<name>"] section. */
typedef struct ConfigConsole {
        char *label;          /* [a-z0-9_-]{1,32}: written to the frontend's name node */
        ConsoleOutput output;
        char *socket_path;    /* CONSOLE_OUTPUT_SOCKET only */
        int log;              /* console.<label>.log: -1 = [console] log, 0 or 1 */
        int journal;          /* console.<label>.journal: -1 = [console] journal, 0 or 1 */
        unsigned line;
} ConfigConsole;

typedef struct ConfigGuest {
        char *name;           /* matched against /local/domain/<id>/name */
        unsigned line;
        size_t n_consoles;
        ConfigConsole consoles[CONFIG_GUEST_CONSOLES_MAX];
} ConfigGuest;

typedef enum ConfigGrantMap {
        CONFIG_GRANT_MAP_AUTO,   /* auto: map large requests where the store is safe for it */
        CONFIG_GRANT_MAP_NEVER,  /* never: always grant copy */
        CONFIG_GRANT_MAP_ALWAYS, /* always: map every READ/WRITE where the store is safe for it */
} ConfigGrantMap;

/* A [disk "<params>"] section: per-disk settings of the block backend,
 * matched against the disk's backend params node. */
typedef struct ConfigDisk {
        char *params;
        char *serial;         /* serial = 1..20 printable ASCII characters, or NULL (derived) */
        int grant_map;        /* grant-map = auto|never|always (ConfigGrantMap), default auto */
        bool persistent_grants; /* persistent-grants = yes|no: offer feature-persistent, default yes */
        unsigned line;
} ConfigDisk;

typedef struct PvbackdConfig {
        /* [daemon] */
        int log_level;                    /* log-level: syslog LOG_ERR..LOG_DEBUG, default LOG_INFO */
        LogTarget log_target;             /* log-target: auto|journal|stderr, default auto */

        /* [classes] which device classes pvbackd serves */
        bool serve_vbd;                   /* vbd, default yes */
        bool serve_vif;                   /* vif, default yes */
        bool serve_console;               /* console, default yes */

        /* [console] defaults for every console pvbackd serves */
        bool console_primary;             /* primary: default no (primary console stays with xenconsoled) */
        char *console_log_dir;            /* log-dir: absolute path; NULL means CONFIG_CONSOLE_LOG_DIR */
        bool console_log;                 /* log: write guest output to <log-dir>/guest-<name>-<label>.log, default no */
        unsigned console_log_max_size;    /* log-max-size 1024..1073741824 bytes before rotation, default 10 MiB */
        unsigned console_log_rotate;      /* log-rotate 0..100 rotated files kept, default 5 */
        bool console_journal;             /* journal: also send guest output to the journal, default no */
        unsigned console_rate_limit;      /* rate-limit 1..1000000 events per interval per console, default 30 */
        unsigned console_rate_interval_ms; /* rate-interval-ms 1..10000, default 200 */
        unsigned console_buffer_limit;    /* buffer-limit 4096..1073741824 bytes buffered per console, default 1 MiB */
        int console_overflow;             /* overflow: discard|keep (ConsoleOverflow), default discard */

        /* [guest "<name>"] sections: the secondary consoles pvbackd creates per guest name. */
        ConfigGuest *guests;
        size_t n_guests;

        /* [disk "<params>"] sections: per-disk block backend settings. */
        ConfigDisk *disks;
        size_t n_disks;

        /* [limits] */
        unsigned max_ring_page_order;     /* max-ring-page-order 0..4, default 4 */
        unsigned max_queues;              /* max-queues 1..8, default 4 */
        unsigned max_indirect_segments;   /* max-indirect-segments 0..512, default 256 (0 = no indirect) */
        unsigned max_devices_per_guest;   /* max-devices-per-guest 1..1024, default 64 */
        unsigned max_guests;              /* max-guests 1..32752, default 1024 */
        unsigned max_grants_per_guest;    /* max-grants-per-guest 64..1048576, default 16384 */
        unsigned evtchn_rate_limit;       /* evtchn-rate-limit 1..1000000 events per interval per channel, default 20000 */
        unsigned evtchn_rate_interval_ms; /* evtchn-rate-interval-ms 1..10000, default 100 */
} PvbackdConfig;

/* Sets every field of *c to its documented default. Allocates nothing: a config
 * holding only defaults needs no config_free(). */
void config_init_defaults(PvbackdConfig *c);

/* Frees what config_load() allocated (strings, [guest] sections) and resets
 * those fields; the numbers are kept. A PvbackdConfig copied by value shares
 * these allocations: free exactly one copy. */
void config_free(PvbackdConfig *c);

/* Moves a configuration: returns *c and leaves defaults (owning nothing)
 * behind, so that exactly one copy owns the allocations. */
static inline PvbackdConfig config_take(PvbackdConfig *c) {
        PvbackdConfig r = *c;
        config_init_defaults(c);
        return r;
}

/* The [guest "<name>"] section for name, or NULL. */
const ConfigGuest *config_find_guest(const PvbackdConfig *c, const char *name);
/* The [disk "<params>"] section for params, or NULL. */
const ConfigDisk *config_find_disk(const PvbackdConfig *c, const char *params);
const char *config_console_log_dir(const PvbackdConfig *c);

/*
 * Parses the configuration file at path.
 *
 * *ret is initialised with the defaults first. On success it holds the defaults overridden by the file,
 * *ret_error is set to NULL and 0 is returned.
 *
 * On success *ret may own allocations (see config_free()).
 *
 * On failure *ret holds the defaults only (never a partially parsed file), and a negative errno is
 * returned:
 *   -ENOENT   the file does not exist (the caller decides whether that is fatal),
 *   -EINVAL   syntax error, unknown section or key, duplicate key, malformed value,
 *   -ERANGE   negative, overflowing or out-of-range number,
 *   -ENOMEM   out of memory (*ret_error may then be NULL),
 *   other     errors from opening or reading the file.
 * *ret_error then receives a message (caller frees) naming the file, the line, the section and the key,
 * e.g. "/etc/xen/pvbackd.conf:12: [limits] max-ring-page-order = 9: value out of range 0..4".
 * ret_error may be NULL if the caller does not want the message. The function does not log.
 */
int config_load(const char *path, PvbackdConfig *ret, char **ret_error);

/* "auto", "journal", "stderr"; NULL for invalid values. */
const char *log_target_to_string(LogTarget t);
/* Inverse of log_target_to_string(); returns _LOG_TARGET_INVALID for unknown strings. */
LogTarget log_target_from_string(const char *s);

/* Names used by the log-level key: "err", "warning", "notice", "info", "debug" for LOG_ERR..LOG_DEBUG;
 * NULL / -EINVAL for anything else. */
const char *config_log_level_to_string(int level);
int config_log_level_from_string(const char *s);
