// LayerNorm over one row of W words, exactly: d = W x - sum x; Q = sum d^2; s = isqrt(Q + eps);
// t = d floor(2^48 / max(s, 2)) is the normalized value over sqrt(W), kept as Q.20; the gain
// word holds gamma sqrt(W) in Q.16, beta is in the output format.
//
// Widths (W <= 1024): |d| <= (W - 1)(2^16 - 1) < 2^26; Q <= W^3 2^30 <= 2^60 (a variance is at
// most range^2 / 4); eps < 2^60 (LOAD_TASK checks), so s < 2^31. The divisor is at least 2, so
// the quotient is below 2^48 (DIV_CYCLES quotient bits). The clamp changes nothing for W >= 4:
// there, Q is 0 (every d = 0, whatever the quotient) or at least 8 (s >= 2). |d| <= s, so
// |d floor(2^48 / s)| <= 2^48; the product is formed from two 27 x 25-bit partial products.
// Golden semantics: model_export/accel/numerics/functions.py (isqrt, layernorm).
#ifndef EB_LAYERNORM_H
#define EB_LAYERNORM_H

#include "eb_schedule.h"

namespace eb {

const int LN_INV_SHIFT = 48;
const int LN_NORM_FRAC = 20;
const int LN_GAIN_FRAC = 16;
typedef int32_t gain_t;            // gamma sqrt(W) in Q.16 (22 bits for W = 768)
const int LN_WIDTH_BITS = 12;      // W <= 1024, signed operand
const int LN_DEV_BITS = 27;        // d
const int LN_ROOT_BITS = 31;       // s
const int LN_INV_NUM_BITS = LN_INV_SHIFT + 1;
const int LN_INV_SPLIT = 24;       // floor(2^48 / s) < 2^48 = hi 2^24 + lo
const int LN_NORM_BITS = 22;       // |t| <= 2^20
const int GAIN_BITS = 32;
const int64_t LN_EPS_LIMIT = int64_t(1) << 60;
static_assert(EB_MAX_H <= 1024 && EB_MAX_E <= 1024, "LayerNorm widths assume rows of at most 1024 words");

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
        const wide_t d = mul<LN_WIDTH_BITS, ACT_BITS>(wide_t(width), wide_t(x[j])) - sum;
        q += mul<LN_DEV_BITS, LN_DEV_BITS>(d, d);
    }
    const uint64_t root = isqrt62(uint64_t(as_int64(q) + eps_q));
    const wide_t s = wide_t(int64_t(root < 2 ? 2 : root));
    const wide_t inv = udiv<LN_INV_NUM_BITS, LN_ROOT_BITS>(wide_t(1) << LN_INV_SHIFT, s);
    const wide_t inv_hi = inv >> LN_INV_SPLIT, inv_lo = inv & ((wide_t(1) << LN_INV_SPLIT) - 1);
    for (int j = 0; j < width; j++) {
        const wide_t d = mul<LN_WIDTH_BITS, ACT_BITS>(wide_t(width), wide_t(x[j])) - sum;
        const wide_t prod = shl(mul<LN_DEV_BITS, LN_INV_SPLIT + 1>(d, inv_hi), LN_INV_SPLIT)
                            + mul<LN_DEV_BITS, LN_INV_SPLIT + 1>(d, inv_lo);
        const wide_t t = round_shift(prod, LN_INV_SHIFT - LN_NORM_FRAC);
        y[j] = act_t(sat.clip16(round_shift(mul<LN_NORM_BITS, GAIN_BITS>(t, wide_t(gain[j])),
                                            LN_NORM_FRAC + LN_GAIN_FRAC - out_frac)
                                + wide_t(beta[j])));
    }
    cnt.cycles(C_LAYERNORM, CONFIG_T::passes * ceil_div(width, CONFIG_T::lanes) + CONFIG_T::isqrt_cycles
                                + CONFIG_T::div_cycles);
}

}  // namespace eb

#endif
