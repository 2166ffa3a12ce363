/* tests/test_gemm.c — included by tests/run.c. sgemm and patch convolution
 * against double-precision references, on every ISA this CPU has. */

/* Stored matrices for op(A) (M×K) and op(B) (K×N). */
typedef struct tg_case {
    sam_transpose ta, tb;
    size_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
} tg_case;

static size_t tg_rows_a(const tg_case *c) { return c->ta == SAM_NO_TRANS ? c->M : c->K; }
static size_t tg_rows_b(const tg_case *c) { return c->tb == SAM_NO_TRANS ? c->K : c->N; }
static double tg_a(const tg_case *c, const float *A, size_t i, size_t k) {
    return c->ta == SAM_NO_TRANS ? A[i * c->lda + k] : A[k * c->lda + i];
}
static double tg_b(const tg_case *c, const float *B, size_t k, size_t j) {
    return c->tb == SAM_NO_TRANS ? B[k * c->ldb + j] : B[j * c->ldb + k];
}

/* Buffers of one case, offset by one float from malloc's alignment. */
typedef struct tg_bufs {
    float *A, *B, *C, *C0;
    size_t na, nb, nc;
} tg_bufs;

static void tg_alloc(const tg_case *c, tg_bufs *b, unsigned seed) {
    size_t i;
    b->na = tg_rows_a(c) * c->lda + 1;
    b->nb = tg_rows_b(c) * c->ldb + 1;
    b->nc = c->M * c->ldc + 1;
    b->A = t_alloc_off(b->na);
    b->B = t_alloc_off(b->nb);
    b->C = t_alloc_off(b->nc);
    b->C0 = t_alloc_off(b->nc);
    t_fill(seed, b->na, b->A);
    t_fill(seed + 1, b->nb, b->B);
    t_fill(seed + 2, b->nc, b->C0);
    if (c->beta == 0.0f) /* beta == 0 must overwrite whatever C holds */
        for (i = 0; i < b->nc; i += 3) b->C0[i] = NAN;
    memcpy(b->C, b->C0, b->nc * sizeof(float));
}

static void tg_free(tg_bufs *b) {
    t_free_off(b->A); t_free_off(b->B); t_free_off(b->C); t_free_off(b->C0);
}

/* Compare C with alpha op(A) op(B) + beta C0 in double. The bound grows with
 * K: |err| <= 4 (K + 2) eps Σ_k |a b| |alpha| + tiny, the forward error bound
 * of a float dot product. Entries between the rows' width and ldc, and the
 * guard float after C, must be untouched. Returns the failed-check count. */
static int tg_check(const tg_case *c, const tg_bufs *b, const char *what) {
    size_t i, j, k;
    int bad = 0;
    for (i = 0; i < c->M; i++) {
        for (j = 0; j < c->N; j++) {
            double s = 0.0, sa = 0.0, ref, tol, x = b->C[i * c->ldc + j];
            for (k = 0; k < c->K; k++) {
                double p = tg_a(c, b->A, i, k) * tg_b(c, b->B, k, j);
                s += p;
                sa += fabs(p);
            }
            ref = (double)c->alpha * s;
            if (c->beta != 0.0f) ref += (double)c->beta * b->C0[i * c->ldc + j];
            tol = fabs((double)c->alpha) * sa;
            if (c->beta != 0.0f) tol += fabs((double)c->beta * b->C0[i * c->ldc + j]);
            tol = 4.0 * (double)(c->K + 2) * FLT_EPSILON * tol + 1e-30;
            if (!(fabs(x - ref) <= tol)) {
                if (bad < 3)
                    CHECKF(0, "%s %c%c M=%zu N=%zu K=%zu alpha=%g beta=%g: C[%zu][%zu] = %.9g, ref %.9g (tol %g)",
                           what, "NT"[c->ta], "NT"[c->tb], c->M, c->N, c->K, (double)c->alpha, (double)c->beta, i, j,
                           x, ref, tol);
                bad++;
            }
        }
        for (j = c->N; j < c->ldc && i * c->ldc + j < b->nc; j++)
            if (memcmp(&b->C[i * c->ldc + j], &b->C0[i * c->ldc + j], sizeof(float)) != 0) {
                if (bad < 3) CHECKF(0, "%s: C[%zu][%zu] beyond N was written", what, i, j);
                bad++;
            }
    }
    if (memcmp(&b->C[b->nc - 1], &b->C0[b->nc - 1], sizeof(float)) != 0) {
        CHECKF(0, "%s: guard after C was written", what);
        bad++;
    }
    CHECK(1); /* one check per case even when it passes */
    return bad;
}

/* Run one case on the context's ISA and check it; also that a second run is
 * bit-identical. */
static void tg_run(sam_ctx *ctx, const tg_case *c, unsigned seed) {
    tg_bufs b;
    float *first;
    tg_alloc(c, &b, seed);
    CHECK_OK(sam_sgemm(ctx, c->ta, c->tb, c->M, c->N, c->K, c->alpha, b.A, c->lda, b.B, c->ldb, c->beta, b.C,
                       c->ldc));
    if (tg_check(c, &b, sam_isa_name(ctx->isa)) == 0) {
        first = (float *)malloc(b.nc * sizeof(float));
        memcpy(first, b.C, b.nc * sizeof(float));
        memcpy(b.C, b.C0, b.nc * sizeof(float));
        CHECK_OK(sam_sgemm(ctx, c->ta, c->tb, c->M, c->N, c->K, c->alpha, b.A, c->lda, b.B, c->ldb, c->beta, b.C,
                           c->ldc));
        CHECKF(memcmp(first, b.C, b.nc * sizeof(float)) == 0, "%s M=%zu N=%zu K=%zu: rerun not bit-identical",
               sam_isa_name(ctx->isa), c->M, c->N, c->K);
        free(first);
    }
    tg_free(&b);
}

static void tg_set(tg_case *c, int ta, int tb, size_t M, size_t N, size_t K, size_t pad, float alpha, float beta) {
    c->ta = (sam_transpose)ta;
    c->tb = (sam_transpose)tb;
    c->M = M; c->N = N; c->K = K;
    c->lda = (ta ? M : K) + pad;
    c->ldb = (tb ? K : N) + pad;
    c->ldc = N + pad;
    c->alpha = alpha;
    c->beta = beta;
}

#if SAM__HAS_AVX2
/* An AVX2 tile kernel (mr × nr) alone, K = 37, B rows bk apart, C rows ldc
 * apart, every partial m × n and beta = 0 over NaN / beta = -1: against the
 * double reference, nothing outside the m × n corner touched, and bit for bit
 * the 6×16 tile on the same rows (zero-padded to 6) and first ≤ 16 columns. */
static void tg_tile_avx2(sam__gemm_ukr_fn ukr, size_t mr, size_t nr, size_t bk, size_t ldc, unsigned seed,
                         const char *name) {
    const size_t K = 37;
    float *ap = t_alloc_off(mr * K), *ap6 = t_alloc_off(6 * K), *B = t_alloc_off(K * bk);
    float *cc = t_alloc_off(mr * ldc), *c0 = t_alloc_off(mr * ldc), *c6 = t_alloc_off(mr * ldc);
    size_t m, n, i, j, k;
    float beta;
    t_fill(seed, mr * K, ap);
    t_fill(seed + 1, K * bk, B);
    t_fill(seed + 2, mr * ldc, c0);
    for (k = 0; k < K; k++) /* the same mr rows in a 6-row panel, the rest zero */
        for (i = 0; i < 6; i++) ap6[k * 6 + i] = i < mr ? ap[k * mr + i] : 0.0f;
    for (beta = 0.0f; beta >= -1.0f; beta -= 1.0f)
        for (m = 1; m <= mr; m++)
            for (n = 1; n <= nr; n++) {
                size_t n6 = n < 16 ? n : 16;
                for (i = 0; i < mr * ldc; i++) cc[i] = beta == 0.0f ? NAN : c0[i];
                ukr(K, 1.5f, ap, B, bk, beta, cc, ldc, m, n);
                for (i = 0; i < mr; i++)
                    for (j = 0; j < ldc; j++) {
                        double s = 0;
                        for (k = 0; k < K; k++) s += (double)ap[k * mr + i] * B[k * bk + j];
                        s = 1.5 * s + (beta != 0.0f ? (double)beta * c0[i * ldc + j] : 0.0);
                        if (i < m && j < n) CHECK_NEAR(cc[i * ldc + j], s, 1e-5, 1e-5);
                        else if (beta == 0.0f) CHECK(cc[i * ldc + j] != cc[i * ldc + j]);
                        else CHECK(cc[i * ldc + j] == c0[i * ldc + j]);
                    }
                for (i = 0; i < mr * ldc; i++) c6[i] = beta == 0.0f ? NAN : c0[i];
                sam__gemm_ukr_f32_avx2(K, 1.5f, ap6, B, bk, beta, c6, ldc, m, n6);
                for (i = 0; i < m; i++)
                    CHECKF(memcmp(cc + i * ldc, c6 + i * ldc, n6 * sizeof(float)) == 0,
                           "%s vs 6x16 tile m=%zu n=%zu row %zu: not bit-identical", name, m, n, i);
            }
    t_free_off(ap); t_free_off(ap6); t_free_off(B); t_free_off(cc); t_free_off(c0); t_free_off(c6);
}
#endif

/* Each case (M, N, K) with a fixed workspace of exactly
 * sam_sgemm_workspace_bytes, `skew` bytes past a 64-byte boundary, on every
 * ISA: the figure must cover every path at any address. */
static void tg_fixed_ws(int ta, int tb, const size_t (*cases)[3], size_t ncases, size_t skew, unsigned *seed) {
    sam_ctx ctx;
    tg_case c;
    size_t i;
    for (i = 0; i < ncases; i++) {
        size_t need = sam_sgemm_workspace_bytes(cases[i][0], cases[i][1], cases[i][2]);
        unsigned char *mem = (unsigned char *)malloc(need + 64);
        sam_ctx_init(&ctx, NULL);
        CHECK_OK(sam_ctx_set_workspace(&ctx, mem + 64 - ((uintptr_t)mem & 63) + skew, need));
        tg_set(&c, ta, tb, cases[i][0], cases[i][1], cases[i][2], 1, 1.0f, 0.0f);
        FOR_EACH_ISA(ctx, isa) {
            (void)isa;
            tg_run(&ctx, &c, (*seed)++);
        }
        sam_ctx_free(&ctx);
        free(mem);
    }
}

/* M, N around every micro-tile (scalar 4×4, AVX2 6×16, NEON 8×12, dot 4×3),
 * K small and odd, all four transposes, padded leading dimensions. */
static void test_sgemm_tile_edges(void) {
    static const size_t sz[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 23, 25, 31, 33, 49};
    static const size_t ks[] = {1, 3, 8, 17};
    size_t nsz = sizeof sz / sizeof sz[0], im, in, ik;
    sam_ctx ctx;
    tg_case c;
    unsigned seed = 1;
    int t;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        for (t = 0; t < 4; t++)
            for (im = 0; im < nsz; im++)
                for (in = 0; in < nsz; in++) {
                    ik = (im + in + (size_t)t) % 4;
                    tg_set(&c, t >> 1, t & 1, sz[im], sz[in], ks[ik], (im + in) % 3, 1.0f, 0.0f);
                    tg_run(&ctx, &c, seed++);
                }
    }
    sam_ctx_free(&ctx);
}

/* K, M and N across the cache blocks: kc = 256, mc = 128/168, nc = 3072..4096;
 * and square sizes 255..257 (smaller under qemu). */
static void test_sgemm_block_edges(void) {
    static const size_t kk[] = {255, 256, 257, 513};
    static const size_t mm[] = {127, 128, 129, 167, 168, 169, 337};
    sam_ctx ctx;
    tg_case c;
    unsigned seed = 100;
    size_t i;
    int t;
#if defined(__aarch64__)
    static const size_t sq[] = {64, 65};
#else
    static const size_t sq[] = {255, 256, 257};
#endif
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        for (t = 0; t < 4; t++) {
            for (i = 0; i < sizeof kk / sizeof kk[0]; i++) {
                tg_set(&c, t >> 1, t & 1, 7, 19, kk[i], 1, 1.0f, 0.0f);
                tg_run(&ctx, &c, seed++);
                tg_set(&c, t >> 1, t & 1, 50, 52, kk[i], 2, -0.5f, 1.0f); /* dot and packed paths */
                tg_run(&ctx, &c, seed++);
            }
            for (i = 0; i < sizeof mm / sizeof mm[0]; i++) {
                tg_set(&c, t >> 1, t & 1, mm[i], 5 + i, 9, 0, 1.0f, 0.0f);
                tg_run(&ctx, &c, seed++);
                tg_set(&c, t >> 1, t & 1, mm[i], 50, 33, 3, 2.0f, -1.0f);
                tg_run(&ctx, &c, seed++);
            }
            tg_set(&c, t >> 1, t & 1, 9, 4097, 3, 1, 1.0f, 0.0f); /* past every nc */
            tg_run(&ctx, &c, seed++);
            tg_set(&c, t >> 1, t & 1, 1, 3075, 5, 0, 1.0f, 0.5f);
            tg_run(&ctx, &c, seed++);
            tg_set(&c, t >> 1, t & 1, 70, 4099, 3, 1, 1.0f, 0.0f); /* packed B over several nc blocks */
            tg_run(&ctx, &c, seed++);
            tg_set(&c, t >> 1, t & 1, 5, 7, 2100, 1, 1.0f, -1.0f); /* dot path: K in 3 chunks */
            tg_run(&ctx, &c, seed++);
            tg_set(&c, t >> 1, t & 1, 1, 9, 2100, 0, 1.0f, 0.0f);
            tg_run(&ctx, &c, seed++);
            for (i = 0; i < sizeof sq / sizeof sq[0]; i++) {
                tg_set(&c, t >> 1, t & 1, sq[i], sq[i], sq[i], t, 1.0f, 0.0f);
                tg_run(&ctx, &c, seed++);
            }
        }
    }
    sam_ctx_free(&ctx);
}

/* The models' skinny shapes (sizes cut down under qemu). */
static void test_sgemm_model_shapes(void) {
#if defined(__aarch64__)
    static const size_t sh[][5] = {{0, 1, 40, 20, 300}, {1, 0, 20, 300, 40}, {0, 0, 40, 300, 20}, {0, 1, 1, 50, 30},
                                   {0, 0, 1, 50, 30}, {1, 0, 30, 50, 1}};
#else
    static const size_t sh[][5] = {{0, 1, 40, 20, 1000}, {1, 0, 20, 1000, 40}, {0, 0, 40, 1000, 20},
                                   {0, 1, 400, 40, 2000}, {1, 0, 40, 2000, 400}, {0, 1, 40, 20, 10000},
                                   {0, 1, 1, 500, 30},    {0, 0, 1, 500, 30},    {1, 0, 30, 500, 1},
                                   {1, 1, 1, 500, 30}};
#endif
    sam_ctx ctx;
    tg_case c;
    size_t i;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        for (i = 0; i < sizeof sh / sizeof sh[0]; i++) {
            tg_set(&c, (int)sh[i][0], (int)sh[i][1], sh[i][2], sh[i][3], sh[i][4], 0, 1.0f, 0.0f);
            tg_run(&ctx, &c, 300 + (unsigned)i);
        }
    }
    sam_ctx_free(&ctx);
}

/* alpha and beta: general values, beta = 1 (accumulate), beta = 0 over NaN,
 * alpha = 0 and K = 0 (C only scaled: A and B may hold NaN), M or N = 0. */
static void test_sgemm_alpha_beta(void) {
    static const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 1.0f}, {-2.0f, -0.25f}, {1.0f, 1.0f}};
    sam_ctx ctx;
    tg_case c;
    size_t i;
    int t;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        for (t = 0; t < 4; t++)
            for (i = 0; i < 4; i++) {
                tg_set(&c, t >> 1, t & 1, 13, 21, 37, 1, ab[i][0], ab[i][1]);
                tg_run(&ctx, &c, 500 + (unsigned)i);
                tg_set(&c, t >> 1, t & 1, 2, 70, 37, 1, ab[i][0], ab[i][1]);
                tg_run(&ctx, &c, 600 + (unsigned)i);
            }
        {
            float A[6], B[6], C[4] = {1, 2, 3, NAN}, nan = NAN;
            for (i = 0; i < 6; i++) A[i] = B[i] = nan;
            /* alpha = 0: A, B not read, C = beta C */
            C[3] = 4;
            CHECK_OK(sam_sgemm(&ctx, SAM_NO_TRANS, SAM_NO_TRANS, 2, 2, 3, 0.0f, A, 3, B, 2, 2.0f, C, 2));
            CHECK(C[0] == 2 && C[1] == 4 && C[2] == 6 && C[3] == 8);
            /* alpha = 0, beta = 0: zeros even over NaN */
            C[1] = nan;
            CHECK_OK(sam_sgemm(&ctx, SAM_NO_TRANS, SAM_TRANS, 2, 2, 3, 0.0f, A, 3, B, 3, 0.0f, C, 2));
            CHECK(C[0] == 0 && C[1] == 0 && C[2] == 0 && C[3] == 0);
            /* K = 0 with NULL A and B: C = beta C */
            C[0] = 1; C[1] = 2; C[2] = 3; C[3] = 4;
            CHECK_OK(sam_sgemm(&ctx, SAM_TRANS, SAM_NO_TRANS, 2, 2, 0, 1.0f, NULL, 2, NULL, 2, -1.0f, C, 2));
            CHECK(C[0] == -1 && C[1] == -2 && C[2] == -3 && C[3] == -4);
            /* M = 0 and N = 0: nothing happens, not even to C */
            CHECK_OK(sam_sgemm(&ctx, SAM_NO_TRANS, SAM_NO_TRANS, 0, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2));
            CHECK_OK(sam_sgemm(&ctx, SAM_NO_TRANS, SAM_NO_TRANS, 2, 0, 3, 1.0f, A, 3, B, 0, 0.0f, C, 2));
            CHECK(C[0] == -1 && C[1] == -2 && C[2] == -3 && C[3] == -4);
        }
    }
    sam_ctx_free(&ctx);
}

/* Every SIMD ISA close to scalar (both are checked against double as well). */
static void test_sgemm_simd_vs_scalar(void) {
    static const size_t sh[][3] = {{37, 41, 300}, {6, 16, 256}, {100, 3, 70}, {3, 100, 70}};
    sam_ctx ctx;
    size_t i, j, t;
    sam_ctx_init(&ctx, NULL);
    for (t = 0; t < 4; t++)
        for (i = 0; i < sizeof sh / sizeof sh[0]; i++) {
            tg_case c;
            tg_bufs b;
            float *ref;
            tg_set(&c, (int)(t >> 1), (int)(t & 1), sh[i][0], sh[i][1], sh[i][2], 1, 1.0f, 0.0f);
            tg_alloc(&c, &b, 700 + (unsigned)i);
            ref = (float *)malloc(b.nc * sizeof(float));
            memcpy(ref, b.C0, b.nc * sizeof(float));
            CHECK_OK(sam_ctx_set_isa(&ctx, SAM_ISA_SCALAR));
            CHECK_OK(sam_sgemm(&ctx, c.ta, c.tb, c.M, c.N, c.K, 1.0f, b.A, c.lda, b.B, c.ldb, 0.0f, ref, c.ldc));
            FOR_EACH_ISA(ctx, isa) {
                int bad = 0;
                if (isa == SAM_ISA_SCALAR) continue;
                memcpy(b.C, b.C0, b.nc * sizeof(float));
                CHECK_OK(sam_sgemm(&ctx, c.ta, c.tb, c.M, c.N, c.K, 1.0f, b.A, c.lda, b.B, c.ldb, 0.0f, b.C, c.ldc));
                for (j = 0; j < c.M * c.ldc; j++)
                    if (j % c.ldc < c.N && !(fabs(b.C[j] - ref[j]) <= 1e-5 * sqrt((double)c.K) * 4.0)) bad++;
                CHECKF(bad == 0, "%s vs scalar %zu×%zu×%zu: %d entries differ", sam_isa_name((sam_isa)isa), c.M, c.N,
                       c.K, bad);
            }
            free(ref);
            tg_free(&b);
        }
    sam_ctx_free(&ctx);
}

/* The micro-kernels and dot kernels of each ISA, called directly on tiles. */
static void test_sgemm_kernels_direct(void) {
    sam_ctx ctx;
    size_t m, n, K = 21, i, j, k;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        const sam__gemm_cfg *g = &sam__gemm_cfgs[isa];
        float *a = t_alloc_off(g->mr * K), *bp = t_alloc_off(K * g->nr), *c = t_alloc_off(g->mr * g->nr);
        float *A = t_alloc_off(4 * K), *B = t_alloc_off(3 * K), C[12];
        t_fill(1, g->mr * K, a);
        t_fill(2, K * g->nr, bp);
        t_fill(3, 4 * K, A);
        t_fill(4, 3 * K, B);
        for (m = 1; m <= g->mr; m++)
            for (n = 1; n <= g->nr; n++) {
                for (i = 0; i < g->mr * g->nr; i++) c[i] = NAN;
                g->ukr(K, 1.0f, a, bp, g->nr, 0.0f, c, g->nr, m, n);
                for (i = 0; i < g->mr; i++)
                    for (j = 0; j < g->nr; j++) {
                        double s = 0;
                        for (k = 0; k < K; k++) s += (double)a[k * g->mr + i] * bp[k * g->nr + j];
                        if (i < m && j < n) CHECK_NEAR(c[i * g->nr + j], s, 1e-5, 1e-5);
                        else CHECK(c[i * g->nr + j] != c[i * g->nr + j]); /* untouched NaN */
                    }
            }
        for (m = 1; m <= SAM__DOT_MR; m++)
            for (n = 1; n <= SAM__DOT_NR; n++) {
                for (i = 0; i < 12; i++) C[i] = NAN;
                sam__gemm_dot_impl[isa](K, 2.0f, A, K, B, K, 0.0f, C, 3, m, n);
                for (i = 0; i < 4; i++)
                    for (j = 0; j < 3; j++) {
                        double s = 0;
                        for (k = 0; k < K; k++) s += (double)A[i * K + k] * B[j * K + k];
                        if (i < m && j < n) CHECK_NEAR(C[i * 3 + j], 2.0 * s, 1e-5, 1e-5);
                        else CHECK(C[i * 3 + j] != C[i * 3 + j]);
                    }
            }
        {
            /* one row of A against n <= 8 rows of B8 */
            float *B8 = t_alloc_off(SAM__DOT1_NR * K), C1[SAM__DOT1_NR];
            t_fill(8, SAM__DOT1_NR * K, B8);
            for (n = 1; n <= SAM__DOT1_NR; n++) {
                for (i = 0; i < SAM__DOT1_NR; i++) C1[i] = NAN;
                sam__gemm_dot1_impl[isa](K, -1.0f, A, B8, K, 0.0f, C1, n);
                for (j = 0; j < SAM__DOT1_NR; j++) {
                    double s = 0;
                    for (k = 0; k < K; k++) s += (double)A[k] * B8[j * K + k];
                    if (j < n) CHECK_NEAR(C1[j], -s, 1e-5, 1e-5);
                    else CHECK(C1[j] != C1[j]);
                }
            }
            t_free_off(B8);
        }
        t_free_off(a); t_free_off(bp); t_free_off(c); t_free_off(A); t_free_off(B);
        {
            /* row kernel: N across its 32/16-column blocks, K odd and even,
             * a strided (inca = 3), beta = 0 over NaN and beta = -1 */
            static const size_t ns[] = {1, 7, 8, 15, 16, 17, 31, 32, 33, 47, 64, 65};
            size_t ni, kk, ldb = 70;
            float *av = t_alloc_off(3 * 9), *Bm = t_alloc_off(9 * ldb), *cv = t_alloc_off(ldb), *c0 = t_alloc_off(ldb);
            t_fill(5, 3 * 9, av);
            t_fill(6, 9 * ldb, Bm);
            t_fill(7, ldb, c0);
            for (ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
                for (kk = 1; kk <= 9; kk += 4) {
                    float beta;
                    for (beta = 0.0f; beta >= -1.0f; beta -= 1.0f) {
                        for (i = 0; i < ldb; i++) cv[i] = beta == 0.0f ? NAN : c0[i];
                        sam__gemm_row_impl[isa](ns[ni], kk, 0.5f, av, 3, Bm, ldb, beta, cv);
                        for (j = 0; j < ldb; j++) {
                            double s = 0;
                            for (k = 0; k < kk; k++) s += (double)av[3 * k] * Bm[k * ldb + j];
                            s = 0.5 * s + (beta != 0.0f ? (double)beta * c0[j] : 0.0);
                            if (j < ns[ni]) CHECK_NEAR(cv[j], s, 1e-5, 1e-5);
                            else if (beta == 0.0f) CHECK(cv[j] != cv[j]);
                            else CHECK(cv[j] == c0[j]);
                        }
                    }
                }
            t_free_off(av); t_free_off(Bm); t_free_off(cv); t_free_off(c0);
        }
    }
    sam_ctx_free(&ctx);
}

/* The AVX2 4×24 tile for few rows of A and an untransposed B (CNN weight
 * gradient, M = 20): M where 4-row tiles pad less than 6-row ones, N around
 * 24 and 48 (the ragged panel is packed), K across kc = 256; on the other
 * ISAs the same cases run the general path. Then the kernel itself: every
 * m ≤ 4, n ≤ 24, beta = 0 over NaN and beta ≠ 0, B read in place (bk > 24),
 * bit-identical to the 6×16 tile on the same data. */
static void test_sgemm_avx2_4x24(void) {
    static const size_t ms[] = {2, 3, 4, 7, 8, 14, 16, 19, 20};
    static const size_t ns[] = {1, 23, 24, 25, 47, 48, 49, 1000};
    static const size_t ks[] = {1, 40, 257};
    sam_ctx ctx;
    tg_case c;
    unsigned seed = 900;
    size_t im, in, t;
    CHECK(SAM__GEMM_AVX2S_PATH(20, SAM_NO_TRANS) && SAM__GEMM_AVX2S_PATH(2, SAM_NO_TRANS));
    CHECK(!SAM__GEMM_AVX2S_PATH(20, SAM_TRANS) && !SAM__GEMM_AVX2S_PATH(40, SAM_NO_TRANS) &&
          !SAM__GEMM_AVX2S_PATH(12, SAM_NO_TRANS) && !SAM__GEMM_AVX2S_PATH(5, SAM_NO_TRANS));
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        for (t = 0; t < 2; t++)
            for (im = 0; im < sizeof ms / sizeof ms[0]; im++)
                for (in = 0; in < sizeof ns / sizeof ns[0]; in++) {
                    size_t k = ks[(im + in) % 3];
                    if (ns[in] == 1000 && k == 257) k = 40;
                    tg_set(&c, (int)t, 0, ms[im], ns[in], k, (im + in) % 3, t ? -0.5f : 1.0f, in & 1 ? 0.0f : 0.75f);
                    tg_run(&ctx, &c, seed++);
                }
    }
    sam_ctx_free(&ctx);
#if SAM__HAS_AVX2
    if (sam_isa_supported(SAM_ISA_AVX2))
        tg_tile_avx2(sam__gemm_ukr4x24_f32_avx2, 4, 24, 29, 26, 11, "4x24");
#endif
}

/* The AVX2 narrow-B kernel for A Bᵀ with many rows and 33..40 columns (CNN
 * forward at 2m = 40 filters): M odd and even, N at both ends of its range,
 * K across its kc = 128 blocks (k tails of the 8×8 pack transposes), beta = 0
 * over NaN and beta ≠ 0, ldb padded or not (tail loads run on into the next row); other ISAs
 * run the same cases on their own paths. The fixed workspace that
 * sam_sgemm_workspace_bytes sizes must hold its pack buffer. */
static void test_sgemm_avx2_narrow_b(void) {
    static const size_t ms[] = {64, 67, 130};
    static const size_t ns[] = {33, 37, 40};
    static const size_t ks[] = {128, 135, 300};
    sam_ctx ctx;
    tg_case c;
    unsigned seed = 950;
    size_t im, in, ik;
    CHECK(SAM__GEMM_NB_PATH(400, 40, 2000) && SAM__GEMM_NB_PATH(64, 33, 128));
    CHECK(!SAM__GEMM_NB_PATH(400, 32, 2000) && !SAM__GEMM_NB_PATH(400, 41, 2000) &&
          !SAM__GEMM_NB_PATH(63, 40, 2000) && !SAM__GEMM_NB_PATH(400, 40, 127));
    CHECK(sam_sgemm_workspace_bytes(64, 33, 128) >= SAM__GEMM_NB_KC * SAM__GEMM_NB_AVX2 * sizeof(float));
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        for (im = 0; im < sizeof ms / sizeof ms[0]; im++)
            for (in = 0; in < sizeof ns / sizeof ns[0]; in++)
                for (ik = 0; ik < sizeof ks / sizeof ks[0]; ik++) {
                    tg_set(&c, 0, 1, ms[im], ns[in], ks[ik], (im + in + ik) % 3, ik == 1 ? -2.0f : 1.0f,
                           (im + ik) & 1 ? 0.5f : 0.0f);
                    tg_run(&ctx, &c, seed++);
                }
    }
    sam_ctx_free(&ctx);
    {
        static const size_t ws_cases[][3] = {{64, 40, 128}};
        tg_fixed_ws(0, 1, ws_cases, 1, 0, &seed);
    }
}

/* The AVX2 transposed-C path for Aᵀ B with few columns (MLP weight gradient,
 * 500×30×100): M around 64 and with a ragged last 16-row panel, N at every
 * 6-row padding inside the condition and just outside it (47, 48, 49), K at
 * both ends (24, 256) and outside (23, 257), beta = 0 over NaN and beta ≠ 0,
 * padded leading dimensions. Other ISAs run the same cases on their own
 * paths. On AVX2 the result must be bit-identical to the packed 6×16 path
 * (same k-ascending FMA chain, same store arithmetic), run here on slices of
 * 40 rows of C, which are below the path's M >= 64. */
static void test_sgemm_avx2_tc(void) {
    static const size_t ms[] = {64, 65, 71, 100, 500};
    static const size_t ns[] = {1, 5, 7, 12, 17, 30, 31, 41, 42, 47, 48, 49};
    static const size_t ks[] = {23, 24, 100, 256, 257};
    sam_ctx ctx;
    tg_case c;
    unsigned seed = 1200;
    size_t im, in, ik;
    CHECK(SAM__GEMM_TC_PATH(SAM_TRANS, SAM_NO_TRANS, 500, 30, 100));
    CHECK(SAM__GEMM_TC_PATH(SAM_TRANS, SAM_NO_TRANS, 64, 1, 24) && SAM__GEMM_TC_PATH(SAM_TRANS, SAM_NO_TRANS, 64, 42, 256));
    CHECK(!SAM__GEMM_TC_PATH(SAM_NO_TRANS, SAM_NO_TRANS, 500, 30, 100) &&
          !SAM__GEMM_TC_PATH(SAM_TRANS, SAM_TRANS, 500, 30, 100) && !SAM__GEMM_TC_PATH(SAM_TRANS, SAM_NO_TRANS, 63, 30, 100) &&
          !SAM__GEMM_TC_PATH(SAM_TRANS, SAM_NO_TRANS, 500, 30, 23) &&
          !SAM__GEMM_TC_PATH(SAM_TRANS, SAM_NO_TRANS, 500, 30, 257) &&
          !SAM__GEMM_TC_PATH(SAM_TRANS, SAM_NO_TRANS, 500, 47, 100) &&
          !SAM__GEMM_TC_PATH(SAM_TRANS, SAM_NO_TRANS, 500, 49, 100) &&
          !SAM__GEMM_TC_PATH(SAM_TRANS, SAM_NO_TRANS, 500, 16, 100));
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        for (im = 0; im < sizeof ms / sizeof ms[0]; im++)
            for (in = 0; in < sizeof ns / sizeof ns[0]; in++) {
                ik = (im + in) % (sizeof ks / sizeof ks[0]);
                if (ms[im] == 500 && ks[ik] > 100) ik = 2; /* keep the double reference quick */
                tg_set(&c, 1, 0, ms[im], ns[in], ks[ik], (im + in) % 3, in & 1 ? -0.5f : 1.0f, (im + in) & 2 ? 0.0f : 0.75f);
                tg_run(&ctx, &c, seed++);
            }
    }
    sam_ctx_free(&ctx);
    if (sam_isa_supported(SAM_ISA_AVX2)) {
        static const size_t cs[][3] = {{500, 30, 100}, {71, 17, 24}, {100, 41, 256}, {65, 1, 37}};
        size_t i, r;
        sam_ctx_init(&ctx, NULL);
        CHECK_OK(sam_ctx_set_isa(&ctx, SAM_ISA_AVX2));
        for (i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            float beta;
            for (beta = 0.0f; beta <= 0.5f; beta += 0.5f) {
                tg_bufs b;
                float *whole;
                tg_set(&c, 1, 0, cs[i][0], cs[i][1], cs[i][2], i % 3, 1.25f, beta);
                tg_alloc(&c, &b, seed++);
                CHECK(SAM__GEMM_TC_PATH(c.ta, c.tb, c.M, c.N, c.K));
                CHECK_OK(sam_sgemm(&ctx, c.ta, c.tb, c.M, c.N, c.K, c.alpha, b.A, c.lda, b.B, c.ldb, c.beta, b.C,
                                   c.ldc));
                CHECK(tg_check(&c, &b, "avx2 transposed-C") == 0);
                whole = (float *)malloc(b.nc * sizeof(float));
                memcpy(whole, b.C, b.nc * sizeof(float));
                memcpy(b.C, b.C0, b.nc * sizeof(float));
                for (r = 0; r < c.M; r += 40) /* 40-row slices: the packed path */
                    CHECK_OK(sam_sgemm(&ctx, c.ta, c.tb, sam__min_sz(40, c.M - r), c.N, c.K, c.alpha, b.A + r, c.lda,
                                       b.B, c.ldb, c.beta, b.C + r * c.ldc, c.ldc));
                CHECKF(memcmp(whole, b.C, b.nc * sizeof(float)) == 0,
                       "transposed-C vs packed path M=%zu N=%zu K=%zu beta=%g: not bit-identical", c.M, c.N, c.K,
                       (double)beta);
                free(whole);
                tg_free(&b);
            }
        }
        sam_ctx_free(&ctx);
    }
    {
        static const size_t ws_cases[][3] = {{64, 1, 24}, {64, 42, 256}, {500, 30, 100}};
        size_t i;
        for (i = 0; i < 3; i++)
            CHECK(sam_sgemm_workspace_bytes(ws_cases[i][0], ws_cases[i][1], ws_cases[i][2]) >=
                  sam__gemm_tc_ws_floats(ws_cases[i][1], ws_cases[i][2]) * sizeof(float));
        tg_fixed_ws(1, 0, ws_cases, 3, 0, &seed);
    }
}

/* The AVX2 4×24 path for A Bᵀ with a short k (MLP forward, 100×500×30): M
 * and N at both sides of the padding conditions, a ragged last row tile and
 * column panel, N = 500 across the 480-column pack block, K at the k-tail of the
 * 8×8 transposes (1, 7, 8, 9, 30) and at the bound (64, 65), beta = 0 over
 * NaN and beta ≠ 0, padded leading dimensions (B's k-tail loads run into the
 * gap). Other ISAs run the same cases on their own paths. On AVX2 the result
 * must be bit-identical to the packed 6×16 path, run on 6-row slices of C
 * (outside the condition). */
static void test_sgemm_avx2_nt(void) {
    static const size_t ms[] = {8, 12, 13, 16, 100, 101};
    static const size_t ns[] = {1, 24, 25, 47, 48, 49, 90, 500};
    static const size_t ks[] = {1, 7, 8, 9, 30, 64, 65};
    sam_ctx ctx;
    tg_case c;
    unsigned seed = 1300;
    size_t im, in;
    CHECK(SAM__GEMM_NT_PATH(SAM_NO_TRANS, SAM_TRANS, 100, 500, 30) && SAM__GEMM_NT_PATH(SAM_NO_TRANS, SAM_TRANS, 8, 24, 64));
    CHECK(!SAM__GEMM_NT_PATH(SAM_TRANS, SAM_TRANS, 100, 500, 30) && !SAM__GEMM_NT_PATH(SAM_NO_TRANS, SAM_NO_TRANS, 100, 500, 30) &&
          !SAM__GEMM_NT_PATH(SAM_NO_TRANS, SAM_TRANS, 100, 500, 65) && !SAM__GEMM_NT_PATH(SAM_NO_TRANS, SAM_TRANS, 6, 500, 30) &&
          !SAM__GEMM_NT_PATH(SAM_NO_TRANS, SAM_TRANS, 102, 500, 30) && !SAM__GEMM_NT_PATH(SAM_NO_TRANS, SAM_TRANS, 100, 512, 30) &&
          !SAM__GEMM_NT_PATH(SAM_NO_TRANS, SAM_TRANS, 100, 16, 30));
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        for (im = 0; im < sizeof ms / sizeof ms[0]; im++)
            for (in = 0; in < sizeof ns / sizeof ns[0]; in++) {
                size_t k = ks[(im + 2 * in) % (sizeof ks / sizeof ks[0])];
                tg_set(&c, 0, 1, ms[im], ns[in], k, (im + in) % 3, in & 1 ? -0.5f : 1.0f, (im + in) & 2 ? 0.0f : 0.75f);
                tg_run(&ctx, &c, seed++);
            }
    }
    sam_ctx_free(&ctx);
    if (sam_isa_supported(SAM_ISA_AVX2)) {
        static const size_t cs[][3] = {{96, 500, 30}, {12, 500, 9}, {24, 90, 64}, {96, 24, 1}, {48, 47, 7}};
        size_t i, r;
        sam_ctx_init(&ctx, NULL);
        CHECK_OK(sam_ctx_set_isa(&ctx, SAM_ISA_AVX2));
        for (i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            float beta;
            for (beta = 0.0f; beta <= 0.5f; beta += 0.5f) {
                tg_bufs b;
                float *whole;
                tg_set(&c, 0, 1, cs[i][0], cs[i][1], cs[i][2], i % 3, 1.25f, beta);
                tg_alloc(&c, &b, seed++);
                CHECK(SAM__GEMM_NT_PATH(c.ta, c.tb, c.M, c.N, c.K) && !SAM__GEMM_NT_PATH(c.ta, c.tb, 6, c.N, c.K));
                CHECK_OK(sam_sgemm(&ctx, c.ta, c.tb, c.M, c.N, c.K, c.alpha, b.A, c.lda, b.B, c.ldb, c.beta, b.C,
                                   c.ldc));
                CHECK(tg_check(&c, &b, "avx2 4x24 A Bt") == 0);
                whole = (float *)malloc(b.nc * sizeof(float));
                memcpy(whole, b.C, b.nc * sizeof(float));
                memcpy(b.C, b.C0, b.nc * sizeof(float));
                for (r = 0; r < c.M; r += 6) /* 6-row slices: the packed path */
                    CHECK_OK(sam_sgemm(&ctx, c.ta, c.tb, 6, c.N, c.K, c.alpha, b.A + r * c.lda, c.lda, b.B, c.ldb,
                                       c.beta, b.C + r * c.ldc, c.ldc));
                CHECKF(memcmp(whole, b.C, b.nc * sizeof(float)) == 0,
                       "4x24 A Bt vs packed path M=%zu N=%zu K=%zu beta=%g: not bit-identical", c.M, c.N, c.K,
                       (double)beta);
                free(whole);
                tg_free(&b);
            }
        }
        sam_ctx_free(&ctx);
    }
    {
        static const size_t ws_cases[][3] = {{8, 24, 1}, {100, 500, 30}, {12, 500, 64}};
        size_t i;
        for (i = 0; i < 3; i++)
            CHECK(sam_sgemm_workspace_bytes(ws_cases[i][0], ws_cases[i][1], ws_cases[i][2]) >=
                  sam__gemm_nt_ws_floats(ws_cases[i][1], ws_cases[i][2]) * sizeof(float));
        tg_fixed_ws(0, 1, ws_cases, 3, 4, &seed); /* not 32-aligned */
    }
}

/* The AVX2 6×16 tile with B read in place and the next panel's rows
 * prefetched (SAM__GEMM_PF_B: B beyond L2, M >= 24): both transposes of A,
 * a ragged last panel (N not a multiple of 16), the second kc block, padded
 * ldb, beta = 0 over NaN and beta ≠ 0, and M just below the bound. Prefetches
 * change no result, so these check that the path around them stays exact. */
static void test_sgemm_avx2_direct_b_prefetch(void) {
    static const size_t cs[][4] = {{1, 24, 2000, 400}, {0, 30, 1100, 360}, {1, 47, 1037, 390}, {0, 23, 2000, 200}};
    sam_ctx ctx;
    tg_case c;
    unsigned seed = 1400;
    size_t i;
    CHECK(SAM__GEMM_PF_B(40, 400, 2000) && SAM__GEMM_PF_B(24, 384, 1024));
    CHECK(!SAM__GEMM_PF_B(23, 400, 2000) && !SAM__GEMM_PF_B(40, 383, 1024) && !SAM__GEMM_PF_B(40, 400, 500));
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        for (i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            tg_set(&c, (int)cs[i][0], 0, cs[i][1], cs[i][2], cs[i][3], i % 3, i & 1 ? -0.5f : 1.0f, i & 2 ? 0.0f : 0.75f);
            CHECK(SAM__GEMM_PF_B(c.M, c.K, c.ldb) == (c.M >= 24));
            tg_run(&ctx, &c, seed++);
        }
    }
    sam_ctx_free(&ctx);
}

/* The AVX2 5×16 tile for 25..40 rows of A against an untransposed B (CNN
 * weight gradient at 2m = 40 filters): M on both sides of the condition
 * (5-row tiles padding less than 6-row ones), a ragged last row tile and
 * column panel, K across the kc blocks (64 with B prefetched, 256 without;
 * the long-kc variant has its own test below) and their tails, beta = 0 over NaN and beta ≠ 0, odd leading dimensions,
 * A transposed or not, a fixed workspace of exactly sam_sgemm_workspace_bytes.
 * Other ISAs run the same cases on their own paths. The kernel alone must
 * match the double reference and the 6×16 tile bit for bit. */
static void test_sgemm_avx2_5x16(void) {
    static const size_t ms[] = {25, 31, 33, 35, 37, 39, 40};
    static const size_t ns[] = {1, 15, 16, 17, 33, 100};
    static const size_t ks[] = {1, 63, 65, 257};
    /* B beyond L2: prefetched, kc = 64 (K = 400: 6 blocks + a tail of 16) */
    static const size_t big[][4] = {{1, 40, 2000, 400}, {0, 37, 1031, 391}, {1, 35, 1100, 360}, {0, 40, 2000, 129},
                                    {1, 25, 1009, 449}, {0, 33, 1041, 385}, {1, 39, 1025, 400}, {0, 31, 1100, 393}};
    sam_ctx ctx;
    tg_case c;
    unsigned seed = 1500;
    size_t im, in, t;
    CHECK(SAM__GEMM_AVX2F_PATH(40, 400, 2000, SAM_NO_TRANS) && SAM__GEMM_AVX2F_PATH(25, 400, 2000, SAM_NO_TRANS) &&
          SAM__GEMM_AVX2F_PATH(35, 384, 1024, SAM_NO_TRANS));
    CHECK(!SAM__GEMM_AVX2F_PATH(40, 400, 2000, SAM_TRANS) && !SAM__GEMM_AVX2F_PATH(41, 400, 2000, SAM_NO_TRANS) &&
          !SAM__GEMM_AVX2F_PATH(36, 400, 2000, SAM_NO_TRANS) && !SAM__GEMM_AVX2F_PATH(30, 400, 2000, SAM_NO_TRANS) &&
          !SAM__GEMM_AVX2F_PATH(20, 400, 2000, SAM_NO_TRANS) && !SAM__GEMM_AVX2F_PATH(24, 400, 2000, SAM_NO_TRANS));
    /* B within L2, as in NN 32³ or 40×500×400: the 6×16 tile */
    CHECK(!SAM__GEMM_AVX2F_PATH(32, 32, 32, SAM_NO_TRANS) && !SAM__GEMM_AVX2F_PATH(40, 400, 500, SAM_NO_TRANS) &&
          !SAM__GEMM_AVX2F_PATH(35, 383, 1024, SAM_NO_TRANS));
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        for (t = 0; t < 2; t++)
            for (im = 0; im < sizeof ms / sizeof ms[0]; im++)
                for (in = 0; in < sizeof ns / sizeof ns[0]; in++) {
                    size_t k = ks[(im + in + t) % 4];
                    tg_set(&c, (int)t, 0, ms[im], ns[in], k, (im + in) % 3, t ? -0.5f : 1.0f, in & 1 ? 0.0f : 0.75f);
                    tg_run(&ctx, &c, seed++);
                }
        for (t = 0; t < sizeof big / sizeof big[0]; t++) {
            tg_set(&c, (int)big[t][0], 0, big[t][1], big[t][2], big[t][3], t % 3, t & 1 ? -0.5f : 1.0f,
                   t & 2 ? 0.0f : 0.75f);
            CHECK(SAM__GEMM_PF_B(c.M, c.K, c.ldb) == (c.K >= 360));
            CHECK(SAM__GEMM_AVX2F_PATH(c.M, c.K, c.ldb, SAM_NO_TRANS) == (c.K >= 360)); /* all these M pad less */
            tg_run(&ctx, &c, seed++);
        }
    }
    sam_ctx_free(&ctx);
    {
        static const size_t ws_nn[][3] = {{40, 2000, 400}}, ws_tn[][3] = {{35, 17, 300}};
        tg_fixed_ws(0, 0, ws_nn, 1, 4, &seed); /* unaligned */
        tg_fixed_ws(1, 0, ws_tn, 1, 4, &seed);
    }
#if SAM__HAS_AVX2
    if (sam_isa_supported(SAM_ISA_AVX2))
        tg_tile_avx2(sam__gemm_ukr5x16_f32_avx2, 5, 16, 19, 18, 21, "5x16");
#endif
}

/* The long-kc variant of the AVX2 5×16 and 6×16 tiles (SAM__GEMM_LONG_KC: B
 * in place, its rows an odd number of 64-byte lines apart): K in one block,
 * in two (513) and three (1100), M from 25 to 48 with a ragged last row tile
 * or, on the 5×16 side, 6-row tiles first (40 = 30 + 10, 33 = 18 + 15), A
 * transposed or not, beta = 0 over NaN and beta ≠ 0, ldb padded beyond N,
 * and B at each of the 16 float offsets from a 64-byte line, which moves the
 * ragged first column panel: against the double reference at offset 0 and
 * bit for bit the same C at every other offset (B's address changes no
 * result). Also a workspace of exactly sam_sgemm_workspace_bytes when N is
 * one panel wide, where the long kc needs more than the short one. Other ISAs
 * run the same cases. */
static void test_sgemm_avx2_long_kc(void) {
    static const size_t cs[][6] = {/* ta, M, N, K, ldb, the tile's rows (0: not this variant) */
                                   {1, 40, 2000, 400, 2000, 5}, {0, 33, 1000, 513, 1008, 5},
                                   {1, 25, 1008, 1100, 1008, 5}, {0, 37, 990, 400, 1040, 5},
                                   {1, 40, 2000, 129, 2000, 0}, {1, 48, 2000, 400, 2000, 6},
                                   {0, 42, 1000, 513, 1008, 6}, {1, 26, 990, 400, 1040, 6},
                                   {0, 47, 1008, 1100, 1008, 6}};
    sam_ctx ctx;
    tg_case c;
    tg_bufs b;
    unsigned seed = 1600;
    size_t i, o;
    CHECK(SAM__GEMM_LONG_KC(2000) && SAM__GEMM_LONG_KC(1008) && SAM__GEMM_LONG_KC(2064) && SAM__GEMM_LONG_KC(16));
    CHECK(!SAM__GEMM_LONG_KC(4000) && !SAM__GEMM_LONG_KC(2048) && !SAM__GEMM_LONG_KC(1000) &&
          !SAM__GEMM_LONG_KC(2001) && !SAM__GEMM_LONG_KC(32));
    CHECK(sam__gemm_long_kc(1) == 1 && sam__gemm_long_kc(400) == 400 && sam__gemm_long_kc(512) == 512 &&
          sam__gemm_long_kc(513) == 257 && sam__gemm_long_kc(1000) == 500 && sam__gemm_long_kc(1100) == 367);
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        for (i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            float *base, *first;
            tg_set(&c, (int)cs[i][0], 0, cs[i][1], cs[i][2], cs[i][3], 0, i & 1 ? -0.5f : 1.0f, i & 2 ? 0.0f : 0.75f);
            c.ldb = cs[i][4];
            CHECK(SAM__GEMM_PF_B(c.M, c.K, c.ldb) == (cs[i][5] != 0) && SAM__GEMM_LONG_KC(c.ldb));
            CHECK(SAM__GEMM_AVX2F_PATH(c.M, c.K, c.ldb, SAM_NO_TRANS) == (cs[i][5] == 5));
            tg_alloc(&c, &b, seed++);
            /* B's floats, copied to a 64-byte line plus o floats */
            base = (float *)malloc((b.nb + 16) * sizeof(float) + 64);
            first = (float *)malloc(b.nc * sizeof(float));
            for (o = 0; o < 16; o++) {
                float *Bo = (float *)((uintptr_t)base + 64 - ((uintptr_t)base & 63)) + o, *Bt = b.B;
                memcpy(Bo, Bt, b.nb * sizeof(float));
                memcpy(b.C, b.C0, b.nc * sizeof(float));
                CHECK_OK(sam_sgemm(&ctx, c.ta, c.tb, c.M, c.N, c.K, c.alpha, b.A, c.lda, Bo, c.ldb, c.beta, b.C,
                                   c.ldc));
                if (o == 0) {
                    b.B = Bo;
                    CHECK(tg_check(&c, &b, "long kc") == 0);
                    b.B = Bt;
                    memcpy(first, b.C, b.nc * sizeof(float));
                } else {
                    CHECKF(memcmp(first, b.C, b.nc * sizeof(float)) == 0,
                           "%s M=%zu N=%zu K=%zu ldb=%zu: B at +%zu floats from a line changes C",
                           sam_isa_name(ctx.isa), c.M, c.N, c.K, c.ldb, o);
                }
            }
            free(first);
            free(base);
            tg_free(&b);
        }
    }
    sam_ctx_free(&ctx);
    for (i = 0; i < 2; i++) { /* N = 16: the long kc's A block (M × 400) outgrows the short kc's workspace */
        size_t M = i ? 48 : 40, need = sam_sgemm_workspace_bytes(M, 16, 400);
        unsigned char *mem = (unsigned char *)malloc(need + 64);
        CHECK(need >= sam__gemm_long_kc_ws_floats(M, i ? 6 : 5, 400) * sizeof(float));
        sam_ctx_init(&ctx, NULL);
        CHECK_OK(sam_ctx_set_workspace(&ctx, mem + 64 - ((uintptr_t)mem & 63) + 4, need));
        tg_set(&c, 1, 0, M, 16, 400, 0, 1.0f, 0.0f);
        c.ldb = 1008;
        FOR_EACH_ISA(ctx, isa) {
            (void)isa;
            tg_run(&ctx, &c, seed++);
        }
        sam_ctx_free(&ctx);
        free(mem);
    }
}

/* K = 1, the AVX2 rank-1 path (the MLP weight gradient at batch 1): all four
 * transposes, M and N around the 8-lane vectors and the 64-column chunks,
 * padded leading dimensions, beta = 0 over NaN and beta ≠ 0; on every ISA. */
static void test_sgemm_rank1(void) {
    static const size_t ms[] = {2, 7, 17, 255, 500}, ns[] = {1, 7, 8, 17, 30, 64, 65, 130};
    sam_ctx ctx;
    tg_case c;
    unsigned seed = 1700;
    size_t im, in;
    int t;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        for (t = 0; t < 4; t++)
            for (im = 0; im < sizeof ms / sizeof ms[0]; im++)
                for (in = 0; in < sizeof ns / sizeof ns[0]; in++) {
                    tg_set(&c, t & 1, t >> 1, ms[im], ns[in], 1, (im + in) % 3, in & 1 ? -0.5f : 1.0f,
                           (im + in + (size_t)t) % 2 ? 0.0f : 0.75f);
                    tg_run(&ctx, &c, seed++);
                }
    }
    sam_ctx_free(&ctx);
}

/* A fixed workspace: too small → SAM_ERR_WORKSPACE with C untouched; exactly
 * sam_sgemm_workspace_bytes → works without allocating. */
static void test_sgemm_workspace(void) {
    sam_ctx ctx;
    tg_case c;
    tg_bufs b;
    size_t need, i;
    unsigned char *buf;
    tg_set(&c, 0, 0, 300, 70, 600, 0, 1.0f, 0.0f);
    tg_alloc(&c, &b, 900);
    need = sam_sgemm_workspace_bytes(c.M, c.N, c.K);
    CHECK(need > 0);
    CHECK(sam_sgemm_workspace_bytes(0, 5, 5) == 0);
    CHECK(sam_sgemm_workspace_bytes((size_t)-1, (size_t)-1, (size_t)-1) >= need);
    CHECK(sam_sgemm_workspace_bytes((size_t)-1, (size_t)-1, (size_t)-1) < ((size_t)64 << 20));
    buf = (unsigned char *)malloc(need + 64);
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        CHECK_OK(sam_ctx_set_workspace(&ctx, buf, 256));
        memcpy(b.C, b.C0, b.nc * sizeof(float));
        CHECK(sam_sgemm(&ctx, c.ta, c.tb, c.M, c.N, c.K, 1.0f, b.A, c.lda, b.B, c.ldb, 0.0f, b.C, c.ldc) ==
              SAM_ERR_WORKSPACE);
        CHECK(strstr(sam_ctx_message(&ctx), "sam_sgemm") != NULL);
        CHECK(memcmp(b.C, b.C0, b.nc * sizeof(float)) == 0);
        CHECK_OK(sam_ctx_set_workspace(&ctx, buf + 64 - ((uintptr_t)buf & 63), need));
        CHECK_OK(sam_sgemm(&ctx, c.ta, c.tb, c.M, c.N, c.K, 1.0f, b.A, c.lda, b.B, c.ldb, 0.0f, b.C, c.ldc));
        CHECK(tg_check(&c, &b, "fixed workspace") == 0);
        /* alpha = 0 needs no workspace at all */
        CHECK_OK(sam_ctx_set_workspace(&ctx, buf, 64));
        CHECK_OK(sam_sgemm(&ctx, c.ta, c.tb, c.M, c.N, c.K, 0.0f, b.A, c.lda, b.B, c.ldb, 0.0f, b.C, c.ldc));
        for (i = 0; i < c.M * c.N; i++)
            if (b.C[i] != 0.0f) break;
        CHECK(i == c.M * c.N);
    }
    sam_ctx_free(&ctx);
    free(buf);
    tg_free(&b);
}

/* Bad input: status, the message names the argument, C untouched. */
static void test_sgemm_bad_input(void) {
    sam_ctx ctx;
    float A[64], B[64], C[64], C0[64];
    size_t big = (size_t)-1 / 2;
    int i;
    for (i = 0; i < 64; i++) A[i] = B[i] = C0[i] = (float)i;
    memcpy(C, C0, sizeof C);
    sam_ctx_init(&ctx, NULL);
    CHECK(sam_sgemm(NULL, SAM_NO_TRANS, SAM_NO_TRANS, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2) == SAM_ERR_NULL);
#define TG_BAD(st, word, call)                                                                              \
    do {                                                                                                    \
        CHECK((call) == (st));                                                                              \
        CHECKF(strstr(sam_ctx_message(&ctx), word) != NULL, "message '%s' lacks '%s'", sam_ctx_message(&ctx), \
               word);                                                                                       \
        CHECK(memcmp(C, C0, sizeof C) == 0);                                                                \
    } while (0)
    TG_BAD(SAM_ERR_NULL, "A is NULL", sam_sgemm(&ctx, SAM_NO_TRANS, SAM_NO_TRANS, 2, 2, 2, 1.0f, NULL, 2, B, 2, 0.0f, C, 2));
    TG_BAD(SAM_ERR_NULL, "B is NULL", sam_sgemm(&ctx, SAM_NO_TRANS, SAM_NO_TRANS, 2, 2, 2, 1.0f, A, 2, NULL, 2, 0.0f, C, 2));
    TG_BAD(SAM_ERR_NULL, "C is NULL", sam_sgemm(&ctx, SAM_NO_TRANS, SAM_NO_TRANS, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, NULL, 2));
    TG_BAD(SAM_ERR_ARG, "ta", sam_sgemm(&ctx, (sam_transpose)2, SAM_NO_TRANS, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2));
    TG_BAD(SAM_ERR_ARG, "tb", sam_sgemm(&ctx, SAM_NO_TRANS, (sam_transpose)-1, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2));
    /* lda must hold a row of the stored A: K (NoTrans) or M (Trans) */
    TG_BAD(SAM_ERR_ARG, "lda", sam_sgemm(&ctx, SAM_NO_TRANS, SAM_NO_TRANS, 2, 2, 3, 1.0f, A, 2, B, 2, 0.0f, C, 2));
    TG_BAD(SAM_ERR_ARG, "lda", sam_sgemm(&ctx, SAM_TRANS, SAM_NO_TRANS, 3, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2));
    TG_BAD(SAM_ERR_ARG, "ldb", sam_sgemm(&ctx, SAM_NO_TRANS, SAM_NO_TRANS, 2, 3, 2, 1.0f, A, 2, B, 2, 0.0f, C, 3));
    TG_BAD(SAM_ERR_ARG, "ldb", sam_sgemm(&ctx, SAM_NO_TRANS, SAM_TRANS, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2));
    TG_BAD(SAM_ERR_ARG, "ldc", sam_sgemm(&ctx, SAM_NO_TRANS, SAM_NO_TRANS, 2, 3, 2, 1.0f, A, 2, B, 3, 0.0f, C, 2));
    /* extents that overflow size_t */
    TG_BAD(SAM_ERR_SIZE, "C (", sam_sgemm(&ctx, SAM_NO_TRANS, SAM_NO_TRANS, big, 2, 0, 1.0f, A, 0, B, 2, 0.0f, C, 8));
    TG_BAD(SAM_ERR_SIZE, "A (", sam_sgemm(&ctx, SAM_NO_TRANS, SAM_NO_TRANS, big, 2, 2, 1.0f, A, 4, B, 2, 0.0f, C, 2));
    TG_BAD(SAM_ERR_SIZE, "B (", sam_sgemm(&ctx, SAM_NO_TRANS, SAM_TRANS, 2, big, 2, 1.0f, A, 2, B, 2, 0.0f, C, big));
    TG_BAD(SAM_ERR_SIZE, "A (", sam_sgemm(&ctx, SAM_TRANS, SAM_NO_TRANS, 2, 2, big, 1.0f, A, big, B, 2, 0.0f, C, 2));
    sam_ctx_free(&ctx);
}

/* ---- patch convolution --------------------------------------------------- */

/* X (n·P × d), W (F × d), dZ (n·P × F): forward and backward vs double. */
static void tg_patch_case(sam_ctx *ctx, size_t n, size_t P, size_t d, size_t F, unsigned seed) {
    size_t R = n * P, i, j, k;
    float *X = t_alloc_off(R * d), *W = t_alloc_off(F * d), *Z = t_alloc_off(R * F), *dZ = t_alloc_off(R * F);
    float *dW = t_alloc_off(F * d), *dW0 = t_alloc_off(F * d), *dX = t_alloc_off(R * d);
    double tol;
    int bad = 0;
    t_fill(seed, R * d, X);
    t_fill(seed + 1, F * d, W);
    t_fill(seed + 2, R * F, dZ);
    t_fill(seed + 3, F * d, dW0);
    CHECK_OK(sam_patch_conv_forward(ctx, n, P, d, F, X, W, Z));
    tol = 4.0 * (double)(d + 2) * FLT_EPSILON;
    for (i = 0; i < R; i++)
        for (j = 0; j < F; j++) {
            double s = 0, sa = 0;
            for (k = 0; k < d; k++) { s += (double)X[i * d + k] * W[j * d + k]; sa += fabs((double)X[i * d + k] * W[j * d + k]); }
            if (!(fabs(Z[i * F + j] - s) <= tol * sa + 1e-30)) bad++;
        }
    CHECKF(bad == 0, "patch forward n=%zu P=%zu d=%zu F=%zu (%s): %d bad", n, P, d, F, sam_isa_name(ctx->isa), bad);
    /* dW = dZᵀ X + dW0 (accumulate), dX = dZ W */
    memcpy(dW, dW0, F * d * sizeof(float));
    CHECK_OK(sam_patch_conv_backward(ctx, n, P, d, F, X, W, dZ, 1.0f, dW, dX));
    bad = 0;
    tol = 4.0 * (double)(R + 2) * FLT_EPSILON;
    for (j = 0; j < F; j++)
        for (k = 0; k < d; k++) {
            double s = dW0[j * d + k], sa = fabs(s);
            for (i = 0; i < R; i++) { s += (double)dZ[i * F + j] * X[i * d + k]; sa += fabs((double)dZ[i * F + j] * X[i * d + k]); }
            if (!(fabs(dW[j * d + k] - s) <= tol * sa + 1e-30)) bad++;
        }
    CHECKF(bad == 0, "patch backward dW (%s): %d bad", sam_isa_name(ctx->isa), bad);
    bad = 0;
    tol = 4.0 * (double)(F + 2) * FLT_EPSILON;
    for (i = 0; i < R; i++)
        for (k = 0; k < d; k++) {
            double s = 0, sa = 0;
            for (j = 0; j < F; j++) { s += (double)dZ[i * F + j] * W[j * d + k]; sa += fabs((double)dZ[i * F + j] * W[j * d + k]); }
            if (!(fabs(dX[i * d + k] - s) <= tol * sa + 1e-30)) bad++;
        }
    CHECKF(bad == 0, "patch backward dX (%s): %d bad", sam_isa_name(ctx->isa), bad);
    /* beta_dw = 0 overwrites (NaN in dW), dX = NULL skips dX */
    for (i = 0; i < F * d; i++) dW[i] = NAN;
    CHECK_OK(sam_patch_conv_backward(ctx, n, P, d, F, X, NULL, dZ, 0.0f, dW, NULL));
    bad = 0;
    for (j = 0; j < F; j++)
        for (k = 0; k < d; k++) {
            double s = 0, sa = 0;
            for (i = 0; i < R; i++) { s += (double)dZ[i * F + j] * X[i * d + k]; sa += fabs((double)dZ[i * F + j] * X[i * d + k]); }
            if (!(fabs(dW[j * d + k] - s) <= tol * (double)R * sa + 1e-30)) bad++;
        }
    CHECKF(bad == 0, "patch backward dW beta 0 (%s): %d bad", sam_isa_name(ctx->isa), bad);
    t_free_off(X); t_free_off(W); t_free_off(Z); t_free_off(dZ); t_free_off(dW); t_free_off(dW0); t_free_off(dX);
}

static void test_patch_conv(void) {
    sam_ctx ctx;
    sam_ctx_init(&ctx, NULL);
    FOR_EACH_ISA(ctx, isa) {
        (void)isa;
        tg_patch_case(&ctx, 1, 1, 1, 1, 10);
        tg_patch_case(&ctx, 3, 2, 17, 5, 20);
        tg_patch_case(&ctx, 5, 2, 33, 20, 30); /* Chen et al.: P = 2, F = 2m = 20 */
#if !defined(__aarch64__)
        tg_patch_case(&ctx, 20, 2, 1000, 20, 40);
        tg_patch_case(&ctx, 7, 3, 257, 31, 50);
#endif
    }
    sam_ctx_free(&ctx);
}

static void test_patch_conv_bad_input(void) {
    sam_ctx ctx;
    float X[8] = {0}, W[8] = {0}, dZ[8] = {0}, Z[8], dW[8], dX[8];
    size_t big = (size_t)-1 / 2;
    int i;
    for (i = 0; i < 8; i++) Z[i] = dW[i] = dX[i] = 7.0f;
    sam_ctx_init(&ctx, NULL);
#define TG_PBAD(st, word, call)                                                                             \
    do {                                                                                                    \
        CHECK((call) == (st));                                                                              \
        CHECKF(strstr(sam_ctx_message(&ctx), word) != NULL, "message '%s' lacks '%s'", sam_ctx_message(&ctx), \
               word);                                                                                       \
        for (i = 0; i < 8; i++) CHECK(Z[i] == 7.0f && dW[i] == 7.0f && dX[i] == 7.0f);                     \
    } while (0)
    CHECK(sam_patch_conv_forward(NULL, 1, 2, 2, 2, X, W, Z) == SAM_ERR_NULL);
    TG_PBAD(SAM_ERR_NULL, "X is NULL", sam_patch_conv_forward(&ctx, 1, 2, 2, 2, NULL, W, Z));
    TG_PBAD(SAM_ERR_NULL, "W is NULL", sam_patch_conv_forward(&ctx, 1, 2, 2, 2, X, NULL, Z));
    TG_PBAD(SAM_ERR_NULL, "Z is NULL", sam_patch_conv_forward(&ctx, 1, 2, 2, 2, X, W, NULL));
    TG_PBAD(SAM_ERR_ARG, "n (0)", sam_patch_conv_forward(&ctx, 0, 2, 2, 2, X, W, Z));
    TG_PBAD(SAM_ERR_ARG, "P (0)", sam_patch_conv_forward(&ctx, 1, 0, 2, 2, X, W, Z));
    TG_PBAD(SAM_ERR_ARG, "d (0)", sam_patch_conv_forward(&ctx, 1, 2, 0, 2, X, W, Z));
    TG_PBAD(SAM_ERR_ARG, "F (0)", sam_patch_conv_forward(&ctx, 1, 2, 2, 0, X, W, Z));
    TG_PBAD(SAM_ERR_SIZE, "n*P", sam_patch_conv_forward(&ctx, big, 4, 2, 2, X, W, Z));
    TG_PBAD(SAM_ERR_SIZE, "X (", sam_patch_conv_forward(&ctx, big, 1, 4, 2, X, W, Z));
    TG_PBAD(SAM_ERR_SIZE, "Z (", sam_patch_conv_forward(&ctx, 1, 2, 2, big, X, W, Z));
    {
        size_t half = (size_t)1 << (sizeof(size_t) * 4); /* F·d overflows, X and Z do not */
        TG_PBAD(SAM_ERR_SIZE, "W (", sam_patch_conv_forward(&ctx, 1, 1, half, half, X, W, Z));
    }
    TG_PBAD(SAM_ERR_NULL, "dZ is NULL", sam_patch_conv_backward(&ctx, 1, 2, 2, 2, X, W, NULL, 0.0f, dW, dX));
    TG_PBAD(SAM_ERR_NULL, "dW is NULL", sam_patch_conv_backward(&ctx, 1, 2, 2, 2, X, W, dZ, 0.0f, NULL, dX));
    TG_PBAD(SAM_ERR_NULL, "W is NULL", sam_patch_conv_backward(&ctx, 1, 2, 2, 2, X, NULL, dZ, 0.0f, dW, dX));
    TG_PBAD(SAM_ERR_ARG, "F (0)", sam_patch_conv_backward(&ctx, 1, 2, 2, 0, X, W, dZ, 0.0f, dW, dX));
    {
        /* a fixed workspace big enough for dW (K = n·P = 2) but not for dX
         * (K = F = 20): fails before dW is written; without dX it works */
        static float Xb[2 * 300], Wb[20 * 300], dZb[2 * 20], dWb[20 * 300], dXb[2 * 300];
        size_t need = sam_sgemm_workspace_bytes(20, 300, 2);
        unsigned char *ws = (unsigned char *)malloc(need + 64);
        CHECK(need < sam_sgemm_workspace_bytes(2, 300, 20));
        CHECK_OK(sam_ctx_set_workspace(&ctx, ws + 64 - ((uintptr_t)ws & 63), need));
        dWb[0] = 7.0f;
        CHECK(sam_patch_conv_backward(&ctx, 1, 2, 300, 20, Xb, Wb, dZb, 0.0f, dWb, dXb) == SAM_ERR_WORKSPACE);
        CHECK(dWb[0] == 7.0f);
        CHECK_OK(sam_patch_conv_backward(&ctx, 1, 2, 300, 20, Xb, Wb, dZb, 0.0f, dWb, NULL));
        CHECK(dWb[0] == 0.0f);
        free(ws);
    }
    sam_ctx_free(&ctx);
}

static void tests_gemm(void) {
    RUN_TEST(test_sgemm_tile_edges);
    RUN_TEST(test_sgemm_block_edges);
    RUN_TEST(test_sgemm_model_shapes);
    RUN_TEST(test_sgemm_alpha_beta);
    RUN_TEST(test_sgemm_simd_vs_scalar);
    RUN_TEST(test_sgemm_kernels_direct);
    RUN_TEST(test_sgemm_avx2_4x24);
    RUN_TEST(test_sgemm_avx2_narrow_b);
    RUN_TEST(test_sgemm_avx2_tc);
    RUN_TEST(test_sgemm_avx2_nt);
    RUN_TEST(test_sgemm_avx2_direct_b_prefetch);
    RUN_TEST(test_sgemm_avx2_5x16);
    RUN_TEST(test_sgemm_avx2_long_kc);
    RUN_TEST(test_sgemm_rank1);
    RUN_TEST(test_sgemm_workspace);
    RUN_TEST(test_sgemm_bad_input);
    RUN_TEST(test_patch_conv);
    RUN_TEST(test_patch_conv_bad_input);
}
