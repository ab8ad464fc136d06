"""Power sources for energy measured on a board: ZCU104 PMBus rails (pynq.get_rails), the KV260's
INA260 through Linux hwmon, an external meter's CSV log (PYNQ-Z2), or none (C-simulation).

Sensors are too slow for one sentence (docs/design.md section 8.2): measure windows of many sentences
at each clock and subtract the idle power. Each source gives average power in watts over a
window [t0, t1] of wall-clock time (time.time()).
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

from edgebert.core.errors import DeviceError


class PowerError(DeviceError):
    """A power source that cannot be read."""


class PowerSource:
    name = "none"

    def sample(self) -> float | None:
        """Instantaneous power in watts, or None when there is no sensor."""
        return None

    def window(self, t0: float, t1: float) -> float | None:
        """Average power over a past window; sources that cannot look back return None."""
        return None


class NoPower(PowerSource):
    pass


class HwmonPower(PowerSource):
    """A Linux hwmon power channel (the KV260's INA260 reports power1_input in microwatts)."""
    name = "hwmon"

    def __init__(self, root: str | Path = "/sys/class/hwmon", chip: str = "ina260"):
        self.path = None
        for d in sorted(Path(root).glob("hwmon*")):
            if (d / "name").is_file() and (d / "name").read_text().strip() == chip and (d / "power1_input").is_file():
                self.path = d / "power1_input"
                break
        if self.path is None:
            raise PowerError(f"no hwmon device named {chip!r} with power1_input under {root}")

    def sample(self) -> float:
        return int(self.path.read_text().strip()) / 1e6


class PmbusPower(PowerSource):
    """Sum of the ZCU104's PMBus rails that feed the PL and the PS (pynq.get_rails)."""
    name = "pmbus"
    RAILS = ("VCCINT", "VCCBRAM", "VCCAUX", "VCC1V2", "VCC3V3")

    def __init__(self, rails=RAILS):
        import pynq
        found = pynq.get_rails()
        missing = [r for r in rails if r not in found]
        if missing:
            raise PowerError(f"PMBus rails {missing} not found; the board has {sorted(found)}")
        self.rails = {r: found[r] for r in rails}

    def sample(self) -> float:
        return float(sum(r.power.value for r in self.rails.values()))


class CsvMeterPower(PowerSource):
    """An external meter's log: CSV rows `unix_time_s,watts` (header optional), appended while the
    run goes on; a window's power is the mean of its samples."""
    name = "external"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise PowerError(f"power meter log {self.path} not found")

    def _rows(self):
        with open(self.path, newline="") as f:
            for row in csv.reader(f):
                try:
                    yield float(row[0]), float(row[1])
                except (ValueError, IndexError):
                    continue                          # header or a partly written line

    def window(self, t0: float, t1: float) -> float | None:
        values = [w for t, w in self._rows() if t0 <= t <= t1]
        return sum(values) / len(values) if values else None

    def sample(self) -> float | None:
        last = None
        for _, w in self._rows():
            last = w
        return last


def measure_window(source: PowerSource, work, interval_s: float = 0.05) -> tuple[float | None, float]:
    """Run `work()` while sampling `source`; (mean watts or None, seconds)."""
    import threading
    samples, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            v = source.sample()
            if v is not None:
                samples.append(v)
            stop.wait(interval_s)

    t0 = time.time()
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        work()
    finally:
        stop.set()
        thread.join()
    t1 = time.time()
    if samples:
        return sum(samples) / len(samples), t1 - t0
    return source.window(t0, t1), t1 - t0


def power_source(board, meter_csv: str | None = None) -> PowerSource:
    """The board's source (its description names it); an external CSV when one is given."""
    if meter_csv:
        return CsvMeterPower(meter_csv)
    kind = board.power
    if kind == "pmbus":
        return PmbusPower()
    if kind == "hwmon":
        return HwmonPower()
    return NoPower()
