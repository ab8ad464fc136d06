// Synthesizable top function of the EdgeBERT accelerator (Vitis HLS).
//
// Control: AXI4-Lite (ap_ctrl_hs) with the scalar arguments below and the status in ap_return.
// Data: AXI4 masters for the memory images, the tokens and the result words (the depths only
// size co-simulation's memory models: the tiny task image is ~98 k words, the embedding ~555 k). One call runs one
// command; the on-chip state (tables, task weights, the hidden state between the two phases)
// is a static that persists across calls, as block RAM does.
#include "eb_pragmas.h"
#include "edgebert_top.h"

static eb::State accel_state;

int edgebert_top(int cmd, const eb::bus_t *image, int image_words, const eb::bus_t *embedding,
                 const eb::bus_t *tokens, int length, int threshold, int stop_layer,
                 eb::bus_t *results) {
    EB_AXI_MASTER(image, gmem0, 262144)
    EB_AXI_MASTER(embedding, gmem1, 1048576)
    EB_AXI_MASTER(tokens, gmem0, 128)
    EB_AXI_MASTER(results, gmem0, 48)
    EB_AXI_LITE(cmd)
    EB_AXI_LITE(image_words)
    EB_AXI_LITE(length)
    EB_AXI_LITE(threshold)
    EB_AXI_LITE(stop_layer)
    EB_AXI_LITE(return)
    EB_CONTROL_HANDSHAKE
    return eb::accel_call(accel_state, cmd, image, image_words, embedding, tokens, length, threshold,
                          stop_layer, results);
}
