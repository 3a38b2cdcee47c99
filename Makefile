# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# meshwarp: `make` builds build/meshwarp, `make check` runs every test,
# `make install` honours PREFIX and DESTDIR. V=1 shows the commands.

BUILD		?= build
PREFIX		?= /usr/local
DESTDIR		?=
CC		?= gcc
CLANG		?= clang
BPFTOOL		?= bpftool
PKG_CONFIG	?= pkg-config

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

MULTIARCH	:= $(shell $(CC) -print-multiarch 2>/dev/null)
# A pinned BPF ISA: v3 (32-bit jumps, Linux 5.1+), below every kernel we target.
BPF_CFLAGS	:= -g -O2 -target bpf -mcpu=v3 -Wall -Wextra -Werror -Wno-unused-parameter \
		   -Iinclude $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))

# -Wformat-truncation cannot see that a path helper checks snprintf's result
# after inlining; paths are checked by mw_join/mw_path instead.
WARNINGS	:= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
		   -Wpointer-arith -Wformat=2 -Wno-unused-parameter -Wno-format-truncation
CFLAGS		?= -O2 -g
CFLAGS		+= -std=gnu11 $(WARNINGS)
CPPFLAGS	+= -D_GNU_SOURCE -Iinclude -Iuserspace/lib -Iuserspace -I$(BUILD)/bpf -MMD -MP
BPF_LIBS	:= $(shell $(PKG_CONFIG) --libs libbpf 2>/dev/null || echo -lbpf) -lelf -lz
JSON_LIBS	:= $(shell $(PKG_CONFIG) --libs json-c 2>/dev/null || echo -ljson-c)
# Routing tables are read with yajl's event parser (docs/design-notes.md, "Libraries").
YAJL_LIBS	:= $(shell $(PKG_CONFIG) --libs yajl 2>/dev/null || echo -lyajl)
HTTP_LIBS	:= $(shell $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
# The control-plane client: libcurl (OpenSSL flavour) and OpenSSL itself (the SAN check).
CURL_LIBS	:= $(shell $(PKG_CONFIG) --libs libcurl openssl 2>/dev/null || echo -lcurl -lssl -lcrypto)

# The node-wide object (cgroup hooks) is linked from its per-family sources; the
# per-namespace object (sk_lookup, one instance per enrolled namespace) stands alone.
BPF_NODE_SRCS	:= bpf/sock_addr.bpf.c bpf/sockops.bpf.c bpf/sockopt.bpf.c bpf/sk_msg.bpf.c
BPF_NS_SRCS	:= bpf/sk_lookup.bpf.c
BPF_OBJS	:= $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_NODE_SRCS) $(BPF_NS_SRCS))
BPF_NODE_OBJS	:= $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_NODE_SRCS))
BPF_OBJ		:= $(BUILD)/bpf/meshwarp.bpf.o
SKELS		:= $(BUILD)/bpf/meshwarp.skel.h $(BUILD)/bpf/meshwarp_lookup.skel.h

LIB_SRCS	:= $(wildcard userspace/lib/*.c)
LIB_OBJS	:= $(patsubst userspace/%.c,$(BUILD)/%.o,$(LIB_SRCS))
LIB		:= $(BUILD)/lib/libmeshwarp.a

APP_SRCS	:= $(wildcard userspace/*.c)
APP_OBJS	:= $(patsubst userspace/%.c,$(BUILD)/app/%.o,$(APP_SRCS))
BIN		:= $(BUILD)/meshwarp

UNIT_SRCS	:= $(wildcard tests/unit/test_*.c)
UNIT_BINS	:= $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
BPFT_SRCS	:= $(wildcard tests/bpf/test_*.c)
BPFT_BINS	:= $(patsubst tests/bpf/%.c,$(BUILD)/tests/bpf/%,$(BPFT_SRCS))
TOOL_SRCS	:= $(wildcard tests/tools/*.c)
TOOL_BINS	:= $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRCS))

.PHONY: all clean check check-unit check-bpf check-integration tests install bench bench-routes vmtest
.DELETE_ON_ERROR:

all: $(BIN)

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c
	$(call msg,BPF,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

# The per-family objects become one object (one skeleton, one set of maps).
$(BPF_OBJ): $(BPF_NODE_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(BUILD)/bpf/meshwarp.skel.h: $(BPF_OBJ)
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name meshwarp_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/bpf/meshwarp_lookup.skel.h: $(BUILD)/bpf/sk_lookup.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name meshwarp_lookup > $@.tmp && mv $@.tmp $@

$(BUILD)/lib/%.o: userspace/lib/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/app/%.o: userspace/%.c $(SKELS)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BIN): $(APP_OBJS) $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(BPF_LIBS) $(JSON_LIBS) $(YAJL_LIBS) $(HTTP_LIBS) $(CURL_LIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB) -lcmocka $(JSON_LIBS) $(YAJL_LIBS)

# BPF_PROG_TEST_RUN tests: they load the skeletons themselves (no pins), so they
# depend on them and link libbpf.
$(BUILD)/tests/bpf/%: tests/bpf/%.c $(SKELS)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< -lcmocka $(BPF_LIBS)

$(BUILD)/tests/tools/%: tests/tools/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $<

tests: $(BIN) $(UNIT_BINS) $(BPFT_BINS) $(TOOL_BINS)

check-unit: $(UNIT_BINS)
	$(Q)tests/run-unit.sh $(UNIT_BINS)

# Root needed; as another user every case is skipped.
check-bpf: $(BPFT_BINS)
	$(Q)tests/run-unit.sh $(BPFT_BINS)

check-integration: $(BIN) $(TOOL_BINS)
	$(Q)tests/run-integration.sh

# Every test: unit (no root) then integration (root, namespaces of its own).
check: tests
	$(Q)tests/run-all.sh

# Benchmarks (root; never pass/fail on timings): bench/run.sh, see bench/README.md.
# `make bench BENCH_ARGS=--quick` is the smoke run.
bench: $(BIN)
	$(Q)BUILD=$(BUILD) CC=$(CC) bench/run.sh $(BENCH_ARGS)

# Routing tables by size (root): apply time per phase and connect() cost, see docs/routes.md.
# `make bench-routes BENCH_ROUTES_ARGS="--sizes 10,1000 --count 500"` is a quick run.
bench-routes: $(BIN)
	$(Q)BUILD=$(BUILD) CC=$(CC) bench/routes.sh $(BENCH_ROUTES_ARGS)

# Every kernel of vmtest/kernels under qemu, the BPF and integration suites inside each (root;
# host tools: vmtest/install-deps.sh). VMTEST_SUITE, VMTEST_TIMEOUT...: see vmtest/README.md.
vmtest: tests
	$(Q)VMTEST_BUILD=$(abspath $(BUILD)) vmtest/run.sh

# The unit goes where systemd looks for units whatever PREFIX is (/etc for a local
# install); its ExecStart= and Documentation= are rewritten to PREFIX's paths.
SYSTEMDUNITDIR	?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,/etc/systemd/system)
DOCDIR		?= $(PREFIX)/share/doc/meshwarp

install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/meshwarp
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's#/usr/sbin/meshwarp#$(PREFIX)/sbin/meshwarp#' \
	    -e 's#/usr/share/doc/meshwarp#$(DOCDIR)#g' scripts/systemd/meshwarp-agent.service \
		>$(DESTDIR)$(SYSTEMDUNITDIR)/meshwarp-agent.service
	install -d $(DESTDIR)$(DOCDIR)
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/

clean:
	rm -rf $(BUILD)

-include $(BPF_OBJS:.o=.d) $(LIB_OBJS:.o=.d) $(APP_OBJS:.o=.d) $(TOOL_BINS:=.d)
