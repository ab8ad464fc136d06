// Shared helpers of the C++ testbenches: read test vectors (whitespace-separated integers,
// written by host/sim/vectors.py from the golden model), count and print "N passed, N failed".
// Every testbench exits non-zero when a case fails or when it ran no case at all.
#ifndef TB_COMMON_H
#define TB_COMMON_H

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "eb_pwl.h"

namespace tb {

struct Vectors {
    std::ifstream in;
    std::string path;
    explicit Vectors(const std::string &p) : in(p.c_str()), path(p) {
        if (!in) {
            std::fprintf(stderr, "cannot open test vectors %s\n", p.c_str());
            std::exit(2);
        }
    }
    // The next case as one line of integers; false at the end.
    bool line(std::vector<long long> &v) {
        std::string s;
        while (std::getline(in, s)) {
            if (s.empty() || s[0] == '#') continue;
            std::istringstream ls(s);
            v.clear();
            long long x;
            while (ls >> x) v.push_back(x);
            return true;
        }
        return false;
    }
};

struct Cursor {                       // reads fields of one case in order
    const std::vector<long long> &v;
    size_t at;
    explicit Cursor(const std::vector<long long> &vv) : v(vv), at(0) {}
    long long next() {
        if (at >= v.size()) {
            std::fprintf(stderr, "test vector line too short\n");
            std::exit(2);
        }
        return v[at++];
    }
};

struct Tally {
    const char *name;
    long passed, failed;
    explicit Tally(const char *n) : name(n), passed(0), failed(0) {}
    void check(bool ok, long case_no, const char *what, long long got, long long want) {
        if (ok) { passed++; return; }
        if (failed < 10)
            std::printf("%s case %ld: %s = %lld, expected %lld\n", name, case_no, what, got, want);
        failed++;
    }
    int finish() const {
        std::printf("%s: %ld passed, %ld failed\n", name, passed, failed);
        return (failed == 0 && passed > 0) ? 0 : 1;
    }
};

struct Tables {
    std::vector<eb::table_word_t> exp2, gelu, tanh, ln1p;
    explicit Tables(const std::string &dir) {
        Vectors f(dir + "/tables.txt");
        std::vector<long long> v;
        std::vector<eb::table_word_t> *t[4] = {&exp2, &gelu, &tanh, &ln1p};
        for (int i = 0; i < 4; i++) {
            if (!f.line(v)) { std::fprintf(stderr, "tables.txt: missing table %d\n", i); std::exit(2); }
            t[i]->assign(v.begin(), v.end());
        }
        if (exp2.size() != eb::EXP2_LEN || gelu.size() != eb::GELU_LEN || tanh.size() != eb::TANH_LEN
            || ln1p.size() != eb::LN1P_LEN) {
            std::fprintf(stderr, "tables.txt: table lengths differ from the hardware's\n");
            std::exit(2);
        }
    }
};

inline std::string vectors_dir(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s VECTORS_DIR\n", argv[0]);
        std::exit(2);
    }
    return argv[1];
}

}  // namespace tb

#endif
