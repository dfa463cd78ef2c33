/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The producer-index check every ring goes through (backends/ring.h):
 * what an honest frontend can write passes, everything else is a broken
 * ring, across the 2^32 wrap of the indices. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ring.h"

#define SIZE 32u

static void test_honest_indices(void **state) {
        (void) state;
        /* Empty, partly filled, exactly full. */
        assert_true(ring_req_prod_sane(0, 0, 0, SIZE));
        assert_true(ring_req_prod_sane(5, 0, 0, SIZE));
        assert_true(ring_req_prod_sane(SIZE, 0, 0, SIZE));
        /* Requests consumed but not yet answered (blkback's I/O in flight):
         * the frontend may still post up to SIZE beyond the responses. */
        assert_true(ring_req_prod_sane(40, 30, 10, SIZE));
        assert_true(ring_req_prod_sane(10 + SIZE, 30, 10, SIZE));
        /* All consumed. */
        assert_true(ring_req_prod_sane(30, 30, 30, SIZE));
}

static void test_beyond_the_consumer(void **state) {
        (void) state;
        assert_false(ring_req_prod_sane(SIZE + 1, 0, 0, SIZE));
        assert_false(ring_req_prod_sane(1000, 0, 0, SIZE));
        /* An index that went backwards is far ahead, modulo 2^32. */
        assert_false(ring_req_prod_sane(29, 30, 30, SIZE));
        assert_false(ring_req_prod_sane(0, 1, 1, SIZE));
}

/* The response half: the consumer is close enough to req_prod, but
 * req_prod is more than a ring ahead of what was answered -- more requests
 * than the frontend can have posted (as netback's RX once missed). */
static void test_beyond_the_responses(void **state) {
        (void) state;
        assert_false(ring_req_prod_sane(11 + SIZE, 30, 10, SIZE));
        assert_false(ring_req_prod_sane(100, 90, 10, SIZE));
        /* netback RX: one buffer more than a full ring, nothing answered. */
        assert_false(ring_req_prod_sane(SIZE + 1, 1, 0, SIZE));
        assert_true(ring_req_prod_sane(SIZE, 1, 0, SIZE));
}

static void test_wrap(void **state) {
        (void) state;
        const uint32_t top = UINT32_MAX - 3; /* indices about to wrap */

        assert_true(ring_req_prod_sane(top + 10, top, top, SIZE));
        assert_true(ring_req_prod_sane(top + SIZE, top + 2, top, SIZE));
        assert_false(ring_req_prod_sane(top + SIZE + 1, top + 2, top, SIZE));
        assert_false(ring_req_prod_sane(top + SIZE + 1, top + SIZE, top, SIZE));
        assert_false(ring_req_prod_sane(top - 1, top, top, SIZE));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_honest_indices),
                cmocka_unit_test(test_beyond_the_consumer),
                cmocka_unit_test(test_beyond_the_responses),
                cmocka_unit_test(test_wrap),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
