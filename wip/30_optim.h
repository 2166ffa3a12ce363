/* wip/30_optim.h — part of sam.h under development (merged into sam.h before release).
 * Included twice by sam.h: once with SAM__PART_DECL (public declarations, inside
 * the include guard) and once with SAM__PART_IMPL (implementation). */
#if defined(SAM__PART_DECL)
#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * DECLARATIONS: optimizers (SGD, GD, Adam/AdamW; SAM, ASAM, N-step SAM,
 * Rand-SAM, m-sharpness, SAM-early; GSAM, Friendly-SAM, LookSAM, ESAM, MSAM;
 * GAM is not provided)
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
    sam_opt_info pending_info;
    sam_rng pending_rng;
    float *wadv;            /* w + ε of the last step                                */
    float *eps;             /* ε of the last step                                    */
    float *g, *g2, *fin, *gsum, *mask;
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

#ifdef __cplusplus
}
#endif
#elif defined(SAM__PART_IMPL)

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
       SAM__OPT_ESAM_IDX, SAM__OPT_ESAM_LOSS, SAM__OPT_WORK, SAM__OPT_REGIONS };

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
    if (!st) st = model->vt->loss_grad(model->self, ctx, x, b, loss, grad, o->model_work);
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
    sam_rng_fill_gauss(rng, o->n, o->eps, 0.0f, 1.0f);
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

SAM__DEF sam_status sam_opt_step(sam_ctx *ctx, sam_opt *opt, const sam_model *model, float *w, const sam_batch *b,
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
        if ((st = sam__opt_group(ctx, opt, model, w, b, rho, perturb, reuse, &rng, &r))) return st;
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

/* ---- split form ------------------------------------------------------------ */

static sam_status sam__opt_split_check(sam_ctx *ctx, const sam_opt *opt, const char *fn) {
    if (opt->cfg.method == SAM_METHOD_LOOKSAM)
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: LookSAM needs sam_opt_step", fn);
    if (opt->cfg.samples_per_perturbation)
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: m-sharpness (samples_per_perturbation) needs sam_opt_step", fn);
    if (sam__opt_esam_sds(&opt->cfg))
        return sam__fail(ctx, SAM_ERR_UNSUPPORTED, "%s: ESAM with esam_gamma < 1 needs sam_opt_step", fn);
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
#endif
