/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef MW_SDNOTIFY_H
#define MW_SDNOTIFY_H

/* Tells systemd `state` ("READY=1", "STOPPING=1", "STATUS=..."), when it asked
 * ($NOTIFY_SOCKET); 0 when it did not. Returns -errno when the message could not go. */
int mw_sd_notify(const char *state);

#endif /* MW_SDNOTIFY_H */
