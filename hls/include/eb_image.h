// Memory images the host writes for the accelerator (32-bit little-endian words). The Python
// packer (host/images.py) writes exactly this layout; the loader checks magic, version, sizes
// and build limits and answers with an error code rather than reading past a buffer.
//
// Shared image (once per bitstream): header, then the function tables
//   exp2[257] gelu[513] tanh[513] ln1p[257] as int32 Q.16.
// Task image (once per task): header (TASK_HEADER_WORDS), then
//   matrices, in MatrixId order: {rows, cols, af_bias, nnz}, bitmask (rows*cols bits,
//       row-major, LSB first, 32 per word), non-zero codes (4 per word, first in the low byte);
//   act vectors, in VectorId order: {len}, len words (int16 values, sign-extended);
//   gains, in GainId order: {len}, len words (int32, Q.16);
//   span mask: heads * max_len words (UQ1.15, by query-key distance);
//   predictor: 100 * (layers - 2) words (Q.16).
// Embedding image (stays in DDR; the stand-in for EdgeBERT's eNVM): header, row index
//   (rows + 1 word offsets into the records), then one record per row:
//   ceil(E / 32) mask words and ceil(nnz / 4) code words.
// Tokens: one word per token, id | type << 16.
#ifndef EB_IMAGE_H
#define EB_IMAGE_H

namespace eb {

const unsigned IMAGE_VERSION = 1;
const unsigned SHARED_MAGIC = 0x31534245;      // "EBS1"
const unsigned TASK_MAGIC = 0x31544245;        // "EBT1"
const unsigned EMBED_MAGIC = 0x31454245;       // "EBE1"

const int SHARED_HEADER_WORDS = 6;   // magic, version, len(exp2), len(gelu), len(tanh), len(ln1p)
const int EMBED_HEADER_WORDS = 8;    // magic, version, rows, cols, af_bias, index offset,
                                     // records offset, total words

// Task header word positions.
enum TaskHeader {
    TH_MAGIC = 0, TH_VERSION, TH_E, TH_H, TH_HEADS, TH_FFN, TH_LAYERS, TH_MAX_LEN, TH_CLASSES,
    TH_TYPES, TH_FRAC_EMB, TH_FRAC_HIDDEN, TH_FRAC_Q, TH_FRAC_K, TH_FRAC_V, TH_FRAC_SCORE,
    TH_FRAC_FFN, TH_FRAC_POOL, TH_FRAC_LOGIT, TH_EPS_EMB_LO, TH_EPS_EMB_HI, TH_EPS_HID_LO,
    TH_EPS_HID_HI, TH_THRESHOLD, TH_LIVE_HEADS, TH_TOTAL_WORDS, TASK_HEADER_WORDS = 32
};

enum MatrixId {
    M_EMBED_PROJ = 0, M_Q, M_K, M_V, M_O, M_FFN1, M_FFN2, M_POSITION, M_TYPE, M_RAMPS
    // ramp l: pooler M_RAMPS + 2 l, classifier M_RAMPS + 2 l + 1
};
enum VectorId {
    V_EMBED_PROJ = 0, V_Q, V_K, V_V, V_O, V_FFN1, V_FFN2, V_EMBED_BETA, V_LN1_BETA, V_LN2_BETA,
    V_RAMPS      // ramp l: pooler bias V_RAMPS + 2 l, classifier bias V_RAMPS + 2 l + 1
};
enum GainId { G_EMBED = 0, G_LN1, G_LN2, N_GAINS };

enum Command { CMD_LOAD_SHARED = 1, CMD_LOAD_TASK = 2, CMD_PHASE1 = 3, CMD_PHASE2 = 4 };

enum Status {
    ST_OK = 0, ST_BAD_COMMAND, ST_BAD_IMAGE, ST_IMAGE_TOO_LARGE, ST_BAD_LENGTH, ST_NO_TASK,
    ST_NO_PHASE1, ST_BAD_STOP_LAYER, ST_BAD_TOKEN, ST_NO_TABLES, ST_BAD_EMBEDDING
};

// Result words (int32) written by the phase commands.
enum Result {
    R_EXIT_LAYER = 0,    // phase 1: 1 if it exits at layer 1, else 0; phase 2: the exit layer
    R_PREDICTED = 1,     // predicted exit layer (phase 1)
    R_EXIT_NOW = 2,
    R_H1 = 3,            // layer-1 entropy, Q.16
    R_LOGITS = 4,        // EB_MAX_CLASSES words: the exit layer's logits
    R_ENTROPY = 8,       // EB_MAX_LAYERS words: entropy of layer l at R_ENTROPY + l - 1
    R_COUNTERS = 24,     // N_COUNTERS counters, two words each (low, high)
    RESULT_WORDS = 48
};

}  // namespace eb

#endif
