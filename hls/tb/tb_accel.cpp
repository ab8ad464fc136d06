// Full-accelerator testbench: loads the memory images, runs every sentence through phase 1 and
// phase 2 and compares logits, entropies, exit and both predicted layers, saturations, the cycle
// counts and the MACs with a zero operand with the golden model and the cost model (vectors
// from host/sim/vectors.py).
//
// Built two ways: against the C-sim bridge (bridge.cpp; also the AddressSanitizer +
// UndefinedBehaviorSanitizer build), or with -DEB_TB_TOP against the synthesizable top function
// (the Vitis HLS csim/cosim testbench).
#include <cstdint>

#include "tb_common.h"
#include "eb_image.h"
#include "eb_schedule.h"

#ifdef EB_TB_TOP
#include "edgebert_top.h"
#else
extern "C" {
void *eb_create();
void eb_destroy(void *);
void eb_set_embedding(void *, const uint32_t *, long);
int eb_call(void *, int, const uint32_t *, int, const uint32_t *, int, int, int, uint32_t *);
}
#endif

static std::vector<uint32_t> read_words(const std::string &path) {
    std::ifstream in(path.c_str(), std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "cannot open %s\n", path.c_str());
        std::exit(2);
    }
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<uint32_t> w(bytes.size() / 4);
    for (size_t i = 0; i < w.size(); i++)
        w[i] = uint32_t((unsigned char)bytes[4 * i]) | uint32_t((unsigned char)bytes[4 * i + 1]) << 8
               | uint32_t((unsigned char)bytes[4 * i + 2]) << 16 | uint32_t((unsigned char)bytes[4 * i + 3]) << 24;
    return w;
}

struct Device {
    std::vector<uint32_t> embedding;
#ifdef EB_TB_TOP
    std::vector<eb::bus_t> emb_bus, task;     // DDR: the embedding and the loaded task's image
    explicit Device(const std::vector<uint32_t> &emb) : embedding(emb), emb_bus(emb.begin(), emb.end()) {}
    int call(int cmd, const std::vector<uint32_t> &image, const std::vector<uint32_t> &tokens, int thr,
             int stop, uint32_t *results) {
        std::vector<eb::bus_t> img(image.begin(), image.end()), tok(tokens.begin(), tokens.end());
        if (cmd == eb::CMD_LOAD_TASK) task = img;
        if ((cmd == eb::CMD_PHASE1 || cmd == eb::CMD_PHASE2) && !task.empty()) img = task;
        std::vector<eb::bus_t> res(eb::RESULT_WORDS);
        if (img.empty()) img.push_back(0);
        if (tok.empty()) tok.push_back(0);
        const int st = edgebert_top(cmd, img.data(), int(img.size()), emb_bus.data(), tok.data(),
                                    int(tokens.size()), thr, stop, res.data());
        for (int i = 0; i < eb::RESULT_WORDS; i++) results[i] = uint32_t(eb::u32(res[i]));
        return st;
    }
#else
    void *h;
    explicit Device(const std::vector<uint32_t> &emb) : embedding(emb), h(eb_create()) {
        eb_set_embedding(h, embedding.data(), long(embedding.size()));
    }
    ~Device() { eb_destroy(h); }
    int call(int cmd, const std::vector<uint32_t> &image, const std::vector<uint32_t> &tokens, int thr,
             int stop, uint32_t *results) {
        return eb_call(h, cmd, image.empty() ? 0 : image.data(), int(image.size()),
                       tokens.empty() ? 0 : tokens.data(), int(tokens.size()), thr, stop, results);
    }
#endif
};

static void expect(tb::Tally &t, tb::Cursor &r, long c, const char *what, long long got) {
    const long long want = r.next();
    t.check(got == want, c, what, got, want);
}

static long long counter(const uint32_t *res, int c) {
    return (long long)((uint64_t(res[eb::R_COUNTERS + 2 * c + 1]) << 32) | res[eb::R_COUNTERS + 2 * c]);
}

int main(int argc, char **argv) {
    const std::string dir = tb::vectors_dir(argc, argv);
    const std::vector<uint32_t> none;
    Device dev(read_words(dir + "/embedding.u32"));
    uint32_t res[eb::RESULT_WORDS];
    tb::Tally t("accelerator");
    if (dev.call(eb::CMD_LOAD_SHARED, read_words(dir + "/shared.u32"), none, 0, 0, res) != eb::ST_OK ||
        dev.call(eb::CMD_LOAD_TASK, read_words(dir + "/task.u32"), none, 0, 0, res) != eb::ST_OK) {
        std::printf("loading the images failed\n");
        return 1;
    }
    tb::Vectors f(dir + "/sentences.txt");
    std::vector<long long> v;
    long sentences = 0, sentences_failed = 0;
    for (long c = 0; f.line(v); c++) {
        tb::Cursor r(v);
        sentences++;
        const int policy = int(r.next()), thr = int(r.next()), n = int(r.next()), layers = int(r.next());
        std::vector<uint32_t> tokens(n);
        for (int i = 0; i < n; i++) tokens[i] = uint32_t(r.next());
        bool ok = dev.call(eb::CMD_PHASE1, none, tokens, thr, 0, res) == eb::ST_OK;
        const long long h1 = int32_t(res[eb::R_H1]), exit_now = res[eb::R_EXIT_NOW];
        const long long predicted = res[eb::R_PREDICTED], cycles1 = counter(res, eb::C_CYCLES);
        const long long binned = res[eb::R_PREDICTED_BINNED];
        long long sat = counter(res, eb::C_SATURATIONS), cycles2 = 0, exit_layer = 1;
        const long long gated1 = counter(res, eb::C_GATED_MACS);
        long long gated2 = 0;
        std::vector<long long> ents(1, h1);
        if (ok && !exit_now) {
            const int stop = policy == 1 ? (predicted < 2 ? 2 : int(predicted)) : layers;
            ok = dev.call(eb::CMD_PHASE2, none, none, thr, stop, res) == eb::ST_OK;
            exit_layer = res[eb::R_EXIT_LAYER];
            for (int l = 2; l <= exit_layer; l++) ents.push_back(int32_t(res[eb::R_ENTROPY + l - 1]));
            cycles2 = counter(res, eb::C_CYCLES);
            sat += counter(res, eb::C_SATURATIONS);
            gated2 = counter(res, eb::C_GATED_MACS);
        }
        const long before = t.failed;
        t.check(ok, c, "status ok", ok, 1);
        expect(t, r, c, "H1", h1);
        expect(t, r, c, "exit now", exit_now);
        expect(t, r, c, "predicted layer", predicted);
        expect(t, r, c, "binned predicted layer", binned);
        expect(t, r, c, "exit layer", exit_layer);
        const int classes = int(r.next());
        for (int k = 0; k < classes; k++) expect(t, r, c, "logit", int32_t(res[eb::R_LOGITS + k]));
        const long long n_ents = r.next();
        t.check((long long)ents.size() == n_ents, c, "entropies run", (long long)ents.size(), n_ents);
        for (long long l = 0; l < n_ents; l++)
            expect(t, r, c, "entropy", l < (long long)ents.size() ? ents[l] : -1);
        expect(t, r, c, "saturations", sat);
        expect(t, r, c, "phase 1 cycles", cycles1);
        expect(t, r, c, "phase 2 cycles", cycles2);
        expect(t, r, c, "phase 1 gated macs", gated1);
        expect(t, r, c, "phase 2 gated macs", gated2);
        sentences_failed += t.failed > before;
    }
    std::printf("sentences: %ld passed, %ld failed\n", sentences - sentences_failed, sentences_failed);
    return t.finish();
}
