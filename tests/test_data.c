/* tests/test_data.c — data generators, IDX loader, signal/noise coefficients.
 * Included by tests/run.c. */

/* FNV-1a over the IEEE bit patterns (byte order fixed): endian-independent. */
static uint64_t t_data_hash(uint64_t h, size_t n, const float *x) {
    size_t i;
    int b;
    for (i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        for (b = 0; b < 4; b++) { h ^= (u >> (8 * b)) & 0xffu; h *= 1099511628211ULL; }
    }
    return h;
}
#define T_FNV0 1469598103934665603ULL
/* Hashes of the test streams of seed 12345 (see test_data_determinism). */
#define T_GOLD_CHEN 0x72d41d18bb194510ULL
#define T_GOLD_PARITY 0x29f0bf5c1c612a33ULL
#define T_GOLD_BALL 0xda4ce56bae76ae33ULL
#define T_GOLD_GMM 0xf4b18e3b4b1c9ee5ULL
/* Hash of sam_rng_fill_gauss, seed 12345 / SAM_STREAM_DIRECTIONS: 100000
 * numbers N(0.25, 1.5²) then 1001 N(0, 1), and the state after them. */
#define T_GOLD_FILL_GAUSS 0xac392a010c8b8d47ULL
#define T_GOLD_FILL_GAUSS_STATE 0xa49860fd033bbb59ULL

static int t_ds_same(const sam_dataset *a, const sam_dataset *b) {
    if (a->n != b->n || a->dim != b->dim || a->patches != b->patches || a->classes != b->classes) return 0;
    if (memcmp(a->x, b->x, a->n * a->dim * sizeof(float)) != 0) return 0;
    if (memcmp(a->y, b->y, a->n * sizeof(float)) != 0) return 0;
    if (memcmp(a->label, b->label, a->n * sizeof(int32_t)) != 0) return 0;
    if ((a->y_clean == NULL) != (b->y_clean == NULL)) return 0;
    if (a->y_clean && memcmp(a->y_clean, b->y_clean, a->n * sizeof(float)) != 0) return 0;
    return 1;
}

/* A failing call must leave *out exactly as it was: compare with a sentinel. */
static void t_ds_sentinel(sam_dataset *d) { memset(d, 0xA5, sizeof *d); }
static int t_ds_is_sentinel(const sam_dataset *d) {
    sam_dataset s;
    t_ds_sentinel(&s);
    return memcmp(&s, d, sizeof s) == 0;
}

/* ---- Chen et al. data ----------------------------------------------------- */

static void test_data_chen_flip_rate(void) {
    sam_ctx ctx;
    sam_chen_config c;
    sam_dataset ds;
    sam_label_stats st;
    size_t i, flips = 0, pos = 0, n = 20000;
    sam_ctx_init(&ctx, NULL);
    sam_chen_config_default(&c);
    CHECK(c.d == 2000 && c.patches == 2 && c.mu_norm == 2.0 && c.sigma_p == 1.0 && c.flip_p == 0.1 &&
          !c.independent_noise);
    c.d = 8;
    c.patches = 3;
    CHECK_OK(sam_data_chen(&ctx, &c, n, 1, SAM_STREAM_TRAIN_DATA, &ds));
    CHECK(ds.n == n && ds.patches == 3 && ds.patch_dim == 8 && ds.dim == 24 && ds.classes == 2);
    CHECK(ds.bayes_risk == 0.1);
    for (i = 0; i < n; i++) {
        CHECK(ds.y_clean[i] == 1.0f || ds.y_clean[i] == -1.0f);
        CHECK(ds.y[i] == ds.y_clean[i] || ds.y[i] == -ds.y_clean[i]);
        CHECK(ds.label[i] == (ds.y[i] > 0.0f));
        flips += ds.y[i] != ds.y_clean[i];
        pos += ds.y_clean[i] > 0.0f;
    }
    /* Binomial(n, p): 5 standard deviations */
    CHECKF(fabs((double)flips - 0.1 * n) <= 5.0 * sqrt(n * 0.1 * 0.9), "flips %zu of %zu", flips, n);
    CHECKF(fabs((double)pos - 0.5 * n) <= 5.0 * sqrt(n * 0.25), "clean positives %zu of %zu", pos, n);
    CHECK_OK(sam_dataset_label_stats(&ctx, &ds, &st, NULL));
    CHECK(st.flipped == flips && st.n == n && st.positive + st.negative == n);
    CHECK_NEAR(st.flip_rate, (double)flips / n, 0, 1e-15);
    sam_dataset_free(&ds);
    CHECK(ds.x == NULL && ds.n == 0);
    sam_dataset_free(&ds); /* twice is harmless */
    c.flip_p = 0.0;
    CHECK_OK(sam_data_chen(&ctx, &c, 1000, 1, SAM_STREAM_TEST_DATA, &ds));
    CHECK_OK(sam_dataset_label_stats(&ctx, &ds, &st, NULL));
    CHECK(st.flipped == 0 && ds.bayes_risk == 0.0);
    sam_dataset_free(&ds);
    sam_ctx_free(&ctx);
}

static void test_data_chen_noise_orthogonal_variance(void) {
    sam_ctx ctx;
    sam_chen_config c;
    sam_dataset ds;
    size_t i, k, n = 400, d = 50;
    double s = 0, ss = 0, cnt = 0;
    int orth = 1, sig = 1, same = 1;
    sam_ctx_init(&ctx, NULL);
    sam_chen_config_default(&c);
    c.d = d;
    c.sigma_p = 1.5;
    CHECK_OK(sam_data_chen(&ctx, &c, n, 7, SAM_STREAM_TRAIN_DATA, &ds));
    CHECK(ds.noise != NULL && ds.noise_count == 1 && ds.signal != NULL && ds.signal_patch != NULL);
    CHECK(ds.signal[0] == 2.0f);
    for (k = 1; k < d; k++) CHECK(ds.signal[k] == 0.0f);
    for (i = 0; i < n; i++) {
        const float *xi = ds.noise + i * d;
        double dot = 0;
        int sp = ds.signal_patch[i];
        for (k = 0; k < d; k++) dot += (double)xi[k] * ds.signal[k];
        orth &= xi[0] == 0.0f && dot == 0.0; /* ξ ⊥ μ exactly */
        for (k = 1; k < d; k++) { s += xi[k]; ss += (double)xi[k] * xi[k]; cnt++; }
        /* signal patch holds ŷμ with the clean label; the other patch is ξ */
        sig &= ds.x[i * ds.dim + (size_t)sp * d] == ds.y_clean[i] * 2.0f;
        for (k = 1; k < d; k++) sig &= ds.x[i * ds.dim + (size_t)sp * d + k] == 0.0f;
        same &= memcmp(ds.x + i * ds.dim + (size_t)(1 - sp) * d, xi, d * sizeof(float)) == 0;
    }
    CHECK(orth);
    CHECK(sig);
    CHECK(same);
    /* 19600 draws: the variance estimate has relative sd sqrt(2/19600) = 1% */
    CHECK_NEAR(s / cnt, 0.0, 0.05, 0);
    CHECK_NEAR(ss / cnt, 1.5 * 1.5, 0, 0.05);
    sam_dataset_free(&ds);
    sam_ctx_free(&ctx);
}

static void test_data_chen_patch_position_uniform(void) {
    sam_ctx ctx;
    sam_chen_config c;
    sam_dataset ds;
    size_t i, cnt[5] = {0}, n = 10000;
    double chi2 = 0;
    int p;
    sam_ctx_init(&ctx, NULL);
    sam_chen_config_default(&c);
    c.d = 2;
    c.patches = 5;
    CHECK_OK(sam_data_chen(&ctx, &c, n, 3, SAM_STREAM_TRAIN_DATA, &ds));
    for (i = 0; i < n; i++) {
        CHECK(ds.signal_patch[i] >= 0 && ds.signal_patch[i] < 5);
        cnt[ds.signal_patch[i]]++;
    }
    for (p = 0; p < 5; p++) chi2 += (cnt[p] - n / 5.0) * (cnt[p] - n / 5.0) / (n / 5.0);
    /* chi-square with 4 degrees of freedom: P(> 30) ≈ 5e-6 */
    CHECKF(chi2 < 30.0, "chi2 = %g", chi2);
    sam_dataset_free(&ds);
    sam_ctx_free(&ctx);
}

static void test_data_chen_same_or_independent_noise(void) {
    sam_ctx ctx;
    sam_chen_config c;
    sam_dataset ds;
    size_t i, p, d = 6;
    int ok = 1, differ = 1;
    sam_ctx_init(&ctx, NULL);
    sam_chen_config_default(&c);
    c.d = d;
    c.patches = 4;
    CHECK_OK(sam_data_chen(&ctx, &c, 50, 5, SAM_STREAM_TRAIN_DATA, &ds));
    CHECK(ds.noise_count == 1);
    for (i = 0; i < ds.n; i++)
        for (p = 0; p < 4; p++)
            if ((int)p != ds.signal_patch[i]) ok &= memcmp(ds.x + i * ds.dim + p * d, ds.noise + i * d, d * 4) == 0;
    CHECK(ok);
    sam_dataset_free(&ds);
    c.independent_noise = 1;
    CHECK_OK(sam_data_chen(&ctx, &c, 50, 5, SAM_STREAM_TRAIN_DATA, &ds));
    CHECK(ds.noise_count == 3);
    ok = 1;
    for (i = 0; i < ds.n; i++) {
        size_t q = 0;
        for (p = 0; p < 4; p++) {
            if ((int)p == ds.signal_patch[i]) continue;
            ok &= memcmp(ds.x + i * ds.dim + p * d, ds.noise + (i * 3 + q) * d, d * 4) == 0;
            q++;
        }
        differ &= memcmp(ds.noise + i * 3 * d, ds.noise + (i * 3 + 1) * d, d * 4) != 0;
    }
    CHECK(ok);
    CHECK(differ);
    sam_dataset_free(&ds);
    /* P = 1: the signal alone, no noise */
    c.patches = 1;
    CHECK_OK(sam_data_chen(&ctx, &c, 10, 5, SAM_STREAM_TRAIN_DATA, &ds));
    CHECK(ds.noise == NULL && ds.noise_count == 0);
    for (i = 0; i < ds.n; i++) CHECK(ds.x[i * d] == 2.0f * ds.y_clean[i] && ds.signal_patch[i] == 0);
    sam_dataset_free(&ds);
    sam_ctx_free(&ctx);
}

/* ---- other generators ----------------------------------------------------- */

static void test_data_parity_labels(void) {
    sam_ctx ctx;
    sam_parity_config c;
    sam_dataset ds;
    size_t i, k, ones = 0;
    int ok = 1, kk;
    sam_ctx_init(&ctx, NULL);
    sam_parity_config_default(&c);
    CHECK(c.d == 30 && c.k == 2 && c.flip_p == 0.0);
    for (kk = 1; kk <= 5; kk += 2) {
        c.k = (size_t)(kk == 1 ? 2 : kk);
        CHECK_OK(sam_data_parity(&ctx, &c, 500, 11, SAM_STREAM_TRAIN_DATA, &ds));
        CHECK(ds.dim == 30 && ds.patches == 1 && ds.bayes_risk == 0.0);
        for (i = 0; i < ds.n; i++) {
            float prod = 1.0f;
            for (k = 0; k < 30; k++) {
                float v = ds.x[i * 30 + k];
                ok &= v == 1.0f || v == -1.0f;
                ones += v > 0;
            }
            for (k = 0; k < c.k; k++) prod *= ds.x[i * 30 + k];
            ok &= ds.y[i] == prod && ds.y_clean[i] == prod && ds.label[i] == (prod > 0);
        }
        sam_dataset_free(&ds);
    }
    CHECK(ok);
    CHECKF(fabs((double)ones - 22500.0) < 5 * sqrt(45000 * 0.25), "ones %zu", ones);
    /* with label noise: y = ±parity, flips counted */
    c.k = 2;
    c.flip_p = 0.25;
    CHECK_OK(sam_data_parity(&ctx, &c, 4000, 11, SAM_STREAM_TRAIN_DATA, &ds));
    {
        size_t fl = 0;
        for (i = 0; i < ds.n; i++) fl += ds.y[i] != ds.x[i * 30] * ds.x[i * 30 + 1];
        CHECKF(fabs((double)fl - 1000.0) < 5 * sqrt(4000 * 0.25 * 0.75), "flips %zu", fl);
    }
    sam_dataset_free(&ds);
    sam_ctx_free(&ctx);
}

static void test_data_ball_radius(void) {
    sam_ctx ctx;
    sam_ball_config c;
    sam_dataset ds;
    size_t i, k, inner = 0, n = 5000;
    double R = sqrt(10.0), rmax = 0, half = R * pow(0.5, 0.1);
    int ok = 1;
    double xs[] = {-700.0, -30.5, -2.302585092994046, -1.0, -0.1, -1e-9, 0.0, 0.5, 1.0, 3.7, 100.0};
    sam_ctx_init(&ctx, NULL);
    for (i = 0; i < sizeof xs / sizeof xs[0]; i++) CHECK_NEAR(sam__exp_det(xs[i]), exp(xs[i]), 0, 1e-14);
    sam_ball_config_default(&c);
    CHECK(c.d == 10 && c.radius == 0.0);
    CHECK_OK(sam_data_ball(&ctx, &c, n, 2, SAM_STREAM_TRAIN_DATA, &ds));
    for (i = 0; i < n; i++) {
        double r2 = 0;
        const float *x = ds.x + i * 10;
        for (k = 0; k < 10; k++) r2 += (double)x[k] * x[k];
        if (sqrt(r2) > rmax) rmax = sqrt(r2);
        inner += sqrt(r2) <= half;
        ok &= ds.y[i] == (float)(fabs((double)x[0]) - fabs((double)x[1])) && ds.label[i] == (ds.y[i] > 0);
    }
    CHECK(ok);
    CHECKF(rmax <= R * (1 + 1e-6) && rmax > 0.98 * R, "max radius %g, R %g", rmax, R);
    /* uniform in the ball: P(‖x‖ <= R 2^{-1/d}) = 1/2 */
    CHECKF(fabs((double)inner - n / 2.0) < 5 * sqrt(n * 0.25), "inner %zu of %zu", inner, n);
    sam_dataset_free(&ds);
    c.radius = 2.0;
    CHECK_OK(sam_data_ball(&ctx, &c, 100, 2, SAM_STREAM_TRAIN_DATA, &ds));
    for (i = 0; i < 100; i++) {
        double r2 = 0;
        for (k = 0; k < 10; k++) r2 += (double)ds.x[i * 10 + k] * ds.x[i * 10 + k];
        CHECK(sqrt(r2) <= 2.0 * (1 + 1e-6));
    }
    sam_dataset_free(&ds);
    sam_ctx_free(&ctx);
}

static void test_data_gmm_moments(void) {
    sam_ctx ctx;
    sam_gmm_config c;
    sam_dataset ds;
    size_t i, k, n = 20000;
    double m0 = 0, v1 = 0;
    sam_ctx_init(&ctx, NULL);
    sam_gmm_config_default(&c);
    CHECK(c.d == 10 && c.mean_norm == 1.0 && c.sigma == 1.0 && c.flip_p == 0.0);
    c.mean_norm = 1.5;
    c.sigma = 0.5;
    c.flip_p = 0.2;
    CHECK_OK(sam_data_gmm(&ctx, &c, n, 4, SAM_STREAM_TRAIN_DATA, &ds));
    for (i = 0; i < n; i++) {
        m0 += ds.y_clean[i] * ds.x[i * 10];
        for (k = 1; k < 10; k++) v1 += (double)ds.x[i * 10 + k] * ds.x[i * 10 + k];
    }
    CHECK_NEAR(m0 / n, 1.5, 5 * 0.5 / sqrt((double)n), 0);
    CHECK_NEAR(v1 / (9.0 * n), 0.25, 0, 0.03);
    CHECK_NEAR(ds.bayes_risk, 0.2 + 0.6 * 0.5 * erfc(3.0 / sqrt(2.0)), 1e-15, 0);
    CHECK(ds.signal && ds.signal[0] == 1.5f);
    sam_dataset_free(&ds);
    sam_ctx_free(&ctx);
}

/* Same seed and stream: identical bytes, on every ISA (generators are
 * scalar); train and test streams differ; golden hashes pin the bytes so
 * that the NEON (qemu) and C++ builds prove platform independence. */
static void test_data_determinism(void) {
    sam_ctx ctx;
    sam_chen_config cc;
    sam_parity_config pc;
    sam_ball_config bc;
    sam_gmm_config gc;
    sam_dataset a, b, t;
    uint64_t h[4];
    int g;
    sam_ctx_init(&ctx, NULL);
    sam_chen_config_default(&cc);
    cc.d = 16;
    cc.patches = 3;
    cc.independent_noise = 1;
    sam_parity_config_default(&pc);
    sam_ball_config_default(&bc);
    sam_gmm_config_default(&gc);
    gc.flip_p = 0.1;
    for (g = 0; g < 4; g++) {
        sam_status s1, s2, s3;
        if (g == 0) {
            s1 = sam_data_chen(&ctx, &cc, 10, 12345, SAM_STREAM_TRAIN_DATA, &a);
            s2 = sam_data_chen(&ctx, &cc, 10, 12345, SAM_STREAM_TRAIN_DATA, &b);
            s3 = sam_data_chen(&ctx, &cc, 10, 12345, SAM_STREAM_TEST_DATA, &t);
        } else if (g == 1) {
            s1 = sam_data_parity(&ctx, &pc, 10, 12345, SAM_STREAM_TRAIN_DATA, &a);
            s2 = sam_data_parity(&ctx, &pc, 10, 12345, SAM_STREAM_TRAIN_DATA, &b);
            s3 = sam_data_parity(&ctx, &pc, 10, 12345, SAM_STREAM_TEST_DATA, &t);
        } else if (g == 2) {
            s1 = sam_data_ball(&ctx, &bc, 10, 12345, SAM_STREAM_TRAIN_DATA, &a);
            s2 = sam_data_ball(&ctx, &bc, 10, 12345, SAM_STREAM_TRAIN_DATA, &b);
            s3 = sam_data_ball(&ctx, &bc, 10, 12345, SAM_STREAM_TEST_DATA, &t);
        } else {
            s1 = sam_data_gmm(&ctx, &gc, 10, 12345, SAM_STREAM_TRAIN_DATA, &a);
            s2 = sam_data_gmm(&ctx, &gc, 10, 12345, SAM_STREAM_TRAIN_DATA, &b);
            s3 = sam_data_gmm(&ctx, &gc, 10, 12345, SAM_STREAM_TEST_DATA, &t);
        }
        CHECK(s1 == SAM_OK && s2 == SAM_OK && s3 == SAM_OK);
        if (s1 || s2 || s3) { sam_dataset_free(&a); sam_dataset_free(&b); sam_dataset_free(&t); continue; }
        CHECKF(t_ds_same(&a, &b), "generator %d not deterministic", g);
        CHECKF(memcmp(a.x, t.x, a.n * a.dim * 4) != 0, "generator %d: train and test streams equal", g);
        if (a.noise) CHECK(memcmp(a.noise, b.noise, a.n * a.noise_count * a.patch_dim * 4) == 0);
        h[g] = t_data_hash(t_data_hash(T_FNV0, a.n * a.dim, a.x), a.n, a.y);
        sam_dataset_free(&b);
        FOR_EACH_ISA(ctx, isa) {
            if (g == 0) sam_data_chen(&ctx, &cc, 10, 12345, SAM_STREAM_TRAIN_DATA, &b);
            else if (g == 1) sam_data_parity(&ctx, &pc, 10, 12345, SAM_STREAM_TRAIN_DATA, &b);
            else if (g == 2) sam_data_ball(&ctx, &bc, 10, 12345, SAM_STREAM_TRAIN_DATA, &b);
            else sam_data_gmm(&ctx, &gc, 10, 12345, SAM_STREAM_TRAIN_DATA, &b);
            CHECKF(t_ds_same(&a, &b), "generator %d differs under isa %s", g, sam_isa_name((sam_isa)isa));
            sam_dataset_free(&b);
        }
        sam_dataset_free(&a);
        sam_dataset_free(&t);
    }
    if (getenv("SAM_PRINT_GOLDEN"))
        printf("golden: 0x%016llxULL 0x%016llxULL 0x%016llxULL 0x%016llxULL\n", (unsigned long long)h[0],
               (unsigned long long)h[1], (unsigned long long)h[2], (unsigned long long)h[3]);
    CHECKF(h[0] == T_GOLD_CHEN, "chen hash %016llx", (unsigned long long)h[0]);
    CHECKF(h[1] == T_GOLD_PARITY, "parity hash %016llx", (unsigned long long)h[1]);
    CHECKF(h[2] == T_GOLD_BALL, "ball hash %016llx", (unsigned long long)h[2]);
    CHECKF(h[3] == T_GOLD_GMM, "gmm hash %016llx", (unsigned long long)h[3]);
    sam_ctx_free(&ctx);
}

/* ---- dataset helpers --------------------------------------------------------- */

static void test_data_subset_stats_standardize(void) {
    sam_ctx ctx;
    sam_chen_config c;
    sam_dataset ds, sub, mk;
    size_t idx[4] = {5, 0, 5, 9}, i, cc[2];
    sam_label_stats st;
    double mean, sd;
    sam_ctx_init(&ctx, NULL);
    sam_chen_config_default(&c);
    c.d = 5;
    c.patches = 3;
    c.independent_noise = 1;
    c.flip_p = 0.3;
    CHECK_OK(sam_data_chen(&ctx, &c, 10, 1, SAM_STREAM_TRAIN_DATA, &ds));
    CHECK_OK(sam_dataset_subset(&ctx, &ds, idx, 4, &sub));
    CHECK(sub.n == 4 && sub.dim == 15 && sub.noise_count == 2 && sub.y_clean && sub.signal && sub.signal_patch);
    for (i = 0; i < 4; i++) {
        CHECK(memcmp(sub.x + i * 15, ds.x + idx[i] * 15, 15 * 4) == 0);
        CHECK(memcmp(sub.noise + i * 10, ds.noise + idx[i] * 10, 10 * 4) == 0);
        CHECK(sub.y[i] == ds.y[idx[i]] && sub.y_clean[i] == ds.y_clean[idx[i]] && sub.label[i] == ds.label[idx[i]]);
        CHECK(sub.signal_patch[i] == ds.signal_patch[idx[i]]);
    }
    CHECK(sub.bayes_risk == ds.bayes_risk && sub.signal[0] == ds.signal[0]);
    sam_dataset_free(&sub);
    CHECK_OK(sam_dataset_subset(&ctx, &ds, NULL, 3, &sub));
    CHECK(sub.n == 3 && memcmp(sub.x, ds.x, 3 * 15 * 4) == 0);
    sam_dataset_free(&sub);
    idx[1] = 10;
    t_ds_sentinel(&sub);
    CHECK(sam_dataset_subset(&ctx, &ds, idx, 4, &sub) == SAM_ERR_ARG);
    CHECK(strstr(sam_ctx_message(&ctx), "idx[1]") != NULL && t_ds_is_sentinel(&sub));
    CHECK(sam_dataset_subset(&ctx, &ds, NULL, 11, &sub) == SAM_ERR_ARG && t_ds_is_sentinel(&sub));
    CHECK(sam_dataset_subset(&ctx, &ds, NULL, 0, &sub) == SAM_ERR_ARG && t_ds_is_sentinel(&sub));
    CHECK_OK(sam_dataset_label_stats(&ctx, &ds, &st, cc));
    CHECK(cc[0] + cc[1] == 10 && cc[1] == st.positive);
    {
        size_t f = 0;
        for (i = 0; i < 10; i++) f += ds.y[i] != ds.y_clean[i];
        CHECK(st.flipped == f);
    }
    CHECK_OK(sam_dataset_moments(&ctx, &ds, &mean, &sd));
    CHECK_OK(sam_dataset_standardize(&ctx, &ds, mean, sd));
    CHECK_OK(sam_dataset_moments(&ctx, &ds, &mean, &sd));
    CHECK_NEAR(mean, 0.0, 1e-6, 0);
    CHECK_NEAR(sd, 1.0, 0, 1e-6);
    CHECK(sam_dataset_standardize(&ctx, &ds, 0.0, 0.0) == SAM_ERR_ARG);
    CHECK(strstr(sam_ctx_message(&ctx), "std") != NULL);
    sam_dataset_free(&ds);
    CHECK_OK(sam_dataset_create(&ctx, 3, 2, 4, 2, &mk));
    CHECK(mk.dim == 8 && mk.x[23] == 0.0f && mk.y_clean == NULL && mk.bayes_risk == -1.0);
    sam_dataset_free(&mk);
    t_ds_sentinel(&mk);
    CHECK(sam_dataset_create(&ctx, 3, 0, 4, 2, &mk) == SAM_ERR_ARG && t_ds_is_sentinel(&mk));
    CHECK(strstr(sam_ctx_message(&ctx), "patches") != NULL);
    CHECK(sam_dataset_create(&ctx, (size_t)-1 / 2, 2, 4, 2, &mk) == SAM_ERR_SIZE && t_ds_is_sentinel(&mk));
    sam_ctx_free(&ctx);
}

/* ---- bad input to the generators ------------------------------------------------ */

#define T_GEN_BAD(call, status, word) do { \
        sam_dataset o_; t_ds_sentinel(&o_); \
        CHECKF((call) == (status), "%s: expected status %d", #call, (int)(status)); \
        CHECKF(strstr(sam_ctx_message(&ctx), word) != NULL, "%s: message '%s' lacks '%s'", #call, \
               sam_ctx_message(&ctx), word); \
        CHECK(t_ds_is_sentinel(&o_)); \
    } while (0)

static void test_data_bad_input(void) {
    sam_ctx ctx;
    sam_chen_config c, c0;
    sam_parity_config pc, pc0;
    sam_ball_config bc, bc0;
    sam_gmm_config gc, gc0;
    sam_ctx_init(&ctx, NULL);
    sam_chen_config_default(&c0);
    c0.d = 10;
    sam_parity_config_default(&pc0);
    sam_ball_config_default(&bc0);
    sam_gmm_config_default(&gc0);
    c = c0; c.flip_p = 0.5;
    T_GEN_BAD(sam_data_chen(&ctx, &c, 5, 1, 1, &o_), SAM_ERR_ARG, "flip_p");
    c = c0; c.flip_p = -0.01;
    T_GEN_BAD(sam_data_chen(&ctx, &c, 5, 1, 1, &o_), SAM_ERR_ARG, "flip_p");
    c = c0; c.flip_p = NAN;
    T_GEN_BAD(sam_data_chen(&ctx, &c, 5, 1, 1, &o_), SAM_ERR_ARG, "flip_p");
    c = c0; c.d = 0;
    T_GEN_BAD(sam_data_chen(&ctx, &c, 5, 1, 1, &o_), SAM_ERR_ARG, "d (0)");
    c = c0; c.patches = 0;
    T_GEN_BAD(sam_data_chen(&ctx, &c, 5, 1, 1, &o_), SAM_ERR_ARG, "patches");
    c = c0; c.mu_norm = 0.0;
    T_GEN_BAD(sam_data_chen(&ctx, &c, 5, 1, 1, &o_), SAM_ERR_ARG, "mu_norm");
    c = c0; c.mu_norm = INFINITY;
    T_GEN_BAD(sam_data_chen(&ctx, &c, 5, 1, 1, &o_), SAM_ERR_ARG, "mu_norm");
    c = c0; c.sigma_p = -1.0;
    T_GEN_BAD(sam_data_chen(&ctx, &c, 5, 1, 1, &o_), SAM_ERR_ARG, "sigma_p");
    c = c0; c.d = (size_t)-1 / 4;
    T_GEN_BAD(sam_data_chen(&ctx, &c, 5, 1, 1, &o_), SAM_ERR_SIZE, "overflow");
    T_GEN_BAD(sam_data_chen(&ctx, &c0, 0, 1, 1, &o_), SAM_ERR_ARG, "n must");
    T_GEN_BAD(sam_data_chen(&ctx, NULL, 5, 1, 1, &o_), SAM_ERR_NULL, "cfg");
    CHECK(sam_data_chen(&ctx, &c0, 5, 1, 1, NULL) == SAM_ERR_NULL && strstr(sam_ctx_message(&ctx), "out"));
    CHECK(sam_data_chen(NULL, &c0, 5, 1, 1, NULL) == SAM_ERR_NULL);
    pc = pc0; pc.k = 0;
    T_GEN_BAD(sam_data_parity(&ctx, &pc, 5, 1, 1, &o_), SAM_ERR_ARG, "k (0)");
    pc = pc0; pc.k = 31;
    T_GEN_BAD(sam_data_parity(&ctx, &pc, 5, 1, 1, &o_), SAM_ERR_ARG, "k (31)");
    pc = pc0; pc.d = 0;
    T_GEN_BAD(sam_data_parity(&ctx, &pc, 5, 1, 1, &o_), SAM_ERR_ARG, "d (0)");
    pc = pc0; pc.flip_p = 0.7;
    T_GEN_BAD(sam_data_parity(&ctx, &pc, 5, 1, 1, &o_), SAM_ERR_ARG, "flip_p");
    T_GEN_BAD(sam_data_parity(&ctx, &pc0, 0, 1, 1, &o_), SAM_ERR_ARG, "n must");
    bc = bc0; bc.d = 1;
    T_GEN_BAD(sam_data_ball(&ctx, &bc, 5, 1, 1, &o_), SAM_ERR_ARG, "d (1)");
    bc = bc0; bc.radius = NAN;
    T_GEN_BAD(sam_data_ball(&ctx, &bc, 5, 1, 1, &o_), SAM_ERR_ARG, "radius");
    gc = gc0; gc.sigma = 0.0;
    T_GEN_BAD(sam_data_gmm(&ctx, &gc, 5, 1, 1, &o_), SAM_ERR_ARG, "sigma");
    gc = gc0; gc.d = 0;
    T_GEN_BAD(sam_data_gmm(&ctx, &gc, 5, 1, 1, &o_), SAM_ERR_ARG, "d (0)");
    gc = gc0; gc.flip_p = 0.5;
    T_GEN_BAD(sam_data_gmm(&ctx, &gc, 5, 1, 1, &o_), SAM_ERR_ARG, "flip_p");
    gc = gc0; gc.mean_norm = -1;
    T_GEN_BAD(sam_data_gmm(&ctx, &gc, 5, 1, 1, &o_), SAM_ERR_ARG, "mean_norm");
    sam_ctx_free(&ctx);
}

/* ---- IDX loader ---------------------------------------------------------------- */

typedef struct t_idx {
    unsigned char *im, *lb;
    size_t ib, lbn;
} t_idx;

static void t_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

/* count images rows×cols, pixel (i, k) = (i·13 + k) mod 256, label i mod K. */
static t_idx t_idx_make(size_t count, size_t rows, size_t cols, int K) {
    t_idx t;
    size_t i, k;
    t.ib = 16 + count * rows * cols;
    t.lbn = 8 + count;
    t.im = (unsigned char *)malloc(t.ib);
    t.lb = (unsigned char *)malloc(t.lbn);
    t_be32(t.im, 0x803); t_be32(t.im + 4, (uint32_t)count); t_be32(t.im + 8, (uint32_t)rows);
    t_be32(t.im + 12, (uint32_t)cols);
    t_be32(t.lb, 0x801); t_be32(t.lb + 4, (uint32_t)count);
    for (i = 0; i < count; i++) {
        for (k = 0; k < rows * cols; k++) t.im[16 + i * rows * cols + k] = (unsigned char)((i * 13 + k) % 256);
        t.lb[8 + i] = (unsigned char)(i % (size_t)K);
    }
    return t;
}
static void t_idx_free(t_idx *t) { free(t->im); free(t->lb); }

static void test_data_idx_buffer(void) {
    sam_ctx ctx;
    sam_idx_options o;
    sam_dataset ds;
    t_idx t = t_idx_make(12, 4, 6, 3);
    size_t i, k, p, a, b;
    int32_t cls[2] = {2, 0};
    int ok = 1;
    sam_ctx_init(&ctx, NULL);
    sam_idx_options_default(&o);
    CHECK(o.classes == NULL && o.subset == 0 && o.flip_p == 0 && o.scale == SAM_IDX_UNIT && o.patch_grid == 1 &&
          o.stream == SAM_STREAM_TRAIN_DATA);
    /* defaults: all classes (K = 3), x/255, one patch */
    CHECK_OK(sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, NULL, &ds));
    CHECK(ds.n == 12 && ds.patches == 1 && ds.patch_dim == 24 && ds.dim == 24 && ds.classes == 3);
    for (i = 0; i < 12; i++) {
        ok &= ds.label[i] == (int32_t)(i % 3) && ds.y[i] == (float)(i % 3) && ds.y_clean[i] == ds.y[i];
        for (k = 0; k < 24; k++) ok &= ds.x[i * 24 + k] == (float)((i * 13 + k) % 256) / 255.0f;
    }
    CHECK(ok);
    CHECK(ds.bayes_risk == -1.0);
    sam_dataset_free(&ds);
    /* two classes → binary: classes[0] → -1, classes[1] → +1; raw scale */
    o.classes = cls;
    o.n_classes = 2;
    o.scale = SAM_IDX_RAW;
    CHECK_OK(sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, &o, &ds));
    CHECK(ds.n == 8 && ds.classes == 2);
    ok = 1;
    for (i = 0, k = 0; i < 12; i++) {
        if (i % 3 == 1) continue;
        ok &= ds.x[k * 24] == (float)((i * 13) % 256);
        ok &= ds.y[k] == (i % 3 == 2 ? -1.0f : 1.0f) && ds.label[k] == (i % 3 == 2 ? 0 : 1);
        k++;
    }
    CHECK(ok);
    sam_dataset_free(&ds);
    /* patches: 4×6 with g = 2 → 4 patches of 2×3 */
    o.patch_grid = 2;
    CHECK_OK(sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, &o, &ds));
    CHECK(ds.patches == 4 && ds.patch_dim == 6 && ds.dim == 24);
    ok = 1;
    for (i = 0, k = 0; i < 12; i++) {
        if (i % 3 == 1) continue;
        for (p = 0; p < 4; p++)
            for (a = 0; a < 2; a++)
                for (b = 0; b < 3; b++) {
                    size_t pix = ((p / 2) * 2 + a) * 6 + (p % 2) * 3 + b;
                    ok &= ds.x[k * 24 + p * 6 + a * 3 + b] == (float)((i * 13 + pix) % 256);
                }
        k++;
    }
    CHECK(ok);
    sam_dataset_free(&ds);
    /* standardise with own moments, then with given ones */
    o.patch_grid = 1;
    o.scale = SAM_IDX_STANDARDIZE;
    CHECK_OK(sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, &o, &ds));
    {
        double mean, sd;
        CHECK_OK(sam_dataset_moments(&ctx, &ds, &mean, &sd));
        CHECK_NEAR(mean, 0.0, 1e-6, 0);
        CHECK_NEAR(sd, 1.0, 0, 1e-6);
    }
    sam_dataset_free(&ds);
    o.mean = 0.5;
    o.std = 0.25;
    CHECK_OK(sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, &o, &ds));
    CHECK_NEAR(ds.x[1], ((double)(float)(1.0f / 255.0f) - 0.5) / 0.25, 1e-6, 0);
    sam_dataset_free(&ds);
    /* subset: first N */
    sam_idx_options_default(&o);
    o.scale = SAM_IDX_RAW;
    o.subset = 5;
    CHECK_OK(sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, &o, &ds));
    CHECK(ds.n == 5);
    for (i = 0; i < 5; i++) CHECK(ds.x[i * 24] == (float)(i * 13));
    sam_dataset_free(&ds);
    t_idx_free(&t);
    /* labels 0/1 only: a binary task without selecting classes */
    t = t_idx_make(6, 2, 2, 2);
    CHECK_OK(sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, NULL, &ds));
    CHECK(ds.classes == 2);
    for (i = 0; i < 6; i++) CHECK(ds.y[i] == (i % 2 ? 1.0f : -1.0f) && ds.label[i] == (int32_t)(i % 2));
    sam_dataset_free(&ds);
    t_idx_free(&t);
    sam_ctx_free(&ctx);
}

static void test_data_idx_random_subset_and_flips(void) {
    sam_ctx ctx;
    sam_idx_options o;
    sam_dataset ds, ds2;
    t_idx t = t_idx_make(12, 2, 2, 3);
    size_t i, hits[12] = {0}, reps = 1000;
    uint64_t s;
    int ok = 1;
    sam_ctx_init(&ctx, NULL);
    sam_idx_options_default(&o);
    o.scale = SAM_IDX_RAW;
    o.subset = 5;
    o.subset_random = 1;
    for (s = 0; s < reps; s++) {
        int prev = -1;
        o.seed = s;
        if (sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, &o, &ds) != SAM_OK) { ok = 0; break; }
        ok &= ds.n == 5;
        for (i = 0; i < 5; i++) {
            int id = (int)ds.x[i * 4] / 13; /* pixel 0 of image i is 13 i */
            ok &= id > prev && id < 12;     /* distinct, in file order */
            prev = id;
            if (id >= 0 && id < 12) hits[id]++;
        }
        sam_dataset_free(&ds);
    }
    CHECK(ok);
    /* each image in a subset with probability 5/12 */
    for (i = 0; i < 12; i++)
        CHECKF(fabs((double)hits[i] - reps * 5.0 / 12) < 5 * sqrt(reps * (5.0 / 12) * (7.0 / 12)), "image %zu: %zu",
               i, hits[i]);
    /* label noise does not move the subset; y_clean keeps the truth */
    o.seed = 3;
    CHECK_OK(sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, &o, &ds));
    o.flip_p = 0.4;
    CHECK_OK(sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, &o, &ds2));
    CHECK(memcmp(ds.x, ds2.x, 5 * 4 * 4) == 0 && memcmp(ds.y_clean, ds2.y_clean, 5 * 4) == 0);
    sam_dataset_free(&ds);
    sam_dataset_free(&ds2);
    t_idx_free(&t);
    /* flip rates: binary and 3 classes */
    t = t_idx_make(4000, 1, 2, 3);
    {
        int32_t two[2] = {0, 1};
        sam_label_stats st;
        size_t other[3][3] = {{0}};
        sam_idx_options_default(&o);
        o.classes = two;
        o.n_classes = 2;
        o.flip_p = 0.2;
        o.seed = 9;
        CHECK_OK(sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, &o, &ds));
        CHECK_OK(sam_dataset_label_stats(&ctx, &ds, &st, NULL));
        CHECKF(fabs((double)st.flipped - 0.2 * ds.n) < 5 * sqrt(ds.n * 0.16), "flipped %zu of %zu", st.flipped, ds.n);
        ok = 1;
        for (i = 0; i < ds.n; i++) ok &= ds.label[i] == (ds.y[i] > 0) && (ds.y_clean[i] == 1 || ds.y_clean[i] == -1);
        CHECK(ok);
        sam_dataset_free(&ds);
        o.classes = NULL;
        o.n_classes = 0;
        CHECK_OK(sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, &o, &ds));
        CHECK(ds.classes == 3);
        CHECK_OK(sam_dataset_label_stats(&ctx, &ds, &st, NULL));
        CHECKF(fabs((double)st.flipped - 0.2 * 4000) < 5 * sqrt(4000 * 0.16), "flipped %zu", st.flipped);
        for (i = 0; i < ds.n; i++) other[(int)ds.y_clean[i]][ds.label[i]]++;
        /* a flipped label is uniform among the two other classes */
        for (i = 0; i < 3; i++) {
            size_t a = other[i][(i + 1) % 3], b = other[i][(i + 2) % 3];
            CHECKF(fabs((double)a - (double)b) < 5 * sqrt((double)(a + b)), "class %zu: %zu vs %zu", i, a, b);
        }
        sam_dataset_free(&ds);
    }
    t_idx_free(&t);
    sam_ctx_free(&ctx);
}

#define T_IDX_BAD(im, ib, lb, lbn, opt, status, word) do { \
        sam_dataset o_; t_ds_sentinel(&o_); \
        CHECKF(sam_idx_load_mem(&ctx, im, ib, lb, lbn, opt, &o_) == (status), "expected status %d (%s)", \
               (int)(status), word); \
        CHECKF(strstr(sam_ctx_message(&ctx), word) != NULL, "message '%s' lacks '%s'", sam_ctx_message(&ctx), word); \
        CHECK(t_ds_is_sentinel(&o_)); \
    } while (0)

/* An exact-size heap copy, so ASan catches any read past the end. */
static unsigned char *t_dup(const unsigned char *p, size_t n) {
    unsigned char *q = (unsigned char *)malloc(n ? n : 1);
    if (n) memcpy(q, p, n);
    return q;
}

static void test_data_idx_rejects_broken(void) {
    sam_ctx ctx;
    sam_idx_options o;
    t_idx t = t_idx_make(12, 4, 6, 3);
    unsigned char *b;
    size_t cut[] = {0, 3, 4, 15, 16, 100, 16 + 12 * 24 - 1};
    size_t i;
    int32_t cls[3] = {0, 1, 1};
    sam_ctx_init(&ctx, NULL);
    for (i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        b = t_dup(t.im, cut[i]);
        T_IDX_BAD(b, cut[i], t.lb, t.lbn, NULL, SAM_ERR_FORMAT, cut[i] < 4 ? "no magic" : "truncated");
        free(b);
    }
    for (i = 0; i < 8; i++) {
        b = t_dup(t.lb, i);
        T_IDX_BAD(t.im, t.ib, b, i, NULL, SAM_ERR_FORMAT, i < 4 ? "no magic" : "truncated");
        free(b);
    }
    b = t_dup(t.lb, t.lbn - 1);
    T_IDX_BAD(t.im, t.ib, b, t.lbn - 1, NULL, SAM_ERR_FORMAT, "truncated");
    free(b);
    /* trailing bytes disagree with the header too */
    b = (unsigned char *)malloc(t.ib + 1);
    memcpy(b, t.im, t.ib);
    b[t.ib] = 0;
    T_IDX_BAD(b, t.ib + 1, t.lb, t.lbn, NULL, SAM_ERR_FORMAT, "trailing");
    free(b);
    b = (unsigned char *)malloc(t.lbn + 1);
    memcpy(b, t.lb, t.lbn);
    b[t.lbn] = 0;
    T_IDX_BAD(t.im, t.ib, b, t.lbn + 1, NULL, SAM_ERR_FORMAT, "trailing");
    free(b);
    /* wrong magic: swapped files, a 3-byte type, a big-endian/little-endian mix-up */
    T_IDX_BAD(t.lb, t.lbn, t.im, t.ib, NULL, SAM_ERR_FORMAT, "magic");
    b = t_dup(t.im, t.ib);
    b[2] = 0x0D; /* float */
    T_IDX_BAD(b, t.ib, t.lb, t.lbn, NULL, SAM_ERR_FORMAT, "magic");
    t_be32(b, 0x03080000u);
    T_IDX_BAD(b, t.ib, t.lb, t.lbn, NULL, SAM_ERR_FORMAT, "magic");
    free(b);
    b = t_dup(t.lb, t.lbn);
    b[3] = 0x03;
    T_IDX_BAD(t.im, t.ib, b, t.lbn, NULL, SAM_ERR_FORMAT, "labels magic");
    free(b);
    /* overflowing and oversized dimensions: only 16 header bytes are there */
    b = t_dup(t.im, t.ib);
    t_be32(b + 4, 0xffffffffu); t_be32(b + 8, 0xffffffffu); t_be32(b + 12, 0xffffffffu);
    T_IDX_BAD(b, 16, t.lb, t.lbn, NULL, SAM_ERR_FORMAT, "overflow");
    T_IDX_BAD(b, t.ib, t.lb, t.lbn, NULL, SAM_ERR_FORMAT, "overflow");
    t_be32(b + 4, 13); t_be32(b + 8, 4); t_be32(b + 12, 6); /* one image more than the bytes */
    T_IDX_BAD(b, t.ib, t.lb, t.lbn, NULL, SAM_ERR_FORMAT, "truncated");
    t_be32(b + 4, 12); t_be32(b + 8, 0);
    T_IDX_BAD(b, t.ib, t.lb, t.lbn, NULL, SAM_ERR_FORMAT, "zero");
    free(b);
    /* image/label count mismatch */
    b = t_dup(t.lb, t.lbn);
    t_be32(b + 4, 11);
    T_IDX_BAD(t.im, t.ib, b, t.lbn - 1, NULL, SAM_ERR_FORMAT, "12 images but 11 labels");
    free(b);
    /* options */
    sam_idx_options_default(&o);
    o.classes = cls;
    o.n_classes = 1;
    T_IDX_BAD(t.im, t.ib, t.lb, t.lbn, &o, SAM_ERR_ARG, "n_classes");
    o.n_classes = 3;
    T_IDX_BAD(t.im, t.ib, t.lb, t.lbn, &o, SAM_ERR_ARG, "listed twice");
    cls[2] = 300;
    T_IDX_BAD(t.im, t.ib, t.lb, t.lbn, &o, SAM_ERR_ARG, "classes[2]");
    cls[0] = 7; cls[1] = 8; o.n_classes = 2;
    T_IDX_BAD(t.im, t.ib, t.lb, t.lbn, &o, SAM_ERR_ARG, "no sample");
    o.classes = NULL;
    T_IDX_BAD(t.im, t.ib, t.lb, t.lbn, &o, SAM_ERR_NULL, "classes");
    sam_idx_options_default(&o);
    o.flip_p = 0.5;
    T_IDX_BAD(t.im, t.ib, t.lb, t.lbn, &o, SAM_ERR_ARG, "flip_p");
    sam_idx_options_default(&o);
    o.subset = 13;
    T_IDX_BAD(t.im, t.ib, t.lb, t.lbn, &o, SAM_ERR_ARG, "subset");
    sam_idx_options_default(&o);
    o.patch_grid = 4;
    T_IDX_BAD(t.im, t.ib, t.lb, t.lbn, &o, SAM_ERR_ARG, "patch_grid");
    o.patch_grid = 0;
    T_IDX_BAD(t.im, t.ib, t.lb, t.lbn, &o, SAM_ERR_ARG, "patch_grid");
    sam_idx_options_default(&o);
    o.scale = (sam_idx_scale)7;
    T_IDX_BAD(t.im, t.ib, t.lb, t.lbn, &o, SAM_ERR_ARG, "scale");
    o.scale = SAM_IDX_STANDARDIZE;
    o.std = -1;
    T_IDX_BAD(t.im, t.ib, t.lb, t.lbn, &o, SAM_ERR_ARG, "std");
    T_IDX_BAD(NULL, t.ib, t.lb, t.lbn, NULL, SAM_ERR_NULL, "images");
    T_IDX_BAD(t.im, t.ib, NULL, t.lbn, NULL, SAM_ERR_NULL, "labels");
    t_idx_free(&t);
    sam_ctx_free(&ctx);
}

#ifndef SAM_NO_STDIO
static void test_data_idx_files(void) {
    sam_ctx ctx;
    sam_idx_options o;
    sam_dataset a, b;
    t_idx t = t_idx_make(20, 4, 4, 4);
    char pi[128], pl[128];
    FILE *f;
    int local;
    sam_ctx_init(&ctx, NULL);
    /* unique names per process (stack address), removed at the end */
    snprintf(pi, sizeof pi, "/tmp/sam_test_idx_%lx_images", (unsigned long)(uintptr_t)&local);
    snprintf(pl, sizeof pl, "/tmp/sam_test_idx_%lx_labels", (unsigned long)(uintptr_t)&local);
    f = fopen(pi, "wb");
    CHECK(f != NULL);
    if (f) { fwrite(t.im, 1, t.ib, f); fclose(f); }
    f = fopen(pl, "wb");
    CHECK(f != NULL);
    if (f) { fwrite(t.lb, 1, t.lbn, f); fclose(f); }
    sam_idx_options_default(&o);
    o.patch_grid = 2;
    CHECK_OK(sam_idx_load(&ctx, pi, pl, &o, &a));
    CHECK_OK(sam_idx_load_mem(&ctx, t.im, t.ib, t.lb, t.lbn, &o, &b));
    CHECK(t_ds_same(&a, &b) && a.patches == 4 && a.classes == 4);
    sam_dataset_free(&a);
    sam_dataset_free(&b);
    t_ds_sentinel(&a);
    CHECK(sam_idx_load(&ctx, "/nonexistent/sam_idx", pl, &o, &a) == SAM_ERR_IO);
    CHECK(strstr(sam_ctx_message(&ctx), "/nonexistent/sam_idx") != NULL && t_ds_is_sentinel(&a));
    CHECK(sam_idx_load(&ctx, pi, "/nonexistent/sam_lbl", &o, &a) == SAM_ERR_IO && t_ds_is_sentinel(&a));
    /* a truncated file: the message names the file and the reason */
    f = fopen(pi, "wb");
    if (f) { fwrite(t.im, 1, t.ib - 5, f); fclose(f); }
    CHECK(sam_idx_load(&ctx, pi, pl, &o, &a) == SAM_ERR_FORMAT && t_ds_is_sentinel(&a));
    CHECK(strstr(sam_ctx_message(&ctx), pi) != NULL && strstr(sam_ctx_message(&ctx), "truncated") != NULL);
    CHECK(sam_idx_load(&ctx, NULL, pl, &o, &a) == SAM_ERR_NULL);
    remove(pi);
    remove(pl);
    t_idx_free(&t);
    sam_ctx_free(&ctx);
}
#endif

/* ---- signal/noise coefficients --------------------------------------------------- */

/* W = W0 + j γ μ/‖μ‖² + Σ_k ρ_k ξ_k/‖ξ_k‖² from chosen γ (2m) and ρ (2m × N), in double. */
static void t_chen_build_w(const sam_dataset *ds, size_t m, const float *w0, const double *gam, const double *rho,
                           float *w) {
    size_t d = ds->patch_dim, N = ds->n * ds->noise_count, f, k, t;
    double mu2 = 0;
    for (t = 0; t < d; t++) mu2 += (double)ds->signal[t] * ds->signal[t];
    for (f = 0; f < 2 * m; f++) {
        int j = f < m ? 1 : -1;
        for (t = 0; t < d; t++) {
            double v = (double)w0[f * d + t] + j * gam[f] * ds->signal[t] / mu2;
            for (k = 0; k < N; k++) {
                const float *xi = ds->noise + k * d;
                double n2 = 0;
                size_t q;
                for (q = 0; q < d; q++) n2 += (double)xi[q] * xi[q];
                v += rho[f * N + k] * xi[t] / n2;
            }
            w[f * d + t] = (float)v;
        }
    }
}

static void test_data_coef_recovers_synthetic(void) {
    sam_ctx ctx;
    sam_chen_config c;
    sam_dataset ds;
    sam_chen_tracker tr;
    sam_chen_coef ce, ct;
    int indep;
    sam_ctx_init(&ctx, NULL);
    for (indep = 0; indep <= 1; indep++) {
        size_t m = 3, d = 64, n = 8, N, f, k, D;
        double *gam, *rho, *g2, *r2, maxg = -1e300, maxp = 0, minn = 0, sp = 0, sn = 0;
        float *w0, *w;
        sam_rng r;
        sam_chen_config_default(&c);
        c.d = d;
        c.patches = indep ? 3 : 2;
        c.independent_noise = indep;
        CHECK_OK(sam_data_chen(&ctx, &c, n, 21, SAM_STREAM_TRAIN_DATA, &ds));
        N = n * ds.noise_count;
        D = 2 * m * d;
        gam = (double *)malloc(2 * m * sizeof(double));
        rho = (double *)malloc(2 * m * N * sizeof(double));
        g2 = (double *)malloc(2 * m * sizeof(double));
        r2 = (double *)malloc(2 * m * N * sizeof(double));
        w0 = t_alloc_off(D);
        w = t_alloc_off(D);
        sam_rng_seed(&r, 5, SAM_STREAM_INIT);
        sam_rng_fill_gauss(&r, D, w0, 0.0f, 0.01f);
        for (f = 0; f < 2 * m; f++) {
            int j = f < m ? 1 : -1;
            gam[f] = 2.0 * sam_rng_uniform(&r) - 0.5;
            if (gam[f] > maxg) maxg = gam[f];
            for (k = 0; k < N; k++) {
                double v = 4.0 * sam_rng_uniform(&r) - 2.0;
                int yk = ds.y[k / ds.noise_count] > 0 ? 1 : -1;
                rho[f * N + k] = v;
                if (yk == j) { if (v > maxp) maxp = v; sp += v > 0 ? v : 0; }
                else { if (v < minn) minn = v; sn += v < 0 ? v : 0; }
            }
        }
        t_chen_build_w(&ds, m, w0, gam, rho, w);
        CHECK_OK(sam_chen_coef_exact(&ctx, &ds, m, w, w0, &ce, g2, r2));
        for (f = 0; f < 2 * m; f++) CHECK_NEAR(g2[f], gam[f], 1e-6, 1e-6);
        for (k = 0; k < 2 * m * N; k++) CHECK_NEAR(r2[k], rho[k], 1e-6, 1e-6);
        CHECK_NEAR(ce.max_gamma, maxg, 1e-6, 1e-6);
        CHECK_NEAR(ce.max_rho_pos, maxp, 1e-6, 1e-6);
        CHECK_NEAR(ce.min_rho_neg, minn, 1e-6, 1e-6);
        CHECK_NEAR(ce.mean_rho_pos, sp / (double)(m * N), 1e-6, 1e-6);
        CHECK_NEAR(ce.mean_rho_neg, sn / (double)(m * N), 1e-6, 1e-6);
        /* active fraction by brute force: ⟨w_{y_i, r}, ξ_k⟩ > 0 */
        {
            size_t act = 0, rr;
            for (k = 0; k < N; k++) {
                int yk = ds.y[k / ds.noise_count] > 0 ? 1 : -1;
                for (rr = 0; rr < m; rr++) {
                    const float *wf = w + (yk > 0 ? rr : m + rr) * d;
                    double s = 0;
                    size_t q;
                    for (q = 0; q < d; q++) s += (double)wf[q] * ds.noise[k * d + q];
                    act += s > 0;
                }
            }
            CHECK_NEAR(ce.active_frac, (double)act / (double)(m * N), 1e-12, 0);
        }
        /* the tracker agrees, on every ISA */
        CHECK_OK(sam_chen_tracker_init(&ctx, &tr, &ds, m, w0));
        CHECK(tr.n_noise == N);
        FOR_EACH_ISA(ctx, isa) {
            CHECK_OK(sam_chen_tracker_eval(&ctx, &tr, w, &ct, g2, r2));
            for (f = 0; f < 2 * m; f++) CHECK_NEAR(g2[f], gam[f], 1e-6, 1e-6);
            for (k = 0; k < 2 * m * N; k++) CHECK_NEAR(r2[k], rho[k], 1e-6, 1e-6);
            CHECK_NEAR(ct.max_gamma, ce.max_gamma, 1e-6, 1e-6);
            CHECK_NEAR(ct.max_rho_pos, ce.max_rho_pos, 1e-6, 1e-6);
            CHECK_NEAR(ct.active_frac, ce.active_frac, 1e-12, 0);
        }
        /* at W0 every coefficient is zero */
        CHECK_OK(sam_chen_tracker_eval(&ctx, &tr, w0, &ct, g2, r2));
        CHECK(ct.max_gamma == 0.0 && ct.max_rho_pos == 0.0 && ct.min_rho_neg == 0.0);
        sam_chen_tracker_free(&tr);
        CHECK(tr.chol == NULL);
        sam_dataset_free(&ds);
        free(gam); free(rho); free(g2); free(r2);
        t_free_off(w0);
        t_free_off(w);
    }
    sam_ctx_free(&ctx);
}

/* The calibrated size (d = 2000, n = 20, m = 10) and a W that is not in the
 * span (random): the cheap tracker matches the exact LU solve. */
static void test_data_coef_tracker_matches_exact(void) {
    sam_ctx ctx;
    sam_chen_config c;
    sam_dataset ds;
    sam_chen_tracker tr;
    sam_chen_coef ce, ct, ct2;
    size_t m = 10, d = 2000, n = 20, D = 2 * m * d, f, k;
    float *w0 = t_alloc_off(D), *w = t_alloc_off(D);
    double ge[20], gt[20], re[20 * 20], rt[20 * 20];
    sam_rng r;
    sam_ctx_init(&ctx, NULL);
    sam_chen_config_default(&c);
    CHECK_OK(sam_data_chen(&ctx, &c, n, 8, SAM_STREAM_TRAIN_DATA, &ds));
    sam_rng_seed(&r, 8, SAM_STREAM_INIT);
    sam_rng_fill_gauss(&r, D, w0, 0.0f, 0.01f);
    for (k = 0; k < D; k++) w[k] = w0[k] + 0.02f * (float)sam_rng_gauss(&r);
    for (k = 0; k < 2 * m; k++) w[k * d] += (k < m ? 0.05f : -0.05f) * (float)(k % m + 1); /* γ up to 1 */
    CHECK_OK(sam_chen_coef_exact(&ctx, &ds, m, w, w0, &ce, ge, re));
    CHECK_OK(sam_chen_tracker_init(&ctx, &tr, &ds, m, w0));
    FOR_EACH_ISA(ctx, isa) {
        CHECK_OK(sam_chen_tracker_eval(&ctx, &tr, w, &ct, gt, rt));
        CHECK_OK(sam_chen_tracker_eval(&ctx, &tr, w, &ct2, NULL, NULL));
        CHECK(memcmp(&ct, &ct2, sizeof ct) == 0); /* bit-identical on one ISA */
        for (f = 0; f < 2 * m; f++) CHECK_NEAR(gt[f], ge[f], 1e-6, 1e-6);
        for (k = 0; k < 2 * m * n; k++) CHECK_NEAR(rt[k], re[k], 1e-6, 1e-6);
        CHECK_NEAR(ct.max_gamma, ce.max_gamma, 1e-6, 1e-6);
        CHECK_NEAR(ct.min_gamma, ce.min_gamma, 1e-6, 1e-6);
        CHECK_NEAR(ct.mean_gamma, ce.mean_gamma, 1e-6, 1e-6);
        CHECK_NEAR(ct.max_rho_pos, ce.max_rho_pos, 1e-6, 1e-6);
        CHECK_NEAR(ct.mean_rho_pos, ce.mean_rho_pos, 1e-6, 1e-6);
        CHECK_NEAR(ct.min_rho_neg, ce.min_rho_neg, 1e-6, 1e-6);
        CHECK_NEAR(ct.mean_rho_neg, ce.mean_rho_neg, 1e-6, 1e-6);
        CHECK_NEAR(ct.active_frac, ce.active_frac, 0.5 / (m * n), 0);
    }
    CHECK(ce.max_gamma > 0.9 && ce.max_rho_pos > 0.0 && ce.min_rho_neg < 0.0);
    CHECK(ce.active_frac > 0.2 && ce.active_frac < 0.8);
    sam_chen_tracker_free(&tr);
    sam_dataset_free(&ds);
    t_free_off(w0);
    t_free_off(w);
    sam_ctx_free(&ctx);
}

static void test_data_coef_bad_input(void) {
    sam_ctx ctx;
    sam_chen_config c;
    sam_parity_config pc;
    sam_dataset ds, par;
    sam_chen_tracker tr, tz;
    sam_chen_coef co, sent;
    float w[2 * 2 * 10] = {0};
    sam_ctx_init(&ctx, NULL);
    memset(&sent, 0x5A, sizeof sent);
    sam_chen_config_default(&c);
    c.d = 10;
    CHECK_OK(sam_data_chen(&ctx, &c, 4, 1, SAM_STREAM_TRAIN_DATA, &ds));
    co = sent;
    CHECK(sam_chen_coef_exact(&ctx, &ds, 0, w, w, &co, NULL, NULL) == SAM_ERR_ARG);
    CHECK(strstr(sam_ctx_message(&ctx), "m must") != NULL && memcmp(&co, &sent, sizeof co) == 0);
    CHECK(sam_chen_coef_exact(&ctx, &ds, 2, NULL, w, &co, NULL, NULL) == SAM_ERR_NULL);
    CHECK(sam_chen_coef_exact(&ctx, &ds, 2, w, NULL, &co, NULL, NULL) == SAM_ERR_NULL);
    CHECK(sam_chen_coef_exact(&ctx, &ds, 2, w, w, NULL, NULL, NULL) == SAM_ERR_NULL);
    CHECK(sam_chen_coef_exact(&ctx, NULL, 2, w, w, &co, NULL, NULL) == SAM_ERR_NULL);
    CHECK_OK(sam_chen_coef_exact(&ctx, &ds, 2, w, w, &co, NULL, NULL));
    CHECK(co.max_gamma == 0.0 && co.active_frac == 0.0);
    sam_dataset_free(&ds);
    /* N >= d: the Gram matrix is singular */
    CHECK_OK(sam_data_chen(&ctx, &c, 10, 1, SAM_STREAM_TRAIN_DATA, &ds));
    co = sent;
    CHECK(sam_chen_coef_exact(&ctx, &ds, 2, w, w, &co, NULL, NULL) == SAM_ERR_ARG);
    CHECK(strstr(sam_ctx_message(&ctx), "fewer than patch_dim") != NULL && memcmp(&co, &sent, sizeof co) == 0);
    memset(&tr, 0x33, sizeof tr);
    tz = tr;
    CHECK(sam_chen_tracker_init(&ctx, &tr, &ds, 2, w) == SAM_ERR_ARG && memcmp(&tr, &tz, sizeof tr) == 0);
    sam_dataset_free(&ds);
    /* two samples sharing one ξ: dependent noise vectors, both solvers refuse */
    CHECK_OK(sam_data_chen(&ctx, &c, 4, 1, SAM_STREAM_TRAIN_DATA, &ds));
    memcpy(ds.noise, ds.noise + 10, 10 * sizeof(float));
    co = sent;
    CHECK(sam_chen_coef_exact(&ctx, &ds, 2, w, w, &co, NULL, NULL) == SAM_ERR_ARG);
    CHECK(strstr(sam_ctx_message(&ctx), "linearly dependent") != NULL && memcmp(&co, &sent, sizeof co) == 0);
    CHECK(sam_chen_tracker_init(&ctx, &tr, &ds, 2, w) == SAM_ERR_ARG && memcmp(&tr, &tz, sizeof tr) == 0);
    CHECK(strstr(sam_ctx_message(&ctx), "linearly dependent") != NULL);
    sam_dataset_free(&ds);
    /* not a Chen data set */
    sam_parity_config_default(&pc);
    pc.d = 10;
    CHECK_OK(sam_data_parity(&ctx, &pc, 4, 1, 1, &par));
    CHECK(sam_chen_coef_exact(&ctx, &par, 2, w, w, &co, NULL, NULL) == SAM_ERR_ARG);
    CHECK(strstr(sam_ctx_message(&ctx), "noise") != NULL);
    CHECK(sam_chen_tracker_init(&ctx, &tr, &par, 2, w) == SAM_ERR_ARG);
    sam_dataset_free(&par);
    memset(&tz, 0, sizeof tz);
    co = sent;
    CHECK(sam_chen_tracker_eval(&ctx, &tz, w, &co, NULL, NULL) == SAM_ERR_ARG && memcmp(&co, &sent, sizeof co) == 0);
    CHECK(strstr(sam_ctx_message(&ctx), "not initialised") != NULL);
    CHECK(sam_chen_tracker_eval(&ctx, NULL, w, &co, NULL, NULL) == SAM_ERR_NULL);
    sam_chen_tracker_free(&tz);
    sam_chen_tracker_free(NULL);
    sam_ctx_free(&ctx);
}

/* The Gaussian stream is pinned bit for bit on every ISA and platform (it
 * draws Rand-SAM directions, initial weights and sharpness probes). */
static void test_data_fill_gauss_golden(void) {
    enum { NG = 100000 };
    float *f = t_alloc_off(NG);
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        sam_rng r;
        uint64_t h;
        sam_rng_seed(&r, 12345, SAM_STREAM_DIRECTIONS);
        CHECK_OK(sam_fill_gauss(&ctx, &r, NG, f, 0.25f, 1.5f));
        h = t_data_hash(T_FNV0, NG, f);
        CHECK_OK(sam_fill_gauss(&ctx, &r, 1001, f, 0.0f, 1.0f));
        h = t_data_hash(h, 1001, f);
        CHECKF(h == T_GOLD_FILL_GAUSS && r.state == T_GOLD_FILL_GAUSS_STATE, "isa %s: hash %016llx state %016llx",
               sam_isa_name((sam_isa)isa), (unsigned long long)h, (unsigned long long)r.state);
    }
    sam_ctx_free(&ctx);
    t_free_off(f);
}

static void tests_data(void) {
    RUN_TEST(test_data_chen_flip_rate);
    RUN_TEST(test_data_chen_noise_orthogonal_variance);
    RUN_TEST(test_data_chen_patch_position_uniform);
    RUN_TEST(test_data_chen_same_or_independent_noise);
    RUN_TEST(test_data_parity_labels);
    RUN_TEST(test_data_ball_radius);
    RUN_TEST(test_data_gmm_moments);
    RUN_TEST(test_data_determinism);
    RUN_TEST(test_data_fill_gauss_golden);
    RUN_TEST(test_data_subset_stats_standardize);
    RUN_TEST(test_data_bad_input);
    RUN_TEST(test_data_idx_buffer);
    RUN_TEST(test_data_idx_random_subset_and_flips);
    RUN_TEST(test_data_idx_rejects_broken);
#ifndef SAM_NO_STDIO
    RUN_TEST(test_data_idx_files);
#endif
    RUN_TEST(test_data_coef_recovers_synthetic);
    RUN_TEST(test_data_coef_tracker_matches_exact);
    RUN_TEST(test_data_coef_bad_input);
}
