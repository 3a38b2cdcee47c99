/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the running kernel lacks, as the loader probed it (userspace/probe.c), in
 * rodata set before load. A branch behind a cleared flag is dead code to the
 * verifier (rodata is frozen, so the flag is a known constant) and is not checked:
 * the same object loads on kernels without the helper it calls.
 */
#ifndef MW_COMPAT_BPF_H
#define MW_COMPAT_BPF_H

#include "common.bpf.h"

/* Every object that includes this defines the flags; the linked object keeps one. */
#define MW_KF __attribute__((weak))

/* bpf_set_retval in cgroup/connect4/6 (6.1): a rejected connect() fails with the rule's
 * errno; without it, with EPERM. */
const volatile __u32 mw_kf_set_retval MW_KF = 1;

/* bpf_set_retval with its argument as a 64-bit register (the kernel's helper takes an
 * int in a 64-bit register and checks the register): see mw_reject(). */
static long (*mw_set_retval)(long retval) = (void *)BPF_FUNC_set_retval;

/* The largest errno the kernel takes back from a program (MAX_ERRNO). */
#define MW_MAX_ERRNO	4095

#endif /* MW_COMPAT_BPF_H */
