// extern "C" bridge for Python (ctypes): one accelerator instance per handle, each running the
// same accel_call() as the synthesizable top function. Images are passed as uint32 arrays.
#include <new>
#include <vector>

#include "edgebert_accel.h"

namespace {
struct Handle {
    eb::State state;
    std::vector<eb::bus_t> embedding;   // the DDR copy of the embedding image
    std::vector<eb::bus_t> task_image;  // and of the loaded task's image (DDR-resident off-ramps)
};

std::vector<eb::bus_t> to_bus(const uint32_t *p, long n) {
    std::vector<eb::bus_t> v(n > 0 ? n : 1);
    for (long i = 0; i < n; i++) v[i] = eb::bus_t(p[i]);
    return v;
}
}  // namespace

extern "C" {

void *eb_create() {
    Handle *h = new (std::nothrow) Handle();
    if (!h) return 0;
    h->state.tables_loaded = h->state.task_loaded = h->state.phase1_done = false;
    return h;
}

void eb_destroy(void *h) { delete static_cast<Handle *>(h); }

int eb_n() { return eb::N; }

// Build limits, in the order of LIMIT_NAMES (model_export/accel/interface.py): N, MAX_LEN, MAX_E,
// MAX_H, MAX_FFN, MAX_HEADS, MAX_LAYERS, MAX_CLASSES, native types (1) or ap types (0), off-ramps
// in DDR (1) or on chip (0).
void eb_limits(int *out) {
    const int v[10] = {EB_N, EB_MAX_LEN, EB_MAX_E, EB_MAX_H, EB_MAX_FFN, EB_MAX_HEADS, EB_MAX_LAYERS,
                       EB_MAX_CLASSES,
#ifdef EB_NATIVE_TYPES
                       1,
#else
                       0,
#endif
                       EB_RAMPS_IN_DDR};
    for (int i = 0; i < 10; i++) out[i] = v[i];
}

// Schedule constants, in the order of SCHEDULE_CONSTANTS (interface.py): MAC_PIPE, SOFTMAX_PASSES,
// LAYERNORM_PASSES, DIV_CYCLES, ISQRT_CYCLES, LOG_CYCLES, AXI_LATENCY, BINNED_CYCLES.
void eb_schedule(int *out) {
    const int v[8] = {eb::MAC_PIPE, eb::SOFTMAX_PASSES, eb::LAYERNORM_PASSES, eb::DIV_CYCLES,
                      eb::ISQRT_CYCLES, eb::LOG_CYCLES, eb::AXI_LATENCY, eb::BINNED_CYCLES};
    for (int i = 0; i < 8; i++) out[i] = v[i];
}

void eb_set_embedding(void *h, const uint32_t *image, long words) {
    static_cast<Handle *>(h)->embedding = to_bus(image, words);
}

int eb_call(void *hp, int cmd, const uint32_t *image, int image_words, const uint32_t *tokens, int length,
            int threshold, int stop_layer, uint32_t *results) {
    Handle *h = static_cast<Handle *>(hp);
    std::vector<eb::bus_t> img = to_bus(image, image ? image_words : 0);
    std::vector<eb::bus_t> tok = to_bus(tokens, tokens ? length : 0);
    std::vector<eb::bus_t> res(eb::RESULT_WORDS, eb::bus_t(0u));
    if (cmd == eb::CMD_PHASE1 && h->embedding.size() < eb::EMBED_HEADER_WORDS) return eb::ST_BAD_EMBEDDING;
    if (cmd == eb::CMD_LOAD_TASK) h->task_image = img;
    const bool phase = cmd == eb::CMD_PHASE1 || cmd == eb::CMD_PHASE2;
    const eb::bus_t *image_arg = phase && !h->task_image.empty() ? h->task_image.data() : img.data();
    const int st = eb::accel_call(h->state, cmd, image_arg, image_words, h->embedding.data(), tok.data(),
                                  length, threshold, stop_layer, res.data());
    for (int i = 0; i < eb::RESULT_WORDS; i++) results[i] = eb::u32(res[i]);
    return st;
}

}  // extern "C"
