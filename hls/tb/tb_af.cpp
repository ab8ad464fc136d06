// AdaptivFloat decode: every code against the golden word.
#include "eb_af.h"
#include "tb_common.h"

int main(int argc, char **argv) {
    tb::Vectors f(tb::vectors_dir(argc, argv) + "/af.txt");
    tb::Tally t("adaptivfloat_decode");
    std::vector<long long> v;
    for (long c = 0; f.line(v); c++) {
        tb::Cursor r(v);
        const int code = int(r.next());
        const long long want = r.next();
        const long long got = eb::af_word(code);
        t.check(got == want, c, "word", got, want);
    }
    return t.finish();
}
