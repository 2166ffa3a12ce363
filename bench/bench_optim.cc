// bench/bench_optim.cc — whole optimizer steps on the papers' models:
//   step_<algo>/<isa>/cnn_b20_P2_d1000_m10          Chen CNN on Chen data, batch 20,
//                                                  P 2, d 1000, m 10, logistic loss
//   step_<algo>/<isa>/cnn_b20_P2_d1000_m10_generic  the same without the Chen-data
//                                                  fast path (generic patch conv)
//   step_<algo>/<isa>/mlp_b1_d30_w500               Wen Bias MLP, one sample (a 1-SAM step)
//   epoch_1sgd, epoch_1sam/<isa>/mlp_n100_d30_w500  one epoch of 100 batch-1 steps
// algo: sgd, sam, nsam2, nsam5 (N-step SAM), randsam. The FLOP/s counter is
// nominal: gradients per step × the dense generic-path multiply-adds of one
// gradient (forward + weight gradient = 4·rows·filters·d for the CNN,
// 4·batch·width·d for the MLP), so a fast path shows as a higher rate.
#include "bench_models.h"

#include <algorithm>
#include <chrono>

namespace sb {
namespace {

enum Algo { A_SGD, A_SAM, A_NSAM2, A_NSAM5, A_RANDSAM, A_COUNT };
const char *const kAlgoName[] = {"sgd", "sam", "nsam2", "nsam5", "randsam"};

void opt_config(sam_opt_config *oc, Cfg cfg, Algo a, size_t n) {
    sam_opt_config_default(oc);
    bool cnn = cfg == C_CNN || cfg == C_CNN_GENERIC;
    oc->lr = cnn ? 0.1 : 0.01;
    oc->rho = cnn ? 0.3 : 0.05; /* PAPERS.md: τ = 0.3 (Chen), ρ = 0.05 (Wen 1-SAM) */
    oc->method = a == A_SGD ? SAM_METHOD_NONE : a == A_RANDSAM ? SAM_METHOD_RANDSAM : SAM_METHOD_SAM;
    oc->ascent_steps = a == A_NSAM2 ? 2 : a == A_NSAM5 ? 5 : 1;
    oc->batch_size = cfg == C_MLP_EPOCH || cfg == C_MLP_B1 ? 1 : 20;
    oc->samples_per_perturbation = cfg == C_MLP_EPOCH ? 1 : 0;
    oc->dataset_size = n;
}

// One optimizer on one context; run() is one step (or one epoch).
struct Runner {
    Problem pb;
    sam_opt opt;
    bool opt_ok;
    std::vector<float> w;
    sam_batch b;
    Cfg cfg;
    unsigned gradients;

    Runner(sam_ctx *c, Cfg cf, Algo a) : pb(c, cf), opt_ok(false), cfg(cf), gradients(0) {
        std::memset(&opt, 0, sizeof opt);
        if (!pb.error.empty()) return;
        w = pb.w0;
        sam_opt_config oc;
        opt_config(&oc, cf, a, pb.ds.n);
        if (sam_opt_init(c, &opt, &oc, pb.model, NULL, 0) != SAM_OK) {
            pb.error = sam_ctx_message(c);
            return;
        }
        opt_ok = true;
        b.data = &pb.ds;
        b.idx = NULL;
        b.n = pb.batch;
    }
    ~Runner() {
        if (opt_ok) sam_opt_free(&opt);
    }
    sam_status run(sam_ctx *c) {
        if (cfg == C_MLP_EPOCH) {
            double loss;
            gradients = 0;
            return sam_opt_epoch(c, &opt, pb.model, w.data(), &pb.ds, &loss);
        }
        sam_opt_info info;
        sam_status s = sam_opt_step(c, &opt, pb.model, w.data(), &b, &info);
        gradients = info.gradients;
        return s;
    }
};

void bm_step(benchmark::State &st, Cfg cfg, Algo a, sam_isa isa, std::string key) {
    Ctx ctx(isa);
    if (!need_isa(st, ctx, isa)) return;
    Runner r(ctx.get(), cfg, a);
    if (!r.pb.error.empty()) {
        st.SkipWithError(r.pb.error.c_str());
        return;
    }
    if (!validated(st, key, [&]() -> std::string {
            Ctx ref(SAM_ISA_SCALAR);
            Runner s(ref.get(), cfg, a), v(ctx.get(), cfg, a);
            if (!s.pb.error.empty()) return s.pb.error;
            if (!v.pb.error.empty()) return v.pb.error;
            if (s.run(ref.get()) != SAM_OK) return ref.message();
            if (v.run(ctx.get()) != SAM_OK) return ctx.message();
            bool epoch = cfg == C_MLP_EPOCH; /* 100 steps: rounding differences add up */
            return compare(v.w.data(), s.w.data(), s.w.size(), epoch ? 1e-4 : 1e-5, epoch ? 1e-3 : 1e-4);
        }))
        return;
    double grads = 0;
    for (auto _ : st) {
        if (!call_ok(st, ctx, r.run(ctx.get()))) break;
        grads += r.gradients;
        benchmark::ClobberMemory();
    }
    // An epoch is 100 batch-1 gradients (200 for 1-SAM): as many flops as 1 (2)
    // full-batch gradients, which is what flop_per_grad counts for this config.
    if (cfg == C_MLP_EPOCH) grads = (double)st.iterations() * (a == A_SGD ? 1.0 : 2.0);
    st.counters["FLOP/s"] = benchmark::Counter(grads * r.pb.flop_per_grad, benchmark::Counter::kIsRate);
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t h = v.size() / 2;
    return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

// The SAM/SGD cost ratio measured in pairs: each iteration times one SGD step
// and one SAM step (or epoch) back to back, in alternating order, on their own
// weights and optimizer states; the counter "sam/sgd" is the median of the
// per-pair ratios. Load from other processes drifts over seconds, so separate
// medians taken minutes apart (step_sam / step_sgd in the summary) move the
// ratio by +-5 %; adjacent pairs see the same machine. Wall clock per step
// (steady_clock), as a preempted pair is an outlier the median drops.
void bm_pair(benchmark::State &st, Cfg cfg, sam_isa isa) {
    typedef std::chrono::steady_clock clk;
    Ctx ctx(isa);
    if (!need_isa(st, ctx, isa)) return;
    Runner sgd(ctx.get(), cfg, A_SGD), sam(ctx.get(), cfg, A_SAM);
    if (!sgd.pb.error.empty() || !sam.pb.error.empty()) {
        st.SkipWithError(!sgd.pb.error.empty() ? sgd.pb.error.c_str() : sam.pb.error.c_str());
        return;
    }
    std::vector<double> t_sgd, t_sam, ratio;
    bool sam_first = false;
    for (auto _ : st) {
        clk::time_point t0 = clk::now(), t1, t2;
        sam_status s1 = sam_first ? sam.run(ctx.get()) : sgd.run(ctx.get());
        t1 = clk::now();
        sam_status s2 = sam_first ? sgd.run(ctx.get()) : sam.run(ctx.get());
        t2 = clk::now();
        if (!call_ok(st, ctx, s1) || !call_ok(st, ctx, s2)) break;
        double a = std::chrono::duration<double>(t1 - t0).count(), b = std::chrono::duration<double>(t2 - t1).count();
        t_sgd.push_back(sam_first ? b : a);
        t_sam.push_back(sam_first ? a : b);
        ratio.push_back(t_sam.back() / t_sgd.back());
        sam_first = !sam_first;
        benchmark::ClobberMemory();
    }
    st.counters["sam/sgd"] = median(ratio);
    st.counters["sgd_us"] = 1e6 * median(t_sgd);
    st.counters["sam_us"] = 1e6 * median(t_sam);
}

}  // namespace

void register_optim() {
    std::vector<sam_isa> isas = arch_isas();
    static const Cfg step_cfgs[] = {C_CNN, C_CNN_GENERIC, C_MLP_B1};
    for (size_t c = 0; c < 3; c++)
        for (int a = 0; a < A_COUNT; a++) {
            if (step_cfgs[c] == C_MLP_B1 && a != A_SGD && a != A_SAM) continue;
            for (size_t i = 0; i < isas.size(); i++) {
                std::string op = std::string("step_") + kAlgoName[a];
                std::string nm = name(op.c_str(), sam_isa_name(isas[i]), kCfgName[step_cfgs[c]]);
                benchmark::RegisterBenchmark(nm.c_str(), bm_step, step_cfgs[c], (Algo)a, isas[i], nm);
            }
        }
    static const Cfg pair_cfgs[] = {C_CNN, C_CNN_GENERIC, C_MLP_B1, C_MLP_EPOCH};
    for (size_t c = 0; c < 4; c++)
        for (size_t i = 0; i < isas.size(); i++) {
            std::string nm = name("pair_sam_sgd", sam_isa_name(isas[i]), kCfgName[pair_cfgs[c]]);
            benchmark::RegisterBenchmark(nm.c_str(), bm_pair, pair_cfgs[c], isas[i]);
        }
    for (int a = 0; a < 2; a++)
        for (size_t i = 0; i < isas.size(); i++) {
            std::string nm = name(a ? "epoch_1sam" : "epoch_1sgd", sam_isa_name(isas[i]), kCfgName[C_MLP_EPOCH]);
            benchmark::RegisterBenchmark(nm.c_str(), bm_step, C_MLP_EPOCH, a ? A_SAM : A_SGD, isas[i], nm);
        }
}

}  // namespace sb
