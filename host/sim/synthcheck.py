"""Vendor-free synthesizability checks of the HLS top function, with g++ alone.

What a high-level synthesis tool needs from the code, checked on the compiled top
(`hls/src/edgebert_top.cpp`) of a build:

    widths      no ap_int / ap_uint wider than 64 bits is instantiated (`nm -C` of an -O0
                object, where every template the top uses is emitted);
    call graph  from `g++ -fcallgraph-info=su`: no recursion, no stack of unbounded size (a VLA
                or alloca), and no call out of the kernels: in the native-type build every
                function the top reaches is defined under hls/; in the ap build the kernels call
                only the ap types' operators (their C-simulation bodies, which allocate for
                products wider than 64 bits inside the emulation, are the tool's built-ins in
                synthesis);
    memory      sizeof of each on-chip buffer of the State, per build, for the resource
                estimate to be compared with.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from edgebert.sim.csim import HLS_DIR, CSimError, _compile, compile_flags

TOP = HLS_DIR / "src" / "edgebert_top.cpp"
AP_TYPE = re.compile(r"\bap_(u?int|int_base|u?fixed|fixed_base)<(\d+)")
AP_MEMBER = re.compile(r"ap_(u?int|int_base|private|u?fixed|fixed_base)")   # mangled or not
# The State's members behind each buffer of the resource estimate (resources.buffers).
STATE_MEMBERS = {"wcodes": ["wcodes"], "wmask": ["wmask"], "wtile": ["wtile"], "tbuf": ["tbuf"],
                 "rcodes": ["rcodes"], "rmask": ["rmask"], "rtile": ["rtile"], "x": ["x"], "q": ["q"], "k": ["k"], "v": ["v"],
                 "ctx": ["ctx"], "tmp": ["tmp"], "ffn_buf": ["ffn_buf"], "emb": ["emb"], "scores": ["scores"],
                 "probs": ["probs"], "span": ["span"], "predictor": ["predictor"], "binned": ["bins"],
                 "tables": ["exp2", "gelu", "tanh", "ln1p"], "vbuf": ["vbuf"], "gbuf": ["gbuf"]}


def _flags(variant: str, defines: dict | None) -> list[str]:
    drop = {"-O3", "-fPIC", "-march=native"}
    return [f for f in compile_flags(variant, defines.get("EB_N") if defines else None, defines) if f not in drop]


def compile_top(variant: str, defines: dict | None, out_dir: Path, source: Path = TOP) -> tuple[Path, Path]:
    """The top (or another source) as an -O0 object and its call-graph file (.ci) in out_dir."""
    obj = out_dir / f"top-{variant}.o"
    # No exceptions, as in synthesis: their unwinding would show up as calls out of the kernels.
    _compile([source], [*_flags(variant, defines), "-O0", "-fno-exceptions", "-c", "-fcallgraph-info=su"], False, obj)
    ci = obj.with_suffix(".ci")           # g++ writes it beside the object
    if not ci.is_file():
        raise CSimError(f"g++ wrote no call-graph file for {source.name} (needs GCC >= 10 for -fcallgraph-info)")
    return obj, ci


def _symbols(obj: Path) -> str:
    return subprocess.run(["nm", "-C", str(obj)], capture_output=True, text=True, check=True).stdout


def ap_widths(obj: Path) -> dict[str, int]:
    """The widest instantiation of each ap type family in an object file."""
    widest: dict[str, int] = {}
    for family, bits in AP_TYPE.findall(_symbols(obj)):
        key = f"ap_{family}"
        widest[key] = max(widest.get(key, 0), int(bits))
    return widest


def arithmetic_units(obj: Path) -> dict[str, list[tuple[int, int]]]:
    """The (operand, operand) widths of every ap multiplication and division instantiated."""
    text = _symbols(obj)
    units = {}
    for op, key in (("*", "multipliers"), ("/", "dividers")):
        found = re.findall(rf"operator\{op}<(\d+), (?:true|false), (\d+), (?:true|false)>", text)
        units[key] = sorted({(int(a), int(b)) for a, b in found})
    return units


def parse_call_graph(text: str) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """Nodes (title -> name, location, stack) and edges of a -fcallgraph-info .ci file."""
    nodes, edges = {}, []
    for m in re.finditer(r'node: \{ title: "([^"]*)" label: "((?:[^"\\]|\\.)*)"', text):
        parts = m.group(2).split("\\n")
        nodes[m.group(1)] = {"name": parts[0], "location": parts[1] if len(parts) > 1 else "",
                             "stack": parts[2] if len(parts) > 2 else ""}
    for m in re.finditer(r'edge: \{ sourcename: "([^"]*)" targetname: "([^"]*)"', text):
        edges.append((m.group(1), m.group(2)))
    return nodes, edges


def reachable(nodes: dict, edges: list, root_name: str) -> set[str]:
    calls: dict[str, list[str]] = {}
    for a, b in edges:
        calls.setdefault(a, []).append(b)
    roots = [t for t, n in nodes.items() if n["name"].startswith(root_name + "(")
             or n["name"].split("(")[0].endswith(" " + root_name)]
    seen, todo = set(roots), list(roots)
    while todo:
        for b in calls.get(todo.pop(), []):
            if b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def cycles(nodes: set[str], edges: list) -> list[str]:
    """Functions on a call cycle among `nodes` (iterative depth-first search)."""
    calls: dict[str, list[str]] = {}
    for a, b in edges:
        if a in nodes and b in nodes:
            calls.setdefault(a, []).append(b)
    state, on_cycle = {}, set()
    for start in nodes:
        if state.get(start):
            continue
        stack = [(start, iter(calls.get(start, [])))]
        state[start] = 1
        path = [start]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(nxt) == 1:
                on_cycle.update(path[path.index(nxt):])
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(calls.get(nxt, []))))
    return sorted(on_cycle)


def audit(variant: str = "native", defines: dict | None = None, source: Path = TOP,
          root: str = "edgebert_top", ours_under: Path = HLS_DIR) -> dict:
    """The checks above for one build; every list empty and max_ap_bits <= 64 means it passes."""
    hls = str(ours_under)
    with tempfile.TemporaryDirectory() as tmp:
        obj, ci = compile_top(variant, defines, Path(tmp), source)
        widths = ap_widths(obj) if variant == "ap" else {}
        units = arithmetic_units(obj) if variant == "ap" else {}
        nodes, edges = parse_call_graph(ci.read_text())
    live = reachable(nodes, edges, root)
    ours = {t for t in live if nodes.get(t, {}).get("location", "").startswith(hls)}
    def inside(title: str) -> bool:
        node = nodes.get(title, {"name": title, "location": ""})
        return node["location"].startswith(hls) or (variant == "ap" and bool(AP_MEMBER.search(title + node["name"])))
    outside = sorted({nodes.get(b, {"name": b})["name"] for a, b in edges if a in ours and not inside(b)})
    unbounded = sorted(nodes[t]["name"] for t in ours
                       if "dynamic" in nodes[t]["stack"] and "bounded" not in nodes[t]["stack"])
    return {"variant": variant, "functions": len(ours), "max_ap_bits": max(widths.values(), default=0),
            "ap_widths": widths, **units, "recursion": [nodes[t]["name"] for t in cycles(ours, edges)],
            "outside_calls": outside, "unbounded_stack": unbounded}


def state_sizes(defines: dict | None = None) -> dict[str, int]:
    """sizeof of each estimate buffer's State members, and of the whole State, in the native
    build (its C types have exactly the widths the hardware words have)."""
    members = sorted({m for ms in STATE_MEMBERS.values() for m in ms})
    body = "".join(f'    std::printf("{m} %zu\\n", sizeof(eb::State::{m}));\n' for m in members)
    program = ('#include <cstdio>\n#include "edgebert_accel.h"\nint main() {\n'
               f'{body}    std::printf("State %zu\\n", sizeof(eb::State));\n    return 0;\n}}\n')
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "sizes.cpp", Path(tmp) / "sizes"
        src.write_text(program)
        _compile([src], [*_flags("native", defines), "-O0"], False, exe)
        lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
    raw = {k: int(v) for k, v in (line.split() for line in lines if line)}
    out = {buf: sum(raw[m] for m in ms) for buf, ms in STATE_MEMBERS.items()}
    out["State"] = raw["State"]
    return out
