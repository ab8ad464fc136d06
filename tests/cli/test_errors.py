"""The command line's one error handler: an expected failure is one line `Error: <message>` and
the error's exit code (2 for bad input), never a traceback; a bug still shows its traceback."""
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from edgebert.cli import EdgeBertGroup, main
from edgebert.core.errors import DeviceError, InputError


def test_a_bad_task_exits_2_with_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "edgebert.cli", "run", "--task", "qqp", "--out", str(tmp_path / "x.jsonl")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("Error: unknown task 'qqp'"), r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.parametrize("argv", [["csim", "verify", "--task", "qqp"], ["demo", "--task", "qqp", "--limit", "2"],
                                  ["bench", "host", "--board", "zedboard"]])
def test_commands_in_groups_report_bad_input_the_same_way(argv, tmp_path):
    r = CliRunner().invoke(main, argv + (["--out", str(tmp_path)] if argv[0] == "demo" else []))
    assert r.exit_code == 2, r.output
    assert r.output.startswith("Error: ") and len(r.output.splitlines()) == 1, r.output


@pytest.fixture
def group():
    @click.group(cls=EdgeBertGroup)
    def g():
        pass

    @g.command()
    @click.option("--kind")
    def fail(kind):
        raise {"input": InputError, "device": DeviceError, "bug": KeyError}[kind]("the accelerator\n  timed out")

    return g


def test_the_handler_uses_each_errors_exit_code(group):
    device = CliRunner().invoke(group, ["fail", "--kind", "device"])
    assert device.exit_code == 1 and device.output == "Error: the accelerator timed out\n"
    assert CliRunner().invoke(group, ["fail", "--kind", "input"]).exit_code == 2


def test_a_bug_is_not_hidden(group):
    r = CliRunner().invoke(group, ["fail", "--kind", "bug"])
    assert isinstance(r.exception, KeyError) and "Error:" not in r.output


def test_a_model_by_name_or_folder_and_an_unknown_name(tmp_path):
    """`--model NAME` is the shipped models/NAME; a folder is taken as it is; anything else is refused."""
    from edgebert.cli.options import shipped_model
    from edgebert.core.paths import DEFAULT_MODEL_DIR
    assert shipped_model(None, None, "tiny") == str(DEFAULT_MODEL_DIR)
    assert shipped_model(None, None, str(tmp_path)) == str(tmp_path)
    assert shipped_model(None, None, None) is None
    r = CliRunner().invoke(main, ["build", "--board", "kv260", "--estimate", "--model", "huge"])
    assert r.exit_code == 2 and "'huge' is neither a folder nor a shipped model (models/: " in r.output, r.output
    assert "tiny" in r.output.split("models/: ")[1]
    by_name = CliRunner().invoke(main, ["build", "--board", "kv260", "--estimate", "--model", "tiny", "--json"])
    default = CliRunner().invoke(main, ["build", "--board", "kv260", "--estimate", "--json"])
    assert by_name.exit_code == 0 and by_name.output == default.output
