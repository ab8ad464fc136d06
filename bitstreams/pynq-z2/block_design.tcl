# EdgeBERT overlay for the PYNQ-Z2 (Zynq-7000 XC7Z020): block design, implementation, bitstream
# and .hwh. Run from the repository root (or through `make -C bitstreams BOARD=pynq-z2`):
#
#   vivado -mode batch -source bitstreams/pynq-z2/block_design.tcl \
#       -tclargs build/hls/pynq-z2/solution1/impl/ip OUT_DIR [PROJECT_DIR]
#
# Writes OUT_DIR/edgebert_pynq-z2.bit, edgebert_pynq-z2.hwh, timing.json, timing_summary.rpt and
# utilization.rpt; fails if timing is not met. The part, board part, processing system, PS PLL
# and clock come from hls/tcl/boards.tcl (generated from model_export/accel/boards.json); the
# design itself is built by eb_build_overlay (../common.tcl).
#
# PS: processing_system7 with the PYNQ-Z2 board preset (TUL's board files, which Vivado does not
# ship: install them in the board store or set EB_BOARD_REPO_PATHS). FCLK_CLK0 from the IO PLL
# at 1000 / 10 = 100 MHz. Control registers at 0x4000_0000 (M_AXI_GP0), data masters on
# S_AXI_HP0 and S_AXI_HP1, interrupt on IRQ_F2P.

source [file join [file dirname [file normalize [info script]]] .. common.tcl]
eb_build_overlay pynq-z2 $argv
