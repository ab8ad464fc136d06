// LayerNorm (exact integer square root and reciprocal): random rows against the golden model.
#include "eb_layernorm.h"
#include "tb_common.h"

int main(int argc, char **argv) {
    tb::Vectors f(tb::vectors_dir(argc, argv) + "/layernorm.txt");
    tb::Tally t("layernorm");
    std::vector<long long> v;
    for (long c = 0; f.line(v); c++) {
        tb::Cursor r(v);
        const int width = int(r.next()), out_frac = int(r.next());
        const long long eps = r.next(), want_cycles = r.next();
        std::vector<eb::act_t> x(width), beta(width), y(width);
        std::vector<eb::gain_t> gain(width);
        for (int j = 0; j < width; j++) x[j] = eb::act_t(r.next());
        for (int j = 0; j < width; j++) gain[j] = eb::gain_t(r.next());
        for (int j = 0; j < width; j++) beta[j] = eb::act_t(r.next());
        eb::SatCounter sat;
        eb::Counters cnt;
        cnt.reset();
        eb::layernorm_row<eb::layernorm_config>(x.data(), width, out_frac, gain.data(), beta.data(), eps, y.data(), sat, cnt);
        bool ok = true;
        for (int j = 0; j < width && ok; j++) {
            const long long want = r.next();
            if ((long long)y[j] != want) { t.check(false, c, "output", (long long)y[j], want); ok = false; }
        }
        const long long want_sat = r.next();
        t.check(ok && sat.count == want_sat, c, "saturations", sat.count, want_sat);
        t.check(cnt.v[eb::C_CYCLES] == want_cycles, c, "cycles", cnt.v[eb::C_CYCLES], want_cycles);
    }
    // The square root alone, on edge cases and random 62-bit values.
    tb::Vectors g(tb::vectors_dir(argc, argv) + "/isqrt.txt");
    for (long c = 0; g.line(v); c++) {
        tb::Cursor r(v);
        const unsigned long long q = (unsigned long long)r.next();
        const long long want = r.next(), got = (long long)eb::isqrt62(q);
        t.check(got == want, c, "isqrt", got, want);
    }
    return t.finish();
}
