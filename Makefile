# sam.h — build, test, benchmark and reproduce. `make help` lists the targets.
CC      ?= cc
CXX     ?= c++
PREFIX  ?= /usr/local
DESTDIR ?=
RUN     ?=
WARN     = -Wall -Wextra -Wpedantic -Wshadow
CFLAGS  ?= -O2 -g
SAMFLAGS = -std=c99 $(WARN)
LDLIBS   = -lm
NEON_CC ?= aarch64-linux-gnu-gcc
QEMU    ?= qemu-aarch64 -L /usr/aarch64-linux-gnu
BUILD   ?= build
HDRS     = sam.h
TESTSRC  = tests/run.c tests/test.h $(wildcard tests/test_*.c)

.PHONY: all test test-readme test-native test-nosimd test-cpp test-neon test-san test-all demo examples bench data install clean help

all: test

$(BUILD):
	@mkdir -p $(BUILD)

$(BUILD)/test_native: $(TESTSRC) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(SAMFLAGS) -o $@ tests/run.c $(LDLIBS)

$(BUILD)/test_nosimd: $(TESTSRC) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(SAMFLAGS) -DSAM_NO_SIMD -o $@ tests/run.c $(LDLIBS)

$(BUILD)/cpp_build: tests/cpp_build.cc $(HDRS) | $(BUILD)
	$(CXX) -O1 -std=c++11 $(WARN) -Werror -o $@ tests/cpp_build.cc $(LDLIBS)

$(BUILD)/test_neon: $(TESTSRC) $(HDRS) | $(BUILD)
	$(NEON_CC) -O2 -static $(SAMFLAGS) -o $@ tests/run.c $(LDLIBS)

$(BUILD)/test_san: $(TESTSRC) $(HDRS) | $(BUILD)
	$(CC) -O1 -g $(SAMFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -o $@ tests/run.c $(LDLIBS)

## test: native tests (every ISA this CPU has), the scalar-only build, the C++ build, the example programs
test: test-native test-nosimd test-cpp test-readme examples-test

test-native: $(BUILD)/test_native
	$(RUN) ./$(BUILD)/test_native

test-nosimd: $(BUILD)/test_nosimd
	$(RUN) ./$(BUILD)/test_nosimd

test-cpp: $(BUILD)/cpp_build
	$(RUN) ./$(BUILD)/cpp_build

# The README's quick start (its first ```c block) must compile warning-free and run.
$(BUILD)/readme_quickstart: README.md $(HDRS) | $(BUILD)
	awk '/^```c$$/{f=1;next} /^```$$/{if(f)exit} f' README.md > $(BUILD)/readme_quickstart.c
	$(CC) $(CFLAGS) $(SAMFLAGS) -Werror -I. -o $@ $(BUILD)/readme_quickstart.c $(LDLIBS)

test-readme: $(BUILD)/readme_quickstart
	$(RUN) ./$(BUILD)/readme_quickstart

## test-neon: cross-compile for aarch64 and run under qemu (apt-get install gcc-aarch64-linux-gnu qemu-user)
test-neon: $(BUILD)/test_neon
	$(QEMU) ./$(BUILD)/test_neon

## test-san: AddressSanitizer + UndefinedBehaviorSanitizer
test-san: $(BUILD)/test_san
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./$(BUILD)/test_san

test-all: test test-san test-neon

## install: sam.h and a pkg-config file under $(DESTDIR)$(PREFIX)
install:
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 sam.h $(DESTDIR)$(PREFIX)/include/sam.h
	@v=$$(sed -n 's/^#define SAM_VERSION_STRING "\(.*\)"/\1/p' sam.h); \
	printf 'prefix=%s\nincludedir=$${prefix}/include\n\nName: sam\nDescription: Sharpness-Aware Minimization in one C header\nVersion: %s\nCflags: -I$${includedir}\nLibs: -lm\n' \
	  "$(PREFIX)" "$$v" > $(DESTDIR)$(PREFIX)/lib/pkgconfig/sam.pc
	@echo "installed $(DESTDIR)$(PREFIX)/include/sam.h and $(DESTDIR)$(PREFIX)/lib/pkgconfig/sam.pc"

clean:
	rm -rf $(BUILD)

help:
	@echo "make demo        run the main job: reproduce the papers' experiments (CSV + SVG)"
	@echo "make test        run the tests (native ISAs, scalar-only build, C++ build)"
	@echo "make test-neon   NEON build under qemu-aarch64"
	@echo "make test-san    ASan + UBSan build of the tests"
	@echo "make bench       Google Benchmark suite (apt-get install libbenchmark-dev)"
	@echo "make examples    build the example programs"
	@echo "make data        unpack Fashion-MNIST from dataset-fashion-mnist into data/"
	@echo "make install     install sam.h and sam.pc under PREFIX (default /usr/local)"
	@echo "make clean       remove build outputs"

## data: unpack Fashion-MNIST (apt-get install dataset-fashion-mnist) into data/
FMNIST_DIR ?= /usr/share/datasets/fashion-mnist
data:
	@test -d $(FMNIST_DIR) || { echo "make data: $(FMNIST_DIR) not found; apt-get install dataset-fashion-mnist"; exit 2; }
	@mkdir -p data
	@for f in $(FMNIST_DIR)/*-ubyte.gz; do b=$$(basename $$f .gz); test -f data/$$b || gzip -dc $$f > data/$$b; done
	@ls -l data

# The example programs and the benchmarks keep their rules beside their sources.
-include examples/examples.mk
-include bench/bench.mk
