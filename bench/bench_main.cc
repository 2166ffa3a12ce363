// bench/bench_main.cc — main() of the sam.h benchmarks and the summary tables.
//
// Google Benchmark prints every run as usual; a reporter beside the console
// one keeps the medians (or the single run without --benchmark_repetitions)
// and prints, at the end, one table per op: GFLOP/s or GB/s per ISA, the
// SIMD/scalar speed-up, percent of the nominal AVX2+FMA peak and of the
// measured one (BM_fma_peak), the ratio to OpenBLAS (BLAS=openblas), and the
// SAM/SGD step-time ratios (from separate medians, and measured in pairs).
#include "bench.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

namespace {

struct Rec {
    double ns = 0;          // CPU time per iteration, nanoseconds
    double rate = 0;        // FLOP/s or B/s, 0 when the benchmark has no counter
    std::string unit;       // "FLOP/s" or "B/s"
    std::string error;      // non-empty when skipped
    double pair_ratio = 0;  // BM_pair_sam_sgd: median per-pair SAM/SGD time ratio
    double pair_sgd_us = 0, pair_sam_us = 0;
};

struct Name {
    std::string op, isa, shape;
};

Name split(const std::string &full) {
    Name n;
    std::string s = full.compare(0, 3, "BM_") == 0 ? full.substr(3) : full;
    size_t a = s.find('/'), b = a == std::string::npos ? a : s.find('/', a + 1);
    if (a == std::string::npos || b == std::string::npos) { n.op = s; return n; }
    n.op = s.substr(0, a);
    n.isa = s.substr(a + 1, b - a - 1);
    n.shape = s.substr(b + 1);
    return n;
}

double to_ns(double t, benchmark::TimeUnit u) {
    switch (u) {
    case benchmark::kNanosecond: return t;
    case benchmark::kMicrosecond: return t * 1e3;
    case benchmark::kMillisecond: return t * 1e6;
    case benchmark::kSecond: return t * 1e9;
    }
    return t;
}

std::string fmt_time(double ns) {
    char b[32];
    if (ns < 1e3) std::snprintf(b, sizeof b, "%.0f ns", ns);
    else if (ns < 1e6) std::snprintf(b, sizeof b, "%.2f us", ns / 1e3);
    else if (ns < 1e9) std::snprintf(b, sizeof b, "%.2f ms", ns / 1e6);
    else std::snprintf(b, sizeof b, "%.2f s", ns / 1e9);
    return b;
}

// Nominal clock: the first "cpu MHz" line of /proc/cpuinfo (the base clock on
// most VMs; turbo and throttling make the real one differ).
double nominal_mhz(std::string *model) {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    double mhz = 0;
    while (std::getline(f, line)) {
        size_t c = line.find(':');
        if (c == std::string::npos) continue;
        std::string key = line.substr(0, c);
        if (model && model->empty() && key.compare(0, 10, "model name") == 0) *model = line.substr(c + 2);
        if (mhz == 0 && key.compare(0, 7, "cpu MHz") == 0) mhz = std::atof(line.c_str() + c + 1);
    }
    return mhz;
}

class Summary : public benchmark::ConsoleReporter {
  public:
    Summary() : benchmark::ConsoleReporter(OO_Tabular) {}

    void ReportRuns(const std::vector<Run> &runs) override {
        benchmark::ConsoleReporter::ReportRuns(runs);
        for (size_t i = 0; i < runs.size(); i++) {
            const Run &r = runs[i];
            std::string key = r.run_name.function_name;
            bool agg = r.run_type == Run::RT_Aggregate;
            if (agg && r.aggregate_name != "median") continue;
            if (!agg && have_median_.count(key)) continue;
            if (agg) have_median_.insert(key);
            if (!recs_.count(key)) order_.push_back(key);
            Rec &rec = recs_[key];
            rec = Rec();
            if (r.error_occurred) { rec.error = r.error_message; continue; }
            rec.ns = to_ns(r.GetAdjustedCPUTime(), r.time_unit);
            benchmark::UserCounters::const_iterator pr = r.counters.find("sam/sgd");
            if (pr != r.counters.end()) {
                rec.pair_ratio = pr->second.value;
                rec.pair_sgd_us = r.counters.find("sgd_us")->second.value;
                rec.pair_sam_us = r.counters.find("sam_us")->second.value;
            }
            for (const char *u : {"FLOP/s", "B/s"}) {
                benchmark::UserCounters::const_iterator c = r.counters.find(u);
                if (c != r.counters.end()) { rec.rate = c->second.value; rec.unit = u; }
            }
        }
    }

    void print(std::ostream &out, const std::string &blas, int reps) const;

  private:
    std::map<std::string, Rec> recs_;
    std::vector<std::string> order_;
    std::set<std::string> have_median_;

    const Rec *get(const std::string &op, const std::string &isa, const std::string &shape) const {
        std::map<std::string, Rec>::const_iterator it = recs_.find("BM_" + op + "/" + isa + "/" + shape);
        return it == recs_.end() || !it->second.error.empty() ? NULL : &it->second;
    }
};

std::string simd_isa() {
    std::vector<sam_isa> v = sb::arch_isas();
    return v.size() > 1 ? sam_isa_name(v[1]) : "";
}

void Summary::print(std::ostream &out, const std::string &blas, int reps) const {
    std::string model;
    double mhz = nominal_mhz(&model);
    double peak = 32.0 * mhz * 1e6; /* AVX2+FMA: 2 FMA units × 8 lanes × 2 flop */
    std::string simd = simd_isa();
    char line[512];

    out << "\n==================== sam.h benchmark summary ====================\n";
    out << (reps > 1 ? "medians of " + std::to_string(reps) + " repetitions" : std::string("single runs"))
        << ", CPU time per call, one thread\n";
    out << "CPU: " << (model.empty() ? "unknown" : model);
    if (mhz > 0) {
        std::snprintf(line, sizeof line, ", nominal %.0f MHz (/proc/cpuinfo)\n"
                                         "AVX2+FMA peak = 32 flop/cycle x nominal clock = %.1f GFLOP/s per core\n",
                      mhz, peak / 1e9);
        out << line;
    } else {
        out << "\n";
    }
    if (!blas.empty()) out << blas << "\n";

    // Group shapes by op, in registration order.
    std::vector<std::string> ops;
    std::map<std::string, std::vector<std::string> > shapes;
    std::map<std::string, std::vector<std::string> > isas;
    for (size_t i = 0; i < order_.size(); i++) {
        Name n = split(order_[i]);
        if (std::find(ops.begin(), ops.end(), n.op) == ops.end()) ops.push_back(n.op);
        std::vector<std::string> &s = shapes[n.op];
        if (std::find(s.begin(), s.end(), n.shape) == s.end()) s.push_back(n.shape);
        std::vector<std::string> &is = isas[n.op];
        if (std::find(is.begin(), is.end(), n.isa) == is.end()) is.push_back(n.isa);
    }

    // The measured FMA peak (BM_fma_peak): what the core really delivers,
    // turbo included; %meas below is relative to it.
    double meas = 0;
    if (shapes.count("fma_peak") && !simd.empty()) {
        const Rec *p = get("fma_peak", simd, shapes["fma_peak"][0]);
        if (p && p->rate > 0) {
            meas = p->rate;
            std::snprintf(line, sizeof line, "measured %s FMA peak (BM_fma_peak) = %.1f GFLOP/s per core", simd.c_str(),
                          meas / 1e9);
            out << line;
            if (mhz > 0 && simd == "avx2") {
                std::snprintf(line, sizeof line, " = 32 flop/cycle at %.2f GHz", meas / 32e9);
                out << line;
            }
            out << "\n";
        }
    }

    for (size_t o = 0; o < ops.size(); o++) {
        const std::string &op = ops[o];
        const std::vector<std::string> &is = isas[op];
        if (op == "pair_sam_sgd" || op == "fma_peak") continue; /* reported apart */
        bool has_blas = std::find(is.begin(), is.end(), "openblas") != is.end();
        out << "\n" << op << "\n";
        std::snprintf(line, sizeof line, "  %-30s", "shape");
        out << line;
        for (size_t i = 0; i < is.size(); i++) {
            std::snprintf(line, sizeof line, " %22s", is[i].c_str());
            out << line;
        }
        if (!simd.empty()) out << "  " << simd << "/scalar";
        bool flops = false;
        for (size_t k = 0; k < shapes[op].size(); k++) {
            const Rec *r = get(op, is[0], shapes[op][k]);
            if (r && r->unit == "FLOP/s") flops = true;
        }
        if (flops && mhz > 0) out << "  %peak";
        if (flops && meas > 0) out << "  %meas";
        if (has_blas) out << "  " << simd << "/openblas";
        out << "\n";
        for (size_t k = 0; k < shapes[op].size(); k++) {
            const std::string &sh = shapes[op][k];
            std::snprintf(line, sizeof line, "  %-30s", sh.c_str());
            out << line;
            for (size_t i = 0; i < is.size(); i++) {
                const Rec *r = get(op, is[i], sh);
                std::string cell = "-";
                if (r) {
                    cell = fmt_time(r->ns);
                    if (r->rate > 0) {
                        char b[48];
                        std::snprintf(b, sizeof b, " %7.2f %s", r->rate / 1e9, r->unit == "B/s" ? "GB/s" : "GF/s");
                        cell += b;
                    }
                }
                std::snprintf(line, sizeof line, " %22s", cell.c_str());
                out << line;
            }
            const Rec *sc = get(op, "scalar", sh), *sv = simd.empty() ? NULL : get(op, simd, sh);
            if (!simd.empty()) {
                if (sc && sv) std::snprintf(line, sizeof line, "  %10.2fx", sc->ns / sv->ns);
                else std::snprintf(line, sizeof line, "  %11s", "-");
                out << line;
            }
            if (flops && mhz > 0) {
                if (sv && sv->unit == "FLOP/s") std::snprintf(line, sizeof line, "  %4.0f%%", 100.0 * sv->rate / peak);
                else std::snprintf(line, sizeof line, "  %5s", "-");
                out << line;
            }
            if (flops && meas > 0) {
                if (sv && sv->unit == "FLOP/s") std::snprintf(line, sizeof line, "  %4.0f%%", 100.0 * sv->rate / meas);
                else std::snprintf(line, sizeof line, "  %5s", "-");
                out << line;
            }
            if (has_blas) {
                const Rec *bl = get(op, "openblas", sh);
                if (bl && sv) std::snprintf(line, sizeof line, "  %12.2fx", bl->ns / sv->ns);
                else std::snprintf(line, sizeof line, "  %13s", "-");
                out << line;
            }
            out << "\n";
        }
    }

    // SAM/SGD cost: every SAM-family step against the SGD step of the same
    // config and ISA (a SAM step needs two gradients, so ~2x is the floor).
    bool header = false;
    for (size_t o = 0; o < ops.size(); o++) {
        const std::string &op = ops[o];
        std::string base;
        if (op.compare(0, 5, "step_") == 0 && op != "step_sgd") base = "step_sgd";
        else if (op.compare(0, 6, "epoch_") == 0 && op != "epoch_1sgd") base = "epoch_1sgd";
        else continue;
        for (size_t k = 0; k < shapes[op].size(); k++)
            for (size_t i = 0; i < isas[op].size(); i++) {
                const std::string &sh = shapes[op][k], &isa = isas[op][i];
                const Rec *a = get(op, isa, sh), *b = get(base, isa, sh);
                if (!a || !b) continue;
                if (!header) { out << "\nstep-time ratios to SGD (same config, same ISA)\n"; header = true; }
                std::snprintf(line, sizeof line, "  %-14s / %-10s %-8s %-30s %6.2fx\n", op.c_str(), base.c_str(),
                              isa.c_str(), sh.c_str(), a->ns / b->ns);
                out << line;
            }
    }

    // The same ratio measured in adjacent pairs (BM_pair_sam_sgd): the one to
    // quote on a shared machine.
    if (shapes.count("pair_sam_sgd")) {
        out << "\nSAM/SGD step-time ratio measured in pairs (median of per-pair ratios; wall-clock medians)\n";
        for (size_t k = 0; k < shapes["pair_sam_sgd"].size(); k++)
            for (size_t i = 0; i < isas["pair_sam_sgd"].size(); i++) {
                const std::string &sh = shapes["pair_sam_sgd"][k], &isa = isas["pair_sam_sgd"][i];
                const Rec *p = get("pair_sam_sgd", isa, sh);
                if (!p || p->pair_ratio <= 0) continue;
                std::snprintf(line, sizeof line, "  %-8s %-30s SGD %10s  SAM %10s  SAM/SGD %5.2fx\n", isa.c_str(),
                              sh.c_str(), fmt_time(1e3 * p->pair_sgd_us).c_str(),
                              fmt_time(1e3 * p->pair_sam_us).c_str(), p->pair_ratio);
                out << line;
            }
    }

    // Skipped benchmarks, with the reason.
    bool any = false;
    for (size_t i = 0; i < order_.size(); i++) {
        const Rec &r = recs_.find(order_[i])->second;
        if (r.error.empty()) continue;
        if (!any) { out << "\nskipped\n"; any = true; }
        out << "  " << order_[i] << ": " << r.error << "\n";
    }
    out << "=================================================================\n";
}

int repetitions(int argc, char **argv) {
    int reps = 1;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        const std::string k = "--benchmark_repetitions=";
        if (a.compare(0, k.size(), k) == 0) reps = std::atoi(a.c_str() + k.size());
    }
    return reps;
}

}  // namespace

int main(int argc, char **argv) {
    int reps = repetitions(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    std::string blas = sb::openblas_info();
    benchmark::AddCustomContext("sam.h", sam_version());
    benchmark::AddCustomContext("sam.h best ISA", sam_isa_name(sam_isa_best()));
    if (!blas.empty()) benchmark::AddCustomContext("openblas", blas);

    sb::register_peak();
    sb::register_vec();
    sb::register_gemm();
    sb::register_nn();
    sb::register_optim();
    sb::register_sharp();

    Summary rep;
    benchmark::RunSpecifiedBenchmarks(&rep);
    rep.print(std::cout, blas, reps);
    benchmark::Shutdown();
    return 0;
}
