// Exit gate and the two exit-layer predictors.
// EdgeBERT's table: the row nearest to H1 (0.01 steps), then the first later layer whose
// predicted entropy is below the threshold, else the last layer.
// Golden semantics: model_export/accel/golden.py (GoldenModel.predict).
// Binned: one byte per (entropy bin, length bin, layer-1 answer) cell holds the exit layer.
// Golden semantics: model_export/accel/predictor.py (predict_binned).
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

// The layer-1 answer: argmax of the off-ramp's logits, the first on ties.
template <typename T>
inline int first_argmax(const T *logits, int classes) {
    int best = 0;
    for (int c = 1; c < classes; c++)
        if (logits[c] > logits[best]) best = c;
    return best;
}

inline int predict_binned(entropy_t h1, entropy_t threshold, int length, int answer, const uint8_t *bins,
                          const int32_t *edges, Counters &cnt) {
    cnt.cycles(C_OFFRAMP, BINNED_CYCLES);
    if (h1 < threshold) return 1;
    int hb = int(h1 >> EB_BIN_H_SHIFT);
    if (hb > EB_BIN_H - 1) hb = EB_BIN_H - 1;
    int lb = 0;
    for (int e = 0; e < EB_BIN_LEN - 1; e++)
        if (length >= edges[e]) lb++;
    return bins[(hb * EB_BIN_LEN + lb) * EB_MAX_CLASSES + answer];
}

}  // namespace eb

#endif
