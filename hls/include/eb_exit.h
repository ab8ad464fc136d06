// Exit gate and EdgeBERT's exit-layer predictor table: the row nearest to H1 (0.01 steps), then
// the first later layer whose predicted entropy is below the threshold, else the last layer.
// Golden semantics: model_export/accel/golden.py (GoldenModel.predict).
#ifndef EB_EXIT_H
#define EB_EXIT_H

#include "eb_schedule.h"

namespace eb {

typedef int32_t entropy_t;         // Q.16 nats

inline int predict_exit_layer(entropy_t h1, entropy_t threshold, const entropy_t *table, int layers,
                              Counters &cnt) {
    cnt.cycles(C_OFFRAMP, 1 + (layers - 2));
    if (h1 < threshold) return 1;
    int row = int((int64_t(h1) * 100 + (1 << 15)) >> 16);
    if (row > EB_PRED_ROWS - 1) row = EB_PRED_ROWS - 1;
    for (int j = 0; j < layers - 2; j++)
        if (table[row * (EB_MAX_LAYERS - 2) + j] < threshold) return j + 2;
    return layers;
}

}  // namespace eb

#endif
