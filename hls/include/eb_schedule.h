// The accelerator's schedule: what one pass of each operator costs in clock cycles, and the
// counters the hardware keeps per phase. The Python cost model (model_export/accel/cost.py)
// computes the same numbers from the dimensions alone; a test holds the two equal.
#ifndef EB_SCHEDULE_H
#define EB_SCHEDULE_H

#include "eb_types.h"

namespace eb {

// The cycle constants (MAC_PIPE, ..., AXI_LATENCY) and the Counter enum are in eb_interface.h.

struct Counters {
    int64_t v[N_COUNTERS];
    void reset() { for (int i = 0; i < N_COUNTERS; i++) v[i] = 0; }
    void cycles(Counter c, int64_t n) { v[c] += n; v[C_CYCLES] += n; }
};

}  // namespace eb

#endif
