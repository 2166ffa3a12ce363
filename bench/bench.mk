# bench/bench.mk — Google Benchmark suite of sam.h (included by the Makefile).
#
#   make bench                 build and run everything, print the summary tables
#   make bench BLAS=openblas   add single-thread OpenBLAS cblas_sgemm on the same
#                              shapes: once with OpenBLAS's default kernel for this
#                              CPU, then the sgemm group again with its AVX2 kernel
#                              (OPENBLAS_CORETYPE=Haswell)
#   make bench-peers           SGD / SAM steps in NumPy and PyTorch (when installed)
#                              beside ours, with our ratio to them
#   make bench BENCH_FILTER=sgemm    only benchmarks whose name matches (a regex)
#
# Needs Debian's libbenchmark-dev (and libopenblas-dev for BLAS=openblas).
# The implementation is compiled as C (bench/sam_impl.c); bench/*.cc are C++
# that include only <benchmark/benchmark.h> and sam.h (through bench/bench.h).

BENCH_CXXFLAGS ?= -O2 -g
BENCH_REPS     ?= 5
BENCH_MIN_TIME ?= 0.05
BENCH_FILTER   ?=
BENCH_FLAGS    ?= --benchmark_min_time=$(BENCH_MIN_TIME) --benchmark_repetitions=$(BENCH_REPS) \
                  --benchmark_report_aggregates_only=true
BENCH_LIBS      = -lbenchmark -lpthread
PYTHON         ?= /usr/bin/python3
BLAS           ?=

ifeq ($(BLAS),openblas)
BENCH_DIR       = $(BUILD)/bench-openblas
BENCH_DEFS      = -DSAM_BENCH_OPENBLAS
BENCH_BLAS_LIBS = -lopenblas
else ifeq ($(BLAS),)
BENCH_DIR       = $(BUILD)/bench
BENCH_DEFS      =
BENCH_BLAS_LIBS =
else
$(error bench: BLAS=$(BLAS) is not supported; use BLAS=openblas or leave it empty)
endif

BENCH_BIN  = $(BENCH_DIR)/sam_bench
BENCH_CC   = $(wildcard bench/*.cc)
BENCH_OBJS = $(BENCH_DIR)/sam_impl.o $(patsubst bench/%.cc,$(BENCH_DIR)/%.o,$(BENCH_CC))
BENCH_RUNF = $(BENCH_FLAGS) $(if $(BENCH_FILTER),--benchmark_filter='$(BENCH_FILTER)')

.PHONY: bench bench-build bench-check bench-peers

# Say how to get Google Benchmark (or OpenBLAS) instead of a compiler error.
bench-check:
	@printf '#include <benchmark/benchmark.h>\n' | $(CXX) -x c++ -std=c++11 -E - >/dev/null 2>&1 || { \
	  echo "make bench: Google Benchmark is not installed. Run:"; \
	  echo "    apt-get install -y libbenchmark-dev"; exit 2; }
ifeq ($(BLAS),openblas)
	@printf '#include <cblas.h>\n' | $(CXX) -x c++ -E - >/dev/null 2>&1 || { \
	  echo "make bench BLAS=openblas: OpenBLAS is not installed. Run:"; \
	  echo "    apt-get install -y libopenblas-dev"; exit 2; }
endif

$(BENCH_DIR):
	@mkdir -p $(BENCH_DIR)

$(BENCH_DIR)/sam_impl.o: bench/sam_impl.c $(HDRS) | $(BENCH_DIR)
	$(CC) $(CFLAGS) $(SAMFLAGS) -c -o $@ bench/sam_impl.c

$(BENCH_DIR)/%.o: bench/%.cc bench/bench.h $(HDRS) | $(BENCH_DIR)
	$(CXX) $(BENCH_CXXFLAGS) -std=c++11 $(WARN) $(BENCH_DEFS) -c -o $@ $<

$(BENCH_BIN): $(BENCH_OBJS)
	$(CXX) -o $@ $(BENCH_OBJS) $(BENCH_LIBS) $(BENCH_BLAS_LIBS) $(LDLIBS)

bench-build: bench-check
	@$(MAKE) --no-print-directory $(BENCH_BIN) BLAS=$(BLAS)

## bench: Google Benchmark suite, medians of BENCH_REPS runs (BLAS=openblas adds OpenBLAS)
ifeq ($(BLAS),openblas)
bench: bench-build
	@echo "== sam.h vs OpenBLAS, default OpenBLAS kernel for this CPU =="
	OPENBLAS_NUM_THREADS=1 ./$(BENCH_BIN) $(BENCH_RUNF) \
	  --benchmark_out=$(BENCH_DIR)/bench-default.json --benchmark_out_format=json
	@echo "== sam.h vs OpenBLAS, OPENBLAS_CORETYPE=Haswell (its AVX2+FMA kernel), sgemm only =="
	OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell ./$(BENCH_BIN) $(BENCH_FLAGS) \
	  --benchmark_filter='$(if $(BENCH_FILTER),$(BENCH_FILTER),BM_sgemm/)' \
	  --benchmark_out=$(BENCH_DIR)/bench-haswell.json --benchmark_out_format=json
else
bench: bench-build
	./$(BENCH_BIN) $(BENCH_RUNF) --benchmark_out=$(BENCH_DIR)/bench.json --benchmark_out_format=json
endif

## bench-peers: the same SGD/SAM steps in NumPy and PyTorch (CPU, one thread), and our ratio
bench-peers:
	@$(MAKE) --no-print-directory bench-build BLAS=
	./$(BUILD)/bench/sam_bench $(BENCH_FLAGS) --benchmark_filter='BM_(step|epoch)_' \
	  --benchmark_out=$(BUILD)/bench/steps.json --benchmark_out_format=json
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(PYTHON) bench/peers/peers.py --reps $(BENCH_REPS) --ours $(BUILD)/bench/steps.json
