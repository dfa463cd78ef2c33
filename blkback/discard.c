/* SPDX-License-Identifier: GPL-2.0-or-later */

/* DISCARD off the event loop. Punching a hole in a large file or a
 * BLKDISCARD on a large range can take seconds, and libaio has no discard,
 * so each device gets one worker thread (started at its first discard)
 * that runs them in arrival order and hands the results back through an
 * eventfd watched by sd-event. The worker only sees offsets, lengths and a
 * dup of the backing fd: requests, rings and grants stay with the loop.
 *
 * Ordering: a discard counts as in flight on its queue like any I/O, so a
 * WRITE_BARRIER waits for it, and disconnect drains it.
 *
 * Teardown never waits for a running discard: the device drops its
 * reference and forgets the jobs; the worker finishes the one it is in,
 * sees the stop flag and frees what is left (the fd, the eventfd). */

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "blkback.h"

typedef struct BlkDiscardJob {
        struct BlkDiscardJob *next;
        BlkRequest *req; /* identifies the request; never touched by the worker */
        uint64_t offset, length;
        bool secure;     /* BLKIF_DISCARD_SECURE: BLKSECDISCARD (devices that offered it) */
        int result;      /* 0 or a negative errno */
} BlkDiscardJob;

struct BlkDiscardWorker {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        BlkDiscardJob *todo, **todo_tail, *done;
        bool stop;
        unsigned refs; /* the device and the thread */
        int fd;        /* dup of the backing fd */
        bool block_device;
        int efd;       /* written by the worker when done is not empty */
};

static void worker_free(BlkDiscardWorker *w) {
        for (BlkDiscardJob *j = w->todo, *n; j; j = n) {
                n = j->next;
                free(j);
        }
        for (BlkDiscardJob *j = w->done, *n; j; j = n) {
                n = j->next;
                free(j);
        }
        if (w->fd >= 0)
                close(w->fd);
        if (w->efd >= 0)
                close(w->efd);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
}

static void worker_unref_locked(BlkDiscardWorker *w) {
        bool last = --w->refs == 0;

        pthread_mutex_unlock(&w->lock);
        if (last)
                worker_free(w);
}

static int discard_range(const BlkDiscardWorker *w, uint64_t offset, uint64_t length, bool secure) {
        int k;

        if (secure && !w->block_device)
                return -EOPNOTSUPP; /* never offered for files */
        if (w->block_device) {
                uint64_t range[2] = { offset, length };
                k = ioctl(w->fd, secure ? BLKSECDISCARD : BLKDISCARD, range);
        } else
                k = fallocate(w->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset, (off_t) length);
        return k < 0 ? negative_errno() : 0;
}

static void *worker_main(void *userdata) {
        BlkDiscardWorker *w = userdata;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                BlkDiscardJob *j;

                while (!w->stop && !w->todo)
                        pthread_cond_wait(&w->cond, &w->lock);
                if (w->stop)
                        break;
                j = w->todo;
                w->todo = j->next;
                if (!w->todo)
                        w->todo_tail = &w->todo;
                pthread_mutex_unlock(&w->lock);

                j->result = discard_range(w, j->offset, j->length, j->secure);

                pthread_mutex_lock(&w->lock);
                if (w->stop) {
                        free(j);
                        break;
                }
                j->next = w->done;
                w->done = j;
                (void) !write(w->efd, &(uint64_t) { 1 }, sizeof(uint64_t));
        }
        worker_unref_locked(w);
        return NULL;
}

static int efd_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Blkback *bb = userdata;
        BlkDiscardWorker *w = bb->discard;
        BlkDiscardJob *done, *rev = NULL;
        uint64_t cnt;

        (void) s;
        (void) revents;
        (void) !read(fd, &cnt, sizeof cnt);
        pthread_mutex_lock(&w->lock);
        done = w->done;
        w->done = NULL;
        pthread_mutex_unlock(&w->lock);
        /* Oldest first: the list was built newest first. */
        while (done) {
                BlkDiscardJob *n = done->next;
                done->next = rev;
                rev = done;
                done = n;
        }
        for (BlkDiscardJob *j = rev, *n; j; j = n) {
                n = j->next;
                bb->discard_inflight--;
                blk_discard_done(bb, j->req, j->result);
                free(j);
        }
        blk_after_completions(bb, ~0u, 0); /* may free bb: last */
        return 0;
}

static int worker_start(Blkback *bb) {
        BlkDiscardWorker *w = calloc(1, sizeof *w);
        sigset_t all, old;
        pthread_attr_t attr;
        pthread_t t;
        int r;

        if (!w)
                return -ENOMEM;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        w->todo_tail = &w->todo;
        w->block_device = bb->backing.block_device;
        w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        w->fd = fcntl(bb->backing.fd, F_DUPFD_CLOEXEC, 3);
        w->refs = 1;
        if (w->efd < 0 || w->fd < 0) {
                r = negative_errno();
                worker_free(w);
                return r;
        }
        r = sd_event_add_io(xenbus_device_event(bb->dev), &bb->discard_source, w->efd, EPOLLIN, efd_handler, bb);
        if (r < 0) {
                worker_free(w);
                return r;
        }
        /* The loop takes the signals (signalfd); the worker takes none. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        w->refs = 2;
        r = -pthread_create(&t, &attr, worker_main, w);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0) {
                bb->discard_source = sd_event_source_disable_unref(bb->discard_source);
                worker_free(w);
                return r;
        }
        bb->discard = w;
        return 0;
}

int blk_discard_submit(Blkback *bb, BlkRequest *r) {
        BlkDiscardJob *j;
        int k;

        if (!bb->discard) {
                k = worker_start(bb);
                if (k < 0)
                        return k;
        }
        j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        *j = (BlkDiscardJob) {
                .req = r,
                .offset = r->sector * BLK_SECTOR_SIZE,
                .length = r->nr_sectors * BLK_SECTOR_SIZE,
                .secure = r->discard_flag & BLKIF_DISCARD_SECURE,
        };
        pthread_mutex_lock(&bb->discard->lock);
        *bb->discard->todo_tail = j;
        bb->discard->todo_tail = &j->next;
        pthread_cond_signal(&bb->discard->cond);
        pthread_mutex_unlock(&bb->discard->lock);
        bb->discard_inflight++;
        return 0;
}

void blk_discard_stop(Blkback *bb) {
        BlkDiscardWorker *w = bb->discard;

        if (!w)
                return;
        bb->discard_source = sd_event_source_disable_unref(bb->discard_source);
        pthread_mutex_lock(&w->lock);
        w->stop = true; /* queued and finished jobs are freed with the worker */
        pthread_cond_signal(&w->cond);
        worker_unref_locked(w);
        bb->discard = NULL;
        bb->discard_inflight = 0;
}
