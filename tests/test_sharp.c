/* tests/test_sharp.c — sharpness estimators and Hessian tools.
 * Oracles: quadratics L = ½wᵀHw + cᵀw with a known eigendecomposition
 * (PAPERS.md §3), and a tiny 2-layer tanh net whose gradient and exact HVP are
 * derived by hand, checked against central finite differences, and whose full
 * Hessian (built column by column from HVPs) goes to a Jacobi eigensolver. */

/* ---- double-precision helpers ---------------------------------------------- */

/* Cyclic Jacobi eigensolver for a symmetric n×n matrix A (destroyed); evals
 * unsorted; V (may be NULL) gets the eigenvectors as columns. */
static void ts_jacobi(int n, double *A, double *evals, double *V) {
    if (V) for (int i = 0; i < n * n; i++) V[i] = (i % (n + 1) == 0) ? 1.0 : 0.0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, tot = 0.0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                tot += A[i * n + j] * A[i * n + j];
                if (i != j) off += A[i * n + j] * A[i * n + j];
            }
        if (off <= 1e-30 * tot || off == 0.0) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = A[p * n + q];
                if (apq == 0.0) continue;
                double theta = (A[q * n + q] - A[p * n + p]) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < n; k++) { /* A J */
                    double akp = A[k * n + p], akq = A[k * n + q];
                    A[k * n + p] = c * akp - s * akq;
                    A[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* Jᵀ (A J) */
                    double apk = A[p * n + k], aqk = A[q * n + k];
                    A[p * n + k] = c * apk - s * aqk;
                    A[q * n + k] = s * apk + c * aqk;
                }
                if (V)
                    for (int k = 0; k < n; k++) {
                        double vkp = V[k * n + p], vkq = V[k * n + q];
                        V[k * n + p] = c * vkp - s * vkq;
                        V[k * n + q] = s * vkp + c * vkq;
                    }
            }
    }
    for (int i = 0; i < n; i++) evals[i] = A[i * n + i];
}

static void ts_sort_desc(int n, double *x) {
    for (int i = 1; i < n; i++) {
        double t = x[i];
        int j = i;
        for (; j > 0 && x[j - 1] < t; j--) x[j] = x[j - 1];
        x[j] = t;
    }
}

/* Random orthogonal Q (n×n, columns orthonormal) by Gram-Schmidt in double. */
static void ts_random_orthogonal(unsigned seed, int n, double *Q) {
    sam_rng r;
    sam_rng_seed(&r, seed, 77);
    for (int i = 0; i < n * n; i++) Q[i] = sam_rng_gauss(&r);
    for (int j = 0; j < n; j++) {
        for (int pass = 0; pass < 2; pass++)
            for (int k = 0; k < j; k++) {
                double d = 0;
                for (int i = 0; i < n; i++) d += Q[i * n + j] * Q[i * n + k];
                for (int i = 0; i < n; i++) Q[i * n + j] -= d * Q[i * n + k];
            }
        double nn = 0;
        for (int i = 0; i < n; i++) nn += Q[i * n + j] * Q[i * n + j];
        nn = sqrt(nn);
        for (int i = 0; i < n; i++) Q[i * n + j] /= nn;
    }
}

/* ---- quadratic objective L = ½wᵀHw + cᵀw ------------------------------------ */

typedef struct ts_quad {
    int n;
    double *H;    /* n×n symmetric */
    double *c;    /* n */
    double *Q;    /* eigenvectors (columns), or NULL for diagonal H */
    double *lam;  /* eigenvalues */
    int calls;
    const sam_batch *last_b; /* the batch the model was last asked about */
} ts_quad;

static sam_status ts_quad_lg(void *u, const float *w, const sam_batch *b, double *loss, float *grad) {
    ts_quad *q = (ts_quad *)u;
    double L = 0.0;
    q->last_b = b;
    q->calls++;
    for (int i = 0; i < q->n; i++) {
        double hw = 0.0;
        for (int j = 0; j < q->n; j++) hw += q->H[i * q->n + j] * (double)w[j];
        L += 0.5 * (double)w[i] * hw + q->c[i] * (double)w[i];
        if (grad) grad[i] = (float)(hw + q->c[i]);
    }
    *loss = L;
    return SAM_OK;
}

static sam_status ts_quad_hvp(void *u, const float *w, const sam_batch *b, const float *v, float *hv) {
    ts_quad *q = (ts_quad *)u;
    (void)w; (void)b;
    for (int i = 0; i < q->n; i++) {
        double s = 0.0;
        for (int j = 0; j < q->n; j++) s += q->H[i * q->n + j] * (double)v[j];
        hv[i] = (float)s;
    }
    return SAM_OK;
}

/* H = Q diag(lam) Qᵀ (dense = 1) or diag(lam); c = cscale * uniform. */
static void ts_quad_make(ts_quad *q, int n, const double *lam, int dense, unsigned seed, double cscale) {
    q->n = n;
    q->calls = 0;
    q->H = (double *)calloc((size_t)n * n, sizeof(double));
    q->c = (double *)calloc((size_t)n, sizeof(double));
    q->lam = (double *)calloc((size_t)n, sizeof(double));
    q->Q = NULL;
    for (int i = 0; i < n; i++) q->lam[i] = lam[i];
    if (dense) {
        q->Q = (double *)calloc((size_t)n * n, sizeof(double));
        ts_random_orthogonal(seed, n, q->Q);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0.0;
                for (int k = 0; k < n; k++) s += q->Q[i * n + k] * lam[k] * q->Q[j * n + k];
                q->H[i * n + j] = s;
            }
        /* exact symmetry */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++) q->H[i * n + j] = q->H[j * n + i];
    } else {
        for (int i = 0; i < n; i++) q->H[i * n + i] = lam[i];
    }
    {
        sam_rng r;
        sam_rng_seed(&r, seed, 78);
        for (int i = 0; i < n; i++) q->c[i] = cscale * (2.0 * sam_rng_uniform(&r) - 1.0);
    }
}

static void ts_quad_free(ts_quad *q) {
    free(q->H); free(q->c); free(q->Q); free(q->lam);
}

static double ts_quad_trace(const ts_quad *q, size_t off, size_t len) {
    double t = 0.0;
    for (size_t i = off; i < off + len; i++) t += q->H[i * q->n + i];
    return t;
}

static void ts_quad_model(sam_model *m, ts_quad *q, int with_hvp) {
    sam_model_callbacks(m, (size_t)q->n, ts_quad_lg, with_hvp ? ts_quad_hvp : NULL, q);
}

/* g = Hw + c and the loss in double, at float w. */
static double ts_quad_grad(const ts_quad *q, const float *w, double *g) {
    double L = 0.0;
    for (int i = 0; i < q->n; i++) {
        double hw = 0.0;
        for (int j = 0; j < q->n; j++) hw += q->H[i * q->n + j] * (double)w[j];
        g[i] = hw + q->c[i];
        L += 0.5 * (double)w[i] * hw + q->c[i] * (double)w[i];
    }
    return L;
}

static void *ts_work(size_t bytes) {
    void *p = malloc(bytes + 1);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}

/* ---- tiny nonlinear model: f(x) = Σ_j a_j tanh(W1_j·x + b_j), L = mean ½(f-y)² ----
 * Parameters (flat): W1 (H×DIN row-major), b (H), a (H). */
#define TS_DIN 3
#define TS_H 4
#define TS_NS 8
#define TS_NP (TS_H * TS_DIN + 2 * TS_H)

typedef struct ts_net {
    double X[TS_NS * TS_DIN];
    double Y[TS_NS];
} ts_net;

/* Loss; grad (may be NULL); hv = ∇²L v by the R-operator (Pearlmutter 1994),
 * both v and hv NULL to skip. All in double. */
static double ts_net_eval(const ts_net *net, const double *p, double *grad, const double *v, double *hv) {
    const double *W = p, *bb = p + TS_H * TS_DIN, *a = p + TS_H * TS_DIN + TS_H;
    double L = 0.0;
    if (grad) for (int i = 0; i < TS_NP; i++) grad[i] = 0.0;
    if (hv) for (int i = 0; i < TS_NP; i++) hv[i] = 0.0;
    for (int s = 0; s < TS_NS; s++) {
        const double *x = net->X + s * TS_DIN;
        double t[TS_H], sd[TS_H], Rt[TS_H], f = 0.0, Rf = 0.0, r;
        for (int j = 0; j < TS_H; j++) {
            double z = bb[j];
            for (int k = 0; k < TS_DIN; k++) z += W[j * TS_DIN + k] * x[k];
            t[j] = tanh(z);
            sd[j] = 1.0 - t[j] * t[j];
            f += a[j] * t[j];
        }
        r = f - net->Y[s];
        L += 0.5 * r * r;
        if (grad)
            for (int j = 0; j < TS_H; j++) {
                double gz = r * a[j] * sd[j];
                for (int k = 0; k < TS_DIN; k++) grad[j * TS_DIN + k] += gz * x[k];
                grad[TS_H * TS_DIN + j] += gz;
                grad[TS_H * TS_DIN + TS_H + j] += r * t[j];
            }
        if (hv) {
            const double *VW = v, *vb = v + TS_H * TS_DIN, *va = v + TS_H * TS_DIN + TS_H;
            for (int j = 0; j < TS_H; j++) {
                double Rz = vb[j];
                for (int k = 0; k < TS_DIN; k++) Rz += VW[j * TS_DIN + k] * x[k];
                Rt[j] = sd[j] * Rz;
                Rf += va[j] * t[j] + a[j] * Rt[j];
            }
            for (int j = 0; j < TS_H; j++) {
                double Rs = -2.0 * t[j] * Rt[j];
                /* R{r a s} = Rf a s + r va s + r a Rs */
                double Rgz = Rf * a[j] * sd[j] + r * va[j] * sd[j] + r * a[j] * Rs;
                for (int k = 0; k < TS_DIN; k++) hv[j * TS_DIN + k] += Rgz * x[k];
                hv[TS_H * TS_DIN + j] += Rgz;
                hv[TS_H * TS_DIN + TS_H + j] += Rf * t[j] + r * Rt[j];
            }
        }
    }
    if (grad) for (int i = 0; i < TS_NP; i++) grad[i] /= TS_NS;
    if (hv) for (int i = 0; i < TS_NP; i++) hv[i] /= TS_NS;
    return L / TS_NS;
}

static sam_status ts_net_lg(void *u, const float *w, const sam_batch *b, double *loss, float *grad) {
    double p[TS_NP], g[TS_NP];
    (void)b;
    for (int i = 0; i < TS_NP; i++) p[i] = w[i];
    *loss = ts_net_eval((const ts_net *)u, p, grad ? g : NULL, NULL, NULL);
    if (grad) for (int i = 0; i < TS_NP; i++) grad[i] = (float)g[i];
    return SAM_OK;
}

static sam_status ts_net_hvp(void *u, const float *w, const sam_batch *b, const float *v, float *hv) {
    double p[TS_NP], vv[TS_NP], h[TS_NP];
    (void)b;
    for (int i = 0; i < TS_NP; i++) { p[i] = w[i]; vv[i] = v[i]; }
    ts_net_eval((const ts_net *)u, p, NULL, vv, h);
    for (int i = 0; i < TS_NP; i++) hv[i] = (float)h[i];
    return SAM_OK;
}

static void ts_net_make_seed(ts_net *net, float *w, uint64_t seed) {
    sam_rng r;
    sam_rng_seed(&r, seed, 5);
    for (int i = 0; i < TS_NS * TS_DIN; i++) net->X[i] = 2.0 * sam_rng_uniform(&r) - 1.0;
    for (int i = 0; i < TS_NS; i++) net->Y[i] = 2.0 * sam_rng_uniform(&r) - 1.0;
    for (int i = 0; i < TS_NP; i++) w[i] = (float)(1.2 * sam_rng_gauss(&r)); /* indefinite Hessian */
}
static void ts_net_make(ts_net *net, float *w) { ts_net_make_seed(net, w, 2030); }

/* Full Hessian of the net from float HVPs through the public interface,
 * column by column; returns the max asymmetry. H is symmetrised. */
static double ts_net_hessian(sam_ctx *ctx, const sam_model *m, const float *w, double *H) {
    float e[TS_NP], col[TS_NP];
    double asym = 0.0;
    for (int j = 0; j < TS_NP; j++) {
        for (int i = 0; i < TS_NP; i++) e[i] = (i == j) ? 1.0f : 0.0f;
        CHECK_OK(sam_model_hvp(ctx, m, w, NULL, e, col, NULL));
        for (int i = 0; i < TS_NP; i++) H[i * TS_NP + j] = col[i];
    }
    for (int i = 0; i < TS_NP; i++)
        for (int j = 0; j < i; j++) {
            double d = fabs(H[i * TS_NP + j] - H[j * TS_NP + i]);
            if (d > asym) asym = d;
            H[i * TS_NP + j] = H[j * TS_NP + i] = 0.5 * (H[i * TS_NP + j] + H[j * TS_NP + i]);
        }
    return asym;
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_sharp_jacobi_oracle(void) {
    /* The test's own oracle must be right: known spectrum back. */
    const int n = 9;
    double lam[9] = {5, -3, 2, 2.5, 0.1, -0.7, 1, 4, 3.3}, ev[9], ref[9];
    ts_quad q;
    ts_quad_make(&q, n, lam, 1, 11, 0.0);
    double *A = (double *)malloc(sizeof(double) * n * n);
    memcpy(A, q.H, sizeof(double) * n * n);
    ts_jacobi(n, A, ev, NULL);
    memcpy(ref, lam, sizeof ref);
    ts_sort_desc(n, ev);
    ts_sort_desc(n, ref);
    for (int i = 0; i < n; i++) CHECK_NEAR(ev[i], ref[i], 1e-12, 0);
    free(A);
    ts_quad_free(&q);
}

static void test_sharp_net_grad_hvp_fd(void) {
    ts_net net;
    float wf[TS_NP];
    double p[TS_NP], g[TS_NP], v[TS_NP], hv[TS_NP], pp[TS_NP], pm[TS_NP], gp[TS_NP], gm[TS_NP];
    const double eps = 1e-5;
    ts_net_make(&net, wf);
    for (int i = 0; i < TS_NP; i++) p[i] = wf[i];
    sam_rng r;
    sam_rng_seed(&r, 5, 9);
    for (int i = 0; i < TS_NP; i++) v[i] = sam_rng_gauss(&r);
    ts_net_eval(&net, p, g, v, hv);
    /* gradient vs central differences of the loss */
    for (int i = 0; i < TS_NP; i++) {
        memcpy(pp, p, sizeof p); memcpy(pm, p, sizeof p);
        pp[i] += eps; pm[i] -= eps;
        double fd = (ts_net_eval(&net, pp, NULL, NULL, NULL) - ts_net_eval(&net, pm, NULL, NULL, NULL)) / (2 * eps);
        CHECK_NEAR(g[i], fd, 1e-8, 1e-6);
    }
    /* HVP vs central differences of the gradient along v */
    for (int i = 0; i < TS_NP; i++) { pp[i] = p[i] + eps * v[i]; pm[i] = p[i] - eps * v[i]; }
    ts_net_eval(&net, pp, gp, NULL, NULL);
    ts_net_eval(&net, pm, gm, NULL, NULL);
    for (int i = 0; i < TS_NP; i++) CHECK_NEAR(hv[i], (gp[i] - gm[i]) / (2 * eps), 1e-7, 1e-6);
}

static void test_sharp_asc_quadratic(void) {
    const int n = 33;
    double lam[33];
    for (int i = 0; i < n; i++) lam[i] = 0.2 + 0.15 * i - (i % 5 == 0 ? 3.0 : 0.0); /* indefinite */
    ts_quad q;
    ts_quad_make(&q, n, lam, 1, 3, 0.5);
    sam_model m;
    ts_quad_model(&m, &q, 0);
    float *w = t_alloc_off((size_t)n);
    t_fill(21, (size_t)n, w);
    double g[33], gn = 0.0, ghg = 0.0;
    double L = ts_quad_grad(&q, w, g);
    for (int i = 0; i < n; i++) gn += g[i] * g[i];
    gn = sqrt(gn);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) ghg += g[i] / gn * q.H[i * n + j] * g[j] / gn;
    void *work = ts_work(sam_sharp_work_bytes(&m, 0));
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        const float rhos[3] = {0.05f, 0.3f, 1.0f};
        for (int k = 0; k < 3; k++) {
            double rho = rhos[k];
            sam_sharpness s;
            CHECK_OK(sam_sharp_asc(&ctx, &m, w, NULL, rhos[k], &s, work));
            /* R^Asc = ρ‖g‖ + ½ρ² ĝᵀHĝ exactly for a quadratic */
            CHECK_NEAR(s.sharp, rho * gn + 0.5 * rho * rho * ghg, 1e-6, 2e-5);
            CHECK_NEAR(s.loss, L, 1e-12, 1e-12);
            CHECK(s.se == 0.0 && s.evals == 2);
        }
        sam_sharpness s;
        CHECK_OK(sam_sharp_asc(&ctx, &m, w, NULL, 0.0f, &s, work));
        CHECK(s.sharp == 0.0);
        /* the caller's batch reaches the model untouched */
        sam_batch batch;
        batch.data = NULL; batch.idx = NULL; batch.n = 3;
        CHECK_OK(sam_sharp_asc(&ctx, &m, w, &batch, 0.1f, &s, work));
        CHECK(q.last_b == &batch);
    }
    /* ‖g‖ = 0 ⇒ 0 (at w = 0 with c = 0) */
    {
        ts_quad q0;
        ts_quad_make(&q0, n, lam, 1, 3, 0.0);
        sam_model m0;
        ts_quad_model(&m0, &q0, 0);
        float *z = t_alloc_off((size_t)n);
        memset(z, 0, sizeof(float) * n);
        sam_sharpness s;
        s.sharp = 99;
        CHECK_OK(sam_sharp_asc(&ctx, &m0, z, NULL, 0.5f, &s, work));
        CHECK(s.sharp == 0.0 && s.loss == 0.0);
        t_free_off(z);
        ts_quad_free(&q0);
    }
    free(work);
    t_free_off(w);
    ts_quad_free(&q);
    sam_ctx_free(&ctx);
}

static void test_sharp_avg_quadratic(void) {
    const int n = 20;
    double lam[20];
    for (int i = 0; i < n; i++) lam[i] = 0.5 + 0.25 * i;
    ts_quad q;
    ts_quad_make(&q, n, lam, 1, 4, 0.2);
    sam_model m;
    ts_quad_model(&m, &q, 0);
    float *w = t_alloc_off((size_t)n);
    t_fill(22, (size_t)n, w);
    double tr = ts_quad_trace(&q, 0, (size_t)n);
    void *work = ts_work(sam_sharp_work_bytes(&m, 0));
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        const double rho = 0.5;
        sam_rng rng;
        sam_sharpness s;
        sam_rng_seed(&rng, 1, SAM_STREAM_DIRECTIONS);
        CHECK_OK(sam_sharp_avg(&ctx, &m, w, NULL, (float)rho, 3000, &rng, &s, work));
        /* R^Avg = ρ² tr(H)/(2D) on the sphere (the gᵀe term has mean 0) */
        double ref = rho * rho * tr / (2.0 * n);
        CHECKF(fabs(s.sharp - ref) <= 4.0 * s.se && s.se > 0, "avg %g ref %g se %g", s.sharp, ref, s.se);
        CHECK(s.se < 0.2 * ref && s.evals == 3001);
        /* Gaussian ball: E[½ρ² uᵀHu] = ½ρ² tr(H) */
        sam_rng_seed(&rng, 2, SAM_STREAM_DIRECTIONS);
        CHECK_OK(sam_sharp_avg_gauss(&ctx, &m, w, NULL, 0.1f, 3000, &rng, &s, work));
        ref = 0.5 * 0.01 * tr;
        CHECKF(fabs(s.sharp - ref) <= 4.0 * s.se && s.se > 0, "gauss %g ref %g se %g", s.sharp, ref, s.se);
        /* same seed, same numbers */
        sam_sharpness s2;
        sam_rng_seed(&rng, 2, SAM_STREAM_DIRECTIONS);
        CHECK_OK(sam_sharp_avg_gauss(&ctx, &m, w, NULL, 0.1f, 3000, &rng, &s2, work));
        CHECK(s2.sharp == s.sharp && s2.se == s.se);
    }
    free(work);
    t_free_off(w);
    ts_quad_free(&q);
    sam_ctx_free(&ctx);
}

/* max gᵀe + ½eᵀHe over ‖e‖ <= ρ for PSD H, via the secular equation
 * ‖(μI - H)⁻¹g‖ = ρ, μ > λ_max, in the eigenbasis (double, bisection). */
static double ts_trust_region_max(const ts_quad *q, const double *g, double rho) {
    int n = q->n;
    double gam[64], lmax = -1e300, gn = 0.0;
    for (int k = 0; k < n; k++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += q->Q[i * n + k] * g[i];
        gam[k] = s;
        gn += s * s;
        if (q->lam[k] > lmax) lmax = q->lam[k];
    }
    gn = sqrt(gn);
    double lo = lmax, hi = lmax + gn / rho + 1e-12;
    for (int it = 0; it < 200; it++) {
        double mu = 0.5 * (lo + hi), ne = 0;
        for (int k = 0; k < n; k++) { double e = gam[k] / (mu - q->lam[k]); ne += e * e; }
        if (ne > rho * rho) lo = mu; else hi = mu;
    }
    double val = 0.0;
    for (int k = 0; k < n; k++) {
        double e = gam[k] / (hi - q->lam[k]);
        val += gam[k] * e + 0.5 * q->lam[k] * e * e;
    }
    return val;
}

static void test_sharp_max_quadratic(void) {
    const int n = 12;
    double lam[12];
    for (int i = 0; i < n; i++) lam[i] = 0.1 + 0.2 * i;
    lam[7] = 4.0; /* λ_max, gap to 2.3 */
    ts_quad q;
    ts_quad_make(&q, n, lam, 1, 6, 0.0);
    sam_model m;
    ts_quad_model(&m, &q, 0);
    float *w = t_alloc_off((size_t)n), *eb = t_alloc_off((size_t)n);
    void *work = ts_work(sam_sharp_work_bytes(&m, 0));
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        const double rho = 0.3;
        sam_rng rng;
        sam_sharpness s;
        memset(w, 0, sizeof(float) * n);
        sam_rng_seed(&rng, 3, SAM_STREAM_DIRECTIONS);
        /* at w = 0: R^Max = ρ² λ_max / 2 */
        CHECK_OK(sam_sharp_max(&ctx, &m, w, NULL, (float)rho, 100, 3, 1.0f, &rng, &s, eb, work));
        CHECK_NEAR(s.sharp, rho * rho * 4.0 / 2.0, 0, 1e-4);
        CHECK(s.sharp <= rho * rho * 4.0 / 2.0 * (1 + 1e-6));
        CHECK(s.evals == 1 + 3 * 101);
        double en = 0;
        for (int i = 0; i < n; i++) en += (double)eb[i] * eb[i];
        CHECK(sqrt(en) <= rho * (1 + 1e-6));
    }
    /* elsewhere: between R^Asc and the true maximum (trust-region oracle) */
    {
        ts_quad q2;
        ts_quad_make(&q2, n, lam, 1, 6, 0.3);
        sam_model m2;
        ts_quad_model(&m2, &q2, 0);
        t_fill(23, (size_t)n, w);
        double g[12];
        ts_quad_grad(&q2, w, g);
        FOR_EACH_ISA(ctx, isa) {
            const float rhos[3] = {0.05f, 0.5f, 2.0f};
            for (int k = 0; k < 3; k++) {
                double truth = ts_trust_region_max(&q2, g, rhos[k]);
                sam_rng rng;
                sam_sharpness smax, sasc;
                sam_rng_seed(&rng, 4, SAM_STREAM_DIRECTIONS);
                CHECK_OK(sam_sharp_max(&ctx, &m2, w, NULL, rhos[k], 50, 2, 0.5f, &rng, &smax, eb, work));
                CHECK_OK(sam_sharp_asc(&ctx, &m2, w, NULL, rhos[k], &sasc, work));
                CHECKF(smax.sharp <= truth + 1e-6 * fabs(truth) + 1e-7, "max %g above truth %g", smax.sharp, truth);
                CHECKF(smax.sharp >= sasc.sharp - 1e-7, "max %g below asc %g", smax.sharp, sasc.sharp);
                CHECK_NEAR(smax.sharp, truth, 1e-7, 1e-3);
                /* the first start is SAM's point ρĝ: even one tiny step is >= R^Asc */
                sam_sharpness s1;
                CHECK_OK(sam_sharp_max(&ctx, &m2, w, NULL, rhos[k], 1, 1, 1e-3f, &rng, &s1, NULL, work));
                CHECKF(s1.sharp >= sasc.sharp - 1e-7 * fabs(sasc.sharp), "one-step max %g below asc %g", s1.sharp, sasc.sharp);
                /* e_best realises the reported value */
                float *wp = t_alloc_off((size_t)n);
                double Lp, L0, gg[12];
                for (int i = 0; i < n; i++) wp[i] = w[i] + eb[i];
                Lp = ts_quad_grad(&q2, wp, gg);
                L0 = ts_quad_grad(&q2, w, gg);
                CHECK_NEAR(Lp - L0, smax.sharp, 1e-9, 1e-9);
                t_free_off(wp);
            }
        }
        ts_quad_free(&q2);
    }
    free(work);
    t_free_off(w);
    t_free_off(eb);
    ts_quad_free(&q);
    sam_ctx_free(&ctx);
}

static void test_sharp_nstep_quadratic(void) {
    const int n = 17;
    double lam[17];
    for (int i = 0; i < n; i++) lam[i] = -0.5 + 0.3 * i;
    ts_quad q;
    ts_quad_make(&q, n, lam, 1, 8, 0.4);
    sam_model m;
    ts_quad_model(&m, &q, 0);
    float *w = t_alloc_off((size_t)n);
    t_fill(24, (size_t)n, w);
    void *work = ts_work(sam_sharp_work_bytes(&m, 0));
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        sam_sharpness s1, sa;
        CHECK_OK(sam_sharp_nstep(&ctx, &m, w, NULL, 0.4f, 1, &s1, work));
        CHECK_OK(sam_sharp_asc(&ctx, &m, w, NULL, 0.4f, &sa, work));
        CHECK(s1.sharp == sa.sharp); /* N = 1 is the standardized sharpness, bit for bit */
        for (int N = 2; N <= 5; N += 3) {
            /* oracle: eq. 5 ascent in double, then eq. 6 */
            double wd[17], g[17];
            float wf[17];
            for (int i = 0; i < n; i++) wd[i] = w[i];
            for (int it = 0; it < N; it++) {
                double gn = 0;
                for (int i = 0; i < n; i++) wf[i] = (float)wd[i];
                for (int i = 0; i < n; i++) {
                    double s = q.c[i];
                    for (int j = 0; j < n; j++) s += q.H[i * n + j] * wd[j];
                    g[i] = s;
                    gn += s * s;
                }
                gn = sqrt(gn);
                for (int i = 0; i < n; i++) wd[i] += 0.4 / N * g[i] / gn;
            }
            double LN = 0, L0 = 0;
            for (int i = 0; i < n; i++) {
                double hw = 0, hw0 = 0;
                for (int j = 0; j < n; j++) { hw += q.H[i * n + j] * wd[j]; hw0 += q.H[i * n + j] * w[j]; }
                LN += 0.5 * wd[i] * hw + q.c[i] * wd[i];
                L0 += 0.5 * (double)w[i] * hw0 + q.c[i] * (double)w[i];
            }
            sam_sharpness s;
            CHECK_OK(sam_sharp_nstep(&ctx, &m, w, NULL, 0.4f, (size_t)N, &s, work));
            CHECK_NEAR(s.sharp, LN - L0, 1e-6, 1e-4);
            CHECK(s.evals == (size_t)N + 1);
            (void)wf;
        }
    }
    free(work);
    t_free_off(w);
    ts_quad_free(&q);
    sam_ctx_free(&ctx);
}

static void test_sharp_hutchinson_diag(void) {
    const size_t sizes[4] = {1, 17, 33, 257};
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (int si = 0; si < 4; si++) {
        int n = (int)sizes[si];
        double *lam = (double *)malloc(sizeof(double) * n);
        for (int i = 0; i < n; i++) lam[i] = 0.5 + (double)(i % 7) - (i % 3 == 0 ? 2.0 : 0.0);
        ts_quad q;
        ts_quad_make(&q, n, lam, 0, 9, 0.1);
        sam_model m;
        ts_quad_model(&m, &q, 1);
        float *w = t_alloc_off((size_t)n);
        t_fill(25, (size_t)n, w);
        void *work = ts_work(sam_hessian_work_bytes(&m, 0, 0));
        double tr = ts_quad_trace(&q, 0, (size_t)n);
        FOR_EACH_ISA(ctx, isa) {
            sam_rng rng;
            sam_trace_est t;
            sam_rng_seed(&rng, 5, SAM_STREAM_PROBES);
            CHECK_OK(sam_hessian_trace(&ctx, &m, w, NULL, NULL, 0, 50, 1e-3, &rng, &t, work));
            /* Rademacher on a diagonal H: zᵀHz = tr H for every z */
            CHECK_NEAR(t.trace, tr, 1e-6, 1e-6);
            CHECK(t.se <= 1e-6 * (1 + fabs(tr)));
            CHECK(t.probes == 10 && t.hvps == 10); /* stopping rule after the minimum */
        }
        free(work);
        t_free_off(w);
        ts_quad_free(&q);
        free(lam);
    }
    sam_ctx_free(&ctx);
}

static void test_sharp_hutchinson_dense(void) {
    const int n = 40;
    double lam[40];
    for (int i = 0; i < n; i++) lam[i] = 1.0 + 0.1 * i - (i % 4 == 0 ? 1.5 : 0.0);
    ts_quad q;
    ts_quad_make(&q, n, lam, 1, 10, 0.1);
    sam_model m;
    ts_quad_model(&m, &q, 1);
    float *w = t_alloc_off((size_t)n);
    t_fill(26, (size_t)n, w);
    void *work = ts_work(sam_hessian_work_bytes(&m, 0, 0));
    double tr = ts_quad_trace(&q, 0, (size_t)n);
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        sam_rng rng;
        sam_trace_est t;
        sam_rng_seed(&rng, 6, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_trace(&ctx, &m, w, NULL, NULL, 0, 400, 0.0, &rng, &t, work));
        CHECKF(fabs(t.trace - tr) <= 4 * t.se && t.se > 0, "hutchinson %g ref %g se %g", t.trace, tr, t.se);
        CHECK(t.probes == 400);
        /* stopping rule: relative se below 5% ends the run early */
        sam_rng_seed(&rng, 7, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_trace(&ctx, &m, w, NULL, NULL, 0, 100000, 0.05, &rng, &t, work));
        CHECK(t.probes >= 10 && t.probes < 100000 && t.se <= 0.05 * fabs(t.trace));
        CHECKF(fabs(t.trace - tr) <= 4 * t.se, "early stop %g ref %g se %g", t.trace, tr, t.se);
    }
    free(work);
    t_free_off(w);
    ts_quad_free(&q);
    sam_ctx_free(&ctx);
}

static void test_sharp_hutchpp(void) {
    const int n = 40;
    double lam[40];
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    /* rank 3 (with a negative eigenvalue): exact once sketch >= rank */
    for (int i = 0; i < n; i++) lam[i] = 0.0;
    lam[3] = 5.0; lam[10] = -2.0; lam[20] = 1.5;
    ts_quad q;
    ts_quad_make(&q, n, lam, 1, 12, 0.1);
    sam_model m;
    ts_quad_model(&m, &q, 1);
    float *w = t_alloc_off((size_t)n);
    t_fill(27, (size_t)n, w);
    void *work = ts_work(sam_hessian_work_bytes(&m, 0, 8));
    FOR_EACH_ISA(ctx, isa) {
        sam_rng rng;
        sam_trace_est t;
        sam_rng_seed(&rng, 8, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_trace_hutchpp(&ctx, &m, w, NULL, NULL, 0, 6, 4, &rng, &t, work));
        CHECK_NEAR(t.trace, 4.5, 1e-4, 1e-4);
        CHECK(t.se <= 1e-4);
        CHECK(t.hvps == 6 + 3 + 4); /* 3 sketch columns survive (rank 3) */
    }
    ts_quad_free(&q);
    /* full rank dense: within its standard error; better than plain Hutchinson's spread */
    for (int i = 0; i < n; i++) lam[i] = 0.2 + 0.05 * i;
    lam[0] = 30.0; lam[1] = 20.0; lam[2] = -10.0;
    ts_quad_make(&q, n, lam, 1, 13, 0.1);
    ts_quad_model(&m, &q, 1);
    double tr = ts_quad_trace(&q, 0, (size_t)n);
    FOR_EACH_ISA(ctx, isa) {
        sam_rng rng;
        sam_trace_est t;
        sam_rng_seed(&rng, 9, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_trace_hutchpp(&ctx, &m, w, NULL, NULL, 0, 8, 100, &rng, &t, work));
        CHECKF(fabs(t.trace - tr) <= 4 * t.se && t.se > 0, "hutch++ %g ref %g se %g", t.trace, tr, t.se);
        CHECK(t.probes == 100 && t.hvps == 116);
    }
    ts_quad_free(&q);
    /* diagonal: within its standard error too */
    ts_quad_make(&q, n, lam, 0, 13, 0.1);
    ts_quad_model(&m, &q, 1);
    FOR_EACH_ISA(ctx, isa) {
        sam_rng rng;
        sam_trace_est t;
        sam_rng_seed(&rng, 10, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_trace_hutchpp(&ctx, &m, w, NULL, NULL, 0, 8, 100, &rng, &t, work));
        CHECKF(fabs(t.trace - tr) <= 4 * t.se + 1e-4, "hutch++ diag %g ref %g se %g", t.trace, tr, t.se);
    }
    free(work);
    t_free_off(w);
    ts_quad_free(&q);
    sam_ctx_free(&ctx);
}

static void test_sharp_tridiag_ql(void) {
    for (int m = 1; m <= 17; m += 4) {
        double d[17], e[18], d0[17], e0[17], z[17 * 17], A[17 * 17], ev[17];
        sam_rng r;
        sam_rng_seed(&r, (uint64_t)m, 3);
        for (int i = 0; i < m; i++) { d[i] = d0[i] = sam_rng_gauss(&r); e[i] = e0[i] = sam_rng_gauss(&r); }
        if (m > 3) { e[1] = e0[1] = 0.0; } /* a split */
        memset(A, 0, sizeof A);
        for (int i = 0; i < m; i++) {
            A[i * m + i] = d0[i];
            if (i + 1 < m) A[i * m + i + 1] = A[(i + 1) * m + i] = e0[i];
        }
        CHECK(sam__tridiag_ql((size_t)m, d, e, z));
        ts_jacobi(m, A, ev, NULL);
        double dd[17];
        memcpy(dd, d, sizeof(double) * m);
        ts_sort_desc(m, dd);
        ts_sort_desc(m, ev);
        for (int i = 0; i < m; i++) CHECK_NEAR(dd[i], ev[i], 1e-12, 1e-12);
        /* T z_j = d_j z_j, Zᵀ Z = I */
        double worst = 0;
        for (int j = 0; j < m; j++)
            for (int i = 0; i < m; i++) {
                double tz = d0[i] * z[i * m + j];
                if (i > 0) tz += e0[i - 1] * z[(i - 1) * m + j];
                if (i + 1 < m) tz += e0[i] * z[(i + 1) * m + j];
                double res = fabs(tz - d[j] * z[i * m + j]);
                if (res > worst) worst = res;
                double o = 0;
                for (int k = 0; k < m; k++) o += z[k * m + i] * z[k * m + j];
                o -= (i == j);
                if (fabs(o) > worst) worst = fabs(o);
            }
        CHECKF(worst < 1e-12, "m=%d residual %g", m, worst);
    }
}

/* Eigenvalues of the tiny net's Hessian: power iteration and Lanczos vs Jacobi. */
static void test_sharp_net_eigs(void) {
    ts_net net;
    float w[TS_NP];
    double H[TS_NP * TS_NP], A[TS_NP * TS_NP], ev[TS_NP], byabs[TS_NP];
    sam_model m;
    sam_ctx ctx;
    int separated = 0;
    double scale = 0.0;
    sam_ctx_init(&ctx, NULL);
    /* The comparison is meaningful only with separated top eigenvalues by
     * magnitude and a negative third one: take the first random net (of a
     * fixed seed list) whose spectrum has them, so the test does not hinge
     * on one random-number sequence. */
    for (uint64_t seed = 2030; seed < 2130 && !separated; seed++) {
        ts_net_make_seed(&net, w, seed);
        sam_model_callbacks(&m, TS_NP, ts_net_lg, ts_net_hvp, &net);
        double asym = ts_net_hessian(&ctx, &m, w, H);
        CHECKF(asym < 1e-5, "Hessian asymmetry %g", asym);
        memcpy(A, H, sizeof H);
        ts_jacobi(TS_NP, A, ev, NULL);
        ts_sort_desc(TS_NP, ev);
        /* order by magnitude for power iteration */
        for (int i = 0; i < TS_NP; i++) byabs[i] = ev[i];
        for (int i = 1; i < TS_NP; i++) {
            double t = byabs[i];
            int j = i;
            for (; j > 0 && fabs(byabs[j - 1]) < fabs(t); j--) byabs[j] = byabs[j - 1];
            byabs[j] = t;
        }
        scale = fabs(byabs[0]);
        separated = fabs(byabs[1]) < 0.8 * scale && fabs(byabs[2]) < 0.8 * fabs(byabs[1]) &&
                    fabs(byabs[3]) < 0.9 * fabs(byabs[2]) && byabs[2] < 0 && ev[TS_NP - 1] < 0;
    }
    CHECKF(separated, "no net with a separated spectrum among 100 seeds");
    size_t nvec = TS_NP;
    void *work = ts_work(sam_hessian_work_bytes(&m, 0, nvec));
    float *evecs = t_alloc_off(3 * (size_t)TS_NP);
    FOR_EACH_ISA(ctx, isa) {
        sam_rng rng;
        double got[TS_NP];
        /* Lanczos with iters = D recovers the whole spectrum */
        sam_rng_seed(&rng, 10, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_lanczos(&ctx, &m, w, NULL, NULL, 0, TS_NP, TS_NP, &rng, got, NULL, work));
        for (int i = 0; i < TS_NP; i++) CHECK_NEAR(got[i], ev[i], 2e-5 * scale, 0);
        /* fewer iterations: the top 3 have converged; Ritz vectors are eigenvectors */
        sam_rng_seed(&rng, 11, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_lanczos(&ctx, &m, w, NULL, NULL, 0, 3, 16, &rng, got, evecs, work));
        for (int i = 0; i < 3; i++) {
            CHECK_NEAR(got[i], ev[i], 1e-4 * scale, 0);
            double res = 0, nn = 0;
            for (int r = 0; r < TS_NP; r++) {
                double hv = 0;
                for (int c = 0; c < TS_NP; c++) hv += H[r * TS_NP + c] * evecs[i * TS_NP + c];
                res += (hv - got[i] * evecs[i * TS_NP + r]) * (hv - got[i] * evecs[i * TS_NP + r]);
                nn += (double)evecs[i * TS_NP + r] * evecs[i * TS_NP + r];
            }
            CHECK_NEAR(nn, 1.0, 1e-4, 0);
            CHECKF(sqrt(res) < 1e-2 * scale, "Ritz residual %g", sqrt(res));
        }
        /* power iteration with deflation: top 3 by magnitude (the third is negative) */
        sam_rng_seed(&rng, 12, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_power(&ctx, &m, w, NULL, NULL, 0, 3, 2000, 1e-12, &rng, got, evecs, work));
        CHECK_NEAR(got[0], byabs[0], 1e-4 * scale, 0);
        CHECK_NEAR(got[1], byabs[1], 1e-4 * scale, 0);
        CHECK_NEAR(got[2], byabs[2], 1e-3 * scale, 0);
        double dot01 = 0;
        for (int r = 0; r < TS_NP; r++) dot01 += (double)evecs[r] * evecs[TS_NP + r];
        CHECK(fabs(dot01) < 1e-4);
    }
    t_free_off(evecs);
    free(work);
    sam_ctx_free(&ctx);
}

static void test_sharp_lanczos_quadratic(void) {
    /* dense, D = 255 (vector tails), distinct top eigenvalues */
    const int n = 255;
    double *lam = (double *)malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) lam[i] = 1.0 * ((i * 37) % 100) / 100.0;
    lam[5] = 10.0; lam[100] = 8.0; lam[200] = 6.0; lam[7] = -4.0;
    ts_quad q;
    ts_quad_make(&q, n, lam, 1, 14, 0.0);
    sam_model m;
    ts_quad_model(&m, &q, 1);
    float *w = t_alloc_off((size_t)n);
    t_fill(28, (size_t)n, w);
    void *work = ts_work(sam_hessian_work_bytes(&m, 0, 40));
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        sam_rng rng;
        double got[3];
        sam_rng_seed(&rng, 13, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_lanczos(&ctx, &m, w, NULL, NULL, 0, 3, 40, &rng, got, NULL, work));
        CHECK_NEAR(got[0], 10.0, 1e-4, 1e-5);
        CHECK_NEAR(got[1], 8.0, 1e-4, 1e-5);
        CHECK_NEAR(got[2], 6.0, 1e-4, 1e-5);
        sam_rng_seed(&rng, 14, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_power(&ctx, &m, w, NULL, NULL, 0, 1, 500, 1e-9, &rng, got, NULL, work));
        CHECK_NEAR(got[0], 10.0, 1e-4, 1e-4);
    }
    /* H = 0 everywhere: an invariant subspace at every step, all zeros */
    {
        ts_quad z;
        double *zl = (double *)calloc((size_t)n, sizeof(double));
        ts_quad_make(&z, 20, zl, 0, 1, 0.0);
        sam_model mz;
        ts_quad_model(&mz, &z, 1);
        sam_rng rng;
        double got[2] = {7, 7};
        sam_rng_seed(&rng, 15, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_lanczos(&ctx, &mz, w, NULL, NULL, 0, 2, 10, &rng, got, NULL, work));
        CHECK(got[0] == 0.0 && got[1] == 0.0);
        ts_quad_free(&z);
        free(zl);
    }
    free(work);
    free(lam);
    t_free_off(w);
    ts_quad_free(&q);
    sam_ctx_free(&ctx);
}

static void test_sharp_slq(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    /* diagonal, distinct eigenvalues, iters = D: nodes are the eigenvalues,
     * each weight (1/D)/probes (a Rademacher start has equal components) */
    {
        const int n = 12, probes = 3;
        double lam[12], nodes[3 * 12], weights[3 * 12];
        for (int i = 0; i < n; i++) lam[i] = -1.0 + 0.5 * i;
        ts_quad q;
        ts_quad_make(&q, n, lam, 0, 15, 0.0);
        sam_model m;
        ts_quad_model(&m, &q, 1);
        float w[12] = {0};
        void *work = ts_work(sam_hessian_work_bytes(&m, 0, (size_t)n));
        FOR_EACH_ISA(ctx, isa) {
            sam_rng rng;
            sam_rng_seed(&rng, 16, SAM_STREAM_PROBES);
            CHECK_OK(sam_hessian_slq(&ctx, &m, w, NULL, NULL, 0, (size_t)n, probes, &rng, nodes, weights, work));
            for (int p = 0; p < probes; p++) {
                double nd[12], sw = 0, m1 = 0;
                for (int i = 0; i < n; i++) {
                    nd[i] = nodes[p * n + i];
                    sw += weights[p * n + i];
                    m1 += weights[p * n + i] * nodes[p * n + i];
                    CHECK_NEAR(weights[p * n + i], 1.0 / n / probes, 1e-5, 0);
                }
                ts_sort_desc(n, nd);
                for (int i = 0; i < n; i++) CHECK_NEAR(nd[i], lam[n - 1 - i], 1e-4, 0);
                CHECK_NEAR(sw, 1.0 / probes, 1e-12, 0);
                CHECK_NEAR(m1 * probes, ts_quad_trace(&q, 0, (size_t)n) / n, 1e-5, 1e-5);
            }
        }
        free(work);
        ts_quad_free(&q);
    }
    /* dense: weights sum to 1, first moment = tr(H)/D within 4 standard errors */
    {
        const int n = 60, iters = 15, probes = 40;
        double lam[60];
        for (int i = 0; i < n; i++) lam[i] = 0.1 * i - 1.0;
        ts_quad q;
        ts_quad_make(&q, n, lam, 1, 16, 0.0);
        sam_model m;
        ts_quad_model(&m, &q, 1);
        float *w = t_alloc_off((size_t)n);
        t_fill(29, (size_t)n, w);
        double *nodes = (double *)malloc(sizeof(double) * iters * probes);
        double *weights = (double *)malloc(sizeof(double) * iters * probes);
        void *work = ts_work(sam_hessian_work_bytes(&m, 0, (size_t)iters));
        double tr = ts_quad_trace(&q, 0, (size_t)n);
        FOR_EACH_ISA(ctx, isa) {
            sam_rng rng;
            sam_rng_seed(&rng, 17, SAM_STREAM_PROBES);
            CHECK_OK(sam_hessian_slq(&ctx, &m, w, NULL, NULL, 0, (size_t)iters, probes, &rng, nodes, weights, work));
            double sw = 0, mean = 0, m2 = 0, lo = 1e300, hi = -1e300;
            for (int p = 0; p < probes; p++) {
                double mp = 0;
                for (int i = 0; i < iters; i++) {
                    sw += weights[p * iters + i];
                    mp += weights[p * iters + i] * nodes[p * iters + i] * probes;
                    CHECK(weights[p * iters + i] >= 0);
                    if (nodes[p * iters + i] < lo) lo = nodes[p * iters + i];
                    if (nodes[p * iters + i] > hi) hi = nodes[p * iters + i];
                }
                mean += mp;
                m2 += mp * mp;
            }
            mean /= probes;
            double se = sqrt((m2 / probes - mean * mean) / (probes - 1));
            CHECK_NEAR(sw, 1.0, 1e-10, 0);
            CHECKF(fabs(mean - tr / n) <= 4 * se && se > 0, "SLQ first moment %g ref %g se %g", mean, tr / n, se);
            /* Ritz values lie inside the spectrum, extremes found */
            CHECK(lo >= -1.0 - 1e-4 && hi <= 4.9 + 1e-4 && hi > 4.8 && lo < -0.9);
            /* the smoothed density integrates to Σ weights = 1 */
            double grid[400], dens[400], integral = 0;
            for (int g = 0; g < 400; g++) grid[g] = -3.0 + 10.0 * g / 399.0;
            CHECK_OK(sam_slq_density(&ctx, (size_t)(iters * probes), nodes, weights, 0.1, 400, grid, dens));
            for (int g = 0; g + 1 < 400; g++) integral += 0.5 * (dens[g] + dens[g + 1]) * (grid[g + 1] - grid[g]);
            CHECK_NEAR(integral, 1.0, 1e-4, 0);
        }
        free(work);
        free(nodes);
        free(weights);
        t_free_off(w);
        ts_quad_free(&q);
    }
    /* density of a single node is the normal pdf */
    {
        double node = 1.0, wt = 1.0, grid[2] = {1.0, 2.0}, dens[2];
        CHECK_OK(sam_slq_density(&ctx, 1, &node, &wt, 0.5, 2, grid, dens));
        CHECK_NEAR(dens[0], 1.0 / (0.5 * sqrt(2 * 3.14159265358979323846)), 1e-12, 1e-12);
        CHECK_NEAR(dens[1], exp(-2.0) / (0.5 * sqrt(2 * 3.14159265358979323846)), 1e-12, 1e-12);
    }
    sam_ctx_free(&ctx);
}

static void test_sharp_blocks(void) {
    const int n = 20;
    const sam_block blk[3] = {{0, 5}, {5, 7}, {12, 8}};
    double lam[20];
    for (int i = 0; i < n; i++) lam[i] = 0.3 * i - 1.0;
    ts_quad q;
    ts_quad_make(&q, n, lam, 1, 17, 0.1);
    sam_model m;
    ts_quad_model(&m, &q, 1);
    float *w = t_alloc_off((size_t)n);
    t_fill(30, (size_t)n, w);
    void *work = ts_work(sam_hessian_work_bytes(&m, 0, 8));
    float *evecs = t_alloc_off(3 * (size_t)n);
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        sam_rng rng;
        sam_trace_est t[3];
        sam_rng_seed(&rng, 18, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_trace(&ctx, &m, w, NULL, blk, 3, 300, 0.0, &rng, t, work));
        for (int b = 0; b < 3; b++) {
            double ref = ts_quad_trace(&q, blk[b].offset, blk[b].length);
            CHECKF(fabs(t[b].trace - ref) <= 4 * t[b].se + 1e-6, "block %d: %g ref %g se %g", b, t[b].trace, ref, t[b].se);
        }
        /* Hutch++ with sketch = block length is exact: the block's trace */
        const sam_block b2[2] = {{3, 6}, {12, 8}};
        sam_rng_seed(&rng, 19, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_trace_hutchpp(&ctx, &m, w, NULL, b2, 2, 6, 2, &rng, t, work));
        CHECK_NEAR(t[0].trace, ts_quad_trace(&q, 3, 6), 1e-4, 1e-4);
        /* Lanczos and power on each block: eigenvalues of H_bb */
        for (int b = 0; b < 3; b++) {
            size_t off = blk[b].offset, len = blk[b].length;
            double sub[64], ev[8];
            for (size_t i = 0; i < len; i++)
                for (size_t j = 0; j < len; j++) sub[i * len + j] = q.H[(off + i) * n + off + j];
            ts_jacobi((int)len, sub, ev, NULL);
            ts_sort_desc((int)len, ev);
            double got[3 * 5];
            sam_rng_seed(&rng, 20 + (uint64_t)b, SAM_STREAM_PROBES);
            CHECK_OK(sam_hessian_lanczos(&ctx, &m, w, NULL, &blk[b], 1, 2, len, &rng, got, evecs, work));
            CHECK_NEAR(got[0], ev[0], 1e-5, 1e-5);
            CHECK_NEAR(got[1], ev[1], 1e-5, 1e-5);
            int outside = 0;
            for (int i = 0; i < n; i++)
                if ((size_t)i < off || (size_t)i >= off + len) outside += evecs[i] != 0.0f || evecs[n + i] != 0.0f;
            CHECK(outside == 0);
        }
        /* all three blocks in one call: evals laid out block-major */
        double got[3 * 2];
        sam_rng_seed(&rng, 24, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_lanczos(&ctx, &m, w, NULL, blk, 3, 2, 5, &rng, got, NULL, work));
        {
            size_t off = blk[0].offset, len = blk[0].length;
            double sub[64], ev[8];
            for (size_t i = 0; i < len; i++)
                for (size_t j = 0; j < len; j++) sub[i * len + j] = q.H[(off + i) * n + off + j];
            ts_jacobi((int)len, sub, ev, NULL);
            ts_sort_desc((int)len, ev);
            CHECK_NEAR(got[0], ev[0], 1e-5, 1e-5);
            CHECK_NEAR(got[1], ev[1], 1e-5, 1e-5);
        }
        /* SLQ per block: weights of each block sum to 1 */
        double nodes[3 * 2 * 5], weights[3 * 2 * 5];
        sam_rng_seed(&rng, 25, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_slq(&ctx, &m, w, NULL, blk, 3, 5, 2, &rng, nodes, weights, work));
        for (int b = 0; b < 3; b++) {
            double s = 0;
            for (int i = 0; i < 10; i++) s += weights[b * 10 + i];
            CHECK_NEAR(s, 1.0, 1e-10, 0);
        }
    }
    /* diagonal H: block traces exact */
    {
        ts_quad qd;
        ts_quad_make(&qd, n, lam, 0, 18, 0.1);
        sam_model md;
        ts_quad_model(&md, &qd, 1);
        sam_rng rng;
        sam_trace_est t[3];
        sam_rng_seed(&rng, 26, SAM_STREAM_PROBES);
        CHECK_OK(sam_hessian_trace(&ctx, &md, w, NULL, blk, 3, 5, 0.0, &rng, t, work));
        for (int b = 0; b < 3; b++) CHECK_NEAR(t[b].trace, ts_quad_trace(&qd, blk[b].offset, blk[b].length), 1e-5, 1e-6);
        ts_quad_free(&qd);
    }
    t_free_off(evecs);
    free(work);
    t_free_off(w);
    ts_quad_free(&q);
    sam_ctx_free(&ctx);
}

static void test_sharp_landscape(void) {
    const int n = 9;
    double lam[9] = {1, 2, 3, -1, 0.5, 4, 2, 1, 0.1};
    ts_quad q;
    ts_quad_make(&q, n, lam, 1, 19, 0.3);
    sam_model m;
    ts_quad_model(&m, &q, 0);
    float *w = t_alloc_off((size_t)n), *d1 = t_alloc_off((size_t)n), *d2 = t_alloc_off((size_t)n);
    t_fill(31, (size_t)n, w);
    t_fill(32, (size_t)n, d1);
    t_fill(33, (size_t)n, d2);
    void *work = ts_work(sam_sharp_work_bytes(&m, 0));
    const float alpha[5] = {-1.0f, -0.5f, 0.0f, 0.25f, 1.0f}, beta[3] = {-0.5f, 0.0f, 0.5f};
    double g[9], L0 = ts_quad_grad(&q, w, g);
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        double out1[5], out2[15];
        CHECK_OK(sam_landscape_1d(&ctx, &m, w, NULL, d1, NULL, NULL, 0, 0, 5, alpha, out1, work));
        CHECK(out1[2] == L0); /* through L(w) exactly at the origin */
        double gd = 0, dhd = 0;
        for (int i = 0; i < n; i++) {
            gd += g[i] * d1[i];
            for (int j = 0; j < n; j++) dhd += d1[i] * q.H[i * n + j] * d1[j];
        }
        for (int i = 0; i < 5; i++) CHECK_NEAR(out1[i], L0 + alpha[i] * gd + 0.5 * alpha[i] * alpha[i] * dhd, 1e-5, 1e-5);
        CHECK_OK(sam_landscape_2d(&ctx, &m, w, NULL, d1, d2, NULL, NULL, 0, 0, 5, alpha, 3, beta, out2, work));
        CHECK(out2[1 * 5 + 2] == L0);
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 5; i++) {
                float wp[9];
                double gg[9];
                for (int k = 0; k < n; k++) wp[k] = w[k] + alpha[i] * d1[k] + beta[j] * d2[k];
                CHECK_NEAR(out2[j * 5 + i], ts_quad_grad(&q, wp, gg), 1e-5, 1e-5);
            }
        /* filter normalisation: each block of d rescaled to ‖w_b‖ */
        const sam_block fb[2] = {{0, 4}, {4, 3}}; /* coordinates 7, 8 are left raw */
        float dn[9];
        memcpy(dn, d1, sizeof dn);
        for (int b = 0; b < 2; b++) {
            double nd = 0, nw = 0;
            for (size_t k = fb[b].offset; k < fb[b].offset + fb[b].length; k++) { nd += (double)d1[k] * d1[k]; nw += (double)w[k] * w[k]; }
            for (size_t k = fb[b].offset; k < fb[b].offset + fb[b].length; k++) dn[k] = (float)(d1[k] * sqrt(nw / nd));
        }
        CHECK_OK(sam_landscape_1d(&ctx, &m, w, NULL, d1, NULL, fb, 2, 1, 5, alpha, out1, work));
        CHECK(out1[2] == L0);
        for (int i = 0; i < 5; i++) {
            float wp[9];
            double gg[9];
            for (int k = 0; k < n; k++) wp[k] = w[k] + alpha[i] * dn[k];
            CHECK_NEAR(out1[i], ts_quad_grad(&q, wp, gg), 1e-5, 1e-5);
        }
        /* random directions: reproducible from the seed, origin exact */
        sam_rng r1, r2;
        double o1[15], o2[15];
        sam_rng_seed(&r1, 40, SAM_STREAM_DIRECTIONS);
        sam_rng_seed(&r2, 40, SAM_STREAM_DIRECTIONS);
        CHECK_OK(sam_landscape_2d(&ctx, &m, w, NULL, NULL, NULL, &r1, fb, 2, 1, 5, alpha, 3, beta, o1, work));
        CHECK_OK(sam_landscape_2d(&ctx, &m, w, NULL, NULL, NULL, &r2, fb, 2, 1, 5, alpha, 3, beta, o2, work));
        CHECK(memcmp(o1, o2, sizeof o1) == 0 && o1[7] == L0 && o1[0] != L0);
    }
    free(work);
    t_free_off(w); t_free_off(d1); t_free_off(d2);
    ts_quad_free(&q);
    sam_ctx_free(&ctx);
}

/* Bad input: status, a message naming the function and argument, outputs untouched. */
#define TS_BAD(call, status, word) do { sam_status t_s_ = (call); \
    CHECKF(t_s_ == (status), "%s returned %d, expected %d", #call, (int)t_s_, (int)(status)); \
    CHECKF(strstr(sam_ctx_message(&ctx), word) != NULL, "%s: message '%s' lacks '%s'", #call, sam_ctx_message(&ctx), word); \
    } while (0)

static void test_sharp_bad_input(void) {
    const int n = 6;
    double lam[6] = {1, 2, 3, 4, 5, 6};
    ts_quad q;
    ts_quad_make(&q, n, lam, 0, 20, 0.1);
    sam_model m, mnohvp;
    ts_quad_model(&m, &q, 1);
    ts_quad_model(&mnohvp, &q, 0);
    float w[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, wnan[6] = {0, 0, NAN, 0, 0, 0};
    void *work = ts_work(sam_hessian_work_bytes(&m, 0, 6) + sam_sharp_work_bytes(&m, 0));
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    sam_rng rng;
    sam_rng_seed(&rng, 1, SAM_STREAM_PROBES);
    sam_sharpness s, s0;
    memset(&s0, 0x5a, sizeof s0);
    s = s0;
    q.calls = 0;
    TS_BAD(sam_sharp_asc(&ctx, &m, w, NULL, -0.1f, &s, work), SAM_ERR_ARG, "rho");
    TS_BAD(sam_sharp_asc(&ctx, &m, w, NULL, NAN, &s, work), SAM_ERR_ARG, "rho");
    TS_BAD(sam_sharp_asc(&ctx, &m, w, NULL, INFINITY, &s, work), SAM_ERR_ARG, "rho");
    TS_BAD(sam_sharp_asc(&ctx, NULL, w, NULL, 0.1f, &s, work), SAM_ERR_NULL, "model");
    TS_BAD(sam_sharp_asc(&ctx, &m, NULL, NULL, 0.1f, &s, work), SAM_ERR_NULL, "w");
    TS_BAD(sam_sharp_asc(&ctx, &m, w, NULL, 0.1f, NULL, work), SAM_ERR_NULL, "out");
    TS_BAD(sam_sharp_asc(&ctx, &m, w, NULL, 0.1f, &s, NULL), SAM_ERR_NULL, "work");
    TS_BAD(sam_sharp_asc(&ctx, &m, wnan, NULL, 0.1f, &s, work), SAM_ERR_NONFINITE, "w is not finite");
    CHECK(sam_sharp_asc(NULL, &m, w, NULL, 0.1f, &s, work) == SAM_ERR_NULL);
    TS_BAD(sam_sharp_avg(&ctx, &m, w, NULL, 0.1f, 0, &rng, &s, work), SAM_ERR_ARG, "K");
    TS_BAD(sam_sharp_avg(&ctx, &m, w, NULL, -1.0f, 10, &rng, &s, work), SAM_ERR_ARG, "sam_sharp_avg: rho");
    TS_BAD(sam_sharp_avg(&ctx, &m, w, NULL, 0.1f, 10, NULL, &s, work), SAM_ERR_NULL, "rng");
    TS_BAD(sam_sharp_avg_gauss(&ctx, &m, w, NULL, 0.1f, 0, &rng, &s, work), SAM_ERR_ARG, "sam_sharp_avg_gauss: K");
    TS_BAD(sam_sharp_max(&ctx, &m, w, NULL, 0.1f, 0, 1, 1.0f, &rng, &s, NULL, work), SAM_ERR_ARG, "steps");
    TS_BAD(sam_sharp_max(&ctx, &m, w, NULL, 0.1f, 5, 0, 1.0f, &rng, &s, NULL, work), SAM_ERR_ARG, "restarts");
    TS_BAD(sam_sharp_max(&ctx, &m, w, NULL, 0.1f, 5, 1, 0.0f, &rng, &s, NULL, work), SAM_ERR_ARG, "step");
    TS_BAD(sam_sharp_max(&ctx, &m, w, NULL, -0.1f, 5, 1, 1.0f, &rng, &s, NULL, work), SAM_ERR_ARG, "rho");
    TS_BAD(sam_sharp_nstep(&ctx, &m, w, NULL, 0.1f, 0, &s, work), SAM_ERR_ARG, "N");
    TS_BAD(sam_sharp_nstep(&ctx, &m, w, NULL, -0.1f, 2, &s, work), SAM_ERR_ARG, "rho");
    CHECK(memcmp(&s, &s0, sizeof s) == 0);

    sam_trace_est t[2], t0[2];
    memset(t0, 0x5a, sizeof t0);
    memcpy(t, t0, sizeof t);
    const sam_block bad1[1] = {{4, 3}}, bad0[1] = {{0, 0}}, ok2[2] = {{0, 3}, {3, 3}};
    TS_BAD(sam_hessian_trace(&ctx, &mnohvp, w, NULL, NULL, 0, 10, 0.0, &rng, t, work), SAM_ERR_UNSUPPORTED, "Hessian-vector");
    TS_BAD(sam_hessian_trace(&ctx, &m, w, NULL, NULL, 0, 0, 0.0, &rng, t, work), SAM_ERR_ARG, "max_probes");
    TS_BAD(sam_hessian_trace(&ctx, &m, w, NULL, NULL, 0, 10, -1.0, &rng, t, work), SAM_ERR_ARG, "rel_tol");
    TS_BAD(sam_hessian_trace(&ctx, &m, w, NULL, NULL, 0, 10, 0.0, NULL, t, work), SAM_ERR_NULL, "rng");
    TS_BAD(sam_hessian_trace(&ctx, &m, w, NULL, NULL, 2, 10, 0.0, &rng, t, work), SAM_ERR_NULL, "blocks");
    TS_BAD(sam_hessian_trace(&ctx, &m, w, NULL, bad1, 1, 10, 0.0, &rng, t, work), SAM_ERR_ARG, "blocks[0]");
    TS_BAD(sam_hessian_trace(&ctx, &m, w, NULL, bad0, 1, 10, 0.0, &rng, t, work), SAM_ERR_ARG, "blocks[0].length");
    TS_BAD(sam_hessian_trace(&ctx, &m, w, NULL, NULL, 0, 10, 0.0, &rng, NULL, work), SAM_ERR_NULL, "out");
    TS_BAD(sam_hessian_trace_hutchpp(&ctx, &mnohvp, w, NULL, NULL, 0, 2, 2, &rng, t, work), SAM_ERR_UNSUPPORTED, "Hessian-vector");
    TS_BAD(sam_hessian_trace_hutchpp(&ctx, &m, w, NULL, NULL, 0, 0, 2, &rng, t, work), SAM_ERR_ARG, "sketch");
    TS_BAD(sam_hessian_trace_hutchpp(&ctx, &m, w, NULL, NULL, 0, 2, 0, &rng, t, work), SAM_ERR_ARG, "probes");
    TS_BAD(sam_hessian_trace_hutchpp(&ctx, &m, w, NULL, ok2, 2, 4, 2, &rng, t, work), SAM_ERR_ARG, "sketch");
    CHECK(memcmp(t, t0, sizeof t) == 0);

    double ev[12], ev0[12], nodes[12], weights[12];
    float vec[12];
    memset(ev0, 0x5a, sizeof ev0);
    memcpy(ev, ev0, sizeof ev);
    memcpy(nodes, ev0, sizeof ev);
    memcpy(weights, ev0, sizeof ev);
    for (int i = 0; i < 12; i++) vec[i] = 42.0f;
    TS_BAD(sam_hessian_power(&ctx, &mnohvp, w, NULL, NULL, 0, 1, 10, 0.0, &rng, ev, vec, work), SAM_ERR_UNSUPPORTED, "Hessian-vector");
    TS_BAD(sam_hessian_power(&ctx, &m, w, NULL, NULL, 0, 0, 10, 0.0, &rng, ev, vec, work), SAM_ERR_ARG, "k");
    TS_BAD(sam_hessian_power(&ctx, &m, w, NULL, NULL, 0, 7, 10, 0.0, &rng, ev, vec, work), SAM_ERR_ARG, "k");
    TS_BAD(sam_hessian_power(&ctx, &m, w, NULL, NULL, 0, 1, 0, 0.0, &rng, ev, vec, work), SAM_ERR_ARG, "max_iter");
    TS_BAD(sam_hessian_power(&ctx, &m, w, NULL, NULL, 0, 1, 10, NAN, &rng, ev, vec, work), SAM_ERR_ARG, "tol");
    TS_BAD(sam_hessian_power(&ctx, &m, w, NULL, NULL, 0, 1, 10, 0.0, &rng, NULL, vec, work), SAM_ERR_NULL, "evals");
    TS_BAD(sam_hessian_lanczos(&ctx, &mnohvp, w, NULL, NULL, 0, 1, 3, &rng, ev, vec, work), SAM_ERR_UNSUPPORTED, "Hessian-vector");
    TS_BAD(sam_hessian_lanczos(&ctx, &m, w, NULL, NULL, 0, 0, 3, &rng, ev, vec, work), SAM_ERR_ARG, "k");
    TS_BAD(sam_hessian_lanczos(&ctx, &m, w, NULL, NULL, 0, 4, 3, &rng, ev, vec, work), SAM_ERR_ARG, "iters");
    TS_BAD(sam_hessian_lanczos(&ctx, &m, w, NULL, NULL, 0, 1, 7, &rng, ev, vec, work), SAM_ERR_ARG, "iters");
    TS_BAD(sam_hessian_lanczos(&ctx, &m, w, NULL, ok2, 2, 1, 4, &rng, ev, vec, work), SAM_ERR_ARG, "blocks[0].length");
    TS_BAD(sam_hessian_lanczos(&ctx, &m, wnan, NULL, NULL, 0, 1, 3, &rng, ev, vec, work), SAM_ERR_NONFINITE, "w");
    TS_BAD(sam_hessian_slq(&ctx, &mnohvp, w, NULL, NULL, 0, 3, 2, &rng, nodes, weights, work), SAM_ERR_UNSUPPORTED, "Hessian-vector");
    TS_BAD(sam_hessian_slq(&ctx, &m, w, NULL, NULL, 0, 0, 2, &rng, nodes, weights, work), SAM_ERR_ARG, "iters");
    TS_BAD(sam_hessian_slq(&ctx, &m, w, NULL, NULL, 0, 3, 0, &rng, nodes, weights, work), SAM_ERR_ARG, "probes");
    TS_BAD(sam_hessian_slq(&ctx, &m, w, NULL, NULL, 0, 3, 2, &rng, nodes, NULL, work), SAM_ERR_NULL, "weights");
    TS_BAD(sam_hessian_slq(&ctx, &m, w, NULL, NULL, 0, 3, 2, &rng, NULL, weights, work), SAM_ERR_NULL, "nodes");
    CHECK(memcmp(ev, ev0, sizeof ev) == 0 && memcmp(nodes, ev0, sizeof ev) == 0 && memcmp(weights, ev0, sizeof ev) == 0);
    int vec_ok = 1;
    for (int i = 0; i < 12; i++) vec_ok &= vec[i] == 42.0f;
    CHECK(vec_ok);
    double grid[2] = {0, 1}, dens[2] = {7, 7};
    TS_BAD(sam_slq_density(&ctx, 2, nodes, weights, 0.0, 2, grid, dens), SAM_ERR_ARG, "sigma");
    TS_BAD(sam_slq_density(&ctx, 2, NULL, weights, 0.1, 2, grid, dens), SAM_ERR_NULL, "nodes");
    TS_BAD(sam_slq_density(&ctx, 2, nodes, weights, 0.1, 2, grid, NULL), SAM_ERR_NULL, "density");
    CHECK(dens[0] == 7 && dens[1] == 7);

    const float alpha[2] = {0, 1}, abad[2] = {0, NAN};
    double grid_out[4] = {7, 7, 7, 7};
    TS_BAD(sam_landscape_1d(&ctx, &m, w, NULL, NULL, NULL, NULL, 0, 0, 2, alpha, grid_out, work), SAM_ERR_NULL, "rng");
    TS_BAD(sam_landscape_1d(&ctx, &m, w, NULL, w, NULL, NULL, 0, 0, 0, alpha, grid_out, work), SAM_ERR_ARG, "grid");
    TS_BAD(sam_landscape_1d(&ctx, &m, w, NULL, w, NULL, NULL, 0, 0, 2, NULL, grid_out, work), SAM_ERR_NULL, "alpha");
    TS_BAD(sam_landscape_1d(&ctx, &m, w, NULL, w, NULL, NULL, 0, 0, 2, abad, grid_out, work), SAM_ERR_NONFINITE, "alpha");
    TS_BAD(sam_landscape_1d(&ctx, &m, w, NULL, w, NULL, NULL, 0, 1, 2, alpha, grid_out, work), SAM_ERR_NULL, "blocks");
    TS_BAD(sam_landscape_1d(&ctx, &m, w, NULL, w, NULL, bad1, 1, 1, 2, alpha, grid_out, work), SAM_ERR_ARG, "blocks[0]");
    TS_BAD(sam_landscape_1d(&ctx, &m, w, NULL, w, NULL, NULL, 0, 0, 2, alpha, NULL, work), SAM_ERR_NULL, "loss");
    TS_BAD(sam_landscape_2d(&ctx, &m, w, NULL, w, w, NULL, NULL, 0, 0, 2, alpha, 0, alpha, grid_out, work), SAM_ERR_ARG, "grid");
    TS_BAD(sam_landscape_2d(&ctx, &m, w, NULL, w, w, NULL, NULL, 0, 0, 2, alpha, 2, NULL, grid_out, work), SAM_ERR_NULL, "beta");
    TS_BAD(sam_landscape_2d(&ctx, &m, w, NULL, w, NULL, NULL, NULL, 0, 0, 2, alpha, 2, alpha, grid_out, work), SAM_ERR_NULL, "rng");
    CHECK(grid_out[0] == 7 && grid_out[3] == 7);
    CHECK(q.calls == 0); /* no model call was made by any rejected request */
    free(work);
    ts_quad_free(&q);
    sam_ctx_free(&ctx);
}

/* A model whose HVP turns non-finite: the status comes back, scalars untouched. */
static sam_status ts_bad_hvp(void *u, const float *w, const sam_batch *b, const float *v, float *hv) {
    (void)u; (void)w; (void)b; (void)v;
    hv[0] = NAN;
    return SAM_OK;
}

static void test_sharp_model_failure(void) {
    double lam[4] = {1, 2, 3, 4};
    ts_quad q;
    ts_quad_make(&q, 4, lam, 0, 21, 0.1);
    sam_model m;
    sam_model_callbacks(&m, 4, ts_quad_lg, ts_bad_hvp, &q);
    float w[4] = {1, 2, 3, 4};
    void *work = ts_work(sam_hessian_work_bytes(&m, 0, 4));
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    sam_rng rng;
    sam_rng_seed(&rng, 1, SAM_STREAM_PROBES);
    sam_trace_est t;
    memset(&t, 0x5a, sizeof t);
    sam_trace_est t0 = t;
    double ev[2] = {7, 7};
    CHECK(sam_hessian_trace(&ctx, &m, w, NULL, NULL, 0, 5, 0.0, &rng, &t, work) == SAM_ERR_NONFINITE);
    CHECK(memcmp(&t, &t0, sizeof t) == 0);
    CHECK(sam_hessian_lanczos(&ctx, &m, w, NULL, NULL, 0, 2, 3, &rng, ev, NULL, work) == SAM_ERR_NONFINITE);
    CHECK(ev[0] == 7 && ev[1] == 7);
    free(work);
    ts_quad_free(&q);
    sam_ctx_free(&ctx);
}


/* The Hessian tools let the CNN reuse its gathered batch after the first
 * product (ctx->same_data): the same CNN behind sam_model_callbacks (which
 * never reuses) must give the same bits, on the fast and generic paths, with
 * and without idx, whole-vector and per block, and with the data changed in
 * place between calls (t_cnn_wrap is in test_optim.c). */
static void test_sharp_cnn_batch_reuse(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (int path = 0; path < 2; path++) {
        sam_cnn_config cf;
        sam_cnn net;
        sam_dataset D;
        sam_rng r;
        t_cnn_wrap cw;
        sam_model wrapped;
        size_t n = 7, np, idx[5] = {6, 2, 2, 0, 4};
        sam_cnn_config_default(&cf);
        cf.patches = 2; cf.patch_dim = 13; cf.width = 3; cf.no_fast_path = path;
        CHECK_OK(sam_cnn_init(&ctx, &net, &cf));
        t_data_chen(&D, n, 2, 13, 91);
        np = net.model.n_params;
        float *w = t_alloc_off(np), *ev1 = t_alloc_off(4 * np), *ev2 = t_alloc_off(4 * np); /* nb·k Ritz vectors */
        memset(ev1, 0, 4 * np * sizeof(float));
        memset(ev2, 0, 4 * np * sizeof(float));
        sam_rng_seed(&r, 92, SAM_STREAM_INIT);
        CHECK_OK(sam_cnn_init_params(&ctx, &net, &r, 0.5f, w));
        sam_ctx_init(&cw.ctx, NULL);
        cw.m = &net.model;
        cw.work = malloc(sam_model_work_bytes(&net.model, n));
        CHECK_OK(sam_model_callbacks(&wrapped, np, t_cnn_wrap_lg, t_cnn_wrap_hvp, &cw));
        size_t wb = sam_hessian_work_bytes(&net.model, n, 8), wb2 = sam_hessian_work_bytes(&wrapped, n, 8);
        void *work = malloc(wb > wb2 ? wb : wb2);
        sam_block blk[2] = {{0, np / 2}, {np / 2, np - np / 2}};
        for (int withidx = 0; withidx < 2; withidx++)
            for (int blocks = 0; blocks < 2; blocks++) {
                sam_batch b;
                b.data = &D; b.idx = withidx ? idx : NULL; b.n = withidx ? 5 : n;
                for (int rep = 0; rep < 2; rep++) {
                    sam_trace_est t1[2], t2[2];
                    double e1[2 * 2], e2[2 * 2];
                    sam_rng r1, r2;
                    size_t nb = blocks ? 2 : 0;
                    sam_rng_seed(&r1, 93 + (unsigned)rep, SAM_STREAM_PROBES);
                    r2 = r1;
                    CHECK_OK(sam_hessian_trace(&ctx, &net.model, w, &b, blocks ? blk : NULL, nb, 12, 0, &r1, t1, work));
                    CHECK_OK(sam_hessian_trace(&ctx, &wrapped, w, &b, blocks ? blk : NULL, nb, 12, 0, &r2, t2, work));
                    for (size_t k = 0; k < (blocks ? 2u : 1u); k++)
                        CHECKF(t1[k].trace == t2[k].trace && t1[k].hvps == t2[k].hvps && t1[k].hvps >= 12,
                               "path %d idx %d blocks %d rep %d: trace %.17g vs %.17g", path, withidx, blocks, rep,
                               t1[k].trace, t2[k].trace);
                    CHECK_OK(sam_hessian_lanczos(&ctx, &net.model, w, &b, blocks ? blk : NULL, nb, 2, 6, &r1, e1, ev1,
                                                 work));
                    CHECK_OK(sam_hessian_lanczos(&ctx, &wrapped, w, &b, blocks ? blk : NULL, nb, 2, 6, &r2, e2, ev2,
                                                 work));
                    CHECKF(memcmp(e1, e2, (blocks ? 4 : 2) * sizeof(double)) == 0 &&
                               memcmp(ev1, ev2, (blocks ? 4 : 2) * np * sizeof(float)) == 0,
                           "path %d idx %d blocks %d rep %d: Lanczos differs", path, withidx, blocks, rep);
                    CHECK(ctx.same_data == 0);
                    /* new data in place: a reuse across calls would see the old rows */
                    for (size_t t = 0; t < n * D.dim; t++) D.x[t] = 0.8f * D.x[t] + 0.1f * (float)((t * 5 + rep) % 7);
                }
            }
        free(work); free(cw.work);
        sam_ctx_free(&cw.ctx);
        t_free_off(w); t_free_off(ev1); t_free_off(ev2);
        t_data_free(&D);
    }
    sam_ctx_free(&ctx);
}

static void tests_sharp(void) {
    RUN_TEST(test_sharp_jacobi_oracle);
    RUN_TEST(test_sharp_net_grad_hvp_fd);
    RUN_TEST(test_sharp_asc_quadratic);
    RUN_TEST(test_sharp_avg_quadratic);
    RUN_TEST(test_sharp_max_quadratic);
    RUN_TEST(test_sharp_nstep_quadratic);
    RUN_TEST(test_sharp_hutchinson_diag);
    RUN_TEST(test_sharp_hutchinson_dense);
    RUN_TEST(test_sharp_hutchpp);
    RUN_TEST(test_sharp_tridiag_ql);
    RUN_TEST(test_sharp_net_eigs);
    RUN_TEST(test_sharp_lanczos_quadratic);
    RUN_TEST(test_sharp_slq);
    RUN_TEST(test_sharp_blocks);
    RUN_TEST(test_sharp_landscape);
    RUN_TEST(test_sharp_bad_input);
    RUN_TEST(test_sharp_model_failure);
    RUN_TEST(test_sharp_cnn_batch_reuse);
}
