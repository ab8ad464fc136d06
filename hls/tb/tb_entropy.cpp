// Natural log and off-ramp entropy against the golden model.
#include "eb_entropy.h"
#include "tb_common.h"

int main(int argc, char **argv) {
    const std::string dir = tb::vectors_dir(argc, argv);
    tb::Tables tabs(dir);
    tb::Vectors f(dir + "/entropy.txt");
    tb::Tally t("ln_entropy");
    std::vector<long long> v;
    for (long c = 0; f.line(v); c++) {
        tb::Cursor r(v);
        const int kind = int(r.next());
        if (kind == 0) {                        // ln of an integer z >= 1, Q.16
            const long long z = r.next(), want = r.next();
            const long long got = (long long)eb::ln_q16(z, tabs.ln1p.data());
            t.check(got == want, c, "ln", got, want);
            continue;
        }
        const int classes = int(r.next()), frac = int(r.next());
        eb::wide_t logits[EB_MAX_CLASSES];
        for (int k = 0; k < classes; k++) logits[k] = r.next();
        const long long want = r.next(), want_cycles = r.next();
        eb::Counters cnt;
        cnt.reset();
        const long long got = (long long)eb::entropy_q16<eb::entropy_config>(logits, classes, frac, tabs.exp2.data(),
                                                         tabs.ln1p.data(), cnt);
        t.check(got == want, c, "entropy", got, want);
        t.check(cnt.v[eb::C_CYCLES] == want_cycles, c, "cycles", cnt.v[eb::C_CYCLES], want_cycles);
    }
    return t.finish();
}
