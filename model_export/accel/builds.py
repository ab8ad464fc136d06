"""Per-board accelerator builds: the array size, buffer limits, clock and memory kinds that
`hls/tcl/boards.tcl` gives each board (the one place they are written). Read here without Tcl,
so that the C-simulation of a board, the resource estimate and the synthesis flow agree."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edgebert.core.errors import InputError
from edgebert.core.paths import REPO_ROOT

BOARDS_TCL = REPO_ROOT / "hls" / "tcl" / "boards.tcl"


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


def _tcl_words(text: str) -> list:
    """A Tcl list as nested Python lists of words (braces group; no substitution)."""
    out, stack, word = [], [], ""
    cur = out
    for ch in text:
        if ch == "{":
            stack.append(cur)
            cur.append([])
            cur = cur[-1]
        elif ch == "}":
            if word:
                cur.append(word)
                word = ""
            cur = stack.pop()
        elif ch.isspace():
            if word:
                cur.append(word)
                word = ""
        else:
            word += ch
    if word:
        cur.append(word)
    return out


def _pairs(words: list) -> dict:
    return {words[i]: words[i + 1] for i in range(0, len(words) - 1, 2)}


@lru_cache(maxsize=None)
def builds(path: Path = BOARDS_TCL) -> dict[str, Build]:
    text = Path(path).read_text()
    m = re.search(r"^set eb_boards \{", text, re.M)
    if not m:
        raise ValueError(f"{path}: no `set eb_boards {{...}}`")
    depth, i = 1, m.end()
    while depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    body = "\n".join(l for l in text[m.end(): i - 1].splitlines() if not l.strip().startswith("#"))
    out = {}
    for name, fields in _pairs(_tcl_words(body)).items():
        f = _pairs(fields)
        limits = {k: int(v) for k, v in _pairs(f["limits"]).items()}
        out[name] = Build(name, f["part"], int(f["n"]), float(f["clock_ns"]), limits,
                          f.get("wbuf_storage", "bram"), f.get("act_storage", "bram"))
    return out


def get_build(board: str) -> Build:
    known = builds()
    if board not in known:
        raise InputError(f"no accelerator build for board {board!r}; builds exist for {', '.join(known)}")
    return known[board]


def schedule_for(task, board: str, n: int | None = None):
    """The cost model of `task` on a board's build (the default build for `sim`)."""
    from edgebert.accel.cost import Schedule
    from edgebert.accel.images import ramp_record_words
    ramps = None
    if board != "sim" and get_build(board).limit("EB_RAMPS_IN_DDR"):
        ramps = ramp_record_words(task)
    if n is None:
        n = get_build(board).n if board != "sim" else 16
    return Schedule(task.cfg, n, len(task.live_heads), ramps)
