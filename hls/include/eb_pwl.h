// Piecewise-linear function tables (GELU, tanh; exp2 and ln(1+f) use the same interpolation):
// Q.16 samples at breakpoints lo + i / 2^seg_log2, interpolated with one multiply and a rounded
// shift. The tables travel in the shared artifact (EdgeBERT's auxiliary buffer).
// Golden semantics: model_export/accel/numerics/functions.py (Pwl, pwl_eval, gelu, tanh).
#ifndef EB_PWL_H
#define EB_PWL_H

#include "eb_types.h"

namespace eb {

const int Q16 = 16;
const int TANH_FRAC = 14;          // off-ramp pooler output, Q1.14

struct PwlSpec {
    int lo;            // domain start (an integer)
    int seg_log2;      // 2^seg_log2 segments per unit
    int segments;
};
const PwlSpec EXP2_SPEC = {0, 8, 256};
const PwlSpec GELU_SPEC = {-8, 5, 512};
const PwlSpec TANH_SPEC = {-8, 5, 512};
const PwlSpec LN1P_SPEC = {0, 8, 256};
const int EXP2_LEN = 257, GELU_LEN = 513, TANH_LEN = 513, LN1P_LEN = 257;

typedef int32_t table_word_t;      // Q.16 samples, |value| < 2^19 (GELU reaches 8)
const int TABLE_BITS = 20;
// The interpolation fraction: fewer than 16 bits (frac <= 15 fraction bits of a word, less the
// segment bits), unsigned.
const int PWL_REM_BITS = 16;

inline wide_t pwl_interp(const table_word_t *tab, int idx, wide_t rem, int rem_bits) {
    const wide_t base = tab[idx];
    // The slope is the difference of two TABLE_BITS samples.
    return base + round_shift(mul<TABLE_BITS + 1, PWL_REM_BITS>(wide_t(tab[idx + 1]) - base, rem), rem_bits);
}

// Value of the table at word x (frac fraction bits); `range` is -1 below the domain, +1 at or
// above its end, 0 inside (the caller defines the function outside).
inline wide_t pwl_eval(const PwlSpec &p, const table_word_t *tab, wide_t x, int frac, int &range) {
    const wide_t u = x - shl(wide_t(p.lo), frac);
    const int shift = frac - p.seg_log2;
    wide_t idx, rem = 0;
    if (shift >= 0) {
        idx = u >> shift;
        rem = u & ((wide_t(1) << shift) - 1);
    } else {
        idx = shl(u, -shift);
    }
    range = idx < 0 ? -1 : (idx >= p.segments ? 1 : 0);
    if (range != 0) {
        rem = 0;
        idx = range < 0 ? 0 : p.segments - 1;
    }
    return pwl_interp(tab, int(idx), rem, shift > 0 ? shift : 0);
}

// GELU (tanh form) of a word in frac, into out_frac: 0 below -8, the identity at and above 8.
inline wide_t gelu(wide_t x, int frac, int out_frac, const table_word_t *tab, SatCounter &sat) {
    int range;
    wide_t y = round_shift(pwl_eval(GELU_SPEC, tab, x, frac, range), Q16 - out_frac);
    if (range < 0) y = 0;
    if (range > 0) y = round_shift(x, frac - out_frac);
    return sat.clip16(y);
}

// tanh of a word in frac, as Q1.14; +-1 outside [-8, 8).
inline wide_t tanh_q14(wide_t x, int frac, const table_word_t *tab) {
    int range;
    const wide_t y = round_shift(pwl_eval(TANH_SPEC, tab, x, frac, range), Q16 - TANH_FRAC);
    if (range < 0) return -(wide_t(1) << TANH_FRAC);
    if (range > 0) return wide_t(1) << TANH_FRAC;
    return y;
}

}  // namespace eb

#endif
