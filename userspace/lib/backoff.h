/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef MW_BACKOFF_H
#define MW_BACKOFF_H

#include <stdint.h>

/* Delay before the next try after `failures` consecutive failures: base * 2^(failures-1),
 * at most max, minus up to a quarter of it from rnd (jitter, so nodes do not retry together). */
unsigned int mw_cp_backoff_ms(unsigned int base_ms, unsigned int max_ms, unsigned int failures,
			      uint32_t rnd);

#endif /* MW_BACKOFF_H */
