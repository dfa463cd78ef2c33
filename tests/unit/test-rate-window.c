/* SPDX-License-Identifier: GPL-2.0-or-later */

/* RateWindow (daemon/util.c), the limiter behind the event channel and
 * console rate limits, netback's egress credit and the log rate limit. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util.h"

#define MS 1000u

static void test_events_per_window(void **state) {
        RateWindow w = {};
        (void) state;

        /* 3 per 100 ms: the 4th in the window is refused until it ends. */
        for (int i = 0; i < 3; i++)
                assert_true(rate_window_take(&w, 1000 * MS, 100 * MS, 3, 1));
        assert_false(rate_window_take(&w, 1050 * MS, 100 * MS, 3, 1));
        assert_false(rate_window_take(&w, 1099 * MS, 100 * MS, 3, 1));
        assert_int_equal(rate_window_end(&w, 100 * MS), 1100 * MS);
        assert_false(rate_window_ended(&w, 1099 * MS, 100 * MS));
        assert_true(rate_window_ended(&w, 1100 * MS, 100 * MS));
        /* The next window starts at its first use. */
        assert_true(rate_window_take(&w, 1234 * MS, 100 * MS, 3, 1));
        assert_int_equal(rate_window_end(&w, 100 * MS), 1334 * MS);
}

static void test_restart(void **state) {
        RateWindow w = {};
        (void) state;

        assert_true(rate_window_ended(&w, 5, 100 * MS)); /* never used */
        assert_true(rate_window_take(&w, 10 * MS, 100 * MS, 1, 1));
        assert_false(rate_window_take(&w, 20 * MS, 100 * MS, 1, 1));
        rate_window_restart(&w, 30 * MS);
        assert_true(rate_window_take(&w, 30 * MS, 100 * MS, 1, 1));
        assert_false(rate_window_take(&w, 129 * MS, 100 * MS, 1, 1));
}

/* Bytes, as netback's credit: what fits goes, a cost larger than the whole
 * limit goes alone in an untouched window. */
static void test_bytes(void **state) {
        RateWindow w = {};
        (void) state;

        assert_true(rate_window_take(&w, 1000 * MS, 100 * MS, 10000, 6000));
        assert_true(rate_window_take(&w, 1001 * MS, 100 * MS, 10000, 4000));
        assert_false(rate_window_take(&w, 1002 * MS, 100 * MS, 10000, 1));
        assert_true(rate_window_take(&w, 1100 * MS, 100 * MS, 10000, 20000)); /* untouched window */
        assert_false(rate_window_take(&w, 1101 * MS, 100 * MS, 10000, 1));
        assert_true(rate_window_take(&w, 1200 * MS, 100 * MS, 10000, 9000));
        assert_false(rate_window_take(&w, 1201 * MS, 100 * MS, 10000, 1001));
        assert_true(rate_window_take(&w, 1201 * MS, 100 * MS, 10000, 1000));
        /* A huge cost cannot wrap the arithmetic. */
        assert_false(rate_window_take(&w, 1202 * MS, 100 * MS, 10000, UINT64_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_events_per_window),
                cmocka_unit_test(test_restart),
                cmocka_unit_test(test_bytes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
