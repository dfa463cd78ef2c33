/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "log.h"

static bool log_use_journal;
static int log_max_level = LOG_INFO;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void log_open(bool use_journal, int max_level) {
        log_use_journal = use_journal;
        log_max_level = max_level;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

int log_level_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (streq(s, level_names[i]))
                        return (int) i;
        return -EINVAL;
}

bool log_stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

int log_internal(int level, int error, const LogContext *ctx, const char *func, const char *fmt, ...) {
        char msg[2048];
        va_list ap;
        int saved_errno = errno;

        if (error < 0)
                error = -error;
        if (level > log_max_level)
                goto finish;

        errno = error; /* for %m */
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);

        if (log_use_journal) {
                char prio[8], dom[32];
                snprintf(prio, sizeof prio, "%d", level);
                if (ctx) {
                        /* The device in the text too, as the man page says:
                         * plain journalctl shows only MESSAGE. */
                        char line[sizeof msg + 256];
                        if (ctx->guest)
                                snprintf(line, sizeof line, "%s (%s): %s", ctx->device ?: "?", ctx->guest, msg);
                        else
                                snprintf(line, sizeof line, "%s: %s", ctx->device ?: "?", msg);
                        snprintf(dom, sizeof dom, "%u", ctx->domid);
                        sd_journal_send("MESSAGE=%s", line, "PRIORITY=%s", prio, "CODE_FUNC=%s", func,
                                        "PVBACKD_DOMID=%s", dom, "PVBACKD_GUEST=%s", ctx->guest ?: "",
                                        "PVBACKD_DEVICE=%s", ctx->device ?: "",
                                        error ? "ERRNO=%d" : NULL, error, NULL);
                } else
                        sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%s", prio, "CODE_FUNC=%s", func,
                                        error ? "ERRNO=%d" : NULL, error, NULL);
        } else if (ctx)
                fprintf(stderr, "pvbackd: %s: [dom%u %s %s] %s\n", level_names[level & 7], ctx->domid,
                        ctx->guest ?: "?", ctx->device ?: "", msg);
        else
                fprintf(stderr, "pvbackd: %s: %s\n", level_names[level & 7], msg);

finish:
        errno = saved_errno;
        return error ? -error : 0;
}

bool ratelimit_below(RateLimit *rl) {
        uint64_t now = now_usec();

        if (rl->suppressed > 0 && rate_window_ended(&rl->window, now, rl->interval_usec)) {
                log_warning("%u similar messages suppressed", rl->suppressed);
                rl->suppressed = 0;
        }
        if (rl->burst > 0 && rate_window_take(&rl->window, now, rl->interval_usec, rl->burst, 1))
                return true;
        rl->suppressed++;
        return false;
}
