"""Per-board accelerator builds, from the board table `boards.json` beside this module: every
board's facts, written once (its "fields" entry says what each means and where it comes from).
The board runtime (edgebert.runtime.boards), the resource estimate and the C-simulation read it
here; the Vitis HLS and Vivado flows source `hls/tcl/boards.tcl`, which is generated from it
so that a Tcl-only user needs nothing else:

    edgebert generate          (--check: exit 1 while a generated file is stale)
"""
from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edgebert.core.errors import InputError
from edgebert.core.paths import REPO_ROOT

BOARDS_JSON = Path(__file__).with_name("boards.json")
BOARDS_TCL = REPO_ROOT / "hls" / "tcl" / "boards.tcl"
REGENERATE = "edgebert generate"

BOARD_FIELDS = ("part", "pll_mhz", "n", "clock_ns", "default_mhz", "model_config", "power", "pynq",
                "default_target_ms", "clock_switch_us")
BUILD_FIELDS = ("limits", "m_axi_addr64", "m_axi_latency", "wbuf_storage", "act_storage", "board_part", "ps")
CAPACITY = ("dsp", "bram36", "uram", "lut")          # what resources.estimate checks
# What the Tcl flows read of a board (build.tcl, directives.tcl, bitstreams/common.tcl).
TCL_FIELDS = ("part", "n", "clock_ns", "pll_mhz") + BUILD_FIELDS + ("board_connections",)


@dataclass(frozen=True)
class Build:
    board: str
    part: str
    n: int
    clock_ns: float
    limits: dict
    wbuf_storage: str
    act_storage: str

    @property
    def defines(self) -> dict[str, int]:
        """The -D macros of the build (EB_N and the limits)."""
        return {"EB_N": self.n, **{k: int(v) for k, v in self.limits.items()}}

    def limit(self, name: str) -> int:
        return int(self.limits[name])


def _check(data: dict, path: Path) -> dict:
    boards = data.get("boards")
    if not isinstance(boards, dict) or not boards:
        raise ValueError(f"{path}: no \"boards\" table")
    macros, parts = None, {}
    for name, b in boards.items():
        where = f"{path}: board {name!r}"
        missing = [f for f in BOARD_FIELDS if f not in b]
        if "build" in b:
            missing += [f"build.{f}" for f in BUILD_FIELDS if f not in b["build"]]
            missing += [f"capacity.{f}" for f in CAPACITY if f not in b.get("capacity", {})]
        if missing:
            raise ValueError(f"{where} lacks {', '.join(missing)}")
        if "build" not in b:
            continue
        if macros is None:
            macros = list(b["build"]["limits"])
        if list(b["build"]["limits"]) != macros:
            raise ValueError(f"{where}: limits {list(b['build']['limits'])} differ from the first board's {macros}")
        if parts.setdefault(b["part"], b["capacity"]) != b["capacity"]:
            raise ValueError(f"{where}: another board gives part {b['part']} a different capacity")
    return data


@lru_cache(maxsize=None)
def _load(path: Path) -> dict:
    return _check(json.loads(Path(path).read_text()), Path(path))


def board_facts(path: Path = BOARDS_JSON) -> dict[str, dict]:
    """Every board (the `sim` pseudo-board too) -> its facts, as written in boards.json."""
    return _load(Path(path))["boards"]


def part_capacities(path: Path = BOARDS_JSON) -> dict[str, dict[str, int]]:
    """Part -> its capacity, for every part a board carries."""
    return {b["part"]: dict(b["capacity"]) for b in board_facts(path).values() if "capacity" in b}


@lru_cache(maxsize=None)
def builds(path: Path = BOARDS_JSON) -> dict[str, Build]:
    """The boards with an accelerator build -> their build."""
    return {name: Build(name, b["part"], int(b["n"]), float(b["clock_ns"]), dict(b["build"]["limits"]),
                        b["build"]["wbuf_storage"], b["build"]["act_storage"])
            for name, b in board_facts(path).items() if "build" in b}


def get_build(board: str) -> Build:
    known = builds()
    if board not in known:
        raise InputError(f"no accelerator build for board {board!r}; builds exist for {', '.join(known)}")
    return known[board]


def schedule_for(task, board: str, n: int | None = None):
    """The cost model of `task` on a board's build (the array of `sim`, the C-simulation, for `sim`)."""
    from edgebert.accel.cost import Schedule
    from edgebert.accel.images import ramp_record_words
    ramps = None
    if board != "sim" and get_build(board).limit("EB_RAMPS_IN_DDR"):
        ramps = ramp_record_words(task)
    if n is None:
        n = get_build(board).n if board != "sim" else int(board_facts()["sim"]["n"])
    return Schedule(task.cfg, n, len(task.live_heads), ramps)


# ---- hls/tcl/boards.tcl --------------------------------------------------------------------------
_BARE = re.compile(r"[A-Za-z0-9_.:/+=-]+")


def _tcl(value) -> str:
    """One value as a Tcl word: booleans as true/false, numbers as written, a dict as a braced
    key-value list, other text bare or braced (text that would need substitution is refused)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{" + " ".join(f"{k} {_tcl(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    if re.search(r"[{}\[\]$\\\"\n]", text) or not text:
        raise ValueError(f"{text!r} cannot be written as a plain Tcl word")
    return "{" + text + "}"


def _comment(text: str, indent: str = "#   ", first: str | None = None) -> list[str]:
    first = indent if first is None else first
    return textwrap.wrap(text, 100, initial_indent=first, subsequent_indent="#" + " " * (len(first) - 1))


_TCL_PROCS = r"""
proc eb_board_names {} {
    return [dict keys $::eb_boards]
}

# The parameters of one board; an error naming the known boards if there is no such board.
proc eb_board {name} {
    if {![dict exists $::eb_boards $name]} {
        error "unknown board '$name'; known boards: [join [eb_board_names] {, }]"
    }
    return [dict get $::eb_boards $name]
}

# -D flags for a board: EB_N and the limits, in eb_limit_macros order.
proc eb_board_defines {name} {
    set cfg [eb_board $name]
    set flags [list "-DEB_N=[dict get $cfg n]"]
    foreach m $::eb_limit_macros {
        lappend flags "-D$m=[dict get $cfg limits $m]"
    }
    return $flags
}

proc eb_json_value {v} {
    if {$v in {true false} || [string is integer -strict $v] || [string is double -strict $v]} {
        return $v
    }
    return "\"$v\""
}

proc eb_boards_json {} {
    set boards {}
    dict for {name cfg} $::eb_boards {
        set fields {}
        dict for {k v} $cfg {
            if {$k eq "limits"} {
                set lim {}
                dict for {m x} $v { lappend lim "\"$m\": $x" }
                lappend fields "\"$k\": \{[join $lim {, }]\}"
            } else {
                lappend fields "\"$k\": [eb_json_value $v]"
            }
        }
        lappend boards "  \"$name\": \{[join $fields {, }]\}"
    }
    return "\{\n[join $boards ",\n"]\n\}"
}

if {[info exists ::argv0] && [file normalize $::argv0] eq [file normalize [info script]]} {
    puts [eb_boards_json]
}
"""


def tcl_text(path: Path = BOARDS_JSON) -> str:
    """hls/tcl/boards.tcl as generated from the board table at `path`."""
    data = _load(Path(path))
    hw = {name: b for name, b in data["boards"].items() if "build" in b}
    rows = {name: {**b, **b["build"]} for name, b in hw.items()}
    lines = ["# Per-board build parameters of the EdgeBERT accelerator: one entry per board in the dict",
             "# `eb_boards`. hls/tcl/build.tcl and bitstreams/common.tcl source this file; other tools can",
             "# source it too, or run",
             "#     tclsh hls/tcl/boards.tcl",
             "# which prints the same table as JSON.",
             "#",
             "# GENERATED from model_export/accel/boards.json by", f"#     {REGENERATE}",
             "# Do not edit: edit the JSON and regenerate (a test fails while this file is stale).",
             "#", "# Fields of a board:"]
    for field in TCL_FIELDS:
        lines += _comment(data["fields"][field], first=f"#   {field:<17} ")
    lines += ["#", "# The boards:"]
    for name, b in hw.items():
        lines += _comment(b["note"], first=f"#   {name:<17} ")
    lines += ["", "set eb_boards {"]
    for name, row in rows.items():
        lines.append(f"    {name} {{")
        lines += [f"        {f:<17} {_tcl(row[f])}" for f in TCL_FIELDS if f in row]
        lines.append("    }")
    lines += ["}", "", "# The order in which the limit macros are passed to the compiler.",
              f"set eb_limit_macros {{{' '.join(next(iter(rows.values()))['limits'])}}}"]
    return "\n".join(lines) + "\n" + _TCL_PROCS


def write_tcl(tcl: Path = BOARDS_TCL, path: Path = BOARDS_JSON) -> bool:
    """Regenerates hls/tcl/boards.tcl; whether it changed."""
    text = tcl_text(path)
    if Path(tcl).is_file() and Path(tcl).read_text() == text:
        return False
    Path(tcl).write_text(text)
    return True


def tcl_staleness(tcl: Path = BOARDS_TCL, path: Path = BOARDS_JSON) -> str | None:
    """None while `tcl` is what the board table generates, else what is wrong and how to fix it."""
    if Path(tcl).is_file() and Path(tcl).read_text() == tcl_text(path):
        return None
    return f"{tcl} is stale: it is generated from {path}; regenerate it with `{REGENERATE}`"
