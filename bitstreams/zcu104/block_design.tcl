# EdgeBERT overlay for the ZCU104 (Zynq UltraScale+ XCZU7EV): block design, implementation,
# bitstream and .hwh. Run from the repository root (or through `make -C bitstreams BOARD=zcu104`):
#
#   vivado -mode batch -source bitstreams/zcu104/block_design.tcl \
#       -tclargs build/hls/zcu104/solution1/impl/ip OUT_DIR [PROJECT_DIR]
#
# Writes OUT_DIR/edgebert_zcu104.bit, edgebert_zcu104.hwh, timing.json, timing_summary.rpt and
# utilization.rpt; fails if timing is not met. The part, board part, processing system, PS PLL
# and clock come from hls/tcl/boards.tcl (generated from model_export/accel/boards.json); the
# design itself is built by eb_build_overlay (../common.tcl).
#
# PS: zynq_ultra_ps_e with the ZCU104 board preset. PL clock 0 from the IO PLL at the highest
# clock its dividers reach at or below the HLS target (1500 / 8 = 187.5 MHz for 200 MHz).
# Control registers at 0xA000_0000 (M_AXI_HPM0_FPD), data masters on S_AXI_HP0_FPD and
# S_AXI_HP1_FPD, interrupt on pl_ps_irq0.

source [file join [file dirname [file normalize [info script]]] .. common.tcl]
eb_build_overlay zcu104 $argv
