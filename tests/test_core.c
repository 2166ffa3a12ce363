/* tests/test_core.c — context, ISA dispatch, RNG, vector ops, model interface. */

static const size_t t_sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 255, 256, 257, 1000};
#define T_NSIZES (sizeof t_sizes / sizeof t_sizes[0])

static void test_ctx_init_and_isa(void) {
    sam_ctx ctx;
    CHECK_OK(sam_ctx_init(&ctx, NULL));
    CHECK(sam_isa_supported(SAM_ISA_SCALAR));
    CHECK(sam_isa_supported(ctx.isa));
    CHECK(ctx.isa == sam_isa_best());
    CHECK(strcmp(sam_version(), SAM_VERSION_STRING) == 0);
    CHECK(sam_ctx_set_isa(&ctx, (sam_isa)7) == SAM_ERR_ARG);
    CHECK(strstr(sam_ctx_message(&ctx), "sam_ctx_set_isa") != NULL);
    for (int i = 0; i < SAM_ISA_COUNT; i++) {
        sam_isa before = ctx.isa;
        sam_status st = sam_ctx_set_isa(&ctx, (sam_isa)i);
        if (sam_isa_supported((sam_isa)i)) CHECK(st == SAM_OK && ctx.isa == (sam_isa)i);
        else CHECK(st == SAM_ERR_ISA && ctx.isa == before && strstr(sam_ctx_message(&ctx), sam_isa_name((sam_isa)i)));
    }
    CHECK(sam_ctx_init(NULL, NULL) == SAM_ERR_NULL);
    for (int s = 0; s < SAM_STATUS_COUNT; s++) CHECK(strcmp(sam_status_string((sam_status)s), "unknown status") != 0);
    sam_ctx_free(&ctx);
}

static void test_ctx_workspace(void) {
    sam_ctx ctx;
    static unsigned char buf[1000];
    void *p = NULL;
    sam_ctx_init(&ctx, NULL);
    CHECK_OK(sam_ctx_reserve(&ctx, 4096));
    CHECK(ctx.ws_bytes >= 4096 && ((uintptr_t)ctx.ws & 63) == 0);
    CHECK_OK(sam_ctx_set_workspace(&ctx, buf + 3, 900));
    CHECK(((uintptr_t)ctx.ws & 63) == 0 && ctx.ws_fixed);
    CHECK(sam__workspace(&ctx, 100000, &p, "test") == SAM_ERR_WORKSPACE);
    CHECK(strstr(sam_ctx_message(&ctx), "100000") != NULL);
    CHECK(sam_ctx_set_workspace(&ctx, NULL, 10) == SAM_ERR_NULL);
    sam_ctx_free(&ctx);
}

static void test_message_format(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    sam__fail(&ctx, SAM_ERR_ARG, "f: a=%d b=%zu c=%s d=%g e=%g f=%g g=%g %%", -42, (size_t)123456789, "xy", 0.25, -1.5e-7, 3e20, 12345.0);
    CHECKF(strcmp(ctx.message, "f: a=-42 b=123456789 c=xy d=0.25 e=-1.5e-7 f=3e20 g=12345 %") == 0, "got '%s'", ctx.message);
    sam_ctx_free(&ctx);
}

static void test_rng_determinism_and_streams(void) {
    sam_rng a, b, c;
    int same = 1, differ = 0;
    sam_rng_seed(&a, 42, 1);
    sam_rng_seed(&b, 42, 1);
    sam_rng_seed(&c, 42, 2);
    for (int i = 0; i < 1000; i++) {
        uint32_t x = sam_rng_u32(&a), y = sam_rng_u32(&b), z = sam_rng_u32(&c);
        same &= x == y;
        differ += x != z;
    }
    CHECK(same);
    CHECK(differ > 990);
    /* PCG32 reference value: pcg32_srandom(42, 54) first output is 0xa15c02b7. */
    sam_rng_seed(&a, 42, 54);
    CHECKF(sam_rng_u32(&a) == 0xa15c02b7u, "pcg32 reference output mismatch");
}

static void test_rng_distributions(void) {
    sam_rng r;
    const int n = 200000;
    double s = 0, s2 = 0, s4 = 0, u = 0, rad = 0;
    int below[10] = {0};
    sam_rng_seed(&r, 7, 3);
    for (int i = 0; i < n; i++) {
        double g = sam_rng_gauss(&r);
        s += g; s2 += g * g; s4 += g * g * g * g;
        double x = sam_rng_uniform(&r);
        CHECK(x >= 0.0 && x < 1.0);
        u += x;
        rad += sam_rng_rademacher(&r);
        below[sam_rng_below(&r, 10)]++;
    }
    CHECK_NEAR(s / n, 0.0, 0.01, 0);
    CHECK_NEAR(s2 / n, 1.0, 0.015, 0);
    CHECK_NEAR(s4 / n, 3.0, 0.08, 0);
    CHECK_NEAR(u / n, 0.5, 0.005, 0);
    CHECK_NEAR(rad / n, 0.0, 0.01, 0);
    for (int k = 0; k < 10; k++) CHECK_NEAR(below[k] / (double)n, 0.1, 0.004, 0);
}

static void test_rng_permutation(void) {
    sam_rng r;
    size_t p[100];
    int seen[100] = {0}, ok = 1;
    sam_rng_seed(&r, 1, 4);
    sam_rng_permutation(&r, 100, p);
    for (int i = 0; i < 100; i++) { if (p[i] >= 100 || seen[p[i]]) ok = 0; else seen[p[i]] = 1; }
    CHECK(ok);
    /* position of element 0 is uniform over 5 slots */
    int pos[5] = {0};
    for (int t = 0; t < 50000; t++) {
        sam_rng_permutation(&r, 5, p);
        for (int i = 0; i < 5; i++) if (p[i] == 0) pos[i]++;
    }
    for (int i = 0; i < 5; i++) CHECK_NEAR(pos[i] / 50000.0, 0.2, 0.01, 0);
}

static void test_log_det(void) {
    const double xs[] = {1e-300, 1e-10, 0.1, 0.5, 0.7071, 1.0, 1.5, 2.0, 10.0, 12345.678, 1e300};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) CHECK_NEAR(sam_log_det(xs[i]), log(xs[i]), 1e-15, 1e-14);
    CHECK(sam_log_det(0.0) < -1e308);
    CHECK(sam_log_det(-1.0) != sam_log_det(-1.0));
}

/* N(0,1) CDF in double (libm erfc is fine in a test: it is the reference). */
static double t_phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* Ziggurat Gaussians: moments, the CDF (Kolmogorov–Smirnov on 1e6 draws,
 * sup-distance on a grid of 241 points in [-6, 6]) and the tail frequencies
 * beyond 2σ, 3σ, r = 3.654 (the ziggurat's tail layer) and 4σ, each within
 * 5 binomial standard deviations. The KS bound 2.0/√n has p ≈ 1e-3 for a
 * correct sampler. */
static void test_rng_gauss_cdf_and_tails(void) {
    enum { NG = 1000000, NB = 241 };
    static int cnt[NB + 1];
    const double tails[] = {2.0, 3.0, 3.6541528853610088, 4.0, 4.5};
    long above[5] = {0, 0, 0, 0, 0};
    double s = 0, s2 = 0, s3 = 0, s4 = 0, ks = 0;
    sam_rng r;
    memset(cnt, 0, sizeof cnt);
    sam_rng_seed(&r, 2026, 11);
    for (int i = 0; i < NG; i++) {
        double g = sam_rng_gauss(&r), a = fabs(g);
        int b = (int)floor((g + 6.0) * 20.0) + 1; /* cnt[b]: g in [-6 + (b-1)/20, -6 + b/20) */
        s += g; s2 += g * g; s3 += g * g * g; s4 += g * g * g * g;
        if (b < 0) b = 0;
        if (b > NB) b = NB;
        cnt[b]++;
        for (int t = 0; t < 5; t++) above[t] += a > tails[t];
    }
    CHECK_NEAR(s / NG, 0.0, 5.0 / sqrt((double)NG), 0);
    CHECK_NEAR(s2 / NG, 1.0, 5.0 * sqrt(2.0 / NG), 0);
    CHECK_NEAR(s3 / NG, 0.0, 5.0 * sqrt(15.0 / NG), 0);
    CHECK_NEAR(s4 / NG, 3.0, 5.0 * sqrt(96.0 / NG), 0);
    {
        long cum = cnt[0];
        for (int b = 1; b <= NB; b++) {
            double x = -6.0 + (b - 1) / 20.0; /* cum = #draws below x */
            double d = fabs((double)cum / NG - t_phi(x));
            if (d > ks) ks = d;
            cum += cnt[b];
        }
    }
    CHECKF(ks < 2.0 / sqrt((double)NG), "KS distance %g", ks);
    for (int t = 0; t < 5; t++) {
        double p = 2.0 * t_phi(-tails[t]), e = p * NG, sd = sqrt(NG * p * (1.0 - p));
        CHECKF(fabs((double)above[t] - e) <= 5.0 * sd + 1.0, "P(|g| > %g): %ld draws, expected %g", tails[t], above[t], e);
    }
    CHECK(above[4] > 0); /* the tail sampler ran (expected ~6.8 beyond 4.5σ) */
}

/* The tables satisfy the Ziggurat's defining equations (Marsaglia & Tsang
 * 2000): equal layer areas v, f = exp(-x²/2), x decreasing to x[256] = 0. */
static void test_rng_ziggurat_tables(void) {
    const double r = sam__zig_x[1], v = r * sam__zig_f[1] + sqrt(1.5707963267948966) * erfc(r / sqrt(2.0));
    double worst_f = 0, worst_a = 0;
    CHECK_NEAR(v, 4.9286732339746553e-03, 1e-15, 0);
    CHECK_NEAR(sam__zig_x[0] * sam__zig_f[1], v, 0, 1e-14);
    CHECK(sam__zig_x[256] == 0.0 && sam__zig_f[256] == 1.0);
    for (int i = 0; i < 256; i++) {
        double fi = exp(-0.5 * sam__zig_x[i + 1] * sam__zig_x[i + 1]);
        if (fabs(fi - sam__zig_f[i + 1]) > worst_f) worst_f = fabs(fi - sam__zig_f[i + 1]);
        if (i > 0) {
            double a = sam__zig_x[i] * (sam__zig_f[i + 1] - sam__zig_f[i]); /* area of layer i */
            if (fabs(a - v) / v > worst_a) worst_a = fabs(a - v) / v;
        }
        CHECK(sam__zig_x[i + 1] < sam__zig_x[i]);
    }
    CHECKF(worst_f < 1e-15, "f table error %g", worst_f);
    CHECKF(worst_a < 1e-9, "layer area relative error %g", worst_a);
}

/* The wedge screen never contradicts the log test it short-cuts: every layer,
 * x across the layer, y at f(x)·(1 + δ) from far (±1%) to inside the 1e-7
 * margin, and random wedge points; it decides most of them (it must, or it
 * would save nothing) and leaves the inflection layer to the log. */
static void test_rng_wedge_screen(void) {
    static const double deltas[] = {-1e-2, -1e-3, -1e-5, -1e-6, -3e-7, -1.5e-7, -1e-7, -5e-8, -1e-9, 0.0,
                                    1e-9, 5e-8, 1e-7, 1.5e-7, 3e-7, 1e-6, 1e-5, 1e-3, 1e-2};
    long decided = 0, undecided = 0, wrong = 0, infl = 0;
    sam_rng r;
    sam_rng_seed(&r, 77, 3);
    for (unsigned i = 1; i < 256; i++) {
        double xa = sam__zig_x[i + 1], xb = sam__zig_x[i];
        for (int j = 0; j <= 64; j++) {
            double x = xa + (xb - xa) * j / 64.0;
            for (size_t d = 0; d < sizeof deltas / sizeof *deltas; d++) {
                double y = exp(-0.5 * x * x) * (1.0 + deltas[d]);
                int s = sam__zig_wedge_screen(i, x, y), e = sam_log_det(y) < -0.5 * (x * x);
                if (s < 0) continue;
                wrong += s != e;
            }
        }
        if (xa < 1.0 && xb > 1.0) infl += sam__zig_wedge_screen(i, 0.5 * (xa + xb), sam__zig_f[i]) < 0;
    }
    for (int t = 0; t < 200000; t++) {
        unsigned i = 1 + sam_rng_below(&r, 255);
        double x = sam__zig_x[i + 1] + sam_rng_uniform(&r) * (sam__zig_x[i] - sam__zig_x[i + 1]);
        double y = sam__zig_f[i] + sam_rng_uniform(&r) * (sam__zig_f[i + 1] - sam__zig_f[i]);
        int s = sam__zig_wedge_screen(i, x, y);
        if (s < 0) { undecided++; continue; }
        decided++;
        wrong += s != (sam_log_det(y) < -0.5 * (x * x));
    }
    CHECKF(wrong == 0, "%ld screen decisions differ from the log test", wrong);
    CHECKF(undecided > 0 && decided > 50 * undecided, "decided %ld, left to the log %ld", decided, undecided);
    CHECK(infl == 1);
}

/* sam_rng_fill_gauss gives exactly mean + std·(the sam_rng_gauss sequence)
 * and leaves the state where n calls would; copying the struct saves the
 * stream. 20000 draws take the wedge and tail paths (~1.2% of draws). */
static void test_rng_fill_gauss_matches_gauss(void) {
    enum { NF = 20000 };
    static float f[NF + 1];
    sam_rng a, b, saved;
    int same = 1;
    sam_rng_seed(&a, 99, 6);
    saved = a;
    f[NF] = 12345.0f;
    sam_rng_fill_gauss(&a, NF, f, 0.25f, 1.5f);
    CHECK(f[NF] == 12345.0f);
    b = saved;
    for (int i = 0; i < NF; i++) {
        float g = (float)((double)0.25f + (double)1.5f * sam_rng_gauss(&b));
        same &= memcmp(&g, &f[i], sizeof g) == 0;
    }
    CHECK(same);
    CHECK(sam_rng_u32(&a) == sam_rng_u32(&b));
    b = saved;
    sam_rng_fill_gauss(&b, 0, f, 0.0f, 1.0f);
    CHECK(b.state == saved.state && f[0] != 12345.0f);
    /* a restored copy continues the stream exactly */
    b = saved;
    CHECK(sam_rng_gauss(&b) == sam_rng_gauss(&saved));
    /* fixed values, bit for bit on every platform (the data goldens check more) */
    sam_rng_seed(&a, 1, 2);
    CHECK(sam_rng_gauss(&a) == 0.10800559096595777);
    CHECK(sam_rng_gauss(&a) == -0.32287454091426204);
}

/* Where the scalar loop leaves its box test for sam__zig_from within n
 * numbers: counts by position k mod 4 (the AVX2 lane; NEON's is k mod 2),
 * tail draws (layer 0), and fallbacks on two adjacent numbers. */
static void t_gauss_fallbacks(sam_rng r, size_t n, size_t pos[4], size_t *tails, size_t *adjacent) {
    size_t k, last = (size_t)-2;
    for (k = 0; k < n; k++) {
        uint64_t bits = sam__rng_u64(&r);
        unsigned i = (unsigned)(bits & 255u);
        double x = (double)(int64_t)(bits >> 11) * (1.0 / 9007199254740992.0) * sam__zig_x[i];
        if (x < sam__zig_x[i + 1]) continue;
        pos[k % 4]++;
        if (i == 0) (*tails)++;
        if (last + 1 == k) (*adjacent)++;
        last = k;
        (void)sam__zig_from(&r, bits);
    }
}

/* Every ISA's Gaussian fill gives the scalar kernel's bits and final state:
 * sizes around the 4- and 2-number blocks, several streams, mean/std pairs
 * (a -0 mean with 0 std keeps signed zeros; NaN std its payload), and
 * streams long enough that the wedge/tail fallback hits every lane
 * position, the tail, and two numbers in a row (counted, not assumed). The
 * public sam_rng_fill_gauss (best ISA from 32 numbers on) must agree too. */
static void test_fill_gauss_all_isas(void) {
    static const size_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 255, 256, 257, 1000, 100000};
    static const float ms[][2] = {{0.0f, 1.0f}, {0.25f, 1.5f}, {-3.0f, 0.01f}, {-0.0f, 0.0f}, {0.0f, -2.0f},
                                  {1e-3f, 3e4f}, {1.0f, NAN}};
    size_t pos[4] = {0, 0, 0, 0}, tails = 0, adjacent = 0;
    int compared = 0;
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t n = sizes[si];
        float *ref = t_alloc_off(n + 1), *got = t_alloc_off(n + 1);
        for (unsigned seed = 0; seed < 3; seed++) {
            for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++) {
                sam_rng r0, r1, r2;
                sam_rng_seed(&r0, 1000 + seed, 7 * seed + mi);
                if (n == 100000 && mi == 0) t_gauss_fallbacks(r0, n, pos, &tails, &adjacent);
                r1 = r0;
                ref[n] = 77.0f;
                sam__fill_gauss_f32_scalar(&r1, n, ref, ms[mi][0], ms[mi][1]);
                CHECK(ref[n] == 77.0f);
                FOR_EACH_ISA(ctx, isa) {
                    r2 = r0;
                    memset(got, 0xA5, (n + 1) * sizeof(float));
                    got[n] = 77.0f;
                    CHECK_OK(sam_fill_gauss(&ctx, &r2, n, got, ms[mi][0], ms[mi][1]));
                    CHECKF(memcmp(got, ref, (n + 1) * sizeof(float)) == 0 && r2.state == r1.state && r2.inc == r1.inc,
                           "isa %s n %zu seed %u mean %g std %g: differs from scalar", sam_isa_name((sam_isa)isa), n,
                           seed, (double)ms[mi][0], (double)ms[mi][1]);
                    compared++;
                }
                r2 = r0;
                memset(got, 0xA5, (n + 1) * sizeof(float));
                got[n] = 77.0f;
                sam_rng_fill_gauss(&r2, n, got, ms[mi][0], ms[mi][1]);
                CHECKF(memcmp(got, ref, (n + 1) * sizeof(float)) == 0 && r2.state == r1.state,
                       "sam_rng_fill_gauss n %zu differs from scalar", n);
            }
        }
        t_free_off(ref);
        t_free_off(got);
    }
    /* the comparisons above ran through the fallback in each lane position */
    CHECKF(pos[0] > 0 && pos[1] > 0 && pos[2] > 0 && pos[3] > 0, "fallbacks by lane %zu %zu %zu %zu", pos[0], pos[1],
           pos[2], pos[3]);
    CHECKF(tails > 0 && adjacent > 0, "tail fallbacks %zu, adjacent %zu", tails, adjacent);
    CHECK(compared >= 20 * 3 * 7);
    /* bad input */
    {
        sam_rng r;
        float f[1];
        sam_rng_seed(&r, 1, 1);
        CHECK(sam_fill_gauss(NULL, &r, 1, f, 0.0f, 1.0f) == SAM_ERR_NULL);
        CHECK(sam_fill_gauss(&ctx, NULL, 1, f, 0.0f, 1.0f) == SAM_ERR_NULL);
        CHECK(strstr(sam_ctx_message(&ctx), "sam_fill_gauss: rng") != NULL);
        CHECK(sam_fill_gauss(&ctx, &r, 1, NULL, 0.0f, 1.0f) == SAM_ERR_NULL);
        CHECK_OK(sam_fill_gauss(&ctx, &r, 0, NULL, 0.0f, 1.0f));
    }
    sam_ctx_free(&ctx);
}

static void test_dot_sumsq_all_isas(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (size_t k = 0; k < T_NSIZES; k++) {
        size_t n = t_sizes[k];
        float *x = t_alloc_off(n), *y = t_alloc_off(n);
        double ref = 0, abs_ref = 0;
        t_fill(1, n, x); t_fill(2, n, y);
        for (size_t i = 0; i < n; i++) { ref += (double)x[i] * y[i]; abs_ref += fabs((double)x[i] * y[i]); }
        FOR_EACH_ISA(ctx, isa) {
            double d = 0;
            CHECK_OK(sam_dot(&ctx, n, x, y, &d));
            CHECKF(fabs(d - ref) <= 1e-6 * abs_ref + 1e-12, "isa %s n %zu dot %.9g ref %.9g", sam_isa_name((sam_isa)isa), n, d, ref);
            double d2 = 0;
            sam_dot(&ctx, n, x, y, &d2);
            CHECK(d == d2); /* repeated runs bit-identical */
            const float *bufs[2] = {x, y};
            size_t lens[2] = {n, n};
            double nrm = 0, refn = 0;
            for (size_t i = 0; i < n; i++) refn += (double)x[i] * x[i] + (double)y[i] * y[i];
            CHECK_OK(sam_norm2(&ctx, 2, bufs, lens, &nrm));
            CHECK_NEAR(nrm, sqrt(refn), 0, 1e-6);
        }
        t_free_off(x); t_free_off(y);
    }
    sam_ctx_free(&ctx);
}

static void test_axpy_scale_perturb_all_isas(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    for (size_t k = 0; k < T_NSIZES; k++) {
        size_t n = t_sizes[k];
        float *x = t_alloc_off(n), *y0 = t_alloc_off(n), *y = t_alloc_off(n), *out = t_alloc_off(n);
        t_fill(3, n, x); t_fill(4, n, y0);
        FOR_EACH_ISA(ctx, isa) {
            int ok = 1;
            memcpy(y, y0, n * sizeof(float));
            CHECK_OK(sam_axpy(&ctx, n, 0.37f, x, y));
            for (size_t i = 0; i < n; i++) ok &= fabs(y[i] - (y0[i] + 0.37 * x[i])) <= 2e-7 * (1 + fabs(y0[i]) + fabs(x[i]));
            CHECKF(ok, "axpy isa %s n %zu", sam_isa_name((sam_isa)isa), n);
            memcpy(y, y0, n * sizeof(float));
            CHECK_OK(sam_scale(&ctx, n, -1.75f, y));
            ok = 1;
            for (size_t i = 0; i < n; i++) ok &= y[i] == (float)(y0[i] * -1.75);
            CHECKF(ok, "scale isa %s n %zu", sam_isa_name((sam_isa)isa), n);
            CHECK_OK(sam_perturb(&ctx, n, y0, 0.05f, x, out));
            ok = 1;
            for (size_t i = 0; i < n; i++) ok &= fabs(out[i] - (y0[i] + 0.05 * x[i])) <= 2e-7 * (1 + fabs(y0[i]));
            CHECKF(ok, "perturb isa %s n %zu", sam_isa_name((sam_isa)isa), n);
            CHECK_OK(sam_copy(&ctx, n, y0, y));
            CHECK(memcmp(y, y0, n * sizeof(float)) == 0);
        }
        t_free_off(x); t_free_off(y0); t_free_off(y); t_free_off(out);
    }
    sam_ctx_free(&ctx);
}

static void test_vector_ops_bad_input(void) {
    sam_ctx ctx;
    float x[4] = {1, 2, 3, 4}, y[4] = {0};
    double d = 7;
    sam_ctx_init(&ctx, NULL);
    CHECK(sam_dot(&ctx, 4, NULL, x, &d) == SAM_ERR_NULL && d == 7);
    CHECK(strstr(sam_ctx_message(&ctx), "sam_dot: x") != NULL);
    CHECK(sam_axpy(&ctx, 4, 1.0f, x, NULL) == SAM_ERR_NULL && strstr(sam_ctx_message(&ctx), "y is NULL"));
    CHECK(sam_copy(&ctx, (size_t)-1 / 2, x, y) == SAM_ERR_SIZE && y[0] == 0);
    CHECK(sam_dot(NULL, 4, x, x, &d) == SAM_ERR_NULL);
    const float *bufs[2] = {x, NULL};
    size_t lens[2] = {4, 4};
    CHECK(sam_norm2(&ctx, 2, bufs, lens, &d) == SAM_ERR_NULL && d == 7);
    sam_ctx_free(&ctx);
}

/* A quadratic callback model: L = ½ Σ a_i w_i², used for the interface. */
static sam_status t_quad_lg(void *user, const float *w, const sam_batch *b, double *loss, float *grad) {
    const float *a = (const float *)user;
    double l = 0;
    (void)b;
    for (int i = 0; i < 3; i++) { l += 0.5 * a[i] * w[i] * w[i]; if (grad) grad[i] = a[i] * w[i]; }
    *loss = l;
    return SAM_OK;
}

static void test_model_callbacks(void) {
    sam_ctx ctx;
    sam_model m;
    float a[3] = {1, 2, 3}, w[3] = {1, 1, 1}, g[3], v[3] = {1, 0, 0}, hv[3];
    double loss = 0;
    sam_ctx_init(&ctx, NULL);
    CHECK_OK(sam_model_callbacks(&m, 3, t_quad_lg, NULL, a));
    CHECK_OK(sam_model_loss_grad(&ctx, &m, w, NULL, &loss, g, NULL));
    CHECK_NEAR(loss, 3.0, 1e-12, 0);
    CHECK(g[0] == 1 && g[1] == 2 && g[2] == 3);
    CHECK(sam_model_hvp(&ctx, &m, w, NULL, v, hv, NULL) == SAM_ERR_UNSUPPORTED);
    w[1] = NAN;
    CHECK(sam_model_loss_grad(&ctx, &m, w, NULL, &loss, g, NULL) == SAM_ERR_NONFINITE);
    CHECK(strstr(sam_ctx_message(&ctx), "not finite") != NULL);
    sam_ctx_free(&ctx);
}

static void tests_core(void) {
    RUN_TEST(test_ctx_init_and_isa);
    RUN_TEST(test_ctx_workspace);
    RUN_TEST(test_message_format);
    RUN_TEST(test_rng_determinism_and_streams);
    RUN_TEST(test_rng_distributions);
    RUN_TEST(test_rng_permutation);
    RUN_TEST(test_log_det);
    RUN_TEST(test_rng_gauss_cdf_and_tails);
    RUN_TEST(test_rng_ziggurat_tables);
    RUN_TEST(test_rng_wedge_screen);
    RUN_TEST(test_rng_fill_gauss_matches_gauss);
    RUN_TEST(test_fill_gauss_all_isas);
    RUN_TEST(test_dot_sumsq_all_isas);
    RUN_TEST(test_axpy_scale_perturb_all_isas);
    RUN_TEST(test_vector_ops_bad_input);
    RUN_TEST(test_model_callbacks);
}
