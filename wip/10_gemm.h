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
 * CblasRowMajor. op(A) is M×K, op(B) is K×N, C is M×N. beta == 0 overwrites C
 * (even NaN). Pack buffers come from the context's workspace. */
SAMDEF sam_status sam_sgemm(sam_ctx *ctx, sam_transpose ta, sam_transpose tb, size_t M, size_t N, size_t K,
                            float alpha, const float *A, size_t lda, const float *B, size_t ldb, float beta,
                            float *C, size_t ldc);

#ifdef __cplusplus
}
#endif
#elif defined(SAM__PART_IMPL)

/* PLACEHOLDER — naive version so that other parts can build; to be replaced by
 * the packed, register-blocked implementation. */
static sam_status sam__sgemm(sam_ctx *ctx, sam_transpose ta, sam_transpose tb, size_t M, size_t N, size_t K,
                             float alpha, const float *A, size_t lda, const float *B, size_t ldb, float beta,
                             float *C, size_t ldc) {
    size_t i, j, k;
    (void)ctx;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            float acc = 0.0f;
            for (k = 0; k < K; k++) {
                float a = ta ? A[k * lda + i] : A[i * lda + k];
                float b = tb ? B[j * ldb + k] : B[k * ldb + j];
                acc += a * b;
            }
            C[i * ldc + j] = beta == 0.0f ? alpha * acc : alpha * acc + beta * C[i * ldc + j];
        }
    return SAM_OK;
}

SAM__DEF sam_status sam_sgemm(sam_ctx *ctx, sam_transpose ta, sam_transpose tb, size_t M, size_t N, size_t K,
                              float alpha, const float *A, size_t lda, const float *B, size_t ldb, float beta,
                              float *C, size_t ldc) {
    SAM__CHECK_CTX(ctx);
    return sam__sgemm(ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif
