// bench/bench_vec.cc — vector ops: dot, axpy, perturb, norm2 at 1k, 64k, 1M.
// These are memory-bound, so the counter is bytes moved per second (B/s):
// dot reads 2n floats, axpy and perturb read 2n and write n, norm2 reads n.
// And the Gaussian fill (sam_fill_gauss) at 1k, 20k (one Rand-SAM direction
// of the CNN config) and 1M numbers; its B/s counts the floats written
// (4 bytes per number, so ns per number = 4e9 / (B/s)).
#include "bench.h"

#include <cstring>

namespace sb {
namespace {

enum VecOp { OP_DOT, OP_AXPY, OP_PERTURB, OP_NORM2 };

const char *const kOpName[] = {"dot", "axpy", "perturb", "norm2"};
const double kFloatsMoved[] = {2.0, 3.0, 3.0, 1.0};

// One call of the op on the given context; r receives the reduction result.
sam_status run_op(VecOp op, sam_ctx *c, size_t n, const float *x, const float *y, float *out, double *r) {
    switch (op) {
    case OP_DOT: return sam_dot(c, n, x, y, r);
    case OP_AXPY: return sam_axpy(c, n, 1e-7f, x, out); /* tiny a: y barely drifts over many calls */
    case OP_PERTURB: return sam_perturb(c, n, x, 0.05f, y, out);
    case OP_NORM2: {
        const float *bufs[1] = {x};
        size_t lens[1] = {n};
        return sam_norm2(c, 1, bufs, lens, r);
    }
    }
    return SAM_ERR_ARG;
}

void bm_vec(benchmark::State &st, VecOp op, sam_isa isa, size_t n, std::string key) {
    Ctx ctx(isa);
    if (!need_isa(st, ctx, isa)) return;
    Buf x(n), y(n), out(n);
    fill(1, n, x.data());
    fill(2, n, y.data());
    fill(3, n, out.data());
    if (!validated(st, key, [&]() -> std::string {
            Ctx ref(SAM_ISA_SCALAR);
            Buf o1(n), o2(n);
            double r1 = 0, r2 = 0;
            for (size_t i = 0; i < n; i++) o1[i] = o2[i] = out[i];
            if (run_op(op, ref.get(), n, x.data(), y.data(), o1.data(), &r1) != SAM_OK) return ref.message();
            if (run_op(op, ctx.get(), n, x.data(), y.data(), o2.data(), &r2) != SAM_OK) return ctx.message();
            if (op == OP_DOT || op == OP_NORM2) {
                // float lanes vs the scalar double accumulator: relative to sum |x_i y_i|
                double mag = 0;
                for (size_t i = 0; i < n; i++) mag += std::fabs((double)x[i] * (op == OP_DOT ? y[i] : x[i]));
                if (op == OP_NORM2) { r1 *= r1; r2 *= r2; }
                return compare1(r2, r1, 1e-5 * mag, 0.0);
            }
            return compare(o2.data(), o1.data(), n, 1e-6, 1e-6); /* FMA vs mul+add: one rounding */
        }))
        return;
    double r = 0;
    for (auto _ : st) {
        if (!call_ok(st, ctx, run_op(op, ctx.get(), n, x.data(), y.data(), out.data(), &r))) break;
        benchmark::DoNotOptimize(r);
        benchmark::ClobberMemory();
    }
    set_bytes(st, kFloatsMoved[op] * (double)n * sizeof(float));
}

// One Gaussian fill per iteration, continuing the stream (every call draws new
// numbers, with the wedge/tail fallbacks at their natural rate). Validated bit
// for bit against the scalar ISA, output and final state.
void bm_fill_gauss(benchmark::State &st, sam_isa isa, size_t n, std::string key) {
    Ctx ctx(isa);
    if (!need_isa(st, ctx, isa)) return;
    Buf out(n);
    if (!validated(st, key, [&]() -> std::string {
            Ctx ref(SAM_ISA_SCALAR);
            Buf o1(n), o2(n);
            for (uint64_t seed = 1; seed <= 3; seed++) {
                sam_rng r1, r2;
                sam_rng_seed(&r1, seed, SAM_STREAM_DIRECTIONS);
                r2 = r1;
                if (sam_fill_gauss(ref.get(), &r1, n, o1.data(), 0.0f, 1.0f) != SAM_OK) return ref.message();
                if (sam_fill_gauss(ctx.get(), &r2, n, o2.data(), 0.0f, 1.0f) != SAM_OK) return ctx.message();
                std::string m = compare(o2.data(), o1.data(), n, 0.0, 0.0);
                if (!m.empty()) return m;
                if (std::memcmp(o1.data(), o2.data(), n * sizeof(float)) != 0) return "differs from scalar (bits)";
                if (r1.state != r2.state) return "rng state differs from scalar";
            }
            return "";
        }))
        return;
    sam_rng rng;
    sam_rng_seed(&rng, 42, SAM_STREAM_DIRECTIONS);
    for (auto _ : st) {
        if (!call_ok(st, ctx, sam_fill_gauss(ctx.get(), &rng, n, out.data(), 0.0f, 1.0f))) break;
        benchmark::ClobberMemory();
    }
    set_bytes(st, (double)n * sizeof(float));
}

}  // namespace

void register_vec() {
    static const size_t sizes[] = {1000, 64000, 1000000};
    static const char *const labels[] = {"1k", "64k", "1M"};
    std::vector<sam_isa> isas = arch_isas();
    for (int op = OP_DOT; op <= OP_NORM2; op++)
        for (size_t s = 0; s < 3; s++)
            for (size_t i = 0; i < isas.size(); i++) {
                std::string nm = name(kOpName[op], sam_isa_name(isas[i]), labels[s]);
                benchmark::RegisterBenchmark(nm.c_str(), bm_vec, (VecOp)op, isas[i], sizes[s], nm);
            }
    static const size_t gsizes[] = {1000, 20000, 1000000};
    static const char *const glabels[] = {"n1k", "n20k", "n1M"};
    for (size_t s = 0; s < 3; s++)
        for (size_t i = 0; i < isas.size(); i++) {
            std::string nm = name("fill_gauss", sam_isa_name(isas[i]), glabels[s]);
            benchmark::RegisterBenchmark(nm.c_str(), bm_fill_gauss, isas[i], gsizes[s], nm);
        }
}

}  // namespace sb
