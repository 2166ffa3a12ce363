// bench/bench.h — helpers shared by the sam.h benchmarks (C++11).
//
// Every benchmark is registered once per ISA of this architecture as
// BM_<op>/<isa>/<shape>, forces its ISA with sam_ctx_set_isa (and is skipped
// with SkipWithError where the CPU lacks it), checks its result once against
// the scalar ISA before it is timed, and reports a rate counter (FLOP/s or
// B/s, benchmark::Counter::kIsRate). The implementation of sam.h is compiled
// as C in bench/sam_impl.c; these files only see the declarations.
#ifndef SAM_BENCH_H
#define SAM_BENCH_H

#include <benchmark/benchmark.h>
#include "../sam.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace sb {

// The ISAs a kernel is registered for: those this architecture can have.
inline std::vector<sam_isa> arch_isas() {
    std::vector<sam_isa> v;
    v.push_back(SAM_ISA_SCALAR);
#if defined(__x86_64__) || defined(_M_X64)
    v.push_back(SAM_ISA_AVX2);
#elif defined(__aarch64__)
    v.push_back(SAM_ISA_NEON);
#endif
    return v;
}

// A 64-byte aligned float buffer (what sam__alloc gives internal buffers).
class Buf {
  public:
    explicit Buf(size_t n) : n_(n), p_(NULL) {
        void *q = NULL;
        if (posix_memalign(&q, 64, (n ? n : 1) * sizeof(float)) != 0) {
            std::fprintf(stderr, "bench: out of memory (%zu floats)\n", n);
            std::abort();
        }
        p_ = static_cast<float *>(q);
        for (size_t i = 0; i < n; i++) p_[i] = 0.0f;
    }
    ~Buf() { std::free(p_); }
    float *data() { return p_; }
    const float *data() const { return p_; }
    float &operator[](size_t i) { return p_[i]; }
    float operator[](size_t i) const { return p_[i]; }
    size_t size() const { return n_; }

  private:
    Buf(const Buf &);
    Buf &operator=(const Buf &);
    size_t n_;
    float *p_;
};

// A context forced to one ISA; ok() is false when the CPU or build lacks it.
class Ctx {
  public:
    explicit Ctx(sam_isa isa) : ok_(false) {
        if (sam_ctx_init(&c_, NULL) != SAM_OK) return;
        ok_ = sam_isa_supported(isa) && sam_ctx_set_isa(&c_, isa) == SAM_OK;
    }
    ~Ctx() { sam_ctx_free(&c_); }
    bool ok() const { return ok_; }
    sam_ctx *get() { return &c_; }
    const char *message() const { return sam_ctx_message(&c_); }

  private:
    Ctx(const Ctx &);
    Ctx &operator=(const Ctx &);
    sam_ctx c_;
    bool ok_;
};

// Skip the benchmark unless the ISA is available; returns ctx.ok().
inline bool need_isa(benchmark::State &st, Ctx &ctx, sam_isa isa) {
    if (!ctx.ok()) {
        std::string m = std::string("CPU or build lacks ") + sam_isa_name(isa);
        st.SkipWithError(m.c_str());
        return false;
    }
    return true;
}

// Deterministic data, uniform in [lo, hi).
inline void fill(uint64_t seed, size_t n, float *x, float lo = -1.0f, float hi = 1.0f) {
    sam_rng r;
    sam_rng_seed(&r, seed, 77);
    sam_rng_fill_uniform(&r, n, x, lo, hi);
}

// "" if |got - ref| <= atol + rtol |ref| everywhere, else a message.
inline std::string compare(const float *got, const float *ref, size_t n, double atol, double rtol) {
    for (size_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i];
        if (!(std::fabs(g - r) <= atol + rtol * std::fabs(r))) {
            char buf[160];
            std::snprintf(buf, sizeof buf, "differs from scalar at [%zu]: %.9g vs %.9g", i, g, r);
            return buf;
        }
    }
    return "";
}
inline std::string compare1(double got, double ref, double atol, double rtol) {
    if (std::fabs(got - ref) <= atol + rtol * std::fabs(ref)) return "";
    char buf[160];
    std::snprintf(buf, sizeof buf, "differs from scalar: %.12g vs %.12g", got, ref);
    return buf;
}

// Run `check` once per benchmark name (it returns "" when the result matches
// the scalar ISA); later calls reuse the verdict. On a mismatch the benchmark
// is skipped with the message, so a wrong kernel is never timed.
inline bool validated(benchmark::State &st, const std::string &key, const std::function<std::string()> &check) {
    static std::map<std::string, std::string> verdict;
    std::map<std::string, std::string>::iterator it = verdict.find(key);
    if (it == verdict.end()) it = verdict.insert(std::make_pair(key, check())).first;
    if (!it->second.empty()) {
        std::string m = "validation failed: " + it->second;
        st.SkipWithError(m.c_str());
        return false;
    }
    return true;
}

// A failed call inside the timed loop stops the benchmark with the message.
inline bool call_ok(benchmark::State &st, Ctx &ctx, sam_status s) {
    if (s == SAM_OK) return true;
    st.SkipWithError(ctx.message());
    return false;
}

// Rate counters: work per iteration times iterations, divided by the time.
inline void set_flops(benchmark::State &st, double flop_per_iter) {
    st.counters["FLOP/s"] = benchmark::Counter(flop_per_iter * (double)st.iterations(), benchmark::Counter::kIsRate);
}
inline void set_bytes(benchmark::State &st, double bytes_per_iter) {
    st.counters["B/s"] = benchmark::Counter(bytes_per_iter * (double)st.iterations(), benchmark::Counter::kIsRate);
}

inline std::string name(const char *op, const char *isa, const std::string &shape) {
    return std::string("BM_") + op + "/" + isa + "/" + shape;
}

// Registration hooks, one per group (defined in bench_<group>.cc).
void register_vec();
void register_gemm();
void register_nn();
void register_optim();
void register_sharp();
void register_peak();
// Extra context lines for the header (OpenBLAS core, etc.).
std::string openblas_info();

}  // namespace sb

#endif
