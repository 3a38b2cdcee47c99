// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include "log.h"

enum mw_log_level mw_log_level = MW_LOG_INFO;

void mw_log(enum mw_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > mw_log_level)
		return;
	va_start(ap, fmt);
	fputs("meshwarp: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
