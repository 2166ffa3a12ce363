/* wip/20_nn.h — part of sam.h under development (merged into sam.h before release).
 * Included twice by sam.h: once with SAM__PART_DECL (public declarations, inside
 * the include guard) and once with SAM__PART_IMPL (implementation).
 *
 * Layers, losses and the networks of the papers (PAPERS.md §1–§2):
 *   activations  ReLU, leaky ReLU, ReLU^q (forward, backward, σ'' for the R-op)
 *   norms        simplified BatchNorm / LayerNorm (Wen et al.), standard BN / LN
 *   losses       logistic, label-smoothed logistic, MSE (no ½), softmax CE
 *   models       Chen et al.'s patch CNN (binary and K-class), Wen et al.'s MLPs
 *                (no-bias, bias, Sim-BN, Sim-LN, 3-layer bias), a general MLP
 *   curvature    exact Hessian-vector products (Pearlmutter's R-op, forward
 *                over reverse), closed-form / Gauss-Newton Hessian trace,
 *                per-sample output gradients, Wen et al.'s analytic nets. */
#if defined(SAM__PART_DECL)
#ifdef __cplusplus
extern "C" {
#endif

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

#ifdef __cplusplus
}
#endif
#elif defined(SAM__PART_IMPL)

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

typedef struct sam__cnn_work {
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

static sam_status sam__cnn_run(const sam_cnn *net, sam_ctx *ctx, const float *w, const sam_batch *b,
                               const float *v, int mode, double *loss, float *grad, float *hv, float *out,
                               double *fout, void *work) {
    const sam_cnn_config *cf = &net->cfg;
    const sam_dataset *D = b->data;
    size_t B = b->n, P = cf->patches, d = cf->patch_dim, J = net->n_filters, K = net->model.out_dim;
    size_t dim = P * d, i, j, r;
    int fast = sam__cnn_fast(net, D);
    size_t R = fast ? 2 * B : B * P, Rg = fast ? B : B * P;
    float om = (float)(P - 1);
    sam__cnn_work wk;
    sam_status st;
    const char *fn = "sam_cnn";

    const float *X; /* the patch rows: gathered into work, or the data itself */
    sam__cnn_carve(net, B, work, &wk);
    X = wk.Xg;
    /* gather the patch rows (validate data before anything is written); a
     * contiguous batch (idx == NULL) of the generic path is used in place */
    if (!fast && !b->idx) X = D->x;
    else for (i = 0; i < B; i++) {
        size_t s = b->idx ? b->idx[i] : i;
        if (fast) {
            int32_t sp = D->signal_patch[s];
            if (sp < 0 || (size_t)sp >= P)
                return sam__fail(ctx, SAM_ERR_ARG, "%s: data->signal_patch[%zu] = %d out of range [0, %zu)", fn, s,
                                 (int)sp, P);
            memcpy(wk.Xg + i * d, D->x + s * dim + (sp == 0 ? 1 : 0) * d, d * sizeof(float));
            wk.yhat[i] = D->y_clean[s] > 0.0f ? 1.0f : -1.0f;
        } else {
            memcpy(wk.Xg + i * dim, D->x + s * dim, dim * sizeof(float));
        }
    }
    if (!sam__finite(ctx, Rg * d, X)) return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: data x has NaN or Inf", fn);
    if (fast && !sam__finite(ctx, d, D->signal))
        return sam__fail(ctx, SAM_ERR_NONFINITE, "%s: data->signal has NaN or Inf", fn);

    /* forward: Z = Xg Aᵀ (R × J); fast: signal rows ŷ_i (μ Aᵀ) */
    if ((st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_TRANS, Rg, J, d, 1.0f, X, d, w, d, 0.0f, wk.Z, J))) return st;
    if (fast) {
        if ((st = sam__sgemm(ctx, SAM_NO_TRANS, SAM_TRANS, 1, J, d, 1.0f, D->signal, d, w, d, 0.0f, wk.zmu, J)))
            return st;
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
    if ((st = sam__nn_check_vec(ctx, net->model.n_params, w, fn, "w"))) return st;
    return SAM_OK;
}

static sam_status sam__cnn_loss_grad(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b,
                                     double *loss, float *grad, void *work) {
    const sam_cnn *net = (const sam_cnn *)self;
    sam_status st;
    if ((st = sam__cnn_check(net, ctx, w, b, 1, work, "sam_cnn_loss_grad"))) return st;
    if (!loss) return sam__fail(ctx, SAM_ERR_NULL, "sam_cnn_loss_grad: loss is NULL");
    return sam__cnn_run(net, ctx, w, b, NULL, SAM__RUN_LOSS, loss, grad, NULL, NULL, NULL, work);
}

static sam_status sam__cnn_hvp(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b, const float *v,
                               float *hv, void *work) {
    const sam_cnn *net = (const sam_cnn *)self;
    sam_status st;
    if ((st = sam__cnn_check(net, ctx, w, b, 1, work, "sam_cnn_hvp"))) return st;
    if ((st = sam__nn_check_vec(ctx, net->model.n_params, v, "sam_cnn_hvp", "v"))) return st;
    if (!hv) return sam__fail(ctx, SAM_ERR_NULL, "sam_cnn_hvp: hv is NULL");
    return sam__cnn_run(net, ctx, w, b, v, SAM__RUN_HVP, NULL, NULL, hv, NULL, NULL, work);
}

static sam_status sam__cnn_predict(const void *self, sam_ctx *ctx, const float *w, const sam_batch *b, float *out,
                                   void *work) {
    const sam_cnn *net = (const sam_cnn *)self;
    sam_status st;
    if ((st = sam__cnn_check(net, ctx, w, b, 0, work, "sam_cnn_predict"))) return st;
    if (!out) return sam__fail(ctx, SAM_ERR_NULL, "sam_cnn_predict: out is NULL");
    return sam__cnn_run(net, ctx, w, b, NULL, SAM__RUN_PREDICT, NULL, NULL, NULL, out, NULL, work);
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
    sam_rng_fill_gauss(rng, net->model.n_params, w, 0.0f, sigma0);
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
        return sam__cnn_run(net, ctx, w, &one, NULL, SAM__RUN_OUTGRAD, NULL, grad, NULL, NULL, f, work);
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

#endif
