"""What a synthesis tool needs from the HLS code, checked with g++ alone: declared arithmetic
widths (no ap type over 64 bits), a call graph without recursion, VLAs or calls out of the
kernels, vendor pragmas behind one header, and on-chip buffers the size the estimate states."""
from __future__ import annotations

import subprocess
import textwrap

import pytest

from edgebert.accel import units
from edgebert.accel.builds import get_build
from edgebert.accel.interface import LIMIT_DEFAULTS, SCHEDULE
from edgebert.accel.resources import estimate
from edgebert.core.paths import REPO_ROOT
from edgebert.sim import synthcheck
from edgebert.sim.csim import HLS_DIR, CSimError, _compile, ap_types_dir, compile_flags

BOARDS = ("zcu104", "kv260", "pynq-z2")


def _defines(board: str | None) -> dict | None:
    return get_build(board).defines if board else None


def _limits(board: str | None) -> dict:
    return {**LIMIT_DEFAULTS, **(_defines(board) or {})}


@pytest.mark.parametrize("board", [None, *BOARDS])
def test_top_instantiates_no_ap_type_wider_than_64_bits(board):
    report = synthcheck.audit("ap", _defines(board))
    assert report["max_ap_bits"] <= 64, report["ap_widths"]
    assert report["functions"] > 30
    # The dividers the code instantiates are the ones the estimate prices, at the same widths.
    assert report["dividers"] == sorted((d.dividend_bits, d.divisor_bits) for d in units.dividers(_limits(board)))
    mac_operands = (17, 17)
    assert set(report["multipliers"]) == {(m.a_bits, m.b_bits) for m in units.multipliers()} | {mac_operands}


def _snippet(tmp_path, body: str, variant: str = "ap", defines: dict | None = None):
    src = tmp_path / "snippet.cpp"
    src.write_text('#include "edgebert_accel.h"\n' + textwrap.dedent(body))
    flags = [f for f in compile_flags(variant, None, defines) if f not in ("-O3", "-fPIC")]
    out = tmp_path / "snippet"
    _compile([src], [*flags, "-O0"], False, out)
    return out


def test_a_unit_wider_than_64_bits_does_not_compile(tmp_path):
    with pytest.raises(CSimError, match="multiplier wider than 64 bits"):
        _snippet(tmp_path, "int main() { return int(eb::mul<40, 30>(eb::wide_t(1), eb::wide_t(1))); }\n")
    with pytest.raises(CSimError, match="divider wider than 64 bits"):
        _snippet(tmp_path, "int main() { return int(eb::udiv<65, 8>(eb::wide_t(1), eb::wide_t(1))); }\n")


def test_the_width_scan_sees_a_wide_product(tmp_path):
    src = tmp_path / "wide.cpp"
    src.write_text('#include "ap_int.h"\nap_int<128> f(ap_int<64> a, ap_int<64> b) { return a * b; }\n')
    obj = tmp_path / "wide.o"
    _compile([src], ["-std=c++14", "-O0", "-c", "-isystem", str(ap_types_dir())], False, obj)
    assert synthcheck.ap_widths(obj)["ap_int"] == 128


def test_an_operand_outside_its_declared_width_traps_in_the_checked_build(tmp_path):
    exe = _snippet(tmp_path, "int main() { return int(eb::mul<8, 8>(eb::wide_t(300), eb::wide_t(1))); }\n",
                   variant="native", defines={"EB_CHECK_WIDTHS": 1})
    proc = subprocess.run([str(exe)], capture_output=True, text=True)
    assert proc.returncode != 0 and "exceeds its declared int8 bits" in proc.stderr
    ok = _snippet(tmp_path, "int main() { return int(eb::mul<9, 8>(eb::wide_t(255), eb::wide_t(1))) - 255; }\n",
                  variant="native", defines={"EB_CHECK_WIDTHS": 1})
    assert subprocess.run([str(ok)]).returncode == 0


@pytest.mark.parametrize("variant", ["native", "ap"])
def test_call_graph_has_no_recursion_no_vla_and_no_call_out_of_the_kernels(variant):
    report = synthcheck.audit(variant, _defines("pynq-z2"))
    assert report["recursion"] == [] and report["unbounded_stack"] == [] and report["outside_calls"] == [], report


def test_the_call_graph_audit_finds_recursion_allocation_and_a_vla(tmp_path):
    src = tmp_path / "bad.cpp"
    src.write_text(textwrap.dedent("""\
        #include <cstdlib>
        int walk(int n) { return n <= 0 ? 0 : 1 + walk(n - 1); }
        int scratch(int n) { int v[n]; v[0] = n; return v[0]; }
        int top(int n) { void *p = std::malloc(8); std::free(p); return walk(n) + scratch(n); }
        """))
    report = synthcheck.audit("native", None, source=src, root="top", ours_under=tmp_path)
    assert any("walk" in f for f in report["recursion"])
    assert any("malloc" in f for f in report["outside_calls"])
    assert any("scratch" in f for f in report["unbounded_stack"])


@pytest.mark.parametrize("board", [None, *BOARDS])
def test_each_buffer_is_the_size_the_estimate_states(board):
    build = get_build(board) if board else None
    limits = _limits(board)
    est = estimate(limits["EB_N"], limits, (build or get_build("zcu104")).part)
    sizes = synthcheck.state_sizes(_defines(board))
    listed = {b["buffer"]: b for b in est["buffers"]}
    for name, row in listed.items():
        assert sizes[name] == row["bytes"], (name, sizes[name], row["bytes"])
        assert row["banks"] * row["depth"] * row["width"] >= 8 * row["bytes"]      # the banks hold it
    unlisted = {k: v for k, v in sizes.items() if k not in listed and k != "State"}
    assert all(v <= 4 for v in unlisted.values()), unlisted      # the staging store of an on-chip build: one word each
    # The rest of the State is descriptors and scalars.
    assert 0 <= sizes["State"] - sum(v for k, v in sizes.items() if k != "State") < 16 * 1024


def test_every_quotient_fits_the_divider_cycles_the_schedule_charges():
    for board in (None, *BOARDS):
        for d in units.dividers(_limits(board)):
            assert d.quotient_bits <= SCHEDULE["div_cycles"], d
            assert d.dividend_bits <= 64 and d.divisor_bits <= 64


def test_the_estimate_lists_the_dividers_and_prices_the_multipliers():
    b = get_build("pynq-z2")
    est = estimate(b.n, b.limits, b.part)
    names = [d["unit"] for d in est["dividers"]]
    assert names == ["softmax_recip", "layernorm_inv", "entropy_moment", "isqrt"]
    assert est["dsp"] == b.n * b.n + sum(m["count"] * m["dsp_each"] for m in est["multipliers"])
    # A 27 x 27 product takes more DSP48E1 (25 x 18) than DSP48E2 (27 x 18).
    assert units.dsp_per_multiplier(27, 27, "xc7z020") > units.dsp_per_multiplier(27, 27, "xczu7ev")


def test_vendor_pragmas_sit_behind_the_macro_header():
    sources = sorted((HLS_DIR / "include").glob("*.h")) + sorted((HLS_DIR / "src").glob("*"))
    raw = [f.name for f in sources if f.name != "eb_pragmas.h" and "#pragma" in f.read_text()]
    assert raw == []
    top = (HLS_DIR / "src" / "edgebert_top.cpp").read_text()
    assert top.count("EB_AXI_MASTER(") == 4 and "EB_CONTROL_HANDSHAKE" in top


def test_another_tool_takes_the_code_without_vendor_pragmas(tmp_path):
    flags = [f for f in compile_flags("native", None, {"EB_HLS_DIALECT_NONE": 1}) if f not in ("-O3", "-fPIC")]
    out = tmp_path / "top.i"
    subprocess.run(["g++", *flags, "-E", str(HLS_DIR / "src" / "edgebert_top.cpp"), "-o", str(out)], check=True)
    assert "#pragma HLS" not in out.read_text()
    subprocess.run(["g++", *flags, "-E", str(HLS_DIR / "src" / "edgebert_top.cpp"), "-o", str(out), "-UEB_HLS_DIALECT_NONE"],
                   check=True)
    assert out.read_text().count("#pragma HLS INTERFACE") == 11


def test_the_top_compiles_standalone_as_documented(tmp_path):
    cmd = ["g++", "-std=c++14", "-c", "-isystem", str(ap_types_dir()), "-Ihls/include", "-Ihls/src",
           "hls/src/edgebert_top.cpp", "-o", str(tmp_path / "top.o")]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = (REPO_ROOT / "docs" / "hardware.md").read_text()
    assert "g++ -std=c++14 -c -isystem" in doc and "hls/src/edgebert_top.cpp" in doc


def test_the_synthcheck_command_reports_the_audit():
    import json

    from click.testing import CliRunner

    from edgebert.cli import main
    r = CliRunner().invoke(main, ["csim", "synthcheck", "--board", "pynq-z2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.strip().splitlines()[-1])
    assert out["ok"] and out["max_ap_bits"] == 64 and out["state_bytes"]["wcodes"] > 0
