// Memory images the host writes for the accelerator (32-bit little-endian words). The Python
// packer (model_export/accel/images.py) writes exactly this layout; the loader checks magic,
// version, sizes and build limits and answers with an error code rather than reading past a
// buffer. The magics, the version, the header word positions (TaskHeader, EmbedHeader), the
// record orders (MatrixId, VectorId, GainId), the commands, status codes and result words are
// in eb_interface.h, generated from model_export/accel/interface.py.
//
// Shared image (once per bitstream): header (SHARED_HEADER_WORDS), then the function tables
//   exp2[257] gelu[513] tanh[513] ln1p[257] as int32 Q.16.
// Task image (once per task): header (TASK_HEADER_WORDS), then
//   matrices, in MatrixId order: {rows, cols, af_bias, nnz}, bitmask (rows*cols bits,
//       row-major, LSB first, 32 per word), non-zero codes (4 per word, first in the low byte);
//   act vectors, in VectorId order: {len}, len words (int16 values, sign-extended);
//   gains, in GainId order: {len}, len words (int32, Q.16);
//   span mask: heads * max_len words (UQ1.15, by query-key distance);
//   predictor: 100 * (layers - 2) words (Q.16);
//   binned predictor: EB_BIN_LEN - 1 length edges, then EB_BIN_H * EB_BIN_LEN * EB_MAX_CLASSES exit
//       layers, one byte each, 4 per word (first in the low byte).
// Embedding image (stays in DDR; the stand-in for EdgeBERT's eNVM): header (EmbedHeader), row index
//   (rows + 1 word offsets into the records), then one record per row:
//   ceil(E / 32) mask words and ceil(nnz / 4) code words.
// Tokens: one word per token, id | type << 16.
#ifndef EB_IMAGE_H
#define EB_IMAGE_H

#include "eb_interface.h"

#endif
