// LayerNorm over one row of W words, exactly: d = W x - sum x; Q = sum d^2 (< 2^61 for
// W = 768); s = isqrt(Q + eps); t = d floor(2^48 / s) is the normalized value over sqrt(W),
// kept as Q.20; the gain word holds gamma sqrt(W) in Q.16, beta is in the output format.
// Golden semantics: model_export/accel/numerics/functions.py (isqrt, layernorm).
#ifndef EB_LAYERNORM_H
#define EB_LAYERNORM_H

#include "eb_schedule.h"

namespace eb {

const int LN_INV_SHIFT = 48;
const int LN_NORM_FRAC = 20;
const int LN_GAIN_FRAC = 16;
typedef int32_t gain_t;            // gamma sqrt(W) in Q.16 (22 bits for W = 768)

// floor(sqrt(q)) for 0 <= q < 2^62, one result bit per step (the bit-serial unit).
inline uint64_t isqrt62(uint64_t q) {
    uint64_t rem = q, root = 0, bit = uint64_t(1) << 62;
    for (int i = 0; i < 32; i++) {
        if (rem >= root + bit) {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}

struct layernorm_config {
    static const int lanes = EB_N;
    static const int passes = LAYERNORM_PASSES;
    static const int isqrt_cycles = ISQRT_CYCLES;
    static const int div_cycles = DIV_CYCLES;
};

template <class CONFIG_T>
void layernorm_row(const act_t *x, int width, int out_frac, const gain_t *gain, const act_t *beta,
                          int64_t eps_q, act_t *y, SatCounter &sat, Counters &cnt) {
    wide_t sum = 0;
    for (int j = 0; j < width; j++) sum += x[j];
    wide_t q = 0;
    for (int j = 0; j < width; j++) {
        const wide_t d = wide_t(width) * x[j] - sum;
        q += d * d;
    }
    const wide_t s = wide_t(int64_t(isqrt62(uint64_t(int64_t(q) + eps_q))));
    const wide_t inv = (wide_t(1) << LN_INV_SHIFT) / s;
    for (int j = 0; j < width; j++) {
        const wide_t d = wide_t(width) * x[j] - sum;
        const wide_t t = round_shift(d * inv, LN_INV_SHIFT - LN_NORM_FRAC);
        y[j] = act_t(sat.clip16(round_shift(t * wide_t(gain[j]), LN_NORM_FRAC + LN_GAIN_FRAC - out_frac)
                                + wide_t(beta[j])));
    }
    cnt.cycles(C_LAYERNORM, CONFIG_T::passes * ceil_div(width, CONFIG_T::lanes) + CONFIG_T::isqrt_cycles
                                + CONFIG_T::div_cycles);
}

}  // namespace eb

#endif
