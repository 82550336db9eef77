# ferry — plain Make. `make` builds everything into build/; `make check` runs the suite.
# Switches: V=1 full command lines; SANITIZE=address,undefined (or thread) builds with
# sanitizers (a flag change forces a clean rebuild of objects via build/.flags).

CC      ?= cc
O       := build
SANITIZE ?=
V       ?= 0

WARN := -Wall -Wextra -Wshadow -Wvla -Wformat=2 -Wmissing-prototypes \
        -Wstrict-prototypes -Wpointer-arith -Wcast-qual -Wundef -Werror
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I. -pthread
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif
LIBS    := -luring -laio -lisal -ldeflate -lzstd -lssl -lcrypto -lcurl -lnetsnmp -lpthread
# the recovery side's agent library (agent/): hypervisor drivers, Re-IP, orchestration
AGENT_PKGS := libvirt ext2fs com_err libmicrohttpd jansson libxml-2.0 yaml-0.1 libisofs-1
AGENT_LIBS := $(shell pkg-config --libs $(AGENT_PKGS) 2>/dev/null)
AGENT_CFLAGS := $(shell pkg-config --cflags $(AGENT_PKGS) 2>/dev/null)
CFLAGS  += $(AGENT_CFLAGS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

# library: everything in common/, repo/, image/, restore/ and datapath/ except the daemon's main
LIB_SRC  := $(wildcard common/*.c) $(wildcard repo/*.c) $(wildcard image/*.c) \
            $(wildcard restore/*.c) $(filter-out datapath/ferryd.c,$(wildcard datapath/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(O)/obj/%.o)
# agent library: everything in agent/ except the daemon's main (ferry-agent.c)
AGENT_SRC := $(filter-out agent/ferry-agent.c,$(wildcard agent/*.c))
AGENT_OBJ := $(AGENT_SRC:%.c=$(O)/obj/%.o)
AGENT_BIN := $(if $(wildcard agent/ferry-agent.c),$(O)/bin/ferry-agent)
CTL_SRC  := $(wildcard mgmt/*.c)
CTL_OBJ  := $(CTL_SRC:%.c=$(O)/obj/%.o)
# the AgentX subagent: its own binary, so only it links net-snmp's agent library
SUBAGENT_SRC := $(wildcard mgmt/subagent/*.c)
SUBAGENT_OBJ := $(SUBAGENT_SRC:%.c=$(O)/obj/%.o) $(O)/obj/mgmt/agent-client.o
SUBAGENT_LIBS := -lnetsnmpagent $(shell pkg-config --libs jansson 2>/dev/null)
UNIT_SRC := $(wildcard tests/unit/test-*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(O)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(O)/tests/%-replay)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(O)/fuzz/%)

all: $(O)/bin/ferryd $(O)/bin/ferryctl $(O)/bin/ferry-subagent $(AGENT_BIN)
tests: all $(UNIT_BIN) $(TOOL_BIN) $(FUZZ_REPLAY)

# rebuild everything when flags change
$(O)/.flags: FORCE
	@mkdir -p $(O)
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $@
FORCE:

$(O)/obj/%.o: %.c $(O)/.flags
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  CC      $<')
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(O)/libferry.a: $(LIB_OBJ)
	@$(if $(Q),echo '  AR      $@')
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/bin/ferryd: $(O)/obj/datapath/ferryd.o $(O)/libferry.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LINK    $@')
	$(Q)$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LIBS)

$(O)/bin/ferry-subagent: $(SUBAGENT_OBJ) $(O)/libferry.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LINK    $@')
	$(Q)$(CC) $(LDFLAGS) -pthread -o $@ $^ $(SUBAGENT_LIBS) $(LIBS)

$(O)/libferry-agent.a: $(AGENT_OBJ)
	@$(if $(Q),echo '  AR      $@')
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/bin/ferryctl: $(CTL_OBJ) $(O)/libferry-agent.a $(O)/libferry.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LINK    $@')
	$(Q)$(CC) $(LDFLAGS) -pthread -o $@ $^ $(AGENT_LIBS) $(LIBS)

$(O)/bin/ferry-agent: $(O)/obj/agent/ferry-agent.o $(O)/libferry-agent.a $(O)/libferry.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LINK    $@')
	$(Q)$(CC) $(LDFLAGS) -pthread -o $@ $^ $(AGENT_LIBS) $(LIBS)

$(O)/tests/test-%: $(O)/obj/tests/unit/test-%.o $(O)/libferry-agent.a $(O)/libferry.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LINK    $@')
	$(Q)$(CC) $(LDFLAGS) -pthread -o $@ $^ -lcmocka $(AGENT_LIBS) $(LIBS)

# drvctl drives the agent's hypervisor drivers
$(O)/tests/drvctl: $(O)/obj/tests/tools/drvctl.o $(O)/libferry-agent.a $(O)/libferry.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LINK    $@')
	$(Q)$(CC) $(LDFLAGS) -pthread -o $@ $^ $(AGENT_LIBS) $(LIBS)

$(O)/tests/%: $(O)/obj/tests/tools/%.o $(O)/libferry.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LINK    $@')
	$(Q)$(CC) $(LDFLAGS) -pthread -o $@ $^ -lnbd -lz $(LIBS)

# fuzz targets: replayed over their corpus in `make check` (built with the normal compiler
# and a small driver), and real libFuzzer binaries with `make fuzz` (clang).
$(O)/tests/fuzz-%-replay: $(O)/obj/tests/fuzz/fuzz-%.o $(O)/obj/tests/fuzz/replay-driver.o $(O)/libferry-agent.a $(O)/libferry.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  LINK    $@')
	$(Q)$(CC) $(LDFLAGS) -pthread -o $@ $^ $(AGENT_LIBS) $(LIBS)

FUZZ_CFLAGS := -O1 -g -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I. -pthread $(AGENT_CFLAGS) \
               -fsanitize=fuzzer,address,undefined
fuzz: $(FUZZ_BIN)
$(O)/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(LIB_SRC) $(AGENT_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(AGENT_SRC) $(AGENT_LIBS) $(LIBS)

check: tests
	$(Q)tests/run-tests.sh

bench-datapath: all $(TOOL_BIN)
	tests/bench/bench-datapath.sh
	tests/bench/bench-latency.sh

bench-pipeline: all
	tests/bench/bench-pipeline.sh
	tests/bench/bench-rpo.sh

bench-snmp: all
	tests/bench/bench-snmp.sh

# four appliances into one repository on Ceph RGW while prune runs, at a bigger size
check-appliances: tests
	IMAGE_MB=$${IMAGE_MB:-512} ROUNDS=$${ROUNDS:-24} bash tests/integration/250-s3-appliances.sh

# a disk with as many chunks as 1 TiB at 64 KiB, end to end (256-byte chunks)
check-bigmap: all
	tests/bench/bench-bigmap.sh

# the chunk index with ENTRIES synthetic chunks (default 256 Mi: 16 TiB at 64 KiB), its
# records spilled to a scratch file in SPILL_DIR (default /var/tmp: 16 GiB there, about
# 6 GiB of RAM at peak; SPILL_DIR= keeps them in RAM: about 21 GiB): time and peak memory
# of build, lookups, iteration, drop
check-bigindex: $(O)/tests/index-scale
	$(O)/tests/index-scale $${ENTRIES:-268435456} $${SPILL_DIR-/var/tmp}

# 32 domains under 4 KiB random writes in one ferryd: each domain's worst RPO
bench-domains: all
	tests/bench/bench-domains.sh

# restore, vmdk-stream export and verify --read-data of this build against PEER=DIR
bench-read: all
	tests/bench/bench-read.sh

# the compression candidates side by side on vm-a (IMAGE=path to use another image)
bench-compress: all $(TOOL_BIN)
	tests/bench/bench-compress.sh

.PHONY: bench-s3
bench-s3: all
	tests/bench/bench-s3.sh

bench-restore: all
	tests/bench/bench-restore.sh

bench-guest: all $(O)/tests/drvctl
	tests/bench/bench-guest.sh

bench-failover: all
	tests/bench/bench-failover.sh

deps:
	tools/install-deps.sh

clean:
	rm -rf $(O)

.PHONY: all tests check clean fuzz FORCE bench-datapath bench-pipeline bench-restore \
	bench-guest bench-failover bench-snmp deps bench-compress bench-domains check-appliances check-bigmap check-bigindex bench-read
.DELETE_ON_ERROR:
.SECONDARY:

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)
