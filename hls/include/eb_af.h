// AdaptivFloat<8,3> weight decode (Tambe et al., DAC 2020): sign | 3-bit exponent | 4-bit mantissa.
// A code decodes exactly to the 13-bit word +-(16 + m) << e (0 for e = m = 0); the tensor's
// exponent bias only moves the binary point, so it is folded into the requantization shift.
// Golden semantics: model_export/accel/numerics/adaptivfloat.py (decode_fixed).
#ifndef EB_AF_H
#define EB_AF_H

#include "eb_types.h"

namespace eb {

const int AF_FIXED_SHIFT = 14;     // value = word * 2^(bias - 14)

inline int af_word(int code) {
    int e = (code >> 4) & 7, m = code & 15;
    int w = (e == 0 && m == 0) ? 0 : (16 + m) << e;
    return (code & 0x80) ? -w : w;
}

}  // namespace eb

#endif
