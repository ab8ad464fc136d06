"""PynqBackend through PYNQ's real code paths (Overlay, the .hwh parser, DefaultIP's register
map, MMIO with register hooks, pynq.allocate buffers) on x86, with a fake PYNQ device in the
pattern of PYNQ's own tests: its register hooks run the C-simulation library when AP_START is
written, reading and writing the buffers at the programmed addresses. The .hwh fixture is
generated from the HLS interface description (host/runtime/hwh.py)."""
import ctypes
import json
from pathlib import Path

import numpy as np
import pytest

pynq = pytest.importorskip("pynq")      # a requirement; this only names it if it is missing

from pynq import ps  # noqa: E402
from pynq.buffer import PynqBuffer  # noqa: E402
from pynq.pl_server.device import Device  # noqa: E402

# The metadata parser of PYNQ's own embedded devices, from the module that uses it: PYNQ 4.0 takes
# pynqmetadata's, PYNQ 3.1.2 (the PYNQ-Z2 image; CI's second environment) its own copy in
# pynq.metadata, whose clock_dict has the divisors but no frequencies.
from pynq.pl_server.embedded_device import RuntimeMetadataParser  # noqa: E402
from pynqmetadata.frontends import Metadata  # noqa: E402

from edgebert.accel import images  # noqa: E402
from edgebert.accel.interface import RESULT_WORDS, Command, EmbedHeader  # noqa: E402
from edgebert.core.tokenization import Tokenizer  # noqa: E402
from edgebert.runtime.boards import get_board  # noqa: E402
from edgebert.runtime.clocks import Clock, PynqClock  # noqa: E402
from edgebert.runtime.hwh import register_map, write_hwh  # noqa: E402
from edgebert.runtime.inputs import task_items  # noqa: E402
from edgebert.runtime.pynq_backend import AcceleratorTimeout, OverlayError, PynqBackend  # noqa: E402
from edgebert.runtime.runner import run  # noqa: E402
from edgebert.sim.backend import CSimBackend  # noqa: E402
from edgebert.sim.csim import CSimAccelerator

BASE = 0xA0000000


class FakeAcceleratorDevice(Device):
    """Registers in a dict; AP_START runs the command on the C-simulation library."""

    def __init__(self, board):
        super().__init__("fake-edgebert")
        self.name = "fake"
        self.capabilities = {"REGISTER_RW": True}
        self.board = board
        self.offsets = {r.name: BASE + r.offset for r in register_map(board.name != "pynq-z2")}
        self.regs = {BASE: 0x4}                          # absolute address -> word; AP_IDLE
        # The PS clock tree as PYNQ reads it: the IO PLL at the board's PLL frequency.
        if board.name == "pynq-z2":
            self.arch = ps.ZYNQ_ARCH                     # 50 MHz reference x 20 = 1000 MHz
            self.regs[ps._ClocksZynq.SLCR_BASE_ADDRESS + ps.ZYNQ_SLCR_REGISTERS["IO_PLL_CTRL"]["address_offset"]] = 20 << 12
        else:
            self.arch = ps.ZU_ARCH                       # 33.333 MHz reference x 45 = 1500 MHz
            self.regs[ps._ClocksUltrascale.CRL_APB_ADDRESS + ps.ZU_CRL_REGISTERS["IOPLL_CTRL"]["address_offset"]] = 45 << 8
        if hasattr(ps.Clocks, "_real_instance"):
            del ps.Clocks._real_instance                 # PYNQ keeps one per process
        ps.Clocks.set_device(self)
        self.memory: dict[int, np.ndarray] = {}
        self.next_addr = 0x10000000
        from edgebert.accel.builds import get_build  # the board's own build
        self.acc = CSimAccelerator("native", board.array_n,
                                   defines={k: v for k, v in get_build(board.name).defines.items() if k != "EB_N"})
        self.embedding_at = None
        self.starts = self.downloads = 0
        self.hang = False

    # -- metadata and download --
    def get_bitfile_metadata(self, bitfile_name):
        # The parser PYNQ's embedded devices use; their extra step of
        # synthesizing an xclbin for XRT needs xclbinutil, which only a board image has.
        return RuntimeMetadataParser(Metadata(input=Path(bitfile_name).with_suffix(".hwh")))

    def download(self, bitstream, parser=None):
        self.downloads += 1

    # -- memory --
    def allocate(self, shape, dtype, **kwargs):
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        raw = np.zeros(max(nbytes, 4), dtype=np.uint8)
        addr = self.next_addr
        self.next_addr += -(-max(nbytes, 4) // 4096) * 4096
        self.memory[addr] = raw
        return PynqBuffer(shape, dtype, buffer=raw, device_address=addr, device=self, coherent=True)

    def _words(self, addr, count):
        for base, raw in self.memory.items():
            if base <= addr < base + raw.size:
                return raw[addr - base: addr - base + 4 * count].view(np.uint32)
        raise AssertionError(f"the accelerator read unallocated memory at {addr:#x}")

    # -- registers --
    def _reg(self, name):
        return self.regs.get(self.offsets[name], 0)

    def _addr(self, name):
        if f"{name}_1" in self.offsets:
            return self._reg(f"{name}_1") | (self._reg(f"{name}_2") << 32)
        return self._reg(name)

    def read_registers(self, address, length):
        out = b""
        for addr in range(address, address + length, 4):
            value = self.regs.get(addr, 0)
            if addr == BASE:
                self.regs[addr] = value & ~0x2                # ap_done clears on read
            out += int(value).to_bytes(4, "little")
        return out

    def write_registers(self, address, data):
        for i in range(0, len(data), 4):
            value = int.from_bytes(data[i:i + 4], "little")
            self.regs[address + i] = value
            if address + i == BASE and value & 1:
                self._start()

    def _start(self):
        self.starts += 1
        if self.hang:
            return
        cmd, words, length = self._reg("cmd"), self._reg("image_words"), self._reg("length")
        thr = ctypes.c_int32(self._reg("threshold")).value
        loads = cmd in (Command.LOAD_SHARED, Command.LOAD_TASK)
        image = self._words(self._addr("image"), words) if loads else np.zeros(1, np.uint32)
        tokens = self._words(self._addr("tokens"), length) if cmd == Command.PHASE1 else np.zeros(1, np.uint32)
        if cmd == Command.PHASE1 and self._addr("embedding") != self.embedding_at:
            emb = self._words(self._addr("embedding"), len(EmbedHeader))
            full = self._words(self._addr("embedding"), int(emb[EmbedHeader.TOTAL_WORDS]))
            self.acc.lib.eb_set_embedding(self.acc.handle, full.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32)), full.size)
            self.embedding_at = self._addr("embedding")
        res = np.zeros(RESULT_WORDS, np.uint32)
        p = lambda a: np.ascontiguousarray(a).ctypes.data_as(ctypes.POINTER(ctypes.c_uint32))
        image, tokens = np.ascontiguousarray(image), np.ascontiguousarray(tokens)
        status = self.acc.lib.eb_call(self.acc.handle, cmd, p(image), words, p(tokens), length, thr,
                                      self._reg("stop_layer"), p(res))
        self._words(self._addr("results"), RESULT_WORDS)[:] = res
        self.regs[self.offsets["ap_return"]] = status
        self.regs[BASE] = 0x6                                # ap_done | ap_idle


@pytest.fixture(scope="module")
def tasks(artifact):
    return artifact


def _overlay(tmp_path, board, hwh=True):
    bit = tmp_path / "edgebert.bit"
    bit.write_bytes(b"\x00" * 64)                            # the fake device never configures it
    if hwh:
        write_hwh(bit.with_suffix(".hwh"), board)
    return bit


@pytest.mark.parametrize("board_name", ["zcu104", "pynq-z2"])
def test_pynq_backend_is_bit_identical_to_csim(board_name, tasks, tmp_path):
    board = get_board(board_name)
    fake = FakeAcceleratorDevice(board)
    be = PynqBackend(board, _overlay(tmp_path, board), device=fake, clock=Clock(board))
    assert fake.downloads == 1
    sim = CSimBackend(board)
    from edgebert.accel.builds import get_build
    tok = Tokenizer(min(128, get_build(board_name).limit("EB_MAX_LEN")))   # the build's longest sentence
    items = task_items("sst2", tok, 12) + task_items("mrpc", tok, 6)
    for it in items:
        task = tasks["mrpc" if it.id.startswith("mrpc") else "sst2"]
        be.prepare(task)
        sim.prepare(task)
        tok = images.token_words(it.encoded.ids, it.encoded.token_types)
        a, b = be.phase1(tok, task.threshold_q16), sim.phase1(tok, task.threshold_q16)
        assert (a.h1, a.exit_now, a.predicted_layer, list(a.logits), a.counters) == \
               (b.h1, b.exit_now, b.predicted_layer, list(b.logits), b.counters)
        if not a.exit_now:
            a, b = be.phase2(task.threshold_q16, 12), sim.phase2(task.threshold_q16, 12)
            assert (a.exit_layer, list(a.logits), a.entropies, a.counters) == \
                   (b.exit_layer, list(b.logits), b.entropies, b.counters)
    assert fake.downloads == 1                               # never inside the sentence loop
    be.close()
    sim.close()


def test_runner_on_pynq_matches_csim_and_survives_a_timeout(tasks, tmp_path):
    board = get_board("zcu104")
    task = tasks["sst2"]
    items = task_items("sst2", Tokenizer(128), 20)
    header = {"task": "sst2", "policy": "lai", "target_ms": 6.0, "backend": "x", "board": "zcu104"}
    with CSimBackend(board) as sim:
        run(sim, task, items, "lai", 6.0, tmp_path / "sim.jsonl", header, progress=False)
    fake = FakeAcceleratorDevice(board)
    be = PynqBackend(board, _overlay(tmp_path, board), device=fake, timeout_s=0.2)   # PynqClock
    assert isinstance(be.clock, PynqClock)
    out = tmp_path / "pynq.jsonl"
    run(be, task, items[:10], "lai", 6.0, out, header, progress=False)
    fake.hang = True
    with pytest.raises(AcceleratorTimeout, match="ap_done"):
        run(be, task, items, "lai", 6.0, out, header, progress=False)
    fake.hang = False
    run(be, task, items, "lai", 6.0, out, header, progress=False)
    drop = {"phase1", "phase2", "host_clock_switch_ms", "host"}
    mine = [json.loads(l) for l in out.read_text().splitlines()[1:]]
    ref = [json.loads(l) for l in (tmp_path / "sim.jsonl").read_text().splitlines()[1:]]
    assert [r["id"] for r in mine] == [r["id"] for r in ref]
    for a, b in zip(mine, ref):
        assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}
        assert a["phase1"]["counters"] == b["phase1"]["counters"]
    be.close()


def test_wrong_or_missing_overlays_are_named(tmp_path):
    board = get_board("zcu104")
    with pytest.raises(OverlayError, match="not found"):
        PynqBackend(board, tmp_path / "none.bit", device=FakeAcceleratorDevice(board), clock=Clock(board))
    bit = _overlay(tmp_path, board, hwh=False)
    with pytest.raises(OverlayError, match="hardware handoff"):
        PynqBackend(board, bit, device=FakeAcceleratorDevice(board), clock=Clock(board))
    hwh = write_hwh(bit.with_suffix(".hwh"), board)
    hwh.write_text(hwh.read_text().replace("edgebert_top", "other_ip"))
    with pytest.raises(OverlayError, match="no edgebert_top"):
        PynqBackend(board, bit, device=FakeAcceleratorDevice(board), clock=Clock(board))


@pytest.mark.parametrize("board_name", ["zcu104", "pynq-z2"])
def test_pynq_clock_sets_divisors_and_reads_back(board_name, tmp_path):
    board = get_board(board_name)
    fake = FakeAcceleratorDevice(board)
    PynqBackend(board, _overlay(tmp_path, board), device=fake).close()   # download sets the .hwh clock
    clock = PynqClock(board)
    assert clock.mhz == pytest.approx(board.default_mhz, abs=0.01)
    for mhz in board.clocks[-4:]:
        assert clock.set(mhz) == mhz
        assert ps.Clocks.fclk0_mhz == pytest.approx(mhz, abs=0.01)
    with pytest.raises(ValueError, match="maximum"):
        clock.set(board.fmax_mhz * 2)


def test_host_register_names_are_the_hls_interface():
    from edgebert.runtime.hwh import top_arguments
    from edgebert.runtime.pynq_backend import POINTERS, SCALARS
    args = dict(top_arguments())
    assert set(SCALARS) | set(POINTERS) == set(args)
    assert all(args[p] for p in POINTERS) and not any(args[s] for s in SCALARS)


def test_power_sweep_subtracts_idle_power_and_feeds_the_report(tasks, tmp_path):
    """Windows of sentences at each clock on the (fake) board, with a power source that reads
    2 W idle and 3.5 W while the accelerator works."""
    from edgebert.analysis.report import build_report
    from edgebert.runtime.measure import power_sweep
    from edgebert.runtime.power import PowerSource

    class Sensor(PowerSource):
        name = "stub"
        busy = False

        def sample(self):
            return 3.5 if self.busy else 2.0

    board = get_board("zcu104")
    fake = FakeAcceleratorDevice(board)
    be = PynqBackend(board, _overlay(tmp_path, board), device=fake)
    sensor = Sensor()
    phase1 = be.phase1

    def busy_phase1(*a):
        sensor.busy = True
        return phase1(*a)
    be.phase1 = busy_phase1
    set_clock = be.set_clock

    def quiet_set_clock(mhz):                     # each clock starts with an idle window
        sensor.busy = False
        return set_clock(mhz)
    be.set_clock = quiet_set_clock
    items = task_items("sst2", Tokenizer(128), 10)
    out = power_sweep(be, tasks["sst2"], items, [187.5, 93.75], sensor, sentences=20, idle_s=0.1)
    assert [r["clock_mhz"] for r in out["clocks"]] == [187.5, 93.75]
    for r in out["clocks"]:
        assert r["sentences"] == 20 and r["idle_w"] == 2.0
        assert 2.0 < r["active_w"] <= 3.5
        assert r["energy_mj_per_sentence"] == pytest.approx((r["active_w"] - 2.0) * r["seconds"] / 20 * 1e3)
    be.close()
    header = {"task": "sst2", "policy": "ee", "target_ms": 6.0, "backend": "pynq", "board": "zcu104", "array_n": 16}
    with CSimBackend(board) as sim:
        run(sim, tasks["sst2"], items, "ee", 6.0, tmp_path / "ee.jsonl", header, progress=False)
    summary = build_report([tmp_path / "ee.jsonl"], tmp_path / "rep", measured=out)
    rows = summary["measured"]["clocks"]
    assert rows[0]["asic_volts"] == 0.8 and rows[1]["asic_volts"] < 0.8
    assert rows[1]["asic_uj_per_sentence"] < rows[0]["asic_uj_per_sentence"]
    assert "Measured on zcu104" in (tmp_path / "rep" / "report.md").read_text()
    assert (tmp_path / "rep" / "measured_energy.png").read_bytes()[:4] == b"\x89PNG"


def test_pipelined_run_on_pynq_allocates_its_buffers_once(tasks, tmp_path):
    """The pipelined runner on the fake board: the same records as the serial run, and after
    the backend's construction and the task's first load no buffer is ever allocated again
    (the two token slots are double-buffered, the images stay where they were put)."""
    from edgebert.runtime.pipeline import Mapping, run_pipelined
    board = get_board("zcu104")
    task = tasks["sst2"]
    header = {"task": "sst2", "policy": "lai", "target_ms": 6.0, "backend": "pynq", "board": "zcu104"}
    tok = Tokenizer(128)
    fake = FakeAcceleratorDevice(board)
    allocations = []
    allocate = fake.allocate
    fake.allocate = lambda *a, **k: allocations.append(a) or allocate(*a, **k)
    be = PynqBackend(board, _overlay(tmp_path, board), device=fake, clock=Clock(board))
    assert len(allocations) == 1 + be.staging_slots              # results, one token buffer per slot
    be.prepare(task)
    loaded = len(allocations)
    run(be, task, task_items("sst2", tok, 16), "lai", 6.0, tmp_path / "serial.jsonl", header, progress=False)
    items = task_items("sst2", tok, 16, defer=True)
    be.set_clock(Clock(board).mhz)                               # where the serial run started
    run_pipelined(be, task, items, "lai", 6.0, tmp_path / "piped.jsonl", header, Mapping(depth=2), progress=False)
    assert len(allocations) == loaded                            # nothing allocated per sentence
    serial, piped = ([json.loads(l) for l in (tmp_path / f).read_text().splitlines()[1:]]
                     for f in ("serial.jsonl", "piped.jsonl"))
    keep = ("id", "prediction", "exit_layer", "logits", "entropies", "latency_ms")
    assert [[r[k] for k in keep] for r in piped] == [[r[k] for k in keep] for r in serial]
    assert [r["phase1"]["counters"] for r in piped] == [r["phase1"]["counters"] for r in serial]
    be.close()
