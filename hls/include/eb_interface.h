// Generated from model_export/accel/interface.py (edgebert.accel.interface); do not edit.
// Regenerate: edgebert generate
// The accelerator's interface: build limits, memory-image headers, commands, status codes,
// result words, counters and schedule constants. Layout prose: eb_image.h.
#ifndef EB_INTERFACE_H
#define EB_INTERFACE_H

// ---- build limits (on-chip buffer sizes); a build may override these with -D ----
#ifndef EB_N
#define EB_N 16  // MAC array is EB_N x EB_N lanes (8 for PYNQ-Z2, 16 for ZU+)
#endif
#ifndef EB_MAX_LEN
#define EB_MAX_LEN 128  // longest sentence (tokens)
#endif
#ifndef EB_MAX_E
#define EB_MAX_E 128  // factorized embedding width
#endif
#ifndef EB_MAX_H
#define EB_MAX_H 768  // hidden width
#endif
#ifndef EB_MAX_FFN
#define EB_MAX_FFN 3072  // feed-forward width
#endif
#ifndef EB_MAX_HEADS
#define EB_MAX_HEADS 12  // attention heads
#endif
#ifndef EB_RAMPS_IN_DDR
#define EB_RAMPS_IN_DDR 0  // 1: off-ramp weights stay in DDR, fetched per layer (small parts)
#endif
#ifndef EB_WEIGHT_DENSITY
#define EB_WEIGHT_DENSITY 100  // weight-code store: percent of the dense size (bitmask-sparse)
#endif
// fixed: the result words are laid out for them
#define EB_MAX_LAYERS 12    // ALBERT-base's layers; one entropy result word each
#define EB_MAX_CLASSES 4    // logit result words
#define EB_MAX_TYPES 2      // token types (sentence A, sentence B)
#define EB_PRED_ROWS 100    // EdgeBERT's predictor table: H1 = 0.00 .. 0.99 (predictor.py)
#define EB_BIN_H 16         // binned predictor: layer-1 entropy bins (predictor.py)
#define EB_BIN_H_SHIFT 12   // binned predictor: entropy bin = H1 (Q.16) >> this
#define EB_BIN_LEN 4        // binned predictor: sentence-length bins (LEN_BINS - 1 edges)
#define EB_AF_BIAS_MIN -16  // AdaptivFloat exponent bias range (adaptivfloat.py)
#define EB_AF_BIAS_MAX 15

namespace eb {

// ---- memory images ----
const unsigned IMAGE_VERSION = 3;
const unsigned SHARED_MAGIC = 0x31534245;  // "EBS1"
const unsigned TASK_MAGIC = 0x31544245;    // "EBT1"
const unsigned EMBED_MAGIC = 0x31454245;   // "EBE1"
const int SHARED_HEADER_WORDS = 6;         // magic, version, len(exp2), len(gelu), len(tanh), len(ln1p)

// Task header word positions.
enum TaskHeader {
    TH_MAGIC = 0,           // TASK_MAGIC
    TH_VERSION = 1,         // IMAGE_VERSION
    TH_E = 2,               // embedding width
    TH_H = 3,               // hidden width
    TH_HEADS = 4,           // attention heads
    TH_FFN = 5,             // feed-forward width
    TH_LAYERS = 6,          // encoder layers (uses of the shared layer)
    TH_MAX_LEN = 7,         // the task's longest sentence
    TH_CLASSES = 8,         // output classes
    TH_TYPES = 9,           // token types
    TH_FRAC_EMB = 10,       // fraction bits of each activation site, in numerics/fixed.py's SITES order
    TH_FRAC_HIDDEN = 11,
    TH_FRAC_Q = 12,
    TH_FRAC_K = 13,
    TH_FRAC_V = 14,
    TH_FRAC_SCORE = 15,
    TH_FRAC_FFN = 16,
    TH_FRAC_POOL = 17,
    TH_FRAC_LOGIT = 18,
    TH_EPS_EMB_LO = 19,     // LayerNorm epsilons, int64 in two words (low, high)
    TH_EPS_EMB_HI = 20,
    TH_EPS_HID_LO = 21,
    TH_EPS_HID_HI = 22,
    TH_THRESHOLD = 23,      // the task's exit threshold, Q.16
    TH_LIVE_HEADS = 24,     // bit h: head h has a non-zero span
    TH_TOTAL_WORDS = 25,    // the image's length in words
    TASK_HEADER_WORDS = 32
};

// Embedding header word positions.
enum EmbedHeader {
    EH_MAGIC = 0,           // EMBED_MAGIC
    EH_VERSION = 1,         // IMAGE_VERSION
    EH_ROWS = 2,            // vocabulary size
    EH_COLS = 3,            // embedding width
    EH_AF_BIAS = 4,         // AdaptivFloat exponent bias of the table
    EH_INDEX_AT = 5,        // word offset of the row index (rows + 1 offsets into the records)
    EH_RECORDS_AT = 6,      // word offset of the first record
    EH_TOTAL_WORDS = 7,     // the image's length in words
    EMBED_HEADER_WORDS = 8
};

// The task image's matrix records, in order. Off-ramp l follows the layer's: its pooler at M_RAMPS
// + 2 l, its classifier at M_RAMPS + 2 l + 1.
enum MatrixId {
    M_EMBED_PROJ = 0,  // embed_proj
    M_Q = 1,           // layer.q
    M_K = 2,           // layer.k
    M_V = 3,           // layer.v
    M_O = 4,           // layer.o
    M_FFN1 = 5,        // layer.ffn1
    M_FFN2 = 6,        // layer.ffn2
    M_POSITION = 7,    // position
    M_TYPE = 8,        // token_type
    M_RAMPS = 9,       // ramps.<l>.pooler, ramps.<l>.classifier
};

// The task image's vectors, in order; off-ramp l's biases at V_RAMPS + 2 l (+ 1).
enum VectorId {
    V_EMBED_PROJ = 0,  // embed_proj.bias
    V_Q = 1,           // layer.q.bias
    V_K = 2,           // layer.k.bias
    V_V = 3,           // layer.v.bias
    V_O = 4,           // layer.o.bias
    V_FFN1 = 5,        // layer.ffn1.bias
    V_FFN2 = 6,        // layer.ffn2.bias
    V_EMBED_BETA = 7,  // embed_ln.beta
    V_LN1_BETA = 8,    // layer.ln1.beta
    V_LN2_BETA = 9,    // layer.ln2.beta
    V_RAMPS = 10,      // ramps.<l>.pooler.bias, ramps.<l>.classifier.bias
};

// The task image's LayerNorm gains, in order.
enum GainId {
    G_EMBED = 0,  // embed_ln.gain
    G_LN1 = 1,    // layer.ln1.gain
    G_LN2 = 2,    // layer.ln2.gain
    N_GAINS = 3
};

// Activation sites, one format each (numerics/fixed.py SITES; the task header's TH_FRAC_*).
enum Site {
    F_EMB = 0,
    F_HIDDEN = 1,
    F_Q = 2,
    F_K = 3,
    F_V = 4,
    F_SCORE = 5,
    F_FFN = 6,
    F_POOL = 7,
    F_LOGIT = 8,
    N_SITES = 9
};

// The top function's cmd argument.
enum Command {
    CMD_LOAD_SHARED = 1,  // the shared function tables, once per bitstream
    CMD_LOAD_TASK = 2,    // one task's weights: the multi-task switch
    CMD_PHASE1 = 3,       // embedding, layer 1, off-ramp 1, exit gate, predicted exit layer
    CMD_PHASE2 = 4,       // layers 2 .. stop_layer from the on-chip hidden state
};

// The top function's return value; each note is the message the host shows.
enum Status {
    ST_OK = 0,               // done
    ST_BAD_COMMAND = 1,      // unknown command
    ST_BAD_IMAGE = 2,        // the memory image is corrupt, truncated or of another version
    ST_IMAGE_TOO_LARGE = 3,  // the task does not fit this build's on-chip buffers
    ST_BAD_LENGTH = 4,       // sentence length is 0 or above the task's max_len
    ST_NO_TASK = 5,          // no task is loaded
    ST_NO_PHASE1 = 6,        // phase 2 was requested without a phase 1 before it
    ST_BAD_STOP_LAYER = 7,   // phase 2 stop layer is outside 2..layers
    ST_BAD_TOKEN = 8,        // a token id or type is outside the vocabulary
    ST_NO_TABLES = 9,        // the shared function tables are not loaded
    ST_BAD_EMBEDDING = 10,   // the embedding image is missing, corrupt or does not match the task's embedding width
};

// Result words (int32) the phase commands write; the loads write only the counters.
enum Result {
    R_EXIT_LAYER = 0,         // phase 1: 1 if it exits at layer 1, else 0; phase 2: the exit layer
    R_PREDICTED = 1,          // predicted exit layer (phase 1)
    R_EXIT_NOW = 2,           // phase 1: 1 if layer 1's entropy is below the threshold
    R_H1 = 3,                 // layer-1 entropy, Q.16
    R_LOGITS = 4,             // EB_MAX_CLASSES words: the exit layer's logits
    R_ENTROPY = 8,            // EB_MAX_LAYERS words: entropy of layer l at R_ENTROPY + l - 1
    R_COUNTERS = 24,          // N_COUNTERS counters, two words each (low, high)
    R_PREDICTED_BINNED = 46,  // predicted exit layer of the binned predictor (phase 1)
    RESULT_WORDS = 48
};

// Per-phase counters the hardware keeps (eb_schedule.h's Counters).
enum Counter {
    C_CYCLES = 0,         // all cycles of the phase (the sum of the next six)
    C_LINEAR = 1,         // weight matmuls of the layer and the E -> H projection
    C_ATTENTION = 2,      // Q K^T and P V
    C_SOFTMAX = 3,        // softmax rows
    C_LAYERNORM = 4,      // LayerNorm rows
    C_EMBED = 5,          // embedding row fetches from DDR and the word + position + type sum
    C_OFFRAMP = 6,        // pooler and classifier matmuls, entropy, exit gate and predictor
    C_MACS = 7,           // multiply-accumulates issued (real lanes only)
    C_OFFCHIP_WORDS = 8,  // 32-bit words read from DDR during the phase
    C_SATURATIONS = 9,    // saturation events
    C_GATED_MACS = 10,    // MACs with a zero operand, clock-gated (a subset of MACS; no cycle skipped)
    N_COUNTERS = 11
};

// ---- schedule: cycles of one pass of each operator (cost.py computes with them) ----
const int MAC_PIPE = 4;          // MAC array pipeline fill (operand read, multiply, accumulate, requantize), per matmul
const int SOFTMAX_PASSES = 3;    // max; exp + sum; normalize + span mask
const int LAYERNORM_PASSES = 3;  // sum; sum of squares; normalize + gain + beta
const int DIV_CYCLES = 48;       // radix-2 divider, one quotient bit per cycle
const int ISQRT_CYCLES = 31;     // bit-serial square root of a 62-bit sum
const int LOG_CYCLES = 2;        // priority encoder + ln(1+f) table
const int AXI_LATENCY = 16;      // DDR read latency of one burst (one embedding row)
const int BINNED_CYCLES = 2;     // binned predictor: entropy/length bins and layer-1 argmax; table read

}  // namespace eb

#endif  // EB_INTERFACE_H
