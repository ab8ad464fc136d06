# Per-board build parameters of the EdgeBERT accelerator: one entry per board in the dict
# `eb_boards`. hls/tcl/build.tcl and bitstreams/common.tcl source this file; other tools can
# source it too, or run
#     tclsh hls/tcl/boards.tcl
# which prints the same table as JSON.
#
# GENERATED from model_export/accel/boards.json by
#     edgebert generate
# Do not edit: edit the JSON and regenerate (a test fails while this file is stale).
#
# Fields of a board:
#   part              FPGA part (set_part, create_project -part)
#   n                 MAC array edge, EB_N: an n x n array of multiply-accumulators
#   clock_ns          target clock period of the HLS build in ns (create_clock -period); 1000 /
#                     clock_ns is the board's maximum clock until bitstreams/<board>/timing.json
#                     reports a lower measured fmax_mhz
#   pll_mhz           PS PLL feeding the PL clock dividers, MHz: the IO PLL of the board's PS
#                     preset; reachable PL clocks are pll / (d0 d1), 1 <= d0, d1 <= 63
#                     (docs/design.md section 8.2)
#   limits            build-time buffer limits, the eb_interface.h macros (defaults in
#                     edgebert.accel.interface), in the order they are passed to the compiler; a
#                     task must fit within them (the loader answers ST_IMAGE_TOO_LARGE otherwise).
#                     EB_MAX_LAYERS, EB_MAX_CLASSES and EB_MAX_TYPES are fixed in
#                     edgebert.accel.interface
#   m_axi_addr64      true: 64-bit m_axi addresses (Zynq UltraScale+ HP ports take 40-bit
#                     addresses); false: 32-bit addresses (Zynq-7000). Changes the AXI-Lite register
#                     map: with true, every pointer argument has a low and a high 32-bit register
#   m_axi_latency     DDR read latency the m_axi adapters are scheduled for, in clock cycles. A
#                     scheduling hint (config_interface -m_axi_latency), not a measurement
#   wbuf_storage      memory kind of the weight-code buffer (bind_storage -impl): uram or bram
#   act_storage       memory kind of the activation buffers (bind_storage -impl)
#   board_part        Vivado board part (its board files give the PS preset: DDR, MIO, PLLs)
#   ps                processing-system IP of the overlay: zynq_ultra_ps_e (Zynq UltraScale+) or
#                     processing_system7 (Zynq-7000)
#   board_connections carrier card connection of a system-on-module, for the record (optional)
#
# The boards:
#   zcu104            Sized for the edge model config (MiniLM-L6's layer shape): sentences of up to
#                     128 tokens, the weight codes in UltraRAM.
#   kv260             Sized for the edge model config (MiniLM-L6's layer shape); to fit the part's
#                     144 block RAMs it holds sentences of up to 64 tokens (the longest SST-2 dev
#                     sentence has 55), an 8 x 8 array and the off-ramps in DDR.
#   pynq-z2           Sized for the tiny model config; to fit the part's 140 block RAMs it holds
#                     sentences of up to 64 tokens and keeps the off-ramp weights in DDR
#                     (EB_RAMPS_IN_DDR: fetched per layer).

set eb_boards {
    zcu104 {
        part              xczu7ev-ffvc1156-2-e
        n                 16
        clock_ns          5
        pll_mhz           1500
        limits            {EB_MAX_LEN 128 EB_MAX_E 128 EB_MAX_H 384 EB_MAX_FFN 1536 EB_MAX_HEADS 12 EB_RAMPS_IN_DDR 0 EB_WEIGHT_DENSITY 60}
        m_axi_addr64      true
        m_axi_latency     64
        wbuf_storage      uram
        act_storage       bram
        board_part        xilinx.com:zcu104:part0:1.1
        ps                zynq_ultra_ps_e
    }
    kv260 {
        part              xck26-sfvc784-2LV-c
        n                 8
        clock_ns          5
        pll_mhz           1500
        limits            {EB_MAX_LEN 64 EB_MAX_E 128 EB_MAX_H 384 EB_MAX_FFN 1536 EB_MAX_HEADS 12 EB_RAMPS_IN_DDR 1 EB_WEIGHT_DENSITY 60}
        m_axi_addr64      true
        m_axi_latency     64
        wbuf_storage      uram
        act_storage       bram
        board_part        xilinx.com:kv260_som:part0:1.4
        ps                zynq_ultra_ps_e
        board_connections {som240_1_connector xilinx.com:kv260_carrier:som240_1_connector:1.3}
    }
    pynq-z2 {
        part              xc7z020clg400-1
        n                 8
        clock_ns          10
        pll_mhz           1000
        limits            {EB_MAX_LEN 64 EB_MAX_E 128 EB_MAX_H 128 EB_MAX_FFN 512 EB_MAX_HEADS 4 EB_RAMPS_IN_DDR 1 EB_WEIGHT_DENSITY 60}
        m_axi_addr64      false
        m_axi_latency     32
        wbuf_storage      bram
        act_storage       bram
        board_part        tul.com.tw:pynq-z2:part0:1.0
        ps                processing_system7
    }
}

# The order in which the limit macros are passed to the compiler.
set eb_limit_macros {EB_MAX_LEN EB_MAX_E EB_MAX_H EB_MAX_FFN EB_MAX_HEADS EB_RAMPS_IN_DDR EB_WEIGHT_DENSITY}

proc eb_board_names {} {
    return [dict keys $::eb_boards]
}

# The parameters of one board; an error naming the known boards if there is no such board.
proc eb_board {name} {
    if {![dict exists $::eb_boards $name]} {
        error "unknown board '$name'; known boards: [join [eb_board_names] {, }]"
    }
    return [dict get $::eb_boards $name]
}

# -D flags for a board: EB_N and the limits, in eb_limit_macros order.
proc eb_board_defines {name} {
    set cfg [eb_board $name]
    set flags [list "-DEB_N=[dict get $cfg n]"]
    foreach m $::eb_limit_macros {
        lappend flags "-D$m=[dict get $cfg limits $m]"
    }
    return $flags
}

proc eb_json_value {v} {
    if {$v in {true false} || [string is integer -strict $v] || [string is double -strict $v]} {
        return $v
    }
    return "\"$v\""
}

proc eb_boards_json {} {
    set boards {}
    dict for {name cfg} $::eb_boards {
        set fields {}
        dict for {k v} $cfg {
            if {$k eq "limits"} {
                set lim {}
                dict for {m x} $v { lappend lim "\"$m\": $x" }
                lappend fields "\"$k\": \{[join $lim {, }]\}"
            } else {
                lappend fields "\"$k\": [eb_json_value $v]"
            }
        }
        lappend boards "  \"$name\": \{[join $fields {, }]\}"
    }
    return "\{\n[join $boards ",\n"]\n\}"
}

if {[info exists ::argv0] && [file normalize $::argv0] eq [file normalize [info script]]} {
    puts [eb_boards_json]
}
