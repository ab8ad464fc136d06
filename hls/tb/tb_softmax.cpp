// Softmax with the span mask: random score rows against the golden probabilities.
#include "eb_softmax.h"
#include "tb_common.h"

int main(int argc, char **argv) {
    const std::string dir = tb::vectors_dir(argc, argv);
    tb::Tables tabs(dir);
    tb::Vectors f(dir + "/softmax.txt");
    tb::Tally t("softmax_span");
    std::vector<long long> v;
    for (long c = 0; f.line(v); c++) {
        tb::Cursor r(v);
        const int len = int(r.next()), row = int(r.next()), frac = int(r.next());
        const long long want_cycles = r.next();
        eb::act_t scores[EB_MAX_LEN];
        eb::prob_t span[EB_MAX_LEN], probs[EB_MAX_LEN];
        for (int j = 0; j < len; j++) scores[j] = eb::act_t(r.next());
        for (int j = 0; j < len; j++) span[j] = eb::prob_t(r.next());
        eb::Counters cnt;
        cnt.reset();
        eb::softmax_row<eb::softmax_config>(scores, len, row, frac, tabs.exp2.data(), span, probs, cnt);
        bool ok = true;
        for (int j = 0; j < len && ok; j++) {
            const long long want = r.next();
            if (probs[j] != want) { t.check(false, c, "probability", probs[j], want); ok = false; }
        }
        if (ok) t.check(true, c, "", 0, 0);
        t.check(cnt.v[eb::C_CYCLES] == want_cycles, c, "cycles", cnt.v[eb::C_CYCLES], want_cycles);
    }
    return t.finish();
}
