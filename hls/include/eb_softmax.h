// Softmax over one row of attention scores, with the adaptive-span mask, as UQ1.15.
// e^x = 2^(x log2 e): an integer shift and a table-interpolated 2^f; the row's reciprocal is one
// exact division floor(2^40 / sum). The mask (by query-key distance) multiplies afterwards.
// Golden semantics: model_export/accel/numerics/functions.py (exp_neg, softmax, apply_span_mask).
#ifndef EB_SOFTMAX_H
#define EB_SOFTMAX_H

#include "eb_pwl.h"
#include "eb_schedule.h"

namespace eb {

const int PROB_FRAC = 15;
const wide_t LOG2E_Q16 = 94548;    // round(log2(e) * 2^16)
const int RECIP_SHIFT = 40;
typedef uint16_t prob_t;           // 0 .. 32768 (UQ1.15); native in both type families

// The difference of two 16-bit words: x - max >= -(2^16 - 1).
const int DIFF_BITS = 17;
const int LOG2E_BITS = 18;         // 94548 < 2^17, signed
const int PROB_BITS = 17;          // 0 .. 2^15, signed operand
// floor(2^40 / sum), sum = sum of e^(x - max) in UQ1.15 over at most EB_MAX_LEN keys:
// 2^15 <= sum <= EB_MAX_LEN 2^15, so the quotient is at most 2^25.
const int RECIP_NUM_BITS = RECIP_SHIFT + 1;
const int SUM_BITS = bits_for(int64_t(EB_MAX_LEN) << 15);
const int RECIP_BITS = RECIP_SHIFT - 15 + 2;       // 2^25, signed operand
static_assert(SUM_BITS <= 32, "EB_MAX_LEN too large for the softmax divider");

// e^x for a word x <= 0 with frac fraction bits, as UQ1.15.
inline wide_t exp_neg(wide_t x, int frac, const table_word_t *exp2_tab) {
    const wide_t t = round_shift(mul<DIFF_BITS, LOG2E_BITS>(x, LOG2E_Q16), frac);   // x log2(e), Q.16, <= 0
    const wide_t k = t >> Q16;
    const wide_t f = t & ((wide_t(1) << Q16) - 1);
    const wide_t v = pwl_interp(exp2_tab, int(f >> 8), f & 255, 8);   // 2^f, Q.16
    const wide_t shift = 1 - k;
    return shift > 18 ? wide_t(0) : round_shift(v, int(shift));
}

struct softmax_config {
    static const int lanes = EB_N;           // elements per cycle and pass
    static const int max_len = EB_MAX_LEN;
    static const int passes = SOFTMAX_PASSES;
    static const int div_cycles = DIV_CYCLES;
};

// probs[j] for scores[0..len) of query `row`; span[d] is the mask at query-key distance d.
template <class CONFIG_T>
void softmax_row(const act_t *scores, int len, int row, int frac, const table_word_t *exp2_tab,
                        const prob_t *span, prob_t *probs, Counters &cnt) {
    wide_t peak = scores[0];
    for (int j = 1; j < len; j++)
        if (wide_t(scores[j]) > peak) peak = scores[j];
    wide_t sum = 0;
    wide_t e[CONFIG_T::max_len];
    for (int j = 0; j < len; j++) {
        e[j] = exp_neg(wide_t(scores[j]) - peak, frac, exp2_tab);
        sum += e[j];
    }
    const wide_t recip = udiv<RECIP_NUM_BITS, SUM_BITS>(wide_t(1) << RECIP_SHIFT, sum);  // sum >= 2^15: e^0 is in it
    for (int j = 0; j < len; j++) {
        const wide_t p = round_shift(mul<PROB_BITS, RECIP_BITS>(e[j], recip), RECIP_SHIFT - PROB_FRAC);
        const int dist = j > row ? j - row : row - j;
        probs[j] = prob_t(round_shift(mul<PROB_BITS, PROB_BITS>(p, wide_t(span[dist])), PROB_FRAC));
    }
    cnt.cycles(C_SOFTMAX, CONFIG_T::passes * ceil_div(len, CONFIG_T::lanes) + CONFIG_T::div_cycles);
}

}  // namespace eb

#endif
