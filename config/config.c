/* SPDX-License-Identifier: GPL-2.0-or-later */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf(), getline(), open_memstream() */
#endif

#include <assert.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "config.h"

/* Local helpers; kept private so config/ does not depend on any other part of the tree. */
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define _cleanup_(f) __attribute__((__cleanup__(f)))
#define _printf_(a, b) __attribute__((__format__(printf, a, b)))
#define WHITESPACE " \t\n\r\f\v"

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

/*
 * The key table.
 *
 * Every configurable value is one row: section, key, type, accepted range, default and the offset of the
 * field it is stored in. The parser, the defaults and the duplicate-key detection are all driven by this
 * table; adding a key means adding a field to PvbackdConfig, a row here and a paragraph in pvbackd.conf.
 *
 * Offsets are relative to a base pointer handed to config_item_assign(), not hard-wired to
 * PvbackdConfig, so that a future table for parametrised sections (see config_section_lookup()) can
 * store into a per-guest struct with the same value parsers.
 */

typedef enum ConfigType {
        CONFIG_TYPE_BOOL,     /* bool: yes/no/true/false/on/off/1/0 */
        CONFIG_TYPE_UNSIGNED, /* unsigned: decimal in [min, max] */
        CONFIG_TYPE_ENUM,     /* int: one of enum_values */
        CONFIG_TYPE_PATH,     /* char *: an absolute path, malloc'd; default NULL (freed by config_free()) */
        _CONFIG_TYPE_MAX,
} ConfigType;

typedef struct ConfigEnumValue {
        const char *name;
        int value;
} ConfigEnumValue;

typedef struct ConfigItem {
        const char *section;
        const char *key;
        ConfigType type;
        size_t offset;
        uint64_t min, max;                  /* CONFIG_TYPE_UNSIGNED only */
        const ConfigEnumValue *enum_values; /* CONFIG_TYPE_ENUM only, terminated by a NULL name */
        uint64_t def;                       /* default: 0/1 for booleans, the value for enums */
} ConfigItem;

/* Compile-time check that a field has the C type the parser will store into it. Evaluates to 0. */
#define CHECK_FIELD(field, type)                                                                          \
        (0 * sizeof(struct {                                                                              \
                _Static_assert(__builtin_types_compatible_p(__typeof__(((PvbackdConfig *) NULL)->field), \
                                                            type),                                        \
                               "PvbackdConfig." #field " does not have type " #type);                     \
                char dummy;                                                                               \
        }))

#define ITEM_BOOL(_section, _key, _field, _def)                                                          \
        {                                                                                                 \
                .section = _section, .key = _key, .type = CONFIG_TYPE_BOOL,                               \
                .offset = offsetof(PvbackdConfig, _field) + CHECK_FIELD(_field, bool), .min = 0, .max = 1, \
                .def = (_def),                                                                            \
        }

#define ITEM_UNSIGNED(_section, _key, _field, _min, _max, _def)                                              \
        {                                                                                                     \
                .section = _section, .key = _key, .type = CONFIG_TYPE_UNSIGNED,                               \
                .offset = offsetof(PvbackdConfig, _field) + CHECK_FIELD(_field, unsigned), .min = (_min),    \
                .max = (_max), .def = (_def),                                                                 \
        }

#define ITEM_ENUM(_section, _key, _field, _values, _def)                                                    \
        {                                                                                                    \
                .section = _section, .key = _key, .type = CONFIG_TYPE_ENUM,                                  \
                .offset = offsetof(PvbackdConfig, _field) + CHECK_FIELD(_field, int), .enum_values = _values, \
                .def = (_def),                                                                               \
        }

#define ITEM_PATH(_section, _key, _field)                                                                   \
        {                                                                                                    \
                .section = _section, .key = _key, .type = CONFIG_TYPE_PATH,                                  \
                .offset = offsetof(PvbackdConfig, _field) + CHECK_FIELD(_field, char *),                     \
        }

/* LogTarget is stored through an int pointer. */
_Static_assert(sizeof(LogTarget) == sizeof(int), "LogTarget must be int sized");

static const ConfigEnumValue log_level_values[] = {
        { "err", LOG_ERR },
        { "warning", LOG_WARNING },
        { "notice", LOG_NOTICE },
        { "info", LOG_INFO },
        { "debug", LOG_DEBUG },
        { NULL, 0 },
};

static const ConfigEnumValue log_target_values[] = {
        { "auto", LOG_TARGET_AUTO },
        { "journal", LOG_TARGET_JOURNAL },
        { "stderr", LOG_TARGET_STDERR },
        { NULL, 0 },
};

static const ConfigEnumValue console_overflow_values[] = {
        { "discard", CONSOLE_OVERFLOW_DISCARD },
        { "keep", CONSOLE_OVERFLOW_KEEP },
        { NULL, 0 },
};

/* Keep in sync with config.h and pvbackd.conf. */
static const ConfigItem config_items[] = {
        ITEM_ENUM("daemon", "log-level", log_level, log_level_values, LOG_INFO),
        /* LogTarget is an enum, which CHECK_FIELD() does not consider compatible with int. */
        {
                .section = "daemon", .key = "log-target", .type = CONFIG_TYPE_ENUM,
                .offset = offsetof(PvbackdConfig, log_target), .enum_values = log_target_values,
                .def = LOG_TARGET_AUTO,
        },

        ITEM_BOOL("classes", "vbd", serve_vbd, true),
        ITEM_BOOL("classes", "vif", serve_vif, true),
        ITEM_BOOL("classes", "console", serve_console, true),

        ITEM_BOOL("console", "primary", console_primary, false),
        ITEM_PATH("console", "log-dir", console_log_dir),
        ITEM_BOOL("console", "log", console_log, false),
        ITEM_UNSIGNED("console", "log-max-size", console_log_max_size, 1024, 1073741824, 10485760),
        ITEM_UNSIGNED("console", "log-rotate", console_log_rotate, 0, 100, 5),
        ITEM_BOOL("console", "journal", console_journal, false),
        ITEM_UNSIGNED("console", "rate-limit", console_rate_limit, 1, 1000000, 30),
        ITEM_UNSIGNED("console", "rate-interval-ms", console_rate_interval_ms, 1, 10000, 200),
        ITEM_UNSIGNED("console", "buffer-limit", console_buffer_limit, 4096, 1073741824, 1048576),
        ITEM_ENUM("console", "overflow", console_overflow, console_overflow_values, CONSOLE_OVERFLOW_DISCARD),

        ITEM_UNSIGNED("limits", "max-ring-page-order", max_ring_page_order, 0, 4, 4),
        ITEM_UNSIGNED("limits", "max-queues", max_queues, 1, 8, 4),
        ITEM_UNSIGNED("limits", "max-indirect-segments", max_indirect_segments, 0, 512, 256),
        ITEM_UNSIGNED("limits", "max-devices-per-guest", max_devices_per_guest, 1, 1024, 64),
        ITEM_UNSIGNED("limits", "max-guests", max_guests, 1, 32752, 1024),
        ITEM_UNSIGNED("limits", "max-grants-per-guest", max_grants_per_guest, 64, 1048576, 16384),
        ITEM_UNSIGNED("limits", "evtchn-rate-limit", evtchn_rate_limit, 1, 1000000, 20000),
        ITEM_UNSIGNED("limits", "evtchn-rate-interval-ms", evtchn_rate_interval_ms, 1, 10000, 100),
};

static const char *enum_to_string(const ConfigEnumValue *values, int v) {
        for (const ConfigEnumValue *e = values; e->name; e++)
                if (e->value == v)
                        return e->name;
        return NULL;
}

static int enum_from_string(const ConfigEnumValue *values, const char *s) {
        assert(s);

        for (const ConfigEnumValue *e = values; e->name; e++)
                if (strcmp(e->name, s) == 0)
                        return e->value;
        return -EINVAL;
}

const char *log_target_to_string(LogTarget t) {
        return enum_to_string(log_target_values, t);
}

LogTarget log_target_from_string(const char *s) {
        int r = enum_from_string(log_target_values, s);
        return r < 0 ? _LOG_TARGET_INVALID : (LogTarget) r;
}

const char *config_log_level_to_string(int level) {
        return enum_to_string(log_level_values, level);
}

int config_log_level_from_string(const char *s) {
        return enum_from_string(log_level_values, s);
}

static void config_item_set(const ConfigItem *item, void *base, uint64_t v) {
        uint8_t *p = (uint8_t *) base + item->offset;

        switch (item->type) {
        case CONFIG_TYPE_BOOL:
                *(bool *) p = v != 0;
                break;
        case CONFIG_TYPE_UNSIGNED:
                *(unsigned *) p = (unsigned) v;
                break;
        case CONFIG_TYPE_ENUM:
                *(int *) p = (int) v;
                break;
        case CONFIG_TYPE_PATH:
                /* Only the default (NULL) goes through here; values are set in config_item_assign(). */
                *(char **) p = NULL;
                break;
        default:
                assert(!"unknown config item type");
        }
}

void config_init_defaults(PvbackdConfig *c) {
        assert(c);

        memset(c, 0, sizeof(*c));
        for (size_t i = 0; i < ELEMENTSOF(config_items); i++)
                config_item_set(config_items + i, c, config_items[i].def);
}

/* Value parsers. On failure they return a negative errno and a static description of the problem. */

static int parse_boolean_strict(const char *s, bool *ret, const char **ret_reason) {
        static const char *const yes[] = { "1", "yes", "true", "on" }, *const no[] = { "0", "no", "false", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }

        *ret_reason = "invalid boolean, expected yes|no|true|false|on|off|1|0";
        return -EINVAL;
}

/* Plain decimal digits only: no sign, no whitespace, no base prefix, nothing after the number. Leading
 * zeros are accepted and do not mean octal. */
static int parse_unsigned_strict(const char *s, uint64_t *ret, const char **ret_reason) {
        unsigned long long v;
        char *end;

        if (*s == '\0') {
                *ret_reason = "empty value, expected a number";
                return -EINVAL;
        }
        if (*s == '-') {
                *ret_reason = "negative values are not allowed";
                return -ERANGE;
        }
        if (*s == '+') {
                *ret_reason = "explicit sign not allowed";
                return -EINVAL;
        }
        if (*s < '0' || *s > '9') {
                *ret_reason = "not a number";
                return -EINVAL;
        }

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE) {
                *ret_reason = "number too large";
                return -ERANGE;
        }
        if (errno != 0 || end == s) {
                *ret_reason = "not a number";
                return -EINVAL;
        }
        if (*end != '\0') {
                *ret_reason = "trailing characters after number";
                return -EINVAL;
        }

        *ret = v;
        return 0;
}

typedef struct ConfigParser ConfigParser;

/*
 * Named sections: [<kind> "<name>"], e.g. [guest "web01"]. Each kind is one row: open() is called on the
 * header (the name already unquoted and checked to be printable, without '"', '\\', '[', ']', ';', '#',
 * whitespace) and makes the section current; assign() gets its keys. A later [disk "<params>"] kind is
 * another row with its own struct hung off PvbackdConfig.
 */
typedef struct ConfigSectionKind {
        const char *kind;
        size_t name_max;
        int (*open)(ConfigParser *p, const char *name);
        int (*assign)(ConfigParser *p, const char *key, const char *value);
} ConfigSectionKind;

struct ConfigParser {
        const char *path;
        FILE *f;
        char *line;
        size_t line_allocated;
        unsigned line_no;        /* number of the line last handed to inih */

        PvbackdConfig config;
        unsigned seen[ELEMENTSOF(config_items)]; /* line an item was set on, 0 if not yet */

        const ConfigSectionKind *named; /* the current section is [<named->kind> "<name>"] */
        char *named_header;      /* its header as written, for messages: 'guest "web01"' */
        ConfigGuest *guest;      /* [guest]: the section being parsed */
        ConfigDisk *disk;        /* [disk]: the section being parsed */
        unsigned disk_seen_serial, disk_seen_grant_map, disk_seen_persistent; /* lines of its keys, 0 if not yet */

        int r;                   /* first error, 0 if none so far */
        char *error;             /* message for it */
};

/* Records the first error as "path:line: <context>: <reason>" and returns error. Later errors are not
 * recorded: parsing stops at the first one. */
_printf_(3, 4) static int parser_fail(ConfigParser *p, int error, const char *format, ...) {
        _cleanup_(freep) char *msg = NULL;
        va_list ap;
        int k;

        assert(error < 0);

        if (p->r < 0)
                return p->r;

        va_start(ap, format);
        k = vasprintf(&msg, format, ap);
        va_end(ap);
        if (k < 0) {
                p->r = -ENOMEM;
                return p->r;
        }

        if (asprintf(&p->error, "%s:%u: %s", p->path, p->line_no, msg) < 0) {
                p->error = NULL;
                p->r = -ENOMEM;
                return p->r;
        }

        p->r = error;
        return error;
}

static bool section_known(const char *section) {
        for (size_t i = 0; i < ELEMENTSOF(config_items); i++)
                if (strcmp(config_items[i].section, section) == 0)
                        return true;
        return false;
}

/* ---- [guest "<name>"]: per-guest console declarations ------------------------------------------------ */

static bool label_valid(const char *s, size_t n) {
        if (n == 0 || n > CONFIG_CONSOLE_LABEL_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
                        return false;
        return true;
}

static int guest_section_open(ConfigParser *p, const char *name) {
        PvbackdConfig *c = &p->config;
        ConfigGuest *g;

        for (size_t i = 0; i < c->n_guests; i++)
                if (strcmp(c->guests[i].name, name) == 0)
                        return parser_fail(p, -EINVAL, "[%s]: duplicate section, already on line %u", p->named_header,
                                           c->guests[i].line);
        if (c->n_guests >= CONFIG_GUESTS_MAX)
                return parser_fail(p, -ERANGE, "[%s]: more than %u guest sections", p->named_header,
                                   CONFIG_GUESTS_MAX);

        g = realloc(c->guests, (c->n_guests + 1) * sizeof *g);
        if (!g)
                return parser_fail(p, -ENOMEM, "out of memory");
        c->guests = g;
        g = &c->guests[c->n_guests];
        *g = (ConfigGuest) { .name = strdup(name), .line = p->line_no };
        if (!g->name)
                return parser_fail(p, -ENOMEM, "out of memory");
        c->n_guests++;
        p->guest = g;
        return 0;
}

static ConfigConsole *guest_find_console(ConfigGuest *g, const char *label, size_t n) {
        for (size_t i = 0; i < g->n_consoles; i++)
                if (strlen(g->consoles[i].label) == n && strncmp(g->consoles[i].label, label, n) == 0)
                        return &g->consoles[i];
        return NULL;
}

/* console.<label> = pty | socket:<absolute path> | log
 * console.<label>.log = <boolean>, console.<label>.journal = <boolean> */
static int guest_section_assign(ConfigParser *p, const char *key, const char *value) {
        ConfigGuest *g = p->guest;
        const char *label = key + strlen("console."), *option;
        const char *reason = NULL;
        ConfigConsole *con;
        size_t n;
        bool b;
        int r;

        if (strncmp(key, "console.", strlen("console.")) != 0)
                return parser_fail(p, -EINVAL, "[%s] %s = %s: unknown key", p->named_header, key, value);
        n = strcspn(label, ".");
        option = label[n] == '.' ? label + n + 1 : NULL;
        if (!label_valid(label, n))
                return parser_fail(p, -EINVAL, "[%s] %s = %s: invalid console label, expected 1..%u of [a-z0-9_-]",
                                   p->named_header, key, value, CONFIG_CONSOLE_LABEL_MAX);
        con = guest_find_console(g, label, n);

        if (option) {
                bool is_log = strcmp(option, "log") == 0;
                int *field;

                if (!is_log && strcmp(option, "journal") != 0)
                        return parser_fail(p, -EINVAL, "[%s] %s = %s: unknown key", p->named_header, key, value);
                if (!con)
                        return parser_fail(p, -EINVAL, "[%s] %s = %s: console '%.*s' must be declared first",
                                           p->named_header, key, value, (int) n, label);
                field = is_log ? &con->log : &con->journal;
                if (*field >= 0)
                        return parser_fail(p, -EINVAL, "[%s] %s = %s: duplicate key", p->named_header, key, value);
                r = parse_boolean_strict(value, &b, &reason);
                if (r < 0)
                        return parser_fail(p, r, "[%s] %s = %s: %s", p->named_header, key, value, reason);
                *field = b;
                return 0;
        }

        if (con)
                return parser_fail(p, -EINVAL, "[%s] %s = %s: duplicate key, already set on line %u",
                                   p->named_header, key, value, con->line);
        if (g->n_consoles >= CONFIG_GUEST_CONSOLES_MAX)
                return parser_fail(p, -ERANGE, "[%s] %s = %s: more than %u consoles for one guest", p->named_header,
                                   key, value, CONFIG_GUEST_CONSOLES_MAX);

        con = &g->consoles[g->n_consoles];
        *con = (ConfigConsole) { .log = -1, .journal = -1, .line = p->line_no };
        if (strcmp(value, "pty") == 0)
                con->output = CONSOLE_OUTPUT_PTY;
        else if (strcmp(value, "log") == 0)
                con->output = CONSOLE_OUTPUT_LOG;
        else if (strncmp(value, "socket:", strlen("socket:")) == 0) {
                const char *path = value + strlen("socket:");

                /* sun_path holds 107 characters and the NUL. */
                if (path[0] != '/' || strlen(path) > 107)
                        return parser_fail(p, -EINVAL, "[%s] %s = %s: socket path must be absolute and at most 107 characters",
                                           p->named_header, key, value);
                con->output = CONSOLE_OUTPUT_SOCKET;
                con->socket_path = strdup(path);
                if (!con->socket_path)
                        return parser_fail(p, -ENOMEM, "out of memory");
        } else
                return parser_fail(p, -EINVAL, "[%s] %s = %s: invalid console output, expected pty|socket:<path>|log",
                                   p->named_header, key, value);
        con->label = strndup(label, n);
        if (!con->label) {
                free(con->socket_path);
                return parser_fail(p, -ENOMEM, "out of memory");
        }
        g->n_consoles++;
        return 0;
}

/* ---- [disk "<params>"]: per-disk block backend settings ---------------------------------------------- */

static int disk_section_open(ConfigParser *p, const char *name) {
        PvbackdConfig *c = &p->config;
        ConfigDisk *d;

        for (size_t i = 0; i < c->n_disks; i++)
                if (strcmp(c->disks[i].params, name) == 0)
                        return parser_fail(p, -EINVAL, "[%s]: duplicate section, already on line %u", p->named_header,
                                           c->disks[i].line);
        if (c->n_disks >= CONFIG_DISKS_MAX)
                return parser_fail(p, -ERANGE, "[%s]: more than %u disk sections", p->named_header, CONFIG_DISKS_MAX);

        d = realloc(c->disks, (c->n_disks + 1) * sizeof *d);
        if (!d)
                return parser_fail(p, -ENOMEM, "out of memory");
        c->disks = d;
        d = &c->disks[c->n_disks];
        *d = (ConfigDisk) { .params = strdup(name), .grant_map = CONFIG_GRANT_MAP_AUTO, .persistent_grants = true,
                            .line = p->line_no };
        if (!d->params)
                return parser_fail(p, -ENOMEM, "out of memory");
        c->n_disks++;
        p->disk = d;
        p->disk_seen_serial = p->disk_seen_grant_map = p->disk_seen_persistent = 0;
        return 0;
}

/* serial = <1..20 printable ASCII characters, no spaces at either end>
 * grant-map = auto | never | always
 * persistent-grants = yes | no */
static int disk_section_assign(ConfigParser *p, const char *key, const char *value) {
        ConfigDisk *d = p->disk;
        size_t n = strlen(value);

        if (strcmp(key, "serial") == 0) {
                if (p->disk_seen_serial > 0)
                        return parser_fail(p, -EINVAL, "[%s] %s = %s: duplicate key, already set on line %u",
                                           p->named_header, key, value, p->disk_seen_serial);
                if (n == 0 || n > CONFIG_DISK_SERIAL_MAX)
                        return parser_fail(p, -EINVAL, "[%s] %s = %s: must be 1..%u characters", p->named_header, key,
                                           value, CONFIG_DISK_SERIAL_MAX);
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) value[i] < 0x20 || (unsigned char) value[i] >= 0x7f)
                                return parser_fail(p, -EINVAL, "[%s] %s = %s: only printable ASCII is allowed",
                                                   p->named_header, key, value);
                d->serial = strdup(value);
                if (!d->serial)
                        return parser_fail(p, -ENOMEM, "out of memory");
                p->disk_seen_serial = p->line_no;
                return 0;
        }
        if (strcmp(key, "grant-map") == 0) {
                if (p->disk_seen_grant_map > 0)
                        return parser_fail(p, -EINVAL, "[%s] %s = %s: duplicate key, already set on line %u",
                                           p->named_header, key, value, p->disk_seen_grant_map);
                if (strcmp(value, "auto") == 0)
                        d->grant_map = CONFIG_GRANT_MAP_AUTO;
                else if (strcmp(value, "never") == 0)
                        d->grant_map = CONFIG_GRANT_MAP_NEVER;
                else if (strcmp(value, "always") == 0)
                        d->grant_map = CONFIG_GRANT_MAP_ALWAYS;
                else
                        return parser_fail(p, -EINVAL, "[%s] %s = %s: expected auto|never|always", p->named_header,
                                           key, value);
                p->disk_seen_grant_map = p->line_no;
                return 0;
        }
        if (strcmp(key, "persistent-grants") == 0) {
                const char *reason;
                int r;

                if (p->disk_seen_persistent > 0)
                        return parser_fail(p, -EINVAL, "[%s] %s = %s: duplicate key, already set on line %u",
                                           p->named_header, key, value, p->disk_seen_persistent);
                r = parse_boolean_strict(value, &d->persistent_grants, &reason);
                if (r < 0)
                        return parser_fail(p, r, "[%s] %s = %s: %s", p->named_header, key, value, reason);
                p->disk_seen_persistent = p->line_no;
                return 0;
        }
        return parser_fail(p, -EINVAL, "[%s] %s = %s: unknown key", p->named_header, key, value);
}

static const ConfigSectionKind named_section_kinds[] = {
        { "guest", CONFIG_GUEST_NAME_MAX, guest_section_open, guest_section_assign },
        { "disk", CONFIG_DISK_NAME_MAX, disk_section_open, disk_section_assign },
};

/* Splits 'kind "name"'; 0 and the kind's row if it is one, -ENOENT if the section is not of that form. */
static int named_section_parse(ConfigParser *p, const char *section, const ConfigSectionKind **ret_kind,
                               char **ret_name) {
        const char *q = strchr(section, ' ');
        size_t kind_len, name_len;
        const char *name;

        if (!q || q[1] != '"')
                return -ENOENT;
        kind_len = (size_t) (q - section);
        name = q + 2;
        name_len = strcspn(name, "\"");
        if (name[name_len] != '"' || name[name_len + 1] != '\0')
                return parser_fail(p, -EINVAL, "[%s]: expected [<kind> \"<name>\"]", section);
        for (size_t i = 0; i < ELEMENTSOF(named_section_kinds); i++) {
                const ConfigSectionKind *k = named_section_kinds + i;

                if (strlen(k->kind) != kind_len || strncmp(k->kind, section, kind_len) != 0)
                        continue;
                if (name_len == 0 || name_len > k->name_max)
                        return parser_fail(p, -EINVAL, "[%s]: name must be 1..%zu characters", section, k->name_max);
                for (size_t j = 0; j < name_len; j++)
                        if ((unsigned char) name[j] <= ' ' || (unsigned char) name[j] >= 0x7f ||
                            strchr("\\[];#", name[j]))
                                return parser_fail(p, -EINVAL, "[%s]: invalid character in name", section);
                *ret_kind = k;
                *ret_name = strndup(name, name_len);
                return *ret_name ? 0 : parser_fail(p, -ENOMEM, "out of memory");
        }
        return parser_fail(p, -EINVAL, "[%s]: unknown section", section);
}

static int config_section_lookup(ConfigParser *p, const char *section) {
        const ConfigSectionKind *kind = NULL;
        char *name = NULL;
        int r;

        /* Every header ends the previous named section. inih truncates section names to 50 bytes, so named
         * sections are tracked here, where the whole line is available, and not by inih's section string. */
        p->named = NULL;
        p->guest = NULL;
        p->disk = NULL;
        free(p->named_header);
        p->named_header = NULL;

        r = named_section_parse(p, section, &kind, &name);
        if (r == 0) {
                p->named_header = strdup(section);
                if (!p->named_header) {
                        free(name);
                        return parser_fail(p, -ENOMEM, "out of memory");
                }
                p->named = kind;
                r = kind->open(p, name);
                free(name);
                return r;
        }
        if (r != -ENOENT)
                return r;

        if (!section_known(section))
                return parser_fail(p, -EINVAL, "[%s]: unknown section", section);

        return 0;
}

static int config_item_assign(ConfigParser *p, const ConfigItem *item, void *base, const char *value) {
        const char *reason = NULL;
        uint64_t v = 0;
        bool b = false;
        int r;

        switch (item->type) {
        case CONFIG_TYPE_BOOL:
                r = parse_boolean_strict(value, &b, &reason);
                v = b;
                break;

        case CONFIG_TYPE_UNSIGNED:
                r = parse_unsigned_strict(value, &v, &reason);
                if (r >= 0 && (v < item->min || v > item->max))
                        return parser_fail(p, -ERANGE, "[%s] %s = %s: value out of range %" PRIu64 "..%" PRIu64,
                                           item->section, item->key, value, item->min, item->max);
                break;

        case CONFIG_TYPE_PATH: {
                char **field = (char **) (void *) ((uint8_t *) base + item->offset);

                if (value[0] != '/' || strlen(value) >= 4096)
                        return parser_fail(p, -EINVAL, "[%s] %s = %s: expected an absolute path", item->section,
                                           item->key, value);
                free(*field);
                *field = strdup(value);
                if (!*field)
                        return parser_fail(p, -ENOMEM, "out of memory");
                return 0;
        }

        case CONFIG_TYPE_ENUM:
                r = enum_from_string(item->enum_values, value);
                if (r < 0) {
                        _cleanup_(freep) char *expected = NULL;
                        size_t n = 0;
                        FILE *f;

                        /* List the accepted values in the message. */
                        f = open_memstream(&expected, &n);
                        if (!f)
                                return parser_fail(p, -ENOMEM, "out of memory");
                        for (const ConfigEnumValue *e = item->enum_values; e->name; e++)
                                fprintf(f, "%s%s", e == item->enum_values ? "" : "|", e->name);
                        if (fclose(f) != 0)
                                return parser_fail(p, -ENOMEM, "out of memory");

                        return parser_fail(p, -EINVAL, "[%s] %s = %s: invalid value, expected %s",
                                           item->section, item->key, value, expected);
                }
                v = (uint64_t) r;
                break;

        default:
                assert(!"unknown config item type");
                return -EINVAL;
        }
        if (r < 0)
                return parser_fail(p, r, "[%s] %s = %s: %s", item->section, item->key, value, reason);

        config_item_set(item, base, v);
        return 0;
}

static int config_parse_assignment(ConfigParser *p, const char *section, const char *key, const char *value) {
        if (section[0] == '\0')
                return parser_fail(p, -EINVAL, "%s = %s: key outside of any section", key, value);

        if (p->named)
                return p->named->assign(p, key, value);

        for (size_t i = 0; i < ELEMENTSOF(config_items); i++) {
                const ConfigItem *item = config_items + i;

                if (strcmp(item->section, section) != 0 || strcmp(item->key, key) != 0)
                        continue;

                if (p->seen[i] > 0)
                        return parser_fail(p, -EINVAL, "[%s] %s = %s: duplicate key, already set on line %u",
                                           section, key, value, p->seen[i]);
                p->seen[i] = p->line_no;

                return config_item_assign(p, item, &p->config, value);
        }

        /* The reader has already rejected unknown sections; be defensive anyway. */
        if (!section_known(section))
                return parser_fail(p, -EINVAL, "[%s] %s = %s: unknown section", section, key, value);

        return parser_fail(p, -EINVAL, "[%s] %s = %s: unknown key", section, key, value);
}

static int ini_handler_cb(void *userdata, const char *section, const char *name, const char *value) {
        ConfigParser *p = userdata;

        if (p->r < 0)
                return 0;

        /* INI_ALLOW_NO_VALUE is off in Debian's build, but do not crash should that ever change. */
        if (!value) {
                (void) parser_fail(p, -EINVAL, "%s: expected 'key = value'", name);
                return 0;
        }

        return config_parse_assignment(p, section, name, value) < 0 ? 0 : 1;
}

/* Like inih's find_chars_or_comment(): the first character in chars, or the start of an inline comment
 * (';' preceded by whitespace), or the terminating NUL. */
static char *find_chars_or_comment(char *s, const char *chars) {
        bool was_space = false;

        for (; *s; s++) {
                if (strchr(chars, *s) || (was_space && *s == ';'))
                        break;
                was_space = strchr(WHITESPACE, *s);
        }
        return s;
}

static char *rstrip(char *s) {
        size_t n = strlen(s);

        while (n > 0 && strchr(WHITESPACE, s[n - 1]))
                s[--n] = '\0';
        return s;
}

/* Validates a "[section]" line. Returns 0 if it is fine (inih will then parse it), negative errno after
 * recording the error otherwise. */
static int reader_check_section_line(ConfigParser *p, const char *line) {
        _cleanup_(freep) char *copy = strdup(line);
        char *end, *rest;

        if (!copy)
                return parser_fail(p, -ENOMEM, "out of memory");

        end = find_chars_or_comment(copy + 1, "]");
        if (*end != ']')
                return parser_fail(p, -EINVAL, "%s: missing ']' in section header", line);
        *end = '\0';

        /* inih silently ignores anything after the ']'; only allow a comment there. */
        rest = end + 1 + strspn(end + 1, WHITESPACE);
        if (*rest != '\0' && *rest != '#' && *rest != ';')
                return parser_fail(p, -EINVAL, "[%s]: trailing characters after section header", copy + 1);

        return config_section_lookup(p, copy + 1);
}

/* Validates a line that is not empty, not a comment and not a section header. */
static int reader_check_assignment_line(ConfigParser *p, const char *line) {
        _cleanup_(freep) char *copy = strdup(line);
        char *sep;

        if (!copy)
                return parser_fail(p, -ENOMEM, "out of memory");

        /* inih also accepts "key: value"; we insist on one syntax. */
        sep = find_chars_or_comment(copy, "=:");
        if (*sep != '=')
                return parser_fail(p, -EINVAL, "%s: expected 'key = value'", rstrip(copy));
        if (sep == copy)
                return parser_fail(p, -EINVAL, "%s: missing key name", rstrip(copy));

        return 0;
}

/*
 * ini_reader for ini_parse_stream(). Reading the lines ourselves gives us:
 *  - the line number (Debian's inih is built without INI_HANDLER_LINENO): inih asks for exactly one line
 *    per call, so p->line_no is the line the handler is being called for;
 *  - rejection of lines too long for inih's buffer, which inih would otherwise silently split in two;
 *  - rejection of embedded NUL bytes, which would silently truncate the line;
 *  - removal of leading whitespace, so that an indented line is never taken as a continuation of the
 *    previous value (INI_ALLOW_MULTILINE) but parsed as what it looks like;
 *  - strict checks of section headers and separators with precise messages.
 * Returning NULL ends the parse; we do that at EOF and on the first error.
 */
static char *ini_reader_cb(char *buf, int size, void *userdata) {
        static const char bom[] = "\xEF\xBB\xBF";
        ConfigParser *p = userdata;
        ssize_t n;
        char *s;
        size_t l;

        assert(size > 0);

        if (p->r < 0)
                return NULL;

        errno = 0;
        n = getline(&p->line, &p->line_allocated, p->f);
        if (n < 0) {
                if (ferror(p->f)) {
                        int error = errno > 0 ? -errno : -EIO;

                        p->line_no++;
                        parser_fail(p, error, "read error: %s", strerror(-error));
                }
                return NULL;
        }
        p->line_no++;

        if ((size_t) n != strlen(p->line)) {
                parser_fail(p, -EINVAL, "NUL byte in line");
                return NULL;
        }

        s = p->line;
        if (p->line_no == 1 && strncmp(s, bom, strlen(bom)) == 0)
                s += strlen(bom);
        s += strspn(s, WHITESPACE);
        rstrip(s);

        l = strlen(s);
        if (l >= (size_t) size) {
                parser_fail(p, -EINVAL, "line too long (more than %d characters)", size - 1);
                return NULL;
        }

        if (s[0] == '[') {
                if (reader_check_section_line(p, s) < 0)
                        return NULL;
        } else if (s[0] != '\0' && !strchr("#;", s[0])) {
                if (reader_check_assignment_line(p, s) < 0)
                        return NULL;
        }

        memcpy(buf, s, l + 1);
        return buf;
}

void config_free(PvbackdConfig *c) {
        if (!c)
                return;
        free(c->console_log_dir);
        c->console_log_dir = NULL;
        for (size_t i = 0; i < c->n_guests; i++) {
                for (size_t j = 0; j < c->guests[i].n_consoles; j++) {
                        free(c->guests[i].consoles[j].label);
                        free(c->guests[i].consoles[j].socket_path);
                }
                free(c->guests[i].name);
        }
        free(c->guests);
        c->guests = NULL;
        c->n_guests = 0;
        for (size_t i = 0; i < c->n_disks; i++) {
                free(c->disks[i].params);
                free(c->disks[i].serial);
        }
        free(c->disks);
        c->disks = NULL;
        c->n_disks = 0;
}

const ConfigDisk *config_find_disk(const PvbackdConfig *c, const char *params) {
        if (!params)
                return NULL;
        for (size_t i = 0; i < c->n_disks; i++)
                if (strcmp(c->disks[i].params, params) == 0)
                        return &c->disks[i];
        return NULL;
}

const ConfigGuest *config_find_guest(const PvbackdConfig *c, const char *name) {
        for (size_t i = 0; i < c->n_guests; i++)
                if (strcmp(c->guests[i].name, name) == 0)
                        return &c->guests[i];
        return NULL;
}

const char *config_console_log_dir(const PvbackdConfig *c) {
        return c->console_log_dir ?: CONFIG_CONSOLE_LOG_DIR;
}

static void parser_done(ConfigParser *p) {
        free(p->named_header);
        p->named_header = NULL;
        free(p->line);
        p->line = NULL;
        free(p->error);
        p->error = NULL;
}

int config_load(const char *path, PvbackdConfig *ret, char **ret_error) {
        _cleanup_(parser_done) ConfigParser p = { .path = path };
        _cleanup_(fclosep) FILE *f = NULL;
        int r, k;

        assert(path);
        assert(ret);

        config_init_defaults(ret);
        config_init_defaults(&p.config);
        if (ret_error)
                *ret_error = NULL;

        f = fopen(path, "re");
        if (!f) {
                r = -errno;
                if (ret_error && asprintf(ret_error, "%s: %s", path,
                                          r == -ENOENT ? "configuration file not found" : strerror(-r)) < 0) {
                        *ret_error = NULL;
                        return -ENOMEM;
                }
                return r;
        }
        p.f = f;

        k = ini_parse_stream(ini_reader_cb, &p, ini_handler_cb, &p);
        if (k > 0 && (p.r == 0 || (unsigned) k < p.line_no)) {
                /* A syntax error inih found but our reader did not anticipate. inih keeps going after
                 * syntax errors, so it may be on an earlier line than the error our reader or handler
                 * stopped at: report whichever came first. */
                free(p.error);
                p.error = NULL;
                p.r = 0;
                p.line_no = (unsigned) k;
                (void) parser_fail(&p, -EINVAL, "syntax error, expected '[section]' or 'key = value'");
        } else if (k < 0 && p.r == 0)
                /* -1 (cannot open file) is impossible with a stream, -2 is an allocation failure. */
                (void) parser_fail(&p, k == -2 ? -ENOMEM : -EIO, "ini_parse_stream() failed (%d)", k);

        if (p.r < 0) {
                config_free(&p.config);
                if (ret_error) {
                        *ret_error = p.error;
                        p.error = NULL;
                }
                return p.r;
        }

        *ret = p.config;
        return 0;
}
