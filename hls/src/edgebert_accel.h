// The EdgeBERT layer engine: on-chip state and the four commands (load shared tables, load a
// task, phase 1, phase 2). The synthesizable top function (edgebert_top.cpp) and the C-sim
// bridge (bridge.cpp) both call accel_call(); the top keeps one static State, the bridge one
// per handle.
#ifndef EDGEBERT_ACCEL_H
#define EDGEBERT_ACCEL_H

#include "eb_af.h"
#include "eb_entropy.h"
#include "eb_exit.h"
#include "eb_image.h"
#include "eb_layernorm.h"
#include "eb_mac.h"
#include "eb_pwl.h"
#include "eb_softmax.h"

namespace eb {

const int MAX_MATRICES = M_RAMPS + 2 * EB_MAX_LAYERS;
const int MAX_VECTORS = V_RAMPS + 2 * EB_MAX_LAYERS;
// The weight store (EdgeBERT's bitmask-sparse weight buffer, eb_mac.h): the encoder's matrices
// and, unless they stay in DDR, the off-ramps. Its code capacity is EB_WEIGHT_DENSITY percent of
// the dense size (a task with more non-zeros is refused); masks and tile starts are per tile.
const long RAMP_DENSE = long(EB_MAX_H) * EB_MAX_H + long(EB_MAX_CLASSES) * EB_MAX_H;   // one layer's
const long RAMP_MASKS = long(EB_MAX_H) * lane_tiles(EB_MAX_H) + long(EB_MAX_H) * lane_tiles(EB_MAX_CLASSES);
const long RAMP_TILES = lane_tiles(EB_MAX_H) + lane_tiles(EB_MAX_CLASSES);
const long ON_CHIP_RAMPS = EB_RAMPS_IN_DDR ? 0L : long(EB_MAX_LAYERS);
const long LINEAR_DENSE = long(EB_MAX_E) * EB_MAX_H + 4L * EB_MAX_H * EB_MAX_H + 2L * EB_MAX_H * EB_MAX_FFN
                          + ON_CHIP_RAMPS * RAMP_DENSE;
const long WCODE_WORDS = (LINEAR_DENSE * EB_WEIGHT_DENSITY + 99) / 100;
const long WMASK_WORDS = long(EB_MAX_E) * lane_tiles(EB_MAX_H) + 4L * EB_MAX_H * lane_tiles(EB_MAX_H)
                         + long(EB_MAX_H) * lane_tiles(EB_MAX_FFN) + long(EB_MAX_FFN) * lane_tiles(EB_MAX_H)
                         + ON_CHIP_RAMPS * RAMP_MASKS;
const long WTILE_WORDS = 6L * lane_tiles(EB_MAX_H) + lane_tiles(EB_MAX_FFN)   // E->H, Q, K, V, O, FFN2; FFN1
                         + ON_CHIP_RAMPS * RAMP_TILES;
const long TBUF_WORDS = long(EB_MAX_LEN) * EB_MAX_E + long(EB_MAX_TYPES) * EB_MAX_E;   // position, type: dense
const long VBUF_WORDS = 8L * EB_MAX_H + EB_MAX_FFN + EB_MAX_E
                        + long(EB_MAX_LAYERS) * (EB_MAX_H + EB_MAX_CLASSES);
const long GBUF_WORDS = EB_MAX_E + 2L * EB_MAX_H;
const int PRED_COLS = EB_MAX_LAYERS - 2;

struct MatrixDesc {
    long offset;        // position and type tables: into tbuf
    long mask_at;       // the others: their masks and tile starts in the weight store
    long tile_at;
    int rows, cols;     // (out, in)
    int af_bias;
};

struct State {
    // ---- loaded once per bitstream ----
    bool tables_loaded;
    table_word_t exp2[EXP2_LEN], gelu[GELU_LEN], tanh[TANH_LEN], ln1p[LN1P_LEN];
    // ---- loaded once per task ----
    bool task_loaded;
    int E, H, heads, head_dim, ffn, layers, max_len, task_max_len, classes, types;
    long image_words;                  // the task image's length (DDR-resident off-ramps)
    int frac[N_SITES];
    int64_t eps_emb, eps_hid;
    uint32_t live_heads;
    MatrixDesc mat[MAX_MATRICES];
    long vec_off[MAX_VECTORS];
    long gain_off[N_GAINS];
    code_t wcodes[WCODE_WORDS];
    lane_mask_t wmask[WMASK_WORDS];
    uint32_t wtile[WTILE_WORDS];
    code_t tbuf[TBUF_WORDS];
    // With EB_RAMPS_IN_DDR the off-ramps stay in the task image in DDR and are fetched, one
    // layer's pooler and classifier at a time, into this staging store (the same format).
    code_t rcodes[EB_RAMPS_IN_DDR ? RAMP_DENSE : 1];
    lane_mask_t rmask[EB_RAMPS_IN_DDR ? RAMP_MASKS : 1];
    uint32_t rtile[EB_RAMPS_IN_DDR ? RAMP_TILES : 1];
    long ramp_at[2 * EB_MAX_LAYERS];     // word offset of each ramp matrix record in the image
    long ramp_words[2 * EB_MAX_LAYERS];  // and its length in words
    act_t vbuf[VBUF_WORDS];
    gain_t gbuf[GBUF_WORDS];
    prob_t span[EB_MAX_HEADS][EB_MAX_LEN];
    entropy_t predictor[EB_PRED_ROWS * PRED_COLS];
    int32_t bin_edges[EB_BIN_LEN - 1];
    uint8_t bins[EB_BIN_H * EB_BIN_LEN * EB_MAX_CLASSES];
    // ---- per sentence ----
    bool phase1_done;
    int len;
    act_t x[EB_MAX_LEN][EB_MAX_H];         // the hidden state, kept on chip between phases
    act_t q[EB_MAX_LEN][EB_MAX_H], k[EB_MAX_LEN][EB_MAX_H], v[EB_MAX_LEN][EB_MAX_H];
    act_t ctx[EB_MAX_LEN][EB_MAX_H], tmp[EB_MAX_LEN][EB_MAX_H];
    act_t ffn_buf[EB_MAX_LEN][EB_MAX_FFN];
    act_t emb[EB_MAX_LEN][EB_MAX_E];
    act_t scores[EB_MAX_LEN][EB_MAX_LEN];
    prob_t probs[EB_MAX_LEN][EB_MAX_LEN];
    SatCounter sat;
    Counters cnt;
};

inline uint32_t u32(const bus_t &w) {
#ifdef EB_NATIVE_TYPES
    return w;
#else
    return w.to_uint();
#endif
}

// ---- operand fetch and drain functors for the MAC array ------------------------------------
struct ActRows {                      // A(i, k) = base[i * stride + k]
    const act_t *base;
    int stride;
    act_t operator()(int i, int k) const { return base[i * stride + k]; }
};
struct ProbRows {
    const prob_t *base;
    int stride;
    prob_t operator()(int i, int k) const { return base[i * stride + k]; }
};
struct ActCols {                      // B(k, j) = base[j * stride + k]  (K^T)
    const act_t *base;
    int stride;
    act_t operator()(int k, int j) const { return base[j * stride + k]; }
};

struct LinearOut {                    // requantize + bias [+ residual], saturating
    act_t *y;
    int stride, shift;
    const act_t *bias;
    const act_t *residual;            // null: none
    SatCounter *sat;
    void operator()(int i, int j, wide_t acc) {
        wide_t v = requantize(acc, shift, bias ? wide_t(bias[j]) : wide_t(0), *sat);
        if (residual) v = sat->clip16(v + wide_t(residual[i * stride + j]));
        y[i * stride + j] = act_t(v);
    }
};
struct GeluOut {                      // requantize + bias, then GELU on the drain path
    act_t *y;
    int stride, shift, frac;
    const act_t *bias;
    const table_word_t *tab;
    SatCounter *sat;
    void operator()(int i, int j, wide_t acc) {
        const wide_t h = requantize(acc, shift, wide_t(bias[j]), *sat);
        y[i * stride + j] = act_t(gelu(h, frac, frac, tab, *sat));
    }
};

// The operand fetch of matrix m from the weight store (or the DDR off-ramps' staging store).
inline SparseCols weights(State &s, int m) {
    const MatrixDesc &d = s.mat[m];
    const bool staged = EB_RAMPS_IN_DDR && m >= M_RAMPS;
    SparseCols b = {staged ? s.rcodes : s.wcodes, &(staged ? s.rmask : s.wmask)[d.mask_at],
                    &(staged ? s.rtile : s.wtile)[d.tile_at], d.cols, 0};
    return b;
}

// ---- operators -------------------------------------------------------------------------------
// y = x W^T + b for rows of x (x_frac fraction bits), into out_frac.
inline void linear(State &s, const act_t *x, int x_stride, int rows, int x_frac, int m, int vec,
                   int out_frac, act_t *y, int y_stride, const act_t *residual, Counter kind) {
    const MatrixDesc &d = s.mat[m];
    ActRows a = {x, x_stride};
    SparseCols b = weights(s, m);
    LinearOut out = {y, y_stride, x_frac + AF_FIXED_SHIFT - d.af_bias - out_frac,
                     &s.vbuf[s.vec_off[vec]], residual, &s.sat};
    mac_array<mac_config>(rows, d.rows, d.cols, a, b, out, s.cnt, kind);
}

inline void embed(State &s, const bus_t *embedding, const bus_t *tokens) {
    const int idx_off = int(u32(embedding[EH_INDEX_AT]));
    const int rec_off = int(u32(embedding[EH_RECORDS_AT])), af_bias = int(int32_t(u32(embedding[EH_AF_BIAS])));
    const int mask_words = ceil_div(s.E, 32);
    const MatrixDesc &pos = s.mat[M_POSITION], &typ = s.mat[M_TYPE];
    for (int t = 0; t < s.len; t++) {
        const uint32_t tok = u32(tokens[t]);
        const int id = int(tok & 0xFFFF), type = int(tok >> 16);
        const uint32_t rec = u32(embedding[idx_off + id]);
        const int rec_words = int(u32(embedding[idx_off + id + 1]) - rec);
        const long base = long(rec_off) + rec;
        int code_i = 0;
        for (int c = 0; c < s.E; c++) {
            const bool nz = (u32(embedding[base + c / 32]) >> (c % 32)) & 1;
            wide_t word = 0;
            if (nz) {
                const uint32_t w = u32(embedding[base + mask_words + code_i / 4]);
                word = af_word(int((w >> (8 * (code_i % 4))) & 0xFF));
                code_i++;
            }
            // At the scale 2^(EB_AF_BIAS_MIN - 14) every term is an integer below 2^(12 + 31).
            wide_t total = shl(word, af_bias - EB_AF_BIAS_MIN);
            total += shl(wide_t(af_word(int(s.tbuf[pos.offset + long(t) * pos.cols + c]))), pos.af_bias - EB_AF_BIAS_MIN);
            total += shl(wide_t(af_word(int(s.tbuf[typ.offset + long(type) * typ.cols + c]))),
                         typ.af_bias - EB_AF_BIAS_MIN);
            s.emb[t][c] = act_t(s.sat.clip16(round_shift(total, AF_FIXED_SHIFT - EB_AF_BIAS_MIN - s.frac[F_EMB])));
        }
        s.cnt.cycles(C_EMBED, 2 * AXI_LATENCY + 1 + rec_words + ceil_div(s.E, N));
        s.cnt.v[C_OFFCHIP_WORDS] += 1 + rec_words;
    }
    for (int t = 0; t < s.len; t++)
        layernorm_row<layernorm_config>(s.emb[t], s.E, s.frac[F_EMB], &s.gbuf[s.gain_off[G_EMBED]],
                      &s.vbuf[s.vec_off[V_EMBED_BETA]], s.eps_emb, s.emb[t], s.sat, s.cnt);
    linear(s, &s.emb[0][0], EB_MAX_E, s.len, s.frac[F_EMB], M_EMBED_PROJ, V_EMBED_PROJ,
           s.frac[F_HIDDEN], &s.x[0][0], EB_MAX_H, 0, C_LINEAR);
}

inline void attention(State &s) {
    const int n = s.len, d = s.head_dim;
    const int fh = s.frac[F_HIDDEN];
    linear(s, &s.x[0][0], EB_MAX_H, n, fh, M_Q, V_Q, s.frac[F_Q], &s.q[0][0], EB_MAX_H, 0, C_LINEAR);
    linear(s, &s.x[0][0], EB_MAX_H, n, fh, M_K, V_K, s.frac[F_K], &s.k[0][0], EB_MAX_H, 0, C_LINEAR);
    linear(s, &s.x[0][0], EB_MAX_H, n, fh, M_V, V_V, s.frac[F_V], &s.v[0][0], EB_MAX_H, 0, C_LINEAR);
    for (int h = 0; h < s.heads; h++) {
        if (!((s.live_heads >> h) & 1)) {       // span 0: dropped from the schedule
            for (int i = 0; i < n; i++)
                for (int j = 0; j < d; j++) s.ctx[i][h * d + j] = 0;
            continue;
        }
        ActRows qa = {&s.q[0][h * d], EB_MAX_H};
        ActCols kb = {&s.k[0][h * d], EB_MAX_H};
        LinearOut so = {&s.scores[0][0], EB_MAX_LEN, s.frac[F_Q] + s.frac[F_K] - s.frac[F_SCORE], 0, 0, &s.sat};
        mac_array<mac_config>(n, n, d, qa, kb, so, s.cnt, C_ATTENTION);
        for (int i = 0; i < n; i++)
            softmax_row<softmax_config>(s.scores[i], n, i, s.frac[F_SCORE], s.exp2, s.span[h], s.probs[i], s.cnt);
        ProbRows pa = {&s.probs[0][0], EB_MAX_LEN};
        ActRows vb = {&s.v[0][h * d], EB_MAX_H};        // B(k, j) = V[k][j]
        LinearOut co = {&s.ctx[0][h * d], EB_MAX_H, PROB_FRAC, 0, 0, &s.sat};
        mac_array<mac_config>(n, d, n, pa, vb, co, s.cnt, C_ATTENTION);
    }
    linear(s, &s.ctx[0][0], EB_MAX_H, n, s.frac[F_V], M_O, V_O, fh, &s.tmp[0][0], EB_MAX_H,
           &s.x[0][0], C_LINEAR);
}

inline void encoder_layer(State &s) {
    const int n = s.len, fh = s.frac[F_HIDDEN], ff = s.frac[F_FFN];
    attention(s);                                             // tmp = x + attention(x)
    for (int i = 0; i < n; i++)
        layernorm_row<layernorm_config>(s.tmp[i], s.H, fh, &s.gbuf[s.gain_off[G_LN1]], &s.vbuf[s.vec_off[V_LN1_BETA]],
                      s.eps_hid, s.x[i], s.sat, s.cnt);
    const MatrixDesc &w1 = s.mat[M_FFN1];
    ActRows a1 = {&s.x[0][0], EB_MAX_H};
    SparseCols b1 = weights(s, M_FFN1);
    GeluOut g = {&s.ffn_buf[0][0], EB_MAX_FFN, fh + AF_FIXED_SHIFT - w1.af_bias - ff, ff,
                 &s.vbuf[s.vec_off[V_FFN1]], s.gelu, &s.sat};
    mac_array<mac_config>(n, w1.rows, w1.cols, a1, b1, g, s.cnt, C_LINEAR);
    linear(s, &s.ffn_buf[0][0], EB_MAX_FFN, n, ff, M_FFN2, V_FFN2, fh, &s.tmp[0][0], EB_MAX_H,
           &s.x[0][0], C_LINEAR);
    for (int i = 0; i < n; i++)
        layernorm_row<layernorm_config>(s.tmp[i], s.H, fh, &s.gbuf[s.gain_off[G_LN2]], &s.vbuf[s.vec_off[V_LN2_BETA]],
                      s.eps_hid, s.x[i], s.sat, s.cnt);
}

// A weight store being filled: its arrays, capacities and fill levels.
struct Store {
    code_t *codes;
    lane_mask_t *masks;
    uint32_t *tiles;
    long code_cap, mask_cap, tile_cap;
    long code_n, mask_n, tile_n;
};

inline Store staging_store(State &s) {
    Store st = {s.rcodes, s.rmask, s.rtile, EB_RAMPS_IN_DDR ? RAMP_DENSE : 1, EB_RAMPS_IN_DDR ? RAMP_MASKS : 1,
                EB_RAMPS_IN_DDR ? RAMP_TILES : 1, 0, 0, 0};
    return st;
}

inline int pack_record(const bus_t *img, long pos, long words, int rows, int cols, Store &st, long &end);

// Off-ramp l's pooler and classifier from the task image in DDR into the staging store.
inline void fetch_ramp(State &s, const bus_t *image, int l) {
    Store st = staging_store(s);
    for (int k = 0; k < 2; k++) {
        const int m = M_RAMPS + 2 * l + k;
        const MatrixDesc &d = s.mat[m];
        long end = 0;
        pack_record(image, s.ramp_at[2 * l + k], s.image_words, d.rows, d.cols, st, end);
        const long words = s.ramp_words[2 * l + k];
        s.cnt.cycles(C_OFFRAMP, AXI_LATENCY + words);
        s.cnt.v[C_OFFCHIP_WORDS] += words;
    }
}

// Off-ramp of layer l (0-based) on the [CLS] row: logits (words) and entropy (Q.16).
inline entropy_t off_ramp(State &s, const bus_t *image, int l, wide_t *logits) {
    act_t pooled[EB_MAX_H], t[EB_MAX_H], z[EB_MAX_CLASSES];
    if (EB_RAMPS_IN_DDR) fetch_ramp(s, image, l);
    linear(s, &s.x[0][0], EB_MAX_H, 1, s.frac[F_HIDDEN], M_RAMPS + 2 * l, V_RAMPS + 2 * l,
           s.frac[F_POOL], pooled, EB_MAX_H, 0, C_OFFRAMP);
    for (int j = 0; j < s.H; j++) t[j] = act_t(tanh_q14(pooled[j], s.frac[F_POOL], s.tanh));
    linear(s, t, EB_MAX_H, 1, TANH_FRAC, M_RAMPS + 2 * l + 1, V_RAMPS + 2 * l + 1, s.frac[F_LOGIT], z,
           EB_MAX_CLASSES, 0, C_OFFRAMP);
    for (int c = 0; c < s.classes; c++) logits[c] = z[c];
    return entropy_t(entropy_q16<entropy_config>(logits, s.classes, s.frac[F_LOGIT], s.exp2, s.ln1p, s.cnt));
}

// ---- commands ----------------------------------------------------------------------------------
struct Reader {                       // sequential reads from an image, never past its end
    const bus_t *img;
    long pos, words;
    bool ok;
    uint32_t next() {
        if (pos >= words) { ok = false; return 0; }
        return u32(img[pos++]);
    }
};

inline int load_shared(State &s, const bus_t *img, long words) {
    Reader r = {img, 0, words, true};
    if (r.next() != SHARED_MAGIC || r.next() != IMAGE_VERSION) return ST_BAD_IMAGE;
    const int lens[4] = {EXP2_LEN, GELU_LEN, TANH_LEN, LN1P_LEN};
    table_word_t *tabs[4] = {s.exp2, s.gelu, s.tanh, s.ln1p};
    for (int t = 0; t < 4; t++)
        if (int(r.next()) != lens[t]) return ST_BAD_IMAGE;
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < lens[t]; i++) tabs[t][i] = table_word_t(int32_t(r.next()));
    if (!r.ok || r.pos != words) return ST_BAD_IMAGE;
    s.tables_loaded = true;
    s.cnt.v[C_CYCLES] += words;
    s.cnt.v[C_OFFCHIP_WORDS] += words;
    return ST_OK;
}

// The header of the matrix record at `pos` checked against (rows, cols); the image positions of
// its bitmask and codes, its non-zero count, and `end`, the word after the record.
inline int record_layout(const bus_t *img, long pos, long words, int rows, int cols, long &mask_pos,
                         long &codes_pos, long &nnz, long &end) {
    if (pos + 4 > words) return ST_BAD_IMAGE;
    const int r_rows = int(u32(img[pos])), r_cols = int(u32(img[pos + 1])), bias = int(int32_t(u32(img[pos + 2])));
    nnz = long(u32(img[pos + 3]));
    if (r_rows != rows || r_cols != cols || bias < EB_AF_BIAS_MIN || bias > EB_AF_BIAS_MAX) return ST_BAD_IMAGE;
    const long size = long(rows) * cols;
    mask_pos = pos + 4;
    codes_pos = mask_pos + (size + 31) / 32;
    end = codes_pos + (nnz + 3) / 4;
    return nnz > size || end > words ? int(ST_BAD_IMAGE) : int(ST_OK);
}

inline bool mask_bit(const bus_t *img, long mask_pos, long e) { return (u32(img[mask_pos + e / 32]) >> (e % 32)) & 1; }
inline code_t image_code(const bus_t *img, long codes_pos, long i) {
    return code_t((u32(img[codes_pos + i / 4]) >> (8 * (i % 4))) & 0xFF);
}

// A position or type table (first `keep_rows` rows) dense into dst.
inline int decode_record(const bus_t *img, long pos, long words, code_t *dst, int rows, int cols, int keep_rows,
                         long &end) {
    long mask_pos, codes_pos, nnz;
    const int st = record_layout(img, pos, words, rows, cols, mask_pos, codes_pos, nnz, end);
    if (st != ST_OK) return st;
    long ci = 0;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            code_t c = 0;
            if (mask_bit(img, mask_pos, long(i) * cols + j)) {
                if (ci >= nnz) return ST_BAD_IMAGE;
                c = image_code(img, codes_pos, ci++);
                if ((int(c) & 0x7F) == 0) return ST_BAD_IMAGE;          // zero among the non-zeros
            }
            if (i < keep_rows) dst[long(i) * cols + j] = c;
        }
    return ci == nnz ? int(ST_OK) : int(ST_BAD_IMAGE);
}

// A weight matrix (rows = outputs, cols = inputs) into the store's bitmask-sparse tiles. The
// image lists the non-zeros row by row; a tile takes N rows side by side, so each of its lanes
// keeps a read position in its own row.
inline int pack_record(const bus_t *img, long pos, long words, int rows, int cols, Store &st, long &end) {
    long mask_pos, codes_pos, nnz;
    int status = record_layout(img, pos, words, rows, cols, mask_pos, codes_pos, nnz, end);
    if (status != ST_OK) return status;
    const long tiles = lane_tiles(rows);
    if (st.tile_n + tiles > st.tile_cap || st.mask_n + tiles * cols > st.mask_cap) return ST_IMAGE_TOO_LARGE;
    long rank = 0;                    // the image position of the tile's first code
    for (long t = 0; t < tiles; t++) {
        long next[N];                 // each lane's read position in the image's codes
        long at = rank;
        for (int j = 0; j < N; j++) {
            next[j] = at;
            const long i = t * N + j;
            if (i < rows)
                for (int k = 0; k < cols; k++) at += mask_bit(img, mask_pos, i * cols + k);
        }
        if (at > nnz) return ST_BAD_IMAGE;
        st.tiles[st.tile_n++] = uint32_t(st.code_n);
        for (int k = 0; k < cols; k++) {
            lane_mask_t m = 0;
            for (int j = 0; j < N; j++) {
                const long i = t * N + j;
                if (i >= rows || !mask_bit(img, mask_pos, i * cols + k)) continue;
                const code_t c = image_code(img, codes_pos, next[j]++);
                if ((int(c) & 0x7F) == 0) return ST_BAD_IMAGE;          // zero among the non-zeros
                if (st.code_n >= st.code_cap) return ST_IMAGE_TOO_LARGE;
                st.codes[st.code_n++] = c;
                m |= lane_mask_t(lane_mask_t(1) << j);
            }
            st.masks[st.mask_n++] = m;
        }
        rank = at;
    }
    return rank == nnz ? int(ST_OK) : int(ST_BAD_IMAGE);
}

// One matrix of the task image: a position or type table dense into tbuf, any other into the
// weight store (a DDR-resident off-ramp only checked and located; fetch_ramp packs it per layer).
inline int load_matrix(State &s, Reader &r, int m, Store &w, long &tpos, int rows, int cols, int keep_rows) {
    MatrixDesc &d = s.mat[m];
    const bool in_ddr = EB_RAMPS_IN_DDR && m >= M_RAMPS;
    const long at = r.pos;
    long end = 0;
    int st = ST_OK;
    d.rows = keep_rows;
    d.cols = cols;
    if (m == M_POSITION || m == M_TYPE) {
        if (tpos + long(keep_rows) * cols > TBUF_WORDS) return ST_IMAGE_TOO_LARGE;
        st = decode_record(r.img, r.pos, r.words, &s.tbuf[tpos], rows, cols, keep_rows, end);
        d.offset = tpos;
        tpos += long(keep_rows) * cols;
    } else if (in_ddr) {
        Store check = staging_store(s);
        st = pack_record(r.img, r.pos, r.words, rows, cols, check, end);
        const int k = m - M_RAMPS;
        s.ramp_at[k] = at;
        s.ramp_words[k] = end - at;
        // fetch_ramp packs the pooler, then the classifier, from the start of the staging store.
        d.mask_at = (k % 2) ? long(s.H) * lane_tiles(s.H) : 0;
        d.tile_at = (k % 2) ? lane_tiles(s.H) : 0;
    } else {
        d.mask_at = w.mask_n;
        d.tile_at = w.tile_n;
        st = pack_record(r.img, r.pos, r.words, rows, cols, w, end);
    }
    if (st != ST_OK) return st;
    d.af_bias = int(int32_t(u32(r.img[at + 2])));
    r.pos = end;
    return ST_OK;
}

// One vector of the task image ({len}, len words) into buf at pos; off records where.
template <class T>
int load_vector(Reader &r, long &pos, long capacity, long len, T *buf, long &off) {
    if (long(r.next()) != len || !r.ok) return ST_BAD_IMAGE;
    if (pos + len > capacity) return ST_IMAGE_TOO_LARGE;
    off = pos;
    for (long i = 0; i < len; i++) buf[pos + i] = T(int32_t(r.next()));
    pos += len;
    return r.ok ? ST_OK : ST_BAD_IMAGE;
}

inline int load_task(State &s, const bus_t *img, long words) {
    s.task_loaded = false;
    s.phase1_done = false;
    if (words < TASK_HEADER_WORDS) return ST_BAD_IMAGE;
    uint32_t h[TASK_HEADER_WORDS];
    for (int i = 0; i < TASK_HEADER_WORDS; i++) h[i] = u32(img[i]);
    if (h[TH_MAGIC] != TASK_MAGIC || h[TH_VERSION] != IMAGE_VERSION || long(h[TH_TOTAL_WORDS]) != words)
        return ST_BAD_IMAGE;
    s.E = int(h[TH_E]); s.H = int(h[TH_H]); s.heads = int(h[TH_HEADS]); s.ffn = int(h[TH_FFN]);
    s.layers = int(h[TH_LAYERS]); s.task_max_len = int(h[TH_MAX_LEN]); s.classes = int(h[TH_CLASSES]);
    // A task trained for longer sentences than this build holds runs sentences up to EB_MAX_LEN.
    s.max_len = s.task_max_len < EB_MAX_LEN ? s.task_max_len : EB_MAX_LEN;
    s.types = int(h[TH_TYPES]);
    if (s.E < 1 || s.H < 1 || s.heads < 1 || s.ffn < 1 || s.classes < 2 || s.types < 1 || s.layers < 2
        || s.task_max_len < 1 || s.H % s.heads)
        return ST_BAD_IMAGE;
    if (s.E > EB_MAX_E || s.H > EB_MAX_H || s.heads > EB_MAX_HEADS || s.ffn > EB_MAX_FFN
        || s.layers > EB_MAX_LAYERS || s.classes > EB_MAX_CLASSES
        || s.types > EB_MAX_TYPES)
        return ST_IMAGE_TOO_LARGE;
    s.head_dim = s.H / s.heads;
    for (int f = 0; f < N_SITES; f++) {
        s.frac[f] = int(h[TH_FRAC_EMB + f]);
        if (s.frac[f] < 0 || s.frac[f] > 15) return ST_BAD_IMAGE;
    }
    s.eps_emb = int64_t(h[TH_EPS_EMB_LO]) | (int64_t(h[TH_EPS_EMB_HI]) << 32);
    s.eps_hid = int64_t(h[TH_EPS_HID_LO]) | (int64_t(h[TH_EPS_HID_HI]) << 32);
    s.live_heads = h[TH_LIVE_HEADS];
    if (s.eps_emb < 0 || s.eps_emb >= LN_EPS_LIMIT || s.eps_hid < 0 || s.eps_hid >= LN_EPS_LIMIT)
        return ST_BAD_IMAGE;

    Reader r = {img, TASK_HEADER_WORDS, words, true};
    Store w = {s.wcodes, s.wmask, s.wtile, WCODE_WORDS, WMASK_WORDS, WTILE_WORDS, 0, 0, 0};
    long tpos = 0;
    const int H = s.H, E = s.E, F = s.ffn, C = s.classes;
    const int shapes[M_RAMPS][2] = {{H, E}, {H, H}, {H, H}, {H, H}, {H, H}, {F, H}, {H, F},
                                    {s.task_max_len, E}, {s.types, E}};
    int st = ST_OK;
    for (int m = 0; m < M_RAMPS && st == ST_OK; m++)
        st = load_matrix(s, r, m, w, tpos, shapes[m][0], shapes[m][1], m == M_POSITION ? s.max_len : shapes[m][0]);
    for (int l = 0; l < s.layers && st == ST_OK; l++) {
        st = load_matrix(s, r, M_RAMPS + 2 * l, w, tpos, H, H, H);
        if (st == ST_OK) st = load_matrix(s, r, M_RAMPS + 2 * l + 1, w, tpos, C, H, C);
    }
    long vpos = 0;
    const long vlens[V_RAMPS] = {H, H, H, H, H, F, H, E, H, H};
    for (int v = 0; v < V_RAMPS && st == ST_OK; v++)
        st = load_vector(r, vpos, VBUF_WORDS, vlens[v], s.vbuf, s.vec_off[v]);
    for (int l = 0; l < s.layers && st == ST_OK; l++) {
        st = load_vector(r, vpos, VBUF_WORDS, H, s.vbuf, s.vec_off[V_RAMPS + 2 * l]);
        if (st == ST_OK) st = load_vector(r, vpos, VBUF_WORDS, C, s.vbuf, s.vec_off[V_RAMPS + 2 * l + 1]);
    }
    long gpos = 0;
    const long glens[N_GAINS] = {E, H, H};
    for (int g = 0; g < N_GAINS && st == ST_OK; g++)
        st = load_vector(r, gpos, GBUF_WORDS, glens[g], s.gbuf, s.gain_off[g]);
    if (st != ST_OK) return st;
    for (int hd = 0; hd < s.heads; hd++)
        for (int d = 0; d < s.task_max_len; d++) {
            const prob_t v = prob_t(r.next());
            if (d < s.max_len) s.span[hd][d] = v;
        }
    for (int row = 0; row < EB_PRED_ROWS; row++)
        for (int j = 0; j < s.layers - 2; j++) s.predictor[row * PRED_COLS + j] = entropy_t(int32_t(r.next()));
    for (int e = 0; e < EB_BIN_LEN - 1; e++) s.bin_edges[e] = int32_t(r.next());
    for (int w = 0; w < EB_BIN_H * EB_BIN_LEN * EB_MAX_CLASSES / 4; w++) {
        const uint32_t word = r.next();
        for (int b = 0; b < 4; b++) {
            const int layer = int((word >> (8 * b)) & 0xFF);
            if (layer < 2 || layer > s.layers) return ST_BAD_IMAGE;
            s.bins[4 * w + b] = uint8_t(layer);
        }
    }
    if (!r.ok || r.pos != words) return ST_BAD_IMAGE;
    // Loading reads the image except the DDR-resident off-ramps.
    long read = words;
    if (EB_RAMPS_IN_DDR)
        for (int k = 0; k < 2 * s.layers; k++) read -= s.ramp_words[k];
    s.image_words = words;
    s.cnt.v[C_CYCLES] += read;
    s.cnt.v[C_OFFCHIP_WORDS] += read;
    s.task_loaded = true;
    return ST_OK;
}

inline void put64(bus_t *out, int at, int64_t v) {
    out[at] = bus_t(uint32_t(uint64_t(v) & 0xFFFFFFFFu));
    out[at + 1] = bus_t(uint32_t(uint64_t(v) >> 32));
}

inline void write_results(State &s, bus_t *out, int exit_layer, const wide_t *logits) {
    out[R_EXIT_LAYER] = bus_t(uint32_t(exit_layer));
    for (int c = 0; c < EB_MAX_CLASSES; c++)
        out[R_LOGITS + c] = bus_t(uint32_t(int32_t(c < s.classes ? int64_t(logits[c]) : 0)));
    s.cnt.v[C_SATURATIONS] = s.sat.count;
    for (int i = 0; i < N_COUNTERS; i++) put64(out, R_COUNTERS + 2 * i, s.cnt.v[i]);
}

inline int check_embedding(const State &s, const bus_t *emb) {
    if (u32(emb[EH_MAGIC]) != EMBED_MAGIC || u32(emb[EH_VERSION]) != IMAGE_VERSION
        || int(u32(emb[EH_COLS])) != s.E || int32_t(u32(emb[EH_AF_BIAS])) < EB_AF_BIAS_MIN
        || int32_t(u32(emb[EH_AF_BIAS])) > EB_AF_BIAS_MAX)
        return ST_BAD_EMBEDDING;
    return ST_OK;
}

// Phase 1: embed + layer 1 + off-ramp 1 + exit gate + both predicted exit layers.
inline int phase1(State &s, const bus_t *image, const bus_t *embedding, const bus_t *tokens, int length,
                  int threshold, bus_t *out) {
    s.phase1_done = false;
    if (!s.tables_loaded) return ST_NO_TABLES;
    if (!s.task_loaded) return ST_NO_TASK;
    if (length < 1 || length > s.max_len) return ST_BAD_LENGTH;
    int st = check_embedding(s, embedding);
    if (st != ST_OK) return st;
    const uint32_t vocab = u32(embedding[EH_ROWS]);
    for (int t = 0; t < length; t++) {
        const uint32_t tok = u32(tokens[t]);
        if ((tok & 0xFFFF) >= vocab || int(tok >> 16) >= s.types) return ST_BAD_TOKEN;
    }
    s.len = length;
    s.sat.count = 0;
    s.cnt.reset();
    embed(s, embedding, tokens);
    encoder_layer(s);
    wide_t logits[EB_MAX_CLASSES];
    const entropy_t h1 = off_ramp(s, image, 0, logits);
    const int predicted = predict_exit_layer(h1, threshold, s.predictor, s.layers, s.cnt);
    const int binned = predict_binned(h1, threshold, length, first_argmax(logits, s.classes), s.bins,
                                      s.bin_edges, s.cnt);
    const bool exit_now = h1 < threshold;
    for (int l = 0; l < EB_MAX_LAYERS; l++) out[R_ENTROPY + l] = 0;
    out[R_ENTROPY] = bus_t(uint32_t(h1));
    out[R_H1] = bus_t(uint32_t(h1));
    out[R_PREDICTED] = bus_t(uint32_t(predicted));
    out[R_PREDICTED_BINNED] = bus_t(uint32_t(binned));
    out[R_EXIT_NOW] = bus_t(uint32_t(exit_now ? 1 : 0));
    write_results(s, out, exit_now ? 1 : 0, logits);
    s.phase1_done = true;
    return ST_OK;
}

// Phase 2: layers 2..stop_layer from the on-chip hidden state, leaving at the first entropy
// below the threshold.
inline int phase2(State &s, const bus_t *image, int threshold, int stop_layer, bus_t *out) {
    if (!s.task_loaded) return ST_NO_TASK;
    if (!s.phase1_done) return ST_NO_PHASE1;
    if (stop_layer < 2 || stop_layer > s.layers) return ST_BAD_STOP_LAYER;
    s.phase1_done = false;                 // the hidden state moves on: phase 2 runs once
    s.sat.count = 0;
    s.cnt.reset();
    wide_t logits[EB_MAX_CLASSES];
    for (int l = 0; l < EB_MAX_LAYERS; l++) out[R_ENTROPY + l] = 0;
    int layer = 2;
    for (; layer <= stop_layer; layer++) {
        encoder_layer(s);
        const entropy_t h = off_ramp(s, image, layer - 1, logits);
        out[R_ENTROPY + layer - 1] = bus_t(uint32_t(h));
        s.cnt.cycles(C_OFFRAMP, 1);        // exit gate compare
        if (h < threshold) break;
    }
    write_results(s, out, layer > stop_layer ? stop_layer : layer, logits);
    return ST_OK;
}

inline int accel_call(State &s, int cmd, const bus_t *image, int image_words, const bus_t *embedding,
                      const bus_t *tokens, int length, int threshold, int stop_layer, bus_t *results) {
    switch (cmd) {
    case CMD_LOAD_SHARED:
    case CMD_LOAD_TASK: {
        s.cnt.reset();
        const int st = cmd == CMD_LOAD_SHARED ? load_shared(s, image, image_words)
                                              : load_task(s, image, image_words);
        for (int i = 0; i < N_COUNTERS; i++) put64(results, R_COUNTERS + 2 * i, s.cnt.v[i]);
        return st;
    }
    case CMD_PHASE1: return phase1(s, image, embedding, tokens, length, threshold, results);
    case CMD_PHASE2: return phase2(s, image, threshold, stop_layer, results);
    default: return ST_BAD_COMMAND;
    }
}

}  // namespace eb

#endif
