// The accelerator's schedule: what one pass of each operator costs in clock cycles, and the
// counters the hardware keeps per phase. The Python cost model (model_export/cost.py) computes
// the same numbers from the dimensions alone; a test holds the two equal.
#ifndef EB_SCHEDULE_H
#define EB_SCHEDULE_H

#include "eb_types.h"

namespace eb {

// Pipeline fill of the MAC array (operand read, multiply, accumulate, requantize) per matmul.
const int MAC_PIPE = 4;
// Special function unit: EB_N lanes; a row of W elements takes ceil(W / N) cycles per pass.
const int SOFTMAX_PASSES = 3;      // max; exp + sum; normalize + span mask
const int LAYERNORM_PASSES = 3;    // sum; sum of squares; normalize + gain + beta
const int DIV_CYCLES = 48;         // radix-2 divider, one quotient bit per cycle
const int ISQRT_CYCLES = 31;       // bit-serial square root of a 62-bit sum
const int LOG_CYCLES = 2;          // priority encoder + ln(1+f) table
const int AXI_LATENCY = 16;        // DDR read latency of one burst (one embedding row)

enum Counter {
    C_CYCLES = 0,        // all cycles of the phase (the sum of the next six)
    C_LINEAR,            // weight matmuls of the layer and the E -> H projection
    C_ATTENTION,         // Q K^T and P V
    C_SOFTMAX,
    C_LAYERNORM,
    C_EMBED,             // embedding row fetches from DDR and the word + position + type sum
    C_OFFRAMP,           // pooler and classifier matmuls, entropy, exit gate and predictor
    C_MACS,              // multiply-accumulates issued (real lanes only)
    C_OFFCHIP_WORDS,     // 32-bit words read from DDR during the phase
    C_SATURATIONS,       // saturation events
    N_COUNTERS
};

struct Counters {
    int64_t v[N_COUNTERS];
    void reset() { for (int i = 0; i < N_COUNTERS; i++) v[i] = 0; }
    void cycles(Counter c, int64_t n) { v[c] += n; v[C_CYCLES] += n; }
};

}  // namespace eb

#endif
