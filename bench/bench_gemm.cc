// bench/bench_gemm.cc — sgemm on squares and on the models' own shapes, and
// (with BLAS=openblas) single-thread OpenBLAS cblas_sgemm on the same shapes.
//
// Shape names are <role>_<op(A)op(B)>_<M>x<N>x<K>, row-major as cblas:
//   sq_<n>          NN, n×n×n
//   cnnfwd_NT_...   Chen CNN forward:  (batch·P × d) · (2m × d)ᵀ -> batch·P × 2m
//   cnngrad_TN_...  its weight gradient: (batch·P × 2m)ᵀ · (batch·P × d) -> 2m × d
//   mlpfwd_NT_...   Wen MLP layer 1:   (batch × d) · (width × d)ᵀ -> batch × width
//   mlpgrad_TN_...  its weight gradient: (batch × width)ᵀ · (batch × d) -> width × d
// FLOP per call = 2 M N K. Patch convolution (patch_conv_fwd / _bwd) on the
// same CNN configurations: n_P_d_F = samples, patches, patch dim, filters.
#include "bench.h"

#ifdef SAM_BENCH_OPENBLAS
#include <cblas.h>
#endif

namespace sb {
namespace {

struct Shape {
    std::string label;
    sam_transpose ta, tb;
    size_t M, N, K;
};

std::vector<Shape> shapes() {
    std::vector<Shape> v;
    static const size_t sq[] = {32, 64, 128, 256, 512, 1024};
    for (size_t i = 0; i < 6; i++) {
        Shape s = {"sq_" + std::to_string(sq[i]), SAM_NO_TRANS, SAM_NO_TRANS, sq[i], sq[i], sq[i]};
        v.push_back(s);
    }
    // Chen CNN (rows = batch·P, 2m filters, d): 40×20×1000, 400×40×2000, 40×20×10000.
    static const size_t cnn[3][3] = {{40, 20, 1000}, {400, 40, 2000}, {40, 20, 10000}};
    for (size_t i = 0; i < 3; i++) {
        size_t rows = cnn[i][0], f = cnn[i][1], d = cnn[i][2];
        Shape fwd = {"cnnfwd_NT_" + std::to_string(rows) + "x" + std::to_string(f) + "x" + std::to_string(d),
                     SAM_NO_TRANS, SAM_TRANS, rows, f, d};
        Shape grad = {"cnngrad_TN_" + std::to_string(f) + "x" + std::to_string(d) + "x" + std::to_string(rows),
                      SAM_TRANS, SAM_NO_TRANS, f, d, rows};
        v.push_back(fwd);
        v.push_back(grad);
    }
    // Wen MLP, width 500, d 30, batch 1 (1-SAM) and 100 (full batch).
    static const size_t batch[] = {1, 100};
    for (size_t i = 0; i < 2; i++) {
        size_t b = batch[i];
        Shape fwd = {"mlpfwd_NT_" + std::to_string(b) + "x500x30", SAM_NO_TRANS, SAM_TRANS, b, 500, 30};
        Shape grad = {"mlpgrad_TN_500x30x" + std::to_string(b), SAM_TRANS, SAM_NO_TRANS, 500, 30, b};
        v.push_back(fwd);
        v.push_back(grad);
    }
    return v;
}

// Operands of one shape, stored as cblas row-major expects for ta/tb.
struct Operands {
    size_t lda, ldb, ldc;
    Buf A, B, C;
    explicit Operands(const Shape &s)
        : lda(s.ta ? s.M : s.K), ldb(s.tb ? s.K : s.N), ldc(s.N), A(s.M * s.K), B(s.K * s.N), C(s.M * s.N) {
        fill(11, s.M * s.K, A.data());
        fill(12, s.K * s.N, B.data());
    }
};

// Result of the scalar ISA, the reference every other column is checked against.
std::string check_against_scalar(const Shape &s, Operands &o, const float *C) {
    Ctx ref(SAM_ISA_SCALAR);
    Buf R(s.M * s.N);
    if (sam_sgemm(ref.get(), s.ta, s.tb, s.M, s.N, s.K, 1.0f, o.A.data(), o.lda, o.B.data(), o.ldb, 0.0f,
                  R.data(), o.ldc) != SAM_OK)
        return ref.message();
    // Inputs in [-1,1): rounding differences of the summation orders grow with K.
    return compare(C, R.data(), s.M * s.N, 2e-6 * (double)s.K, 1e-5);
}

void bm_sgemm(benchmark::State &st, Shape s, sam_isa isa, std::string key) {
    Ctx ctx(isa);
    if (!need_isa(st, ctx, isa)) return;
    Operands o(s);
    if (!validated(st, key, [&]() -> std::string {
            if (sam_sgemm(ctx.get(), s.ta, s.tb, s.M, s.N, s.K, 1.0f, o.A.data(), o.lda, o.B.data(), o.ldb, 0.0f,
                          o.C.data(), o.ldc) != SAM_OK)
                return ctx.message();
            return check_against_scalar(s, o, o.C.data());
        }))
        return;
    for (auto _ : st) {
        if (!call_ok(st, ctx, sam_sgemm(ctx.get(), s.ta, s.tb, s.M, s.N, s.K, 1.0f, o.A.data(), o.lda, o.B.data(),
                                        o.ldb, 0.0f, o.C.data(), o.ldc)))
            break;
        benchmark::ClobberMemory();
    }
    set_flops(st, 2.0 * (double)s.M * (double)s.N * (double)s.K);
}

// ---- patch convolution: Z = X Wᵀ forward, dW = dZᵀ X backward (dX skipped, as
// the CNN's first layer needs no input gradient). n samples × P patches × d, F filters.
struct Conv {
    size_t n, P, d, F;
    std::string label() const {
        return "n" + std::to_string(n) + "_P" + std::to_string(P) + "_d" + std::to_string(d) + "_F" +
               std::to_string(F);
    }
};

sam_status conv_call(sam_ctx *c, bool bwd, const Conv &k, const float *X, const float *W, const float *dZ,
                     float *out) {
    return bwd ? sam_patch_conv_backward(c, k.n, k.P, k.d, k.F, X, W, dZ, 0.0f, out, NULL)
               : sam_patch_conv_forward(c, k.n, k.P, k.d, k.F, X, W, out);
}

void bm_patch_conv(benchmark::State &st, bool bwd, Conv k, sam_isa isa, std::string key) {
    Ctx ctx(isa);
    if (!need_isa(st, ctx, isa)) return;
    size_t rows = k.n * k.P, out_n = bwd ? k.F * k.d : rows * k.F;
    Buf X(rows * k.d), W(k.F * k.d), dZ(rows * k.F), out(out_n);
    fill(41, rows * k.d, X.data());
    fill(42, k.F * k.d, W.data());
    fill(43, rows * k.F, dZ.data());
    if (!validated(st, key, [&]() -> std::string {
            Ctx ref(SAM_ISA_SCALAR);
            Buf R(out_n);
            if (conv_call(ref.get(), bwd, k, X.data(), W.data(), dZ.data(), R.data()) != SAM_OK) return ref.message();
            if (conv_call(ctx.get(), bwd, k, X.data(), W.data(), dZ.data(), out.data()) != SAM_OK)
                return ctx.message();
            size_t K = bwd ? rows : k.d; /* length of each dot product */
            return compare(out.data(), R.data(), out_n, 2e-6 * (double)K, 1e-5);
        }))
        return;
    for (auto _ : st) {
        if (!call_ok(st, ctx, conv_call(ctx.get(), bwd, k, X.data(), W.data(), dZ.data(), out.data()))) break;
        benchmark::ClobberMemory();
    }
    set_flops(st, 2.0 * (double)rows * (double)k.F * (double)k.d);
}

#ifdef SAM_BENCH_OPENBLAS
void blas_call(const Shape &s, Operands &o) {
    cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, (int)s.M,
                (int)s.N, (int)s.K, 1.0f, o.A.data(), (int)o.lda, o.B.data(), (int)o.ldb, 0.0f, o.C.data(),
                (int)o.ldc);
}

void bm_openblas(benchmark::State &st, Shape s, std::string key) {
    Operands o(s);
    if (!validated(st, key, [&]() -> std::string {
            blas_call(s, o);
            return check_against_scalar(s, o, o.C.data());
        }))
        return;
    for (auto _ : st) {
        blas_call(s, o);
        benchmark::ClobberMemory();
    }
    set_flops(st, 2.0 * (double)s.M * (double)s.N * (double)s.K);
}
#endif

}  // namespace

std::string openblas_info() {
#ifdef SAM_BENCH_OPENBLAS
    openblas_set_num_threads(1); /* one core, like sam.h (OPENBLAS_NUM_THREADS=1 too) */
    const char *env = std::getenv("OPENBLAS_CORETYPE");
    return std::string(openblas_get_config()) + ", kernel " + openblas_get_corename() +
           (env ? std::string(" (OPENBLAS_CORETYPE=") + env + ")" : std::string(" (default choice)")) +
           ", threads " + std::to_string(openblas_get_num_threads());
#else
    return "";
#endif
}

void register_gemm() {
    std::vector<Shape> v = shapes();
    std::vector<sam_isa> isas = arch_isas();
    for (size_t k = 0; k < v.size(); k++) {
        for (size_t i = 0; i < isas.size(); i++) {
            std::string nm = name("sgemm", sam_isa_name(isas[i]), v[k].label);
            benchmark::RegisterBenchmark(nm.c_str(), bm_sgemm, v[k], isas[i], nm);
        }
#ifdef SAM_BENCH_OPENBLAS
        std::string nm = name("sgemm", "openblas", v[k].label);
        benchmark::RegisterBenchmark(nm.c_str(), bm_openblas, v[k], nm);
#endif
    }
    // The CNN configurations of the sgemm shapes above: rows = n·P, F = 2m.
    static const Conv convs[] = {{20, 2, 1000, 20}, {200, 2, 2000, 40}, {20, 2, 10000, 20}};
    for (int bwd = 0; bwd < 2; bwd++)
        for (size_t k = 0; k < 3; k++)
            for (size_t i = 0; i < isas.size(); i++) {
                std::string nm = name(bwd ? "patch_conv_bwd" : "patch_conv_fwd", sam_isa_name(isas[i]),
                                      convs[k].label());
                benchmark::RegisterBenchmark(nm.c_str(), bm_patch_conv, bwd != 0, convs[k], isas[i], nm);
            }
}

}  // namespace sb
