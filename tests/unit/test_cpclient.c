// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests for mw_cp_backoff_ms (userspace/lib/backoff.c): the delay before the next poll
 * of the control plane after `failures` consecutive failures, base * 2^(failures-1) capped at
 * max, minus up to a quarter of it from rnd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "backoff.h"

#define BASE	1000u
#define MAX	60000u

/* No failure, no wait: whatever the other arguments. */
static void test_zero_failures(void **state)
{
	(void)state;
	assert_int_equal(mw_cp_backoff_ms(BASE, MAX, 0, 0), 0);
	assert_int_equal(mw_cp_backoff_ms(BASE, MAX, 0, UINT32_MAX), 0);
	assert_int_equal(mw_cp_backoff_ms(UINT32_MAX, UINT32_MAX, 0, 12345), 0);
}

/* The first failure waits base (2^0), the jitter aside. */
static void test_one_failure(void **state)
{
	(void)state;
	assert_int_equal(mw_cp_backoff_ms(BASE, MAX, 1, 0), BASE);
	assert_int_equal(mw_cp_backoff_ms(250, MAX, 1, 0), 250);
	/* a base over the cap is capped from the first failure on */
	assert_int_equal(mw_cp_backoff_ms(90000, MAX, 1, 0), MAX);
}

/* rnd 0 takes no jitter: the bare schedule doubles at each failure. */
static void test_doubling(void **state)
{
	unsigned int f, want = BASE;

	(void)state;
	for (f = 1; f <= 6; f++) {
		assert_int_equal(mw_cp_backoff_ms(BASE, MAX, f, 0), want);
		want *= 2;
	}
	/* 1, 2, 4, 8, 16, 32 s; the 7th would be 64 s */
	assert_int_equal(mw_cp_backoff_ms(BASE, MAX, 6, 0), 32000);
}

/* Past the cap it stays at max, far past it too (no overflow of the shift or of the product). */
static void test_cap(void **state)
{
	unsigned int f;

	(void)state;
	assert_int_equal(mw_cp_backoff_ms(BASE, MAX, 7, 0), MAX);
	for (f = 7; f <= 200; f++)
		assert_int_equal(mw_cp_backoff_ms(BASE, MAX, f, 0), MAX);
	assert_int_equal(mw_cp_backoff_ms(BASE, MAX, 32, 0), MAX);
	assert_int_equal(mw_cp_backoff_ms(BASE, MAX, 33, 0), MAX);
	assert_int_equal(mw_cp_backoff_ms(BASE, MAX, 64, 0), MAX);
	assert_int_equal(mw_cp_backoff_ms(BASE, MAX, UINT32_MAX, 0), MAX);
	assert_int_equal(mw_cp_backoff_ms(UINT32_MAX, UINT32_MAX, 2, 0), UINT32_MAX);
	assert_int_equal(mw_cp_backoff_ms(UINT32_MAX, UINT32_MAX, UINT32_MAX, 0), UINT32_MAX);
	/* exactly at the cap */
	assert_int_equal(mw_cp_backoff_ms(15000, MAX, 3, 0), MAX);
	/* max 0: never a wait (the caller asked for it) */
	assert_int_equal(mw_cp_backoff_ms(BASE, 0, 5, 0), 0);
}

/* Jitter takes at most a quarter off, never adds; rnd's extremes reach both ends. */
static void test_jitter_bounds(void **state)
{
	static const uint32_t rnds[] = { 0, 1, 2, 0x7fffffffu, 0x80000000u, 0xdeadbeefu,
					 UINT32_MAX - 1, UINT32_MAX };
	unsigned int f, d, bare, i;

	(void)state;
	for (f = 1; f <= 12; f++) {
		bare = mw_cp_backoff_ms(BASE, MAX, f, 0);
		for (i = 0; i < sizeof(rnds) / sizeof(rnds[0]); i++) {
			d = mw_cp_backoff_ms(BASE, MAX, f, rnds[i]);
			assert_true(d <= bare);
			assert_true(d >= bare - bare / 4);
		}
		/* the whole quarter at UINT32_MAX, none at 0 */
		assert_int_equal(mw_cp_backoff_ms(BASE, MAX, f, UINT32_MAX), bare - bare / 4);
	}
	/* half-way: an eighth off */
	assert_int_equal(mw_cp_backoff_ms(BASE, MAX, 1, 0x80000000u), 875);
	assert_int_equal(mw_cp_backoff_ms(BASE, MAX, 20, 0x80000000u), 52500);
	/* at the cap */
	assert_int_equal(mw_cp_backoff_ms(BASE, MAX, 20, UINT32_MAX), 45000);
	/* the jitter does not overflow at the top of the range */
	assert_int_equal(mw_cp_backoff_ms(UINT32_MAX, UINT32_MAX, 1, UINT32_MAX),
			 UINT32_MAX - UINT32_MAX / 4);
}

/* More rnd never means a longer wait: the jitter is monotonic in rnd. */
static void test_jitter_monotonic(void **state)
{
	uint64_t r;
	unsigned int prev = UINT32_MAX, d;

	(void)state;
	for (r = 0; r <= UINT32_MAX; r += 0x01000193u) {
		d = mw_cp_backoff_ms(BASE, MAX, 3, (uint32_t)r);
		assert_true(d <= prev);
		assert_true(d >= 3000 && d <= 4000);
		prev = d;
	}
}

/* Small values: a quarter of under 4 ms rounds down, so nothing or one ms is taken off. */
static void test_small(void **state)
{
	(void)state;
	assert_int_equal(mw_cp_backoff_ms(0, MAX, 3, 0), 0);
	assert_int_equal(mw_cp_backoff_ms(0, MAX, 3, UINT32_MAX), 0);
	assert_int_equal(mw_cp_backoff_ms(1, MAX, 1, UINT32_MAX), 1);
	assert_int_equal(mw_cp_backoff_ms(1, MAX, 1, 0), 1);
	assert_int_equal(mw_cp_backoff_ms(1, MAX, 3, UINT32_MAX), 3);
	assert_int_equal(mw_cp_backoff_ms(1, MAX, 3, 0), 4);
	assert_true(mw_cp_backoff_ms(1, MAX, 2, UINT32_MAX) >= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_failures),
		cmocka_unit_test(test_one_failure),
		cmocka_unit_test(test_doubling),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_jitter_bounds),
		cmocka_unit_test(test_jitter_monotonic),
		cmocka_unit_test(test_small),
	};

	return cmocka_run_group_tests_name("cpclient", tests, NULL, NULL);
}
