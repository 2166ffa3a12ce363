/* sam.h — Sharpness-Aware Minimization in one C header.          v0.1.0
 *
 * Kernels (AVX2+FMA, NEON, scalar), the networks, losses, optimizers, data
 * and sharpness tools of the SAM theory papers, dependency-free (libc, libm).
 *
 * ---------------------------------------------------------------------------
 * USAGE
 *   In exactly ONE C or C++ file:
 *       #define SAM_IMPLEMENTATION
 *       #include "sam.h"
 *   Everywhere else just #include "sam.h".
 *
 * QUICK START
 *       sam_ctx ctx;
 *       sam_ctx_init(&ctx, NULL);             // picks AVX2 / NEON / scalar
 *       float A[2*3] = {1,2,3, 4,5,6}, B[3*2] = {1,0, 0,1, 1,1}, C[2*2];
 *       if (sam_sgemm(&ctx, SAM_NO_TRANS, SAM_NO_TRANS, 2, 2, 3,
 *                     1.0f, A, 3, B, 2, 0.0f, C, 2) != SAM_OK)
 *           fprintf(stderr, "%s\n", sam_ctx_message(&ctx));
 *       sam_ctx_free(&ctx);
 *   Every fallible call returns a sam_status; sam_ctx_message() names the
 *   function and the argument at fault. Nothing is written on failure.
 *
 * CONFIGURATION MACROS (define before including, in the implementation file)
 *   SAM_IMPLEMENTATION    emit the implementation (once; a guard stops twice)
 *   SAM_STATIC            make every function static (private copy per TU)
 *   SAMDEF                override the linkage of public functions
 *   SAM_MALLOC(sz,u) / SAM_FREE(p,u)
 *                         custom allocator, both or neither; `u` is the
 *                         user pointer given to sam_ctx_init
 *   SAM_NO_SIMD           scalar kernels only
 *   SAM_NO_AVX2           no AVX2+FMA kernels (x86-64)
 *   SAM_NO_NEON           no NEON kernels (aarch64)
 *   SAM_NO_STDIO          drop file loaders and writers (embedded builds)
 *
 * THREADS AND STATE
 *   No global mutable state. The chosen ISA, the scratch workspace and the
 *   last error message live in a caller-owned sam_ctx: use one per thread.
 *
 * ISA DISPATCH
 *   On x86-64 the AVX2+FMA kernels carry __attribute__((target("avx2,fma")))
 *   and are selected at run time when CPUID and the OS (XGETBV) allow it; the
 *   header never needs -mavx2. On aarch64 NEON is baseline. Tests and
 *   benchmarks force an ISA with sam_ctx_set_isa().
 *
 * FLOATING POINT
 *   Scalar code is compiled with FP contraction off (pragmas below) so that
 *   "scalar" means the same thing on every compiler and CPU; SIMD code uses
 *   explicit FMA. Reductions use a fixed order: a seed gives bit-identical
 *   results on one ISA. Never build with -ffast-math.
 *
 * LICENSE: MIT (see the end of this file).
 */
#ifndef SAM_H
#define SAM_H

#include <stddef.h>
#include <stdint.h>

#define SAM_VERSION_MAJOR 0
#define SAM_VERSION_MINOR 1
#define SAM_VERSION_PATCH 0
#define SAM_VERSION_STRING "0.1.0"

#ifndef SAMDEF
#ifdef SAM_STATIC
#define SAMDEF static
#else
#define SAMDEF extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * DECLARATIONS: version, status codes
 * ====================================================================== */

SAMDEF const char *sam_version(void);

typedef enum sam_status {
    SAM_OK = 0,
    SAM_ERR_NULL,        /* a required pointer is NULL                     */
    SAM_ERR_ARG,         /* an argument is out of range or inconsistent    */
    SAM_ERR_SIZE,        /* a size product overflows size_t                */
    SAM_ERR_NOMEM,       /* the allocator returned NULL                    */
    SAM_ERR_ISA,         /* the requested ISA is not available on this CPU */
    SAM_ERR_NONFINITE,   /* NaN or Inf in inputs, loss or gradient         */
    SAM_ERR_WORKSPACE,   /* a fixed workspace is too small                 */
    SAM_ERR_IO,          /* a file could not be opened, read or written    */
    SAM_ERR_FORMAT,      /* a file is malformed                            */
    SAM_ERR_UNSUPPORTED, /* the operation is not provided by this object   */
    SAM_STATUS_COUNT
} sam_status;

SAMDEF const char *sam_status_string(sam_status s);

/* ========================================================================
 * DECLARATIONS: context, ISA, workspace
 * ====================================================================== */

typedef enum sam_isa {
    SAM_ISA_SCALAR = 0,
    SAM_ISA_AVX2 = 1, /* AVX2 + FMA */
    SAM_ISA_NEON = 2,
    SAM_ISA_COUNT
} sam_isa;

#define SAM_MESSAGE_BYTES 256

/* Caller-owned; may live on the stack. One per thread. */
typedef struct sam_ctx {
    sam_isa isa;            /* kernels used by every call on this context   */
    void *alloc_user;       /* passed to SAM_MALLOC / SAM_FREE              */
    void *ws;               /* scratch for leaf kernels (sgemm packing)     */
    size_t ws_bytes;
    void *ws_raw;           /* allocation behind ws when the ctx owns it    */
    int ws_fixed;           /* 1: user buffer, never grown                  */
    sam_status last_status;
    char message[SAM_MESSAGE_BYTES];
} sam_ctx;

/* Initialise with the best ISA of this CPU and an empty, growable workspace. */
SAMDEF sam_status sam_ctx_init(sam_ctx *ctx, void *alloc_user);
/* Release the workspace the context allocated (not a user buffer). */
SAMDEF void sam_ctx_free(sam_ctx *ctx);
/* Use a caller buffer as the workspace; it is never grown (embedded use). */
SAMDEF sam_status sam_ctx_set_workspace(sam_ctx *ctx, void *buf, size_t bytes);
/* Grow the owned workspace now, so that later calls never allocate. */
SAMDEF sam_status sam_ctx_reserve(sam_ctx *ctx, size_t bytes);
/* Force an ISA; SAM_ERR_ISA (context unchanged) if this CPU or build lacks it. */
SAMDEF sam_status sam_ctx_set_isa(sam_ctx *ctx, sam_isa isa);
SAMDEF const char *sam_ctx_message(const sam_ctx *ctx);

SAMDEF sam_isa sam_isa_best(void);
SAMDEF int sam_isa_supported(sam_isa isa); /* compiled in and CPU has it */
SAMDEF const char *sam_isa_name(sam_isa isa);

/* ========================================================================
 * DECLARATIONS: random numbers
 *   PCG32 (O'Neill 2014): 64-bit state, 2^63 independent streams. Gaussians
 *   use the polar method with our own log (no libm result inside), so a seed
 *   gives the same numbers on every platform, compiler and ISA. The struct is
 *   plain data: copying it saves the stream, restoring continues it exactly.
 * ====================================================================== */

typedef struct sam_rng {
    uint64_t state;
    uint64_t inc;       /* stream selector, always odd */
    double spare;       /* the polar method's second normal, if has_spare */
    int has_spare;
} sam_rng;

/* Conventional stream ids: one seed drives independent streams. */
enum {
    SAM_STREAM_TRAIN_DATA = 1,
    SAM_STREAM_TEST_DATA = 2,
    SAM_STREAM_INIT = 3,
    SAM_STREAM_SHUFFLE = 4,
    SAM_STREAM_DIRECTIONS = 5,
    SAM_STREAM_PROBES = 6,
    SAM_STREAM_LABEL_NOISE = 7
};

SAMDEF void sam_rng_seed(sam_rng *rng, uint64_t seed, uint64_t stream);
SAMDEF uint32_t sam_rng_u32(sam_rng *rng);
SAMDEF uint32_t sam_rng_below(sam_rng *rng, uint32_t bound); /* [0,bound), unbiased */
SAMDEF double sam_rng_uniform(sam_rng *rng);     /* [0,1), 53 bits */
SAMDEF float sam_rng_uniformf(sam_rng *rng);     /* [0,1), 24 bits */
SAMDEF double sam_rng_gauss(sam_rng *rng);       /* N(0,1) */
SAMDEF float sam_rng_rademacher(sam_rng *rng);   /* ±1 */
SAMDEF void sam_rng_fill_gauss(sam_rng *rng, size_t n, float *out, float mean, float std);
SAMDEF void sam_rng_fill_uniform(sam_rng *rng, size_t n, float *out, float lo, float hi);
SAMDEF void sam_rng_fill_rademacher(sam_rng *rng, size_t n, float *out);
/* A uniformly random permutation of 0..n-1 (Fisher–Yates). */
SAMDEF void sam_rng_permutation(sam_rng *rng, size_t n, size_t *perm);
/* Deterministic double-precision natural log (no libm); used by the RNG. */
SAMDEF double sam_log_det(double x);

/* ========================================================================
 * DECLARATIONS: vector ops
 *   Reductions return double: SIMD lanes accumulate in float in a fixed
 *   order and are combined in double; the scalar twin accumulates in double.
 * ====================================================================== */

SAMDEF sam_status sam_dot(sam_ctx *ctx, size_t n, const float *x, const float *y, double *out);
SAMDEF sam_status sam_axpy(sam_ctx *ctx, size_t n, float a, const float *x, float *y);       /* y += a x */
SAMDEF sam_status sam_scale(sam_ctx *ctx, size_t n, float a, float *x);                      /* x *= a */
SAMDEF sam_status sam_copy(sam_ctx *ctx, size_t n, const float *x, float *y);                /* y = x */
/* out = w + s g: SAM's perturbed copy, w itself is never touched. */
SAMDEF sam_status sam_perturb(sam_ctx *ctx, size_t n, const float *w, float s, const float *g, float *out);
/* Global L2 norm over nbuf buffers (lengths lens[]), one fixed order. */
SAMDEF sam_status sam_norm2(sam_ctx *ctx, size_t nbuf, const float *const *bufs, const size_t *lens, double *out);

/* ========================================================================
 * DECLARATIONS: data sets, batches and the model interface
 *   Every model, optimizer and sharpness estimator speaks through these.
 * ====================================================================== */

typedef struct sam_dataset {
    size_t n;            /* samples                                           */
    size_t patches;      /* P: a sample is P patches of patch_dim floats      */
    size_t patch_dim;    /* d                                                 */
    size_t dim;          /* patches * patch_dim: floats per sample            */
    size_t classes;      /* 2: binary, y = ±1 (or a real regression target);
                            K > 2: multi-class, label[] in [0, K)             */
    float *x;            /* n × dim, row-major                                */
    float *y;            /* n targets (binary ±1 / real); always filled       */
    int32_t *label;      /* n class indices; for binary 0 ⇔ y = -1, 1 ⇔ +1  */
    float *y_clean;      /* n labels before label noise, or NULL              */
    /* Analysis extras of generated data (NULL when not applicable): */
    float *noise;        /* n × noise_count × patch_dim noise vectors ξ       */
    size_t noise_count;  /* 1: the same ξ in all noise patches; P-1: one each */
    int32_t *signal_patch; /* n: patch index holding the signal ±μ           */
    float *signal;       /* patch_dim: the signal vector μ                    */
    double bayes_risk;   /* of the generator, or -1 if unknown               */
    void *alloc_user;    /* allocator user pointer the buffers came from      */
} sam_dataset;

/* A batch: samples idx[0..n) of data; idx == NULL means samples 0..n-1. */
typedef struct sam_batch {
    const sam_dataset *data;
    const size_t *idx;
    size_t n;
} sam_batch;

/* User callbacks: a plain objective with optional Hessian-vector product.
 * `b` is the batch the caller asked about (may be NULL for pure functions). */
typedef sam_status (*sam_loss_grad_fn)(void *user, const float *w, const sam_batch *b,
                                       double *loss, float *grad /* may be NULL */);
typedef sam_status (*sam_hvp_fn)(void *user, const float *w, const sam_batch *b,
                                 const float *v, float *hv);

/* The model interface. A concrete model fills a vtable; users with their own
 * model either write a vtable or wrap callbacks with sam_model_callbacks(). */
typedef struct sam_model_vtable {
    const char *name;
    /* Bytes of caller-owned work memory needed for a batch of `batch` samples. */
    size_t (*work_bytes)(const void *self, size_t batch);
    /* Mean loss over the batch at w; grad (n_params floats) may be NULL. */
    sam_status (*loss_grad)(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b,
                            double *loss, float *grad, void *work);
    /* Exact Hessian-vector product of the mean batch loss: hv = ∇²L(w) v. */
    sam_status (*hvp)(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b,
                      const float *v, float *hv, void *work);
    /* Outputs, b->n × out_dim, row-major. */
    sam_status (*predict)(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b,
                          float *out, void *work);
} sam_model_vtable;

typedef struct sam_model {
    const sam_model_vtable *vt;
    const void *self;        /* the concrete model                         */
    size_t n_params;
    size_t out_dim;          /* 1: binary / regression; K: classes         */
    /* used by sam_model_callbacks(): */
    sam_loss_grad_fn cb_loss_grad;
    sam_hvp_fn cb_hvp;
    void *cb_user;
} sam_model;

SAMDEF sam_status sam_model_callbacks(sam_model *m, size_t n_params, sam_loss_grad_fn loss_grad,
                                      sam_hvp_fn hvp /* may be NULL */, void *user);
SAMDEF size_t sam_model_work_bytes(const sam_model *m, size_t batch);
/* 1 when the model provides an exact Hessian-vector product. */
SAMDEF int sam_model_has_hvp(const sam_model *m);
/* Validating wrappers: check arguments, call the model, check finiteness.
 * On a non-finite loss or gradient they return SAM_ERR_NONFINITE. */
SAMDEF sam_status sam_model_loss_grad(sam_ctx *ctx, const sam_model *m, const float *w,
                                      const sam_batch *b, double *loss, float *grad, void *work);
SAMDEF sam_status sam_model_hvp(sam_ctx *ctx, const sam_model *m, const float *w,
                                const sam_batch *b, const float *v, float *hv, void *work);
SAMDEF sam_status sam_model_predict(sam_ctx *ctx, const sam_model *m, const float *w,
                                    const sam_batch *b, float *out, void *work);
/* 0-1 error over the batch: binary counts y f(x) <= 0 as wrong; K classes
 * count argmax f ≠ label. `work` must hold sam_model_work_bytes(m, chunk)
 * plus chunk*out_dim floats, where chunk = min(b->n, 256). */
SAMDEF size_t sam_model_error_work_bytes(const sam_model *m, size_t batch);
SAMDEF sam_status sam_model_error(sam_ctx *ctx, const sam_model *m, const float *w,
                                  const sam_batch *b, double *error, void *work);

#ifdef __cplusplus
}
#endif

/* Parts under development; merged into this file before release. */
#define SAM__PART_DECL
#include "wip/10_gemm.h"
#include "wip/20_nn.h"
#include "wip/30_optim.h"
#include "wip/40_data.h"
#include "wip/50_sharp.h"
#undef SAM__PART_DECL

#endif /* SAM_H */

/* ========================================================================
 * ========================================================================
 * IMPLEMENTATION
 * ========================================================================
 * ====================================================================== */
#if defined(SAM_IMPLEMENTATION) && !defined(SAM__IMPLEMENTED)
#define SAM__IMPLEMENTED

#include <string.h>
#include <stdarg.h>
#include <math.h>
#include <float.h>
#if !defined(SAM_MALLOC)
#include <stdlib.h>
#endif
#if !defined(SAM_NO_STDIO)
#include <stdio.h>
#endif

/* ---- configuration checks --------------------------------------------- */

#if defined(SAM_MALLOC) != defined(SAM_FREE)
#error "sam.h: define both SAM_MALLOC and SAM_FREE, or neither"
#endif
#ifndef SAM_MALLOC
#define SAM_MALLOC(sz, u) ((void)(u), malloc(sz))
#define SAM_FREE(p, u) ((void)(u), free(p))
#endif

/* Keep scalar arithmetic exactly as written (no silent FMA contraction). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

#ifdef SAM_STATIC
#define SAM__DEF static
#else
#define SAM__DEF
#endif

/* ---- ISA macros --------------------------------------------------------- */

#if !defined(SAM_NO_SIMD) && !defined(SAM_NO_AVX2) && defined(__x86_64__) && \
    (defined(__GNUC__) || defined(__clang__))
#define SAM__HAS_AVX2 1
#include <immintrin.h>
#define SAM__AVX2 __attribute__((target("avx2,fma")))
#else
#define SAM__HAS_AVX2 0
#endif

#if !defined(SAM_NO_SIMD) && !defined(SAM_NO_NEON) && defined(__aarch64__)
#define SAM__HAS_NEON 1
#include <arm_neon.h>
#else
#define SAM__HAS_NEON 0
#endif

/* Dispatch tables list {scalar, avx2, neon}; absent ISAs are NULL. */
#if SAM__HAS_AVX2
#define SAM__IF_AVX2(f) f
#else
#define SAM__IF_AVX2(f) NULL
#endif
#if SAM__HAS_NEON
#define SAM__IF_NEON(f) f
#else
#define SAM__IF_NEON(f) NULL
#endif

#define SAM__ALIGN 64

/* ---- helpers: errors ---------------------------------------------------- */

static void sam__fmt_append(char *buf, size_t cap, size_t *len, const char *s) {
    while (*s && *len + 1 < cap) buf[(*len)++] = *s++;
    buf[*len] = 0;
}

static void sam__fmt_uint(char *buf, size_t cap, size_t *len, unsigned long long v) {
    char tmp[24];
    int i = 0;
    do { tmp[i++] = (char)('0' + (int)(v % 10)); v /= 10; } while (v);
    while (i > 0 && *len + 1 < cap) buf[(*len)++] = tmp[--i];
    buf[*len] = 0;
}

/* %g-like: 6 significant digits, enough for messages (no libc needed). */
static void sam__fmt_double(char *buf, size_t cap, size_t *len, double v) {
    int e10 = 0, i;
    unsigned long long mant;
    if (v != v) { sam__fmt_append(buf, cap, len, "nan"); return; }
    if (v < 0) { sam__fmt_append(buf, cap, len, "-"); v = -v; }
    if (v > DBL_MAX) { sam__fmt_append(buf, cap, len, "inf"); return; }
    if (v == 0) { sam__fmt_append(buf, cap, len, "0"); return; }
    while (v >= 10.0) { v /= 10.0; e10++; }
    while (v < 1.0) { v *= 10.0; e10--; }
    mant = (unsigned long long)(v * 100000.0 + 0.5);
    if (mant >= 1000000ULL) { mant /= 10; e10++; }
    if (e10 >= -4 && e10 < 6) {
        /* fixed notation: digits of mant with the point after e10+1 digits */
        char dig[7];
        int nd = 6, point = e10 + 1;
        for (i = 5; i >= 0; i--) { dig[i] = (char)('0' + (int)(mant % 10)); mant /= 10; }
        while (nd > 1 && nd > point && dig[nd - 1] == '0') nd--;
        if (point <= 0) {
            sam__fmt_append(buf, cap, len, "0.");
            for (i = 0; i < -point; i++) sam__fmt_append(buf, cap, len, "0");
            for (i = 0; i < nd; i++) { char c[2] = {dig[i], 0}; sam__fmt_append(buf, cap, len, c); }
        } else {
            for (i = 0; i < nd || i < point; i++) {
                char c[2] = {i < 6 ? dig[i] : '0', 0};
                if (i == point) sam__fmt_append(buf, cap, len, ".");
                sam__fmt_append(buf, cap, len, c);
            }
        }
    } else {
        char c[2] = {0, 0};
        unsigned long long div = 100000ULL;
        c[0] = (char)('0' + (int)(mant / div)); sam__fmt_append(buf, cap, len, c);
        mant %= div;
        if (mant) {
            sam__fmt_append(buf, cap, len, ".");
            while (mant) { div /= 10; c[0] = (char)('0' + (int)(mant / div)); sam__fmt_append(buf, cap, len, c); mant %= div; }
        }
        sam__fmt_append(buf, cap, len, "e");
        if (e10 < 0) { sam__fmt_append(buf, cap, len, "-"); e10 = -e10; }
        sam__fmt_uint(buf, cap, len, (unsigned long long)e10);
    }
}

/* Tiny printf for messages: %s %d %u %zu %g %%. No stdio needed. */
static void sam__vformat(char *buf, size_t cap, const char *fmt, va_list ap) {
    size_t len = 0;
    buf[0] = 0;
    for (; *fmt && len + 1 < cap; fmt++) {
        if (*fmt != '%') { buf[len++] = *fmt; buf[len] = 0; continue; }
        fmt++;
        if (*fmt == 's') { const char *s = va_arg(ap, const char *); sam__fmt_append(buf, cap, &len, s ? s : "(null)"); }
        else if (*fmt == 'd') { int v = va_arg(ap, int); if (v < 0) { sam__fmt_append(buf, cap, &len, "-"); sam__fmt_uint(buf, cap, &len, (unsigned long long)(-(long long)v)); } else sam__fmt_uint(buf, cap, &len, (unsigned long long)v); }
        else if (*fmt == 'u') { sam__fmt_uint(buf, cap, &len, va_arg(ap, unsigned)); }
        else if (*fmt == 'z' && fmt[1] == 'u') { fmt++; sam__fmt_uint(buf, cap, &len, (unsigned long long)va_arg(ap, size_t)); }
        else if (*fmt == 'g') { sam__fmt_double(buf, cap, &len, va_arg(ap, double)); }
        else if (*fmt == '%') { sam__fmt_append(buf, cap, &len, "%"); }
        else if (*fmt == 0) break;
    }
}

/* Record a failure in the context and return its status:
 *   return sam__fail(ctx, SAM_ERR_ARG, "sam_sgemm: lda (%zu) < K (%zu)", lda, k); */
static sam_status sam__fail(sam_ctx *ctx, sam_status st, const char *fmt, ...) {
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        sam__vformat(ctx->message, SAM_MESSAGE_BYTES, fmt, ap);
        va_end(ap);
        ctx->last_status = st;
    }
    return st;
}

static sam_status sam__ok(sam_ctx *ctx) {
    if (ctx) ctx->last_status = SAM_OK;
    return SAM_OK;
}

/* a*b without overflow; 0 on overflow. */
static int sam__mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > (size_t)-1 / a) return 0;
    *out = a * b;
    return 1;
}
static int sam__add_ok(size_t a, size_t b, size_t *out) {
    if (b > (size_t)-1 - a) return 0;
    *out = a + b;
    return 1;
}

static size_t sam__round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }
static int sam__isfinite_d(double v) { return v == v && v <= DBL_MAX && v >= -DBL_MAX; }

/* ---- helpers: memory ---------------------------------------------------- */

/* 64-byte aligned allocation; the raw pointer is stored just before it. */
static void *sam__alloc(void *user, size_t bytes) {
    size_t total;
    unsigned char *raw, *p;
    (void)user;
    if (!sam__add_ok(bytes, SAM__ALIGN + sizeof(void *), &total)) return NULL;
    raw = (unsigned char *)SAM_MALLOC(total, user);
    if (!raw) return NULL;
    p = (unsigned char *)(((uintptr_t)raw + sizeof(void *) + SAM__ALIGN - 1) & ~(uintptr_t)(SAM__ALIGN - 1));
    memcpy(p - sizeof(void *), &raw, sizeof(void *));
    return p;
}

static void sam__free(void *user, void *p) {
    void *raw;
    (void)user;
    if (!p) return;
    memcpy(&raw, (unsigned char *)p - sizeof(void *), sizeof(void *));
    SAM_FREE(raw, user);
}

/* Scratch for leaf kernels. Grows an owned workspace; a fixed one fails. */
static sam_status sam__workspace(sam_ctx *ctx, size_t bytes, void **out, const char *fn) {
    if (ctx->ws_bytes >= bytes && ctx->ws) { *out = ctx->ws; return SAM_OK; }
    if (ctx->ws_fixed)
        return sam__fail(ctx, SAM_ERR_WORKSPACE, "%s: workspace of %zu bytes needed, %zu given",
                         fn, bytes, ctx->ws_bytes);
    {
        void *p = sam__alloc(ctx->alloc_user, bytes);
        if (!p) return sam__fail(ctx, SAM_ERR_NOMEM, "%s: cannot allocate %zu bytes of workspace", fn, bytes);
        sam__free(ctx->alloc_user, ctx->ws_raw);
        ctx->ws = ctx->ws_raw = p;
        ctx->ws_bytes = bytes;
    }
    *out = ctx->ws;
    return SAM_OK;
}

/* ---- version, status ---------------------------------------------------- */

SAM__DEF const char *sam_version(void) { return SAM_VERSION_STRING; }

SAM__DEF const char *sam_status_string(sam_status s) {
    static const char *const names[SAM_STATUS_COUNT] = {
        "ok", "null pointer", "invalid argument", "size overflow", "out of memory",
        "ISA not available", "non-finite value", "workspace too small", "I/O error",
        "malformed file", "unsupported operation"};
    return ((unsigned)s < SAM_STATUS_COUNT) ? names[s] : "unknown status";
}

/* ---- ISA detection and context ------------------------------------------ */

SAM__DEF int sam_isa_supported(sam_isa isa) {
    switch (isa) {
    case SAM_ISA_SCALAR: return 1;
    case SAM_ISA_AVX2:
#if SAM__HAS_AVX2
        /* gcc/clang's cpu model checks CPUID and that the OS saves YMM (XGETBV). */
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
        return 0;
#endif
    case SAM_ISA_NEON: return SAM__HAS_NEON;
    default: return 0;
    }
}

SAM__DEF sam_isa sam_isa_best(void) {
    if (sam_isa_supported(SAM_ISA_AVX2)) return SAM_ISA_AVX2;
    if (sam_isa_supported(SAM_ISA_NEON)) return SAM_ISA_NEON;
    return SAM_ISA_SCALAR;
}

SAM__DEF const char *sam_isa_name(sam_isa isa) {
    switch (isa) {
    case SAM_ISA_SCALAR: return "scalar";
    case SAM_ISA_AVX2: return "avx2";
    case SAM_ISA_NEON: return "neon";
    default: return "unknown";
    }
}

SAM__DEF sam_status sam_ctx_init(sam_ctx *ctx, void *alloc_user) {
    if (!ctx) return SAM_ERR_NULL;
    memset(ctx, 0, sizeof *ctx);
    ctx->alloc_user = alloc_user;
    ctx->isa = sam_isa_best();
    return sam__ok(ctx);
}

SAM__DEF void sam_ctx_free(sam_ctx *ctx) {
    if (!ctx) return;
    sam__free(ctx->alloc_user, ctx->ws_raw);
    ctx->ws = ctx->ws_raw = NULL;
    ctx->ws_bytes = 0;
    ctx->ws_fixed = 0;
}

SAM__DEF sam_status sam_ctx_set_workspace(sam_ctx *ctx, void *buf, size_t bytes) {
    unsigned char *p;
    size_t skip;
    if (!ctx) return SAM_ERR_NULL;
    if (!buf) return sam__fail(ctx, SAM_ERR_NULL, "sam_ctx_set_workspace: buf is NULL");
    /* Align the start to 64 bytes; the kernels rely on it. */
    p = (unsigned char *)buf;
    skip = (size_t)((SAM__ALIGN - ((uintptr_t)p & (SAM__ALIGN - 1))) & (SAM__ALIGN - 1));
    if (bytes < skip)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_ctx_set_workspace: bytes (%zu) too small to align", bytes);
    sam__free(ctx->alloc_user, ctx->ws_raw);
    ctx->ws_raw = NULL;
    ctx->ws = p + skip;
    ctx->ws_bytes = bytes - skip;
    ctx->ws_fixed = 1;
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_ctx_reserve(sam_ctx *ctx, size_t bytes) {
    void *p;
    sam_status st;
    if (!ctx) return SAM_ERR_NULL;
    st = sam__workspace(ctx, bytes, &p, "sam_ctx_reserve");
    return st ? st : sam__ok(ctx);
}

SAM__DEF sam_status sam_ctx_set_isa(sam_ctx *ctx, sam_isa isa) {
    if (!ctx) return SAM_ERR_NULL;
    if ((unsigned)isa >= SAM_ISA_COUNT)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_ctx_set_isa: isa (%d) is not a sam_isa", (int)isa);
    if (!sam_isa_supported(isa))
        return sam__fail(ctx, SAM_ERR_ISA, "sam_ctx_set_isa: isa %s is not available on this CPU/build",
                         sam_isa_name(isa));
    ctx->isa = isa;
    return sam__ok(ctx);
}

SAM__DEF const char *sam_ctx_message(const sam_ctx *ctx) {
    if (!ctx) return "sam: ctx is NULL";
    return ctx->last_status == SAM_OK ? "ok" : ctx->message;
}

/* ---- random numbers ------------------------------------------------------- */

SAM__DEF void sam_rng_seed(sam_rng *rng, uint64_t seed, uint64_t stream) {
    /* PCG32 seeding procedure (pcg32_srandom_r). */
    rng->state = 0u;
    rng->inc = (stream << 1u) | 1u;
    rng->spare = 0.0;
    rng->has_spare = 0;
    (void)sam_rng_u32(rng);
    rng->state += seed;
    (void)sam_rng_u32(rng);
}

SAM__DEF uint32_t sam_rng_u32(sam_rng *rng) {
    uint64_t old = rng->state;
    uint32_t xorshifted, rot;
    rng->state = old * 6364136223846793005ULL + rng->inc;
    xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

/* Lemire's nearly-divisionless bounded integer, with rejection: unbiased. */
SAM__DEF uint32_t sam_rng_below(sam_rng *rng, uint32_t bound) {
    uint64_t m;
    uint32_t l;
    if (bound <= 1) return 0;
    m = (uint64_t)sam_rng_u32(rng) * bound;
    l = (uint32_t)m;
    if (l < bound) {
        uint32_t t = (uint32_t)(-bound) % bound;
        while (l < t) {
            m = (uint64_t)sam_rng_u32(rng) * bound;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

SAM__DEF double sam_rng_uniform(sam_rng *rng) {
    uint64_t hi = sam_rng_u32(rng) >> 5, lo = sam_rng_u32(rng) >> 6; /* 27 + 26 bits */
    return (double)(hi * 67108864ULL + lo) * (1.0 / 9007199254740992.0);
}

SAM__DEF float sam_rng_uniformf(sam_rng *rng) {
    return (float)(sam_rng_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

/* ln(x) for finite x > 0 in plain IEEE double arithmetic: x = m 2^k exactly
 * (frexp), m in [√½, √2); ln m = 2 atanh(s), s = (m-1)/(m+1), |s| ≤ 0.1716,
 * the odd series to s^27 by Horner (truncation < 1e-21 relative); ln 2 split
 * in two so k ln 2 stays exact. Only +, ×, ÷ on doubles with contraction off:
 * the same bits on every IEEE platform, unlike libm's log. */
SAM__DEF double sam_log_det(double x) {
    static const double ln2_hi = 6.93147180369123816490e-01; /* 32 bits: k*ln2_hi exact */
    static const double ln2_lo = 1.90821492927058770002e-10;
    int k = 0;
    double m, s, z, p;
    if (!(x > 0.0)) return x == 0.0 ? -HUGE_VAL : (x - x) / (x - x);
    if (x > DBL_MAX) return x;
    m = frexp(x, &k); /* exact */
    if (m < 0.7071067811865476) { m *= 2.0; k--; }
    s = (m - 1.0) / (m + 1.0);
    z = s * s;
    p = 1.0 / 27.0;
    p = p * z + 1.0 / 25.0; p = p * z + 1.0 / 23.0; p = p * z + 1.0 / 21.0;
    p = p * z + 1.0 / 19.0; p = p * z + 1.0 / 17.0; p = p * z + 1.0 / 15.0;
    p = p * z + 1.0 / 13.0; p = p * z + 1.0 / 11.0; p = p * z + 1.0 / 9.0;
    p = p * z + 1.0 / 7.0;  p = p * z + 1.0 / 5.0;  p = p * z + 1.0 / 3.0;
    p = p * z + 1.0;
    return (double)k * ln2_hi + ((double)k * ln2_lo + 2.0 * s * p);
}

/* Marsaglia's polar method: one accepted pair gives two normals; the second is
 * kept in the state (has_spare) and returned by the next call. */
SAM__DEF double sam_rng_gauss(sam_rng *rng) {
    double u, v, s, f;
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    do {
        u = 2.0 * sam_rng_uniform(rng) - 1.0;
        v = 2.0 * sam_rng_uniform(rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    f = sqrt(-2.0 * sam_log_det(s) / s); /* sqrt is correctly rounded (IEEE 754) */
    rng->spare = v * f;
    rng->has_spare = 1;
    return u * f;
}

SAM__DEF float sam_rng_rademacher(sam_rng *rng) {
    return (sam_rng_u32(rng) >> 31) ? 1.0f : -1.0f;
}

SAM__DEF void sam_rng_fill_gauss(sam_rng *rng, size_t n, float *out, float mean, float std) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = (float)((double)mean + (double)std * sam_rng_gauss(rng));
}

SAM__DEF void sam_rng_fill_uniform(sam_rng *rng, size_t n, float *out, float lo, float hi) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = (float)((double)lo + ((double)hi - (double)lo) * sam_rng_uniform(rng));
}

SAM__DEF void sam_rng_fill_rademacher(sam_rng *rng, size_t n, float *out) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = sam_rng_rademacher(rng);
}

SAM__DEF void sam_rng_permutation(sam_rng *rng, size_t n, size_t *perm) {
    size_t i;
    for (i = 0; i < n; i++) perm[i] = i;
    for (i = n; i > 1; i--) {
        size_t j = (i - 1 <= 0xffffffffu) ? (size_t)sam_rng_below(rng, (uint32_t)i)
                                          : (size_t)(sam_rng_uniform(rng) * (double)i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

/* ========================================================================
 * KERNELS: vector ops (scalar → AVX2 → NEON side by side)
 * ====================================================================== */

/* ---- dot: Σ x_i y_i ------------------------------------------------------ */

static double sam__dot_f32_scalar(size_t n, const float *x, const float *y) {
    double acc = 0.0;
    size_t i;
    for (i = 0; i < n; i++) acc += (double)x[i] * (double)y[i];
    return acc;
}

#if SAM__HAS_AVX2
/* Sum 8 float lanes in double, lane 0 first: a fixed order. */
SAM__AVX2 static double sam__hsum8_avx2(__m256 v) {
    float t[8];
    double s = 0.0;
    int i;
    _mm256_storeu_ps(t, v);
    for (i = 0; i < 8; i++) s += (double)t[i];
    return s;
}

/* 4 accumulators × 8 lanes hide FMA latency; blocks of 32 floats. */
SAM__AVX2 static double sam__dot_f32_avx2(size_t n, const float *x, const float *y) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    double s;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    s = sam__hsum8_avx2(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += (double)x[i] * (double)y[i];
    return s;
}
#endif

#if SAM__HAS_NEON
static double sam__hsum4_neon(float32x4_t v) {
    float t[4];
    vst1q_f32(t, v);
    return ((double)t[0] + (double)t[1]) + ((double)t[2] + (double)t[3]);
}

static double sam__dot_f32_neon(size_t n, const float *x, const float *y) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    double s;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
    s = sam__hsum4_neon(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) s += (double)x[i] * (double)y[i];
    return s;
}
#endif

typedef double (*sam__dot_fn)(size_t, const float *, const float *);
static const sam__dot_fn sam__dot_impl[SAM_ISA_COUNT] = {
    sam__dot_f32_scalar, SAM__IF_AVX2(sam__dot_f32_avx2), SAM__IF_NEON(sam__dot_f32_neon)};

/* ---- axpy: y += a x ------------------------------------------------------- */

static void sam__axpy_f32_scalar(size_t n, float a, const float *x, float *y) {
    size_t i;
    for (i = 0; i < n; i++) y[i] = y[i] + a * x[i];
}

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__axpy_f32_avx2(size_t n, float a, const float *x, float *y) {
    __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(y + i + 8, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8)));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] = fmaf(a, x[i], y[i]); /* tails round like the lanes */
}
#endif

#if SAM__HAS_NEON
static void sam__axpy_f32_neon(size_t n, float a, const float *x, float *y) {
    float32x4_t va = vdupq_n_f32(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), va, vld1q_f32(x + i)));
        vst1q_f32(y + i + 4, vfmaq_f32(vld1q_f32(y + i + 4), va, vld1q_f32(x + i + 4)));
    }
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), va, vld1q_f32(x + i)));
    for (; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}
#endif

typedef void (*sam__axpy_fn)(size_t, float, const float *, float *);
static const sam__axpy_fn sam__axpy_impl[SAM_ISA_COUNT] = {
    sam__axpy_f32_scalar, SAM__IF_AVX2(sam__axpy_f32_avx2), SAM__IF_NEON(sam__axpy_f32_neon)};

/* ---- scale: x *= a ---------------------------------------------------------- */

static void sam__scale_f32_scalar(size_t n, float a, float *x) {
    size_t i;
    for (i = 0; i < n; i++) x[i] *= a;
}

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__scale_f32_avx2(size_t n, float a, float *x) {
    __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(va, _mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] *= a;
}
#endif

#if SAM__HAS_NEON
static void sam__scale_f32_neon(size_t n, float a, float *x) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), a));
    for (; i < n; i++) x[i] *= a;
}
#endif

typedef void (*sam__scale_fn)(size_t, float, float *);
static const sam__scale_fn sam__scale_impl[SAM_ISA_COUNT] = {
    sam__scale_f32_scalar, SAM__IF_AVX2(sam__scale_f32_avx2), SAM__IF_NEON(sam__scale_f32_neon)};

/* ---- perturb: out = w + s g (SAM's ascent point, Foret et al. eq. 2) -------- */

static void sam__perturb_f32_scalar(size_t n, const float *w, float s, const float *g, float *out) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = w[i] + s * g[i];
}

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__perturb_f32_avx2(size_t n, const float *w, float s, const float *g, float *out) {
    __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(vs, _mm256_loadu_ps(g + i), _mm256_loadu_ps(w + i)));
        _mm256_storeu_ps(out + i + 8, _mm256_fmadd_ps(vs, _mm256_loadu_ps(g + i + 8), _mm256_loadu_ps(w + i + 8)));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(vs, _mm256_loadu_ps(g + i), _mm256_loadu_ps(w + i)));
    for (; i < n; i++) out[i] = fmaf(s, g[i], w[i]);
}
#endif

#if SAM__HAS_NEON
static void sam__perturb_f32_neon(size_t n, const float *w, float s, const float *g, float *out) {
    float32x4_t vs = vdupq_n_f32(s);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vfmaq_f32(vld1q_f32(w + i), vs, vld1q_f32(g + i)));
    for (; i < n; i++) out[i] = fmaf(s, g[i], w[i]);
}
#endif

typedef void (*sam__perturb_fn)(size_t, const float *, float, const float *, float *);
static const sam__perturb_fn sam__perturb_impl[SAM_ISA_COUNT] = {
    sam__perturb_f32_scalar, SAM__IF_AVX2(sam__perturb_f32_avx2), SAM__IF_NEON(sam__perturb_f32_neon)};

/* ---- finite check: 1 if no NaN/Inf in x. Exponent bits all ones ⇔ NaN or
 * Inf; an OR over lanes has no dependency chain (a sum of x*0 would be one long chain of
 * dependent adds, ~4 cycles per float: it dominated small models' steps). */
static int sam__finite_f32_scalar(size_t n, const float *x) {
    size_t i;
    uint32_t bad = 0;
    for (i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    return bad == 0;
}

#if SAM__HAS_AVX2
SAM__AVX2 static int sam__finite_f32_avx2(size_t n, const float *x) {
    const __m256i em = _mm256_set1_epi32(0x7f800000);
    __m256i b0 = _mm256_setzero_si256(), b1 = b0, b2 = b0, b3 = b0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        b0 = _mm256_or_si256(b0, _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i)), em), em));
        b1 = _mm256_or_si256(b1, _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i + 8)), em), em));
        b2 = _mm256_or_si256(b2, _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i + 16)), em), em));
        b3 = _mm256_or_si256(b3, _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i + 24)), em), em));
    }
    for (; i + 8 <= n; i += 8)
        b0 = _mm256_or_si256(b0, _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i)), em), em));
    b0 = _mm256_or_si256(_mm256_or_si256(b0, b1), _mm256_or_si256(b2, b3));
    if (!_mm256_testz_si256(b0, b0)) return 0;
    return sam__finite_f32_scalar(n - i, x + i);
}
#endif

#if SAM__HAS_NEON
static int sam__finite_f32_neon(size_t n, const float *x) {
    const uint32x4_t em = vdupq_n_u32(0x7f800000u);
    uint32x4_t b0 = vdupq_n_u32(0), b1 = b0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        b0 = vorrq_u32(b0, vceqq_u32(vandq_u32(vld1q_u32((const uint32_t *)(const void *)(x + i)), em), em));
        b1 = vorrq_u32(b1, vceqq_u32(vandq_u32(vld1q_u32((const uint32_t *)(const void *)(x + i + 4)), em), em));
    }
    if (vmaxvq_u32(vorrq_u32(b0, b1))) return 0;
    return sam__finite_f32_scalar(n - i, x + i);
}
#endif

typedef int (*sam__finite_fn)(size_t, const float *);
static const sam__finite_fn sam__finite_impl[SAM_ISA_COUNT] = {
    sam__finite_f32_scalar, SAM__IF_AVX2(sam__finite_f32_avx2), SAM__IF_NEON(sam__finite_f32_neon)};

/* ---- internal, unchecked entry points for the rest of the library -------- */

static double sam__dot(const sam_ctx *ctx, size_t n, const float *x, const float *y) {
    return sam__dot_impl[ctx->isa](n, x, y);
}
static double sam__sumsq(const sam_ctx *ctx, size_t n, const float *x) {
    return sam__dot_impl[ctx->isa](n, x, x);
}
static void sam__axpy(const sam_ctx *ctx, size_t n, float a, const float *x, float *y) {
    sam__axpy_impl[ctx->isa](n, a, x, y);
}
static void sam__scale(const sam_ctx *ctx, size_t n, float a, float *x) {
    sam__scale_impl[ctx->isa](n, a, x);
}
static void sam__perturb(const sam_ctx *ctx, size_t n, const float *w, float s, const float *g, float *out) {
    sam__perturb_impl[ctx->isa](n, w, s, g, out);
}
/* All finite? Checked on user inputs and on every loss, gradient and HVP. */
static int sam__finite(const sam_ctx *ctx, size_t n, const float *x) {
    return sam__finite_impl[ctx->isa](n, x);
}

/* ---- public wrappers: validate, then dispatch ------------------------------ */

#define SAM__CHECK_CTX(ctx) do { if (!(ctx)) return SAM_ERR_NULL; } while (0)
#define SAM__CHECK_PTR(ctx, p, fn, name) \
    do { if (!(p)) return sam__fail((ctx), SAM_ERR_NULL, fn ": " name " is NULL"); } while (0)

SAM__DEF sam_status sam_dot(sam_ctx *ctx, size_t n, const float *x, const float *y, double *out) {
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, x, "sam_dot", "x");
    SAM__CHECK_PTR(ctx, y, "sam_dot", "y");
    SAM__CHECK_PTR(ctx, out, "sam_dot", "out");
    *out = sam__dot(ctx, n, x, y);
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_axpy(sam_ctx *ctx, size_t n, float a, const float *x, float *y) {
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, x, "sam_axpy", "x");
    SAM__CHECK_PTR(ctx, y, "sam_axpy", "y");
    sam__axpy(ctx, n, a, x, y);
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_scale(sam_ctx *ctx, size_t n, float a, float *x) {
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, x, "sam_scale", "x");
    sam__scale(ctx, n, a, x);
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_copy(sam_ctx *ctx, size_t n, const float *x, float *y) {
    size_t bytes;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, x, "sam_copy", "x");
    SAM__CHECK_PTR(ctx, y, "sam_copy", "y");
    if (!sam__mul_ok(n, sizeof(float), &bytes))
        return sam__fail(ctx, SAM_ERR_SIZE, "sam_copy: n (%zu) floats overflow size_t", n);
    if (bytes) memmove(y, x, bytes); /* a copy is bit-exact: SAM's restore of w relies on it */
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_perturb(sam_ctx *ctx, size_t n, const float *w, float s, const float *g, float *out) {
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, w, "sam_perturb", "w");
    SAM__CHECK_PTR(ctx, g, "sam_perturb", "g");
    SAM__CHECK_PTR(ctx, out, "sam_perturb", "out");
    sam__perturb(ctx, n, w, s, g, out);
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_norm2(sam_ctx *ctx, size_t nbuf, const float *const *bufs, const size_t *lens, double *out) {
    size_t b;
    double acc = 0.0;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, out, "sam_norm2", "out");
    if (nbuf && (!bufs || !lens)) return sam__fail(ctx, SAM_ERR_NULL, "sam_norm2: bufs or lens is NULL");
    for (b = 0; b < nbuf; b++)
        if (!bufs[b] && lens[b]) return sam__fail(ctx, SAM_ERR_NULL, "sam_norm2: bufs[%zu] is NULL", b);
    for (b = 0; b < nbuf; b++) acc += sam__sumsq(ctx, lens[b], bufs[b]); /* buffer order, fixed */
    *out = sqrt(acc);
    return sam__ok(ctx);
}

/* ---- model interface -------------------------------------------------------- */

static size_t sam__cb_work_bytes(const void *self, size_t batch) {
    (void)self; (void)batch;
    return 0;
}
static sam_status sam__cb_loss_grad(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b,
                                    double *loss, float *grad, void *work) {
    const sam_model *m = (const sam_model *)self;
    sam_status st;
    (void)work;
    st = m->cb_loss_grad(m->cb_user, w, b, loss, grad);
    return st ? sam__fail(ctx, st, "sam_model(callback): loss_grad returned status %d", (int)st) : SAM_OK;
}
static sam_status sam__cb_hvp(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b,
                              const float *v, float *hv, void *work) {
    const sam_model *m = (const sam_model *)self;
    sam_status st;
    (void)work;
    if (!m->cb_hvp) return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "sam_model(callback): no hvp callback given");
    st = m->cb_hvp(m->cb_user, w, b, v, hv);
    return st ? sam__fail(ctx, st, "sam_model(callback): hvp returned status %d", (int)st) : SAM_OK;
}
static const sam_model_vtable sam__callback_vtable = {
    "callback", sam__cb_work_bytes, sam__cb_loss_grad, sam__cb_hvp, NULL};

SAM__DEF sam_status sam_model_callbacks(sam_model *m, size_t n_params, sam_loss_grad_fn loss_grad,
                                        sam_hvp_fn hvp, void *user) {
    if (!m || !loss_grad) return SAM_ERR_NULL;
    if (n_params == 0) return SAM_ERR_ARG;
    memset(m, 0, sizeof *m);
    m->vt = &sam__callback_vtable;
    m->self = m; /* the callbacks live in the model struct itself */
    m->n_params = n_params;
    m->out_dim = 1;
    m->cb_loss_grad = loss_grad;
    m->cb_hvp = hvp;
    m->cb_user = user;
    return SAM_OK;
}

SAM__DEF int sam_model_has_hvp(const sam_model *m) {
    if (!m || !m->vt || !m->vt->hvp) return 0;
    return m->vt != &sam__callback_vtable || m->cb_hvp != NULL;
}

SAM__DEF size_t sam_model_work_bytes(const sam_model *m, size_t batch) {
    if (!m || !m->vt || !m->vt->work_bytes) return 0;
    return m->vt->work_bytes(m->self, batch);
}

static sam_status sam__check_model_call(sam_ctx *ctx, const sam_model *m, const float *w,
                                        const sam_batch *b, const char *fn) {
    if (!m) return sam__fail(ctx, SAM_ERR_NULL, "%s: model is NULL", fn);
    if (!m->vt) return sam__fail(ctx, SAM_ERR_NULL, "%s: model->vt is NULL", fn);
    if (!w) return sam__fail(ctx, SAM_ERR_NULL, "%s: w is NULL", fn);
    if (b && b->data && b->idx) {
        size_t i;
        for (i = 0; i < b->n; i++)
            if (b->idx[i] >= b->data->n)
                return sam__fail(ctx, SAM_ERR_ARG, "%s: batch index idx[%zu] = %zu >= n (%zu)", fn, i,
                                 b->idx[i], b->data->n);
    } else if (b && b->data && b->n > b->data->n) {
        return sam__fail(ctx, SAM_ERR_ARG, "%s: batch n (%zu) > data n (%zu)", fn, b->n, b->data->n);
    }
    return SAM_OK;
}

SAM__DEF sam_status sam_model_loss_grad(sam_ctx *ctx, const sam_model *m, const float *w,
                                        const sam_batch *b, double *loss, float *grad, void *work) {
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_model_call(ctx, m, w, b, "sam_model_loss_grad"))) return st;
    if (!loss) return sam__fail(ctx, SAM_ERR_NULL, "sam_model_loss_grad: loss is NULL");
    if ((st = m->vt->loss_grad(m->self, ctx, w, b, loss, grad, work))) return st;
    if (!sam__isfinite_d(*loss))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "sam_model_loss_grad: loss is not finite");
    if (grad && !sam__finite(ctx, m->n_params, grad))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "sam_model_loss_grad: gradient is not finite");
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_model_hvp(sam_ctx *ctx, const sam_model *m, const float *w,
                                  const sam_batch *b, const float *v, float *hv, void *work) {
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_model_call(ctx, m, w, b, "sam_model_hvp"))) return st;
    if (!v || !hv) return sam__fail(ctx, SAM_ERR_NULL, "sam_model_hvp: v or hv is NULL");
    if (!m->vt->hvp) return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "sam_model_hvp: model %s has no hvp", m->vt->name);
    if ((st = m->vt->hvp(m->self, ctx, w, b, v, hv, work))) return st;
    if (!sam__finite(ctx, m->n_params, hv))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "sam_model_hvp: Hessian-vector product is not finite");
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_model_predict(sam_ctx *ctx, const sam_model *m, const float *w,
                                      const sam_batch *b, float *out, void *work) {
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_model_call(ctx, m, w, b, "sam_model_predict"))) return st;
    if (!b || !b->data) return sam__fail(ctx, SAM_ERR_NULL, "sam_model_predict: batch or batch->data is NULL");
    if (!out) return sam__fail(ctx, SAM_ERR_NULL, "sam_model_predict: out is NULL");
    if (!m->vt->predict)
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "sam_model_predict: model %s has no predict", m->vt->name);
    if ((st = m->vt->predict(m->self, ctx, w, b, out, work))) return st;
    return sam__ok(ctx);
}

#define SAM__ERROR_CHUNK 256

SAM__DEF size_t sam_model_error_work_bytes(const sam_model *m, size_t batch) {
    size_t chunk = batch < SAM__ERROR_CHUNK ? batch : SAM__ERROR_CHUNK;
    if (!m) return 0;
    return sam__round_up(sam_model_work_bytes(m, chunk), SAM__ALIGN) + chunk * m->out_dim * sizeof(float);
}

SAM__DEF sam_status sam_model_error(sam_ctx *ctx, const sam_model *m, const float *w,
                                    const sam_batch *b, double *error, void *work) {
    size_t start, wrong = 0, k, chunk, out_off;
    sam_status st;
    float *out;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_model_call(ctx, m, w, b, "sam_model_error"))) return st;
    if (!b || !b->data) return sam__fail(ctx, SAM_ERR_NULL, "sam_model_error: batch or batch->data is NULL");
    if (!error) return sam__fail(ctx, SAM_ERR_NULL, "sam_model_error: error is NULL");
    if (b->n == 0) return sam__fail(ctx, SAM_ERR_ARG, "sam_model_error: batch is empty");
    if (!work) return sam__fail(ctx, SAM_ERR_NULL, "sam_model_error: work is NULL");
    chunk = b->n < SAM__ERROR_CHUNK ? b->n : SAM__ERROR_CHUNK;
    out_off = sam__round_up(sam_model_work_bytes(m, chunk), SAM__ALIGN);
    out = (float *)((unsigned char *)work + out_off);
    for (start = 0; start < b->n; start += chunk) {
        size_t cn = b->n - start < chunk ? b->n - start : chunk, i;
        size_t seq[SAM__ERROR_CHUNK];
        sam_batch sub;
        sub.data = b->data;
        sub.n = cn;
        if (b->idx) sub.idx = b->idx + start;
        else { for (i = 0; i < cn; i++) seq[i] = start + i; sub.idx = seq; }
        if ((st = sam_model_predict(ctx, m, w, &sub, out, work))) return st;
        for (i = 0; i < cn; i++) {
            size_t s = sub.idx[i];
            const float *o = out + i * m->out_dim;
            if (m->out_dim == 1) {
                if ((double)b->data->y[s] * (double)o[0] <= 0.0) wrong++;
            } else {
                size_t best = 0;
                for (k = 1; k < m->out_dim; k++) if (o[k] > o[best]) best = k;
                if (!b->data->label || (int32_t)best != b->data->label[s]) wrong++;
            }
        }
    }
    *error = (double)wrong / (double)b->n;
    return sam__ok(ctx);
}

/* Parts under development; merged into this file before release. */
#define SAM__PART_IMPL
#include "wip/10_gemm.h"
#include "wip/20_nn.h"
#include "wip/30_optim.h"
#include "wip/40_data.h"
#include "wip/50_sharp.h"
#undef SAM__PART_IMPL

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#endif /* SAM_IMPLEMENTATION */

/*
 * ---------------------------------------------------------------------------
 * MIT License
 *
 * Copyright (c) 2026 the sam.h authors
 *
 * Permission is hereby granted, free of charge, to any person obtaining a copy
 * of this software and associated documentation files (the "Software"), to
 * deal in the Software without restriction, including without limitation the
 * rights to use, copy, modify, merge, publish, distribute, sublicense, and/or
 * sell copies of the Software, and to permit persons to whom the Software is
 * furnished to do so, subject to the following conditions:
 *
 * The above copyright notice and this permission notice shall be included in
 * all copies or substantial portions of the Software.
 *
 * THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 * IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 * FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 * AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 * LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
 * FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
 * IN THE SOFTWARE.
 */
