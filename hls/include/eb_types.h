// Data types, build-time limits and the integer helpers every kernel shares.
//
// The arithmetic contract is the golden model (model_export/accel/golden.py and
// model_export/accel/numerics/): round half up by (x + 2^(s-1)) >> s with an arithmetic shift,
// floor division of non-negative integers, saturation counted, never hidden.
//
// Two type families with identical results:
//   * ap_int / ap_uint (the default, and what Vitis HLS synthesizes), and
//   * native C++ integers (EB_NATIVE_TYPES), for fast C-simulation.
// Every value is proven to fit the narrower ap width (docs/numerics.md: accumulator bounds),
// so the two families compute the same numbers; tests build both and compare them.
//
// Declared widths: no operator instantiates an ap type wider than 64 bits. Every product and
// quotient goes through mul<A, B> / udiv<N, D>, whose template arguments are the operand widths
// the hardware unit has (a static_assert rejects a unit wider than 64 bits; the proof of each
// bound sits at the call). A build with EB_CHECK_WIDTHS (C-simulation only) traps an operand
// outside its declared width; the fuzzer's sanitizer build uses it.
#ifndef EB_TYPES_H
#define EB_TYPES_H

#include <stdint.h>

#ifndef EB_NATIVE_TYPES
#include "ap_int.h"
#endif
#ifdef EB_CHECK_WIDTHS
#include <cstdio>
#include <cstdlib>
#endif

// Build-time limits (EB_N, EB_MAX_*: on-chip buffer sizes, overridable with -D; one bitstream
// serves any task within them) come from the generated interface header.
#include "eb_interface.h"

namespace eb {

const int N = EB_N;
const int MAX_UNIT_BITS = 64;      // the widest adder, multiplier or divider any operator may have
const int WIDE_BITS = 63;

#ifdef EB_NATIVE_TYPES
typedef int16_t act_t;     // activation word (16-bit two's complement)
typedef uint8_t code_t;    // AdaptivFloat<8,3> weight code
typedef int16_t word_t;    // decoded weight word, |w| <= 3968 (13 bits)
typedef int32_t operand_t; // a MAC operand: activation, probability (<= 2^15) or weight word
typedef int32_t product_t; // |operand x operand| <= 2^30
typedef int64_t mac_t;     // MAC accumulator (needs 40 bits, see docs/numerics.md)
typedef int64_t wide_t;    // special-function intermediates (LayerNorm sums stay below 2^61)
typedef uint32_t bus_t;    // one 32-bit word of an AXI master port
#else
typedef ap_int<16> act_t;
typedef ap_uint<8> code_t;
typedef ap_int<13> word_t;
typedef ap_int<17> operand_t;
typedef ap_int<32> product_t;
typedef ap_int<48> mac_t;
typedef ap_int<WIDE_BITS> wide_t;   // a sum of two stays within 64 bits
typedef ap_uint<32> bus_t;
#endif

const int ACT_BITS = 16;
const int64_t ACT_MAX = 32767;
const int64_t ACT_MIN = -32768;

// Bits of the unsigned value v (v < 2^bits).
constexpr int bits_for(int64_t v) {
    int b = 0;
    while (b < 63 && (v >> b) != 0) b++;
    return b;
}

// Is x a B-bit two's complement (SIGNED) or B-bit unsigned value?
inline bool fits_bits(int64_t x, int bits, bool is_signed) {
    if (is_signed) return bits >= 64 || (x >= -(int64_t(1) << (bits - 1)) && x < (int64_t(1) << (bits - 1)));
    return x >= 0 && (bits >= 63 || x < (int64_t(1) << bits));
}

inline void check_width(int64_t x, int bits, bool is_signed, const char *what) {
#ifdef EB_CHECK_WIDTHS
    if (!fits_bits(x, bits, is_signed)) {
        std::fprintf(stderr, "eb: %s operand %lld exceeds its declared %s%d bits\n", what, (long long)x,
                     is_signed ? "int" : "uint", bits);
        std::abort();
    }
#else
    (void)x; (void)bits; (void)is_signed; (void)what;
#endif
}

inline int64_t as_int64(const wide_t &x) {
#ifdef EB_NATIVE_TYPES
    return x;
#else
    return x.to_int64();
#endif
}

// a x b on an A x B-bit signed multiplier; the product has A + B bits.
template <int A, int B>
inline wide_t mul(wide_t a, wide_t b) {
    static_assert(A + B <= MAX_UNIT_BITS, "multiplier wider than 64 bits");
    check_width(as_int64(a), A, true, "mul");
    check_width(as_int64(b), B, true, "mul");
#ifdef EB_NATIVE_TYPES
    return a * b;
#else
    return wide_t(ap_int<A>(a) * ap_int<B>(b));
#endif
}

// floor(num / den) on an N-bit / D-bit unsigned divider (num >= 0, den >= 1).
template <int NB, int DB>
inline wide_t udiv(wide_t num, wide_t den) {
    static_assert(NB <= MAX_UNIT_BITS && DB <= MAX_UNIT_BITS, "divider wider than 64 bits");
    check_width(as_int64(num), NB, false, "udiv");
    check_width(as_int64(den), DB, false, "udiv");
#ifdef EB_NATIVE_TYPES
    return num / den;
#else
    return wide_t(ap_uint<NB>(num) / ap_uint<DB>(den));
#endif
}

// x * 2^s for 0 <= s (exact: the caller's bound keeps the result within wide_t). A shift in the
// ap family; a multiplication in the native one, where a negative left shift is undefined.
inline wide_t shl(wide_t x, int s) {
#ifdef EB_NATIVE_TYPES
    return x * (int64_t(1) << s);
#else
    return x << s;
#endif
}

// x * 2^-s rounded half up (s > 0); an exact left shift for s <= 0.
inline wide_t round_shift(wide_t x, int s) {
    if (s > 0) return (x + (wide_t(1) << (s - 1))) >> s;
    return shl(x, -s);
}

// Saturation events since the last reset: the hardware keeps a sticky counter; the golden model
// counts the same events.
struct SatCounter {
    int64_t count;
    SatCounter() : count(0) {}
    wide_t clip(wide_t x, wide_t lo, wide_t hi) {
        if (x > hi) { count++; return hi; }
        if (x < lo) { count++; return lo; }
        return x;
    }
    wide_t clip16(wide_t x) { return clip(x, ACT_MIN, ACT_MAX); }
};

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

}  // namespace eb

#endif
