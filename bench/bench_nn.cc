// bench/bench_nn.cc — ReLU and the norm layers of Wen et al.'s MLPs.
// Elementwise and row/column normalisations are memory-bound: the counter is
// bytes moved per second (B/s), inputs read plus outputs written.
#include "bench.h"

namespace sb {
namespace {

// ---- ReLU forward (a = σ(z), σ'(z)) and backward (din = dout ⊙ σ'(z)) -------

void bm_relu(benchmark::State &st, bool backward, sam_isa isa, size_t n, std::string key) {
    Ctx ctx(isa);
    if (!need_isa(st, ctx, isa)) return;
    sam_act act;
    act.kind = SAM_ACT_RELU;
    act.alpha = 0.0f;
    act.q = 1.0f;
    Buf z(n), dout(n), out(n);
    fill(21, n, z.data());
    fill(22, n, dout.data());
    auto run = [&](Ctx &c, float *o) -> sam_status {
        return backward ? sam_act_backward(c.get(), &act, n, z.data(), dout.data(), o)
                        : sam_act_forward(c.get(), &act, n, z.data(), o, NULL, NULL);
    };
    if (!validated(st, key, [&]() -> std::string {
            Ctx ref(SAM_ISA_SCALAR);
            Buf o1(n);
            if (run(ref, o1.data()) != SAM_OK) return ref.message();
            if (run(ctx, out.data()) != SAM_OK) return ctx.message();
            return compare(out.data(), o1.data(), n, 0.0, 0.0); /* exact: no arithmetic */
        }))
        return;
    for (auto _ : st) {
        if (!call_ok(st, ctx, run(ctx, out.data()))) break;
        benchmark::ClobberMemory();
    }
    set_bytes(st, (backward ? 3.0 : 2.0) * (double)n * sizeof(float));
}

// ---- norms on a rows × width activation (the Wen MLP hidden layer) ---------

enum NormOp { SLN_F, SLN_B, SBN_F, SBN_B, LN_F, LN_B, BN_F, BN_B, NORM_OPS };
const char *const kNormName[] = {"sln_fwd", "sln_bwd", "sbn_fwd", "sbn_bwd", "ln_fwd", "ln_bwd", "bn_fwd", "bn_bwd"};

struct NormBufs {
    size_t rows, width;
    Buf h, hs, gamma, dout;
    NormBufs(size_t r, size_t w) : rows(r), width(w), h(r * w), hs(r * w), gamma(w), dout(r * w) {
        fill(31, r * w, h.data(), 0.0f, 1.0f); /* post-ReLU activations are >= 0 */
        for (size_t i = 0; i < r * w; i++) hs[i] = h[i];
        fill(32, w, gamma.data(), 0.5f, 1.5f);
        fill(33, r * w, dout.data());
    }
};

// out: rows×width; aux: rows×width (SBN's dh_stat) ; g: width (dγ)
sam_status run_norm(NormOp op, sam_ctx *c, NormBufs &b, float *out, float *aux, float *g) {
    const float eps = 1e-3f;
    switch (op) {
    case SLN_F: return sam_sln_forward(c, b.rows, b.width, eps, b.h.data(), out);
    case SLN_B: return sam_sln_backward(c, b.rows, b.width, eps, b.h.data(), b.dout.data(), out);
    case SBN_F:
        return sam_sbn_forward(c, b.rows, b.hs.data(), b.rows, b.width, b.h.data(), b.gamma.data(), eps, out);
    case SBN_B:
        return sam_sbn_backward(c, b.rows, b.hs.data(), b.rows, b.width, b.h.data(), b.gamma.data(), eps,
                                b.dout.data(), out, aux, g);
    case LN_F: return sam_ln_forward(c, b.rows, b.width, 1e-5f, b.h.data(), out);
    case LN_B: return sam_ln_backward(c, b.rows, b.width, 1e-5f, b.h.data(), b.dout.data(), out);
    case BN_F: return sam_bn_forward(c, b.rows, b.width, 1e-5f, b.h.data(), out);
    case BN_B: return sam_bn_backward(c, b.rows, b.width, 1e-5f, b.h.data(), b.dout.data(), out);
    default: return SAM_ERR_ARG;
    }
}

// Floats read + written per call (the statistics pass re-reads h; not counted).
double norm_floats(NormOp op, size_t rw, size_t w) {
    switch (op) {
    case SBN_F: return 3.0 * rw;              /* h, h_stat, out */
    case SBN_B: return 5.0 * rw + w;          /* h, h_stat, dout, dh, dh_stat, dγ */
    case SLN_B: case LN_B: case BN_B: return 3.0 * rw; /* h, dout, dh */
    default: return 2.0 * rw;                 /* h, out */
    }
}

void bm_norm(benchmark::State &st, NormOp op, sam_isa isa, size_t rows, size_t width, std::string key) {
    Ctx ctx(isa);
    if (!need_isa(st, ctx, isa)) return;
    NormBufs b(rows, width);
    Buf out(rows * width), aux(rows * width), g(width);
    if (!validated(st, key, [&]() -> std::string {
            Ctx ref(SAM_ISA_SCALAR);
            Buf o1(rows * width), a1(rows * width), g1(width);
            if (run_norm(op, ref.get(), b, o1.data(), a1.data(), g1.data()) != SAM_OK) return ref.message();
            if (run_norm(op, ctx.get(), b, out.data(), aux.data(), g.data()) != SAM_OK) return ctx.message();
            std::string e = compare(out.data(), o1.data(), rows * width, 1e-5, 1e-4);
            if (e.empty() && op == SBN_B) e = compare(aux.data(), a1.data(), rows * width, 1e-5, 1e-4);
            if (e.empty() && op == SBN_B) e = compare(g.data(), g1.data(), width, 1e-5, 1e-4);
            return e;
        }))
        return;
    for (auto _ : st) {
        if (!call_ok(st, ctx, run_norm(op, ctx.get(), b, out.data(), aux.data(), g.data()))) break;
        benchmark::ClobberMemory();
    }
    set_bytes(st, norm_floats(op, rows * width, width) * sizeof(float));
}

}  // namespace

void register_nn() {
    std::vector<sam_isa> isas = arch_isas();
    static const size_t sizes[] = {1000, 64000, 1000000};
    static const char *const labels[] = {"1k", "64k", "1M"};
    for (int bwd = 0; bwd < 2; bwd++)
        for (size_t s = 0; s < 3; s++)
            for (size_t i = 0; i < isas.size(); i++) {
                std::string nm = name(bwd ? "relu_bwd" : "relu_fwd", sam_isa_name(isas[i]), labels[s]);
                benchmark::RegisterBenchmark(nm.c_str(), bm_relu, bwd != 0, isas[i], sizes[s], nm);
            }
    // Wen MLP hidden layer: 100 samples × width 500.
    for (int op = 0; op < NORM_OPS; op++)
        for (size_t i = 0; i < isas.size(); i++) {
            std::string nm = name(kNormName[op], sam_isa_name(isas[i]), "100x500");
            benchmark::RegisterBenchmark(nm.c_str(), bm_norm, (NormOp)op, isas[i], (size_t)100, (size_t)500, nm);
        }
}

}  // namespace sb
