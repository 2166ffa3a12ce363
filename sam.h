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
 *   use the Ziggurat method (Marsaglia & Tsang 2000, 256 layers) with our own
 *   log in the rare wedge/tail cases (no libm result inside), so a seed gives
 *   the same numbers on every platform, compiler and ISA. The struct is plain
 *   data: copying it saves the stream, restoring continues it exactly.
 * ====================================================================== */

typedef struct sam_rng {
    uint64_t state;
    uint64_t inc;       /* stream selector, always odd */
    double spare;       /* reserved (unused since the Ziggurat; kept zero) */
    int has_spare;      /* reserved, 0 */
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

/* Ziggurat tables (Marsaglia & Tsang 2000), 256 layers of equal area
 * v = 4.9286732339746553e-03 under f(x) = exp(-x²/2), base edge
 * r = 3.6541528853610088. Computed in 50-digit arithmetic (mpmath) and written
 * with 17 significant digits, which every C99/C++11 compiler converts to the
 * same double (no hex floats: C++11 lacks them). sam__zig_x[0] = v/f(r) is the
 * base layer's virtual width, x[1] = r, x[i+1] = f⁻¹(v/x[i] + f(x[i])),
 * x[256] = 0; sam__zig_f[i] = f(x[i]). Layer i is the box [0, x[i]] ×
 * [f(x[i]), f(x[i+1])]; layer 0 is [0, r] × [0, f(r)] plus the tail x > r. */
static const double sam__zig_x[257] = {
    3.9107579595249158e+00, 3.6541528853610088e+00, 3.4492782985614312e+00, 3.3202447338398255e+00,
    3.2245750520478014e+00, 3.1478892895180008e+00, 3.0835261320021434e+00, 3.0278377917695933e+00,
    2.9786032798818431e+00, 2.9343668672088876e+00, 2.8941210536134121e+00, 2.8571387308732246e+00,
    2.8228773968264429e+00, 2.7909211740019275e+00, 2.7609440052799861e+00, 2.7326853590440114e+00,
    2.7059336561230620e+00, 2.6805146432857452e+00, 2.6562830375767432e+00, 2.6331163936315827e+00,
    2.6109105184888235e+00, 2.5895759867082866e+00, 2.5690354526818440e+00, 2.5492215503247833e+00,
    2.5300752321598541e+00, 2.5115444416266945e+00, 2.4935830412710467e+00, 2.4761499396705231e+00,
    2.4592083743347048e+00, 2.4427253182003641e+00, 2.4266709849371466e+00, 2.4110184139011195e+00,
    2.3957431197819274e+00, 2.3808227951720857e+00, 2.3662370567172908e+00, 2.3519672273791445e+00,
    2.3379961487965288e+00, 2.3243080188711325e+00, 2.3108882506013719e+00, 2.2977233489028634e+00,
    2.2848008027244919e+00, 2.2721089902283818e+00, 2.2596370951737876e+00, 2.2473750329473892e+00,
    2.2353133849299209e+00, 2.2234433400925107e+00, 2.2117566428841609e+00, 2.2002455466112765e+00,
    2.1889027716263607e+00, 2.1777214677402932e+00, 2.1666951803543086e+00, 2.1558178198767375e+00,
    2.1450836340478889e+00, 2.1344871828460170e+00, 2.1240233156895236e+00, 2.1136871506866530e+00,
    2.1034740557148774e+00, 2.0933796311387920e+00, 2.0833996939983046e+00, 2.0735302635187431e+00,
    2.0637675478117323e+00, 2.0541079316506523e+00, 2.0445479652175313e+00, 2.0350843537296188e+00,
    2.0257139478638542e+00, 2.0164337349062040e+00, 2.0072408305605287e+00, 1.9981324713584196e+00,
    1.9891060076174381e+00, 1.9801588969004766e+00, 1.9712886979336592e+00, 1.9624930649443630e+00,
    1.9537697423846467e+00, 1.9451165600086784e+00, 1.9365314282756947e+00, 1.9280123340526658e+00,
    1.9195573365931882e+00, 1.9111645637712533e+00, 1.9028322085504292e+00, 1.8945585256707047e+00,
    1.8863418285367828e+00, 1.8781804862929958e+00, 1.8700729210712668e+00, 1.8620176053996742e+00,
    1.8540130597602018e+00, 1.8460578502851854e+00, 1.8381505865828067e+00, 1.8302899196827569e+00,
    1.8224745400938858e+00, 1.8147031759662826e+00, 1.8069745913508208e+00, 1.7992875845497203e+00,
    1.7916409865521625e+00, 1.7840336595494415e+00, 1.7764644955245228e+00, 1.7689324149112686e+00,
    1.7614363653189102e+00, 1.7539753203176716e+00, 1.7465482782817223e+00, 1.7391542612859117e+00,
    1.7317923140529632e+00, 1.7244615029480450e+00, 1.7171609150178231e+00, 1.7098896570713018e+00,
    1.7026468547999232e+00, 1.6954316519345616e+00, 1.6882432094371953e+00, 1.6810807047251739e+00,
    1.6739433309261249e+00, 1.6668302961616654e+00, 1.6597408228581825e+00, 1.6526741470830559e+00,
    1.6456295179047824e+00, 1.6386061967755476e+00, 1.6316034569348736e+00, 1.6246205828330347e+00,
    1.6176568695730156e+00, 1.6107116223698301e+00, 1.6037841560260946e+00, 1.5968737944227882e+00,
    1.5899798700241907e+00, 1.5831017233960292e+00, 1.5762387027359064e+00, 1.5693901634151237e+00,
    1.5625554675310449e+00, 1.5557339834691764e+00, 1.5489250854741734e+00, 1.5421281532290019e+00,
    1.5353425714415141e+00, 1.5285677294377125e+00, 1.5218030207609980e+00, 1.5150478427767147e+00,
    1.5083015962813116e+00, 1.5015636851154637e+00, 1.4948335157804935e+00, 1.4881104970574475e+00,
    1.4813940396281873e+00, 1.4746835556978555e+00, 1.4679784586180795e+00, 1.4612781625102755e+00,
    1.4545820818884103e+00, 1.4478896312805760e+00, 1.4412002248487239e+00, 1.4345132760058923e+00,
    1.4278281970302560e+00, 1.4211443986753090e+00, 1.4144612897754711e+00, 1.4077782768463989e+00,
    1.4010947636792510e+00, 1.3944101509281410e+00, 1.3877238356899761e+00, 1.3810352110758555e+00,
    1.3743436657731662e+00, 1.3676485835974761e+00, 1.3609493430332831e+00, 1.3542453167626349e+00,
    1.3475358711805872e+00, 1.3408203658964040e+00, 1.3340981532193601e+00, 1.3273685776279258e+00,
    1.3206309752210563e+00, 1.3138846731502205e+00, 1.3071289890307312e+00, 1.3003632303308372e+00,
    1.2935866937369478e+00, 1.2867986644932436e+00, 1.2799984157138180e+00, 1.2731852076653563e+00,
    1.2663582870182295e+00, 1.2595168860637143e+00, 1.2526602218948972e+00, 1.2457874955486272e+00,
    1.2388978911056874e+00, 1.2319905747461362e+00, 1.2250646937565308e+00, 1.2181193754854815e+00,
    1.2111537262436991e+00, 1.2041668301443815e+00, 1.1971577478794415e+00, 1.1901255154266921e+00,
    1.1830691426826867e+00, 1.1759876120154520e+00, 1.1688798767308330e+00, 1.1617448594456115e+00,
    1.1545814503599277e+00, 1.1473885054208490e+00, 1.1401648443681514e+00, 1.1329092486525338e+00,
    1.1256204592155334e+00, 1.1182971741193450e+00, 1.1109380460135758e+00, 1.1035416794246398e+00,
    1.0961066278520215e+00, 1.0886313906539797e+00, 1.0811144097034038e+00, 1.0735540657924363e+00,
    1.0659486747621225e+00, 1.0582964833306752e+00, 1.0505956645909300e+00, 1.0428443131441489e+00,
    1.0350404398334410e+00, 1.0271819660356458e+00, 1.0192667174654841e+00, 1.0112924174399958e+00,
    1.0032566795446729e+00, 9.9515699963509097e-01, 9.8699074709906243e-01, 9.7875515529422463e-01,
    9.7044731106422444e-01, 9.6206414322304057e-01, 9.5360240988108602e-01, 9.4505868446816543e-01,
    9.3642934028657510e-01, 9.2771053340200016e-01, 9.1889818364959064e-01, 9.0998795349671846e-01,
    9.0097522446122180e-01, 8.9185507073294157e-01, 8.8262222958516556e-01, 8.7327106808886079e-01,
    8.6379554555330884e-01, 8.5418917100816383e-01, 8.4444495490915394e-01, 8.3455535408638215e-01,
    8.2451220875229214e-01, 8.1430667013521518e-01, 8.0392911698997127e-01, 7.9336905884062325e-01,
    7.8261502330723309e-01, 7.7165442422456809e-01, 7.6047340643010808e-01, 7.4905666201781529e-01,
    7.3738721143429564e-01, 7.2544614090999959e-01, 7.1321228519097590e-01, 7.0066184110681506e-01,
    6.8776789279578854e-01, 6.7449982283729382e-01, 6.6082257424441970e-01, 6.4669571489499378e-01,
    6.3207223638606114e-01, 6.1689699000775144e-01, 6.0110461775599267e-01, 5.8461676610637936e-01,
    5.6733825705381880e-01, 5.4915170232716515e-01, 5.2990972066155817e-01, 5.0942332960209180e-01,
    4.8744396613923602e-01, 4.6363433679088223e-01, 4.3751840220787169e-01, 4.0838913461199117e-01,
    3.7512133287838056e-01, 3.3573751921442524e-01, 2.8617459179207250e-01, 2.1524189598488169e-01,
    0.0000000000000000e+00
};
static const double sam__zig_f[257] = {
    4.7746776460938755e-04, 1.2602859304985975e-03, 2.6090727461021632e-03, 4.0379725933630305e-03,
    5.5224032992509976e-03, 7.0508754713732268e-03, 8.6165827693987316e-03, 1.0214971439701471e-02,
    1.1842757857907889e-02, 1.3497450601739880e-02, 1.5177088307935327e-02, 1.6880083152543170e-02,
    1.8605121275724647e-02, 2.0351096230044521e-02, 2.2117062707308868e-02, 2.3902203305795882e-02,
    2.5705804008548896e-02, 2.7527235669603085e-02, 2.9365939758133317e-02, 3.1221417191920248e-02,
    3.3093219458578522e-02, 3.4980941461716084e-02, 3.6884215688567291e-02, 3.8802707404526120e-02,
    4.0736110655940933e-02, 4.2684144916474438e-02, 4.4646552251294450e-02, 4.6623094901930368e-02,
    4.8613553215868528e-02, 5.0617723860947768e-02, 5.2635418276792183e-02, 5.4666461324888921e-02,
    5.6710690106202902e-02, 5.8767952920933765e-02, 6.0838108349539864e-02, 6.2921024437758127e-02,
    6.5016577971242856e-02, 6.7124653827788497e-02, 6.9245144397006769e-02, 7.1377949058890375e-02,
    7.3522973713981268e-02, 7.5680130358927081e-02, 7.7849336702096053e-02, 8.0030515814663056e-02,
    8.2223595813202863e-02, 8.4428509570353374e-02, 8.6645194450557961e-02, 8.8873592068275803e-02,
    9.1113648066373634e-02, 9.3365311912690874e-02, 9.5628536713008833e-02, 9.7903279038862298e-02,
    1.0018949876880982e-01, 1.0248715894193509e-01, 1.0479622562248690e-01, 1.0711666777468365e-01,
    1.0944845714681165e-01, 1.1179156816383801e-01, 1.1414597782783836e-01, 1.1651166562561081e-01,
    1.1888861344290999e-01, 1.2127680548479022e-01, 1.2367622820159656e-01, 1.2608687022018586e-01,
    1.2850872227999954e-01, 1.3094177717364433e-01, 1.3338602969166913e-01, 1.3584147657125373e-01,
    1.3830811644855073e-01, 1.4078594981444470e-01, 1.4327497897351343e-01, 1.4577520800599406e-01,
    1.4828664273257455e-01, 1.5080929068184570e-01, 1.5334316106026286e-01, 1.5588826472447923e-01,
    1.5844461415592431e-01, 1.6101222343751109e-01, 1.6359110823236572e-01, 1.6618128576448207e-01,
    1.6878277480121151e-01, 1.7139559563750595e-01, 1.7401977008183878e-01, 1.7665532144373500e-01,
    1.7930227452284767e-01, 1.8196065559952257e-01, 1.8463049242679927e-01, 1.8731181422380028e-01,
    1.9000465167046499e-01, 1.9270903690358915e-01, 1.9542500351413428e-01, 1.9815258654577514e-01,
    2.0089182249465659e-01, 2.0364274931033488e-01, 2.0640540639788074e-01, 2.0917983462112502e-01,
    2.1196607630703018e-01, 2.1476417525117361e-01, 2.1757417672433116e-01, 2.2039612748015197e-01,
    2.2323007576391746e-01, 2.2607607132238022e-01, 2.2893416541468026e-01, 2.3180441082433861e-01,
    2.3468686187232993e-01, 2.3758157443123798e-01, 2.4048860594050042e-01, 2.4340801542275015e-01,
    2.4633986350126366e-01, 2.4928421241852827e-01, 2.5224112605594196e-01, 2.5521066995466168e-01,
    2.5819291133761896e-01, 2.6118791913272088e-01, 2.6419576399726080e-01, 2.6721651834356114e-01,
    2.7025025636587524e-01, 2.7329705406857691e-01, 2.7635698929566810e-01, 2.7943014176163777e-01,
    2.8251659308370747e-01, 2.8561642681550159e-01, 2.8872972848218276e-01, 2.9185658561709504e-01,
    2.9499708779996170e-01, 2.9815132669668537e-01, 3.0131939610080294e-01, 3.0450139197664983e-01,
    3.0769741250429195e-01, 3.1090755812628634e-01, 3.1413193159633712e-01, 3.1737063802991350e-01,
    3.2062378495690536e-01, 3.2389148237639109e-01, 3.2717384281360135e-01, 3.3047098137916342e-01,
    3.3378301583071829e-01, 3.3711006663700593e-01, 3.4045225704452170e-01, 3.4380971314685060e-01,
    3.4718256395679353e-01, 3.5057094148140594e-01, 3.5397498080007661e-01, 3.5739482014578028e-01,
    3.6083060098964781e-01, 3.6428246812900378e-01, 3.6775056977903231e-01, 3.7123505766823928e-01,
    3.7473608713789092e-01, 3.7825381724561896e-01, 3.8178841087339344e-01, 3.8534003484007712e-01,
    3.8890886001878860e-01, 3.9249506145931540e-01, 3.9609881851583223e-01, 3.9972031498019706e-01,
    4.0335973922111434e-01, 4.0701728432947321e-01, 4.1069314827018805e-01, 4.1438753404089096e-01,
    4.1810064983784800e-01, 4.2183270922949578e-01, 4.2558393133802186e-01, 4.2935454102944132e-01,
    4.3314476911265215e-01, 4.3695485254798538e-01, 4.4078503466580382e-01, 4.4463556539573917e-01,
    4.4850670150720279e-01, 4.5239870686184830e-01, 4.5631185267871616e-01, 4.6024641781284253e-01,
    4.6420268904817402e-01, 4.6818096140569326e-01, 4.7218153846772981e-01, 4.7620473271950553e-01,
    4.8025086590904648e-01, 4.8432026942668294e-01, 4.8841328470545764e-01, 4.9253026364386820e-01,
    4.9667156905248938e-01, 5.0083757512614846e-01, 5.0502866794346790e-01, 5.0924524599574761e-01,
    5.1348772074732663e-01, 5.1775651722975591e-01, 5.2205207467232151e-01, 5.2637484717168403e-01,
    5.3072530440366161e-01, 5.3510393238045717e-01, 5.3951123425695169e-01, 5.4394773119002582e-01,
    5.4841396325526548e-01, 5.5291049042583196e-01, 5.5743789361876561e-01, 5.6199677581452401e-01,
    5.6658776325616400e-01, 5.7121150673525278e-01, 5.7586868297235327e-01, 5.8055999610079045e-01,
    5.8528617926337090e-01, 5.9004799633282556e-01, 5.9484624376798700e-01, 5.9968175261912493e-01,
    6.0455539069746744e-01, 6.0946806492577310e-01, 6.1442072388891356e-01, 6.1941436060583410e-01,
    6.2445001554702617e-01, 6.2952877992483636e-01, 6.3465179928762327e-01, 6.3982027745305625e-01,
    6.4503548082082207e-01, 6.5029874311081648e-01, 6.5561147057969704e-01, 6.6097514777666289e-01,
    6.6639134390874988e-01, 6.7186171989708177e-01, 6.7738803621877308e-01, 6.8297216164499441e-01,
    6.8861608300467136e-01, 6.9432191612611638e-01, 7.0009191813651128e-01, 7.0592850133275387e-01,
    7.1183424887824809e-01, 7.1781193263072163e-01, 7.2386453346862978e-01, 7.2999526456147579e-01,
    7.3620759812686232e-01, 7.4250529634015072e-01, 7.4889244721915649e-01, 7.5537350650709578e-01,
    7.6195334683679494e-01, 7.6863731579848582e-01, 7.7543130498118673e-01, 7.8234183265480206e-01,
    7.8937614356602415e-01, 7.9654233042295863e-01, 8.0384948317096394e-01, 8.1130787431265594e-01,
    8.1892919160370203e-01, 8.2672683394622104e-01, 8.3471629298688321e-01, 8.4291565311220396e-01,
    8.5134625845867773e-01, 8.6003362119633120e-01, 8.6900868803685671e-01, 8.7830965580891707e-01,
    8.8798466075583304e-01, 8.9809592189834309e-01, 9.0872644005213055e-01, 9.1999150503934668e-01,
    9.3206007595923013e-01, 9.4519895344229932e-01, 9.5987909180010633e-01, 9.7710170126767126e-01,
    1.0000000000000000e+00
};
/* The base layer's tail x > r (Marsaglia & Tsang 2000, §3; Marsaglia 1964):
 * a = -ln(U1)/r, b = -ln(U2), accept r + a when 2b > a². U in (0, 1]. */
static double sam__zig_tail(sam_rng *rng) {
    double a, b;
    do {
        a = -sam_log_det(1.0 - sam_rng_uniform(rng)) / sam__zig_x[1];
        b = -sam_log_det(1.0 - sam_rng_uniform(rng));
    } while (b + b < a * a);
    return sam__zig_x[1] + a;
}

/* PCG32's output permutation XSH RR of one state (pcg32_random_r). */
static uint32_t sam__pcg_out(uint64_t old) {
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

/* Two consecutive PCG32 outputs as (first << 32) | second, exactly what two
 * sam_rng_u32 calls give, but the state jumps two steps at once
 * (s2 = a²·s0 + (a+1)·inc mod 2^64) so the serial chain is one multiply-add. */
static uint64_t sam__rng_u64(sam_rng *rng) {
    const uint64_t a = 6364136223846793005ULL;
    uint64_t s0 = rng->state, s1 = s0 * a + rng->inc;
    rng->state = s0 * (a * a) + rng->inc * (a + 1u);
    return ((uint64_t)sam__pcg_out(s0) << 32) | sam__pcg_out(s1);
}

/* Ziggurat (Marsaglia & Tsang 2000) on one 64-bit draw (two PCG32 outputs):
 * bits 0..7 pick the layer i, bit 8 the sign, bits 11..63 a 53-bit uniform U.
 * x = U·x[i] is accepted at once when it lies inside the layer's core box
 * (x < x[i+1], 98.8% of draws); otherwise the wedge is tested against the
 * density with our log (ln y < -x²/2 ⇔ y < f(x)), or the tail is sampled,
 * and a rejected draw starts over. Only ×, +, comparisons on doubles and
 * sam_log_det decide the result: the same bits on every IEEE platform.
 * `bits` is the first draw; sam_rng_fill_gauss inlines the box test and
 * calls this only when it fails, so both give the same numbers. */
static double sam__zig_from(sam_rng *rng, uint64_t bits) {
    for (;;) {
        unsigned i = (unsigned)(bits & 255u);
        double sgn = 1.0 - (double)(int)((bits >> 7) & 2u); /* ±1 without a branch */
        double u = (double)(int64_t)(bits >> 11) * (1.0 / 9007199254740992.0); /* exact */
        double x = u * sam__zig_x[i];
        double y;
        if (x < sam__zig_x[i + 1]) return sgn * x;
        if (i == 0) return sgn * sam__zig_tail(rng);
        y = sam__zig_f[i] + sam_rng_uniform(rng) * (sam__zig_f[i + 1] - sam__zig_f[i]);
        if (sam_log_det(y) < -0.5 * (x * x)) return sgn * x;
        bits = sam__rng_u64(rng);
    }
}

SAM__DEF double sam_rng_gauss(sam_rng *rng) {
    return sam__zig_from(rng, sam__rng_u64(rng));
}

SAM__DEF float sam_rng_rademacher(sam_rng *rng) {
    return (sam_rng_u32(rng) >> 31) ? 1.0f : -1.0f;
}

/* The same numbers as n sam_rng_gauss calls, faster: the PCG state stays in
 * a register (two steps per draw, as in sam__rng_u64) and the Ziggurat's box
 * test is inlined; the rare wedge/tail draws go through sam__zig_from. */
SAM__DEF void sam_rng_fill_gauss(sam_rng *rng, size_t n, float *out, float mean, float std) {
    const uint64_t a = 6364136223846793005ULL;
    const uint64_t inc = rng->inc, a2 = a * a, c2 = inc * (a + 1u);
    const double dm = (double)mean, ds = (double)std;
    uint64_t s = rng->state;
    size_t k;
    for (k = 0; k < n; k++) {
        uint64_t s1 = s * a + inc;
        uint64_t bits = ((uint64_t)sam__pcg_out(s) << 32) | sam__pcg_out(s1);
        unsigned i = (unsigned)(bits & 255u);
        double sgn = 1.0 - (double)(int)((bits >> 7) & 2u);
        double x = (double)(int64_t)(bits >> 11) * (1.0 / 9007199254740992.0) * sam__zig_x[i];
        double g;
        s = s * a2 + c2;
        if (x < sam__zig_x[i + 1]) {
            g = sgn * x;
        } else {
            rng->state = s;
            g = sam__zig_from(rng, bits);
            s = rng->state;
        }
        out[k] = (float)(dm + ds * g);
    }
    rng->state = s;
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
