// GELU and tanh tables: every case (dense sweep and domain edges) against the golden model.
#include "eb_pwl.h"
#include "tb_common.h"

int main(int argc, char **argv) {
    const std::string dir = tb::vectors_dir(argc, argv);
    tb::Tables tabs(dir);
    tb::Vectors f(dir + "/pwl.txt");
    tb::Tally t("gelu_tanh");
    std::vector<long long> v;
    for (long c = 0; f.line(v); c++) {
        tb::Cursor r(v);
        const int kind = int(r.next()), frac = int(r.next()), out_frac = int(r.next());
        const long long x = r.next(), want = r.next();
        eb::SatCounter sat;
        const long long got = kind == 0 ? (long long)eb::gelu(x, frac, out_frac, tabs.gelu.data(), sat)
                                        : (long long)eb::tanh_q14(x, frac, tabs.tanh.data());
        t.check(got == want, c, kind == 0 ? "gelu" : "tanh", got, want);
    }
    return t.finish();
}
