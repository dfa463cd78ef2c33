/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Logging: structured journal entries under systemd, plain lines on stderr
 * otherwise. Every line about a device carries the domain id, guest name and
 * backend path (PVBACKD_DOMID=, PVBACKD_GUEST=, PVBACKD_DEVICE=), so
 * `journalctl PVBACKD_DOMID=5` shows one guest's story. */

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "util.h"

typedef struct LogContext {
        uint32_t domid;
        const char *guest;  /* sanitized guest name, may be NULL */
        const char *device; /* backend path, may be NULL */
} LogContext;

void log_open(bool use_journal, int max_level);
void log_set_max_level(int level);
int log_get_max_level(void);
/* True when stderr is connected to the journal (systemd sets JOURNAL_STREAM). */
bool log_stderr_is_journal(void);
int log_level_from_string(const char *s);

/* Logs and returns -abs(error), or 0 when error is 0; "%m" is strerror(error). */
int log_internal(int level, int error, const LogContext *ctx, const char *func, const char *fmt, ...)
        _printf_(5, 6);

#define log_full_errno(level, error, ...) log_internal(level, error, NULL, __func__, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)

/* At most burst messages per interval, for messages a guest can trigger at
 * will; on util.h's RateWindow, as every limit in pvbackd. */
typedef struct RateLimit {
        uint64_t interval_usec;
        unsigned burst;
        RateWindow window;
        unsigned suppressed;
} RateLimit;

#define RATELIMIT_INIT(interval, b) ((RateLimit) { .interval_usec = (interval), .burst = (b) })

/* True if the caller may log now. */
bool ratelimit_below(RateLimit *rl);
