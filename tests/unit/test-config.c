/* SPDX-License-Identifier: GPL-2.0-or-later */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf(), getline(), open_memstream() */
#endif

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

/* Number of keys the parser knows; the example file must document each of them. */
#define N_KEYS 23

static char *tmpdir;   /* created by group_setup() */
static char *conf_path; /* tmpdir/test.conf */

static int group_setup(void **state) {
        const char *t = getenv("TMPDIR");
        char *d;

        (void) state;

        if (asprintf(&d, "%s/test-config-XXXXXX", t && *t ? t : "/tmp") < 0)
                return -1;
        if (!mkdtemp(d)) {
                free(d);
                return -1;
        }
        tmpdir = d;
        if (asprintf(&conf_path, "%s/test.conf", tmpdir) < 0)
                return -1;
        return 0;
}

static int group_teardown(void **state) {
        (void) state;

        if (conf_path)
                (void) unlink(conf_path);
        if (tmpdir)
                (void) rmdir(tmpdir);
        free(conf_path);
        free(tmpdir);
        return 0;
}

static void write_conf_len(const char *content, size_t len) {
        FILE *f = fopen(conf_path, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(content, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

static void write_conf(const char *content) {
        write_conf_len(content, strlen(content));
}

static void assert_config_equal(const PvbackdConfig *a, const PvbackdConfig *b) {
        assert_int_equal(a->log_level, b->log_level);
        assert_int_equal(a->log_target, b->log_target);
        assert_int_equal(a->serve_vbd, b->serve_vbd);
        assert_int_equal(a->serve_vif, b->serve_vif);
        assert_int_equal(a->serve_console, b->serve_console);
        assert_int_equal(a->console_primary, b->console_primary);
        assert_int_equal(a->max_ring_page_order, b->max_ring_page_order);
        assert_int_equal(a->max_queues, b->max_queues);
        assert_int_equal(a->max_indirect_segments, b->max_indirect_segments);
        assert_int_equal(a->max_devices_per_guest, b->max_devices_per_guest);
        assert_int_equal(a->max_guests, b->max_guests);
        assert_int_equal(a->max_grants_per_guest, b->max_grants_per_guest);
        assert_int_equal(a->evtchn_rate_limit, b->evtchn_rate_limit);
        assert_int_equal(a->evtchn_rate_interval_ms, b->evtchn_rate_interval_ms);
        assert_string_equal(config_console_log_dir(a), config_console_log_dir(b));
        assert_int_equal(a->console_log, b->console_log);
        assert_int_equal(a->console_log_max_size, b->console_log_max_size);
        assert_int_equal(a->console_log_rotate, b->console_log_rotate);
        assert_int_equal(a->console_journal, b->console_journal);
        assert_int_equal(a->console_rate_limit, b->console_rate_limit);
        assert_int_equal(a->console_rate_interval_ms, b->console_rate_interval_ms);
        assert_int_equal(a->console_buffer_limit, b->console_buffer_limit);
        assert_int_equal(a->console_overflow, b->console_overflow);
        assert_int_equal(a->n_guests, b->n_guests);
        assert_int_equal(a->n_disks, b->n_disks);
}

static void assert_config_is_default(const PvbackdConfig *c) {
        PvbackdConfig d;

        config_init_defaults(&d);
        assert_config_equal(c, &d);
}

/* Loads conf_path, expects success, returns the config. */
static void load_ok(PvbackdConfig *ret) {
        char *error = (char *) "unset";
        int r;

        r = config_load(conf_path, ret, &error);
        if (r < 0)
                print_error("unexpected error %d: %s\n", r, error ? error : "(null)");
        assert_int_equal(r, 0);
        assert_null(error);
}

/* Loads conf_path, expects expected_r and the message "<conf_path><expected_suffix>"; also checks that
 * *ret was reset to the defaults. */
static void load_fail(int expected_r, const char *expected_suffix) {
        PvbackdConfig c;
        char *error = NULL, *expected;
        int r;

        /* Scribble over c to check config_load() resets it. */
        memset(&c, 0x5a, sizeof(c));

        r = config_load(conf_path, &c, &error);
        assert_int_equal(r, expected_r);
        assert_non_null(error);
        assert_true(asprintf(&expected, "%s%s", conf_path, expected_suffix) >= 0);
        assert_string_equal(error, expected);
        assert_config_is_default(&c);

        /* The message is optional. */
        memset(&c, 0x5a, sizeof(c));
        assert_int_equal(config_load(conf_path, &c, NULL), expected_r);
        assert_config_is_default(&c);

        free(expected);
        free(error);
}

static void check_error(const char *content, int expected_r, const char *expected_suffix) {
        write_conf(content);
        load_fail(expected_r, expected_suffix);
}

static void test_defaults(void **state) {
        PvbackdConfig c;

        (void) state;

        memset(&c, 0x5a, sizeof(c));
        config_init_defaults(&c);

        assert_int_equal(c.log_level, LOG_INFO);
        assert_int_equal(c.log_target, LOG_TARGET_AUTO);
        assert_true(c.serve_vbd);
        assert_true(c.serve_vif);
        assert_true(c.serve_console);
        assert_false(c.console_primary);
        assert_int_equal(c.max_ring_page_order, 4);
        assert_int_equal(c.max_queues, 4);
        assert_int_equal(c.max_indirect_segments, 256);
        assert_int_equal(c.max_devices_per_guest, 64);
        assert_int_equal(c.max_guests, 1024);
        assert_int_equal(c.max_grants_per_guest, 16384);
        assert_int_equal(c.evtchn_rate_limit, 20000);
        assert_int_equal(c.evtchn_rate_interval_ms, 100);
}

static void test_strings(void **state) {
        (void) state;

        assert_string_equal(log_target_to_string(LOG_TARGET_AUTO), "auto");
        assert_string_equal(log_target_to_string(LOG_TARGET_JOURNAL), "journal");
        assert_string_equal(log_target_to_string(LOG_TARGET_STDERR), "stderr");
        assert_null(log_target_to_string(_LOG_TARGET_MAX));
        assert_null(log_target_to_string(_LOG_TARGET_INVALID));

        assert_int_equal(log_target_from_string("journal"), LOG_TARGET_JOURNAL);
        assert_int_equal(log_target_from_string("syslog"), _LOG_TARGET_INVALID);

        assert_string_equal(config_log_level_to_string(LOG_ERR), "err");
        assert_string_equal(config_log_level_to_string(LOG_DEBUG), "debug");
        assert_null(config_log_level_to_string(LOG_CRIT));
        assert_int_equal(config_log_level_from_string("notice"), LOG_NOTICE);
        assert_int_equal(config_log_level_from_string("crit"), -EINVAL);
}

static void test_empty_file(void **state) {
        PvbackdConfig c;

        (void) state;

        write_conf("");
        load_ok(&c);
        assert_config_is_default(&c);

        write_conf("# only comments\n; and blank lines\n\n   \n[limits]\n[daemon]\n");
        load_ok(&c);
        assert_config_is_default(&c);
}

static void test_full(void **state) {
        PvbackdConfig c;

        (void) state;

        /* Every key with a non-default value. */
        write_conf("# full configuration\n"
                   "[daemon]\n"
                   "log-level = debug\n"
                   "log-target = journal\n"
                   "\n"
                   "[classes]\n"
                   "vbd = no\n"
                   "vif = false\n"
                   "console = off\n"
                   "\n"
                   "[console]\n"
                   "primary = yes\n"
                   "\n"
                   "[limits]\n"
                   "max-ring-page-order = 0\n"
                   "max-queues = 8\n"
                   "max-indirect-segments = 0\n"
                   "max-devices-per-guest = 1024\n"
                   "max-guests = 32752\n"
                   "max-grants-per-guest = 1048576\n"
                   "evtchn-rate-limit = 1\n"
                   "evtchn-rate-interval-ms = 10000\n");
        load_ok(&c);

        assert_int_equal(c.log_level, LOG_DEBUG);
        assert_int_equal(c.log_target, LOG_TARGET_JOURNAL);
        assert_false(c.serve_vbd);
        assert_false(c.serve_vif);
        assert_false(c.serve_console);
        assert_true(c.console_primary);
        assert_int_equal(c.max_ring_page_order, 0);
        assert_int_equal(c.max_queues, 8);
        assert_int_equal(c.max_indirect_segments, 0);
        assert_int_equal(c.max_devices_per_guest, 1024);
        assert_int_equal(c.max_guests, 32752);
        assert_int_equal(c.max_grants_per_guest, 1048576);
        assert_int_equal(c.evtchn_rate_limit, 1);
        assert_int_equal(c.evtchn_rate_interval_ms, 10000);
}

/* Things that are accepted: BOM, CRLF, indentation, inline comments, case-insensitive booleans,
 * repeated sections, leading zeros. */
static void test_syntax_variants(void **state) {
        PvbackdConfig c;

        (void) state;

        write_conf("\xEF\xBB\xBF[daemon]\r\n"
                   "log-target=stderr\r\n"
                   "   log-level   =   warning   ; inline comment\r\n"
                   "[classes] # comment after section\n"
                   "\tvbd = YES\n"
                   "vif = 0\n"
                   "  console = On\n"
                   "[limits]\n"
                   "max-queues = 2\n"
                   "    max-guests = 7\n" /* indented: a key, not a continuation of max-queues */
                   "[console];comment\n"
                   "primary = TRUE\n"
                   "[limits]\n"
                   "max-devices-per-guest = 0010\n");
        load_ok(&c);

        assert_int_equal(c.log_target, LOG_TARGET_STDERR);
        assert_int_equal(c.log_level, LOG_WARNING);
        assert_true(c.serve_vbd);
        assert_false(c.serve_vif);
        assert_true(c.serve_console);
        assert_true(c.console_primary);
        assert_int_equal(c.max_queues, 2);
        assert_int_equal(c.max_guests, 7);
        assert_int_equal(c.max_devices_per_guest, 10);
        assert_int_equal(c.max_ring_page_order, 4);
}

/* Parse the shipped example file: it must parse and yield the defaults, and with all its settings
 * uncommented it must still yield the defaults and set every key exactly once. */
static void test_example(void **state) {
        const char *path = getenv("PVBACKD_CONFIG_EXAMPLE");
        PvbackdConfig c;
        char *error = NULL, *line = NULL, *content = NULL;
        size_t allocated = 0, content_size = 0;
        unsigned n_keys = 0;
        FILE *in, *out;
        int r;

        (void) state;

        if (!path)
                fail_msg("$PVBACKD_CONFIG_EXAMPLE is not set; it must point to config/pvbackd.conf");

        memset(&c, 0x5a, sizeof(c));
        r = config_load(path, &c, &error);
        if (r < 0)
                print_error("%s\n", error);
        assert_int_equal(r, 0);
        assert_config_is_default(&c);

        in = fopen(path, "re");
        assert_non_null(in);
        out = open_memstream(&content, &content_size);
        assert_non_null(out);
        while (getline(&line, &allocated, in) >= 0) {
                const char *s = line;

                /* "#key = value" is a commented-out setting, "# text" is prose. */
                if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' && strstr(line, " = ")) {
                        s = line + 1;
                        n_keys++;
                }
                fputs(s, out);
        }
        assert_false(ferror(in));
        fclose(in);
        assert_int_equal(fclose(out), 0);
        free(line);

        assert_int_equal(n_keys, N_KEYS);

        write_conf(content);
        free(content);
        load_ok(&c);
        assert_config_is_default(&c);
        config_free(&c);
}

static void test_console_defaults(void **state) {
        PvbackdConfig c;

        (void) state;
        config_init_defaults(&c);
        assert_string_equal(config_console_log_dir(&c), "/var/log/xen/console");
        assert_null(c.console_log_dir);
        assert_false(c.console_log);
        assert_false(c.console_journal);
        assert_int_equal(c.console_rate_limit, 30);
        assert_int_equal(c.console_rate_interval_ms, 200);
        assert_int_equal(c.console_buffer_limit, 1048576);
        assert_int_equal(c.console_overflow, CONSOLE_OVERFLOW_DISCARD);
        assert_int_equal(c.console_log_max_size, 10485760);
        assert_int_equal(c.console_log_rotate, 5);
        assert_int_equal(c.n_guests, 0);
        assert_null(config_find_guest(&c, "web01"));
        config_free(&c); /* nothing allocated: harmless */
}

static void test_disk_sections(void **state) {
        PvbackdConfig c;
        const ConfigDisk *d;

        (void) state;
        write_conf("[disk \"/var/lib/xen/images/vm1.img\"]\n"
                   "serial = VM1-DISK 0001\n"
                   "[limits]\n"
                   "max-queues = 2\n"
                   "[disk \"/dev/vg0/vm2\"]\n"
                   "grant-map = never\n"
                   "serial = ~!@$%^&*()_+-={}|:<>\n"
                   "[disk \"/dev/vg0/vm3\"]\n"
                   "grant-map = always\n"
                   "persistent-grants = no\n");
        load_ok(&c);
        assert_int_equal(c.max_queues, 2);
        assert_int_equal(c.n_disks, 3);
        d = config_find_disk(&c, "/var/lib/xen/images/vm1.img");
        assert_non_null(d);
        assert_int_equal(d->line, 1);
        assert_string_equal(d->serial, "VM1-DISK 0001");
        assert_int_equal(d->grant_map, CONFIG_GRANT_MAP_AUTO);
        assert_true(d->persistent_grants);
        d = config_find_disk(&c, "/dev/vg0/vm2");
        assert_non_null(d);
        assert_string_equal(d->serial, "~!@$%^&*()_+-={}|:<>"); /* 20 characters */
        assert_int_equal(d->grant_map, CONFIG_GRANT_MAP_NEVER);
        d = config_find_disk(&c, "/dev/vg0/vm3");
        assert_non_null(d);
        assert_null(d->serial);
        assert_int_equal(d->grant_map, CONFIG_GRANT_MAP_ALWAYS);
        assert_false(d->persistent_grants);
        assert_null(config_find_disk(&c, "/dev/vg0/vm"));
        assert_null(config_find_disk(&c, NULL));
        config_free(&c);
        assert_int_equal(c.n_disks, 0);
        assert_null(c.disks);
}

static void test_console_sections(void **state) {
        PvbackdConfig c;
        const ConfigGuest *g;

        (void) state;
        write_conf("[console]\n"
                   "log-dir = /srv/logs/consoles\n"
                   "log = yes\n"
                   "log-max-size = 4096\n"
                   "log-rotate = 0\n"
                   "journal = yes\n"
                   "rate-limit = 100\n"
                   "rate-interval-ms = 50\n"
                   "buffer-limit = 65536\n"
                   "overflow = keep\n"
                   "\n"
                   "[guest \"web01\"]\n"
                   "console.agent = pty\n"
                   "console.agent.log = no ; inline comment\n"
                   "console.events = socket:/run/pvbackd/web01.sock\n"
                   "console.boot = log\n"
                   "console.boot.journal = no\n"
                   "[limits]\n"
                   "max-queues = 2\n"
                   "[guest \"a-very-long-guest-name-that-is-longer-than-inih-sections-allow-x\"]\n"
                   "console.x = pty\n");
        load_ok(&c);
        assert_string_equal(config_console_log_dir(&c), "/srv/logs/consoles");
        assert_true(c.console_log);
        assert_true(c.console_journal);
        assert_int_equal(c.console_log_max_size, 4096);
        assert_int_equal(c.console_log_rotate, 0);
        assert_int_equal(c.console_rate_limit, 100);
        assert_int_equal(c.console_rate_interval_ms, 50);
        assert_int_equal(c.console_buffer_limit, 65536);
        assert_int_equal(c.console_overflow, CONSOLE_OVERFLOW_KEEP);
        assert_int_equal(c.max_queues, 2);
        assert_int_equal(c.n_guests, 2);

        g = config_find_guest(&c, "web01");
        assert_non_null(g);
        assert_int_equal(g->line, 12);
        assert_int_equal(g->n_consoles, 3);
        assert_string_equal(g->consoles[0].label, "agent");
        assert_int_equal(g->consoles[0].output, CONSOLE_OUTPUT_PTY);
        assert_int_equal(g->consoles[0].log, 0);
        assert_int_equal(g->consoles[0].journal, -1);
        assert_string_equal(g->consoles[1].label, "events");
        assert_int_equal(g->consoles[1].output, CONSOLE_OUTPUT_SOCKET);
        assert_string_equal(g->consoles[1].socket_path, "/run/pvbackd/web01.sock");
        assert_int_equal(g->consoles[2].output, CONSOLE_OUTPUT_LOG);
        assert_int_equal(g->consoles[2].journal, 0);
        assert_int_equal(g->consoles[2].log, -1);

        /* Names longer than inih's 50-byte section buffer still work. */
        g = config_find_guest(&c, "a-very-long-guest-name-that-is-longer-than-inih-sections-allow-x");
        assert_non_null(g);
        assert_int_equal(g->n_consoles, 1);
        assert_null(config_find_guest(&c, "web0"));

        config_free(&c);
        assert_int_equal(c.n_guests, 0);
        assert_null(c.guests);
        assert_null(c.console_log_dir);
}

static void test_console_nine_consoles(void **state) {
        PvbackdConfig c;
        char text[1024];
        size_t l = 0;

        (void) state;
        l += (size_t) snprintf(text + l, sizeof text - l, "[guest \"g\"]\n");
        for (unsigned i = 1; i <= 9; i++)
                l += (size_t) snprintf(text + l, sizeof text - l, "console.c%u = pty\n", i);
        write_conf(text);
        load_ok(&c);
        assert_int_equal(config_find_guest(&c, "g")->n_consoles, 9);
        config_free(&c);

        snprintf(text + l, sizeof text - l, "console.c10 = pty\n");
        write_conf(text);
        load_fail(-ERANGE, ":11: [guest \"g\"] console.c10 = pty: more than 9 consoles for one guest");
}

static void test_missing_file(void **state) {
        PvbackdConfig c;
        char *error = NULL, *path, *expected;

        (void) state;

        assert_true(asprintf(&path, "%s/does-not-exist.conf", tmpdir) >= 0);
        assert_true(asprintf(&expected, "%s: configuration file not found", path) >= 0);

        memset(&c, 0x5a, sizeof(c));
        assert_int_equal(config_load(path, &c, &error), -ENOENT);
        assert_non_null(error);
        assert_string_equal(error, expected);
        assert_config_is_default(&c);

        free(error);
        free(expected);
        free(path);
}

static void test_directory(void **state) {
        PvbackdConfig c;
        char *error = NULL, *expected;

        (void) state;

        assert_true(asprintf(&expected, "%s:1: read error: %s", tmpdir, strerror(EISDIR)) >= 0);
        assert_int_equal(config_load(tmpdir, &c, &error), -EISDIR);
        assert_non_null(error);
        assert_string_equal(error, expected);

        free(error);
        free(expected);
}

static void test_line_too_long(void **state) {
        char content[512] = "[limits]\n#";
        PvbackdConfig c;

        (void) state;

        /* 199 characters are fine (the limit comes from inih's 200 byte line buffer), also with
         * surrounding whitespace, which does not count. */
        memset(content + strlen(content), 'x', 198);
        strcat(content, "     \n  max-queues = 5\n");
        write_conf(content);
        load_ok(&c);
        assert_int_equal(c.max_queues, 5);

        /* One more is not, comment or not: inih would otherwise silently split the line in two. */
        memset(content, 0, sizeof(content));
        strcpy(content, "[limits]\n\n# ");
        memset(content + strlen(content), 'x', 198);
        strcat(content, "\nmax-queues = 5\n");
        check_error(content, -EINVAL, ":3: line too long (more than 199 characters)");
}

static void test_nul_byte(void **state) {
        static const char content[] = "[limits]\nmax-queues = 2\0junk\n";

        (void) state;

        write_conf_len(content, sizeof(content) - 1);
        load_fail(-EINVAL, ":2: NUL byte in line");
}

static void test_first_error_wins(void **state) {
        (void) state;

        check_error("[limits]\n"
                    "max-queues = 99\n"
                    "max-guests = 0\n"
                    "[bogus]\n",
                    -ERANGE, ":2: [limits] max-queues = 99: value out of range 1..8");
}

/* Error cases: name, file content, expected return, expected message after the file name. */
#define ERROR_CASES(X)                                                                                     \
        X(unknown_section, "[daemon]\nlog-level = info\n\n[bogus]\nfoo = 1\n", -EINVAL,                    \
          ":4: [bogus]: unknown section")                                                                  \
        X(unknown_empty_section, "# comment\n[limits]\n[nothing]\n", -EINVAL, ":3: [nothing]: unknown section") \
        X(unknown_section_spaces, "[ limits ]\n", -EINVAL, ":1: [ limits ]: unknown section")              \
        X(empty_section_name, "\n[]\nmax-queues = 1\n", -EINVAL, ":2: []: unknown section")               \
        X(section_case, "[Limits]\n", -EINVAL, ":1: [Limits]: unknown section")                            \
        X(unknown_key, "[limits]\n# comment\nmax-queue = 2\n", -EINVAL,                                    \
          ":3: [limits] max-queue = 2: unknown key")                                                      \
        X(key_in_wrong_section, "[daemon]\nmax-queues = 2\n", -EINVAL,                                     \
          ":2: [daemon] max-queues = 2: unknown key")                                                     \
        X(duplicate_key, "[limits]\nmax-queues = 2\n\n[daemon]\nlog-level = info\n[limits]\nmax-queues = 2\n", \
          -EINVAL, ":7: [limits] max-queues = 2: duplicate key, already set on line 2")                    \
        X(key_outside_section, "# header\nlog-level = info\n[daemon]\n", -EINVAL,                          \
          ":2: log-level = info: key outside of any section")                                              \
        X(missing_separator, "[daemon]\n\nlog-level\n", -EINVAL, ":3: log-level: expected 'key = value'")  \
        X(colon_separator, "[daemon]\nlog-level: info\n", -EINVAL, ":2: log-level: info: expected 'key = value'") \
        X(comment_hides_separator, "[daemon]\nlog-level ; = info\n", -EINVAL,                              \
          ":2: log-level ; = info: expected 'key = value'")                                                \
        X(missing_key_name, "[limits]\n= 4\n", -EINVAL, ":2: = 4: missing key name")                      \
        X(missing_bracket, "\n[daemon\nlog-level = info\n", -EINVAL, ":2: [daemon: missing ']' in section header") \
        X(section_trailing_junk, "[limits] extra\n", -EINVAL,                                              \
          ":1: [limits]: trailing characters after section header")                                       \
        X(bad_boolean, "[classes]\nvbd = yes\nvif = maybe\n", -EINVAL,                                     \
          ":3: [classes] vif = maybe: invalid boolean, expected yes|no|true|false|on|off|1|0")             \
        X(bad_boolean_number, "[console]\nprimary = 2\n", -EINVAL,                                         \
          ":2: [console] primary = 2: invalid boolean, expected yes|no|true|false|on|off|1|0")             \
        X(empty_boolean, "[console]\nprimary =\n", -EINVAL,                                                \
          ":2: [console] primary = : invalid boolean, expected yes|no|true|false|on|off|1|0")              \
        X(bad_log_level, "[daemon]\nlog-level = verbose\n", -EINVAL,                                       \
          ":2: [daemon] log-level = verbose: invalid value, expected err|warning|notice|info|debug")       \
        X(log_level_case, "[daemon]\nlog-level = INFO\n", -EINVAL,                                         \
          ":2: [daemon] log-level = INFO: invalid value, expected err|warning|notice|info|debug")          \
        X(log_level_number, "[daemon]\nlog-level = 6\n", -EINVAL,                                          \
          ":2: [daemon] log-level = 6: invalid value, expected err|warning|notice|info|debug")             \
        X(bad_log_target, "[daemon]\nlog-target = syslog\n", -EINVAL,                                      \
          ":2: [daemon] log-target = syslog: invalid value, expected auto|journal|stderr")                 \
        X(non_numeric, "[limits]\nmax-guests = many\n", -EINVAL, ":2: [limits] max-guests = many: not a number") \
        X(empty_number, "[limits]\nmax-guests =\n", -EINVAL,                                               \
          ":2: [limits] max-guests = : empty value, expected a number")                                    \
        X(trailing_junk, "[limits]\nmax-guests = 12abc\n", -EINVAL,                                        \
          ":2: [limits] max-guests = 12abc: trailing characters after number")                             \
        X(hex, "[limits]\nmax-guests = 0x10\n", -EINVAL,                                                   \
          ":2: [limits] max-guests = 0x10: trailing characters after number")                              \
        X(unit_suffix, "[limits]\nevtchn-rate-interval-ms = 100ms\n", -EINVAL,                             \
          ":2: [limits] evtchn-rate-interval-ms = 100ms: trailing characters after number")                \
        X(inner_space, "[limits]\nmax-guests = 1 2\n", -EINVAL,                                            \
          ":2: [limits] max-guests = 1 2: trailing characters after number")                               \
        X(hash_is_not_inline_comment, "[limits]\nmax-guests = 12 # twelve\n", -EINVAL,                     \
          ":2: [limits] max-guests = 12 # twelve: trailing characters after number")                       \
        X(decimal_point, "[limits]\nmax-guests = 1.5\n", -EINVAL,                                          \
          ":2: [limits] max-guests = 1.5: trailing characters after number")                               \
        X(negative, "[limits]\nmax-ring-page-order = -1\n", -ERANGE,                                       \
          ":2: [limits] max-ring-page-order = -1: negative values are not allowed")                        \
        X(plus_sign, "[limits]\nmax-queues = +2\n", -EINVAL, ":2: [limits] max-queues = +2: explicit sign not allowed") \
        X(overflow, "[limits]\nmax-guests = 99999999999999999999999\n", -ERANGE,                           \
          ":2: [limits] max-guests = 99999999999999999999999: number too large")                           \
        X(overflow_u64_boundary, "[limits]\nmax-guests = 18446744073709551616\n", -ERANGE,                 \
          ":2: [limits] max-guests = 18446744073709551616: number too large")                              \
        X(no_truncation_to_unsigned, "[limits]\nmax-guests = 4294967297\n", -ERANGE,                       \
          ":2: [limits] max-guests = 4294967297: value out of range 1..32752")                             \
        X(out_of_range_high, "[daemon]\n[limits]\nmax-ring-page-order = 9\n", -ERANGE,                     \
          ":3: [limits] max-ring-page-order = 9: value out of range 0..4")                                 \
        X(out_of_range_low, "[limits]\nmax-queues = 0\n", -ERANGE, ":2: [limits] max-queues = 0: value out of range 1..8") \
        X(grants_low, "[limits]\nmax-grants-per-guest = 63\n", -ERANGE,                                    \
          ":2: [limits] max-grants-per-guest = 63: value out of range 64..1048576")                        \
        X(guests_high, "[limits]\nmax-guests = 32753\n", -ERANGE,                                          \
          ":2: [limits] max-guests = 32753: value out of range 1..32752")                                  \
        X(indirect_high, "[limits]\nmax-indirect-segments = 513\n", -ERANGE,                               \
          ":2: [limits] max-indirect-segments = 513: value out of range 0..512")                           \
        X(rate_limit_zero, "[limits]\nevtchn-rate-limit = 0\n", -ERANGE,                                   \
          ":2: [limits] evtchn-rate-limit = 0: value out of range 1..1000000")                             \
        X(rate_interval_high, "[limits]\nevtchn-rate-interval-ms = 10001\n", -ERANGE,                      \
          ":2: [limits] evtchn-rate-interval-ms = 10001: value out of range 1..10000")                     \
        X(crlf_line_numbers, "[limits]\r\n\r\n# c\r\nmax-queues = 9\r\n", -ERANGE,                         \
          ":4: [limits] max-queues = 9: value out of range 1..8")                                          \
        X(guest_bad_output, "[guest \"web01\"]\nconsole.agent = tty\n", -EINVAL,                       \
          ":2: [guest \"web01\"] console.agent = tty: invalid console output, expected pty|socket:<path>|log") \
        X(guest_relative_socket, "[guest \"web01\"]\nconsole.a = socket:run/x\n", -EINVAL,             \
          ":2: [guest \"web01\"] console.a = socket:run/x: socket path must be absolute and at most 107 characters") \
        X(guest_bad_label, "[guest \"web01\"]\nconsole.Agent = pty\n", -EINVAL,                        \
          ":2: [guest \"web01\"] console.Agent = pty: invalid console label, expected 1..32 of [a-z0-9_-]") \
        X(guest_empty_label, "[guest \"web01\"]\nconsole. = pty\n", -EINVAL,                           \
          ":2: [guest \"web01\"] console. = pty: invalid console label, expected 1..32 of [a-z0-9_-]")    \
        X(guest_unknown_key, "[guest \"web01\"]\nmemory = 4\n", -EINVAL,                                 \
          ":2: [guest \"web01\"] memory = 4: unknown key")                                                \
        X(guest_unknown_option, "[guest \"web01\"]\nconsole.a = pty\nconsole.a.colour = red\n", -EINVAL, \
          ":3: [guest \"web01\"] console.a.colour = red: unknown key")                                    \
        X(guest_option_before_console, "[guest \"web01\"]\nconsole.a.log = yes\n", -EINVAL,            \
          ":2: [guest \"web01\"] console.a.log = yes: console 'a' must be declared first")              \
        X(guest_option_bad_bool, "[guest \"web01\"]\nconsole.a = log\nconsole.a.journal = maybe\n", -EINVAL, \
          ":3: [guest \"web01\"] console.a.journal = maybe: invalid boolean, expected yes|no|true|false|on|off|1|0") \
        X(guest_option_duplicate, "[guest \"w\"]\nconsole.a = log\nconsole.a.log = no\nconsole.a.log = no\n", \
          -EINVAL, ":4: [guest \"w\"] console.a.log = no: duplicate key")                                 \
        X(guest_duplicate_console, "[guest \"web01\"]\nconsole.a = pty\n\nconsole.a = log\n", -EINVAL, \
          ":4: [guest \"web01\"] console.a = log: duplicate key, already set on line 2")                \
        X(guest_duplicate_section, "[guest \"web01\"]\n[limits]\n[guest \"web01\"]\n", -EINVAL,      \
          ":3: [guest \"web01\"]: duplicate section, already on line 1")                                \
        X(guest_unquoted, "[guest web01]\n", -EINVAL, ":1: [guest web01]: unknown section")              \
        X(guest_trailing_after_quote, "[guest \"web01\" x]\n", -EINVAL,                                 \
          ":1: [guest \"web01\" x]: expected [<kind> \"<name>\"]")                                     \
        X(guest_empty_name, "[guest \"\"]\n", -EINVAL, ":1: [guest \"\"]: name must be 1..64 characters") \
        X(guest_space_in_name, "[guest \"a b\"]\n", -EINVAL, ":1: [guest \"a b\"]: invalid character in name") \
        X(unknown_named_kind, "[volume \"xvda\"]\n", -EINVAL, ":1: [volume \"xvda\"]: unknown section") \
        X(disk_serial_empty, "[disk \"/i.img\"]\nserial =\n", -EINVAL,                                    \
          ":2: [disk \"/i.img\"] serial = : must be 1..20 characters")                                       \
        X(disk_serial_long, "[disk \"/i.img\"]\nserial = 123456789012345678901\n", -EINVAL,                \
          ":2: [disk \"/i.img\"] serial = 123456789012345678901: must be 1..20 characters")                  \
        X(disk_serial_not_ascii, "[disk \"/i.img\"]\nserial = caf\xc3\xa9\n", -EINVAL,                       \
          ":2: [disk \"/i.img\"] serial = caf\xc3\xa9: only printable ASCII is allowed")                     \
        X(disk_serial_control, "[disk \"/i.img\"]\nserial = a\tb\n", -EINVAL,                                \
          ":2: [disk \"/i.img\"] serial = a\tb: only printable ASCII is allowed")                             \
        X(disk_serial_duplicate, "[disk \"/i.img\"]\nserial = A\nserial = B\n", -EINVAL,                    \
          ":3: [disk \"/i.img\"] serial = B: duplicate key, already set on line 2")                          \
        X(disk_persistent_bad, "[disk \"/i.img\"]\npersistent-grants = maybe\n", -EINVAL,                  \
          ":2: [disk \"/i.img\"] persistent-grants = maybe: invalid boolean, "                              \
          "expected yes|no|true|false|on|off|1|0")                                                            \
        X(disk_persistent_duplicate, "[disk \"/i.img\"]\npersistent-grants = no\npersistent-grants = no\n",  \
          -EINVAL, ":3: [disk \"/i.img\"] persistent-grants = no: duplicate key, already set on line 2")       \
        X(disk_grant_map_bad, "[disk \"/i.img\"]\ngrant-map = sometimes\n", -EINVAL,                         \
          ":2: [disk \"/i.img\"] grant-map = sometimes: expected auto|never|always")                         \
        X(disk_grant_map_duplicate, "[disk \"/i.img\"]\ngrant-map = auto\ngrant-map = never\n", -EINVAL,    \
          ":3: [disk \"/i.img\"] grant-map = never: duplicate key, already set on line 2")                   \
        X(disk_unknown_key, "[disk \"/i.img\"]\nwwn = 5000\n", -EINVAL,                                       \
          ":2: [disk \"/i.img\"] wwn = 5000: unknown key")                                                  \
        X(disk_duplicate_section, "[disk \"/i.img\"]\n[disk \"/j.img\"]\n[disk \"/i.img\"]\n", -EINVAL,      \
          ":3: [disk \"/i.img\"]: duplicate section, already on line 1")                                    \
        X(disk_empty_name, "[disk \"\"]\n", -EINVAL, ":1: [disk \"\"]: name must be 1..190 characters")     \
        X(disk_space_in_name, "[disk \"/a b.img\"]\n", -EINVAL, ":1: [disk \"/a b.img\"]: invalid character in name") \
        X(disk_section_ends, "[disk \"/i.img\"]\nserial = A\n[limits]\nserial = B\n", -EINVAL,             \
          ":4: [limits] serial = B: unknown key")                                                             \
        X(guest_section_ends, "[guest \"w\"]\nconsole.a = pty\n[console]\nconsole.b = pty\n", -EINVAL, \
          ":4: [console] console.b = pty: unknown key")                                                   \
        X(log_dir_relative, "[console]\nlog-dir = var/log\n", -EINVAL,                                    \
          ":2: [console] log-dir = var/log: expected an absolute path")                                   \
        X(log_dir_duplicate, "[console]\nlog-dir = /a\nlog-dir = /b\n", -EINVAL,                          \
          ":3: [console] log-dir = /b: duplicate key, already set on line 2")                             \
        X(console_overflow_bad, "[console]\noverflow = drop\n", -EINVAL,                                  \
          ":2: [console] overflow = drop: invalid value, expected discard|keep")                          \
        X(console_buffer_small, "[console]\nbuffer-limit = 100\n", -ERANGE,                               \
          ":2: [console] buffer-limit = 100: value out of range 4096..1073741824")                        \
        X(console_rate_zero, "[console]\nrate-limit = 0\n", -ERANGE,                                      \
          ":2: [console] rate-limit = 0: value out of range 1..1000000")

#define DEFINE_ERROR_TEST(name, content, r, suffix)          \
        static void test_error_##name(void **state) {        \
                (void) state;                                \
                check_error(content, r, suffix);             \
        }
ERROR_CASES(DEFINE_ERROR_TEST)

#define ERROR_TEST_ENTRY(name, content, r, suffix) cmocka_unit_test(test_error_##name),

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_empty_file),
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_syntax_variants),
                cmocka_unit_test(test_example),
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_directory),
                cmocka_unit_test(test_line_too_long),
                cmocka_unit_test(test_nul_byte),
                cmocka_unit_test(test_first_error_wins),
                cmocka_unit_test(test_console_defaults),
                cmocka_unit_test(test_console_sections),
                cmocka_unit_test(test_disk_sections),
                cmocka_unit_test(test_console_nine_consoles),
                ERROR_CASES(ERROR_TEST_ENTRY)
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
