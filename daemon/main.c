/* SPDX-License-Identifier: GPL-2.0-or-later */

/* pvbackd: userspace Xen PV backends (block, network, console) in one
 * sd-event loop. This file is the process: arguments, config, signals,
 * sd_notify, and the event loop around the XenBus core. */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "classes.h"
#include "config.h"
#include "crashpoint.h"
#include "fdstore.h"
#include "log.h"
#include "xenbus.h"

#define DEFAULT_CONFIG "/etc/xen/pvbackd.conf"

static const char *arg_config = DEFAULT_CONFIG;
static bool arg_config_given;
static int arg_log_level = -1;

static void help(void) {
        printf("Usage: pvbackd [OPTIONS]\n\n"
               "Serves Xen PV block, network and console devices from Dom0.\n\n"
               "  -c --config=PATH      configuration file (default " DEFAULT_CONFIG ")\n"
               "  -l --log-level=LEVEL  err, warning, notice, info or debug (overrides the config)\n"
               "  -h --help             show this help\n"
               "  -V --version          show the version\n\n"
               "See pvbackd(8) and pvbackd.conf(5).\n");
}

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "log-level", required_argument, NULL, 'l' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "c:l:hV", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        arg_config_given = true;
                        break;
                case 'l':
                        arg_log_level = log_level_from_string(optarg);
                        if (arg_log_level < 0) {
                                fprintf(stderr, "pvbackd: invalid log level '%s'\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("pvbackd %s\n", PVBACKD_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "pvbackd: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* A missing file at the default path means "all defaults"; a file named on
 * the command line must exist. Errors name file, line and key. */
static int load_config(PvbackdConfig *ret) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = config_load(arg_config, ret, &error);
        if (r == -ENOENT && !arg_config_given) {
                config_init_defaults(ret);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "%s", error ?: "Failed to load the configuration");
        return 0;
}

static void notify_status(Backend *b) {
        _cleanup_free_ char *status = NULL, *line = NULL;

        if (backend_status(b, &status) < 0 || asprintf(&line, "STATUS=%s", status) < 0)
                return;
        (void) sd_notify(false, line);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        notify_status(userdata);
        return 0;
}

static sd_event_source *status_timer;

/* Coalesce status updates: attaching 1000 devices is one update, not 1000. */
static void status_changed(Backend *b) {
        int enabled = 0;

        if (!status_timer)
                return;
        (void) sd_event_source_get_enabled(status_timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        (void) sd_event_source_set_time_relative(status_timer, 100 * 1000);
        (void) sd_event_source_set_enabled(status_timer, SD_EVENT_ONESHOT);
        (void) b;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Backend *b = userdata;
        PvbackdConfig c;

        (void) s;
        (void) si;
        (void) sd_notify(false, "RELOADING=1");
        if (load_config(&c) >= 0) {
                log_set_max_level(arg_log_level >= 0 ? arg_log_level : c.log_level);
                backend_reload(b, &c);
                log_info("Configuration reloaded from %s", arg_config);
        } else
                log_warning("Keeping the previous configuration");
        (void) sd_notify(false, "READY=1");
        return 0;
}

static void raise_nofile_limit(void) {
        struct rlimit rl;

        /* One fd per tap queue, backing file and pty: thousands of guests
         * need far more than the soft default of 1024. */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int main(int argc, char *argv[]) {
        PvbackdConfig config;
        sd_event *e = NULL;
        Backend *b = NULL;
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        log_open(log_stderr_is_journal(), arg_log_level >= 0 ? arg_log_level : LOG_INFO);
        r = load_config(&config);
        if (r < 0)
                return EXIT_FAILURE;
        log_open(config.log_target == LOG_TARGET_JOURNAL ||
                         (config.log_target == LOG_TARGET_AUTO && log_stderr_is_journal()),
                 arg_log_level >= 0 ? arg_log_level : config.log_level);
        raise_nofile_limit();

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        /* A closed pty or tap peer must be an error code, not a death. */
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&e);
        if (r < 0) {
                log_error_errno(r, "Failed to create the event loop: %m");
                goto finish;
        }
        /* SIGTERM/SIGINT: leave the loop; in-flight work is finished by the
         * classes' release(), and nothing a frontend sees is changed, so a
         * restarted daemon can pick the devices up again. */
        if ((r = sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(e, NULL, SIGINT, NULL, NULL)) < 0) {
                log_error_errno(r, "Failed to handle signals: %m");
                goto finish;
        }
        r = sd_event_set_watchdog(e, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog: %m");

        /* What an earlier process left in the FD store, before anything
         * opens its own. */
        (void) fdstore_init();
        crash_point_init();

        r = backend_new(e, &config, pvbackd_classes, &b);
        if (r < 0)
                goto finish;
        r = sd_event_add_signal(e, NULL, SIGHUP, on_sighup, b);
        if (r < 0) {
                log_error_errno(r, "Failed to handle SIGHUP: %m");
                goto finish;
        }
        r = sd_event_add_time(e, &status_timer, CLOCK_MONOTONIC, 0, 0, on_status_timer, b);
        if (r < 0)
                goto finish;
        (void) sd_event_source_set_enabled(status_timer, SD_EVENT_OFF);
        backend_set_status_callback(b, status_changed);

        r = backend_start(b);
        if (r < 0)
                goto finish;

        notify_status(b);
        (void) sd_notify(false, "READY=1");
        log_info("pvbackd %s started", PVBACKD_VERSION);

        /* > 0: a part of the daemon asked for a failing exit, and said why. */
        r = sd_event_loop(e);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
        (void) sd_notify(false, "STOPPING=1");
        log_info("Stopping");

finish:
        b = backend_free(b);
        config_free(&config); /* only if backend_new() never took it */
        status_timer = sd_event_source_disable_unref(status_timer);
        sd_event_unref(e);
        return r != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
