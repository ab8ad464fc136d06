"""What a board's PYNQ image runs: `edgebert run` and `edgebert report` import neither torch
nor (with pre-tokenized input) tokenizers, pre-tokenized input gives the same results, and the
board table loads without torch and holds the facts of model_export/accel/boards.json."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BLOCK = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("not on the board image: " + name)
sys.meta_path.insert(0, Block())
from edgebert.cli import main
sys.exit(main({argv!r}, standalone_mode=True))
"""


TABLE = """
import sys, json, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("not on the board image: " + name)
sys.meta_path.insert(0, Block())
from edgebert.runtime.boards import BOARDS
print(json.dumps({{n: [b.part, b.pll_mhz, b.fmax_mhz, b.default_mhz, b.array_n, b.model_config, b.power, b.pynq,
                      b.default_target_ms, b.clock_switch_us] for n, b in BOARDS.items()}}))
"""


def board_cli(argv, blocked=("torch", "transformers", "safetensors")):
    code = BLOCK.format(blocked=set(blocked), argv=list(argv))
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_run_and_report_need_no_torch(tmp_path):
    log = tmp_path / "run.jsonl"
    r = board_cli(["run", "--task", "sst2", "--policy", "lai", "--limit", "12", "--out", str(log), "--json"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["n"] == 12
    r = board_cli(["report", str(log), "--out", str(tmp_path / "rep"), "--json"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "rep" / "report.md").is_file()


def test_pre_tokenized_input_needs_no_tokenizers_and_gives_the_same_run(tmp_path):
    from click.testing import CliRunner

    from edgebert.cli import main
    tokens = tmp_path / "tokens.jsonl"
    r = CliRunner().invoke(main, ["tokenize", "--task", "sst2", "--board", "pynq-z2", "--out", str(tokens)])
    assert r.exit_code == 0 and "872 token records" in r.output, r.output
    with open(tokens, "a") as f:
        f.write('{"id": "bad", "ids": [101, 99999, 102], "token_types": [0, 0, 0]}\nnot json\n')
    via_tokens = tmp_path / "a.jsonl"
    r = board_cli(["run", "--task", "sst2", "--board", "pynq-z2", "--tokens", str(tokens), "--policy", "ee",
                   "--limit", "20", "--out", str(via_tokens), "--json"],
                  blocked=("torch", "transformers", "safetensors", "tokenizers"))
    assert r.returncode == 0, r.stderr[-3000:]
    via_text = tmp_path / "b.jsonl"
    r2 = CliRunner().invoke(main, ["run", "--task", "sst2", "--board", "pynq-z2", "--policy", "ee", "--limit", "20",
                                   "--out", str(via_text), "--json"])
    assert r2.exit_code == 0, r2.output
    keep = ("id", "tokens", "exit_layer", "entropies", "logits", "prediction", "label")
    a = [{k: json.loads(line)[k] for k in keep} for line in via_tokens.read_text().splitlines()[1:]]
    b = [{k: json.loads(line)[k] for k in keep} for line in via_text.read_text().splitlines()[1:]]
    assert a == b and len(a) == 20
    full = board_cli(["run", "--task", "sst2", "--board", "pynq-z2", "--tokens", str(tokens), "--policy", "ee",
                      "--out", str(tmp_path / "c.jsonl"), "--json"],
                     blocked=("torch", "transformers", "safetensors", "tokenizers"))
    assert full.returncode == 0, full.stderr[-3000:]
    out = json.loads(full.stdout.strip().splitlines()[-1])
    assert out["n"] == 872 and out["errors"] == 2


def test_the_board_table_loads_without_torch_and_is_the_data_file():
    code = TABLE.format(blocked={"torch", "transformers", "safetensors", "tokenizers"})
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout)
    facts = json.loads((REPO / "model_export" / "accel" / "boards.json").read_text())["boards"]
    assert list(got) == list(facts)
    for name, f in facts.items():
        fmax = 1000.0 / f["clock_ns"]
        timing = REPO / "bitstreams" / name / "timing.json"
        if timing.is_file():                      # a measured bitstream lowers the maximum
            fmax = min(fmax, json.loads(timing.read_text())["fmax_mhz"])
        assert got[name] == [f["part"], f["pll_mhz"], fmax, f["default_mhz"], f["n"], f["model_config"], f["power"],
                             f["pynq"], f["default_target_ms"], f["clock_switch_us"]], name
