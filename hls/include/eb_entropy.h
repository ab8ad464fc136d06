// Off-ramp entropy in nats, Q.16: H = ln(sum e^x) - sum(x e^x) / sum(e^x), x = logit - max,
// over the task's real classes only (a padded lane would bias H), and the natural log
// ln z = k ln 2 + ln(1 + f) for z = (1 + f) 2^k.
// Golden semantics: model_export/accel/numerics/functions.py (ln_q16, entropy).
#ifndef EB_ENTROPY_H
#define EB_ENTROPY_H

#include "eb_softmax.h"

namespace eb {

const int ENTROPY_FRAC = 16;
const wide_t LN2_Q32 = 2977044472LL;   // round(ln 2 * 2^32)
const int LN2_BITS = 33;                  // < 2^32, signed operand
const int EXPONENT_BITS = 8;              // k <= 62
// b = sum(-x e) 2^16 / (z 2^frac): -x < 2^16 and e <= 2^15 for each of at most 4 classes, so the
// dividend is below 2^(16 + 15 + 2 + 16); z <= 4 2^15 and frac <= 15 bound the divisor by 2^32.
const int ENTROPY_NUM_BITS = 49;
const int ENTROPY_DEN_BITS = 33;
static_assert(EB_MAX_CLASSES <= 4, "the entropy divider's widths assume at most 4 classes");

inline wide_t ln_q16(wide_t z, const table_word_t *ln1p_tab) {
    int k = 0;
    for (int b = 62; b > 0; b--)                       // priority encoder: floor(log2 z)
        if ((z >> b) & 1) { k = b; break; }
    const wide_t mant = z - (wide_t(1) << k);
    const wide_t f = k >= Q16 ? wide_t(mant >> (k - Q16)) : shl(mant, Q16 - k);
    return round_shift(mul<EXPONENT_BITS, LN2_BITS>(wide_t(k), LN2_Q32), 32 - Q16)
           + pwl_interp(ln1p_tab, int(f >> 8), f & 255, 8);
}

struct entropy_config {
    static const int log_cycles = LOG_CYCLES;
    static const int div_cycles = DIV_CYCLES;
};

template <class CONFIG_T>
wide_t entropy_q16(const wide_t *logits, int classes, int frac, const table_word_t *exp2_tab,
                          const table_word_t *ln1p_tab, Counters &cnt) {
    wide_t peak = logits[0];
    for (int c = 1; c < classes; c++)
        if (logits[c] > peak) peak = logits[c];
    wide_t z = 0, neg_a = 0;
    for (int c = 0; c < classes; c++) {
        const wide_t x = logits[c] - peak;
        const wide_t e = exp_neg(x, frac, exp2_tab);
        z += e;
        neg_a -= mul<DIFF_BITS, PROB_BITS>(x, e);
    }
    const wide_t ln_term = ln_q16(z, ln1p_tab) - round_shift(mul<EXPONENT_BITS, LN2_BITS>(wide_t(PROB_FRAC), LN2_Q32),
                                                             32 - Q16);
    const wide_t b = udiv<ENTROPY_NUM_BITS, ENTROPY_DEN_BITS>(shl(neg_a, Q16), shl(z, frac));
    cnt.cycles(C_OFFRAMP, 2 * classes + CONFIG_T::log_cycles + CONFIG_T::div_cycles);
    const wide_t h = ln_term + b;
    return h > 0 ? h : wide_t(0);
}

}  // namespace eb

#endif
