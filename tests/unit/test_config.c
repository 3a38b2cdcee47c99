// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Unit tests for userspace/lib/config.c: the APPMESH_* contract, message for message. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

#define ENV_MAX 16

/* A fake environment: name/value pairs; value NULL or a missing name is "unset". */
struct env {
	const char *name[ENV_MAX];
	const char *value[ENV_MAX];
	int n;
};

static const char *env_get(void *ctx, const char *name)
{
	struct env *e = ctx;
	int i;

	for (i = 0; i < e->n; i++)
		if (!strcmp(e->name[i], name))
			return e->value[i];
	return NULL;
}

static void env_set(struct env *e, const char *name, const char *value)
{
	int i;

	for (i = 0; i < e->n; i++) {
		if (!strcmp(e->name[i], name)) {
			e->value[i] = value;
			return;
		}
	}
	assert_true(e->n < ENV_MAX);
	e->name[e->n] = name;
	e->value[e->n] = value;
	e->n++;
}

/* What the App Mesh controller renders for a pod with two app ports. */
static void env_controller(struct env *e)
{
	memset(e, 0, sizeof(*e));
	env_set(e, "APPMESH_START_ENABLED", "1");
	env_set(e, "APPMESH_IGNORE_UID", "1337");
	env_set(e, "APPMESH_ENVOY_INGRESS_PORT", "15000");
	env_set(e, "APPMESH_ENVOY_EGRESS_PORT", "15001");
	env_set(e, "APPMESH_APP_PORTS", "8080,9090");
	env_set(e, "APPMESH_EGRESS_IGNORED_IP", "169.254.169.254,169.254.170.2,fd00::/8");
	env_set(e, "APPMESH_EGRESS_IGNORED_PORTS", "5432");
	env_set(e, "APPMESH_ENABLE_IPV6", "1");
}

/* The smallest valid environment: UID and egress port only. */
static void env_minimal(struct env *e)
{
	memset(e, 0, sizeof(*e));
	env_set(e, "APPMESH_IGNORE_UID", "1337");
	env_set(e, "APPMESH_ENVOY_EGRESS_PORT", "15001");
}

static void cidr_str(const struct mw_cidr *c, char *buf, size_t len)
{
	mw_cidr_str(c, buf, len);
}

/* Parses e, expects failure with exactly `msg` and `rc`, and frees. */
static void expect_error(struct env *e, int rc, const char *msg)
{
	struct mw_config cfg;
	char err[512] = "untouched";
	int ret;

	ret = mw_config_from_env(&cfg, env_get, e, err, sizeof(err));
	mw_config_free(&cfg);
	assert_int_equal(ret, rc);
	assert_string_equal(err, msg);
}

static void parse_ok(struct env *e, struct mw_config *cfg)
{
	char err[512] = "";
	int ret;

	ret = mw_config_from_env(cfg, env_get, e, err, sizeof(err));
	if (ret)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(ret, 0);
	assert_string_equal(err, "");
}

static void test_controller_env(void **state)
{
	struct mw_config cfg;
	struct env e;
	char buf[64];

	(void)state;
	env_controller(&e);
	parse_ok(&e, &cfg);

	assert_int_equal(cfg.start_enabled, 1);
	assert_int_equal(cfg.has_uid, 1);
	assert_int_equal(cfg.ignore_uid, 1337);
	assert_int_equal(cfg.has_gid, 0);
	assert_int_equal(cfg.egress_port, 15001);
	assert_int_equal(cfg.ingress_port, 15000);
	assert_int_equal(cfg.app_ports_set, 1);
	assert_int_equal(cfg.n_app_ports, 2);
	assert_int_equal(cfg.app_ports[0], 8080);
	assert_int_equal(cfg.app_ports[1], 9090);
	assert_int_equal(cfg.n_ignored_ports, 2);
	assert_int_equal(cfg.ignored_ports[0], 22);
	assert_int_equal(cfg.ignored_ports[1], 5432);
	assert_int_equal(cfg.enable_ipv6, 1);

	assert_int_equal(cfg.n_ignored, 3);
	cidr_str(&cfg.ignored[0], buf, sizeof(buf));
	assert_string_equal(buf, "169.254.169.254");
	assert_int_equal(cfg.ignored[0].is_v4, 1);
	assert_int_equal(cfg.ignored[0].prefix, 128);
	cidr_str(&cfg.ignored[1], buf, sizeof(buf));
	assert_string_equal(buf, "169.254.170.2");
	cidr_str(&cfg.ignored[2], buf, sizeof(buf));
	assert_string_equal(buf, "fd00::/8");
	assert_int_equal(cfg.ignored[2].is_v4, 0);
	assert_int_equal(cfg.ignored[2].prefix, 8);
	mw_config_free(&cfg);
	/* free leaves a zeroed config: a second free is harmless */
	assert_null(cfg.app_ports);
	mw_config_free(&cfg);
}

static void test_minimal_defaults(void **state)
{
	struct mw_config cfg;
	struct env e;

	(void)state;
	env_minimal(&e);
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.start_enabled, 0);
	assert_int_equal(cfg.ingress_port, 0);
	assert_int_equal(cfg.app_ports_set, 0);
	assert_int_equal(cfg.n_app_ports, 0);
	assert_null(cfg.app_ports);
	assert_int_equal(cfg.n_ignored_ports, 1);
	assert_int_equal(cfg.ignored_ports[0], MW_ALWAYS_IGNORED_PORT);
	assert_int_equal(cfg.n_ignored, 0);
	assert_int_equal(cfg.enable_ipv6, 0);
	mw_config_free(&cfg);
}

static void test_gid_only(void **state)
{
	struct mw_config cfg;
	struct env e;

	(void)state;
	env_minimal(&e);
	env_set(&e, "APPMESH_IGNORE_UID", "");
	env_set(&e, "APPMESH_IGNORE_GID", "0");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.has_uid, 0);
	assert_int_equal(cfg.has_gid, 1);
	assert_int_equal(cfg.ignore_gid, 0);

	mw_config_free(&cfg);
	env_set(&e, "APPMESH_IGNORE_UID", "4294967294");
	env_set(&e, "APPMESH_IGNORE_GID", "1337");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.has_uid, 1);
	assert_int_equal(cfg.ignore_uid, 4294967294u);
	assert_int_equal(cfg.has_gid, 1);
	assert_int_equal(cfg.ignore_gid, 1337);
	mw_config_free(&cfg);
}

static void test_start_enabled(void **state)
{
	static const char *const off[] = { NULL, "", "0", "yes", "true", " 1", "11" };
	struct mw_config cfg;
	struct env e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		env_minimal(&e);
		env_set(&e, "APPMESH_START_ENABLED", off[i]);
		parse_ok(&e, &cfg);
		assert_int_equal(cfg.start_enabled, 0);
		mw_config_free(&cfg);
	}
	env_set(&e, "APPMESH_START_ENABLED", "1");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.start_enabled, 1);
	mw_config_free(&cfg);
}

static void test_enable_ipv6(void **state)
{
	struct mw_config cfg;
	struct env e;

	(void)state;
	env_minimal(&e);
	env_set(&e, "APPMESH_ENABLE_IPV6", NULL);
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.enable_ipv6, 0);
	mw_config_free(&cfg);

	env_set(&e, "APPMESH_ENABLE_IPV6", "");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.enable_ipv6, 0);
	mw_config_free(&cfg);

	env_set(&e, "APPMESH_ENABLE_IPV6", "0");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.enable_ipv6, 0);
	mw_config_free(&cfg);

	env_set(&e, "APPMESH_ENABLE_IPV6", "1");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.enable_ipv6, 1);
	mw_config_free(&cfg);

	env_set(&e, "APPMESH_ENABLE_IPV6", "2");
	expect_error(&e, -EINVAL,
		     "APPMESH_ENABLE_IPV6: invalid value [2] specified (expected 0 or 1)");
	env_set(&e, "APPMESH_ENABLE_IPV6", "true");
	expect_error(&e, -EINVAL,
		     "APPMESH_ENABLE_IPV6: invalid value [true] specified (expected 0 or 1)");
	env_set(&e, "APPMESH_ENABLE_IPV6", "disabled");
	expect_error(&e, -EINVAL,
		     "APPMESH_ENABLE_IPV6: invalid value [disabled] specified (expected 0 or 1)");
}

static void test_inbound_policy(void **state)
{
	struct mw_config cfg;
	struct env e;

	(void)state;
	env_controller(&e);
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.inbound_fail_open, 0);	/* iptables refused: the default */
	mw_config_free(&cfg);

	env_set(&e, "MESHWARP_INBOUND_POLICY", "fail-open");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.inbound_fail_open, 1);
	mw_config_free(&cfg);

	env_set(&e, "MESHWARP_INBOUND_POLICY", "fail-closed");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.inbound_fail_open, 0);
	mw_config_free(&cfg);

	env_set(&e, "MESHWARP_INBOUND_POLICY", "open");
	expect_error(&e, -EINVAL,
		     "MESHWARP_INBOUND_POLICY: invalid value [open] specified (expected fail-closed or fail-open)");
}

static void test_shortcut(void **state)
{
	static const char *const off[] = { "", "0" };
	static const char *const bad[] = { "2", "yes", "on", "FORCE", " 1", "1 " };
	struct mw_config cfg;
	struct env e;
	size_t i;
	char msg[128];

	(void)state;
	env_controller(&e);
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.shortcut, MW_SHORTCUT_OFF);	/* opt-in */
	mw_config_free(&cfg);

	for (i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		env_set(&e, "MESHWARP_SHORTCUT", off[i]);
		parse_ok(&e, &cfg);
		assert_int_equal(cfg.shortcut, MW_SHORTCUT_OFF);
		mw_config_free(&cfg);
	}

	env_set(&e, "MESHWARP_SHORTCUT", "1");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.shortcut, MW_SHORTCUT_ON);
	mw_config_free(&cfg);

	env_set(&e, "MESHWARP_SHORTCUT", "force");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.shortcut, MW_SHORTCUT_FORCE);
	mw_config_free(&cfg);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		env_set(&e, "MESHWARP_SHORTCUT", bad[i]);
		snprintf(msg, sizeof(msg),
			 "MESHWARP_SHORTCUT: invalid value [%s] specified (expected 0, 1 or force)",
			 bad[i]);
		expect_error(&e, -EINVAL, msg);
	}
}

static void test_ports_sorted_unique_trimmed(void **state)
{
	static const uint16_t app[] = { 80, 443, 8080, 9090 };
	static const uint16_t ign[] = { 22, 25, 3306, 5432 };
	struct mw_config cfg;
	struct env e;
	size_t i;

	(void)state;
	env_controller(&e);
	env_set(&e, "APPMESH_APP_PORTS", " 9090 ,8080,\t443,,  , 80,8080,9090 ");
	env_set(&e, "APPMESH_EGRESS_IGNORED_PORTS", "5432, 22 ,3306,,25,5432,22");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.n_app_ports, sizeof(app) / sizeof(app[0]));
	for (i = 0; i < cfg.n_app_ports; i++)
		assert_int_equal(cfg.app_ports[i], app[i]);
	assert_int_equal(cfg.n_ignored_ports, sizeof(ign) / sizeof(ign[0]));
	for (i = 0; i < cfg.n_ignored_ports; i++)
		assert_int_equal(cfg.ignored_ports[i], ign[i]);
	mw_config_free(&cfg);

	/* empty and blank lists: 22 is still there */
	env_set(&e, "APPMESH_EGRESS_IGNORED_PORTS", "");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.n_ignored_ports, 1);
	assert_int_equal(cfg.ignored_ports[0], 22);
	mw_config_free(&cfg);
	env_set(&e, "APPMESH_EGRESS_IGNORED_PORTS", " , ,");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.n_ignored_ports, 1);
	assert_int_equal(cfg.ignored_ports[0], 22);
	mw_config_free(&cfg);
	env_set(&e, "APPMESH_EGRESS_IGNORED_PORTS", "65535,1");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.n_ignored_ports, 3);
	assert_int_equal(cfg.ignored_ports[0], 1);
	assert_int_equal(cfg.ignored_ports[1], 22);
	assert_int_equal(cfg.ignored_ports[2], 65535);
	mw_config_free(&cfg);
}

static void test_ignored_ip_order_and_whitespace(void **state)
{
	static const char *const want[] = {
		"10.0.0.0/8", "fd00::/8", "1.2.3.4", "10.0.0.0/8", "0.0.0.0/0", "::1", "5.6.7.8",
	};
	struct mw_config cfg;
	struct env e;
	char buf[64];
	size_t i;

	(void)state;
	env_minimal(&e);
	env_set(&e, "APPMESH_EGRESS_IGNORED_IP",
		" 10.0.0.0/8 ,fd00::/8,\t1.2.3.4/32,,10.0.0.0/8, 0.0.0.0/0 , ::1/128,::ffff:5.6.7.8, ");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.n_ignored, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < cfg.n_ignored; i++) {
		cidr_str(&cfg.ignored[i], buf, sizeof(buf));
		assert_string_equal(buf, want[i]);
	}
	assert_int_equal(cfg.ignored[0].prefix, 96 + 8);
	assert_int_equal(cfg.ignored[4].prefix, 96);
	assert_int_equal(cfg.ignored[5].is_v4, 0);
	assert_int_equal(cfg.ignored[6].is_v4, 1);
	assert_int_equal(cfg.ignored[6].prefix, 128);
	mw_config_free(&cfg);

	env_set(&e, "APPMESH_EGRESS_IGNORED_IP", "");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.n_ignored, 0);
	mw_config_free(&cfg);
}

/* iptables multiport stopped at 15 ports; there is no limit here. */
static void test_long_lists(void **state)
{
	char *ports, *ips, *p;
	struct mw_config cfg;
	struct env e;
	size_t i;

	(void)state;
	ports = malloc(500 * 8);
	ips = malloc(1000 * 24);
	assert_non_null(ports);
	assert_non_null(ips);
	/* 500 distinct ports in descending order, 22 not among them */
	for (i = 0, p = ports; i < 500; i++)
		p += sprintf(p, "%s%zu", i ? "," : "", 30000 - i);
	/* 1000 distinct v4 /24 and v6 /64 blocks, interleaved */
	for (i = 0, p = ips; i < 1000; i++) {
		if (i % 2)
			p += sprintf(p, "%s2001:db8:%zx::/64", i ? "," : "", i);
		else
			p += sprintf(p, "%s10.%zu.%zu.0/24", i ? "," : "", i / 256, i % 256);
	}

	env_minimal(&e);
	env_set(&e, "APPMESH_ENVOY_INGRESS_PORT", "15000");
	env_set(&e, "APPMESH_APP_PORTS", ports);
	env_set(&e, "APPMESH_EGRESS_IGNORED_PORTS", ports);
	env_set(&e, "APPMESH_EGRESS_IGNORED_IP", ips);
	parse_ok(&e, &cfg);

	assert_int_equal(cfg.n_app_ports, 500);
	assert_int_equal(cfg.n_ignored_ports, 501);
	assert_int_equal(cfg.ignored_ports[0], 22);
	for (i = 0; i < 500; i++) {
		assert_int_equal(cfg.app_ports[i], 29501 + i);
		assert_int_equal(cfg.ignored_ports[i + 1], 29501 + i);
	}
	assert_int_equal(cfg.n_ignored, 1000);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(cfg.ignored[i].is_v4, !(i % 2));
		assert_int_equal(cfg.ignored[i].prefix, i % 2 ? 64 : 96 + 24);
	}
	assert_int_equal(cfg.ignored[998].addr[13], 3);
	assert_int_equal(cfg.ignored[998].addr[14], 998 % 256);
	mw_config_free(&cfg);
	free(ports);
	free(ips);
}

static void test_uid_gid_required(void **state)
{
	static const char msg[] = "Variables APPMESH_IGNORE_UID and/or APPMESH_IGNORE_GID must be set.";
	struct env e;

	(void)state;
	env_controller(&e);
	env_set(&e, "APPMESH_IGNORE_UID", NULL);
	expect_error(&e, -EINVAL, msg);
	env_set(&e, "APPMESH_IGNORE_UID", "");
	env_set(&e, "APPMESH_IGNORE_GID", "");
	expect_error(&e, -EINVAL, msg);
}

static void test_uid_gid_invalid(void **state)
{
	struct env e;

	(void)state;
	env_controller(&e);
	env_set(&e, "APPMESH_IGNORE_UID", "abc");
	expect_error(&e, -EINVAL, "APPMESH_IGNORE_UID: invalid UID [abc] specified");
	env_set(&e, "APPMESH_IGNORE_UID", "-1");
	expect_error(&e, -EINVAL, "APPMESH_IGNORE_UID: invalid UID [-1] specified");
	env_set(&e, "APPMESH_IGNORE_UID", "4294967295");
	expect_error(&e, -EINVAL, "APPMESH_IGNORE_UID: invalid UID [4294967295] specified");
	env_set(&e, "APPMESH_IGNORE_UID", " 1337");
	expect_error(&e, -EINVAL, "APPMESH_IGNORE_UID: invalid UID [ 1337] specified");

	env_set(&e, "APPMESH_IGNORE_UID", "1337");
	env_set(&e, "APPMESH_IGNORE_GID", "abc");
	expect_error(&e, -EINVAL, "APPMESH_IGNORE_GID: invalid GID [abc] specified");
	env_set(&e, "APPMESH_IGNORE_UID", NULL);
	env_set(&e, "APPMESH_IGNORE_GID", "99999999999");
	expect_error(&e, -EINVAL, "APPMESH_IGNORE_GID: invalid GID [99999999999] specified");
}

static void test_egress_port(void **state)
{
	static const char missing[] =
		"APPMESH_ENVOY_EGRESS_PORT: missing required parameter proxyEgressPort";
	struct env e;

	(void)state;
	env_controller(&e);
	env_set(&e, "APPMESH_ENVOY_EGRESS_PORT", NULL);
	expect_error(&e, -EINVAL, missing);
	env_set(&e, "APPMESH_ENVOY_EGRESS_PORT", "");
	expect_error(&e, -EINVAL, missing);
	env_set(&e, "APPMESH_ENVOY_EGRESS_PORT", "x");
	expect_error(&e, -EINVAL, "APPMESH_ENVOY_EGRESS_PORT: invalid port [x] specified");
	env_set(&e, "APPMESH_ENVOY_EGRESS_PORT", "70000");
	expect_error(&e, -EINVAL, "APPMESH_ENVOY_EGRESS_PORT: invalid port [70000] specified");
	env_set(&e, "APPMESH_ENVOY_EGRESS_PORT", "0");
	expect_error(&e, -EINVAL, "APPMESH_ENVOY_EGRESS_PORT: invalid port [0] specified");
}

static void test_ingress_port(void **state)
{
	struct mw_config cfg;
	struct env e;

	(void)state;
	env_controller(&e);
	env_set(&e, "APPMESH_ENVOY_INGRESS_PORT", "abc");
	expect_error(&e, -EINVAL, "APPMESH_ENVOY_INGRESS_PORT: invalid port [abc] specified");
	env_set(&e, "APPMESH_ENVOY_INGRESS_PORT", "65536");
	expect_error(&e, -EINVAL, "APPMESH_ENVOY_INGRESS_PORT: invalid port [65536] specified");

	/* unset and empty are the same: no ingress, fine without app ports */
	env_set(&e, "APPMESH_APP_PORTS", NULL);
	env_set(&e, "APPMESH_ENVOY_INGRESS_PORT", "");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.ingress_port, 0);
	assert_int_equal(cfg.app_ports_set, 0);
	mw_config_free(&cfg);
}

static void test_app_ports_ingress_pairing(void **state)
{
	static const char no_ingress[] = "APPMESH_ENVOY_INGRESS_PORT: missing parameter "
					 "proxyIngressPort (required if appPorts are provided)";
	static const char no_app[] = "APPMESH_APP_PORTS: missing parameter appPorts "
				     "(required if proxyIngressPort is provided)";
	struct mw_config cfg;
	struct env e;

	(void)state;
	env_controller(&e);
	env_set(&e, "APPMESH_ENVOY_INGRESS_PORT", NULL);
	expect_error(&e, -EINVAL, no_ingress);
	env_set(&e, "APPMESH_ENVOY_INGRESS_PORT", "");
	expect_error(&e, -EINVAL, no_ingress);

	env_set(&e, "APPMESH_ENVOY_INGRESS_PORT", "15000");
	env_set(&e, "APPMESH_APP_PORTS", NULL);
	expect_error(&e, -EINVAL, no_app);

	/* egress-only workload as the controller renders it: set but empty */
	env_set(&e, "APPMESH_APP_PORTS", "");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.app_ports_set, 1);
	assert_int_equal(cfg.n_app_ports, 0);
	assert_int_equal(cfg.ingress_port, 15000);
	mw_config_free(&cfg);

	/* blank items only: still no ports, so no ingress needed */
	env_set(&e, "APPMESH_ENVOY_INGRESS_PORT", NULL);
	env_set(&e, "APPMESH_APP_PORTS", " , ");
	parse_ok(&e, &cfg);
	assert_int_equal(cfg.app_ports_set, 1);
	assert_int_equal(cfg.n_app_ports, 0);
	mw_config_free(&cfg);
}

static void test_port_list_invalid(void **state)
{
	struct env e;

	(void)state;
	env_controller(&e);
	env_set(&e, "APPMESH_APP_PORTS", "8080, x ,9090");
	expect_error(&e, -EINVAL, "APPMESH_APP_PORTS: invalid port [x] specified");
	env_set(&e, "APPMESH_APP_PORTS", "8080;9090");
	expect_error(&e, -EINVAL, "APPMESH_APP_PORTS: invalid port [8080;9090] specified");
	env_set(&e, "APPMESH_APP_PORTS", "0");
	expect_error(&e, -EINVAL, "APPMESH_APP_PORTS: invalid port [0] specified");

	env_controller(&e);
	env_set(&e, "APPMESH_EGRESS_IGNORED_PORTS", "5432, 99999 ,x");
	expect_error(&e, -EINVAL, "APPMESH_EGRESS_IGNORED_PORTS: invalid port [99999] specified");
	env_set(&e, "APPMESH_EGRESS_IGNORED_PORTS", "-22");
	expect_error(&e, -EINVAL, "APPMESH_EGRESS_IGNORED_PORTS: invalid port [-22] specified");
	env_set(&e, "APPMESH_EGRESS_IGNORED_PORTS", "80 443");
	expect_error(&e, -EINVAL, "APPMESH_EGRESS_IGNORED_PORTS: invalid port [80 443] specified");
}

static void test_ignored_ip_invalid(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0/33", "::/129", "1.2.3.4/", "/8", "1.2.3", "1.2.3.4.5", "256.0.0.1",
		"10.0.0.0/-8", "10.0.0.0/+8", "10.0.0.0/8/8", "fd00::/8x", "example.com",
		"fe80::1%eth0", "1.2.3.4 /32", "0x0a000000",
	};
	char want[256], val[128];
	struct env e;
	size_t i;

	(void)state;
	env_controller(&e);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(val, sizeof(val), "169.254.169.254,%s,fd00::/8", bad[i]);
		snprintf(want, sizeof(want), "APPMESH_EGRESS_IGNORED_IP: invalid IP or CIDR block "
			 "[%s] specified in egressIgnoredIPs", bad[i]);
		env_set(&e, "APPMESH_EGRESS_IGNORED_IP", val);
		expect_error(&e, -EINVAL, want);
	}
	env_set(&e, "APPMESH_EGRESS_IGNORED_IP", "10.0.0.1/8");
	expect_error(&e, -EINVAL, "APPMESH_EGRESS_IGNORED_IP: invalid IP or CIDR block "
		     "[10.0.0.1/8] specified in egressIgnoredIPs; host bits set");
	env_set(&e, "APPMESH_EGRESS_IGNORED_IP", "fd00::1/8");
	expect_error(&e, -EINVAL, "APPMESH_EGRESS_IGNORED_IP: invalid IP or CIDR block "
		     "[fd00::1/8] specified in egressIgnoredIPs; host bits set");
}

/* The first error wins, in the order the variables are checked. */
static void test_first_error_only(void **state)
{
	struct env e;

	(void)state;
	env_controller(&e);
	env_set(&e, "APPMESH_IGNORE_UID", "abc");
	env_set(&e, "APPMESH_ENVOY_EGRESS_PORT", "x");
	env_set(&e, "APPMESH_EGRESS_IGNORED_IP", "nope");
	expect_error(&e, -EINVAL, "APPMESH_IGNORE_UID: invalid UID [abc] specified");
	env_set(&e, "APPMESH_IGNORE_UID", "1337");
	expect_error(&e, -EINVAL, "APPMESH_ENVOY_EGRESS_PORT: invalid port [x] specified");
}

static void test_err_buffer(void **state)
{
	struct mw_config cfg;
	struct env e;
	char err[8];
	int ret;

	(void)state;
	env_controller(&e);
	env_set(&e, "APPMESH_ENVOY_EGRESS_PORT", "x");
	memset(err, 'z', sizeof(err));
	ret = mw_config_from_env(&cfg, env_get, &e, err, sizeof(err));
	mw_config_free(&cfg);
	assert_int_equal(ret, -EINVAL);
	assert_string_equal(err, "APPMESH");

	ret = mw_config_from_env(&cfg, env_get, &e, NULL, 0);
	mw_config_free(&cfg);
	assert_int_equal(ret, -EINVAL);

	/* a long bad value is truncated, not overflowed */
	{
		char big[4096], msg[64];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		env_set(&e, "APPMESH_ENVOY_EGRESS_PORT", "15001");
		env_set(&e, "APPMESH_EGRESS_IGNORED_IP", big);
		ret = mw_config_from_env(&cfg, env_get, &e, msg, sizeof(msg));
		mw_config_free(&cfg);
		assert_int_equal(ret, -EINVAL);
		assert_int_equal(strlen(msg), sizeof(msg) - 1);
	}
}

static void test_parse_port(void **state)
{
	static const char *const bad[] = {
		"0", "65536", "-1", "+1", " 1", "1 ", "1x", "x1", "", "0x10", "1.0", "99999999999999999999",
	};
	uint16_t p = 7;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mw_parse_port(bad[i], &p), -EINVAL);
		assert_int_equal(p, 7);
	}
	assert_int_equal(mw_parse_port(NULL, &p), -EINVAL);
	assert_int_equal(mw_parse_port("1", &p), 0);
	assert_int_equal(p, 1);
	assert_int_equal(mw_parse_port("65535", &p), 0);
	assert_int_equal(p, 65535);
	assert_int_equal(mw_parse_port("080", &p), 0);
	assert_int_equal(p, 80);
}

static void test_parse_id(void **state)
{
	static const char *const bad[] = {
		"4294967295", "4294967296", "18446744073709551617", "-1", "+1", " 1", "1 ", "1x",
		"", "0x10",
	};
	uint32_t id = 7;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mw_parse_id(bad[i], &id), -EINVAL);
		assert_int_equal(id, 7);
	}
	assert_int_equal(mw_parse_id(NULL, &id), -EINVAL);
	assert_int_equal(mw_parse_id("0", &id), 0);
	assert_int_equal(id, 0);
	assert_int_equal(mw_parse_id("4294967294", &id), 0);
	assert_int_equal(id, 4294967294u);
	assert_int_equal(mw_parse_id("1337", &id), 0);
	assert_int_equal(id, 1337);
}

static void test_parse_cidr(void **state)
{
	static const uint8_t mapped_1234[16] = { [10] = 0xff, [11] = 0xff, 1, 2, 3, 4 };
	static const uint8_t ten[16] = { [10] = 0xff, [11] = 0xff, 10 };
	static const uint8_t fd00[16] = { 0xfd };
	static const char *const bad[] = {
		"10.0.0.0/33", "::/129", "1.2.3.4/", "/8", "", "10.0.0.1/8", "fd00::1/8",
		"::ffff:1.2.3.4/64", "::ffff:1.2.3.4/120", "1.2.3.4/ 8", "1.2.3.4/08x",
		"2001:db8::/32 ", "1.2.3.4/32/", "10.0.0.0/0x8",
	};
	struct mw_cidr c, orig;
	char buf[64];
	size_t i;

	(void)state;
	memset(&orig, 0x5a, sizeof(orig));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = orig;
		assert_int_equal(mw_parse_cidr(bad[i], &c), -EINVAL);
		assert_memory_equal(&c, &orig, sizeof(c));
	}
	assert_int_equal(mw_parse_cidr(NULL, &c), -EINVAL);

	assert_int_equal(mw_parse_cidr("1.2.3.4", &c), 0);
	assert_memory_equal(c.addr, mapped_1234, 16);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(c.is_v4, 1);

	assert_int_equal(mw_parse_cidr("::ffff:1.2.3.4", &c), 0);
	assert_memory_equal(c.addr, mapped_1234, 16);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(c.is_v4, 1);
	mw_cidr_str(&c, buf, sizeof(buf));
	assert_string_equal(buf, "1.2.3.4");

	assert_int_equal(mw_parse_cidr("::ffff:10.0.0.0/104", &c), 0);
	assert_memory_equal(c.addr, ten, 16);
	assert_int_equal(c.prefix, 104);
	assert_int_equal(c.is_v4, 1);
	mw_cidr_str(&c, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.0/8");

	assert_int_equal(mw_parse_cidr("10.0.0.0/8", &c), 0);
	assert_memory_equal(c.addr, ten, 16);
	assert_int_equal(c.prefix, 104);
	assert_int_equal(c.is_v4, 1);

	assert_int_equal(mw_parse_cidr("0.0.0.0/0", &c), 0);
	assert_int_equal(c.prefix, 96);
	assert_int_equal(c.is_v4, 1);
	assert_int_equal(mw_parse_cidr("1.2.3.4/32", &c), 0);
	assert_int_equal(c.prefix, 128);

	assert_int_equal(mw_parse_cidr("fd00::/8", &c), 0);
	assert_memory_equal(c.addr, fd00, 16);
	assert_int_equal(c.prefix, 8);
	assert_int_equal(c.is_v4, 0);

	assert_int_equal(mw_parse_cidr("::/0", &c), 0);
	assert_int_equal(c.prefix, 0);
	assert_int_equal(c.is_v4, 0);
	mw_cidr_str(&c, buf, sizeof(buf));
	assert_string_equal(buf, "::/0");

	assert_int_equal(mw_parse_cidr("2001:DB8::1", &c), 0);
	assert_int_equal(c.prefix, 128);
	mw_cidr_str(&c, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::1");

	assert_int_equal(mw_parse_cidr("::ffff:1.2.3.0/120", &c), 0);
	assert_int_equal(c.is_v4, 1);
	mw_cidr_str(&c, buf, sizeof(buf));
	assert_string_equal(buf, "1.2.3.0/24");

	/* the v4-mapped block itself, written in v6 */
	assert_int_equal(mw_parse_cidr("::ffff:0:0/96", &c), 0);
	assert_int_equal(c.is_v4, 1);
	mw_cidr_str(&c, buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0.0/0");
}

static void test_cidr_str_truncates(void **state)
{
	struct mw_cidr c;
	char buf[6];

	(void)state;
	assert_int_equal(mw_parse_cidr("192.168.100.0/24", &c), 0);
	memset(buf, 'z', sizeof(buf));
	mw_cidr_str(&c, buf, sizeof(buf));
	assert_string_equal(buf, "192.1");
	mw_cidr_str(&c, buf, 0);	/* nothing written, nothing read */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inbound_policy),
		cmocka_unit_test(test_shortcut),
		cmocka_unit_test(test_controller_env),
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_gid_only),
		cmocka_unit_test(test_start_enabled),
		cmocka_unit_test(test_enable_ipv6),
		cmocka_unit_test(test_ports_sorted_unique_trimmed),
		cmocka_unit_test(test_ignored_ip_order_and_whitespace),
		cmocka_unit_test(test_long_lists),
		cmocka_unit_test(test_uid_gid_required),
		cmocka_unit_test(test_uid_gid_invalid),
		cmocka_unit_test(test_egress_port),
		cmocka_unit_test(test_ingress_port),
		cmocka_unit_test(test_app_ports_ingress_pairing),
		cmocka_unit_test(test_port_list_invalid),
		cmocka_unit_test(test_ignored_ip_invalid),
		cmocka_unit_test(test_first_error_only),
		cmocka_unit_test(test_err_buffer),
		cmocka_unit_test(test_parse_port),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_parse_cidr),
		cmocka_unit_test(test_cidr_str_truncates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
