/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Where guest output goes besides the reader: a log file per console (lines
 * prefixed with a timestamp, rotated by size: .log -> .log.1 -> ... ->
 * .log.<log-rotate>), and the journal (one entry per line, with
 * PVBACKD_GUEST= and PVBACKD_CONSOLE=). And the unix socket a console with
 * output=socket:<path> listens on (one client at a time, as xenconsole's
 * lock allows one). */

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "consback.h"

/* ---- log file -------------------------------------------------------------- */

static void logfile_close(LogFile *l) {
        if (l->fd >= 0)
                close(l->fd);
        l->fd = -1;
}

static int logfile_open(LogFile *l) {
        struct stat st;

        logfile_close(l);
        l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0640);
        if (l->fd < 0)
                return negative_errno();
        l->size = fstat(l->fd, &st) == 0 ? (uint64_t) st.st_size : 0;
        l->at_line_start = l->size == 0 || l->at_line_start;
        return 0;
}

static void logfile_rotate(Console *c) {
        const PvbackdConfig *cfg = backend_config(c->cc->backend);
        LogFile *l = &c->logfile;

        logfile_close(l);
        if (cfg->console_log_rotate == 0) {
                if (truncate(l->path, 0) < 0)
                        log_cons_warning_errno(c, negative_errno(), "Cannot truncate %s: %m", l->path);
        } else
                for (unsigned i = cfg->console_log_rotate; i > 0; i--) {
                        _cleanup_free_ char *from = NULL, *to = NULL;
                        if (asprintf(&to, "%s.%u", l->path, i) < 0)
                                return;
                        if (i == 1 ? !(from = strdup(l->path)) : asprintf(&from, "%s.%u", l->path, i - 1) < 0) {
                                from = NULL;
                                return;
                        }
                        (void) rename(from, to); /* a missing older file is fine */
                }
        if (logfile_open(l) < 0)
                log_cons_warning_errno(c, negative_errno(), "Cannot reopen %s after rotation: %m", l->path);
}

static void logfile_write(Console *c, const uint8_t *data, size_t n) {
        const PvbackdConfig *cfg = backend_config(c->cc->backend);
        LogFile *l = &c->logfile;
        size_t i = 0;

        while (l->fd >= 0 && i < n) {
                const uint8_t *nl = memchr(data + i, '\n', n - i);
                size_t len = nl ? (size_t) (nl - (data + i)) + 1 : n - i;
                struct iovec iov[2];
                char stamp[32] = "";
                unsigned k = 0;
                ssize_t w;

                if (l->at_line_start) {
                        struct tm tm;
                        time_t t = time(NULL);
                        if (localtime_r(&t, &tm))
                                strftime(stamp, sizeof stamp, "[%Y-%m-%d %H:%M:%S] ", &tm);
                        iov[k++] = (struct iovec) { stamp, strlen(stamp) };
                }
                iov[k++] = (struct iovec) { (void *) (data + i), len };
                w = writev(l->fd, iov, (int) k);
                if (w < 0) {
                        if (ratelimit_below(&c->ratelimit))
                                log_cons_warning_errno(c, negative_errno(), "Cannot write %s: %m", l->path);
                        return;
                }
                l->size += (uint64_t) w;
                l->at_line_start = nl != NULL;
                i += len;
                if (l->at_line_start && l->size >= cfg->console_log_max_size)
                        logfile_rotate(c);
        }
        if (l->fd >= 0 && l->size >= cfg->console_log_max_size + 4096u) /* one endless line */
                logfile_rotate(c);
}

/* ---- journal --------------------------------------------------------------- */

static void journal_flush(Console *c) {
        if (c->journal_len == 0)
                return;
        (void) sd_journal_send("MESSAGE=%.*s", (int) c->journal_len, c->journal_line, "PRIORITY=%d", LOG_INFO,
                               "PVBACKD_GUEST=%s", c->guest, "PVBACKD_CONSOLE=%s", c->label, "PVBACKD_DOMID=%u",
                               c->domid, NULL);
        c->journal_len = 0;
}

static void journal_write(Console *c, const uint8_t *data, size_t n) {
        for (size_t i = 0; i < n; i++) {
                uint8_t ch = data[i];
                if (ch == '\n') {
                        journal_flush(c);
                        continue;
                }
                if (ch == '\r')
                        continue;
                c->journal_line[c->journal_len++] = (char) ch;
                if (c->journal_len == sizeof c->journal_line)
                        journal_flush(c);
        }
}

/* ---- the sinks of one console ------------------------------------------------ */

void console_sinks_open(Console *c) {
        const PvbackdConfig *cfg = backend_config(c->cc->backend);
        int r;

        if (!c->log || c->logfile.fd >= 0)
                return;
        if (!c->logfile.path &&
            asprintf(&c->logfile.path, "%s/guest-%s-%s.log", config_console_log_dir(cfg), c->guest, c->label) < 0) {
                c->logfile.path = NULL;
                return;
        }
        /* One level, as xenconsoled's --log-dir: the parent is the admin's. */
        if (mkdir(config_console_log_dir(cfg), 0750) < 0 && errno != EEXIST)
                log_cons_warning_errno(c, negative_errno(), "Cannot create %s: %m", config_console_log_dir(cfg));
        r = logfile_open(&c->logfile);
        if (r < 0)
                log_cons_warning_errno(c, r, "Cannot open the console log %s: %m", c->logfile.path);
}

void console_sinks_output(Console *c, const uint8_t *data, size_t n) {
        if (c->log)
                logfile_write(c, data, n);
        if (c->journal)
                journal_write(c, data, n);
}

void console_sinks_close(Console *c) {
        journal_flush(c);
        logfile_close(&c->logfile);
        free(c->logfile.path);
        c->logfile.path = NULL;
        c->listen_source = sd_event_source_disable_unref(c->listen_source);
        if (c->listen_fd >= 0) {
                close(c->listen_fd);
                c->listen_fd = -1;
                if (c->socket_path)
                        (void) unlink(c->socket_path);
        }
        if (c->client_fd >= 0)
                close(c->client_fd);
        c->client_fd = -1;
}

void consback_reopen_logs(Backend *b) {
        extern const BackendClass console_class;
        ConsClass *cc = backend_class_data(b, &console_class);

        if (!cc)
                return;
        for (Console *c = LIST_FIRST(&cc->consoles); c; c = LIST_NEXT(c, link))
                if (c->logfile.fd >= 0 && logfile_open(&c->logfile) < 0)
                        log_cons_warning_errno(c, negative_errno(), "Cannot reopen %s: %m", c->logfile.path);
}

/* ---- unix socket ------------------------------------------------------------- */

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Console *c = userdata;
        int client;

        (void) s;
        (void) revents;
        client = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0)
                return 0;
        if (c->client_fd >= 0) {
                /* One reader at a time, as with xenconsole's lock. */
                static const char busy[] = "console busy\n";
                (void) write(client, busy, sizeof busy - 1);
                close(client);
                return 0;
        }
        c->client_fd = client;
        if (console_reader_start(c) < 0) {
                close(c->client_fd);
                c->client_fd = -1;
        }
        return 0;
}

int console_socket_listen(Console *c) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        int r;

        if (c->listen_fd >= 0)
                return 0;
        if (strlen(c->socket_path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, c->socket_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        (void) unlink(c->socket_path); /* a stale socket from an earlier run */
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(fd, 4) < 0)
                return negative_errno();
        r = sd_event_add_io(backend_event(c->cc->backend), &c->listen_source, fd, EPOLLIN, on_accept, c);
        if (r < 0)
                return r;
        c->listen_fd = fd;
        fd = -1;
        return 0;
}
