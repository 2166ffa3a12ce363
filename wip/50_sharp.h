/* wip/50_sharp.h — part of sam.h under development (merged into sam.h before release).
 * Included twice by sam.h: once with SAM__PART_DECL (public declarations, inside
 * the include guard) and once with SAM__PART_IMPL (implementation). */
#if defined(SAM__PART_DECL)
#ifdef __cplusplus
extern "C" {
#endif

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
#elif defined(SAM__PART_IMPL)

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
        sam_rng_fill_gauss(rng, n, u, 0.0f, 1.0f);
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
            sam_rng_fill_gauss(rng, n, sw.v0, 0.0f, 1.0f);
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
    if (op->len == op->n) return sam_model_hvp(op->ctx, op->m, op->w, op->b, x, y, op->mwork);
    memcpy(op->vin + op->off, x, op->len * sizeof(float));
    if ((st = sam_model_hvp(op->ctx, op->m, op->w, op->b, op->vin, op->hout, op->mwork))) return st;
    memcpy(y, op->hout + op->off, op->len * sizeof(float));
    return SAM_OK;
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
            sam_rng_fill_gauss(rng, op.len, hw.x, 0.0f, 1.0f);
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
    else sam_rng_fill_gauss(rng, n, sw.v0, 0.0f, 1.0f);
    if (two_d) {
        if (dir2) memcpy(sw.v1, dir2, n * sizeof(float));
        else sam_rng_fill_gauss(rng, n, sw.v1, 0.0f, 1.0f);
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

#endif
