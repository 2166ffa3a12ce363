// bench/bench_sharp.cc — Hutchinson's Hessian trace with 100 Rademacher probes
// (rel_tol 0: always 100 exact Hessian-vector products):
//   hutchinson100/<isa>/mlp_n100_d30_w500      Wen Bias MLP, full training batch
//   hutchinson100/<isa>/cnn_b20_P2_d1000_m10   Chen CNN, batch 20
// The FLOP/s counter is nominal: 100 probes × 2 × the dense multiply-adds of
// one gradient (an R-op HVP is about two gradients' work).
#include "bench_models.h"

namespace sb {
namespace {

const size_t kProbes = 100;

struct Hutch {
    Problem pb;
    std::vector<unsigned char> work;
    sam_batch b;
    explicit Hutch(sam_ctx *c, Cfg cfg) : pb(c, cfg) {
        if (!pb.error.empty()) return;
        b.data = &pb.ds;
        b.idx = NULL;
        b.n = pb.batch;
        work.resize(sam_hessian_work_bytes(pb.model, pb.batch, 0) + 64);
    }
    sam_status run(sam_ctx *c, sam_trace_est *out) {
        sam_rng rng;
        sam_rng_seed(&rng, 3, SAM_STREAM_PROBES); /* same probes every call and on every ISA */
        return sam_hessian_trace(c, pb.model, pb.w0.data(), &b, NULL, 0, kProbes, 0.0, &rng, out, work.data());
    }
};

void bm_hutch(benchmark::State &st, Cfg cfg, sam_isa isa, std::string key) {
    Ctx ctx(isa);
    if (!need_isa(st, ctx, isa)) return;
    Hutch h(ctx.get(), cfg);
    if (!h.pb.error.empty()) {
        st.SkipWithError(h.pb.error.c_str());
        return;
    }
    sam_trace_est est;
    if (!validated(st, key, [&]() -> std::string {
            Ctx ref(SAM_ISA_SCALAR);
            Hutch s(ref.get(), cfg);
            sam_trace_est e1, e2;
            if (!s.pb.error.empty()) return s.pb.error;
            if (s.run(ref.get(), &e1) != SAM_OK) return ref.message();
            if (h.run(ctx.get(), &e2) != SAM_OK) return ctx.message();
            if (e2.probes != kProbes) return "did not use 100 probes";
            return compare1(e2.trace, e1.trace, 1e-6, 1e-3);
        }))
        return;
    for (auto _ : st) {
        if (!call_ok(st, ctx, h.run(ctx.get(), &est))) break;
        benchmark::DoNotOptimize(est);
    }
    set_flops(st, (double)kProbes * 2.0 * h.pb.flop_per_grad);
}

}  // namespace

void register_sharp() {
    std::vector<sam_isa> isas = arch_isas();
    static const Cfg cfgs[] = {C_MLP_EPOCH, C_CNN};
    for (size_t c = 0; c < 2; c++)
        for (size_t i = 0; i < isas.size(); i++) {
            std::string nm = name("hutchinson100", sam_isa_name(isas[i]), kCfgName[cfgs[c]]);
            benchmark::RegisterBenchmark(nm.c_str(), bm_hutch, cfgs[c], isas[i], nm);
        }
}

}  // namespace sb
