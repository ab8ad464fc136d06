// MAC array + requantizer: random matmuls (partial tiles included) against the golden
// products, the cycle count against the cost model and the MACs with a zero operand against
// the golden count.
#include "eb_af.h"
#include "eb_mac.h"
#include "tb_common.h"

struct Acts {
    const std::vector<eb::act_t> *a;
    int k;
    eb::act_t operator()(int i, int kk) const { return (*a)[size_t(i) * k + kk]; }
};
struct Codes {
    const std::vector<eb::code_t> *w;   // transposed: [k][cols]
    int cols;
    int operator()(int kk, int j) const { return eb::af_word(int((*w)[size_t(kk) * cols + j])); }
};
struct Out {
    std::vector<long long> *y;
    int cols, shift;
    const std::vector<long long> *bias;
    eb::SatCounter *sat;
    void operator()(int i, int j, eb::wide_t acc) {
        (*y)[size_t(i) * cols + j] = (long long)eb::requantize(acc, shift, eb::wide_t((*bias)[j]), *sat);
    }
};

int main(int argc, char **argv) {
    tb::Vectors f(tb::vectors_dir(argc, argv) + "/mac.txt");
    tb::Tally t("mac_array");
    std::vector<long long> v;
    for (long c = 0; f.line(v); c++) {
        tb::Cursor r(v);
        const int n = int(r.next()), M = int(r.next()), cols = int(r.next()), K = int(r.next());
        const int shift = int(r.next());
        const long long want_cycles = r.next(), want_gated = r.next();
        if (n != eb::N) {
            std::printf("vectors are for an array of %d, this build has %d\n", n, eb::N);
            return 2;
        }
        std::vector<eb::act_t> a(size_t(M) * K);
        for (size_t i = 0; i < a.size(); i++) a[i] = eb::act_t(r.next());
        std::vector<eb::code_t> w(size_t(K) * cols);
        for (int j = 0; j < cols; j++)
            for (int kk = 0; kk < K; kk++) w[size_t(kk) * cols + j] = eb::code_t(r.next());
        std::vector<long long> bias(cols), y(size_t(M) * cols);
        for (int j = 0; j < cols; j++) bias[j] = r.next();
        eb::SatCounter sat;
        eb::Counters cnt;
        cnt.reset();
        Acts fa = {&a, K};
        Codes fb = {&w, cols};
        Out out = {&y, cols, shift, &bias, &sat};
        eb::mac_array<eb::mac_config>(M, cols, K, fa, fb, out, cnt, eb::C_LINEAR);
        bool ok = true;
        for (size_t i = 0; i < y.size(); i++) {
            const long long want = r.next();
            if (y[i] != want) { t.check(false, c, "output", y[i], want); ok = false; break; }
        }
        const long long want_sat = r.next();
        t.check(ok && sat.count == want_sat, c, "saturations", sat.count, want_sat);
        t.check(cnt.v[eb::C_CYCLES] == want_cycles, c, "cycles", cnt.v[eb::C_CYCLES], want_cycles);
        t.check(cnt.v[eb::C_MACS] == (long long)M * cols * K, c, "macs", cnt.v[eb::C_MACS], (long long)M * cols * K);
        t.check(cnt.v[eb::C_GATED_MACS] == want_gated, c, "gated macs", cnt.v[eb::C_GATED_MACS], want_gated);
    }
    return t.finish();
}
