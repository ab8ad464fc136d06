# Per-board build parameters of the EdgeBERT accelerator: one entry per board in the dict
# `eb_boards`. build.tcl sources this file; other tools can source it too, or run
#     tclsh hls/tcl/boards.tcl
# which prints the same table as JSON.
#
# Fields of a board:
#   part           FPGA part (set_part)
#   n              MAC array edge, EB_N: an n x n array of multiply-accumulators
#   clock_ns       target clock period in ns (create_clock -period)
#   limits         build-time buffer limits, the eb_types.h macros; a task must fit within them
#                  (the loader answers ST_IMAGE_TOO_LARGE otherwise)
#   m_axi_addr64   1: 64-bit m_axi addresses (Zynq UltraScale+ HP ports take 40-bit addresses);
#                  0: 32-bit addresses (Zynq-7000). Changes the AXI-Lite register map: with 1,
#                  every pointer argument has a low and a high 32-bit register.
#   m_axi_latency  DDR read latency the m_axi adapters are scheduled for, in clock cycles. A
#                  scheduling hint (config_interface -m_axi_latency), not a measurement.
#   wbuf_storage   memory kind of the weight-code buffer (bind_storage -impl): uram or bram
#   act_storage    memory kind of the activation buffers (bind_storage -impl)
#
# Limits: pynq-z2 is sized for the `tiny` model config, zcu104 and kv260 for `edge`
# (configs/model/). To fit the xc7z020's 140 block RAMs, pynq-z2 holds sentences of up to 64
# tokens and keeps the off-ramp weights in DDR (EB_RAMPS_IN_DDR: fetched per layer); to fit the
# xck26's 144 block RAMs, kv260 holds sentences of up to 64 tokens (the longest SST-2 dev
# sentence has 55). The resource estimate is `edgebert build --board B --estimate`. EB_MAX_LAYERS, EB_MAX_CLASSES and EB_MAX_TYPES are fixed in eb_types.h.

set eb_boards {
    pynq-z2 {
        part          xc7z020clg400-1
        n             8
        clock_ns      10
        limits        {EB_MAX_LEN 64 EB_MAX_E 128 EB_MAX_H 128 EB_MAX_FFN 512 EB_MAX_HEADS 4 EB_RAMPS_IN_DDR 1}
        m_axi_addr64  0
        m_axi_latency 32
        wbuf_storage  bram
        act_storage   bram
    }
    zcu104 {
        part          xczu7ev-ffvc1156-2-e
        n             16
        clock_ns      5
        limits        {EB_MAX_LEN 128 EB_MAX_E 128 EB_MAX_H 256 EB_MAX_FFN 1024 EB_MAX_HEADS 4 EB_RAMPS_IN_DDR 0}
        m_axi_addr64  1
        m_axi_latency 64
        wbuf_storage  uram
        act_storage   bram
    }
    kv260 {
        part          xck26-sfvc784-2LV-c
        n             16
        clock_ns      5
        limits        {EB_MAX_LEN 64 EB_MAX_E 128 EB_MAX_H 256 EB_MAX_FFN 1024 EB_MAX_HEADS 4 EB_RAMPS_IN_DDR 0}
        m_axi_addr64  1
        m_axi_latency 64
        wbuf_storage  uram
        act_storage   bram
    }
}

# The order in which the limit macros are passed to the compiler.
set eb_limit_macros {EB_MAX_LEN EB_MAX_E EB_MAX_H EB_MAX_FFN EB_MAX_HEADS EB_RAMPS_IN_DDR}

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

proc eb_boards_json {} {
    set boards {}
    dict for {name cfg} $::eb_boards {
        set fields {}
        dict for {k v} $cfg {
            if {$k eq "limits"} {
                set lim {}
                dict for {m x} $v { lappend lim "\"$m\": $x" }
                lappend fields "\"$k\": \{[join $lim {, }]\}"
            } elseif {[string is integer -strict $v] || [string is double -strict $v]} {
                lappend fields "\"$k\": $v"
            } else {
                lappend fields "\"$k\": \"$v\""
            }
        }
        lappend boards "  \"$name\": \{[join $fields {, }]\}"
    }
    return "\{\n[join $boards ",\n"]\n\}"
}

if {[info exists ::argv0] && [file normalize $::argv0] eq [file normalize [info script]]} {
    puts [eb_boards_json]
}
