/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* consback: PV consoles (xen/io/console.h) on ptys, unix sockets, log files
 * and the journal. pvbackd serves only the secondary consoles it creates
 * itself (device/console/1..9 with type=pvbackd, declared per guest name in
 * pvbackd.conf); console 0 stays with xenconsoled.
 *
 *   xenbus.c  the class: claims, probe, connect, disconnect, release, reload
 *   create.c  creating and removing our device directories per domain
 *   ring.c    the xencons_interface data path, flow control, the buffer
 *   pty.c     raw ptys whose slave stays open
 *   sink.c    log files with rotation, the journal, unix sockets */

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <xen/io/console.h>
#include <xenforeignmemory.h>

#include "grant.h"
#include "evtchn.h"
#include "record.h"
#include "xenbus.h"

/* Guest output kept while no reader takes it, bounded by buffer-limit. */
typedef struct ConsBuffer {
        uint8_t *data;
        size_t cap, len, head; /* bytes [head, head+len) modulo cap */
        uint64_t discarded;
} ConsBuffer;

typedef struct LogFile {
        int fd;
        char *path;
        uint64_t size;
        bool at_line_start;
} LogFile;

typedef struct ConsClass ConsClass;
typedef struct PrimaryConsole PrimaryConsole;

/* How the ring page is mapped. */
typedef enum ConsRingMap {
        CONS_RING_UNMAPPED,
        CONS_RING_DEVICE_GRANT, /* a secondary console's ring-ref grant, counted against the guest's cap */
        CONS_RING_GRANT0,       /* the primary console's grant entry 0 (GNTTAB_RESERVED_CONSOLE) */
        CONS_RING_FOREIGN,      /* the primary console's ring-ref frame, foreign-mapped */
} ConsRingMap;

typedef struct Console {
        ConsClass *cc;
        XenbusDevice *dev;        /* NULL for a primary console (it has no xenbus device) */
        PrimaryConsole *primary;  /* set for a primary console */
        uint32_t domid;
        const LogContext *logctx;
        RateLimit ratelimit;      /* for messages the guest can provoke */
        bool failed;              /* primary console: broken ring, until ring-ref or port change */
        LIST_ENTRY(Console) link;

        char *guest;  /* the guest's name as matched against the config */
        char *label;  /* F/name */
        ConsoleOutput output;
        bool log, journal;
        char *socket_path;

        /* The ring, while connected. */
        ConsRingMap ring_map;
        GrantMapping map;  /* CONS_RING_DEVICE_GRANT */
        void *ring_addr;   /* CONS_RING_GRANT0, CONS_RING_FOREIGN */
        struct xencons_interface *intf;
        EvtchnPort *port;

        /* Flow control: our own per-console event rate limit. */
        RateWindow window;
        uint64_t throttled;
        sd_event_source *throttle_timer;
        ConsBuffer buf;

        /* The reader: a pty master (output=pty) or the socket client. */
        int pty_master, pty_slave;
        char *tty_path;
        char pty_store_name[48]; /* its master's name in the FD store: a restart keeps the pty */
        int listen_fd, client_fd;
        sd_event_source *reader_source, *listen_source;
        bool input_blocked; /* in[] was full: wait for the guest's next event */
        bool ring_stalled;  /* overflow=keep left output in out[]: read it once the reader made room */

        LogFile logfile;
        char journal_line[1024];
        size_t journal_len;
} Console;

typedef struct ConsDomain {
        LIST_ENTRY(ConsDomain) link;
        uint32_t domid;
        char *name;                                   /* NULL: unreadable or too long, matches no section */
        char *labels[CONFIG_GUEST_CONSOLES_MAX + 1];  /* by devid: the consoles we created */
        PrimaryConsole *primary;                      /* [console] primary = yes */
} ConsDomain;

struct ConsClass {
        Backend *backend;
        LIST_HEAD(, ConsDomain) domains;
        LIST_HEAD(, Console) consoles; /* secondary and primary */

        /* [console] primary = yes, fixed at start: the core's XenStore handle
         * dispatches only its own watch tokens, so the per-domain console
         * watches live on a handle of our own. */
        bool primary;
        struct xs_handle *pxs;
        sd_event_source *pxs_source;
        xenforeignmemory_handle *fmem; /* NULL: no foreign-map fallback */
};

#define log_cons_full(c, level, error, ...) log_internal(level, error, (c)->logctx, __func__, __VA_ARGS__)
#define log_cons_debug(c, ...) log_cons_full(c, LOG_DEBUG, 0, __VA_ARGS__)
#define log_cons_info(c, ...) log_cons_full(c, LOG_INFO, 0, __VA_ARGS__)
#define log_cons_warning_errno(c, error, ...) log_cons_full(c, LOG_WARNING, error, __VA_ARGS__)

/* create.c */
void consback_domain_introduced(Backend *b, uint32_t domid);
void consback_domain_released(Backend *b, uint32_t domid);
void consback_domains_sync(ConsClass *cc);
void consback_domains_free(ConsClass *cc);
ConsDomain *consback_domain_find(ConsClass *cc, uint32_t domid);

/* ring.c */
void cons_buffer_append(ConsBuffer *buf, const uint8_t *data, size_t n, size_t limit);
void cons_buffer_free(ConsBuffer *buf);
int console_ring_start(Console *c, uint32_t ring_ref, uint32_t remote_port);
/* The ring is mapped already (c->ring_map and c->ring_addr set): bind and go. */
int console_ring_attach(Console *c, uint32_t remote_port);
/* Unbinds and unmaps, whichever way the ring was mapped. */
void console_ring_stop(Console *c);
int console_reader_start(Console *c);
void console_reader_update(Console *c);

/* primary.c */
int consback_primary_init(ConsClass *cc);
void consback_primary_done(ConsClass *cc);
void consback_primary_introduced(ConsClass *cc, ConsDomain *cd);
void consback_primary_free(PrimaryConsole *pc);
/* Creates or frees the console's pieces common to both kinds. */
void console_apply_config(Console *c);
void console_free_common(Console *c);

/* pty.c */
/* A raw pty; with store_name, the one an earlier process kept in the FD
 * store under that name (so that `xl console` clients stay attached across
 * a restart), else a new one that is kept there. */
int pty_open_raw(const char *store_name, int *ret_master, int *ret_slave, char **ret_path);
/* The console goes for good: its pty leaves the FD store. */
void pty_forget(const char *store_name);

/* sink.c */
void console_sinks_open(Console *c);
void console_sinks_output(Console *c, const uint8_t *data, size_t n);
void console_sinks_close(Console *c);
int console_socket_listen(Console *c);
/* Reopens every console's log file (for an external logrotate, on SIGHUP). */
void consback_reopen_logs(Backend *b);
