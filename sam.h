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
 * CONTENTS (search for the banner text)
 *   DECLARATIONS: version, status codes · context, ISA, workspace · random
 *     numbers · vector ops · data sets, batches and the model interface ·
 *     sgemm · patch convolution · activations, norm layers, losses · models ·
 *     optimizers · data sets · signal/noise coefficients · sharpness
 *   IMPLEMENTATION: helpers · KERNELS (vector ops, sgemm, patch convolution,
 *     activations; each op scalar → AVX2 → NEON, then its dispatch table and
 *     its validating wrapper) · LAYERS: norm layers · LOSSES · MODELS (Chen
 *     CNN, MLPs) · CURVATURE · Wen's constructions · OPTIMIZERS · DATA SETS ·
 *     SIGNAL/NOISE COEFFICIENTS · SHARPNESS
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
    /* Internal, 0 outside the library. Set by sam_opt_step and the Hessian
     * tools while they evaluate one of this library's models several times
     * in one call: no data set and no model work buffer has been changed by
     * anyone else since the model's previous call, so the model may reuse
     * what it derived from the batch (the CNN: its gathered, checked patch
     * rows, after comparing the batch by value). */
    int same_data;
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
/* The same numbers and final state on the context's ISA (each gives the same bits). */
SAMDEF sam_status sam_fill_gauss(sam_ctx *ctx, sam_rng *rng, size_t n, float *out, float mean, float std);
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

/* ========================================================================
 * DECLARATIONS: sgemm
 * ====================================================================== */

typedef enum sam_transpose { SAM_NO_TRANS = 0, SAM_TRANS = 1 } sam_transpose;

/* C = alpha op(A) op(B) + beta C, row-major, the meaning of cblas_sgemm with
 * CblasRowMajor. op(A) is M×K, op(B) is K×N, C is M×N. Stored shapes: A is
 * M×K (lda >= K) or, transposed, K×M (lda >= M); B is K×N (ldb >= N) or N×K
 * (ldb >= K); C is M×N (ldc >= N). beta == 0 overwrites C (even NaN);
 * alpha == 0 or K == 0 only scales C by beta (A and B are not read); M == 0 or
 * N == 0 does nothing. A pointer may be NULL only when its matrix is empty.
 * Pack buffers come from the context's workspace (grown on demand, or a fixed
 * one: SAM_ERR_WORKSPACE if it is smaller than sam_sgemm_workspace_bytes). */
SAMDEF sam_status sam_sgemm(sam_ctx *ctx, sam_transpose ta, sam_transpose tb, size_t M, size_t N, size_t K,
                            float alpha, const float *A, size_t lda, const float *B, size_t ldb, float beta,
                            float *C, size_t ldc);

/* Workspace bytes sam_sgemm needs for an M×N×K product on any ISA, for a
 * buffer at any address (the pack buffers are clamped to the cache blocks,
 * so the answer stops growing beyond a few MB). Pass SIZE_MAX for all three to size a fixed workspace (see
 * sam_ctx_set_workspace) that serves every shape. */
SAMDEF size_t sam_sgemm_workspace_bytes(size_t M, size_t N, size_t K);

/* ========================================================================
 * DECLARATIONS: patch convolution (the first layer of the two-layer CNN of
 * Chen et al. 2023, PAPERS.md §1: ⟨w_r, x^(p)⟩ for every filter and patch)
 * ====================================================================== */

/* Shapes (row-major): X is n samples × P patches × d, i.e. an (n·P) × d matrix
 * (row i·P + p is patch p of sample i, the sam_dataset layout); W is F × d (one
 * filter per row); Z is (n·P) × F pre-activations:
 *     Z = X Wᵀ,   Z[i·P+p][r] = ⟨w_r, x_i^(p)⟩. */
SAMDEF sam_status sam_patch_conv_forward(sam_ctx *ctx, size_t n, size_t P, size_t d, size_t F,
                                         const float *X, const float *W, float *Z);
/* Backward, given dZ ((n·P) × F) = ∂L/∂Z:
 *     dW = dZᵀ X + beta_dw dW     (F × d; beta_dw = 0 overwrites, 1 accumulates)
 *     dX = dZ W                   ((n·P) × d; skipped when dX is NULL). */
SAMDEF sam_status sam_patch_conv_backward(sam_ctx *ctx, size_t n, size_t P, size_t d, size_t F,
                                          const float *X, const float *W, const float *dZ, float beta_dw,
                                          float *dW, float *dX);

/* ========================================================================
 * DECLARATIONS: activations, norm layers, losses
 * ====================================================================== */

typedef enum sam_act_kind {
    SAM_ACT_RELU = 0,   /* max(0, z)                                        */
    SAM_ACT_LEAKY = 1,  /* z > 0 ? z : alpha z                              */
    SAM_ACT_RELU_POW = 2 /* max(0, z)^q, q >= 1 (Chen et al.'s ReLU^q)      */
} sam_act_kind;

typedef struct sam_act {
    sam_act_kind kind;
    float alpha;        /* leaky slope                                      */
    float q;            /* power of ReLU^q                                  */
} sam_act;

/* a = σ(z), d1 = σ'(z), d2 = σ''(z) (d1, d2 may be NULL); n elements.
 * At the kink z = 0 the one-sided value for z <= 0 is used. */
SAMDEF sam_status sam_act_forward(sam_ctx *ctx, const sam_act *act, size_t n, const float *z, float *a,
                                  float *d1, float *d2);
/* din = dout ⊙ σ'(z). din may alias dout. */
SAMDEF sam_status sam_act_backward(sam_ctx *ctx, const sam_act *act, size_t n, const float *z,
                                   const float *dout, float *din);

/* Simplified LayerNorm (Wen et al.): out_i = h_i / max(‖h_i‖, eps) for each of
 * `rows` rows of `width`. eps must be > 0 (1e-3 in the paper); below eps the
 * map is linear, h/eps. */
SAMDEF sam_status sam_sln_forward(sam_ctx *ctx, size_t rows, size_t width, float eps, const float *h,
                                  float *out);
SAMDEF sam_status sam_sln_backward(sam_ctx *ctx, size_t rows, size_t width, float eps, const float *h,
                                   const float *dout, float *dh);
/* Simplified BatchNorm (Wen et al.): out[i][j] = γ_j h[i][j] / s_j with
 * s_j = max(sqrt((1/n_stat) Σ_k h_stat[k][j]²), clamp): statistics over the
 * whole training set h_stat (n_stat × width), applied to `rows` rows h.
 * `clamp` > 0 keeps a neuron dead on the whole set finite (we use 1e-3).
 * Backward: dh (rows × width) = direct path, dh_stat (n_stat × width) = the path
 * through s_j, dgamma (width). */
SAMDEF sam_status sam_sbn_forward(sam_ctx *ctx, size_t n_stat, const float *h_stat, size_t rows, size_t width,
                                  const float *h, const float *gamma, float clamp, float *out);
SAMDEF sam_status sam_sbn_backward(sam_ctx *ctx, size_t n_stat, const float *h_stat, size_t rows, size_t width,
                                   const float *h, const float *gamma, float clamp, const float *dout,
                                   float *dh, float *dh_stat, float *dgamma);
/* Standard LayerNorm (per row) and BatchNorm (per column over the rows), with
 * mean subtraction, no affine part: out = (h − mean) / sqrt(var + eps). */
SAMDEF sam_status sam_ln_forward(sam_ctx *ctx, size_t rows, size_t width, float eps, const float *h, float *out);
SAMDEF sam_status sam_ln_backward(sam_ctx *ctx, size_t rows, size_t width, float eps, const float *h,
                                  const float *dout, float *dh);
SAMDEF sam_status sam_bn_forward(sam_ctx *ctx, size_t rows, size_t width, float eps, const float *h, float *out);
SAMDEF sam_status sam_bn_backward(sam_ctx *ctx, size_t rows, size_t width, float eps, const float *h,
                                  const float *dout, float *dh);

typedef enum sam_loss_kind {
    SAM_LOSS_LOGISTIC = 0,    /* log(1 + exp(−y f)), y = ±1                      */
    SAM_LOSS_MSE = 1,         /* (f − y)² (Wen et al.: no ½)                     */
    SAM_LOSS_LOGISTIC_LS = 2, /* −(1−p) log σ(y f) − p log σ(−y f), p = smoothing */
    SAM_LOSS_SOFTMAX_CE = 3   /* −Σ_k t_k log softmax(f)_k, t = (1−ε) onehot + ε/K */
} sam_loss_kind;

typedef struct sam_loss {
    sam_loss_kind kind;
    float smoothing;          /* p of LOGISTIC_LS, ε of SOFTMAX_CE (0 = none)    */
} sam_loss;

/* One sample's loss, gradient and Hessian in the outputs f (k of them; k = 1
 * for the scalar losses, which read y; CE reads label). grad (k) and hess
 * (k × k) may be NULL. */
SAMDEF sam_status sam_loss_eval(sam_ctx *ctx, const sam_loss *loss, size_t k, const float *f, float y,
                                int32_t label, double *value, double *grad, double *hess);

/* ========================================================================
 * DECLARATIONS: models (flat parameters with named views)
 *   Every model here fills a sam_model (net->model) whose `self` points back
 *   to the struct: do not move the struct after init. Parameters live in one
 *   caller-owned flat vector of net->model.n_params floats.
 * ====================================================================== */

typedef struct sam_param_view {
    const char *name;   /* "W1", "b1", "gamma1", "filters+", ...            */
    size_t offset;      /* first float in the flat vector                   */
    size_t rows, cols;  /* row-major shape                                  */
} sam_param_view;

#define SAM_NN_MAX_VIEWS 12

/* Views of a model made by this part; NULL (count 0) for any other model. */
SAMDEF const sam_param_view *sam_nn_views(const sam_model *m, size_t *count);

/* ---- Chen et al.'s two-layer patch CNN (PAPERS.md §1) --------------------
 * F_j(x) = (1/m) Σ_r Σ_p σ(⟨w_{j,r}, x^(p)⟩), f = F_{+1} − F_{−1}; no bias,
 * second layer fixed. Parameters: a (2m × d) row-major matrix, rows 0..m−1
 * are w_{+1,r}, rows m..2m−1 are w_{−1,r}. classes = K > 2: K groups of m
 * filters (K·m × d), F_k = (1/m) Σ_r Σ_p σ(⟨w_{k,r}, x^(p)⟩), softmax CE.
 * Fast path: on Chen's data (noise_count == 1, signal_patch, signal, y_clean
 * set) the P−1 noise patches are one vector and the signal patch is ±μ, so
 * one noise activation is weighted by P−1 and ⟨w, μ⟩ is computed once per
 * batch: ~P× fewer multiply-adds, same result up to float rounding. */
typedef struct sam_cnn_config {
    size_t patches;     /* P                                                */
    size_t patch_dim;   /* d                                                */
    size_t width;       /* m filters per class                              */
    size_t classes;     /* 2: binary f = F+ − F−, out_dim 1; K > 2: K logits */
    sam_act act;        /* ReLU (default), leaky, ReLU^q                    */
    sam_loss loss;      /* logistic (binary default) / LS / MSE; CE for K    */
    int no_fast_path;   /* 1: always use the generic patch convolution      */
} sam_cnn_config;

typedef struct sam_cnn {
    sam_cnn_config cfg;
    size_t n_filters;   /* classes·m (binary: 2m)                           */
    size_t n_views;
    sam_param_view views[SAM_NN_MAX_VIEWS];
    sam_model model;
} sam_cnn;

/* P 2, d 1000, m 10, binary, ReLU, logistic. */
SAMDEF void sam_cnn_config_default(sam_cnn_config *cfg);
SAMDEF sam_status sam_cnn_init(sam_ctx *ctx, sam_cnn *net, const sam_cnn_config *cfg);
/* w ~ N(0, sigma0²) (Chen et al.'s init). */
SAMDEF sam_status sam_cnn_init_params(sam_ctx *ctx, const sam_cnn *net, sam_rng *rng, float sigma0, float *w);

/* ---- MLPs: Wen et al.'s two-layer nets, the 3-layer Bias MLP, a general MLP --
 * Dense layers l = 1..L; hidden ones apply σ; an optional norm follows the
 * first hidden activation. Flat layout, layer by layer: W_l (out × in,
 * row-major), then b_l if that layer has a bias, then γ (width) after b1 for
 * Sim-BN. Wen's two-layer net: W1, [b1], [γ], W2. */
#define SAM_MLP_MAX_LAYERS 4

typedef enum sam_norm_kind {
    SAM_NORM_NONE = 0,
    SAM_NORM_SBN = 1,   /* simplified BatchNorm, training-set statistics    */
    SAM_NORM_SLN = 2,   /* simplified LayerNorm h / max(‖h‖, eps)           */
    SAM_NORM_BN = 3,    /* standard BatchNorm (batch statistics), no affine  */
    SAM_NORM_LN = 4     /* standard LayerNorm, no affine                    */
} sam_norm_kind;

typedef enum sam_init_kind {
    SAM_INIT_TORCH = 0, /* U(±1/√fan_in) for weights and biases (PyTorch)   */
    SAM_INIT_GAUSS = 1  /* N(0, sigma²) weights, zero biases                */
} sam_init_kind;

typedef struct sam_mlp_config {
    size_t in_dim;
    size_t n_layers;                         /* dense layers, 1..MAX         */
    size_t width[SAM_MLP_MAX_LAYERS];        /* widths of hidden layers 1..L−1 */
    size_t out_dim;                          /* 1 (binary/regression) or K   */
    int hidden_bias;                         /* b_l on hidden layers         */
    int out_bias;                            /* b_L (Wen: none)              */
    sam_act act;
    sam_norm_kind norm;                      /* after the first hidden layer */
    float norm_eps;                          /* SLN ε / SBN clamp / BN-LN ε; > 0 */
    size_t sbn_n;                            /* SBN: max training-set size   */
    sam_loss loss;
    sam_init_kind init;
    float init_sigma;                        /* SAM_INIT_GAUSS               */
    float layer_scale[SAM_MLP_MAX_LAYERS];   /* init multiplier per layer    */
} sam_mlp_config;

typedef struct sam_mlp {
    sam_mlp_config cfg;
    size_t off_w[SAM_MLP_MAX_LAYERS], off_b[SAM_MLP_MAX_LAYERS], off_gamma;
    size_t dims[SAM_MLP_MAX_LAYERS + 1];     /* in, widths..., out           */
    const sam_dataset *stat_data;            /* SBN statistics set, or NULL  */
    size_t n_views;
    sam_param_view views[SAM_NN_MAX_VIEWS];
    sam_model model;
} sam_mlp;

typedef enum sam_wen_variant {
    SAM_WEN_NOBIAS = 0, /* f = W2 relu(W1 x)                                */
    SAM_WEN_BIAS = 1,   /* f = W2 relu(W1 x + b1)                           */
    SAM_WEN_SBN = 2,    /* f = W2 SBN(relu(W1 x + b1)), γ trainable         */
    SAM_WEN_SLN = 3,    /* f = W2 relu(W1 x + b1) / max(‖·‖, 1e-3)          */
    SAM_WEN_BIAS3 = 4   /* f = W3 relu(W2 relu(W1 x + b1) + b2)             */
} sam_wen_variant;

/* Wen et al.'s nets: width m, no output bias, PyTorch init, MSE loss, norm
 * eps 1e-3; SLN scales the first layer's init by 0.01. sbn_n = 100. */
SAMDEF void sam_mlp_config_wen(sam_mlp_config *cfg, sam_wen_variant v, size_t d, size_t width);
/* in → hidden → out with biases, ReLU, PyTorch init; CE if out > 1 else logistic. */
SAMDEF void sam_mlp_config_default(sam_mlp_config *cfg, size_t in, size_t hidden, size_t out);
SAMDEF sam_status sam_mlp_init(sam_ctx *ctx, sam_mlp *net, const sam_mlp_config *cfg);
SAMDEF sam_status sam_mlp_init_params(sam_ctx *ctx, const sam_mlp *net, sam_rng *rng, float *w);
/* Sim-BN: take the statistics from `train` (NULL: from each batch's data set,
 * i.e. batch->data is the training set). */
SAMDEF sam_status sam_mlp_set_stat_data(sam_ctx *ctx, sam_mlp *net, const sam_dataset *train);

/* ---- curvature helpers --------------------------------------------------- */

/* ∇_θ f(x_i) of sample i of data (out_dim 1 models of this part). work:
 * sam_model_work_bytes(m, 1). f (may be NULL) receives f(x_i). */
SAMDEF sam_status sam_nn_output_grad(sam_ctx *ctx, const sam_model *m, const float *w, const sam_dataset *data,
                                     size_t i, float *grad, double *f, void *work);
/* Gauss-Newton part of the trace, (1/n) Σ_i ℓ''(f_i) ‖∇_θ f(x_i)‖², over the
 * batch; gbuf holds n_params floats; work: sam_model_work_bytes(m, 1). */
SAMDEF sam_status sam_nn_trace_gn(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                  double *trace, float *gbuf, void *work);
/* Exact tr ∇²L for piecewise-linear nets without norm layers (ReLU / leaky,
 * PAPERS.md §2): equals the Gauss-Newton part there. SAM_ERR_UNSUPPORTED for
 * a model with a norm layer or ReLU^q (use a Hutchinson estimate instead). */
SAMDEF sam_status sam_nn_trace_closed_form(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                           double *trace, float *gbuf, void *work);

/* ---- Wen et al.'s analytic constructions (PAPERS.md §2), test oracles ------
 * Each fills all of w (zero padding beyond the neurons it needs). */
/* Bias net memorising train (needs width >= train->n): trace 4√(d+1) with MSE,
 * test error ≈ 1. eps in (0, 2/√d). */
SAMDEF sam_status sam_wen_bias_memorize(sam_ctx *ctx, const sam_mlp *net, const sam_dataset *train, float eps,
                                        float *w);
/* Bias net computing x1·x2 on the hypercube with 4 neurons: trace 4√(d+1). */
SAMDEF sam_status sam_wen_bias_generalize(sam_ctx *ctx, const sam_mlp *net, float *w);
/* Sim-LN net computing x1·x2 with 4 neurons: trace 2. */
SAMDEF sam_status sam_wen_simln_generalize(sam_ctx *ctx, const sam_mlp *net, float *w);

/* ========================================================================
 * DECLARATIONS: optimizers (SGD, GD, Adam/AdamW; SAM, ASAM, N-step SAM,
 * Rand-SAM, m-sharpness, SAM-early; GSAM, Friendly-SAM, LookSAM, ESAM, MSAM,
 * GAM)
 *
 * Quick start (1-SAM, Wen et al.):
 *     sam_opt_config cfg; sam_opt opt; double loss;
 *     sam_opt_config_default(&cfg);
 *     cfg.method = SAM_METHOD_SAM; cfg.lr = 0.01; cfg.rho = 0.05;
 *     cfg.batch_size = 1; cfg.dataset_size = train.n;
 *     sam_opt_init(&ctx, &opt, &cfg, &model, NULL, 0);
 *     for (e = 0; e < epochs; e++) sam_opt_epoch(&ctx, &opt, &model, w, &train, &loss);
 *     sam_opt_free(&opt);
 *
 * One sam_opt holds the configuration, ALL optimizer state and its work
 * memory. The state (momentum / Adam moments, step and epoch counters, the
 * RNG streams, the gradient accumulator, FSAM's and LookSAM's vectors) is
 * saved with sam_opt_save and restored with sam_opt_load: a resumed run
 * continues bit-identically. Memory: ONE block, sized by sam_opt_mem_bytes,
 * either given by the caller or allocated once by sam_opt_init with the
 * context's allocator. Steps never allocate.
 *
 * Rules (PAPERS.md §0), all tested:
 *  - w is never written during the ascent: the perturbed point w + ε lives in
 *    the optimizer's own buffer, so "returning to w" is exact by construction.
 *  - ‖g‖ = 0 or ρ = 0 ⇒ ε = 0 and NO second gradient: the gradient at w + 0 is
 *    the gradient at w. Hence ρ = 0 reproduces the base optimizer bit for bit.
 *  - a non-finite loss or gradient in any pass (or a bad schedule value)
 *    returns a status; w and the whole saved state are exactly as before.
 *  - weight decay: SAM_WD_IN_LOSS (default; Foret et al.'s code) adds ½λ‖w‖²
 *    to the objective, so λx is added to the gradient at BOTH points x = w and
 *    x = w + ε (and at every N-step point); SAM_WD_IN_STEP (PyTorch
 *    SGD(weight_decay=λ) / Adam L2 inside a SAM wrapper) adds λw to the final
 *    gradient only, after clipping. SAM_BASE_ADAMW always decays decoupled:
 *    w ← w − lr λ w before the Adam step (wd_mode is ignored). Reported losses
 *    are the model's loss without the penalty.
 *  - m-sharpness: the batch is cut, in order, into groups of
 *    samples_per_perturbation (m) samples; the last group may be smaller
 *    (m need not divide the batch). Each group gets its own ε from its own
 *    gradient; the final gradient is Σ_j (n_j/n) g'_j, so without
 *    perturbation it is the batch gradient. m = 0 or m ≥ batch: one group,
 *    exactly SAM. 1-SAM = m 1 with batch 1 (or any m with batch 1).
 *  - N-step SAM: ε is accumulated, ε ← ε + (ρ/N) ĝ(w + ε), the point is
 *    w + ε; all N steps on the same batch. N = 1 is SAM exactly (same code).
 *  - Norm statistics: see sam_norm_stats below.
 *  - A step on a batch of n samples needs cfg.batch_size ≥ n or
 *    cfg.dataset_size ≥ n when the model needs work memory (models sized at
 *    init); callback models need neither.
 *  - After a failed step the perturbed point / ε buffers are undefined
 *    (sam_opt_perturbed_point returns w); w and the state are unchanged.
 *  - Final gradient, in this order: per-step gradient (SAM/variant) →
 *    accumulation (weighted mean over `accumulate` steps) → clipping to
 *    clip_norm → + λw if SAM_WD_IN_STEP → base update. lr and ρ come from
 *    the schedules at t = number of base updates applied (or the epoch).
 *  - Save/restore between steps (not between sam_opt_ascend and _descend).
 * ====================================================================== */

typedef enum sam_opt_base {
    SAM_BASE_SGD = 0,  /* SGD, optional (Nesterov) momentum; GD = SGD on the full batch */
    SAM_BASE_ADAM,     /* Adam (Kingma & Ba), bias-corrected; wd as L2 per wd_mode */
    SAM_BASE_ADAMW,    /* AdamW (Loshchilov & Hutter): decoupled weight decay */
    SAM_BASE_COUNT
} sam_opt_base;

typedef enum sam_opt_method {
    SAM_METHOD_NONE = 0, /* the base optimizer alone                                  */
    SAM_METHOD_SAM,      /* Foret et al.: ε = ρ g/‖g‖ (N-step when ascent_steps > 1)  */
    SAM_METHOD_ASAM,     /* Kwon et al.: ε = ρ T² g/‖T g‖, T = |w| + η on weights, 1 else */
    SAM_METHOD_RANDSAM,  /* ε = ρ u/‖u‖, u ~ N(0,I) (⊙ T if rand_scale_by_w); 1 gradient */
    SAM_METHOD_GSAM,     /* Zhuang et al.: g' − α g⊥, g⊥ = part of g orthogonal to g' */
    SAM_METHOD_FSAM,     /* Friendly-SAM (Li et al.): ascend along g − σ m, m = EMA of g */
    SAM_METHOD_LOOKSAM,  /* Liu et al.: SAM every k steps, reuse g_v in between */
    SAM_METHOD_ESAM,     /* Du et al.: SAM ε on a Bernoulli(β) subset of coordinates (÷β),
                            final gradient on the γ-fraction of samples whose loss rose most */
    SAM_METHOD_MSAM,     /* Becker et al.: ε = −ρ v/‖v‖, v = momentum (SGD buffer / Adam m);
                            1 gradient per step (nothing at w) */
    SAM_METHOD_GAM,      /* Zhang et al. 2023 (Gradient norm Aware Minimization, the official
                            code's GAM-on-SAM step): SAM gradient
                            plus a first-order-flatness term from 2 more gradients at
                            w + ρ' d/‖d‖ (d = g' − g) and beyond it; 4 gradients per step,
                            sam_opt_step only (see the gam_* fields). After a step
                            sam_opt_perturbed_point is the last point evaluated (w + ε2)
                            and sam_opt_last_eps is NULL (unless passes 2-3 are skipped) */
    SAM_METHOD_COUNT
} sam_opt_method;

typedef enum sam_wd_mode { SAM_WD_IN_LOSS = 0, SAM_WD_IN_STEP = 1 } sam_wd_mode;

typedef enum sam_lr_schedule {
    SAM_LR_CONSTANT = 0,
    SAM_LR_STEP,      /* lr · gamma^floor(t / lr_step_size)                        */
    SAM_LR_COSINE,    /* lr_min + (lr − lr_min)(1 + cos(π t'/T'))/2, t' and T' after warm-up, t' ≤ T' */
    SAM_LR_CALLBACK   /* lr_fn(sched_user, t, epoch, lr)                          */
} sam_lr_schedule;

typedef enum sam_rho_schedule {
    SAM_RHO_CONSTANT = 0,
    SAM_RHO_PROPORTIONAL_LR, /* ρ_t = ρ · lr_t / lr                               */
    SAM_RHO_CALLBACK         /* rho_fn(sched_user, t, epoch, rho)                 */
} sam_rho_schedule;

typedef enum sam_ascent_projection {
    SAM_ASCENT_NO_PROJECTION = 0, /* e_N as accumulated (‖e_N‖ ≤ ρ by the triangle inequality) */
    SAM_ASCENT_PROJECT_BALL,      /* e_N ← e_N · min(1, ρ/‖e_N‖)                       */
    SAM_ASCENT_RESCALE_SPHERE     /* e_N ← e_N · ρ/‖e_N‖ (when ‖e_N‖ > 0)              */
} sam_ascent_projection;

/* Policy for normalisation statistics in the second (perturbed) pass. The
 * optimizer sets opt->pass (0: gradient at w, 1: at w + ε, 2..: N-step
 * points) and opt->freeze_norm_stats (1 in passes ≥ 1 under
 * SAM_NORM_STATS_FIRST_PASS) before each model call; a model with running
 * batch statistics (standard BatchNorm in training mode) points a field of its
 * own at &opt->freeze_norm_stats and then neither updates its running averages
 * nor recomputes statistics in the second pass, i.e. it normalises with the
 * first pass's statistics (default, as the common PyTorch recipe).
 * Our simplified BatchNorm (Wen et al.) divides by statistics over the WHOLE
 * training set recomputed from the weights being evaluated: they are part of
 * the loss function L(w), not running state, so the flag is ignored there and
 * the second pass uses the statistics of w + ε (the gradient of L at w + ε,
 * exactly what SAM's formula asks for). */
typedef enum sam_norm_stats {
    SAM_NORM_STATS_FIRST_PASS = 0,
    SAM_NORM_STATS_EVERY_PASS = 1
} sam_norm_stats;

/* Epoch helper, last mini-batch when B does not divide n. */
typedef enum sam_last_batch {
    SAM_LAST_BATCH_KEEP = 0, /* a smaller final step (mean loss over its samples) */
    SAM_LAST_BATCH_DROP = 1  /* skip the n mod B left-over samples of the permutation */
} sam_last_batch;

/* Schedule callback: t = base updates applied so far (or the epoch, if
 * schedule_by_epoch), base = the configured lr or rho. Must return a finite
 * value (lr > 0, rho ≥ 0), else the step fails with SAM_ERR_ARG. */
typedef double (*sam_schedule_fn)(void *user, uint64_t t, uint64_t epoch, double base);

typedef struct sam_opt_config {
    /* ---- base optimizer ---- */
    sam_opt_base base;       /* SAM_BASE_SGD (default)                                  */
    double lr;               /* learning rate, > 0                    (default 0.1)    */
    double momentum;         /* SGD heavy-ball μ in [0,1); 0 = plain SGD   (default 0) */
    int nesterov;            /* SGD: Nesterov momentum (needs momentum > 0) (default 0) */
    double beta1, beta2;     /* Adam(W) moment decays in [0,1)     (0.9, 0.999)       */
    double adam_eps;         /* Adam(W) ε > 0                                (1e-8)    */
    double weight_decay;     /* λ ≥ 0                                        (0)       */
    sam_wd_mode wd_mode;     /* where λ acts (see the rules above)  (SAM_WD_IN_LOSS)   */
    /* Per-parameter role, n_params bytes: 1 = weight, 0 = bias / norm gain;
     * NULL = all weights. Read at init (copied), used by ASAM/Rand-SAM's T
     * (T = 1 on 0-entries) and, if decay_weights_only, by weight decay. */
    const uint8_t *weight_mask;
    int decay_weights_only;  /* 1: λ only on mask-1 entries                (default 0) */
    /* ---- SAM family ---- */
    sam_opt_method method;   /* SAM_METHOD_NONE (default)                              */
    double rho;              /* ρ ≥ 0, perturbation radius                  (0.05)     */
    size_t samples_per_perturbation; /* m: 0 = whole batch (default)                    */
    unsigned ascent_steps;   /* N ≥ 1 gradient-ascent steps (SAM, ASAM only) (1)      */
    sam_ascent_projection ascent_projection; /* N-step: what to do with e_N (none)     */
    double asam_eta;         /* ASAM/Rand-SAM T = |w| + η                   (0.01)     */
    int rand_scale_by_w;     /* Rand-SAM: u ⊙ T before normalising          (0)        */
    int sam_epochs;          /* SAM-early: perturb only while epoch < k; < 0 = always (-1) */
    double gsam_alpha;       /* GSAM α ≥ 0 (0 = SAM)                        (0.1)      */
    double fsam_sigma;       /* FSAM σ in [0,1] (0 = SAM)                   (1)        */
    double fsam_lambda;      /* FSAM EMA decay in [0,1)                     (0.9)      */
    unsigned looksam_k;      /* LookSAM: full SAM every k ≥ 1 steps (1 = SAM) (5)      */
    double looksam_alpha;    /* LookSAM α ≥ 0                               (0.7)      */
    double esam_beta;        /* ESAM SWP keep probability in (0,1] (1: all)  (0.5)      */
    double esam_gamma;       /* ESAM SDS sample fraction in (0,1] (1: all)   (0.5)      */
    /* GAM (Zhang et al. 2023; names of the official code): ρ = cfg.rho
     * (grad_rho), ρ' = gam_grad_norm_rho, final gradient
     * h − γ (p − proj_h p), h = β1 g1 + β3 g3, p = g0 + |β2| g2 (see the step).
     * β1 = 1, β3 = 0, γ = 0 is SAM bit for bit (passes 3-4 skipped). */
    double gam_grad_norm_rho; /* ρ' ≥ 0, radius along d = g1 − g0       (0.02)     */
    double gam_grad_beta_1;  /* β1, weight of the SAM gradient g1 (finite) (1)        */
    double gam_grad_beta_2;  /* β2, |β2| weights g2 in p (finite)            (-1)       */
    double gam_grad_beta_3;  /* β3, weight of the flatness gradient g3 (finite) (1)   */
    double gam_grad_gamma;   /* γ ≥ 0, weight of the orthogonal correction  (0.3)      */
    /* ---- schedules ---- */
    sam_lr_schedule lr_schedule;   /* (SAM_LR_CONSTANT)                               */
    uint64_t lr_step_size;   /* SAM_LR_STEP: t per decay, > 0                          */
    double lr_gamma;         /* SAM_LR_STEP factor                          (0.1)      */
    uint64_t lr_total;       /* SAM_LR_COSINE: T (t units), > warmup                   */
    double lr_min;           /* SAM_LR_COSINE floor                         (0)        */
    uint64_t warmup;         /* linear warm-up: lr_t ·= (t+1)/warmup for t < warmup,
                                not applied to SAM_LR_CALLBACK                (0)    */
    int schedule_by_epoch;   /* 1: t counts epochs, 0: base updates (default 0)        */
    sam_rho_schedule rho_schedule; /* (SAM_RHO_CONSTANT)                               */
    sam_schedule_fn lr_fn, rho_fn; /* for the *_CALLBACK schedules                     */
    void *sched_user;
    /* ---- final gradient ---- */
    double clip_norm;        /* > 0: clip the final gradient to this global norm; 0 off */
    unsigned accumulate;     /* ≥ 1: one base update every `accumulate` steps; the
                                gradients are averaged weighted by batch size; each
                                batch gets its own ε                      (1)        */
    sam_norm_stats norm_stats; /* (SAM_NORM_STATS_FIRST_PASS)                          */
    int keep_eps;            /* 1: store ε for sam_opt_last_eps (one more write
                                stream per step; ASAM, N-step, Rand-SAM and ESAM's
                                SWP always store it)                      (0)        */
    /* ---- epochs (sam_opt_epoch) and sizes ---- */
    size_t batch_size;       /* B; 0 = full batch (GD). Largest batch a step accepts
                                (with dataset_size when B = 0)            (0)        */
    size_t dataset_size;     /* n of the training set for the epoch helper; 0 if unused */
    sam_last_batch last_batch; /* (SAM_LAST_BATCH_KEEP)                                */
    uint64_t seed;           /* seeds the shuffle and Rand-SAM streams      (0)        */
} sam_opt_config;

/* What one step measured (for the examples). */
typedef struct sam_opt_info {
    double loss;            /* mean batch loss at w (no wd penalty); NaN for Rand-SAM
                               and MSAM (they take no gradient at w)                 */
    double grad_norm;       /* ‖g‖ at w (incl. λw under SAM_WD_IN_LOSS); NaN as loss */
    double loss_perturbed;  /* loss at w + ε (= loss when not perturbed); ESAM with
                               γ < 1: over the selected samples                      */
    double eps_norm;        /* ‖ε‖ (last group under m-sharpness)                   */
    double final_grad_norm; /* ‖final gradient‖ before clipping                     */
    double lr, rho;         /* the values this step used                            */
    int perturbed;          /* 1 if ε ≠ 0 (then w + ε is sam_opt_perturbed_point)  */
    int applied;            /* 1 if the base update was applied (accumulation)      */
    unsigned gradients;     /* model gradient evaluations in this call              */
} sam_opt_info;

typedef struct sam_opt {
    sam_opt_config cfg;
    size_t n;               /* parameters                                            */
    size_t max_batch;       /* largest batch accepted                                */
    /* ---- state: saved by sam_opt_save ---- */
    uint64_t t;             /* base updates applied                                  */
    uint64_t calls;         /* successful steps (gradients given to the accumulator) */
    uint64_t epoch;         /* completed epochs (sam_opt_epoch / sam_opt_end_epoch)  */
    uint32_t accum_count;   /* steps in the accumulator                              */
    uint32_t fsam_ready;    /* FSAM EMA initialised                                  */
    uint32_t looksam_ready; /* LookSAM g_v valid                                     */
    double accum_weight;    /* samples in the accumulator                            */
    sam_rng rng_dir;        /* Rand-SAM directions (SAM_STREAM_DIRECTIONS)           */
    sam_rng rng_shuffle;    /* epoch permutations (SAM_STREAM_SHUFFLE)               */
    float *mom;             /* SGD momentum / Adam first moment, or NULL             */
    float *vel;             /* Adam second moment, or NULL                           */
    float *acc;             /* gradient accumulator (accumulate > 1), or NULL        */
    float *fsam_m;          /* FSAM EMA of gradients, or NULL                        */
    float *looksam_gv;      /* LookSAM g_v, or NULL                                  */
    /* ---- hooks read by models ---- */
    int pass;               /* 0: at w; 1: at w + ε; 2..: N-step ascent points        */
    int freeze_norm_stats;  /* see sam_norm_stats                                    */
    /* ---- last step (work, not saved) ---- */
    int last_perturbed;
    int eps_valid;          /* o->eps holds the last ε                               */
    int pending;            /* sam_opt_ascend* done, descend awaited                */
    int in_step;            /* inside sam_opt_step                                   */
    int g_dead;             /* o->g unused after the ascent (plain SAM, one group)   */
    unsigned step_evals;    /* model evaluations so far in this sam_opt_step         */
    sam_opt_info pending_info;
    sam_rng pending_rng;
    float *wadv;            /* w + ε of the last step                                */
    float *eps;             /* ε of the last step                                    */
    float *g, *g2, *fin, *gsum, *mask;
    float *gam_a, *gam_b;   /* GAM: d then g2 then p; g3 (NULL for other methods)     */
    size_t *idx, *perm, *esam_idx;
    double *esam_loss;
    void *model_work;
    size_t model_work_bytes;
    void *mem;              /* the block; owned (freed by sam_opt_free) if owns_mem */
    int owns_mem;
    void *alloc_user;
} sam_opt;

/* A weight mask for cfg.weight_mask from the model's named views (models of
 * this library, sam_nn_views): 0 on biases ("b…") and norm gains/shifts
 * ("gamma…", "beta…"), 1 elsewhere; all ones for a model without views.
 * mask holds model->n_params bytes. */
SAMDEF sam_status sam_opt_weight_mask(sam_ctx *ctx, const sam_model *model, uint8_t *mask);

/* Defaults: SGD, lr 0.1, no momentum, no SAM (method NONE), rho 0.05, N 1. */
SAMDEF void sam_opt_config_default(sam_opt_config *cfg);
/* Validate cfg and size the one memory block (state + work + model work for
 * the largest batch). */
SAMDEF sam_status sam_opt_mem_bytes(sam_ctx *ctx, const sam_opt_config *cfg, const sam_model *model,
                                    size_t *bytes);
/* mem == NULL: allocate with ctx's allocator (freed by sam_opt_free); else
 * a caller block of mem_bytes ≥ sam_opt_mem_bytes (any alignment). */
SAMDEF sam_status sam_opt_init(sam_ctx *ctx, sam_opt *opt, const sam_opt_config *cfg,
                               const sam_model *model, void *mem, size_t mem_bytes);
SAMDEF void sam_opt_free(sam_opt *opt);
/* Zero the state (moments, counters, accumulator) and reseed the RNGs. */
SAMDEF void sam_opt_reset(sam_opt *opt);

/* One full step on a batch (b may be NULL for pure-function callback models). */
SAMDEF sam_status sam_opt_step(sam_ctx *ctx, sam_opt *opt, const sam_model *model, float *w,
                               const sam_batch *b, sam_opt_info *info /* may be NULL */);
/* Split form: ascend (gradient at w, ε, w + ε), then descend (gradient at
 * w + ε, base update). One group (no m-sharpness), not LookSAM. */
SAMDEF sam_status sam_opt_ascend(sam_ctx *ctx, sam_opt *opt, const sam_model *model, const float *w,
                                 const sam_batch *b, sam_opt_info *info);
SAMDEF sam_status sam_opt_descend(sam_ctx *ctx, sam_opt *opt, const sam_model *model, float *w,
                                  const sam_batch *b, sam_opt_info *info);
/* Gradient-level split for users who compute gradients themselves: `grad` is
 * the model gradient at w (without wd; may be NULL for Rand-SAM), `loss` its
 * loss; then compute the gradient at sam_opt_perturbed_point() and pass it to
 * descend_grad. N must be 1. */
SAMDEF sam_status sam_opt_ascend_grad(sam_ctx *ctx, sam_opt *opt, const float *w, const float *grad,
                                      double loss, sam_opt_info *info);
SAMDEF sam_status sam_opt_descend_grad(sam_ctx *ctx, sam_opt *opt, float *w, const float *grad_adv,
                                       double loss_adv, size_t batch_n, sam_opt_info *info);
/* The point where the last step's (final) gradient was taken: w + ε if the
 * last step perturbed, else w itself (valid until the next step). ε: NULL if
 * the last step did not perturb or ε was not stored (cfg.keep_eps). */
SAMDEF const float *sam_opt_perturbed_point(const sam_opt *opt, const float *w);
SAMDEF const float *sam_opt_last_eps(const sam_opt *opt);

/* One epoch: shuffle (opt's RNG), steps on disjoint batches of batch_size
 * (0 = one full batch in data order, no shuffle), then epoch += 1.
 * mean_loss = sample-weighted mean of the step losses at w (may be NULL).
 * On failure the steps already taken stay applied and epoch is not advanced. */
SAMDEF sam_status sam_opt_epoch(sam_ctx *ctx, sam_opt *opt, const sam_model *model, float *w,
                                const sam_dataset *data, double *mean_loss);
/* For own loops: count an epoch (drives SAM-early and epoch schedules). */
SAMDEF void sam_opt_end_epoch(sam_opt *opt);
/* 1 while SAM is on (SAM-early switch), 0 after sam_epochs epochs. */
SAMDEF int sam_opt_sam_active(const sam_opt *opt);
/* The lr and rho the next step will use. */
SAMDEF sam_status sam_opt_schedule(sam_ctx *ctx, const sam_opt *opt, double *lr, double *rho);

/* Save / restore the state: versioned, native byte order, size-checked,
 * rejects a blob of another configuration or parameter count. */
SAMDEF size_t sam_opt_state_bytes(const sam_opt *opt);
SAMDEF sam_status sam_opt_save(sam_ctx *ctx, const sam_opt *opt, void *buf, size_t cap, size_t *written);
SAMDEF sam_status sam_opt_load(sam_ctx *ctx, sam_opt *opt, const void *buf, size_t bytes);

/* ========================================================================
 * DECLARATIONS: data sets
 *   Generators and the IDX loader fill a sam_dataset (sam.h core) whose
 *   buffers come from the context's allocator; release it with one
 *   sam_dataset_free(). On failure nothing is allocated and *out is not
 *   touched.
 *
 *   Reproducibility: a generator draws everything from one PCG32 stream
 *   (seed, stream) with sam_rng_* only (no libm randomness, our own exp/log),
 *   in scalar code, so one (seed, stream) gives the same bytes on every ISA,
 *   compiler and platform. Draw a training set with SAM_STREAM_TRAIN_DATA and
 *   its test set with SAM_STREAM_TEST_DATA of the same seed:
 *       sam_chen_config c; sam_chen_config_default(&c);
 *       sam_data_chen(ctx, &c, 20,   seed, SAM_STREAM_TRAIN_DATA, &train);
 *       sam_data_chen(ctx, &c, 1000, seed, SAM_STREAM_TEST_DATA,  &test);
 *   Every generator draws its label-noise coin for every sample whatever p
 *   is, so changing p changes which labels flip and nothing else.
 * ====================================================================== */

/* Release every buffer of a data set and zero it (a zeroed struct is fine). */
SAMDEF void sam_dataset_free(sam_dataset *ds);

/* An empty data set: x (n × patches·patch_dim), y, label zero-filled;
 * classes 2; no y_clean / noise / signal; bayes_risk -1. For user data. */
SAMDEF sam_status sam_dataset_create(sam_ctx *ctx, size_t n, size_t patches, size_t patch_dim,
                                     size_t classes, sam_dataset *out);

/* A copy of samples idx[0..k) of src (idx NULL: samples 0..k-1), with every
 * buffer src has (y_clean, noise, signal_patch, signal). Indices may repeat. */
SAMDEF sam_status sam_dataset_subset(sam_ctx *ctx, const sam_dataset *src, const size_t *idx, size_t k,
                                     sam_dataset *out);

typedef struct sam_label_stats {
    size_t n;          /* samples                                               */
    size_t positive;   /* binary: y > 0; K classes: label != 0                  */
    size_t negative;   /* binary: y <= 0; K classes: label == 0                 */
    size_t flipped;    /* y differs from y_clean (0 when y_clean is NULL)       */
    double flip_rate;  /* flipped / n                                           */
} sam_label_stats;

/* Label counts and the number of flipped labels; class_counts (ds->classes
 * entries, may be NULL) receives the per-class counts of label[]. */
SAMDEF sam_status sam_dataset_label_stats(sam_ctx *ctx, const sam_dataset *ds, sam_label_stats *out,
                                          size_t *class_counts);

/* Mean and standard deviation of all x values (double, sample order), and
 * x = (x - mean) / std in place: standardise a test set with the training
 * set's moments. std must be > 0. */
SAMDEF sam_status sam_dataset_moments(sam_ctx *ctx, const sam_dataset *ds, double *mean, double *std);
SAMDEF sam_status sam_dataset_standardize(sam_ctx *ctx, sam_dataset *ds, double mean, double std);

/* ---- Chen et al. 2023 signal/noise patches (PAPERS.md §1) ----------------
 * μ = ‖μ‖ e₁ ∈ R^d; clean label ŷ uniform ±1; observed y = -ŷ with
 * probability p (train and test alike, so the Bayes risk is p); one patch, at
 * a uniform position, holds ŷμ; the other P-1 hold ξ ~ N(0, σ_p²(I - μμᵀ/‖μ‖²))
 * (the first coordinate is zero): the same ξ in every noise patch
 * (noise_count 1) or, with independent_noise, one ξ per noise patch
 * (noise_count P-1, in patch order). Fills signal, signal_patch, noise,
 * noise_count, y_clean and bayes_risk = p. P = 1 has no noise (noise NULL,
 * noise_count 0). Draws per sample, in order: ŷ, position, flip coin, ξ. */
typedef struct sam_chen_config {
    size_t d;              /* patch dimension                          2000 */
    size_t patches;        /* P                                        2    */
    double mu_norm;        /* ‖μ‖ (> 0)                                2.0  */
    double sigma_p;        /* noise scale σ_p (>= 0)                   1.0  */
    double flip_p;         /* label-flip probability p in [0, ½)       0.1  */
    int independent_noise; /* 0: same ξ in all P-1 noise patches       0    */
} sam_chen_config;
/* The calibrated setting of PAPERS.md §1 (use n = 20 train, 1000 test). */
SAMDEF void sam_chen_config_default(sam_chen_config *cfg);
SAMDEF sam_status sam_data_chen(sam_ctx *ctx, const sam_chen_config *cfg, size_t n, uint64_t seed,
                                uint64_t stream, sam_dataset *out);

/* ---- k-parity on the hypercube (Wen et al. 2023, PAPERS.md §2) -----------
 * x ~ Unif({±1}^d), y = x₁x₂…x_k (Wen's xor is k = 2), flipped with
 * probability p. One patch of d. bayes_risk = p. */
typedef struct sam_parity_config {
    size_t d;        /* dimension                                 30 */
    size_t k;        /* parity order, 1 <= k <= d                  2 */
    double flip_p;   /* label noise in [0, ½)                      0 */
} sam_parity_config;
SAMDEF void sam_parity_config_default(sam_parity_config *cfg); /* n = 100 train, >= 4000 test */
SAMDEF sam_status sam_data_parity(sam_ctx *ctx, const sam_parity_config *cfg, size_t n, uint64_t seed,
                                  uint64_t stream, sam_dataset *out);

/* ---- uniform ball (PAPERS.md §2) ---------------------------------------------
 * x uniform in the ball of radius R (default √d), regression target
 * y = |x₁| - |x₂| (label = y > 0). x = R U^{1/d} g/‖g‖, g ~ N(0, I), U ~ U[0,1)
 * (U^{1/d} by our own exp/log: platform-independent). bayes_risk -1. */
typedef struct sam_ball_config {
    size_t d;        /* dimension, >= 2                           10 */
    double radius;   /* R; <= 0 means √d                           0 */
} sam_ball_config;
SAMDEF void sam_ball_config_default(sam_ball_config *cfg);
SAMDEF sam_status sam_data_ball(sam_ctx *ctx, const sam_ball_config *cfg, size_t n, uint64_t seed,
                                uint64_t stream, sam_dataset *out);

/* ---- two-class Gaussian mixture --------------------------------------------
 * ŷ uniform ±1, x = ŷ μ + σ z, μ = mean_norm e₁, z ~ N(0, I_d); y = -ŷ with
 * probability p. signal = μ, y_clean kept. bayes_risk = p + (1-2p) Φ(-‖μ‖/σ). */
typedef struct sam_gmm_config {
    size_t d;          /* dimension                                10  */
    double mean_norm;  /* ‖μ‖ (>= 0)                               1.0 */
    double sigma;      /* σ (> 0)                                  1.0 */
    double flip_p;     /* label noise in [0, ½)                    0   */
} sam_gmm_config;
SAMDEF void sam_gmm_config_default(sam_gmm_config *cfg);
SAMDEF sam_status sam_data_gmm(sam_ctx *ctx, const sam_gmm_config *cfg, size_t n, uint64_t seed,
                               uint64_t stream, sam_dataset *out);

/* ---- IDX loader (MNIST / Fashion-MNIST, uncompressed) ----------------------
 * Images: big-endian magic 0x00000803, count, rows, cols, then count·rows·cols
 * unsigned bytes; labels: magic 0x00000801, count, then count bytes. Sizes
 * must match the header exactly (truncated or trailing bytes are rejected as
 * SAM_ERR_FORMAT, as are a wrong magic, zero or overflowing dimensions and
 * different image/label counts); nothing is read past the buffers.
 * Steps, in order: class selection → subset → label noise → scaling → patches.
 *  - classes: NULL = all (K = max label + 1); else the listed labels, the
 *    k-th listed one becoming label k. Two classes make a binary task:
 *    y = -1 for classes[0], +1 for classes[1]. K > 2: y = label (as float).
 *  - subset: 0 = all; else the first N selected samples, or N uniformly at
 *    random (file order kept) with subset_random.
 *  - flip_p: with probability p the label becomes another class (binary: -y;
 *    K classes: uniform among the other K-1). y_clean always kept.
 *  - scale: raw bytes, x/255 in [0, 1], or standardised (x - mean)/std with
 *    the given mean/std if std > 0, else the loaded set's own moments.
 *  - patch_grid g: each image cut into g×g blocks of (rows/g)×(cols/g)
 *    pixels, each flattened row-major; patches = g², patch_dim = rows·cols/g²
 *    (28×28: g = 2 → 4 patches of 196, g = 4 → 16 of 49). g must divide both.
 * Randomness (subset, flips) comes from (seed, stream). bayes_risk -1. */
typedef enum sam_idx_scale {
    SAM_IDX_RAW = 0,          /* 0..255                                   */
    SAM_IDX_UNIT = 1,         /* x / 255                                  */
    SAM_IDX_STANDARDIZE = 2   /* (x/255 - mean) / std                     */
} sam_idx_scale;

typedef struct sam_idx_options {
    const int32_t *classes;  /* selected labels, or NULL for all           NULL */
    size_t n_classes;        /* entries in classes (>= 2 when given)       0    */
    size_t subset;           /* 0: all samples                             0    */
    int subset_random;       /* 0: first N; 1: random N                    0    */
    double flip_p;           /* label noise in [0, ½)                      0    */
    uint64_t seed;           /* for subset_random and flips                0    */
    uint64_t stream;         /* RNG stream          SAM_STREAM_TRAIN_DATA      */
    sam_idx_scale scale;     /*                                  SAM_IDX_UNIT   */
    double mean, std;        /* standardisation of x/255 if std > 0      0, 0  */
    size_t patch_grid;       /* g: g×g patches                             1    */
} sam_idx_options;
SAMDEF void sam_idx_options_default(sam_idx_options *opt);
/* From memory buffers (always available). opt NULL = defaults. */
SAMDEF sam_status sam_idx_load_mem(sam_ctx *ctx, const void *images, size_t images_bytes, const void *labels,
                                   size_t labels_bytes, const sam_idx_options *opt, sam_dataset *out);
#ifndef SAM_NO_STDIO
/* From files (e.g. data/train-images-idx3-ubyte, data/train-labels-idx1-ubyte). */
SAMDEF sam_status sam_idx_load(sam_ctx *ctx, const char *images_path, const char *labels_path,
                               const sam_idx_options *opt, sam_dataset *out);
#endif

/* ========================================================================
 * DECLARATIONS: signal/noise coefficients of the Chen CNN (PAPERS.md §1)
 *   W is the flat Chen CNN parameter vector: a (2m × d) row-major matrix,
 *   rows 0..m-1 the filters w_{+1,r}, rows m..2m-1 the filters w_{-1,r}.
 *   Decomposition (Chen et al., after Kou et al.):
 *     w_{j,r} = w⁽⁰⁾_{j,r} + j γ_{j,r} μ/‖μ‖² + Σ_k ρ_{j,r,k} ξ_k/‖ξ_k‖²
 *   so γ_{j,r} = j⟨w_{j,r} - w⁽⁰⁾_{j,r}, μ⟩ (ξ ⊥ μ) and ρ_{j,r,·} solves the
 *   N×N system Σ_k ρ_k ⟨ξ_k, ξ_i⟩/‖ξ_k‖² = ⟨w_{j,r} - w⁽⁰⁾_{j,r}, ξ_i⟩.
 *
 *   Which ξ: every stored noise vector is a basis vector, N = n·noise_count.
 *   With the same ξ in all patches (noise_count 1) that is the paper's ξ_i.
 *   With independent ξ per patch we keep all n(P-1) of them, because every
 *   gradient of the CNN is a combination of the patches (±μ and each ξ_{i,p}),
 *   so w - w⁽⁰⁾ lies in span{μ, ξ_{i,p}} after any gradient training and the
 *   decomposition stays exact; the first patch only (or the sum per sample)
 *   would leave a residual and mix samples' noise. A noise vector k belongs
 *   to sample i = k / noise_count and carries its observed label y_i.
 *   N must be < d for the Gram matrix of Gaussian vectors to be invertible.
 *
 *   Statistics (over j ∈ {±1}, r = 1..m, noise vectors k of sample i):
 *     ρ̄ = max(ρ_{j,r,k}, 0) for j = y_i (own class: noise memorisation),
 *     ρ̲ = min(ρ_{j,r,k}, 0) for j = -y_i,
 *     active = fraction of (r, k) with ⟨w_{y_i,r}, ξ_k⟩ > 0 (at the given W,
 *     e.g. at SAM's perturbed point W + ε).
 * ====================================================================== */

typedef struct sam_chen_coef {
    double max_gamma, min_gamma, mean_gamma; /* over the 2m filters         */
    double max_rho_pos;   /* max ρ̄ over (r, k), j = y_i                        */
    double mean_rho_pos;  /* mean ρ̄ over those m·N entries                    */
    double min_rho_neg;   /* min ρ̲ over (r, k), j = -y_i                       */
    double mean_rho_neg;  /* mean ρ̲ over those m·N entries                    */
    double active_frac;   /* fraction of (r, k) with ⟨w_{y_i,r}, ξ_k⟩ > 0      */
} sam_chen_coef;

/* Exact, self-contained: forms w - w⁽⁰⁾ and the N×N system in double and solves
 * it by LU with partial pivoting (O(m N d + N³) per call). data must be a Chen
 * data set (signal, noise, y). gamma (2m) and rho (2m × N, row-major, row =
 * filter as in W) may be NULL. */
SAMDEF sam_status sam_chen_coef_exact(sam_ctx *ctx, const sam_dataset *data, size_t m, const float *w,
                                      const float *w0, sam_chen_coef *out, double *gamma, double *rho);

/* Cheap tracking: the tracker copies μ, the ξ_k, their labels and W⁽⁰⁾, and
 * precomputes ‖ξ_k‖², the Cholesky factor of the Gram matrix ⟨ξ_i, ξ_k⟩ and
 * ⟨w⁽⁰⁾_{j,r}, ξ_k⟩, ⟨w⁽⁰⁾_{j,r}, μ⟩ once; an evaluation is then 2m(N+1) dot
 * products of length d (accumulated in double: ISA-independent results) plus
 * 2m pairs of N×N triangular solves. It does not reference the
 * data set after init. Evaluations use the tracker's scratch: one thread per
 * tracker. */
typedef struct sam_chen_tracker {
    size_t m, d, n_noise;  /* filters per class, patch dim, N                 */
    float *mu;             /* d                                               */
    float *xi;             /* N × d                                           */
    float *w0;             /* 2m × d                                          */
    signed char *y;        /* N: label of the sample owning ξ_k               */
    double mu_norm2;
    double *xi_norm2;      /* N                                               */
    double *chol;          /* N × N lower Cholesky factor of the Gram matrix  */
    double *w0_xi;         /* 2m × N: ⟨w⁽⁰⁾_{j,r}, ξ_k⟩                         */
    double *w0_mu;         /* 2m                                              */
    double *scratch;       /* 2N                                              */
    void *alloc_user;
} sam_chen_tracker;

SAMDEF sam_status sam_chen_tracker_init(sam_ctx *ctx, sam_chen_tracker *t, const sam_dataset *data, size_t m,
                                        const float *w0);
/* Coefficients at w (2m × d); gamma (2m) and rho (2m × N) may be NULL. */
SAMDEF sam_status sam_chen_tracker_eval(sam_ctx *ctx, sam_chen_tracker *t, const float *w, sam_chen_coef *out,
                                        double *gamma, double *rho);
SAMDEF void sam_chen_tracker_free(sam_chen_tracker *t);

/* ========================================================================
 * DECLARATIONS: sharpness estimators and Hessian tools
 *
 *   Everything here sees the model only through sam_model_loss_grad and
 *   sam_model_hvp, on the batch the caller gives (the whole training set, a
 *   subset, or one mini-batch; `b` is passed through untouched and may be
 *   NULL for pure callback objectives).
 *
 *   ρ (rho) has the optimizers' meaning: the L2 radius of the perturbation
 *   over ALL parameters (the global norm, PAPERS.md notation ‖·‖).
 *
 *   Memory: nothing is allocated. Every call takes caller-owned `work` sized
 *   by a query: sam_sharp_work_bytes() for the loss-based estimators and the
 *   landscape slices, sam_hessian_work_bytes() for the Hessian tools. The
 *   model's own work memory is part of it.
 *
 *   Randomness: the caller seeds a sam_rng and passes it; the conventional
 *   streams are SAM_STREAM_DIRECTIONS (perturbation and slice directions)
 *   and SAM_STREAM_PROBES (Hutchinson / Lanczos probe vectors). The rng is
 *   advanced. One seed draws the same directions on every ISA; results are
 *   bit-identical run to run on one ISA and agree to rounding across ISAs.
 *
 *   Errors: arguments are checked before any output is written. If the model
 *   fails part-way (for instance a non-finite HVP) its status is returned and
 *   the outputs of a single-block call are untouched; with several blocks the
 *   outputs of the blocks already finished, the SLQ nodes/weights of the
 *   probes already finished, and a landscape grid, may be partly written.
 * ====================================================================== */

/* A contiguous parameter block [offset, offset + length) of the flat vector,
 * e.g. one layer, or one filter for filter normalisation. */
typedef struct sam_block {
    size_t offset;
    size_t length;
} sam_block;

/* Result of a loss-based sharpness estimator. */
typedef struct sam_sharpness {
    double loss;    /* L(w) on the batch                                      */
    double sharp;   /* the estimate of L^X(w) - L(w)                          */
    double se;      /* its standard error (0: deterministic, or K == 1)       */
    size_t evals;   /* model calls (loss or loss+gradient) used               */
} sam_sharpness;

/* Result of a trace estimator, one per block. */
typedef struct sam_trace_est {
    double trace;   /* estimate of tr(H) (of the block's diagonal block)      */
    double se;      /* standard error (0 if exact or fewer than 2 probes)     */
    size_t probes;  /* random probes used                                     */
    size_t hvps;    /* Hessian-vector products used                           */
} sam_trace_est;

/* ---- loss-based sharpness (PAPERS.md §3; Tiwary & Aananth; Wen, Ma, Li) ---- */

/* Bytes of `work` for sam_sharp_* and sam_landscape_*: four parameter
 * vectors plus the model's work for a batch of `batch` samples (any
 * alignment; 0 for a NULL model, (size_t)-1 if the size overflows). */
SAMDEF size_t sam_sharp_work_bytes(const sam_model *m, size_t batch);

/* Standardized sharpness L^Asc - L = L(w + rho g/‖g‖) - L(w): one normalised
 * ascent step of radius rho, whatever N the training used. ‖g‖ = 0 gives 0. */
SAMDEF sam_status sam_sharp_asc(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                float rho, sam_sharpness *out, void *work);
/* Average sharpness on the sphere, L^Avg - L with e = rho u/‖u‖, u ~ N(0, I):
 * Monte Carlo over K directions, mean and standard error. */
SAMDEF sam_status sam_sharp_avg(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                float rho, size_t K, sam_rng *rng, sam_sharpness *out, void *work);
/* The Gaussian-ball variant E L(w + rho u) - L(w), u ~ N(0, I) (not on the
 * sphere: ‖e‖ ≈ rho sqrt(D)). K directions, mean and standard error. */
SAMDEF sam_status sam_sharp_avg_gauss(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                      float rho, size_t K, sam_rng *rng, sam_sharpness *out, void *work);
/* A LOWER BOUND on L^Max - L = max_{‖e‖<=rho} L(w + e) - L(w): projected
 * normalised gradient ascent, e <- P_rho(e + step*rho ∇L(w+e)/‖∇L(w+e)‖),
 * `steps` steps from each of `restarts` starts: the first from rho g/‖g‖
 * (random if g = 0), the others uniform on the rho-sphere. The largest loss
 * seen at any iterate is reported (every iterate is feasible, so it never
 * exceeds the true maximum). `step` is the step length in units of rho.
 * e_best (n_params floats, may be NULL) receives the best perturbation. */
SAMDEF sam_status sam_sharp_max(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                float rho, size_t steps, size_t restarts, float step, sam_rng *rng,
                                sam_sharpness *out, float *e_best, void *work);
/* Eq. 6 sharpness L(w + e_N) - L(w) of N-step normalised ascent (Tiwary &
 * Aananth eq. 5): w^0 = w, w^n = w^(n-1) + (rho/N) ĝ(w^(n-1)), e_N = w^N - w.
 * A stationary point (‖g‖ = 0) ends the ascent early. N = 1 is sam_sharp_asc. */
SAMDEF sam_status sam_sharp_nstep(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                  float rho, size_t N, sam_sharpness *out, void *work);

/* ---- Hessian tools (PyHessian; exact HVPs of the model) -------------------
 * Each takes an optional list of blocks (blocks == NULL or nblocks == 0: the
 * whole vector). For a block the probes and Krylov vectors are zero outside
 * it, so the result is that of the block's diagonal Hessian block H_bb.
 * Outputs are per block, in block order ("nb" = max(1, nblocks) below).
 * The model must provide an HVP (else SAM_ERR_UNSUPPORTED). */

/* Bytes of `work` for a Hessian tool that keeps `nvec` vectors: 0 for
 * Hutchinson, `sketch` for Hutch++, `k` for power iteration, `iters` for
 * Lanczos and SLQ. Same conventions as sam_sharp_work_bytes. */
SAMDEF size_t sam_hessian_work_bytes(const sam_model *m, size_t batch, size_t nvec);

/* Hutchinson trace, tr H ≈ mean of zᵀHz over Rademacher z (exact on a diagonal
 * H). Stops after max_probes, or, once at least min(10, max_probes) probes
 * are in, when se <= rel_tol |mean| (rel_tol = 0: always max_probes).
 * out: nb results. */
SAMDEF sam_status sam_hessian_trace(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                    const sam_block *blocks, size_t nblocks, size_t max_probes, double rel_tol,
                                    sam_rng *rng, sam_trace_est *out, void *work);
/* Hutch++ (Meyer, Musco, Musco, Woodruff 2021): Q = orth(H S) for `sketch`
 * Rademacher columns S, tr ≈ tr(QᵀHQ) + mean over `probes` Rademacher g of
 * gᵀ(I-QQᵀ)H(I-QQᵀ)g; 2*sketch + probes HVPs. Exact when rank H <= sketch.
 * se is that of the residual term. sketch <= every block length. */
SAMDEF sam_status sam_hessian_trace_hutchpp(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                            const sam_block *blocks, size_t nblocks, size_t sketch, size_t probes,
                                            sam_rng *rng, sam_trace_est *out, void *work);
/* Top-k eigenvalues by power iteration with projection deflation (each new
 * vector is kept orthogonal to those found): the eigenvalues of largest
 * MAGNITUDE, in the order found. Each stops after max_iter HVPs or when the
 * Rayleigh quotient changes by <= tol relative. evals: nb*k; evecs (may be
 * NULL): nb*k vectors of n_params floats, zero outside the block. */
SAMDEF sam_status sam_hessian_power(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                    const sam_block *blocks, size_t nblocks, size_t k, size_t max_iter, double tol,
                                    sam_rng *rng, double *evals, float *evecs, void *work);
/* Top-k (largest algebraic) eigenvalues by Lanczos with full
 * reorthogonalisation, `iters` HVPs per block (k <= iters <= block length),
 * Ritz values from an implicit-QL tridiagonal eigensolver in double.
 * Descending. An invariant subspace restarts from a fresh random vector.
 * evals: nb*k; evecs (may be NULL): nb*k Ritz vectors (n_params floats). */
SAMDEF sam_status sam_hessian_lanczos(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                      const sam_block *blocks, size_t nblocks, size_t k, size_t iters,
                                      sam_rng *rng, double *evals, float *evecs, void *work);
/* Stochastic Lanczos quadrature (Ghorbani et al. 2019; PyHessian): for each
 * of `probes` normalised Rademacher start vectors, `iters` Lanczos steps give
 * Ritz values θ_i (nodes) and weights τ_i² (squared first components of the
 * eigenvectors of T), divided by `probes`: per block the weights sum to 1 and
 * Σ w θ = mean zᵀHz/‖z‖² (≈ tr(H)/D). nodes, weights: nb*probes*iters
 * doubles, probe-major; a probe that breaks down early (invariant subspace)
 * pads with node 0, weight 0. */
SAMDEF sam_status sam_hessian_slq(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                  const sam_block *blocks, size_t nblocks, size_t iters, size_t probes,
                                  sam_rng *rng, double *nodes, double *weights, void *work);
/* Gaussian-smoothed density of a discrete spectral measure:
 * density[g] = Σ_i weights[i] N(grid[g]; nodes[i], sigma²). */
SAMDEF sam_status sam_slq_density(sam_ctx *ctx, size_t count, const double *nodes, const double *weights,
                                  double sigma, size_t ngrid, const double *grid, double *density);

/* ---- loss-landscape slices (Li et al. 2018) --------------------------------
 * loss[i] = L(w + alpha[i] d) (1-D), loss[j*nx + i] = L(w + alpha[i] d1 +
 * beta[j] d2) (2-D). A NULL direction is drawn N(0, I) from rng (d1 before
 * d2). filter_norm != 0 rescales each block of each direction to the norm of
 * the matching block of w (Li et al.'s filter normalisation; pass one block
 * per filter); coordinates outside every block keep their raw values; a zero
 * block stays zero. Given directions are not modified. alpha = 0 (and
 * beta = 0) gives L(w) exactly. Work: sam_sharp_work_bytes. */
SAMDEF sam_status sam_landscape_1d(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                   const float *dir, sam_rng *rng, const sam_block *blocks, size_t nblocks,
                                   int filter_norm, size_t n, const float *alpha, double *loss, void *work);
SAMDEF sam_status sam_landscape_2d(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                   const float *dir1, const float *dir2, sam_rng *rng,
                                   const sam_block *blocks, size_t nblocks, int filter_norm,
                                   size_t nx, const float *alpha, size_t ny, const float *beta,
                                   double *loss, void *work);

#ifdef __cplusplus
}
#endif

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

/* The wedge test of layer i ≥ 1 accepts (x, y) iff sam_log_det(y) < -x²/2,
 * i.e. y < f(x): ~150 cycles of dependent arithmetic. Most points are decided
 * first by bounds on f over the layer's interval [xa, xb] = [x[i+1], x[i]]
 * (lines as in McFarland 2016, plus a curvature term): f'' = (x² - 1) f, so
 * |f''| ≥ 2k with k = |t² - 1|·f(xb)/2 at the end t nearest 1, and where f is
 * convex (xa ≥ 1) the tangents at the ends plus k·(x - end)² lie below f and
 * the chord minus k·(x - xa)(xb - x) above it; where concave (xb ≤ 1), the
 * other way round. A point beyond a bound by a relative 1e-7 is decided by
 * it: the bounds as computed (≥ f[i] where they decide), the tables, our log
 * and -0.5·x² are all within ~1e-14 of exact, so the log test could not
 * disagree and the numbers keep their bits. Returns 1 accept, 0 reject, -1
 * undecided (~0.6% of wedge points, a third of them in the layer holding the
 * inflection x = 1). */
static int sam__zig_wedge_screen(unsigned i, double x, double y) {
    const double xa = sam__zig_x[i + 1], xb = sam__zig_x[i], fa = sam__zig_f[i + 1], fb = sam__zig_f[i];
    const double da = x - xa, db = xb - x;
    double k, chord, ta, tb, lo, hi;
    if (xa < 1.0 && xb > 1.0) return -1;
    k = (xa >= 1.0 ? xa * xa - 1.0 : 1.0 - xb * xb) * fb * 0.5;
    chord = fa + da * ((fb - fa) / (xb - xa));
    ta = fa - fa * xa * da; /* tangents: f' = -x f */
    tb = fb + fb * xb * db;
    if (xa >= 1.0) { /* convex */
        ta += k * (da * da);
        tb += k * (db * db);
        lo = ta > tb ? ta : tb;
        hi = chord - k * (da * db);
    } else { /* concave */
        ta -= k * (da * da);
        tb -= k * (db * db);
        hi = ta < tb ? ta : tb;
        lo = chord + k * (da * db);
    }
    if (y < lo * (1.0 - 1e-7)) return 1;
    if (y > hi * (1.0 + 1e-7)) return 0;
    return -1;
}

static int sam__zig_wedge_accept(unsigned i, double x, double y) {
    int d = sam__zig_wedge_screen(i, x, y);
    return d >= 0 ? d : sam_log_det(y) < -0.5 * (x * x);
}

/* Ziggurat (Marsaglia & Tsang 2000) on one 64-bit draw (two PCG32 outputs):
 * bits 0..7 pick the layer i, bit 8 the sign, bits 11..63 a 53-bit uniform U.
 * x = U·x[i] is accepted at once when it lies inside the layer's core box
 * (x < x[i+1], 98.8% of draws); otherwise the wedge is tested against the
 * density with our log (ln y < -x²/2 ⇔ y < f(x)), or the tail is sampled,
 * and a rejected draw starts over. Only ×, +, comparisons on doubles and
 * sam_log_det decide the result: the same bits on every IEEE platform.
 * `bits` is the first draw; the sam__fill_gauss kernels inline the box test
 * and call this only when it fails, so both give the same numbers. */
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
        if (sam__zig_wedge_accept(i, x, y)) return sgn * x;
        bits = sam__rng_u64(rng);
    }
}

SAM__DEF double sam_rng_gauss(sam_rng *rng) {
    return sam__zig_from(rng, sam__rng_u64(rng));
}

SAM__DEF float sam_rng_rademacher(sam_rng *rng) {
    return (sam_rng_u32(rng) >> 31) ? 1.0f : -1.0f;
}

/* ---- Gaussian fill (scalar → AVX2 → NEON side by side) ---------------------
 * out[k] = (float)(mean + std·g_k), g_k the sam_rng_gauss sequence: the same
 * bits and the same final state on every ISA. The SIMD kernels run the
 * Ziggurat's fast path (Marsaglia & Tsang 2000: box test x < x[i+1], 98.8%
 * of draws) on several consecutive numbers at once, each lane starting from
 * its own PCG state (jump-ahead, as PCG's advance: j steps of the LCG are
 * one multiply-add, s_j = a^j s + c_j; O'Neill 2014); the first lane that
 * fails the box test goes through
 * sam__zig_from exactly as in the scalar loop (it may draw more), and the
 * lanes restart from the state it leaves. */

/* The scalar twin, and the specification: the PCG state stays in a register
 * (two steps per draw, as in sam__rng_u64) and the box test is inlined. */
static void sam__fill_gauss_f32_scalar(sam_rng *rng, size_t n, float *out, float mean, float std) {
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

#if SAM__HAS_AVX2 || SAM__HAS_NEON
/* PCG jump-ahead tables: j steps from s give mul[j]·s + add[j] (mod 2^64). */
static void sam__pcg_jumps(uint64_t inc, int steps, uint64_t *mul, uint64_t *add) {
    int j;
    mul[0] = 1u;
    add[0] = 0u;
    for (j = 0; j < steps; j++) {
        mul[j + 1] = mul[j] * 6364136223846793005ULL;
        add[j + 1] = add[j] * 6364136223846793005ULL + inc;
    }
}
#endif

#if SAM__HAS_AVX2
/* m·s + c mod 2^64 per 64-bit lane; AVX2 multiplies only 32×32 → 64, so
 * (mh 2^32 + ml)(sh 2^32 + sl) keeps ml·sl + 2^32 (ml·sh + mh·sl). */
SAM__AVX2 static __m256i sam__muladd_u64_avx2(__m256i s, __m256i ml, __m256i mh, __m256i c) {
    __m256i lo = _mm256_mul_epu32(s, ml);
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(s, 32), ml), _mm256_mul_epu32(s, mh));
    return _mm256_add_epi64(_mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32)), c);
}

/* PCG32's XSH RR per 64-bit lane, the 32-bit output in the lane's low half
 * (high half junk): rotating x right by r is the low half of (x:x) >> r. */
SAM__AVX2 static __m256i sam__pcg_out_avx2(__m256i s) {
    __m256i xs = _mm256_srli_epi64(_mm256_xor_si256(_mm256_srli_epi64(s, 18), s), 27);
    return _mm256_srlv_epi64(_mm256_shuffle_epi32(xs, _MM_SHUFFLE(2, 2, 0, 0)), _mm256_srli_epi64(s, 59));
}

/* 4 numbers per step, number k+j in 64-bit lane j. The loop is bound by the
 * vector ALU ports (~49 uops per 4 numbers, 29 of them PCG: two 64-bit
 * multiplies and eight XSH RR); a box-test failure (~5% of steps) costs a
 * mispredict that flushes that port-bound pipeline (~140 cycles here, a fifth
 * of the time; a branch-free generator a chunk ahead of a scalar consumer
 * was slower still). sa holds the PCG states
 * {s_k, s_k', s_{k+2}, s_{k+2}'} and sb {s_{k+1}, s_{k+1}', s_{k+3}, s_{k+3}'}
 * (s' = one step after s): one shufps then pairs the outputs into
 * bits_j = out(s_{k+j}) << 32 | out(s_{k+j}'), and both advance 8 steps. */
SAM__AVX2 static void sam__fill_gauss_f32_avx2(sam_rng *rng, size_t n, float *out, float mean, float std) {
    const __m256i m52 = _mm256_set1_epi64x(0x000FFFFFFFFFFFFFLL), half = _mm256_set1_epi64x(0x3FE0000000000000LL);
    const __m256i zero = _mm256_setzero_si256(), sign = _mm256_set1_epi64x((long long)0x8000000000000000ULL);
    const __m256d dm = _mm256_set1_pd((double)mean), ds = _mm256_set1_pd((double)std);
    uint64_t mul[9], add[9];
    __m256i ma_l, ma_h, ca, mb_l, mb_h, cb, m8_l, m8_h, c8;
    size_t k = 0;
    sam__pcg_jumps(rng->inc, 8, mul, add);
#define SAM__LO32(v) (long long)((v) & 0xffffffffu)
#define SAM__HI32(v) (long long)((v) >> 32)
    ma_l = _mm256_setr_epi64x(SAM__LO32(mul[0]), SAM__LO32(mul[1]), SAM__LO32(mul[4]), SAM__LO32(mul[5]));
    ma_h = _mm256_setr_epi64x(SAM__HI32(mul[0]), SAM__HI32(mul[1]), SAM__HI32(mul[4]), SAM__HI32(mul[5]));
    mb_l = _mm256_setr_epi64x(SAM__LO32(mul[2]), SAM__LO32(mul[3]), SAM__LO32(mul[6]), SAM__LO32(mul[7]));
    mb_h = _mm256_setr_epi64x(SAM__HI32(mul[2]), SAM__HI32(mul[3]), SAM__HI32(mul[6]), SAM__HI32(mul[7]));
    m8_l = _mm256_set1_epi64x(SAM__LO32(mul[8]));
    m8_h = _mm256_set1_epi64x(SAM__HI32(mul[8]));
#undef SAM__LO32
#undef SAM__HI32
    ca = _mm256_setr_epi64x((long long)add[0], (long long)add[1], (long long)add[4], (long long)add[5]);
    cb = _mm256_setr_epi64x((long long)add[2], (long long)add[3], (long long)add[6], (long long)add[7]);
    c8 = _mm256_set1_epi64x((long long)add[8]);
    while (n - k >= 4) {
        /* (re)start the lanes from rng->state */
        __m256i s0 = _mm256_set1_epi64x((long long)rng->state);
        __m256i sa = sam__muladd_u64_avx2(s0, ma_l, ma_h, ca), sb = sam__muladd_u64_avx2(s0, mb_l, mb_h, cb);
        for (;;) {
            uint64_t b[4];
            __m256i bits, t, d;
            __m256d lo, hi, u, x;
            int ok, f;
            bits = _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(sam__pcg_out_avx2(sa)),
                                                         _mm256_castsi256_ps(sam__pcg_out_avx2(sb)),
                                                         _MM_SHUFFLE(0, 2, 0, 2)));
            _mm256_storeu_si256((__m256i *)b, bits);
            /* Read the lanes back from memory (load ports) rather than with
             * vmovq/vpextrq: the vector ALU ports are this loop's limit (~6% here). */
            __asm__("" : "+m"(b));
            /* {x[i], x[i+1]} is one 16-byte load per lane; unpack into x[i_j] and x[i_j+1] */
            lo = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(sam__zig_x + (b[0] & 255u))),
                                      _mm_loadu_pd(sam__zig_x + (b[2] & 255u)), 1);
            hi = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(sam__zig_x + (b[1] & 255u))),
                                      _mm_loadu_pd(sam__zig_x + (b[3] & 255u)), 1);
            /* U = (bits >> 11)·2^-53 exactly, without a 64-bit int → double: with
             * its low 52 bits under the exponent of 0.5, t = 0.5 + low·2^-53, which
             * is U if bit 63 is set and U + 0.5 otherwise (Sterbenz: t - 0.5 exact). */
            t = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi64(bits, 11), m52), half);
            d = _mm256_andnot_si256(_mm256_cmpgt_epi64(zero, bits), half);
            u = _mm256_sub_pd(_mm256_castsi256_pd(t), _mm256_castsi256_pd(d));
            x = _mm256_mul_pd(u, _mm256_unpacklo_pd(lo, hi));
            ok = _mm256_movemask_pd(_mm256_cmp_pd(x, _mm256_unpackhi_pd(lo, hi), _CMP_LT_OQ));
            /* sgn·x with sgn = ±1 from bit 8 is a sign flip: bit 8 → bit 63 */
            x = _mm256_xor_pd(x, _mm256_castsi256_pd(_mm256_and_si256(_mm256_slli_epi64(bits, 55), sign)));
            _mm_storeu_ps(out + k, _mm256_cvtpd_ps(_mm256_add_pd(dm, _mm256_mul_pd(ds, x))));
            if (ok != 15) {
                /* lanes before f are done; number k+f continues as in the scalar loop */
                uint64_t st[4];
                f = ok & 1 ? (ok & 2 ? (ok & 4 ? 3 : 2) : 1) : 0;
                _mm256_storeu_si256((__m256i *)st, f & 1 ? sb : sa);
                rng->state = st[f & 2] * mul[2] + add[2];
                out[k + f] = (float)((double)mean + (double)std * sam__zig_from(rng, b[f]));
                k += (size_t)f + 1;
                break;
            }
            k += 4;
            sa = sam__muladd_u64_avx2(sa, m8_l, m8_h, c8);
            sb = sam__muladd_u64_avx2(sb, m8_l, m8_h, c8);
            if (n - k < 4) {
                rng->state = (uint64_t)_mm_cvtsi128_si64(_mm256_castsi256_si128(sa));
                break;
            }
        }
    }
    sam__fill_gauss_f32_scalar(rng, n - k, out + k, mean, std);
}
#endif

#if SAM__HAS_NEON
/* m·s + c mod 2^64 per lane: NEON has no 64-bit multiply; the cross terms
 * need only their low 32 bits (vmul_u32), the low product all 64 (vmull). */
static uint64x2_t sam__muladd_u64_neon(uint64x2_t s, uint32x2_t ml, uint32x2_t mh, uint64x2_t c) {
    uint32x2_t sl = vmovn_u64(s), sh = vshrn_n_u64(s, 32);
    uint32x2_t cross = vmla_u32(vmul_u32(sh, ml), sl, mh);
    return vaddq_u64(vaddq_u64(vmull_u32(sl, ml), vshll_n_u32(cross, 32)), c);
}

/* PCG32's XSH RR per 64-bit lane (the rotate as two shifts; a shift by 32
 * gives 0, as (-rot) & 31 does in the scalar code when rot = 0). */
static uint32x2_t sam__pcg_out_neon(uint64x2_t s) {
    uint32x2_t xs = vmovn_u64(vshrq_n_u64(veorq_u64(vshrq_n_u64(s, 18), s), 27));
    int32x2_t rot = vreinterpret_s32_u32(vmovn_u64(vshrq_n_u64(s, 59)));
    return vorr_u32(vshl_u32(xs, vneg_s32(rot)), vshl_u32(xs, vsub_s32(vdup_n_s32(32), rot)));
}

/* 2 numbers per step, number k+j in lane j: sa = {s_k, s_{k+1}}, sb the states
 * one step after them; both advance 4 steps. */
static void sam__fill_gauss_f32_neon(sam_rng *rng, size_t n, float *out, float mean, float std) {
    const float64x2_t dm = vdupq_n_f64((double)mean), ds = vdupq_n_f64((double)std);
    const uint64x2_t sign = vdupq_n_u64(0x8000000000000000ULL);
    uint64_t mul[5], add[5];
    uint32x2_t ma_l, ma_h, mb_l, mb_h, m4_l, m4_h;
    uint64x2_t ca, cb, c4;
    size_t k = 0;
    sam__pcg_jumps(rng->inc, 4, mul, add);
    {
        uint32_t t[2];
        uint64_t c[2];
        t[0] = (uint32_t)mul[0]; t[1] = (uint32_t)mul[2]; ma_l = vld1_u32(t);
        t[0] = (uint32_t)(mul[0] >> 32); t[1] = (uint32_t)(mul[2] >> 32); ma_h = vld1_u32(t);
        t[0] = (uint32_t)mul[1]; t[1] = (uint32_t)mul[3]; mb_l = vld1_u32(t);
        t[0] = (uint32_t)(mul[1] >> 32); t[1] = (uint32_t)(mul[3] >> 32); mb_h = vld1_u32(t);
        c[0] = add[0]; c[1] = add[2]; ca = vld1q_u64(c);
        c[0] = add[1]; c[1] = add[3]; cb = vld1q_u64(c);
    }
    m4_l = vdup_n_u32((uint32_t)mul[4]);
    m4_h = vdup_n_u32((uint32_t)(mul[4] >> 32));
    c4 = vdupq_n_u64(add[4]);
    while (n - k >= 2) {
        uint64x2_t s0 = vdupq_n_u64(rng->state);
        uint64x2_t sa = sam__muladd_u64_neon(s0, ma_l, ma_h, ca), sb = sam__muladd_u64_neon(s0, mb_l, mb_h, cb);
        for (;;) {
            uint64x2_t bits = vorrq_u64(vshll_n_u32(sam__pcg_out_neon(sa), 32), vmovl_u32(sam__pcg_out_neon(sb)));
            uint64_t b0 = vgetq_lane_u64(bits, 0), b1 = vgetq_lane_u64(bits, 1);
            const double *p0 = sam__zig_x + (b0 & 255u), *p1 = sam__zig_x + (b1 & 255u);
            float64x2_t xi = vld1q_lane_f64(p1, vld1q_dup_f64(p0), 1);
            float64x2_t xn = vld1q_lane_f64(p1 + 1, vld1q_dup_f64(p0 + 1), 1);
            /* U·x[i] with U = (bits >> 11)·2^-53: 53 bits convert exactly */
            float64x2_t u = vmulq_f64(vcvtq_f64_u64(vshrq_n_u64(bits, 11)), vdupq_n_f64(1.0 / 9007199254740992.0));
            float64x2_t x = vmulq_f64(u, xi);
            uint64x2_t ok = vcltq_f64(x, xn);
            /* sgn·x: bit 8 → the sign bit */
            x = vreinterpretq_f64_u64(veorq_u64(vreinterpretq_u64_f64(x), vandq_u64(vshlq_n_u64(bits, 55), sign)));
            vst1_f32(out + k, vcvt_f32_f64(vaddq_f64(dm, vmulq_f64(ds, x))));
            if (!(vgetq_lane_u64(ok, 0) & vgetq_lane_u64(ok, 1))) {
                /* number k+f continues as in the scalar loop */
                int f = vgetq_lane_u64(ok, 0) ? 1 : 0;
                rng->state = (f ? vgetq_lane_u64(sa, 1) : vgetq_lane_u64(sa, 0)) * mul[2] + add[2];
                out[k + f] = (float)((double)mean + (double)std * sam__zig_from(rng, f ? b1 : b0));
                k += (size_t)f + 1;
                break;
            }
            k += 2;
            sa = sam__muladd_u64_neon(sa, m4_l, m4_h, c4);
            sb = sam__muladd_u64_neon(sb, m4_l, m4_h, c4);
            if (n - k < 2) {
                rng->state = vgetq_lane_u64(sa, 0);
                break;
            }
        }
    }
    sam__fill_gauss_f32_scalar(rng, n - k, out + k, mean, std);
}
#endif

typedef void (*sam__fill_gauss_fn)(sam_rng *, size_t, float *, float, float);
static const sam__fill_gauss_fn sam__fill_gauss_impl[SAM_ISA_COUNT] = {
    sam__fill_gauss_f32_scalar, SAM__IF_AVX2(sam__fill_gauss_f32_avx2), SAM__IF_NEON(sam__fill_gauss_f32_neon)};

/* Internal callers use their context's ISA. */
static void sam__fill_gauss(const sam_ctx *ctx, sam_rng *rng, size_t n, float *out, float mean, float std) {
    sam__fill_gauss_impl[ctx->isa](rng, n, out, mean, std);
}

/* No context here: every ISA gives the same bits, so take the best one the
 * CPU has (asked each time, nothing cached) once n pays for the set-up. */
SAM__DEF void sam_rng_fill_gauss(sam_rng *rng, size_t n, float *out, float mean, float std) {
    sam__fill_gauss_impl[n >= 32 ? sam_isa_best() : SAM_ISA_SCALAR](rng, n, out, mean, std);
}

SAM__DEF sam_status sam_fill_gauss(sam_ctx *ctx, sam_rng *rng, size_t n, float *out, float mean, float std) {
    if (!ctx) return SAM_ERR_NULL;
    if (!rng) return sam__fail(ctx, SAM_ERR_NULL, "sam_fill_gauss: rng is NULL");
    if (!out && n) return sam__fail(ctx, SAM_ERR_NULL, "sam_fill_gauss: out is NULL");
    sam__fill_gauss(ctx, rng, n, out, mean, std);
    return sam__ok(ctx);
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

/* ========================================================================
 * KERNELS: sgemm (scalar → AVX2 → NEON side by side)
 *
 * The BLIS algorithm (Van Zee & van de Geijn 2015; "how to optimize gemm"):
 *
 *   for jc in N step NC:             B block  kc×nc  lives in L3
 *     for pc in K step KC:           pack B[pc.., jc..] into kc×NR panels
 *       for ic in M step MC:         pack A[ic.., pc..] into MR×kc panels (L2)
 *         for jr in nc step NR:      one B micro-panel kc×NR stays in L1
 *           for ir in mc step MR:    micro-kernel: C[MR×NR] += A-panel · B-panel
 *
 * Packing makes every micro-kernel read unit-stride and aligned, whatever the
 * transposes and strides of the caller, and zero-pads the edges so the
 * micro-kernel never branches in its k loop; it only tests whether its tile is
 * whole when it writes C. Summation order is fixed: k ascending inside a KC
 * block, blocks in order, so one ISA gives bit-identical results every run.
 *
 * Two shapes of the models skip packing on the SIMD ISAs (measured faster;
 * the choice depends on the shape only, so results stay reproducible):
 *   - A Bᵀ with M <= 4, or N <= 48 and K >= 128 (patch-conv and MLP forward,
 *     Z = X Wᵀ with few filters): dot-product kernels on the rows in place;
 *   - M == 1 with B untransposed (a batch of one): a row kernel streams B.
 * More AVX2-only choices (NEON keeps its general paths for them):
 *   - A Bᵀ with M >= 64, 32 < N <= 40, K >= 128 (CNN forward, 40 filters):
 *     the narrow-B kernel, B packed per kc block and A read in place;
 *   - Aᵀ B with M >= 64, N <= 48 padding less in 6-row tiles, 24 <= K <= 256
 *     (MLP weight gradient, N = d = 30): Cᵀ = Bᵀ A with A read in place,
 *     transposed out through a small buffer;
 *   - A Bᵀ with K <= 64 where 4×24 tiles pad less than 6×16 ones (MLP
 *     forward, 100×500×30): A read in place, Bᵀ packed by 8×8 transposes;
 *   - B untransposed, M <= 24 where 4-row tiles pad less than 6-row ones
 *     (CNN weight gradient, M = 20 filters): the 4×24 tile.
 * The scalar ISA always takes the packed path: it is the specification.
 * ====================================================================== */

static size_t sam__min_sz(size_t a, size_t b) { return a < b ? a : b; }

#if defined(__GNUC__) || defined(__clang__)
#define SAM__INLINE __inline__ __attribute__((always_inline))
#else
#define SAM__INLINE
#endif

/* Micro-kernel: C[m×n] = alpha · Ap Bp + beta · C for the top-left m×n of one
 * MR×NR tile (m <= MR, n <= NR). Ap is packed, Ap[k·MR + i]; Bp[k·bk + j] is
 * a packed panel (bk = NR) or, for a whole panel of an untransposed B, B itself
 * (bk = ldb), which skips packing when B is used by few rows of A. beta == 0
 * never reads C. */
typedef void (*sam__gemm_ukr_fn)(size_t kc, float alpha, const float *ap, const float *bp, size_t bk, float beta,
                                 float *c, size_t ldc, size_t m, size_t n);
/* The same with the long-kc extras of the AVX2 16-wide tiles (pf, pfs, bcopy:
 * see sam__gemm_ukr5x16_pf_f32_avx2). */
typedef void (*sam__gemm_ukr_pf_fn)(size_t kc, float alpha, const float *ap, const float *bp, size_t bk, float beta,
                                    float *c, size_t ldc, size_t m, size_t n, const float *pf, size_t pfs,
                                    float *bcopy);

/* ---- scalar: 4×4 tile, the specification ---------------------------------- */

#define SAM__GEMM_MR_SCALAR 4
#define SAM__GEMM_NR_SCALAR 4

static void sam__gemm_ukr_f32_scalar(size_t kc, float alpha, const float *ap, const float *bp, size_t bk, float beta,
                                     float *c, size_t ldc, size_t m, size_t n) {
    float acc[SAM__GEMM_MR_SCALAR][SAM__GEMM_NR_SCALAR];
    size_t i, j, p;
    for (i = 0; i < SAM__GEMM_MR_SCALAR; i++)
        for (j = 0; j < SAM__GEMM_NR_SCALAR; j++) acc[i][j] = 0.0f;
    for (p = 0; p < kc; p++) /* acc[i][j] += A[i][p] B[p][j], p ascending */
        for (i = 0; i < SAM__GEMM_MR_SCALAR; i++)
            for (j = 0; j < SAM__GEMM_NR_SCALAR; j++)
                acc[i][j] += ap[p * SAM__GEMM_MR_SCALAR + i] * bp[p * bk + j];
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j];
}

/* ---- AVX2 + FMA: 6×16 tile ------------------------------------------------ *
 * Register budget (16 ymm): 12 accumulators (6 rows × 2 vectors of 8) + 2 for
 * the B row + 1 broadcast of A[i][k] = 15/16. Per k: 2 loads, 6 broadcasts,
 * 12 FMAs — two FMA ports stay busy, the load ports have room. */

#define SAM__GEMM_MR_AVX2 6
#define SAM__GEMM_NR_AVX2 16

#if SAM__HAS_AVX2
/* pf and bcopy: as for the 5×16 tile below (the long-kc variant of
 * sam__sgemm); NULL in the tile of the table. */
SAM__AVX2 static void sam__gemm_ukr6x16_pf_f32_avx2(size_t kc, float alpha, const float *ap, const float *bp,
                                                    size_t bk, float beta, float *c, size_t ldc, size_t m, size_t n,
                                                    const float *pf, size_t pfs, float *bcopy) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    __m256 b0, b1, a, va, vb;
    const float *ap_end;
    size_t i;
    for (i = 0; i < m; i++) { /* C is needed only after the k loop: fetch it meanwhile */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + n - 1), _MM_HINT_T0);
    }
#define SAM__UKR_AVX2_STEP(p_)                                                      \
    b0 = _mm256_loadu_ps(bp + (p_) * bk);                                           \
    b1 = _mm256_loadu_ps(bp + (p_) * bk + 8);                                       \
    a = _mm256_broadcast_ss(ap + (p_) * 6 + 0);                                     \
    c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);           \
    a = _mm256_broadcast_ss(ap + (p_) * 6 + 1);                                     \
    c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);           \
    a = _mm256_broadcast_ss(ap + (p_) * 6 + 2);                                     \
    c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);           \
    a = _mm256_broadcast_ss(ap + (p_) * 6 + 3);                                     \
    c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);           \
    a = _mm256_broadcast_ss(ap + (p_) * 6 + 4);                                     \
    c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);           \
    a = _mm256_broadcast_ss(ap + (p_) * 6 + 5);                                     \
    c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    ap_end = ap + 6 * kc;
    if (bcopy)
        for (; ap < ap_end; ap += 6, bp += bk, bcopy += SAM__GEMM_NR_AVX2) {
            SAM__UKR_AVX2_STEP(0)
            _mm256_storeu_ps(bcopy, b0);
            _mm256_storeu_ps(bcopy + 8, b1);
        }
    else if (pf)
        for (; ap < ap_end; ap += 6, bp += bk, pf += pfs) {
            SAM__UKR_AVX2_STEP(0)
            _mm_prefetch((const char *)pf, _MM_HINT_T1);
        }
    else
        for (; ap < ap_end; ap += 6, bp += bk) { /* no k counter (see the 2×40 kernel) */
            SAM__UKR_AVX2_STEP(0)
        }
#undef SAM__UKR_AVX2_STEP
    va = _mm256_set1_ps(alpha); /* set only now: all 16 ymm were busy in the loop */
    vb = _mm256_set1_ps(beta);
    if (m == SAM__GEMM_MR_AVX2 && n == SAM__GEMM_NR_AVX2) {
#define SAM__UKR_AVX2_STORE(r_, x0, x1)                                                                       \
        if (beta == 0.0f) {                                                                                   \
            _mm256_storeu_ps(c + (r_) * ldc, _mm256_mul_ps(va, x0));                                          \
            _mm256_storeu_ps(c + (r_) * ldc + 8, _mm256_mul_ps(va, x1));                                      \
        } else {                                                                                              \
            _mm256_storeu_ps(c + (r_) * ldc, _mm256_fmadd_ps(va, x0, _mm256_mul_ps(vb, _mm256_loadu_ps(c + (r_) * ldc)))); \
            _mm256_storeu_ps(c + (r_) * ldc + 8,                                                              \
                             _mm256_fmadd_ps(va, x1, _mm256_mul_ps(vb, _mm256_loadu_ps(c + (r_) * ldc + 8)))); \
        }
        SAM__UKR_AVX2_STORE(0, c00, c01)
        SAM__UKR_AVX2_STORE(1, c10, c11)
        SAM__UKR_AVX2_STORE(2, c20, c21)
        SAM__UKR_AVX2_STORE(3, c30, c31)
        SAM__UKR_AVX2_STORE(4, c40, c41)
        SAM__UKR_AVX2_STORE(5, c50, c51)
#undef SAM__UKR_AVX2_STORE
    } else {
        /* A partial tile: the same arithmetic on the first m rows, with
         * lane masks for the first n columns (masked-off lanes are neither
         * read nor written), so edge and interior elements round alike. */
        __m256 acc[12];
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i mlo = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane);
        const __m256i mhi = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - 8), lane);
        acc[0] = c00; acc[1] = c01; acc[2] = c10; acc[3] = c11; acc[4] = c20; acc[5] = c21;
        acc[6] = c30; acc[7] = c31; acc[8] = c40; acc[9] = c41; acc[10] = c50; acc[11] = c51;
        for (i = 0; i < m; i++) {
            float *q = c + i * ldc;
            __m256 lo = _mm256_mul_ps(va, acc[2 * i]), hi = _mm256_mul_ps(va, acc[2 * i + 1]);
            if (beta != 0.0f) {
                lo = _mm256_fmadd_ps(va, acc[2 * i], _mm256_mul_ps(vb, _mm256_maskload_ps(q, mlo)));
                hi = _mm256_fmadd_ps(va, acc[2 * i + 1], _mm256_mul_ps(vb, _mm256_maskload_ps(q + 8, mhi)));
            }
            _mm256_maskstore_ps(q, mlo, lo);
            _mm256_maskstore_ps(q + 8, mhi, hi);
        }
    }
}

/* The tile of the table (sam__gemm_ukr_fn). */
SAM__AVX2 static void sam__gemm_ukr_f32_avx2(size_t kc, float alpha, const float *ap, const float *bp, size_t bk,
                                             float beta, float *c, size_t ldc, size_t m, size_t n) {
    sam__gemm_ukr6x16_pf_f32_avx2(kc, alpha, ap, bp, bk, beta, c, ldc, m, n, NULL, 0, NULL);
}
#endif

/* ---- AVX2 + FMA: 4×24 tile, for a few rows of A against a wide B ---------- *
 * A product with few rows (the CNN weight gradient dW = dZᵀ X: M = 2m = 20
 * filters, K = batch·P = 40, N = d large) pads the 6-row tile: 20 rows fill
 * 4 tiles = 24 rows, 17 % of the FMAs wasted. Four rows divide the models'
 * M (20, 40) exactly, and 24 columns keep the register file as full: 12
 * accumulators (4 rows × 3 vectors) + 3 B vectors + 1 broadcast = 16 ymm;
 * per k 3 loads + 4 broadcasts for 12 FMAs. Same arithmetic per element as
 * the 6×16 tile (k ascending FMA chain, then alpha, beta), so results are
 * bit-identical to it. NEON keeps its 8×12 tile for these shapes. */

#define SAM__GEMM_MR_AVX2S 4
#define SAM__GEMM_NR_AVX2S 24

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__gemm_ukr4x24_f32_avx2(size_t kc, float alpha, const float *ap, const float *bp, size_t bk,
                                                 float beta, float *c, size_t ldc, size_t m, size_t n) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    __m256 b0, b1, b2, a, va, vb;
    const float *ap_end;
    size_t i;
    for (i = 0; i < m; i++) { /* C is needed only after the k loop: fetch it meanwhile */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + n - 1), _MM_HINT_T0);
    }
    for (ap_end = ap + 4 * kc; ap < ap_end; ap += 4, bp += bk) { /* no k counter (see the 2×40 kernel) */
        b0 = _mm256_loadu_ps(bp);
        b1 = _mm256_loadu_ps(bp + 8);
        b2 = _mm256_loadu_ps(bp + 16);
        /* B read in place has rows ldb apart: fetch this k's row of the panel
         * after next (2·24 + 8 floats on; measured best of 32, 56, 80, 104). */
        _mm_prefetch((const char *)(bp + 56), _MM_HINT_T0);
        _mm_prefetch((const char *)(bp + 71), _MM_HINT_T0);
        a = _mm256_broadcast_ss(ap + 0);
        c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01); c02 = _mm256_fmadd_ps(a, b2, c02);
        a = _mm256_broadcast_ss(ap + 1);
        c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11); c12 = _mm256_fmadd_ps(a, b2, c12);
        a = _mm256_broadcast_ss(ap + 2);
        c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21); c22 = _mm256_fmadd_ps(a, b2, c22);
        a = _mm256_broadcast_ss(ap + 3);
        c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31); c32 = _mm256_fmadd_ps(a, b2, c32);
    }
    va = _mm256_set1_ps(alpha); /* set only now: all 16 ymm were busy in the loop */
    vb = _mm256_set1_ps(beta);
    if (m == SAM__GEMM_MR_AVX2S && n == SAM__GEMM_NR_AVX2S) {
#define SAM__UKR4_AVX2_ST(q_, x_)                                                                 \
        if (beta == 0.0f) _mm256_storeu_ps(q_, _mm256_mul_ps(va, x_));                            \
        else _mm256_storeu_ps(q_, _mm256_fmadd_ps(va, x_, _mm256_mul_ps(vb, _mm256_loadu_ps(q_))));
#define SAM__UKR4_AVX2_ROW(r_) \
        SAM__UKR4_AVX2_ST(c + (r_) * ldc, c##r_##0) SAM__UKR4_AVX2_ST(c + (r_) * ldc + 8, c##r_##1) \
        SAM__UKR4_AVX2_ST(c + (r_) * ldc + 16, c##r_##2)
        SAM__UKR4_AVX2_ROW(0) SAM__UKR4_AVX2_ROW(1) SAM__UKR4_AVX2_ROW(2) SAM__UKR4_AVX2_ROW(3)
#undef SAM__UKR4_AVX2_ROW
#undef SAM__UKR4_AVX2_ST
    } else {
        /* A partial tile: lane masks for the first n columns (masked-off lanes
         * are neither read nor written), the first m rows only. */
        __m256 acc[12];
        __m256i msk[3];
        size_t v;
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for (v = 0; v < 3; v++) msk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - 8 * (int)v), lane);
        acc[0] = c00; acc[1] = c01; acc[2] = c02; acc[3] = c10; acc[4] = c11; acc[5] = c12;
        acc[6] = c20; acc[7] = c21; acc[8] = c22; acc[9] = c30; acc[10] = c31; acc[11] = c32;
        for (i = 0; i < m; i++)
            for (v = 0; v < 3; v++) {
                float *q = c + i * ldc + 8 * v;
                __m256 x = _mm256_mul_ps(va, acc[3 * i + v]);
                if (beta != 0.0f) x = _mm256_fmadd_ps(va, acc[3 * i + v], _mm256_mul_ps(vb, _mm256_maskload_ps(q, msk[v])));
                _mm256_maskstore_ps(q, msk[v], x);
            }
    }
}
#endif

/* ---- AVX2 + FMA: 5×16 tile, for 40 rows of A -------------------------------- *
 * The CNN weight gradient (TN 40×2000×400: M = 2m = 40 filters) pads the
 * 6-row tile to 42 rows (5 % of the FMAs wasted); five rows divide 40.
 * Register budget: 10 accumulators (5 rows × 2 vectors) + 2 B + 1 broadcast
 * = 13/16 ymm; per k 2 loads + 5 broadcasts for 10 FMAs (10 chains cover a
 * 4-5 cycle FMA latency on 2 ports). Same arithmetic per element as the 6×16
 * tile (k-ascending FMA chain, then alpha, beta): bit-identical results. */

#define SAM__GEMM_MR_AVX2F 5
#define SAM__GEMM_KC_AVX2F_PF 64 /* kc with B in place and prefetched (see sam__sgemm) */

#if SAM__HAS_AVX2
/* Two extras for the long-kc variant in sam__sgemm; neither changes a result.
 * pf, when not NULL: one row of the next B panel (rows pfs floats apart) is
 * prefetched into L2 per k, spread over the FMAs. bcopy, when not NULL: the
 * panel's rows, as loaded, are also stored there 16 floats apart, a packed
 * copy for the tiles after this one. */
SAM__AVX2 static void sam__gemm_ukr5x16_pf_f32_avx2(size_t kc, float alpha, const float *ap, const float *bp,
                                                    size_t bk, float beta, float *c, size_t ldc, size_t m, size_t n,
                                                    const float *pf, size_t pfs, float *bcopy) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00;
    __m256 b0, b1, a, va, vb;
    size_t p, i;
    for (i = 0; i < m; i++) { /* C is needed only after the k loop: fetch it meanwhile */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + n - 1), _MM_HINT_T0);
    }
    /* A k counter, unlike the other tiles: the pointer-compare loop (see the
     * 2×40 kernel) ran faster here in L1 (82 -> 85 GF/s), yet TN 40×2000×400,
     * where B streams in place, fell from 76.9 to 75.1 (kc 64), and from
     * 82.2 to 79.5 under the long kc. */
#define SAM__UKR5_AVX2_K                                                                            \
        b0 = _mm256_loadu_ps(bp);                                                                   \
        b1 = _mm256_loadu_ps(bp + 8);                                                               \
        a = _mm256_broadcast_ss(ap + 0);                                                            \
        c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);                       \
        a = _mm256_broadcast_ss(ap + 1);                                                            \
        c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);                       \
        a = _mm256_broadcast_ss(ap + 2);                                                            \
        c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);                       \
        a = _mm256_broadcast_ss(ap + 3);                                                            \
        c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);                       \
        a = _mm256_broadcast_ss(ap + 4);                                                            \
        c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);                       \
        ap += 5;                                                                                    \
        bp += bk;
    if (bcopy)
        for (p = 0; p < kc; p++, bcopy += SAM__GEMM_NR_AVX2) {
            SAM__UKR5_AVX2_K
            _mm256_storeu_ps(bcopy, b0);
            _mm256_storeu_ps(bcopy + 8, b1);
        }
    else if (pf)
        for (p = 0; p < kc; p++) {
            SAM__UKR5_AVX2_K
            _mm_prefetch((const char *)pf, _MM_HINT_T1);
            pf += pfs;
        }
    else
        for (p = 0; p < kc; p++) {
            SAM__UKR5_AVX2_K
        }
#undef SAM__UKR5_AVX2_K
    va = _mm256_set1_ps(alpha);
    vb = _mm256_set1_ps(beta);
    if (m == SAM__GEMM_MR_AVX2F && n == SAM__GEMM_NR_AVX2) {
#define SAM__UKR5_AVX2_ST(q_, x_)                                                                 \
        if (beta == 0.0f) _mm256_storeu_ps(q_, _mm256_mul_ps(va, x_));                            \
        else _mm256_storeu_ps(q_, _mm256_fmadd_ps(va, x_, _mm256_mul_ps(vb, _mm256_loadu_ps(q_))));
#define SAM__UKR5_AVX2_ROW(r_) SAM__UKR5_AVX2_ST(c + (r_) * ldc, c##r_##0) SAM__UKR5_AVX2_ST(c + (r_) * ldc + 8, c##r_##1)
        SAM__UKR5_AVX2_ROW(0) SAM__UKR5_AVX2_ROW(1) SAM__UKR5_AVX2_ROW(2) SAM__UKR5_AVX2_ROW(3) SAM__UKR5_AVX2_ROW(4)
#undef SAM__UKR5_AVX2_ROW
#undef SAM__UKR5_AVX2_ST
    } else { /* partial tile: lane masks, the first m rows (as the 6×16 kernel). Each
              * kernel keeps its own copy: a shared out-of-line store made the
              * kernels realign their stack on every call (TN 500×30×1, one
              * partial tile per call: 2.9 -> 15.7 µs). */
        __m256 acc[10];
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i mlo = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane);
        const __m256i mhi = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - 8), lane);
        acc[0] = c00; acc[1] = c01; acc[2] = c10; acc[3] = c11; acc[4] = c20;
        acc[5] = c21; acc[6] = c30; acc[7] = c31; acc[8] = c40; acc[9] = c41;
        for (i = 0; i < m; i++) {
            float *q = c + i * ldc;
            __m256 lo = _mm256_mul_ps(va, acc[2 * i]), hi = _mm256_mul_ps(va, acc[2 * i + 1]);
            if (beta != 0.0f) {
                lo = _mm256_fmadd_ps(va, acc[2 * i], _mm256_mul_ps(vb, _mm256_maskload_ps(q, mlo)));
                hi = _mm256_fmadd_ps(va, acc[2 * i + 1], _mm256_mul_ps(vb, _mm256_maskload_ps(q + 8, mhi)));
            }
            _mm256_maskstore_ps(q, mlo, lo);
            _mm256_maskstore_ps(q + 8, mhi, hi);
        }
    }
}

/* The tile of the table (sam__gemm_ukr_fn): no prefetch. */
SAM__AVX2 static void sam__gemm_ukr5x16_f32_avx2(size_t kc, float alpha, const float *ap, const float *bp, size_t bk,
                                                 float beta, float *c, size_t ldc, size_t m, size_t n) {
    sam__gemm_ukr5x16_pf_f32_avx2(kc, alpha, ap, bp, bk, beta, c, ldc, m, n, NULL, 0, NULL);
}
#endif

/* ---- NEON: 8×12 tile -------------------------------------------------------- *
 * Register budget (32 q registers of 4 floats): 24 accumulators (8 rows × 3
 * vectors) + 3 for the B row + 2 holding the 8 A values of this k, used
 * lane by lane with vfmaq_laneq_f32 (no broadcasts) = 29/32. */

#define SAM__GEMM_MR_NEON 8
#define SAM__GEMM_NR_NEON 12

#if SAM__HAS_NEON
static void sam__gemm_ukr_f32_neon(size_t kc, float alpha, const float *ap, const float *bp, size_t bk, float beta,
                                   float *c, size_t ldc, size_t m, size_t n) {
    /* named accumulators, not an array: an array indexed in the store loop
     * made gcc mirror all 24 registers to the stack on every k */
    float32x4_t z = vdupq_n_f32(0.0f);
    float32x4_t c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z, c22 = z;
    float32x4_t c30 = z, c31 = z, c32 = z, c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z;
    float32x4_t c60 = z, c61 = z, c62 = z, c70 = z, c71 = z, c72 = z;
    float32x4_t va, vb;
    float tile[SAM__GEMM_MR_NEON * SAM__GEMM_NR_NEON];
    float *cc = c;
    size_t ldcc = ldc, p, i, j;
    for (p = 0; p < kc; p++) {
        float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4), b2 = vld1q_f32(bp + 8);
        float32x4_t a0 = vld1q_f32(ap), a1 = vld1q_f32(ap + 4);
#define SAM__UKR_NEON_ROW(r_, av, lane)                                  \
        c##r_##0 = vfmaq_laneq_f32(c##r_##0, b0, av, lane);             \
        c##r_##1 = vfmaq_laneq_f32(c##r_##1, b1, av, lane);             \
        c##r_##2 = vfmaq_laneq_f32(c##r_##2, b2, av, lane);
        SAM__UKR_NEON_ROW(0, a0, 0) SAM__UKR_NEON_ROW(1, a0, 1) SAM__UKR_NEON_ROW(2, a0, 2) SAM__UKR_NEON_ROW(3, a0, 3)
        SAM__UKR_NEON_ROW(4, a1, 0) SAM__UKR_NEON_ROW(5, a1, 1) SAM__UKR_NEON_ROW(6, a1, 2) SAM__UKR_NEON_ROW(7, a1, 3)
#undef SAM__UKR_NEON_ROW
        ap += 8;
        bp += bk;
    }
    va = vdupq_n_f32(alpha);
    vb = vdupq_n_f32(beta);
    /* A partial tile goes through a local MR×NR copy with the same vector
     * arithmetic, so edge and interior elements round alike. */
    if (m != SAM__GEMM_MR_NEON || n != SAM__GEMM_NR_NEON) {
        cc = tile;
        ldcc = SAM__GEMM_NR_NEON;
        for (i = 0; i < SAM__GEMM_MR_NEON * SAM__GEMM_NR_NEON; i++) tile[i] = 0.0f;
        if (beta != 0.0f)
            for (i = 0; i < m; i++)
                for (j = 0; j < n; j++) tile[i * SAM__GEMM_NR_NEON + j] = c[i * ldc + j];
    }
#define SAM__UKR_NEON_STORE(r_, x_, j_)                                                         \
    if (beta == 0.0f) vst1q_f32(cc + (r_) * ldcc + 4 * (j_), vmulq_f32(va, x_));                \
    else vst1q_f32(cc + (r_) * ldcc + 4 * (j_),                                                 \
                   vfmaq_f32(vmulq_f32(vb, vld1q_f32(cc + (r_) * ldcc + 4 * (j_))), va, x_));
#define SAM__UKR_NEON_STORE_ROW(r_) \
    SAM__UKR_NEON_STORE(r_, c##r_##0, 0) SAM__UKR_NEON_STORE(r_, c##r_##1, 1) SAM__UKR_NEON_STORE(r_, c##r_##2, 2)
    SAM__UKR_NEON_STORE_ROW(0) SAM__UKR_NEON_STORE_ROW(1) SAM__UKR_NEON_STORE_ROW(2) SAM__UKR_NEON_STORE_ROW(3)
    SAM__UKR_NEON_STORE_ROW(4) SAM__UKR_NEON_STORE_ROW(5) SAM__UKR_NEON_STORE_ROW(6) SAM__UKR_NEON_STORE_ROW(7)
#undef SAM__UKR_NEON_STORE_ROW
#undef SAM__UKR_NEON_STORE
    if (cc == tile)
        for (i = 0; i < m; i++)
            for (j = 0; j < n; j++) c[i * ldc + j] = tile[i * SAM__GEMM_NR_NEON + j];
}
#endif

/* ---- dot kernels: C = A Bᵀ with both operands contiguous in k ------------ *
 * For ta = NoTrans, tb = Trans every C element is a dot product of a row of A
 * and a row of B. When op(B) is narrow (few filters, a batch of one) packing
 * B wastes most of an NR-wide panel; this path instead reads both operands in
 * place, a 4×3 block of dot products at a time. Rows past m and columns past
 * n point at row 0 (always valid memory) and their results are dropped, so
 * the kernel has no edge branches in its k loop.
 * C[i][j] = alpha Σ_k a_i[k] b_j[k] + beta C[i][j] (beta == 0: C not read). */
typedef void (*sam__gemm_dot_fn)(size_t K, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                                 float beta, float *c, size_t ldc, size_t m, size_t n);

#define SAM__DOT_MR 4
#define SAM__DOT_NR 3

static void sam__gemm_dot_f32_scalar(size_t K, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                                     float beta, float *c, size_t ldc, size_t m, size_t n) {
    size_t i, j, k;
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            float s = 0.0f; /* k ascending */
            for (k = 0; k < K; k++) s += a[i * lda + k] * b[j * ldb + k];
            c[i * ldc + j] = beta == 0.0f ? alpha * s : alpha * s + beta * c[i * ldc + j];
        }
}

#if SAM__HAS_AVX2
/* Lane sum in a fixed order: (l0+l4, l1+l5, l2+l6, l3+l7), then pairs. */
SAM__AVX2 static float sam__hsum8_ps_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* Register budget: 12 accumulators + 4 A vectors = 16 ymm; the 3 B vectors
 * are memory operands of the FMAs. Lane l sums k ≡ l (mod 8); the k tail is
 * read with a masked load (no overrun). */
SAM__AVX2 static void sam__gemm_dot_f32_avx2(size_t K, float alpha, const float *a, size_t lda, const float *b,
                                             size_t ldb, float beta, float *c, size_t ldc, size_t m, size_t n) {
    const float *a0 = a, *a1 = m > 1 ? a + lda : a, *a2 = m > 2 ? a + 2 * lda : a, *a3 = m > 3 ? a + 3 * lda : a;
    const float *b0 = b, *b1 = n > 1 ? b + ldb : b, *b2 = n > 2 ? b + 2 * ldb : b;
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s10 = s00, s11 = s00, s12 = s00;
    __m256 s20 = s00, s21 = s00, s22 = s00, s30 = s00, s31 = s00, s32 = s00;
    __m256 x0, x1, x2, x3, y;
    float r[SAM__DOT_MR][SAM__DOT_NR];
    size_t k = 0, i, j;
#define SAM__DOT_AVX2_COL(y_, j_)                                                            \
    s0##j_ = _mm256_fmadd_ps(x0, y_, s0##j_); s1##j_ = _mm256_fmadd_ps(x1, y_, s1##j_);        \
    s2##j_ = _mm256_fmadd_ps(x2, y_, s2##j_); s3##j_ = _mm256_fmadd_ps(x3, y_, s3##j_);
    for (; k + 8 <= K; k += 8) {
        x0 = _mm256_loadu_ps(a0 + k); x1 = _mm256_loadu_ps(a1 + k);
        x2 = _mm256_loadu_ps(a2 + k); x3 = _mm256_loadu_ps(a3 + k);
        y = _mm256_loadu_ps(b0 + k); SAM__DOT_AVX2_COL(y, 0)
        y = _mm256_loadu_ps(b1 + k); SAM__DOT_AVX2_COL(y, 1)
        y = _mm256_loadu_ps(b2 + k); SAM__DOT_AVX2_COL(y, 2)
    }
    if (k < K) {
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(K - k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        x0 = _mm256_maskload_ps(a0 + k, mask); x1 = _mm256_maskload_ps(a1 + k, mask);
        x2 = _mm256_maskload_ps(a2 + k, mask); x3 = _mm256_maskload_ps(a3 + k, mask);
        y = _mm256_maskload_ps(b0 + k, mask); SAM__DOT_AVX2_COL(y, 0)
        y = _mm256_maskload_ps(b1 + k, mask); SAM__DOT_AVX2_COL(y, 1)
        y = _mm256_maskload_ps(b2 + k, mask); SAM__DOT_AVX2_COL(y, 2)
    }
#undef SAM__DOT_AVX2_COL
    r[0][0] = sam__hsum8_ps_avx2(s00); r[0][1] = sam__hsum8_ps_avx2(s01); r[0][2] = sam__hsum8_ps_avx2(s02);
    r[1][0] = sam__hsum8_ps_avx2(s10); r[1][1] = sam__hsum8_ps_avx2(s11); r[1][2] = sam__hsum8_ps_avx2(s12);
    r[2][0] = sam__hsum8_ps_avx2(s20); r[2][1] = sam__hsum8_ps_avx2(s21); r[2][2] = sam__hsum8_ps_avx2(s22);
    r[3][0] = sam__hsum8_ps_avx2(s30); r[3][1] = sam__hsum8_ps_avx2(s31); r[3][2] = sam__hsum8_ps_avx2(s32);
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0.0f ? alpha * r[i][j] : fmaf(alpha, r[i][j], beta * c[i * ldc + j]);
}
#endif

#if SAM__HAS_NEON
/* Register budget: 12 accumulators + 4 A + 3 B = 19/32 q registers. Lane l
 * sums k ≡ l (mod 4); the k tail (< 4) is added in scalar after the lanes. */
static void sam__gemm_dot_f32_neon(size_t K, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                                   float beta, float *c, size_t ldc, size_t m, size_t n) {
    const float *ar[SAM__DOT_MR], *br[SAM__DOT_NR];
    float32x4_t s[SAM__DOT_MR][SAM__DOT_NR];
    size_t k, i, j, K4 = K & ~(size_t)3;
    for (i = 0; i < SAM__DOT_MR; i++) ar[i] = i < m ? a + i * lda : a;
    for (j = 0; j < SAM__DOT_NR; j++) br[j] = j < n ? b + j * ldb : b;
    for (i = 0; i < SAM__DOT_MR; i++)
        for (j = 0; j < SAM__DOT_NR; j++) s[i][j] = vdupq_n_f32(0.0f);
    for (k = 0; k < K4; k += 4) {
        float32x4_t x0 = vld1q_f32(ar[0] + k), x1 = vld1q_f32(ar[1] + k), x2 = vld1q_f32(ar[2] + k),
                    x3 = vld1q_f32(ar[3] + k);
        for (j = 0; j < SAM__DOT_NR; j++) {
            float32x4_t y = vld1q_f32(br[j] + k);
            s[0][j] = vfmaq_f32(s[0][j], x0, y); s[1][j] = vfmaq_f32(s[1][j], x1, y);
            s[2][j] = vfmaq_f32(s[2][j], x2, y); s[3][j] = vfmaq_f32(s[3][j], x3, y);
        }
    }
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            float r = (vgetq_lane_f32(s[i][j], 0) + vgetq_lane_f32(s[i][j], 1)) +
                      (vgetq_lane_f32(s[i][j], 2) + vgetq_lane_f32(s[i][j], 3));
            for (k = K4; k < K; k++) r = fmaf(ar[i][k], br[j][k], r);
            c[i * ldc + j] = beta == 0.0f ? alpha * r : fmaf(alpha, r, beta * c[i * ldc + j]);
        }
}
#endif

static const sam__gemm_dot_fn sam__gemm_dot_impl[SAM_ISA_COUNT] = {
    sam__gemm_dot_f32_scalar, SAM__IF_AVX2(sam__gemm_dot_f32_avx2), SAM__IF_NEON(sam__gemm_dot_f32_neon)};

/* One row of A against up to 8 rows of B (M = 1, a batch of one): the 4×3
 * kernel would spend 3 of its 4 rows on copies of row 0.
 * c[j] = alpha Σ_k a[k] b_j[k] + beta c[j], j < n <= 8. */
typedef void (*sam__gemm_dot1_fn)(size_t K, float alpha, const float *a, const float *b, size_t ldb, float beta,
                                  float *c, size_t n);

#define SAM__DOT1_NR 8

static void sam__gemm_dot1_f32_scalar(size_t K, float alpha, const float *a, const float *b, size_t ldb, float beta,
                                      float *c, size_t n) {
    sam__gemm_dot_f32_scalar(K, alpha, a, 0, b, ldb, beta, c, 0, 1, n);
}

#if SAM__HAS_AVX2
/* 8 accumulators + 1 A vector; B rows are FMA memory operands. */
SAM__AVX2 static void sam__gemm_dot1_f32_avx2(size_t K, float alpha, const float *a, const float *b, size_t ldb,
                                              float beta, float *c, size_t n) {
    const float *br[SAM__DOT1_NR];
    __m256 s[SAM__DOT1_NR], x;
    size_t k = 0, j;
    for (j = 0; j < SAM__DOT1_NR; j++) {
        br[j] = j < n ? b + j * ldb : b;
        s[j] = _mm256_setzero_ps();
    }
    for (; k + 8 <= K; k += 8) {
        x = _mm256_loadu_ps(a + k);
        for (j = 0; j < SAM__DOT1_NR; j++) s[j] = _mm256_fmadd_ps(x, _mm256_loadu_ps(br[j] + k), s[j]);
    }
    if (k < K) {
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(K - k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        x = _mm256_maskload_ps(a + k, mask);
        for (j = 0; j < SAM__DOT1_NR; j++) s[j] = _mm256_fmadd_ps(x, _mm256_maskload_ps(br[j] + k, mask), s[j]);
    }
    for (j = 0; j < n; j++) {
        float r = sam__hsum8_ps_avx2(s[j]);
        c[j] = beta == 0.0f ? alpha * r : fmaf(alpha, r, beta * c[j]);
    }
}
#endif

#if SAM__HAS_NEON
static void sam__gemm_dot1_f32_neon(size_t K, float alpha, const float *a, const float *b, size_t ldb, float beta,
                                    float *c, size_t n) {
    const float *br[SAM__DOT1_NR];
    float32x4_t s[SAM__DOT1_NR];
    size_t k, j, K4 = K & ~(size_t)3;
    for (j = 0; j < SAM__DOT1_NR; j++) {
        br[j] = j < n ? b + j * ldb : b;
        s[j] = vdupq_n_f32(0.0f);
    }
    for (k = 0; k < K4; k += 4) {
        float32x4_t x = vld1q_f32(a + k);
        for (j = 0; j < SAM__DOT1_NR; j++) s[j] = vfmaq_f32(s[j], x, vld1q_f32(br[j] + k));
    }
    for (j = 0; j < n; j++) {
        float r = (vgetq_lane_f32(s[j], 0) + vgetq_lane_f32(s[j], 1)) + (vgetq_lane_f32(s[j], 2) + vgetq_lane_f32(s[j], 3));
        for (k = K4; k < K; k++) r = fmaf(a[k], br[j][k], r);
        c[j] = beta == 0.0f ? alpha * r : fmaf(alpha, r, beta * c[j]);
    }
}
#endif

static const sam__gemm_dot1_fn sam__gemm_dot1_impl[SAM_ISA_COUNT] = {
    sam__gemm_dot1_f32_scalar, SAM__IF_AVX2(sam__gemm_dot1_f32_avx2), SAM__IF_NEON(sam__gemm_dot1_f32_neon)};

/* K is cut into chunks of SAM__DOT_KC so that the B rows of one pass
 * (N·KC·4 bytes: 40 rows = 160 KB) stay in L2 while the 4 A rows (16 KB)
 * stay in L1; later chunks accumulate into C (beta = 1). */
#define SAM__DOT_KC 1024
/* When the dot path wins (measured on AVX2 against the packed path): one to
 * four rows of A always; a narrow B (N <= 48, padding a 16-wide panel by up
 * to 3x) once K is long enough (>= 128) to amortise the horizontal sums. */
#ifndef SAM__DOT_PATH
#define SAM__DOT_PATH(M, N, K) ((M) <= 4 || ((N) <= 48 && (K) >= 128))
#endif

static void sam__gemm_dot_path(const sam_ctx *ctx, size_t M, size_t N, size_t K, float alpha, const float *A,
                               size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    sam__gemm_dot_fn f = sam__gemm_dot_impl[ctx->isa];
    size_t pc, i, j;
    for (pc = 0; pc < K; pc += SAM__DOT_KC) {
        size_t kb = sam__min_sz(SAM__DOT_KC, K - pc);
        float beta_p = pc == 0 ? beta : 1.0f;
        if (M == 1) {
            for (j = 0; j < N; j += SAM__DOT1_NR)
                sam__gemm_dot1_impl[ctx->isa](kb, alpha, A + pc, B + j * ldb + pc, ldb, beta_p, C + j,
                                              sam__min_sz(SAM__DOT1_NR, N - j));
            continue;
        }
        for (i = 0; i < M; i += SAM__DOT_MR)
            for (j = 0; j < N; j += SAM__DOT_NR)
                f(kb, alpha, A + i * lda + pc, lda, B + j * ldb + pc, ldb, beta_p, C + i * ldc + j, ldc,
                  sam__min_sz(SAM__DOT_MR, M - i), sam__min_sz(SAM__DOT_NR, N - j));
    }
}

/* ---- AVX2 narrow-B kernel: C = A Bᵀ with many rows of A, 32 < N <= 40 ------ *
 * The CNN forward at rows = 400, 2m = 40 filters, d = 2000 (Z = X Wᵀ): the dot
 * kernels re-read every A row once per 3 filters and end each dot product with
 * a horizontal sum; the packed path pads 40 columns to 48 and packs all of A.
 * Here B (40×kc, tiny) is packed once per kc block into [k][40] (zero columns
 * past N; 8×8 transposes), A is read in place, two rows at a time: per k 5
 * loads of the packed B row + 2 broadcasts of A[i][k], A[i+1][k] for 10
 * FMAs; 10 accumulators + 5 B + 1 broadcast = 16 ymm. Each C element is a
 * k-ascending FMA chain within a kc block, blocks accumulate in order (beta =
 * 1 after the first). NEON takes the dot path for these shapes.
 * Measured (NT 400×40×2000, OpenBLAS Haswell 68 GF/s): 70 GF/s with a scalar
 * B pack, masked C stores and B folded into the FMAs as memory operands (12
 * loads per k); 76 with the transposing pack, plain stores of whole rows and
 * B kept in registers. The k loop then runs at ~85 % of the FMA peak: 10
 * chains are just the 5-cycle latency × 2 ports, and 20 µops per k fill the
 * 4-wide front end (unrolling by two measured slower, 65). */
#define SAM__GEMM_NB_AVX2 40
#define SAM__GEMM_NB_KC 128 /* 128·40·4 B = 20 KB of packed B: L1 (256 measured no faster) */
/* When (measured on AVX2, NT 400×40×2000): N in (32, 40], many rows, K long. */
#define SAM__GEMM_NB_PATH(M, N, K) ((N) > 32 && (N) <= SAM__GEMM_NB_AVX2 && (M) >= 64 && (K) >= 128)

#if SAM__HAS_AVX2
/* Keep a loaded vector in a register. Without it gcc folds a load into every
 * instruction that uses the value (memory operands): in the narrow-B kernel
 * each B vector into both FMAs, 12 loads per k for 2 load ports, which
 * capped it at 5/6 of the FMA rate; in the transposing packer each row into
 * two shuffles. */
#if defined(__GNUC__) || defined(__clang__)
#define SAM__IN_REG(v) __asm__("" : "+x"(v))
#else
#define SAM__IN_REG(v) (void)0
#endif

/* In: r0..r7 rows of 8. Out: o_k = (r0[k], r1[k], ..., r7[k]), k = 0..7. */
#define SAM__TRANSPOSE8_AVX2(r0, r1, r2, r3, r4, r5, r6, r7)                                            \
    do {                                                                                                \
        __m256 t0_ = _mm256_unpacklo_ps(r0, r1), t1_ = _mm256_unpackhi_ps(r0, r1);                      \
        __m256 t2_ = _mm256_unpacklo_ps(r2, r3), t3_ = _mm256_unpackhi_ps(r2, r3);                      \
        __m256 t4_ = _mm256_unpacklo_ps(r4, r5), t5_ = _mm256_unpackhi_ps(r4, r5);                      \
        __m256 t6_ = _mm256_unpacklo_ps(r6, r7), t7_ = _mm256_unpackhi_ps(r6, r7);                      \
        __m256 s0_ = _mm256_shuffle_ps(t0_, t2_, 0x44), s1_ = _mm256_shuffle_ps(t0_, t2_, 0xEE);        \
        __m256 s2_ = _mm256_shuffle_ps(t1_, t3_, 0x44), s3_ = _mm256_shuffle_ps(t1_, t3_, 0xEE);        \
        __m256 s4_ = _mm256_shuffle_ps(t4_, t6_, 0x44), s5_ = _mm256_shuffle_ps(t4_, t6_, 0xEE);        \
        __m256 s6_ = _mm256_shuffle_ps(t5_, t7_, 0x44), s7_ = _mm256_shuffle_ps(t5_, t7_, 0xEE);        \
        r0 = _mm256_permute2f128_ps(s0_, s4_, 0x20); r1 = _mm256_permute2f128_ps(s1_, s5_, 0x20);       \
        r2 = _mm256_permute2f128_ps(s2_, s6_, 0x20); r3 = _mm256_permute2f128_ps(s3_, s7_, 0x20);       \
        r4 = _mm256_permute2f128_ps(s0_, s4_, 0x31); r5 = _mm256_permute2f128_ps(s1_, s5_, 0x31);       \
        r6 = _mm256_permute2f128_ps(s2_, s6_, 0x31); r7 = _mm256_permute2f128_ps(s3_, s7_, 0x31);       \
    } while (0)

/* Bp ← op(B)[0:kb, 0:nb] for B stored transposed (row j = b + j·ldb holds
 * op(B)[·][j]; rows 0 .. nrows-1 exist, nrows >= nb), as ceil(nb/nr) panels
 * [k][nr] (nr a multiple of 8), columns past nb zero: 8 rows × 8 k per
 * register transpose. At the k tail a row's 8-float load runs on into the gap
 * and the next row (valid memory: row j + 1 exists, ldb >= 8); those lanes
 * land in transposed outputs past kb, which are not stored. A group holding
 * the last row, or rows past nb, loads under a lane mask or as zeros. */
SAM__AVX2 static void sam__gemm_pack_bt_f32_avx2(size_t nr, size_t kb, size_t nb, size_t nrows, const float *b,
                                                size_t ldb, float *bp) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    size_t jr, g, k0, r, t;
    for (jr = 0; jr < nb; jr += nr, bp += nr * kb)
        for (g = 0; g < nr; g += 8) {
            const float *q = b + (jr + g) * ldb;
            float *o = bp + g;
            if (jr + g + 8 <= nb && jr + g + 8 < nrows && ldb >= 8) { /* rows jr+g .. +7 have a next row */
                __m256 x0, x1, x2, x3, x4, x5, x6, x7;
#define SAM__PACKT_LOAD8()                                                                              \
    x0 = _mm256_loadu_ps(q); x1 = _mm256_loadu_ps(q + ldb); x2 = _mm256_loadu_ps(q + 2 * ldb);          \
    x3 = _mm256_loadu_ps(q + 3 * ldb); x4 = _mm256_loadu_ps(q + 4 * ldb);                              \
    x5 = _mm256_loadu_ps(q + 5 * ldb); x6 = _mm256_loadu_ps(q + 6 * ldb);                              \
    x7 = _mm256_loadu_ps(q + 7 * ldb);                                                                  \
    SAM__IN_REG(x0); SAM__IN_REG(x1); SAM__IN_REG(x2); SAM__IN_REG(x3); /* one load per row */           \
    SAM__IN_REG(x4); SAM__IN_REG(x5); SAM__IN_REG(x6); SAM__IN_REG(x7);                                 \
    SAM__TRANSPOSE8_AVX2(x0, x1, x2, x3, x4, x5, x6, x7)
                for (k0 = 0; k0 + 8 <= kb; k0 += 8, q += 8, o += 8 * nr) {
                    SAM__PACKT_LOAD8();
                    _mm256_storeu_ps(o, x0); _mm256_storeu_ps(o + nr, x1);
                    _mm256_storeu_ps(o + 2 * nr, x2); _mm256_storeu_ps(o + 3 * nr, x3);
                    _mm256_storeu_ps(o + 4 * nr, x4); _mm256_storeu_ps(o + 5 * nr, x5);
                    _mm256_storeu_ps(o + 6 * nr, x6); _mm256_storeu_ps(o + 7 * nr, x7);
                }
                if (k0 < kb) { /* the k tail: outputs past kb are dropped */
                    SAM__PACKT_LOAD8();
                    _mm256_storeu_ps(o, x0);
                    if (k0 + 1 < kb) _mm256_storeu_ps(o + nr, x1);
                    if (k0 + 2 < kb) _mm256_storeu_ps(o + 2 * nr, x2);
                    if (k0 + 3 < kb) _mm256_storeu_ps(o + 3 * nr, x3);
                    if (k0 + 4 < kb) _mm256_storeu_ps(o + 4 * nr, x4);
                    if (k0 + 5 < kb) _mm256_storeu_ps(o + 5 * nr, x5);
                    if (k0 + 6 < kb) _mm256_storeu_ps(o + 6 * nr, x6);
                }
#undef SAM__PACKT_LOAD8
            } else {
                for (k0 = 0; k0 < kb; k0 += 8) {
                    const size_t kw = sam__min_sz(8, kb - k0);
                    const __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)kw), lane);
                    __m256 x[8];
                    for (r = 0; r < 8; r++)
                        x[r] = jr + g + r < nb ? _mm256_maskload_ps(q + r * ldb + k0, mk) : _mm256_setzero_ps();
                    SAM__TRANSPOSE8_AVX2(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]);
                    for (t = 0; t < kw; t++) _mm256_storeu_ps(o + (k0 + t) * nr, x[t]);
                }
            }
        }
}
#endif


#if SAM__HAS_AVX2
/* c[i][0:n] = alpha Σ_k a_i[k] bp[k][0:n] + beta c[i][0:n] for i < m <= 2
 * (m == 1 reads row 0 twice and drops the copy). beta == 0: C not read. */
SAM__AVX2 static void sam__gemm_nb_f32_avx2(size_t kc, float alpha, const float *a, size_t lda, const float *bp,
                                            float beta, float *c, size_t ldc, size_t m, size_t n) {
    const float *a0 = a, *bp_end = bp + kc * SAM__GEMM_NB_AVX2;
    const size_t a1_off = m > 1 ? lda : 0; /* row 1 = a0[a1_off] */
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s03 = s00, s04 = s00;
    __m256 s10 = s00, s11 = s00, s12 = s00, s13 = s00, s14 = s00;
    __m256 b0, b1, b2, b3, b4, x, acc[10], va, vb;
    __m256i msk[5];
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    size_t i, v;
    /* Two pointer steps and one compare per k: a separate counter (and a
     * pointer per row of A) added integer µops that compete with the FMAs
     * for issue slots. Measured: 81 -> 85 GF/s with everything in L1, NT
     * 400×40×2000 77 -> 79. */
    for (; bp < bp_end; bp += SAM__GEMM_NB_AVX2, a0++) {
        b0 = _mm256_loadu_ps(bp); b1 = _mm256_loadu_ps(bp + 8); b2 = _mm256_loadu_ps(bp + 16); /* fixed */
        b3 = _mm256_loadu_ps(bp + 24); b4 = _mm256_loadu_ps(bp + 32); /* workspaces may be unaligned */
        SAM__IN_REG(b0); SAM__IN_REG(b1); SAM__IN_REG(b2); SAM__IN_REG(b3); SAM__IN_REG(b4);
        x = _mm256_broadcast_ss(a0);
        s00 = _mm256_fmadd_ps(x, b0, s00); s01 = _mm256_fmadd_ps(x, b1, s01); s02 = _mm256_fmadd_ps(x, b2, s02);
        s03 = _mm256_fmadd_ps(x, b3, s03); s04 = _mm256_fmadd_ps(x, b4, s04);
        x = _mm256_broadcast_ss(a0 + a1_off);
        s10 = _mm256_fmadd_ps(x, b0, s10); s11 = _mm256_fmadd_ps(x, b1, s11); s12 = _mm256_fmadd_ps(x, b2, s12);
        s13 = _mm256_fmadd_ps(x, b3, s13); s14 = _mm256_fmadd_ps(x, b4, s14);
    }
    va = _mm256_set1_ps(alpha);
    vb = _mm256_set1_ps(beta);
    /* Whole rows (n = 40): plain loads and stores (masked ones cost 2-4
     * µops), straight from the named registers. Copying them into acc[]
     * first, as the ragged case below does, cost 10 stores and 10 reloads
     * per call: NT 400×40×2000 79.5 -> 82 GF/s without it. */
    if (n == SAM__GEMM_NB_AVX2) {
#define SAM__NB_ST(q_, x_)                                                                        \
        if (beta == 0.0f) _mm256_storeu_ps(q_, _mm256_mul_ps(va, x_));                            \
        else _mm256_storeu_ps(q_, _mm256_fmadd_ps(va, x_, _mm256_mul_ps(vb, _mm256_loadu_ps(q_))));
        SAM__NB_ST(c, s00) SAM__NB_ST(c + 8, s01) SAM__NB_ST(c + 16, s02) SAM__NB_ST(c + 24, s03)
        SAM__NB_ST(c + 32, s04)
        if (m > 1) {
            SAM__NB_ST(c + ldc, s10) SAM__NB_ST(c + ldc + 8, s11) SAM__NB_ST(c + ldc + 16, s12)
            SAM__NB_ST(c + ldc + 24, s13) SAM__NB_ST(c + ldc + 32, s14)
        }
#undef SAM__NB_ST
        return;
    }
    acc[0] = s00; acc[1] = s01; acc[2] = s02; acc[3] = s03; acc[4] = s04;
    acc[5] = s10; acc[6] = s11; acc[7] = s12; acc[8] = s13; acc[9] = s14;
    for (v = 0; v < 5; v++) msk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - 8 * (int)v), lane);
    for (i = 0; i < m; i++)
        for (v = 0; v < 5; v++) {
            float *q = c + i * ldc + 8 * v;
            __m256 y = _mm256_mul_ps(va, acc[5 * i + v]);
            if (beta != 0.0f) y = _mm256_fmadd_ps(va, acc[5 * i + v], _mm256_mul_ps(vb, _mm256_maskload_ps(q, msk[v])));
            _mm256_maskstore_ps(q, msk[v], y);
        }
}

/* The driver: B (N×K, stored transposed) packed per kc block into ws. */
SAM__AVX2 static void sam__gemm_nb_path_avx2(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                                             const float *B, size_t ldb, float beta, float *C, size_t ldc, float *bp) {
    size_t pc, i;
    for (pc = 0; pc < K; pc += SAM__GEMM_NB_KC) {
        size_t kb = sam__min_sz(SAM__GEMM_NB_KC, K - pc);
        float beta_p = pc == 0 ? beta : 1.0f;
        sam__gemm_pack_bt_f32_avx2(SAM__GEMM_NB_AVX2, kb, N, N, B + pc, ldb, bp);
        for (i = 0; i < M; i += 2) {
            /* A's rows are lda apart, each kb-chunk in its own page: fetch
             * the next pair's chunks into L1 while this pair computes (NT
             * 400×40×2000: 76 -> 77.5 GF/s; into L2, or four rows ahead, no
             * gain). Inline: gcc deletes calls to a prefetch-only helper. */
            if (i + 4 <= M) {
                size_t k;
                for (k = 0; k < kb; k += 16) {
                    _mm_prefetch((const char *)(A + (i + 2) * lda + pc + k), _MM_HINT_T0);
                    _mm_prefetch((const char *)(A + (i + 3) * lda + pc + k), _MM_HINT_T0);
                }
            }
            sam__gemm_nb_f32_avx2(kb, alpha, A + i * lda + pc, lda, bp, beta_p, C + i * ldc, ldc,
                                  sam__min_sz(2, M - i), N);
        }
    }
}
#endif

/* ---- row kernels: one row of C, c = alpha a op(B) + beta c, B untransposed -- *
 * M = 1 (a batch of one) would fill one row of every MR-row tile; this path
 * streams B's rows instead: c[j] = alpha Σ_k a[k·inca] B[k][j] + beta c[j]. */
typedef void (*sam__gemm_row_fn)(size_t N, size_t K, float alpha, const float *a, size_t inca, const float *B,
                                 size_t ldb, float beta, float *c);

static void sam__gemm_row_f32_scalar(size_t N, size_t K, float alpha, const float *a, size_t inca, const float *B,
                                     size_t ldb, float beta, float *c) {
    size_t j, k;
    for (j = 0; j < N; j++) {
        float s = 0.0f; /* k ascending */
        for (k = 0; k < K; k++) s += a[k * inca] * B[k * ldb + j];
        c[j] = beta == 0.0f ? alpha * s : alpha * s + beta * c[j];
    }
}

#if SAM__HAS_AVX2
/* 32 columns at a time; even and odd k go to separate accumulators (8 ymm
 * chains hide the FMA latency), added at the end: lane j sums
 * (Σ_even) + (Σ_odd). The last < 32 columns use lane masks. */
SAM__AVX2 static void sam__gemm_row_f32_avx2(size_t N, size_t K, float alpha, const float *a, size_t inca,
                                             const float *B, size_t ldb, float beta, float *c) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    size_t j, k, v;
    for (j = 0; j < N; j += 32) {
        __m256i msk[4];
        __m256 s[8], r;
        int full = j + 32 <= N;
        for (v = 0; v < 4; v++) {
            msk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(full ? 8 : (int)(N - j) - 8 * (int)v), lane);
            s[v] = s[v + 4] = _mm256_setzero_ps();
        }
        if (full) {
            for (k = 0; k + 2 <= K; k += 2) {
                const float *b0 = B + k * ldb + j, *b1 = b0 + ldb;
                __m256 x0 = _mm256_broadcast_ss(a + k * inca), x1 = _mm256_broadcast_ss(a + (k + 1) * inca);
                for (v = 0; v < 4; v++) {
                    s[v] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b0 + 8 * v), s[v]);
                    s[v + 4] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(b1 + 8 * v), s[v + 4]);
                }
            }
            if (k < K)
                for (v = 0; v < 4; v++)
                    s[v] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k * inca), _mm256_loadu_ps(B + k * ldb + j + 8 * v),
                                           s[v]);
        } else {
            for (k = 0; k + 2 <= K; k += 2) {
                const float *b0 = B + k * ldb + j, *b1 = b0 + ldb;
                __m256 x0 = _mm256_broadcast_ss(a + k * inca), x1 = _mm256_broadcast_ss(a + (k + 1) * inca);
                for (v = 0; v < 4; v++) {
                    s[v] = _mm256_fmadd_ps(x0, _mm256_maskload_ps(b0 + 8 * v, msk[v]), s[v]);
                    s[v + 4] = _mm256_fmadd_ps(x1, _mm256_maskload_ps(b1 + 8 * v, msk[v]), s[v + 4]);
                }
            }
            if (k < K)
                for (v = 0; v < 4; v++)
                    s[v] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k * inca),
                                           _mm256_maskload_ps(B + k * ldb + j + 8 * v, msk[v]), s[v]);
        }
        for (v = 0; v < 4; v++) {
            r = _mm256_mul_ps(va, _mm256_add_ps(s[v], s[v + 4]));
            if (beta != 0.0f)
                r = _mm256_fmadd_ps(va, _mm256_add_ps(s[v], s[v + 4]),
                                    _mm256_mul_ps(vb, _mm256_maskload_ps(c + j + 8 * v, msk[v])));
            _mm256_maskstore_ps(c + j + 8 * v, msk[v], r);
        }
    }
}
#endif

#if SAM__HAS_NEON
/* 16 columns at a time, even/odd k in separate accumulators (8 chains);
 * the last < 16 columns go through a zero-padded copy of each B row chunk. */
static void sam__gemm_row_f32_neon(size_t N, size_t K, float alpha, const float *a, size_t inca, const float *B,
                                   size_t ldb, float beta, float *c) {
    size_t j, k, v;
    for (j = 0; j < N; j += 16) {
        size_t n = sam__min_sz(16, N - j);
        float32x4_t s[8];
        float t[16], out[16];
        for (v = 0; v < 8; v++) s[v] = vdupq_n_f32(0.0f);
        for (k = 0; k < K; k++) {
            const float *b = B + k * ldb + j;
            float32x4_t x = vdupq_n_f32(a[k * inca]);
            size_t h = (k & 1) * 4; /* even k: s[0..3], odd k: s[4..7] */
            if (n < 16) {
                for (v = 0; v < 16; v++) t[v] = v < n ? b[v] : 0.0f;
                b = t;
            }
            for (v = 0; v < 4; v++) s[h + v] = vfmaq_f32(s[h + v], x, vld1q_f32(b + 4 * v));
        }
        for (v = 0; v < 4; v++) vst1q_f32(out + 4 * v, vaddq_f32(s[v], s[v + 4]));
        for (v = 0; v < n; v++) c[j + v] = beta == 0.0f ? alpha * out[v] : fmaf(alpha, out[v], beta * c[j + v]);
    }
}
#endif

static const sam__gemm_row_fn sam__gemm_row_impl[SAM_ISA_COUNT] = {
    sam__gemm_row_f32_scalar, SAM__IF_AVX2(sam__gemm_row_f32_avx2), SAM__IF_NEON(sam__gemm_row_f32_neon)};

#if SAM__HAS_AVX2
/* ---- AVX2, K = 1: C = alpha a bᵀ + beta C, a rank-1 update ----------------- *
 * The packed path runs K = 1 as one-k tiles: the MLP weight gradient at
 * batch 1 (TN 500×30×1) took 2.84 µs in 168 calls. Here each row of C is a
 * broadcast of a_i times b, read in place when contiguous (b gathered 64
 * at a time into a buffer otherwise). A ragged end of 8+ columns is one
 * more full vector ending at the last column, overlapping the one before:
 * its old C is read before the row's first store, and both write the same
 * values there (masked stores ran TN 500×30×1 at 8.7 GF/s, the packed path
 * at 10.5). Per element the packed tile's arithmetic: p = fma(a_i, b_j, +0),
 * then alpha p (beta = 0: C not read) or fma(alpha, p, beta c), so the
 * results are bit-identical to it. */
SAM__AVX2 static inline void sam__gemm_rank1_row_avx2(size_t n, __m256 x, const float *b, float beta, __m256 va,
                                                      __m256 vb, float *c) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 zero = _mm256_setzero_ps();
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(n >= 8 ? 8 : (int)n), lane);
    const size_t t0 = n >= 8 ? n - 8 : 0;
    const int ragged = n % 8 != 0;
    __m256 rt = zero, p;
    size_t j;
    if (ragged) { /* before any store of this row; lane masks only below 8 columns */
        p = _mm256_fmadd_ps(x, n >= 8 ? _mm256_loadu_ps(b + t0) : _mm256_maskload_ps(b, tail), zero);
        rt = beta == 0.0f ? _mm256_mul_ps(va, p)
                          : _mm256_fmadd_ps(va, p, _mm256_mul_ps(vb, n >= 8 ? _mm256_loadu_ps(c + t0)
                                                                             : _mm256_maskload_ps(c, tail)));
    }
    if (beta == 0.0f)
        for (j = 0; j + 8 <= n; j += 8)
            _mm256_storeu_ps(c + j, _mm256_mul_ps(va, _mm256_fmadd_ps(x, _mm256_loadu_ps(b + j), zero)));
    else
        for (j = 0; j + 8 <= n; j += 8)
            _mm256_storeu_ps(c + j, _mm256_fmadd_ps(va, _mm256_fmadd_ps(x, _mm256_loadu_ps(b + j), zero),
                                                    _mm256_mul_ps(vb, _mm256_loadu_ps(c + j))));
    if (ragged) {
        if (n >= 8) _mm256_storeu_ps(c + t0, rt);
        else _mm256_maskstore_ps(c, tail, rt);
    }
}

SAM__AVX2 static void sam__gemm_rank1_f32_avx2(size_t M, size_t N, float alpha, const float *a, size_t inca,
                                               const float *b, size_t incb, float beta, float *C, size_t ldc) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    float bt[64];
    size_t i, j, v;
    if (incb == 1) {
        for (i = 0; i < M; i++)
            sam__gemm_rank1_row_avx2(N, _mm256_broadcast_ss(a + i * inca), b, beta, va, vb, C + i * ldc);
        return;
    }
    for (j = 0; j < N; j += 64) {
        size_t n = sam__min_sz(64, N - j);
        for (v = 0; v < n; v++) bt[v] = b[(j + v) * incb];
        for (i = 0; i < M; i++)
            sam__gemm_rank1_row_avx2(n, _mm256_broadcast_ss(a + i * inca), bt, beta, va, vb, C + i * ldc + j);
    }
}
#endif

/* ---- packing ------------------------------------------------------------- */

/* Ap ← op(A)[0:mb, 0:kb] as ceil(mb/mr) micro-panels of mr×kb, panel layout
 * [k][i], rows past mb zero. a points at op(A)[0][0]; element (i, k) is at
 * a[i·lda + k] (NoTrans) or a[k·lda + i] (Trans). Written for a constant mr
 * (see sam__gemm_pack_a) so the compiler unrolls the i loops. */
static SAM__INLINE void sam__gemm_pack_a_mr(const size_t mr, sam_transpose ta, size_t mb, size_t kb, const float *a,
                                            size_t lda, float *ap) {
    size_t ir, i, k;
    for (ir = 0; ir < mb; ir += mr, ap += mr * kb) {
        size_t m = sam__min_sz(mr, mb - ir);
        if (m == mr && ta == SAM_NO_TRANS) {
            const float *r = a + ir * lda;
            for (k = 0; k < kb; k++, r++)
                for (i = 0; i < mr; i++) ap[k * mr + i] = r[i * lda];
        } else if (m == mr) {
            const float *r = a + ir;
            for (k = 0; k < kb; k++, r += lda) memcpy(ap + k * mr, r, mr * sizeof(float));
        } else {
            for (k = 0; k < kb; k++)
                for (i = 0; i < mr; i++)
                    ap[k * mr + i] = i >= m ? 0.0f : ta == SAM_NO_TRANS ? a[(ir + i) * lda + k] : a[k * lda + ir + i];
        }
    }
}

/* Bp ← op(B)[0:kb, 0:nb] as ceil(nb/nr) micro-panels of kb×nr, layout [k][j],
 * columns past nb zero. Element (k, j) of op(B) is b[k·ldb + j] (NoTrans) or
 * b[j·ldb + k] (Trans). */
static SAM__INLINE void sam__gemm_pack_b_nr(const size_t nr, sam_transpose tb, size_t kb, size_t nb, const float *b,
                                            size_t ldb, float *bp) {
    size_t jr, j, k;
    for (jr = 0; jr < nb; jr += nr, bp += nr * kb) {
        size_t n = sam__min_sz(nr, nb - jr);
        if (n == nr && tb == SAM_NO_TRANS) {
            const float *r = b + jr;
            for (k = 0; k < kb; k++, r += ldb) memcpy(bp + k * nr, r, nr * sizeof(float)); /* inlined moves */
        } else if (n == nr) {
            const float *r = b + jr * ldb;
            for (k = 0; k < kb; k++, r++)
                for (j = 0; j < nr; j++) bp[k * nr + j] = r[j * ldb];
        } else {
            for (k = 0; k < kb; k++)
                for (j = 0; j < nr; j++)
                    bp[k * nr + j] = j >= n ? 0.0f : tb == SAM_NO_TRANS ? b[k * ldb + jr + j] : b[(jr + j) * ldb + k];
        }
    }
}

/* Per-ISA packers: the generic loops with the ISA's constant MR / NR; AVX2
 * adds 8×8 register transposes for the two gathering cases (A untransposed,
 * B transposed), which otherwise move one float per load. */
typedef void (*sam__gemm_pack_fn)(sam_transpose t, size_t mb_or_kb, size_t kb_or_nb, const float *x, size_t ld,
                                  float *out);

static void sam__gemm_pack_a_f32_scalar(sam_transpose ta, size_t mb, size_t kb, const float *a, size_t lda,
                                        float *ap) {
    sam__gemm_pack_a_mr(SAM__GEMM_MR_SCALAR, ta, mb, kb, a, lda, ap);
}
static void sam__gemm_pack_b_f32_scalar(sam_transpose tb, size_t kb, size_t nb, const float *b, size_t ldb,
                                        float *bp) {
    sam__gemm_pack_b_nr(SAM__GEMM_NR_SCALAR, tb, kb, nb, b, ldb, bp);
}

#if SAM__HAS_AVX2
/* A untransposed, 6-row panels: 8 k at a time, rows 6 and 7 of the transpose
 * are zero and masked off at the store (6 lanes), so nothing is written past
 * the 6·kb floats of the panel. */
SAM__AVX2 static void sam__gemm_pack_a_f32_avx2(sam_transpose ta, size_t mb, size_t kb, const float *a, size_t lda,
                                                float *ap) {
    size_t ir = 0, k;
    if (ta == SAM_NO_TRANS) {
        const __m256i m6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
        for (; ir + 6 <= mb; ir += 6, ap += 6 * kb) {
            const float *r = a + ir * lda;
            for (k = 0; k + 8 <= kb; k += 8) {
                __m256 x0 = _mm256_loadu_ps(r + k), x1 = _mm256_loadu_ps(r + lda + k);
                __m256 x2 = _mm256_loadu_ps(r + 2 * lda + k), x3 = _mm256_loadu_ps(r + 3 * lda + k);
                __m256 x4 = _mm256_loadu_ps(r + 4 * lda + k), x5 = _mm256_loadu_ps(r + 5 * lda + k);
                __m256 x6 = _mm256_setzero_ps(), x7 = x6;
                float *o = ap + k * 6;
                SAM__TRANSPOSE8_AVX2(x0, x1, x2, x3, x4, x5, x6, x7);
                _mm256_maskstore_ps(o, m6, x0); _mm256_maskstore_ps(o + 6, m6, x1);
                _mm256_maskstore_ps(o + 12, m6, x2); _mm256_maskstore_ps(o + 18, m6, x3);
                _mm256_maskstore_ps(o + 24, m6, x4); _mm256_maskstore_ps(o + 30, m6, x5);
                _mm256_maskstore_ps(o + 36, m6, x6); _mm256_maskstore_ps(o + 42, m6, x7);
            }
            for (; k < kb; k++) {
                size_t i;
                for (i = 0; i < 6; i++) ap[k * 6 + i] = r[i * lda + k];
            }
        }
        a += ir * lda;
    } else {
        a += ir;
    }
    if (ir < mb) sam__gemm_pack_a_mr(SAM__GEMM_MR_AVX2, ta, mb - ir, kb, a, lda, ap);
}

/* B transposed (stored N×K), 16-column panels: two 8×8 transposes per 8 k. */
SAM__AVX2 static void sam__gemm_pack_b_f32_avx2(sam_transpose tb, size_t kb, size_t nb, const float *b, size_t ldb,
                                                float *bp) {
    size_t jr = 0, k, h;
    if (tb == SAM_TRANS) {
        for (; jr + 16 <= nb; jr += 16, bp += 16 * kb) {
            for (k = 0; k + 8 <= kb; k += 8)
                for (h = 0; h < 2; h++) {
                    const float *r = b + (jr + 8 * h) * ldb + k;
                    __m256 x0 = _mm256_loadu_ps(r), x1 = _mm256_loadu_ps(r + ldb), x2 = _mm256_loadu_ps(r + 2 * ldb);
                    __m256 x3 = _mm256_loadu_ps(r + 3 * ldb), x4 = _mm256_loadu_ps(r + 4 * ldb);
                    __m256 x5 = _mm256_loadu_ps(r + 5 * ldb), x6 = _mm256_loadu_ps(r + 6 * ldb);
                    __m256 x7 = _mm256_loadu_ps(r + 7 * ldb);
                    float *o = bp + k * 16 + 8 * h;
                    SAM__TRANSPOSE8_AVX2(x0, x1, x2, x3, x4, x5, x6, x7);
                    _mm256_storeu_ps(o, x0); _mm256_storeu_ps(o + 16, x1);
                    _mm256_storeu_ps(o + 32, x2); _mm256_storeu_ps(o + 48, x3);
                    _mm256_storeu_ps(o + 64, x4); _mm256_storeu_ps(o + 80, x5);
                    _mm256_storeu_ps(o + 96, x6); _mm256_storeu_ps(o + 112, x7);
                }
            for (; k < kb; k++) {
                size_t j;
                for (j = 0; j < 16; j++) bp[k * 16 + j] = b[(jr + j) * ldb + k];
            }
        }
        b += jr * ldb;
    } else {
        b += jr;
    }
    if (jr < nb) sam__gemm_pack_b_nr(SAM__GEMM_NR_AVX2, tb, kb, nb - jr, b, ldb, bp);
}
#endif

#if SAM__HAS_NEON
static void sam__gemm_pack_a_f32_neon(sam_transpose ta, size_t mb, size_t kb, const float *a, size_t lda, float *ap) {
    sam__gemm_pack_a_mr(SAM__GEMM_MR_NEON, ta, mb, kb, a, lda, ap);
}
static void sam__gemm_pack_b_f32_neon(sam_transpose tb, size_t kb, size_t nb, const float *b, size_t ldb, float *bp) {
    sam__gemm_pack_b_nr(SAM__GEMM_NR_NEON, tb, kb, nb, b, ldb, bp);
}
#endif

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__gemm_pack_a4_f32_avx2(sam_transpose ta, size_t mb, size_t kb, const float *a, size_t lda,
                                                 float *ap) {
    sam__gemm_pack_a_mr(SAM__GEMM_MR_AVX2S, ta, mb, kb, a, lda, ap);
}
SAM__AVX2 static void sam__gemm_pack_a5_f32_avx2(sam_transpose ta, size_t mb, size_t kb, const float *a, size_t lda,
                                                 float *ap) {
    sam__gemm_pack_a_mr(SAM__GEMM_MR_AVX2F, ta, mb, kb, a, lda, ap);
}
SAM__AVX2 static void sam__gemm_pack_b24_f32_avx2(sam_transpose tb, size_t kb, size_t nb, const float *b, size_t ldb,
                                                  float *bp) {
    sam__gemm_pack_b_nr(SAM__GEMM_NR_AVX2S, tb, kb, nb, b, ldb, bp);
}
#endif

/* Blocking per ISA. KC: one kc×NR B micro-panel fills about half of L1
 * (AVX2: 256·16·4 B = 16 KB of Haswell's 32 KB), the other half holds the
 * streaming A micro-panel and C tile. MC: the packed mc×kc A block fits in L2
 * (168·256·4 B = 168 KB of 256 KB). NC: the kc×nc B block fits in a share of
 * L3 (256·4080·4 B = 4 MB). MC is a multiple of MR and NC of NR. */
typedef struct sam__gemm_cfg {
    size_t mr, nr, mc, kc, nc;
    sam__gemm_ukr_fn ukr;
    sam__gemm_pack_fn pack_a, pack_b;
} sam__gemm_cfg;

static const sam__gemm_cfg sam__gemm_cfgs[SAM_ISA_COUNT] = {
    {SAM__GEMM_MR_SCALAR, SAM__GEMM_NR_SCALAR, 128, 256, 4096, sam__gemm_ukr_f32_scalar, sam__gemm_pack_a_f32_scalar,
     sam__gemm_pack_b_f32_scalar},
    {SAM__GEMM_MR_AVX2, SAM__GEMM_NR_AVX2, 168, 256, 4080, SAM__IF_AVX2(sam__gemm_ukr_f32_avx2),
     SAM__IF_AVX2(sam__gemm_pack_a_f32_avx2), SAM__IF_AVX2(sam__gemm_pack_b_f32_avx2)},
    /* NEON cores (A72..A76, Apple): 32–64 KB L1d, ≥ 512 KB L2 per core. */
    {SAM__GEMM_MR_NEON, SAM__GEMM_NR_NEON, 128, 256, 3072, SAM__IF_NEON(sam__gemm_ukr_f32_neon),
     SAM__IF_NEON(sam__gemm_pack_a_f32_neon), SAM__IF_NEON(sam__gemm_pack_b_f32_neon)}};

/* AVX2, few rows of A and an untransposed B (read in place, see direct_b in
 * sam__sgemm): the 4×24 tile. Same blocks as the 6×16 configuration (168 and
 * 4080 are multiples of 4 and 24). */
static const sam__gemm_cfg sam__gemm_cfg_avx2s = {
    SAM__GEMM_MR_AVX2S, SAM__GEMM_NR_AVX2S, 168, 256, 4080, SAM__IF_AVX2(sam__gemm_ukr4x24_f32_avx2),
    SAM__IF_AVX2(sam__gemm_pack_a4_f32_avx2), SAM__IF_AVX2(sam__gemm_pack_b24_f32_avx2)};
/* AVX2, 25..40 rows of A where 5-row tiles pad less than 6-row ones, and B
 * read in place beyond L2 (SAM__GEMM_PF_B): the 5×16 tile (M = 40: 40 rows
 * instead of 42), the setting it was measured in (CNN weight gradient,
 * 40×2000×400). With small operands its 5-row A packing (no 8×8 transposes)
 * costs more than the padding saves: NN 32³ ran at 36 GF/s against 51 on
 * the 6×16 tile. */
static const sam__gemm_cfg sam__gemm_cfg_avx2f = {
    SAM__GEMM_MR_AVX2F, SAM__GEMM_NR_AVX2, 160, 256, 4080, SAM__IF_AVX2(sam__gemm_ukr5x16_f32_avx2),
    SAM__IF_AVX2(sam__gemm_pack_a5_f32_avx2), SAM__IF_AVX2(sam__gemm_pack_b_f32_avx2)};
#ifndef SAM__GEMM_AVX2F_PATH
#define SAM__GEMM_AVX2F_PATH(M, K, ldb, tb)                                                                   \
    ((tb) == SAM_NO_TRANS && (M) > 24 && (M) <= 40 &&                                                       \
     sam__round_up((M), SAM__GEMM_MR_AVX2F) < sam__round_up((M), SAM__GEMM_MR_AVX2) && SAM__GEMM_PF_B(M, K, ldb))
#endif
/* When: B untransposed (so read in place), M <= 24, and 4-row tiles pad less
 * than 6-row ones (M = 20: 20 rows instead of 24). Measured on AVX2 (TN
 * 20×1000×40, 20×10000×40): +9 % over the 6×16 tile with the prefetch below;
 * at M = 40 (42 rows with 6×16) the 6×16 tile stays faster. */
#define SAM__GEMM_AVX2S_PATH(M, tb)                                                                           \
    ((tb) == SAM_NO_TRANS && (M) <= 24 && sam__round_up((M), SAM__GEMM_MR_AVX2S) < sam__round_up((M), SAM__GEMM_MR_AVX2))

/* ---- AVX2 transposed-C path: Aᵀ B with few columns of C -------------------- *
 * The MLP weight gradient dW = dZᵀ X (M = width 500, N = d 30, K = batch 100)
 * pads 30 columns to two 16-wide panels (the second one through the masked
 * store) and packs all of A. Its transpose Cᵀ = Bᵀ A has N = 30 rows, five
 * 6-row tiles exactly, and A (stored K×M) is already a row-major K×M operand
 * that the micro-kernel reads in place (bk = lda), as direct_b does. So per
 * 16 columns of A (16 rows of C): five 6×16 tiles into a small buffer T
 * (alpha 1, beta 0: T is the k-ascending FMA chain itself), then 8×8
 * register transposes write C = alpha Tᵀ + beta C with the kernel's own
 * store arithmetic. Only Bᵀ (N×K, 12 KB) is packed, once. One kc block
 * (K <= 256) so T needs no accumulation. NEON keeps its general path. */
#define SAM__GEMM_TC_MAXN 48
#define SAM__GEMM_TC_KC 256
/* When: A transposed and B not, N <= 48 with 6-row tiles padding N less
 * than 16-wide panels do, M >= 64, 24 <= K <= 256 (one kc block). Measured
 * on AVX2 against the packed path, TN 500×30×K: K = 100 60 -> 73 GF/s
 * (OpenBLAS Haswell 59), K = 256 63 -> 76, K = 24 57 -> 58; below K = 24
 * the transposes cost more than the FMAs (K = 1: 10.4 -> 6.6). TN 500×12×100
 * 42 -> 68, 64×30×100 44 -> 72. */
#ifndef SAM__GEMM_TC_PATH
#define SAM__GEMM_TC_PATH(ta, tb, M, N, K)                                                                \
    ((ta) == SAM_TRANS && (tb) == SAM_NO_TRANS && (N) <= SAM__GEMM_TC_MAXN && (M) >= 64 && (K) >= 24 &&    \
     (K) <= SAM__GEMM_TC_KC && sam__round_up((N), SAM__GEMM_MR_AVX2) < sam__round_up((N), SAM__GEMM_NR_AVX2))
#endif

/* Floats of its workspace: packed Bᵀ (6-row panels), one zero-padded 16-wide
 * panel of A for the ragged last columns, and T (rows rounded to 8). */
static size_t sam__gemm_tc_ws_floats(size_t N, size_t K) {
    return sam__round_up(sam__round_up(N, SAM__GEMM_MR_AVX2) * K, 16) + sam__round_up(K * SAM__GEMM_NR_AVX2, 16) +
           sam__round_up(sam__round_up(N, SAM__GEMM_MR_AVX2), 8) * SAM__GEMM_NR_AVX2;
}

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__gemm_tc_path_avx2(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                                             const float *B, size_t ldb, float beta, float *C, size_t ldc,
                                             float *ws) {
    const size_t n6 = sam__round_up(N, SAM__GEMM_MR_AVX2), n8 = sam__round_up(n6, 8);
    float *ap = ws, *bp = ap + sam__round_up(n6 * K, 16), *t = bp + sam__round_up(K * SAM__GEMM_NR_AVX2, 16);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    size_t jr, ir, j0, i0, k;
    sam__gemm_pack_a_f32_avx2(SAM_TRANS, N, K, B, ldb, ap); /* op(B)ᵀ: rows past N zero */
    for (k = n6 * SAM__GEMM_NR_AVX2; k < n8 * SAM__GEMM_NR_AVX2; k++) t[k] = 0.0f; /* never stored, read by the transposes */
    for (jr = 0; jr < M; jr += SAM__GEMM_NR_AVX2) {
        size_t m = sam__min_sz(SAM__GEMM_NR_AVX2, M - jr), bk = lda;
        const float *b = A + jr;
        if (m < SAM__GEMM_NR_AVX2) { /* the ragged last panel is packed, zero-padded */
            sam__gemm_pack_b_f32_avx2(SAM_NO_TRANS, K, m, A + jr, lda, bp);
            b = bp;
            bk = SAM__GEMM_NR_AVX2;
        }
        for (ir = 0; ir < n6; ir += SAM__GEMM_MR_AVX2)
            sam__gemm_ukr_f32_avx2(K, 1.0f, ap + ir * K, b, bk, 0.0f, t + ir * SAM__GEMM_NR_AVX2, SAM__GEMM_NR_AVX2,
                                   SAM__GEMM_MR_AVX2, SAM__GEMM_NR_AVX2);
        /* C[jr + i][j] = alpha T[j][i] + beta C[jr + i][j], 8×8 blocks */
        for (j0 = 0; j0 < N; j0 += 8) {
            const __m256i msk = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(N - j0)), lane);
            const int full = j0 + 8 <= N;
            for (i0 = 0; i0 < m; i0 += 8) {
                const float *q = t + j0 * SAM__GEMM_NR_AVX2 + i0;
                __m256 x[8];
                size_t r, nr = sam__min_sz(8, m - i0);
                x[0] = _mm256_loadu_ps(q); x[1] = _mm256_loadu_ps(q + 16); x[2] = _mm256_loadu_ps(q + 32);
                x[3] = _mm256_loadu_ps(q + 48); x[4] = _mm256_loadu_ps(q + 64); x[5] = _mm256_loadu_ps(q + 80);
                x[6] = _mm256_loadu_ps(q + 96); x[7] = _mm256_loadu_ps(q + 112);
                SAM__TRANSPOSE8_AVX2(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]);
                for (r = 0; r < nr; r++) {
                    float *c = C + (jr + i0 + r) * ldc + j0;
                    if (full) {
                        if (beta == 0.0f) _mm256_storeu_ps(c, _mm256_mul_ps(va, x[r]));
                        else _mm256_storeu_ps(c, _mm256_fmadd_ps(va, x[r], _mm256_mul_ps(vb, _mm256_loadu_ps(c))));
                    } else {
                        __m256 y = _mm256_mul_ps(va, x[r]);
                        if (beta != 0.0f) y = _mm256_fmadd_ps(va, x[r], _mm256_mul_ps(vb, _mm256_maskload_ps(c, msk)));
                        _mm256_maskstore_ps(c, msk, y);
                    }
                }
            }
        }
    }
}
#endif

/* ---- AVX2 4×24 path for A Bᵀ with a short k: A in place, Bᵀ packed ---------- *
 * The MLP forward Z = X Wᵀ (M = batch 100, N = width 500, K = d 30) on the
 * packed path loses 12 % to packing (perf) and pads 100 rows to 102 and 500
 * columns to 512. The 4×24 tile pads neither (100 = 25·4, 500 -> 504), A is
 * read in place through four row pointers (its micro-panel layout only
 * serves broadcasts, which take any address), and Bᵀ is packed into 24-wide
 * panels with 8×8 register transposes, masked at the k tail. The kernel is
 * the 4×24 one without its in-place-B prefetches, so the arithmetic is the
 * same (bit-identical to the packed path within one kc block). Panels of B
 * outer, 4-row tiles inner: one 24×kc panel and A stay in L1. NEON keeps its
 * general path. */
#define SAM__GEMM_NT_NC 480 /* columns of Bᵀ packed at a time */
#define SAM__GEMM_NT_KC 256 /* k per block (only reached by K > 64 if the condition widens) */
/* When: A Bᵀ, 4-row tiles pad M no more than 6-row ones, 24-wide panels pad
 * N no more than 16-wide ones, K <= 64. Measured on AVX2 against the packed
 * path (GF/s): NT 100×500×30 68 -> 75, 78 with per-panel packing (OpenBLAS
 * Haswell 65), 100×500×8
 * 53 -> 66, 100×500×64 72 -> 77, 400×48×30 66 -> 82, 100×96×30 64 -> 78; at
 * K = 128 the two are equal (74), so longer k stays on the packed path. */
#ifndef SAM__GEMM_NT_PATH
#define SAM__GEMM_NT_PATH(ta, tb, M, N, K)                                                                      \
    ((ta) == SAM_NO_TRANS && (tb) == SAM_TRANS && (K) <= 64 &&                                                  \
     sam__round_up((M), SAM__GEMM_MR_AVX2S) <= sam__round_up((M), SAM__GEMM_MR_AVX2) &&                        \
     sam__round_up((N), SAM__GEMM_NR_AVX2S) <= sam__round_up((N), SAM__GEMM_NR_AVX2))
#endif

/* Floats of its workspace: one K×nc block of Bᵀ in 24-wide panels. */
static size_t sam__gemm_nt_ws_floats(size_t N, size_t K) {
    return sam__min_sz(K, SAM__GEMM_NT_KC) * sam__round_up(sam__min_sz(N, SAM__GEMM_NT_NC), SAM__GEMM_NR_AVX2S);
}

#if SAM__HAS_AVX2
/* c[0:m, 0:n] = alpha a[0:m] · bp + beta c for m <= 4, n <= 24: rows of A in
 * place (lda apart; rows past m read row 0, dropped), bp[k·24 + j]. */
SAM__AVX2 static void sam__gemm_ukr4x24a_f32_avx2(size_t kc, float alpha, const float *a, size_t lda,
                                                  const float *bp, float beta, float *c, size_t ldc, size_t m,
                                                  size_t n) {
    const float *a0 = a, *a1 = m > 1 ? a + lda : a, *a2 = m > 2 ? a + 2 * lda : a, *a3 = m > 3 ? a + 3 * lda : a;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    __m256 b0, b1, b2, x, va, vb;
    size_t p, i;
    for (i = 0; i < m; i++) { /* C is needed only after the k loop: fetch it meanwhile */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + n - 1), _MM_HINT_T0);
    }
    for (p = 0; p < kc; p++, bp += SAM__GEMM_NR_AVX2S) {
        b0 = _mm256_loadu_ps(bp);
        b1 = _mm256_loadu_ps(bp + 8);
        b2 = _mm256_loadu_ps(bp + 16);
        x = _mm256_broadcast_ss(a0 + p);
        c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01); c02 = _mm256_fmadd_ps(x, b2, c02);
        x = _mm256_broadcast_ss(a1 + p);
        c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11); c12 = _mm256_fmadd_ps(x, b2, c12);
        x = _mm256_broadcast_ss(a2 + p);
        c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21); c22 = _mm256_fmadd_ps(x, b2, c22);
        x = _mm256_broadcast_ss(a3 + p);
        c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31); c32 = _mm256_fmadd_ps(x, b2, c32);
    }
    va = _mm256_set1_ps(alpha);
    vb = _mm256_set1_ps(beta);
    if (m == SAM__GEMM_MR_AVX2S && n == SAM__GEMM_NR_AVX2S) {
#define SAM__UKR4A_AVX2_ST(q_, x_)                                                                \
        if (beta == 0.0f) _mm256_storeu_ps(q_, _mm256_mul_ps(va, x_));                            \
        else _mm256_storeu_ps(q_, _mm256_fmadd_ps(va, x_, _mm256_mul_ps(vb, _mm256_loadu_ps(q_))));
#define SAM__UKR4A_AVX2_ROW(r_) \
        SAM__UKR4A_AVX2_ST(c + (r_) * ldc, c##r_##0) SAM__UKR4A_AVX2_ST(c + (r_) * ldc + 8, c##r_##1) \
        SAM__UKR4A_AVX2_ST(c + (r_) * ldc + 16, c##r_##2)
        SAM__UKR4A_AVX2_ROW(0) SAM__UKR4A_AVX2_ROW(1) SAM__UKR4A_AVX2_ROW(2) SAM__UKR4A_AVX2_ROW(3)
#undef SAM__UKR4A_AVX2_ROW
#undef SAM__UKR4A_AVX2_ST
    } else { /* partial tile: lane masks, the first m rows (as the 4×24 kernel) */
        __m256 acc[12];
        __m256i msk[3];
        size_t v;
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for (v = 0; v < 3; v++) msk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - 8 * (int)v), lane);
        acc[0] = c00; acc[1] = c01; acc[2] = c02; acc[3] = c10; acc[4] = c11; acc[5] = c12;
        acc[6] = c20; acc[7] = c21; acc[8] = c22; acc[9] = c30; acc[10] = c31; acc[11] = c32;
        for (i = 0; i < m; i++)
            for (v = 0; v < 3; v++) {
                float *q = c + i * ldc + 8 * v;
                __m256 y = _mm256_mul_ps(va, acc[3 * i + v]);
                if (beta != 0.0f) y = _mm256_fmadd_ps(va, acc[3 * i + v], _mm256_mul_ps(vb, _mm256_maskload_ps(q, msk[v])));
                _mm256_maskstore_ps(q, msk[v], y);
            }
    }
}

/* The driver: Bᵀ packed SAM__GEMM_NT_NC columns by SAM__GEMM_NT_KC k at a
 * time into bp; later k blocks accumulate (beta = 1). */
SAM__AVX2 static void sam__gemm_nt_path_avx2(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                                             const float *B, size_t ldb, float beta, float *C, size_t ldc,
                                             float *bp) {
    size_t jc, pc, jr, ir;
    for (jc = 0; jc < N; jc += SAM__GEMM_NT_NC) {
        size_t ncb = sam__min_sz(SAM__GEMM_NT_NC, N - jc);
        for (pc = 0; pc < K; pc += SAM__GEMM_NT_KC) {
            size_t kb = sam__min_sz(SAM__GEMM_NT_KC, K - pc);
            float beta_p = pc == 0 ? beta : 1.0f;
            for (jr = 0; jr < ncb; jr += SAM__GEMM_NR_AVX2S) {
                /* each panel packed just before its tiles use it, so it is
                 * still in L1 (NT 100×500×30: 75.5 -> 78 GF/s over packing
                 * the whole block first) */
                size_t n = sam__min_sz(SAM__GEMM_NR_AVX2S, ncb - jr);
                sam__gemm_pack_bt_f32_avx2(SAM__GEMM_NR_AVX2S, kb, n, N - jc - jr, B + (jc + jr) * ldb + pc, ldb,
                                           bp + jr * kb);
                for (ir = 0; ir < M; ir += SAM__GEMM_MR_AVX2S)
                    sam__gemm_ukr4x24a_f32_avx2(kb, alpha, A + ir * lda + pc, lda, bp + jr * kb, beta_p,
                                                C + ir * ldc + jc + jr, ldc, sam__min_sz(SAM__GEMM_MR_AVX2S, M - ir), n);
            }
        }
    }
}
#endif



/* AVX2, B read in place by the 6×16 tile (direct_b below): its kc rows of a
 * panel lie in kc different pages (ldb = 2000 floats in the CNN weight
 * gradient), which neither the L2 streamer (same page only) nor the L1 stride
 * prefetcher (<= 2 KB) follows, so the first tile on each panel waited on L3
 * row by row. Each tile then fetches its share of the next panel's rows into
 * L2 (into L1 they evicted the current panel). When: B beyond L2 (K·ldb >=
 * 1.5 MB) and M >= 24 (4+ tiles share the fetch). Measured (GF/s, AVX2, TN
 * unless NN): 40×2000×400 68 -> 71.5 (OpenBLAS Haswell 68), 40×1000×400
 * 63.5 -> 72, 24×2000×400 65 -> 71, NN 48×2000×400 69 -> 77; slower with B
 * in L2 (40×500×400 72.5 -> 70, NN 48×1000×100 80 -> 78) or M = 12
 * (12×5000×64 74 -> 70). */
#define SAM__GEMM_PF_B(M, K, ldb) ((M) >= 24 && (K) * (ldb) >= ((size_t)3 << 17))

/* The long-kc variant of the 5×16 and 6×16 tiles with B in place (see
 * sam__sgemm): B's rows an odd number of 64-byte lines apart, so that a
 * panel's kc rows spread over all 64 sets of L1 (kc/64 lines per set, within
 * its 8–12 ways). An even count folds them onto fewer sets: ldb 4000 (32
 * sets) ran 40×4000×400 at 70 GF/s against 74 with kc 64, ldb 2048 (one set)
 * at 52 against 70. */
#define SAM__GEMM_LONG_KC(ldb) ((ldb) % 16 == 0 && ((ldb) / 16) % 2 == 1)

/* kc of the long-kc variant (both tiles): K in equal blocks of at most
 * SAM__GEMM_KC_LONG_MAX rows. */
#define SAM__GEMM_KC_LONG_MAX 512
static size_t sam__gemm_long_kc(size_t K) {
    size_t blocks = (K + SAM__GEMM_KC_LONG_MAX - 1) / SAM__GEMM_KC_LONG_MAX;
    return (K + blocks - 1) / blocks;
}

/* Floats of its workspace: the packed A block (rows rounded to the tile's,
 * mr = 5 or 6) and one 16-wide B panel (a copy of the current one, or the
 * ragged first or last one zero-padded). */
static size_t sam__gemm_long_kc_ws_floats(size_t M, size_t mr, size_t K) {
    size_t kc = sam__gemm_long_kc(K);
    return sam__round_up(sam__round_up(M, mr) * kc, 16) + kc * SAM__GEMM_NR_AVX2;
}

/* Floats of the A block and the B block (64-byte rounded) for one ISA. */
static void sam__gemm_ws_floats(const sam__gemm_cfg *g, size_t M, size_t N, size_t K, size_t *na, size_t *nb) {
    size_t mc = sam__min_sz(M, g->mc), nc = sam__min_sz(N, g->nc), kc = sam__min_sz(K, g->kc);
    mc = sam__round_up(mc, g->mr); /* mc, nc, kc are small: no overflow */
    nc = sam__round_up(nc, g->nr);
    *na = sam__round_up(mc * kc, 16);
    *nb = sam__round_up(kc * nc, 16);
}

/* C ← beta C (beta == 0 writes zeros without reading C: NaN is overwritten). */
static void sam__gemm_scale_c(size_t M, size_t N, float beta, float *C, size_t ldc) {
    size_t i, j;
    if (beta == 1.0f) return;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

/* The unchecked sgemm the rest of the library calls: arguments as sam_sgemm,
 * already valid. Fails only when the workspace cannot hold the pack buffers. */
static sam_status sam__sgemm(sam_ctx *ctx, sam_transpose ta, sam_transpose tb, size_t M, size_t N, size_t K,
                             float alpha, const float *A, size_t lda, const float *B, size_t ldb, float beta,
                             float *C, size_t ldc) {
    const sam__gemm_cfg *g = ctx->isa != SAM_ISA_AVX2          ? &sam__gemm_cfgs[ctx->isa]
                             : SAM__GEMM_AVX2S_PATH(M, tb) ? &sam__gemm_cfg_avx2s
                             : SAM__GEMM_AVX2F_PATH(M, K, ldb, tb) ? &sam__gemm_cfg_avx2f
                                                           : &sam__gemm_cfgs[ctx->isa];
    size_t na, nb, jc, pc, ic, jr, ir, kc, n, mr;
    float *ap, *bp;
    void *ws;
    sam_status st;
    int direct_b, pf_b, long_kc;
    if (M == 0 || N == 0) return SAM_OK;
    if (alpha == 0.0f || K == 0) {
        sam__gemm_scale_c(M, N, beta, C, ldc);
        return SAM_OK;
    }
#if SAM__HAS_AVX2
    /* Many rows of A against 33..40 rows of B (AVX2): the narrow-B kernel.
     * Its 20 KB pack buffer is below what the packed path would need for
     * the same shape, so sam_sgemm_workspace_bytes covers it. */
    if (ta == SAM_NO_TRANS && tb == SAM_TRANS && ctx->isa == SAM_ISA_AVX2 && SAM__GEMM_NB_PATH(M, N, K)) {
        st = sam__workspace(ctx, SAM__GEMM_NB_KC * SAM__GEMM_NB_AVX2 * sizeof(float), &ws, "sam_sgemm");
        if (st != SAM_OK) return st;
        sam__gemm_nb_path_avx2(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, (float *)ws);
        return SAM_OK;
    }
    /* Aᵀ B with few columns of C (AVX2): compute Cᵀ = Bᵀ A, see above. */
    if (ctx->isa == SAM_ISA_AVX2 && SAM__GEMM_TC_PATH(ta, tb, M, N, K)) {
        st = sam__workspace(ctx, sam__gemm_tc_ws_floats(N, K) * sizeof(float), &ws, "sam_sgemm");
        if (st != SAM_OK) return st;
        sam__gemm_tc_path_avx2(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, (float *)ws);
        return SAM_OK;
    }
#endif
    /* Skinny A Bᵀ: in-place dot products beat packing (measured against the
     * packed path on the models' shapes); the scalar ISA keeps one path. */
    if (ta == SAM_NO_TRANS && tb == SAM_TRANS && ctx->isa != SAM_ISA_SCALAR && SAM__DOT_PATH(M, N, K)) {
        sam__gemm_dot_path(ctx, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return SAM_OK;
    }
#if SAM__HAS_AVX2
    /* A Bᵀ with a short k (AVX2): the 4×24 tile, A in place (see above). */
    if (ctx->isa == SAM_ISA_AVX2 && SAM__GEMM_NT_PATH(ta, tb, M, N, K)) {
        st = sam__workspace(ctx, sam__gemm_nt_ws_floats(N, K) * sizeof(float), &ws, "sam_sgemm");
        if (st != SAM_OK) return st;
        sam__gemm_nt_path_avx2(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, (float *)ws);
        return SAM_OK;
    }
#endif
#if SAM__HAS_AVX2
    /* K = 1 (AVX2): a rank-1 update (see above). */
    if (K == 1 && M > 1 && ctx->isa == SAM_ISA_AVX2) {
        sam__gemm_rank1_f32_avx2(M, N, alpha, A, ta == SAM_NO_TRANS ? lda : 1, B, tb == SAM_NO_TRANS ? 1 : ldb, beta,
                                 C, ldc);
        return SAM_OK;
    }
#endif
    /* One row of C from an untransposed B: stream B's rows (see above). */
    if (M == 1 && tb == SAM_NO_TRANS && ctx->isa != SAM_ISA_SCALAR) {
        sam__gemm_row_impl[ctx->isa](N, K, alpha, A, ta == SAM_NO_TRANS ? 1 : lda, B, ldb, beta, C);
        return SAM_OK;
    }
    /* An untransposed B already has the panel layout with row stride ldb. When
     * few rows of A share each B panel, packing B costs more than it saves.
     * AVX2 6×16: see SAM__GEMM_PF_B. */
    direct_b = tb == SAM_NO_TRANS && M <= 8 * g->mr;
    pf_b = direct_b && ctx->isa == SAM_ISA_AVX2 && g->nr == SAM__GEMM_NR_AVX2 && SAM__GEMM_PF_B(M, K, ldb);
    /* The 5×16 and 6×16 tiles with B in place beyond L2, two variants.
     * - Short kc (5×16: 64; 6×16: its 256), each tile prefetching its share
     *   of the next panel's rows. Measured on the 5×16 tile, TN 40×2000×400
     *   (GF/s): kc 256 72.5, 160 73, 128 74.4, 96 75.2, 64 76.8. Its cost is
     *   per tile (C loaded and stored once per kc block, the call, the
     *   prefetch loop) on 320-cycle tiles: with B's traffic taken away (a
     *   probe) it still ran at 78 only.
     * - Long kc (up to 512: one C pass at K = 400) where B's rows spread over
     *   L1 (SAM__GEMM_LONG_KC): 2000-cycle tiles, and the last tile on each
     *   panel prefetches the next panel's rows into L2 from inside its k
     *   loop, one row per k between the FMAs. 40×2000×400 (5×16) 77 -> 81.5
     *   GF/s, 35 and 25 rows +8 %; 6×16, M = 48, 42, 36, 30: 77, 76, 75.5,
     *   74 -> 84. The same prefetches issued a share per tile outside the
     *   loop gave 76. The first tile stores the panel's rows as it loads
     *   them, and the others read that copy, on a few pages instead of one
     *   page per row: +0.5 to 1 %. Panels start on a 64-byte line (a ragged
     *   first panel takes the columns before it): otherwise each row's 16
     *   floats span two lines and a 400-row panel overflows L1 (64 GF/s).
     *   Each element's arithmetic does not depend on its panel, so results
     *   do not depend on B's address. */
    long_kc = pf_b && SAM__GEMM_LONG_KC(ldb);
    kc = long_kc ? sam__gemm_long_kc(K) : pf_b && g->mr == SAM__GEMM_MR_AVX2F ? SAM__GEMM_KC_AVX2F_PF : g->kc;
    if (long_kc) {
        na = sam__round_up(sam__round_up(M, g->mr) * kc, 16);
        nb = kc * SAM__GEMM_NR_AVX2;
    } else {
        sam__gemm_ws_floats(g, M, N, K, &na, &nb); /* kc <= g->kc */
    }
    st = sam__workspace(ctx, (na + nb) * sizeof(float), &ws, "sam_sgemm");
    if (st != SAM_OK) return st;
    ap = (float *)ws;
    bp = ap + na;
    for (jc = 0; jc < N; jc += g->nc) {
        size_t ncb = sam__min_sz(g->nc, N - jc), head = 0;
        if (long_kc) /* the columns before B's first 64-byte line in this block */
            head = sam__min_sz(ncb, (size_t)((64 - ((uintptr_t)(B + jc) & 63)) & 63) / sizeof(float));
        for (pc = 0; pc < K; pc += kc) {
            size_t kcb = sam__min_sz(kc, K - pc);
            float beta_p = pc == 0 ? beta : 1.0f; /* later K blocks accumulate */
            if (!direct_b)
                g->pack_b(tb, kcb, ncb, tb == SAM_NO_TRANS ? B + pc * ldb + jc : B + jc * ldb + pc, ldb, bp);
            for (ic = 0; ic < M; ic += g->mc) {
                size_t mcb = sam__min_sz(g->mc, M - ic), m6 = 0;
#if SAM__HAS_AVX2
                /* Long kc on the 5×16 tile: the first m6 rows in 6-row tiles
                 * (M = m6 + 5b, m6 the largest multiple of 6 that allows it),
                 * the rest in 5-row ones. No row is padded and most FMAs run
                 * in the faster 6×16 tile (same arithmetic per element): TN
                 * 40×2000×400 (30 + 10 rows) +0.5 to 1 %, 33 rows +7 %. */
                if (long_kc && g->mr == SAM__GEMM_MR_AVX2F) {
                    m6 = mcb - mcb % 6;
                    while (m6 > 0 && (mcb - m6) % 5 != 0) m6 -= 6;
                }
                if (m6) {
                    sam__gemm_pack_a_f32_avx2(ta, m6, kcb, ta == SAM_NO_TRANS ? A + ic * lda + pc : A + pc * lda + ic,
                                              lda, ap);
                    if (mcb > m6)
                        sam__gemm_pack_a5_f32_avx2(ta, mcb - m6, kcb,
                                                   ta == SAM_NO_TRANS ? A + (ic + m6) * lda + pc : A + pc * lda + ic + m6,
                                                   lda, ap + m6 * kcb);
                } else
#endif
                    g->pack_a(ta, mcb, kcb, ta == SAM_NO_TRANS ? A + ic * lda + pc : A + pc * lda + ic, lda, ap);
                for (jr = 0; jr < ncb; jr += n) {
                    const float *b = bp + jr * kcb;
                    size_t bk = g->nr;
                    n = jr == 0 && head ? head : sam__min_sz(g->nr, ncb - jr);
                    if (direct_b) {
                        if (n == g->nr) {
                            b = B + pc * ldb + jc + jr;
                            bk = ldb;
                        } else { /* a ragged panel (the last; under long kc the first) is packed, zero-padded */
                            g->pack_b(tb, kcb, n, B + pc * ldb + jc + jr, ldb, bp);
                            b = bp;
                        }
                    }
                    for (ir = 0; ir < mcb; ir += mr) {
                        mr = ir < m6 ? SAM__GEMM_MR_AVX2 : g->mr;
#if SAM__HAS_AVX2
                        if (long_kc) {
                            sam__gemm_ukr_pf_fn ukr = mr == SAM__GEMM_MR_AVX2 ? sam__gemm_ukr6x16_pf_f32_avx2
                                                                              : sam__gemm_ukr5x16_pf_f32_avx2;
                            float *c = C + (ic + ir) * ldc + jc + jr;
                            if (ir + mr >= mcb && jr + n + g->nr <= ncb) { /* the last tile */
                                ukr(kcb, alpha, ap + ir * kcb, b, bk, beta_p, c, ldc, mcb - ir, n,
                                    B + pc * ldb + jc + jr + n, ldb, NULL);
                            } else if (ir == 0 && n == g->nr) { /* the first tile, on B in place */
                                ukr(kcb, alpha, ap, b, bk, beta_p, c, ldc, sam__min_sz(mr, mcb), n, NULL, 0, bp);
                                b = bp;
                                bk = g->nr;
                            } else {
                                ukr(kcb, alpha, ap + ir * kcb, b, bk, beta_p, c, ldc, sam__min_sz(mr, mcb - ir), n,
                                    NULL, 0, NULL);
                            }
                            continue;
                        }
                        if (pf_b && jr + 2 * g->nr <= ncb) { /* this tile's share of the next panel's rows */
                            size_t k = ir * kcb / mcb, k1 = sam__min_sz(kcb, (ir + g->mr) * kcb / mcb);
                            const float *q = B + (pc + k) * ldb + jc + jr + g->nr;
                            for (; k < k1; k++, q += ldb) { /* inline: gcc drops calls to a prefetch-only function */
                                _mm_prefetch((const char *)q, _MM_HINT_T1);
                                _mm_prefetch((const char *)(q + SAM__GEMM_NR_AVX2 - 1), _MM_HINT_T1);
                            }
                        }
#endif
                        g->ukr(kcb, alpha, ap + ir * kcb, b, bk, beta_p, C + (ic + ir) * ldc + jc + jr, ldc,
                               sam__min_sz(g->mr, mcb - ir), n);
                    }
                }
            }
        }
    }
    return SAM_OK;
}

SAM__DEF size_t sam_sgemm_workspace_bytes(size_t M, size_t N, size_t K) {
    size_t best = 0, na, nb;
    int isa;
    if (M == 0 || N == 0 || K == 0) return 0;
    for (isa = 0; isa < SAM_ISA_COUNT; isa++) {
        sam__gemm_ws_floats(&sam__gemm_cfgs[isa], M, N, K, &na, &nb);
        if ((na + nb) * sizeof(float) > best) best = (na + nb) * sizeof(float);
    }
    sam__gemm_ws_floats(&sam__gemm_cfg_avx2s, M, N, K, &na, &nb); /* the AVX2 few-rows tile */
    if ((na + nb) * sizeof(float) > best) best = (na + nb) * sizeof(float);
    sam__gemm_ws_floats(&sam__gemm_cfg_avx2f, M, N, K, &na, &nb); /* the AVX2 5×16 tile */
    if ((na + nb) * sizeof(float) > best) best = (na + nb) * sizeof(float);
    if (M <= 8 * SAM__GEMM_MR_AVX2) { /* the long-kc variant of the 5×16 and 6×16 tiles */
        size_t lk = sam__gemm_long_kc_ws_floats(M, SAM__GEMM_MR_AVX2F, K);
        if (sam__gemm_long_kc_ws_floats(M, SAM__GEMM_MR_AVX2, K) > lk)
            lk = sam__gemm_long_kc_ws_floats(M, SAM__GEMM_MR_AVX2, K);
        if (lk * sizeof(float) > best) best = lk * sizeof(float);
    }
    if (sam__gemm_nt_ws_floats(N, K) * sizeof(float) > best) /* the AVX2 4×24 A Bᵀ path */
        best = sam__gemm_nt_ws_floats(N, K) * sizeof(float);
    if (N <= SAM__GEMM_TC_MAXN) { /* the AVX2 transposed-C path */
        size_t tc = sam__gemm_tc_ws_floats(N, sam__min_sz(K, SAM__GEMM_TC_KC)) * sizeof(float);
        if (tc > best) best = tc;
    }
    /* + 64: sam_ctx_set_workspace aligns the start of a caller's buffer to 64
     * bytes, so the figure holds for a buffer at any address (as the model
     * work sizes do) */
    return best + SAM__ALIGN;
}

/* Rows × ld floats must be addressable: rows·ld·4 fits in size_t. */
static sam_status sam__gemm_check_extent(sam_ctx *ctx, const char *fn, const char *name, size_t rows, size_t ld) {
    size_t n, bytes;
    if (!sam__mul_ok(rows, ld, &n) || !sam__mul_ok(n, sizeof(float), &bytes))
        return sam__fail(ctx, SAM_ERR_SIZE, "%s: %s (%zu rows x ld %zu floats) overflows size_t", fn, name, rows, ld);
    return SAM_OK;
}

SAM__DEF sam_status sam_sgemm(sam_ctx *ctx, sam_transpose ta, sam_transpose tb, size_t M, size_t N, size_t K,
                              float alpha, const float *A, size_t lda, const float *B, size_t ldb, float beta,
                              float *C, size_t ldc) {
    size_t arows, acols, brows, bcols;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if (ta != SAM_NO_TRANS && ta != SAM_TRANS)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_sgemm: ta (%d) must be SAM_NO_TRANS or SAM_TRANS", (int)ta);
    if (tb != SAM_NO_TRANS && tb != SAM_TRANS)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_sgemm: tb (%d) must be SAM_NO_TRANS or SAM_TRANS", (int)tb);
    /* stored shapes: A arows×acols, B brows×bcols */
    arows = ta == SAM_NO_TRANS ? M : K;
    acols = ta == SAM_NO_TRANS ? K : M;
    brows = tb == SAM_NO_TRANS ? K : N;
    bcols = tb == SAM_NO_TRANS ? N : K;
    if (lda < acols)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_sgemm: lda (%zu) must be >= %s (%zu)", lda,
                         ta == SAM_NO_TRANS ? "K" : "M", acols);
    if (ldb < bcols)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_sgemm: ldb (%zu) must be >= %s (%zu)", ldb,
                         tb == SAM_NO_TRANS ? "N" : "K", bcols);
    if (ldc < N) return sam__fail(ctx, SAM_ERR_ARG, "sam_sgemm: ldc (%zu) must be >= N (%zu)", ldc, N);
    if ((st = sam__gemm_check_extent(ctx, "sam_sgemm", "A", arows, lda)) != SAM_OK) return st;
    if ((st = sam__gemm_check_extent(ctx, "sam_sgemm", "B", brows, ldb)) != SAM_OK) return st;
    if ((st = sam__gemm_check_extent(ctx, "sam_sgemm", "C", M, ldc)) != SAM_OK) return st;
    if (M == 0 || N == 0) return sam__ok(ctx);
    if (!C) return sam__fail(ctx, SAM_ERR_NULL, "sam_sgemm: C is NULL");
    if (K > 0 && !A) return sam__fail(ctx, SAM_ERR_NULL, "sam_sgemm: A is NULL");
    if (K > 0 && !B) return sam__fail(ctx, SAM_ERR_NULL, "sam_sgemm: B is NULL");
    st = sam__sgemm(ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return st == SAM_OK ? sam__ok(ctx) : st;
}

/* ========================================================================
 * KERNELS: patch convolution (two-layer CNN of Chen et al. 2023)
 * ====================================================================== */

/* Z[(rows) × F] = X[rows × d] · W[F × d]ᵀ, rows = n·P. Unchecked. */
static sam_status sam__patch_conv_forward(sam_ctx *ctx, size_t rows, size_t d, size_t F, const float *X,
                                          const float *W, float *Z) {
    return sam__sgemm(ctx, SAM_NO_TRANS, SAM_TRANS, rows, F, d, 1.0f, X, d, W, d, 0.0f, Z, F);
}

/* dW[F × d] = dZ[rows × F]ᵀ · X[rows × d] + beta_dw dW; dX[rows × d] = dZ · W
 * when dX is not NULL. Unchecked. */
static sam_status sam__patch_conv_backward(sam_ctx *ctx, size_t rows, size_t d, size_t F, const float *X,
                                           const float *W, const float *dZ, float beta_dw, float *dW, float *dX) {
    sam_status st = sam__sgemm(ctx, SAM_TRANS, SAM_NO_TRANS, F, d, rows, 1.0f, dZ, F, X, d, beta_dw, dW, d);
    if (st != SAM_OK || !dX) return st;
    return sam__sgemm(ctx, SAM_NO_TRANS, SAM_NO_TRANS, rows, d, F, 1.0f, dZ, F, W, d, 0.0f, dX, d);
}

/* Shared checks: sizes > 0, rows = n·P and every matrix extent fit size_t. */
static sam_status sam__patch_conv_check(sam_ctx *ctx, const char *fn, size_t n, size_t P, size_t d, size_t F,
                                        size_t *rows) {
    size_t t;
    if (n == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: n (%zu) must be > 0", fn, n);
    if (P == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: P (%zu) must be > 0", fn, P);
    if (d == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: d (%zu) must be > 0", fn, d);
    if (F == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: F (%zu) must be > 0", fn, F);
    if (!sam__mul_ok(n, P, rows)) return sam__fail(ctx, SAM_ERR_SIZE, "%s: n*P (%zu*%zu) overflows size_t", fn, n, P);
    if (!sam__mul_ok(*rows, d, &t) || !sam__mul_ok(t, sizeof(float), &t))
        return sam__fail(ctx, SAM_ERR_SIZE, "%s: X (n*P*d floats) overflows size_t", fn);
    if (!sam__mul_ok(*rows, F, &t) || !sam__mul_ok(t, sizeof(float), &t))
        return sam__fail(ctx, SAM_ERR_SIZE, "%s: Z (n*P*F floats) overflows size_t", fn);
    if (!sam__mul_ok(F, d, &t) || !sam__mul_ok(t, sizeof(float), &t))
        return sam__fail(ctx, SAM_ERR_SIZE, "%s: W (F*d floats) overflows size_t", fn);
    return SAM_OK;
}

SAM__DEF sam_status sam_patch_conv_forward(sam_ctx *ctx, size_t n, size_t P, size_t d, size_t F, const float *X,
                                           const float *W, float *Z) {
    size_t rows;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, X, "sam_patch_conv_forward", "X");
    SAM__CHECK_PTR(ctx, W, "sam_patch_conv_forward", "W");
    SAM__CHECK_PTR(ctx, Z, "sam_patch_conv_forward", "Z");
    if ((st = sam__patch_conv_check(ctx, "sam_patch_conv_forward", n, P, d, F, &rows)) != SAM_OK) return st;
    st = sam__patch_conv_forward(ctx, rows, d, F, X, W, Z);
    return st == SAM_OK ? sam__ok(ctx) : st;
}

SAM__DEF sam_status sam_patch_conv_backward(sam_ctx *ctx, size_t n, size_t P, size_t d, size_t F, const float *X,
                                            const float *W, const float *dZ, float beta_dw, float *dW, float *dX) {
    size_t rows;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, X, "sam_patch_conv_backward", "X");
    SAM__CHECK_PTR(ctx, dZ, "sam_patch_conv_backward", "dZ");
    SAM__CHECK_PTR(ctx, dW, "sam_patch_conv_backward", "dW");
    if (dX) SAM__CHECK_PTR(ctx, W, "sam_patch_conv_backward", "W");
    if ((st = sam__patch_conv_check(ctx, "sam_patch_conv_backward", n, P, d, F, &rows)) != SAM_OK) return st;
    /* Reserve the larger of the two products' workspace first, so a fixed
     * workspace too small for dX fails before dW is written. */
    {
        size_t need = sam_sgemm_workspace_bytes(F, d, rows), need2 = dX ? sam_sgemm_workspace_bytes(rows, d, F) : 0;
        void *p;
        if ((st = sam__workspace(ctx, need > need2 ? need : need2, &p, "sam_patch_conv_backward")) != SAM_OK)
            return st;
    }
    st = sam__patch_conv_backward(ctx, rows, d, F, X, W, dZ, beta_dw, dW, dX);
    return st == SAM_OK ? sam__ok(ctx) : st;
}

/* ========================================================================
 * KERNELS: activations (scalar → AVX2 → NEON side by side)
 * ====================================================================== */

/* ---- leaky ReLU forward: a = s z, d1 = s, s = z > 0 ? 1 : α (ReLU: α = 0) --
 * The product s·z is exact for s = 1, so every ISA gives identical bits.
 * d1 may be NULL (forward only: then a alone is written). */
static void sam__leaky_fwd_f32_scalar(size_t n, float alpha, const float *z, float *a, float *d1) {
    size_t i;
    if (!d1) {
        for (i = 0; i < n; i++) {
            float s = z[i] > 0.0f ? 1.0f : alpha;
            float zi = z[i];
            a[i] = s * zi;
        }
        return;
    }
    for (i = 0; i < n; i++) {
        float s = z[i] > 0.0f ? 1.0f : alpha;
        float zi = z[i];
        a[i] = s * zi;
        d1[i] = s;
    }
}

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__leaky_fwd_f32_avx2(size_t n, float alpha, const float *z, float *a, float *d1) {
    const __m256 va = _mm256_set1_ps(alpha), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t i = 0;
    if (!d1) {
        for (; i + 16 <= n; i += 16) { /* two registers per trip: loads of the next block overlap the stores */
            __m256 z0 = _mm256_loadu_ps(z + i), z1 = _mm256_loadu_ps(z + i + 8);
            __m256 s0 = _mm256_blendv_ps(va, one, _mm256_cmp_ps(z0, zero, _CMP_GT_OQ));
            __m256 s1 = _mm256_blendv_ps(va, one, _mm256_cmp_ps(z1, zero, _CMP_GT_OQ));
            _mm256_storeu_ps(a + i, _mm256_mul_ps(s0, z0));
            _mm256_storeu_ps(a + i + 8, _mm256_mul_ps(s1, z1));
        }
        for (; i + 8 <= n; i += 8) {
            __m256 vz = _mm256_loadu_ps(z + i);
            _mm256_storeu_ps(a + i, _mm256_mul_ps(_mm256_blendv_ps(va, one, _mm256_cmp_ps(vz, zero, _CMP_GT_OQ)), vz));
        }
        if (i < n) sam__leaky_fwd_f32_scalar(n - i, alpha, z + i, a + i, NULL);
        return;
    }
    for (; i + 8 <= n; i += 8) {
        __m256 vz = _mm256_loadu_ps(z + i);
        __m256 s = _mm256_blendv_ps(va, one, _mm256_cmp_ps(vz, zero, _CMP_GT_OQ)); /* NaN → α, as scalar */
        _mm256_storeu_ps(a + i, _mm256_mul_ps(s, vz));
        _mm256_storeu_ps(d1 + i, s);
    }
    if (i < n) sam__leaky_fwd_f32_scalar(n - i, alpha, z + i, a + i, d1 + i);
}
#endif

#if SAM__HAS_NEON
static void sam__leaky_fwd_f32_neon(size_t n, float alpha, const float *z, float *a, float *d1) {
    const float32x4_t va = vdupq_n_f32(alpha), one = vdupq_n_f32(1.0f), zero = vdupq_n_f32(0.0f);
    size_t i = 0;
    if (!d1) {
        for (; i + 4 <= n; i += 4) {
            float32x4_t vz = vld1q_f32(z + i);
            vst1q_f32(a + i, vmulq_f32(vbslq_f32(vcgtq_f32(vz, zero), one, va), vz));
        }
        if (i < n) sam__leaky_fwd_f32_scalar(n - i, alpha, z + i, a + i, NULL);
        return;
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t vz = vld1q_f32(z + i);
        float32x4_t s = vbslq_f32(vcgtq_f32(vz, zero), one, va);
        vst1q_f32(a + i, vmulq_f32(s, vz));
        vst1q_f32(d1 + i, s);
    }
    if (i < n) sam__leaky_fwd_f32_scalar(n - i, alpha, z + i, a + i, d1 + i);
}
#endif

typedef void (*sam__leaky_fwd_fn)(size_t, float, const float *, float *, float *);
static const sam__leaky_fwd_fn sam__leaky_fwd_impl[SAM_ISA_COUNT] = {
    sam__leaky_fwd_f32_scalar, SAM__IF_AVX2(sam__leaky_fwd_f32_avx2), SAM__IF_NEON(sam__leaky_fwd_f32_neon)};

/* ---- leaky ReLU backward: din = dout · (z > 0 ? 1 : α) ------------------------ */
static void sam__leaky_bwd_f32_scalar(size_t n, float alpha, const float *z, const float *dout, float *din) {
    size_t i;
    for (i = 0; i < n; i++) din[i] = dout[i] * (z[i] > 0.0f ? 1.0f : alpha);
}

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__leaky_bwd_f32_avx2(size_t n, float alpha, const float *z, const float *dout, float *din) {
    const __m256 va = _mm256_set1_ps(alpha), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 s = _mm256_blendv_ps(va, one, _mm256_cmp_ps(_mm256_loadu_ps(z + i), zero, _CMP_GT_OQ));
        _mm256_storeu_ps(din + i, _mm256_mul_ps(_mm256_loadu_ps(dout + i), s));
    }
    for (; i < n; i++) din[i] = dout[i] * (z[i] > 0.0f ? 1.0f : alpha);
}
#endif

#if SAM__HAS_NEON
static void sam__leaky_bwd_f32_neon(size_t n, float alpha, const float *z, const float *dout, float *din) {
    const float32x4_t va = vdupq_n_f32(alpha), one = vdupq_n_f32(1.0f), zero = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t s = vbslq_f32(vcgtq_f32(vld1q_f32(z + i), zero), one, va);
        vst1q_f32(din + i, vmulq_f32(vld1q_f32(dout + i), s));
    }
    for (; i < n; i++) din[i] = dout[i] * (z[i] > 0.0f ? 1.0f : alpha);
}
#endif

typedef void (*sam__leaky_bwd_fn)(size_t, float, const float *, const float *, float *);
static const sam__leaky_bwd_fn sam__leaky_bwd_impl[SAM_ISA_COUNT] = {
    sam__leaky_bwd_f32_scalar, SAM__IF_AVX2(sam__leaky_bwd_f32_avx2), SAM__IF_NEON(sam__leaky_bwd_f32_neon)};

/* ---- ReLU^q forward: for z > 0, a = z^q, d1 = q z^(q−1), d2 = q(q−1) z^(q−2);
 * 0 for z <= 0. Integer q >= 2 by repeated products (p2 = z^(q−2), p1 = p2 z,
 * a = p1 z, the same multiplication order on every ISA, so bit-identical);
 * other q through pow() in the scalar twin only (SIMD versions call it).
 * d1 and d2 may each be NULL (not computed then). */
static void sam__reluq_fwd_f32_scalar(size_t n, float q, const float *z, float *a, float *d1, float *d2) {
    size_t i;
    int k, qi = (int)q;
    float c2 = q * (q - 1.0f);
    if ((float)qi != q || qi < 2) {
        for (i = 0; i < n; i++) {
            double x = (double)z[i];
            int pos = x > 0.0;
            a[i] = pos ? (float)pow(x, (double)q) : 0.0f;
            if (d1) d1[i] = pos ? (float)((double)q * pow(x, (double)q - 1.0)) : 0.0f;
            if (d2) d2[i] = pos ? (float)((double)q * ((double)q - 1.0) * pow(x, (double)q - 2.0)) : 0.0f;
        }
        return;
    }
    for (i = 0; i < n; i++) {
        float x = z[i], p2 = 1.0f, p1;
        if (!(x > 0.0f)) x = 0.0f; /* then every product below is +0 (q >= 2) */
        for (k = 0; k < qi - 2; k++) p2 *= x;
        p1 = p2 * x;
        a[i] = p1 * x;
        if (d1) d1[i] = q * p1;
        if (d2) d2[i] = z[i] > 0.0f ? c2 * p2 : 0.0f;
    }
}

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__reluq_fwd_f32_avx2(size_t n, float q, const float *z, float *a, float *d1, float *d2) {
    int k, qi = (int)q;
    size_t i = 0;
    const __m256 vq = _mm256_set1_ps(q), vc2 = _mm256_set1_ps(q * (q - 1.0f)), zero = _mm256_setzero_ps();
    if ((float)qi != q || qi < 2) { sam__reluq_fwd_f32_scalar(n, q, z, a, d1, d2); return; }
    for (; i + 8 <= n; i += 8) {
        __m256 vz = _mm256_loadu_ps(z + i);
        __m256 m = _mm256_cmp_ps(vz, zero, _CMP_GT_OQ);
        __m256 x = _mm256_and_ps(vz, m), p2 = _mm256_set1_ps(1.0f), p1;
        for (k = 0; k < qi - 2; k++) p2 = _mm256_mul_ps(p2, x);
        p1 = _mm256_mul_ps(p2, x);
        _mm256_storeu_ps(a + i, _mm256_mul_ps(p1, x));
        if (d1) _mm256_storeu_ps(d1 + i, _mm256_mul_ps(vq, p1));
        if (d2) _mm256_storeu_ps(d2 + i, _mm256_and_ps(_mm256_mul_ps(vc2, p2), m));
    }
    if (i < n) sam__reluq_fwd_f32_scalar(n - i, q, z + i, a + i, d1 ? d1 + i : NULL, d2 ? d2 + i : NULL);
}
#endif

#if SAM__HAS_NEON
static void sam__reluq_fwd_f32_neon(size_t n, float q, const float *z, float *a, float *d1, float *d2) {
    int k, qi = (int)q;
    size_t i = 0;
    const float32x4_t vq = vdupq_n_f32(q), vc2 = vdupq_n_f32(q * (q - 1.0f)), zero = vdupq_n_f32(0.0f);
    if ((float)qi != q || qi < 2) { sam__reluq_fwd_f32_scalar(n, q, z, a, d1, d2); return; }
    for (; i + 4 <= n; i += 4) {
        float32x4_t vz = vld1q_f32(z + i);
        uint32x4_t m = vcgtq_f32(vz, zero);
        float32x4_t x = vbslq_f32(m, vz, zero), p2 = vdupq_n_f32(1.0f), p1;
        for (k = 0; k < qi - 2; k++) p2 = vmulq_f32(p2, x);
        p1 = vmulq_f32(p2, x);
        vst1q_f32(a + i, vmulq_f32(p1, x));
        if (d1) vst1q_f32(d1 + i, vmulq_f32(vq, p1));
        if (d2) vst1q_f32(d2 + i, vbslq_f32(m, vmulq_f32(vc2, p2), zero));
    }
    if (i < n) sam__reluq_fwd_f32_scalar(n - i, q, z + i, a + i, d1 ? d1 + i : NULL, d2 ? d2 + i : NULL);
}
#endif

typedef void (*sam__reluq_fwd_fn)(size_t, float, const float *, float *, float *, float *);
static const sam__reluq_fwd_fn sam__reluq_fwd_impl[SAM_ISA_COUNT] = {
    sam__reluq_fwd_f32_scalar, SAM__IF_AVX2(sam__reluq_fwd_f32_avx2), SAM__IF_NEON(sam__reluq_fwd_f32_neon)};

/* ---- ReLU^q backward: din = dout · σ'(z), σ' = q z^(q−1) for z > 0, else 0;
 * σ' by the forward's products (p1 = z^(q−2)·z, then q p1), so din equals
 * dout ⊙ d1 of the forward bit for bit. din may alias dout. */
static void sam__reluq_bwd_f32_scalar(size_t n, float q, const float *z, const float *dout, float *din) {
    size_t i;
    int k, qi = (int)q;
    if ((float)qi != q || qi < 2) {
        for (i = 0; i < n; i++) {
            double x = (double)z[i];
            float d1 = x > 0.0 ? (float)((double)q * pow(x, (double)q - 1.0)) : 0.0f;
            din[i] = dout[i] * d1;
        }
        return;
    }
    for (i = 0; i < n; i++) {
        float x = z[i] > 0.0f ? z[i] : 0.0f, p1 = 1.0f;
        for (k = 0; k < qi - 2; k++) p1 *= x;
        p1 = p1 * x;
        din[i] = dout[i] * (q * p1);
    }
}

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__reluq_bwd_f32_avx2(size_t n, float q, const float *z, const float *dout, float *din) {
    int k, qi = (int)q;
    size_t i = 0;
    const __m256 vq = _mm256_set1_ps(q), zero = _mm256_setzero_ps();
    if ((float)qi != q || qi < 2) { sam__reluq_bwd_f32_scalar(n, q, z, dout, din); return; }
    for (; i + 8 <= n; i += 8) {
        __m256 vz = _mm256_loadu_ps(z + i);
        __m256 x = _mm256_and_ps(vz, _mm256_cmp_ps(vz, zero, _CMP_GT_OQ)), p1 = _mm256_set1_ps(1.0f);
        for (k = 0; k < qi - 2; k++) p1 = _mm256_mul_ps(p1, x);
        p1 = _mm256_mul_ps(p1, x);
        _mm256_storeu_ps(din + i, _mm256_mul_ps(_mm256_loadu_ps(dout + i), _mm256_mul_ps(vq, p1)));
    }
    if (i < n) sam__reluq_bwd_f32_scalar(n - i, q, z + i, dout + i, din + i);
}
#endif

#if SAM__HAS_NEON
static void sam__reluq_bwd_f32_neon(size_t n, float q, const float *z, const float *dout, float *din) {
    int k, qi = (int)q;
    size_t i = 0;
    const float32x4_t vq = vdupq_n_f32(q), zero = vdupq_n_f32(0.0f);
    if ((float)qi != q || qi < 2) { sam__reluq_bwd_f32_scalar(n, q, z, dout, din); return; }
    for (; i + 4 <= n; i += 4) {
        float32x4_t vz = vld1q_f32(z + i);
        float32x4_t x = vbslq_f32(vcgtq_f32(vz, zero), vz, zero), p1 = vdupq_n_f32(1.0f);
        for (k = 0; k < qi - 2; k++) p1 = vmulq_f32(p1, x);
        p1 = vmulq_f32(p1, x);
        vst1q_f32(din + i, vmulq_f32(vld1q_f32(dout + i), vmulq_f32(vq, p1)));
    }
    if (i < n) sam__reluq_bwd_f32_scalar(n - i, q, z + i, dout + i, din + i);
}
#endif

typedef void (*sam__reluq_bwd_fn)(size_t, float, const float *, const float *, float *);
static const sam__reluq_bwd_fn sam__reluq_bwd_impl[SAM_ISA_COUNT] = {
    sam__reluq_bwd_f32_scalar, SAM__IF_AVX2(sam__reluq_bwd_f32_avx2), SAM__IF_NEON(sam__reluq_bwd_f32_neon)};

/* ---- elementwise product y = a ⊙ x (+ b ⊙ c): the backward of σ and its R-op */
static void sam__vmul_f32_scalar(size_t n, const float *a, const float *x, float *y) {
    size_t i;
    for (i = 0; i < n; i++) y[i] = a[i] * x[i];
}
#if SAM__HAS_AVX2
SAM__AVX2 static void sam__vmul_f32_avx2(size_t n, const float *a, const float *x, float *y) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = a[i] * x[i];
}
#endif
#if SAM__HAS_NEON
static void sam__vmul_f32_neon(size_t n, const float *a, const float *x, float *y) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vld1q_f32(a + i), vld1q_f32(x + i)));
    for (; i < n; i++) y[i] = a[i] * x[i];
}
#endif
typedef void (*sam__vmul_fn)(size_t, const float *, const float *, float *);
static const sam__vmul_fn sam__vmul_impl[SAM_ISA_COUNT] = {
    sam__vmul_f32_scalar, SAM__IF_AVX2(sam__vmul_f32_avx2), SAM__IF_NEON(sam__vmul_f32_neon)};

/* ---- y += a ⊙ x (elementwise multiply-add: the norm layers' per-column
 * coefficients, column accumulations). Scalar rounds twice, SIMD once (FMA). */
static void sam__vfma_f32_scalar(size_t n, const float *a, const float *x, float *y) {
    size_t i;
    for (i = 0; i < n; i++) y[i] = y[i] + a[i] * x[i];
}
#if SAM__HAS_AVX2
SAM__AVX2 static void sam__vfma_f32_avx2(size_t n, const float *a, const float *x, float *y) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] = fmaf(a[i], x[i], y[i]);
}
#endif
#if SAM__HAS_NEON
static void sam__vfma_f32_neon(size_t n, const float *a, const float *x, float *y) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), vld1q_f32(a + i), vld1q_f32(x + i)));
    for (; i < n; i++) y[i] = fmaf(a[i], x[i], y[i]);
}
#endif
typedef void (*sam__vfma_fn)(size_t, const float *, const float *, float *);
static const sam__vfma_fn sam__vfma_impl[SAM_ISA_COUNT] = {
    sam__vfma_f32_scalar, SAM__IF_AVX2(sam__vfma_f32_avx2), SAM__IF_NEON(sam__vfma_f32_neon)};


/* ---- dense layer on a few rows: the Wen MLP at batch 1 (1-SAM) --------------
 * gemv: z[j] (+)= Σ_k W[j][k] x[k], j < N (one sample through W, N × K,
 * row stride ldw); ger: G[j][:] (+)= Σ_r dz[r][j] X[r][:] (the weight gradient
 * from R <= 4 rows). A general sgemm packs panels, which costs more than the
 * arithmetic at these shapes (measured: 9 µs → 3 µs per Wen MLP gradient). */
static void sam__gemv_f32_scalar(size_t N, size_t K, const float *W, size_t ldw, const float *x, int acc, float *z) {
    size_t j, k;
    for (j = 0; j < N; j++) {
        float s = 0.0f;
        for (k = 0; k < K; k++) s += W[j * ldw + k] * x[k];
        z[j] = acc ? z[j] + s : s;
    }
}

static void sam__ger_f32_scalar(size_t M, size_t N, size_t R, const float *dz, size_t lddz, const float *X, size_t ldx,
                                int acc, float *G) {
    size_t j, k, r;
    for (j = 0; j < M; j++)
        for (k = 0; k < N; k++) {
            float s = acc ? G[j * N + k] : 0.0f;
            for (r = 0; r < R; r++) s += dz[r * lddz + j] * X[r * ldx + k];
            G[j * N + k] = s;
        }
}

#if SAM__HAS_AVX2
/* lanes < n set: loads/stores of a ragged tail without touching memory past it */
static const int32_t sam__lane_mask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* 4 rows at a time: 4 accumulators (8 lanes), then one transpose-and-add of
 * the 4 × 8 partial sums: hadd pairs lanes, the 128-bit halves are added last. */
SAM__AVX2 static void sam__gemv_f32_avx2(size_t N, size_t K, const float *W, size_t ldw, const float *x, int acc,
                                         float *z) {
    size_t j = 0, k, kt = K & ~(size_t)7;
    __m256i tm = _mm256_loadu_si256((const __m256i *)(sam__lane_mask + 8 - (K - kt)));
    for (; j + 4 <= N; j += 4) {
        const float *w0 = W + j * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, xv, h01, h23, h;
        __m128 r4;
        for (k = 0; k < kt; k += 8) {
            xv = _mm256_loadu_ps(x + k);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k), xv, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + k), xv, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + k), xv, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + k), xv, a3);
        }
        if (kt < K) {
            xv = _mm256_maskload_ps(x + kt, tm);
            a0 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + kt, tm), xv, a0);
            a1 = _mm256_fmadd_ps(_mm256_maskload_ps(w1 + kt, tm), xv, a1);
            a2 = _mm256_fmadd_ps(_mm256_maskload_ps(w2 + kt, tm), xv, a2);
            a3 = _mm256_fmadd_ps(_mm256_maskload_ps(w3 + kt, tm), xv, a3);
        }
        h01 = _mm256_hadd_ps(a0, a1);  /* a0 pairs, a1 pairs (per 128-bit half) */
        h23 = _mm256_hadd_ps(a2, a3);
        h = _mm256_hadd_ps(h01, h23);  /* [s0 s1 s2 s3] low half, same for high */
        r4 = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        if (acc) r4 = _mm_add_ps(r4, _mm_loadu_ps(z + j));
        _mm_storeu_ps(z + j, r4);
    }
    for (; j < N; j++) {
        const float *w0 = W + j * ldw;
        __m256 a0 = _mm256_setzero_ps();
        float t[8], s;
        int l;
        for (k = 0; k < kt; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k), _mm256_loadu_ps(x + k), a0);
        if (kt < K) a0 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + kt, tm), _mm256_maskload_ps(x + kt, tm), a0);
        _mm256_storeu_ps(t, a0);
        s = 0.0f;
        for (l = 0; l < 8; l++) s += t[l];
        z[j] = acc ? z[j] + s : s;
    }
}

SAM__AVX2 static void sam__ger_f32_avx2(size_t M, size_t N, size_t R, const float *dz, size_t lddz, const float *X,
                                        size_t ldx, int acc, float *G) {
    size_t j, k, r, kt = N & ~(size_t)7;
    __m256i tm = _mm256_loadu_si256((const __m256i *)(sam__lane_mask + 8 - (N - kt)));
    if (R == 1 && N <= 64) {
        /* one sample (batch 1): x stays in up to 9 registers, each row of G is
         * dz[j]·x, one multiply per 8 floats */
        __m256 xv[9];
        size_t q, nq = kt / 8;
        for (q = 0; q < nq; q++) xv[q] = _mm256_loadu_ps(X + 8 * q);
        xv[nq] = kt < N ? _mm256_maskload_ps(X + kt, tm) : _mm256_setzero_ps();
        if (!acc && kt < N && N >= 8 && M > 1) {
            /* G is dense (row stride N >= 8): the ragged end of row j is stored
             * as a full register whose lanes past N (dz[j]·0, fewer than N of
             * them) spill into the start of row j+1, which is written next and
             * overwrites them. Plain stores instead of a masked store per row;
             * the last row keeps the mask, so nothing past G is touched. */
            for (j = 0; j + 1 < M; j++) {
                __m256 d = _mm256_set1_ps(dz[j]);
                float *g = G + j * N;
                for (q = 0; q <= nq; q++) _mm256_storeu_ps(g + 8 * q, _mm256_mul_ps(d, xv[q]));
            }
            {
                __m256 d = _mm256_set1_ps(dz[M - 1]);
                float *g = G + (M - 1) * N;
                for (q = 0; q < nq; q++) _mm256_storeu_ps(g + 8 * q, _mm256_mul_ps(d, xv[q]));
                _mm256_maskstore_ps(g + kt, tm, _mm256_mul_ps(d, xv[nq]));
            }
            return;
        }
        for (j = 0; j < M; j++) {
            __m256 d = _mm256_set1_ps(dz[j]);
            float *g = G + j * N;
            for (q = 0; q < nq; q++)
                _mm256_storeu_ps(g + 8 * q, acc ? _mm256_fmadd_ps(d, xv[q], _mm256_loadu_ps(g + 8 * q)) : _mm256_mul_ps(d, xv[q]));
            if (kt < N)
                _mm256_maskstore_ps(g + kt, tm, acc ? _mm256_fmadd_ps(d, xv[nq], _mm256_maskload_ps(g + kt, tm))
                                                    : _mm256_mul_ps(d, xv[nq]));
        }
        return;
    }
    for (j = 0; j < M; j++) {
        float *g = G + j * N;
        for (k = 0; k < kt; k += 8) {
            __m256 s = acc ? _mm256_loadu_ps(g + k) : _mm256_setzero_ps();
            for (r = 0; r < R; r++) s = _mm256_fmadd_ps(_mm256_set1_ps(dz[r * lddz + j]), _mm256_loadu_ps(X + r * ldx + k), s);
            _mm256_storeu_ps(g + k, s);
        }
        if (kt < N) {
            __m256 s = acc ? _mm256_maskload_ps(g + kt, tm) : _mm256_setzero_ps();
            for (r = 0; r < R; r++)
                s = _mm256_fmadd_ps(_mm256_set1_ps(dz[r * lddz + j]), _mm256_maskload_ps(X + r * ldx + kt, tm), s);
            _mm256_maskstore_ps(g + kt, tm, s);
        }
    }
}
#endif

#if SAM__HAS_NEON
static void sam__gemv_f32_neon(size_t N, size_t K, const float *W, size_t ldw, const float *x, int acc, float *z) {
    size_t j, k;
    for (j = 0; j < N; j++) {
        const float *w0 = W + j * ldw;
        float32x4_t a0 = vdupq_n_f32(0.0f);
        float s;
        for (k = 0; k + 4 <= K; k += 4) a0 = vfmaq_f32(a0, vld1q_f32(w0 + k), vld1q_f32(x + k));
        s = vaddvq_f32(a0);
        for (; k < K; k++) s = fmaf(w0[k], x[k], s);
        z[j] = acc ? z[j] + s : s;
    }
}

static void sam__ger_f32_neon(size_t M, size_t N, size_t R, const float *dz, size_t lddz, const float *X, size_t ldx,
                              int acc, float *G) {
    size_t j, k, r;
    for (j = 0; j < M; j++) {
        float *g = G + j * N;
        for (k = 0; k + 4 <= N; k += 4) {
            float32x4_t s = acc ? vld1q_f32(g + k) : vdupq_n_f32(0.0f);
            for (r = 0; r < R; r++) s = vfmaq_n_f32(s, vld1q_f32(X + r * ldx + k), dz[r * lddz + j]);
            vst1q_f32(g + k, s);
        }
        for (; k < N; k++) {
            float s = acc ? g[k] : 0.0f;
            for (r = 0; r < R; r++) s = fmaf(dz[r * lddz + j], X[r * ldx + k], s);
            g[k] = s;
        }
    }
}
#endif

typedef void (*sam__gemv_fn)(size_t, size_t, const float *, size_t, const float *, int, float *);
static const sam__gemv_fn sam__gemv_impl[SAM_ISA_COUNT] = {
    sam__gemv_f32_scalar, SAM__IF_AVX2(sam__gemv_f32_avx2), SAM__IF_NEON(sam__gemv_f32_neon)};
typedef void (*sam__ger_fn)(size_t, size_t, size_t, const float *, size_t, const float *, size_t, int, float *);
static const sam__ger_fn sam__ger_impl[SAM_ISA_COUNT] = {
    sam__ger_f32_scalar, SAM__IF_AVX2(sam__ger_f32_avx2), SAM__IF_NEON(sam__ger_f32_neon)};

#define SAM__FEW_ROWS 4 /* at or below this many rows the dense layer skips sgemm */

/* Z (R × N) = X (R × K) Wᵀ (+ Z when acc): the forward of a dense layer. */
static sam_status sam__dense_fwd(sam_ctx *ctx, size_t R, size_t N, size_t K, const float *X, const float *W, int acc,
                                 float *Z) {
    size_t r;
    if (R > SAM__FEW_ROWS)
        return sam__sgemm(ctx, SAM_NO_TRANS, SAM_TRANS, R, N, K, 1.0f, X, K, W, K, acc ? 1.0f : 0.0f, Z, N);
    for (r = 0; r < R; r++) sam__gemv_impl[ctx->isa](N, K, W, K, X + r * K, acc, Z + r * N);
    return SAM_OK;
}

/* G (M × N) = dZᵀ (R × M)ᵀ X (R × N) (+ G when acc): the weight gradient. */
static sam_status sam__dense_wgrad(sam_ctx *ctx, size_t M, size_t N, size_t R, const float *dZ, const float *X, int acc,
                                   float *G) {
    if (R > SAM__FEW_ROWS)
        return sam__sgemm(ctx, SAM_TRANS, SAM_NO_TRANS, M, N, R, 1.0f, dZ, M, X, N, acc ? 1.0f : 0.0f, G, N);
    sam__ger_impl[ctx->isa](M, N, R, dZ, M, X, N, acc, G);
    return SAM_OK;
}

/* Internal: a = σ(z), d1 = σ'(z), d2 = σ''(z); all three non-NULL. */
static void sam__act_eval(const sam_ctx *ctx, const sam_act *act, size_t n, const float *z, float *a, float *d1,
                          float *d2) {
    if (act->kind == SAM_ACT_RELU_POW && act->q != 1.0f) {
        sam__reluq_fwd_impl[ctx->isa](n, act->q, z, a, d1, d2);
        return;
    }
    sam__leaky_fwd_impl[ctx->isa](n, act->kind == SAM_ACT_LEAKY ? act->alpha : 0.0f, z, a, d1);
    memset(d2, 0, n * sizeof(float)); /* piecewise linear: σ'' = 0 a.e. */
}

/* Piecewise linear activation (σ'' = 0)? */
static int sam__act_linear_pieces(const sam_act *act) {
    return act->kind != SAM_ACT_RELU_POW || act->q == 1.0f;
}

static sam_status sam__check_act(sam_ctx *ctx, const sam_act *act, const char *fn) {
    if (!act) return sam__fail(ctx, SAM_ERR_NULL, "%s: act is NULL", fn);
    if ((unsigned)act->kind > (unsigned)SAM_ACT_RELU_POW)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: act->kind (%d) is not a sam_act_kind", fn, (int)act->kind);
    if (act->kind == SAM_ACT_LEAKY && !(act->alpha == act->alpha && fabsf(act->alpha) <= FLT_MAX))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: act->alpha is not finite", fn);
    if (act->kind == SAM_ACT_RELU_POW && !(act->q >= 1.0f && act->q <= 64.0f))
        return sam__fail(ctx, SAM_ERR_ARG, "%s: act->q (%g) must be in [1, 64]", fn, (double)act->q);
    return SAM_OK;
}

SAM__DEF sam_status sam_act_forward(sam_ctx *ctx, const sam_act *act, size_t n, const float *z, float *a,
                                    float *d1, float *d2) {
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_act(ctx, act, "sam_act_forward"))) return st;
    SAM__CHECK_PTR(ctx, z, "sam_act_forward", "z");
    SAM__CHECK_PTR(ctx, a, "sam_act_forward", "a");
    if (n == 0) return sam__ok(ctx);
    if (act->kind == SAM_ACT_RELU_POW && act->q != 1.0f) {
        sam__reluq_fwd_impl[ctx->isa](n, act->q, z, a, d1, d2); /* d1, d2 may be NULL */
        return sam__ok(ctx);
    }
    sam__leaky_fwd_impl[ctx->isa](n, act->kind == SAM_ACT_LEAKY ? act->alpha : 0.0f, z, a, d1);
    if (d2) memset(d2, 0, n * sizeof(float)); /* piecewise linear: σ'' = 0 a.e. */
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_act_backward(sam_ctx *ctx, const sam_act *act, size_t n, const float *z,
                                     const float *dout, float *din) {
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_act(ctx, act, "sam_act_backward"))) return st;
    SAM__CHECK_PTR(ctx, z, "sam_act_backward", "z");
    SAM__CHECK_PTR(ctx, dout, "sam_act_backward", "dout");
    SAM__CHECK_PTR(ctx, din, "sam_act_backward", "din");
    if (act->kind == SAM_ACT_RELU_POW && act->q != 1.0f) {
        sam__reluq_bwd_impl[ctx->isa](n, act->q, z, dout, din);
        return sam__ok(ctx);
    }
    sam__leaky_bwd_impl[ctx->isa](n, act->kind == SAM_ACT_LEAKY ? act->alpha : 0.0f, z, dout, din);
    return sam__ok(ctx);
}

/* ========================================================================
 * LAYERS: norm layers (forward, backward; the R-ops live in the MLP)
 *   Statistics are accumulated in double in row order (a fixed order).
 * ====================================================================== */

/* Simplified LayerNorm, Wen et al.: u = h / s, s = max(‖h‖, ε) per row.
 * s (rows doubles) is kept for the backward pass; s > ε ⇔ the norm is active. */
static void sam__sln_fwd(const sam_ctx *ctx, size_t rows, size_t w, float eps, const float *h, float *u, double *s) {
    size_t i, j;
    for (i = 0; i < rows; i++) {
        double nrm = sqrt(sam__sumsq(ctx, w, h + i * w));
        float inv;
        s[i] = nrm > (double)eps ? nrm : (double)eps;
        inv = (float)(1.0 / s[i]);
        for (j = 0; j < w; j++) u[i * w + j] = h[i * w + j] * inv;
    }
}

/* ---- norm-layer kernels (scalar → AVX2 → NEON side by side) ----------------
 * Column kernels (simplified and standard BatchNorm) hold one double
 * accumulator per column and walk the rows in order 0, 1, …, rows−1: the SIMD
 * versions do the very same double operations on 4 (AVX2) or 2 (NEON)
 * columns at a time (no FMA, IEEE-exact div and sqrt), so they match the
 * scalar twin bit for bit. Each scalar twin works on a column range [j0, j1);
 * the SIMD versions hand it the ragged last columns.
 * Row kernels (standard LayerNorm) reduce along a row: scalar in element
 * order; SIMD in 8 (AVX2) or 4 (NEON) double lanes, lanes added pairwise at
 * the end, then the tail in element order, so results are fixed per ISA and
 * differ from scalar by rounding only. */

#if SAM__HAS_AVX2
/* 4 floats ↔ 4 doubles (unaligned user memory) */
#define SAM__LD4D(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define SAM__ST4D(p, v) _mm_storeu_ps((p), _mm256_cvtpd_ps(v))
/* Σ of 4 double lanes in a fixed order: (l0 + l1) + (l2 + l3) */
SAM__AVX2 static double sam__hsum4d_avx2(__m256d v) {
    double t[4];
    _mm256_storeu_pd(t, v);
    return (t[0] + t[1]) + (t[2] + t[3]);
}
#endif
#if SAM__HAS_NEON
#define SAM__LD2D(p) vcvt_f64_f32(vld1_f32(p))
#define SAM__ST2D(p, v) vst1_f32((p), vcvt_f32_f64(v))
#endif

/* ---- simplified BatchNorm statistics (Wen et al.; PAPERS.md §2):
 * s_j = max(sqrt((1/N) Σ_k h_kj²), clamp), k = 0..N−1 in order; acc (w) scratch.
 * The clamp keeps a neuron that is dead on the whole training set finite
 * (Wen et al. leave it undefined); s_j == clamp ⇒ no gradient flows through s_j. */
static void sam__sbn_stats_cols(size_t n_stat, const float *hs, size_t w, size_t j0, size_t j1, float clamp,
                                double *s, double *acc) {
    size_t k, j;
    for (j = j0; j < j1; j++) acc[j] = 0.0;
    for (k = 0; k < n_stat; k++)
        for (j = j0; j < j1; j++) acc[j] += (double)hs[k * w + j] * (double)hs[k * w + j];
    for (j = j0; j < j1; j++) {
        double r = sqrt(acc[j] / (double)n_stat);
        s[j] = r > (double)clamp ? r : (double)clamp;
    }
}
static void sam__sbn_stats_f32_scalar(size_t n_stat, const float *hs, size_t w, float clamp, double *s, double *acc) {
    sam__sbn_stats_cols(n_stat, hs, w, 0, w, clamp, s, acc);
}
#if SAM__HAS_AVX2
SAM__AVX2 static void sam__sbn_stats_f32_avx2(size_t n_stat, const float *hs, size_t w, float clamp, double *s,
                                              double *acc) {
    size_t k, j, wv = w & ~(size_t)3;
    const __m256d vn = _mm256_set1_pd((double)n_stat), vc = _mm256_set1_pd((double)clamp);
    for (j = 0; j < wv; j += 4) _mm256_storeu_pd(acc + j, _mm256_setzero_pd());
    for (k = 0; k < n_stat; k++)
        for (j = 0; j < wv; j += 4) {
            __m256d x = SAM__LD4D(hs + k * w + j);
            _mm256_storeu_pd(acc + j, _mm256_add_pd(_mm256_loadu_pd(acc + j), _mm256_mul_pd(x, x)));
        }
    for (j = 0; j < wv; j += 4) /* max(r, c) is c when r is NaN or <= c, as the scalar r > c ? r : c */
        _mm256_storeu_pd(s + j, _mm256_max_pd(_mm256_sqrt_pd(_mm256_div_pd(_mm256_loadu_pd(acc + j), vn)), vc));
    sam__sbn_stats_cols(n_stat, hs, w, wv, w, clamp, s, acc);
}
#endif
#if SAM__HAS_NEON
static void sam__sbn_stats_f32_neon(size_t n_stat, const float *hs, size_t w, float clamp, double *s, double *acc) {
    size_t k, j, wv = w & ~(size_t)1;
    const float64x2_t vn = vdupq_n_f64((double)n_stat), vc = vdupq_n_f64((double)clamp);
    for (j = 0; j < wv; j += 2) vst1q_f64(acc + j, vdupq_n_f64(0.0));
    for (k = 0; k < n_stat; k++)
        for (j = 0; j < wv; j += 2) {
            float64x2_t x = SAM__LD2D(hs + k * w + j);
            vst1q_f64(acc + j, vaddq_f64(vld1q_f64(acc + j), vmulq_f64(x, x)));
        }
    for (j = 0; j < wv; j += 2) {
        float64x2_t r = vsqrtq_f64(vdivq_f64(vld1q_f64(acc + j), vn));
        vst1q_f64(s + j, vbslq_f64(vcgtq_f64(r, vc), r, vc)); /* r > c ? r : c (NaN → c) */
    }
    sam__sbn_stats_cols(n_stat, hs, w, wv, w, clamp, s, acc);
}
#endif
typedef void (*sam__sbn_stats_fn)(size_t, const float *, size_t, float, double *, double *);
static const sam__sbn_stats_fn sam__sbn_stats_impl[SAM_ISA_COUNT] = {
    sam__sbn_stats_f32_scalar, SAM__IF_AVX2(sam__sbn_stats_f32_avx2), SAM__IF_NEON(sam__sbn_stats_f32_neon)};

/* ---- column scaling: out[i][j] = (float)(x[i][j] · c_j / d_j) in double, rows × w.
 * Sim-BN forward (c = γ, d = s), its direct backward (c = γ, d = s) and the
 * statistics path (c = gs, d = N s). */
static void sam__cmuldiv_cols(size_t rows, size_t w, size_t j0, size_t j1, const float *x, const double *c,
                              const double *d, float *out) {
    size_t i, j;
    for (i = 0; i < rows; i++)
        for (j = j0; j < j1; j++) out[i * w + j] = (float)((double)x[i * w + j] * c[j] / d[j]);
}
static void sam__cmuldiv_f32_scalar(size_t rows, size_t w, const float *x, const double *c, const double *d, float *out) {
    sam__cmuldiv_cols(rows, w, 0, w, x, c, d, out);
}
#if SAM__HAS_AVX2
SAM__AVX2 static void sam__cmuldiv_f32_avx2(size_t rows, size_t w, const float *x, const double *c, const double *d,
                                            float *out) {
    size_t i, j, wv = w & ~(size_t)3;
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 4)
            SAM__ST4D(out + i * w + j, _mm256_div_pd(_mm256_mul_pd(SAM__LD4D(x + i * w + j), _mm256_loadu_pd(c + j)),
                                                     _mm256_loadu_pd(d + j)));
    sam__cmuldiv_cols(rows, w, wv, w, x, c, d, out);
}
#endif
#if SAM__HAS_NEON
static void sam__cmuldiv_f32_neon(size_t rows, size_t w, const float *x, const double *c, const double *d, float *out) {
    size_t i, j, wv = w & ~(size_t)1;
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 2)
            SAM__ST2D(out + i * w + j, vdivq_f64(vmulq_f64(SAM__LD2D(x + i * w + j), vld1q_f64(c + j)), vld1q_f64(d + j)));
    sam__cmuldiv_cols(rows, w, wv, w, x, c, d, out);
}
#endif
typedef void (*sam__cmuldiv_fn)(size_t, size_t, const float *, const double *, const double *, float *);
static const sam__cmuldiv_fn sam__cmuldiv_impl[SAM_ISA_COUNT] = {
    sam__cmuldiv_f32_scalar, SAM__IF_AVX2(sam__cmuldiv_f32_avx2), SAM__IF_NEON(sam__cmuldiv_f32_neon)};

/* ---- column dot: acc_j = Σ_i x[i][j] y[i][j], rows in order, in double ------ */
static void sam__cdot_cols(size_t rows, size_t w, size_t j0, size_t j1, const float *x, const float *y, double *acc) {
    size_t i, j;
    for (j = j0; j < j1; j++) acc[j] = 0.0;
    for (i = 0; i < rows; i++)
        for (j = j0; j < j1; j++) acc[j] += (double)x[i * w + j] * (double)y[i * w + j];
}
static void sam__cdot_f32_scalar(size_t rows, size_t w, const float *x, const float *y, double *acc) {
    sam__cdot_cols(rows, w, 0, w, x, y, acc);
}
#if SAM__HAS_AVX2
SAM__AVX2 static void sam__cdot_f32_avx2(size_t rows, size_t w, const float *x, const float *y, double *acc) {
    size_t i, j, wv = w & ~(size_t)3;
    for (j = 0; j < wv; j += 4) _mm256_storeu_pd(acc + j, _mm256_setzero_pd());
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 4)
            _mm256_storeu_pd(acc + j, _mm256_add_pd(_mm256_loadu_pd(acc + j),
                                                    _mm256_mul_pd(SAM__LD4D(x + i * w + j), SAM__LD4D(y + i * w + j))));
    sam__cdot_cols(rows, w, wv, w, x, y, acc);
}
#endif
#if SAM__HAS_NEON
static void sam__cdot_f32_neon(size_t rows, size_t w, const float *x, const float *y, double *acc) {
    size_t i, j, wv = w & ~(size_t)1;
    for (j = 0; j < wv; j += 2) vst1q_f64(acc + j, vdupq_n_f64(0.0));
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 2)
            vst1q_f64(acc + j, vaddq_f64(vld1q_f64(acc + j), vmulq_f64(SAM__LD2D(x + i * w + j), SAM__LD2D(y + i * w + j))));
    sam__cdot_cols(rows, w, wv, w, x, y, acc);
}
#endif
typedef void (*sam__cdot_fn)(size_t, size_t, const float *, const float *, double *);
static const sam__cdot_fn sam__cdot_impl[SAM_ISA_COUNT] = {
    sam__cdot_f32_scalar, SAM__IF_AVX2(sam__cdot_f32_avx2), SAM__IF_NEON(sam__cdot_f32_neon)};

/* ---- standard BatchNorm (per column over the rows), no affine part:
 *   m_j = (1/R) Σ_i h_ij,  v_j = (1/R) Σ_i (h_ij − m_j)²,  σ_j = sqrt(v_j + ε),
 *   u_ij = (h_ij − m_j)/σ_j;
 *   backward dh_ij = (dU_ij − mean_i dU − u_ij mean_i(dU u)) / σ_j.
 * ws: 2w doubles (forward: m, 1/σ), 4w (backward: m, 1/σ, mean dU, mean dU u). */
static void sam__bn_stats_cols(size_t rows, size_t w, size_t j0, size_t j1, float eps, const float *h, double *m,
                               double *inv) {
    size_t i, j;
    for (j = j0; j < j1; j++) m[j] = inv[j] = 0.0;
    for (i = 0; i < rows; i++)
        for (j = j0; j < j1; j++) m[j] += (double)h[i * w + j];
    for (j = j0; j < j1; j++) m[j] /= (double)rows;
    for (i = 0; i < rows; i++)
        for (j = j0; j < j1; j++) { double t = (double)h[i * w + j] - m[j]; inv[j] += t * t; }
    for (j = j0; j < j1; j++) inv[j] = 1.0 / sqrt(inv[j] / (double)rows + (double)eps);
}
static void sam__bn_fwd_cols(size_t rows, size_t w, size_t j0, size_t j1, float eps, const float *h, float *u,
                             double *ws) {
    double *m = ws, *inv = ws + w;
    size_t i, j;
    sam__bn_stats_cols(rows, w, j0, j1, eps, h, m, inv);
    for (i = 0; i < rows; i++)
        for (j = j0; j < j1; j++) u[i * w + j] = (float)(((double)h[i * w + j] - m[j]) * inv[j]);
}
static void sam__bn_bwd_cols(size_t rows, size_t w, size_t j0, size_t j1, float eps, const float *h, const float *dU,
                             float *dA, double *ws) {
    double *m = ws, *inv = ws + w, *md = ws + 2 * w, *mdu = ws + 3 * w;
    size_t i, j;
    sam__bn_stats_cols(rows, w, j0, j1, eps, h, m, inv);
    for (j = j0; j < j1; j++) md[j] = mdu[j] = 0.0;
    for (i = 0; i < rows; i++)
        for (j = j0; j < j1; j++) {
            double uk = ((double)h[i * w + j] - m[j]) * inv[j];
            md[j] += (double)dU[i * w + j];
            mdu[j] += (double)dU[i * w + j] * uk;
        }
    for (j = j0; j < j1; j++) { md[j] /= (double)rows; mdu[j] /= (double)rows; }
    for (i = 0; i < rows; i++)
        for (j = j0; j < j1; j++) {
            double uk = ((double)h[i * w + j] - m[j]) * inv[j];
            dA[i * w + j] = (float)(((double)dU[i * w + j] - md[j] - uk * mdu[j]) * inv[j]);
        }
}
static void sam__bn_fwd_f32_scalar(size_t rows, size_t w, float eps, const float *h, float *u, double *ws) {
    sam__bn_fwd_cols(rows, w, 0, w, eps, h, u, ws);
}
static void sam__bn_bwd_f32_scalar(size_t rows, size_t w, float eps, const float *h, const float *dU, float *dA,
                                   double *ws) {
    sam__bn_bwd_cols(rows, w, 0, w, eps, h, dU, dA, ws);
}
#if SAM__HAS_AVX2
SAM__AVX2 static void sam__bn_stats_avx2(size_t rows, size_t w, size_t wv, float eps, const float *h, double *m,
                                         double *inv) {
    const __m256d vr = _mm256_set1_pd((double)rows), ve = _mm256_set1_pd((double)eps), one = _mm256_set1_pd(1.0);
    size_t i, j;
    for (j = 0; j < wv; j += 4) { _mm256_storeu_pd(m + j, _mm256_setzero_pd()); _mm256_storeu_pd(inv + j, _mm256_setzero_pd()); }
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 4) _mm256_storeu_pd(m + j, _mm256_add_pd(_mm256_loadu_pd(m + j), SAM__LD4D(h + i * w + j)));
    for (j = 0; j < wv; j += 4) _mm256_storeu_pd(m + j, _mm256_div_pd(_mm256_loadu_pd(m + j), vr));
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 4) {
            __m256d t = _mm256_sub_pd(SAM__LD4D(h + i * w + j), _mm256_loadu_pd(m + j));
            _mm256_storeu_pd(inv + j, _mm256_add_pd(_mm256_loadu_pd(inv + j), _mm256_mul_pd(t, t)));
        }
    for (j = 0; j < wv; j += 4)
        _mm256_storeu_pd(inv + j, _mm256_div_pd(one, _mm256_sqrt_pd(_mm256_add_pd(_mm256_div_pd(_mm256_loadu_pd(inv + j), vr), ve))));
}
SAM__AVX2 static void sam__bn_fwd_f32_avx2(size_t rows, size_t w, float eps, const float *h, float *u, double *ws) {
    double *m = ws, *inv = ws + w;
    size_t i, j, wv = w & ~(size_t)3;
    sam__bn_stats_avx2(rows, w, wv, eps, h, m, inv);
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 4)
            SAM__ST4D(u + i * w + j, _mm256_mul_pd(_mm256_sub_pd(SAM__LD4D(h + i * w + j), _mm256_loadu_pd(m + j)),
                                                   _mm256_loadu_pd(inv + j)));
    sam__bn_fwd_cols(rows, w, wv, w, eps, h, u, ws);
}
SAM__AVX2 static void sam__bn_bwd_f32_avx2(size_t rows, size_t w, float eps, const float *h, const float *dU,
                                           float *dA, double *ws) {
    double *m = ws, *inv = ws + w, *md = ws + 2 * w, *mdu = ws + 3 * w;
    const __m256d vr = _mm256_set1_pd((double)rows);
    size_t i, j, wv = w & ~(size_t)3;
    sam__bn_stats_avx2(rows, w, wv, eps, h, m, inv);
    for (j = 0; j < wv; j += 4) { _mm256_storeu_pd(md + j, _mm256_setzero_pd()); _mm256_storeu_pd(mdu + j, _mm256_setzero_pd()); }
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 4) {
            __m256d uk = _mm256_mul_pd(_mm256_sub_pd(SAM__LD4D(h + i * w + j), _mm256_loadu_pd(m + j)), _mm256_loadu_pd(inv + j));
            __m256d d = SAM__LD4D(dU + i * w + j);
            _mm256_storeu_pd(md + j, _mm256_add_pd(_mm256_loadu_pd(md + j), d));
            _mm256_storeu_pd(mdu + j, _mm256_add_pd(_mm256_loadu_pd(mdu + j), _mm256_mul_pd(d, uk)));
        }
    for (j = 0; j < wv; j += 4) {
        _mm256_storeu_pd(md + j, _mm256_div_pd(_mm256_loadu_pd(md + j), vr));
        _mm256_storeu_pd(mdu + j, _mm256_div_pd(_mm256_loadu_pd(mdu + j), vr));
    }
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 4) {
            __m256d uk = _mm256_mul_pd(_mm256_sub_pd(SAM__LD4D(h + i * w + j), _mm256_loadu_pd(m + j)), _mm256_loadu_pd(inv + j));
            __m256d t = _mm256_sub_pd(_mm256_sub_pd(SAM__LD4D(dU + i * w + j), _mm256_loadu_pd(md + j)),
                                      _mm256_mul_pd(uk, _mm256_loadu_pd(mdu + j)));
            SAM__ST4D(dA + i * w + j, _mm256_mul_pd(t, _mm256_loadu_pd(inv + j)));
        }
    sam__bn_bwd_cols(rows, w, wv, w, eps, h, dU, dA, ws);
}
#endif
#if SAM__HAS_NEON
static void sam__bn_stats_neon(size_t rows, size_t w, size_t wv, float eps, const float *h, double *m, double *inv) {
    const float64x2_t vr = vdupq_n_f64((double)rows), ve = vdupq_n_f64((double)eps), one = vdupq_n_f64(1.0);
    size_t i, j;
    for (j = 0; j < wv; j += 2) { vst1q_f64(m + j, vdupq_n_f64(0.0)); vst1q_f64(inv + j, vdupq_n_f64(0.0)); }
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 2) vst1q_f64(m + j, vaddq_f64(vld1q_f64(m + j), SAM__LD2D(h + i * w + j)));
    for (j = 0; j < wv; j += 2) vst1q_f64(m + j, vdivq_f64(vld1q_f64(m + j), vr));
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 2) {
            float64x2_t t = vsubq_f64(SAM__LD2D(h + i * w + j), vld1q_f64(m + j));
            vst1q_f64(inv + j, vaddq_f64(vld1q_f64(inv + j), vmulq_f64(t, t)));
        }
    for (j = 0; j < wv; j += 2)
        vst1q_f64(inv + j, vdivq_f64(one, vsqrtq_f64(vaddq_f64(vdivq_f64(vld1q_f64(inv + j), vr), ve))));
}
static void sam__bn_fwd_f32_neon(size_t rows, size_t w, float eps, const float *h, float *u, double *ws) {
    double *m = ws, *inv = ws + w;
    size_t i, j, wv = w & ~(size_t)1;
    sam__bn_stats_neon(rows, w, wv, eps, h, m, inv);
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 2)
            SAM__ST2D(u + i * w + j, vmulq_f64(vsubq_f64(SAM__LD2D(h + i * w + j), vld1q_f64(m + j)), vld1q_f64(inv + j)));
    sam__bn_fwd_cols(rows, w, wv, w, eps, h, u, ws);
}
static void sam__bn_bwd_f32_neon(size_t rows, size_t w, float eps, const float *h, const float *dU, float *dA,
                                 double *ws) {
    double *m = ws, *inv = ws + w, *md = ws + 2 * w, *mdu = ws + 3 * w;
    const float64x2_t vr = vdupq_n_f64((double)rows);
    size_t i, j, wv = w & ~(size_t)1;
    sam__bn_stats_neon(rows, w, wv, eps, h, m, inv);
    for (j = 0; j < wv; j += 2) { vst1q_f64(md + j, vdupq_n_f64(0.0)); vst1q_f64(mdu + j, vdupq_n_f64(0.0)); }
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 2) {
            float64x2_t uk = vmulq_f64(vsubq_f64(SAM__LD2D(h + i * w + j), vld1q_f64(m + j)), vld1q_f64(inv + j));
            float64x2_t d = SAM__LD2D(dU + i * w + j);
            vst1q_f64(md + j, vaddq_f64(vld1q_f64(md + j), d));
            vst1q_f64(mdu + j, vaddq_f64(vld1q_f64(mdu + j), vmulq_f64(d, uk)));
        }
    for (j = 0; j < wv; j += 2) {
        vst1q_f64(md + j, vdivq_f64(vld1q_f64(md + j), vr));
        vst1q_f64(mdu + j, vdivq_f64(vld1q_f64(mdu + j), vr));
    }
    for (i = 0; i < rows; i++)
        for (j = 0; j < wv; j += 2) {
            float64x2_t uk = vmulq_f64(vsubq_f64(SAM__LD2D(h + i * w + j), vld1q_f64(m + j)), vld1q_f64(inv + j));
            float64x2_t t = vsubq_f64(vsubq_f64(SAM__LD2D(dU + i * w + j), vld1q_f64(md + j)), vmulq_f64(uk, vld1q_f64(mdu + j)));
            SAM__ST2D(dA + i * w + j, vmulq_f64(t, vld1q_f64(inv + j)));
        }
    sam__bn_bwd_cols(rows, w, wv, w, eps, h, dU, dA, ws);
}
#endif
typedef void (*sam__bn_fwd_fn)(size_t, size_t, float, const float *, float *, double *);
static const sam__bn_fwd_fn sam__bn_fwd_impl[SAM_ISA_COUNT] = {
    sam__bn_fwd_f32_scalar, SAM__IF_AVX2(sam__bn_fwd_f32_avx2), SAM__IF_NEON(sam__bn_fwd_f32_neon)};
typedef void (*sam__bn_bwd_fn)(size_t, size_t, float, const float *, const float *, float *, double *);
static const sam__bn_bwd_fn sam__bn_bwd_impl[SAM_ISA_COUNT] = {
    sam__bn_bwd_f32_scalar, SAM__IF_AVX2(sam__bn_bwd_f32_avx2), SAM__IF_NEON(sam__bn_bwd_f32_neon)};

/* ---- standard LayerNorm (per row of w), no affine part: the formulas of BN
 * with the roles of rows and columns swapped. Reductions along the row. */
static void sam__ln_fwd_f32_scalar(size_t rows, size_t w, float eps, const float *h, float *u) {
    size_t i, k;
    for (i = 0; i < rows; i++) {
        const float *hi = h + i * w;
        double m = 0.0, v = 0.0, inv;
        for (k = 0; k < w; k++) m += (double)hi[k];
        m /= (double)w;
        for (k = 0; k < w; k++) { double t = (double)hi[k] - m; v += t * t; }
        inv = 1.0 / sqrt(v / (double)w + (double)eps);
        for (k = 0; k < w; k++) u[i * w + k] = (float)(((double)hi[k] - m) * inv);
    }
}
static void sam__ln_bwd_f32_scalar(size_t rows, size_t w, float eps, const float *h, const float *dU, float *dA) {
    size_t i, k;
    for (i = 0; i < rows; i++) {
        const float *hi = h + i * w, *di = dU + i * w;
        double m = 0.0, v = 0.0, inv, md = 0.0, mdu = 0.0;
        for (k = 0; k < w; k++) m += (double)hi[k];
        m /= (double)w;
        for (k = 0; k < w; k++) { double t = (double)hi[k] - m; v += t * t; }
        inv = 1.0 / sqrt(v / (double)w + (double)eps);
        for (k = 0; k < w; k++) {
            double uk = ((double)hi[k] - m) * inv;
            md += (double)di[k];
            mdu += (double)di[k] * uk;
        }
        md /= (double)w;
        mdu /= (double)w;
        for (k = 0; k < w; k++) {
            double uk = ((double)hi[k] - m) * inv;
            dA[i * w + k] = (float)(((double)di[k] - md - uk * mdu) * inv);
        }
    }
}
#if SAM__HAS_AVX2
/* Row mean and 1/σ: 8 double lanes (two accumulators of 4), then the tail. */
SAM__AVX2 static void sam__ln_row_stats_avx2(size_t w, float eps, const float *hi, double *mp, double *invp) {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, vm;
    double m, v;
    size_t k = 0, kv = w & ~(size_t)7;
    for (; k < kv; k += 8) {
        s0 = _mm256_add_pd(s0, SAM__LD4D(hi + k));
        s1 = _mm256_add_pd(s1, SAM__LD4D(hi + k + 4));
    }
    m = sam__hsum4d_avx2(_mm256_add_pd(s0, s1));
    for (; k < w; k++) m += (double)hi[k];
    m /= (double)w;
    vm = _mm256_set1_pd(m);
    s0 = _mm256_setzero_pd(); s1 = s0;
    for (k = 0; k < kv; k += 8) {
        __m256d t0 = _mm256_sub_pd(SAM__LD4D(hi + k), vm), t1 = _mm256_sub_pd(SAM__LD4D(hi + k + 4), vm);
        s0 = _mm256_add_pd(s0, _mm256_mul_pd(t0, t0));
        s1 = _mm256_add_pd(s1, _mm256_mul_pd(t1, t1));
    }
    v = sam__hsum4d_avx2(_mm256_add_pd(s0, s1));
    for (; k < w; k++) { double t = (double)hi[k] - m; v += t * t; }
    *mp = m;
    *invp = 1.0 / sqrt(v / (double)w + (double)eps);
}
SAM__AVX2 static void sam__ln_fwd_f32_avx2(size_t rows, size_t w, float eps, const float *h, float *u) {
    size_t i, k, kv = w & ~(size_t)3;
    for (i = 0; i < rows; i++) {
        const float *hi = h + i * w;
        float *ui = u + i * w;
        double m, inv;
        __m256d vm, vi;
        sam__ln_row_stats_avx2(w, eps, hi, &m, &inv);
        vm = _mm256_set1_pd(m); vi = _mm256_set1_pd(inv);
        for (k = 0; k < kv; k += 4) SAM__ST4D(ui + k, _mm256_mul_pd(_mm256_sub_pd(SAM__LD4D(hi + k), vm), vi));
        for (; k < w; k++) ui[k] = (float)(((double)hi[k] - m) * inv);
    }
}
SAM__AVX2 static void sam__ln_bwd_f32_avx2(size_t rows, size_t w, float eps, const float *h, const float *dU, float *dA) {
    size_t i, k, kv = w & ~(size_t)3;
    for (i = 0; i < rows; i++) {
        const float *hi = h + i * w, *di = dU + i * w;
        float *ai = dA + i * w;
        double m, inv, md, mdu;
        __m256d vm, vi, s0 = _mm256_setzero_pd(), s1 = s0, vmd, vmdu;
        sam__ln_row_stats_avx2(w, eps, hi, &m, &inv);
        vm = _mm256_set1_pd(m); vi = _mm256_set1_pd(inv);
        for (k = 0; k < kv; k += 4) {
            __m256d d = SAM__LD4D(di + k);
            s0 = _mm256_add_pd(s0, d);
            s1 = _mm256_add_pd(s1, _mm256_mul_pd(d, _mm256_mul_pd(_mm256_sub_pd(SAM__LD4D(hi + k), vm), vi)));
        }
        md = sam__hsum4d_avx2(s0);
        mdu = sam__hsum4d_avx2(s1);
        for (; k < w; k++) {
            double uk = ((double)hi[k] - m) * inv;
            md += (double)di[k];
            mdu += (double)di[k] * uk;
        }
        md /= (double)w;
        mdu /= (double)w;
        vmd = _mm256_set1_pd(md); vmdu = _mm256_set1_pd(mdu);
        for (k = 0; k < kv; k += 4) {
            __m256d uk = _mm256_mul_pd(_mm256_sub_pd(SAM__LD4D(hi + k), vm), vi);
            __m256d t = _mm256_sub_pd(_mm256_sub_pd(SAM__LD4D(di + k), vmd), _mm256_mul_pd(uk, vmdu));
            SAM__ST4D(ai + k, _mm256_mul_pd(t, vi));
        }
        for (; k < w; k++) {
            double uk = ((double)hi[k] - m) * inv;
            ai[k] = (float)(((double)di[k] - md - uk * mdu) * inv);
        }
    }
}
#endif
#if SAM__HAS_NEON
/* Row mean and 1/σ: 4 double lanes (two accumulators of 2), then the tail. */
static void sam__ln_row_stats_neon(size_t w, float eps, const float *hi, double *mp, double *invp) {
    float64x2_t s0 = vdupq_n_f64(0.0), s1 = s0, vm, t;
    double m, v;
    size_t k = 0, kv = w & ~(size_t)3;
    for (; k < kv; k += 4) {
        s0 = vaddq_f64(s0, SAM__LD2D(hi + k));
        s1 = vaddq_f64(s1, SAM__LD2D(hi + k + 2));
    }
    t = vaddq_f64(s0, s1);
    m = vgetq_lane_f64(t, 0) + vgetq_lane_f64(t, 1);
    for (; k < w; k++) m += (double)hi[k];
    m /= (double)w;
    vm = vdupq_n_f64(m);
    s0 = vdupq_n_f64(0.0); s1 = s0;
    for (k = 0; k < kv; k += 4) {
        float64x2_t t0 = vsubq_f64(SAM__LD2D(hi + k), vm), t1 = vsubq_f64(SAM__LD2D(hi + k + 2), vm);
        s0 = vaddq_f64(s0, vmulq_f64(t0, t0));
        s1 = vaddq_f64(s1, vmulq_f64(t1, t1));
    }
    t = vaddq_f64(s0, s1);
    v = vgetq_lane_f64(t, 0) + vgetq_lane_f64(t, 1);
    for (; k < w; k++) { double d = (double)hi[k] - m; v += d * d; }
    *mp = m;
    *invp = 1.0 / sqrt(v / (double)w + (double)eps);
}
static void sam__ln_fwd_f32_neon(size_t rows, size_t w, float eps, const float *h, float *u) {
    size_t i, k, kv = w & ~(size_t)1;
    for (i = 0; i < rows; i++) {
        const float *hi = h + i * w;
        float *ui = u + i * w;
        double m, inv;
        float64x2_t vm, vi;
        sam__ln_row_stats_neon(w, eps, hi, &m, &inv);
        vm = vdupq_n_f64(m); vi = vdupq_n_f64(inv);
        for (k = 0; k < kv; k += 2) SAM__ST2D(ui + k, vmulq_f64(vsubq_f64(SAM__LD2D(hi + k), vm), vi));
        for (; k < w; k++) ui[k] = (float)(((double)hi[k] - m) * inv);
    }
}
static void sam__ln_bwd_f32_neon(size_t rows, size_t w, float eps, const float *h, const float *dU, float *dA) {
    size_t i, k, kv = w & ~(size_t)1;
    for (i = 0; i < rows; i++) {
        const float *hi = h + i * w, *di = dU + i * w;
        float *ai = dA + i * w;
        double m, inv, md, mdu;
        float64x2_t vm, vi, s0 = vdupq_n_f64(0.0), s1 = s0, vmd, vmdu;
        sam__ln_row_stats_neon(w, eps, hi, &m, &inv);
        vm = vdupq_n_f64(m); vi = vdupq_n_f64(inv);
        for (k = 0; k < kv; k += 2) {
            float64x2_t d = SAM__LD2D(di + k);
            s0 = vaddq_f64(s0, d);
            s1 = vaddq_f64(s1, vmulq_f64(d, vmulq_f64(vsubq_f64(SAM__LD2D(hi + k), vm), vi)));
        }
        md = vgetq_lane_f64(s0, 0) + vgetq_lane_f64(s0, 1);
        mdu = vgetq_lane_f64(s1, 0) + vgetq_lane_f64(s1, 1);
        for (; k < w; k++) {
            double uk = ((double)hi[k] - m) * inv;
            md += (double)di[k];
            mdu += (double)di[k] * uk;
        }
        md /= (double)w;
        mdu /= (double)w;
        vmd = vdupq_n_f64(md); vmdu = vdupq_n_f64(mdu);
        for (k = 0; k < kv; k += 2) {
            float64x2_t uk = vmulq_f64(vsubq_f64(SAM__LD2D(hi + k), vm), vi);
            float64x2_t t = vsubq_f64(vsubq_f64(SAM__LD2D(di + k), vmd), vmulq_f64(uk, vmdu));
            SAM__ST2D(ai + k, vmulq_f64(t, vi));
        }
        for (; k < w; k++) {
            double uk = ((double)hi[k] - m) * inv;
            ai[k] = (float)(((double)di[k] - md - uk * mdu) * inv);
        }
    }
}
#endif
typedef void (*sam__ln_fwd_fn)(size_t, size_t, float, const float *, float *);
static const sam__ln_fwd_fn sam__ln_fwd_impl[SAM_ISA_COUNT] = {
    sam__ln_fwd_f32_scalar, SAM__IF_AVX2(sam__ln_fwd_f32_avx2), SAM__IF_NEON(sam__ln_fwd_f32_neon)};
typedef void (*sam__ln_bwd_fn)(size_t, size_t, float, const float *, const float *, float *);
static const sam__ln_bwd_fn sam__ln_bwd_impl[SAM_ISA_COUNT] = {
    sam__ln_bwd_f32_scalar, SAM__IF_AVX2(sam__ln_bwd_f32_avx2), SAM__IF_NEON(sam__ln_bwd_f32_neon)};

/* R-op of the backward pass. The Jacobian J = (1/σ)(I − 11ᵀ/n − u uᵀ/n) is
 * symmetric, so the R-forward is Ru = J Ra (the BN / LN backward kernel applied to Ra).
 * Differentiating dA = J dU along Ra, with Rσ = mean(u Ra):
 *   RdA = J RdU − (Rσ/σ) dA − (Ru mean(u dU) + u mean(Ru dU)) / σ. */
static void sam__stdnorm_rbwd(size_t groups, size_t len, size_t gstep, size_t estep, float eps, const float *h,
                              const float *Ra, const float *Ru, const float *dU, const float *RdU, float *RdA) {
    size_t g, k;
    for (g = 0; g < groups; g++) {
        const float *hg = h + g * gstep, *rag = Ra + g * gstep, *rug = Ru + g * gstep;
        const float *dg = dU + g * gstep, *rdg = RdU + g * gstep;
        float *og = RdA + g * gstep;
        double m = 0.0, v = 0.0, inv, md = 0.0, mdu = 0.0, rs = 0.0, mru = 0.0, m1 = 0.0, m2 = 0.0;
        for (k = 0; k < len; k++) m += (double)hg[k * estep];
        m /= (double)len;
        for (k = 0; k < len; k++) { double t = (double)hg[k * estep] - m; v += t * t; }
        v /= (double)len;
        inv = 1.0 / sqrt(v + (double)eps);
        for (k = 0; k < len; k++) {
            double uk = ((double)hg[k * estep] - m) * inv;
            md += (double)dg[k * estep];
            mdu += (double)dg[k * estep] * uk;
            rs += uk * (double)rag[k * estep];
            mru += (double)rug[k * estep] * (double)dg[k * estep];
            m1 += (double)rdg[k * estep];
            m2 += (double)rdg[k * estep] * uk;
        }
        md /= (double)len; mdu /= (double)len; rs /= (double)len; mru /= (double)len; m1 /= (double)len; m2 /= (double)len;
        for (k = 0; k < len; k++) {
            double uk = ((double)hg[k * estep] - m) * inv;
            double da = ((double)dg[k * estep] - md - uk * mdu) * inv;
            double jr = ((double)rdg[k * estep] - m1 - uk * m2) * inv;
            og[k * estep] = (float)(jr - rs * inv * da - ((double)rug[k * estep] * mdu + uk * mru) * inv);
        }
    }
}

static sam_status sam__check_norm_args(sam_ctx *ctx, size_t rows, size_t width, float eps, const char *fn) {
    size_t t;
    if (rows == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: rows must be > 0", fn);
    if (width == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: width must be > 0", fn);
    if (!sam__mul_ok(rows, width, &t) || !sam__mul_ok(t, sizeof(float), &t))
        return sam__fail(ctx, SAM_ERR_SIZE, "%s: rows (%zu) × width (%zu) overflows size_t", fn, rows, width);
    if (!(eps > 0.0f) || eps > FLT_MAX) return sam__fail(ctx, SAM_ERR_ARG, "%s: eps (%g) must be > 0 and finite", fn, (double)eps);
    return SAM_OK;
}

SAM__DEF sam_status sam_sln_forward(sam_ctx *ctx, size_t rows, size_t width, float eps, const float *h, float *out) {
    sam_status st;
    size_t i, j;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_norm_args(ctx, rows, width, eps, "sam_sln_forward"))) return st;
    SAM__CHECK_PTR(ctx, h, "sam_sln_forward", "h");
    SAM__CHECK_PTR(ctx, out, "sam_sln_forward", "out");
    for (i = 0; i < rows; i++) {
        double nrm = sqrt(sam__sumsq(ctx, width, h + i * width));
        float inv = (float)(1.0 / (nrm > (double)eps ? nrm : (double)eps));
        for (j = 0; j < width; j++) out[i * width + j] = h[i * width + j] * inv;
    }
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_sln_backward(sam_ctx *ctx, size_t rows, size_t width, float eps, const float *h,
                                     const float *dout, float *dh) {
    sam_status st;
    size_t i, j;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_norm_args(ctx, rows, width, eps, "sam_sln_backward"))) return st;
    SAM__CHECK_PTR(ctx, h, "sam_sln_backward", "h");
    SAM__CHECK_PTR(ctx, dout, "sam_sln_backward", "dout");
    SAM__CHECK_PTR(ctx, dh, "sam_sln_backward", "dh");
    for (i = 0; i < rows; i++) {
        const float *hi = h + i * width, *di = dout + i * width;
        double nrm = sqrt(sam__sumsq(ctx, width, hi));
        if (nrm > (double)eps) {
            /* (dU − u (u·dU)) / ‖h‖ with u = h/‖h‖: (dU − h (h·dU)/‖h‖²)/‖h‖ */
            double c = sam__dot(ctx, width, hi, di) / (nrm * nrm);
            for (j = 0; j < width; j++) dh[i * width + j] = (float)(((double)di[j] - (double)hi[j] * c) / nrm);
        } else {
            for (j = 0; j < width; j++) dh[i * width + j] = (float)((double)di[j] / (double)eps);
        }
    }
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_sbn_forward(sam_ctx *ctx, size_t n_stat, const float *h_stat, size_t rows, size_t width,
                                    const float *h, const float *gamma, float clamp, float *out) {
    sam_status st;
    double *s;
    size_t j;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_norm_args(ctx, rows, width, clamp, "sam_sbn_forward"))) return st;
    if (n_stat == 0) return sam__fail(ctx, SAM_ERR_ARG, "sam_sbn_forward: n_stat must be > 0");
    SAM__CHECK_PTR(ctx, h_stat, "sam_sbn_forward", "h_stat");
    SAM__CHECK_PTR(ctx, h, "sam_sbn_forward", "h");
    SAM__CHECK_PTR(ctx, gamma, "sam_sbn_forward", "gamma");
    SAM__CHECK_PTR(ctx, out, "sam_sbn_forward", "out");
    s = (double *)sam__alloc(ctx->alloc_user, 3 * width * sizeof(double));
    if (!s) return sam__fail(ctx, SAM_ERR_NOMEM, "sam_sbn_forward: out of memory");
    sam__sbn_stats_impl[ctx->isa](n_stat, h_stat, width, clamp, s, s + width);
    for (j = 0; j < width; j++) s[width + j] = (double)gamma[j];
    sam__cmuldiv_impl[ctx->isa](rows, width, h, s + width, s, out); /* γ h / s */
    sam__free(ctx->alloc_user, s);
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_sbn_backward(sam_ctx *ctx, size_t n_stat, const float *h_stat, size_t rows, size_t width,
                                     const float *h, const float *gamma, float clamp, const float *dout,
                                     float *dh, float *dh_stat, float *dgamma) {
    sam_status st;
    double *s, *acc, *gg, *gs, *gd, *ns;
    size_t j;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_norm_args(ctx, rows, width, clamp, "sam_sbn_backward"))) return st;
    if (n_stat == 0) return sam__fail(ctx, SAM_ERR_ARG, "sam_sbn_backward: n_stat must be > 0");
    SAM__CHECK_PTR(ctx, h_stat, "sam_sbn_backward", "h_stat");
    SAM__CHECK_PTR(ctx, h, "sam_sbn_backward", "h");
    SAM__CHECK_PTR(ctx, gamma, "sam_sbn_backward", "gamma");
    SAM__CHECK_PTR(ctx, dout, "sam_sbn_backward", "dout");
    SAM__CHECK_PTR(ctx, dh, "sam_sbn_backward", "dh");
    SAM__CHECK_PTR(ctx, dh_stat, "sam_sbn_backward", "dh_stat");
    SAM__CHECK_PTR(ctx, dgamma, "sam_sbn_backward", "dgamma");
    s = (double *)sam__alloc(ctx->alloc_user, 6 * width * sizeof(double));
    if (!s) return sam__fail(ctx, SAM_ERR_NOMEM, "sam_sbn_backward: out of memory");
    acc = s + width; gg = s + 2 * width; gs = s + 3 * width; gd = s + 4 * width; ns = s + 5 * width;
    sam__sbn_stats_impl[ctx->isa](n_stat, h_stat, width, clamp, s, acc);
    /* Backward of u_ij = γ_j h_ij / s_j:
     *   gγ_j = Σ_i dU_ij h_ij / s_j,  dA_ij = dU_ij γ_j / s_j,
     *   gs_j = −Σ_i dU_ij γ_j h_ij / s_j² = −γ_j gγ_j / s_j,
     *   ds_j/dh_kj = h_kj / (N s_j) for the statistics rows k (0 when clamped). */
    sam__cdot_impl[ctx->isa](rows, width, dout, h, gg);
    for (j = 0; j < width; j++) {
        gg[j] /= s[j];
        gs[j] = s[j] > (double)clamp ? -(double)gamma[j] * gg[j] / s[j] : 0.0;
        dgamma[j] = (float)gg[j];
        gd[j] = (double)gamma[j];
        ns[j] = (double)n_stat * s[j];
    }
    sam__cmuldiv_impl[ctx->isa](rows, width, dout, gd, s, dh);         /* dU γ / s      */
    sam__cmuldiv_impl[ctx->isa](n_stat, width, h_stat, gs, ns, dh_stat); /* gs h / (N s) */
    sam__free(ctx->alloc_user, s);
    return sam__ok(ctx);
}

#define SAM__NORM_WRAP(fname, groups, len, gstep, estep, isbwd)                                              \
    SAM__CHECK_CTX(ctx);                                                                                     \
    if ((st = sam__check_norm_args(ctx, rows, width, eps, fname))) return st;                                \
    SAM__CHECK_PTR(ctx, h, fname, "h");

SAM__DEF sam_status sam_ln_forward(sam_ctx *ctx, size_t rows, size_t width, float eps, const float *h, float *out) {
    sam_status st;
    SAM__NORM_WRAP("sam_ln_forward", rows, width, width, 1, 0)
    SAM__CHECK_PTR(ctx, out, "sam_ln_forward", "out");
    sam__ln_fwd_impl[ctx->isa](rows, width, eps, h, out);
    return sam__ok(ctx);
}
SAM__DEF sam_status sam_ln_backward(sam_ctx *ctx, size_t rows, size_t width, float eps, const float *h,
                                    const float *dout, float *dh) {
    sam_status st;
    SAM__NORM_WRAP("sam_ln_backward", rows, width, width, 1, 1)
    SAM__CHECK_PTR(ctx, dout, "sam_ln_backward", "dout");
    SAM__CHECK_PTR(ctx, dh, "sam_ln_backward", "dh");
    sam__ln_bwd_impl[ctx->isa](rows, width, eps, h, dout, dh);
    return sam__ok(ctx);
}
SAM__DEF sam_status sam_bn_forward(sam_ctx *ctx, size_t rows, size_t width, float eps, const float *h, float *out) {
    sam_status st;
    double *ws;
    SAM__NORM_WRAP("sam_bn_forward", width, rows, 1, width, 0)
    SAM__CHECK_PTR(ctx, out, "sam_bn_forward", "out");
    ws = (double *)sam__alloc(ctx->alloc_user, 2 * width * sizeof(double));
    if (!ws) return sam__fail(ctx, SAM_ERR_NOMEM, "sam_bn_forward: out of memory");
    sam__bn_fwd_impl[ctx->isa](rows, width, eps, h, out, ws);
    sam__free(ctx->alloc_user, ws);
    return sam__ok(ctx);
}
SAM__DEF sam_status sam_bn_backward(sam_ctx *ctx, size_t rows, size_t width, float eps, const float *h,
                                    const float *dout, float *dh) {
    sam_status st;
    double *ws;
    SAM__NORM_WRAP("sam_bn_backward", width, rows, 1, width, 1)
    SAM__CHECK_PTR(ctx, dout, "sam_bn_backward", "dout");
    SAM__CHECK_PTR(ctx, dh, "sam_bn_backward", "dh");
    ws = (double *)sam__alloc(ctx->alloc_user, 4 * width * sizeof(double));
    if (!ws) return sam__fail(ctx, SAM_ERR_NOMEM, "sam_bn_backward: out of memory");
    sam__bn_bwd_impl[ctx->isa](rows, width, eps, h, dout, dh, ws);
    sam__free(ctx->alloc_user, ws);
    return sam__ok(ctx);
}
#undef SAM__NORM_WRAP

/* ========================================================================
 * LOSSES: value, first and second derivative in the output f
 *   Evaluated in double; softplus and the sigmoid in their stable forms.
 * ====================================================================== */

static double sam__softplus(double t) { return t > 0.0 ? t + log1p(exp(-t)) : log1p(exp(t)); }
static double sam__sigmoid(double t) {
    double e;
    if (t >= 0.0) return 1.0 / (1.0 + exp(-t));
    e = exp(t);
    return e / (1.0 + e);
}

/* Scalar losses: ℓ(f; y), ℓ', ℓ''. */
static void sam__loss1(const sam_loss *L, double f, double y, double *v, double *g, double *h) {
    double m = y * f, p = (double)L->smoothing;
    switch (L->kind) {
    case SAM_LOSS_MSE: /* (f − y)², Wen et al. (no ½) */
        *v = (f - y) * (f - y); *g = 2.0 * (f - y); *h = 2.0;
        break;
    case SAM_LOSS_LOGISTIC_LS: /* (1−p) softplus(−yf) + p softplus(yf) */
        *v = (1.0 - p) * sam__softplus(-m) + p * sam__softplus(m);
        *g = y * (-(1.0 - p) * sam__sigmoid(-m) + p * sam__sigmoid(m));
        *h = y * y * sam__sigmoid(m) * sam__sigmoid(-m);
        break;
    default: /* logistic: softplus(−y f) */
        *v = sam__softplus(-m);
        *g = -y * sam__sigmoid(-m);
        *h = y * y * sam__sigmoid(m) * sam__sigmoid(-m);
        break;
    }
}

/* Softmax cross-entropy with label smoothing ε: t = (1−ε) e_label + ε/K;
 * ℓ = logsumexp(f) − t·f, ∇ℓ = p − t, ∇²ℓ = diag(p) − p pᵀ. p gets K probs. */
static double sam__loss_ce(size_t K, const float *f, int32_t label, double eps, double *p) {
    size_t k;
    double mx = (double)f[0], z = 0.0, lse, tf = 0.0;
    for (k = 1; k < K; k++) if ((double)f[k] > mx) mx = (double)f[k];
    for (k = 0; k < K; k++) { p[k] = exp((double)f[k] - mx); z += p[k]; }
    lse = mx + log(z);
    for (k = 0; k < K; k++) {
        double t = eps / (double)K + ((int32_t)k == label ? 1.0 - eps : 0.0);
        p[k] /= z;
        tf += t * (double)f[k];
    }
    return lse - tf;
}

static sam_status sam__check_loss(sam_ctx *ctx, const sam_loss *L, size_t k, const char *fn) {
    if ((unsigned)L->kind > (unsigned)SAM_LOSS_SOFTMAX_CE)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: loss kind (%d) is not a sam_loss_kind", fn, (int)L->kind);
    if (!(L->smoothing >= 0.0f && L->smoothing < 1.0f))
        return sam__fail(ctx, SAM_ERR_ARG, "%s: loss smoothing (%g) must be in [0, 1)", fn, (double)L->smoothing);
    if (L->kind == SAM_LOSS_SOFTMAX_CE && k < 2)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: softmax cross-entropy needs >= 2 outputs, got %zu", fn, k);
    if (L->kind != SAM_LOSS_SOFTMAX_CE && k != 1)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: a scalar loss needs 1 output, got %zu", fn, k);
    return SAM_OK;
}

SAM__DEF sam_status sam_loss_eval(sam_ctx *ctx, const sam_loss *loss, size_t k, const float *f, float y,
                                  int32_t label, double *value, double *grad, double *hess) {
    sam_status st;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, loss, "sam_loss_eval", "loss");
    SAM__CHECK_PTR(ctx, f, "sam_loss_eval", "f");
    SAM__CHECK_PTR(ctx, value, "sam_loss_eval", "value");
    if ((st = sam__check_loss(ctx, loss, k, "sam_loss_eval"))) return st;
    if (!sam__finite(ctx, k, f) || !(y == y && fabsf(y) <= FLT_MAX))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "sam_loss_eval: f or y is not finite");
    if (loss->kind == SAM_LOSS_SOFTMAX_CE) {
        double p[256], v;
        size_t a, b;
        if (k > 256) return sam__fail(ctx, SAM_ERR_ARG, "sam_loss_eval: k (%zu) > 256 classes", k);
        if (label < 0 || (size_t)label >= k)
            return sam__fail(ctx, SAM_ERR_ARG, "sam_loss_eval: label (%d) out of range [0, %zu)", (int)label, k);
        v = sam__loss_ce(k, f, label, (double)loss->smoothing, p);
        *value = v;
        if (grad)
            for (a = 0; a < k; a++)
                grad[a] = p[a] - ((double)loss->smoothing / (double)k + ((int32_t)a == label ? 1.0 - (double)loss->smoothing : 0.0));
        if (hess)
            for (a = 0; a < k; a++)
                for (b = 0; b < k; b++) hess[a * k + b] = (a == b ? p[a] : 0.0) - p[a] * p[b];
    } else {
        double v, g, h;
        sam__loss1(loss, (double)f[0], (double)y, &v, &g, &h);
        *value = v;
        if (grad) grad[0] = g;
        if (hess) hess[0] = h;
    }
    return sam__ok(ctx);
}

/* The mean loss over B rows of F (B × K): returns Σ_i ℓ_i, writes
 * dF = ∇_F L = ℓ'(F_i)/B and Hd, what the R-op needs: the scalar losses keep
 * ℓ''(F_i)/B (B floats), CE keeps the probabilities (B × K). */
static double sam__loss_batch(const sam_loss *L, size_t B, size_t K, const float *F, const sam_batch *b,
                              float *dF, float *Hd, double *pbuf) {
    size_t i, k;
    double sum = 0.0, invB = 1.0 / (double)B;
    for (i = 0; i < B; i++) {
        size_t s = b->idx ? b->idx[i] : i;
        if (L->kind == SAM_LOSS_SOFTMAX_CE) {
            int32_t lab = b->data->label[s];
            double eps = (double)L->smoothing;
            sum += sam__loss_ce(K, F + i * K, lab, eps, pbuf);
            for (k = 0; k < K; k++) {
                double t = eps / (double)K + ((int32_t)k == lab ? 1.0 - eps : 0.0);
                dF[i * K + k] = (float)((pbuf[k] - t) * invB);
                Hd[i * K + k] = (float)pbuf[k];
            }
        } else {
            double v, g, h;
            sam__loss1(L, (double)F[i], (double)b->data->y[s], &v, &g, &h);
            sum += v;
            dF[i] = (float)(g * invB);
            Hd[i] = (float)(h * invB);
        }
    }
    return sum;
}

/* R-op of the loss gradient: RdF = ∇²_F L · RF. */
static void sam__loss_rop(const sam_loss *L, size_t B, size_t K, const float *Hd, const float *RF, float *RdF) {
    size_t i, k;
    if (L->kind == SAM_LOSS_SOFTMAX_CE) {
        double invB = 1.0 / (double)B;
        for (i = 0; i < B; i++) {
            const float *p = Hd + i * K, *r = RF + i * K;
            double pr = 0.0;
            for (k = 0; k < K; k++) pr += (double)p[k] * (double)r[k];
            for (k = 0; k < K; k++) RdF[i * K + k] = (float)((double)p[k] * ((double)r[k] - pr) * invB);
        }
    } else {
        for (i = 0; i < B; i++) RdF[i] = Hd[i] * RF[i];
    }
}

/* ========================================================================
 * MODELS: shared helpers
 * ====================================================================== */

enum { SAM__RUN_LOSS = 0, SAM__RUN_HVP = 1, SAM__RUN_PREDICT = 2, SAM__RUN_OUTGRAD = 3 };

/* Work memory is carved by one function per model, run twice: with a NULL
 * base to size it (work_bytes), then on the caller's buffer. Every piece is
 * 64-byte aligned; the base is aligned first (hence the extra 64 bytes). */
typedef struct sam__carve {
    unsigned char *base;
    size_t off;
    int overflow;
} sam__carve;

static void sam__carve_init(sam__carve *c, void *work) {
    c->off = 0;
    c->overflow = 0;
    c->base = work ? (unsigned char *)(((uintptr_t)work + SAM__ALIGN - 1) & ~(uintptr_t)(SAM__ALIGN - 1)) : NULL;
}
static void *sam__take(sam__carve *c, size_t count, size_t elem) {
    size_t bytes, next;
    void *p;
    if (!sam__mul_ok(count, elem, &bytes) || !sam__add_ok(bytes, SAM__ALIGN, &bytes) ||
        !sam__add_ok(c->off, sam__round_up(bytes - SAM__ALIGN, SAM__ALIGN), &next)) {
        c->overflow = 1;
        return NULL;
    }
    p = c->base ? (void *)(c->base + c->off) : NULL;
    c->off = next;
    return p;
}
static size_t sam__carve_total(const sam__carve *c) {
    return c->overflow ? (size_t)-1 : c->off + SAM__ALIGN;
}
static size_t sam__mul3(size_t a, size_t b, size_t c) {
    size_t t;
    if (!sam__mul_ok(a, b, &t) || !sam__mul_ok(t, c, &t)) return (size_t)-1 / 8;
    return t;
}

/* Common batch checks of every model entry point (before any output is
 * written): batch, data, shapes, indices, targets, finiteness of the targets. */
static sam_status sam__nn_check_batch(sam_ctx *ctx, const sam_batch *b, size_t dim, size_t K, int need_target,
                                      void *work, const char *fn) {
    const sam_dataset *D;
    size_t i;
    if (!b) return sam__fail(ctx, SAM_ERR_NULL, "%s: batch is NULL", fn);
    if (!b->data) return sam__fail(ctx, SAM_ERR_NULL, "%s: batch->data is NULL", fn);
    D = b->data;
    if (b->n == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: batch n must be > 0", fn);
    if (!D->x) return sam__fail(ctx, SAM_ERR_NULL, "%s: data->x is NULL", fn);
    if (D->dim != dim)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: data dim (%zu) does not match the model input (%zu)", fn, D->dim, dim);
    if (!work) return sam__fail(ctx, SAM_ERR_NULL, "%s: work is NULL", fn);
    if (!b->idx && b->n > D->n)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: batch n (%zu) > data n (%zu)", fn, b->n, D->n);
    for (i = 0; i < b->n; i++) {
        size_t s = b->idx ? b->idx[i] : i;
        if (s >= D->n)
            return sam__fail(ctx, SAM_ERR_ARG, "%s: batch index idx[%zu] = %zu >= n (%zu)", fn, i, s, D->n);
        if (!need_target) continue;
        if (K > 1) {
            if (!D->label) return sam__fail(ctx, SAM_ERR_NULL, "%s: data->label is NULL", fn);
            if (D->label[s] < 0 || (size_t)D->label[s] >= K)
                return sam__fail(ctx, SAM_ERR_ARG, "%s: label[%zu] = %d out of range [0, %zu)", fn, s,
                                 (int)D->label[s], K);
        } else {
            if (!D->y) return sam__fail(ctx, SAM_ERR_NULL, "%s: data->y is NULL", fn);
            if (!(D->y[s] == D->y[s] && fabsf(D->y[s]) <= FLT_MAX))
                return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: y[%zu] is not finite", fn, s);
        }
    }
    return SAM_OK;
}

static sam_status sam__nn_check_vec(sam_ctx *ctx, size_t n, const float *x, const char *fn, const char *name) {
    if (!x) return sam__fail(ctx, SAM_ERR_NULL, "%s: %s is NULL", fn, name);
    if (!sam__finite(ctx, n, x)) return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: %s has NaN or Inf", fn, name);
    return SAM_OK;
}

/* column sums: out[j] = Σ_i X[i][j] (rows in order; axpy with a = 1 is exact
 * per step on every ISA) */
static void sam__colsum(const sam_ctx *ctx, size_t rows, size_t cols, const float *X, float *out, int accumulate) {
    size_t i;
    if (!accumulate) memset(out, 0, cols * sizeof(float));
    for (i = 0; i < rows; i++) sam__axpy(ctx, cols, 1.0f, X + i * cols, out);
}

/* ========================================================================
 * MODEL: Chen et al.'s two-layer patch CNN (PAPERS.md §1)
 *
 *   rows r of the patch matrix Xg (R × d): generic path r = i·P + p (patch p
 *   of batch sample i, weight ω = 1); fast path rows 0..B−1 are the noise
 *   patch ξ_i (weight ω = P−1), rows B..2B−1 the signal ŷ_i μ (weight 1),
 *   whose pre-activations ŷ_i ⟨w_j, μ⟩ come from one product μ Aᵀ.
 *   Z = Xg Aᵀ (R × J),  S[i][j] = Σ_{r of i} ω_r σ(Z[r][j])  (B × J),
 *   F[i][o(j)] = Σ_j κ_j S[i][j]  (binary: o = 0, κ = ±1/m; K-class: o = j/m,
 *   κ = 1/m),  L = (1/B) Σ_i ℓ(F_i).
 *   Backward: dS = κ dF, dZ = ω σ'(Z) dS, ∇A = dZᵀ Xg.
 *   R-op (direction V): RZ = Xg Vᵀ, RS = Σ ω σ'(Z) RZ, RF = κ RS,
 *   RdF = ∇²ℓ RF, RdZ = ω (σ'(Z) κ RdF + σ''(Z) RZ dS), H V = RdZᵀ Xg.
 * ====================================================================== */

/* What the patch rows in the work buffer were gathered from, so a later call
 * on the same batch (ctx->same_data) can skip the gather and the data checks. */
typedef struct sam__cnn_key {
    const sam_dataset *data;
    size_t n;
    int fast, has_idx, valid;
} sam__cnn_key;

typedef struct sam__cnn_work {
    sam__cnn_key *key;
    size_t *kidx; /* the batch's sample indices when b->idx was given */
    float *Xg, *Z, *A, *D1, *D2, *RZ, *dZ, *RdZ, *S, *dS, *RS, *RdS;
    float *F, *dF, *Hd, *RF, *RdF, *zmu, *Rzmu, *cmu, *yhat;
    double *pbuf;
} sam__cnn_work;

static size_t sam__cnn_carve(const sam_cnn *net, size_t B, void *work, sam__cnn_work *wk) {
    sam__carve c;
    size_t P = net->cfg.patches, d = net->cfg.patch_dim, J = net->n_filters, K = net->model.out_dim;
    size_t R = sam__mul3(B, P < 2 ? 2 : P, 1), RJ = sam__mul3(R, J, 1), BJ = sam__mul3(B, J, 1);
    size_t BK = sam__mul3(B, K, 1);
    sam__carve_init(&c, work);
    wk->key = (sam__cnn_key *)sam__take(&c, 1, sizeof(sam__cnn_key)); /* first: same place for every B */
    wk->kidx = (size_t *)sam__take(&c, B, sizeof(size_t));
    wk->Xg = (float *)sam__take(&c, sam__mul3(B, P, d), sizeof(float));
    wk->Z = (float *)sam__take(&c, RJ, sizeof(float));
    wk->A = (float *)sam__take(&c, RJ, sizeof(float));
    wk->D1 = (float *)sam__take(&c, RJ, sizeof(float));
    wk->D2 = (float *)sam__take(&c, RJ, sizeof(float));
    wk->RZ = (float *)sam__take(&c, RJ, sizeof(float));
    wk->dZ = (float *)sam__take(&c, RJ, sizeof(float));
    wk->RdZ = (float *)sam__take(&c, RJ, sizeof(float));
    wk->S = (float *)sam__take(&c, BJ, sizeof(float));
    wk->dS = (float *)sam__take(&c, BJ, sizeof(float));
    wk->RS = (float *)sam__take(&c, BJ, sizeof(float));
    wk->RdS = (float *)sam__take(&c, BJ, sizeof(float));
    wk->F = (float *)sam__take(&c, BK, sizeof(float));
    wk->dF = (float *)sam__take(&c, BK, sizeof(float));
    wk->Hd = (float *)sam__take(&c, BK, sizeof(float));
    wk->RF = (float *)sam__take(&c, BK, sizeof(float));
    wk->RdF = (float *)sam__take(&c, BK, sizeof(float));
    wk->zmu = (float *)sam__take(&c, J, sizeof(float));
    wk->Rzmu = (float *)sam__take(&c, J, sizeof(float));
    wk->cmu = (float *)sam__take(&c, J, sizeof(float));
    wk->yhat = (float *)sam__take(&c, B, sizeof(float));
    wk->pbuf = (double *)sam__take(&c, K, sizeof(double));
    return sam__carve_total(&c);
}

static size_t sam__cnn_work_bytes(const void *self, size_t batch) {
    sam__cnn_work wk;
    return sam__cnn_carve((const sam_cnn *)self, batch ? batch : 1, NULL, &wk);
}

/* The fast path applies when the data says its P−1 noise patches are one ξ
 * and where the signal patch is (PAPERS.md §1, Chen et al.'s data). */
static int sam__cnn_fast(const sam_cnn *net, const sam_dataset *D) {
    return !net->cfg.no_fast_path && D->noise_count == 1 && D->signal_patch && D->signal && D->y_clean &&
           net->cfg.patches >= 2;
}

/* F[i][·] from S: binary F = (Σ_{j<m} S − Σ_{j>=m} S)/m, K-class F_k = Σ_group S / m. */
static void sam__cnn_head(const sam_cnn *net, size_t B, const float *S, float *F) {
    size_t i, j, k, m = net->cfg.width, J = net->n_filters, K = net->model.out_dim;
    for (i = 0; i < B; i++) {
        if (K == 1) {
            double acc = 0.0;
            for (j = 0; j < m; j++) acc += (double)S[i * J + j];
            for (j = m; j < J; j++) acc -= (double)S[i * J + j];
            F[i] = (float)(acc / (double)m);
        } else {
            for (k = 0; k < K; k++) {
                double acc = 0.0;
                for (j = k * m; j < (k + 1) * m; j++) acc += (double)S[i * J + j];
                F[i * K + k] = (float)(acc / (double)m);
            }
        }
    }
}

/* dS = κ dF (the head's transpose). */
static void sam__cnn_head_t(const sam_cnn *net, size_t B, const float *dF, float *dS) {
    size_t i, j, m = net->cfg.width, J = net->n_filters, K = net->model.out_dim;
    float inv_m = 1.0f / (float)m;
    for (i = 0; i < B; i++)
        for (j = 0; j < J; j++) {
            float g = K == 1 ? dF[i] : dF[i * K + j / m];
            dS[i * J + j] = (K == 1 && j >= m) ? -g * inv_m : g * inv_m;
        }
}

/* S[i][j] = Σ_{rows r of i} ω_r A[r][j]; generic rows i·P..i·P+P−1 in order,
 * fast: noise row i (ω = P−1) then signal row B+i. */
static void sam__cnn_pool(size_t B, size_t P, size_t J, int fast, const float *A, float *S) {
    size_t i, j, p;
    float om = (float)(P - 1);
    for (i = 0; i < B; i++)
        for (j = 0; j < J; j++) {
            float acc;
            if (fast) acc = om * A[i * J + j] + A[(B + i) * J + j];
            else {
                acc = 0.0f;
                for (p = 0; p < P; p++) acc += A[(i * P + p) * J + j];
            }
            S[i * J + j] = acc;
        }
}

/* Gather the batch's patch rows into wk->Xg (fast path: the one noise row per
 * sample, and its ŷ), check them, and record what was gathered in wk->key.
 * The generic path with idx == NULL uses the data in place (only checked). */
static sam_status sam__cnn_gather(sam_ctx *ctx, const sam_cnn *net, const sam_batch *b, int fast,
                                  sam__cnn_work *wk, const char *fn) {
    const sam_dataset *D = b->data;
    size_t B = b->n, P = net->cfg.patches, d = net->cfg.patch_dim, dim = P * d, i;
    const float *X = !fast && !b->idx ? D->x : wk->Xg;
    wk->key->valid = 0;
    if (X == wk->Xg)
        for (i = 0; i < B; i++) {
            size_t s = b->idx ? b->idx[i] : i;
            if (fast) {
                int32_t sp = D->signal_patch[s];
                if (sp < 0 || (size_t)sp >= P)
                    return sam__fail(ctx, SAM_ERR_ARG, "%s: data->signal_patch[%zu] = %d out of range [0, %zu)", fn,
                                     s, (int)sp, P);
                memcpy(wk->Xg + i * d, D->x + s * dim + (sp == 0 ? 1 : 0) * d, d * sizeof(float));
                wk->yhat[i] = D->y_clean[s] > 0.0f ? 1.0f : -1.0f;
            } else {
                memcpy(wk->Xg + i * dim, D->x + s * dim, dim * sizeof(float));
            }
        }
    if (!sam__finite(ctx, (fast ? B : B * P) * d, X))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: data x has NaN or Inf", fn);
    if (fast && !sam__finite(ctx, d, D->signal))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: data->signal has NaN or Inf", fn);
    wk->key->data = D;
    wk->key->n = B;
    wk->key->fast = fast;
    wk->key->has_idx = b->idx != NULL;
    if (b->idx) memcpy(wk->kidx, b->idx, B * sizeof(size_t));
    wk->key->valid = 1;
    return SAM_OK;
}

static sam_status sam__cnn_run(const sam_cnn *net, sam_ctx *ctx, const float *w, const sam_batch *b,
                               const float *v, int mode, double *loss, float *grad, float *hv, float *out,
                               double *fout, void *work, const char *fn) {
    const sam_cnn_config *cf = &net->cfg;
    const sam_dataset *D = b->data;
    size_t B = b->n, P = cf->patches, d = cf->patch_dim, J = net->n_filters, K = net->model.out_dim;
    size_t i, j, r;
    int fast = sam__cnn_fast(net, D);
    size_t R = fast ? 2 * B : B * P, Rg = fast ? B : B * P;
    float om = (float)(P - 1);
    sam__cnn_work wk;
    sam_status st;

    const float *X; /* the patch rows: gathered into work, or the data itself */
    const sam__cnn_key *key;
    sam__cnn_carve(net, B, work, &wk);
    key = wk.key;
    /* a contiguous batch (idx == NULL) of the generic path is used in place */
    X = !fast && !b->idx ? D->x : wk.Xg;
    /* SAM's later gradients in a step use the batch of its first: the rows
     * gathered and checked then are still in work (ctx->same_data) when the
     * key matches by value. Saves a gather and a pass over the rows per
     * gradient, ~6 % of a CNN gradient at (20, 2, 1000, 10). */
    if (!(ctx->same_data && key->valid && key->data == D && key->n == B && key->fast == fast &&
          key->has_idx == (b->idx != NULL) && (!b->idx || memcmp(wk.kidx, b->idx, B * sizeof(size_t)) == 0))) {
        if ((st = sam__cnn_gather(ctx, net, b, fast, &wk, fn))) return st;
    }

    /* forward: Z = Xg Aᵀ (R × J); fast: signal rows ŷ_i (μ Aᵀ) */
    if ((st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_TRANS, Rg, J, d, 1.0f, X, d, w, d, 0.0f, wk.Z, J))) return st;
    if (fast && (st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_TRANS, 1, J, d, 1.0f, D->signal, d, w, d, 0.0f, wk.zmu, J)))
        return st;
    /* The finiteness check of w (all n_params = J·d of them are filters),
     * folded into the forward pass as in the MLP: a NaN or Inf in filter j
     * makes column j of Z non-finite in every row, because each row of X is
     * finite (checked above; NaN·x = NaN, Inf·0 = NaN, Inf + finite = Inf).
     * So a finite Z (Rg × J, 20× smaller than w in the papers' CNN) proves w
     * finite; otherwise (or on a float overflow from finite w) the full check
     * gives the same status and message as a check up front. Only work memory
     * has been written so far. A pass over w was ~5 % of a gradient. */
    if (!sam__finite(ctx, Rg * J, wk.Z) || (fast && !sam__finite(ctx, J, wk.zmu)))
        if ((st = sam__nn_check_vec(ctx, net->model.n_params, w, fn, "w"))) return st;
    if (fast) {
        for (i = 0; i < B; i++)
            for (j = 0; j < J; j++) wk.Z[(B + i) * J + j] = wk.yhat[i] * wk.zmu[j];
    }
    sam__act_eval(ctx, &cf->act, R * J, wk.Z, wk.A, wk.D1, wk.D2);
    sam__cnn_pool(B, P, J, fast, wk.A, wk.S);
    sam__cnn_head(net, B, wk.S, wk.F);
    if (mode == SAM__RUN_PREDICT) {
        memcpy(out, wk.F, B * K * sizeof(float));
        return SAM_OK;
    }
    if (mode == SAM__RUN_OUTGRAD) {
        if (fout) *fout = (double)wk.F[0];
        wk.dF[0] = 1.0f;
    } else {
        double sum = sam__loss_batch(&cf->loss, B, K, wk.F, b, wk.dF, wk.Hd, wk.pbuf);
        if (loss) *loss = sum / (double)B;
    }
    sam__cnn_head_t(net, B, wk.dF, wk.dS);
    if (mode == SAM__RUN_HVP) {
        /* R-forward */
        if ((st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_TRANS, Rg, J, d, 1.0f, X, d, v, d, 0.0f, wk.RZ, J)))
            return st;
        if (fast) {
            if ((st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_TRANS, 1, J, d, 1.0f, D->signal, d, v, d, 0.0f, wk.Rzmu, J)))
                return st;
            for (i = 0; i < B; i++)
                for (j = 0; j < J; j++) wk.RZ[(B + i) * J + j] = wk.yhat[i] * wk.Rzmu[j];
        }
        sam__vmul_impl[ctx->isa](R * J, wk.D1, wk.RZ, wk.A); /* A := σ'(Z) RZ (A no longer needed) */
        sam__cnn_pool(B, P, J, fast, wk.A, wk.RS);
        sam__cnn_head(net, B, wk.RS, wk.RF);
        sam__loss_rop(&cf->loss, B, K, wk.Hd, wk.RF, wk.RdF);
        sam__cnn_head_t(net, B, wk.RdF, wk.RdS);
        /* R-backward: RdZ = ω (σ' RdS + σ'' RZ dS) */
        for (r = 0; r < R; r++) {
            size_t si = fast ? (r < B ? r : r - B) : r / P;
            float w_r = fast && r < B ? om : 1.0f;
            for (j = 0; j < J; j++) {
                float t = wk.D1[r * J + j] * wk.RdS[si * J + j] + wk.D2[r * J + j] * wk.RZ[r * J + j] * wk.dS[si * J + j];
                wk.RdZ[r * J + j] = w_r * t;
            }
        }
    } else {
        for (r = 0; r < R; r++) {
            size_t si = fast ? (r < B ? r : r - B) : r / P;
            float w_r = fast && r < B ? om : 1.0f;
            for (j = 0; j < J; j++) wk.RdZ[r * J + j] = w_r * (wk.D1[r * J + j] * wk.dS[si * J + j]);
        }
    }
    /* (R)dZ is now in RdZ; ∇A or H V = RdZᵀ Xg (+ fast: (Σ_i ŷ_i RdZ_signal) μᵀ) */
    {
        float *target = mode == SAM__RUN_HVP ? hv : grad;
        if (!target) return SAM_OK;
        if ((st = sam__sgemm(ctx, SAM_TRANS, SAM_NO_TRANS, J, d, Rg, 1.0f, wk.RdZ, J, X, d, 0.0f, target, d)))
            return st;
        if (fast) {
            for (j = 0; j < J; j++) {
                float acc = 0.0f;
                for (i = 0; i < B; i++) acc += wk.yhat[i] * wk.RdZ[(B + i) * J + j];
                wk.cmu[j] = acc;
            }
            if ((st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_NO_TRANS, J, d, 1, 1.0f, wk.cmu, 1, D->signal, d, 1.0f, target,
                                 d)))
                return st;
        }
    }
    return SAM_OK;
}

static sam_status sam__cnn_check(const sam_cnn *net, sam_ctx *ctx, const float *w, const sam_batch *b, int target,
                                 void *work, const char *fn) {
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if (!net) return sam__fail(ctx, SAM_ERR_NULL, "%s: model is NULL", fn);
    if ((st = sam__nn_check_batch(ctx, b, net->cfg.patches * net->cfg.patch_dim, net->model.out_dim, target, work, fn)))
        return st;
    if (b->data->patches != net->cfg.patches || b->data->patch_dim != net->cfg.patch_dim)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: data has %zu patches of %zu, the model expects %zu of %zu", fn,
                         b->data->patches, b->data->patch_dim, net->cfg.patches, net->cfg.patch_dim);
    /* w is only checked for NULL here: sam__cnn_run proves it finite from Z */
    if (!w) return sam__fail(ctx, SAM_ERR_NULL, "%s: w is NULL", fn);
    return SAM_OK;
}

static sam_status sam__cnn_loss_grad(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b,
                                     double *loss, float *grad, void *work) {
    const sam_cnn *net = (const sam_cnn *)self;
    sam_status st;
    if ((st = sam__cnn_check(net, ctx, w, b, 1, work, "sam_cnn_loss_grad"))) return st;
    if (!loss) return sam__fail(ctx, SAM_ERR_NULL, "sam_cnn_loss_grad: loss is NULL");
    return sam__cnn_run(net, ctx, w, b, NULL, SAM__RUN_LOSS, loss, grad, NULL, NULL, NULL, work,
                        "sam_cnn_loss_grad");
}

static sam_status sam__cnn_hvp(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b, const float *v,
                               float *hv, void *work) {
    const sam_cnn *net = (const sam_cnn *)self;
    sam_status st;
    if ((st = sam__cnn_check(net, ctx, w, b, 1, work, "sam_cnn_hvp"))) return st;
    if ((st = sam__nn_check_vec(ctx, net->model.n_params, v, "sam_cnn_hvp", "v"))) return st;
    if (!hv) return sam__fail(ctx, SAM_ERR_NULL, "sam_cnn_hvp: hv is NULL");
    return sam__cnn_run(net, ctx, w, b, v, SAM__RUN_HVP, NULL, NULL, hv, NULL, NULL, work, "sam_cnn_hvp");
}

static sam_status sam__cnn_predict(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b, float *out,
                                   void *work) {
    const sam_cnn *net = (const sam_cnn *)self;
    sam_status st;
    if ((st = sam__cnn_check(net, ctx, w, b, 0, work, "sam_cnn_predict"))) return st;
    if (!out) return sam__fail(ctx, SAM_ERR_NULL, "sam_cnn_predict: out is NULL");
    return sam__cnn_run(net, ctx, w, b, NULL, SAM__RUN_PREDICT, NULL, NULL, NULL, out, NULL, work,
                        "sam_cnn_predict");
}

static const sam_model_vtable sam__cnn_vtable = {"chen_cnn", sam__cnn_work_bytes, sam__cnn_loss_grad, sam__cnn_hvp,
                                                  sam__cnn_predict};

SAM__DEF void sam_cnn_config_default(sam_cnn_config *cfg) {
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->patches = 2;
    cfg->patch_dim = 1000;
    cfg->width = 10;
    cfg->classes = 2;
    cfg->act.kind = SAM_ACT_RELU;
    cfg->act.alpha = 0.01f;
    cfg->act.q = 2.0f;
    cfg->loss.kind = SAM_LOSS_LOGISTIC;
}

SAM__DEF sam_status sam_cnn_init(sam_ctx *ctx, sam_cnn *net, const sam_cnn_config *cfg) {
    sam_status st;
    size_t J, np, t;
    const char *fn = "sam_cnn_init";
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, net, "sam_cnn_init", "net");
    SAM__CHECK_PTR(ctx, cfg, "sam_cnn_init", "cfg");
    if (cfg->patches == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: patches must be > 0", fn);
    if (cfg->patch_dim == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: patch_dim must be > 0", fn);
    if (cfg->width == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: width must be > 0", fn);
    if (cfg->classes < 2) return sam__fail(ctx, SAM_ERR_ARG, "%s: classes (%zu) must be >= 2", fn, cfg->classes);
    if ((st = sam__check_act(ctx, &cfg->act, fn))) return st;
    if ((st = sam__check_loss(ctx, &cfg->loss, cfg->classes == 2 ? 1 : cfg->classes, fn))) return st;
    if (!sam__mul_ok(cfg->classes, cfg->width, &J) || !sam__mul_ok(J, cfg->patch_dim, &np) ||
        !sam__mul_ok(np, sizeof(float), &t) || !sam__mul_ok(cfg->patches, cfg->patch_dim, &t) ||
        !sam__mul_ok(t, sizeof(float), &t))
        return sam__fail(ctx, SAM_ERR_SIZE, "%s: parameter count overflows size_t", fn);
    memset(net, 0, sizeof *net);
    net->cfg = *cfg;
    net->n_filters = J;
    net->model.vt = &sam__cnn_vtable;
    net->model.self = net;
    net->model.n_params = np;
    net->model.out_dim = cfg->classes == 2 ? 1 : cfg->classes;
    if (cfg->classes == 2) {
        net->n_views = 2;
        net->views[0].name = "filters+"; net->views[0].offset = 0;
        net->views[0].rows = cfg->width; net->views[0].cols = cfg->patch_dim;
        net->views[1].name = "filters-"; net->views[1].offset = cfg->width * cfg->patch_dim;
        net->views[1].rows = cfg->width; net->views[1].cols = cfg->patch_dim;
    } else {
        net->n_views = 1;
        net->views[0].name = "filters"; net->views[0].offset = 0;
        net->views[0].rows = J; net->views[0].cols = cfg->patch_dim;
    }
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_cnn_init_params(sam_ctx *ctx, const sam_cnn *net, sam_rng *rng, float sigma0, float *w) {
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, net, "sam_cnn_init_params", "net");
    SAM__CHECK_PTR(ctx, rng, "sam_cnn_init_params", "rng");
    SAM__CHECK_PTR(ctx, w, "sam_cnn_init_params", "w");
    if (!(sigma0 >= 0.0f && sigma0 <= FLT_MAX))
        return sam__fail(ctx, SAM_ERR_ARG, "sam_cnn_init_params: sigma0 (%g) must be >= 0 and finite", (double)sigma0);
    sam__fill_gauss(ctx, rng, net->model.n_params, w, 0.0f, sigma0);
    return sam__ok(ctx);
}

/* ========================================================================
 * MODEL: MLPs (Wen et al.'s two-layer nets, the 3-layer Bias MLP, a general
 * MLP). Hidden layer l (0-based): Z_l = X_l W_lᵀ + b_l, A_l = σ(Z_l),
 * U_0 = norm(A_0) (else U_l = A_l), X_{l+1} = U_l; head F = X_L W_Lᵀ (+ b_L).
 *
 * Sim-BN's statistics run over the whole training set (PAPERS.md §2), and
 * depend on W1, b1: the hidden layers run on R = B + N rows, the batch then
 * the N statistics rows; only the batch rows reach the head and the loss, the
 * statistics rows get gradient only through s_j.
 *
 * R-op (Pearlmutter 1994), direction V (same layout as w):
 *   RZ = RX Wᵀ + X Vᵀ + Vb, RA = σ'(Z) RZ, RU = R(norm), RF likewise,
 *   RdF = ∇²ℓ RF; backward: RdZ = σ' RdA + σ'' RZ dA,
 *   H V|W = RdZᵀ X + dZᵀ RX, RdX = RdZ W + dZ V.
 * ====================================================================== */

typedef struct sam__mlp_work {
    float *X0;
    float *Z[SAM_MLP_MAX_LAYERS], *A[SAM_MLP_MAX_LAYERS], *D1[SAM_MLP_MAX_LAYERS], *D2[SAM_MLP_MAX_LAYERS];
    float *U[SAM_MLP_MAX_LAYERS], *dU[SAM_MLP_MAX_LAYERS], *dA[SAM_MLP_MAX_LAYERS];
    float *RZ[SAM_MLP_MAX_LAYERS], *RU[SAM_MLP_MAX_LAYERS], *RdU[SAM_MLP_MAX_LAYERS], *RdA[SAM_MLP_MAX_LAYERS];
    float *RA0;
    float *F, *dF, *Hd, *RF, *RdF;
    double *pbuf, *s, *Rs, *gg, *gs, *acc;
    double *nws;         /* 4 × width doubles: standard BatchNorm's per-column statistics */
    float *c1, *c2, *c3; /* per-column coefficients of Sim-BN (float: the loops stay vector-friendly) */
    float *cacc;         /* per-column sums over rows, accumulated row by row (a fixed order) */
} sam__mlp_work;

static size_t sam__mlp_carve(const sam_mlp *net, size_t B, void *work, sam__mlp_work *wk) {
    sam__carve c;
    const sam_mlp_config *cf = &net->cfg;
    size_t L = cf->n_layers, l, K = cf->out_dim;
    size_t R = B + (cf->norm == SAM_NORM_SBN ? cf->sbn_n : 0), wmax = 1;
    int has_norm = cf->norm != SAM_NORM_NONE;
    sam__carve_init(&c, work);
    wk->X0 = (float *)sam__take(&c, sam__mul3(R, cf->in_dim, 1), sizeof(float));
    for (l = 0; l + 1 < L; l++) {
        size_t n = sam__mul3(R, net->dims[l + 1], 1);
        if (net->dims[l + 1] > wmax) wmax = net->dims[l + 1];
        wk->Z[l] = (float *)sam__take(&c, n, sizeof(float));
        wk->A[l] = (float *)sam__take(&c, n, sizeof(float));
        wk->D1[l] = (float *)sam__take(&c, n, sizeof(float));
        wk->D2[l] = (float *)sam__take(&c, n, sizeof(float));
        wk->dU[l] = (float *)sam__take(&c, n, sizeof(float));
        wk->RZ[l] = (float *)sam__take(&c, n, sizeof(float));
        wk->RdU[l] = (float *)sam__take(&c, n, sizeof(float));
        if (l == 0 && has_norm) {
            wk->U[l] = (float *)sam__take(&c, n, sizeof(float));
            wk->dA[l] = (float *)sam__take(&c, n, sizeof(float));
            wk->RU[l] = (float *)sam__take(&c, n, sizeof(float));
            wk->RdA[l] = (float *)sam__take(&c, n, sizeof(float));
            wk->RA0 = (float *)sam__take(&c, n, sizeof(float));
        } else {
            /* no norm: U = A, dA = dU; RA is kept in RU */
            wk->U[l] = wk->A[l];
            wk->dA[l] = wk->dU[l];
            wk->RU[l] = (float *)sam__take(&c, n, sizeof(float));
            wk->RdA[l] = wk->RdU[l];
            if (l == 0) wk->RA0 = wk->RU[0];
        }
    }
    wk->F = (float *)sam__take(&c, sam__mul3(B, K, 1), sizeof(float));
    wk->dF = (float *)sam__take(&c, sam__mul3(B, K, 1), sizeof(float));
    wk->Hd = (float *)sam__take(&c, sam__mul3(B, K, 1), sizeof(float));
    wk->RF = (float *)sam__take(&c, sam__mul3(B, K, 1), sizeof(float));
    wk->RdF = (float *)sam__take(&c, sam__mul3(B, K, 1), sizeof(float));
    wk->pbuf = (double *)sam__take(&c, K, sizeof(double));
    if (R > wmax) wmax = R;
    wk->s = (double *)sam__take(&c, wmax, sizeof(double));
    wk->Rs = (double *)sam__take(&c, wmax, sizeof(double));
    wk->gg = (double *)sam__take(&c, wmax, sizeof(double));
    wk->gs = (double *)sam__take(&c, wmax, sizeof(double));
    wk->acc = (double *)sam__take(&c, wmax, sizeof(double));
    wk->nws = (double *)sam__take(&c, cf->norm == SAM_NORM_BN ? 4 * wmax : 1, sizeof(double));
    wk->c1 = (float *)sam__take(&c, wmax, sizeof(float));
    wk->c2 = (float *)sam__take(&c, wmax, sizeof(float));
    wk->c3 = (float *)sam__take(&c, wmax, sizeof(float));
    wk->cacc = (float *)sam__take(&c, wmax, sizeof(float));
    return sam__carve_total(&c);
}

static size_t sam__mlp_work_bytes(const void *self, size_t batch) {
    sam__mlp_work wk;
    return sam__mlp_carve((const sam_mlp *)self, batch ? batch : 1, NULL, &wk);
}

static void sam__add_bias(const sam_ctx *ctx, size_t rows, size_t cols, const float *bias, float *Z) {
    size_t i;
    for (i = 0; i < rows; i++) sam__axpy(ctx, cols, 1.0f, bias, Z + i * cols); /* z + 1·b: exact */
}

static const sam_dataset *sam__mlp_stat_set(const sam_mlp *net, const sam_batch *b) {
    if (net->cfg.norm != SAM_NORM_SBN) return NULL;
    return net->stat_data ? net->stat_data : b->data;
}

static sam_status sam__mlp_run(const sam_mlp *net, sam_ctx *ctx, const float *w, const sam_batch *b,
                               const float *v, int mode, double *loss, float *grad, float *hv, float *out,
                               double *fout, void *work, int wdefer) {
    const sam_mlp_config *cf = &net->cfg;
    const size_t L = cf->n_layers, Lh = L - 1, B = b->n, K = cf->out_dim, din = cf->in_dim;
    const sam_dataset *SD = sam__mlp_stat_set(net, b);
    const size_t N = SD ? SD->n : 0, R = B + N;
    const int hvp = mode == SAM__RUN_HVP;
    const float eps = cf->norm_eps;
    sam__mlp_work wk;
    sam_status st;
    size_t i, j, l;
    const float *X, *RX;
    size_t in;

    sam__mlp_carve(net, B, work, &wk);
    for (i = 0; i < B; i++) {
        size_t s = b->idx ? b->idx[i] : i;
        memcpy(wk.X0 + i * din, b->data->x + s * din, din * sizeof(float));
    }
    if (N) memcpy(wk.X0 + B * din, SD->x, N * din * sizeof(float));
    if (!sam__finite(ctx, R * din, wk.X0)) return sam__fail(ctx, SAM_ERR_NONFINITE, "sam_mlp: data x has NaN or Inf");

    /* ---- forward ---- */
    X = wk.X0;
    in = din;
    for (l = 0; l < Lh; l++) {
        size_t wo = net->dims[l + 1];
        if ((st = sam__dense_fwd(ctx, R, wo, in, X, w + net->off_w[l], 0, wk.Z[l])))
            return st;
        if (cf->hidden_bias) sam__add_bias(ctx, R, wo, w + net->off_b[l], wk.Z[l]);
        sam__act_eval(ctx, &cf->act, R * wo, wk.Z[l], wk.A[l], wk.D1[l], wk.D2[l]);
        if (l == 0) switch (cf->norm) {
            case SAM_NORM_SBN:
                /* s_j = max(sqrt((1/N) Σ_stat a²), clamp), rows summed in order */
                memset(wk.cacc, 0, wo * sizeof(float));
                for (i = B; i < R; i++) sam__vfma_impl[ctx->isa](wo, wk.A[0] + i * wo, wk.A[0] + i * wo, wk.cacc);
                for (j = 0; j < wo; j++) {
                    double q = sqrt((double)wk.cacc[j] / (double)N);
                    wk.s[j] = q > (double)eps ? q : (double)eps;
                    wk.c1[j] = (float)((double)w[net->off_gamma + j] / wk.s[j]); /* γ/s */
                }
                for (i = 0; i < R; i++) sam__vmul_impl[ctx->isa](wo, wk.c1, wk.A[0] + i * wo, wk.U[0] + i * wo);
                break;
            case SAM_NORM_SLN: sam__sln_fwd(ctx, R, wo, eps, wk.A[0], wk.U[0], wk.s); break;
            case SAM_NORM_BN: sam__bn_fwd_impl[ctx->isa](B, wo, eps, wk.A[0], wk.U[0], wk.nws); break;
            case SAM_NORM_LN: sam__ln_fwd_impl[ctx->isa](B, wo, eps, wk.A[0], wk.U[0]); break;
            default: break;
            }
        X = wk.U[l];
        in = wo;
    }
    if ((st = sam__dense_fwd(ctx, B, K, in, X, w + net->off_w[Lh], 0, wk.F)))
        return st;
    if (cf->out_bias) sam__add_bias(ctx, B, K, w + net->off_b[Lh], wk.F);
    if (wdefer) {
        /* The finiteness check of w, folded into the forward pass (a pass over
         * all n_params floats per call was ~10% of a 1-SAM step). A NaN or Inf
         * weight of layer l makes its whole row of Z_l non-finite when the layer
         * input is finite (NaN·x = NaN, Inf·0 = NaN, Inf + finite = Inf), and a
         * bias is added to Z_l, so finite Z_1..Z_Lh, F (inputs finite by
         * induction, data checked above) and finite γ prove w finite. Anything
         * else (also a float overflow from finite w) gets the full check, with
         * the same status and message as before; nothing but work memory has
         * been written yet. */
        int ok = sam__finite(ctx, B * K, wk.F);
        for (l = 0; ok && l < Lh; l++) ok = sam__finite(ctx, R * net->dims[l + 1], wk.Z[l]);
        if (ok && cf->norm == SAM_NORM_SBN) ok = sam__finite(ctx, net->dims[1], w + net->off_gamma);
        if (!ok && (st = sam__nn_check_vec(ctx, net->model.n_params, w, "sam_mlp_loss_grad", "w"))) return st;
    }
    if (mode == SAM__RUN_PREDICT) {
        memcpy(out, wk.F, B * K * sizeof(float));
        return SAM_OK;
    }
    if (mode == SAM__RUN_OUTGRAD) {
        if (fout) *fout = (double)wk.F[0];
        wk.dF[0] = 1.0f;
    } else {
        double sum = sam__loss_batch(&cf->loss, B, K, wk.F, b, wk.dF, wk.Hd, wk.pbuf);
        if (loss) *loss = sum / (double)B;
    }

    /* ---- R-forward ---- */
    if (hvp) {
        X = wk.X0;
        RX = NULL;
        in = din;
        for (l = 0; l < Lh; l++) {
            size_t wo = net->dims[l + 1];
            float *RA = l == 0 ? wk.RA0 : wk.RU[l];
            if ((st = sam__dense_fwd(ctx, R, wo, in, X, v + net->off_w[l], 0, wk.RZ[l])))
                return st;
            if (RX && (st = sam__dense_fwd(ctx, R, wo, in, RX, w + net->off_w[l], 1, wk.RZ[l])))
                return st;
            if (cf->hidden_bias) sam__add_bias(ctx, R, wo, v + net->off_b[l], wk.RZ[l]);
            sam__vmul_impl[ctx->isa](R * wo, wk.D1[l], wk.RZ[l], RA);
            if (l == 0 && cf->norm == SAM_NORM_SBN) {
                /* Rs_j = (1/(N s_j)) Σ_stat a Ra (0 when clamped);
                 * RU = (Vγ a + γ Ra − γ a Rs/s) / s */
                const float *g = w + net->off_gamma, *vg = v + net->off_gamma;
                const float *A0 = wk.A[0];
                memset(wk.cacc, 0, wo * sizeof(float));
                for (i = B; i < R; i++) sam__vfma_impl[ctx->isa](wo, A0 + i * wo, RA + i * wo, wk.cacc);
                for (j = 0; j < wo; j++) {
                    wk.Rs[j] = wk.s[j] > (double)eps ? (double)wk.cacc[j] / ((double)N * wk.s[j]) : 0.0;
                    /* RU = α a + (γ/s) Ra, α = (Vγ − γ Rs/s)/s */
                    wk.c2[j] = (float)(((double)vg[j] - (double)g[j] * wk.Rs[j] / wk.s[j]) / wk.s[j]);
                }
                for (i = 0; i < R; i++) {
                    sam__vmul_impl[ctx->isa](wo, wk.c2, A0 + i * wo, wk.RU[0] + i * wo);
                    sam__vfma_impl[ctx->isa](wo, wk.c1, RA + i * wo, wk.RU[0] + i * wo);
                }
            } else if (l == 0 && cf->norm == SAM_NORM_BN) {
                sam__bn_bwd_impl[ctx->isa](B, wo, eps, wk.A[0], RA, wk.RU[0], wk.nws); /* RU = J RA (J symmetric) */
            } else if (l == 0 && cf->norm == SAM_NORM_LN) {
                sam__ln_bwd_impl[ctx->isa](B, wo, eps, wk.A[0], RA, wk.RU[0]);
            } else if (l == 0 && cf->norm == SAM_NORM_SLN) {
                /* RU = (Ra − u Rs)/s with Rs = u·Ra when ‖h‖ > ε, else Ra/ε */
                for (i = 0; i < R; i++) {
                    const float *u = wk.U[0] + i * wo, *ra = RA + i * wo;
                    double s = wk.s[i];
                    double rs = s > (double)eps ? sam__dot(ctx, wo, u, ra) : 0.0;
                    float rsf = (float)rs, inv = (float)(1.0 / s);
                    wk.Rs[i] = rs;
                    for (j = 0; j < wo; j++) wk.RU[0][i * wo + j] = (ra[j] - u[j] * rsf) * inv;
                }
            }
            X = wk.U[l];
            RX = wk.RU[l];
            in = wo;
        }
        if ((st = sam__dense_fwd(ctx, B, K, in, X, v + net->off_w[Lh], 0, wk.RF)))
            return st;
        if (RX && (st = sam__dense_fwd(ctx, B, K, in, RX, w + net->off_w[Lh], 1, wk.RF)))
            return st;
        if (cf->out_bias) sam__add_bias(ctx, B, K, v + net->off_b[Lh], wk.RF);
        sam__loss_rop(&cf->loss, B, K, wk.Hd, wk.RF, wk.RdF);
    }

    /* ---- backward (and R-backward) ---- */
    {
        float *tg = hvp ? hv : grad; /* where parameter derivatives go */
        const float *Xin = Lh ? wk.U[Lh - 1] : wk.X0, *RXin = (hvp && Lh) ? wk.RU[Lh - 1] : NULL;
        size_t inL = net->dims[Lh];
        if (!tg) return SAM_OK;
        /* head */
        if (hvp) {
            if ((st = sam__dense_wgrad(ctx, K, inL, B, wk.RdF, Xin, 0, tg + net->off_w[Lh])))
                return st;
            if (RXin && (st = sam__dense_wgrad(ctx, K, inL, B, wk.dF, RXin, 1, tg + net->off_w[Lh])))
                return st;
            if (cf->out_bias) sam__colsum(ctx, B, K, wk.RdF, tg + net->off_b[Lh], 0);
        } else {
            if ((st = sam__dense_wgrad(ctx, K, inL, B, wk.dF, Xin, 0, tg + net->off_w[Lh])))
                return st;
            if (cf->out_bias) sam__colsum(ctx, B, K, wk.dF, tg + net->off_b[Lh], 0);
        }
        if (Lh) {
            float *dU = wk.dU[Lh - 1], *RdU = wk.RdU[Lh - 1];
            if ((st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_NO_TRANS, B, inL, K, 1.0f, wk.dF, K, w + net->off_w[Lh], inL,
                                 0.0f, dU, inL)))
                return st;
            if (R > B) memset(dU + B * inL, 0, (R - B) * inL * sizeof(float));
            if (hvp) {
                if ((st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_NO_TRANS, B, inL, K, 1.0f, wk.RdF, K, w + net->off_w[Lh],
                                     inL, 0.0f, RdU, inL)))
                    return st;
                if ((st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_NO_TRANS, B, inL, K, 1.0f, wk.dF, K, v + net->off_w[Lh],
                                     inL, 1.0f, RdU, inL)))
                    return st;
                if (R > B) memset(RdU + B * inL, 0, (R - B) * inL * sizeof(float));
            }
        }
        for (l = Lh; l-- > 0;) {
            size_t wo = net->dims[l + 1], li = net->dims[l];
            size_t n = R * wo;
            float *dU = wk.dU[l], *dA = wk.dA[l], *RdU = wk.RdU[l], *RdA = wk.RdA[l];
            const float *A = wk.A[l], *RA = l == 0 ? wk.RA0 : wk.RU[l];
            const float *Xl = l ? wk.U[l - 1] : wk.X0, *RXl = (hvp && l) ? wk.RU[l - 1] : NULL;
            if (l == 0 && cf->norm == SAM_NORM_SBN) {
                const float *g = w + net->off_gamma, *vg = hvp ? v + net->off_gamma : NULL;
                memset(wk.cacc, 0, wo * sizeof(float));
                for (i = 0; i < R; i++) sam__vfma_impl[ctx->isa](wo, dU + i * wo, A + i * wo, wk.cacc);
                for (j = 0; j < wo; j++) {
                    wk.gg[j] = (double)wk.cacc[j] / wk.s[j];
                    wk.gs[j] = wk.s[j] > (double)eps ? -(double)g[j] * wk.gg[j] / wk.s[j] : 0.0;
                }
                if (hvp) {
                    /* Rgg = Σ (RdU a + dU Ra)/s − gg Rs/s; Rgs = −(Vγ gg + γ Rgg)/s + γ gg Rs/s² */
                    double *Rgg = wk.acc;
                    memset(wk.cacc, 0, wo * sizeof(float));
                    for (i = 0; i < R; i++) {
                        sam__vfma_impl[ctx->isa](wo, RdU + i * wo, A + i * wo, wk.cacc);
                        sam__vfma_impl[ctx->isa](wo, dU + i * wo, RA + i * wo, wk.cacc);
                    }
                    for (j = 0; j < wo; j++) {
                        double s = wk.s[j], Rs = wk.Rs[j], rgs;
                        Rgg[j] = (double)wk.cacc[j] / s - wk.gg[j] * Rs / s;
                        rgs = -((double)vg[j] * wk.gg[j] + (double)g[j] * Rgg[j]) / s + (double)g[j] * wk.gg[j] * Rs / (s * s);
                        if (!(s > (double)eps)) rgs = 0.0;
                        tg[net->off_gamma + j] = (float)Rgg[j];
                        wk.gg[j] = rgs; /* gg is not needed any more: its slot now holds Rgs */
                    }
                    /* RdA = (γ/s) RdU + α dU (α as in the R-forward: (Vγ − γ Rs/s)/s);
                     * statistics rows add ρ1 a + ρ2 Ra with ρ1 = Rgs/(N s) − gs Rs/(N s²),
                     * ρ2 = gs/(N s) */
                    for (j = 0; j < wo; j++) {
                        double s = wk.s[j], Ns = (double)N * s;
                        wk.c3[j] = (float)(wk.gg[j] / Ns - wk.gs[j] * wk.Rs[j] / (Ns * s)); /* gg holds Rgs */
                        wk.c2[j] = (float)(((double)vg[j] - (double)g[j] * wk.Rs[j] / s) / s);
                    }
                    for (i = 0; i < R; i++) {
                        sam__vmul_impl[ctx->isa](wo, wk.c1, RdU + i * wo, RdA + i * wo);
                        sam__vfma_impl[ctx->isa](wo, wk.c2, dU + i * wo, RdA + i * wo);
                    }
                    for (j = 0; j < wo; j++) wk.c2[j] = (float)(wk.gs[j] / ((double)N * wk.s[j]));
                    for (i = B; i < R; i++) {
                        sam__vfma_impl[ctx->isa](wo, wk.c3, A + i * wo, RdA + i * wo);
                        sam__vfma_impl[ctx->isa](wo, wk.c2, RA + i * wo, RdA + i * wo);
                    }
                } else {
                    for (j = 0; j < wo; j++) tg[net->off_gamma + j] = (float)wk.gg[j];
                }
                /* dA = (γ/s) dU; statistics rows add gs a/(N s) (the path through s_j) */
                for (i = 0; i < R; i++) sam__vmul_impl[ctx->isa](wo, wk.c1, dU + i * wo, dA + i * wo);
                for (j = 0; j < wo; j++) wk.c2[j] = (float)(wk.gs[j] / ((double)N * wk.s[j]));
                for (i = B; i < R; i++) sam__vfma_impl[ctx->isa](wo, wk.c2, A + i * wo, dA + i * wo);
            } else if (l == 0 && cf->norm == SAM_NORM_SLN) {
                for (i = 0; i < R; i++) {
                    const float *u = wk.U[0] + i * wo, *du = dU + i * wo;
                    double s = wk.s[i];
                    float *da = dA + i * wo;
                    float inv = (float)(1.0 / s);
                    if (s > (double)eps) {
                        float c = (float)sam__dot(ctx, wo, u, du);
                        for (j = 0; j < wo; j++) da[j] = (du[j] - u[j] * c) * inv;
                        if (hvp) {
                            /* RdA = (RdU − RU c − u Rc)/s − dA Rs/s, Rc = RU·dU + u·RdU */
                            const float *ru = wk.RU[0] + i * wo, *rdu = RdU + i * wo;
                            float Rc = (float)(sam__dot(ctx, wo, ru, du) + sam__dot(ctx, wo, u, rdu));
                            float rsi = (float)(wk.Rs[i] / s);
                            for (j = 0; j < wo; j++)
                                RdA[i * wo + j] = (rdu[j] - ru[j] * c - u[j] * Rc) * inv - da[j] * rsi;
                        }
                    } else {
                        for (j = 0; j < wo; j++) da[j] = du[j] * inv;
                        if (hvp)
                            for (j = 0; j < wo; j++) RdA[i * wo + j] = RdU[i * wo + j] * inv;
                    }
                }
            } else if (l == 0 && cf->norm == SAM_NORM_BN) {
                if (hvp) sam__stdnorm_rbwd(wo, B, 1, wo, eps, A, RA, wk.RU[0], dU, RdU, RdA);
                sam__bn_bwd_impl[ctx->isa](B, wo, eps, A, dU, dA, wk.nws);
            } else if (l == 0 && cf->norm == SAM_NORM_LN) {
                if (hvp) sam__stdnorm_rbwd(B, wo, wo, 1, eps, A, RA, wk.RU[0], dU, RdU, RdA);
                sam__ln_bwd_impl[ctx->isa](B, wo, eps, A, dU, dA);
            }
            /* activation: RdZ = σ' RdA + σ'' RZ dA (into RdA), dZ = σ' dA (into dA) */
            if (hvp) {
                const float *D1 = wk.D1[l], *D2 = wk.D2[l], *RZ = wk.RZ[l];
                for (i = 0; i < n; i++) RdA[i] = D1[i] * RdA[i] + D2[i] * RZ[i] * dA[i];
            }
            sam__vmul_impl[ctx->isa](n, wk.D1[l], dA, dA);
            /* parameters */
            if (hvp) {
                if ((st = sam__dense_wgrad(ctx, wo, li, R, RdA, Xl, 0, tg + net->off_w[l])))
                    return st;
                if (RXl && (st = sam__dense_wgrad(ctx, wo, li, R, dA, RXl, 1, tg + net->off_w[l])))
                    return st;
                if (cf->hidden_bias) sam__colsum(ctx, R, wo, RdA, tg + net->off_b[l], 0);
            } else {
                if ((st = sam__dense_wgrad(ctx, wo, li, R, dA, Xl, 0, tg + net->off_w[l])))
                    return st;
                if (cf->hidden_bias) sam__colsum(ctx, R, wo, dA, tg + net->off_b[l], 0);
            }
            if (l > 0) {
                if ((st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_NO_TRANS, R, li, wo, 1.0f, dA, wo, w + net->off_w[l], li, 0.0f,
                                     wk.dU[l - 1], li)))
                    return st;
                if (hvp) {
                    if ((st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_NO_TRANS, R, li, wo, 1.0f, RdA, wo, w + net->off_w[l], li,
                                         0.0f, wk.RdU[l - 1], li)))
                        return st;
                    if ((st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_NO_TRANS, R, li, wo, 1.0f, dA, wo, v + net->off_w[l], li,
                                         1.0f, wk.RdU[l - 1], li)))
                        return st;
                }
            }
            (void)A;
        }
    }
    return SAM_OK;
}

/* check_w = 0: w is only checked for NULL here; sam__mlp_run (wdefer) proves
 * it finite from the forward pass. */
static sam_status sam__mlp_check(const sam_mlp *net, sam_ctx *ctx, const float *w, const sam_batch *b, int target,
                                 void *work, const char *fn, int check_w) {
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if (!net) return sam__fail(ctx, SAM_ERR_NULL, "%s: model is NULL", fn);
    if ((st = sam__nn_check_batch(ctx, b, net->cfg.in_dim, net->cfg.out_dim, target, work, fn))) return st;
    if (net->cfg.norm == SAM_NORM_SBN) {
        const sam_dataset *SD = sam__mlp_stat_set(net, b);
        if (!SD->x) return sam__fail(ctx, SAM_ERR_NULL, "%s: statistics data x is NULL", fn);
        if (SD->dim != net->cfg.in_dim)
            return sam__fail(ctx, SAM_ERR_ARG, "%s: statistics data dim (%zu) != model input (%zu)", fn, SD->dim,
                             net->cfg.in_dim);
        if (SD->n == 0 || SD->n > net->cfg.sbn_n)
            return sam__fail(ctx, SAM_ERR_ARG, "%s: statistics data n (%zu) must be in [1, sbn_n = %zu]", fn, SD->n,
                             net->cfg.sbn_n);
    }
    if (!check_w) return w ? SAM_OK : sam__fail(ctx, SAM_ERR_NULL, "%s: w is NULL", fn);
    if ((st = sam__nn_check_vec(ctx, net->model.n_params, w, fn, "w"))) return st;
    return SAM_OK;
}

static sam_status sam__mlp_loss_grad(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b,
                                     double *loss, float *grad, void *work) {
    const sam_mlp *net = (const sam_mlp *)self;
    sam_status st;
    if ((st = sam__mlp_check(net, ctx, w, b, 1, work, "sam_mlp_loss_grad", !loss))) return st;
    if (!loss) return sam__fail(ctx, SAM_ERR_NULL, "sam_mlp_loss_grad: loss is NULL");
    return sam__mlp_run(net, ctx, w, b, NULL, SAM__RUN_LOSS, loss, grad, NULL, NULL, NULL, work, 1);
}

static sam_status sam__mlp_hvp(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b, const float *v,
                               float *hv, void *work) {
    const sam_mlp *net = (const sam_mlp *)self;
    sam_status st;
    if ((st = sam__mlp_check(net, ctx, w, b, 1, work, "sam_mlp_hvp", 1))) return st;
    if ((st = sam__nn_check_vec(ctx, net->model.n_params, v, "sam_mlp_hvp", "v"))) return st;
    if (!hv) return sam__fail(ctx, SAM_ERR_NULL, "sam_mlp_hvp: hv is NULL");
    return sam__mlp_run(net, ctx, w, b, v, SAM__RUN_HVP, NULL, NULL, hv, NULL, NULL, work, 0);
}

static sam_status sam__mlp_predict(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b, float *out,
                                   void *work) {
    const sam_mlp *net = (const sam_mlp *)self;
    sam_status st;
    if ((st = sam__mlp_check(net, ctx, w, b, 0, work, "sam_mlp_predict", 1))) return st;
    if (!out) return sam__fail(ctx, SAM_ERR_NULL, "sam_mlp_predict: out is NULL");
    return sam__mlp_run(net, ctx, w, b, NULL, SAM__RUN_PREDICT, NULL, NULL, NULL, out, NULL, work, 0);
}

static const sam_model_vtable sam__mlp_vtable = {"mlp", sam__mlp_work_bytes, sam__mlp_loss_grad, sam__mlp_hvp,
                                                  sam__mlp_predict};

SAM__DEF void sam_mlp_config_default(sam_mlp_config *cfg, size_t in, size_t hidden, size_t out) {
    size_t l;
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->in_dim = in;
    cfg->n_layers = 2;
    cfg->width[0] = hidden;
    cfg->out_dim = out;
    cfg->hidden_bias = 1;
    cfg->out_bias = 1;
    cfg->act.kind = SAM_ACT_RELU;
    cfg->act.alpha = 0.01f;
    cfg->act.q = 2.0f;
    cfg->norm = SAM_NORM_NONE;
    cfg->norm_eps = 1e-3f;
    cfg->loss.kind = out > 1 ? SAM_LOSS_SOFTMAX_CE : SAM_LOSS_LOGISTIC;
    cfg->init = SAM_INIT_TORCH;
    cfg->init_sigma = 0.01f;
    for (l = 0; l < SAM_MLP_MAX_LAYERS; l++) cfg->layer_scale[l] = 1.0f;
}

SAM__DEF void sam_mlp_config_wen(sam_mlp_config *cfg, sam_wen_variant v, size_t d, size_t width) {
    if (!cfg) return;
    sam_mlp_config_default(cfg, d, width, 1);
    cfg->out_bias = 0;
    cfg->loss.kind = SAM_LOSS_MSE;
    cfg->hidden_bias = v != SAM_WEN_NOBIAS;
    cfg->sbn_n = 100;
    if (v == SAM_WEN_SBN) cfg->norm = SAM_NORM_SBN;
    if (v == SAM_WEN_SLN) { cfg->norm = SAM_NORM_SLN; cfg->layer_scale[0] = 0.01f; }
    if (v == SAM_WEN_BIAS3) { cfg->n_layers = 3; cfg->width[1] = width; }
}

SAM__DEF sam_status sam_mlp_init(sam_ctx *ctx, sam_mlp *net, const sam_mlp_config *cfg) {
    static const char *const wn[SAM_MLP_MAX_LAYERS] = {"W1", "W2", "W3", "W4"};
    static const char *const bn[SAM_MLP_MAX_LAYERS] = {"b1", "b2", "b3", "b4"};
    const char *fn = "sam_mlp_init";
    size_t l, off = 0, L;
    sam_status st;
    sam_mlp tmp;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, net, "sam_mlp_init", "net");
    SAM__CHECK_PTR(ctx, cfg, "sam_mlp_init", "cfg");
    L = cfg->n_layers;
    if (L < 1 || L > SAM_MLP_MAX_LAYERS)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: n_layers (%zu) must be in [1, %d]", fn, L, SAM_MLP_MAX_LAYERS);
    if (cfg->in_dim == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: in_dim must be > 0", fn);
    if (cfg->out_dim == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: out_dim must be > 0", fn);
    for (l = 0; l + 1 < L; l++)
        if (cfg->width[l] == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: width[%zu] must be > 0", fn, l);
    if ((unsigned)cfg->norm > (unsigned)SAM_NORM_LN)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: norm (%d) is not a sam_norm_kind", fn, (int)cfg->norm);
    if (cfg->norm != SAM_NORM_NONE && L < 2)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: a norm layer needs a hidden layer (n_layers >= 2)", fn);
    if (cfg->norm != SAM_NORM_NONE && !(cfg->norm_eps > 0.0f && cfg->norm_eps <= FLT_MAX))
        return sam__fail(ctx, SAM_ERR_ARG, "%s: norm_eps (%g) must be > 0", fn, (double)cfg->norm_eps);
    if (cfg->norm == SAM_NORM_SBN && cfg->sbn_n == 0)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: sbn_n (training-set size) must be > 0 for Sim-BN", fn);
    if ((unsigned)cfg->init > (unsigned)SAM_INIT_GAUSS)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: init (%d) is not a sam_init_kind", fn, (int)cfg->init);
    if ((st = sam__check_act(ctx, &cfg->act, fn))) return st;
    if ((st = sam__check_loss(ctx, &cfg->loss, cfg->out_dim, fn))) return st;
    memset(&tmp, 0, sizeof tmp);
    tmp.cfg = *cfg;
    tmp.dims[0] = cfg->in_dim;
    for (l = 0; l + 1 < L; l++) tmp.dims[l + 1] = cfg->width[l];
    tmp.dims[L] = cfg->out_dim;
    for (l = 0; l < L; l++) {
        size_t nw, t;
        int bias = l + 1 < L ? cfg->hidden_bias : cfg->out_bias;
        if (!sam__mul_ok(tmp.dims[l + 1], tmp.dims[l], &nw) || !sam__add_ok(off, nw, &t) ||
            !sam__add_ok(t, 2 * tmp.dims[l + 1], &t) || !sam__mul_ok(t, sizeof(float), &t) ||
            !sam__mul_ok(tmp.dims[l + 1], 1024 * sizeof(float), &t))
            return sam__fail(ctx, SAM_ERR_SIZE, "%s: parameter count overflows size_t", fn);
        tmp.off_w[l] = off;
        tmp.views[tmp.n_views].name = wn[l]; tmp.views[tmp.n_views].offset = off;
        tmp.views[tmp.n_views].rows = tmp.dims[l + 1]; tmp.views[tmp.n_views].cols = tmp.dims[l];
        tmp.n_views++;
        off += nw;
        if (bias) {
            tmp.off_b[l] = off;
            tmp.views[tmp.n_views].name = bn[l]; tmp.views[tmp.n_views].offset = off;
            tmp.views[tmp.n_views].rows = tmp.dims[l + 1]; tmp.views[tmp.n_views].cols = 1;
            tmp.n_views++;
            off += tmp.dims[l + 1];
        }
        if (l == 0 && cfg->norm == SAM_NORM_SBN) {
            tmp.off_gamma = off;
            tmp.views[tmp.n_views].name = "gamma1"; tmp.views[tmp.n_views].offset = off;
            tmp.views[tmp.n_views].rows = tmp.dims[1]; tmp.views[tmp.n_views].cols = 1;
            tmp.n_views++;
            off += tmp.dims[1];
        }
    }
    tmp.model.vt = &sam__mlp_vtable;
    tmp.model.n_params = off;
    tmp.model.out_dim = cfg->out_dim;
    *net = tmp;
    net->model.self = net;
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_mlp_set_stat_data(sam_ctx *ctx, sam_mlp *net, const sam_dataset *train) {
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, net, "sam_mlp_set_stat_data", "net");
    if (train && (train->dim != net->cfg.in_dim || train->n == 0 || train->n > net->cfg.sbn_n))
        return sam__fail(ctx, SAM_ERR_ARG, "sam_mlp_set_stat_data: train (n %zu, dim %zu) must have dim %zu and n in [1, %zu]",
                         train->n, train->dim, net->cfg.in_dim, net->cfg.sbn_n);
    net->stat_data = train;
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_mlp_init_params(sam_ctx *ctx, const sam_mlp *net, sam_rng *rng, float *w) {
    size_t l, i;
    const sam_mlp_config *cf;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, net, "sam_mlp_init_params", "net");
    SAM__CHECK_PTR(ctx, rng, "sam_mlp_init_params", "rng");
    SAM__CHECK_PTR(ctx, w, "sam_mlp_init_params", "w");
    cf = &net->cfg;
    for (l = 0; l < cf->n_layers; l++)
        if (!(cf->layer_scale[l] == cf->layer_scale[l] && fabsf(cf->layer_scale[l]) <= FLT_MAX))
            return sam__fail(ctx, SAM_ERR_NONFINITE, "sam_mlp_init_params: layer_scale[%zu] is not finite", l);
    for (l = 0; l < cf->n_layers; l++) {
        size_t nw = net->dims[l + 1] * net->dims[l];
        int bias = l + 1 < cf->n_layers ? cf->hidden_bias : cf->out_bias;
        double sc = (double)cf->layer_scale[l];
        float *W = w + net->off_w[l];
        if (cf->init == SAM_INIT_TORCH) {
            /* PyTorch nn.Linear default: weights and bias U(±1/√fan_in) */
            double bound = 1.0 / sqrt((double)net->dims[l]);
            for (i = 0; i < nw; i++) W[i] = (float)(sc * bound * (2.0 * sam_rng_uniform(rng) - 1.0));
            if (bias)
                for (i = 0; i < net->dims[l + 1]; i++)
                    w[net->off_b[l] + i] = (float)(sc * bound * (2.0 * sam_rng_uniform(rng) - 1.0));
        } else {
            for (i = 0; i < nw; i++) W[i] = (float)(sc * (double)cf->init_sigma * sam_rng_gauss(rng));
            if (bias) memset(w + net->off_b[l], 0, net->dims[l + 1] * sizeof(float));
        }
        if (l == 0 && cf->norm == SAM_NORM_SBN)
            for (i = 0; i < net->dims[1]; i++) w[net->off_gamma + i] = 1.0f;
    }
    return sam__ok(ctx);
}

SAM__DEF const sam_param_view *sam_nn_views(const sam_model *m, size_t *count) {
    if (count) *count = 0;
    if (!m || !m->self) return NULL;
    if (m->vt == &sam__cnn_vtable) {
        const sam_cnn *n = (const sam_cnn *)m->self;
        if (count) *count = n->n_views;
        return n->views;
    }
    if (m->vt == &sam__mlp_vtable) {
        const sam_mlp *n = (const sam_mlp *)m->self;
        if (count) *count = n->n_views;
        return n->views;
    }
    return NULL;
}

/* ========================================================================
 * CURVATURE: per-sample output gradients, Gauss-Newton and closed-form trace
 *   ∇²L = (1/n) Σ ℓ''(f_i) ∇f_i ∇f_iᵀ + (1/n) Σ ℓ'(f_i) ∇²f_i; for
 *   piecewise-linear nets every parameter enters f linearly once the
 *   activation pattern is fixed, so diag ∇²f_i = 0 a.e. and
 *   tr ∇²L = (1/n) Σ ℓ''(f_i) ‖∇_θ f(x_i)‖² (PAPERS.md §2).
 * ====================================================================== */

static sam_status sam__nn_outgrad(sam_ctx *ctx, const sam_model *m, const float *w, const sam_dataset *data,
                                  size_t i, float *grad, double *f, void *work, const char *fn) {
    sam_batch one;
    sam_status st;
    one.data = data;
    one.idx = &i;
    one.n = 1;
    if (m->vt == &sam__cnn_vtable) {
        const sam_cnn *net = (const sam_cnn *)m->self;
        if ((st = sam__cnn_check(net, ctx, w, &one, 0, work, fn))) return st;
        return sam__cnn_run(net, ctx, w, &one, NULL, SAM__RUN_OUTGRAD, NULL, grad, NULL, NULL, f, work, fn);
    } else {
        const sam_mlp *net = (const sam_mlp *)m->self;
        if ((st = sam__mlp_check(net, ctx, w, &one, 0, work, fn, 1))) return st;
        return sam__mlp_run(net, ctx, w, &one, NULL, SAM__RUN_OUTGRAD, NULL, grad, NULL, NULL, f, work, 0);
    }
}

static sam_status sam__nn_check_model(sam_ctx *ctx, const sam_model *m, const char *fn) {
    if (!m) return sam__fail(ctx, SAM_ERR_NULL, "%s: model is NULL", fn);
    if (m->vt != &sam__cnn_vtable && m->vt != &sam__mlp_vtable)
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: model is not a sam_cnn or sam_mlp", fn);
    if (m->out_dim != 1)
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: model has %zu outputs; only out_dim 1 is supported", fn,
                         m->out_dim);
    return SAM_OK;
}

SAM__DEF sam_status sam_nn_output_grad(sam_ctx *ctx, const sam_model *m, const float *w, const sam_dataset *data,
                                       size_t i, float *grad, double *f, void *work) {
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__nn_check_model(ctx, m, "sam_nn_output_grad"))) return st;
    SAM__CHECK_PTR(ctx, grad, "sam_nn_output_grad", "grad");
    if (!data) return sam__fail(ctx, SAM_ERR_NULL, "sam_nn_output_grad: data is NULL");
    if (i >= data->n) return sam__fail(ctx, SAM_ERR_ARG, "sam_nn_output_grad: i (%zu) >= n (%zu)", i, data->n);
    if ((st = sam__nn_outgrad(ctx, m, w, data, i, grad, f, work, "sam_nn_output_grad"))) return st;
    return sam__ok(ctx);
}

static sam_status sam__nn_trace(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b, double *trace,
                                float *gbuf, void *work, const char *fn) {
    const sam_loss *L;
    size_t k, D;
    double acc = 0.0;
    sam_status st;
    if (!b || !b->data) return sam__fail(ctx, SAM_ERR_NULL, "%s: batch or batch->data is NULL", fn);
    if (b->n == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: batch is empty", fn);
    if (!trace || !gbuf) return sam__fail(ctx, SAM_ERR_NULL, "%s: trace or gbuf is NULL", fn);
    if (!b->data->y) return sam__fail(ctx, SAM_ERR_NULL, "%s: data->y is NULL", fn);
    L = m->vt == &sam__cnn_vtable ? &((const sam_cnn *)m->self)->cfg.loss : &((const sam_mlp *)m->self)->cfg.loss;
    D = m->n_params;
    for (k = 0; k < b->n; k++) {
        size_t s = b->idx ? b->idx[k] : k;
        double f, v, g, h;
        if (s >= b->data->n)
            return sam__fail(ctx, SAM_ERR_ARG, "%s: batch index idx[%zu] = %zu >= n (%zu)", fn, k, s, b->data->n);
        if ((st = sam__nn_outgrad(ctx, m, w, b->data, s, gbuf, &f, work, fn))) return st;
        sam__loss1(L, f, (double)b->data->y[s], &v, &g, &h);
        acc += h * sam__sumsq(ctx, D, gbuf); /* samples in batch order */
    }
    *trace = acc / (double)b->n;
    return SAM_OK;
}

SAM__DEF sam_status sam_nn_trace_gn(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                    double *trace, float *gbuf, void *work) {
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__nn_check_model(ctx, m, "sam_nn_trace_gn"))) return st;
    if ((st = sam__nn_trace(ctx, m, w, b, trace, gbuf, work, "sam_nn_trace_gn"))) return st;
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_nn_trace_closed_form(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                             double *trace, float *gbuf, void *work) {
    sam_status st;
    const char *fn = "sam_nn_trace_closed_form";
    SAM__CHECK_CTX(ctx);
    if ((st = sam__nn_check_model(ctx, m, fn))) return st;
    if (m->vt == &sam__mlp_vtable) {
        const sam_mlp *net = (const sam_mlp *)m->self;
        if (net->cfg.norm != SAM_NORM_NONE)
            return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: the closed form needs a net without norm layers", fn);
        if (!sam__act_linear_pieces(&net->cfg.act))
            return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: the closed form needs a piecewise-linear activation", fn);
    } else if (!sam__act_linear_pieces(&((const sam_cnn *)m->self)->cfg.act)) {
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: the closed form needs a piecewise-linear activation", fn);
    }
    if ((st = sam__nn_trace(ctx, m, w, b, trace, gbuf, work, fn))) return st;
    return sam__ok(ctx);
}

/* ========================================================================
 * Wen et al.'s analytic constructions (PAPERS.md §2, hypercube data)
 * ====================================================================== */

static sam_status sam__wen_check(sam_ctx *ctx, const sam_mlp *net, sam_norm_kind norm, size_t need, float *w,
                                 const char *fn) {
    const sam_mlp_config *cf;
    SAM__CHECK_CTX(ctx);
    if (!net) return sam__fail(ctx, SAM_ERR_NULL, "%s: net is NULL", fn);
    if (!w) return sam__fail(ctx, SAM_ERR_NULL, "%s: w is NULL", fn);
    cf = &net->cfg;
    if (cf->n_layers != 2 || !cf->hidden_bias || cf->out_bias || cf->out_dim != 1 || cf->norm != norm ||
        cf->act.kind != SAM_ACT_RELU)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: net must be Wen's two-layer %s ReLU net (bias, no output bias)", fn,
                         norm == SAM_NORM_SLN ? "Sim-LN" : "Bias");
    if (cf->in_dim < 2) return sam__fail(ctx, SAM_ERR_ARG, "%s: input dim (%zu) must be >= 2", fn, cf->in_dim);
    if (cf->width[0] < need)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: width (%zu) must be >= %zu neurons", fn, cf->width[0], need);
    return SAM_OK;
}

SAM__DEF sam_status sam_wen_bias_memorize(sam_ctx *ctx, const sam_mlp *net, const sam_dataset *train, float eps,
                                          float *w) {
    const char *fn = "sam_wen_bias_memorize";
    sam_status st;
    size_t i, k, d, m;
    if ((st = sam__wen_check(ctx, net, SAM_NORM_NONE, 0, w, fn))) return st;
    if (!train || !train->x || !train->y) return sam__fail(ctx, SAM_ERR_NULL, "%s: train, train->x or train->y is NULL", fn);
    d = net->cfg.in_dim;
    m = net->cfg.width[0];
    if (train->dim != d) return sam__fail(ctx, SAM_ERR_ARG, "%s: train dim (%zu) != net input (%zu)", fn, train->dim, d);
    if (train->n == 0 || train->n > m)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: width (%zu) must be >= train n (%zu) > 0", fn, m, train->n);
    if (!(eps > 0.0f && eps <= FLT_MAX)) return sam__fail(ctx, SAM_ERR_ARG, "%s: eps (%g) must be > 0", fn, (double)eps);
    if (!sam__finite(ctx, train->n * d, train->x) || !sam__finite(ctx, train->n, train->y))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: train has NaN or Inf", fn);
    memset(w, 0, net->model.n_params * sizeof(float));
    for (i = 0; i < train->n; i++) {
        /* w_i = x_i/√d, r_i = sqrt(‖x_i‖² + 1); neuron i fires only on x_i:
         * W1_i = sqrt(r|y|) w_i/ε, b_i = sqrt(r|y|)(ε − w_iᵀx_i)/ε,
         * W2_i = sign(y) sqrt(|y|/r), so f(x_i) = y_i. */
        const float *x = train->x + i * d;
        double y = (double)train->y[i], nx = 0.0, wx = 0.0, r, c;
        for (k = 0; k < d; k++) nx += (double)x[k] * (double)x[k];
        r = sqrt(nx + 1.0);
        c = sqrt(r * fabs(y));
        for (k = 0; k < d; k++) {
            double wk = (double)x[k] / sqrt((double)d);
            wx += wk * (double)x[k];
            w[net->off_w[0] + i * d + k] = (float)(c * wk / (double)eps);
        }
        w[net->off_b[0] + i] = (float)(c * ((double)eps - wx) / (double)eps);
        w[net->off_w[1] + i] = (float)((y > 0 ? 1.0 : y < 0 ? -1.0 : 0.0) * sqrt(fabs(y) / r));
    }
    return sam__ok(ctx);
}

/* Neurons (a, c) ∈ {±1}² at rows 0..3: W1 = s1[a, c, 0…], b = −s1, W2 = s2·ac. */
static void sam__wen_four(const sam_mlp *net, double s1, double s2, float *w) {
    static const int sa[4] = {1, 1, -1, -1}, sc[4] = {1, -1, 1, -1};
    size_t k, d = net->cfg.in_dim;
    memset(w, 0, net->model.n_params * sizeof(float));
    for (k = 0; k < 4; k++) {
        w[net->off_w[0] + k * d + 0] = (float)(s1 * sa[k]);
        w[net->off_w[0] + k * d + 1] = (float)(s1 * sc[k]);
        w[net->off_b[0] + k] = (float)-s1;
        w[net->off_w[1] + k] = (float)(s2 * sa[k] * sc[k]);
    }
}

SAM__DEF sam_status sam_wen_bias_generalize(sam_ctx *ctx, const sam_mlp *net, float *w) {
    sam_status st;
    double r;
    if ((st = sam__wen_check(ctx, net, SAM_NORM_NONE, 4, w, "sam_wen_bias_generalize"))) return st;
    r = pow((double)net->cfg.in_dim + 1.0, 0.25); /* r = (d+1)^{1/4} balances the two layers */
    sam__wen_four(net, r, 1.0 / r, w);
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_wen_simln_generalize(sam_ctx *ctx, const sam_mlp *net, float *w) {
    sam_status st;
    if ((st = sam__wen_check(ctx, net, SAM_NORM_SLN, 4, w, "sam_wen_simln_generalize"))) return st;
    /* 2ε keeps the one active neuron's norm above ε: u = e_(a,c), f = ac */
    sam__wen_four(net, 2.0 * (double)net->cfg.norm_eps, 1.0, w);
    return sam__ok(ctx);
}

/* ========================================================================
 * OPTIMIZERS — kernels (scalar → AVX2 → NEON side by side)
 * ====================================================================== */

/* ---- SGD update: b = μ b + d; d = nesterov ? d + μ b : b; w -= lr d ------
 * PyTorch's SGD (dampening 0). m == NULL: plain SGD, w -= lr g. */
static void sam__opt_sgd_f32_scalar(size_t n, float lr, float mu, int nesterov, float *w, const float *g, float *m) {
    size_t i;
    if (!m) {
        for (i = 0; i < n; i++) w[i] = w[i] - lr * g[i];
        return;
    }
    for (i = 0; i < n; i++) {
        float b = mu * m[i] + g[i], d = nesterov ? g[i] + mu * b : b;
        m[i] = b;
        w[i] = w[i] - lr * d;
    }
}

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__opt_sgd_f32_avx2(size_t n, float lr, float mu, int nesterov, float *w, const float *g, float *m) {
    __m256 vlr = _mm256_set1_ps(lr), vmu = _mm256_set1_ps(mu);
    size_t i = 0;
    if (!m) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(w + i, _mm256_fnmadd_ps(vlr, _mm256_loadu_ps(g + i), _mm256_loadu_ps(w + i)));
        for (; i < n; i++) w[i] = fmaf(-lr, g[i], w[i]);
        return;
    }
    for (; i + 8 <= n; i += 8) {
        __m256 vg = _mm256_loadu_ps(g + i);
        __m256 b = _mm256_fmadd_ps(vmu, _mm256_loadu_ps(m + i), vg);
        __m256 d = nesterov ? _mm256_fmadd_ps(vmu, b, vg) : b;
        _mm256_storeu_ps(m + i, b);
        _mm256_storeu_ps(w + i, _mm256_fnmadd_ps(vlr, d, _mm256_loadu_ps(w + i)));
    }
    for (; i < n; i++) {
        float b = fmaf(mu, m[i], g[i]), d = nesterov ? fmaf(mu, b, g[i]) : b;
        m[i] = b;
        w[i] = fmaf(-lr, d, w[i]);
    }
}
#endif

#if SAM__HAS_NEON
static void sam__opt_sgd_f32_neon(size_t n, float lr, float mu, int nesterov, float *w, const float *g, float *m) {
    float32x4_t vlr = vdupq_n_f32(lr), vmu = vdupq_n_f32(mu);
    size_t i = 0;
    if (!m) {
        for (; i + 4 <= n; i += 4) vst1q_f32(w + i, vfmsq_f32(vld1q_f32(w + i), vlr, vld1q_f32(g + i)));
        for (; i < n; i++) w[i] = fmaf(-lr, g[i], w[i]);
        return;
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t vg = vld1q_f32(g + i);
        float32x4_t b = vfmaq_f32(vg, vmu, vld1q_f32(m + i));
        float32x4_t d = nesterov ? vfmaq_f32(vg, vmu, b) : b;
        vst1q_f32(m + i, b);
        vst1q_f32(w + i, vfmsq_f32(vld1q_f32(w + i), vlr, d));
    }
    for (; i < n; i++) {
        float b = fmaf(mu, m[i], g[i]), d = nesterov ? fmaf(mu, b, g[i]) : b;
        m[i] = b;
        w[i] = fmaf(-lr, d, w[i]);
    }
}
#endif

typedef void (*sam__opt_sgd_fn)(size_t, float, float, int, float *, const float *, float *);
static const sam__opt_sgd_fn sam__opt_sgd_impl[SAM_ISA_COUNT] = {
    sam__opt_sgd_f32_scalar, SAM__IF_AVX2(sam__opt_sgd_f32_avx2), SAM__IF_NEON(sam__opt_sgd_f32_neon)};

/* ---- Adam update (Kingma & Ba, Alg. 1, PyTorch's arrangement) -----------
 *   m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²
 *   w -= step · m / (√v · isb2 + ε),  step = lr/(1−β1^t), isb2 = 1/√(1−β2^t)
 * c1 = 1−β1, c2 = 1−β2 are passed pre-rounded so every ISA uses the same. */
static void sam__opt_adam_f32_scalar(size_t n, float step, float b1, float c1, float b2, float c2, float isb2,
                                     float eps, float *w, const float *g, float *m, float *v) {
    size_t i;
    for (i = 0; i < n; i++) {
        float mi = b1 * m[i] + c1 * g[i];
        float vi = b2 * v[i] + c2 * (g[i] * g[i]);
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] - step * (mi / (sqrtf(vi) * isb2 + eps));
    }
}

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__opt_adam_f32_avx2(size_t n, float step, float b1, float c1, float b2, float c2, float isb2,
                                             float eps, float *w, const float *g, float *m, float *v) {
    __m256 vb1 = _mm256_set1_ps(b1), vc1 = _mm256_set1_ps(c1), vb2 = _mm256_set1_ps(b2), vc2 = _mm256_set1_ps(c2);
    __m256 vis = _mm256_set1_ps(isb2), veps = _mm256_set1_ps(eps), vst = _mm256_set1_ps(step);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 vg = _mm256_loadu_ps(g + i);
        __m256 mi = _mm256_fmadd_ps(vb1, _mm256_loadu_ps(m + i), _mm256_mul_ps(vc1, vg));
        __m256 vi = _mm256_fmadd_ps(vb2, _mm256_loadu_ps(v + i), _mm256_mul_ps(vc2, _mm256_mul_ps(vg, vg)));
        __m256 den = _mm256_fmadd_ps(_mm256_sqrt_ps(vi), vis, veps);
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(w + i, _mm256_fnmadd_ps(vst, _mm256_div_ps(mi, den), _mm256_loadu_ps(w + i)));
    }
    for (; i < n; i++) {
        float mi = fmaf(b1, m[i], c1 * g[i]);
        float vi = fmaf(b2, v[i], c2 * (g[i] * g[i]));
        m[i] = mi;
        v[i] = vi;
        w[i] = fmaf(-step, mi / fmaf(sqrtf(vi), isb2, eps), w[i]);
    }
}
#endif

#if SAM__HAS_NEON
static void sam__opt_adam_f32_neon(size_t n, float step, float b1, float c1, float b2, float c2, float isb2,
                                   float eps, float *w, const float *g, float *m, float *v) {
    float32x4_t vb1 = vdupq_n_f32(b1), vc1 = vdupq_n_f32(c1), vb2 = vdupq_n_f32(b2), vc2 = vdupq_n_f32(c2);
    float32x4_t vis = vdupq_n_f32(isb2), veps = vdupq_n_f32(eps), vst = vdupq_n_f32(step);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t vg = vld1q_f32(g + i);
        float32x4_t mi = vfmaq_f32(vmulq_f32(vc1, vg), vb1, vld1q_f32(m + i));
        float32x4_t vi = vfmaq_f32(vmulq_f32(vc2, vmulq_f32(vg, vg)), vb2, vld1q_f32(v + i));
        float32x4_t den = vfmaq_f32(veps, vsqrtq_f32(vi), vis);
        vst1q_f32(m + i, mi);
        vst1q_f32(v + i, vi);
        vst1q_f32(w + i, vfmsq_f32(vld1q_f32(w + i), vst, vdivq_f32(mi, den)));
    }
    for (; i < n; i++) {
        float mi = fmaf(b1, m[i], c1 * g[i]);
        float vi = fmaf(b2, v[i], c2 * (g[i] * g[i]));
        m[i] = mi;
        v[i] = vi;
        w[i] = fmaf(-step, mi / fmaf(sqrtf(vi), isb2, eps), w[i]);
    }
}
#endif

typedef void (*sam__opt_adam_fn)(size_t, float, float, float, float, float, float, float, float *, const float *,
                                 float *, float *);
static const sam__opt_adam_fn sam__opt_adam_impl[SAM_ISA_COUNT] = {
    sam__opt_adam_f32_scalar, SAM__IF_AVX2(sam__opt_adam_f32_avx2), SAM__IF_NEON(sam__opt_adam_f32_neon)};

/* ---- ascent: e = s g (or e += s g for N-step); wadv = w + e ----------------
 * Foret et al. eq. 2 with s = ρ/‖g‖. Fused so the perturbed copy and ε are
 * written in one pass; wadv = w + e exactly (ε is what was added). g may
 * alias wadv (each block is loaded before it is stored). e == NULL (only
 * without accumulate): ε is not stored, one write stream less. */
static void sam__opt_ascent_f32_scalar(size_t n, float s, const float *w, const float *g, float *e, float *wadv,
                                       int accumulate) {
    size_t i;
    for (i = 0; i < n; i++) {
        float ei = s * g[i];
        if (accumulate) ei = e[i] + ei;
        if (e) e[i] = ei;
        wadv[i] = w[i] + ei;
    }
}

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__opt_ascent_f32_avx2(size_t n, float s, const float *w, const float *g, float *e,
                                               float *wadv, int accumulate) {
    __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    if (!e) /* plain SAM: no branches in the loop (-O2 does not unswitch it) */
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(wadv + i, _mm256_add_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(vs, _mm256_loadu_ps(g + i))));
    for (; i + 8 <= n; i += 8) {
        __m256 ei = _mm256_mul_ps(vs, _mm256_loadu_ps(g + i));
        if (accumulate) ei = _mm256_add_ps(_mm256_loadu_ps(e + i), ei);
        if (e) _mm256_storeu_ps(e + i, ei);
        _mm256_storeu_ps(wadv + i, _mm256_add_ps(_mm256_loadu_ps(w + i), ei));
    }
    for (; i < n; i++) {
        float ei = s * g[i];
        if (accumulate) ei = e[i] + ei;
        if (e) e[i] = ei;
        wadv[i] = w[i] + ei;
    }
}
#endif

#if SAM__HAS_NEON
static void sam__opt_ascent_f32_neon(size_t n, float s, const float *w, const float *g, float *e, float *wadv,
                                     int accumulate) {
    size_t i = 0;
    if (!e) /* plain SAM: no branches in the loop (as AVX2) */
        for (; i + 4 <= n; i += 4) vst1q_f32(wadv + i, vaddq_f32(vld1q_f32(w + i), vmulq_n_f32(vld1q_f32(g + i), s)));
    for (; i + 4 <= n; i += 4) {
        float32x4_t ei = vmulq_n_f32(vld1q_f32(g + i), s);
        if (accumulate) ei = vaddq_f32(vld1q_f32(e + i), ei);
        if (e) vst1q_f32(e + i, ei);
        vst1q_f32(wadv + i, vaddq_f32(vld1q_f32(w + i), ei));
    }
    for (; i < n; i++) {
        float ei = s * g[i];
        if (accumulate) ei = e[i] + ei;
        if (e) e[i] = ei;
        wadv[i] = w[i] + ei;
    }
}
#endif

typedef void (*sam__opt_ascent_fn)(size_t, float, const float *, const float *, float *, float *, int);
static const sam__opt_ascent_fn sam__opt_ascent_impl[SAM_ISA_COUNT] = {
    sam__opt_ascent_f32_scalar, SAM__IF_AVX2(sam__opt_ascent_f32_avx2), SAM__IF_NEON(sam__opt_ascent_f32_neon)};

/* ---- ASAM (Kwon et al. 2021, eq. 9 with T_w = |w| + η) ---------------------
 * T_i = k_i (|w_i| + η) + (1 − k_i), k = mask (1 weight, 0 bias), or k = 1
 * if mask is NULL: exactly |w_i|+η on weights and exactly 1 on biases.
 * sumsq: Σ (T_i g_i)², SIMD lanes in float combined in double lane order
 * (as sam__dot), tails and the scalar twin in double.
 * ascent: e (+)= s T (T g), wadv = w + e.                                   */

static double sam__opt_asam_sumsq_f32_scalar(size_t n, float eta, const float *mask, const float *w, const float *g) {
    double acc = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        float t = fabsf(w[i]) + eta, tg;
        if (mask) t = mask[i] * t + (1.0f - mask[i]);
        tg = t * g[i];
        acc += (double)tg * (double)tg;
    }
    return acc;
}

static void sam__opt_asam_ascent_f32_scalar(size_t n, float s, float eta, const float *mask, const float *w,
                                            const float *g, float *e, float *wadv, int accumulate) {
    size_t i;
    for (i = 0; i < n; i++) {
        float t = fabsf(w[i]) + eta, ei;
        if (mask) t = mask[i] * t + (1.0f - mask[i]);
        ei = s * (t * (t * g[i]));
        if (accumulate) ei = e[i] + ei;
        e[i] = ei;
        wadv[i] = w[i] + ei;
    }
}

#if SAM__HAS_AVX2
/* |x| by clearing the sign bit; T with the mask blend written as in scalar. */
SAM__AVX2 static __m256 sam__opt_asam_t_avx2(const float *mask, const float *w, size_t i, __m256 veta) {
    __m256 t = _mm256_add_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_loadu_ps(w + i)), veta);
    if (mask) {
        __m256 k = _mm256_loadu_ps(mask + i);
        t = _mm256_add_ps(_mm256_mul_ps(k, t), _mm256_sub_ps(_mm256_set1_ps(1.0f), k));
    }
    return t;
}

SAM__AVX2 static double sam__opt_asam_sumsq_f32_avx2(size_t n, float eta, const float *mask, const float *w,
                                                     const float *g) {
    __m256 veta = _mm256_set1_ps(eta), a0 = _mm256_setzero_ps();
    size_t i = 0;
    double s;
    for (; i + 8 <= n; i += 8) {
        __m256 tg = _mm256_mul_ps(sam__opt_asam_t_avx2(mask, w, i, veta), _mm256_loadu_ps(g + i));
        a0 = _mm256_fmadd_ps(tg, tg, a0);
    }
    s = sam__hsum8_avx2(a0);
    for (; i < n; i++) {
        float t = fabsf(w[i]) + eta, tg;
        if (mask) t = mask[i] * t + (1.0f - mask[i]);
        tg = t * g[i];
        s += (double)tg * (double)tg;
    }
    return s;
}

SAM__AVX2 static void sam__opt_asam_ascent_f32_avx2(size_t n, float s, float eta, const float *mask, const float *w,
                                                    const float *g, float *e, float *wadv, int accumulate) {
    __m256 veta = _mm256_set1_ps(eta), vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 t = sam__opt_asam_t_avx2(mask, w, i, veta);
        __m256 ei = _mm256_mul_ps(vs, _mm256_mul_ps(t, _mm256_mul_ps(t, _mm256_loadu_ps(g + i))));
        if (accumulate) ei = _mm256_add_ps(_mm256_loadu_ps(e + i), ei);
        _mm256_storeu_ps(e + i, ei);
        _mm256_storeu_ps(wadv + i, _mm256_add_ps(_mm256_loadu_ps(w + i), ei));
    }
    for (; i < n; i++) {
        float t = fabsf(w[i]) + eta, ei;
        if (mask) t = mask[i] * t + (1.0f - mask[i]);
        ei = s * (t * (t * g[i]));
        if (accumulate) ei = e[i] + ei;
        e[i] = ei;
        wadv[i] = w[i] + ei;
    }
}
#endif

#if SAM__HAS_NEON
static float32x4_t sam__opt_asam_t_neon(const float *mask, const float *w, size_t i, float32x4_t veta) {
    float32x4_t t = vaddq_f32(vabsq_f32(vld1q_f32(w + i)), veta);
    if (mask) {
        float32x4_t k = vld1q_f32(mask + i);
        t = vaddq_f32(vmulq_f32(k, t), vsubq_f32(vdupq_n_f32(1.0f), k));
    }
    return t;
}

static double sam__opt_asam_sumsq_f32_neon(size_t n, float eta, const float *mask, const float *w, const float *g) {
    float32x4_t veta = vdupq_n_f32(eta), a0 = vdupq_n_f32(0.0f);
    size_t i = 0;
    double s;
    for (; i + 4 <= n; i += 4) {
        float32x4_t tg = vmulq_f32(sam__opt_asam_t_neon(mask, w, i, veta), vld1q_f32(g + i));
        a0 = vfmaq_f32(a0, tg, tg);
    }
    s = sam__hsum4_neon(a0);
    for (; i < n; i++) {
        float t = fabsf(w[i]) + eta, tg;
        if (mask) t = mask[i] * t + (1.0f - mask[i]);
        tg = t * g[i];
        s += (double)tg * (double)tg;
    }
    return s;
}

static void sam__opt_asam_ascent_f32_neon(size_t n, float s, float eta, const float *mask, const float *w,
                                          const float *g, float *e, float *wadv, int accumulate) {
    float32x4_t veta = vdupq_n_f32(eta);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t t = sam__opt_asam_t_neon(mask, w, i, veta);
        float32x4_t ei = vmulq_n_f32(vmulq_f32(t, vmulq_f32(t, vld1q_f32(g + i))), s);
        if (accumulate) ei = vaddq_f32(vld1q_f32(e + i), ei);
        vst1q_f32(e + i, ei);
        vst1q_f32(wadv + i, vaddq_f32(vld1q_f32(w + i), ei));
    }
    for (; i < n; i++) {
        float t = fabsf(w[i]) + eta, ei;
        if (mask) t = mask[i] * t + (1.0f - mask[i]);
        ei = s * (t * (t * g[i]));
        if (accumulate) ei = e[i] + ei;
        e[i] = ei;
        wadv[i] = w[i] + ei;
    }
}
#endif

typedef double (*sam__opt_asam_sumsq_fn)(size_t, float, const float *, const float *, const float *);
static const sam__opt_asam_sumsq_fn sam__opt_asam_sumsq_impl[SAM_ISA_COUNT] = {
    sam__opt_asam_sumsq_f32_scalar, SAM__IF_AVX2(sam__opt_asam_sumsq_f32_avx2),
    SAM__IF_NEON(sam__opt_asam_sumsq_f32_neon)};
typedef void (*sam__opt_asam_ascent_fn)(size_t, float, float, const float *, const float *, const float *, float *,
                                        float *, int);
static const sam__opt_asam_ascent_fn sam__opt_asam_ascent_impl[SAM_ISA_COUNT] = {
    sam__opt_asam_ascent_f32_scalar, SAM__IF_AVX2(sam__opt_asam_ascent_f32_avx2),
    SAM__IF_NEON(sam__opt_asam_ascent_f32_neon)};

/* ---- masked axpy: y += (a x) k, k = mask (weight decay on weights only) ---- */
static void sam__opt_maxpy_f32_scalar(size_t n, float a, const float *mask, const float *x, float *y) {
    size_t i;
    for (i = 0; i < n; i++) y[i] = y[i] + (a * x[i]) * mask[i];
}

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__opt_maxpy_f32_avx2(size_t n, float a, const float *mask, const float *x, float *y) {
    __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_mul_ps(va, _mm256_loadu_ps(x + i)), _mm256_loadu_ps(mask + i),
                                                _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] = fmaf(a * x[i], mask[i], y[i]);
}
#endif

#if SAM__HAS_NEON
static void sam__opt_maxpy_f32_neon(size_t n, float a, const float *mask, const float *x, float *y) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), vmulq_n_f32(vld1q_f32(x + i), a), vld1q_f32(mask + i)));
    for (; i < n; i++) y[i] = fmaf(a * x[i], mask[i], y[i]);
}
#endif

typedef void (*sam__opt_maxpy_fn)(size_t, float, const float *, const float *, float *);
static const sam__opt_maxpy_fn sam__opt_maxpy_impl[SAM_ISA_COUNT] = {
    sam__opt_maxpy_f32_scalar, SAM__IF_AVX2(sam__opt_maxpy_f32_avx2), SAM__IF_NEON(sam__opt_maxpy_f32_neon)};

/* ========================================================================
 * OPTIMIZERS — configuration, memory, state
 * ====================================================================== */


SAM__DEF void sam_opt_config_default(sam_opt_config *cfg) {
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->base = SAM_BASE_SGD;
    cfg->lr = 0.1;
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.999;
    cfg->adam_eps = 1e-8;
    cfg->wd_mode = SAM_WD_IN_LOSS;
    cfg->method = SAM_METHOD_NONE;
    cfg->rho = 0.05;
    cfg->ascent_steps = 1;
    cfg->asam_eta = 0.01;
    cfg->sam_epochs = -1;
    cfg->gsam_alpha = 0.1;
    cfg->fsam_sigma = 1.0;
    cfg->fsam_lambda = 0.9;
    cfg->looksam_k = 5;
    cfg->looksam_alpha = 0.7;
    cfg->esam_beta = 0.5;
    cfg->esam_gamma = 0.5;
    cfg->gam_grad_norm_rho = 0.02;
    cfg->gam_grad_beta_1 = 1.0;
    cfg->gam_grad_beta_2 = -1.0;
    cfg->gam_grad_beta_3 = 1.0;
    cfg->gam_grad_gamma = 0.3;
    cfg->lr_gamma = 0.1;
    cfg->accumulate = 1;
}

#define SAM__OPT_BAD(cond, ...) do { if (cond) return sam__fail(ctx, SAM_ERR_ARG, __VA_ARGS__); } while (0)

static sam_status sam__opt_check_cfg(sam_ctx *ctx, const sam_opt_config *c, const char *fn) {
    SAM__OPT_BAD((unsigned)c->base >= SAM_BASE_COUNT, "%s: cfg.base (%d) is not a sam_opt_base", fn, (int)c->base);
    SAM__OPT_BAD((unsigned)c->method >= SAM_METHOD_COUNT, "%s: cfg.method (%d) is not a sam_opt_method", fn,
                 (int)c->method);
    SAM__OPT_BAD(c->lr_schedule != SAM_LR_CALLBACK && !(sam__isfinite_d(c->lr) && c->lr > 0),
                 "%s: cfg.lr (%g) must be finite and > 0", fn, c->lr);
    SAM__OPT_BAD(!(sam__isfinite_d(c->rho) && c->rho >= 0), "%s: cfg.rho (%g) must be finite and >= 0", fn, c->rho);
    SAM__OPT_BAD(!(c->momentum >= 0 && c->momentum < 1), "%s: cfg.momentum (%g) must be in [0, 1)", fn, c->momentum);
    SAM__OPT_BAD(c->nesterov && !(c->momentum > 0), "%s: cfg.nesterov needs cfg.momentum > 0", fn);
    SAM__OPT_BAD(!(c->beta1 >= 0 && c->beta1 < 1), "%s: cfg.beta1 (%g) must be in [0, 1)", fn, c->beta1);
    SAM__OPT_BAD(!(c->beta2 >= 0 && c->beta2 < 1), "%s: cfg.beta2 (%g) must be in [0, 1)", fn, c->beta2);
    SAM__OPT_BAD(c->base != SAM_BASE_SGD && !(sam__isfinite_d(c->adam_eps) && c->adam_eps > 0),
                 "%s: cfg.adam_eps (%g) must be finite and > 0", fn, c->adam_eps);
    SAM__OPT_BAD(!(sam__isfinite_d(c->weight_decay) && c->weight_decay >= 0),
                 "%s: cfg.weight_decay (%g) must be finite and >= 0", fn, c->weight_decay);
    SAM__OPT_BAD(c->wd_mode != SAM_WD_IN_LOSS && c->wd_mode != SAM_WD_IN_STEP, "%s: cfg.wd_mode (%d) is invalid", fn,
                 (int)c->wd_mode);
    SAM__OPT_BAD(c->ascent_steps == 0, "%s: cfg.ascent_steps (N) must be >= 1", fn);
    SAM__OPT_BAD(c->ascent_steps > 1 && c->method != SAM_METHOD_SAM && c->method != SAM_METHOD_ASAM,
                 "%s: cfg.ascent_steps (%u) > 1 needs method SAM or ASAM", fn, c->ascent_steps);
    SAM__OPT_BAD((unsigned)c->ascent_projection > SAM_ASCENT_RESCALE_SPHERE, "%s: cfg.ascent_projection is invalid",
                 fn);
    SAM__OPT_BAD(!(sam__isfinite_d(c->asam_eta) && c->asam_eta >= 0), "%s: cfg.asam_eta (%g) must be finite and >= 0",
                 fn, c->asam_eta);
    SAM__OPT_BAD(!(sam__isfinite_d(c->gsam_alpha) && c->gsam_alpha >= 0),
                 "%s: cfg.gsam_alpha (%g) must be finite and >= 0", fn, c->gsam_alpha);
    SAM__OPT_BAD(!(c->fsam_sigma >= 0 && c->fsam_sigma <= 1), "%s: cfg.fsam_sigma (%g) must be in [0, 1]", fn,
                 c->fsam_sigma);
    SAM__OPT_BAD(!(c->fsam_lambda >= 0 && c->fsam_lambda < 1), "%s: cfg.fsam_lambda (%g) must be in [0, 1)", fn,
                 c->fsam_lambda);
    SAM__OPT_BAD(c->method == SAM_METHOD_LOOKSAM && c->looksam_k == 0, "%s: cfg.looksam_k must be >= 1", fn);
    SAM__OPT_BAD(!(sam__isfinite_d(c->looksam_alpha) && c->looksam_alpha >= 0),
                 "%s: cfg.looksam_alpha (%g) must be finite and >= 0", fn, c->looksam_alpha);
    SAM__OPT_BAD(!(c->esam_beta > 0 && c->esam_beta <= 1), "%s: cfg.esam_beta (%g) must be in (0, 1]", fn,
                 c->esam_beta);
    SAM__OPT_BAD(!(c->esam_gamma > 0 && c->esam_gamma <= 1), "%s: cfg.esam_gamma (%g) must be in (0, 1]", fn,
                 c->esam_gamma);
    SAM__OPT_BAD(!(sam__isfinite_d(c->gam_grad_norm_rho) && c->gam_grad_norm_rho >= 0),
                 "%s: cfg.gam_grad_norm_rho (%g) must be finite and >= 0", fn, c->gam_grad_norm_rho);
    SAM__OPT_BAD(!sam__isfinite_d(c->gam_grad_beta_1), "%s: cfg.gam_grad_beta_1 (%g) must be finite", fn,
                 c->gam_grad_beta_1);
    SAM__OPT_BAD(!sam__isfinite_d(c->gam_grad_beta_2), "%s: cfg.gam_grad_beta_2 (%g) must be finite", fn,
                 c->gam_grad_beta_2);
    SAM__OPT_BAD(!sam__isfinite_d(c->gam_grad_beta_3), "%s: cfg.gam_grad_beta_3 (%g) must be finite", fn,
                 c->gam_grad_beta_3);
    SAM__OPT_BAD(!(sam__isfinite_d(c->gam_grad_gamma) && c->gam_grad_gamma >= 0),
                 "%s: cfg.gam_grad_gamma (%g) must be finite and >= 0", fn, c->gam_grad_gamma);
    SAM__OPT_BAD(c->method == SAM_METHOD_MSAM && c->base == SAM_BASE_SGD && !(c->momentum > 0),
                 "%s: MSAM needs cfg.momentum > 0 (it perturbs along the momentum)", fn);
    SAM__OPT_BAD((c->method == SAM_METHOD_FSAM || c->method == SAM_METHOD_LOOKSAM) && c->samples_per_perturbation,
                 "%s: cfg.samples_per_perturbation must be 0 with FSAM and LookSAM", fn);
    SAM__OPT_BAD((unsigned)c->lr_schedule > SAM_LR_CALLBACK, "%s: cfg.lr_schedule (%d) is invalid", fn,
                 (int)c->lr_schedule);
    SAM__OPT_BAD(c->lr_schedule == SAM_LR_STEP && c->lr_step_size == 0, "%s: cfg.lr_step_size must be > 0", fn);
    SAM__OPT_BAD(c->lr_schedule == SAM_LR_STEP && !(sam__isfinite_d(c->lr_gamma) && c->lr_gamma > 0),
                 "%s: cfg.lr_gamma (%g) must be finite and > 0", fn, c->lr_gamma);
    SAM__OPT_BAD(c->lr_schedule == SAM_LR_COSINE && c->lr_total <= c->warmup,
                 "%s: cfg.lr_total must be > cfg.warmup for the cosine schedule", fn);
    SAM__OPT_BAD(c->lr_schedule == SAM_LR_COSINE && !(sam__isfinite_d(c->lr_min) && c->lr_min >= 0),
                 "%s: cfg.lr_min (%g) must be finite and >= 0", fn, c->lr_min);
    SAM__OPT_BAD(c->lr_schedule == SAM_LR_CALLBACK && !c->lr_fn, "%s: cfg.lr_fn is NULL", fn);
    SAM__OPT_BAD((unsigned)c->rho_schedule > SAM_RHO_CALLBACK, "%s: cfg.rho_schedule (%d) is invalid", fn,
                 (int)c->rho_schedule);
    SAM__OPT_BAD(c->rho_schedule == SAM_RHO_CALLBACK && !c->rho_fn, "%s: cfg.rho_fn is NULL", fn);
    SAM__OPT_BAD(c->rho_schedule == SAM_RHO_PROPORTIONAL_LR && c->lr_schedule == SAM_LR_CALLBACK &&
                     !(sam__isfinite_d(c->lr) && c->lr > 0),
                 "%s: SAM_RHO_PROPORTIONAL_LR needs cfg.lr > 0", fn);
    SAM__OPT_BAD(!(sam__isfinite_d(c->clip_norm) && c->clip_norm >= 0), "%s: cfg.clip_norm (%g) must be finite, >= 0",
                 fn, c->clip_norm);
    SAM__OPT_BAD(c->accumulate == 0, "%s: cfg.accumulate must be >= 1", fn);
    SAM__OPT_BAD((unsigned)c->norm_stats > SAM_NORM_STATS_EVERY_PASS, "%s: cfg.norm_stats is invalid", fn);
    SAM__OPT_BAD((unsigned)c->last_batch > SAM_LAST_BATCH_DROP, "%s: cfg.last_batch is invalid", fn);
    return SAM_OK;
}

/* The block: each region 64-byte aligned, in this order. */
enum { SAM__OPT_MOM, SAM__OPT_VEL, SAM__OPT_ACC, SAM__OPT_FSAM, SAM__OPT_LOOK, SAM__OPT_MASK, SAM__OPT_WADV,
       SAM__OPT_EPS, SAM__OPT_G, SAM__OPT_G2, SAM__OPT_FIN, SAM__OPT_GSUM, SAM__OPT_IDX, SAM__OPT_PERM,
       SAM__OPT_ESAM_IDX, SAM__OPT_ESAM_LOSS, SAM__OPT_GAM, SAM__OPT_WORK, SAM__OPT_REGIONS };

static size_t sam__opt_max_batch(const sam_opt_config *c) {
    return c->batch_size ? c->batch_size : (c->dataset_size ? c->dataset_size : 1);
}
static int sam__opt_esam_sds(const sam_opt_config *c) {
    return c->method == SAM_METHOD_ESAM && c->esam_gamma < 1;
}

static int sam__opt_layout(const sam_opt_config *c, size_t n, size_t work_bytes, size_t off[SAM__OPT_REGIONS],
                           size_t *total) {
    size_t sz[SAM__OPT_REGIONS], nf, r, pos = 0;
    int i, sgd_mom = c->base == SAM_BASE_SGD && c->momentum > 0, adam = c->base != SAM_BASE_SGD;
    int groups = c->samples_per_perturbation > 0;
    if (!sam__mul_ok(n, sizeof(float), &nf)) return 0;
    sz[SAM__OPT_MOM] = (sgd_mom || adam) ? nf : 0;
    sz[SAM__OPT_VEL] = adam ? nf : 0;
    sz[SAM__OPT_ACC] = c->accumulate > 1 ? nf : 0;
    sz[SAM__OPT_FSAM] = c->method == SAM_METHOD_FSAM ? nf : 0;
    sz[SAM__OPT_LOOK] = c->method == SAM_METHOD_LOOKSAM ? nf : 0;
    sz[SAM__OPT_MASK] = c->weight_mask ? nf : 0;
    sz[SAM__OPT_WADV] = sz[SAM__OPT_EPS] = sz[SAM__OPT_G] = sz[SAM__OPT_G2] = nf;
    sz[SAM__OPT_FIN] = sz[SAM__OPT_GSUM] = groups ? nf : 0;
    if (!sam__mul_ok(c->samples_per_perturbation, sizeof(size_t), &sz[SAM__OPT_IDX])) return 0;
    if (!sam__mul_ok(c->dataset_size, sizeof(size_t), &sz[SAM__OPT_PERM])) return 0;
    sz[SAM__OPT_ESAM_IDX] = sz[SAM__OPT_ESAM_LOSS] = 0;
    if (sam__opt_esam_sds(c)) {
        /* per-sample losses at w and w + ε, and the selected indices */
        if (!sam__mul_ok(sam__opt_max_batch(c), sizeof(size_t), &sz[SAM__OPT_ESAM_IDX])) return 0;
        if (!sam__mul_ok(sam__opt_max_batch(c), 2 * sizeof(double), &sz[SAM__OPT_ESAM_LOSS])) return 0;
    }
    sz[SAM__OPT_GAM] = 0;
    if (c->method == SAM_METHOD_GAM && !sam__mul_ok(nf, 2, &sz[SAM__OPT_GAM])) return 0; /* gam_a, gam_b */
    sz[SAM__OPT_WORK] = work_bytes;
    for (i = 0; i < SAM__OPT_REGIONS; i++) {
        off[i] = pos;
        if (!sam__add_ok(sz[i], SAM__ALIGN - 1, &r)) return 0;
        r = r / SAM__ALIGN * SAM__ALIGN;
        if (!sam__add_ok(pos, r, &pos)) return 0;
    }
    /* + slack to align a caller block */
    return sam__add_ok(pos, SAM__ALIGN, total);
}

SAM__DEF sam_status sam_opt_mem_bytes(sam_ctx *ctx, const sam_opt_config *cfg, const sam_model *model,
                                      size_t *bytes) {
    size_t off[SAM__OPT_REGIONS];
    sam_status st;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, cfg, "sam_opt_mem_bytes", "cfg");
    SAM__CHECK_PTR(ctx, model, "sam_opt_mem_bytes", "model");
    SAM__CHECK_PTR(ctx, bytes, "sam_opt_mem_bytes", "bytes");
    if (!model->vt || model->n_params == 0)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_opt_mem_bytes: model has no vtable or no parameters");
    if ((st = sam__opt_check_cfg(ctx, cfg, "sam_opt_mem_bytes"))) return st;
    if (!sam__opt_layout(cfg, model->n_params, sam_model_work_bytes(model, sam__opt_max_batch(cfg)), off, bytes))
        return sam__fail(ctx, SAM_ERR_SIZE, "sam_opt_mem_bytes: sizes overflow size_t");
    return sam__ok(ctx);
}

static void sam__opt_zero_state(sam_opt *o) {
    size_t nb = o->n * sizeof(float);
    o->t = o->calls = o->epoch = 0;
    o->accum_count = o->fsam_ready = o->looksam_ready = 0;
    o->accum_weight = 0.0;
    sam_rng_seed(&o->rng_dir, o->cfg.seed, SAM_STREAM_DIRECTIONS);
    sam_rng_seed(&o->rng_shuffle, o->cfg.seed, SAM_STREAM_SHUFFLE);
    if (o->mom) memset(o->mom, 0, nb);
    if (o->vel) memset(o->vel, 0, nb);
    if (o->acc) memset(o->acc, 0, nb);
    if (o->fsam_m) memset(o->fsam_m, 0, nb);
    if (o->looksam_gv) memset(o->looksam_gv, 0, nb);
    o->pending = 0;
    o->last_perturbed = 0;
}

SAM__DEF sam_status sam_opt_init(sam_ctx *ctx, sam_opt *opt, const sam_opt_config *cfg, const sam_model *model,
                                 void *mem, size_t mem_bytes) {
    size_t off[SAM__OPT_REGIONS], total, work, i;
    unsigned char *base;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, opt, "sam_opt_init", "opt");
    SAM__CHECK_PTR(ctx, cfg, "sam_opt_init", "cfg");
    SAM__CHECK_PTR(ctx, model, "sam_opt_init", "model");
    if (!model->vt || model->n_params == 0)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_opt_init: model has no vtable or no parameters");
    if ((st = sam__opt_check_cfg(ctx, cfg, "sam_opt_init"))) return st;
    work = sam_model_work_bytes(model, sam__opt_max_batch(cfg));
    if (!sam__opt_layout(cfg, model->n_params, work, off, &total))
        return sam__fail(ctx, SAM_ERR_SIZE, "sam_opt_init: sizes overflow size_t");
    if (mem && mem_bytes < total)
        return sam__fail(ctx, SAM_ERR_WORKSPACE, "sam_opt_init: mem_bytes (%zu) < sam_opt_mem_bytes (%zu)", mem_bytes,
                         total);
    memset(opt, 0, sizeof *opt);
    if (!mem) {
        mem = sam__alloc(ctx->alloc_user, total);
        if (!mem) return sam__fail(ctx, SAM_ERR_NOMEM, "sam_opt_init: cannot allocate %zu bytes", total);
        opt->owns_mem = 1;
    }
    opt->mem = mem;
    opt->alloc_user = ctx->alloc_user;
    opt->cfg = *cfg;
    opt->n = model->n_params;
    opt->max_batch = sam__opt_max_batch(cfg);
    base = (unsigned char *)(((uintptr_t)mem + SAM__ALIGN - 1) & ~(uintptr_t)(SAM__ALIGN - 1));
#define SAM__OPT_REGION(T, k) ((off[(k) + 1] > off[k]) ? (T)(void *)(base + off[k]) : (T)NULL)
    opt->mom = SAM__OPT_REGION(float *, SAM__OPT_MOM);
    opt->vel = SAM__OPT_REGION(float *, SAM__OPT_VEL);
    opt->acc = SAM__OPT_REGION(float *, SAM__OPT_ACC);
    opt->fsam_m = SAM__OPT_REGION(float *, SAM__OPT_FSAM);
    opt->looksam_gv = SAM__OPT_REGION(float *, SAM__OPT_LOOK);
    opt->mask = SAM__OPT_REGION(float *, SAM__OPT_MASK);
    opt->wadv = SAM__OPT_REGION(float *, SAM__OPT_WADV);
    opt->eps = SAM__OPT_REGION(float *, SAM__OPT_EPS);
    opt->g = SAM__OPT_REGION(float *, SAM__OPT_G);
    opt->g2 = SAM__OPT_REGION(float *, SAM__OPT_G2);
    opt->fin = SAM__OPT_REGION(float *, SAM__OPT_FIN);
    opt->gsum = SAM__OPT_REGION(float *, SAM__OPT_GSUM);
    opt->idx = SAM__OPT_REGION(size_t *, SAM__OPT_IDX);
    opt->perm = SAM__OPT_REGION(size_t *, SAM__OPT_PERM);
    opt->esam_idx = SAM__OPT_REGION(size_t *, SAM__OPT_ESAM_IDX);
    opt->esam_loss = SAM__OPT_REGION(double *, SAM__OPT_ESAM_LOSS);
    opt->gam_a = SAM__OPT_REGION(float *, SAM__OPT_GAM);
    opt->gam_b = opt->gam_a ? opt->gam_a + opt->n : NULL;
#undef SAM__OPT_REGION
    opt->model_work = work ? (void *)(base + off[SAM__OPT_WORK]) : NULL;
    opt->model_work_bytes = work;
    /* The mask is copied (as 0/1 floats for the kernels); the pointer is not kept. */
    if (opt->mask)
        for (i = 0; i < opt->n; i++) opt->mask[i] = cfg->weight_mask[i] ? 1.0f : 0.0f;
    opt->cfg.weight_mask = NULL;
    sam__opt_zero_state(opt);
    return sam__ok(ctx);
}

SAM__DEF void sam_opt_free(sam_opt *opt) {
    if (!opt) return;
    if (opt->owns_mem) sam__free(opt->alloc_user, opt->mem);
    memset(opt, 0, sizeof *opt);
}

SAM__DEF void sam_opt_reset(sam_opt *opt) {
    if (opt && opt->mem) sam__opt_zero_state(opt);
}

SAM__DEF int sam_opt_sam_active(const sam_opt *opt) {
    if (!opt) return 0;
    return opt->cfg.sam_epochs < 0 || opt->epoch < (uint64_t)opt->cfg.sam_epochs;
}

SAM__DEF void sam_opt_end_epoch(sam_opt *opt) {
    if (opt) opt->epoch++;
}

SAM__DEF const float *sam_opt_perturbed_point(const sam_opt *opt, const float *w) {
    if (!opt) return w;
    return opt->last_perturbed ? opt->wadv : w;
}

SAM__DEF const float *sam_opt_last_eps(const sam_opt *opt) {
    return (opt && opt->last_perturbed && opt->eps_valid) ? opt->eps : NULL;
}

SAM__DEF sam_status sam_opt_weight_mask(sam_ctx *ctx, const sam_model *model, uint8_t *mask) {
    const sam_param_view *v;
    size_t count = 0, k, i;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, model, "sam_opt_weight_mask", "model");
    SAM__CHECK_PTR(ctx, mask, "sam_opt_weight_mask", "mask");
    v = sam_nn_views(model, &count);
    for (k = 0; v && k < count; k++) {
        size_t len;
        if (!v[k].name || !sam__mul_ok(v[k].rows, v[k].cols, &len) || v[k].offset > model->n_params ||
            len > model->n_params - v[k].offset)
            return sam__fail(ctx, SAM_ERR_ARG, "sam_opt_weight_mask: view %zu lies outside the parameters", k);
    }
    memset(mask, 1, model->n_params);
    for (k = 0; v && k < count; k++) {
        const char *nm = v[k].name;
        if (nm[0] == 'b' || strncmp(nm, "gamma", 5) == 0) /* b1, b2, …, beta…; gamma… */
            for (i = 0; i < v[k].rows * v[k].cols; i++) mask[v[k].offset + i] = 0;
    }
    return sam__ok(ctx);
}

/* ---- schedules ------------------------------------------------------------ */

static sam_status sam__opt_sched(sam_ctx *ctx, const sam_opt *o, double *lr, double *rho, const char *fn) {
    const sam_opt_config *c = &o->cfg;
    uint64_t t = c->schedule_by_epoch ? o->epoch : o->t;
    double l = c->lr, r;
    switch (c->lr_schedule) {
    case SAM_LR_STEP: l = c->lr * pow(c->lr_gamma, (double)(t / c->lr_step_size)); break;
    case SAM_LR_COSINE: {
        double tw = t > c->warmup ? (double)(t - c->warmup) : 0.0, T = (double)(c->lr_total - c->warmup);
        if (tw > T) tw = T;
        l = c->lr_min + (c->lr - c->lr_min) * 0.5 * (1.0 + cos(3.14159265358979323846 * tw / T));
        break;
    }
    case SAM_LR_CALLBACK: l = c->lr_fn(c->sched_user, t, o->epoch, c->lr); break;
    default: break;
    }
    if (c->warmup > 0 && t < c->warmup && c->lr_schedule != SAM_LR_CALLBACK)
        l = l * ((double)(t + 1) / (double)c->warmup);
    switch (c->rho_schedule) {
    case SAM_RHO_PROPORTIONAL_LR: r = c->rho * l / c->lr; break;
    case SAM_RHO_CALLBACK: r = c->rho_fn(c->sched_user, t, o->epoch, c->rho); break;
    default: r = c->rho; break;
    }
    if (!(sam__isfinite_d(l) && l > 0)) return sam__fail(ctx, SAM_ERR_ARG, "%s: scheduled lr (%g) must be > 0", fn, l);
    if (!(sam__isfinite_d(r) && r >= 0)) return sam__fail(ctx, SAM_ERR_ARG, "%s: scheduled rho (%g) must be >= 0", fn, r);
    *lr = l;
    *rho = r;
    return SAM_OK;
}

SAM__DEF sam_status sam_opt_schedule(sam_ctx *ctx, const sam_opt *opt, double *lr, double *rho) {
    double l, r;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, opt, "sam_opt_schedule", "opt");
    if (!opt->mem) return sam__fail(ctx, SAM_ERR_ARG, "sam_opt_schedule: opt is not initialised");
    if ((st = sam__opt_sched(ctx, opt, &l, &r, "sam_opt_schedule"))) return st;
    if (lr) *lr = l;
    if (rho) *rho = r;
    return sam__ok(ctx);
}

/* ========================================================================
 * OPTIMIZERS — one step
 * ====================================================================== */

/* y += a x, on weights only when decay_weights_only and a mask was given. */
static void sam__opt_decay(const sam_ctx *ctx, const sam_opt *o, float a, const float *x, float *y) {
    if (o->mask && o->cfg.decay_weights_only) sam__opt_maxpy_impl[ctx->isa](o->n, a, o->mask, x, y);
    else sam__axpy(ctx, o->n, a, x, y);
}

static int sam__opt_wd_in_loss(const sam_opt *o) {
    return o->cfg.weight_decay > 0 && o->cfg.wd_mode == SAM_WD_IN_LOSS && o->cfg.base != SAM_BASE_ADAMW;
}

/* Loss and gradient of the objective at x: the model's, plus λx when the
 * decay is in the loss (½λ‖x‖² at every point where a gradient is taken).
 * This is sam_model_loss_grad with the same checks, statuses and messages,
 * except that its finiteness pass over the gradient becomes Σ g², which the
 * step needs anyway (‖g‖ for ε, ‖F‖ for clipping and the final check): a
 * finite Σ g² proves every entry finite; only a non-finite sum (NaN/Inf, or
 * a float-lane overflow) checks the entries one by one. *gss = Σ grad² when
 * it is known (no decay added afterwards), else −1. Saves one pass over the
 * n parameters per gradient (~1 µs of a 15 µs Wen MLP 1-SAM step). */
static sam_status sam__opt_eval(sam_ctx *ctx, sam_opt *o, const sam_model *model, const float *x, const sam_batch *b,
                                int pass, double *loss, float *grad, double *gss) {
    static const char *mfn = "sam_model_loss_grad";
    sam_status st;
    double ss = -1.0;
    if (gss) *gss = -1.0;
    o->pass = pass;
    o->freeze_norm_stats = pass > 0 && o->cfg.norm_stats == SAM_NORM_STATS_FIRST_PASS;
    st = sam__check_model_call(ctx, model, x, b, mfn);
    /* Later evaluations of one sam_opt_step see the data of its first, and
     * only the model writes o->model_work: the CNN may reuse its gathered
     * batch (it still compares the batch by value). */
    ctx->same_data = o->in_step && o->step_evals > 0 && model->vt == &sam__cnn_vtable;
    if (!st) st = model->vt->loss_grad(model->self, ctx, x, b, loss, grad, o->model_work);
    ctx->same_data = 0;
    o->step_evals++;
    o->pass = 0;
    o->freeze_norm_stats = 0;
    if (st) return st;
    if (!sam__isfinite_d(*loss)) return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: loss is not finite", mfn);
    if (gss && !sam__opt_wd_in_loss(o)) {
        ss = sam__sumsq(ctx, o->n, grad);
        if (!sam__isfinite_d(ss) && !sam__finite(ctx, o->n, grad))
            return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: gradient is not finite", mfn);
        *gss = ss;
        return SAM_OK;
    }
    if (!sam__finite(ctx, o->n, grad)) return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: gradient is not finite", mfn);
    if (sam__opt_wd_in_loss(o)) sam__opt_decay(ctx, o, (float)o->cfg.weight_decay, x, grad);
    return SAM_OK;
}

/* Per-group result. */
typedef struct sam__opt_grp {
    double loss, gnorm, loss_adv, eps_norm;
    int perturbed;
    unsigned grads;
    float *F;          /* the group's final gradient (o->g or o->g2) */
    double gss, fss;   /* Σ g² of o->g at w, Σ F² (from sam__opt_eval) ...  */
    int gss_known, fss_known; /* ... when known (0 after memset: unknown)   */
} sam__opt_grp;

/* ε and w + ε from the gradient at w (in o->g), Foret eq. 2 / Kwon eq. 9 /
 * Tiwary & Aananth eq. 5. model may be NULL when N = 1. */
static sam_status sam__opt_ascent(sam_ctx *ctx, sam_opt *o, const sam_model *model, const float *w,
                                  const sam_batch *b, double rho, int perturb, sam_rng *rng, sam__opt_grp *r) {
    const sam_opt_config *c = &o->cfg;
    unsigned N = c->ascent_steps, k;
    double rN = rho / (double)N, dn;
    const float *dir = o->g;
    int asam = c->method == SAM_METHOD_ASAM, swp = c->method == SAM_METHOD_ESAM && c->esam_beta < 1;
    /* ε is stored when asked for or needed (N-step sums it; ASAM/SWP norms) */
    int store = c->keep_eps || N > 1 || asam || swp;
    float *eo = store ? o->eps : NULL;
    float eta = (float)c->asam_eta;
    sam_status st;
    r->gnorm = sqrt(r->gss_known ? r->gss : sam__sumsq(ctx, o->n, o->g));
    r->perturbed = 0;
    r->eps_norm = 0.0;
    if (!perturb) return SAM_OK;
    if (c->method == SAM_METHOD_FSAM && c->fsam_sigma > 0 && o->fsam_ready) {
        /* Friendly-SAM: remove the full-gradient part estimated by the EMA,
         * d = g − σ m_{t−1} (built in wadv; the ascent kernel reads it first). */
        memcpy(o->wadv, o->g, o->n * sizeof(float));
        sam__axpy(ctx, o->n, (float)-c->fsam_sigma, o->fsam_m, o->wadv);
        dir = o->wadv;
        dn = sqrt(sam__sumsq(ctx, o->n, dir));
    } else if (asam) {
        dn = sqrt(sam__opt_asam_sumsq_impl[ctx->isa](o->n, eta, o->mask, w, o->g));
    } else {
        dn = r->gnorm;
    }
    if (!(dn > 0)) return SAM_OK; /* ‖g‖ = 0 ⇒ ε = 0: no perturbation, no NaN */
    if (asam) sam__opt_asam_ascent_impl[ctx->isa](o->n, (float)(rN / dn), eta, o->mask, w, o->g, o->eps, o->wadv, 0);
    else if (swp) {
        /* ESAM's stochastic weight perturbation (Du et al. 2022, §3.1): keep
         * each coordinate with probability β and divide by β (unbiased). */
        size_t i;
        float beta = (float)c->esam_beta;
        sam__opt_ascent_impl[ctx->isa](o->n, (float)(rN / dn / c->esam_beta), w, dir, o->eps, o->wadv, 0);
        for (i = 0; i < o->n; i++)
            if (!(sam_rng_uniformf(rng) < beta)) { o->eps[i] = 0.0f; o->wadv[i] = w[i]; }
    } else if (N == 1 && !eo && dir == o->g && o->g_dead) {
        /* Plain SAM: g is not needed after this step's ε, so w + ε is built
         * over g in place and the buffers trade names (o->wadv is the
         * perturbed point, as always). Writing into the lines just read
         * saves the write-allocate of a third array: measured ~0.4 µs of a
         * 13 µs 1-SAM step of the Wen MLP. */
        float *t = o->g;
        sam__opt_ascent_impl[ctx->isa](o->n, (float)(rN / dn), w, t, NULL, t, 0);
        o->g = o->wadv;
        o->wadv = t;
    } else sam__opt_ascent_impl[ctx->isa](o->n, (float)(rN / dn), w, dir, eo, o->wadv, 0);
    o->eps_valid = store;
    for (k = 2; k <= N; k++) {
        double lk, g2s;
        if ((st = sam__opt_eval(ctx, o, model, o->wadv, b, (int)k, &lk, o->g2, &g2s))) return st;
        r->grads++;
        dn = asam ? sqrt(sam__opt_asam_sumsq_impl[ctx->isa](o->n, eta, o->mask, w, o->g2))
                  : sqrt(g2s >= 0 ? g2s : sam__sumsq(ctx, o->n, o->g2));
        if (!(dn > 0)) break; /* stationary point of the ascent: stop there */
        if (asam)
            sam__opt_asam_ascent_impl[ctx->isa](o->n, (float)(rN / dn), eta, o->mask, w, o->g2, o->eps, o->wadv, 1);
        else sam__opt_ascent_impl[ctx->isa](o->n, (float)(rN / dn), w, o->g2, o->eps, o->wadv, 1);
    }
    /* one normalised step: ‖ε‖ = ρ (up to rounding) for every g-direction method */
    if (store && (N > 1 || asam || swp)) r->eps_norm = sqrt(sam__sumsq(ctx, o->n, o->eps));
    else r->eps_norm = rho;
    if (N > 1 && c->ascent_projection != SAM_ASCENT_NO_PROJECTION && r->eps_norm > 0 &&
        (c->ascent_projection == SAM_ASCENT_RESCALE_SPHERE || r->eps_norm > rho)) {
        sam__opt_ascent_impl[ctx->isa](o->n, (float)(rho / r->eps_norm), w, o->eps, o->eps, o->wadv, 0);
        r->eps_norm = sqrt(sam__sumsq(ctx, o->n, o->eps));
    }
    r->perturbed = 1;
    return SAM_OK;
}

/* The methods that take no gradient at w. */
static int sam__opt_one_grad(const sam_opt *o) {
    return o->cfg.method == SAM_METHOD_RANDSAM || o->cfg.method == SAM_METHOD_MSAM;
}

/* Rand-SAM direction: u ~ N(0, I), optionally ⊙ T, ε = ρ u/‖u‖.
 * MSAM: ε = −ρ v/‖v‖ with v the momentum (Becker et al. 2024, Alg. 1);
 * v = 0 (first step) ⇒ ε = 0. */
static void sam__opt_rand_dir(sam_ctx *ctx, sam_opt *o, const float *w, double rho, sam_rng *rng,
                              sam__opt_grp *r) {
    size_t i;
    double un;
    r->perturbed = 0;
    r->eps_norm = 0.0;
    if (o->cfg.method == SAM_METHOD_MSAM) {
        un = sqrt(sam__sumsq(ctx, o->n, o->mom));
        if (!(un > 0)) return;
        sam__opt_ascent_impl[ctx->isa](o->n, (float)(-rho / un), w, o->mom, o->cfg.keep_eps ? o->eps : NULL,
                                       o->wadv, 0);
        o->eps_valid = o->cfg.keep_eps;
        r->eps_norm = rho;
        r->perturbed = 1;
        return;
    }
    sam__fill_gauss(ctx, rng, o->n, o->eps, 0.0f, 1.0f);
    if (o->cfg.rand_scale_by_w) {
        float eta = (float)o->cfg.asam_eta;
        for (i = 0; i < o->n; i++) {
            float t = fabsf(w[i]) + eta;
            if (o->mask) t = o->mask[i] * t + (1.0f - o->mask[i]);
            o->eps[i] = o->eps[i] * t;
        }
    }
    un = sqrt(sam__sumsq(ctx, o->n, o->eps));
    if (!(un > 0)) return;
    sam__opt_ascent_impl[ctx->isa](o->n, (float)(rho / un), w, o->eps, o->eps, o->wadv, 0);
    o->eps_valid = 1;
    r->eps_norm = sqrt(sam__sumsq(ctx, o->n, o->eps));
    r->perturbed = 1;
}

/* After the gradient at w + ε (o->g2): GSAM's correction, LookSAM's g_v. */
static void sam__opt_post(sam_ctx *ctx, sam_opt *o, sam__opt_grp *r) {
    const sam_opt_config *c = &o->cfg;
    size_t n = o->n;
    if (c->method == SAM_METHOD_GSAM && c->gsam_alpha > 0) {
        /* Zhuang et al. 2022, Alg. 1: g⊥ = g − (g·g'/‖g'‖²) g'; d = g' − α g⊥
         * = (1 + α c) g' − α g. */
        double g2s = sam__sumsq(ctx, n, o->g2);
        double cc = g2s > 0 ? sam__dot(ctx, n, o->g, o->g2) / g2s : 0.0;
        sam__scale(ctx, n, (float)(1.0 + c->gsam_alpha * cc), o->g2);
        sam__axpy(ctx, n, (float)-c->gsam_alpha, o->g, o->g2);
    } else if (c->method == SAM_METHOD_LOOKSAM) {
        /* Liu et al. 2022, eq. 6: g_v = g_s − (g_s·g/‖g‖²) g, kept for the next
         * k − 1 steps; built in o->g (no longer needed), committed on success. */
        double gs = r->gnorm * r->gnorm;
        double cc = gs > 0 ? sam__dot(ctx, n, o->g2, o->g) / gs : 0.0;
        sam__scale(ctx, n, (float)-cc, o->g);
        sam__axpy(ctx, n, 1.0f, o->g2, o->g);
    }
}

/* ESAM's sharpness-sensitive data selection (Du et al. 2022, §3.2): the
 * k = max(1, round(γ n)) samples whose loss rises most from w to w + ε, in
 * their batch order. Per-sample losses cost 2n one-sample loss calls (no
 * gradients): our model interface returns batch means only. */
static sam_status sam__opt_esam_select(sam_ctx *ctx, sam_opt *o, const sam_model *model, const float *w,
                                       const sam_batch *b, sam_batch *sel) {
    size_t n = b->n, i, j, k, cnt = 0;
    double *l0 = o->esam_loss, *l1 = o->esam_loss + n;
    sam_status st;
    if (n > o->max_batch)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_opt_step: ESAM batch n (%zu) > cfg.batch_size (%zu)", n, o->max_batch);
    for (i = 0; i < n; i++) {
        sam_batch one;
        size_t id = b->idx ? b->idx[i] : i;
        one.data = b->data;
        one.idx = &id;
        one.n = 1;
        o->pass = 0;
        if ((st = sam_model_loss_grad(ctx, model, w, &one, &l0[i], NULL, o->model_work))) return st;
        o->pass = 1;
        o->freeze_norm_stats = o->cfg.norm_stats == SAM_NORM_STATS_FIRST_PASS;
        st = sam_model_loss_grad(ctx, model, o->wadv, &one, &l1[i], NULL, o->model_work);
        o->pass = 0;
        o->freeze_norm_stats = 0;
        if (st) return st;
        l1[i] -= l0[i];
    }
    k = (size_t)(o->cfg.esam_gamma * (double)n + 0.5);
    if (k < 1) k = 1;
    /* rank of sample i = number of samples with a larger rise (ties: earlier first) */
    for (i = 0; i < n; i++) {
        size_t rank = 0;
        for (j = 0; j < n; j++)
            if (l1[j] > l1[i] || (l1[j] == l1[i] && j < i)) rank++;
        if (rank < k) o->esam_idx[cnt++] = b->idx ? b->idx[i] : i;
    }
    sel->data = b->data;
    sel->idx = o->esam_idx;
    sel->n = cnt;
    return SAM_OK;
}

/* GAM (Zhang, Xu, Yu, Zou & Cui, CVPR 2023, "Gradient Norm Aware
 * Minimization Seeks First-Order Flatness and Improves Generalization").
 * The paper penalises the first-order flatness ρ·max_{‖ε‖≤ρ} ‖∇L(w + ε)‖
 * with weight α: the gradient of the penalty is ρ ∇²L(w_adv) ∇L(w_adv)/‖·‖
 * at w_adv = w + ρ f/‖f‖, f = ∇²L(w) ∇L(w)/‖∇L(w)‖ (Hessian-vector
 * products). We implement the step of the authors' official code for GAM
 * on top of SAM (its `step`, `grad_norm_ascent`, `gradient_decompose`),
 * which replaces each Hessian-vector product by a gradient difference
 * (g1 − g0 ≈ ρ ∇²L ĝ0) and combines the four gradients with β1..β3, γ:
 *   1. g0 = ∇L(w)                                                     (pass 0)
 *   2. g1 = ∇L(w + ρ g0/‖g0‖): SAM's gradient                          (pass 1)
 * On entry o->g = g0, o->g2 = g1 (steps 1-2 are SAM's).
 *   3. d = g1 − g0, ε1 = ρ' d/‖d‖ (ε1 = 0 if d = 0), g2 = ∇L(w + ε1) (pass 2)
 *   4. ε2 = ε1 + ρ g2/‖g2‖ (no step if g2 = 0), g3 = ∇L(w + ε2)       (pass 3)
 *   5. h = β1 g1 + β3 g3 (SAM gradient + flatness gradient),
 *      p = g0 + |β2| g2, and the update direction removes γ times the part
 *      of p orthogonal to h (the official "gradient_decompose", as GSAM):
 *      F = h − γ (p − cos·‖p‖ h/‖h‖), cos = p·h/(‖p‖‖h‖)
 *        = (1 + γ p·h/‖h‖²) h − γ p        (0/0 := 0; the code's 1e-12
 *      stabilisers are replaced by this exact rule, as ‖g‖ = 0 elsewhere).
 * The base optimizer then steps along F (clip, decay, update: finish).
 * β3 = 0 and γ = 0 make g2 and g3 irrelevant: those passes are skipped and
 * F = β1 g1 (β1 = 1: SAM bit for bit). ρ' is not scheduled (ρ is). The
 * perturbed-point buffer ends at w + ε2; every pass is checked for
 * finiteness by sam__opt_eval before anything but work buffers is written. */
static sam_status sam__opt_gam(sam_ctx *ctx, sam_opt *o, const sam_model *model, const float *w,
                               const sam_batch *b, double rho, sam__opt_grp *r) {
    const sam_opt_config *c = &o->cfg;
    size_t n = o->n;
    float *d = o->gam_a, *g3 = o->gam_b;
    double dn, g2s, hh, ph, la;
    sam_status st;
    r->fss_known = 0;
    if (c->gam_grad_beta_3 == 0 && c->gam_grad_gamma == 0) {
        if (c->gam_grad_beta_1 != 1) sam__scale(ctx, n, (float)c->gam_grad_beta_1, o->g2);
        return SAM_OK;
    }
    /* step 3: d = g1 − g0 (in gam_a), ε1 in o->eps, w + ε1 in o->wadv */
    memcpy(d, o->g2, n * sizeof(float));
    sam__axpy(ctx, n, -1.0f, o->g, d);
    dn = sqrt(sam__sumsq(ctx, n, d));
    sam__opt_ascent_impl[ctx->isa](n, dn > 0 ? (float)(c->gam_grad_norm_rho / dn) : 0.0f, w, d, o->eps, o->wadv, 0);
    o->eps_valid = 0; /* o->eps now holds GAM's ε1, not the SAM ε */
    if ((st = sam__opt_eval(ctx, o, model, o->wadv, b, 2, &la, d, &g2s))) return st; /* gam_a = g2 */
    r->grads++;
    /* step 4: ε2 = ε1 + ρ g2/‖g2‖ */
    dn = sqrt(g2s >= 0 ? g2s : sam__sumsq(ctx, n, d));
    if (dn > 0) sam__opt_ascent_impl[ctx->isa](n, (float)(rho / dn), w, d, o->eps, o->wadv, 1);
    if ((st = sam__opt_eval(ctx, o, model, o->wadv, b, 3, &la, g3, NULL))) return st;
    r->grads++;
    /* step 5: h in o->g2, p in gam_a */
    sam__scale(ctx, n, (float)c->gam_grad_beta_1, o->g2);
    sam__axpy(ctx, n, (float)c->gam_grad_beta_3, g3, o->g2);
    sam__scale(ctx, n, (float)fabs(c->gam_grad_beta_2), d);
    sam__axpy(ctx, n, 1.0f, o->g, d);
    hh = sam__sumsq(ctx, n, o->g2);
    ph = hh > 0 ? sam__dot(ctx, n, d, o->g2) / hh : 0.0;
    sam__scale(ctx, n, (float)(1.0 + c->gam_grad_gamma * ph), o->g2);
    sam__axpy(ctx, n, (float)-c->gam_grad_gamma, d, o->g2);
    return SAM_OK;
}

/* The whole gradient of one group (a batch, or part of one). */
static sam_status sam__opt_group(sam_ctx *ctx, sam_opt *o, const sam_model *model, const float *w,
                                 const sam_batch *b, double rho, int perturb, int looksam_reuse, sam_rng *rng,
                                 sam__opt_grp *r) {
    sam_status st;
    memset(r, 0, sizeof *r);
    if (perturb && sam__opt_one_grad(o)) {
        /* One gradient per step: nothing is evaluated at w. */
        r->loss = r->gnorm = (double)NAN;
        sam__opt_rand_dir(ctx, o, w, rho, rng, r);
        if (!r->perturbed) {
            if ((st = sam__opt_eval(ctx, o, model, w, b, 0, &r->loss_adv, o->g2, &r->fss))) return st;
        } else if ((st = sam__opt_eval(ctx, o, model, o->wadv, b, 1, &r->loss_adv, o->g2, &r->fss))) return st;
        r->fss_known = r->fss >= 0;
        r->grads = 1;
        r->F = o->g2;
        return SAM_OK;
    }
    if ((st = sam__opt_eval(ctx, o, model, w, b, 0, &r->loss, o->g, &r->gss))) return st;
    r->gss_known = r->gss >= 0;
    r->grads = 1;
    if (looksam_reuse) {
        /* LookSAM between SAM steps: g + α (‖g‖/‖g_v‖) g_v (Liu et al. eq. 7). */
        double gvn = sqrt(sam__sumsq(ctx, o->n, o->looksam_gv));
        r->gnorm = sqrt(r->gss_known ? r->gss : sam__sumsq(ctx, o->n, o->g));
        if (gvn > 0) sam__axpy(ctx, o->n, (float)(o->cfg.looksam_alpha * r->gnorm / gvn), o->looksam_gv, o->g);
        r->loss_adv = r->loss;
        r->F = o->g;
        return SAM_OK;
    }
    if ((st = sam__opt_ascent(ctx, o, model, w, b, rho, perturb, rng, r))) return st;
    if (!r->perturbed) {
        r->loss_adv = r->loss;
        r->F = o->g; /* unchanged since the eval: its Σ g² still holds */
        r->fss = r->gss;
        r->fss_known = r->gss_known;
        return SAM_OK;
    }
    if (sam__opt_esam_sds(&o->cfg) && b && b->data && b->n > 1) {
        sam_batch sel;
        if ((st = sam__opt_esam_select(ctx, o, model, w, b, &sel))) return st;
        if ((st = sam__opt_eval(ctx, o, model, o->wadv, &sel, 1, &r->loss_adv, o->g2, &r->fss))) return st;
    } else if ((st = sam__opt_eval(ctx, o, model, o->wadv, b, 1, &r->loss_adv, o->g2, &r->fss))) return st;
    r->grads++;
    if (o->cfg.method == SAM_METHOD_GAM) {
        if ((st = sam__opt_gam(ctx, o, model, w, b, rho, r))) return st;
        r->F = o->g2;
        return SAM_OK;
    }
    /* GSAM rewrites g2 in sam__opt_post (LookSAM only o->g) */
    r->fss_known = r->fss >= 0 && !(o->cfg.method == SAM_METHOD_GSAM && o->cfg.gsam_alpha > 0);
    sam__opt_post(ctx, o, r);
    r->F = o->g2;
    return SAM_OK;
}

/* Everything after the final gradient F: accumulate, clip, decay, update,
 * commit. Nothing before the finiteness check writes state or w. */
static sam_status sam__opt_finish(sam_ctx *ctx, sam_opt *o, float *w, float *F, size_t batch_n, double lr,
                                  const sam__opt_grp *r, const sam_rng *rng, int looksam_sam_step,
                                  sam_opt_info *info, const char *fn) {
    const sam_opt_config *c = &o->cfg;
    size_t n = o->n;
    double fss = r->fss_known && F == r->F ? r->fss : sam__sumsq(ctx, n, F), fnorm;
    int applied = 1;
    /* A finite Σ g² proves every entry finite (NaN/Inf propagate), so the
     * norm doubles as the finiteness check; only if it is not finite (float
     * lanes can overflow for |g| > 1e19) is each entry checked, in double. */
    if (!sam__isfinite_d(fss)) {
        if (!sam__finite(ctx, n, F)) return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: final gradient is not finite", fn);
        fss = sam__dot_f32_scalar(n, F, F);
    }
    /* ---- from here on nothing fails: commit ---- */
    fnorm = sqrt(fss);
    if (c->method == SAM_METHOD_FSAM) {
        /* m_t = λ m_{t−1} + (1 − λ) g_t (first step: m = g), from the gradient at w */
        if (!o->fsam_ready) memcpy(o->fsam_m, o->g, n * sizeof(float));
        else {
            sam__scale(ctx, n, (float)c->fsam_lambda, o->fsam_m);
            sam__axpy(ctx, n, (float)(1.0 - c->fsam_lambda), o->g, o->fsam_m);
        }
        o->fsam_ready = 1;
    }
    if (looksam_sam_step) {
        memcpy(o->looksam_gv, o->g, n * sizeof(float));
        o->looksam_ready = 1;
    }
    if (rng) o->rng_dir = *rng;
    o->calls++;
    o->last_perturbed = r->perturbed;
    if (c->accumulate > 1) {
        /* Σ n_b g_b / Σ n_b: the batch-size-weighted mean, so K equal batches
         * give the gradient of their union (up to rounding). */
        double wb = batch_n ? (double)batch_n : 1.0;
        sam__axpy(ctx, n, (float)wb, F, o->acc);
        o->accum_weight += wb;
        o->accum_count++;
        if (o->accum_count < c->accumulate) applied = 0;
        else {
            sam__scale(ctx, n, (float)(1.0 / o->accum_weight), o->acc);
            F = o->acc;
            if (c->clip_norm > 0) fnorm = sqrt(sam__sumsq(ctx, n, F));
        }
    }
    if (applied) {
        if (c->clip_norm > 0 && fnorm > c->clip_norm) sam__scale(ctx, n, (float)(c->clip_norm / fnorm), F);
        if (c->weight_decay > 0 && c->wd_mode == SAM_WD_IN_STEP && c->base != SAM_BASE_ADAMW)
            sam__opt_decay(ctx, o, (float)c->weight_decay, w, F);
        if (c->base == SAM_BASE_SGD) {
            sam__opt_sgd_impl[ctx->isa](n, (float)lr, (float)c->momentum, c->nesterov, w, F, o->mom);
        } else {
            double t1 = (double)(o->t + 1);
            double bc1 = 1.0 - pow(c->beta1, t1), bc2 = 1.0 - pow(c->beta2, t1);
            if (c->base == SAM_BASE_ADAMW && c->weight_decay > 0)
                sam__opt_decay(ctx, o, (float)(-lr * c->weight_decay), w, w); /* w ← w − lr λ w (decoupled) */
            sam__opt_adam_impl[ctx->isa](n, (float)(lr / bc1), (float)c->beta1, (float)(1.0 - c->beta1),
                                         (float)c->beta2, (float)(1.0 - c->beta2), (float)(1.0 / sqrt(bc2)),
                                         (float)c->adam_eps, w, F, o->mom, o->vel);
        }
        o->t++;
        if (c->accumulate > 1) {
            memset(o->acc, 0, n * sizeof(float));
            o->accum_count = 0;
            o->accum_weight = 0.0;
        }
    }
    if (info) {
        info->loss = r->loss;
        info->grad_norm = r->gnorm;
        info->loss_perturbed = r->loss_adv;
        info->eps_norm = r->eps_norm;
        info->final_grad_norm = fnorm;
        info->lr = lr;
        info->perturbed = r->perturbed;
        info->applied = applied;
        info->gradients = r->grads;
    }
    return sam__ok(ctx);
}

static sam_status sam__opt_check_call(sam_ctx *ctx, sam_opt *opt, const sam_model *model, const float *w,
                                      const sam_batch *b, const char *fn) {
    size_t need;
    if (!opt) return sam__fail(ctx, SAM_ERR_NULL, "%s: opt is NULL", fn);
    if (!opt->mem) return sam__fail(ctx, SAM_ERR_ARG, "%s: opt is not initialised", fn);
    if (!w) return sam__fail(ctx, SAM_ERR_NULL, "%s: w is NULL", fn);
    if (model) {
        if (!model->vt) return sam__fail(ctx, SAM_ERR_NULL, "%s: model->vt is NULL", fn);
        if (model->n_params != opt->n)
            return sam__fail(ctx, SAM_ERR_ARG, "%s: model n_params (%zu) != optimizer's (%zu)", fn, model->n_params,
                             opt->n);
        need = sam_model_work_bytes(model, b ? b->n : 1);
        if (need > opt->model_work_bytes)
            return sam__fail(ctx, SAM_ERR_ARG,
                             "%s: batch n (%zu) needs %zu bytes of model work, optimizer sized for %zu "
                             "(set cfg.batch_size / cfg.dataset_size)", fn, b ? b->n : (size_t)0, need,
                             opt->model_work_bytes);
    }
    if (b && b->data && b->n == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: batch is empty", fn);
    return SAM_OK;
}

static int sam__opt_looksam_reuse(const sam_opt *o) {
    return o->cfg.method == SAM_METHOD_LOOKSAM && o->looksam_ready && (o->calls % o->cfg.looksam_k) != 0;
}

static sam_status sam__opt_step(sam_ctx *ctx, sam_opt *opt, const sam_model *model, float *w, const sam_batch *b,
                                sam_opt_info *info) {
    static const char *fn = "sam_opt_step";
    double lr, rho;
    size_t nb, m, groups;
    int perturb, reuse;
    sam_rng rng;
    sam__opt_grp r;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if (!model) return sam__fail(ctx, SAM_ERR_NULL, "%s: model is NULL", fn);
    if ((st = sam__opt_check_call(ctx, opt, model, w, b, fn))) return st;
    if ((st = sam__opt_sched(ctx, opt, &lr, &rho, fn))) return st;
    opt->pending = 0;
    opt->last_perturbed = 0; /* the work buffers are about to change */
    rng = opt->rng_dir;
    perturb = opt->cfg.method != SAM_METHOD_NONE && sam_opt_sam_active(opt) && rho > 0;
    reuse = perturb && sam__opt_looksam_reuse(opt);
    nb = b ? b->n : 0;
    m = opt->cfg.samples_per_perturbation;
    groups = (m == 0 || nb <= m) ? 1 : (nb + m - 1) / m;
    if (groups == 1) {
        opt->g_dead = opt->cfg.method == SAM_METHOD_SAM;
        st = sam__opt_group(ctx, opt, model, w, b, rho, perturb, reuse, &rng, &r);
        opt->g_dead = 0;
        if (st) return st;
    } else {
        /* m-sharpness (Foret et al. §4; Andriushchenko & Flammarion): one ε
         * per group of m samples, final gradient Σ_j (n_j/n) g'_j. */
        size_t j, i;
        double lsum = 0, lasum = 0;
        unsigned grads = 0;
        memset(opt->fin, 0, opt->n * sizeof(float));
        memset(opt->gsum, 0, opt->n * sizeof(float));
        for (j = 0; j < groups; j++) {
            size_t start = j * m, cnt = nb - start < m ? nb - start : m;
            float wj = (float)((double)cnt / (double)nb);
            sam_batch sub;
            sub.data = b->data;
            sub.n = cnt;
            if (b->idx) sub.idx = b->idx + start;
            else {
                for (i = 0; i < cnt; i++) opt->idx[i] = start + i;
                sub.idx = opt->idx;
            }
            if ((st = sam__opt_group(ctx, opt, model, w, &sub, rho, perturb, 0, &rng, &r))) return st;
            sam__axpy(ctx, opt->n, wj, r.F, opt->fin);
            if (r.loss == r.loss) sam__axpy(ctx, opt->n, wj, opt->g, opt->gsum); /* g at w */
            lsum += (double)wj * r.loss;
            lasum += (double)wj * r.loss_adv;
            grads += r.grads;
        }
        r.loss = lsum;
        r.loss_adv = lasum;
        r.gnorm = lsum == lsum ? sqrt(sam__sumsq(ctx, opt->n, opt->gsum)) : (double)NAN;
        r.grads = grads;
        r.F = opt->fin;
        r.gss_known = r.fss_known = 0;
        /* r.perturbed / eps_norm: those of the last group */
    }
    st = sam__opt_finish(ctx, opt, w, r.F, nb, lr, &r, &rng,
                         opt->cfg.method == SAM_METHOD_LOOKSAM && perturb && !reuse && r.perturbed, info, fn);
    if (info && !st) info->rho = rho;
    return st;
}

SAM__DEF sam_status sam_opt_step(sam_ctx *ctx, sam_opt *opt, const sam_model *model, float *w, const sam_batch *b,
                                 sam_opt_info *info) {
    sam_status st;
    if (opt) { /* see sam__opt_eval */
        opt->in_step = 1;
        opt->step_evals = 0;
    }
    st = sam__opt_step(ctx, opt, model, w, b, info);
    if (opt) opt->in_step = 0;
    return st;
}

/* ---- split form ------------------------------------------------------------ */

static sam_status sam__opt_split_check(sam_ctx *ctx, const sam_opt *opt, const char *fn) {
    if (opt->cfg.method == SAM_METHOD_LOOKSAM)
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: LookSAM needs sam_opt_step", fn);
    if (opt->cfg.samples_per_perturbation)
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: m-sharpness (samples_per_perturbation) needs sam_opt_step", fn);
    if (sam__opt_esam_sds(&opt->cfg))
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: ESAM with esam_gamma < 1 needs sam_opt_step", fn);
    if (opt->cfg.method == SAM_METHOD_GAM)
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: GAM (4 gradients per step) needs sam_opt_step", fn);
    return SAM_OK;
}

SAM__DEF sam_status sam_opt_ascend(sam_ctx *ctx, sam_opt *opt, const sam_model *model, const float *w,
                                   const sam_batch *b, sam_opt_info *info) {
    static const char *fn = "sam_opt_ascend";
    double lr, rho;
    int perturb;
    sam_rng rng;
    sam__opt_grp r;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if (!model) return sam__fail(ctx, SAM_ERR_NULL, "%s: model is NULL", fn);
    if ((st = sam__opt_check_call(ctx, opt, model, w, b, fn))) return st;
    if ((st = sam__opt_split_check(ctx, opt, fn))) return st;
    if ((st = sam__opt_sched(ctx, opt, &lr, &rho, fn))) return st;
    rng = opt->rng_dir;
    perturb = opt->cfg.method != SAM_METHOD_NONE && sam_opt_sam_active(opt) && rho > 0;
    memset(&r, 0, sizeof r);
    opt->pending = 0;
    opt->last_perturbed = 0;
    if (perturb && sam__opt_one_grad(opt)) {
        r.loss = r.gnorm = (double)NAN;
        sam__opt_rand_dir(ctx, opt, w, rho, &rng, &r);
    } else {
        if ((st = sam__opt_eval(ctx, opt, model, w, b, 0, &r.loss, opt->g, &r.gss))) return st;
        r.gss_known = r.gss >= 0;
        r.grads = 1;
        if ((st = sam__opt_ascent(ctx, opt, model, w, b, rho, perturb, &rng, &r))) return st;
    }
    opt->pending = 1;
    opt->pending_rng = rng;
    opt->last_perturbed = r.perturbed;
    memset(&opt->pending_info, 0, sizeof opt->pending_info);
    opt->pending_info.loss = r.loss;
    opt->pending_info.grad_norm = r.gnorm;
    opt->pending_info.eps_norm = r.eps_norm;
    opt->pending_info.perturbed = r.perturbed;
    opt->pending_info.gradients = r.grads;
    opt->pending_info.lr = lr;
    opt->pending_info.rho = rho;
    if (info) *info = opt->pending_info;
    return sam__ok(ctx);
}

/* Shared tail of both descends: F is the gradient at the perturbed point. */
static sam_status sam__opt_descend_tail(sam_ctx *ctx, sam_opt *opt, float *w, float *F, double loss_adv,
                                        size_t batch_n, unsigned grads, sam_opt_info *info, const char *fn) {
    sam__opt_grp r;
    sam_status st;
    memset(&r, 0, sizeof r);
    r.loss = opt->pending_info.loss;
    r.gnorm = opt->pending_info.grad_norm;
    r.eps_norm = opt->pending_info.eps_norm;
    r.perturbed = opt->pending_info.perturbed;
    r.grads = opt->pending_info.gradients + grads;
    r.loss_adv = loss_adv;
    r.F = F;
    if (r.perturbed && F == opt->g2) sam__opt_post(ctx, opt, &r);
    st = sam__opt_finish(ctx, opt, w, F, batch_n, opt->pending_info.lr, &r, &opt->pending_rng, 0, info, fn);
    if (!st) {
        opt->pending = 0;
        if (info) info->rho = opt->pending_info.rho;
    }
    return st;
}

SAM__DEF sam_status sam_opt_descend(sam_ctx *ctx, sam_opt *opt, const sam_model *model, float *w,
                                    const sam_batch *b, sam_opt_info *info) {
    static const char *fn = "sam_opt_descend";
    double la;
    float *F;
    unsigned grads = 0;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if (!model) return sam__fail(ctx, SAM_ERR_NULL, "%s: model is NULL", fn);
    if ((st = sam__opt_check_call(ctx, opt, model, w, b, fn))) return st;
    if (!opt->pending) return sam__fail(ctx, SAM_ERR_ARG, "%s: call sam_opt_ascend first", fn);
    if (opt->pending_info.perturbed) {
        if ((st = sam__opt_eval(ctx, opt, model, opt->wadv, b, 1, &la, opt->g2, NULL))) return st;
        F = opt->g2;
        grads = 1;
    } else if (sam__opt_one_grad(opt) && !(opt->pending_info.loss == opt->pending_info.loss)) {
        /* Rand-SAM drew u = 0 / MSAM's first step (v = 0): the gradient at w itself */
        if ((st = sam__opt_eval(ctx, opt, model, w, b, 0, &la, opt->g2, NULL))) return st;
        F = opt->g2;
        grads = 1;
    } else {
        la = opt->pending_info.loss;
        F = opt->g;
    }
    return sam__opt_descend_tail(ctx, opt, w, F, la, b ? b->n : 0, grads, info, fn);
}

SAM__DEF sam_status sam_opt_ascend_grad(sam_ctx *ctx, sam_opt *opt, const float *w, const float *grad, double loss,
                                        sam_opt_info *info) {
    static const char *fn = "sam_opt_ascend_grad";
    double lr, rho;
    int perturb;
    sam_rng rng;
    sam__opt_grp r;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__opt_check_call(ctx, opt, NULL, w, NULL, fn))) return st;
    if ((st = sam__opt_split_check(ctx, opt, fn))) return st;
    if (opt->cfg.ascent_steps > 1)
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: ascent_steps > 1 needs a model (sam_opt_ascend)", fn);
    if ((st = sam__opt_sched(ctx, opt, &lr, &rho, fn))) return st;
    perturb = opt->cfg.method != SAM_METHOD_NONE && sam_opt_sam_active(opt) && rho > 0;
    if (!grad && !(perturb && sam__opt_one_grad(opt)))
        return sam__fail(ctx, SAM_ERR_NULL, "%s: grad is NULL", fn);
    if (grad && (!sam__finite(ctx, opt->n, grad) || !sam__isfinite_d(loss)))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: loss or gradient is not finite", fn);
    rng = opt->rng_dir;
    memset(&r, 0, sizeof r);
    opt->pending = 0;
    opt->last_perturbed = 0;
    if (perturb && sam__opt_one_grad(opt)) {
        r.loss = r.gnorm = (double)NAN;
        sam__opt_rand_dir(ctx, opt, w, rho, &rng, &r);
    } else {
        memcpy(opt->g, grad, opt->n * sizeof(float));
        if (sam__opt_wd_in_loss(opt)) sam__opt_decay(ctx, opt, (float)opt->cfg.weight_decay, w, opt->g);
        r.loss = loss;
        if ((st = sam__opt_ascent(ctx, opt, NULL, w, NULL, rho, perturb, &rng, &r))) return st;
    }
    opt->pending = 1;
    opt->pending_rng = rng;
    opt->last_perturbed = r.perturbed;
    memset(&opt->pending_info, 0, sizeof opt->pending_info);
    opt->pending_info.loss = r.loss;
    opt->pending_info.grad_norm = r.gnorm;
    opt->pending_info.eps_norm = r.eps_norm;
    opt->pending_info.perturbed = r.perturbed;
    opt->pending_info.lr = lr;
    opt->pending_info.rho = rho;
    if (info) *info = opt->pending_info;
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_opt_descend_grad(sam_ctx *ctx, sam_opt *opt, float *w, const float *grad_adv,
                                         double loss_adv, size_t batch_n, sam_opt_info *info) {
    static const char *fn = "sam_opt_descend_grad";
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__opt_check_call(ctx, opt, NULL, w, NULL, fn))) return st;
    if (!grad_adv) return sam__fail(ctx, SAM_ERR_NULL, "%s: grad_adv is NULL", fn);
    if (!opt->pending) return sam__fail(ctx, SAM_ERR_ARG, "%s: call sam_opt_ascend_grad first", fn);
    if (!sam__finite(ctx, opt->n, grad_adv) || !sam__isfinite_d(loss_adv))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: loss or gradient is not finite", fn);
    memcpy(opt->g2, grad_adv, opt->n * sizeof(float));
    if (sam__opt_wd_in_loss(opt))
        sam__opt_decay(ctx, opt, (float)opt->cfg.weight_decay, opt->pending_info.perturbed ? opt->wadv : w, opt->g2);
    return sam__opt_descend_tail(ctx, opt, w, opt->g2, loss_adv, batch_n, 0, info, fn);
}

/* ---- epochs ------------------------------------------------------------------ */

SAM__DEF sam_status sam_opt_epoch(sam_ctx *ctx, sam_opt *opt, const sam_model *model, float *w,
                                  const sam_dataset *data, double *mean_loss) {
    static const char *fn = "sam_opt_epoch";
    size_t B, n, start;
    double lsum = 0.0, cnt = 0.0;
    sam_batch b;
    sam_opt_info info;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if (!opt) return sam__fail(ctx, SAM_ERR_NULL, "%s: opt is NULL", fn);
    if (!opt->mem) return sam__fail(ctx, SAM_ERR_ARG, "%s: opt is not initialised", fn);
    if (!model) return sam__fail(ctx, SAM_ERR_NULL, "%s: model is NULL", fn);
    if (!w) return sam__fail(ctx, SAM_ERR_NULL, "%s: w is NULL", fn);
    if (!data) return sam__fail(ctx, SAM_ERR_NULL, "%s: data is NULL", fn);
    n = data->n;
    if (n == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: data is empty", fn);
    B = opt->cfg.batch_size;
    b.data = data;
    if (B == 0) {
        /* full batch (GD): samples in data order, no shuffle */
        b.idx = NULL;
        b.n = n;
        if ((st = sam_opt_step(ctx, opt, model, w, &b, &info))) return st;
        lsum = info.loss == info.loss ? info.loss : info.loss_perturbed;
        cnt = 1.0;
    } else {
        if (n > opt->cfg.dataset_size)
            return sam__fail(ctx, SAM_ERR_ARG, "%s: data n (%zu) > cfg.dataset_size (%zu)", fn, n,
                             opt->cfg.dataset_size);
        sam_rng_permutation(&opt->rng_shuffle, n, opt->perm);
        for (start = 0; start < n; start += B) {
            size_t nb = n - start < B ? n - start : B;
            if (nb < B && opt->cfg.last_batch == SAM_LAST_BATCH_DROP) break;
            b.idx = opt->perm + start;
            b.n = nb;
            if ((st = sam_opt_step(ctx, opt, model, w, &b, &info))) return st;
            lsum += (double)nb * (info.loss == info.loss ? info.loss : info.loss_perturbed);
            cnt += (double)nb;
        }
    }
    opt->epoch++;
    if (mean_loss) *mean_loss = cnt > 0 ? lsum / cnt : 0.0;
    return sam__ok(ctx);
}

/* ---- save / restore ------------------------------------------------------------ */

#define SAM__OPT_MAGIC "SAMOPT\r\n"
#define SAM__OPT_VERSION 1u

static void sam__opt_fnv(uint64_t *h, const void *p, size_t len) {
    const unsigned char *s = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < len; i++) { *h ^= s[i]; *h *= 1099511628211ULL; }
}
static void sam__opt_fnv_d(uint64_t *h, double x) { sam__opt_fnv(h, &x, sizeof x); }
static void sam__opt_fnv_u(uint64_t *h, uint64_t x) { sam__opt_fnv(h, &x, sizeof x); }

/* Everything that shapes the state or the trajectory (not the seed: the RNG
 * state itself is saved; not the callbacks' addresses). */
static uint64_t sam__opt_fingerprint(const sam_opt *o) {
    const sam_opt_config *c = &o->cfg;
    uint64_t h = 14695981039346656037ULL;
    sam__opt_fnv_u(&h, o->n);
    sam__opt_fnv_u(&h, (uint64_t)c->base); sam__opt_fnv_d(&h, c->lr); sam__opt_fnv_d(&h, c->momentum);
    sam__opt_fnv_u(&h, (uint64_t)c->nesterov); sam__opt_fnv_d(&h, c->beta1); sam__opt_fnv_d(&h, c->beta2);
    sam__opt_fnv_d(&h, c->adam_eps); sam__opt_fnv_d(&h, c->weight_decay); sam__opt_fnv_u(&h, (uint64_t)c->wd_mode);
    sam__opt_fnv_u(&h, o->mask != NULL); sam__opt_fnv_u(&h, (uint64_t)c->decay_weights_only);
    sam__opt_fnv_u(&h, (uint64_t)c->method); sam__opt_fnv_d(&h, c->rho);
    sam__opt_fnv_u(&h, c->samples_per_perturbation); sam__opt_fnv_u(&h, c->ascent_steps);
    sam__opt_fnv_u(&h, (uint64_t)c->ascent_projection); sam__opt_fnv_d(&h, c->asam_eta);
    sam__opt_fnv_u(&h, (uint64_t)c->rand_scale_by_w); sam__opt_fnv_u(&h, (uint64_t)(int64_t)c->sam_epochs);
    sam__opt_fnv_d(&h, c->gsam_alpha); sam__opt_fnv_d(&h, c->fsam_sigma); sam__opt_fnv_d(&h, c->fsam_lambda);
    sam__opt_fnv_u(&h, c->looksam_k); sam__opt_fnv_d(&h, c->looksam_alpha);
    sam__opt_fnv_d(&h, c->esam_beta); sam__opt_fnv_d(&h, c->esam_gamma);
    if (c->method == SAM_METHOD_GAM) { /* only then: other methods keep their fingerprints */
        sam__opt_fnv_d(&h, c->gam_grad_norm_rho); sam__opt_fnv_d(&h, c->gam_grad_beta_1);
        sam__opt_fnv_d(&h, c->gam_grad_beta_2); sam__opt_fnv_d(&h, c->gam_grad_beta_3);
        sam__opt_fnv_d(&h, c->gam_grad_gamma);
    }
    sam__opt_fnv_u(&h, (uint64_t)c->lr_schedule); sam__opt_fnv_u(&h, c->lr_step_size); sam__opt_fnv_d(&h, c->lr_gamma);
    sam__opt_fnv_u(&h, c->lr_total); sam__opt_fnv_d(&h, c->lr_min); sam__opt_fnv_u(&h, c->warmup);
    sam__opt_fnv_u(&h, (uint64_t)c->schedule_by_epoch); sam__opt_fnv_u(&h, (uint64_t)c->rho_schedule);
    sam__opt_fnv_d(&h, c->clip_norm); sam__opt_fnv_u(&h, c->accumulate); sam__opt_fnv_u(&h, (uint64_t)c->norm_stats);
    sam__opt_fnv_u(&h, c->batch_size); sam__opt_fnv_u(&h, c->dataset_size); sam__opt_fnv_u(&h, (uint64_t)c->last_batch);
    return h;
}

/* Layout: magic[8] | u32 version | u32 0 | u64 n | u64 fingerprint | u64 total
 * | u64 t, calls, epoch | u32 accum_count, fsam_ready, looksam_ready, 0
 * | f64 accum_weight | u64 rng_dir.state, .inc, rng_shuffle.state, .inc
 * | float buffers mom, vel, acc, fsam_m, looksam_gv (those that exist). */
#define SAM__OPT_HEAD_BYTES (8 + 4 + 4 + 8 + 8 + 8 + 3 * 8 + 4 * 4 + 8 + 4 * 8)

static size_t sam__opt_nbufs(const sam_opt *o) {
    return (size_t)(o->mom != NULL) + (o->vel != NULL) + (o->acc != NULL) + (o->fsam_m != NULL) +
           (o->looksam_gv != NULL);
}

SAM__DEF size_t sam_opt_state_bytes(const sam_opt *opt) {
    size_t b, tot;
    if (!opt || !opt->mem) return 0;
    if (!sam__mul_ok(opt->n * sizeof(float), sam__opt_nbufs(opt), &b)) return 0;
    if (!sam__add_ok(b, SAM__OPT_HEAD_BYTES, &tot)) return 0;
    return tot;
}

static void sam__opt_put(unsigned char **p, const void *x, size_t len) {
    memcpy(*p, x, len);
    *p += len;
}
static void sam__opt_get(const unsigned char **p, void *x, size_t len) {
    memcpy(x, *p, len);
    *p += len;
}

SAM__DEF sam_status sam_opt_save(sam_ctx *ctx, const sam_opt *opt, void *buf, size_t cap, size_t *written) {
    static const char *fn = "sam_opt_save";
    unsigned char *p;
    size_t total, nb;
    uint32_t u32[4];
    uint64_t u64[4];
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, opt, "sam_opt_save", "opt");
    SAM__CHECK_PTR(ctx, buf, "sam_opt_save", "buf");
    if (!opt->mem) return sam__fail(ctx, SAM_ERR_ARG, "%s: opt is not initialised", fn);
    total = sam_opt_state_bytes(opt);
    if (total == 0) return sam__fail(ctx, SAM_ERR_SIZE, "%s: state size overflows size_t", fn);
    if (cap < total) return sam__fail(ctx, SAM_ERR_ARG, "%s: cap (%zu) < sam_opt_state_bytes (%zu)", fn, cap, total);
    p = (unsigned char *)buf;
    nb = opt->n * sizeof(float);
    sam__opt_put(&p, SAM__OPT_MAGIC, 8);
    u32[0] = SAM__OPT_VERSION; u32[1] = 0;
    sam__opt_put(&p, u32, 8);
    u64[0] = opt->n; u64[1] = sam__opt_fingerprint(opt); u64[2] = total;
    sam__opt_put(&p, u64, 24);
    u64[0] = opt->t; u64[1] = opt->calls; u64[2] = opt->epoch;
    sam__opt_put(&p, u64, 24);
    u32[0] = opt->accum_count; u32[1] = opt->fsam_ready; u32[2] = opt->looksam_ready; u32[3] = 0;
    sam__opt_put(&p, u32, 16);
    sam__opt_put(&p, &opt->accum_weight, 8);
    u64[0] = opt->rng_dir.state; u64[1] = opt->rng_dir.inc; u64[2] = opt->rng_shuffle.state;
    u64[3] = opt->rng_shuffle.inc;
    sam__opt_put(&p, u64, 32);
    if (opt->mom) sam__opt_put(&p, opt->mom, nb);
    if (opt->vel) sam__opt_put(&p, opt->vel, nb);
    if (opt->acc) sam__opt_put(&p, opt->acc, nb);
    if (opt->fsam_m) sam__opt_put(&p, opt->fsam_m, nb);
    if (opt->looksam_gv) sam__opt_put(&p, opt->looksam_gv, nb);
    if (written) *written = total;
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_opt_load(sam_ctx *ctx, sam_opt *opt, const void *buf, size_t bytes) {
    static const char *fn = "sam_opt_load";
    const unsigned char *p;
    size_t total, nb;
    uint32_t u32[4];
    uint64_t u64[4];
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, opt, "sam_opt_load", "opt");
    SAM__CHECK_PTR(ctx, buf, "sam_opt_load", "buf");
    if (!opt->mem) return sam__fail(ctx, SAM_ERR_ARG, "%s: opt is not initialised", fn);
    total = sam_opt_state_bytes(opt);
    p = (const unsigned char *)buf;
    if (bytes < 40 || memcmp(p, SAM__OPT_MAGIC, 8) != 0)
        return sam__fail(ctx, SAM_ERR_FORMAT, "%s: buf is not a sam_opt state", fn);
    p += 8;
    sam__opt_get(&p, u32, 8);
    if (u32[0] != SAM__OPT_VERSION)
        return sam__fail(ctx, SAM_ERR_FORMAT, "%s: state version %u, this build reads %u", fn, (unsigned)u32[0],
                         SAM__OPT_VERSION);
    sam__opt_get(&p, u64, 24);
    if (u64[0] != opt->n)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: state has %zu parameters, optimizer %zu", fn, (size_t)u64[0], opt->n);
    if (u64[1] != sam__opt_fingerprint(opt))
        return sam__fail(ctx, SAM_ERR_ARG, "%s: state was saved with another configuration", fn);
    if (u64[2] != total || bytes != total)
        return sam__fail(ctx, SAM_ERR_FORMAT, "%s: bytes (%zu) != state size (%zu)", fn, bytes, total);
    /* checked: now write */
    nb = opt->n * sizeof(float);
    sam__opt_get(&p, u64, 24);
    opt->t = u64[0]; opt->calls = u64[1]; opt->epoch = u64[2];
    sam__opt_get(&p, u32, 16);
    opt->accum_count = u32[0]; opt->fsam_ready = u32[1]; opt->looksam_ready = u32[2];
    sam__opt_get(&p, &opt->accum_weight, 8);
    sam__opt_get(&p, u64, 32);
    opt->rng_dir.state = u64[0]; opt->rng_dir.inc = u64[1];
    opt->rng_shuffle.state = u64[2]; opt->rng_shuffle.inc = u64[3];
    if (opt->mom) sam__opt_get(&p, opt->mom, nb);
    if (opt->vel) sam__opt_get(&p, opt->vel, nb);
    if (opt->acc) sam__opt_get(&p, opt->acc, nb);
    if (opt->fsam_m) sam__opt_get(&p, opt->fsam_m, nb);
    if (opt->looksam_gv) sam__opt_get(&p, opt->looksam_gv, nb);
    opt->pending = 0;
    opt->last_perturbed = 0;
    return sam__ok(ctx);
}

#undef SAM__OPT_BAD

/* ========================================================================
 * DATA SETS
 *   All generator code is scalar and draws only through sam_rng_*: one
 *   (seed, stream) gives the same bytes on every ISA and platform.
 * ====================================================================== */

/* Which optional buffers sam__dataset_alloc creates. */
#define SAM__DS_Y_CLEAN 1u
#define SAM__DS_SIGNAL 2u       /* signal (patch_dim)           */
#define SAM__DS_SIGNAL_PATCH 4u /* signal_patch (n)             */

SAM__DEF void sam_dataset_free(sam_dataset *ds) {
    void *u;
    if (!ds) return;
    u = ds->alloc_user;
    sam__free(u, ds->x);
    sam__free(u, ds->y);
    sam__free(u, ds->label);
    sam__free(u, ds->y_clean);
    sam__free(u, ds->noise);
    sam__free(u, ds->signal_patch);
    sam__free(u, ds->signal);
    memset(ds, 0, sizeof *ds);
}

/* Allocate a zero-filled data set into *ds (zeroed first). On
 * failure everything allocated so far is freed and ds is zeroed again. */
static sam_status sam__dataset_alloc(sam_ctx *ctx, sam_dataset *ds, size_t n, size_t patches, size_t patch_dim,
                                     size_t classes, unsigned flags, size_t noise_count, const char *fn) {
    size_t dim, xn, xbytes, nbytes, noise_n = 0, noise_bytes = 0, ibytes, dbytes;
    memset(ds, 0, sizeof *ds);
    if (!sam__mul_ok(patches, patch_dim, &dim) || !sam__mul_ok(n, dim, &xn) ||
        !sam__mul_ok(xn, sizeof(float), &xbytes) || !sam__mul_ok(n, sizeof(float), &nbytes) ||
        !sam__mul_ok(n, sizeof(int32_t), &ibytes) || !sam__mul_ok(patch_dim, sizeof(float), &dbytes) ||
        !sam__mul_ok(n, noise_count, &noise_n) || !sam__mul_ok(noise_n, patch_dim, &noise_n) ||
        !sam__mul_ok(noise_n, sizeof(float), &noise_bytes))
        return sam__fail(ctx, SAM_ERR_SIZE, "%s: n (%zu) x patches (%zu) x patch_dim (%zu) overflows size_t", fn, n,
                         patches, patch_dim);
    ds->alloc_user = ctx->alloc_user;
    ds->n = n;
    ds->patches = patches;
    ds->patch_dim = patch_dim;
    ds->dim = dim;
    ds->classes = classes;
    ds->noise_count = noise_count;
    ds->bayes_risk = -1.0;
    ds->x = (float *)sam__alloc(ds->alloc_user, xbytes ? xbytes : 1);
    ds->y = (float *)sam__alloc(ds->alloc_user, nbytes ? nbytes : 1);
    ds->label = (int32_t *)sam__alloc(ds->alloc_user, ibytes ? ibytes : 1);
    if ((flags & SAM__DS_Y_CLEAN) && ds->x) ds->y_clean = (float *)sam__alloc(ds->alloc_user, nbytes ? nbytes : 1);
    if ((flags & SAM__DS_SIGNAL) && ds->x) ds->signal = (float *)sam__alloc(ds->alloc_user, dbytes ? dbytes : 1);
    if ((flags & SAM__DS_SIGNAL_PATCH) && ds->x)
        ds->signal_patch = (int32_t *)sam__alloc(ds->alloc_user, ibytes ? ibytes : 1);
    if (noise_bytes && ds->x) ds->noise = (float *)sam__alloc(ds->alloc_user, noise_bytes);
    if (!ds->x || !ds->y || !ds->label || ((flags & SAM__DS_Y_CLEAN) && !ds->y_clean) ||
        ((flags & SAM__DS_SIGNAL) && !ds->signal) || ((flags & SAM__DS_SIGNAL_PATCH) && !ds->signal_patch) ||
        (noise_bytes && !ds->noise)) {
        sam_dataset_free(ds);
        return sam__fail(ctx, SAM_ERR_NOMEM, "%s: cannot allocate a data set of %zu x %zu floats", fn, n, dim);
    }
    if (xbytes) memset(ds->x, 0, xbytes);
    if (nbytes) memset(ds->y, 0, nbytes);
    if (ibytes) memset(ds->label, 0, ibytes);
    if (ds->y_clean && nbytes) memset(ds->y_clean, 0, nbytes);
    if (ds->signal && dbytes) memset(ds->signal, 0, dbytes);
    if (ds->signal_patch && ibytes) memset(ds->signal_patch, 0, ibytes);
    if (ds->noise) memset(ds->noise, 0, noise_bytes);
    return SAM_OK;
}

SAM__DEF sam_status sam_dataset_create(sam_ctx *ctx, size_t n, size_t patches, size_t patch_dim, size_t classes,
                                       sam_dataset *out) {
    sam_dataset ds;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, out, "sam_dataset_create", "out");
    if (n == 0) return sam__fail(ctx, SAM_ERR_ARG, "sam_dataset_create: n must be > 0");
    if (patches == 0) return sam__fail(ctx, SAM_ERR_ARG, "sam_dataset_create: patches must be > 0");
    if (patch_dim == 0) return sam__fail(ctx, SAM_ERR_ARG, "sam_dataset_create: patch_dim must be > 0");
    if (classes < 2) return sam__fail(ctx, SAM_ERR_ARG, "sam_dataset_create: classes (%zu) must be >= 2", classes);
    if ((st = sam__dataset_alloc(ctx, &ds, n, patches, patch_dim, classes, 0u, 0, "sam_dataset_create"))) return st;
    *out = ds;
    return sam__ok(ctx);
}

/* Validate the shape fields and mandatory buffers of a user-given data set. */
static sam_status sam__check_dataset(sam_ctx *ctx, const sam_dataset *ds, const char *fn) {
    size_t dim;
    if (!ds) return sam__fail(ctx, SAM_ERR_NULL, "%s: data set is NULL", fn);
    if (!ds->x || !ds->y || !ds->label) return sam__fail(ctx, SAM_ERR_NULL, "%s: data set x, y or label is NULL", fn);
    if (ds->n == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: data set n must be > 0", fn);
    if (!sam__mul_ok(ds->patches, ds->patch_dim, &dim) || dim != ds->dim || dim == 0)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: data set dim (%zu) != patches (%zu) x patch_dim (%zu)", fn, ds->dim,
                         ds->patches, ds->patch_dim);
    return SAM_OK;
}

SAM__DEF sam_status sam_dataset_subset(sam_ctx *ctx, const sam_dataset *src, const size_t *idx, size_t k,
                                       sam_dataset *out) {
    sam_dataset ds;
    sam_status st;
    unsigned flags = 0;
    size_t i, nc, nd;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_dataset(ctx, src, "sam_dataset_subset"))) return st;
    SAM__CHECK_PTR(ctx, out, "sam_dataset_subset", "out");
    if (k == 0) return sam__fail(ctx, SAM_ERR_ARG, "sam_dataset_subset: k must be > 0");
    if (!idx && k > src->n) return sam__fail(ctx, SAM_ERR_ARG, "sam_dataset_subset: k (%zu) > n (%zu)", k, src->n);
    if (idx)
        for (i = 0; i < k; i++)
            if (idx[i] >= src->n)
                return sam__fail(ctx, SAM_ERR_ARG, "sam_dataset_subset: idx[%zu] = %zu >= n (%zu)", i, idx[i], src->n);
    if (src->y_clean) flags |= SAM__DS_Y_CLEAN;
    if (src->signal) flags |= SAM__DS_SIGNAL;
    if (src->signal_patch) flags |= SAM__DS_SIGNAL_PATCH;
    nc = src->noise ? src->noise_count : 0;
    if ((st = sam__dataset_alloc(ctx, &ds, k, src->patches, src->patch_dim, src->classes, flags, nc,
                                 "sam_dataset_subset")))
        return st;
    nd = nc * src->patch_dim; /* fits: src holds n·nd floats */
    ds.noise_count = src->noise_count;
    ds.bayes_risk = src->bayes_risk;
    for (i = 0; i < k; i++) {
        size_t s = idx ? idx[i] : i;
        memcpy(ds.x + i * ds.dim, src->x + s * src->dim, src->dim * sizeof(float));
        ds.y[i] = src->y[s];
        ds.label[i] = src->label[s];
        if (ds.y_clean) ds.y_clean[i] = src->y_clean[s];
        if (ds.signal_patch) ds.signal_patch[i] = src->signal_patch[s];
        if (ds.noise && nd) memcpy(ds.noise + i * nd, src->noise + s * nd, nd * sizeof(float));
    }
    if (ds.signal) memcpy(ds.signal, src->signal, src->patch_dim * sizeof(float));
    *out = ds;
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_dataset_label_stats(sam_ctx *ctx, const sam_dataset *ds, sam_label_stats *out,
                                            size_t *class_counts) {
    sam_label_stats s;
    sam_status st;
    size_t i;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_dataset(ctx, ds, "sam_dataset_label_stats"))) return st;
    SAM__CHECK_PTR(ctx, out, "sam_dataset_label_stats", "out");
    for (i = 0; i < ds->n; i++)
        if (ds->label[i] < 0 || (size_t)ds->label[i] >= ds->classes)
            return sam__fail(ctx, SAM_ERR_ARG, "sam_dataset_label_stats: label[%zu] = %d outside [0, classes (%zu))", i,
                             (int)ds->label[i], ds->classes);
    memset(&s, 0, sizeof s);
    s.n = ds->n;
    if (class_counts) for (i = 0; i < ds->classes; i++) class_counts[i] = 0;
    for (i = 0; i < ds->n; i++) {
        int pos = ds->classes == 2 ? ds->y[i] > 0.0f : ds->label[i] != 0;
        if (pos) s.positive++; else s.negative++;
        if (ds->y_clean && ds->y_clean[i] != ds->y[i]) s.flipped++;
        if (class_counts) class_counts[ds->label[i]]++;
    }
    s.flip_rate = (double)s.flipped / (double)s.n;
    *out = s;
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_dataset_moments(sam_ctx *ctx, const sam_dataset *ds, double *mean, double *std) {
    sam_status st;
    size_t i, total;
    double s = 0.0, ss = 0.0, mu;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_dataset(ctx, ds, "sam_dataset_moments"))) return st;
    SAM__CHECK_PTR(ctx, mean, "sam_dataset_moments", "mean");
    SAM__CHECK_PTR(ctx, std, "sam_dataset_moments", "std");
    total = ds->n * ds->dim; /* the buffer exists, so the product fits */
    /* Two passes in sample order (the one-pass formula cancels badly). */
    for (i = 0; i < total; i++) s += (double)ds->x[i];
    mu = s / (double)total;
    for (i = 0; i < total; i++) { double t = (double)ds->x[i] - mu; ss += t * t; }
    *mean = mu;
    *std = sqrt(ss / (double)total);
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_dataset_standardize(sam_ctx *ctx, sam_dataset *ds, double mean, double std) {
    sam_status st;
    size_t i, total;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_dataset(ctx, ds, "sam_dataset_standardize"))) return st;
    if (!(std > 0.0) || std > DBL_MAX)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_dataset_standardize: std (%g) must be finite and > 0", std);
    if (!(mean == mean) || mean > DBL_MAX || mean < -DBL_MAX)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_dataset_standardize: mean (%g) must be finite", mean);
    total = ds->n * ds->dim;
    for (i = 0; i < total; i++) ds->x[i] = (float)(((double)ds->x[i] - mean) / std);
    return sam__ok(ctx);
}

/* ---- shared argument checks ------------------------------------------------- */

static sam_status sam__check_flip_p(sam_ctx *ctx, double p, const char *fn) {
    /* p = ½ makes the labels independent of x; p > ½ inverts them. */
    if (!(p >= 0.0 && p < 0.5))
        return sam__fail(ctx, SAM_ERR_ARG, "%s: flip_p (%g) must be in [0, 0.5)", fn, p);
    return SAM_OK;
}


static sam_status sam__check_gen(sam_ctx *ctx, const void *cfg, size_t n, const void *out, const char *fn) {
    if (!cfg) return sam__fail(ctx, SAM_ERR_NULL, "%s: cfg is NULL", fn);
    if (!out) return sam__fail(ctx, SAM_ERR_NULL, "%s: out is NULL", fn);
    if (n == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: n must be > 0", fn);
    return SAM_OK;
}

/* Deterministic exp in plain IEEE double (no libm transcendental): x = k ln2 + r,
 * |r| <= ln2/2, Taylor series of e^r to r^22/22! (< 1e-19 relative), times 2^k
 * by exact halvings/doublings. Used for U^{1/d} of the ball generator. */
static double sam__exp_det(double x) {
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    double r, term, sum, kd;
    long k;
    int i;
    if (x != x) return x;
    if (x < -746.0) return 0.0;
    if (x > 709.0) return HUGE_VAL;
    kd = x * 1.4426950408889634;
    k = (long)(kd < 0.0 ? kd - 0.5 : kd + 0.5);
    r = (x - (double)k * ln2_hi) - (double)k * ln2_lo;
    term = 1.0;
    sum = 1.0;
    for (i = 1; i <= 22; i++) {
        term = term * r / (double)i;
        sum += term;
    }
    /* scale by 2^k in steps that stay exact (powers of two) */
    while (k > 0) { long s = k > 60 ? 60 : k; sum *= (double)(1ULL << s); k -= s; }
    while (k < 0) { long s = -k > 60 ? 60 : -k; sum /= (double)(1ULL << s); k += s; }
    return sum;
}

/* ---- Chen et al. signal/noise patches ---------------------------------------- */

SAM__DEF void sam_chen_config_default(sam_chen_config *cfg) {
    if (!cfg) return;
    cfg->d = 2000;
    cfg->patches = 2;
    cfg->mu_norm = 2.0;
    cfg->sigma_p = 1.0;
    cfg->flip_p = 0.1;
    cfg->independent_noise = 0;
}

SAM__DEF sam_status sam_data_chen(sam_ctx *ctx, const sam_chen_config *cfg, size_t n, uint64_t seed,
                                  uint64_t stream, sam_dataset *out) {
    const char *fn = "sam_data_chen";
    sam_dataset ds;
    sam_rng rng;
    sam_status st;
    size_t i, q, P, d, nc;
    float mu;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_gen(ctx, cfg, n, out, fn))) return st;
    P = cfg->patches;
    d = cfg->d;
    if (d < 1) return sam__fail(ctx, SAM_ERR_ARG, "sam_data_chen: d (%zu) must be >= 1", d);
    if (P < 1) return sam__fail(ctx, SAM_ERR_ARG, "sam_data_chen: patches P (%zu) must be >= 1", P);
    if (P > 0x7fffffffu) return sam__fail(ctx, SAM_ERR_ARG, "sam_data_chen: patches P (%zu) too large", P);
    if (!(cfg->mu_norm > 0.0) || !sam__isfinite_d(cfg->mu_norm) || !sam__isfinite_d((double)(float)cfg->mu_norm))
        return sam__fail(ctx, SAM_ERR_ARG, "sam_data_chen: mu_norm (%g) must be finite and > 0", cfg->mu_norm);
    if (!(cfg->sigma_p >= 0.0) || !sam__isfinite_d(cfg->sigma_p))
        return sam__fail(ctx, SAM_ERR_ARG, "sam_data_chen: sigma_p (%g) must be finite and >= 0", cfg->sigma_p);
    if ((st = sam__check_flip_p(ctx, cfg->flip_p, fn))) return st;
    nc = P == 1 ? 0 : (cfg->independent_noise ? P - 1 : 1);
    if ((st = sam__dataset_alloc(ctx, &ds, n, P, d, 2, SAM__DS_Y_CLEAN | SAM__DS_SIGNAL | SAM__DS_SIGNAL_PATCH, nc, fn)))
        return st;
    ds.bayes_risk = cfg->flip_p;
    mu = (float)cfg->mu_norm;
    ds.signal[0] = mu; /* μ = ‖μ‖ e₁ */
    sam_rng_seed(&rng, seed, stream);
    for (i = 0; i < n; i++) {
        float yc = sam_rng_rademacher(&rng);                         /* clean label ŷ */
        size_t pos = (size_t)sam_rng_below(&rng, (uint32_t)P);      /* signal patch  */
        int flip = sam_rng_uniform(&rng) < cfg->flip_p;             /* label noise   */
        float *xi = ds.noise ? ds.noise + i * nc * d : NULL;
        float *xs = ds.x + i * ds.dim;
        size_t p, k;
        ds.y_clean[i] = yc;
        ds.y[i] = flip ? -yc : yc;
        ds.label[i] = ds.y[i] > 0.0f;
        ds.signal_patch[i] = (int32_t)pos;
        /* ξ ~ N(0, σ_p²(I - μμᵀ/‖μ‖²)): with μ ∥ e₁ the projection zeroes
         * coordinate 0 and leaves the others N(0, σ_p²). */
        for (q = 0; q < nc; q++) {
            float *v = xi + q * d;
            v[0] = 0.0f;
            for (k = 1; k < d; k++) v[k] = (float)(cfg->sigma_p * sam_rng_gauss(&rng));
        }
        for (p = 0, q = 0; p < P; p++) {
            float *patch = xs + p * d;
            if (p == pos) {
                patch[0] = yc * mu; /* ŷμ: the clean label, as in the paper */
            } else {
                memcpy(patch, xi + q * d, d * sizeof(float));
                if (nc > 1) q++;
            }
        }
    }
    *out = ds;
    return sam__ok(ctx);
}

/* ---- k-parity on the hypercube --------------------------------------------- */

SAM__DEF void sam_parity_config_default(sam_parity_config *cfg) {
    if (!cfg) return;
    cfg->d = 30;
    cfg->k = 2;
    cfg->flip_p = 0.0;
}

SAM__DEF sam_status sam_data_parity(sam_ctx *ctx, const sam_parity_config *cfg, size_t n, uint64_t seed,
                                    uint64_t stream, sam_dataset *out) {
    const char *fn = "sam_data_parity";
    sam_dataset ds;
    sam_rng rng;
    sam_status st;
    size_t i, k;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_gen(ctx, cfg, n, out, fn))) return st;
    if (cfg->d < 1) return sam__fail(ctx, SAM_ERR_ARG, "sam_data_parity: d (%zu) must be >= 1", cfg->d);
    if (cfg->k < 1 || cfg->k > cfg->d)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_data_parity: k (%zu) must be in [1, d (%zu)]", cfg->k, cfg->d);
    if ((st = sam__check_flip_p(ctx, cfg->flip_p, fn))) return st;
    if ((st = sam__dataset_alloc(ctx, &ds, n, 1, cfg->d, 2, SAM__DS_Y_CLEAN, 0, fn))) return st;
    ds.bayes_risk = cfg->flip_p;
    sam_rng_seed(&rng, seed, stream);
    for (i = 0; i < n; i++) {
        float *x = ds.x + i * ds.dim, yc = 1.0f;
        int flip;
        sam_rng_fill_rademacher(&rng, cfg->d, x);
        for (k = 0; k < cfg->k; k++) yc *= x[k]; /* y = x₁x₂…x_k */
        flip = sam_rng_uniform(&rng) < cfg->flip_p;
        ds.y_clean[i] = yc;
        ds.y[i] = flip ? -yc : yc;
        ds.label[i] = ds.y[i] > 0.0f;
    }
    *out = ds;
    return sam__ok(ctx);
}

/* ---- uniform ball -------------------------------------------------------- */

SAM__DEF void sam_ball_config_default(sam_ball_config *cfg) {
    if (!cfg) return;
    cfg->d = 10;
    cfg->radius = 0.0;
}

SAM__DEF sam_status sam_data_ball(sam_ctx *ctx, const sam_ball_config *cfg, size_t n, uint64_t seed,
                                  uint64_t stream, sam_dataset *out) {
    const char *fn = "sam_data_ball";
    sam_dataset ds;
    sam_rng rng;
    sam_status st;
    size_t i, k, d;
    double R;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_gen(ctx, cfg, n, out, fn))) return st;
    d = cfg->d;
    if (d < 2) return sam__fail(ctx, SAM_ERR_ARG, "sam_data_ball: d (%zu) must be >= 2 (y = |x1| - |x2|)", d);
    if (!sam__isfinite_d(cfg->radius))
        return sam__fail(ctx, SAM_ERR_ARG, "sam_data_ball: radius (%g) must be finite", cfg->radius);
    R = cfg->radius > 0.0 ? cfg->radius : sqrt((double)d); /* sqrt is exactly rounded (IEEE) */
    if ((st = sam__dataset_alloc(ctx, &ds, n, 1, d, 2, 0u, 0, fn))) return st;
    sam_rng_seed(&rng, seed, stream);
    for (i = 0; i < n; i++) {
        float *x = ds.x + i * d;
        double nrm2, u, r, s;
        /* Muller's method: a Gaussian direction, radius R U^{1/d}. */
        do {
            nrm2 = 0.0;
            for (k = 0; k < d; k++) {
                double g = sam_rng_gauss(&rng);
                x[k] = (float)g;
                nrm2 += g * g; /* sum of the doubles before rounding: still fixed order */
            }
        } while (nrm2 == 0.0);
        u = sam_rng_uniform(&rng);
        r = u > 0.0 ? R * sam__exp_det(sam_log_det(u) / (double)d) : 0.0;
        /* Recompute ‖g‖ from the stored floats so that ‖x‖ <= R up to rounding. */
        nrm2 = 0.0;
        for (k = 0; k < d; k++) nrm2 += (double)x[k] * (double)x[k];
        s = r / sqrt(nrm2);
        for (k = 0; k < d; k++) x[k] = (float)((double)x[k] * s);
        ds.y[i] = (float)(fabs((double)x[0]) - fabs((double)x[1]));
        ds.label[i] = ds.y[i] > 0.0f;
    }
    *out = ds;
    return sam__ok(ctx);
}

/* ---- two-class Gaussian mixture ------------------------------------------ */

SAM__DEF void sam_gmm_config_default(sam_gmm_config *cfg) {
    if (!cfg) return;
    cfg->d = 10;
    cfg->mean_norm = 1.0;
    cfg->sigma = 1.0;
    cfg->flip_p = 0.0;
}

SAM__DEF sam_status sam_data_gmm(sam_ctx *ctx, const sam_gmm_config *cfg, size_t n, uint64_t seed,
                                 uint64_t stream, sam_dataset *out) {
    const char *fn = "sam_data_gmm";
    sam_dataset ds;
    sam_rng rng;
    sam_status st;
    size_t i, k, d;
    float mu;
    double t;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_gen(ctx, cfg, n, out, fn))) return st;
    d = cfg->d;
    if (d < 1) return sam__fail(ctx, SAM_ERR_ARG, "sam_data_gmm: d (%zu) must be >= 1", d);
    if (!(cfg->mean_norm >= 0.0) || !sam__isfinite_d(cfg->mean_norm))
        return sam__fail(ctx, SAM_ERR_ARG, "sam_data_gmm: mean_norm (%g) must be finite and >= 0", cfg->mean_norm);
    if (!(cfg->sigma > 0.0) || !sam__isfinite_d(cfg->sigma))
        return sam__fail(ctx, SAM_ERR_ARG, "sam_data_gmm: sigma (%g) must be finite and > 0", cfg->sigma);
    if ((st = sam__check_flip_p(ctx, cfg->flip_p, fn))) return st;
    if ((st = sam__dataset_alloc(ctx, &ds, n, 1, d, 2, SAM__DS_Y_CLEAN | SAM__DS_SIGNAL, 0, fn))) return st;
    mu = (float)cfg->mean_norm;
    ds.signal[0] = mu;
    /* Bayes classifier sign(x₁): error Φ(-‖μ‖/σ) on clean labels; a flip
     * turns right into wrong and back. (erfc: metadata only, not data.) */
    t = 0.5 * erfc(cfg->mean_norm / cfg->sigma / sqrt(2.0));
    ds.bayes_risk = cfg->flip_p + (1.0 - 2.0 * cfg->flip_p) * t;
    sam_rng_seed(&rng, seed, stream);
    for (i = 0; i < n; i++) {
        float *x = ds.x + i * d;
        float yc = sam_rng_rademacher(&rng);
        int flip = sam_rng_uniform(&rng) < cfg->flip_p;
        for (k = 0; k < d; k++) x[k] = (float)(cfg->sigma * sam_rng_gauss(&rng));
        x[0] = (float)((double)x[0] + (double)yc * (double)mu);
        ds.y_clean[i] = yc;
        ds.y[i] = flip ? -yc : yc;
        ds.label[i] = ds.y[i] > 0.0f;
    }
    *out = ds;
    return sam__ok(ctx);
}

/* ---- IDX loader ------------------------------------------------------------- */

#define SAM__IDX_IMAGES_MAGIC 0x00000803u /* unsigned byte, 3 dimensions */
#define SAM__IDX_LABELS_MAGIC 0x00000801u /* unsigned byte, 1 dimension  */

static uint32_t sam__be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

SAM__DEF void sam_idx_options_default(sam_idx_options *opt) {
    if (!opt) return;
    memset(opt, 0, sizeof *opt);
    opt->classes = NULL;
    opt->stream = SAM_STREAM_TRAIN_DATA;
    opt->scale = SAM_IDX_UNIT;
    opt->patch_grid = 1;
}

/* Check both headers against the buffer sizes before any pixel is read. */
static sam_status sam__idx_header(sam_ctx *ctx, const unsigned char *im, size_t ib, const unsigned char *lb_p,
                                  size_t lb, size_t *count, size_t *rows, size_t *cols, const char *fn) {
    size_t c, r, k, pix, need;
    uint32_t magic;
    if (ib < 4) return sam__fail(ctx, SAM_ERR_FORMAT, "%s: images truncated (%zu bytes, no magic number)", fn, ib);
    magic = sam__be32(im);
    if (magic != SAM__IDX_IMAGES_MAGIC)
        return sam__fail(ctx, SAM_ERR_FORMAT, "%s: images magic number %u is not 2051 (0x00000803, ubyte x3)", fn,
                         (unsigned)magic);
    if (ib < 16) return sam__fail(ctx, SAM_ERR_FORMAT, "%s: images truncated (%zu bytes < 16-byte header)", fn, ib);
    if (lb < 4) return sam__fail(ctx, SAM_ERR_FORMAT, "%s: labels truncated (%zu bytes, no magic number)", fn, lb);
    magic = sam__be32(lb_p);
    if (magic != SAM__IDX_LABELS_MAGIC)
        return sam__fail(ctx, SAM_ERR_FORMAT, "%s: labels magic number %u is not 2049 (0x00000801, ubyte x1)", fn,
                         (unsigned)magic);
    if (lb < 8) return sam__fail(ctx, SAM_ERR_FORMAT, "%s: labels truncated (%zu bytes < 8-byte header)", fn, lb);
    c = sam__be32(im + 4);
    r = sam__be32(im + 8);
    k = sam__be32(im + 12);
    if (c == 0 || r == 0 || k == 0)
        return sam__fail(ctx, SAM_ERR_FORMAT, "%s: images header has a zero dimension (%zu x %zu x %zu)", fn, c, r, k);
    if (!sam__mul_ok(r, k, &pix) || !sam__mul_ok(c, pix, &need) || !sam__add_ok(need, 16, &need))
        return sam__fail(ctx, SAM_ERR_FORMAT, "%s: images header dimensions %zu x %zu x %zu overflow size_t", fn, c, r,
                         k);
    if (need != ib)
        return sam__fail(ctx, SAM_ERR_FORMAT, "%s: images header says %zu bytes, buffer has %zu (%s)", fn, need, ib,
                         ib < need ? "truncated" : "trailing bytes");
    if ((size_t)sam__be32(lb_p + 4) != c)
        return sam__fail(ctx, SAM_ERR_FORMAT, "%s: %zu images but %zu labels", fn, c, (size_t)sam__be32(lb_p + 4));
    if (lb != c + 8)
        return sam__fail(ctx, SAM_ERR_FORMAT, "%s: labels header says %zu bytes, buffer has %zu (%s)", fn, c + 8, lb,
                         lb < c + 8 ? "truncated" : "trailing bytes");
    *count = c;
    *rows = r;
    *cols = k;
    return SAM_OK;
}

SAM__DEF sam_status sam_idx_load_mem(sam_ctx *ctx, const void *images, size_t images_bytes, const void *labels,
                                     size_t labels_bytes, const sam_idx_options *opt_in, sam_dataset *out) {
    const char *fn = "sam_idx_load_mem";
    const unsigned char *im = (const unsigned char *)images, *lab = (const unsigned char *)labels;
    const unsigned char *pix0, *lab0;
    sam_idx_options opt;
    sam_dataset ds;
    sam_status st;
    sam_rng rng_sub, rng_flip;
    int map[256];
    size_t count = 0, rows = 0, cols = 0, i, c, K, n_sel = 0, n_out, g, ph, pw, P, pd, o, left_pick, left_all;
    double mean = 0.0, sd = 1.0;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, images, "sam_idx_load_mem", "images");
    SAM__CHECK_PTR(ctx, labels, "sam_idx_load_mem", "labels");
    SAM__CHECK_PTR(ctx, out, "sam_idx_load_mem", "out");
    if (opt_in) opt = *opt_in;
    else sam_idx_options_default(&opt);
    /* options first: they do not depend on the file */
    if (opt.n_classes && !opt.classes) return sam__fail(ctx, SAM_ERR_NULL, "sam_idx_load_mem: classes is NULL");
    if (opt.classes && opt.n_classes < 2)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_idx_load_mem: n_classes (%zu) must be >= 2", opt.n_classes);
    if (opt.classes && opt.n_classes > 256)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_idx_load_mem: n_classes (%zu) must be <= 256", opt.n_classes);
    for (i = 0; i < 256; i++) map[i] = -1;
    if (opt.classes) {
        for (c = 0; c < opt.n_classes; c++) {
            int32_t v = opt.classes[c];
            if (v < 0 || v > 255)
                return sam__fail(ctx, SAM_ERR_ARG, "sam_idx_load_mem: classes[%zu] = %d outside [0, 255]", c, (int)v);
            if (map[v] >= 0)
                return sam__fail(ctx, SAM_ERR_ARG, "sam_idx_load_mem: classes[%zu] = %d listed twice", c, (int)v);
            map[v] = (int)c;
        }
    }
    if ((st = sam__check_flip_p(ctx, opt.flip_p, fn))) return st;
    if ((unsigned)opt.scale > (unsigned)SAM_IDX_STANDARDIZE)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_idx_load_mem: scale (%d) is not a sam_idx_scale", (int)opt.scale);
    if (opt.scale == SAM_IDX_STANDARDIZE && (!sam__isfinite_d(opt.mean) || !sam__isfinite_d(opt.std) || opt.std < 0.0))
        return sam__fail(ctx, SAM_ERR_ARG, "sam_idx_load_mem: mean (%g) and std (%g) must be finite, std >= 0",
                         opt.mean, opt.std);
    g = opt.patch_grid;
    if (g == 0) return sam__fail(ctx, SAM_ERR_ARG, "sam_idx_load_mem: patch_grid must be >= 1");
    if ((st = sam__idx_header(ctx, im, images_bytes, lab, labels_bytes, &count, &rows, &cols, fn))) return st;
    if (rows % g || cols % g)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_idx_load_mem: patch_grid (%zu) must divide rows (%zu) and cols (%zu)",
                         g, rows, cols);
    pix0 = im + 16;
    lab0 = lab + 8;
    if (!opt.classes) {
        int mx = 0;
        for (i = 0; i < count; i++) if (lab0[i] > mx) mx = lab0[i];
        K = (size_t)mx + 1;
        if (K < 2) K = 2;
        for (i = 0; i < 256; i++) map[i] = (int)i;
    } else {
        K = opt.n_classes;
    }
    for (i = 0; i < count; i++) n_sel += map[lab0[i]] >= 0;
    if (n_sel == 0) return sam__fail(ctx, SAM_ERR_ARG, "sam_idx_load_mem: no sample has a selected class");
    if (opt.subset > n_sel)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_idx_load_mem: subset (%zu) > samples of the selected classes (%zu)",
                         opt.subset, n_sel);
    n_out = opt.subset ? opt.subset : n_sel;
    ph = rows / g;
    pw = cols / g;
    P = g * g;
    pd = ph * pw;
    if ((st = sam__dataset_alloc(ctx, &ds, n_out, P, pd, K, SAM__DS_Y_CLEAN, 0, fn))) return st;
    /* Two streams of one seed: the subset does not change when flip_p does. */
    sam_rng_seed(&rng_sub, opt.seed, opt.stream);
    sam_rng_seed(&rng_flip, opt.seed, opt.stream ^ ((uint64_t)SAM_STREAM_LABEL_NOISE << 32));
    left_pick = n_out;
    left_all = n_sel;
    for (i = 0, o = 0; i < count && o < n_out; i++) {
        const unsigned char *src = pix0 + i * rows * cols;
        float *x = ds.x + o * ds.dim;
        int l = map[lab0[i]], lc;
        size_t p, a, b;
        if (l < 0) continue;
        /* Selection sampling (Knuth's Algorithm S): keep this one with
         * probability left_pick / left_all; uniform over subsets, file order. */
        if (opt.subset_random && opt.subset) {
            int keep = (double)left_all * sam_rng_uniform(&rng_sub) < (double)left_pick;
            left_all--;
            if (!keep) continue;
            left_pick--;
        }
        lc = l;
        if (sam_rng_uniform(&rng_flip) < opt.flip_p) {
            if (K == 2) l = 1 - l;
            else { l = (int)sam_rng_below(&rng_flip, (uint32_t)(K - 1)); if (l >= lc) l++; }
        }
        ds.label[o] = (int32_t)l;
        if (K == 2) { ds.y[o] = l ? 1.0f : -1.0f; ds.y_clean[o] = lc ? 1.0f : -1.0f; }
        else { ds.y[o] = (float)l; ds.y_clean[o] = (float)lc; }
        /* patch (pr, pc) = index pr·g + pc holds rows pr·ph.., cols pc·pw.. */
        for (p = 0; p < P; p++) {
            size_t pr = p / g, pc = p % g;
            float *dst = x + p * pd;
            for (a = 0; a < ph; a++)
                for (b = 0; b < pw; b++) {
                    unsigned char v = src[(pr * ph + a) * cols + pc * pw + b];
                    dst[a * pw + b] = opt.scale == SAM_IDX_RAW ? (float)v : (float)v / 255.0f;
                }
        }
        o++;
    }
    if (opt.scale == SAM_IDX_STANDARDIZE) {
        if (opt.std > 0.0) { mean = opt.mean; sd = opt.std; }
        else {
            sam_dataset_moments(ctx, &ds, &mean, &sd);
            if (!(sd > 0.0)) sd = 1.0; /* constant images: centre only */
        }
        sam_dataset_standardize(ctx, &ds, mean, sd);
    }
    *out = ds;
    return sam__ok(ctx);
}

#ifndef SAM_NO_STDIO
/* Read a whole file into a sam__alloc'd buffer. */
static sam_status sam__read_file(sam_ctx *ctx, const char *path, unsigned char **buf, size_t *bytes, const char *fn) {
    FILE *f;
    long sz;
    unsigned char *b;
    f = fopen(path, "rb");
    if (!f) return sam__fail(ctx, SAM_ERR_IO, "%s: cannot open %s", fn, path);
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return sam__fail(ctx, SAM_ERR_IO, "%s: cannot determine the size of %s", fn, path);
    }
    b = (unsigned char *)sam__alloc(ctx->alloc_user, sz > 0 ? (size_t)sz : 1);
    if (!b) {
        fclose(f);
        return sam__fail(ctx, SAM_ERR_NOMEM, "%s: cannot allocate %zu bytes for %s", fn, (size_t)sz, path);
    }
    if (sz > 0 && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        sam__free(ctx->alloc_user, b);
        return sam__fail(ctx, SAM_ERR_IO, "%s: cannot read %s", fn, path);
    }
    fclose(f);
    *buf = b;
    *bytes = (size_t)sz;
    return SAM_OK;
}

SAM__DEF sam_status sam_idx_load(sam_ctx *ctx, const char *images_path, const char *labels_path,
                                 const sam_idx_options *opt, sam_dataset *out) {
    unsigned char *ib = NULL, *lb = NULL;
    size_t in = 0, ln = 0;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, images_path, "sam_idx_load", "images_path");
    SAM__CHECK_PTR(ctx, labels_path, "sam_idx_load", "labels_path");
    SAM__CHECK_PTR(ctx, out, "sam_idx_load", "out");
    if ((st = sam__read_file(ctx, images_path, &ib, &in, "sam_idx_load"))) return st;
    if ((st = sam__read_file(ctx, labels_path, &lb, &ln, "sam_idx_load"))) {
        sam__free(ctx->alloc_user, ib);
        return st;
    }
    st = sam_idx_load_mem(ctx, ib, in, lb, ln, opt, out);
    sam__free(ctx->alloc_user, ib);
    sam__free(ctx->alloc_user, lb);
    if (st) {
        /* name the file in the message: keep the loader's reason after it */
        char why[SAM_MESSAGE_BYTES];
        memcpy(why, ctx->message, SAM_MESSAGE_BYTES);
        why[SAM_MESSAGE_BYTES - 1] = 0;
        return sam__fail(ctx, st, "sam_idx_load(%s): %s", images_path, why);
    }
    return st;
}
#endif

/* ========================================================================
 * SIGNAL/NOISE COEFFICIENTS of the Chen CNN (PAPERS.md §1)
 * ====================================================================== */

/* A Chen data set usable for the decomposition; N = n · noise_count. */
static sam_status sam__check_chen_coef(sam_ctx *ctx, const sam_dataset *ds, size_t m, const float *w, const char *fn,
                                       size_t *n_noise) {
    sam_status st;
    size_t N, wn, i;
    if ((st = sam__check_dataset(ctx, ds, fn))) return st;
    if (!ds->signal || !ds->noise || ds->noise_count == 0)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: data set has no signal or noise vectors (not a Chen data set with P > 1)",
                         fn);
    if (m == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: m must be > 0", fn);
    if (!w) return sam__fail(ctx, SAM_ERR_NULL, "%s: w0 is NULL", fn);
    if (!sam__mul_ok(ds->n, ds->noise_count, &N) || !sam__mul_ok(2 * m, ds->patch_dim, &wn) || m > (size_t)-1 / 2)
        return sam__fail(ctx, SAM_ERR_SIZE, "%s: sizes overflow size_t", fn);
    /* N Gaussian vectors in the (d-1)-dimensional complement of μ are linearly
     * independent only if N <= d - 1. */
    if (N >= ds->patch_dim)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: %zu noise vectors must be fewer than patch_dim (%zu)", fn, N,
                         ds->patch_dim);
    for (i = 0; i < ds->n; i++)
        if (ds->y[i] != 1.0f && ds->y[i] != -1.0f)
            return sam__fail(ctx, SAM_ERR_ARG, "%s: y[%zu] (%g) is not +1 or -1", fn, i, (double)ds->y[i]);
    *n_noise = N;
    return SAM_OK;
}

/* Summaries from γ (2m) and ρ (2m × N); ykn[k] is the label of ξ_k. */
static void sam__chen_stats(size_t m, size_t N, const double *gamma, const double *rho, const signed char *ykn,
                            sam_chen_coef *c) {
    size_t f, k;
    double sp = 0.0, sn = 0.0;
    c->max_gamma = c->min_gamma = gamma[0];
    c->mean_gamma = 0.0;
    c->max_rho_pos = 0.0;
    c->min_rho_neg = 0.0;
    for (f = 0; f < 2 * m; f++) {
        int j = f < m ? 1 : -1;
        if (gamma[f] > c->max_gamma) c->max_gamma = gamma[f];
        if (gamma[f] < c->min_gamma) c->min_gamma = gamma[f];
        c->mean_gamma += gamma[f];
        for (k = 0; k < N; k++) {
            double r = rho[f * N + k];
            if (ykn[k] == j) { /* own class: ρ̄ = max(ρ, 0) */
                double v = r > 0.0 ? r : 0.0;
                if (v > c->max_rho_pos) c->max_rho_pos = v;
                sp += v;
            } else { /* other class: ρ̲ = min(ρ, 0) */
                double v = r < 0.0 ? r : 0.0;
                if (v < c->min_rho_neg) c->min_rho_neg = v;
                sn += v;
            }
        }
    }
    c->mean_gamma /= (double)(2 * m);
    /* each ξ_k has exactly one own-class j: m·N entries each side */
    c->mean_rho_pos = sp / (double)(m * N);
    c->mean_rho_neg = sn / (double)(m * N);
}

SAM__DEF sam_status sam_chen_coef_exact(sam_ctx *ctx, const sam_dataset *data, size_t m, const float *w,
                                        const float *w0, sam_chen_coef *out, double *gamma, double *rho) {
    const char *fn = "sam_chen_coef_exact";
    sam_status st;
    size_t N, d, nc, i, k, f, t, bytes, active = 0;
    double *A, *b, *dw, *g, *r, mu2 = 0.0;
    size_t *piv;
    signed char *ykn;
    unsigned char *mem;
    sam_chen_coef c;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__check_chen_coef(ctx, data, m, w0, fn, &N))) return st;
    SAM__CHECK_PTR(ctx, w, "sam_chen_coef_exact", "w");
    SAM__CHECK_PTR(ctx, out, "sam_chen_coef_exact", "out");
    d = data->patch_dim;
    nc = data->noise_count;
    for (k = 0; k < d; k++) mu2 += (double)data->signal[k] * (double)data->signal[k];
    if (!(mu2 > 0.0)) return sam__fail(ctx, SAM_ERR_ARG, "%s: the signal μ is zero", fn);
    /* one block: A (N²) b (N) dw (d) γ (2m) ρ (2m N) doubles, piv (N), ykn (N) */
    {
        size_t nd, a1, a2;
        if (!sam__mul_ok(N, N, &a1) || !sam__mul_ok(2 * m, N, &a2) || !sam__add_ok(a1, a2, &nd) ||
            !sam__add_ok(nd, N + d + 2 * m, &nd) || !sam__mul_ok(nd, sizeof(double), &bytes) ||
            !sam__add_ok(bytes, N * (sizeof(size_t) + 1), &bytes))
            return sam__fail(ctx, SAM_ERR_SIZE, "%s: work size overflows size_t", fn);
        mem = (unsigned char *)sam__alloc(ctx->alloc_user, bytes);
        if (!mem) return sam__fail(ctx, SAM_ERR_NOMEM, "%s: cannot allocate %zu bytes", fn, bytes);
        A = (double *)mem;
        b = A + a1;
        dw = b + N;
        g = dw + d;
        r = g + 2 * m;
        piv = (size_t *)(r + a2);
        ykn = (signed char *)(piv + N);
    }
    for (k = 0; k < N; k++) ykn[k] = data->y[k / nc] > 0.0f ? 1 : -1;
    /* A[i][k] = ⟨ξ_k, ξ_i⟩ / ‖ξ_k‖²: the system as the paper writes it,
     * unknowns ρ_k directly (not symmetric: LU, not Cholesky). */
    for (i = 0; i < N; i++)
        for (k = 0; k <= i; k++) {
            const float *xi = data->noise + i * d, *xk = data->noise + k * d;
            double s = 0.0;
            for (t = 0; t < d; t++) s += (double)xi[t] * (double)xk[t];
            A[i * N + k] = A[k * N + i] = s;
        }
    {
        double *diag = b; /* borrow b for the norms */
        for (k = 0; k < N; k++) diag[k] = A[k * N + k];
        for (k = 0; k < N; k++)
            if (!(diag[k] > 0.0)) {
                sam__free(ctx->alloc_user, mem);
                return sam__fail(ctx, SAM_ERR_ARG, "%s: noise vector %zu is zero", fn, k);
            }
        for (i = 0; i < N; i++)
            for (k = 0; k < N; k++) A[i * N + k] /= diag[k];
    }
    /* LU with partial pivoting, in place (Doolittle, row swaps in piv). */
    for (k = 0; k < N; k++) {
        size_t p = k;
        double amax = fabs(A[k * N + k]);
        for (i = k + 1; i < N; i++)
            if (fabs(A[i * N + k]) > amax) { amax = fabs(A[i * N + k]); p = i; }
        piv[k] = p;
        if (!(amax > 1e-12)) {
            sam__free(ctx->alloc_user, mem);
            return sam__fail(ctx, SAM_ERR_ARG, "%s: the noise vectors are linearly dependent", fn);
        }
        if (p != k)
            for (t = 0; t < N; t++) { double tmp = A[k * N + t]; A[k * N + t] = A[p * N + t]; A[p * N + t] = tmp; }
        for (i = k + 1; i < N; i++) {
            double l = A[i * N + k] / A[k * N + k];
            A[i * N + k] = l;
            for (t = k + 1; t < N; t++) A[i * N + t] -= l * A[k * N + t];
        }
    }
    for (f = 0; f < 2 * m; f++) {
        int j = f < m ? 1 : -1;
        const float *wf = w + f * d, *w0f = w0 + f * d;
        double s = 0.0;
        double *rf = r + f * N;
        for (t = 0; t < d; t++) dw[t] = (double)wf[t] - (double)w0f[t];
        for (t = 0; t < d; t++) s += dw[t] * (double)data->signal[t];
        g[f] = (double)j * s; /* γ_{j,r} = j⟨w - w⁽⁰⁾, μ⟩ since ξ ⊥ μ */
        for (i = 0; i < N; i++) {
            const float *xi = data->noise + i * d;
            double bi = 0.0, wi = 0.0;
            for (t = 0; t < d; t++) { bi += dw[t] * (double)xi[t]; wi += (double)wf[t] * (double)xi[t]; }
            rf[i] = bi;
            if (ykn[i] == j && wi > 0.0) active++;
        }
        /* apply the row swaps, then L (unit) and U substitutions */
        for (k = 0; k < N; k++)
            if (piv[k] != k) { double tmp = rf[k]; rf[k] = rf[piv[k]]; rf[piv[k]] = tmp; }
        for (i = 0; i < N; i++)
            for (k = 0; k < i; k++) rf[i] -= A[i * N + k] * rf[k];
        for (i = N; i-- > 0;) {
            for (k = i + 1; k < N; k++) rf[i] -= A[i * N + k] * rf[k];
            rf[i] /= A[i * N + i];
        }
    }
    sam__chen_stats(m, N, g, r, ykn, &c);
    c.active_frac = (double)active / (double)(m * N);
    *out = c;
    if (gamma) memcpy(gamma, g, 2 * m * sizeof(double));
    if (rho) memcpy(rho, r, 2 * m * N * sizeof(double));
    sam__free(ctx->alloc_user, mem);
    return sam__ok(ctx);
}

SAM__DEF void sam_chen_tracker_free(sam_chen_tracker *t) {
    void *u;
    if (!t) return;
    u = t->alloc_user;
    sam__free(u, t->mu);
    sam__free(u, t->xi);
    sam__free(u, t->w0);
    sam__free(u, t->y);
    sam__free(u, t->xi_norm2);
    sam__free(u, t->chol);
    sam__free(u, t->w0_xi);
    sam__free(u, t->w0_mu);
    sam__free(u, t->scratch);
    memset(t, 0, sizeof *t);
}

SAM__DEF sam_status sam_chen_tracker_init(sam_ctx *ctx, sam_chen_tracker *t, const sam_dataset *data, size_t m,
                                          const float *w0) {
    const char *fn = "sam_chen_tracker_init";
    sam_chen_tracker tr;
    sam_status st;
    size_t N, d, nc, i, k, f, q, nn, wn;
    void *ua;
    double mu2 = 0.0;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, t, "sam_chen_tracker_init", "tracker");
    if ((st = sam__check_chen_coef(ctx, data, m, w0, fn, &N))) return st;
    d = data->patch_dim;
    nc = data->noise_count;
    for (k = 0; k < d; k++) mu2 += (double)data->signal[k] * (double)data->signal[k];
    if (!(mu2 > 0.0)) return sam__fail(ctx, SAM_ERR_ARG, "%s: the signal μ is zero", fn);
    memset(&tr, 0, sizeof tr);
    tr.alloc_user = ctx->alloc_user;
    tr.m = m;
    tr.d = d;
    tr.n_noise = N;
    tr.mu_norm2 = mu2;
    nn = N * d;     /* fits: the data set holds it        */
    wn = 2 * m * d; /* fits: checked by sam__check_chen_coef */
    ua = tr.alloc_user;
    tr.mu = (float *)sam__alloc(ua, d * sizeof(float));
    tr.xi = (float *)sam__alloc(ua, nn * sizeof(float));
    tr.w0 = (float *)sam__alloc(ua, wn * sizeof(float));
    tr.y = (signed char *)sam__alloc(ua, N);
    tr.xi_norm2 = (double *)sam__alloc(ua, N * sizeof(double));
    tr.chol = (double *)sam__alloc(ua, N * N * sizeof(double));
    tr.w0_xi = (double *)sam__alloc(ua, 2 * m * N * sizeof(double));
    tr.w0_mu = (double *)sam__alloc(ua, 2 * m * sizeof(double));
    tr.scratch = (double *)sam__alloc(ua, 2 * m * N * sizeof(double) + 2 * m * sizeof(double));
    if (!tr.mu || !tr.xi || !tr.w0 || !tr.y || !tr.xi_norm2 || !tr.chol || !tr.w0_xi || !tr.w0_mu || !tr.scratch) {
        sam_chen_tracker_free(&tr);
        return sam__fail(ctx, SAM_ERR_NOMEM, "%s: cannot allocate the tracker (%zu noise vectors of %zu)", fn, N, d);
    }
    memcpy(tr.mu, data->signal, d * sizeof(float));
    memcpy(tr.xi, data->noise, nn * sizeof(float));
    memcpy(tr.w0, w0, wn * sizeof(float));
    for (k = 0; k < N; k++) tr.y[k] = data->y[k / nc] > 0.0f ? 1 : -1;
    /* Gram matrix G[i][k] = ⟨ξ_i, ξ_k⟩ in double (exact products, sample order). */
    for (i = 0; i < N; i++)
        for (k = 0; k <= i; k++) tr.chol[i * N + k] = sam__dot_f32_scalar(d, tr.xi + i * d, tr.xi + k * d);
    for (k = 0; k < N; k++) tr.xi_norm2[k] = tr.chol[k * N + k];
    /* Cholesky G = L Lᵀ in place (lower triangle). The system of the paper is
     * G D⁻¹ ρ = b with D = diag ‖ξ_k‖², so z = D⁻¹ρ solves G z = b: symmetric
     * positive definite, half the work of LU and no pivoting. */
    for (k = 0; k < N; k++) {
        double s = tr.chol[k * N + k];
        for (q = 0; q < k; q++) s -= tr.chol[k * N + q] * tr.chol[k * N + q];
        /* relative pivot test: Gaussian vectors with N < d are far from it */
        if (!(s > 1e-10 * tr.xi_norm2[k])) {
            sam_chen_tracker_free(&tr);
            return sam__fail(ctx, SAM_ERR_ARG, "%s: the noise vectors are linearly dependent (pivot %zu)", fn, k);
        }
        s = sqrt(s);
        tr.chol[k * N + k] = s;
        for (i = k + 1; i < N; i++) {
            double v = tr.chol[i * N + k];
            for (q = 0; q < k; q++) v -= tr.chol[i * N + q] * tr.chol[k * N + q];
            tr.chol[i * N + k] = v / s;
        }
    }
    for (i = 0; i < N; i++)
        for (k = i + 1; k < N; k++) tr.chol[i * N + k] = 0.0;
    /* The W⁽⁰⁾ parts of ⟨w - w⁽⁰⁾, ·⟩, once. */
    for (f = 0; f < 2 * m; f++) {
        tr.w0_mu[f] = sam__dot_f32_scalar(d, tr.w0 + f * d, tr.mu);
        for (k = 0; k < N; k++) tr.w0_xi[f * N + k] = sam__dot_f32_scalar(d, tr.w0 + f * d, tr.xi + k * d);
    }
    *t = tr;
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_chen_tracker_eval(sam_ctx *ctx, sam_chen_tracker *t, const float *w, sam_chen_coef *out,
                                          double *gamma, double *rho) {
    size_t m, N, d, f, i, k, active = 0;
    double *r, *g;
    sam_chen_coef c;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, t, "sam_chen_tracker_eval", "tracker");
    SAM__CHECK_PTR(ctx, w, "sam_chen_tracker_eval", "w");
    SAM__CHECK_PTR(ctx, out, "sam_chen_tracker_eval", "out");
    if (!t->chol || !t->scratch || t->m == 0 || t->n_noise == 0)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_chen_tracker_eval: tracker is not initialised");
    m = t->m;
    N = t->n_noise;
    d = t->d;
    r = t->scratch;     /* 2m × N */
    g = r + 2 * m * N;  /* 2m     */
    for (f = 0; f < 2 * m; f++) {
        int j = f < m ? 1 : -1;
        const float *wf = w + f * d;
        double *rf = r + f * N;
        /* Dots accumulate exact float products in double (the scalar kernel),
         * like the ⟨w⁽⁰⁾, ·⟩ of init: the difference below loses nothing that
         * matters, W = W⁽⁰⁾ gives exactly 0, and results are the same on every
         * ISA. 2m(N+1) dots of d: ~1 ms at the calibrated size.
         * γ_{j,r} = j(⟨w, μ⟩ - ⟨w⁽⁰⁾, μ⟩) */
        g[f] = (double)j * (sam__dot_f32_scalar(d, wf, t->mu) - t->w0_mu[f]);
        for (k = 0; k < N; k++) {
            double c_wk = sam__dot_f32_scalar(d, wf, t->xi + k * d); /* ⟨w_{j,r}, ξ_k⟩ */
            if (t->y[k] == j && c_wk > 0.0) active++;           /* own-class noise neuron on */
            rf[k] = c_wk - t->w0_xi[f * N + k];                 /* b_k = ⟨w - w⁽⁰⁾, ξ_k⟩ */
        }
        /* G z = b: L y = b, then Lᵀ z = y; ρ_k = ‖ξ_k‖² z_k */
        for (i = 0; i < N; i++) {
            double s = rf[i];
            for (k = 0; k < i; k++) s -= t->chol[i * N + k] * rf[k];
            rf[i] = s / t->chol[i * N + i];
        }
        for (i = N; i-- > 0;) {
            double s = rf[i];
            for (k = i + 1; k < N; k++) s -= t->chol[k * N + i] * rf[k];
            rf[i] = s / t->chol[i * N + i];
        }
        for (k = 0; k < N; k++) rf[k] *= t->xi_norm2[k];
    }
    sam__chen_stats(m, N, g, r, t->y, &c);
    c.active_frac = (double)active / (double)(m * N);
    *out = c;
    if (gamma) memcpy(gamma, g, 2 * m * sizeof(double));
    if (rho) memcpy(rho, r, 2 * m * N * sizeof(double));
    return sam__ok(ctx);
}

/* ========================================================================
 * SHARPNESS: estimators, Hessian tools, landscape slices
 *   All vector work goes through sam__dot / sam__axpy / sam__scale /
 *   sam__perturb (dispatched per ISA) or memcpy/memset; scalars accumulate
 *   in double.
 * ====================================================================== */

/* ---- helpers: work layout ------------------------------------------------- */

/* Our buffers first (each rounded to 64 bytes), the model's work last, so its
 * offset does not depend on the batch size the caller queried with. */
static int sam__sharp_layout(size_t n, size_t nvec, size_t ndbl, size_t nidx, size_t model_bytes, size_t *total) {
    size_t vbytes, vall, dbytes, ibytes, t;
    if (!sam__mul_ok(n, sizeof(float), &vbytes)) return 0;
    if (vbytes > (size_t)-1 - SAM__ALIGN) return 0;
    vbytes = sam__round_up(vbytes, SAM__ALIGN);
    if (!sam__mul_ok(vbytes, nvec, &vall)) return 0;
    if (!sam__mul_ok(ndbl, sizeof(double), &dbytes) || dbytes > (size_t)-1 - SAM__ALIGN) return 0;
    dbytes = sam__round_up(dbytes, SAM__ALIGN);
    if (!sam__mul_ok(nidx, sizeof(size_t), &ibytes) || ibytes > (size_t)-1 - SAM__ALIGN) return 0;
    ibytes = sam__round_up(ibytes, SAM__ALIGN);
    t = SAM__ALIGN; /* slack to align a caller pointer */
    if (!sam__add_ok(t, vall, &t) || !sam__add_ok(t, dbytes, &t) || !sam__add_ok(t, ibytes, &t) ||
        !sam__add_ok(t, model_bytes, &t))
        return 0;
    *total = t;
    return 1;
}

static unsigned char *sam__align_ptr(void *p) {
    return (unsigned char *)(((uintptr_t)p + SAM__ALIGN - 1) & ~(uintptr_t)(SAM__ALIGN - 1));
}

static float *sam__take_f(unsigned char **p, size_t n) {
    float *r = (float *)(void *)*p;
    *p += sam__round_up(n * sizeof(float), SAM__ALIGN);
    return r;
}

/* The Hessian tools keep nvec + 4 vectors (2 for the block adapter, 2 for
 * the algorithm) and nvec² + 8 nvec + 16 doubles (tridiagonal T, its
 * eigenvectors, copies). */
static int sam__hess_layout(size_t n, size_t nvec, size_t model_bytes, size_t *total) {
    size_t sq, nd;
    if (nvec > (size_t)-1 - 4) return 0;
    if (!sam__mul_ok(nvec, nvec, &sq) || !sam__mul_ok(nvec, 8, &nd)) return 0;
    if (!sam__add_ok(sq, nd, &nd) || !sam__add_ok(nd, 16, &nd)) return 0;
    return sam__sharp_layout(n, nvec + 4, nd, nvec + 1, model_bytes, total);
}

SAM__DEF size_t sam_sharp_work_bytes(const sam_model *m, size_t batch) {
    size_t t;
    if (!m || m->n_params == 0) return 0;
    if (!sam__sharp_layout(m->n_params, 4, 0, 0, sam_model_work_bytes(m, batch), &t)) return (size_t)-1;
    return t;
}

SAM__DEF size_t sam_hessian_work_bytes(const sam_model *m, size_t batch, size_t nvec) {
    size_t t;
    if (!m || m->n_params == 0) return 0;
    if (!sam__hess_layout(m->n_params, nvec, sam_model_work_bytes(m, batch), &t)) return (size_t)-1;
    return t;
}

/* ---- helpers: argument checks ---------------------------------------------- */

static sam_status sam__sharp_check(sam_ctx *ctx, const sam_model *m, const float *w, const void *out,
                                   const char *outname, const void *work, const char *fn) {
    if (!m) return sam__fail(ctx, SAM_ERR_NULL, "%s: model is NULL", fn);
    if (!m->vt) return sam__fail(ctx, SAM_ERR_NULL, "%s: model->vt is NULL", fn);
    if (m->n_params == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: model n_params must be > 0", fn);
    if (!w) return sam__fail(ctx, SAM_ERR_NULL, "%s: w is NULL", fn);
    if (!out) return sam__fail(ctx, SAM_ERR_NULL, "%s: %s is NULL", fn, outname);
    if (!work) return sam__fail(ctx, SAM_ERR_NULL, "%s: work is NULL", fn);
    if (!sam__finite(ctx, m->n_params, w)) return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: w is not finite", fn);
    return SAM_OK;
}

static sam_status sam__check_rho(sam_ctx *ctx, float rho, const char *fn) {
    if (!(rho >= 0.0f) || rho > FLT_MAX)
        return sam__fail(ctx, SAM_ERR_ARG, "%s: rho (%g) must be finite and >= 0", fn, (double)rho);
    return SAM_OK;
}


static sam_status sam__check_blocks(sam_ctx *ctx, const sam_block *blocks, size_t nblocks, size_t n,
                                    size_t min_len, const char *what, const char *fn) {
    size_t i;
    if (nblocks > 0 && !blocks) return sam__fail(ctx, SAM_ERR_NULL, "%s: blocks is NULL but nblocks is %zu", fn, nblocks);
    if (!blocks || nblocks == 0) {
        if (min_len > n)
            return sam__fail(ctx, SAM_ERR_ARG, "%s: %s (%zu) exceeds n_params (%zu)", fn, what, min_len, n);
        return SAM_OK;
    }
    for (i = 0; i < nblocks; i++) {
        if (blocks[i].length == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: blocks[%zu].length must be > 0", fn, i);
        if (blocks[i].offset > n || blocks[i].length > n - blocks[i].offset)
            return sam__fail(ctx, SAM_ERR_ARG, "%s: blocks[%zu] (offset %zu, length %zu) exceeds n_params (%zu)",
                             fn, i, blocks[i].offset, blocks[i].length, n);
        if (min_len > blocks[i].length)
            return sam__fail(ctx, SAM_ERR_ARG, "%s: %s (%zu) exceeds blocks[%zu].length (%zu)", fn, what, min_len, i,
                             blocks[i].length);
    }
    return SAM_OK;
}

/* ---- helpers: random vectors ------------------------------------------------ */

/* Rademacher ±1, 32 signs per PCG draw (a probe of a million parameters
 * costs 31k draws, not a million): bit j of draw t gives x[32t + j], set
 * bit = -1. Four signs at a time from a 16-row table: branch-free (random
 * bits defeat branch prediction) and a 16-byte copy per nibble. */
static const float sam__rademacher_nibble[16][4] = {
    { 1, 1, 1, 1}, {-1, 1, 1, 1}, { 1,-1, 1, 1}, {-1,-1, 1, 1},
    { 1, 1,-1, 1}, {-1, 1,-1, 1}, { 1,-1,-1, 1}, {-1,-1,-1, 1},
    { 1, 1, 1,-1}, {-1, 1, 1,-1}, { 1,-1, 1,-1}, {-1,-1, 1,-1},
    { 1, 1,-1,-1}, {-1, 1,-1,-1}, { 1,-1,-1,-1}, {-1,-1,-1,-1}};

static void sam__fill_rademacher_bits(sam_rng *rng, size_t n, float *x) {
    size_t i = 0, j;
    for (; i + 32 <= n; i += 32) {
        uint32_t bits = sam_rng_u32(rng);
        for (j = 0; j < 8; j++) memcpy(x + i + 4 * j, sam__rademacher_nibble[(bits >> (4 * j)) & 15u], 4 * sizeof(float));
    }
    if (i < n) {
        uint32_t bits = sam_rng_u32(rng);
        for (j = 0; i + j < n; j++) x[i + j] = sam__rademacher_nibble[(bits >> j) & 1u][0];
    }
}

/* u ~ N(0, I) scaled to norm r (uniform on the r-sphere); returns 0 if the
 * draw was zero (probability 0, but never divide by it). */
static int sam__random_sphere(const sam_ctx *ctx, sam_rng *rng, size_t n, double r, float *u) {
    double nu;
    int tries;
    for (tries = 0; tries < 4; tries++) {
        sam__fill_gauss(ctx, rng, n, u, 0.0f, 1.0f);
        nu = sqrt(sam__sumsq(ctx, n, u));
        if (nu > 0.0) {
            sam__scale(ctx, n, (float)(r / nu), u);
            return 1;
        }
    }
    memset(u, 0, n * sizeof(float));
    return 0;
}

/* Running mean and variance (Welford), in double. */
typedef struct sam__welford {
    size_t n;
    double mean, m2;
} sam__welford;

static void sam__welford_add(sam__welford *s, double x) {
    double d;
    s->n++;
    d = x - s->mean;
    s->mean += d / (double)s->n;
    s->m2 += d * (x - s->mean);
}
/* Standard error of the mean; 0 with fewer than two samples. */
static double sam__welford_se(const sam__welford *s) {
    if (s->n < 2) return 0.0;
    return sqrt((s->m2 > 0.0 ? s->m2 : 0.0) / (double)(s->n - 1) / (double)s->n);
}

/* ---- loss-based sharpness --------------------------------------------------- */

/* The work of the loss-based tools: four vectors, then the model's work. */
typedef struct sam__swork {
    float *v0, *v1, *v2, *v3;
    void *mwork;
} sam__swork;

static void sam__swork_take(size_t n, void *work, sam__swork *sw) {
    unsigned char *p = sam__align_ptr(work);
    sw->v0 = sam__take_f(&p, n);
    sw->v1 = sam__take_f(&p, n);
    sw->v2 = sam__take_f(&p, n);
    sw->v3 = sam__take_f(&p, n);
    sw->mwork = p;
}

static void sam__sharp_result(sam_sharpness *out, double loss, double sharp, double se, size_t evals) {
    out->loss = loss;
    out->sharp = sharp;
    out->se = se;
    out->evals = evals;
}

SAM__DEF sam_status sam_sharp_asc(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                  float rho, sam_sharpness *out, void *work) {
    static const char fn[] = "sam_sharp_asc";
    sam__swork sw;
    sam_status st;
    double loss, lp, gn;
    size_t n;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__sharp_check(ctx, m, w, out, "out", work, fn))) return st;
    if ((st = sam__check_rho(ctx, rho, fn))) return st;
    n = m->n_params;
    sam__swork_take(n, work, &sw);
    /* v0 = g = ∇L(w), v1 = w + rho ĝ */
    if ((st = sam_model_loss_grad(ctx, m, w, b, &loss, sw.v0, sw.mwork))) return st;
    gn = sqrt(sam__sumsq(ctx, n, sw.v0));
    if (gn == 0.0 || rho == 0.0f) { /* documented rule: no direction, no sharpness */
        sam__sharp_result(out, loss, 0.0, 0.0, 1);
        return sam__ok(ctx);
    }
    sam__perturb(ctx, n, w, (float)((double)rho / gn), sw.v0, sw.v1);
    if ((st = sam_model_loss_grad(ctx, m, sw.v1, b, &lp, NULL, sw.mwork))) return st;
    sam__sharp_result(out, loss, lp - loss, 0.0, 2);
    return sam__ok(ctx);
}

/* Shared by the sphere and Gaussian-ball averages. */
static sam_status sam__sharp_avg(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b, float rho,
                                 size_t K, sam_rng *rng, sam_sharpness *out, void *work, int sphere,
                                 const char *fn) {
    sam__swork sw;
    sam_status st;
    sam__welford acc;
    double loss, lp;
    size_t n, k;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__sharp_check(ctx, m, w, out, "out", work, fn))) return st;
    if ((st = sam__check_rho(ctx, rho, fn))) return st;
    if (K == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: K (directions) must be > 0", fn);
    if (!rng) return sam__fail(ctx, SAM_ERR_NULL, "%s: rng is NULL", fn);
    n = m->n_params;
    sam__swork_take(n, work, &sw);
    if ((st = sam_model_loss_grad(ctx, m, w, b, &loss, NULL, sw.mwork))) return st;
    memset(&acc, 0, sizeof acc);
    for (k = 0; k < K; k++) {
        /* v0 = e: rho u/‖u‖ (sphere) or rho u (ball); v1 = w + e */
        if (sphere) {
            sam__random_sphere(ctx, rng, n, (double)rho, sw.v0);
        } else {
            sam__fill_gauss(ctx, rng, n, sw.v0, 0.0f, 1.0f);
            sam__scale(ctx, n, rho, sw.v0);
        }
        sam__perturb(ctx, n, w, 1.0f, sw.v0, sw.v1);
        if ((st = sam_model_loss_grad(ctx, m, sw.v1, b, &lp, NULL, sw.mwork))) return st;
        sam__welford_add(&acc, lp - loss);
    }
    sam__sharp_result(out, loss, acc.mean, sam__welford_se(&acc), K + 1);
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_sharp_avg(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                  float rho, size_t K, sam_rng *rng, sam_sharpness *out, void *work) {
    return sam__sharp_avg(ctx, m, w, b, rho, K, rng, out, work, 1, "sam_sharp_avg");
}

SAM__DEF sam_status sam_sharp_avg_gauss(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                        float rho, size_t K, sam_rng *rng, sam_sharpness *out, void *work) {
    return sam__sharp_avg(ctx, m, w, b, rho, K, rng, out, work, 0, "sam_sharp_avg_gauss");
}

SAM__DEF sam_status sam_sharp_max(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                  float rho, size_t steps, size_t restarts, float step, sam_rng *rng,
                                  sam_sharpness *out, float *e_best, void *work) {
    static const char fn[] = "sam_sharp_max";
    sam__swork sw;
    sam_status st;
    double loss, lp, gn, best = 0.0;
    size_t n, r, t, evals = 1;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__sharp_check(ctx, m, w, out, "out", work, fn))) return st;
    if ((st = sam__check_rho(ctx, rho, fn))) return st;
    if (steps == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: steps (K) must be > 0", fn);
    if (restarts == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: restarts must be > 0", fn);
    if (!(step > 0.0f) || step > FLT_MAX) return sam__fail(ctx, SAM_ERR_ARG, "%s: step (%g) must be finite and > 0", fn, (double)step);
    if (!rng) return sam__fail(ctx, SAM_ERR_NULL, "%s: rng is NULL", fn);
    n = m->n_params;
    sam__swork_take(n, work, &sw);
    /* v0 = gradient, v1 = e, v2 = w + e, v3 = best e (e = 0 scores 0) */
    if ((st = sam_model_loss_grad(ctx, m, w, b, &loss, sw.v0, sw.mwork))) return st;
    memset(sw.v3, 0, n * sizeof(float));
    if (rho > 0.0f) {
        for (r = 0; r < restarts; r++) {
            gn = (r == 0) ? sqrt(sam__sumsq(ctx, n, sw.v0)) : 0.0;
            if (gn > 0.0) { /* first start: SAM's point rho ĝ, so the bound is >= L^Asc */
                memcpy(sw.v1, sw.v0, n * sizeof(float));
                sam__scale(ctx, n, (float)((double)rho / gn), sw.v1);
            } else {
                sam__random_sphere(ctx, rng, n, (double)rho, sw.v1);
            }
            for (t = 0; t <= steps; t++) {
                double en;
                int last = (t == steps);
                sam__perturb(ctx, n, w, 1.0f, sw.v1, sw.v2);
                if ((st = sam_model_loss_grad(ctx, m, sw.v2, b, &lp, last ? NULL : sw.v0, sw.mwork))) return st;
                evals++;
                if (lp - loss > best) {
                    best = lp - loss;
                    memcpy(sw.v3, sw.v1, n * sizeof(float));
                }
                if (last) break;
                gn = sqrt(sam__sumsq(ctx, n, sw.v0));
                if (gn == 0.0) break; /* stationary: ascent cannot move */
                /* e <- e + step rho ĝ(w+e), then project onto the rho-ball */
                sam__axpy(ctx, n, (float)((double)step * (double)rho / gn), sw.v0, sw.v1);
                en = sqrt(sam__sumsq(ctx, n, sw.v1));
                if (en > (double)rho) sam__scale(ctx, n, (float)((double)rho / en), sw.v1);
            }
        }
    }
    sam__sharp_result(out, loss, best, 0.0, evals);
    if (e_best) memcpy(e_best, sw.v3, n * sizeof(float));
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_sharp_nstep(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                    float rho, size_t N, sam_sharpness *out, void *work) {
    static const char fn[] = "sam_sharp_nstep";
    sam__swork sw;
    sam_status st;
    double loss = 0.0, lcur, lp, gn;
    size_t n, it, evals = 0;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__sharp_check(ctx, m, w, out, "out", work, fn))) return st;
    if ((st = sam__check_rho(ctx, rho, fn))) return st;
    if (N == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: N (ascent steps) must be > 0", fn);
    n = m->n_params;
    sam__swork_take(n, work, &sw);
    /* v0 = gradient at w^(n-1), v1 = w^n */
    memcpy(sw.v1, w, n * sizeof(float));
    for (it = 0; it < N; it++) {
        if ((st = sam_model_loss_grad(ctx, m, sw.v1, b, &lcur, sw.v0, sw.mwork))) return st;
        evals++;
        if (it == 0) loss = lcur;
        gn = sqrt(sam__sumsq(ctx, n, sw.v0));
        if (gn == 0.0 || rho == 0.0f) break;
        /* Tiwary & Aananth eq. 5: w^n = w^(n-1) + (rho/N) ∇L/‖∇L‖; the same
         * float coefficient as sam_sharp_asc when N = 1 (bit-identical). */
        sam__axpy(ctx, n, (float)((double)rho / (double)N / gn), sw.v0, sw.v1);
    }
    if (it == 0) { /* stopped at w itself: e_N = 0 */
        sam__sharp_result(out, loss, 0.0, 0.0, evals);
        return sam__ok(ctx);
    }
    if ((st = sam_model_loss_grad(ctx, m, sw.v1, b, &lp, NULL, sw.mwork))) return st;
    sam__sharp_result(out, loss, lp - loss, 0.0, evals + 1);
    return sam__ok(ctx);
}

/* ---- Hessian operator restricted to a block ------------------------------------
 * apply(x) = (H y)[off, off+len) with y = x inside the block and 0 outside:
 * the block's diagonal Hessian block H_bb. Whole-vector calls skip the copies. */
typedef struct sam__hop {
    sam_ctx *ctx;
    const sam_model *m;
    const float *w;
    const sam_batch *b;
    void *mwork;
    size_t n, off, len;
    float *vin, *hout; /* n floats each; vin is zero outside the block */
    size_t hvps;
} sam__hop;

static void sam__hop_block(sam__hop *op, const sam_block *blocks, size_t nblocks, size_t i) {
    if (!blocks || nblocks == 0) { op->off = 0; op->len = op->n; }
    else { op->off = blocks[i].offset; op->len = blocks[i].length; }
    if (op->len < op->n) memset(op->vin, 0, op->n * sizeof(float));
}

static sam_status sam__hop_apply(sam__hop *op, const float *x, float *y) {
    sam_status st;
    op->hvps++;
    /* One batch, one work buffer, no data change for the whole tool: after
     * the first product the CNN may reuse its gathered batch (as in
     * sam_opt_step; it still compares the batch by value). */
    op->ctx->same_data = op->hvps > 1 && op->m->vt == &sam__cnn_vtable;
    if (op->len == op->n) st = sam_model_hvp(op->ctx, op->m, op->w, op->b, x, y, op->mwork);
    else {
        memcpy(op->vin + op->off, x, op->len * sizeof(float));
        st = sam_model_hvp(op->ctx, op->m, op->w, op->b, op->vin, op->hout, op->mwork);
        if (!st) memcpy(y, op->hout + op->off, op->len * sizeof(float));
    }
    op->ctx->same_data = 0;
    return st;
}

/* Work of the Hessian tools: the adapter's two vectors, two algorithm
 * vectors, nvec basis vectors, doubles, indices, then the model's work. */
typedef struct sam__hwork {
    float *x, *y;     /* algorithm vectors (block length used) */
    float *basis;     /* nvec vectors, stride n */
    double *dbl;      /* nvec² + 8 nvec + 16 */
    size_t *idx;      /* nvec + 1 */
} sam__hwork;

static void sam__hwork_take(sam__hop *op, size_t nvec, void *work, sam__hwork *hw) {
    unsigned char *p = sam__align_ptr(work);
    size_t n = op->n, sq = nvec * nvec + 8 * nvec + 16;
    op->vin = sam__take_f(&p, n);
    op->hout = sam__take_f(&p, n);
    hw->x = sam__take_f(&p, n);
    hw->y = sam__take_f(&p, n);
    hw->basis = (float *)(void *)p;
    p += sam__round_up(n * sizeof(float), SAM__ALIGN) * nvec;
    hw->dbl = (double *)(void *)p;
    p += sam__round_up(sq * sizeof(double), SAM__ALIGN);
    hw->idx = (size_t *)(void *)p;
    p += sam__round_up((nvec + 1) * sizeof(size_t), SAM__ALIGN);
    op->mwork = p;
    op->hvps = 0;
}

/* Basis vector j (stride: the rounded vector size, as laid out above). */
static float *sam__basis(const sam__hwork *hw, size_t n, size_t j) {
    return hw->basis + j * (sam__round_up(n * sizeof(float), SAM__ALIGN) / sizeof(float));
}

static sam_status sam__hess_check(sam_ctx *ctx, const sam_model *m, const float *w, const void *out,
                                  const char *outname, const void *work, sam_rng *rng, const char *fn) {
    sam_status st;
    if ((st = sam__sharp_check(ctx, m, w, out, outname, work, fn))) return st;
    if (!rng) return sam__fail(ctx, SAM_ERR_NULL, "%s: rng is NULL", fn);
    if (!sam_model_has_hvp(m))
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: model %s has no Hessian-vector product", fn,
                         m->vt->name ? m->vt->name : "(unnamed)");
    return SAM_OK;
}

static void sam__hop_init(sam__hop *op, sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b) {
    memset(op, 0, sizeof *op);
    op->ctx = ctx;
    op->m = m;
    op->w = w;
    op->b = b;
    op->n = m->n_params;
}

/* x -= Σ_j (q_jᵀ x) q_j over basis vectors 0..cnt (modified Gram-Schmidt,
 * dots in double). A second pass only when the first removed more than half
 * of ‖x‖² (the DGKS criterion, Daniel, Gragg, Kaufman & Stewart 1976; "twice
 * is enough"): float bases stay orthogonal to working precision at about
 * half the memory traffic of always reorthogonalising. */
static void sam__orth_against(const sam_ctx *ctx, const sam__hwork *hw, size_t n, size_t len, size_t cnt, float *x) {
    int pass;
    size_t j;
    double before, after;
    if (cnt == 0) return;
    before = sam__sumsq(ctx, len, x);
    for (pass = 0; pass < 2; pass++) {
        for (j = 0; j < cnt; j++) {
            const float *q = sam__basis(hw, n, j);
            double c = sam__dot(ctx, len, q, x);
            sam__axpy(ctx, len, (float)-c, q, x);
        }
        after = sam__sumsq(ctx, len, x);
        if (after > 0.5 * before) break;
        before = after;
    }
}

/* ---- Hutchinson and Hutch++ ---------------------------------------------------- */

#define SAM__HUTCH_MIN_PROBES 10

SAM__DEF sam_status sam_hessian_trace(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                      const sam_block *blocks, size_t nblocks, size_t max_probes, double rel_tol,
                                      sam_rng *rng, sam_trace_est *out, void *work) {
    static const char fn[] = "sam_hessian_trace";
    sam__hop op;
    sam__hwork hw;
    sam_status st;
    size_t nb, bi;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__hess_check(ctx, m, w, out, "out", work, rng, fn))) return st;
    if (max_probes == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: max_probes (K) must be > 0", fn);
    if (!(rel_tol >= 0.0) || rel_tol > DBL_MAX) return sam__fail(ctx, SAM_ERR_ARG, "%s: rel_tol (%g) must be finite and >= 0", fn, rel_tol);
    if ((st = sam__check_blocks(ctx, blocks, nblocks, m->n_params, 1, "probe length", fn))) return st;
    nb = (blocks && nblocks) ? nblocks : 1;
    sam__hop_init(&op, ctx, m, w, b);
    sam__hwork_take(&op, 0, work, &hw);
    for (bi = 0; bi < nb; bi++) {
        sam__welford acc;
        size_t minp = max_probes < SAM__HUTCH_MIN_PROBES ? max_probes : SAM__HUTCH_MIN_PROBES;
        sam__hop_block(&op, blocks, nblocks, bi);
        op.hvps = 0;
        memset(&acc, 0, sizeof acc);
        while (acc.n < max_probes) {
            /* z Rademacher in the block: E[zᵀHz] = tr(H_bb); zero variance if H_bb is diagonal */
            sam__fill_rademacher_bits(rng, op.len, hw.x);
            if ((st = sam__hop_apply(&op, hw.x, hw.y))) return st;
            sam__welford_add(&acc, sam__dot(ctx, op.len, hw.x, hw.y));
            if (acc.n >= minp && rel_tol > 0.0 && sam__welford_se(&acc) <= rel_tol * fabs(acc.mean)) break;
        }
        out[bi].trace = acc.mean;
        out[bi].se = sam__welford_se(&acc);
        out[bi].probes = acc.n;
        out[bi].hvps = op.hvps;
    }
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_hessian_trace_hutchpp(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                              const sam_block *blocks, size_t nblocks, size_t sketch, size_t probes,
                                              sam_rng *rng, sam_trace_est *out, void *work) {
    static const char fn[] = "sam_hessian_trace_hutchpp";
    sam__hop op;
    sam__hwork hw;
    sam_status st;
    size_t nb, bi, n;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__hess_check(ctx, m, w, out, "out", work, rng, fn))) return st;
    if (sketch == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: sketch must be > 0", fn);
    if (probes == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: probes (K) must be > 0", fn);
    if ((st = sam__check_blocks(ctx, blocks, nblocks, m->n_params, sketch, "sketch", fn))) return st;
    nb = (blocks && nblocks) ? nblocks : 1;
    n = m->n_params;
    sam__hop_init(&op, ctx, m, w, b);
    sam__hwork_take(&op, sketch, work, &hw);
    for (bi = 0; bi < nb; bi++) {
        sam__welford acc;
        size_t i, kept = 0;
        double t1 = 0.0, maxn = 0.0;
        sam__hop_block(&op, blocks, nblocks, bi);
        op.hvps = 0;
        /* Sketch: basis_i = H s_i with Gaussian s_i (Rademacher columns repeat
         * with probability 2^-len in a short block and would lose rank). */
        for (i = 0; i < sketch; i++) {
            double nn;
            sam__fill_gauss(ctx, rng, op.len, hw.x, 0.0f, 1.0f);
            if ((st = sam__hop_apply(&op, hw.x, sam__basis(&hw, n, kept)))) return st;
            /* Q = orth(H S) by modified Gram-Schmidt (twice) in place; a column
             * that vanishes (rank H_bb < sketch) is dropped, not normalised noise. */
            nn = sqrt(sam__sumsq(ctx, op.len, sam__basis(&hw, n, kept)));
            if (nn > maxn) maxn = nn;
            sam__orth_against(ctx, &hw, n, op.len, kept, sam__basis(&hw, n, kept));
            nn = sqrt(sam__sumsq(ctx, op.len, sam__basis(&hw, n, kept)));
            if (nn > 1e-5 * maxn && nn > 0.0) {
                sam__scale(ctx, op.len, (float)(1.0 / nn), sam__basis(&hw, n, kept));
                kept++;
            }
        }
        /* tr(QᵀHQ) exactly: one HVP per kept column. */
        for (i = 0; i < kept; i++) {
            const float *q = sam__basis(&hw, n, i);
            if ((st = sam__hop_apply(&op, q, hw.y))) return st;
            t1 += sam__dot(ctx, op.len, q, hw.y);
        }
        /* Residual: Hutchinson on (I-QQᵀ)H(I-QQᵀ). */
        memset(&acc, 0, sizeof acc);
        for (i = 0; i < probes; i++) {
            sam__fill_rademacher_bits(rng, op.len, hw.x);
            sam__orth_against(ctx, &hw, n, op.len, kept, hw.x);
            if ((st = sam__hop_apply(&op, hw.x, hw.y))) return st;
            sam__welford_add(&acc, sam__dot(ctx, op.len, hw.x, hw.y));
        }
        out[bi].trace = t1 + acc.mean;
        out[bi].se = sam__welford_se(&acc);
        out[bi].probes = probes;
        out[bi].hvps = op.hvps;
    }
    return sam__ok(ctx);
}

/* ---- power iteration ------------------------------------------------------------ */

SAM__DEF sam_status sam_hessian_power(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                      const sam_block *blocks, size_t nblocks, size_t k, size_t max_iter, double tol,
                                      sam_rng *rng, double *evals, float *evecs, void *work) {
    static const char fn[] = "sam_hessian_power";
    sam__hop op;
    sam__hwork hw;
    sam_status st;
    size_t nb, bi, n, j, it;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__hess_check(ctx, m, w, evals, "evals", work, rng, fn))) return st;
    if (k == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: k must be > 0", fn);
    if (max_iter == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: max_iter must be > 0", fn);
    if (!(tol >= 0.0) || tol > DBL_MAX) return sam__fail(ctx, SAM_ERR_ARG, "%s: tol (%g) must be finite and >= 0", fn, tol);
    if ((st = sam__check_blocks(ctx, blocks, nblocks, m->n_params, k, "k", fn))) return st;
    nb = (blocks && nblocks) ? nblocks : 1;
    n = m->n_params;
    sam__hop_init(&op, ctx, m, w, b);
    sam__hwork_take(&op, k, work, &hw);
    for (bi = 0; bi < nb; bi++) {
        double *lam = hw.dbl;
        sam__hop_block(&op, blocks, nblocks, bi);
        for (j = 0; j < k; j++) {
            float *v = sam__basis(&hw, n, j);
            double l = 0.0, lold = 0.0, nv;
            sam__random_sphere(ctx, rng, op.len, 1.0, v);
            sam__orth_against(ctx, &hw, n, op.len, j, v);
            nv = sqrt(sam__sumsq(ctx, op.len, v));
            if (nv > 0.0) sam__scale(ctx, op.len, (float)(1.0 / nv), v);
            for (it = 0; it < max_iter; it++) {
                /* y = P H v with P = I - VVᵀ over the found vectors (v ⊥ V):
                 * power iteration on the deflated operator P H P. */
                if ((st = sam__hop_apply(&op, v, hw.y))) return st;
                sam__orth_against(ctx, &hw, n, op.len, j, hw.y);
                l = sam__dot(ctx, op.len, v, hw.y); /* Rayleigh quotient, ‖v‖ = 1 */
                nv = sqrt(sam__sumsq(ctx, op.len, hw.y));
                if (nv == 0.0) { l = 0.0; break; } /* v in the null space */
                memcpy(v, hw.y, op.len * sizeof(float));
                sam__scale(ctx, op.len, (float)(1.0 / nv), v);
                if (it > 0 && fabs(l - lold) <= tol * fabs(l)) break;
                lold = l;
            }
            lam[j] = l;
        }
        for (j = 0; j < k; j++) evals[bi * k + j] = lam[j];
        if (evecs)
            for (j = 0; j < k; j++) {
                float *e = evecs + (bi * k + j) * n;
                memset(e, 0, n * sizeof(float));
                memcpy(e + op.off, sam__basis(&hw, n, j), op.len * sizeof(float));
            }
    }
    return sam__ok(ctx);
}

/* ---- symmetric tridiagonal eigensolver: implicit QL, double ----------------------
 * d[0..m): diagonal, e[0..m-1): off-diagonal (e[i] couples i and i+1; e has
 * room for m entries). On return d holds the eigenvalues (unsorted) and, if
 * z != NULL, column j of z (m×m, row-major, started as the identity) the
 * eigenvector of d[j]. Implicit QL with Wilkinson's shift (the algorithm of
 * EISPACK's tql2, Bowdler, Martin, Reinsch & Wilkinson 1968), at most 50
 * sweeps per eigenvalue. Returns 0 if it does not converge. */
static int sam__tridiag_ql(size_t m, double *d, double *e, double *z) {
    size_t l, i, j, q;
    if (m == 0) return 1;
    e[m - 1] = 0.0;
    if (z) {
        for (i = 0; i < m * m; i++) z[i] = 0.0;
        for (i = 0; i < m; i++) z[i * m + i] = 1.0;
    }
    for (l = 0; l < m; l++) {
        int sweeps = 0;
        for (;;) {
            double g, r, s, c, p;
            int underflow = 0;
            /* find the first negligible off-diagonal at or after l */
            for (q = l; q + 1 < m; q++) {
                double dd = fabs(d[q]) + fabs(d[q + 1]);
                if (fabs(e[q]) <= DBL_EPSILON * dd) break;
            }
            if (q == l) break; /* d[l] is an eigenvalue */
            if (++sweeps > 50) return 0;
            /* Wilkinson shift from the leading 2×2 block */
            g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            r = hypot(g, 1.0);
            g = d[q] - d[l] + e[l] / (g + (g >= 0.0 ? r : -r));
            s = 1.0;
            c = 1.0;
            p = 0.0;
            /* chase the bulge from q-1 up to l with Givens rotations */
            for (i = q; i-- > l;) {
                double f = s * e[i], bb = c * e[i];
                r = hypot(f, g);
                e[i + 1] = r;
                if (r == 0.0) { /* split: recover and restart */
                    d[i + 1] -= p;
                    e[q] = 0.0;
                    underflow = 1;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * bb;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - bb;
                if (z)
                    for (j = 0; j < m; j++) {
                        double zf = z[j * m + i + 1];
                        z[j * m + i + 1] = s * z[j * m + i] + c * zf;
                        z[j * m + i] = c * z[j * m + i] - s * zf;
                    }
            }
            if (underflow) continue;
            d[l] -= p;
            e[l] = g;
            e[q] = 0.0;
        }
    }
    return 1;
}

/* idx[0..m) = indices of d sorted descending (insertion sort; m is small). */
static void sam__argsort_desc(size_t m, const double *d, size_t *idx) {
    size_t i, j;
    for (i = 0; i < m; i++) idx[i] = i;
    for (i = 1; i < m; i++) {
        size_t t = idx[i];
        for (j = i; j > 0 && d[idx[j - 1]] < d[t]; j--) idx[j] = idx[j - 1];
        idx[j] = t;
    }
}

/* ---- Lanczos ---------------------------------------------------------------------
 * Runs up to `iters` steps from the unit vector in basis 0 (already set), full
 * reorthogonalisation against every basis vector. alpha = dbl[0..iters),
 * beta = dbl[iters..2 iters). If restart, an invariant subspace (β ≈ 0) is
 * left by a fresh random vector orthogonal to the basis (β = 0: T splits);
 * else the run stops. Returns the steps done in *steps. */
static sam_status sam__lanczos_run(sam__hop *op, const sam__hwork *hw, size_t iters, int restart, sam_rng *rng,
                                   size_t *steps) {
    sam_ctx *ctx = op->ctx;
    size_t n = op->n, len = op->len, j;
    double *alpha = hw->dbl, *beta = hw->dbl + iters, hnorm = 0.0;
    sam_status st;
    for (j = 0; j < iters; j++) {
        float *q = sam__basis(hw, n, j);
        double a, bn, hn;
        if ((st = sam__hop_apply(op, q, hw->y))) return st;
        hn = sqrt(sam__sumsq(ctx, len, hw->y));
        if (hn > hnorm) hnorm = hn;
        a = sam__dot(ctx, len, q, hw->y);
        alpha[j] = a;
        beta[j] = 0.0;
        if (j + 1 == iters) break;
        /* r = Hq_j - α_j q_j - β_{j-1} q_{j-1}, then against the whole basis */
        sam__axpy(ctx, len, (float)-a, q, hw->y);
        if (j > 0) sam__axpy(ctx, len, (float)-beta[j - 1], sam__basis(hw, n, j - 1), hw->y);
        sam__orth_against(ctx, hw, n, len, j + 1, hw->y);
        bn = sqrt(sam__sumsq(ctx, len, hw->y));
        /* float vectors: a residual below ~1e-5 ‖H‖ is rounding, not Krylov growth */
        if (bn > 1e-5 * hnorm && bn > 0.0) {
            float *qn = sam__basis(hw, n, j + 1);
            beta[j] = bn;
            memcpy(qn, hw->y, len * sizeof(float));
            sam__scale(ctx, len, (float)(1.0 / bn), qn);
        } else {
            float *qn = sam__basis(hw, n, j + 1);
            double nn = 0.0;
            int tries;
            if (!restart) { *steps = j + 1; return SAM_OK; }
            for (tries = 0; tries < 4 && !(nn > 0.5); tries++) {
                sam__random_sphere(ctx, rng, len, 1.0, qn);
                sam__orth_against(ctx, hw, n, len, j + 1, qn);
                nn = sqrt(sam__sumsq(ctx, len, qn));
            }
            if (!(nn > 0.0)) { *steps = j + 1; return SAM_OK; }
            sam__scale(ctx, len, (float)(1.0 / nn), qn);
            beta[j] = 0.0;
        }
    }
    *steps = iters;
    return SAM_OK;
}

SAM__DEF sam_status sam_hessian_lanczos(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                        const sam_block *blocks, size_t nblocks, size_t k, size_t iters,
                                        sam_rng *rng, double *evals, float *evecs, void *work) {
    static const char fn[] = "sam_hessian_lanczos";
    sam__hop op;
    sam__hwork hw;
    sam_status st;
    size_t nb, bi, n, j, i;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__hess_check(ctx, m, w, evals, "evals", work, rng, fn))) return st;
    if (k == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: k must be > 0", fn);
    if (iters < k) return sam__fail(ctx, SAM_ERR_ARG, "%s: iters (%zu) must be >= k (%zu)", fn, iters, k);
    if ((st = sam__check_blocks(ctx, blocks, nblocks, m->n_params, iters, "iters", fn))) return st;
    nb = (blocks && nblocks) ? nblocks : 1;
    n = m->n_params;
    sam__hop_init(&op, ctx, m, w, b);
    sam__hwork_take(&op, iters, work, &hw);
    for (bi = 0; bi < nb; bi++) {
        size_t steps;
        double *d = hw.dbl + 2 * iters, *e = d + iters, *z = e + iters + 1;
        sam__hop_block(&op, blocks, nblocks, bi);
        sam__random_sphere(ctx, rng, op.len, 1.0, sam__basis(&hw, n, 0));
        if ((st = sam__lanczos_run(&op, &hw, iters, 1, rng, &steps))) return st;
        for (i = 0; i < steps; i++) { d[i] = hw.dbl[i]; e[i] = hw.dbl[iters + i]; }
        if (!sam__tridiag_ql(steps, d, e, evecs ? z : NULL))
            return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: tridiagonal eigensolver did not converge", fn);
        sam__argsort_desc(steps, d, hw.idx);
        /* steps == iters >= k: restarts keep the basis growing to iters */
        for (j = 0; j < k; j++) evals[bi * k + j] = j < steps ? d[hw.idx[j]] : 0.0;
        if (evecs)
            for (j = 0; j < k; j++) {
                float *ev = evecs + (bi * k + j) * n;
                memset(ev, 0, n * sizeof(float));
                if (j < steps)
                    for (i = 0; i < steps; i++) /* Ritz vector Q z_j */
                        sam__axpy(ctx, op.len, (float)z[i * steps + hw.idx[j]], sam__basis(&hw, n, i), ev + op.off);
            }
    }
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_hessian_slq(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                    const sam_block *blocks, size_t nblocks, size_t iters, size_t probes,
                                    sam_rng *rng, double *nodes, double *weights, void *work) {
    static const char fn[] = "sam_hessian_slq";
    sam__hop op;
    sam__hwork hw;
    sam_status st;
    size_t nb, bi, n, p, i;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__hess_check(ctx, m, w, nodes, "nodes", work, rng, fn))) return st;
    if (!weights) return sam__fail(ctx, SAM_ERR_NULL, "%s: weights is NULL", fn);
    if (iters == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: iters must be > 0", fn);
    if (probes == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: probes (K) must be > 0", fn);
    if ((st = sam__check_blocks(ctx, blocks, nblocks, m->n_params, iters, "iters", fn))) return st;
    nb = (blocks && nblocks) ? nblocks : 1;
    n = m->n_params;
    sam__hop_init(&op, ctx, m, w, b);
    sam__hwork_take(&op, iters, work, &hw);
    for (bi = 0; bi < nb; bi++) {
        sam__hop_block(&op, blocks, nblocks, bi);
        for (p = 0; p < probes; p++) {
            size_t steps, base = (bi * probes + p) * iters;
            double *d = hw.dbl + 2 * iters, *e = d + iters, *z = e + iters + 1;
            float *q0 = sam__basis(&hw, n, 0);
            /* start: Rademacher / sqrt(len), so α_0 = zᵀHz/len is Hutchinson's sample / len */
            sam__fill_rademacher_bits(rng, op.len, q0);
            sam__scale(ctx, op.len, (float)(1.0 / sqrt((double)op.len)), q0);
            if ((st = sam__lanczos_run(&op, &hw, iters, 0, rng, &steps))) return st;
            for (i = 0; i < steps; i++) { d[i] = hw.dbl[i]; e[i] = hw.dbl[iters + i]; }
            if (!sam__tridiag_ql(steps, d, e, z))
                return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: tridiagonal eigensolver did not converge", fn);
            /* Gauss quadrature of the spectral measure of q0: nodes θ_i, weights
             * τ_i² = (e_1ᵀ z_i)² (Golub & Meurant); Σ τ² = 1 per probe. */
            for (i = 0; i < iters; i++) {
                nodes[base + i] = i < steps ? d[i] : 0.0;
                weights[base + i] = i < steps ? z[i] * z[i] / (double)probes : 0.0;
            }
        }
    }
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_slq_density(sam_ctx *ctx, size_t count, const double *nodes, const double *weights,
                                    double sigma, size_t ngrid, const double *grid, double *density) {
    static const char fn[] = "sam_slq_density";
    size_t g, i;
    double c;
    SAM__CHECK_CTX(ctx);
    if (count && (!nodes || !weights)) return sam__fail(ctx, SAM_ERR_NULL, "%s: nodes or weights is NULL", fn);
    if (ngrid && (!grid || !density)) return sam__fail(ctx, SAM_ERR_NULL, "%s: grid or density is NULL", fn);
    if (!(sigma > 0.0) || sigma > DBL_MAX) return sam__fail(ctx, SAM_ERR_ARG, "%s: sigma (%g) must be finite and > 0", fn, sigma);
    c = 1.0 / (sigma * sqrt(2.0 * 3.14159265358979323846));
    for (g = 0; g < ngrid; g++) {
        double s = 0.0;
        for (i = 0; i < count; i++) {
            double t = (grid[g] - nodes[i]) / sigma;
            s += weights[i] * exp(-0.5 * t * t);
        }
        density[g] = c * s;
    }
    return sam__ok(ctx);
}

/* ---- loss-landscape slices --------------------------------------------------------- */

/* Li et al. 2018 §4: d_b <- d_b ‖w_b‖/‖d_b‖ for each block (filter). */
static void sam__filter_normalize(const sam_ctx *ctx, const float *w, const sam_block *blocks, size_t nblocks, float *d) {
    size_t i;
    for (i = 0; i < nblocks; i++) {
        float *db = d + blocks[i].offset;
        double nd = sqrt(sam__sumsq(ctx, blocks[i].length, db));
        double nw = sqrt(sam__sumsq(ctx, blocks[i].length, w + blocks[i].offset));
        if (nd > 0.0) sam__scale(ctx, blocks[i].length, (float)(nw / nd), db);
    }
}

static sam_status sam__landscape(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                 const float *dir1, const float *dir2, sam_rng *rng, const sam_block *blocks,
                                 size_t nblocks, int filter_norm, size_t nx, const float *alpha, size_t ny,
                                 const float *beta, double *loss, void *work, int two_d, const char *fn) {
    sam__swork sw;
    sam_status st;
    size_t n, i, j;
    SAM__CHECK_CTX(ctx);
    if ((st = sam__sharp_check(ctx, m, w, loss, "loss", work, fn))) return st;
    if (nx == 0 || (two_d && ny == 0))
        return sam__fail(ctx, SAM_ERR_ARG, "%s: grid size (%zu x %zu) must be > 0", fn, nx, two_d ? ny : (size_t)1);
    if (!alpha) return sam__fail(ctx, SAM_ERR_NULL, "%s: alpha is NULL", fn);
    if (two_d && !beta) return sam__fail(ctx, SAM_ERR_NULL, "%s: beta is NULL", fn);
    if ((!dir1 || (two_d && !dir2)) && !rng)
        return sam__fail(ctx, SAM_ERR_NULL, "%s: rng is NULL but a direction must be drawn", fn);
    if (filter_norm && (!blocks || nblocks == 0))
        return sam__fail(ctx, SAM_ERR_NULL, "%s: filter normalisation needs blocks", fn);
    if (filter_norm && (st = sam__check_blocks(ctx, blocks, nblocks, m->n_params, 1, "block", fn))) return st;
    if (!sam__finite(ctx, nx, alpha) || (two_d && !sam__finite(ctx, ny, beta)))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: alpha or beta is not finite", fn);
    if ((dir1 && !sam__finite(ctx, m->n_params, dir1)) || (two_d && dir2 && !sam__finite(ctx, m->n_params, dir2)))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: a direction is not finite", fn);
    n = m->n_params;
    sam__swork_take(n, work, &sw);
    /* v0 = d1, v1 = d2, v2 = w + α d1 + β d2 */
    if (dir1) memcpy(sw.v0, dir1, n * sizeof(float));
    else sam__fill_gauss(ctx, rng, n, sw.v0, 0.0f, 1.0f);
    if (two_d) {
        if (dir2) memcpy(sw.v1, dir2, n * sizeof(float));
        else sam__fill_gauss(ctx, rng, n, sw.v1, 0.0f, 1.0f);
    }
    if (filter_norm) {
        sam__filter_normalize(ctx, w, blocks, nblocks, sw.v0);
        if (two_d) sam__filter_normalize(ctx, w, blocks, nblocks, sw.v1);
    }
    for (j = 0; j < (two_d ? ny : 1); j++)
        for (i = 0; i < nx; i++) {
            double l;
            /* α = β = 0 reproduces w bit for bit (w + 0·d = w), hence L(w). */
            sam__perturb(ctx, n, w, alpha[i], sw.v0, sw.v2);
            if (two_d) sam__axpy(ctx, n, beta[j], sw.v1, sw.v2);
            if ((st = sam_model_loss_grad(ctx, m, sw.v2, b, &l, NULL, sw.mwork))) return st;
            loss[j * nx + i] = l;
        }
    return sam__ok(ctx);
}

SAM__DEF sam_status sam_landscape_1d(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                     const float *dir, sam_rng *rng, const sam_block *blocks, size_t nblocks,
                                     int filter_norm, size_t n, const float *alpha, double *loss, void *work) {
    return sam__landscape(ctx, m, w, b, dir, NULL, rng, blocks, nblocks, filter_norm, n, alpha, 1, NULL, loss, work,
                          0, "sam_landscape_1d");
}

SAM__DEF sam_status sam_landscape_2d(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b,
                                     const float *dir1, const float *dir2, sam_rng *rng,
                                     const sam_block *blocks, size_t nblocks, int filter_norm,
                                     size_t nx, const float *alpha, size_t ny, const float *beta,
                                     double *loss, void *work) {
    size_t cells;
    if (ctx && !sam__mul_ok(nx, ny, &cells))
        return sam__fail(ctx, SAM_ERR_SIZE, "sam_landscape_2d: nx (%zu) * ny (%zu) overflows", nx, ny);
    return sam__landscape(ctx, m, w, b, dir1, dir2, rng, blocks, nblocks, filter_norm, nx, alpha, ny, beta, loss,
                          work, 1, "sam_landscape_2d");
}

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
