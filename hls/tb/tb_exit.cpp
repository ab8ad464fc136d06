// Exit gate and both predictors. exit.txt: EdgeBERT's table on the first line, then one case per
// line. binned.txt: the length edges and the binned cells on the first line, then one case per line.
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
    tb::Vectors g(tb::vectors_dir(argc, argv) + "/binned.txt");
    if (!g.line(v)) { std::fprintf(stderr, "binned.txt: no table\n"); return 2; }
    tb::Cursor bh(v);
    int32_t edges[EB_BIN_LEN - 1];
    for (int e = 0; e < EB_BIN_LEN - 1; e++) edges[e] = int32_t(bh.next());
    std::vector<uint8_t> bins(EB_BIN_H * EB_BIN_LEN * EB_MAX_CLASSES);
    for (size_t i = 0; i < bins.size(); i++) bins[i] = uint8_t(bh.next());
    for (long c = 0; g.line(v); c++) {
        tb::Cursor r(v);
        const eb::entropy_t h1 = eb::entropy_t(r.next()), thr = eb::entropy_t(r.next());
        const int length = int(r.next()), answer = int(r.next());
        const long long want = r.next();
        eb::Counters cnt;
        cnt.reset();
        const long long got = eb::predict_binned(h1, thr, length, answer, bins.data(), edges, cnt);
        t.check(got == want, c, "binned predicted layer", got, want);
        t.check(cnt.v[eb::C_OFFRAMP] == eb::BINNED_CYCLES, c, "binned cycles", cnt.v[eb::C_OFFRAMP],
                eb::BINNED_CYCLES);
    }
    return t.finish();
}
