/* wip/10_gemm.h — part of sam.h under development (merged into sam.h before release).
 * Included twice by sam.h: once with SAM__PART_DECL (public declarations, inside
 * the include guard) and once with SAM__PART_IMPL (implementation). */
#if defined(SAM__PART_DECL)
#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * DECLARATIONS: sgemm
 * ====================================================================== */

typedef enum sam_transpose { SAM_NO_TRANS = 0, SAM_TRANS = 1 } sam_transpose;

/* C = alpha op(A) op(B) + beta C, row-major, the meaning of cblas_sgemm with
 * CblasRowMajor. op(A) is M×K, op(B) is K×N, C is M×N. Stored shapes: A is
 * M×K (lda >= K) or, transposed, K×M (lda >= M); B is K×N (ldb >= N) or N×K
 * (ldb >= K); C is M×N (ldc >= N). beta == 0 overwrites C (even NaN);
 * alpha == 0 or K == 0 only scales C by beta (A and B are not read); M == 0 or
 * N == 0 does nothing. A pointer may be NULL only when its matrix is empty.
 * Pack buffers come from the context's workspace (grown on demand, or a fixed
 * one: SAM_ERR_WORKSPACE if it is smaller than sam_sgemm_workspace_bytes). */
SAMDEF sam_status sam_sgemm(sam_ctx *ctx, sam_transpose ta, sam_transpose tb, size_t M, size_t N, size_t K,
                            float alpha, const float *A, size_t lda, const float *B, size_t ldb, float beta,
                            float *C, size_t ldc);

/* Workspace bytes sam_sgemm needs for an M×N×K product on any ISA (the pack
 * buffers are clamped to the cache blocks, so the answer stops growing beyond
 * a few MB). Pass SIZE_MAX for all three to size a fixed workspace (see
 * sam_ctx_set_workspace) that serves every shape. */
SAMDEF size_t sam_sgemm_workspace_bytes(size_t M, size_t N, size_t K);

/* ========================================================================
 * DECLARATIONS: patch convolution (the first layer of the two-layer CNN of
 * Chen et al. 2023, PAPERS.md §1: ⟨w_r, x^(p)⟩ for every filter and patch)
 * ====================================================================== */

/* Shapes (row-major): X is n samples × P patches × d, i.e. an (n·P) × d matrix
 * (row i·P + p is patch p of sample i, the sam_dataset layout); W is F × d (one
 * filter per row); Z is (n·P) × F pre-activations:
 *     Z = X Wᵀ,   Z[i·P+p][r] = ⟨w_r, x_i^(p)⟩. */
SAMDEF sam_status sam_patch_conv_forward(sam_ctx *ctx, size_t n, size_t P, size_t d, size_t F,
                                         const float *X, const float *W, float *Z);
/* Backward, given dZ ((n·P) × F) = ∂L/∂Z:
 *     dW = dZᵀ X + beta_dw dW     (F × d; beta_dw = 0 overwrites, 1 accumulates)
 *     dX = dZ W                   ((n·P) × d; skipped when dX is NULL). */
SAMDEF sam_status sam_patch_conv_backward(sam_ctx *ctx, size_t n, size_t P, size_t d, size_t F,
                                          const float *X, const float *W, const float *dZ, float beta_dw,
                                          float *dW, float *dX);

#ifdef __cplusplus
}
#endif
#elif defined(SAM__PART_IMPL)

/* ========================================================================
 * KERNELS: sgemm (scalar → AVX2 → NEON side by side)
 *
 * The BLIS algorithm (Van Zee & van de Geijn 2015; "how to optimize gemm"):
 *
 *   for jc in N step NC:             B block  kc×nc  lives in L3
 *     for pc in K step KC:           pack B[pc.., jc..] into kc×NR panels
 *       for ic in M step MC:         pack A[ic.., pc..] into MR×kc panels (L2)
 *         for jr in nc step NR:      one B micro-panel kc×NR stays in L1
 *           for ir in mc step MR:    micro-kernel: C[MR×NR] += A-panel · B-panel
 *
 * Packing makes every micro-kernel read unit-stride and aligned, whatever the
 * transposes and strides of the caller, and zero-pads the edges so the
 * micro-kernel never branches in its k loop; it only tests whether its tile is
 * whole when it writes C. Summation order is fixed: k ascending inside a KC
 * block, blocks in order, so one ISA gives bit-identical results every run.
 *
 * Two shapes of the models skip packing on the SIMD ISAs (measured faster;
 * the choice depends on the shape only, so results stay reproducible):
 *   - A Bᵀ with M <= 4, or N <= 48 and K >= 128 (patch-conv and MLP forward,
 *     Z = X Wᵀ with few filters): dot-product kernels on the rows in place;
 *   - M == 1 with B untransposed (a batch of one): a row kernel streams B.
 * Two more AVX2-only choices (NEON keeps its general paths for them):
 *   - A Bᵀ with M >= 64, 32 < N <= 40, K >= 128 (CNN forward, 40 filters):
 *     the narrow-B kernel, B packed per kc block and A read in place;
 *   - B untransposed, M <= 24 where 4-row tiles pad less than 6-row ones
 *     (CNN weight gradient, M = 20 filters): the 4×24 tile.
 * The scalar ISA always takes the packed path: it is the specification.
 * ====================================================================== */

static size_t sam__min_sz(size_t a, size_t b) { return a < b ? a : b; }

#if defined(__GNUC__) || defined(__clang__)
#define SAM__INLINE __inline__ __attribute__((always_inline))
#else
#define SAM__INLINE
#endif

/* Micro-kernel: C[m×n] = alpha · Ap Bp + beta · C for the top-left m×n of one
 * MR×NR tile (m <= MR, n <= NR). Ap is packed, Ap[k·MR + i]; Bp[k·bk + j] is
 * a packed panel (bk = NR) or, for a whole panel of an untransposed B, B itself
 * (bk = ldb), which skips packing when B is used by few rows of A. beta == 0
 * never reads C. */
typedef void (*sam__gemm_ukr_fn)(size_t kc, float alpha, const float *ap, const float *bp, size_t bk, float beta,
                                 float *c, size_t ldc, size_t m, size_t n);

/* ---- scalar: 4×4 tile, the specification ---------------------------------- */

#define SAM__GEMM_MR_SCALAR 4
#define SAM__GEMM_NR_SCALAR 4

static void sam__gemm_ukr_f32_scalar(size_t kc, float alpha, const float *ap, const float *bp, size_t bk, float beta,
                                     float *c, size_t ldc, size_t m, size_t n) {
    float acc[SAM__GEMM_MR_SCALAR][SAM__GEMM_NR_SCALAR];
    size_t i, j, p;
    for (i = 0; i < SAM__GEMM_MR_SCALAR; i++)
        for (j = 0; j < SAM__GEMM_NR_SCALAR; j++) acc[i][j] = 0.0f;
    for (p = 0; p < kc; p++) /* acc[i][j] += A[i][p] B[p][j], p ascending */
        for (i = 0; i < SAM__GEMM_MR_SCALAR; i++)
            for (j = 0; j < SAM__GEMM_NR_SCALAR; j++)
                acc[i][j] += ap[p * SAM__GEMM_MR_SCALAR + i] * bp[p * bk + j];
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j];
}

/* ---- AVX2 + FMA: 6×16 tile ------------------------------------------------ *
 * Register budget (16 ymm): 12 accumulators (6 rows × 2 vectors of 8) + 2 for
 * the B row + 1 broadcast of A[i][k] = 15/16. Per k: 2 loads, 6 broadcasts,
 * 12 FMAs — two FMA ports stay busy, the load ports have room. */

#define SAM__GEMM_MR_AVX2 6
#define SAM__GEMM_NR_AVX2 16

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__gemm_ukr_f32_avx2(size_t kc, float alpha, const float *ap, const float *bp, size_t bk,
                                             float beta, float *c, size_t ldc, size_t m, size_t n) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    __m256 b0, b1, a, va, vb;
    size_t p, i;
    for (i = 0; i < m; i++) { /* C is needed only after the k loop: fetch it meanwhile */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + n - 1), _MM_HINT_T0);
    }
#define SAM__UKR_AVX2_STEP(p_)                                                      \
    b0 = _mm256_loadu_ps(bp + (p_) * bk);                                           \
    b1 = _mm256_loadu_ps(bp + (p_) * bk + 8);                                       \
    a = _mm256_broadcast_ss(ap + (p_) * 6 + 0);                                     \
    c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);           \
    a = _mm256_broadcast_ss(ap + (p_) * 6 + 1);                                     \
    c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);           \
    a = _mm256_broadcast_ss(ap + (p_) * 6 + 2);                                     \
    c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);           \
    a = _mm256_broadcast_ss(ap + (p_) * 6 + 3);                                     \
    c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);           \
    a = _mm256_broadcast_ss(ap + (p_) * 6 + 4);                                     \
    c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);           \
    a = _mm256_broadcast_ss(ap + (p_) * 6 + 5);                                     \
    c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    for (p = 0; p < kc; p++) {
        SAM__UKR_AVX2_STEP(0)
        ap += 6;
        bp += bk;
    }
#undef SAM__UKR_AVX2_STEP
    va = _mm256_set1_ps(alpha); /* set only now: all 16 ymm were busy in the loop */
    vb = _mm256_set1_ps(beta);
    if (m == SAM__GEMM_MR_AVX2 && n == SAM__GEMM_NR_AVX2) {
#define SAM__UKR_AVX2_STORE(r_, x0, x1)                                                                       \
        if (beta == 0.0f) {                                                                                   \
            _mm256_storeu_ps(c + (r_) * ldc, _mm256_mul_ps(va, x0));                                          \
            _mm256_storeu_ps(c + (r_) * ldc + 8, _mm256_mul_ps(va, x1));                                      \
        } else {                                                                                              \
            _mm256_storeu_ps(c + (r_) * ldc, _mm256_fmadd_ps(va, x0, _mm256_mul_ps(vb, _mm256_loadu_ps(c + (r_) * ldc)))); \
            _mm256_storeu_ps(c + (r_) * ldc + 8,                                                              \
                             _mm256_fmadd_ps(va, x1, _mm256_mul_ps(vb, _mm256_loadu_ps(c + (r_) * ldc + 8)))); \
        }
        SAM__UKR_AVX2_STORE(0, c00, c01)
        SAM__UKR_AVX2_STORE(1, c10, c11)
        SAM__UKR_AVX2_STORE(2, c20, c21)
        SAM__UKR_AVX2_STORE(3, c30, c31)
        SAM__UKR_AVX2_STORE(4, c40, c41)
        SAM__UKR_AVX2_STORE(5, c50, c51)
#undef SAM__UKR_AVX2_STORE
    } else {
        /* A partial tile: the same arithmetic on the first m rows, with
         * lane masks for the first n columns (masked-off lanes are neither
         * read nor written), so edge and interior elements round alike. */
        __m256 acc[12];
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i mlo = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane);
        const __m256i mhi = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - 8), lane);
        acc[0] = c00; acc[1] = c01; acc[2] = c10; acc[3] = c11; acc[4] = c20; acc[5] = c21;
        acc[6] = c30; acc[7] = c31; acc[8] = c40; acc[9] = c41; acc[10] = c50; acc[11] = c51;
        for (i = 0; i < m; i++) {
            float *q = c + i * ldc;
            __m256 lo = _mm256_mul_ps(va, acc[2 * i]), hi = _mm256_mul_ps(va, acc[2 * i + 1]);
            if (beta != 0.0f) {
                lo = _mm256_fmadd_ps(va, acc[2 * i], _mm256_mul_ps(vb, _mm256_maskload_ps(q, mlo)));
                hi = _mm256_fmadd_ps(va, acc[2 * i + 1], _mm256_mul_ps(vb, _mm256_maskload_ps(q + 8, mhi)));
            }
            _mm256_maskstore_ps(q, mlo, lo);
            _mm256_maskstore_ps(q + 8, mhi, hi);
        }
    }
}
#endif

/* ---- AVX2 + FMA: 4×24 tile, for a few rows of A against a wide B ---------- *
 * A product with few rows (the CNN weight gradient dW = dZᵀ X: M = 2m = 20
 * filters, K = batch·P = 40, N = d large) pads the 6-row tile: 20 rows fill
 * 4 tiles = 24 rows, 17 % of the FMAs wasted. Four rows divide the models'
 * M (20, 40) exactly, and 24 columns keep the register file as full: 12
 * accumulators (4 rows × 3 vectors) + 3 B vectors + 1 broadcast = 16 ymm;
 * per k 3 loads + 4 broadcasts for 12 FMAs. Same arithmetic per element as
 * the 6×16 tile (k ascending FMA chain, then alpha, beta), so results are
 * bit-identical to it. NEON keeps its 8×12 tile for these shapes. */

#define SAM__GEMM_MR_AVX2S 4
#define SAM__GEMM_NR_AVX2S 24

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__gemm_ukr4x24_f32_avx2(size_t kc, float alpha, const float *ap, const float *bp, size_t bk,
                                                 float beta, float *c, size_t ldc, size_t m, size_t n) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    __m256 b0, b1, b2, a, va, vb;
    size_t p, i;
    for (i = 0; i < m; i++) { /* C is needed only after the k loop: fetch it meanwhile */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + n - 1), _MM_HINT_T0);
    }
    for (p = 0; p < kc; p++) {
        b0 = _mm256_loadu_ps(bp);
        b1 = _mm256_loadu_ps(bp + 8);
        b2 = _mm256_loadu_ps(bp + 16);
        /* B read in place has rows ldb apart: fetch this k's row of the panel
         * after next (2·24 + 8 floats on; measured best of 32, 56, 80, 104). */
        _mm_prefetch((const char *)(bp + 56), _MM_HINT_T0);
        _mm_prefetch((const char *)(bp + 71), _MM_HINT_T0);
        a = _mm256_broadcast_ss(ap + 0);
        c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01); c02 = _mm256_fmadd_ps(a, b2, c02);
        a = _mm256_broadcast_ss(ap + 1);
        c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11); c12 = _mm256_fmadd_ps(a, b2, c12);
        a = _mm256_broadcast_ss(ap + 2);
        c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21); c22 = _mm256_fmadd_ps(a, b2, c22);
        a = _mm256_broadcast_ss(ap + 3);
        c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31); c32 = _mm256_fmadd_ps(a, b2, c32);
        ap += 4;
        bp += bk;
    }
    va = _mm256_set1_ps(alpha); /* set only now: all 16 ymm were busy in the loop */
    vb = _mm256_set1_ps(beta);
    if (m == SAM__GEMM_MR_AVX2S && n == SAM__GEMM_NR_AVX2S) {
#define SAM__UKR4_AVX2_ST(q_, x_)                                                                 \
        if (beta == 0.0f) _mm256_storeu_ps(q_, _mm256_mul_ps(va, x_));                            \
        else _mm256_storeu_ps(q_, _mm256_fmadd_ps(va, x_, _mm256_mul_ps(vb, _mm256_loadu_ps(q_))));
#define SAM__UKR4_AVX2_ROW(r_) \
        SAM__UKR4_AVX2_ST(c + (r_) * ldc, c##r_##0) SAM__UKR4_AVX2_ST(c + (r_) * ldc + 8, c##r_##1) \
        SAM__UKR4_AVX2_ST(c + (r_) * ldc + 16, c##r_##2)
        SAM__UKR4_AVX2_ROW(0) SAM__UKR4_AVX2_ROW(1) SAM__UKR4_AVX2_ROW(2) SAM__UKR4_AVX2_ROW(3)
#undef SAM__UKR4_AVX2_ROW
#undef SAM__UKR4_AVX2_ST
    } else {
        /* A partial tile: lane masks for the first n columns (masked-off lanes
         * are neither read nor written), the first m rows only. */
        __m256 acc[12];
        __m256i msk[3];
        size_t v;
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for (v = 0; v < 3; v++) msk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - 8 * (int)v), lane);
        acc[0] = c00; acc[1] = c01; acc[2] = c02; acc[3] = c10; acc[4] = c11; acc[5] = c12;
        acc[6] = c20; acc[7] = c21; acc[8] = c22; acc[9] = c30; acc[10] = c31; acc[11] = c32;
        for (i = 0; i < m; i++)
            for (v = 0; v < 3; v++) {
                float *q = c + i * ldc + 8 * v;
                __m256 x = _mm256_mul_ps(va, acc[3 * i + v]);
                if (beta != 0.0f) x = _mm256_fmadd_ps(va, acc[3 * i + v], _mm256_mul_ps(vb, _mm256_maskload_ps(q, msk[v])));
                _mm256_maskstore_ps(q, msk[v], x);
            }
    }
}
#endif

/* ---- NEON: 8×12 tile -------------------------------------------------------- *
 * Register budget (32 q registers of 4 floats): 24 accumulators (8 rows × 3
 * vectors) + 3 for the B row + 2 holding the 8 A values of this k, used
 * lane by lane with vfmaq_laneq_f32 (no broadcasts) = 29/32. */

#define SAM__GEMM_MR_NEON 8
#define SAM__GEMM_NR_NEON 12

#if SAM__HAS_NEON
static void sam__gemm_ukr_f32_neon(size_t kc, float alpha, const float *ap, const float *bp, size_t bk, float beta,
                                   float *c, size_t ldc, size_t m, size_t n) {
    /* named accumulators, not an array: an array indexed in the store loop
     * made gcc mirror all 24 registers to the stack on every k */
    float32x4_t z = vdupq_n_f32(0.0f);
    float32x4_t c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z, c22 = z;
    float32x4_t c30 = z, c31 = z, c32 = z, c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z;
    float32x4_t c60 = z, c61 = z, c62 = z, c70 = z, c71 = z, c72 = z;
    float32x4_t va, vb;
    float tile[SAM__GEMM_MR_NEON * SAM__GEMM_NR_NEON];
    float *cc = c;
    size_t ldcc = ldc, p, i, j;
    for (p = 0; p < kc; p++) {
        float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4), b2 = vld1q_f32(bp + 8);
        float32x4_t a0 = vld1q_f32(ap), a1 = vld1q_f32(ap + 4);
#define SAM__UKR_NEON_ROW(r_, av, lane)                                  \
        c##r_##0 = vfmaq_laneq_f32(c##r_##0, b0, av, lane);             \
        c##r_##1 = vfmaq_laneq_f32(c##r_##1, b1, av, lane);             \
        c##r_##2 = vfmaq_laneq_f32(c##r_##2, b2, av, lane);
        SAM__UKR_NEON_ROW(0, a0, 0) SAM__UKR_NEON_ROW(1, a0, 1) SAM__UKR_NEON_ROW(2, a0, 2) SAM__UKR_NEON_ROW(3, a0, 3)
        SAM__UKR_NEON_ROW(4, a1, 0) SAM__UKR_NEON_ROW(5, a1, 1) SAM__UKR_NEON_ROW(6, a1, 2) SAM__UKR_NEON_ROW(7, a1, 3)
#undef SAM__UKR_NEON_ROW
        ap += 8;
        bp += bk;
    }
    va = vdupq_n_f32(alpha);
    vb = vdupq_n_f32(beta);
    /* A partial tile goes through a local MR×NR copy with the same vector
     * arithmetic, so edge and interior elements round alike. */
    if (m != SAM__GEMM_MR_NEON || n != SAM__GEMM_NR_NEON) {
        cc = tile;
        ldcc = SAM__GEMM_NR_NEON;
        for (i = 0; i < SAM__GEMM_MR_NEON * SAM__GEMM_NR_NEON; i++) tile[i] = 0.0f;
        if (beta != 0.0f)
            for (i = 0; i < m; i++)
                for (j = 0; j < n; j++) tile[i * SAM__GEMM_NR_NEON + j] = c[i * ldc + j];
    }
#define SAM__UKR_NEON_STORE(r_, x_, j_)                                                         \
    if (beta == 0.0f) vst1q_f32(cc + (r_) * ldcc + 4 * (j_), vmulq_f32(va, x_));                \
    else vst1q_f32(cc + (r_) * ldcc + 4 * (j_),                                                 \
                   vfmaq_f32(vmulq_f32(vb, vld1q_f32(cc + (r_) * ldcc + 4 * (j_))), va, x_));
#define SAM__UKR_NEON_STORE_ROW(r_) \
    SAM__UKR_NEON_STORE(r_, c##r_##0, 0) SAM__UKR_NEON_STORE(r_, c##r_##1, 1) SAM__UKR_NEON_STORE(r_, c##r_##2, 2)
    SAM__UKR_NEON_STORE_ROW(0) SAM__UKR_NEON_STORE_ROW(1) SAM__UKR_NEON_STORE_ROW(2) SAM__UKR_NEON_STORE_ROW(3)
    SAM__UKR_NEON_STORE_ROW(4) SAM__UKR_NEON_STORE_ROW(5) SAM__UKR_NEON_STORE_ROW(6) SAM__UKR_NEON_STORE_ROW(7)
#undef SAM__UKR_NEON_STORE_ROW
#undef SAM__UKR_NEON_STORE
    if (cc == tile)
        for (i = 0; i < m; i++)
            for (j = 0; j < n; j++) c[i * ldc + j] = tile[i * SAM__GEMM_NR_NEON + j];
}
#endif

/* ---- dot kernels: C = A Bᵀ with both operands contiguous in k ------------ *
 * For ta = NoTrans, tb = Trans every C element is a dot product of a row of A
 * and a row of B. When op(B) is narrow (few filters, a batch of one) packing
 * B wastes most of an NR-wide panel; this path instead reads both operands in
 * place, a 4×3 block of dot products at a time. Rows past m and columns past
 * n point at row 0 (always valid memory) and their results are dropped, so
 * the kernel has no edge branches in its k loop.
 * C[i][j] = alpha Σ_k a_i[k] b_j[k] + beta C[i][j] (beta == 0: C not read). */
typedef void (*sam__gemm_dot_fn)(size_t K, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                                 float beta, float *c, size_t ldc, size_t m, size_t n);

#define SAM__DOT_MR 4
#define SAM__DOT_NR 3

static void sam__gemm_dot_f32_scalar(size_t K, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                                     float beta, float *c, size_t ldc, size_t m, size_t n) {
    size_t i, j, k;
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            float s = 0.0f; /* k ascending */
            for (k = 0; k < K; k++) s += a[i * lda + k] * b[j * ldb + k];
            c[i * ldc + j] = beta == 0.0f ? alpha * s : alpha * s + beta * c[i * ldc + j];
        }
}

#if SAM__HAS_AVX2
/* Lane sum in a fixed order: (l0+l4, l1+l5, l2+l6, l3+l7), then pairs. */
SAM__AVX2 static float sam__hsum8_ps_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* Register budget: 12 accumulators + 4 A vectors = 16 ymm; the 3 B vectors
 * are memory operands of the FMAs. Lane l sums k ≡ l (mod 8); the k tail is
 * read with a masked load (no overrun). */
SAM__AVX2 static void sam__gemm_dot_f32_avx2(size_t K, float alpha, const float *a, size_t lda, const float *b,
                                             size_t ldb, float beta, float *c, size_t ldc, size_t m, size_t n) {
    const float *a0 = a, *a1 = m > 1 ? a + lda : a, *a2 = m > 2 ? a + 2 * lda : a, *a3 = m > 3 ? a + 3 * lda : a;
    const float *b0 = b, *b1 = n > 1 ? b + ldb : b, *b2 = n > 2 ? b + 2 * ldb : b;
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s10 = s00, s11 = s00, s12 = s00;
    __m256 s20 = s00, s21 = s00, s22 = s00, s30 = s00, s31 = s00, s32 = s00;
    __m256 x0, x1, x2, x3, y;
    float r[SAM__DOT_MR][SAM__DOT_NR];
    size_t k = 0, i, j;
#define SAM__DOT_AVX2_COL(y_, j_)                                                            \
    s0##j_ = _mm256_fmadd_ps(x0, y_, s0##j_); s1##j_ = _mm256_fmadd_ps(x1, y_, s1##j_);        \
    s2##j_ = _mm256_fmadd_ps(x2, y_, s2##j_); s3##j_ = _mm256_fmadd_ps(x3, y_, s3##j_);
    for (; k + 8 <= K; k += 8) {
        x0 = _mm256_loadu_ps(a0 + k); x1 = _mm256_loadu_ps(a1 + k);
        x2 = _mm256_loadu_ps(a2 + k); x3 = _mm256_loadu_ps(a3 + k);
        y = _mm256_loadu_ps(b0 + k); SAM__DOT_AVX2_COL(y, 0)
        y = _mm256_loadu_ps(b1 + k); SAM__DOT_AVX2_COL(y, 1)
        y = _mm256_loadu_ps(b2 + k); SAM__DOT_AVX2_COL(y, 2)
    }
    if (k < K) {
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(K - k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        x0 = _mm256_maskload_ps(a0 + k, mask); x1 = _mm256_maskload_ps(a1 + k, mask);
        x2 = _mm256_maskload_ps(a2 + k, mask); x3 = _mm256_maskload_ps(a3 + k, mask);
        y = _mm256_maskload_ps(b0 + k, mask); SAM__DOT_AVX2_COL(y, 0)
        y = _mm256_maskload_ps(b1 + k, mask); SAM__DOT_AVX2_COL(y, 1)
        y = _mm256_maskload_ps(b2 + k, mask); SAM__DOT_AVX2_COL(y, 2)
    }
#undef SAM__DOT_AVX2_COL
    r[0][0] = sam__hsum8_ps_avx2(s00); r[0][1] = sam__hsum8_ps_avx2(s01); r[0][2] = sam__hsum8_ps_avx2(s02);
    r[1][0] = sam__hsum8_ps_avx2(s10); r[1][1] = sam__hsum8_ps_avx2(s11); r[1][2] = sam__hsum8_ps_avx2(s12);
    r[2][0] = sam__hsum8_ps_avx2(s20); r[2][1] = sam__hsum8_ps_avx2(s21); r[2][2] = sam__hsum8_ps_avx2(s22);
    r[3][0] = sam__hsum8_ps_avx2(s30); r[3][1] = sam__hsum8_ps_avx2(s31); r[3][2] = sam__hsum8_ps_avx2(s32);
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0.0f ? alpha * r[i][j] : fmaf(alpha, r[i][j], beta * c[i * ldc + j]);
}
#endif

#if SAM__HAS_NEON
/* Register budget: 12 accumulators + 4 A + 3 B = 19/32 q registers. Lane l
 * sums k ≡ l (mod 4); the k tail (< 4) is added in scalar after the lanes. */
static void sam__gemm_dot_f32_neon(size_t K, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                                   float beta, float *c, size_t ldc, size_t m, size_t n) {
    const float *ar[SAM__DOT_MR], *br[SAM__DOT_NR];
    float32x4_t s[SAM__DOT_MR][SAM__DOT_NR];
    size_t k, i, j, K4 = K & ~(size_t)3;
    for (i = 0; i < SAM__DOT_MR; i++) ar[i] = i < m ? a + i * lda : a;
    for (j = 0; j < SAM__DOT_NR; j++) br[j] = j < n ? b + j * ldb : b;
    for (i = 0; i < SAM__DOT_MR; i++)
        for (j = 0; j < SAM__DOT_NR; j++) s[i][j] = vdupq_n_f32(0.0f);
    for (k = 0; k < K4; k += 4) {
        float32x4_t x0 = vld1q_f32(ar[0] + k), x1 = vld1q_f32(ar[1] + k), x2 = vld1q_f32(ar[2] + k),
                    x3 = vld1q_f32(ar[3] + k);
        for (j = 0; j < SAM__DOT_NR; j++) {
            float32x4_t y = vld1q_f32(br[j] + k);
            s[0][j] = vfmaq_f32(s[0][j], x0, y); s[1][j] = vfmaq_f32(s[1][j], x1, y);
            s[2][j] = vfmaq_f32(s[2][j], x2, y); s[3][j] = vfmaq_f32(s[3][j], x3, y);
        }
    }
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            float r = (vgetq_lane_f32(s[i][j], 0) + vgetq_lane_f32(s[i][j], 1)) +
                      (vgetq_lane_f32(s[i][j], 2) + vgetq_lane_f32(s[i][j], 3));
            for (k = K4; k < K; k++) r = fmaf(ar[i][k], br[j][k], r);
            c[i * ldc + j] = beta == 0.0f ? alpha * r : fmaf(alpha, r, beta * c[i * ldc + j]);
        }
}
#endif

static const sam__gemm_dot_fn sam__gemm_dot_impl[SAM_ISA_COUNT] = {
    sam__gemm_dot_f32_scalar, SAM__IF_AVX2(sam__gemm_dot_f32_avx2), SAM__IF_NEON(sam__gemm_dot_f32_neon)};

/* One row of A against up to 8 rows of B (M = 1, a batch of one): the 4×3
 * kernel would spend 3 of its 4 rows on copies of row 0.
 * c[j] = alpha Σ_k a[k] b_j[k] + beta c[j], j < n <= 8. */
typedef void (*sam__gemm_dot1_fn)(size_t K, float alpha, const float *a, const float *b, size_t ldb, float beta,
                                  float *c, size_t n);

#define SAM__DOT1_NR 8

static void sam__gemm_dot1_f32_scalar(size_t K, float alpha, const float *a, const float *b, size_t ldb, float beta,
                                      float *c, size_t n) {
    sam__gemm_dot_f32_scalar(K, alpha, a, 0, b, ldb, beta, c, 0, 1, n);
}

#if SAM__HAS_AVX2
/* 8 accumulators + 1 A vector; B rows are FMA memory operands. */
SAM__AVX2 static void sam__gemm_dot1_f32_avx2(size_t K, float alpha, const float *a, const float *b, size_t ldb,
                                              float beta, float *c, size_t n) {
    const float *br[SAM__DOT1_NR];
    __m256 s[SAM__DOT1_NR], x;
    size_t k = 0, j;
    for (j = 0; j < SAM__DOT1_NR; j++) {
        br[j] = j < n ? b + j * ldb : b;
        s[j] = _mm256_setzero_ps();
    }
    for (; k + 8 <= K; k += 8) {
        x = _mm256_loadu_ps(a + k);
        for (j = 0; j < SAM__DOT1_NR; j++) s[j] = _mm256_fmadd_ps(x, _mm256_loadu_ps(br[j] + k), s[j]);
    }
    if (k < K) {
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(K - k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        x = _mm256_maskload_ps(a + k, mask);
        for (j = 0; j < SAM__DOT1_NR; j++) s[j] = _mm256_fmadd_ps(x, _mm256_maskload_ps(br[j] + k, mask), s[j]);
    }
    for (j = 0; j < n; j++) {
        float r = sam__hsum8_ps_avx2(s[j]);
        c[j] = beta == 0.0f ? alpha * r : fmaf(alpha, r, beta * c[j]);
    }
}
#endif

#if SAM__HAS_NEON
static void sam__gemm_dot1_f32_neon(size_t K, float alpha, const float *a, const float *b, size_t ldb, float beta,
                                    float *c, size_t n) {
    const float *br[SAM__DOT1_NR];
    float32x4_t s[SAM__DOT1_NR];
    size_t k, j, K4 = K & ~(size_t)3;
    for (j = 0; j < SAM__DOT1_NR; j++) {
        br[j] = j < n ? b + j * ldb : b;
        s[j] = vdupq_n_f32(0.0f);
    }
    for (k = 0; k < K4; k += 4) {
        float32x4_t x = vld1q_f32(a + k);
        for (j = 0; j < SAM__DOT1_NR; j++) s[j] = vfmaq_f32(s[j], x, vld1q_f32(br[j] + k));
    }
    for (j = 0; j < n; j++) {
        float r = (vgetq_lane_f32(s[j], 0) + vgetq_lane_f32(s[j], 1)) + (vgetq_lane_f32(s[j], 2) + vgetq_lane_f32(s[j], 3));
        for (k = K4; k < K; k++) r = fmaf(a[k], br[j][k], r);
        c[j] = beta == 0.0f ? alpha * r : fmaf(alpha, r, beta * c[j]);
    }
}
#endif

static const sam__gemm_dot1_fn sam__gemm_dot1_impl[SAM_ISA_COUNT] = {
    sam__gemm_dot1_f32_scalar, SAM__IF_AVX2(sam__gemm_dot1_f32_avx2), SAM__IF_NEON(sam__gemm_dot1_f32_neon)};

/* K is cut into chunks of SAM__DOT_KC so that the B rows of one pass
 * (N·KC·4 bytes: 40 rows = 160 KB) stay in L2 while the 4 A rows (16 KB)
 * stay in L1; later chunks accumulate into C (beta = 1). */
#define SAM__DOT_KC 1024
/* When the dot path wins (measured on AVX2 against the packed path): one to
 * four rows of A always; a narrow B (N <= 48, padding a 16-wide panel by up
 * to 3x) once K is long enough (>= 128) to amortise the horizontal sums. */
#ifndef SAM__DOT_PATH
#define SAM__DOT_PATH(M, N, K) ((M) <= 4 || ((N) <= 48 && (K) >= 128))
#endif

static void sam__gemm_dot_path(const sam_ctx *ctx, size_t M, size_t N, size_t K, float alpha, const float *A,
                               size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    sam__gemm_dot_fn f = sam__gemm_dot_impl[ctx->isa];
    size_t pc, i, j;
    for (pc = 0; pc < K; pc += SAM__DOT_KC) {
        size_t kb = sam__min_sz(SAM__DOT_KC, K - pc);
        float beta_p = pc == 0 ? beta : 1.0f;
        if (M == 1) {
            for (j = 0; j < N; j += SAM__DOT1_NR)
                sam__gemm_dot1_impl[ctx->isa](kb, alpha, A + pc, B + j * ldb + pc, ldb, beta_p, C + j,
                                              sam__min_sz(SAM__DOT1_NR, N - j));
            continue;
        }
        for (i = 0; i < M; i += SAM__DOT_MR)
            for (j = 0; j < N; j += SAM__DOT_NR)
                f(kb, alpha, A + i * lda + pc, lda, B + j * ldb + pc, ldb, beta_p, C + i * ldc + j, ldc,
                  sam__min_sz(SAM__DOT_MR, M - i), sam__min_sz(SAM__DOT_NR, N - j));
    }
}

/* ---- AVX2 narrow-B kernel: C = A Bᵀ with many rows of A, 32 < N <= 40 ------ *
 * The CNN forward at rows = 400, 2m = 40 filters, d = 2000 (Z = X Wᵀ): the dot
 * kernels re-read every A row once per 3 filters and end each dot product with
 * a horizontal sum; the packed path pads 40 columns to 48 and packs all of A.
 * Here B (40×kc, tiny) is packed once per kc block into [k][40] (zero columns
 * past N), A is read in place, two rows at a time: per k 5 loads of the packed
 * B row + 2 broadcasts of A[i][k], A[i+1][k] for 10 FMAs; 10 accumulators + 5
 * B + 1 broadcast = 16 ymm. Each C element is a k-ascending FMA chain within a
 * kc block, blocks accumulate in order (beta = 1 after the first). NEON takes
 * the dot path for these shapes. */
#define SAM__GEMM_NB_AVX2 40
#define SAM__GEMM_NB_KC 128 /* 128·40·4 B = 20 KB of packed B: L1 (256 measured no faster) */
/* When (measured on AVX2, NT 400×40×2000): N in (32, 40], many rows, K long. */
#define SAM__GEMM_NB_PATH(M, N, K) ((N) > 32 && (N) <= SAM__GEMM_NB_AVX2 && (M) >= 64 && (K) >= 128)

#if SAM__HAS_AVX2
/* c[i][0:n] = alpha Σ_k a_i[k] bp[k][0:n] + beta c[i][0:n] for i < m <= 2
 * (m == 1 reads row 0 twice and drops the copy). beta == 0: C not read. */
SAM__AVX2 static void sam__gemm_nb_f32_avx2(size_t kc, float alpha, const float *a, size_t lda, const float *bp,
                                            float beta, float *c, size_t ldc, size_t m, size_t n) {
    const float *a0 = a, *a1 = m > 1 ? a + lda : a;
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s03 = s00, s04 = s00;
    __m256 s10 = s00, s11 = s00, s12 = s00, s13 = s00, s14 = s00;
    __m256 b0, b1, b2, b3, b4, x, acc[10], va, vb;
    __m256i msk[5];
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    size_t k, i, v;
    for (k = 0; k < kc; k++, bp += SAM__GEMM_NB_AVX2) {
        b0 = _mm256_load_ps(bp); b1 = _mm256_load_ps(bp + 8); b2 = _mm256_load_ps(bp + 16);
        b3 = _mm256_load_ps(bp + 24); b4 = _mm256_load_ps(bp + 32);
        x = _mm256_broadcast_ss(a0 + k);
        s00 = _mm256_fmadd_ps(x, b0, s00); s01 = _mm256_fmadd_ps(x, b1, s01); s02 = _mm256_fmadd_ps(x, b2, s02);
        s03 = _mm256_fmadd_ps(x, b3, s03); s04 = _mm256_fmadd_ps(x, b4, s04);
        x = _mm256_broadcast_ss(a1 + k);
        s10 = _mm256_fmadd_ps(x, b0, s10); s11 = _mm256_fmadd_ps(x, b1, s11); s12 = _mm256_fmadd_ps(x, b2, s12);
        s13 = _mm256_fmadd_ps(x, b3, s13); s14 = _mm256_fmadd_ps(x, b4, s14);
    }
    va = _mm256_set1_ps(alpha);
    vb = _mm256_set1_ps(beta);
    acc[0] = s00; acc[1] = s01; acc[2] = s02; acc[3] = s03; acc[4] = s04;
    acc[5] = s10; acc[6] = s11; acc[7] = s12; acc[8] = s13; acc[9] = s14;
    for (v = 0; v < 5; v++) msk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - 8 * (int)v), lane);
    for (i = 0; i < m; i++)
        for (v = 0; v < 5; v++) {
            float *q = c + i * ldc + 8 * v;
            __m256 y = _mm256_mul_ps(va, acc[5 * i + v]);
            if (beta != 0.0f) y = _mm256_fmadd_ps(va, acc[5 * i + v], _mm256_mul_ps(vb, _mm256_maskload_ps(q, msk[v])));
            _mm256_maskstore_ps(q, msk[v], y);
        }
}

/* The driver: B (N×K, stored transposed) packed per kc block into ws. */
SAM__AVX2 static void sam__gemm_nb_path_avx2(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                                             const float *B, size_t ldb, float beta, float *C, size_t ldc, float *bp) {
    size_t pc, i, j, k;
    for (pc = 0; pc < K; pc += SAM__GEMM_NB_KC) {
        size_t kb = sam__min_sz(SAM__GEMM_NB_KC, K - pc);
        float beta_p = pc == 0 ? beta : 1.0f;
        for (k = 0; k < kb; k++)
            for (j = 0; j < SAM__GEMM_NB_AVX2; j++)
                bp[k * SAM__GEMM_NB_AVX2 + j] = j < N ? B[j * ldb + pc + k] : 0.0f;
        for (i = 0; i < M; i += 2)
            sam__gemm_nb_f32_avx2(kb, alpha, A + i * lda + pc, lda, bp, beta_p, C + i * ldc, ldc,
                                  sam__min_sz(2, M - i), N);
    }
}
#endif

/* ---- row kernels: one row of C, c = alpha a op(B) + beta c, B untransposed -- *
 * M = 1 (a batch of one) would fill one row of every MR-row tile; this path
 * streams B's rows instead: c[j] = alpha Σ_k a[k·inca] B[k][j] + beta c[j]. */
typedef void (*sam__gemm_row_fn)(size_t N, size_t K, float alpha, const float *a, size_t inca, const float *B,
                                 size_t ldb, float beta, float *c);

static void sam__gemm_row_f32_scalar(size_t N, size_t K, float alpha, const float *a, size_t inca, const float *B,
                                     size_t ldb, float beta, float *c) {
    size_t j, k;
    for (j = 0; j < N; j++) {
        float s = 0.0f; /* k ascending */
        for (k = 0; k < K; k++) s += a[k * inca] * B[k * ldb + j];
        c[j] = beta == 0.0f ? alpha * s : alpha * s + beta * c[j];
    }
}

#if SAM__HAS_AVX2
/* 32 columns at a time; even and odd k go to separate accumulators (8 ymm
 * chains hide the FMA latency), added at the end: lane j sums
 * (Σ_even) + (Σ_odd). The last < 32 columns use lane masks. */
SAM__AVX2 static void sam__gemm_row_f32_avx2(size_t N, size_t K, float alpha, const float *a, size_t inca,
                                             const float *B, size_t ldb, float beta, float *c) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    size_t j, k, v;
    for (j = 0; j < N; j += 32) {
        __m256i msk[4];
        __m256 s[8], r;
        int full = j + 32 <= N;
        for (v = 0; v < 4; v++) {
            msk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(full ? 8 : (int)(N - j) - 8 * (int)v), lane);
            s[v] = s[v + 4] = _mm256_setzero_ps();
        }
        if (full) {
            for (k = 0; k + 2 <= K; k += 2) {
                const float *b0 = B + k * ldb + j, *b1 = b0 + ldb;
                __m256 x0 = _mm256_broadcast_ss(a + k * inca), x1 = _mm256_broadcast_ss(a + (k + 1) * inca);
                for (v = 0; v < 4; v++) {
                    s[v] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b0 + 8 * v), s[v]);
                    s[v + 4] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(b1 + 8 * v), s[v + 4]);
                }
            }
            if (k < K)
                for (v = 0; v < 4; v++)
                    s[v] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k * inca), _mm256_loadu_ps(B + k * ldb + j + 8 * v),
                                           s[v]);
        } else {
            for (k = 0; k + 2 <= K; k += 2) {
                const float *b0 = B + k * ldb + j, *b1 = b0 + ldb;
                __m256 x0 = _mm256_broadcast_ss(a + k * inca), x1 = _mm256_broadcast_ss(a + (k + 1) * inca);
                for (v = 0; v < 4; v++) {
                    s[v] = _mm256_fmadd_ps(x0, _mm256_maskload_ps(b0 + 8 * v, msk[v]), s[v]);
                    s[v + 4] = _mm256_fmadd_ps(x1, _mm256_maskload_ps(b1 + 8 * v, msk[v]), s[v + 4]);
                }
            }
            if (k < K)
                for (v = 0; v < 4; v++)
                    s[v] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k * inca),
                                           _mm256_maskload_ps(B + k * ldb + j + 8 * v, msk[v]), s[v]);
        }
        for (v = 0; v < 4; v++) {
            r = _mm256_mul_ps(va, _mm256_add_ps(s[v], s[v + 4]));
            if (beta != 0.0f)
                r = _mm256_fmadd_ps(va, _mm256_add_ps(s[v], s[v + 4]),
                                    _mm256_mul_ps(vb, _mm256_maskload_ps(c + j + 8 * v, msk[v])));
            _mm256_maskstore_ps(c + j + 8 * v, msk[v], r);
        }
    }
}
#endif

#if SAM__HAS_NEON
/* 16 columns at a time, even/odd k in separate accumulators (8 chains);
 * the last < 16 columns go through a zero-padded copy of each B row chunk. */
static void sam__gemm_row_f32_neon(size_t N, size_t K, float alpha, const float *a, size_t inca, const float *B,
                                   size_t ldb, float beta, float *c) {
    size_t j, k, v;
    for (j = 0; j < N; j += 16) {
        size_t n = sam__min_sz(16, N - j);
        float32x4_t s[8];
        float t[16], out[16];
        for (v = 0; v < 8; v++) s[v] = vdupq_n_f32(0.0f);
        for (k = 0; k < K; k++) {
            const float *b = B + k * ldb + j;
            float32x4_t x = vdupq_n_f32(a[k * inca]);
            size_t h = (k & 1) * 4; /* even k: s[0..3], odd k: s[4..7] */
            if (n < 16) {
                for (v = 0; v < 16; v++) t[v] = v < n ? b[v] : 0.0f;
                b = t;
            }
            for (v = 0; v < 4; v++) s[h + v] = vfmaq_f32(s[h + v], x, vld1q_f32(b + 4 * v));
        }
        for (v = 0; v < 4; v++) vst1q_f32(out + 4 * v, vaddq_f32(s[v], s[v + 4]));
        for (v = 0; v < n; v++) c[j + v] = beta == 0.0f ? alpha * out[v] : fmaf(alpha, out[v], beta * c[j + v]);
    }
}
#endif

static const sam__gemm_row_fn sam__gemm_row_impl[SAM_ISA_COUNT] = {
    sam__gemm_row_f32_scalar, SAM__IF_AVX2(sam__gemm_row_f32_avx2), SAM__IF_NEON(sam__gemm_row_f32_neon)};

/* ---- packing ------------------------------------------------------------- */

/* Ap ← op(A)[0:mb, 0:kb] as ceil(mb/mr) micro-panels of mr×kb, panel layout
 * [k][i], rows past mb zero. a points at op(A)[0][0]; element (i, k) is at
 * a[i·lda + k] (NoTrans) or a[k·lda + i] (Trans). Written for a constant mr
 * (see sam__gemm_pack_a) so the compiler unrolls the i loops. */
static SAM__INLINE void sam__gemm_pack_a_mr(const size_t mr, sam_transpose ta, size_t mb, size_t kb, const float *a,
                                            size_t lda, float *ap) {
    size_t ir, i, k;
    for (ir = 0; ir < mb; ir += mr, ap += mr * kb) {
        size_t m = sam__min_sz(mr, mb - ir);
        if (m == mr && ta == SAM_NO_TRANS) {
            const float *r = a + ir * lda;
            for (k = 0; k < kb; k++, r++)
                for (i = 0; i < mr; i++) ap[k * mr + i] = r[i * lda];
        } else if (m == mr) {
            const float *r = a + ir;
            for (k = 0; k < kb; k++, r += lda) memcpy(ap + k * mr, r, mr * sizeof(float));
        } else {
            for (k = 0; k < kb; k++)
                for (i = 0; i < mr; i++)
                    ap[k * mr + i] = i >= m ? 0.0f : ta == SAM_NO_TRANS ? a[(ir + i) * lda + k] : a[k * lda + ir + i];
        }
    }
}

/* Bp ← op(B)[0:kb, 0:nb] as ceil(nb/nr) micro-panels of kb×nr, layout [k][j],
 * columns past nb zero. Element (k, j) of op(B) is b[k·ldb + j] (NoTrans) or
 * b[j·ldb + k] (Trans). */
static SAM__INLINE void sam__gemm_pack_b_nr(const size_t nr, sam_transpose tb, size_t kb, size_t nb, const float *b,
                                            size_t ldb, float *bp) {
    size_t jr, j, k;
    for (jr = 0; jr < nb; jr += nr, bp += nr * kb) {
        size_t n = sam__min_sz(nr, nb - jr);
        if (n == nr && tb == SAM_NO_TRANS) {
            const float *r = b + jr;
            for (k = 0; k < kb; k++, r += ldb) memcpy(bp + k * nr, r, nr * sizeof(float)); /* inlined moves */
        } else if (n == nr) {
            const float *r = b + jr * ldb;
            for (k = 0; k < kb; k++, r++)
                for (j = 0; j < nr; j++) bp[k * nr + j] = r[j * ldb];
        } else {
            for (k = 0; k < kb; k++)
                for (j = 0; j < nr; j++)
                    bp[k * nr + j] = j >= n ? 0.0f : tb == SAM_NO_TRANS ? b[k * ldb + jr + j] : b[(jr + j) * ldb + k];
        }
    }
}

/* Per-ISA packers: the generic loops with the ISA's constant MR / NR; AVX2
 * adds 8×8 register transposes for the two gathering cases (A untransposed,
 * B transposed), which otherwise move one float per load. */
typedef void (*sam__gemm_pack_fn)(sam_transpose t, size_t mb_or_kb, size_t kb_or_nb, const float *x, size_t ld,
                                  float *out);

static void sam__gemm_pack_a_f32_scalar(sam_transpose ta, size_t mb, size_t kb, const float *a, size_t lda,
                                        float *ap) {
    sam__gemm_pack_a_mr(SAM__GEMM_MR_SCALAR, ta, mb, kb, a, lda, ap);
}
static void sam__gemm_pack_b_f32_scalar(sam_transpose tb, size_t kb, size_t nb, const float *b, size_t ldb,
                                        float *bp) {
    sam__gemm_pack_b_nr(SAM__GEMM_NR_SCALAR, tb, kb, nb, b, ldb, bp);
}

#if SAM__HAS_AVX2
/* In: r0..r7 rows of 8. Out: o_k = (r0[k], r1[k], ..., r7[k]), k = 0..7. */
#define SAM__TRANSPOSE8_AVX2(r0, r1, r2, r3, r4, r5, r6, r7)                                            \
    do {                                                                                                \
        __m256 t0_ = _mm256_unpacklo_ps(r0, r1), t1_ = _mm256_unpackhi_ps(r0, r1);                      \
        __m256 t2_ = _mm256_unpacklo_ps(r2, r3), t3_ = _mm256_unpackhi_ps(r2, r3);                      \
        __m256 t4_ = _mm256_unpacklo_ps(r4, r5), t5_ = _mm256_unpackhi_ps(r4, r5);                      \
        __m256 t6_ = _mm256_unpacklo_ps(r6, r7), t7_ = _mm256_unpackhi_ps(r6, r7);                      \
        __m256 s0_ = _mm256_shuffle_ps(t0_, t2_, 0x44), s1_ = _mm256_shuffle_ps(t0_, t2_, 0xEE);        \
        __m256 s2_ = _mm256_shuffle_ps(t1_, t3_, 0x44), s3_ = _mm256_shuffle_ps(t1_, t3_, 0xEE);        \
        __m256 s4_ = _mm256_shuffle_ps(t4_, t6_, 0x44), s5_ = _mm256_shuffle_ps(t4_, t6_, 0xEE);        \
        __m256 s6_ = _mm256_shuffle_ps(t5_, t7_, 0x44), s7_ = _mm256_shuffle_ps(t5_, t7_, 0xEE);        \
        r0 = _mm256_permute2f128_ps(s0_, s4_, 0x20); r1 = _mm256_permute2f128_ps(s1_, s5_, 0x20);       \
        r2 = _mm256_permute2f128_ps(s2_, s6_, 0x20); r3 = _mm256_permute2f128_ps(s3_, s7_, 0x20);       \
        r4 = _mm256_permute2f128_ps(s0_, s4_, 0x31); r5 = _mm256_permute2f128_ps(s1_, s5_, 0x31);       \
        r6 = _mm256_permute2f128_ps(s2_, s6_, 0x31); r7 = _mm256_permute2f128_ps(s3_, s7_, 0x31);       \
    } while (0)

/* A untransposed, 6-row panels: 8 k at a time, rows 6 and 7 of the transpose
 * are zero and masked off at the store (6 lanes), so nothing is written past
 * the 6·kb floats of the panel. */
SAM__AVX2 static void sam__gemm_pack_a_f32_avx2(sam_transpose ta, size_t mb, size_t kb, const float *a, size_t lda,
                                                float *ap) {
    size_t ir = 0, k;
    if (ta == SAM_NO_TRANS) {
        const __m256i m6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
        for (; ir + 6 <= mb; ir += 6, ap += 6 * kb) {
            const float *r = a + ir * lda;
            for (k = 0; k + 8 <= kb; k += 8) {
                __m256 x0 = _mm256_loadu_ps(r + k), x1 = _mm256_loadu_ps(r + lda + k);
                __m256 x2 = _mm256_loadu_ps(r + 2 * lda + k), x3 = _mm256_loadu_ps(r + 3 * lda + k);
                __m256 x4 = _mm256_loadu_ps(r + 4 * lda + k), x5 = _mm256_loadu_ps(r + 5 * lda + k);
                __m256 x6 = _mm256_setzero_ps(), x7 = x6;
                float *o = ap + k * 6;
                SAM__TRANSPOSE8_AVX2(x0, x1, x2, x3, x4, x5, x6, x7);
                _mm256_maskstore_ps(o, m6, x0); _mm256_maskstore_ps(o + 6, m6, x1);
                _mm256_maskstore_ps(o + 12, m6, x2); _mm256_maskstore_ps(o + 18, m6, x3);
                _mm256_maskstore_ps(o + 24, m6, x4); _mm256_maskstore_ps(o + 30, m6, x5);
                _mm256_maskstore_ps(o + 36, m6, x6); _mm256_maskstore_ps(o + 42, m6, x7);
            }
            for (; k < kb; k++) {
                size_t i;
                for (i = 0; i < 6; i++) ap[k * 6 + i] = r[i * lda + k];
            }
        }
        a += ir * lda;
    } else {
        a += ir;
    }
    if (ir < mb) sam__gemm_pack_a_mr(SAM__GEMM_MR_AVX2, ta, mb - ir, kb, a, lda, ap);
}

/* B transposed (stored N×K), 16-column panels: two 8×8 transposes per 8 k. */
SAM__AVX2 static void sam__gemm_pack_b_f32_avx2(sam_transpose tb, size_t kb, size_t nb, const float *b, size_t ldb,
                                                float *bp) {
    size_t jr = 0, k, h;
    if (tb == SAM_TRANS) {
        for (; jr + 16 <= nb; jr += 16, bp += 16 * kb) {
            for (k = 0; k + 8 <= kb; k += 8)
                for (h = 0; h < 2; h++) {
                    const float *r = b + (jr + 8 * h) * ldb + k;
                    __m256 x0 = _mm256_loadu_ps(r), x1 = _mm256_loadu_ps(r + ldb), x2 = _mm256_loadu_ps(r + 2 * ldb);
                    __m256 x3 = _mm256_loadu_ps(r + 3 * ldb), x4 = _mm256_loadu_ps(r + 4 * ldb);
                    __m256 x5 = _mm256_loadu_ps(r + 5 * ldb), x6 = _mm256_loadu_ps(r + 6 * ldb);
                    __m256 x7 = _mm256_loadu_ps(r + 7 * ldb);
                    float *o = bp + k * 16 + 8 * h;
                    SAM__TRANSPOSE8_AVX2(x0, x1, x2, x3, x4, x5, x6, x7);
                    _mm256_storeu_ps(o, x0); _mm256_storeu_ps(o + 16, x1);
                    _mm256_storeu_ps(o + 32, x2); _mm256_storeu_ps(o + 48, x3);
                    _mm256_storeu_ps(o + 64, x4); _mm256_storeu_ps(o + 80, x5);
                    _mm256_storeu_ps(o + 96, x6); _mm256_storeu_ps(o + 112, x7);
                }
            for (; k < kb; k++) {
                size_t j;
                for (j = 0; j < 16; j++) bp[k * 16 + j] = b[(jr + j) * ldb + k];
            }
        }
        b += jr * ldb;
    } else {
        b += jr;
    }
    if (jr < nb) sam__gemm_pack_b_nr(SAM__GEMM_NR_AVX2, tb, kb, nb - jr, b, ldb, bp);
}
#endif

#if SAM__HAS_NEON
static void sam__gemm_pack_a_f32_neon(sam_transpose ta, size_t mb, size_t kb, const float *a, size_t lda, float *ap) {
    sam__gemm_pack_a_mr(SAM__GEMM_MR_NEON, ta, mb, kb, a, lda, ap);
}
static void sam__gemm_pack_b_f32_neon(sam_transpose tb, size_t kb, size_t nb, const float *b, size_t ldb, float *bp) {
    sam__gemm_pack_b_nr(SAM__GEMM_NR_NEON, tb, kb, nb, b, ldb, bp);
}
#endif

#if SAM__HAS_AVX2
SAM__AVX2 static void sam__gemm_pack_a4_f32_avx2(sam_transpose ta, size_t mb, size_t kb, const float *a, size_t lda,
                                                 float *ap) {
    sam__gemm_pack_a_mr(SAM__GEMM_MR_AVX2S, ta, mb, kb, a, lda, ap);
}
SAM__AVX2 static void sam__gemm_pack_b24_f32_avx2(sam_transpose tb, size_t kb, size_t nb, const float *b, size_t ldb,
                                                  float *bp) {
    sam__gemm_pack_b_nr(SAM__GEMM_NR_AVX2S, tb, kb, nb, b, ldb, bp);
}
#endif

/* Blocking per ISA. KC: one kc×NR B micro-panel fills about half of L1
 * (AVX2: 256·16·4 B = 16 KB of Haswell's 32 KB), the other half holds the
 * streaming A micro-panel and C tile. MC: the packed mc×kc A block fits in L2
 * (168·256·4 B = 168 KB of 256 KB). NC: the kc×nc B block fits in a share of
 * L3 (256·4080·4 B = 4 MB). MC is a multiple of MR and NC of NR. */
typedef struct sam__gemm_cfg {
    size_t mr, nr, mc, kc, nc;
    sam__gemm_ukr_fn ukr;
    sam__gemm_pack_fn pack_a, pack_b;
} sam__gemm_cfg;

static const sam__gemm_cfg sam__gemm_cfgs[SAM_ISA_COUNT] = {
    {SAM__GEMM_MR_SCALAR, SAM__GEMM_NR_SCALAR, 128, 256, 4096, sam__gemm_ukr_f32_scalar, sam__gemm_pack_a_f32_scalar,
     sam__gemm_pack_b_f32_scalar},
    {SAM__GEMM_MR_AVX2, SAM__GEMM_NR_AVX2, 168, 256, 4080, SAM__IF_AVX2(sam__gemm_ukr_f32_avx2),
     SAM__IF_AVX2(sam__gemm_pack_a_f32_avx2), SAM__IF_AVX2(sam__gemm_pack_b_f32_avx2)},
    /* NEON cores (A72..A76, Apple): 32–64 KB L1d, ≥ 512 KB L2 per core. */
    {SAM__GEMM_MR_NEON, SAM__GEMM_NR_NEON, 128, 256, 3072, SAM__IF_NEON(sam__gemm_ukr_f32_neon),
     SAM__IF_NEON(sam__gemm_pack_a_f32_neon), SAM__IF_NEON(sam__gemm_pack_b_f32_neon)}};

/* AVX2, few rows of A and an untransposed B (read in place, see direct_b in
 * sam__sgemm): the 4×24 tile. Same blocks as the 6×16 configuration (168 and
 * 4080 are multiples of 4 and 24). */
static const sam__gemm_cfg sam__gemm_cfg_avx2s = {
    SAM__GEMM_MR_AVX2S, SAM__GEMM_NR_AVX2S, 168, 256, 4080, SAM__IF_AVX2(sam__gemm_ukr4x24_f32_avx2),
    SAM__IF_AVX2(sam__gemm_pack_a4_f32_avx2), SAM__IF_AVX2(sam__gemm_pack_b24_f32_avx2)};
/* When: B untransposed (so read in place), M <= 24, and 4-row tiles pad less
 * than 6-row ones (M = 20: 20 rows instead of 24). Measured on AVX2 (TN
 * 20×1000×40, 20×10000×40): +9 % over the 6×16 tile with the prefetch below;
 * at M = 40 (42 rows with 6×16) the 6×16 tile stays faster. */
#define SAM__GEMM_AVX2S_PATH(M, tb)                                                                           \
    ((tb) == SAM_NO_TRANS && (M) <= 24 && sam__round_up((M), SAM__GEMM_MR_AVX2S) < sam__round_up((M), SAM__GEMM_MR_AVX2))



/* Floats of the A block and the B block (64-byte rounded) for one ISA. */
static void sam__gemm_ws_floats(const sam__gemm_cfg *g, size_t M, size_t N, size_t K, size_t *na, size_t *nb) {
    size_t mc = sam__min_sz(M, g->mc), nc = sam__min_sz(N, g->nc), kc = sam__min_sz(K, g->kc);
    mc = sam__round_up(mc, g->mr); /* mc, nc, kc are small: no overflow */
    nc = sam__round_up(nc, g->nr);
    *na = sam__round_up(mc * kc, 16);
    *nb = sam__round_up(kc * nc, 16);
}

/* C ← beta C (beta == 0 writes zeros without reading C: NaN is overwritten). */
static void sam__gemm_scale_c(size_t M, size_t N, float beta, float *C, size_t ldc) {
    size_t i, j;
    if (beta == 1.0f) return;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

/* The unchecked sgemm the rest of the library calls: arguments as sam_sgemm,
 * already valid. Fails only when the workspace cannot hold the pack buffers. */
static sam_status sam__sgemm(sam_ctx *ctx, sam_transpose ta, sam_transpose tb, size_t M, size_t N, size_t K,
                             float alpha, const float *A, size_t lda, const float *B, size_t ldb, float beta,
                             float *C, size_t ldc) {
    const sam__gemm_cfg *g = ctx->isa == SAM_ISA_AVX2 && SAM__GEMM_AVX2S_PATH(M, tb) ? &sam__gemm_cfg_avx2s
                                                                                     : &sam__gemm_cfgs[ctx->isa];
    size_t na, nb, jc, pc, ic, jr, ir;
    float *ap, *bp;
    void *ws;
    sam_status st;
    int direct_b;
    if (M == 0 || N == 0) return SAM_OK;
    if (alpha == 0.0f || K == 0) {
        sam__gemm_scale_c(M, N, beta, C, ldc);
        return SAM_OK;
    }
#if SAM__HAS_AVX2
    /* Many rows of A against 33..40 rows of B (AVX2): the narrow-B kernel.
     * Its 20 KB pack buffer is below what the packed path would need for
     * the same shape, so sam_sgemm_workspace_bytes covers it. */
    if (ta == SAM_NO_TRANS && tb == SAM_TRANS && ctx->isa == SAM_ISA_AVX2 && SAM__GEMM_NB_PATH(M, N, K)) {
        st = sam__workspace(ctx, SAM__GEMM_NB_KC * SAM__GEMM_NB_AVX2 * sizeof(float), &ws, "sam_sgemm");
        if (st != SAM_OK) return st;
        sam__gemm_nb_path_avx2(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, (float *)ws);
        return SAM_OK;
    }
#endif
    /* Skinny A Bᵀ: in-place dot products beat packing (measured against the
     * packed path on the models' shapes); the scalar ISA keeps one path. */
    if (ta == SAM_NO_TRANS && tb == SAM_TRANS && ctx->isa != SAM_ISA_SCALAR && SAM__DOT_PATH(M, N, K)) {
        sam__gemm_dot_path(ctx, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return SAM_OK;
    }
    /* One row of C from an untransposed B: stream B's rows (see above). */
    if (M == 1 && tb == SAM_NO_TRANS && ctx->isa != SAM_ISA_SCALAR) {
        sam__gemm_row_impl[ctx->isa](N, K, alpha, A, ta == SAM_NO_TRANS ? 1 : lda, B, ldb, beta, C);
        return SAM_OK;
    }
    sam__gemm_ws_floats(g, M, N, K, &na, &nb);
    st = sam__workspace(ctx, (na + nb) * sizeof(float), &ws, "sam_sgemm");
    if (st != SAM_OK) return st;
    ap = (float *)ws;
    bp = ap + na;
    /* An untransposed B already has the panel layout with row stride ldb. When
     * few rows of A share each B panel, packing B costs more than it saves. */
    direct_b = tb == SAM_NO_TRANS && M <= 8 * g->mr;
    for (jc = 0; jc < N; jc += g->nc) {
        size_t ncb = sam__min_sz(g->nc, N - jc);
        for (pc = 0; pc < K; pc += g->kc) {
            size_t kcb = sam__min_sz(g->kc, K - pc);
            float beta_p = pc == 0 ? beta : 1.0f; /* later K blocks accumulate */
            if (!direct_b)
                g->pack_b(tb, kcb, ncb, tb == SAM_NO_TRANS ? B + pc * ldb + jc : B + jc * ldb + pc, ldb, bp);
            for (ic = 0; ic < M; ic += g->mc) {
                size_t mcb = sam__min_sz(g->mc, M - ic);
                g->pack_a(ta, mcb, kcb, ta == SAM_NO_TRANS ? A + ic * lda + pc : A + pc * lda + ic, lda, ap);
                for (jr = 0; jr < ncb; jr += g->nr) {
                    size_t n = sam__min_sz(g->nr, ncb - jr);
                    const float *b = bp + jr * kcb;
                    size_t bk = g->nr;
                    if (direct_b) {
                        if (n == g->nr) {
                            b = B + pc * ldb + jc + jr;
                            bk = ldb;
                        } else { /* the ragged last panel is packed, zero-padded */
                            g->pack_b(tb, kcb, n, B + pc * ldb + jc + jr, ldb, bp);
                            b = bp;
                        }
                    }
                    for (ir = 0; ir < mcb; ir += g->mr)
                        g->ukr(kcb, alpha, ap + ir * kcb, b, bk, beta_p, C + (ic + ir) * ldc + jc + jr, ldc,
                               sam__min_sz(g->mr, mcb - ir), n);
                }
            }
        }
    }
    return SAM_OK;
}

SAM__DEF size_t sam_sgemm_workspace_bytes(size_t M, size_t N, size_t K) {
    size_t best = 0, na, nb;
    int isa;
    if (M == 0 || N == 0 || K == 0) return 0;
    for (isa = 0; isa < SAM_ISA_COUNT; isa++) {
        sam__gemm_ws_floats(&sam__gemm_cfgs[isa], M, N, K, &na, &nb);
        if ((na + nb) * sizeof(float) > best) best = (na + nb) * sizeof(float);
    }
    sam__gemm_ws_floats(&sam__gemm_cfg_avx2s, M, N, K, &na, &nb); /* the AVX2 few-rows tile */
    if ((na + nb) * sizeof(float) > best) best = (na + nb) * sizeof(float);
    return best;
}

/* Rows × ld floats must be addressable: rows·ld·4 fits in size_t. */
static sam_status sam__gemm_check_extent(sam_ctx *ctx, const char *fn, const char *name, size_t rows, size_t ld) {
    size_t n, bytes;
    if (!sam__mul_ok(rows, ld, &n) || !sam__mul_ok(n, sizeof(float), &bytes))
        return sam__fail(ctx, SAM_ERR_SIZE, "%s: %s (%zu rows x ld %zu floats) overflows size_t", fn, name, rows, ld);
    return SAM_OK;
}

SAM__DEF sam_status sam_sgemm(sam_ctx *ctx, sam_transpose ta, sam_transpose tb, size_t M, size_t N, size_t K,
                              float alpha, const float *A, size_t lda, const float *B, size_t ldb, float beta,
                              float *C, size_t ldc) {
    size_t arows, acols, brows, bcols;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    if (ta != SAM_NO_TRANS && ta != SAM_TRANS)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_sgemm: ta (%d) must be SAM_NO_TRANS or SAM_TRANS", (int)ta);
    if (tb != SAM_NO_TRANS && tb != SAM_TRANS)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_sgemm: tb (%d) must be SAM_NO_TRANS or SAM_TRANS", (int)tb);
    /* stored shapes: A arows×acols, B brows×bcols */
    arows = ta == SAM_NO_TRANS ? M : K;
    acols = ta == SAM_NO_TRANS ? K : M;
    brows = tb == SAM_NO_TRANS ? K : N;
    bcols = tb == SAM_NO_TRANS ? N : K;
    if (lda < acols)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_sgemm: lda (%zu) must be >= %s (%zu)", lda,
                         ta == SAM_NO_TRANS ? "K" : "M", acols);
    if (ldb < bcols)
        return sam__fail(ctx, SAM_ERR_ARG, "sam_sgemm: ldb (%zu) must be >= %s (%zu)", ldb,
                         tb == SAM_NO_TRANS ? "N" : "K", bcols);
    if (ldc < N) return sam__fail(ctx, SAM_ERR_ARG, "sam_sgemm: ldc (%zu) must be >= N (%zu)", ldc, N);
    if ((st = sam__gemm_check_extent(ctx, "sam_sgemm", "A", arows, lda)) != SAM_OK) return st;
    if ((st = sam__gemm_check_extent(ctx, "sam_sgemm", "B", brows, ldb)) != SAM_OK) return st;
    if ((st = sam__gemm_check_extent(ctx, "sam_sgemm", "C", M, ldc)) != SAM_OK) return st;
    if (M == 0 || N == 0) return sam__ok(ctx);
    if (!C) return sam__fail(ctx, SAM_ERR_NULL, "sam_sgemm: C is NULL");
    if (K > 0 && !A) return sam__fail(ctx, SAM_ERR_NULL, "sam_sgemm: A is NULL");
    if (K > 0 && !B) return sam__fail(ctx, SAM_ERR_NULL, "sam_sgemm: B is NULL");
    st = sam__sgemm(ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return st == SAM_OK ? sam__ok(ctx) : st;
}

/* ========================================================================
 * KERNELS: patch convolution (two-layer CNN of Chen et al. 2023)
 * ====================================================================== */

/* Z[(rows) × F] = X[rows × d] · W[F × d]ᵀ, rows = n·P. Unchecked. */
static sam_status sam__patch_conv_forward(sam_ctx *ctx, size_t rows, size_t d, size_t F, const float *X,
                                          const float *W, float *Z) {
    return sam__sgemm(ctx, SAM_NO_TRANS, SAM_TRANS, rows, F, d, 1.0f, X, d, W, d, 0.0f, Z, F);
}

/* dW[F × d] = dZ[rows × F]ᵀ · X[rows × d] + beta_dw dW; dX[rows × d] = dZ · W
 * when dX is not NULL. Unchecked. */
static sam_status sam__patch_conv_backward(sam_ctx *ctx, size_t rows, size_t d, size_t F, const float *X,
                                           const float *W, const float *dZ, float beta_dw, float *dW, float *dX) {
    sam_status st = sam__sgemm(ctx, SAM_TRANS, SAM_NO_TRANS, F, d, rows, 1.0f, dZ, F, X, d, beta_dw, dW, d);
    if (st != SAM_OK || !dX) return st;
    return sam__sgemm(ctx, SAM_NO_TRANS, SAM_NO_TRANS, rows, d, F, 1.0f, dZ, F, W, d, 0.0f, dX, d);
}

/* Shared checks: sizes > 0, rows = n·P and every matrix extent fit size_t. */
static sam_status sam__patch_conv_check(sam_ctx *ctx, const char *fn, size_t n, size_t P, size_t d, size_t F,
                                        size_t *rows) {
    size_t t;
    if (n == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: n (%zu) must be > 0", fn, n);
    if (P == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: P (%zu) must be > 0", fn, P);
    if (d == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: d (%zu) must be > 0", fn, d);
    if (F == 0) return sam__fail(ctx, SAM_ERR_ARG, "%s: F (%zu) must be > 0", fn, F);
    if (!sam__mul_ok(n, P, rows)) return sam__fail(ctx, SAM_ERR_SIZE, "%s: n*P (%zu*%zu) overflows size_t", fn, n, P);
    if (!sam__mul_ok(*rows, d, &t) || !sam__mul_ok(t, sizeof(float), &t))
        return sam__fail(ctx, SAM_ERR_SIZE, "%s: X (n*P*d floats) overflows size_t", fn);
    if (!sam__mul_ok(*rows, F, &t) || !sam__mul_ok(t, sizeof(float), &t))
        return sam__fail(ctx, SAM_ERR_SIZE, "%s: Z (n*P*F floats) overflows size_t", fn);
    if (!sam__mul_ok(F, d, &t) || !sam__mul_ok(t, sizeof(float), &t))
        return sam__fail(ctx, SAM_ERR_SIZE, "%s: W (F*d floats) overflows size_t", fn);
    return SAM_OK;
}

SAM__DEF sam_status sam_patch_conv_forward(sam_ctx *ctx, size_t n, size_t P, size_t d, size_t F, const float *X,
                                           const float *W, float *Z) {
    size_t rows;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, X, "sam_patch_conv_forward", "X");
    SAM__CHECK_PTR(ctx, W, "sam_patch_conv_forward", "W");
    SAM__CHECK_PTR(ctx, Z, "sam_patch_conv_forward", "Z");
    if ((st = sam__patch_conv_check(ctx, "sam_patch_conv_forward", n, P, d, F, &rows)) != SAM_OK) return st;
    st = sam__patch_conv_forward(ctx, rows, d, F, X, W, Z);
    return st == SAM_OK ? sam__ok(ctx) : st;
}

SAM__DEF sam_status sam_patch_conv_backward(sam_ctx *ctx, size_t n, size_t P, size_t d, size_t F, const float *X,
                                            const float *W, const float *dZ, float beta_dw, float *dW, float *dX) {
    size_t rows;
    sam_status st;
    SAM__CHECK_CTX(ctx);
    SAM__CHECK_PTR(ctx, X, "sam_patch_conv_backward", "X");
    SAM__CHECK_PTR(ctx, dZ, "sam_patch_conv_backward", "dZ");
    SAM__CHECK_PTR(ctx, dW, "sam_patch_conv_backward", "dW");
    if (dX) SAM__CHECK_PTR(ctx, W, "sam_patch_conv_backward", "W");
    if ((st = sam__patch_conv_check(ctx, "sam_patch_conv_backward", n, P, d, F, &rows)) != SAM_OK) return st;
    /* Reserve the larger of the two products' workspace first, so a fixed
     * workspace too small for dX fails before dW is written. */
    {
        size_t need = sam_sgemm_workspace_bytes(F, d, rows), need2 = dX ? sam_sgemm_workspace_bytes(rows, d, F) : 0;
        void *p;
        if ((st = sam__workspace(ctx, need > need2 ? need : need2, &p, "sam_patch_conv_backward")) != SAM_OK)
            return st;
    }
    st = sam__patch_conv_backward(ctx, rows, d, F, X, W, dZ, beta_dw, dW, dX);
    return st == SAM_OK ? sam__ok(ctx) : st;
}

#endif
