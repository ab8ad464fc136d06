"""The accelerator's AXI4-Lite register map, derived from the HLS interface description (the
top function's signature in `hls/src/edgebert_top.h` and the INTERFACE pragmas of
`edgebert_top.cpp`), and a `.hwh` hardware handoff that describes it.

The register layout follows Vitis HLS's s_axilite convention: CTRL, GIER, IP_IER, IP_ISR at
0x00..0x0c, ap_return at 0x10, then each argument in signature order: a 32-bit scalar in an
8-byte slot; a pointer with `offset=slave` as `<name>_1` / `<name>_2` (low / high address word)
in a 12-byte slot when addresses are 64-bit, or as `<name>` in an 8-byte slot when 32-bit.
The host never relies on these offsets: it reads them from the `.hwh` by register name. The
generated `.hwh` serves tests (fake PYNQ devices) and documents what a real build exports; a
board's own `.hwh` comes from Vivado.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from edgebert.core.paths import REPO_ROOT

TOP = "edgebert_top"
TOP_HEADER = REPO_ROOT / "hls" / "src" / "edgebert_top.h"
TOP_SOURCE = REPO_ROOT / "hls" / "src" / "edgebert_top.cpp"
CTRL_FIELDS = (("AP_START", 0, "read-write"), ("AP_DONE", 1, "read-only"), ("AP_IDLE", 2, "read-only"),
               ("AP_READY", 3, "read-only"), ("AUTO_RESTART", 7, "read-write"))


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    access: str
    description: str


def top_arguments(header: Path = TOP_HEADER, source: Path = TOP_SOURCE) -> list[tuple[str, bool]]:
    """(name, is_pointer) of each argument of the top function, in order, with the check that
    every pointer is an m_axi port and every scalar an s_axilite one."""
    sig = re.search(rf"int\s+{TOP}\s*\(([^)]*)\)", header.read_text(), re.S)
    if not sig:
        raise ValueError(f"{header}: no declaration of {TOP}")
    args = []
    for part in sig.group(1).split(","):
        args.append((re.search(r"(\w+)\s*$", part.strip()).group(1), "*" in part))
    # The top's interface directives are eb_pragmas.h's macros.
    text = source.read_text()
    modes = {**{port: "m_axi" for port in re.findall(r"EB_AXI_MASTER\((\w+),", text)},
             **{port: "s_axilite" for port in re.findall(r"EB_AXI_LITE\((\w+)\)", text)}}
    for name, pointer in args:
        want = "m_axi" if pointer else "s_axilite"
        if modes.get(name) != want:
            raise ValueError(f"{source}: argument {name} should be an {want} port, the pragmas say {modes.get(name)}")
    return args


def register_map(addr64: bool = True) -> list[Register]:
    regs = [Register("CTRL", 0x00, "read-write", "Control signals"),
            Register("GIER", 0x04, "read-write", "Global Interrupt Enable Register"),
            Register("IP_IER", 0x08, "read-write", "IP Interrupt Enable Register"),
            Register("IP_ISR", 0x0C, "read-write", "IP Interrupt Status Register"),
            Register("ap_return", 0x10, "read-only", "Data signal of ap_return")]
    at = 0x18
    for name, pointer in top_arguments():
        if pointer and addr64:
            regs += [Register(f"{name}_1", at, "write-only", f"Data signal of {name} (low word)"),
                     Register(f"{name}_2", at + 4, "write-only", f"Data signal of {name} (high word)")]
            at += 12
        else:
            regs.append(Register(name, at, "write-only", f"Data signal of {name}"))
            at += 8
    return regs


def _register_xml(r: Register) -> str:
    fields = ""
    if r.name == "CTRL":
        fields = "<FIELDS>" + "".join(
            f'<FIELD NAME="{n}"><PROPERTY NAME="DESCRIPTION" VALUE="{n}"/>'
            f'<PROPERTY NAME="ACCESS" VALUE="{acc}"/><PROPERTY NAME="BIT_OFFSET" VALUE="{bit}"/>'
            f'<PROPERTY NAME="BIT_WIDTH" VALUE="1"/></FIELD>' for n, bit, acc in CTRL_FIELDS) + "</FIELDS>"
    return (f'<REGISTER NAME="{r.name}"><PROPERTY NAME="DESCRIPTION" VALUE={quoteattr(r.description)}/>'
            f'<PROPERTY NAME="ADDRESS_OFFSET" VALUE="{r.offset}"/><PROPERTY NAME="SIZE" VALUE="32"/>'
            f'<PROPERTY NAME="ACCESS" VALUE="{r.access}"/><PROPERTY NAME="IS_ENABLED" VALUE="true"/>{fields}</REGISTER>')


def write_hwh(path: Path, board, base: int = 0xA0000000, span: int = 0x10000) -> Path:
    """A hardware handoff with the PS and one `edgebert_top_0` instance behind its AXI4-Lite port."""
    addr64 = board.name != "pynq-z2"
    ps = "zynq_ultra_ps_e" if addr64 else "processing_system7"
    master = "M_AXI_HPM0_FPD" if addr64 else "M_AXI_GP0"
    regs = "".join(_register_xml(r) for r in register_map(addr64))
    d0, d1 = board.clock_table.get(board.default_mhz, board.clock_table[board.top_clock])
    ps_params = ""
    for i in range(4):
        div = (d0, d1) if i == 0 else (1, 1)
        names = ((f"PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR{{}}", f"PSU__FPGA_PL{i}_ENABLE") if addr64 else
                 (f"PCW_FCLK{i}_PERIPHERAL_DIVISOR{{}}", f"PCW_FPGA_FCLK{i}_ENABLE"))
        ps_params += "".join(f'<PARAMETER NAME="{names[0].format(j)}" VALUE="{div[j]}"/>' for j in range(2))
        ps_params += f'<PARAMETER NAME="{names[1]}" VALUE="{int(i == 0)}"/>'
        mhz = board.pll_mhz / (div[0] * div[1])
        extra = ((f"PSU__CRL_APB__PL{i}_REF_CTRL__SRCSEL", "IOPLL"), (f"PSU__CRL_APB__PL{i}_REF_CTRL__ACT_FREQMHZ", f"{mhz:.6f}"))\
            if addr64 else ((f"PCW_FCLK{i}_PERIPHERAL_CLKSRC", "IO PLL"), (f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ", f"{mhz:.6f}"),
                            # pynq 4.0's metadata reads every PS's clock rate under the ZU+ name
                            (f"PSU__CRL_APB__PL{i}_REF_CTRL__ACT_FREQMHZ", f"{mhz:.6f}"))
        ps_params += "".join(f'<PARAMETER NAME="{k}" VALUE="{v}"/>' for k, v in extra)
    xml = f"""<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<EDKSYSTEM EDWVERSION="1.2" TIMESTAMP="generated" VIVADOVERSION="2023.2">
  <SYSTEMINFO ARCH="{'zynquplus' if addr64 else 'zynq'}" DEVICE="{board.part}" NAME="edgebert_{board.name}"/>
  <EXTERNALPORTS/>
  <MODULES>
    <MODULE FULLNAME="/ps" INSTANCE="ps" MODTYPE="{ps}" VLNV="xilinx.com:ip:{ps}:1.0">
      <PARAMETERS>{ps_params}</PARAMETERS>
      <MEMORYMAP>
        <MEMRANGE ADDRESSBLOCK="Reg" BASENAME="C_S_AXI_CONTROL_BASEADDR" BASEVALUE="{base:#x}" HIGHNAME="C_S_AXI_CONTROL_HIGHADDR" HIGHVALUE="{base + span - 1:#x}" INSTANCE="{TOP}_0" IS_DATA="TRUE" IS_INSTRUCTION="TRUE" MASTERBUSINTERFACE="{master}" MEMTYPE="REGISTER" SLAVEBUSINTERFACE="s_axi_control"/>
      </MEMORYMAP>
      <PORTS/>
      <BUSINTERFACES>
        <BUSINTERFACE BUSNAME="ps_{master}" NAME="{master}" TYPE="MASTER" VLNV="xilinx.com:interface:aximm:1.0"/>
      </BUSINTERFACES>
    </MODULE>
    <MODULE FULLNAME="/{TOP}_0" INSTANCE="{TOP}_0" MODTYPE="{TOP}" VLNV="xilinx.com:hls:{TOP}:1.0">
      <PARAMETERS>
        <PARAMETER NAME="C_S_AXI_CONTROL_BASEADDR" VALUE="{base:#x}"/>
        <PARAMETER NAME="C_S_AXI_CONTROL_HIGHADDR" VALUE="{base + span - 1:#x}"/>
        <PARAMETER NAME="C_M_AXI_GMEM0_ADDR_WIDTH" VALUE="{64 if addr64 else 32}"/>
      </PARAMETERS>
      <ADDRESSBLOCKS>
        <ADDRESSBLOCK ACCESS="read-write" INTERFACE="s_axi_control" NAME="Reg" RANGE="{span}" USAGE="register">
          <REGISTERS>{regs}</REGISTERS>
        </ADDRESSBLOCK>
      </ADDRESSBLOCKS>
      <PORTS/>
      <BUSINTERFACES>
        <BUSINTERFACE BUSNAME="ps_{master}" NAME="s_axi_control" TYPE="SLAVE" VLNV="xilinx.com:interface:aximm:1.0"/>
      </BUSINTERFACES>
    </MODULE>
  </MODULES>
</EDKSYSTEM>
"""
    path = Path(path)
    path.write_text(xml)
    return path
