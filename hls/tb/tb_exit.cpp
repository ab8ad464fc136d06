// Exit gate and predictor table: the first line holds the table, then one case per line.
#include "eb_exit.h"
#include "tb_common.h"

int main(int argc, char **argv) {
    tb::Vectors f(tb::vectors_dir(argc, argv) + "/exit.txt");
    tb::Tally t("exit_predictor");
    std::vector<long long> v;
    if (!f.line(v)) { std::fprintf(stderr, "exit.txt: no table\n"); return 2; }
    tb::Cursor head(v);
    const int layers = int(head.next());
    std::vector<eb::entropy_t> table(EB_PRED_ROWS * (EB_MAX_LAYERS - 2), 0);
    for (int row = 0; row < EB_PRED_ROWS; row++)
        for (int j = 0; j < layers - 2; j++) table[row * (EB_MAX_LAYERS - 2) + j] = eb::entropy_t(head.next());
    for (long c = 0; f.line(v); c++) {
        tb::Cursor r(v);
        const eb::entropy_t h1 = eb::entropy_t(r.next()), thr = eb::entropy_t(r.next());
        const long long want = r.next();
        eb::Counters cnt;
        cnt.reset();
        const long long got = eb::predict_exit_layer(h1, thr, table.data(), layers, cnt);
        t.check(got == want, c, "predicted layer", got, want);
    }
    return t.finish();
}
