# EdgeBERT overlay for the Kria KV260 (K26 SOM, Zynq UltraScale+ XCK26): block design,
# implementation, bitstream and .hwh. Run from the repository root (or through
# `make -C bitstreams BOARD=kv260`):
#
#   vivado -mode batch -source bitstreams/kv260/block_design.tcl \
#       -tclargs build/hls/kv260/solution1/impl/ip OUT_DIR [PROJECT_DIR]
#
# Writes OUT_DIR/edgebert_kv260.bit, edgebert_kv260.hwh, timing.json, timing_summary.rpt and
# utilization.rpt; fails if timing is not met. The part, board part, carrier connection,
# processing system, PS PLL and clock come from hls/tcl/boards.tcl (generated from
# model_export/accel/boards.json); the design itself is built by eb_build_overlay (../common.tcl).
#
# PS: zynq_ultra_ps_e with the K26 SOM board preset (the KV260 carrier is recorded as the board
# connection; no carrier I/O is used). PL clock 0 from the IO PLL at the highest clock its
# dividers reach at or below the HLS target (1500 / 8 = 187.5 MHz for 200 MHz). Control
# registers at 0xA000_0000 (M_AXI_HPM0_FPD), data masters on S_AXI_HP0_FPD and S_AXI_HP1_FPD,
# interrupt on pl_ps_irq0.

source [file join [file dirname [file normalize [info script]]] .. common.tcl]
eb_build_overlay kv260 $argv
