/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* One small logging layer: messages go to stderr prefixed with "meshwarp: ". */
#ifndef MW_LOG_H
#define MW_LOG_H

enum mw_log_level {
	MW_LOG_WARN,
	MW_LOG_INFO,
	MW_LOG_DEBUG,
	MW_LOG_TRACE,
};

extern enum mw_log_level mw_log_level;

void mw_log(enum mw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_warn(...)	mw_log(MW_LOG_WARN, __VA_ARGS__)
#define pr_info(...)	mw_log(MW_LOG_INFO, __VA_ARGS__)
#define pr_debug(...)	mw_log(MW_LOG_DEBUG, __VA_ARGS__)

#endif /* MW_LOG_H */
