// The accelerator's top-level interface (see edgebert_top.cpp and eb_image.h).
#ifndef EDGEBERT_TOP_H
#define EDGEBERT_TOP_H

#include "edgebert_accel.h"

int edgebert_top(int cmd, const eb::bus_t *image, int image_words, const eb::bus_t *embedding,
                 const eb::bus_t *tokens, int length, int threshold, int stop_layer,
                 eb::bus_t *results);

#endif
