"""The accelerator's interface is defined once (edgebert.accel.interface): the committed C++
header is what the generator writes, the compiler sees the same values through the kernels'
headers, the C-simulation library reports the same limits and schedule, and a perturbed copy of
either side fails these checks."""
import re
import shutil

import numpy as np
import pytest

from edgebert.accel import images, interface
from edgebert.accel.interface import (
    COUNTERS,
    RESULT_WORDS,
    Result,
    Status,
    TaskHeader,
    decode_counters,
    decode_phase1,
    decode_phase2,
    status_message,
)
from edgebert.accel.numerics.fixed import SITES
from edgebert.sim import csim


def _differences(got: dict, want: dict) -> list[str]:
    return [f"{k}: C++ {got.get(k)}, interface.py {want.get(k)}" for k in sorted(set(got) | set(want))
            if got.get(k) != want.get(k)]


def _hls_copy(tmp_path):
    for sub in ("include", "src"):
        shutil.copytree(csim.HLS_DIR / sub, tmp_path / sub)
    return tmp_path


# ---- (a) the committed header is the generated one ---------------------------------------------
def test_committed_header_is_the_generated_one():
    assert interface.header_is_current(), \
        f"{interface.HEADER} differs from interface.py; regenerate it: {interface.REGENERATE}"
    assert interface.render_header() == interface.render_header()      # deterministic


def test_a_changed_definition_makes_the_header_stale(monkeypatch, capsys):
    changed = tuple(c._replace(value=c.value + 1) if c.name == "DIV_CYCLES" else c
                    for c in interface.SCHEDULE_CONSTANTS)
    monkeypatch.setattr(interface, "SCHEDULE_CONSTANTS", changed)
    assert not interface.header_is_current()
    from edgebert.accel import generated
    assert any(str(interface.HEADER) in p for p in generated.stale())


def test_write_header_writes_what_the_check_accepts(tmp_path):
    path = interface.write_header(tmp_path / "eb_interface.h")
    assert interface.header_is_current(path)
    path.write_text(path.read_text().replace("DIV_CYCLES = 48", "DIV_CYCLES = 49"))
    assert not interface.header_is_current(path)


# ---- (b) both sides agree through the compiler -------------------------------------------------
def test_kernel_headers_compile_to_the_interface_values():
    got = csim.probe_interface()
    assert not _differences(got, interface.cpp_constants()), _differences(got, interface.cpp_constants())


def test_library_reports_the_interface_limits_and_schedule():
    with csim.CSimAccelerator("native") as acc:
        assert acc.limits == interface.reported_limits(native=True)
        assert acc.schedule == interface.SCHEDULE


def test_limits_are_overridable_and_reported_in_order():
    """Distinct -D values for every overridable limit: each reaches its own place in eb_limits()."""
    defines = {"EB_MAX_LEN": 40, "EB_MAX_E": 48, "EB_MAX_H": 96, "EB_MAX_FFN": 112, "EB_MAX_HEADS": 6,
               "EB_RAMPS_IN_DDR": 1}
    flags = [f for f in csim.compile_flags("native", n=4, defines=defines) if f != "-O3"] + ["-O0"]
    lib = csim.build("libedgebert-limits", [csim.HLS_DIR / "src" / "bridge.cpp"], flags, shared=True)
    with csim.CSimAccelerator("native", library=lib) as acc:
        assert acc.limits == interface.reported_limits(native=True, defines={"EB_N": 4, **defines})
    probed = csim.probe_interface(defines=defines)
    assert {k: probed[k] for k in defines} == defines


# ---- (c) a perturbed copy fails the checks -----------------------------------------------------
def test_a_perturbed_generated_header_is_caught(tmp_path):
    hls = _hls_copy(tmp_path)
    header = hls / "include" / "eb_interface.h"
    header.write_text(header.read_text().replace("DIV_CYCLES = 48", "DIV_CYCLES = 49"))
    assert not interface.header_is_current(header)
    diffs = _differences(csim.probe_interface(hls), interface.cpp_constants())
    assert diffs == ["eb::DIV_CYCLES: C++ 49, interface.py 48"]


def test_a_hand_written_override_is_caught(tmp_path):
    """A limit defined again before the generated header (which then keeps it) is still current
    text, but the compiled value differs."""
    hls = _hls_copy(tmp_path)
    types = hls / "include" / "eb_types.h"
    types.write_text(types.read_text().replace('#include "eb_interface.h"', '#define EB_MAX_E 64\n#include "eb_interface.h"'))
    assert interface.header_is_current(hls / "include" / "eb_interface.h")
    assert _differences(csim.probe_interface(hls), interface.cpp_constants()) == ["EB_MAX_E: C++ 64, interface.py 128"]


# ---- the definition itself ---------------------------------------------------------------------
def test_result_layout_fits_its_words_and_the_results_port():
    spans = [(Result.EXIT_LAYER, 1), (Result.PREDICTED, 1), (Result.EXIT_NOW, 1), (Result.H1, 1),
             (Result.LOGITS, interface.MAX_CLASSES), (Result.ENTROPY, interface.MAX_LAYERS),
             (Result.COUNTERS, 2 * interface.N_COUNTERS), (Result.PREDICTED_BINNED, 1)]
    assert [r for r, _ in spans] == list(Result)
    used = np.zeros(RESULT_WORDS, dtype=int)
    for start, words in spans:
        assert start + words <= RESULT_WORDS
        used[start: start + words] += 1
    assert used.max() == 1
    top = (csim.HLS_DIR / "src" / "edgebert_top.cpp").read_text()
    assert int(re.search(r"EB_AXI_MASTER\(results,\s*\w+,\s*(\d+)\)", top).group(1)) == RESULT_WORDS


def test_image_layout_follows_the_interface():
    assert [m.name for m in TaskHeader if m.name.startswith("FRAC_")] == [f"FRAC_{s.upper()}" for s in SITES]
    assert TaskHeader.TOTAL_WORDS < interface.TASK_HEADER_WORDS
    assert interface.SHARED_MAGIC.to_bytes(4, "little") == b"EBS1"
    assert images.LAYER_MATRICES[interface.MatrixId.O] == "layer.o" and len(images.GAINS) == 3
    tables = {n: np.arange(k) for n, k in zip(interface.TABLE_ORDER, (3, 5, 5, 3))}
    shared = images.shared_image(tables)
    assert list(shared[:interface.SHARED_HEADER_WORDS]) == [interface.SHARED_MAGIC, interface.IMAGE_VERSION, 3, 5, 5, 3]


def test_decoders_read_the_result_words():
    w = np.zeros(RESULT_WORDS, dtype=np.uint32)
    w[Result.EXIT_LAYER], w[Result.PREDICTED], w[Result.EXIT_NOW], w[Result.H1] = 0, 5, 0, 70000
    w[Result.LOGITS: Result.LOGITS + 2] = np.array([-3, 7], dtype=np.int32).view(np.uint32)
    w[Result.ENTROPY] = 70000
    cycles = COUNTERS.index("cycles")
    w[Result.COUNTERS + 2 * cycles: Result.COUNTERS + 2 * cycles + 2] = [5, 1]      # 2^32 + 5
    p1 = decode_phase1(w, classes=2)
    assert (p1.exit_layer, p1.predicted_layer, p1.exit_now, p1.h1) == (0, 5, False, 70000)
    assert list(p1.logits) == [-3, 7] and p1.entropies == {1: 70000}
    assert decode_counters(w)["cycles"] == 2 ** 32 + 5 and set(decode_counters(w)) == set(COUNTERS)
    gated = COUNTERS.index("gated_macs")
    w[Result.COUNTERS + 2 * gated: Result.COUNTERS + 2 * gated + 2] = [7, 3]
    assert decode_counters(w)["gated_macs"] == 3 * 2 ** 32 + 7 and decode_counters(w)["cycles"] == 2 ** 32 + 5
    w[Result.EXIT_LAYER] = 3
    w[Result.ENTROPY + 1], w[Result.ENTROPY + 2] = 11, 12
    assert decode_phase2(w, classes=2).entropies == {2: 11, 3: 12}
    assert decode_phase2(w.view(np.int32), classes=2).exit_layer == 3     # either signedness
    with pytest.raises(ValueError, match="result words"):
        decode_phase1(w[:10], 2)


def test_status_messages():
    assert status_message(Status.BAD_LENGTH) == "accelerator status 4: sentence length is 0 or above the task's max_len"
    assert status_message(99) == "accelerator status 99: unknown status"
