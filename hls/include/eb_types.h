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
#ifndef EB_TYPES_H
#define EB_TYPES_H

#include <stdint.h>

#ifndef EB_NATIVE_TYPES
#include "ap_int.h"
#endif

// Build-time limits (EB_N, EB_MAX_*: on-chip buffer sizes, overridable with -D; one bitstream
// serves any task within them) come from the generated interface header.
#include "eb_interface.h"

namespace eb {

const int N = EB_N;

#ifdef EB_NATIVE_TYPES
typedef int16_t act_t;     // activation word (16-bit two's complement)
typedef uint8_t code_t;    // AdaptivFloat<8,3> weight code
typedef int16_t word_t;    // decoded weight word, |w| <= 3968 (13 bits)
typedef int32_t operand_t; // a MAC operand: activation, probability (<= 2^15) or weight word
typedef int32_t product_t; // |operand x operand| <= 2^30
typedef int64_t mac_t;     // MAC accumulator (needs 40 bits, see docs/numerics.md)
typedef int64_t wide_t;    // special-function intermediates (LayerNorm sums reach 2^61)
typedef uint32_t bus_t;    // one 32-bit word of an AXI master port
#else
typedef ap_int<16> act_t;
typedef ap_uint<8> code_t;
typedef ap_int<13> word_t;
typedef ap_int<17> operand_t;
typedef ap_int<32> product_t;
typedef ap_int<48> mac_t;
typedef ap_int<64> wide_t;
typedef ap_uint<32> bus_t;
#endif

const int ACT_BITS = 16;
const int64_t ACT_MAX = 32767;
const int64_t ACT_MIN = -32768;

// x * 2^-s rounded half up (s > 0); an exact left shift for s <= 0. The left shift is a
// multiplication so that negative values are well defined in C++14.
inline wide_t round_shift(wide_t x, int s) {
    if (s > 0) return (x + (wide_t(1) << (s - 1))) >> s;
    return x * (wide_t(1) << (-s));
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
