# Makefile - build, test and run sensorpipe. The README's two commands are `make run` and `make test`.
#
#   make            build build/sensorpipe (optimised)
#   make run        install what is missing, build, run the whole pipeline under var/
#   make test       install what is missing, build with ASan+UBSan, run every test suite
#   make unit       unit tests only (ASan+UBSan)
#   make asan       build/asan/sensorpipe
#   make web        copy the npm web assets into web/vendor/
#   make deps       install apt and npm packages (idempotent)
#   make fuzz       build the libFuzzer targets and run each FUZZ_SECONDS (10); make fuzz-long: 10 min each
#   make format     clang-format every C file; make format-check: fail on any that is not (run by .ci/run)
#   make hostile    the hostile-client suite (docs/SECURITY.md): full run, its table in build/hostile/ (HOSTILE_SAVE=1: into SECURITY.md)
#   make bench      benchmarks against the targets of docs/BENCHMARKS.md (BENCH_QUICK=1: a short smoke run)

CC      ?= cc
# Quiet by default ("CC src/x.c"); `make V=1` prints every command in full.
ifeq ($(V),1)
Q :=
say = @:
else
Q := @
say = @printf '  %-6s %s\n'
endif
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)
PKGS    := libmosquitto libwebsockets libuv libcjson openssl
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
                 -I. -Isrc -Ibuild/gen -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql) \
                 $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lmosquitto -lwebsockets -luv -lcjson -lssl -lcrypto) -lpq -lm -lpthread

RELEASE_FLAGS := -O2 -g
ASAN_FLAGS    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

SRCS     := $(shell find src firmware/core -name '*.c' | sort)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
SQL      := $(sort $(wildcard db/[0-9]*.sql))
GEN      := build/gen/migrations.c
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))

REL_OBJS  := $(patsubst %.c,build/release/%.o,$(SRCS) $(GEN))
ASAN_OBJS := $(patsubst %.c,build/asan/%.o,$(SRCS) $(GEN))
ASAN_LIB_OBJS := $(patsubst %.c,build/asan/%.o,$(LIB_SRCS) $(GEN))
UNIT_BINS := $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRCS))

.PHONY: all run test unit asan web deps format format-check clean integration e2e fuzz fuzz-long faults firmware bench hostile
all: build/sensorpipe web

build/sensorpipe: $(REL_OBJS)
	$(say) LD $@
	$(Q)$(CC) $(RELEASE_FLAGS) -o $@ $^ $(LDLIBS)

build/asan/sensorpipe: $(ASAN_OBJS)
	$(say) LD $@
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

asan: build/asan/sensorpipe

$(GEN): $(SQL) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	$(say) GEN $@
	$(Q)scripts/embed-sql.sh $@ $(SQL)

build/release/%.o: %.c
	@mkdir -p $(dir $@)
	$(say) CC $<
	$(Q)$(CC) $(CFLAGS_COMMON) $(RELEASE_FLAGS) -MMD -MP -c -o $@ $<

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(say) CC $< '(asan)'
	$(Q)$(CC) $(CFLAGS_COMMON) $(ASAN_FLAGS) -MMD -MP -c -o $@ $<

build/asan/build/gen/migrations.o build/release/build/gen/migrations.o: CFLAGS_COMMON += -Isrc/core

# the version (`sensorpipe --version`) is compiled into main.o only, which is rebuilt when the
# version changes: build/gen/version.txt is rewritten only then (a commit that touches no C
# file still gets its own version)
VERSION_STAMP := build/gen/version.txt
$(VERSION_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' >$@
build/release/src/main.o build/asan/src/main.o: $(VERSION_STAMP)
build/release/src/main.o build/asan/src/main.o: CFLAGS_COMMON += -DSENSORPIPE_VERSION='"$(VERSION)"'
.PHONY: FORCE
FORCE:

build/asan/tests/%: tests/unit/%.c tests/unit/unit.h $(ASAN_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(say) LD $@
	$(Q)$(CC) $(CFLAGS_COMMON) $(ASAN_FLAGS) -Itests/unit -o $@ $< $(ASAN_LIB_OBJS) $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

web: web/vendor/uPlot.iife.min.js

web/vendor/uPlot.iife.min.js: package.json
	@[ -d node_modules/uplot ] || npm install --no-audit --no-fund --loglevel=error
	mkdir -p web/vendor
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css web/vendor/

deps:
	scripts/install-deps.sh

run: deps
	$(MAKE) build/sensorpipe web
	scripts/run.sh

test: deps
	$(MAKE) build/asan/sensorpipe build/sensorpipe web $(UNIT_BINS) $(FUZZ_BINS)
	$(MAKE) fuzz FUZZ_SECONDS=10
	$(MAKE) firmware
	scripts/test.sh

integration e2e: build/asan/sensorpipe web
	scripts/test.sh $@

# fault injection (tests/faults/): its own PostgreSQL and mosquitto; writes docs/RELIABILITY.md's results
faults: build/asan/sensorpipe build/sensorpipe
	scripts/faults.sh

# hostile clients (tests/hostile/): its own stack on loopback, attackers on 127.0.0.2-9; `make test` runs the short version
hostile: build/sensorpipe
	scripts/hostile.sh

# libFuzzer targets (clang): each fuzz/fuzz_X.c links the parsers it exercises.
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB  := $(filter-out src/core/migrate.c src/core/pgconn.c,$(wildcard src/core/*.c)) $(wildcard src/serve/query_params.c src/serve/history_params.c) \
             $(addprefix src/ingest/,mqtt_frame.c mqtt_encode.c mqtt_client.c ack_tracker.c fifo.c) \
             $(wildcard firmware/core/*.c) $(addprefix src/serve/,ws_origin.c forwarded.c hub.c ws_frame.c ws_rx.c auth_parse.c notify_rows.c) \
             src/device/dynsec_reply.c
FUZZ_SECONDS ?= 10
# each fuzz/fuzz_X.c names its own -max_len in a "fuzz-max-len: N" comment (`make fuzz` refuses one without)

build/fuzz/%: fuzz/%.c $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(say) FUZZ $@
	$(Q)clang $(filter-out -Werror,$(CFLAGS_COMMON)) -Werror -g -O1 -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB) -lcjson -lcrypto -lm

fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_SRCS); do grep -q 'fuzz-max-len: *[0-9]' $$f || { echo "fuzz: $$f names no fuzz-max-len"; exit 1; }; done
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n build/fuzz/crashes; \
	  len=$$(sed -n 's/.*fuzz-max-len: *\([0-9][0-9]*\).*/\1/p' fuzz/$$n.c | head -n 1); \
	  echo "== $$n ($(FUZZ_SECONDS) s, -max_len=$$len)"; \
	  if $$f -max_total_time=$(FUZZ_SECONDS) -max_len=$$len -artifact_prefix=build/fuzz/crashes/$$n- \
	        build/fuzz/corpus-$$n fuzz/corpus/$${n#fuzz_} >build/fuzz/$$n.log 2>&1; then tail -n 1 build/fuzz/$$n.log; \
	  else tail -n 40 build/fuzz/$$n.log; echo "fuzz: $$n FAILED (input in build/fuzz/crashes/)"; exit 1; fi; done

fuzz-long:
	$(MAKE) fuzz FUZZ_SECONDS=600

# Pico W firmware: cross-compile firmware/core for the Cortex-M0+ (and the whole port when PICO_SDK_PATH is set)
firmware:
	scripts/firmware.sh

# Benchmarks (docs/BENCHMARKS.md): private PostgreSQL + mosquitto, every measurement, build/bench/results.*
# BENCH_QUICK=1 for a smoke run of a couple of minutes.
# Installs what it needs like run and test (chromium, gnuplot, the dashboard's web/vendor assets).
bench: deps
	$(MAKE) build/sensorpipe web
	bench/run

# every C file the project owns (tracked by git), formatted by .clang-format; .ci/run checks it
FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: $(words $(FORMAT_FILES)) C files formatted"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
