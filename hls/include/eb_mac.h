// The n x n MAC array and the requantizer on its drain path.
//
// Output-stationary: each tile of N output rows x N output columns accumulates over K cycles
// (one operand pair per lane per cycle), then its N^2 results drain through the requantizer, N
// per cycle: a tile costs K + N cycles, and a matmul adds the pipeline fill MAC_PIPE once.
// Lanes beyond the real rows/columns are idle (zero operands, clock-gated): the cycle count is
// that of whole tiles, and only real lanes are drained. Golden semantics:
// numerics.fixed.matmul_exact + requantize.
//
// Zero-operand gating: lane (i, j) is clock-gated in a cycle where its row operand or its
// column operand is zero (no cycle is skipped). The gate count of a cycle is
// mi nj - nz(row operands) nz(column operands), from the broadcast operands alone; C_GATED_MACS
// sums it over the real lanes (golden.gated_macs).
#ifndef EB_MAC_H
#define EB_MAC_H

#include "eb_af.h"
#include "eb_pragmas.h"
#include "eb_schedule.h"

namespace eb {

// acc (acc_frac fraction bits) + bias (in the output format) -> output word, rounded once,
// saturating: numerics.fixed.requantize. `shift` = acc_frac - out_frac.
inline wide_t requantize(wide_t acc, int shift, wide_t bias, SatCounter &sat) {
    const wide_t v = shift >= 0 ? round_shift(wide_t(acc + shl(bias, shift)), shift)
                                : wide_t(shl(acc, -shift) + bias);
    return sat.clip16(v);
}

// ---- bitmask-sparse weights (EdgeBERT's weight buffers) --------------------------------------
// A matrix is stored by tiles of N outputs. Per tile and input k: one N-bit lane mask (bit j: the
// weight of output j0 + j is non-zero) and the non-zero codes in lane order. The operand fetch
// walks a tile's codes in k order and expands them into the N column lanes (a prefix count over
// the mask routes each code to its lane): no cycle is added, and the zeros take no memory.
#ifdef EB_NATIVE_TYPES              // the narrowest word that holds EB_N bits (sizeof = the hardware's)
#if EB_N <= 8
typedef uint8_t lane_mask_t;
#elif EB_N <= 16
typedef uint16_t lane_mask_t;
#else
typedef uint32_t lane_mask_t;
#endif
#else
typedef ap_uint<EB_N> lane_mask_t;
#endif
static_assert(EB_N <= 32, "a lane mask is one word of at most 32 bits");

constexpr long lane_tiles(long outputs) { return (outputs + EB_N - 1) / EB_N; }

struct SparseCols {                   // B(k, j) = decoded weight of output j, input k
    const code_t *codes;              // the store's packed codes (tile_at holds absolute positions)
    const lane_mask_t *masks;         // this matrix's masks, tile after tile, K per tile
    const uint32_t *tile_at;          // this matrix's first code of each tile
    int K;
    long ptr;
    void start(int j0) { ptr = long(tile_at[j0 / N]); }
    template <class T>
    void lanes(int k, int j0, T *out) {
        const lane_mask_t m = masks[long(j0 / N) * K + k];
        for (int j = 0; j < N; j++) out[j] = ((m >> j) & 1) != 0 ? T(af_word(int(codes[ptr++]))) : T(0);
    }
};

// The column operands of one cycle: B(k, j) per lane from a dense fetcher; a sparse one expands
// its codes. Idle lanes (j >= nj) read zero either way.
template <class B>
struct ColumnOperands {
    static void start(B &, int) {}
    template <class T>
    static void lanes(B &b, int k, int j0, int nj, T *out) {
        for (int j = 0; j < N; j++) out[j] = j < nj ? T(b(k, j0 + j)) : T(0);
    }
};
template <>
struct ColumnOperands<SparseCols> {
    static void start(SparseCols &b, int j0) { b.start(j0); }
    template <class T>
    static void lanes(SparseCols &b, int k, int j0, int, T *out) { b.lanes(k, j0, out); }
};

// Build-time parameters of the array (one config struct per operator, as hls4ml's nnet_utils).
struct mac_config {
    static const int n = EB_N;               // n x n lanes
    static const int pipe = MAC_PIPE;        // pipeline fill, once per matmul
    typedef eb::operand_t operand_t;         // one lane's operand
    typedef eb::product_t product_t;
    typedef eb::mac_t accum_t;               // >= 40 bits (docs/numerics.md)
};

// C[i][j] = sum_k A(i, k) * B(k, j) for i < M, j < cols; `out(i, j, acc)` consumes each result.
// A and B are operand-fetch functors (activation buffers or decoded weight codes).
template <class CONFIG_T, class AFetch, class BFetch, class Out>
void mac_array(int M, int cols, int K, const AFetch &a, const BFetch &b, Out &out,
               Counters &cnt, Counter kind) {
    typedef typename CONFIG_T::operand_t operand_t;
    typedef typename CONFIG_T::product_t product_t;
    const int N = CONFIG_T::n;
    BFetch bf = b;                    // a sparse fetcher walks its codes
    for (int i0 = 0; i0 < M; i0 += N) {
        const int mi = M - i0 < N ? M - i0 : N;
        for (int j0 = 0; j0 < cols; j0 += N) {
            const int nj = cols - j0 < N ? cols - j0 : N;
            typename CONFIG_T::accum_t acc[N][N];
            EB_PARTITION_COMPLETE_ALL_DIMS(acc)
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++) acc[i][j] = 0;
            int64_t live = 0;            // operand pairs of real lanes with no zero operand
            ColumnOperands<BFetch>::start(bf, j0);
            for (int k = 0; k < K; k++) {
                EB_PIPELINE_II1
                // One cycle: N row operands and N column operands are broadcast across the
                // array; idle lanes see zeros.
                operand_t ak[N], bk[N];
                EB_PARTITION_COMPLETE(ak)
                EB_PARTITION_COMPLETE(bk)
                for (int i = 0; i < N; i++) ak[i] = i < mi ? operand_t(a(i0 + i, k)) : operand_t(0);
                ColumnOperands<BFetch>::lanes(bf, k, j0, nj, bk);
                int nz_a = 0, nz_b = 0;  // idle lanes carry zeros: they never count here
                for (int i = 0; i < N; i++) nz_a += ak[i] != 0;
                for (int j = 0; j < N; j++) nz_b += bk[j] != 0;
                live += nz_a * nz_b;
                for (int i = 0; i < N; i++) {
                    EB_UNROLL
                    for (int j = 0; j < N; j++) {
                        EB_UNROLL
                        acc[i][j] += product_t(ak[i] * bk[j]);
                    }
                }
            }
            for (int i = 0; i < mi; i++) {
                EB_PIPELINE_II1
                for (int j = 0; j < nj; j++) out(i0 + i, j0 + j, wide_t(acc[i][j]));
            }
            cnt.cycles(kind, K + N);
            cnt.v[C_MACS] += int64_t(mi) * nj * K;
            cnt.v[C_GATED_MACS] += int64_t(mi) * nj * K - live;
        }
    }
    cnt.cycles(kind, CONFIG_T::pipe);
}

}  // namespace eb

#endif
