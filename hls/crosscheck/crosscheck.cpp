// Cross-check driver: the accelerator's kernels and hls4ml's nnet_utils kernels on the same
// fixed-point inputs. Built and driven by host/sim/hls4ml_check.py (edgebert csim crosscheck).
//
// Usage: crosscheck OP < int64 words > float64 values, both raw little-endian arrays.
// Every input word is an ap_fixed<16,6> (Q5.10) value unless named otherwise; every output is a
// real value, one row per case with one column per implementation:
//   dense      rows | weights [IN][OUT] | bias [OUT] | x [rows][IN]
//              -> edgebert, hls4ml exact accumulator, hls4ml all ap_fixed<16,6>
//   softmax    exp2 table | rows | scores [rows][N] -> edgebert, hls4ml stable, hls4ml latency
//   layernorm  rows | eps (edgebert's integer units) | gamma [W] | beta [W] | gain [W] (edgebert's
//              gamma sqrt(W), Q.16) | x [rows][W] -> edgebert, hls4ml default, hls4ml widened
//   pwl        gelu table | tanh table | count | x [count]
//              -> edgebert GELU, edgebert tanh, hls4ml tanh, GELU composed from hls4ml's tanh
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "nnet_utils/nnet_activation.h"
#include "nnet_utils/nnet_dense.h"
#include "nnet_utils/nnet_layernorm.h"

#include "eb_layernorm.h"
#include "eb_mac.h"
#include "eb_pwl.h"
#include "eb_softmax.h"

#ifndef XC_DENSE_IN
#define XC_DENSE_IN 64
#endif
#ifndef XC_DENSE_OUT
#define XC_DENSE_OUT 32
#endif
#ifndef XC_SOFTMAX_N
#define XC_SOFTMAX_N 64
#endif
#ifndef XC_LN_WIDTH
#define XC_LN_WIDTH 768
#endif

namespace {

const int FRAC = 10;                       // ap_fixed<16,6>: 10 fraction bits
const double LSB = 1.0 / (1 << FRAC);

// What a user gets from hls4ml's config for an ap_fixed<16,6> model: truncation, wrap-around.
typedef ap_fixed<16, 6> data_t;
typedef ap_fixed<16, 6, AP_RND, AP_SAT> data_rnd_t;

struct Input {
    std::vector<int64_t> v;
    size_t at = 0;
    int64_t next() {
        if (at >= v.size()) {
            std::fprintf(stderr, "crosscheck: input too short\n");
            std::exit(2);
        }
        return v[at++];
    }
};

Input read_all() {
    Input in;
    int64_t buf[4096];
    size_t got;
    while ((got = std::fread(buf, sizeof(int64_t), 4096, stdin)) > 0) in.v.insert(in.v.end(), buf, buf + got);
    return in;
}

data_t word(int64_t w) {
    data_t x;
    x.range(15, 0) = w;                    // the raw two's-complement word, no rounding
    return x;
}

void put(double x) { std::fwrite(&x, sizeof(double), 1, stdout); }

// ---- dense: one matmul row + bias ---------------------------------------------------------------
struct dense_base : nnet::dense_config {
    static const unsigned n_in = XC_DENSE_IN;
    static const unsigned n_out = XC_DENSE_OUT;
    static const unsigned multiplier_limit = n_in * n_out;
    template <class data_T, class res_T, class CONFIG_T> using kernel = nnet::DenseLatency<data_T, res_T, CONFIG_T>;
    template <class x_T, class y_T> using product = nnet::product::mult<x_T, y_T>;
    typedef ap_fixed<16, 6> weight_t;
    typedef ap_fixed<16, 6> bias_t;
};
// The exact accumulator hls4ml infers per layer (granularity='name': 16 + 16 + log2(64) + 1 bits),
// rounded and saturated once into a 16-bit output: the same arithmetic as edgebert's requantizer.
struct dense_exact : dense_base {
    typedef ap_fixed<39, 19> accum_t;
};
// granularity='model': every product truncated into ap_fixed<16,6> before it is summed.
struct dense_default : dense_base {
    typedef ap_fixed<16, 6> accum_t;
};

struct AFetch {
    const std::vector<int64_t> *x;
    int k;
    eb::wide_t operator()(int i, int j) const { return eb::wide_t((*x)[size_t(i) * k + j]); }
};
struct BFetch {
    const std::vector<int64_t> *w;
    int cols;
    eb::wide_t operator()(int k, int j) const { return eb::wide_t((*w)[size_t(k) * cols + j]); }
};
struct Drain {
    const std::vector<int64_t> *bias;
    std::vector<int64_t> *y;
    int cols;
    eb::SatCounter sat;
    void operator()(int i, int j, eb::wide_t acc) {
        // Q.20 accumulator into Q.10 with the bias: shift = 20 - 10
        (*y)[size_t(i) * cols + j] = int64_t(eb::requantize(acc, FRAC, eb::wide_t((*bias)[j]), sat));
    }
};

int run_dense(Input &in) {
    const int IN = XC_DENSE_IN, OUT = XC_DENSE_OUT;
    const int rows = int(in.next());
    std::vector<int64_t> w(size_t(IN) * OUT), b(OUT), x(size_t(rows) * IN), y(size_t(rows) * OUT);
    for (auto &v : w) v = in.next();
    for (auto &v : b) v = in.next();
    for (auto &v : x) v = in.next();

    eb::Counters cnt;
    cnt.reset();
    Drain drain{&b, &y, OUT, eb::SatCounter()};
    eb::mac_array<eb::mac_config>(rows, OUT, IN, AFetch{&x, IN}, BFetch{&w, OUT}, drain, cnt, eb::C_LINEAR);

    static data_t hw[IN * OUT], hb[OUT];   // hls4ml's layout is weights[in * n_out + out] too
    for (int i = 0; i < IN * OUT; i++) hw[i] = word(w[i]);
    for (int j = 0; j < OUT; j++) hb[j] = word(b[j]);
    for (int r = 0; r < rows; r++) {
        data_t xr[IN];
        data_rnd_t exact[OUT];
        data_t plain[OUT];
        for (int i = 0; i < IN; i++) xr[i] = word(x[size_t(r) * IN + i]);
        nnet::dense<data_t, data_rnd_t, dense_exact>(xr, exact, hw, hb);
        nnet::dense<data_t, data_t, dense_default>(xr, plain, hw, hb);
        for (int j = 0; j < OUT; j++) {
            put(double(y[size_t(r) * OUT + j]) * LSB);
            put(exact[j].to_double());
            put(plain[j].to_double());
        }
    }
    return 0;
}

// ---- softmax: one row of attention scores -------------------------------------------------------
// What hls4ml's converter emits for a Softmax on ap_fixed<16,6> input (granularity='name'):
// 1024-entry tables; ap_fixed<18,8,AP_RND,AP_SAT> table, sum and reciprocal-input types; the
// stable variant addresses its exp table with x_max - x in ap_ufixed<15,5>.
struct softmax_base : nnet::activ_config {
    static const unsigned n_in = XC_SOFTMAX_N;
    static const unsigned n_slice = XC_SOFTMAX_N;
    static const unsigned n_outer = 1;
    static const unsigned n_inner = 1;
    static const unsigned exp_table_size = 1024;
    static const unsigned inv_table_size = 1024;
    static constexpr float exp_scale = 1.0;
    typedef ap_fixed<18, 8, AP_RND, AP_SAT> exp_table_t;
    typedef ap_fixed<18, 8, AP_RND, AP_SAT> inv_table_t;
    typedef ap_fixed<18, 8, AP_RND, AP_SAT> accum_t;
    typedef ap_fixed<18, 8, AP_RND, AP_SAT> inv_inp_t;
};
struct softmax_stable : softmax_base {
    static const nnet::softmax_implementation implementation = nnet::softmax_implementation::stable;
    typedef ap_ufixed<15, 5> inp_norm_t;
};
struct softmax_latency : softmax_base {
    static const nnet::softmax_implementation implementation = nnet::softmax_implementation::latency;
    typedef ap_fixed<1, 0> inp_norm_t;
};

int run_softmax(Input &in) {
    const int N = XC_SOFTMAX_N;
    std::vector<eb::table_word_t> exp2(eb::EXP2_LEN);
    for (auto &v : exp2) v = eb::table_word_t(in.next());
    const int rows = int(in.next());
    eb::prob_t span[EB_MAX_LEN];
    for (int j = 0; j < EB_MAX_LEN; j++) span[j] = eb::prob_t(1 << eb::PROB_FRAC);   // no span mask
    for (int r = 0; r < rows; r++) {
        eb::act_t scores[N];
        data_t xr[N], stable[N], latency[N];
        eb::prob_t probs[N];
        for (int j = 0; j < N; j++) {
            const int64_t w = in.next();
            scores[j] = eb::act_t(w);
            xr[j] = word(w);
        }
        eb::Counters cnt;
        cnt.reset();
        eb::softmax_row<eb::softmax_config>(scores, N, 0, FRAC, exp2.data(), span, probs, cnt);
        nnet::softmax<data_t, data_t, softmax_stable>(xr, stable);
        nnet::softmax<data_t, data_t, softmax_latency>(xr, latency);
        for (int j = 0; j < N; j++) {
            put(double(probs[j]) / (1 << eb::PROB_FRAC));
            put(stable[j].to_double());
            put(latency[j].to_double());
        }
    }
    return 0;
}

// ---- LayerNorm: one row of hidden activations ---------------------------------------------------
typedef ap_fixed<33, 13> ln_out_t;         // the converter's inferred result type: no output rounding
struct ln_base : nnet::layernorm_config {
    static const unsigned n_in = XC_LN_WIDTH;
    static const unsigned seq_len = 1;
    static const unsigned epsilon_power_of_10 = 5;   // eps = 1e-5, as edgebert's models
    static const unsigned table_range_power2 = 0;
    static const unsigned table_size = 4096;
    typedef ap_fixed<16, 6> scale_t;
    typedef ap_fixed<16, 6> bias_t;
    template <class x_T, class y_T> using product = nnet::product::mult<x_T, y_T>;
};
// What hls4ml's converter emits for LayerNorm(768, eps=1e-5) (the Vivado backend's defaults).
struct ln_default : ln_base {
    typedef ap_fixed<14, 4, AP_RND_CONV, AP_SAT> accum_t;
    typedef ap_ufixed<8, 5, AP_RND_CONV, AP_SAT> table_t;
};
// Wider types a user would pick for a 768-wide row: the sum and the sum of squares fit, and the
// table holds 1/sqrt(1e-5) = 316.
struct ln_wide : ln_base {
    typedef ap_fixed<32, 16, AP_RND_CONV, AP_SAT> accum_t;
    typedef ap_ufixed<18, 10, AP_RND_CONV, AP_SAT> table_t;
};

int run_layernorm(Input &in) {
    const int W = XC_LN_WIDTH;
    const int rows = int(in.next());
    const int64_t eps_q = in.next();
    static data_t gamma[W], beta[W];
    static eb::act_t beta_w[W];
    static eb::gain_t gain[W];
    for (int j = 0; j < W; j++) gamma[j] = word(in.next());
    for (int j = 0; j < W; j++) {
        const int64_t w = in.next();
        beta[j] = word(w);
        beta_w[j] = eb::act_t(w);
    }
    for (int j = 0; j < W; j++) gain[j] = eb::gain_t(in.next());
    for (int r = 0; r < rows; r++) {
        static eb::act_t xw[W], yw[W];
        static data_t xr[W];
        static ln_out_t plain[W], wide[W];
        for (int j = 0; j < W; j++) {
            const int64_t w = in.next();
            xw[j] = eb::act_t(w);
            xr[j] = word(w);
        }
        eb::SatCounter sat;
        eb::Counters cnt;
        cnt.reset();
        eb::layernorm_row<eb::layernorm_config>(xw, W, FRAC, gain, beta_w, eps_q, yw, sat, cnt);
        nnet::layernormalize<data_t, ln_out_t, ln_default>(xr, plain, gamma, beta);
        nnet::layernormalize<data_t, ln_out_t, ln_wide>(xr, wide, gamma, beta);
        for (int j = 0; j < W; j++) {
            put(double(int64_t(yw[j])) * LSB);
            put(plain[j].to_double());
            put(wide[j].to_double());
        }
    }
    return 0;
}

// ---- GELU and tanh ------------------------------------------------------------------------------
// What hls4ml's converter emits for a Tanh: 1024 entries over [-4, 4), ap_fixed<18,8> entries.
struct tanh_cfg : nnet::activ_config {
    static const unsigned n_in = 1;
};

data_t hls_tanh(data_t x) {
    data_t in[1] = {x}, out[1];
    nnet::tanh<data_t, data_t, tanh_cfg>(in, out);
    return out[0];
}

// hls4ml has no GELU kernel; this is GELU's tanh form built around nnet::tanh, the polynomial in
// a wider type so that x^3 does not wrap.
data_t hls_gelu(data_t x) {
    typedef ap_fixed<32, 12, AP_RND, AP_SAT> poly_t;
    const poly_t c = 0.7978845608028654, a = 0.044715, xp = x;
    const data_rnd_t u = c * (xp + a * xp * xp * xp);
    const poly_t t = hls_tanh(data_t(u));
    return data_t(poly_t(0.5) * xp * (poly_t(1) + t));
}

int run_pwl(Input &in) {
    std::vector<eb::table_word_t> gelu_tab(eb::GELU_LEN), tanh_tab(eb::TANH_LEN);
    for (auto &v : gelu_tab) v = eb::table_word_t(in.next());
    for (auto &v : tanh_tab) v = eb::table_word_t(in.next());
    const int64_t count = in.next();
    eb::SatCounter sat;
    for (int64_t i = 0; i < count; i++) {
        const int64_t w = in.next();
        const data_t x = word(w);
        put(double(int64_t(eb::gelu(eb::wide_t(w), FRAC, FRAC, gelu_tab.data(), sat))) * LSB);
        put(double(int64_t(eb::tanh_q14(eb::wide_t(w), FRAC, tanh_tab.data()))) / (1 << eb::TANH_FRAC));
        put(hls_tanh(x).to_double());
        put(hls_gelu(x).to_double());
    }
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    const std::string op = argc > 1 ? argv[1] : "";
    if (op == "shape") {                   // the compile-time sizes, for the Python side
        std::printf("%d %d %d %d\n", XC_DENSE_IN, XC_DENSE_OUT, XC_SOFTMAX_N, XC_LN_WIDTH);
        return 0;
    }
    Input in = read_all();
    if (op == "dense") return run_dense(in);
    if (op == "softmax") return run_softmax(in);
    if (op == "layernorm") return run_layernorm(in);
    if (op == "pwl") return run_pwl(in);
    std::fprintf(stderr, "usage: crosscheck shape|dense|softmax|layernorm|pwl < int64 words\n");
    return 2;
}
