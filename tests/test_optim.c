/* tests/test_optim.c — included by tests/run.c. Optimizers. */

/* ---- a quadratic objective with per-sample centres ---------------------------
 * L_B(w) = mean_{s∈B} ½ (w − c_s)ᵀ A (w − c_s), ∇L_B = A (w − c̄_B).
 * With no batch (b == NULL) c = 0: L = ½ wᵀAw. */
#define TQ_MAX 8
typedef struct tq {
    size_t n;
    double A[TQ_MAX * TQ_MAX];
    int calls;
    int nan_at;       /* call index that returns a NaN loss (-1: never) */
    int nan_grad_at;  /* call index that returns a NaN gradient entry   */
    int fail_at;      /* call index that returns SAM_ERR_ARG            */
    const sam_opt *watch;
    int pass[32], freeze[32];
    float last_w[TQ_MAX]; /* the point of the last call */
} tq;

static void tq_cbar(const tq *q, const sam_batch *b, double *c) {
    size_t i, s;
    for (i = 0; i < q->n; i++) c[i] = 0.0;
    if (!b || !b->data) return;
    for (s = 0; s < b->n; s++) {
        size_t id = b->idx ? b->idx[s] : s;
        for (i = 0; i < q->n; i++) c[i] += (double)b->data->x[id * b->data->dim + i];
    }
    for (i = 0; i < q->n; i++) c[i] /= (double)b->n;
}

static sam_status tq_lg(void *u, const float *w, const sam_batch *b, double *loss, float *grad) {
    tq *q = (tq *)u;
    size_t i, j, s, ns = (b && b->data) ? b->n : 1;
    double c[TQ_MAX], l = 0.0;
    int k = q->calls++;
    if (q->watch && k < 32) { q->pass[k] = q->watch->pass; q->freeze[k] = q->watch->freeze_norm_stats; }
    if (k == q->fail_at) return SAM_ERR_ARG;
    memcpy(q->last_w, w, q->n * sizeof(float));
    for (s = 0; s < ns; s++) {
        double d[TQ_MAX];
        size_t id = (b && b->data) ? (b->idx ? b->idx[s] : s) : 0;
        for (i = 0; i < q->n; i++) d[i] = (double)w[i] - ((b && b->data) ? (double)b->data->x[id * b->data->dim + i] : 0.0);
        for (i = 0; i < q->n; i++)
            for (j = 0; j < q->n; j++) l += 0.5 * d[i] * q->A[i * q->n + j] * d[j];
    }
    *loss = l / (double)ns;
    if (grad) {
        tq_cbar(q, b, c);
        for (i = 0; i < q->n; i++) {
            double a = 0.0;
            for (j = 0; j < q->n; j++) a += q->A[i * q->n + j] * ((double)w[j] - c[j]);
            grad[i] = (float)a;
        }
        if (k == q->nan_grad_at) grad[q->n - 1] = (float)NAN;
    }
    if (k == q->nan_at) *loss = (double)NAN;
    return SAM_OK;
}

static void tq_init(tq *q, size_t n, unsigned seed) {
    float B[TQ_MAX * TQ_MAX];
    size_t i, j, k;
    memset(q, 0, sizeof *q);
    q->n = n;
    q->nan_at = q->nan_grad_at = q->fail_at = -1;
    t_fill(seed, n * n, B);
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) {
            double a = i == j ? 0.5 : 0.0;
            for (k = 0; k < n; k++) a += 0.5 * (double)B[k * n + i] * (double)B[k * n + j];
            q->A[i * n + j] = a;
        }
}

/* Double reference gradient of the objective incl. λ x (decay in the loss). */
static void tq_ref_grad(const tq *q, const double *x, const double *c, double lam, double *g) {
    size_t i, j;
    for (i = 0; i < q->n; i++) {
        double a = 0.0;
        for (j = 0; j < q->n; j++) a += q->A[i * q->n + j] * (x[j] - (c ? c[j] : 0.0));
        g[i] = a + lam * x[i];
    }
}

static double tq_norm(size_t n, const double *x) {
    double s = 0.0;
    size_t i;
    for (i = 0; i < n; i++) s += x[i] * x[i];
    return sqrt(s);
}

/* A small data set of centres for the quadratic. */
typedef struct tds { sam_dataset d; float x[64 * TQ_MAX]; float y[64]; } tds;
static void tds_init(tds *t, size_t n, size_t dim, unsigned seed) {
    size_t i;
    memset(t, 0, sizeof *t);
    t_fill(seed, n * dim, t->x);
    for (i = 0; i < n; i++) t->y[i] = 1.0f;
    t->d.n = n; t->d.patches = 1; t->d.patch_dim = dim; t->d.dim = dim; t->d.classes = 2;
    t->d.x = t->x; t->d.y = t->y; t->d.bayes_risk = -1;
}

static int t_same_bits(size_t n, const float *a, const float *b) { return memcmp(a, b, n * sizeof(float)) == 0; }

static sam_opt_config t_cfg(sam_opt_method m, double lr, double rho) {
    sam_opt_config c;
    sam_opt_config_default(&c);
    c.method = m;
    c.lr = lr;
    c.rho = rho;
    return c;
}

/* Run `steps` sam_opt_step calls on batch b (or NULL); returns status of the first failure. */
static sam_status t_run(sam_ctx *ctx, const sam_opt_config *c, tq *q, float *w, const sam_batch *b, int steps,
                        sam_opt_info *last) {
    sam_model m;
    sam_opt o;
    sam_status st;
    int s;
    sam_model_callbacks(&m, q->n, tq_lg, NULL, q);
    if ((st = sam_opt_init(ctx, &o, c, &m, NULL, 0))) return st;
    for (s = 0; s < steps; s++)
        if ((st = sam_opt_step(ctx, &o, &m, w, b, last))) break;
    sam_opt_free(&o);
    return st;
}

/* ---- kernels vs scalar ----------------------------------------------------------- */

static void test_optim_kernels_vs_scalar(void) {
    static const size_t sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 255, 256, 257};
    sam_ctx ctx;
    size_t si;
    sam_ctx_init(&ctx, NULL);
    for (si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si], i;
        float *w0 = t_alloc_off(n), *g = t_alloc_off(n), *m0 = t_alloc_off(n), *v0 = t_alloc_off(n);
        float *mask = t_alloc_off(n), *e0 = t_alloc_off(n);
        float *wr = t_alloc_off(n), *mr = t_alloc_off(n), *vr = t_alloc_off(n), *er = t_alloc_off(n), *ar = t_alloc_off(n);
        float *wx = t_alloc_off(n), *mx = t_alloc_off(n), *vx = t_alloc_off(n), *ex = t_alloc_off(n), *ax = t_alloc_off(n);
        t_fill(1, n, w0); t_fill(2, n, g); t_fill(3, n, m0); t_fill(4, n, v0); t_fill(5, n, e0);
        for (i = 0; i < n; i++) { v0[i] = fabsf(v0[i]); mask[i] = (i % 3 == 1) ? 0.0f : 1.0f; }
        FOR_EACH_ISA(ctx, isa) {
            int variant;
            for (variant = 0; variant < 3; variant++) {
                memcpy(wr, w0, n * 4); memcpy(mr, m0, n * 4); memcpy(wx, w0, n * 4); memcpy(mx, m0, n * 4);
                sam__opt_sgd_f32_scalar(n, 0.1f, 0.9f, variant == 2, wr, g, variant ? mr : NULL);
                sam__opt_sgd_impl[isa](n, 0.1f, 0.9f, variant == 2, wx, g, variant ? mx : NULL);
                for (i = 0; i < n; i++) { CHECK_NEAR(wx[i], wr[i], 1e-6, 1e-6); CHECK_NEAR(mx[i], mr[i], 1e-6, 1e-6); }
            }
            memcpy(wr, w0, n * 4); memcpy(mr, m0, n * 4); memcpy(vr, v0, n * 4);
            memcpy(wx, w0, n * 4); memcpy(mx, m0, n * 4); memcpy(vx, v0, n * 4);
            sam__opt_adam_f32_scalar(n, 0.01f, 0.9f, 0.1f, 0.999f, 0.001f, 1.3f, 1e-8f, wr, g, mr, vr);
            sam__opt_adam_impl[isa](n, 0.01f, 0.9f, 0.1f, 0.999f, 0.001f, 1.3f, 1e-8f, wx, g, mx, vx);
            for (i = 0; i < n; i++) {
                CHECK_NEAR(wx[i], wr[i], 1e-6, 1e-5); CHECK_NEAR(mx[i], mr[i], 1e-7, 1e-6);
                CHECK_NEAR(vx[i], vr[i], 1e-7, 1e-6);
            }
            for (variant = 0; variant < 2; variant++) {
                memcpy(er, e0, n * 4); memcpy(ex, e0, n * 4);
                sam__opt_ascent_f32_scalar(n, 0.37f, w0, g, er, ar, variant);
                sam__opt_ascent_impl[isa](n, 0.37f, w0, g, ex, ax, variant);
                CHECK(t_same_bits(n, ex, er)); /* no FMA: bit-identical on every ISA */
                CHECK(t_same_bits(n, ax, ar));
            }
            for (variant = 0; variant < 4; variant++) {
                const float *mk = (variant & 1) ? mask : NULL;
                double sr = sam__opt_asam_sumsq_f32_scalar(n, 0.01f, mk, w0, g);
                double sx = sam__opt_asam_sumsq_impl[isa](n, 0.01f, mk, w0, g);
                CHECK_NEAR(sx, sr, 1e-9, 1e-6);
                memcpy(er, e0, n * 4); memcpy(ex, e0, n * 4);
                sam__opt_asam_ascent_f32_scalar(n, 0.3f, 0.01f, mk, w0, g, er, ar, variant >> 1);
                sam__opt_asam_ascent_impl[isa](n, 0.3f, 0.01f, mk, w0, g, ex, ax, variant >> 1);
                CHECK(t_same_bits(n, ex, er));
                CHECK(t_same_bits(n, ax, ar));
            }
            memcpy(wr, m0, n * 4); memcpy(wx, m0, n * 4);
            sam__opt_maxpy_f32_scalar(n, 0.3f, mask, g, wr);
            sam__opt_maxpy_impl[isa](n, 0.3f, mask, g, wx);
            for (i = 0; i < n; i++) CHECK_NEAR(wx[i], wr[i], 1e-6, 1e-6);
            for (i = 0; i < n; i++) if (mask[i] == 0.0f) CHECK(wx[i] == m0[i]);
        }
        t_free_off(w0); t_free_off(g); t_free_off(m0); t_free_off(v0); t_free_off(mask); t_free_off(e0);
        t_free_off(wr); t_free_off(mr); t_free_off(vr); t_free_off(er); t_free_off(ar);
        t_free_off(wx); t_free_off(mx); t_free_off(vx); t_free_off(ex); t_free_off(ax);
    }
    sam_ctx_free(&ctx);
}

/* ---- closed-form steps on quadratics -------------------------------------------- */

/* SGD (plain, momentum, Nesterov) for three steps against a double reference. */
static void test_optim_quad_sgd_momentum(void) {
    sam_ctx ctx;
    int variant;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        for (variant = 0; variant < 3; variant++) {
            tq q;
            float w[4];
            double wd[4], buf[4] = {0, 0, 0, 0}, g[4];
            size_t i;
            int s;
            sam_opt_config c = t_cfg(SAM_METHOD_NONE, 0.1, 0.0);
            tq_init(&q, 4, 11);
            t_fill(12, 4, w);
            for (i = 0; i < 4; i++) wd[i] = w[i];
            c.momentum = variant ? 0.9 : 0.0;
            c.nesterov = variant == 2;
            CHECK_OK(t_run(&ctx, &c, &q, w, NULL, 3, NULL));
            for (s = 0; s < 3; s++) {
                tq_ref_grad(&q, wd, NULL, 0.0, g);
                for (i = 0; i < 4; i++) {
                    double d = g[i];
                    if (variant) { buf[i] = 0.9 * buf[i] + g[i]; d = variant == 2 ? g[i] + 0.9 * buf[i] : buf[i]; }
                    wd[i] -= 0.1 * d;
                }
            }
            for (i = 0; i < 4; i++) CHECK_NEAR(w[i], wd[i], 1e-6, 1e-5);
        }
    }
    sam_ctx_free(&ctx);
}

/* SAM with both weight-decay placements, momentum 0.5, two steps. */
static void test_optim_quad_sam_weight_decay(void) {
    sam_ctx ctx;
    int mode;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        for (mode = 0; mode < 2; mode++) {
            tq q;
            float w[5];
            double wd[5], g[5], e[5], x[5], g2[5], buf[5] = {0}, lam = 0.3, rho = 0.2, lr = 0.05, gn;
            size_t i;
            int s;
            sam_opt_config c = t_cfg(SAM_METHOD_SAM, lr, rho);
            tq_init(&q, 5, 21);
            t_fill(22, 5, w);
            for (i = 0; i < 5; i++) wd[i] = w[i];
            c.weight_decay = lam;
            c.wd_mode = mode ? SAM_WD_IN_STEP : SAM_WD_IN_LOSS;
            c.momentum = 0.5;
            CHECK_OK(t_run(&ctx, &c, &q, w, NULL, 2, NULL));
            for (s = 0; s < 2; s++) {
                tq_ref_grad(&q, wd, NULL, mode ? 0.0 : lam, g);   /* in the loss: λw at w */
                gn = tq_norm(5, g);
                for (i = 0; i < 5; i++) { e[i] = rho * g[i] / gn; x[i] = wd[i] + e[i]; }
                tq_ref_grad(&q, x, NULL, mode ? 0.0 : lam, g2);   /* ... and λ(w+ε) at w+ε */
                for (i = 0; i < 5; i++) {
                    double d = g2[i] + (mode ? lam * wd[i] : 0.0);  /* in the step: λw only here */
                    buf[i] = 0.5 * buf[i] + d;
                    wd[i] -= lr * buf[i];
                }
            }
            for (i = 0; i < 5; i++) CHECK_NEAR(w[i], wd[i], 2e-6, 2e-5);
        }
    }
    sam_ctx_free(&ctx);
}

/* decay_weights_only: λ acts on mask-1 entries only, in both placements;
 * sam_opt_reset returns to the initial state. */
static void test_optim_quad_decay_mask(void) {
    sam_ctx ctx;
    int mode;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        for (mode = 0; mode < 2; mode++) {
            tq q;
            sam_model m;
            sam_opt o;
            uint8_t mask[4] = {1, 0, 1, 0};
            float w[4], wr[4];
            double wd[4], g[4], lam = 0.5, lr = 0.1;
            size_t i;
            sam_opt_config c = t_cfg(SAM_METHOD_NONE, lr, 0.0);
            c.weight_decay = lam; c.wd_mode = (sam_wd_mode)mode; c.weight_mask = mask; c.decay_weights_only = 1;
            c.momentum = 0.5;
            tq_init(&q, 4, 251);
            sam_model_callbacks(&m, 4, tq_lg, NULL, &q);
            t_fill(252, 4, w);
            memcpy(wr, w, sizeof w);
            for (i = 0; i < 4; i++) wd[i] = w[i];
            CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
            CHECK_OK(sam_opt_step(&ctx, &o, &m, w, NULL, NULL));
            tq_ref_grad(&q, wd, NULL, 0.0, g);
            for (i = 0; i < 4; i++) CHECK_NEAR(w[i], wd[i] - lr * (g[i] + (mask[i] ? lam * wd[i] : 0.0)), 1e-6, 1e-5);
            sam_opt_reset(&o);
            CHECK(o.t == 0 && o.mom[0] == 0.0f);
            CHECK_OK(sam_opt_step(&ctx, &o, &m, wr, NULL, NULL));
            CHECK(t_same_bits(4, w, wr)); /* after reset: the same first step */
            sam_opt_free(&o);
        }
    }
    sam_ctx_free(&ctx);
}

/* Adam and AdamW (decoupled) with SAM, three steps. */
static void test_optim_quad_adam(void) {
    sam_ctx ctx;
    int adamw;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        for (adamw = 0; adamw < 2; adamw++) {
            tq q;
            float w[4];
            double wd[4], g[4], x[4], m[4] = {0}, v[4] = {0}, lam = 0.1, lr = 0.01, rho = 0.05, gn, b1 = 0.9, b2 = 0.999;
            size_t i;
            int s;
            sam_opt_config c = t_cfg(SAM_METHOD_SAM, lr, rho);
            c.base = adamw ? SAM_BASE_ADAMW : SAM_BASE_ADAM;
            c.weight_decay = lam;
            c.wd_mode = SAM_WD_IN_STEP; /* Adam: L2 added to the final gradient; AdamW: decoupled */
            tq_init(&q, 4, 31);
            t_fill(32, 4, w);
            for (i = 0; i < 4; i++) wd[i] = w[i];
            CHECK_OK(t_run(&ctx, &c, &q, w, NULL, 3, NULL));
            for (s = 1; s <= 3; s++) {
                tq_ref_grad(&q, wd, NULL, 0.0, g);
                gn = tq_norm(4, g);
                for (i = 0; i < 4; i++) x[i] = wd[i] + rho * g[i] / gn;
                tq_ref_grad(&q, x, NULL, 0.0, g);
                for (i = 0; i < 4; i++) {
                    double gi = g[i] + (adamw ? 0.0 : lam * wd[i]);
                    if (adamw) wd[i] -= lr * lam * wd[i];
                    m[i] = b1 * m[i] + (1 - b1) * gi;
                    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                    wd[i] -= lr * (m[i] / (1 - pow(b1, s))) / (sqrt(v[i] / (1 - pow(b2, s))) + 1e-8);
                }
            }
            for (i = 0; i < 4; i++) CHECK_NEAR(w[i], wd[i], 1e-6, 1e-5);
        }
    }
    sam_ctx_free(&ctx);
}

/* ASAM (with a bias entry), N-step SAM (plain, ball, sphere), GSAM, one step each. */
static void test_optim_quad_variants(void) {
    sam_ctx ctx;
    int variant;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        for (variant = 0; variant < 6; variant++) {
            tq q;
            float w[5];
            uint8_t mask[5] = {1, 1, 0, 1, 1};
            double wd[5], g[5], x[5], e[5] = {0}, g2[5], rho = 0.3, lr = 0.1, eta = 0.05, alpha = 0.4;
            size_t i;
            int k;
            sam_opt_config c = t_cfg(SAM_METHOD_SAM, lr, rho);
            tq_init(&q, 5, 41);
            t_fill(42, 5, w);
            for (i = 0; i < 5; i++) wd[i] = w[i];
            if (variant == 0) { c.method = SAM_METHOD_ASAM; c.asam_eta = eta; c.weight_mask = mask; }
            if (variant >= 1 && variant <= 3) { c.ascent_steps = 3; c.ascent_projection = (sam_ascent_projection)(variant - 1); }
            if (variant == 4) { c.method = SAM_METHOD_GSAM; c.gsam_alpha = alpha; }
            if (variant == 5) { c.method = SAM_METHOD_ASAM; c.asam_eta = eta; c.ascent_steps = 2; }
            CHECK_OK(t_run(&ctx, &c, &q, w, NULL, 1, NULL));
            tq_ref_grad(&q, wd, NULL, 0.0, g);
            if (variant == 0 || variant == 5) {
                int N = variant == 5 ? 2 : 1;
                double Tw[5], tg[5];
                for (i = 0; i < 5; i++) Tw[i] = (variant == 5 || mask[i]) ? fabs(wd[i]) + eta : 1.0;
                for (i = 0; i < 5; i++) x[i] = wd[i];
                for (k = 0; k < N; k++) {
                    double tn;
                    tq_ref_grad(&q, x, NULL, 0.0, g);
                    for (i = 0; i < 5; i++) tg[i] = Tw[i] * g[i];
                    tn = tq_norm(5, tg);
                    for (i = 0; i < 5; i++) { e[i] += (rho / N) * Tw[i] * Tw[i] * g[i] / tn; x[i] = wd[i] + e[i]; }
                }
            } else if (variant >= 1 && variant <= 3) {
                double en;
                for (i = 0; i < 5; i++) x[i] = wd[i];
                for (k = 0; k < 3; k++) {
                    double gn;
                    tq_ref_grad(&q, x, NULL, 0.0, g);
                    gn = tq_norm(5, g);
                    for (i = 0; i < 5; i++) { e[i] += (rho / 3) * g[i] / gn; x[i] = wd[i] + e[i]; }
                }
                en = tq_norm(5, e);
                if ((variant == 2 && en > rho) || variant == 3)
                    for (i = 0; i < 5; i++) { e[i] *= rho / en; x[i] = wd[i] + e[i]; }
            } else {
                double gn = tq_norm(5, g);
                for (i = 0; i < 5; i++) x[i] = wd[i] + rho * g[i] / gn;
            }
            tq_ref_grad(&q, x, NULL, 0.0, g2);
            if (variant == 4) {
                double dot = 0, n2 = 0;
                for (i = 0; i < 5; i++) { dot += g[i] * g2[i]; n2 += g2[i] * g2[i]; }
                for (i = 0; i < 5; i++) g2[i] -= alpha * (g[i] - dot / n2 * g2[i]);
            }
            for (i = 0; i < 5; i++) CHECKF(fabs(w[i] - (wd[i] - lr * g2[i])) <= 2e-6 + 2e-5 * fabs(wd[i]),
                                           "variant %d i %zu: %g vs %g", variant, i, (double)w[i], wd[i] - lr * g2[i]);
        }
    }
    sam_ctx_free(&ctx);
}

/* Rand-SAM: the direction is reproducible from the seed's stream. */
static void test_optim_quad_randsam(void) {
    sam_ctx ctx;
    int scale;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        for (scale = 0; scale < 2; scale++) {
            tq q;
            float w[6], u[6];
            double wd[6], x[6], g2[6], un, rho = 0.25, lr = 0.1;
            size_t i;
            int s;
            sam_rng r;
            sam_opt_info info;
            sam_opt_config c = t_cfg(SAM_METHOD_RANDSAM, lr, rho);
            c.seed = 77;
            c.rand_scale_by_w = scale;
            c.asam_eta = 0.1;
            tq_init(&q, 6, 51);
            t_fill(52, 6, w);
            for (i = 0; i < 6; i++) wd[i] = w[i];
            CHECK_OK(t_run(&ctx, &c, &q, w, NULL, 2, &info));
            CHECK(info.gradients == 1);
            CHECK(q.calls == 2);
            sam_rng_seed(&r, 77, SAM_STREAM_DIRECTIONS);
            for (s = 0; s < 2; s++) { /* each step draws fresh directions from the saved stream */
                float wf[6];
                for (i = 0; i < 6; i++) wf[i] = (float)wd[i];
                sam_rng_fill_gauss(&r, 6, u, 0.0f, 1.0f);
                if (scale) for (i = 0; i < 6; i++) u[i] = u[i] * (fabsf(wf[i]) + 0.1f);
                un = 0;
                for (i = 0; i < 6; i++) un += (double)u[i] * u[i];
                un = sqrt(un);
                for (i = 0; i < 6; i++) x[i] = wd[i] + rho * u[i] / un;
                tq_ref_grad(&q, x, NULL, 0.0, g2);
                for (i = 0; i < 6; i++) wd[i] -= lr * g2[i];
            }
            for (i = 0; i < 6; i++) CHECK_NEAR(w[i], wd[i], 2e-6, 2e-5);
            CHECK_NEAR(info.eps_norm, rho, 1e-6, 1e-5);
        }
    }
    sam_ctx_free(&ctx);
}

/* m-sharpness: one ε per group of m (last group smaller), weighted mean. */
static void test_optim_quad_msharpness(void) {
    sam_ctx ctx;
    tq q;
    tds ds;
    float w[3];
    double wd[3], acc[3] = {0}, rho = 0.2, lr = 0.1;
    size_t idx[7] = {6, 0, 3, 2, 5, 1, 4}, i, j;
    sam_batch b;
    sam_opt_info info;
    sam_opt_config c = t_cfg(SAM_METHOD_SAM, lr, rho);
    sam_ctx_init(&ctx, NULL);
    c.samples_per_perturbation = 3;
    tq_init(&q, 3, 61);
    tds_init(&ds, 7, 3, 62);
    t_fill(63, 3, w);
    for (i = 0; i < 3; i++) wd[i] = w[i];
    b.data = &ds.d; b.idx = idx; b.n = 7;
    CHECK_OK(t_run(&ctx, &c, &q, w, &b, 1, &info));
    CHECK(info.gradients == 6);
    for (j = 0; j < 3; j++) {
        size_t cnt = j < 2 ? 3 : 1;
        sam_batch sb;
        double cb[3], g[3], x[3], g2[3], gn;
        sb.data = &ds.d; sb.idx = idx + 3 * j; sb.n = cnt;
        tq_cbar(&q, &sb, cb);
        tq_ref_grad(&q, wd, cb, 0.0, g);
        gn = tq_norm(3, g);
        for (i = 0; i < 3; i++) x[i] = wd[i] + rho * g[i] / gn;
        tq_ref_grad(&q, x, cb, 0.0, g2);
        for (i = 0; i < 3; i++) acc[i] += (double)cnt / 7.0 * g2[i];
    }
    for (i = 0; i < 3; i++) CHECK_NEAR(w[i], wd[i] - lr * acc[i], 2e-6, 2e-5);
    {   /* idx == NULL (samples 0..n-1) equals the explicit identity order */
        size_t id[7] = {0, 1, 2, 3, 4, 5, 6};
        float w1[3], w2[3];
        t_fill(64, 3, w1);
        memcpy(w2, w1, sizeof w1);
        b.idx = NULL;
        CHECK_OK(t_run(&ctx, &c, &q, w1, &b, 2, NULL));
        b.idx = id;
        CHECK_OK(t_run(&ctx, &c, &q, w2, &b, 2, NULL));
        CHECK(t_same_bits(3, w1, w2));
    }
    sam_ctx_free(&ctx);
}

/* Friendly-SAM (2 steps: the EMA enters at step 2) and LookSAM (k = 2). */
static void test_optim_quad_fsam_looksam(void) {
    sam_ctx ctx;
    int method;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        for (method = 0; method < 2; method++) {
            tq q;
            float w[4];
            double wd[4], g[4], x[4], g2[4], mm[4], gv[4], rho = 0.2, lr = 0.1, sig = 0.6, lam = 0.8, al = 0.5, gn;
            size_t i;
            int s;
            sam_opt_info info;
            sam_opt_config c = t_cfg(method ? SAM_METHOD_LOOKSAM : SAM_METHOD_FSAM, lr, rho);
            c.fsam_sigma = sig; c.fsam_lambda = lam; c.looksam_k = 2; c.looksam_alpha = al;
            tq_init(&q, 4, 71);
            t_fill(72, 4, w);
            for (i = 0; i < 4; i++) wd[i] = w[i];
            CHECK_OK(t_run(&ctx, &c, &q, w, NULL, 3, &info));
            CHECK(q.calls == (method ? 5 : 6)); /* LookSAM: 2 + 1 + 2 gradients */
            for (s = 0; s < 3; s++) {
                tq_ref_grad(&q, wd, NULL, 0.0, g);
                gn = tq_norm(4, g);
                if (method == 1 && s == 1) {
                    double gvn = tq_norm(4, gv);
                    for (i = 0; i < 4; i++) wd[i] -= lr * (g[i] + al * gn / gvn * gv[i]);
                    continue;
                }
                if (method == 0 && s > 0) {
                    double d[4], dn;
                    for (i = 0; i < 4; i++) d[i] = g[i] - sig * mm[i];
                    dn = tq_norm(4, d);
                    for (i = 0; i < 4; i++) x[i] = wd[i] + rho * d[i] / dn;
                } else {
                    for (i = 0; i < 4; i++) x[i] = wd[i] + rho * g[i] / gn;
                }
                tq_ref_grad(&q, x, NULL, 0.0, g2);
                if (method == 0) for (i = 0; i < 4; i++) mm[i] = s == 0 ? g[i] : lam * mm[i] + (1 - lam) * g[i];
                if (method == 1) {
                    double dot = 0;
                    for (i = 0; i < 4; i++) dot += g2[i] * g[i];
                    for (i = 0; i < 4; i++) gv[i] = g2[i] - dot / (gn * gn) * g[i];
                }
                for (i = 0; i < 4; i++) wd[i] -= lr * g2[i];
            }
            for (i = 0; i < 4; i++) CHECK_NEAR(w[i], wd[i], 3e-6, 3e-5);
        }
    }
    sam_ctx_free(&ctx);
}

/* ESAM: SWP mask from the direction stream, SDS on the top-γ loss rises. */
static void test_optim_quad_esam(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        tq q;
        tds ds;
        float w[5];
        double wd[5], g[5], e[5], x[5], g2[5], gn, rho = 0.3, lr = 0.1, beta = 0.6, rise[6];
        size_t idx[6] = {5, 2, 0, 4, 1, 3}, sel[6], i, j, k = 0;
        sam_batch b;
        sam_rng r;
        sam_opt_info info;
        sam_opt_config c = t_cfg(SAM_METHOD_ESAM, lr, rho);
        c.esam_beta = beta; c.esam_gamma = 0.5; c.batch_size = 6; c.seed = 8;
        tq_init(&q, 5, 211);
        tds_init(&ds, 6, 5, 212);
        t_fill(213, 5, w);
        for (i = 0; i < 5; i++) wd[i] = w[i];
        b.data = &ds.d; b.idx = idx; b.n = 6;
        CHECK_OK(t_run(&ctx, &c, &q, w, &b, 1, &info));
        CHECK(info.perturbed == 1);
        {
            double cb[5];
            tq_cbar(&q, &b, cb);
            tq_ref_grad(&q, wd, cb, 0.0, g);
        }
        gn = tq_norm(5, g);
        sam_rng_seed(&r, 8, SAM_STREAM_DIRECTIONS);
        for (i = 0; i < 5; i++) {
            e[i] = rho * g[i] / gn / beta;
            if (!(sam_rng_uniformf(&r) < (float)beta)) e[i] = 0.0;
            x[i] = wd[i] + e[i];
        }
        for (j = 0; j < 6; j++) { /* per-sample loss rise ½dᵀAd at x minus at w */
            double l[2];
            int p;
            for (p = 0; p < 2; p++) {
                const double *pt = p ? x : wd;
                double d[5], a = 0;
                size_t u, v;
                for (u = 0; u < 5; u++) d[u] = pt[u] - ds.x[idx[j] * 5 + u];
                for (u = 0; u < 5; u++) for (v = 0; v < 5; v++) a += 0.5 * d[u] * q.A[u * 5 + v] * d[v];
                l[p] = a;
            }
            rise[j] = l[1] - l[0];
        }
        for (j = 0; j < 6; j++) {
            size_t rank = 0, u;
            for (u = 0; u < 6; u++) if (rise[u] > rise[j]) rank++;
            if (rank < 3) sel[k++] = idx[j];
        }
        CHECK(k == 3);
        {
            sam_batch sb;
            double cs[5];
            sb.data = &ds.d; sb.idx = sel; sb.n = k;
            tq_cbar(&q, &sb, cs);
            tq_ref_grad(&q, x, cs, 0.0, g2);
        }
        for (i = 0; i < 5; i++) CHECK_NEAR(w[i], wd[i] - lr * g2[i], 2e-6, 2e-5);
        CHECK(q.calls == 1 + 12 + 1);
    }
    sam_ctx_free(&ctx);
}

/* MSAM: ε = −ρ v/‖v‖ from the momentum; the first step (v = 0) is plain SGD. */
static void test_optim_quad_msam(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        tq q;
        float w[4];
        double wd[4], v[4] = {0}, x[4], g[4], rho = 0.2, lr = 0.1, mu = 0.9, vn;
        size_t i;
        int s;
        sam_opt_info info;
        sam_opt_config c = t_cfg(SAM_METHOD_MSAM, lr, rho);
        c.momentum = mu;
        tq_init(&q, 4, 221);
        t_fill(222, 4, w);
        for (i = 0; i < 4; i++) wd[i] = w[i];
        CHECK_OK(t_run(&ctx, &c, &q, w, NULL, 3, &info));
        CHECK(q.calls == 3 && info.gradients == 1 && info.perturbed == 1);
        for (s = 0; s < 3; s++) {
            vn = tq_norm(4, v);
            for (i = 0; i < 4; i++) x[i] = vn > 0 ? wd[i] - rho * v[i] / vn : wd[i];
            tq_ref_grad(&q, x, NULL, 0.0, g);
            for (i = 0; i < 4; i++) { v[i] = mu * v[i] + g[i]; wd[i] -= lr * v[i]; }
        }
        for (i = 0; i < 4; i++) CHECK_NEAR(w[i], wd[i], 2e-6, 2e-5);
    }
    sam_ctx_free(&ctx);
}

/* Clipping by global norm; accumulation of two half batches = one full step. */
static void test_optim_quad_clip_accumulate(void) {
    sam_ctx ctx;
    tq q;
    tds ds;
    float w[3], w2[3];
    double wd[3], g[3], gn, clip = 0.05;
    size_t i, idx[6] = {0, 1, 2, 3, 4, 5};
    sam_batch full, h1, h2;
    sam_model m;
    sam_opt o;
    sam_opt_info info;
    sam_opt_config c = t_cfg(SAM_METHOD_NONE, 0.5, 0.0);
    sam_ctx_init(&ctx, NULL);
    tq_init(&q, 3, 81);
    tds_init(&ds, 6, 3, 82);
    t_fill(83, 3, w);
    for (i = 0; i < 3; i++) wd[i] = w[i];
    c.clip_norm = clip;
    CHECK_OK(t_run(&ctx, &c, &q, w, NULL, 1, &info));
    tq_ref_grad(&q, wd, NULL, 0.0, g);
    gn = tq_norm(3, g);
    CHECK(gn > clip);
    CHECK_NEAR(info.final_grad_norm, gn, 1e-6, 1e-5);
    for (i = 0; i < 3; i++) CHECK_NEAR(w[i], wd[i] - 0.5 * clip * g[i] / gn, 1e-6, 1e-5);
    /* accumulation */
    full.data = h1.data = h2.data = &ds.d;
    full.idx = idx; full.n = 6; h1.idx = idx; h1.n = 4; h2.idx = idx + 4; h2.n = 2;
    c = t_cfg(SAM_METHOD_NONE, 0.5, 0.0);
    t_fill(84, 3, w);
    memcpy(w2, w, sizeof w);
    CHECK_OK(t_run(&ctx, &c, &q, w, &full, 1, NULL));
    c.accumulate = 2;
    sam_model_callbacks(&m, 3, tq_lg, NULL, &q);
    CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
    CHECK_OK(sam_opt_step(&ctx, &o, &m, w2, &h1, &info));
    CHECK(info.applied == 0);
    CHECK(o.t == 0);
    CHECK_OK(sam_opt_step(&ctx, &o, &m, w2, &h2, &info));
    CHECK(info.applied == 1);
    CHECK(o.t == 1);
    for (i = 0; i < 3; i++) CHECK_NEAR(w2[i], w[i], 1e-6, 1e-5);
    sam_opt_free(&o);
    sam_ctx_free(&ctx);
}

/* Schedules: step, cosine with warm-up, ρ ∝ lr, callbacks. */
static double t_lr_cb(void *u, uint64_t t, uint64_t epoch, double base) {
    (void)u; (void)epoch;
    return base / (double)(t + 1);
}
static double t_bad_cb(void *u, uint64_t t, uint64_t epoch, double base) {
    (void)u; (void)t; (void)epoch; (void)base;
    return -1.0;
}
static void test_optim_schedules(void) {
    sam_ctx ctx;
    tq q;
    sam_model m;
    sam_opt o;
    float w[2] = {0.5f, -0.25f}, w0[2];
    double lr, rho;
    int s;
    sam_opt_config c = t_cfg(SAM_METHOD_SAM, 0.2, 0.1);
    sam_ctx_init(&ctx, NULL);
    tq_init(&q, 2, 91);
    sam_model_callbacks(&m, 2, tq_lg, NULL, &q);
    c.lr_schedule = SAM_LR_STEP; c.lr_step_size = 2; c.lr_gamma = 0.5; c.rho_schedule = SAM_RHO_PROPORTIONAL_LR;
    CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
    for (s = 0; s < 5; s++) {
        CHECK_OK(sam_opt_schedule(&ctx, &o, &lr, &rho));
        CHECK_NEAR(lr, 0.2 * pow(0.5, s / 2), 1e-15, 1e-12);
        CHECK_NEAR(rho, 0.1 * pow(0.5, s / 2), 1e-15, 1e-12);
        CHECK_OK(sam_opt_step(&ctx, &o, &m, w, NULL, NULL));
    }
    sam_opt_free(&o);
    c = t_cfg(SAM_METHOD_SAM, 0.2, 0.1);
    c.lr_schedule = SAM_LR_COSINE; c.lr_total = 12; c.warmup = 2; c.lr_min = 0.02;
    CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
    for (s = 0; s < 14; s++) {
        double ref = s < 2 ? (0.02 + 0.18 * 1.0) * (s + 1) / 2.0
                           : 0.02 + 0.18 * 0.5 * (1 + cos(3.14159265358979 * (s - 2 < 10 ? s - 2 : 10) / 10.0));
        CHECK_OK(sam_opt_schedule(&ctx, &o, &lr, &rho));
        CHECK_NEAR(lr, ref, 1e-12, 1e-9);
        CHECK_NEAR(rho, 0.1, 0, 0);
        CHECK_OK(sam_opt_step(&ctx, &o, &m, w, NULL, NULL));
    }
    sam_opt_free(&o);
    c = t_cfg(SAM_METHOD_SAM, 0.2, 0.1);
    c.lr_schedule = SAM_LR_CALLBACK; c.lr_fn = t_lr_cb; c.rho_schedule = SAM_RHO_CALLBACK; c.rho_fn = t_bad_cb;
    c.schedule_by_epoch = 1;
    CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
    memcpy(w0, w, sizeof w);
    CHECK(sam_opt_step(&ctx, &o, &m, w, NULL, NULL) == SAM_ERR_ARG);
    CHECK(strstr(sam_ctx_message(&ctx), "rho") != NULL);
    CHECK(t_same_bits(2, w, w0) && o.t == 0);
    o.cfg.rho_fn = t_lr_cb;
    sam_opt_end_epoch(&o);
    sam_opt_end_epoch(&o);
    CHECK_OK(sam_opt_schedule(&ctx, &o, &lr, &rho));
    CHECK_NEAR(lr, 0.2 / 3, 1e-15, 1e-12);
    CHECK_NEAR(rho, 0.1 / 3, 1e-15, 1e-12);
    sam_opt_free(&o);
    sam_ctx_free(&ctx);
}

/* ---- reductions, bit for bit -------------------------------------------------------- */

static void t_run_epochs(sam_ctx *ctx, const sam_opt_config *c, tq *q, const tds *ds, float *w, int epochs,
                         sam_status *st_out) {
    sam_model m;
    sam_opt o;
    sam_status st;
    int e;
    sam_model_callbacks(&m, q->n, tq_lg, NULL, q);
    st = sam_opt_init(ctx, &o, c, &m, NULL, 0);
    for (e = 0; e < epochs && !st; e++) st = sam_opt_epoch(ctx, &o, &m, w, &ds->d, NULL);
    sam_opt_free(&o);
    *st_out = st;
}

/* ρ = 0 reproduces the base optimizer bit for bit, for every method and base. */
static void test_optim_rho0_equals_base(void) {
    sam_ctx ctx;
    int base, method;
    sam_ctx_init(&ctx, NULL);
    for (base = 0; base < SAM_BASE_COUNT; base++) {
        tq q;
        tds ds;
        float wref[5], w[5];
        sam_status st;
        sam_opt_config c = t_cfg(SAM_METHOD_NONE, 0.05, 0.0);
        c.base = (sam_opt_base)base; c.momentum = base == 0 ? 0.9 : 0.0; c.nesterov = base == 0;
        c.weight_decay = 0.01; c.batch_size = 3; c.dataset_size = 10; c.seed = 5;
        tq_init(&q, 5, 101);
        tds_init(&ds, 10, 5, 102);
        t_fill(103, 5, wref);
        t_run_epochs(&ctx, &c, &q, &ds, wref, 3, &st);
        CHECK_OK(st);
        for (method = 1; method < SAM_METHOD_COUNT; method++) {
            c.method = (sam_opt_method)method;
            c.fsam_sigma = 0.5; c.looksam_k = 2; c.rand_scale_by_w = 1;
            c.ascent_steps = method == SAM_METHOD_SAM ? 3 : 1;
            t_fill(103, 5, w);
            t_run_epochs(&ctx, &c, &q, &ds, w, 3, &st);
            CHECK_OK(st);
            CHECKF(t_same_bits(5, w, wref), "base %d method %d", base, method);
        }
    }
    sam_ctx_free(&ctx);
}

/* N = 1 equals SAM (projection options have no effect); m = batch and m > batch
 * equal SAM; SAM-early with k = 0 equals the base optimizer. */
static void test_optim_reductions(void) {
    sam_ctx ctx;
    tq q;
    tds ds;
    float wsam[4], wbase[4], w[4];
    sam_status st;
    int v;
    sam_opt_config c = t_cfg(SAM_METHOD_SAM, 0.1, 0.1);
    sam_ctx_init(&ctx, NULL);
    c.momentum = 0.9; c.batch_size = 4; c.dataset_size = 12; c.seed = 9;
    tq_init(&q, 4, 111);
    tds_init(&ds, 12, 4, 112);
    t_fill(113, 4, wsam);
    t_run_epochs(&ctx, &c, &q, &ds, wsam, 3, &st);
    CHECK_OK(st);
    c.method = SAM_METHOD_NONE;
    t_fill(113, 4, wbase);
    t_run_epochs(&ctx, &c, &q, &ds, wbase, 3, &st);
    CHECK_OK(st);
    CHECK(!t_same_bits(4, wsam, wbase));
    for (v = 0; v < 11; v++) {
        c = t_cfg(SAM_METHOD_SAM, 0.1, 0.1);
        c.momentum = 0.9; c.batch_size = 4; c.dataset_size = 12; c.seed = 9;
        switch (v) {
        case 0: c.ascent_projection = SAM_ASCENT_PROJECT_BALL; break;
        case 1: c.ascent_projection = SAM_ASCENT_RESCALE_SPHERE; break;
        case 2: c.samples_per_perturbation = 4; break;   /* m = batch */
        case 3: c.samples_per_perturbation = 100; break; /* m > batch */
        case 4: c.method = SAM_METHOD_GSAM; c.gsam_alpha = 0; break;
        case 5: c.method = SAM_METHOD_FSAM; c.fsam_sigma = 0; break;
        case 6: c.method = SAM_METHOD_LOOKSAM; c.looksam_k = 1; break;
        case 7: c.sam_epochs = 0; break;                 /* SAM-early, k = 0: base */
        case 8: c.method = SAM_METHOD_ESAM; c.esam_beta = 1; c.esam_gamma = 1; break;
        case 9: case 10: /* GAM with β1 = 1, β3 = 0, γ = 0 (β2, ρ' irrelevant) */
            c.method = SAM_METHOD_GAM; c.gam_grad_beta_1 = 1; c.gam_grad_beta_3 = 0; c.gam_grad_gamma = 0;
            c.gam_grad_beta_2 = v == 9 ? -1.0 : 0.7; c.gam_grad_norm_rho = v == 9 ? 0.02 : 0.5;
            if (v == 10) c.samples_per_perturbation = 2; /* m-sharpness groups: GAM per group */
            break;
        }
        t_fill(113, 4, w);
        t_run_epochs(&ctx, &c, &q, &ds, w, 3, &st);
        CHECK_OK(st);
        if (v == 10) continue; /* m = 2 differs from SAM; compared below */
        CHECKF(t_same_bits(4, w, v == 7 ? wbase : wsam), "variant %d", v);
    }
    {
        /* GAM's reduction under m-sharpness too: m = 2 SAM vs m = 2 GAM(β1 = 1, β3 = γ = 0) */
        float wm[4];
        c = t_cfg(SAM_METHOD_SAM, 0.1, 0.1);
        c.momentum = 0.9; c.batch_size = 4; c.dataset_size = 12; c.seed = 9; c.samples_per_perturbation = 2;
        t_fill(113, 4, wm);
        t_run_epochs(&ctx, &c, &q, &ds, wm, 3, &st);
        CHECK_OK(st);
        c.method = SAM_METHOD_GAM; c.gam_grad_beta_1 = 1; c.gam_grad_beta_3 = 0; c.gam_grad_gamma = 0;
        t_fill(113, 4, w);
        t_run_epochs(&ctx, &c, &q, &ds, w, 3, &st);
        CHECK_OK(st);
        CHECK(t_same_bits(4, w, wm));
        CHECK(!t_same_bits(4, wm, wsam));
    }
    sam_ctx_free(&ctx);
}

/* SAM-early with k = 2: perturbs in epochs 0 and 1 only. */
static void test_optim_sam_early_switch(void) {
    sam_ctx ctx;
    tq q;
    tds ds;
    sam_model m;
    sam_opt o;
    float w[3];
    int e, s;
    sam_opt_info info;
    size_t idx[2] = {0, 1};
    sam_batch b;
    sam_opt_config c = t_cfg(SAM_METHOD_SAM, 0.1, 0.1);
    sam_ctx_init(&ctx, NULL);
    c.sam_epochs = 2;
    tq_init(&q, 3, 121);
    tds_init(&ds, 4, 3, 122);
    sam_model_callbacks(&m, 3, tq_lg, NULL, &q);
    CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
    t_fill(123, 3, w);
    b.data = &ds.d; b.idx = idx; b.n = 2;
    for (e = 0; e < 4; e++) {
        CHECK(sam_opt_sam_active(&o) == (e < 2));
        for (s = 0; s < 2; s++) {
            CHECK_OK(sam_opt_step(&ctx, &o, &m, w, &b, &info));
            CHECK(info.perturbed == (e < 2));
            CHECK(info.gradients == (unsigned)(e < 2 ? 2 : 1));
            CHECK((sam_opt_perturbed_point(&o, w) == w) == (e >= 2));
            CHECK(sam_opt_last_eps(&o) == NULL); /* ε not stored without cfg.keep_eps */
        }
        sam_opt_end_epoch(&o);
    }
    sam_opt_free(&o);
    sam_ctx_free(&ctx);
}

/* ‖g‖ = 0: no perturbation, no NaN, one gradient. */
static void test_optim_zero_gradient(void) {
    sam_ctx ctx;
    tq q;
    float w[3] = {0, 0, 0};
    sam_opt_info info;
    int method;
    sam_ctx_init(&ctx, NULL);
    tq_init(&q, 3, 131);
    for (method = SAM_METHOD_SAM; method <= SAM_METHOD_ASAM; method++) {
        sam_opt_config c = t_cfg((sam_opt_method)method, 0.1, 0.1);
        q.calls = 0;
        CHECK_OK(t_run(&ctx, &c, &q, w, NULL, 1, &info));
        CHECK(info.perturbed == 0 && info.gradients == 1 && info.grad_norm == 0.0);
        CHECK(w[0] == 0 && w[1] == 0 && w[2] == 0);
    }
    sam_ctx_free(&ctx);
}

/* The exposed perturbed point is where the final gradient was taken, and
 * w + ε = that point exactly; w itself is untouched by the ascent. */
static void test_optim_perturbed_point(void) {
    sam_ctx ctx;
    int method;
    sam_ctx_init(&ctx, NULL);
    for (method = SAM_METHOD_SAM; method < SAM_METHOD_COUNT; method++) {
        tq q;
        sam_model m;
        sam_opt o;
        sam_opt_info info;
        float w[5], w0[5], wa[5];
        const float *pt, *e;
        size_t i;
        double en = 0;
        sam_opt_config c = t_cfg((sam_opt_method)method, 0.1, 0.2);
        if (method == SAM_METHOD_LOOKSAM || method == SAM_METHOD_GAM) continue; /* no split form */
        c.keep_eps = 1; c.momentum = 0.9; c.esam_gamma = 1;
        tq_init(&q, 5, 231);
        sam_model_callbacks(&m, 5, tq_lg, NULL, &q);
        t_fill(232, 5, w);
        CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
        CHECK_OK(sam_opt_step(&ctx, &o, &m, w, NULL, NULL)); /* MSAM: momentum first */
        memcpy(w0, w, sizeof w);
        CHECK_OK(sam_opt_ascend(&ctx, &o, &m, w, NULL, &info));
        CHECK(t_same_bits(5, w, w0));
        CHECK(info.perturbed == 1);
        pt = sam_opt_perturbed_point(&o, w);
        e = sam_opt_last_eps(&o);
        CHECK(pt != w && e != NULL);
        memcpy(wa, pt, sizeof wa);
        for (i = 0; i < 5; i++) { CHECKF(wa[i] == w[i] + e[i], "method %d", method); en += (double)e[i] * e[i]; }
        CHECK_NEAR(sqrt(en), info.eps_norm, 1e-7, 1e-5);
        if (method != SAM_METHOD_ASAM && method != SAM_METHOD_ESAM && method != SAM_METHOD_RANDSAM) CHECK_NEAR(sqrt(en), 0.2, 1e-7, 1e-5);
        CHECK_OK(sam_opt_descend(&ctx, &o, &m, w, NULL, &info));
        if (method != SAM_METHOD_LOOKSAM) CHECK(t_same_bits(5, q.last_w, wa)); /* gradient taken at w + ε */
        sam_opt_free(&o);
    }
    sam_ctx_free(&ctx);
}

/* ---- ASAM's invariance on a ReLU network ----------------------------------------
 * f(x) = Σ_j v_j relu(W_j·x), params W (H×D) then v (H), loss mean ½(f − y)². */
#define TR_H 4
#define TR_D 3
#define TR_N 6
typedef struct trelu { float x[TR_N * TR_D], y[TR_N]; } trelu;
static sam_status trelu_lg(void *u, const float *w, const sam_batch *b, double *loss, float *grad) {
    const trelu *t = (const trelu *)u;
    double gW[TR_H * TR_D] = {0}, gv[TR_H] = {0}, l = 0;
    int s, j, k;
    (void)b;
    for (s = 0; s < TR_N; s++) {
        double z[TR_H], f = 0, r;
        for (j = 0; j < TR_H; j++) {
            z[j] = 0;
            for (k = 0; k < TR_D; k++) z[j] += (double)w[j * TR_D + k] * t->x[s * TR_D + k];
            f += (double)w[TR_H * TR_D + j] * (z[j] > 0 ? z[j] : 0);
        }
        r = f - t->y[s];
        l += 0.5 * r * r;
        for (j = 0; j < TR_H; j++) {
            gv[j] += r * (z[j] > 0 ? z[j] : 0);
            if (z[j] > 0)
                for (k = 0; k < TR_D; k++) gW[j * TR_D + k] += r * w[TR_H * TR_D + j] * t->x[s * TR_D + k];
        }
    }
    *loss = l / TR_N;
    if (grad) {
        for (j = 0; j < TR_H * TR_D; j++) grad[j] = (float)(gW[j] / TR_N);
        for (j = 0; j < TR_H; j++) grad[TR_H * TR_D + j] = (float)(gv[j] / TR_N);
    }
    return SAM_OK;
}

static void test_optim_asam_invariance(void) {
    sam_ctx ctx;
    trelu t;
    sam_model m;
    int method;
    const size_t P = TR_H * TR_D + TR_H;
    sam_ctx_init(&ctx, NULL);
    t_fill(141, TR_N * TR_D, t.x);
    t_fill(142, TR_N, t.y);
    sam_model_callbacks(&m, P, trelu_lg, NULL, &t);
    for (method = 0; method < 2; method++) {
        float w1[TR_H * TR_D + TR_H], w2[TR_H * TR_D + TR_H];
        double lp[2];
        const float *e[2];
        float e1[TR_H * TR_D + TR_H];
        size_t i;
        int k;
        sam_opt o[2];
        sam_opt_info info;
        sam_opt_config c = t_cfg(method ? SAM_METHOD_SAM : SAM_METHOD_ASAM, 0.1, 0.5);
        c.asam_eta = 0.0;
        c.keep_eps = 1;
        t_fill(143, P, w1);
        /* layer 1 ×4, layer 2 ×1/4: exact in float, f unchanged */
        for (i = 0; i < P; i++) w2[i] = i < TR_H * TR_D ? w1[i] * 4.0f : w1[i] * 0.25f;
        for (k = 0; k < 2; k++) {
            CHECK_OK(sam_opt_init(&ctx, &o[k], &c, &m, NULL, 0));
            CHECK_OK(sam_opt_ascend(&ctx, &o[k], &m, k ? w2 : w1, NULL, &info));
            CHECK(info.perturbed == 1);
            e[k] = sam_opt_last_eps(&o[k]);
        }
        memcpy(e1, e[0], sizeof e1);
        {
            double l0;
            CHECK_OK(sam_model_loss_grad(&ctx, &m, sam_opt_perturbed_point(&o[0], w1), NULL, &lp[0], NULL, NULL));
            CHECK_OK(sam_model_loss_grad(&ctx, &m, sam_opt_perturbed_point(&o[1], w2), NULL, &lp[1], NULL, NULL));
            CHECK_OK(sam_model_loss_grad(&ctx, &m, w1, NULL, &l0, NULL, NULL));
            CHECK(lp[0] > l0); /* the ascent went up */
        }
        if (method == 0) {
            /* ASAM, η = 0: ε maps like the weights, the perturbed loss is the same */
            CHECK_NEAR(lp[1], lp[0], 1e-7, 1e-5);
            for (i = 0; i < P; i++)
                CHECK_NEAR(e[1][i], i < TR_H * TR_D ? 4.0 * e1[i] : 0.25 * e1[i], 1e-6, 1e-4);
        } else {
            /* SAM is not invariant */
            CHECKF(fabs(lp[1] - lp[0]) > 1e-3 * fabs(lp[0]), "SAM perturbed losses %g %g", lp[0], lp[1]);
        }
        sam_opt_free(&o[0]);
        sam_opt_free(&o[1]);
    }
    sam_ctx_free(&ctx);
}

/* ---- split forms equal the one-call step ---------------------------------------- */
static void test_optim_split_equals_step(void) {
    sam_ctx ctx;
    tq q;
    tds ds;
    sam_model m;
    int method;
    sam_ctx_init(&ctx, NULL);
    tq_init(&q, 5, 151);
    tds_init(&ds, 6, 5, 152);
    sam_model_callbacks(&m, 5, tq_lg, NULL, &q);
    for (method = 0; method < SAM_METHOD_COUNT; method++) {
        float w1[5], w2[5], w3[5], grad[5];
        size_t idx[3] = {4, 1, 2};
        sam_batch b;
        sam_opt o1, o2, o3;
        sam_opt_info i1, i2;
        int s;
        sam_opt_config c = t_cfg((sam_opt_method)method, 0.1, 0.2);
        if (method == SAM_METHOD_LOOKSAM || method == SAM_METHOD_GAM) continue; /* no split form */
        c.momentum = 0.5; c.weight_decay = 0.1; c.seed = 3; c.esam_gamma = 1.0; /* SDS needs sam_opt_step */
        b.data = &ds.d; b.idx = idx; b.n = 3;
        t_fill(153, 5, w1);
        memcpy(w2, w1, sizeof w1);
        memcpy(w3, w1, sizeof w1);
        CHECK_OK(sam_opt_init(&ctx, &o1, &c, &m, NULL, 0));
        CHECK_OK(sam_opt_init(&ctx, &o2, &c, &m, NULL, 0));
        CHECK_OK(sam_opt_init(&ctx, &o3, &c, &m, NULL, 0));
        for (s = 0; s < 3; s++) {
            double l;
            CHECK_OK(sam_opt_step(&ctx, &o1, &m, w1, &b, &i1));
            CHECK_OK(sam_opt_ascend(&ctx, &o2, &m, w2, &b, NULL));
            CHECK_OK(sam_opt_descend(&ctx, &o2, &m, w2, &b, &i2));
            CHECK(i1.loss_perturbed == i2.loss_perturbed && i1.gradients == i2.gradients);
            /* gradient-level route: the user computes the gradients */
            CHECK_OK(sam_model_loss_grad(&ctx, &m, w3, &b, &l, grad, NULL));
            CHECK_OK(sam_opt_ascend_grad(&ctx, &o3, w3, grad, l, NULL));
            CHECK_OK(sam_model_loss_grad(&ctx, &m, sam_opt_perturbed_point(&o3, w3), &b, &l, grad, NULL));
            CHECK_OK(sam_opt_descend_grad(&ctx, &o3, w3, grad, l, b.n, NULL));
        }
        CHECKF(t_same_bits(5, w1, w2), "method %d (split)", method);
        CHECKF(t_same_bits(5, w1, w3), "method %d (grad split)", method);
        CHECK(sam_opt_descend(&ctx, &o2, &m, w2, &b, NULL) == SAM_ERR_ARG); /* no ascend pending */
        sam_opt_free(&o1); sam_opt_free(&o2); sam_opt_free(&o3);
    }
    sam_ctx_free(&ctx);
}

/* ---- the CNN's batch reuse inside one step --------------------------------------
 * sam_opt_step lets the CNN reuse the patch rows it gathered for the step's
 * first gradient (ctx->same_data). The reference is the same CNN behind
 * sam_model_callbacks, which the optimizer cannot see into, so it never
 * reuses: both must give the same bits for SAM, N-step SAM, m-sharpness with
 * the optimizer's own index buffer (same pointer, new contents per group),
 * ESAM's selection (one-sample batches in between) and GAM, on the fast and
 * the generic path, with and without idx, while the data change in place
 * between steps. */
typedef struct t_cnn_wrap {
    sam_ctx ctx;
    const sam_model *m;
    void *work;
} t_cnn_wrap;

static sam_status t_cnn_wrap_lg(void *u, const float *w, const sam_batch *b, double *loss, float *grad) {
    t_cnn_wrap *cw = (t_cnn_wrap *)u;
    return sam_model_loss_grad(&cw->ctx, cw->m, w, b, loss, grad, cw->work);
}
static sam_status t_cnn_wrap_hvp(void *u, const float *w, const sam_batch *b, const float *v, float *hv) {
    t_cnn_wrap *cw = (t_cnn_wrap *)u;
    return sam_model_hvp(&cw->ctx, cw->m, w, b, v, hv, cw->work);
}

static void test_optim_cnn_batch_reuse(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (int path = 0; path < 2; path++) {
        sam_cnn_config cf;
        sam_cnn net;
        sam_dataset D;
        sam_rng r;
        t_cnn_wrap cw;
        sam_model wrapped;
        size_t n = 8, np;
        float *w0;
        sam_cnn_config_default(&cf);
        cf.patches = 3; cf.patch_dim = 11; cf.width = 3; cf.no_fast_path = path;
        CHECK_OK(sam_cnn_init(&ctx, &net, &cf));
        t_data_chen(&D, n, 3, 11, 61);
        CHECK(sam__cnn_fast(&net, &D) == !path);
        np = net.model.n_params;
        w0 = t_alloc_off(np);
        sam_rng_seed(&r, 62, SAM_STREAM_INIT);
        CHECK_OK(sam_cnn_init_params(&ctx, &net, &r, 0.5f, w0));
        sam_ctx_init(&cw.ctx, NULL);
        cw.m = &net.model;
        cw.work = malloc(sam_model_work_bytes(&net.model, n));
        CHECK_OK(sam_model_callbacks(&wrapped, np, t_cnn_wrap_lg, NULL, &cw));
        for (int method = 0; method < 5; method++)
            for (int withidx = 0; withidx < 2; withidx++) {
                size_t idx[6] = {5, 1, 6, 1, 0, 7};
                sam_opt_config c = t_cfg(SAM_METHOD_SAM, 0.2, 0.3);
                sam_opt o1, o2;
                sam_batch b;
                float *w1 = t_alloc_off(np), *w2 = t_alloc_off(np);
                c.batch_size = 6; c.dataset_size = n;
                if (method == 1) c.ascent_steps = 3;
                if (method == 2) c.samples_per_perturbation = 2;
                if (method == 3) { c.method = SAM_METHOD_ESAM; c.esam_beta = 1; c.esam_gamma = 0.5; }
                if (method == 4) { c.method = SAM_METHOD_GAM; c.gam_grad_beta_3 = 0.5; c.gam_grad_gamma = 0.1; }
                b.data = &D; b.idx = withidx ? idx : NULL; b.n = 6;
                memcpy(w1, w0, np * sizeof(float));
                memcpy(w2, w0, np * sizeof(float));
                CHECK_OK(sam_opt_init(&ctx, &o1, &c, &net.model, NULL, 0));
                CHECK_OK(sam_opt_init(&ctx, &o2, &c, &wrapped, NULL, 0));
                t_data_free(&D);
                t_data_chen(&D, n, 3, 11, 61);
                for (int s = 0; s < 3; s++) {
                    sam_opt_info i1, i2;
                    CHECK_OK(sam_opt_step(&ctx, &o1, &net.model, w1, &b, &i1));
                    CHECK_OK(sam_opt_step(&ctx, &o2, &wrapped, w2, &b, &i2));
                    CHECK(ctx.same_data == 0);
                    CHECKF(i1.gradients >= 2 && i1.gradients == i2.gradients && i1.loss == i2.loss &&
                               i1.loss_perturbed == i2.loss_perturbed,
                           "path %d method %d idx %d step %d: %u grads, loss %.9g / %.9g", path, method, withidx, s,
                           i1.gradients, i1.loss, i2.loss);
                    CHECKF(t_same_bits(np, w1, w2), "path %d method %d idx %d step %d: w differs", path, method,
                           withidx, s);
                    /* new noise in place: a reuse across steps would use the old rows */
                    for (size_t t = 0; t < n * D.dim; t++) D.x[t] = 0.9f * D.x[t] + 0.05f * (float)((t * 7 + s) % 11);
                }
                sam_opt_free(&o1); sam_opt_free(&o2);
                t_free_off(w1); t_free_off(w2);
            }
        free(cw.work);
        sam_ctx_free(&cw.ctx);
        t_free_off(w0);
        t_data_free(&D);
    }
    sam_ctx_free(&ctx);
}

/* ---- save / restore / continue ---------------------------------------------------- */
static void test_optim_save_restore(void) {
    sam_ctx ctx;
    tq q;
    tds ds;
    sam_model m;
    int method;
    sam_ctx_init(&ctx, NULL);
    tq_init(&q, 4, 161);
    tds_init(&ds, 10, 4, 162);
    sam_model_callbacks(&m, 4, tq_lg, NULL, &q);
    for (method = 0; method < 3; method++) {
        float wa[4], wb[4];
        sam_opt oa, ob, oc;
        unsigned char blob[4096];
        size_t nbytes = 0;
        int e;
        sam_opt_config c = t_cfg(method == 0 ? SAM_METHOD_RANDSAM : method == 1 ? SAM_METHOD_FSAM : SAM_METHOD_LOOKSAM,
                                 0.05, 0.1);
        c.base = method == 1 ? SAM_BASE_SGD : SAM_BASE_ADAMW;
        c.momentum = method == 1 ? 0.9 : 0.0;
        c.weight_decay = 0.01; c.batch_size = 3; c.dataset_size = 10; c.seed = 42; c.accumulate = 2;
        c.lr_schedule = SAM_LR_COSINE; c.lr_total = 20; c.looksam_k = 3;
        t_fill(163, 4, wa);
        memcpy(wb, wa, sizeof wa);
        CHECK_OK(sam_opt_init(&ctx, &oa, &c, &m, NULL, 0));
        for (e = 0; e < 6; e++) CHECK_OK(sam_opt_epoch(&ctx, &oa, &m, wa, &ds.d, NULL));
        CHECK_OK(sam_opt_init(&ctx, &ob, &c, &m, NULL, 0));
        for (e = 0; e < 3; e++) CHECK_OK(sam_opt_epoch(&ctx, &ob, &m, wb, &ds.d, NULL));
        CHECK(sam_opt_state_bytes(&ob) <= sizeof blob);
        CHECK_OK(sam_opt_save(&ctx, &ob, blob, sizeof blob, &nbytes));
        CHECK(nbytes == sam_opt_state_bytes(&ob));
        sam_opt_free(&ob);
        CHECK_OK(sam_opt_init(&ctx, &oc, &c, &m, NULL, 0));
        CHECK_OK(sam_opt_load(&ctx, &oc, blob, nbytes));
        for (e = 0; e < 3; e++) CHECK_OK(sam_opt_epoch(&ctx, &oc, &m, wb, &ds.d, NULL));
        CHECKF(t_same_bits(4, wa, wb), "method %d", method);
        CHECK(oc.t == oa.t && oc.epoch == 6 && oc.calls == oa.calls);
        /* rejects: wrong size, other configuration, garbage */
        CHECK(sam_opt_load(&ctx, &oc, blob, nbytes - 1) == SAM_ERR_FORMAT);
        CHECK(sam_opt_save(&ctx, &oa, blob, nbytes - 1, NULL) == SAM_ERR_ARG);
        sam_opt_free(&oc);
        c.rho = 0.2;
        CHECK_OK(sam_opt_init(&ctx, &oc, &c, &m, NULL, 0));
        CHECK(sam_opt_load(&ctx, &oc, blob, nbytes) == SAM_ERR_ARG);
        CHECK(strstr(sam_ctx_message(&ctx), "configuration") != NULL);
        CHECK(oc.t == 0 && oc.epoch == 0);
        blob[0] = 'X';
        CHECK(sam_opt_load(&ctx, &oc, blob, nbytes) == SAM_ERR_FORMAT);
        sam_opt_free(&oc);
        sam_opt_free(&oa);
    }
    sam_ctx_free(&ctx);
}

/* ---- non-finite / failing callbacks leave w and the state untouched -------------- */
static void test_optim_nonfinite_untouched(void) {
    sam_ctx ctx;
    tq q;
    tds ds;
    sam_model m;
    int kind, at;
    sam_ctx_init(&ctx, NULL);
    tq_init(&q, 4, 171);
    tds_init(&ds, 6, 4, 172);
    sam_model_callbacks(&m, 4, tq_lg, NULL, &q);
    for (kind = 0; kind < 3; kind++)
        for (at = 0; at < 4; at++) {
            float w[4], w0[4];
            unsigned char s0[2048], s1[2048];
            size_t n0, n1, idx[4] = {0, 1, 2, 3};
            sam_batch b;
            sam_opt o;
            sam_status st;
            sam_opt_config c = t_cfg(SAM_METHOD_SAM, 0.1, 0.1);
            c.base = SAM_BASE_ADAM; c.ascent_steps = 2; c.samples_per_perturbation = 2; c.weight_decay = 0.1;
            c.accumulate = 2;
            b.data = &ds.d; b.idx = idx; b.n = 4;
            t_fill(173, 4, w);
            CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
            CHECK_OK(sam_opt_step(&ctx, &o, &m, w, &b, NULL)); /* some state first */
            CHECK_OK(sam_opt_step(&ctx, &o, &m, w, &b, NULL));
            CHECK_OK(sam_opt_step(&ctx, &o, &m, w, &b, NULL));
            memcpy(w0, w, sizeof w);
            CHECK_OK(sam_opt_save(&ctx, &o, s0, sizeof s0, &n0));
            /* a step is 2 groups × 3 gradients: fail at the at-th of calls 0, 2, 3, 5 */
            q.calls = 0;
            q.nan_at = q.nan_grad_at = q.fail_at = -1;
            {
                int which = at == 0 ? 0 : at == 1 ? 2 : at == 2 ? 3 : 5;
                if (kind == 0) q.nan_at = which;
                else if (kind == 1) q.nan_grad_at = which;
                else q.fail_at = which;
            }
            st = sam_opt_step(&ctx, &o, &m, w, &b, NULL);
            CHECK(st == (kind == 2 ? SAM_ERR_ARG : SAM_ERR_NONFINITE));
            CHECK(t_same_bits(4, w, w0));
            CHECK_OK(sam_opt_save(&ctx, &o, s1, sizeof s1, &n1));
            CHECK(n0 == n1 && memcmp(s0, s1, n0) == 0);
            q.nan_at = q.nan_grad_at = q.fail_at = -1;
            sam_opt_free(&o);
        }
    sam_ctx_free(&ctx);
}

/* ---- the norm-statistics hook --------------------------------------------------------- */
static void test_optim_norm_stats_hook(void) {
    sam_ctx ctx;
    tq q;
    sam_model m;
    sam_opt o;
    int policy;
    float w[3] = {0.5f, 0.25f, -1.0f};
    sam_ctx_init(&ctx, NULL);
    tq_init(&q, 3, 181);
    sam_model_callbacks(&m, 3, tq_lg, NULL, &q);
    for (policy = 0; policy < 2; policy++) {
        sam_opt_config c = t_cfg(SAM_METHOD_SAM, 0.01, 0.1);
        c.ascent_steps = 2;
        c.norm_stats = (sam_norm_stats)policy;
        CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
        q.watch = &o;
        q.calls = 0;
        CHECK_OK(sam_opt_step(&ctx, &o, &m, w, NULL, NULL));
        CHECK(q.calls == 3);
        CHECK(q.pass[0] == 0 && q.pass[1] == 2 && q.pass[2] == 1);
        CHECK(q.freeze[0] == 0 && q.freeze[1] == !policy && q.freeze[2] == !policy);
        CHECK(o.pass == 0 && o.freeze_norm_stats == 0);
        q.watch = NULL;
        sam_opt_free(&o);
    }
    sam_ctx_free(&ctx);
}

/* ---- epochs: shuffling, partial batches -------------------------------------------------- */
static void test_optim_epoch_batches(void) {
    sam_ctx ctx;
    tq q;
    tds ds;
    sam_model m;
    int drop;
    sam_ctx_init(&ctx, NULL);
    tq_init(&q, 3, 191);
    tds_init(&ds, 10, 3, 192);
    sam_model_callbacks(&m, 3, tq_lg, NULL, &q);
    for (drop = 0; drop < 2; drop++) {
        sam_opt o;
        float w[3], wg[3];
        double ml;
        sam_opt_config c = t_cfg(SAM_METHOD_NONE, 0.1, 0.0);
        c.batch_size = 4; c.dataset_size = 10; c.last_batch = (sam_last_batch)drop;
        t_fill(193, 3, w);
        CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
        CHECK_OK(sam_opt_epoch(&ctx, &o, &m, w, &ds.d, &ml));
        CHECK(o.calls == (drop ? 2u : 3u) && o.epoch == 1);
        CHECK(ml > 0);
        sam_opt_free(&o);
        /* batch_size 0: one full-batch GD step, equal to a step on the whole set */
        c.batch_size = 0;
        t_fill(193, 3, w);
        memcpy(wg, w, sizeof w);
        CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
        CHECK_OK(sam_opt_epoch(&ctx, &o, &m, w, &ds.d, &ml));
        CHECK(o.calls == 1);
        sam_opt_free(&o);
        {
            sam_batch b;
            b.data = &ds.d; b.idx = NULL; b.n = 10;
            CHECK_OK(t_run(&ctx, &c, &q, wg, &b, 1, NULL));
            CHECK(t_same_bits(3, w, wg));
        }
    }
    sam_ctx_free(&ctx);
}

/* ---- weight mask from a model's views (Wen's SBN MLP: W1, b1, γ, W2) ---- */
static void test_optim_weight_mask(void) {
    sam_ctx ctx;
    sam_mlp_config mc;
    sam_mlp net;
    tq q;
    sam_model m;
    uint8_t mask[64];
    size_t i, nz = 0;
    sam_ctx_init(&ctx, NULL);
    sam_mlp_config_wen(&mc, SAM_WEN_SBN, 3, 4);
    CHECK_OK(sam_mlp_init(&ctx, &net, &mc));
    CHECK(net.model.n_params == 4 * 3 + 4 + 4 + 4);
    CHECK_OK(sam_opt_weight_mask(&ctx, &net.model, mask));
    for (i = 0; i < net.model.n_params; i++) {
        int bias = (i >= net.off_b[0] && i < net.off_b[0] + 4) || (i >= net.off_gamma && i < net.off_gamma + 4);
        CHECKF(mask[i] == !bias, "i %zu", i);
        nz += mask[i] == 0;
    }
    CHECK(nz == 8);
    /* a model without views: all weights */
    tq_init(&q, 5, 241);
    sam_model_callbacks(&m, 5, tq_lg, NULL, &q);
    memset(mask, 7, sizeof mask);
    CHECK_OK(sam_opt_weight_mask(&ctx, &m, mask));
    for (i = 0; i < 5; i++) CHECK(mask[i] == 1);
    CHECK(mask[5] == 7);
    CHECK(sam_opt_weight_mask(&ctx, &m, NULL) == SAM_ERR_NULL);
    sam_ctx_free(&ctx);
}

/* ---- bad input ------------------------------------------------------------------------ */
static void test_optim_bad_input(void) {
    sam_ctx ctx;
    tq q;
    sam_model m;
    sam_opt o;
    size_t bytes = 0;
    float w[2] = {1, 2};
    int k;
    sam_ctx_init(&ctx, NULL);
    tq_init(&q, 2, 201);
    sam_model_callbacks(&m, 2, tq_lg, NULL, &q);
    for (k = 0; k < 18; k++) {
        static const char *const names[18] = {"rho", "lr", "ascent_steps", "accumulate", "momentum", "nesterov",
                                              "ascent_steps", "adam_eps", "lr_total", "momentum", "esam_beta",
                                              "esam_gamma", "gam_grad_norm_rho", "gam_grad_norm_rho",
                                              "gam_grad_beta_1", "gam_grad_beta_2", "gam_grad_beta_3",
                                              "gam_grad_gamma"};
        sam_opt_config c = t_cfg(SAM_METHOD_SAM, 0.1, 0.1);
        switch (k) {
        case 0: c.rho = -0.1; break;
        case 1: c.lr = 0.0; break;
        case 2: c.ascent_steps = 0; break;
        case 3: c.accumulate = 0; break;
        case 4: c.momentum = 1.0; break;
        case 5: c.nesterov = 1; break;
        case 6: c.method = SAM_METHOD_RANDSAM; c.ascent_steps = 2; break;
        case 7: c.base = SAM_BASE_ADAM; c.adam_eps = 0; break;
        case 8: c.lr_schedule = SAM_LR_COSINE; c.lr_total = 0; break;
        case 9: c.method = SAM_METHOD_MSAM; break;
        case 10: c.method = SAM_METHOD_ESAM; c.esam_beta = 0; break;
        case 11: c.method = SAM_METHOD_ESAM; c.esam_gamma = 1.5; break;
        case 12: c.method = SAM_METHOD_GAM; c.gam_grad_norm_rho = -0.1; break;
        case 13: c.method = SAM_METHOD_GAM; c.gam_grad_norm_rho = (double)INFINITY; break;
        case 14: c.method = SAM_METHOD_GAM; c.gam_grad_beta_1 = (double)NAN; break;
        case 15: c.method = SAM_METHOD_GAM; c.gam_grad_beta_2 = (double)INFINITY; break;
        case 16: c.method = SAM_METHOD_GAM; c.gam_grad_beta_3 = (double)-INFINITY; break;
        case 17: c.method = SAM_METHOD_GAM; c.gam_grad_gamma = -0.5; break;
        }
        memset(&o, 0x5a, sizeof o);
        CHECK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0) == SAM_ERR_ARG);
        CHECKF(strstr(sam_ctx_message(&ctx), names[k]) != NULL, "case %d: %s", k, sam_ctx_message(&ctx));
        CHECK(((unsigned char *)&o)[0] == 0x5a);
        CHECK(sam_opt_mem_bytes(&ctx, &c, &m, &bytes) == SAM_ERR_ARG);
    }
    {
        sam_opt_config c = t_cfg(SAM_METHOD_SAM, 0.1, 0.1);
        unsigned char small[16];
        CHECK(sam_opt_init(NULL, &o, &c, &m, NULL, 0) == SAM_ERR_NULL);
        CHECK(sam_opt_init(&ctx, NULL, &c, &m, NULL, 0) == SAM_ERR_NULL);
        CHECK(strstr(sam_ctx_message(&ctx), "opt") != NULL);
        CHECK(sam_opt_init(&ctx, &o, NULL, &m, NULL, 0) == SAM_ERR_NULL);
        CHECK(sam_opt_init(&ctx, &o, &c, NULL, NULL, 0) == SAM_ERR_NULL);
        CHECK(strstr(sam_ctx_message(&ctx), "model") != NULL);
        CHECK(sam_opt_init(&ctx, &o, &c, &m, small, sizeof small) == SAM_ERR_WORKSPACE);
        CHECK_OK(sam_opt_mem_bytes(&ctx, &c, &m, &bytes));
        {
            unsigned char *mem = (unsigned char *)malloc(bytes + 1);
            sam_opt_info info;
            CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, mem + 1, bytes)); /* caller block, unaligned */
            CHECK(sam_opt_step(&ctx, &o, &m, NULL, NULL, NULL) == SAM_ERR_NULL);
            CHECK(strstr(sam_ctx_message(&ctx), "w") != NULL);
            CHECK(sam_opt_step(&ctx, &o, NULL, w, NULL, NULL) == SAM_ERR_NULL);
            CHECK(sam_opt_step(&ctx, NULL, &m, w, NULL, NULL) == SAM_ERR_NULL);
            CHECK(sam_opt_ascend_grad(&ctx, &o, w, NULL, 0.0, NULL) == SAM_ERR_NULL);
            CHECK_OK(sam_opt_step(&ctx, &o, &m, w, NULL, &info));
            CHECK(info.perturbed == 1 && info.applied == 1 && info.gradients == 2);
            sam_opt_free(&o);
            free(mem);
        }
        {
            sam_model m3;
            sam_model_callbacks(&m3, 3, tq_lg, NULL, &q);
            CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
            CHECK(sam_opt_step(&ctx, &o, &m3, w, NULL, NULL) == SAM_ERR_ARG);
            CHECK(strstr(sam_ctx_message(&ctx), "n_params") != NULL);
            sam_opt_free(&o);
        }
    }
    sam_ctx_free(&ctx);
}

/* ---- GAM (Zhang et al. 2023) ---------------------------------------------------------
 * Independent double reference of one GAM step on L_B(w) = mean ½(w − c_s)ᵀA(w − c_s),
 * written from the authors' official code (cosine form, not the library's
 * rearranged one): g0 at w; g1 at w + ρ ĝ0; d = g1 − g0; g2 at w + ρ' d̂;
 * g3 at w + ρ' d̂ + ρ ĝ2; h = β1 g1 + β3 g3; p = g0 + |β2| g2;
 * F = h − γ (p − cos ‖p‖ ĥ), cos = p·h/(‖p‖‖h‖). Returns F in out. */
static void t_gam_ref(const tq *q, const double *w, const double *c, double rho, double rho2, double b1, double b2,
                      double b3, double gam, double *out) {
    size_t i, n = q->n;
    double g0[TQ_MAX], g1[TQ_MAX], g2[TQ_MAX], g3[TQ_MAX], x[TQ_MAX], d[TQ_MAX], e[TQ_MAX], h[TQ_MAX], p[TQ_MAX];
    double nrm, hn, pn, ph = 0.0, cosv;
    tq_ref_grad(q, w, c, 0.0, g0);
    nrm = tq_norm(n, g0);
    for (i = 0; i < n; i++) x[i] = w[i] + rho * g0[i] / nrm;
    tq_ref_grad(q, x, c, 0.0, g1);
    for (i = 0; i < n; i++) d[i] = g1[i] - g0[i];
    nrm = tq_norm(n, d);
    for (i = 0; i < n; i++) { e[i] = rho2 * d[i] / nrm; x[i] = w[i] + e[i]; }
    tq_ref_grad(q, x, c, 0.0, g2);
    nrm = tq_norm(n, g2);
    for (i = 0; i < n; i++) { e[i] += rho * g2[i] / nrm; x[i] = w[i] + e[i]; }
    tq_ref_grad(q, x, c, 0.0, g3);
    for (i = 0; i < n; i++) { h[i] = b1 * g1[i] + b3 * g3[i]; p[i] = g0[i] + fabs(b2) * g2[i]; ph += p[i] * h[i]; }
    hn = tq_norm(n, h);
    pn = tq_norm(n, p);
    cosv = ph / (hn * pn);
    for (i = 0; i < n; i++) out[i] = h[i] - gam * (p[i] - cosv * pn * h[i] / hn);
}

/* One GAM step (plain SGD and SGD + momentum from zero) vs the double reference, on every ISA. */
static void test_optim_quad_gam(void) {
    static const double hp[4][5] = {
        /* ρ',  β1,   β2,   β3,  γ */
        {0.02, 1.0, -1.0, 1.0, 0.3},
        {0.2, 0.6, 0.5, 0.4, 0.03},
        {0.5, 1.0, 0.0, 0.0, 0.8},  /* β3 = 0, γ > 0: passes 2-3 still needed */
        {0.1, 0.0, 2.0, 1.0, 0.0}}; /* flatness gradient alone */
    sam_ctx ctx;
    tds ds;
    int set;
    sam_ctx_init(&ctx, NULL);
    tds_init(&ds, 6, 5, 302);
    FOR_EACH_ISA(ctx, isa) {
        for (set = 0; set < 4; set++) {
            tq q;
            float w[5];
            size_t i, idx[3] = {5, 0, 3};
            double wd[5], cb[5], F[5], rho = 0.3, lr = 0.1, maxf = 0.0;
            sam_batch b;
            sam_opt_info info;
            sam_opt_config c = t_cfg(SAM_METHOD_GAM, lr, rho);
            c.gam_grad_norm_rho = hp[set][0]; c.gam_grad_beta_1 = hp[set][1]; c.gam_grad_beta_2 = hp[set][2];
            c.gam_grad_beta_3 = hp[set][3]; c.gam_grad_gamma = hp[set][4];
            if (set == 1) c.momentum = 0.9; /* first step from zero momentum: the same update */
            tq_init(&q, 5, 301 + (unsigned)set);
            b.data = &ds.d; b.idx = idx; b.n = 3;
            t_fill(303 + (unsigned)set, 5, w);
            for (i = 0; i < 5; i++) wd[i] = w[i];
            tq_cbar(&q, &b, cb);
            CHECK_OK(t_run(&ctx, &c, &q, w, &b, 1, &info));
            CHECK(info.gradients == 4 && info.perturbed == 1 && info.applied == 1);
            t_gam_ref(&q, wd, cb, rho, hp[set][0], hp[set][1], hp[set][2], hp[set][3], hp[set][4], F);
            for (i = 0; i < 5; i++) if (fabs(F[i]) > maxf) maxf = fabs(F[i]);
            CHECK(maxf > 0.05); /* a step that can fail */
            for (i = 0; i < 5; i++)
                CHECKF(fabs((double)w[i] - (wd[i] - lr * F[i])) <= 3e-6 + 3e-5 * fabs(wd[i]),
                       "set %d i %zu: %.9g vs %.9g", set, i, (double)w[i], wd[i] - lr * F[i]);
        }
    }
    sam_ctx_free(&ctx);
}

/* GAM's four passes: pass numbers 0..3 and the norm-statistics freeze in passes ≥ 1;
 * the split form is refused (GAM needs model evaluations after the SAM gradient). */
static void test_optim_gam_passes_split(void) {
    sam_ctx ctx;
    tq q;
    sam_model m;
    sam_opt o;
    float w[4], w0[4], g[4] = {1, 2, 3, 4};
    int k;
    sam_opt_config c = t_cfg(SAM_METHOD_GAM, 0.1, 0.1);
    sam_ctx_init(&ctx, NULL);
    tq_init(&q, 4, 311);
    sam_model_callbacks(&m, 4, tq_lg, NULL, &q);
    t_fill(312, 4, w);
    CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
    q.watch = &o;
    CHECK_OK(sam_opt_step(&ctx, &o, &m, w, NULL, NULL));
    CHECK(q.calls == 4);
    for (k = 0; k < 4; k++) CHECKF(q.pass[k] == k && q.freeze[k] == (k > 0), "call %d: pass %d", k, q.pass[k]);
    memcpy(w0, w, sizeof w);
    CHECK(sam_opt_ascend(&ctx, &o, &m, w, NULL, NULL) == SAM_ERR_UNSUPPORTED);
    CHECK(strstr(sam_ctx_message(&ctx), "GAM") != NULL);
    CHECK(sam_opt_ascend_grad(&ctx, &o, w, g, 1.0, NULL) == SAM_ERR_UNSUPPORTED);
    CHECK(t_same_bits(4, w, w0));
    sam_opt_free(&o);
    sam_ctx_free(&ctx);
}

/* A NaN loss, a NaN gradient or a failing model in ANY of GAM's passes (here
 * 2 groups × 4 passes) leaves w and the saved state byte-identical. */
static void test_optim_gam_nonfinite_untouched(void) {
    sam_ctx ctx;
    tq q;
    tds ds;
    sam_model m;
    int kind, at;
    sam_ctx_init(&ctx, NULL);
    tq_init(&q, 4, 321);
    tds_init(&ds, 6, 4, 322);
    sam_model_callbacks(&m, 4, tq_lg, NULL, &q);
    for (kind = 0; kind < 3; kind++)
        for (at = 0; at < 8; at++) {
            float w[4], w0[4];
            unsigned char s0[2048], s1[2048];
            size_t n0, n1, idx[4] = {0, 1, 2, 3};
            sam_batch b;
            sam_opt o;
            sam_status st;
            sam_opt_config c = t_cfg(SAM_METHOD_GAM, 0.1, 0.1);
            c.base = kind == 1 ? SAM_BASE_SGD : SAM_BASE_ADAM; c.momentum = 0.9;
            c.samples_per_perturbation = 2; c.weight_decay = 0.1;
            c.gam_grad_beta_2 = 0.5; c.gam_grad_beta_3 = 0.7;
            b.data = &ds.d; b.idx = idx; b.n = 4;
            t_fill(323, 4, w);
            CHECK_OK(sam_opt_init(&ctx, &o, &c, &m, NULL, 0));
            CHECK_OK(sam_opt_step(&ctx, &o, &m, w, &b, NULL)); /* some state first */
            CHECK_OK(sam_opt_step(&ctx, &o, &m, w, &b, NULL));
            memcpy(w0, w, sizeof w);
            CHECK_OK(sam_opt_save(&ctx, &o, s0, sizeof s0, &n0));
            q.calls = 0;
            q.nan_at = q.nan_grad_at = q.fail_at = -1;
            if (kind == 0) q.nan_at = at;
            else if (kind == 1) q.nan_grad_at = at;
            else q.fail_at = at;
            st = sam_opt_step(&ctx, &o, &m, w, &b, NULL);
            CHECKF(st == (kind == 2 ? SAM_ERR_ARG : SAM_ERR_NONFINITE), "kind %d at %d: %d", kind, at, (int)st);
            CHECK(q.calls == at + 1); /* stopped at the failing pass */
            CHECK(t_same_bits(4, w, w0));
            CHECK_OK(sam_opt_save(&ctx, &o, s1, sizeof s1, &n1));
            CHECK(n0 == n1 && memcmp(s0, s1, n0) == 0);
            q.nan_at = q.nan_grad_at = q.fail_at = -1;
            /* and the optimizer still works afterwards */
            CHECK_OK(sam_opt_step(&ctx, &o, &m, w, &b, NULL));
            CHECK(!t_same_bits(4, w, w0));
            sam_opt_free(&o);
        }
    sam_ctx_free(&ctx);
}

static void tests_optim(void) {
    RUN_TEST(test_optim_kernels_vs_scalar);
    RUN_TEST(test_optim_quad_sgd_momentum);
    RUN_TEST(test_optim_quad_sam_weight_decay);
    RUN_TEST(test_optim_quad_decay_mask);
    RUN_TEST(test_optim_quad_adam);
    RUN_TEST(test_optim_quad_variants);
    RUN_TEST(test_optim_quad_randsam);
    RUN_TEST(test_optim_quad_msharpness);
    RUN_TEST(test_optim_quad_fsam_looksam);
    RUN_TEST(test_optim_quad_esam);
    RUN_TEST(test_optim_quad_msam);
    RUN_TEST(test_optim_quad_clip_accumulate);
    RUN_TEST(test_optim_schedules);
    RUN_TEST(test_optim_rho0_equals_base);
    RUN_TEST(test_optim_reductions);
    RUN_TEST(test_optim_sam_early_switch);
    RUN_TEST(test_optim_zero_gradient);
    RUN_TEST(test_optim_perturbed_point);
    RUN_TEST(test_optim_asam_invariance);
    RUN_TEST(test_optim_split_equals_step);
    RUN_TEST(test_optim_cnn_batch_reuse);
    RUN_TEST(test_optim_save_restore);
    RUN_TEST(test_optim_nonfinite_untouched);
    RUN_TEST(test_optim_norm_stats_hook);
    RUN_TEST(test_optim_epoch_batches);
    RUN_TEST(test_optim_weight_mask);
    RUN_TEST(test_optim_bad_input);
    RUN_TEST(test_optim_quad_gam);
    RUN_TEST(test_optim_gam_passes_split);
    RUN_TEST(test_optim_gam_nonfinite_untouched);
}
