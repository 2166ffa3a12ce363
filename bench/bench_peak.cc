// bench/bench_peak.cc — the measured FMA peak of one core, the yardstick for
// the "% peak" columns. BM_fma_peak/<isa>/chains<C>: C independent chains of
// vector FMAs (x = x·a + b) in registers, no memory traffic. With C at least
// latency × ports (4 × 2 on Haswell..Sapphire Rapids) both FMA ports are busy
// every cycle, so the rate is 2 ports × lanes × 2 flop × the clock the core
// really runs at (turbo included), which the nominal clock of /proc/cpuinfo
// does not tell. sgemm cannot beat it.
#include "bench.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace sb {
namespace {

const long kInner = 1000;  // FMA rounds per benchmark iteration

#if defined(__x86_64__) || defined(_M_X64)
// 12 chains of 8-lane FMAs: 12 of the 16 ymm registers, 12·16 flop per round.
__attribute__((target("avx2,fma"))) float fma_rounds(long rounds, float seed) {
    __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f), x = _mm256_set1_ps(seed);
    __m256 c0 = x, c1 = x, c2 = x, c3 = x, c4 = x, c5 = x, c6 = x, c7 = x, c8 = x, c9 = x, c10 = x, c11 = x;
    for (long k = 0; k < rounds; k++) {
        c0 = _mm256_fmadd_ps(c0, a, b); c1 = _mm256_fmadd_ps(c1, a, b); c2 = _mm256_fmadd_ps(c2, a, b);
        c3 = _mm256_fmadd_ps(c3, a, b); c4 = _mm256_fmadd_ps(c4, a, b); c5 = _mm256_fmadd_ps(c5, a, b);
        c6 = _mm256_fmadd_ps(c6, a, b); c7 = _mm256_fmadd_ps(c7, a, b); c8 = _mm256_fmadd_ps(c8, a, b);
        c9 = _mm256_fmadd_ps(c9, a, b); c10 = _mm256_fmadd_ps(c10, a, b); c11 = _mm256_fmadd_ps(c11, a, b);
        // keep the chains in registers and opaque, so the compiler can neither
        // fold the constant recurrence nor drop rounds
        __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5), "+x"(c6), "+x"(c7),
                         "+x"(c8), "+x"(c9), "+x"(c10), "+x"(c11));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    return _mm_cvtss_f32(_mm256_castps256_ps128(s));
}
const sam_isa kIsa = SAM_ISA_AVX2;
const double kFlopPerRound = 12 * 8 * 2;
#elif defined(__aarch64__)
// 24 chains of 4-lane FMAs: 24 of the 32 q registers (checked with
// aarch64-linux-gnu-gcc -O2 -S: 24 fmla per round, no loads or stores).
float fma_rounds(long rounds, float seed) {
    float32x4_t a = vdupq_n_f32(0.999999f), b = vdupq_n_f32(1e-7f), x = vdupq_n_f32(seed);
    float32x4_t c0 = x, c1 = x, c2 = x, c3 = x, c4 = x, c5 = x, c6 = x, c7 = x, c8 = x, c9 = x, c10 = x, c11 = x;
    float32x4_t c12 = x, c13 = x, c14 = x, c15 = x, c16 = x, c17 = x, c18 = x, c19 = x, c20 = x, c21 = x, c22 = x, c23 = x;
    for (long k = 0; k < rounds; k++) {
#define SB_F4(p, q, r, s) p = vfmaq_f32(b, p, a); q = vfmaq_f32(b, q, a); r = vfmaq_f32(b, r, a); s = vfmaq_f32(b, s, a);
        SB_F4(c0, c1, c2, c3) SB_F4(c4, c5, c6, c7) SB_F4(c8, c9, c10, c11)
        SB_F4(c12, c13, c14, c15) SB_F4(c16, c17, c18, c19) SB_F4(c20, c21, c22, c23)
#undef SB_F4
        __asm__ volatile("" : "+w"(c0), "+w"(c1), "+w"(c2), "+w"(c3), "+w"(c4), "+w"(c5), "+w"(c6), "+w"(c7),
                         "+w"(c8), "+w"(c9), "+w"(c10), "+w"(c11));
        __asm__ volatile("" : "+w"(c12), "+w"(c13), "+w"(c14), "+w"(c15), "+w"(c16), "+w"(c17), "+w"(c18),
                         "+w"(c19), "+w"(c20), "+w"(c21), "+w"(c22), "+w"(c23));
    }
    float32x4_t s = vaddq_f32(vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3)), vaddq_f32(vaddq_f32(c4, c5), vaddq_f32(c6, c7)));
    s = vaddq_f32(s, vaddq_f32(vaddq_f32(vaddq_f32(c8, c9), vaddq_f32(c10, c11)), vaddq_f32(vaddq_f32(c12, c13), vaddq_f32(c14, c15))));
    s = vaddq_f32(s, vaddq_f32(vaddq_f32(vaddq_f32(c16, c17), vaddq_f32(c18, c19)), vaddq_f32(vaddq_f32(c20, c21), vaddq_f32(c22, c23))));
    return vgetq_lane_f32(s, 0);
}
const sam_isa kIsa = SAM_ISA_NEON;
const double kFlopPerRound = 24 * 4 * 2;
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(__aarch64__)
void bm_fma_peak(benchmark::State &st) {
    Ctx ctx(kIsa);
    if (!need_isa(st, ctx, kIsa)) return;
    float seed = 1.0f, sink = 0.0f;
    for (auto _ : st) {
        sink += fma_rounds(kInner, seed);
        benchmark::DoNotOptimize(sink);
    }
    set_flops(st, kFlopPerRound * (double)kInner);
}
#endif

}  // namespace

void register_peak() {
#if defined(__x86_64__) || defined(_M_X64)
    benchmark::RegisterBenchmark("BM_fma_peak/avx2/chains12", bm_fma_peak);
#elif defined(__aarch64__)
    benchmark::RegisterBenchmark("BM_fma_peak/neon/chains24", bm_fma_peak);
#endif
}

}  // namespace sb
