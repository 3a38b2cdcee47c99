// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Retry delays for the control-plane client: pure arithmetic, unit-tested. */
#include <stdint.h>

#include "backoff.h"

unsigned int mw_cp_backoff_ms(unsigned int base_ms, unsigned int max_ms, unsigned int failures,
			      uint32_t rnd)
{
	uint64_t d, quarter;

	if (failures == 0 || base_ms == 0)
		return 0;
	/* base * 2^(failures-1), saturating: past 2^32 * base every value is over any cap */
	d = base_ms;
	if (failures - 1 >= 32)
		d = UINT64_MAX;
	else
		d <<= failures - 1;
	if (d > max_ms)
		d = max_ms;
	/* minus rnd's share of a quarter of it: rnd 0 takes nothing, UINT32_MAX the whole quarter */
	quarter = d / 4;
	d -= ((quarter + 1) * (uint64_t)rnd) >> 32;
	return (unsigned int)d;
}
