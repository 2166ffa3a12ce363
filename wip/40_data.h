/* wip/40_data.h — part of sam.h under development (merged into sam.h before release).
 * Included twice by sam.h: once with SAM__PART_DECL (public declarations, inside
 * the include guard) and once with SAM__PART_IMPL (implementation). */
#if defined(SAM__PART_DECL)
#ifdef __cplusplus
extern "C" {
#endif

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

#ifdef __cplusplus
}
#endif
#elif defined(SAM__PART_IMPL)

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

#endif
