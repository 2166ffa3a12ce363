/* tests/test_nn.c — layers, losses, models, R-op Hessian-vector products,
 * traces and Wen et al.'s constructions. Included by run.c.
 *
 * Gradients and HVPs are checked against central differences of the model
 * itself: the loss is accumulated in double, the step is large enough for
 * float (h ~ 1e-2 relative), and the difference is taken against the actual
 * float points w± (so rounding of w ± h u does not enter). Every check first
 * asserts that no pre-activation changes sign on [w − 1.5hu, w + 1.5hu]. */

/* ---- data helpers --------------------------------------------------------- */

static void t_data_alloc(sam_dataset *D, size_t n, size_t P, size_t d, size_t K) {
    memset(D, 0, sizeof *D);
    D->n = n; D->patches = P; D->patch_dim = d; D->dim = P * d; D->classes = K;
    D->x = (float *)calloc(n * P * d, sizeof(float));
    D->y = (float *)calloc(n, sizeof(float));
    D->label = (int32_t *)calloc(n, sizeof(int32_t));
    D->bayes_risk = -1.0;
}
static void t_data_free(sam_dataset *D) {
    free(D->x); free(D->y); free(D->label); free(D->y_clean); free(D->noise); free(D->signal_patch); free(D->signal);
    memset(D, 0, sizeof *D);
}
/* Random inputs in [-1,1), labels ±1 (K = 2) or in [0, K). */
static void t_data_random(sam_dataset *D, size_t n, size_t P, size_t d, size_t K, unsigned seed) {
    sam_rng r;
    size_t i;
    t_data_alloc(D, n, P, d, K);
    t_fill(seed, n * P * d, D->x);
    sam_rng_seed(&r, seed, 17);
    for (i = 0; i < n; i++) {
        if (K == 2) { D->y[i] = sam_rng_rademacher(&r); D->label[i] = D->y[i] > 0; }
        else { D->label[i] = (int32_t)sam_rng_below(&r, (uint32_t)K); D->y[i] = (float)D->label[i]; }
    }
}
/* Chen et al.'s layout: one patch ŷμ, the other P−1 the same ξ (noise_count 1). */
static void t_data_chen(sam_dataset *D, size_t n, size_t P, size_t d, unsigned seed) {
    sam_rng r;
    size_t i, p, k;
    t_data_alloc(D, n, P, d, 2);
    sam_rng_seed(&r, seed, 23);
    D->signal = (float *)calloc(d, sizeof(float));
    D->y_clean = (float *)calloc(n, sizeof(float));
    D->noise = (float *)calloc(n * d, sizeof(float));
    D->signal_patch = (int32_t *)calloc(n, sizeof(int32_t));
    D->noise_count = 1;
    D->signal[0] = 1.5f;
    for (k = 1; k < d; k++) D->signal[k] = 0.0f;
    for (i = 0; i < n; i++) {
        float yc = sam_rng_rademacher(&r);
        D->y_clean[i] = yc;
        D->y[i] = sam_rng_uniform(&r) < 0.2 ? -yc : yc;
        D->label[i] = D->y[i] > 0;
        D->signal_patch[i] = (int32_t)sam_rng_below(&r, (uint32_t)P);
        D->noise[i * d] = 0.0f;
        for (k = 1; k < d; k++) D->noise[i * d + k] = (float)sam_rng_gauss(&r);
        for (p = 0; p < P; p++)
            for (k = 0; k < d; k++)
                D->x[i * P * d + p * d + k] = (int32_t)p == D->signal_patch[i] ? yc * D->signal[k] : D->noise[i * d + k];
    }
}
/* Wen et al.'s 2-parity data: x ∈ {±1}^d, y = x1 x2. */
static void t_data_parity(sam_dataset *D, size_t n, size_t d, unsigned seed) {
    sam_rng r;
    size_t i;
    t_data_alloc(D, n, 1, d, 2);
    sam_rng_seed(&r, seed, 31);
    sam_rng_fill_rademacher(&r, n * d, D->x);
    for (i = 0; i < n; i++) { D->y[i] = D->x[i * d] * D->x[i * d + 1]; D->label[i] = D->y[i] > 0; }
}

/* ---- pre-activation access (for the kink-margin assertion) ----------------- */

/* Copies every pre-activation of the last run on `work` into z (returns count). */
static size_t t_preacts(const sam_model *m, size_t B, const sam_batch *b, void *work, float *z) {
    size_t cnt = 0, l, k;
    if (m->vt == &sam__cnn_vtable) {
        const sam_cnn *net = (const sam_cnn *)m->self;
        sam__cnn_work wk;
        int fast = sam__cnn_fast(net, b->data);
        sam__cnn_carve(net, B, work, &wk);
        cnt = (fast ? 2 * B : B * net->cfg.patches) * net->n_filters;
        if (z) memcpy(z, wk.Z, cnt * sizeof(float));
    } else {
        const sam_mlp *net = (const sam_mlp *)m->self;
        sam__mlp_work wk;
        size_t R = B + (net->cfg.norm == SAM_NORM_SBN ? sam__mlp_stat_set(net, b)->n : 0);
        sam__mlp_carve(net, B, work, &wk);
        for (l = 0; l + 1 < net->cfg.n_layers; l++)
            for (k = 0; k < R * net->dims[l + 1]; k++) { if (z) z[cnt] = wk.Z[l][k]; cnt++; }
    }
    return cnt;
}

/* ---- the finite-difference checker ---------------------------------------- */

typedef struct t_fd_result { double grad_err, hvp_err, min_margin; int same_pattern; } t_fd_result;

/* Directional check along a random u: (L(w+) − L(w−)) vs ⟨∇L, w+ − w−⟩ and
 * (∇L(w+) − ∇L(w−)) vs H (w+ − w−). Returns the relative errors. */
static t_fd_result t_fd(sam_ctx *ctx, const sam_model *m, const float *w0, const sam_batch *b, double h,
                        unsigned seed, int do_hvp) {
    size_t D = m->n_params, k, nz, zc;
    void *work = malloc(sam_model_work_bytes(m, b->n));
    float *wp = (float *)malloc(D * sizeof(float)), *wm = (float *)malloc(D * sizeof(float));
    float *u = (float *)malloc(D * sizeof(float)), *g = (float *)malloc(D * sizeof(float));
    float *gp = (float *)malloc(D * sizeof(float)), *gm = (float *)malloc(D * sizeof(float));
    float *hv = (float *)malloc(D * sizeof(float)), *v = (float *)malloc(D * sizeof(float));
    float *z0, *z1;
    double L0, Lp, Lm, dir = 0.0, dabs = 0.0, hmax = 0.0, emax = 0.0;
    t_fd_result res;
    sam_status st;
    t_fill(seed, D, u);
    {   /* scale u per view: |w_k| + 0.1 rms(view), so tiny layers get tiny steps */
        size_t nv, vi;
        const sam_param_view *views = sam_nn_views(m, &nv);
        double grms = 0;
        for (k = 0; k < D; k++) grms += (double)w0[k] * w0[k];
        grms = sqrt(grms / D);
        for (vi = 0; vi < nv; vi++) {
            size_t cnt = views[vi].rows * views[vi].cols, o = views[vi].offset;
            double rms = 0;
            for (k = 0; k < cnt; k++) rms += (double)w0[o + k] * w0[o + k];
            rms = sqrt(rms / cnt);
            if (rms == 0) rms = grms;
            for (k = 0; k < cnt; k++) u[o + k] = (float)(u[o + k] * (fabs((double)w0[o + k]) + 0.1 * rms));
        }
    }
    st = sam_model_loss_grad(ctx, m, w0, b, &L0, g, work);
    CHECKF(st == SAM_OK, "loss_grad: %s", sam_ctx_message(ctx));
    nz = t_preacts(m, b->n, b, work, NULL);
    z0 = (float *)malloc((nz + 1) * sizeof(float));
    z1 = (float *)malloc((nz + 1) * sizeof(float));
    t_preacts(m, b->n, b, work, z0);
    res.min_margin = 1e30;
    for (k = 0; k < nz; k++) if (fabs(z0[k]) < res.min_margin) res.min_margin = fabs(z0[k]);
    res.same_pattern = 1;
    for (zc = 0; zc < 2; zc++) { /* the pattern at w ± 1.5 h u equals the one at w */
        double s = zc ? -1.5 * h : 1.5 * h;
        for (k = 0; k < D; k++) wp[k] = (float)((double)w0[k] + s * (double)u[k]);
        sam_model_loss_grad(ctx, m, wp, b, &Lp, NULL, work);
        t_preacts(m, b->n, b, work, z1);
        for (k = 0; k < nz; k++) if ((z0[k] > 0) != (z1[k] > 0)) res.same_pattern = 0;
    }
    for (k = 0; k < D; k++) {
        wp[k] = (float)((double)w0[k] + h * (double)u[k]);
        wm[k] = (float)((double)w0[k] - h * (double)u[k]);
        v[k] = (float)(((double)wp[k] - (double)wm[k]) / (2.0 * h));
        dir += (double)g[k] * ((double)wp[k] - (double)wm[k]);
        dabs += fabs((double)g[k] * ((double)wp[k] - (double)wm[k]));
    }
    sam_model_loss_grad(ctx, m, wp, b, &Lp, gp, work);
    sam_model_loss_grad(ctx, m, wm, b, &Lm, gm, work);
    /* relative to Σ|g_k Δw_k|, the size of the terms: a direction almost
     * orthogonal to g must not turn float rounding into a large ratio */
    res.grad_err = fabs((Lp - Lm) - dir) / (dabs + 1e-12);
    res.hvp_err = 0;
    if (!do_hvp) goto done;
    st = sam_model_hvp(ctx, m, w0, b, v, hv, work);
    CHECKF(st == SAM_OK, "hvp: %s", sam_ctx_message(ctx));
    for (k = 0; k < D; k++) {
        double fd = ((double)gp[k] - (double)gm[k]) / (2.0 * h);
        if (fabs((double)hv[k]) > hmax) hmax = fabs((double)hv[k]);
        if (fabs(fd - (double)hv[k]) > emax) emax = fabs(fd - (double)hv[k]);
    }
    res.hvp_err = emax / (hmax + 1e-12);
done:
    free(work); free(wp); free(wm); free(u); free(g); free(gp); free(gm); free(hv); free(v); free(z0); free(z1);
    return res;
}

/* Asserts the kink margin, then the gradient and HVP errors. */
#define T_FD_CHECK(ctx, m, w, b, h, seed, gtol, htol, what) do { \
    t_fd_result r_ = t_fd(&(ctx), (m), (w), (b), (h), (seed), 1); \
    CHECKF(r_.same_pattern && r_.min_margin > 0.0, "%s: activation pattern changes within the FD step (margin %g)", what, r_.min_margin); \
    CHECKF(r_.grad_err <= (gtol), "%s: gradient rel. error %g", what, r_.grad_err); \
    CHECKF(r_.hvp_err <= (htol), "%s: HVP rel. error %g", what, r_.hvp_err); } while (0)

/* ---- activations ------------------------------------------------------------ */

static void test_nn_act_kernels_isa(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (size_t si = 0; si < T_NSIZES; si++) {
        size_t n = t_sizes[si];
        float *z = t_alloc_off(n), *dout = t_alloc_off(n);
        float *a0 = t_alloc_off(n), *d10 = t_alloc_off(n), *d20 = t_alloc_off(n), *b0 = t_alloc_off(n);
        float *a1 = t_alloc_off(n), *d11 = t_alloc_off(n), *d21 = t_alloc_off(n), *b1 = t_alloc_off(n);
        t_fill(11 + (unsigned)n, n, z);
        t_fill(12 + (unsigned)n, n, dout);
        z[0] = 0.0f; /* the kink itself: the z <= 0 side */
        for (int kind = 0; kind < 4; kind++) {
            float alpha = kind == 1 ? 0.1f : 0.0f, q = kind == 2 ? 2.0f : 3.0f;
            if (kind == 0 || kind == 1) {
                sam__leaky_fwd_f32_scalar(n, alpha, z, a0, d10);
                sam__leaky_bwd_f32_scalar(n, alpha, z, dout, b0);
                for (size_t i = 0; i < n; i++) {
                    double s = z[i] > 0 ? 1.0 : alpha;
                    CHECK(a0[i] == (float)(s * z[i]) && d10[i] == (float)s && b0[i] == (float)(s * dout[i]));
                }
            } else {
                sam__reluq_fwd_f32_scalar(n, q, z, a0, d10, d20);
                for (size_t i = 0; i < n; i++) {
                    double x = z[i] > 0 ? z[i] : 0.0;
                    CHECK_NEAR(a0[i], pow(x, q), 1e-7, 1e-6);
                    CHECK_NEAR(d10[i], q * pow(x, q - 1), 1e-7, 1e-6);
                    CHECK_NEAR(d20[i], z[i] > 0 ? q * (q - 1) * pow(x, q - 2) : 0.0, 1e-7, 1e-6);
                }
            }
            FOR_EACH_ISA(ctx, isa) {
                if (kind < 2) {
                    sam__leaky_fwd_impl[isa](n, alpha, z, a1, d11);
                    sam__leaky_bwd_impl[isa](n, alpha, z, dout, b1);
                    CHECK(memcmp(a0, a1, n * 4) == 0 && memcmp(d10, d11, n * 4) == 0 && memcmp(b0, b1, n * 4) == 0);
                    /* forward without σ' (d1 NULL): a alone, the same bits */
                    memset(a1, 0xff, n * 4);
                    sam__leaky_fwd_impl[isa](n, alpha, z, a1, NULL);
                    CHECKF(memcmp(a0, a1, n * 4) == 0, "leaky fwd (no d1) isa %d n %zu", isa, n);
                } else {
                    sam__reluq_fwd_impl[isa](n, q, z, a1, d11, d21);
                    CHECKF(memcmp(a0, a1, n * 4) == 0 && memcmp(d10, d11, n * 4) == 0 && memcmp(d20, d21, n * 4) == 0,
                           "reluq isa %d n %zu", isa, n);
                    /* d1 / d2 each optional; backward = dout ⊙ d1 bit for bit */
                    memset(a1, 0xff, n * 4); memset(d21, 0xff, n * 4);
                    sam__reluq_fwd_impl[isa](n, q, z, a1, NULL, d21);
                    CHECKF(memcmp(a0, a1, n * 4) == 0 && memcmp(d20, d21, n * 4) == 0, "reluq (no d1) isa %d n %zu", isa, n);
                    memset(a1, 0xff, n * 4); memset(d11, 0xff, n * 4);
                    sam__reluq_fwd_impl[isa](n, q, z, a1, d11, NULL);
                    CHECKF(memcmp(a0, a1, n * 4) == 0 && memcmp(d10, d11, n * 4) == 0, "reluq (no d2) isa %d n %zu", isa, n);
                    sam__reluq_bwd_impl[isa](n, q, z, dout, b1);
                    for (size_t i = 0; i < n; i++) CHECKF(b1[i] == dout[i] * d10[i], "reluq bwd isa %d n %zu i %zu", isa, n, i);
                    for (size_t i = 0; i < n; i++)
                        CHECK_NEAR(b1[i], (double)dout[i] * (z[i] > 0 ? q * pow((double)z[i], q - 1) : 0.0), 1e-7, 1e-6);
                }
            }
        }
        t_free_off(z); t_free_off(dout); t_free_off(a0); t_free_off(d10); t_free_off(d20); t_free_off(b0);
        t_free_off(a1); t_free_off(d11); t_free_off(d21); t_free_off(b1);
    }
    sam_ctx_free(&ctx);
}

/* The few-rows dense kernels (batch 1 / 1-SAM path) on every ISA against a
 * double reference, at sizes around the vector width, rows offset by a float. */
static void test_nn_dense_kernels_isa(void) {
    sam_ctx ctx;
    static const size_t ks[] = {1, 3, 7, 8, 9, 15, 16, 17, 30, 31, 33, 64, 65};
    sam_ctx_init(&ctx, NULL);
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
        for (size_t N = 1; N <= 9; N += 4) {
            size_t K = ks[ki], R = 1 + (K + N) % 4, ldw = K + 3;
            float *W = t_alloc_off(N * ldw), *x = t_alloc_off(R * K), *z = t_alloc_off(N), *dz = t_alloc_off(R * N);
            float *G = t_alloc_off(N * K), *G0 = t_alloc_off(N * K);
            t_fill(1 + (unsigned)K, N * ldw, W); t_fill(2 + (unsigned)K, R * K, x); t_fill(3, R * N, dz);
            FOR_EACH_ISA(ctx, isa) {
                for (int acc = 0; acc < 2; acc++) {
                    for (size_t j = 0; j < N; j++) z[j] = 0.5f;
                    sam__gemv_impl[isa](N, K, W, ldw, x, acc, z);
                    for (size_t j = 0; j < N; j++) {
                        double ref = acc ? 0.5 : 0.0;
                        for (size_t k = 0; k < K; k++) ref += (double)W[j * ldw + k] * x[k];
                        CHECKF(fabs(z[j] - ref) <= 1e-6 * (1 + K), "gemv isa %d N %zu K %zu acc %d: %g vs %g", isa, N, K, acc, z[j], ref);
                    }
                    for (size_t rr = 1; rr <= R; rr++) {
                        for (size_t t = 0; t < N * K; t++) G[t] = G0[t] = 0.25f;
                        sam__ger_impl[isa](N, K, rr, dz, N, x, K, acc, G);
                        for (size_t j = 0; j < N; j++)
                            for (size_t k = 0; k < K; k++) {
                                double ref = acc ? 0.25 : 0.0;
                                for (size_t r = 0; r < rr; r++) ref += (double)dz[r * N + j] * x[r * K + k];
                                CHECKF(fabs(G[j * K + k] - ref) <= 1e-6 * (1 + rr), "ger isa %d R %zu N %zu K %zu", isa, rr, N, K);
                            }
                    }
                }
            }
            t_free_off(W); t_free_off(x); t_free_off(z); t_free_off(dz); t_free_off(G); t_free_off(G0);
        }
    /* the finite check: every ISA, a NaN or Inf at any position is found */
    for (size_t si = 0; si < T_NSIZES; si++) {
        size_t n = t_sizes[si];
        float *x = t_alloc_off(n);
        t_fill(9, n, x);
        FOR_EACH_ISA(ctx, isa) {
            CHECK(sam__finite_impl[isa](n, x) == 1);
            for (size_t pos = 0; pos < n; pos += (n > 40 ? 37 : 1)) {
                float keep = x[pos];
                x[pos] = (pos & 1) ? NAN : -INFINITY;
                CHECKF(sam__finite_impl[isa](n, x) == 0, "finite isa %d n %zu pos %zu", isa, n, pos);
                x[pos] = keep;
            }
        }
        t_free_off(x);
    }
    sam_ctx_free(&ctx);
}

static void test_nn_act_public(void) {
    sam_ctx ctx;
    sam_act act;
    float z[5] = {-1.0f, -0.5f, 0.5f, 1.0f, 2.0f}, a[5], d1[5], d2[5], din[5], dout[5] = {1, 2, 3, 4, 5};
    sam_ctx_init(&ctx, NULL);
    act.kind = SAM_ACT_RELU_POW; act.alpha = 0.0f; act.q = 2.5f; /* non-integer q: the pow() path */
    CHECK_OK(sam_act_forward(&ctx, &act, 5, z, a, d1, d2));
    for (int i = 0; i < 5; i++) {
        /* σ' and σ'' against central differences of σ in double */
        double x = z[i], hh = 1e-5;
        double fp = x + hh > 0 ? pow(x + hh, 2.5) : 0, fm = x - hh > 0 ? pow(x - hh, 2.5) : 0, f0 = x > 0 ? pow(x, 2.5) : 0;
        CHECK_NEAR(d1[i], (fp - fm) / (2 * hh), 1e-5, 1e-5);
        CHECK_NEAR(d2[i], (fp - 2 * f0 + fm) / (hh * hh), 1e-3, 1e-3);
    }
    CHECK_OK(sam_act_backward(&ctx, &act, 5, z, dout, din));
    for (int i = 0; i < 5; i++) CHECK_NEAR(din[i], dout[i] * d1[i], 1e-6, 1e-6);
    act.kind = SAM_ACT_LEAKY; act.alpha = 0.2f;
    CHECK_OK(sam_act_forward(&ctx, &act, 5, z, a, NULL, NULL));
    CHECK(a[0] == -0.2f && a[4] == 2.0f);
    act.q = 0.5f; act.kind = SAM_ACT_RELU_POW;
    a[0] = 42.0f;
    CHECK(sam_act_forward(&ctx, &act, 5, z, a, d1, d2) == SAM_ERR_ARG && a[0] == 42.0f);
    CHECK(strstr(sam_ctx_message(&ctx), "q") != NULL);
    sam_ctx_free(&ctx);
}

/* ---- norm layers ------------------------------------------------------------- */

/* J(h) = Σ c ⊙ layer(h), accumulated in double. */
static double t_norm_obj(sam_ctx *ctx, int which, size_t rows, size_t w, float eps, const float *h, const float *hs,
                         size_t ns, const float *gamma, const float *c, float *tmp) {
    double J = 0.0;
    switch (which) {
    case 0: sam_sln_forward(ctx, rows, w, eps, h, tmp); break;
    case 1: sam_sbn_forward(ctx, ns, hs, rows, w, h, gamma, eps, tmp); break;
    case 2: sam_ln_forward(ctx, rows, w, eps, h, tmp); break;
    default: sam_bn_forward(ctx, rows, w, eps, h, tmp); break;
    }
    for (size_t k = 0; k < rows * w; k++) J += (double)c[k] * (double)tmp[k];
    return J;
}

static void test_nn_norm_layers(void) {
    sam_ctx ctx;
    const size_t rows = 5, w = 7, ns = 6;
    float h[35], c[35], dh[35], tmp[35], hs[42], dhs[42], gamma[7], dg[7], hp[42];
    sam_ctx_init(&ctx, NULL);
    t_fill(1, rows * w, h); t_fill(2, rows * w, c); t_fill(3, ns * w, hs); t_fill(4, w, gamma);
    for (size_t k = 0; k < rows * w; k++) h[k] += 0.5f; /* keep BN/LN variances away from 0 */
    /* forward values against double formulas */
    sam_sln_forward(&ctx, rows, w, 1e-3f, h, tmp);
    for (size_t i = 0; i < rows; i++) {
        double nn = 0; for (size_t j = 0; j < w; j++) nn += (double)h[i * w + j] * h[i * w + j];
        for (size_t j = 0; j < w; j++) CHECK_NEAR(tmp[i * w + j], h[i * w + j] / sqrt(nn), 1e-6, 1e-5);
    }
    sam_sbn_forward(&ctx, ns, hs, rows, w, h, gamma, 1e-3f, tmp);
    for (size_t j = 0; j < w; j++) {
        double q = 0; for (size_t i = 0; i < ns; i++) q += (double)hs[i * w + j] * hs[i * w + j];
        for (size_t i = 0; i < rows; i++) CHECK_NEAR(tmp[i * w + j], gamma[j] * h[i * w + j] / sqrt(q / ns), 1e-6, 1e-5);
    }
    /* backward vs central differences of J, coordinate by coordinate */
    for (int which = 0; which < 4; which++) {
        const double hh = 1e-2;
        if (which == 0) sam_sln_backward(&ctx, rows, w, 1e-3f, h, c, dh);
        if (which == 1) CHECK_OK(sam_sbn_backward(&ctx, ns, hs, rows, w, h, gamma, 1e-3f, c, dh, dhs, dg));
        if (which == 2) sam_ln_backward(&ctx, rows, w, 1e-5f, h, c, dh);
        if (which == 3) sam_bn_backward(&ctx, rows, w, 1e-5f, h, c, dh);
        for (size_t k = 0; k < rows * w; k++) {
            float hk = h[k];
            float eps = which < 2 ? 1e-3f : 1e-5f;
            double Jp, Jm, xp, xm;
            h[k] = (float)(hk + hh); xp = h[k];
            Jp = t_norm_obj(&ctx, which, rows, w, eps, h, hs, ns, gamma, c, tmp);
            h[k] = (float)(hk - hh); xm = h[k];
            Jm = t_norm_obj(&ctx, which, rows, w, eps, h, hs, ns, gamma, c, tmp);
            h[k] = hk;
            CHECKF(fabs((Jp - Jm) / (xp - xm) - dh[k]) <= 2e-3 + 2e-3 * fabs(dh[k]), "norm %d dh[%zu] = %g, FD %g", which, k,
                   (double)dh[k], (Jp - Jm) / (xp - xm));
        }
        if (which == 1) {
            memcpy(hp, hs, sizeof hs);
            for (size_t k = 0; k < ns * w; k++) { /* the path through the statistics */
                double Jp, Jm;
                hp[k] = (float)(hs[k] + hh);
                Jp = t_norm_obj(&ctx, 1, rows, w, 1e-3f, h, hp, ns, gamma, c, tmp);
                hp[k] = (float)(hs[k] - hh);
                Jm = t_norm_obj(&ctx, 1, rows, w, 1e-3f, h, hp, ns, gamma, c, tmp);
                hp[k] = hs[k];
                CHECK_NEAR(dhs[k], (Jp - Jm) / (2 * hh), 2e-3, 2e-3);
            }
            for (size_t j = 0; j < w; j++) {
                double Jp, Jm;
                float gj = gamma[j];
                gamma[j] = gj + 0.01f; Jp = t_norm_obj(&ctx, 1, rows, w, 1e-3f, h, hs, ns, gamma, c, tmp);
                gamma[j] = gj - 0.01f; Jm = t_norm_obj(&ctx, 1, rows, w, 1e-3f, h, hs, ns, gamma, c, tmp);
                gamma[j] = gj;
                CHECK_NEAR(dg[j], (Jp - Jm) / 0.02, 1e-3, 1e-3);
            }
        }
    }
    /* SLN below ε is linear (h/ε); SBN dead neuron is clamped */
    {
        float hz[3] = {1e-5f, 0.0f, 0.0f}, o[3];
        CHECK_OK(sam_sln_forward(&ctx, 1, 3, 1e-3f, hz, o));
        CHECK_NEAR(o[0], 1e-2, 1e-9, 1e-5);
        float hd[2] = {0.0f, 0.0f}, g1[1] = {1.0f}, od[2];
        CHECK_OK(sam_sbn_forward(&ctx, 2, hd, 2, 1, hd, g1, 1e-3f, od));
        CHECK(od[0] == 0.0f && od[1] == 0.0f);
    }
    /* ε <= 0 is an error and writes nothing */
    tmp[0] = 7.0f;
    CHECK(sam_sln_forward(&ctx, rows, w, 0.0f, h, tmp) == SAM_ERR_ARG && tmp[0] == 7.0f);
    CHECK(strstr(sam_ctx_message(&ctx), "eps") != NULL);
    CHECK(sam_sbn_forward(&ctx, ns, hs, rows, w, h, gamma, -1.0f, tmp) == SAM_ERR_ARG && tmp[0] == 7.0f);
    CHECK(sam_ln_forward(&ctx, rows, 0, 1e-5f, h, tmp) == SAM_ERR_ARG && strstr(sam_ctx_message(&ctx), "width"));
    sam_ctx_free(&ctx);
}

/* The norm kernels on every ISA at the awkward sizes, pointers offset by one
 * float: against a two-pass double reference, and against the scalar twin
 * (column kernels bit for bit, the row-reduced LayerNorm to rounding). */
static void test_nn_norm_kernels_isa(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (size_t si = 0; si < T_NSIZES; si++) {
        size_t w = t_sizes[si], R = 3 + si % 3, ns = 2 + si % 4, nn = R * w;
        float *h = t_alloc_off(nn), *d = t_alloc_off(nn), *hs = t_alloc_off(ns * w), *o0 = t_alloc_off(nn);
        float *o1 = t_alloc_off(nn), *q0 = t_alloc_off(ns * w), *q1 = t_alloc_off(ns * w);
        double *ws0 = (double *)malloc(6 * w * sizeof(double)), *ws1 = (double *)malloc(6 * w * sizeof(double));
        double *ref = (double *)malloc(nn * sizeof(double));
        t_fill(21 + (unsigned)w, nn, h); t_fill(22 + (unsigned)w, nn, d); t_fill(23 + (unsigned)w, ns * w, hs);
        for (size_t k = 0; k < nn; k++) h[k] += 0.25f;
        if (w > 2) for (size_t k = 0; k < ns; k++) hs[k * w + 1] = 0.0f; /* a dead column: clamped */
        /* double references: BN (per column) and LN (per row), forward and backward */
        for (int ln = 0; ln < 2; ln++) {
            size_t G = ln ? R : w, L = ln ? w : R, gs = ln ? w : 1, es = ln ? 1 : w;
            const double eps = 1e-5;
            for (int bwd = 0; bwd < 2; bwd++) {
                for (size_t g = 0; g < G; g++) {
                    double m = 0, v = 0, md = 0, mdu = 0, sd;
                    for (size_t k = 0; k < L; k++) m += h[g * gs + k * es];
                    m /= (double)L;
                    for (size_t k = 0; k < L; k++) v += (h[g * gs + k * es] - m) * (h[g * gs + k * es] - m);
                    sd = sqrt(v / (double)L + (double)(float)eps);
                    for (size_t k = 0; k < L; k++) {
                        double u = (h[g * gs + k * es] - m) / sd;
                        md += d[g * gs + k * es]; mdu += d[g * gs + k * es] * u;
                    }
                    md /= (double)L; mdu /= (double)L;
                    for (size_t k = 0; k < L; k++) {
                        double u = (h[g * gs + k * es] - m) / sd;
                        ref[g * gs + k * es] = bwd ? (d[g * gs + k * es] - md - u * mdu) / sd : u;
                    }
                }
                if (ln) {
                    if (bwd) sam__ln_bwd_f32_scalar(R, w, 1e-5f, h, d, o0); else sam__ln_fwd_f32_scalar(R, w, 1e-5f, h, o0);
                } else {
                    if (bwd) sam__bn_bwd_f32_scalar(R, w, 1e-5f, h, d, o0, ws0); else sam__bn_fwd_f32_scalar(R, w, 1e-5f, h, o0, ws0);
                }
                for (size_t k = 0; k < nn; k++)
                    CHECKF(fabs(o0[k] - ref[k]) <= 2e-5 + 2e-5 * fabs(ref[k]), "%s %s scalar w %zu k %zu: %g vs %g",
                           ln ? "ln" : "bn", bwd ? "bwd" : "fwd", w, k, (double)o0[k], ref[k]);
                FOR_EACH_ISA(ctx, isa) {
                    if (ln) {
                        if (bwd) sam__ln_bwd_impl[isa](R, w, 1e-5f, h, d, o1); else sam__ln_fwd_impl[isa](R, w, 1e-5f, h, o1);
                        for (size_t k = 0; k < nn; k++) {
                            CHECKF(fabs(o1[k] - ref[k]) <= 2e-5 + 2e-5 * fabs(ref[k]), "ln isa %d w %zu k %zu", isa, w, k);
                            CHECKF(fabs(o1[k] - o0[k]) <= 1e-6 + 1e-5 * fabs(o0[k]), "ln vs scalar isa %d w %zu k %zu", isa, w, k);
                        }
                    } else {
                        if (bwd) sam__bn_bwd_impl[isa](R, w, 1e-5f, h, d, o1, ws1); else sam__bn_fwd_impl[isa](R, w, 1e-5f, h, o1, ws1);
                        CHECKF(memcmp(o0, o1, nn * sizeof(float)) == 0, "bn %s isa %d w %zu: not bit-identical to scalar",
                               bwd ? "bwd" : "fwd", isa, w);
                    }
                }
            }
        }
        /* simplified BatchNorm: statistics, γ h / s, and the backward's column dot */
        {
            double *s0 = ws0, *c0 = ws0 + w, *g0 = ws0 + 2 * w, *s1 = ws1, *g1 = ws1 + 2 * w;
            sam__sbn_stats_f32_scalar(ns, hs, w, 1e-3f, s0, ws0 + 3 * w);
            for (size_t j = 0; j < w; j++) {
                double q = 0;
                for (size_t k = 0; k < ns; k++) q += (double)hs[k * w + j] * hs[k * w + j];
                q = sqrt(q / (double)ns);
                CHECK_NEAR(s0[j], q > 1e-3 ? q : (double)1e-3f, 1e-12, 1e-12);
                c0[j] = 0.5 + 0.01 * (double)j;
            }
            sam__cmuldiv_f32_scalar(R, w, h, c0, s0, o0);
            sam__cdot_f32_scalar(R, w, h, d, g0);
            for (size_t j = 0; j < w; j++) {
                double dd = 0;
                for (size_t i = 0; i < R; i++) {
                    CHECK_NEAR(o0[i * w + j], (double)h[i * w + j] * c0[j] / s0[j], 1e-7, 1e-6);
                    dd += (double)h[i * w + j] * d[i * w + j];
                }
                CHECK_NEAR(g0[j], dd, 1e-12, 1e-12);
            }
            FOR_EACH_ISA(ctx, isa) {
                sam__sbn_stats_impl[isa](ns, hs, w, 1e-3f, s1, ws1 + 3 * w);
                CHECKF(memcmp(s0, s1, w * sizeof(double)) == 0, "sbn stats isa %d w %zu", isa, w);
                sam__cmuldiv_impl[isa](R, w, h, c0, s0, o1);
                CHECKF(memcmp(o0, o1, nn * sizeof(float)) == 0, "cmuldiv isa %d w %zu", isa, w);
                sam__cdot_impl[isa](R, w, h, d, g1);
                CHECKF(memcmp(g0, g1, w * sizeof(double)) == 0, "cdot isa %d w %zu", isa, w);
            }
            /* the public layer on every ISA: same bits as scalar */
            {
                float *gam = t_alloc_off(w), *dg0 = t_alloc_off(w), *dg1 = t_alloc_off(w);
                t_fill(24, w, gam);
                sam_ctx_set_isa(&ctx, SAM_ISA_SCALAR);
                CHECK_OK(sam_sbn_backward(&ctx, ns, hs, R, w, h, gam, 1e-3f, d, o0, q0, dg0));
                FOR_EACH_ISA(ctx, isa) {
                    CHECK_OK(sam_sbn_backward(&ctx, ns, hs, R, w, h, gam, 1e-3f, d, o1, q1, dg1));
                    CHECKF(memcmp(o0, o1, nn * 4) == 0 && memcmp(q0, q1, ns * w * 4) == 0 && memcmp(dg0, dg1, w * 4) == 0,
                           "sam_sbn_backward isa %d w %zu", isa, w);
                }
                t_free_off(gam); t_free_off(dg0); t_free_off(dg1);
            }
        }
        t_free_off(h); t_free_off(d); t_free_off(hs); t_free_off(o0); t_free_off(o1); t_free_off(q0); t_free_off(q1);
        free(ws0); free(ws1); free(ref);
    }
    sam_ctx_free(&ctx);
}

/* The MLP's loss_grad proves w finite from its forward pass: a NaN or Inf in
 * any parameter (every Wen variant, one row, few rows, the sgemm path) must
 * still give SAM_ERR_NONFINITE naming w, with the gradient untouched; a finite
 * w whose forward overflows must not be reported as a bad w. */
static void test_nn_mlp_nonfinite_w(void) {
    sam_ctx ctx;
    sam_dataset D;
    sam_ctx_init(&ctx, NULL);
    t_data_random(&D, 6, 1, 5, 2, 77);
    for (int v = 0; v <= (int)SAM_WEN_BIAS3; v++) {
        sam_mlp_config mc;
        sam_mlp net;
        sam_rng rng;
        sam_mlp_config_wen(&mc, (sam_wen_variant)v, 5, 4);
        mc.sbn_n = 6;
        CHECK_OK(sam_mlp_init(&ctx, &net, &mc));
        size_t np = net.model.n_params;
        float *w = t_alloc_off(np), *g = t_alloc_off(np);
        void *work = malloc(sam_model_work_bytes(&net.model, 6));
        sam_rng_seed(&rng, 5, 1);
        CHECK_OK(sam_mlp_init_params(&ctx, &net, &rng, w));
        for (size_t bn = 1; bn <= 6; bn += 5) {
            sam_batch b;
            double L;
            b.data = &D; b.idx = NULL; b.n = bn;
            CHECK_OK(sam_model_loss_grad(&ctx, &net.model, w, &b, &L, g, work));
            for (size_t k = 0; k < np; k++) {
                float keep = w[k];
                w[k] = (k % 3 == 0) ? NAN : (k % 3 == 1) ? INFINITY : -INFINITY;
                for (size_t t = 0; t < np; t++) g[t] = 7.0f;
                sam_status st = sam_model_loss_grad(&ctx, &net.model, w, &b, &L, g, work);
                CHECKF(st == SAM_ERR_NONFINITE && strstr(sam_ctx_message(&ctx), "w has NaN or Inf"),
                       "variant %d batch %zu w[%zu] = %g: status %d (%s)", v, bn, k, (double)w[k], (int)st,
                       sam_ctx_message(&ctx));
                int untouched = 1;
                for (size_t t = 0; t < np; t++) untouched &= g[t] == 7.0f;
                CHECKF(untouched, "variant %d: gradient written on a non-finite w", v);
                w[k] = keep;
            }
        }
        /* finite but huge first-layer weights: whatever fails, it is not w */
        {
            sam_batch b;
            double L;
            float keep = w[0];
            b.data = &D; b.idx = NULL; b.n = 1;
            w[0] = 3e38f;
            for (size_t t = 0; t < 5; t++) D.x[t] = 1e3f;
            sam_model_loss_grad(&ctx, &net.model, w, &b, &L, g, work);
            CHECK(strstr(sam_ctx_message(&ctx), "w has NaN") == NULL);
            w[0] = keep;
            t_fill(77, 5, D.x);
        }
        free(work); t_free_off(w); t_free_off(g);
    }
    t_data_free(&D);
    sam_ctx_free(&ctx);
}

/* The CNN proves w finite from Z = X Wᵀ (sam__cnn_run): a NaN or Inf in any
 * filter weight, on the Chen-data fast path and the generic path, binary and
 * 3-class, through loss_grad, hvp and predict, must give SAM_ERR_NONFINITE
 * naming w with nothing written; a finite w whose forward overflows must not
 * be reported as a bad w. */
static void test_nn_cnn_nonfinite_w(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (int cfgi = 0; cfgi < 4; cfgi++) {
        sam_cnn_config cf;
        sam_cnn net;
        sam_dataset D;
        sam_rng r;
        size_t idx[3] = {4, 0, 2}, dd = 9, P = 3;
        sam_cnn_config_default(&cf);
        cf.patches = P; cf.patch_dim = dd; cf.width = 2;
        cf.no_fast_path = cfgi & 1;
        if (cfgi >= 2) { cf.classes = 3; cf.loss.kind = SAM_LOSS_SOFTMAX_CE; }
        CHECK_OK(sam_cnn_init(&ctx, &net, &cf));
        if (cfgi >= 2) t_data_random(&D, 6, P, dd, 3, 21);
        else t_data_chen(&D, 6, P, dd, 21);
        CHECK(sam__cnn_fast(&net, &D) == (cfgi == 0));
        size_t np = net.model.n_params;
        float *w = t_alloc_off(np), *g = t_alloc_off(np), *v = t_alloc_off(np), *hv = t_alloc_off(np);
        float out[3 * 3];
        void *work = malloc(sam_model_work_bytes(&net.model, 3));
        sam_batch b;
        double L;
        b.data = &D; b.idx = idx; b.n = 3;
        sam_rng_seed(&r, 4, SAM_STREAM_INIT);
        CHECK_OK(sam_cnn_init_params(&ctx, &net, &r, 0.3f, w));
        t_fill(5, np, v);
        CHECK_OK(sam_model_loss_grad(&ctx, &net.model, w, &b, &L, g, work));
        for (size_t k = 0; k < np; k++) {
            float keep = w[k];
            w[k] = (k % 3 == 0) ? NAN : (k % 3 == 1) ? INFINITY : -INFINITY;
            for (size_t t = 0; t < np; t++) g[t] = hv[t] = 7.0f;
            for (int call = 0; call < 3; call++) {
                sam_status st = call == 0   ? sam_model_loss_grad(&ctx, &net.model, w, &b, &L, g, work)
                                : call == 1 ? sam_model_hvp(&ctx, &net.model, w, &b, v, hv, work)
                                            : sam_model_predict(&ctx, &net.model, w, &b, out, work);
                CHECKF(st == SAM_ERR_NONFINITE && strstr(sam_ctx_message(&ctx), "w has NaN or Inf"),
                       "cnn config %d call %d w[%zu] = %g: status %d (%s)", cfgi, call, k, (double)w[k], (int)st,
                       sam_ctx_message(&ctx));
            }
            int untouched = 1;
            for (size_t t = 0; t < np; t++) untouched &= g[t] == 7.0f && hv[t] == 7.0f;
            CHECKF(untouched, "cnn config %d: gradient or HVP written on a non-finite w", cfgi);
            w[k] = keep;
        }
        /* finite but huge filters on large inputs: Z overflows; whatever fails, it is not w */
        {
            float keep = w[1];
            w[1] = 3e38f;
            for (size_t t = 0; t < D.n * D.dim; t++) D.x[t] = 1e3f;
            sam_model_loss_grad(&ctx, &net.model, w, &b, &L, g, work);
            CHECK(strstr(sam_ctx_message(&ctx), "w has NaN") == NULL);
            w[1] = keep;
        }
        free(work); t_free_off(w); t_free_off(g); t_free_off(v); t_free_off(hv);
        t_data_free(&D);
    }
    sam_ctx_free(&ctx);
}

/* ---- losses --------------------------------------------------------------------- */

static void test_nn_losses(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (int kind = 0; kind < 3; kind++) {
        sam_loss L;
        L.kind = (sam_loss_kind)kind;
        L.smoothing = kind == 2 ? 0.2f : 0.0f;
        for (double f = -3.0; f <= 3.0; f += 0.75) {
            for (int ys = -1; ys <= 1; ys += 2) {
                double v, g, h, vp, gp, hp, vm, gm, hm, e = 1e-4;
                sam__loss1(&L, f, ys, &v, &g, &h);
                sam__loss1(&L, f + e, ys, &vp, &gp, &hp);
                sam__loss1(&L, f - e, ys, &vm, &gm, &hm);
                CHECK_NEAR(g, (vp - vm) / (2 * e), 1e-7, 1e-6);
                CHECK_NEAR(h, (gp - gm) / (2 * e), 1e-7, 1e-6);
            }
        }
    }
    /* stability: no overflow at large margins; exact values */
    {
        sam_loss L; double v, g, h;
        L.kind = SAM_LOSS_LOGISTIC; L.smoothing = 0;
        sam__loss1(&L, 1000.0, -1.0, &v, &g, &h);
        CHECK_NEAR(v, 1000.0, 0, 1e-12);
        sam__loss1(&L, 0.0, 1.0, &v, &g, &h);
        CHECK_NEAR(v, log(2.0), 1e-15, 0);
        L.kind = SAM_LOSS_MSE;
        sam__loss1(&L, 0.5, 1.0, &v, &g, &h);
        CHECK(v == 0.25 && g == -1.0 && h == 2.0); /* Wen et al.: (f − y)², no ½ */
        L.kind = SAM_LOSS_LOGISTIC_LS; L.smoothing = 0.2f;
        sam__loss1(&L, 2.0, 1.0, &v, &g, &h);
        CHECK_NEAR(v, -0.8 * log(1 / (1 + exp(-2.0))) - (double)0.2f * log(1 / (1 + exp(2.0))), 1e-7, 1e-7);
    }
    /* softmax CE with smoothing: gradient and Hessian vs differences */
    {
        sam_loss L; float f[4] = {0.3f, -1.0f, 2.0f, 0.5f}; double v, g[4], H[16];
        L.kind = SAM_LOSS_SOFTMAX_CE; L.smoothing = 0.1f;
        CHECK_OK(sam_loss_eval(&ctx, &L, 4, f, 0, 2, &v, g, H));
        for (int k = 0; k < 4; k++) {
            float fk = f[k]; double vp, vm, gp[4], gm[4];
            f[k] = fk + 1e-2f; sam_loss_eval(&ctx, &L, 4, f, 0, 2, &vp, gp, NULL);
            float xp = f[k];
            f[k] = fk - 1e-2f; sam_loss_eval(&ctx, &L, 4, f, 0, 2, &vm, gm, NULL);
            float xm = f[k];
            f[k] = fk;
            CHECK_NEAR(g[k], (vp - vm) / ((double)xp - xm), 1e-5, 1e-4);
            for (int j = 0; j < 4; j++) CHECK_NEAR(H[j * 4 + k], (gp[j] - gm[j]) / ((double)xp - xm), 1e-4, 1e-3);
        }
        CHECK(sam_loss_eval(&ctx, &L, 4, f, 0, 4, &v, g, H) == SAM_ERR_ARG); /* label out of range */
        CHECK(strstr(sam_ctx_message(&ctx), "label") != NULL);
        CHECK(sam_loss_eval(&ctx, &L, 1, f, 0, 0, &v, g, H) == SAM_ERR_ARG);
    }
    sam_ctx_free(&ctx);
}

/* ---- double-precision references of the models' losses ------------------------ */

static double t_act_ref(const sam_act *a, double z) {
    if (a->kind == SAM_ACT_RELU_POW) return z > 0 ? pow(z, a->q) : 0.0;
    if (a->kind == SAM_ACT_LEAKY) return z > 0 ? z : a->alpha * z;
    return z > 0 ? z : 0.0;
}
static double t_loss_ref(const sam_loss *L, size_t K, const double *f, double y, int lab) {
    if (L->kind == SAM_LOSS_SOFTMAX_CE) {
        double mx = f[0], z = 0, v = 0, e = L->smoothing;
        for (size_t k = 1; k < K; k++) if (f[k] > mx) mx = f[k];
        for (size_t k = 0; k < K; k++) z += exp(f[k] - mx);
        for (size_t k = 0; k < K; k++) v -= (e / K + ((int)k == lab ? 1 - e : 0)) * (f[k] - mx - log(z));
        return v;
    }
    if (L->kind == SAM_LOSS_MSE) return (f[0] - y) * (f[0] - y);
    if (L->kind == SAM_LOSS_LOGISTIC_LS)
        return -(1 - (double)L->smoothing) * log(1 / (1 + exp(-y * f[0]))) - (double)L->smoothing * log(1 / (1 + exp(y * f[0])));
    return log1p(exp(-y * f[0]));
}

static double t_cnn_ref_loss(const sam_cnn *net, const float *w, const sam_batch *b) {
    size_t P = net->cfg.patches, d = net->cfg.patch_dim, m = net->cfg.width, J = net->n_filters, K = net->model.out_dim;
    double sum = 0;
    for (size_t i = 0; i < b->n; i++) {
        size_t s = b->idx ? b->idx[i] : i;
        double F[16] = {0};
        for (size_t j = 0; j < J; j++) {
            double Sj = 0;
            for (size_t p = 0; p < P; p++) {
                double z = 0;
                for (size_t k = 0; k < d; k++) z += (double)w[j * d + k] * b->data->x[s * P * d + p * d + k];
                Sj += t_act_ref(&net->cfg.act, z);
            }
            if (K == 1) F[0] += (j < m ? Sj : -Sj) / m;
            else F[j / m] += Sj / m;
        }
        sum += t_loss_ref(&net->cfg.loss, K, F, b->data->y[s], b->data->label[s]);
    }
    return sum / b->n;
}

/* The MLP in double: hidden rows for the batch and (Sim-BN) the statistics set. */
static void t_mlp_ref_hidden(const sam_mlp *net, const float *w, const float *x, size_t l, double *in, double *out) {
    size_t wi = net->dims[l], wo = net->dims[l + 1];
    (void)x;
    for (size_t j = 0; j < wo; j++) {
        double z = net->cfg.hidden_bias ? w[net->off_b[l] + j] : 0.0;
        for (size_t k = 0; k < wi; k++) z += (double)w[net->off_w[l] + j * wi + k] * in[k];
        out[j] = t_act_ref(&net->cfg.act, z);
    }
}
static double t_mlp_ref_loss(const sam_mlp *net, const float *w, const sam_batch *b) {
    const sam_mlp_config *cf = &net->cfg;
    size_t B = b->n, d = cf->in_dim, W0 = net->dims[1], L = cf->n_layers, K = cf->out_dim;
    double *A0 = (double *)calloc(B * W0 + 1, sizeof(double)), *scale = (double *)calloc(W0 + 1, sizeof(double));
    double in[64], h[64], h2[64], sum = 0;
    for (size_t i = 0; i < B && L > 1; i++) {
        size_t s = b->idx ? b->idx[i] : i;
        for (size_t k = 0; k < d; k++) in[k] = b->data->x[s * d + k];
        t_mlp_ref_hidden(net, w, NULL, 0, in, A0 + i * W0);
    }
    if (cf->norm == SAM_NORM_SBN) {
        const sam_dataset *SD = net->stat_data ? net->stat_data : b->data;
        double *q = (double *)calloc(W0, sizeof(double));
        for (size_t i = 0; i < SD->n; i++) {
            for (size_t k = 0; k < d; k++) in[k] = SD->x[i * d + k];
            t_mlp_ref_hidden(net, w, NULL, 0, in, h);
            for (size_t j = 0; j < W0; j++) q[j] += h[j] * h[j];
        }
        for (size_t j = 0; j < W0; j++) { double r = sqrt(q[j] / SD->n); scale[j] = w[net->off_gamma + j] / (r > cf->norm_eps ? r : cf->norm_eps); }
        for (size_t i = 0; i < B; i++) for (size_t j = 0; j < W0; j++) A0[i * W0 + j] *= scale[j];
        free(q);
    } else if (cf->norm == SAM_NORM_SLN) {
        for (size_t i = 0; i < B; i++) {
            double n2 = 0; for (size_t j = 0; j < W0; j++) n2 += A0[i * W0 + j] * A0[i * W0 + j];
            n2 = sqrt(n2); if (n2 < cf->norm_eps) n2 = cf->norm_eps;
            for (size_t j = 0; j < W0; j++) A0[i * W0 + j] /= n2;
        }
    } else if (cf->norm == SAM_NORM_LN || cf->norm == SAM_NORM_BN) {
        int ln = cf->norm == SAM_NORM_LN;
        size_t G = ln ? B : W0, N = ln ? W0 : B;
        for (size_t g = 0; g < G; g++) {
            double m = 0, v = 0;
            for (size_t k = 0; k < N; k++) m += A0[ln ? g * W0 + k : k * W0 + g];
            m /= N;
            for (size_t k = 0; k < N; k++) { double t = A0[ln ? g * W0 + k : k * W0 + g] - m; v += t * t; }
            v /= N;
            for (size_t k = 0; k < N; k++) { double *p = &A0[ln ? g * W0 + k : k * W0 + g]; *p = (*p - m) / sqrt(v + cf->norm_eps); }
        }
    }
    for (size_t i = 0; i < B; i++) {
        size_t s = b->idx ? b->idx[i] : i, cur;
        double F[16];
        if (L > 1) { for (size_t j = 0; j < W0; j++) h[j] = A0[i * W0 + j]; cur = W0; }
        else { for (size_t k = 0; k < d; k++) h[k] = b->data->x[s * d + k]; cur = d; }
        for (size_t l = 1; l + 1 < L; l++) { t_mlp_ref_hidden(net, w, NULL, l, h, h2); cur = net->dims[l + 1]; memcpy(h, h2, cur * sizeof(double)); }
        for (size_t k = 0; k < K; k++) {
            F[k] = cf->out_bias ? w[net->off_b[L - 1] + k] : 0.0;
            for (size_t j = 0; j < cur; j++) F[k] += (double)w[net->off_w[L - 1] + k * cur + j] * h[j];
        }
        sum += t_loss_ref(&cf->loss, K, F, b->data->y[s], b->data->label[s]);
    }
    free(A0); free(scale);
    return sum / B;
}

/* FD with a search over directions for one whose segment keeps the pattern
 * (the assertion in T_FD_CHECK then holds by construction, but is re-checked). */
static t_fd_result t_fd_stable(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b, double h,
                               int do_hvp) {
    t_fd_result r;
    unsigned seed = 1;
    do { r = t_fd(ctx, m, w, b, h, seed, do_hvp); } while (!r.same_pattern && ++seed < 40);
    return r;
}
#define T_FD_STABLE(ctx, m, w, b, h, gtol, htol, what) do { \
    t_fd_result r_ = t_fd_stable(&(ctx), (m), (w), (b), (h), 1); \
    CHECKF(r_.same_pattern && r_.min_margin > 0.0, "%s: activation pattern changes within the FD step (margin %g)", what, r_.min_margin); \
    CHECKF(r_.grad_err <= (gtol), "%s: gradient rel. error %g", what, r_.grad_err); \
    CHECKF(r_.hvp_err <= (htol), "%s: HVP rel. error %g", what, r_.hvp_err); } while (0)

/* ---- CNN ---------------------------------------------------------------------- */

static void test_nn_cnn_grad_hvp(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (int c = 0; c < 6; c++) {
        sam_cnn_config cf;
        sam_cnn net;
        sam_dataset D;
        sam_rng r;
        size_t idx[5] = {7, 2, 9, 2, 0};
        sam_batch b;
        double L, Lref;
        char what[64];
        sam_cnn_config_default(&cf);
        cf.patches = 3; cf.patch_dim = 7; cf.width = 4;
        if (c == 1) { cf.act.kind = SAM_ACT_LEAKY; cf.act.alpha = 0.1f; }
        if (c == 2) { cf.act.kind = SAM_ACT_RELU_POW; cf.act.q = 2.0f; }
        if (c == 3) { cf.act.kind = SAM_ACT_RELU_POW; cf.act.q = 3.0f; cf.loss.kind = SAM_LOSS_MSE; }
        if (c == 4) { cf.classes = 3; cf.loss.kind = SAM_LOSS_SOFTMAX_CE; cf.loss.smoothing = 0.1f; }
        if (c == 5) { cf.loss.kind = SAM_LOSS_LOGISTIC_LS; cf.loss.smoothing = 0.2f; cf.patches = 1; }
        CHECK_OK(sam_cnn_init(&ctx, &net, &cf));
        t_data_random(&D, 10, cf.patches, cf.patch_dim, cf.classes, 100 + (unsigned)c);
        float *w = (float *)malloc(net.model.n_params * sizeof(float));
        b.data = &D; b.idx = idx; b.n = 5;
        for (unsigned ws = 5; ws < 40; ws++) { /* a point with a stable pattern along some direction */
            sam_rng_seed(&r, ws, SAM_STREAM_INIT);
            CHECK_OK(sam_cnn_init_params(&ctx, &net, &r, 0.5f, w));
            if (t_fd_stable(&ctx, &net.model, w, &b, 2e-3, 0).same_pattern) break;
        }
        {
            void *work = malloc(sam_model_work_bytes(&net.model, 5));
            CHECK_OK(sam_model_loss_grad(&ctx, &net.model, w, &b, &L, NULL, work));
            free(work);
        }
        Lref = t_cnn_ref_loss(&net, w, &b);
        CHECK_NEAR(L, Lref, 1e-6, 1e-5);
        snprintf(what, sizeof what, "cnn config %d", c);
        T_FD_STABLE(ctx, &net.model, w, &b, 2e-3, 2e-3, 2e-3, what);
        free(w);
        t_data_free(&D);
    }
    sam_ctx_free(&ctx);
}

static void test_nn_cnn_fast_path(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (size_t P = 2; P <= 4; P++) {
        sam_cnn_config cf;
        sam_cnn fast, gen;
        sam_dataset D;
        sam_rng r;
        size_t idx[6] = {3, 1, 4, 1, 5, 9}, n = 12, dd = 33;
        sam_batch b;
        sam_cnn_config_default(&cf);
        cf.patches = P; cf.patch_dim = dd; cf.width = 5;
        if (P == 4) { cf.act.kind = SAM_ACT_RELU_POW; cf.act.q = 2.0f; }
        CHECK_OK(sam_cnn_init(&ctx, &fast, &cf));
        cf.no_fast_path = 1;
        CHECK_OK(sam_cnn_init(&ctx, &gen, &cf));
        t_data_chen(&D, n, P, dd, 7 + (unsigned)P);
        CHECK(sam__cnn_fast(&fast, &D) && !sam__cnn_fast(&gen, &D));
        size_t np = fast.model.n_params;
        float *w = (float *)malloc(np * 4), *v = (float *)malloc(np * 4);
        float *g1 = (float *)malloc(np * 4), *g2 = (float *)malloc(np * 4), *h1 = (float *)malloc(np * 4), *h2 = (float *)malloc(np * 4);
        float o1[6], o2[6];
        void *work = malloc(sam_model_work_bytes(&gen.model, 6));
        CHECK(sam_model_work_bytes(&fast.model, 6) == sam_model_work_bytes(&gen.model, 6));
        sam_rng_seed(&r, 9, SAM_STREAM_INIT);
        sam_cnn_init_params(&ctx, &fast, &r, 0.3f, w);
        t_fill(3, np, v);
        for (int withidx = 0; withidx < 2; withidx++) {
            double L1, L2, gmax = 0, hmax = 0;
            b.data = &D; b.idx = withidx ? idx : NULL; b.n = 6;
            CHECK_OK(sam_model_loss_grad(&ctx, &fast.model, w, &b, &L1, g1, work));
            CHECK_OK(sam_model_hvp(&ctx, &fast.model, w, &b, v, h1, work));
            CHECK_OK(sam_model_predict(&ctx, &fast.model, w, &b, o1, work));
            CHECK_OK(sam_model_loss_grad(&ctx, &gen.model, w, &b, &L2, g2, work));
            CHECK_OK(sam_model_hvp(&ctx, &gen.model, w, &b, v, h2, work));
            CHECK_OK(sam_model_predict(&ctx, &gen.model, w, &b, o2, work));
            CHECK_NEAR(L1, L2, 1e-7, 1e-6);
            for (size_t k = 0; k < np; k++) { if (fabsf(g2[k]) > gmax) gmax = fabsf(g2[k]); if (fabsf(h2[k]) > hmax) hmax = fabsf(h2[k]); }
            CHECK(gmax > 0 && hmax > 0);
            for (size_t k = 0; k < np; k++) {
                CHECK_NEAR(g1[k], g2[k], 1e-5 * gmax, 0);
                CHECK_NEAR(h1[k], h2[k], 1e-5 * hmax, 0);
            }
            for (int i = 0; i < 6; i++) CHECK_NEAR(o1[i], o2[i], 1e-6, 1e-5);
        }
        b.idx = idx;
        T_FD_STABLE(ctx, &fast.model, w, &b, 2e-3, 2e-3, 2e-3, "cnn fast path");
        free(work); free(w); free(v); free(g1); free(g2); free(h1); free(h2);
        t_data_free(&D);
    }
    sam_ctx_free(&ctx);
}

/* ---- MLPs ---------------------------------------------------------------------- */

/* Builds config c of the MLP family used by the tests below. */
static void t_mlp_config(int c, sam_mlp_config *cf, size_t d) {
    switch (c) {
    case 0: sam_mlp_config_wen(cf, SAM_WEN_NOBIAS, d, 8); break;
    case 1: sam_mlp_config_wen(cf, SAM_WEN_BIAS, d, 8); cf->loss.kind = SAM_LOSS_LOGISTIC_LS; cf->loss.smoothing = 0.2f; break;
    case 2: sam_mlp_config_wen(cf, SAM_WEN_SBN, d, 8); cf->sbn_n = 12; break;
    case 3: sam_mlp_config_wen(cf, SAM_WEN_SLN, d, 8); cf->layer_scale[0] = 1.0f; break;
    case 4: sam_mlp_config_wen(cf, SAM_WEN_SLN, d, 8); cf->layer_scale[0] = 1e-4f; break; /* ‖h‖ < ε: linear */
    case 5: sam_mlp_config_wen(cf, SAM_WEN_BIAS3, d, 7); cf->loss.kind = SAM_LOSS_LOGISTIC; break;
    case 6: sam_mlp_config_default(cf, d, 9, 3); cf->loss.smoothing = 0.1f; break;
    case 7: sam_mlp_config_wen(cf, SAM_WEN_BIAS, d, 8); cf->act.kind = SAM_ACT_RELU_POW; cf->act.q = 2.0f; break;
    case 8: sam_mlp_config_wen(cf, SAM_WEN_SBN, d, 8); cf->sbn_n = 12; cf->act.kind = SAM_ACT_LEAKY; cf->act.alpha = 0.1f;
            cf->loss.kind = SAM_LOSS_LOGISTIC; break;
    case 9: sam_mlp_config_wen(cf, SAM_WEN_BIAS3, d, 6); cf->act.kind = SAM_ACT_RELU_POW; cf->act.q = 3.0f;
            cf->init = SAM_INIT_GAUSS; cf->init_sigma = 0.7f; cf->out_bias = 1; break;
    case 10: sam_mlp_config_default(cf, d, 8, 1); cf->norm = SAM_NORM_LN; cf->norm_eps = 1e-5f; break;
    default: sam_mlp_config_default(cf, d, 8, 1); cf->norm = SAM_NORM_BN; cf->norm_eps = 1e-5f; break;
    }
}
#define T_MLP_CONFIGS 12

static void test_nn_mlp_grad_hvp(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (int c = 0; c < T_MLP_CONFIGS; c++) {
        sam_mlp_config cf;
        sam_mlp net;
        sam_dataset D;
        sam_rng r;
        size_t idx[5] = {7, 2, 9, 2, 0}, d = 6;
        sam_batch b;
        double L, Lref;
        char what[64];
        t_mlp_config(c, &cf, d);
        CHECK_OK(sam_mlp_init(&ctx, &net, &cf));
        t_data_random(&D, 12, 1, d, cf.out_dim > 1 ? cf.out_dim : 2, 200 + (unsigned)c);
        if (cf.loss.kind == SAM_LOSS_MSE) for (size_t i = 0; i < D.n; i++) D.y[i] *= 0.7f;
        float *w = (float *)malloc(net.model.n_params * sizeof(float));
        b.data = &D; b.idx = idx; b.n = 5;
        for (unsigned ws = 5; ws < 40; ws++) { /* a point with a stable pattern along some direction */
            sam_rng_seed(&r, ws + (unsigned)c, SAM_STREAM_INIT);
            CHECK_OK(sam_mlp_init_params(&ctx, &net, &r, w));
            if (cf.norm == SAM_NORM_SBN) t_fill(77, net.dims[1], w + net.off_gamma); /* γ away from 1 */
            if (cf.init == SAM_INIT_GAUSS) /* zero biases would put exact zeros in Z */
                for (size_t l = 0; l < cf.n_layers; l++)
                    if (l + 1 < cf.n_layers ? cf.hidden_bias : cf.out_bias) t_fill(78 + (unsigned)l, net.dims[l + 1], w + net.off_b[l]);
            if (t_fd_stable(&ctx, &net.model, w, &b, 2e-3, 0).same_pattern) break;
        }
        {
            void *work = malloc(sam_model_work_bytes(&net.model, 5));
            CHECK_OK(sam_model_loss_grad(&ctx, &net.model, w, &b, &L, NULL, work));
            free(work);
        }
        Lref = t_mlp_ref_loss(&net, w, &b);
        CHECKF(fabs(L - Lref) <= 1e-6 + 1e-5 * fabs(Lref), "mlp config %d: loss %.9g, reference %.9g", c, L, Lref);
        snprintf(what, sizeof what, "mlp config %d", c);
        T_FD_STABLE(ctx, &net.model, w, &b, 2e-3, 2e-3, 3e-3, what);
        free(w);
        t_data_free(&D);
    }
    sam_ctx_free(&ctx);
}

/* Loss and gradient of every model agree across the ISAs of this CPU
 * (tolerance: 1e-5 relative on the loss, 1e-5 of max|g| per gradient entry;
 * the ISAs differ only in the sgemm/dot summation order). */
static void test_nn_models_isa_agree(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (int c = 0; c < T_MLP_CONFIGS + 3; c++) {
        sam_mlp_config mc;
        sam_mlp mnet;
        sam_cnn_config cc;
        sam_cnn cnet;
        const sam_model *m;
        sam_dataset D;
        sam_rng r;
        sam_batch b;
        size_t d = 17;
        if (c < T_MLP_CONFIGS) {
            t_mlp_config(c, &mc, d);
            mc.sbn_n = 40;
            sam_mlp_init(&ctx, &mnet, &mc);
            m = &mnet.model;
            t_data_random(&D, 40, 1, d, mc.out_dim > 1 ? mc.out_dim : 2, 300 + (unsigned)c);
        } else {
            sam_cnn_config_default(&cc);
            cc.patches = 3; cc.patch_dim = d; cc.width = 5;
            if (c == T_MLP_CONFIGS + 1) { cc.classes = 4; cc.loss.kind = SAM_LOSS_SOFTMAX_CE; }
            sam_cnn_init(&ctx, &cnet, &cc);
            m = &cnet.model;
            if (c == T_MLP_CONFIGS + 2) t_data_chen(&D, 40, 3, d, 5);
            else t_data_random(&D, 40, 3, d, cc.classes, 300 + (unsigned)c);
        }
        size_t np = m->n_params;
        float *w = (float *)malloc(np * 4), *g0 = (float *)malloc(np * 4), *g1 = (float *)malloc(np * 4);
        void *work = malloc(sam_model_work_bytes(m, 33));
        double L0 = 0, L1, gmax = 0;
        sam_rng_seed(&r, 1, SAM_STREAM_INIT);
        if (c < T_MLP_CONFIGS) sam_mlp_init_params(&ctx, &mnet, &r, w);
        else sam_cnn_init_params(&ctx, &cnet, &r, 0.3f, w);
        for (size_t bn = 1; bn <= 33; bn += bn == 1 ? 2 : 30) { /* few-rows path (1, 3) and sgemm path (33) */
        b.data = &D; b.idx = NULL; b.n = bn;
        sam_ctx_set_isa(&ctx, SAM_ISA_SCALAR);
        gmax = 0;
        CHECK_OK(sam_model_loss_grad(&ctx, m, w, &b, &L0, g0, work));
        for (size_t k = 0; k < np; k++) if (fabsf(g0[k]) > gmax) gmax = fabsf(g0[k]);
        FOR_EACH_ISA(ctx, isa) {
            CHECK_OK(sam_model_loss_grad(&ctx, m, w, &b, &L1, g1, work));
            CHECKF(fabs(L1 - L0) <= 1e-5 * fabs(L0) + 1e-7, "model %d isa %s: loss %.9g vs scalar %.9g", c, sam_isa_name((sam_isa)isa), L1, L0);
            double e = 0;
            for (size_t k = 0; k < np; k++) if (fabs((double)g1[k] - g0[k]) > e) e = fabs((double)g1[k] - g0[k]);
            CHECKF(e <= 1e-5 * gmax + 1e-7, "model %d isa %s batch %zu: grad max diff %g (max|g| %g)", c, sam_isa_name((sam_isa)isa), bn, e, gmax);
        }
        }
        free(w); free(g0); free(g1); free(work);
        t_data_free(&D);
    }
    sam_ctx_free(&ctx);
}

/* ---- traces and Wen et al.'s constructions ---------------------------------------- */

/* tr ∇²L = Σ_k e_kᵀ H e_k through the R-op (D HVPs). */
static double t_trace_by_hvp(sam_ctx *ctx, const sam_model *m, const float *w, const sam_batch *b) {
    size_t D = m->n_params;
    float *e = (float *)calloc(D, sizeof(float)), *hv = (float *)malloc(D * sizeof(float));
    void *work = malloc(sam_model_work_bytes(m, b->n));
    double tr = 0;
    for (size_t k = 0; k < D; k++) {
        e[k] = 1.0f;
        if (sam_model_hvp(ctx, m, w, b, e, hv, work) != SAM_OK) { tr = NAN; break; }
        tr += hv[k];
        e[k] = 0.0f;
    }
    free(e); free(hv); free(work);
    return tr;
}

static void test_nn_trace_closed_form_vs_hvp(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (int c = 0; c < 3; c++) {
        sam_mlp_config cf;
        sam_mlp net;
        sam_cnn_config cc;
        sam_cnn cnet;
        const sam_model *m;
        sam_dataset D;
        sam_rng r;
        sam_batch b;
        double tr_cf, tr_hvp;
        sam_rng_seed(&r, 3, SAM_STREAM_INIT);
        if (c < 2) {
            sam_mlp_config_wen(&cf, c == 0 ? SAM_WEN_BIAS : SAM_WEN_BIAS3, 5, 6);
            cf.loss.kind = c == 0 ? SAM_LOSS_LOGISTIC : SAM_LOSS_MSE;
            sam_mlp_init(&ctx, &net, &cf);
            m = &net.model;
            t_data_random(&D, 10, 1, 5, 2, 41);
        } else {
            sam_cnn_config_default(&cc);
            cc.patches = 2; cc.patch_dim = 6; cc.width = 3;
            sam_cnn_init(&ctx, &cnet, &cc);
            m = &cnet.model;
            t_data_random(&D, 10, 2, 6, 2, 42);
        }
        float *w = (float *)malloc(m->n_params * 4), *gbuf = (float *)malloc(m->n_params * 4);
        void *work = malloc(sam_model_work_bytes(m, 10));
        if (c < 2) sam_mlp_init_params(&ctx, &net, &r, w); else sam_cnn_init_params(&ctx, &cnet, &r, 0.5f, w);
        b.data = &D; b.idx = NULL; b.n = 10;
        CHECK_OK(sam_nn_trace_closed_form(&ctx, m, w, &b, &tr_cf, gbuf, work));
        tr_hvp = t_trace_by_hvp(&ctx, m, w, &b);
        CHECKF(tr_cf > 0 && fabs(tr_cf - tr_hvp) <= 1e-4 * tr_cf, "net %d: closed-form trace %.8g vs Σ eᵀHe %.8g", c, tr_cf, tr_hvp);
        free(w); free(gbuf); free(work);
        t_data_free(&D);
    }
    sam_ctx_free(&ctx);
}

static void test_nn_wen_constructions(void) {
    sam_ctx ctx;
    sam_dataset tr, te;
    const size_t d = 30, n = 100;
    const double bound = 4.0 * sqrt(d + 1.0); /* 22.27 */
    sam_batch btr, bte;
    sam_ctx_init(&ctx, NULL);
    t_data_parity(&tr, n, d, 1);
    t_data_parity(&te, 1000, d, 2);
    btr.data = &tr; btr.idx = NULL; btr.n = n;
    bte.data = &te; bte.idx = NULL; bte.n = te.n;
    CHECK_NEAR(bound, 22.27, 0.005, 0);
    for (int c = 0; c < 3; c++) {
        sam_mlp_config cf;
        sam_mlp net;
        size_t width = c == 0 ? n : 500;
        double L, trace, err_tr, err_te;
        sam_mlp_config_wen(&cf, c == 2 ? SAM_WEN_SLN : SAM_WEN_BIAS, d, width);
        CHECK_OK(sam_mlp_init(&ctx, &net, &cf));
        size_t np = net.model.n_params;
        float *w = (float *)malloc(np * 4), *gbuf = (float *)malloc(np * 4);
        size_t wb = sam_model_error_work_bytes(&net.model, te.n);
        if (sam_model_work_bytes(&net.model, n) > wb) wb = sam_model_work_bytes(&net.model, n);
        void *work = malloc(wb);
        if (c == 0) CHECK_OK(sam_wen_bias_memorize(&ctx, &net, &tr, 0.2f, w));
        if (c == 1) CHECK_OK(sam_wen_bias_generalize(&ctx, &net, w));
        if (c == 2) CHECK_OK(sam_wen_simln_generalize(&ctx, &net, w));
        CHECK_OK(sam_model_loss_grad(&ctx, &net.model, w, &btr, &L, NULL, work));
        CHECKF(L < 1e-9, "construction %d interpolates: train loss %g", c, L);
        CHECK_OK(sam_model_error(&ctx, &net.model, w, &btr, &err_tr, work));
        CHECK_OK(sam_model_error(&ctx, &net.model, w, &bte, &err_te, work));
        CHECK(err_tr == 0.0);
        if (c == 0) CHECKF(err_te > 0.95, "memorising net: test error %g should be ≈ 1", err_te);
        else CHECKF(err_te == 0.0, "generalising net %d: test error %g", c, err_te);
        if (c < 2) {
            CHECK_OK(sam_nn_trace_closed_form(&ctx, &net.model, w, &btr, &trace, gbuf, work));
            CHECK_NEAR(trace, bound, 0, 1e-4); /* float weights of size 1/ε: ~1e-5 rounding */
        } else {
            CHECK(sam_nn_trace_closed_form(&ctx, &net.model, w, &btr, &trace, gbuf, work) == SAM_ERR_UNSUPPORTED);
            CHECK_OK(sam_nn_trace_gn(&ctx, &net.model, w, &btr, &trace, gbuf, work));
            CHECK_NEAR(trace, 2.0, 0, 1e-5);
        }
        free(w); free(gbuf); free(work);
    }
    /* exact traces through the R-op on 4-neuron nets (D = 4·30 + 4 + 4) */
    for (int c = 0; c < 2; c++) {
        sam_mlp_config cf;
        sam_mlp net;
        sam_mlp_config_wen(&cf, c ? SAM_WEN_SLN : SAM_WEN_BIAS, d, 4);
        sam_mlp_init(&ctx, &net, &cf);
        float *w = (float *)malloc(net.model.n_params * 4);
        if (c) sam_wen_simln_generalize(&ctx, &net, w); else sam_wen_bias_generalize(&ctx, &net, w);
        CHECK_NEAR(t_trace_by_hvp(&ctx, &net.model, w, &btr), c ? 2.0 : bound, 0, 1e-4);
        free(w);
    }
    /* too narrow for the construction → error, w untouched */
    {
        sam_mlp_config cf;
        sam_mlp net;
        float w[200];
        sam_mlp_config_wen(&cf, SAM_WEN_BIAS, d, 3);
        sam_mlp_init(&ctx, &net, &cf);
        w[0] = 5.0f;
        CHECK(sam_wen_bias_generalize(&ctx, &net, w) == SAM_ERR_ARG && w[0] == 5.0f);
        CHECK(strstr(sam_ctx_message(&ctx), "width") != NULL);
    }
    t_data_free(&tr);
    t_data_free(&te);
    sam_ctx_free(&ctx);
}

/* ---- views, bad input --------------------------------------------------------------- */

static void test_nn_views(void) {
    sam_ctx ctx;
    sam_mlp_config cf;
    sam_mlp net;
    sam_cnn_config cc;
    sam_cnn cnet;
    size_t cnt;
    const sam_param_view *v;
    sam_ctx_init(&ctx, NULL);
    sam_mlp_config_wen(&cf, SAM_WEN_SBN, 30, 500);
    CHECK_OK(sam_mlp_init(&ctx, &net, &cf));
    v = sam_nn_views(&net.model, &cnt);
    CHECK(cnt == 4 && net.model.n_params == 16500);
    CHECK(strcmp(v[0].name, "W1") == 0 && v[0].offset == 0 && v[0].rows == 500 && v[0].cols == 30);
    CHECK(strcmp(v[1].name, "b1") == 0 && v[1].offset == 15000);
    CHECK(strcmp(v[2].name, "gamma1") == 0 && v[2].offset == 15500);
    CHECK(strcmp(v[3].name, "W2") == 0 && v[3].offset == 16000 && v[3].rows == 1 && v[3].cols == 500);
    sam_cnn_config_default(&cc);
    CHECK_OK(sam_cnn_init(&ctx, &cnet, &cc));
    v = sam_nn_views(&cnet.model, &cnt);
    CHECK(cnt == 2 && cnet.model.n_params == 20000 && v[1].offset == 10000 && strcmp(v[1].name, "filters-") == 0);
    CHECK(sam_nn_views(NULL, &cnt) == NULL && cnt == 0);
    sam_ctx_free(&ctx);
}

static void test_nn_bad_input(void) {
    sam_ctx ctx;
    sam_cnn_config cc;
    sam_cnn cnet;
    sam_mlp_config mc;
    sam_mlp mnet;
    sam_dataset D, D2;
    sam_batch b;
    size_t bad_idx[2] = {0, 99};
    double L = 123.0;
    float w[2 * 4 * 5], g[2 * 4 * 5], hv[40], v[40];
    void *work;
    sam_ctx_init(&ctx, NULL);
    sam_cnn_config_default(&cc);
    cc.patches = 2; cc.patch_dim = 5; cc.width = 4;
    CHECK_OK(sam_cnn_init(&ctx, &cnet, &cc));
    t_data_random(&D, 6, 2, 5, 2, 1);
    t_data_random(&D2, 6, 1, 10, 2, 1); /* same dim, wrong patching */
    t_fill(1, 40, w); t_fill(2, 40, v);
    work = malloc(sam_model_work_bytes(&cnet.model, 6));
    for (int k = 0; k < 40; k++) g[k] = hv[k] = -7.0f;
#define T_UNTOUCHED() do { CHECK(L == 123.0); int ok_ = 1; for (int k_ = 0; k_ < 40; k_++) ok_ &= g[k_] == -7.0f && hv[k_] == -7.0f; CHECK(ok_); } while (0)
    b.data = &D2; b.idx = NULL; b.n = 3;
    CHECK(sam_model_loss_grad(&ctx, &cnet.model, w, &b, &L, g, work) == SAM_ERR_ARG);
    CHECK(strstr(sam_ctx_message(&ctx), "patches") != NULL);
    b.data = &D; b.idx = bad_idx; b.n = 2;
    CHECK(sam_model_loss_grad(&ctx, &cnet.model, w, &b, &L, g, work) == SAM_ERR_ARG);
    CHECK(strstr(sam_ctx_message(&ctx), "idx") != NULL);
    CHECK(cnet.model.vt->hvp(cnet.model.self, &ctx, w, &b, v, hv, work) == SAM_ERR_ARG); /* direct call checks too */
    b.idx = NULL; b.n = 3;
    w[3] = NAN;
    CHECK(sam_model_loss_grad(&ctx, &cnet.model, w, &b, &L, g, work) == SAM_ERR_NONFINITE);
    CHECK(strstr(sam_ctx_message(&ctx), "w") != NULL);
    w[3] = 0.1f;
    v[5] = INFINITY;
    CHECK(sam_model_hvp(&ctx, &cnet.model, w, &b, v, hv, work) == SAM_ERR_NONFINITE);
    CHECK(strstr(sam_ctx_message(&ctx), "v") != NULL);
    v[5] = 0.1f;
    D.x[7] = NAN;
    CHECK(sam_model_loss_grad(&ctx, &cnet.model, w, &b, &L, g, work) == SAM_ERR_NONFINITE);
    CHECK(strstr(sam_ctx_message(&ctx), "data") != NULL);
    D.x[7] = 0.5f;
    D.y[1] = NAN;
    CHECK(sam_model_loss_grad(&ctx, &cnet.model, w, &b, &L, g, work) == SAM_ERR_NONFINITE);
    D.y[1] = 1.0f;
    CHECK(sam_model_loss_grad(&ctx, &cnet.model, w, &b, &L, g, NULL) == SAM_ERR_NULL);
    CHECK(strstr(sam_ctx_message(&ctx), "work") != NULL);
    b.n = 0;
    CHECK(sam_model_loss_grad(&ctx, &cnet.model, w, &b, &L, g, work) == SAM_ERR_ARG);
    T_UNTOUCHED();
    /* zero sizes at init */
    cc.width = 0;
    CHECK(sam_cnn_init(&ctx, &cnet, &cc) == SAM_ERR_ARG && strstr(sam_ctx_message(&ctx), "width"));
    cc.width = 4; cc.patches = 0;
    CHECK(sam_cnn_init(&ctx, &cnet, &cc) == SAM_ERR_ARG && strstr(sam_ctx_message(&ctx), "patches"));
    cc.patches = 2; cc.classes = 3; /* CE needed for K classes */
    CHECK(sam_cnn_init(&ctx, &cnet, &cc) == SAM_ERR_ARG && strstr(sam_ctx_message(&ctx), "loss"));
    cc.classes = 2; cc.patch_dim = (size_t)1 << 62; cc.width = 1 << 20;
    CHECK(sam_cnn_init(&ctx, &cnet, &cc) == SAM_ERR_SIZE);
    /* MLP: ε <= 0, zero width, label out of range, dims mismatch */
    sam_mlp_config_wen(&mc, SAM_WEN_SLN, 5, 4);
    mc.norm_eps = 0.0f;
    CHECK(sam_mlp_init(&ctx, &mnet, &mc) == SAM_ERR_ARG && strstr(sam_ctx_message(&ctx), "norm_eps"));
    mc.norm_eps = 1e-3f; mc.width[0] = 0;
    CHECK(sam_mlp_init(&ctx, &mnet, &mc) == SAM_ERR_ARG && strstr(sam_ctx_message(&ctx), "width"));
    sam_mlp_config_default(&mc, 10, 2, 3);
    CHECK_OK(sam_mlp_init(&ctx, &mnet, &mc));
    {
        float wm[64], gm[64];
        void *wk = malloc(sam_model_work_bytes(&mnet.model, 3));
        t_fill(3, 64, wm);
        for (int k = 0; k < 64; k++) gm[k] = -7.0f;
        b.data = &D; b.idx = NULL; b.n = 3;
        D.label[2] = 5;
        CHECK(sam_model_loss_grad(&ctx, &mnet.model, wm, &b, &L, gm, wk) == SAM_ERR_ARG);
        CHECK(strstr(sam_ctx_message(&ctx), "label") != NULL);
        D.label[2] = 1;
        sam_mlp_config_default(&mc, 7, 2, 3);
        sam_mlp_init(&ctx, &mnet, &mc);
        CHECK(sam_model_loss_grad(&ctx, &mnet.model, wm, &b, &L, gm, wk) == SAM_ERR_ARG);
        CHECK(strstr(sam_ctx_message(&ctx), "dim") != NULL);
        int ok = 1;
        for (int k = 0; k < 64; k++) ok &= gm[k] == -7.0f;
        CHECK(ok && L == 123.0);
        free(wk);
    }
    free(work);
    t_data_free(&D);
    t_data_free(&D2);
    sam_ctx_free(&ctx);
#undef T_UNTOUCHED
}

static void tests_nn(void) {
    RUN_TEST(test_nn_act_kernels_isa);
    RUN_TEST(test_nn_act_public);
    RUN_TEST(test_nn_dense_kernels_isa);
    RUN_TEST(test_nn_norm_layers);
    RUN_TEST(test_nn_norm_kernels_isa);
    RUN_TEST(test_nn_mlp_nonfinite_w);
    RUN_TEST(test_nn_cnn_nonfinite_w);
    RUN_TEST(test_nn_losses);
    RUN_TEST(test_nn_cnn_grad_hvp);
    RUN_TEST(test_nn_cnn_fast_path);
    RUN_TEST(test_nn_mlp_grad_hvp);
    RUN_TEST(test_nn_models_isa_agree);
    RUN_TEST(test_nn_trace_closed_form_vs_hvp);
    RUN_TEST(test_nn_wen_constructions);
    RUN_TEST(test_nn_views);
    RUN_TEST(test_nn_bad_input);
}
