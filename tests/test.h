/* tests/test.h — the tiny test harness: checks, tolerances, ISA loops.
 * One runner (tests/run.c) includes the implementation and every test_*.c,
 * so tests can reach the private sam__ kernels as well as the public API. */
#ifndef SAM_TEST_H
#define SAM_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

typedef struct t_state {
    int checks;        /* checks run in the current test */
    int fails;         /* failed checks in the current test */
    int passed, failed;/* tests */
    const char *filter;
    const char *current;
} t_state;
extern t_state T;

static void t_report(const char *file, int line, const char *what) {
    T.fails++;
    if (T.fails <= 10) fprintf(stderr, "  FAIL %s:%d [%s] %s\n", file, line, T.current, what);
}

/* CHECK(cond): the condition must hold. CHECKF(cond, fmt, ...) adds detail. */
#define CHECK(cond) do { T.checks++; if (!(cond)) t_report(__FILE__, __LINE__, #cond); } while (0)
#define CHECKF(cond, ...) do { T.checks++; if (!(cond)) { char t_buf_[512]; \
    snprintf(t_buf_, sizeof t_buf_, __VA_ARGS__); t_report(__FILE__, __LINE__, t_buf_); } } while (0)
/* |x - ref| <= atol + rtol |ref|, NaN never passes. */
#define CHECK_NEAR(x, ref, atol, rtol) do { double t_x_ = (double)(x), t_r_ = (double)(ref); \
    CHECKF(fabs(t_x_ - t_r_) <= (atol) + (rtol) * fabs(t_r_), "%s = %.9g, expected %.9g (atol %g, rtol %g)", \
           #x, t_x_, t_r_, (double)(atol), (double)(rtol)); } while (0)
#define CHECK_OK(expr) do { int t_st_ = (int)(expr); CHECKF(t_st_ == 0, "%s returned %d", #expr, t_st_); } while (0)

/* Run one test function; a test that checks nothing fails (it could not fail). */
#define RUN_TEST(fn) do { \
    if (!T.filter || strstr(#fn, T.filter)) { \
        T.current = #fn; T.checks = 0; T.fails = 0; fn(); \
        if (T.fails == 0 && T.checks > 0) T.passed++; \
        else { T.failed++; fprintf(stderr, "FAILED %s (%d of %d checks failed%s)\n", #fn, T.fails, T.checks, \
                                   T.checks == 0 ? ", test checked nothing" : ""); } \
    } } while (0)

/* Loop over every ISA this CPU and build support: FOR_EACH_ISA(ctx, isa) { ... } */
#define FOR_EACH_ISA(ctx, isa) \
    for (int isa = 0; isa < SAM_ISA_COUNT; isa++) \
        if (sam_isa_supported((sam_isa)isa) && sam_ctx_set_isa(&(ctx), (sam_isa)isa) == SAM_OK)

/* A buffer offset by one float from a 64-byte boundary: unaligned, and ASan
 * sees any overrun of its end. Free with t_free_off. */
static float *t_alloc_off(size_t n) {
    float *p = (float *)malloc((n + 1) * sizeof(float));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p + 1;
}
static void t_free_off(float *p) { if (p) free(p - 1); }

/* Deterministic test data in [-1, 1). */
static void t_fill(unsigned seed, size_t n, float *x) {
    sam_rng r;
    sam_rng_seed(&r, seed, 99);
    sam_rng_fill_uniform(&r, n, x, -1.0f, 1.0f);
}
#endif
