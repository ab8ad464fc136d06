// Synthesizable top function of the EdgeBERT accelerator (Vitis HLS).
//
// Control: AXI4-Lite (ap_ctrl_hs) with the scalar arguments below and the status in ap_return.
// Data: AXI4 masters for the memory images, the tokens and the result words (the depths only
// size co-simulation's memory models: the tiny task image is ~98 k words, the embedding ~555 k). One call runs one
// command; the on-chip state (tables, task weights, the hidden state between the two phases)
// is a static that persists across calls, as block RAM does.
#include "edgebert_top.h"

static eb::State accel_state;

int edgebert_top(int cmd, const eb::bus_t *image, int image_words, const eb::bus_t *embedding,
                 const eb::bus_t *tokens, int length, int threshold, int stop_layer,
                 eb::bus_t *results) {
#pragma HLS INTERFACE mode=m_axi port=image offset=slave bundle=gmem0 depth=262144 max_read_burst_length=64
#pragma HLS INTERFACE mode=m_axi port=embedding offset=slave bundle=gmem1 depth=1048576 max_read_burst_length=64
#pragma HLS INTERFACE mode=m_axi port=tokens offset=slave bundle=gmem0 depth=128
#pragma HLS INTERFACE mode=m_axi port=results offset=slave bundle=gmem0 depth=48
#pragma HLS INTERFACE mode=s_axilite port=cmd
#pragma HLS INTERFACE mode=s_axilite port=image_words
#pragma HLS INTERFACE mode=s_axilite port=length
#pragma HLS INTERFACE mode=s_axilite port=threshold
#pragma HLS INTERFACE mode=s_axilite port=stop_layer
#pragma HLS INTERFACE mode=s_axilite port=return
#pragma HLS INTERFACE mode=ap_ctrl_hs port=return
    return eb::accel_call(accel_state, cmd, image, image_words, embedding, tokens, length, threshold,
                          stop_layer, results);
}
