# examples/examples.mk — build rules of the example programs (included by the
# top-level Makefile). Each program is one C file that defines
# SAM_IMPLEMENTATION itself and includes examples/common.h and sam.h.
#
#   make examples        build every program into $(BUILD)/
#   make demo            phase_transition at its defaults (headline + grid)
#   make examples-test   every program on a tiny configuration (seconds)

# chen.h holds the Chen-setting training run shared by three of them;
# README.md has their claims, results and figures (figures/).
EX_PROGS   = phase_transition noise_memorization flatness_scenarios first_order_magic
EX_BINS    = $(EX_PROGS:%=$(BUILD)/%)
EX_FLAGS   = -std=c99 $(WARN) -pthread
DEMO_OUT  ?= out/phase_transition

.PHONY: examples examples-test demo

examples: $(EX_BINS)

$(EX_BINS): $(BUILD)/%: examples/%.c examples/common.h $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $(EX_FLAGS) -o $@ $< $(LDLIBS)

## demo: reproduce Chen et al.'s phase transition (headline + grid), CSV + SVG
demo: $(BUILD)/phase_transition
	@./$(BUILD)/phase_transition --out $(DEMO_OUT); st=$$?; \
	echo; echo "make demo: figures (SVG) and results (CSV) are in $(DEMO_OUT)/:"; \
	ls $(DEMO_OUT)/*.svg $(DEMO_OUT)/*.csv 2>/dev/null | sed 's/^/  /'; exit $$st

## examples-test: each example program on a tiny configuration
examples-test: examples
	sh examples/test_examples.sh $(BUILD)
