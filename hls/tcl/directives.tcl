# Synthesis directives of the EdgeBERT accelerator. Sourced by build.tcl after open_solution
# -reset and set_part, only when the run includes csynth (a solution that is not reset keeps the
# directives it was synthesized with). Uses build.tcl's variables: top, n, cfg (the board's
# entry of boards.tcl) and state_directives.
#
# What the source already says as pragmas (the macros of hls/include/eb_pragmas.h; another HLS
# tool builds with -DEB_HLS_DIALECT_NONE and takes these from its own script), and is
# therefore not repeated here:
#   hls/include/eb_mac.h, mac_array():
#     ARRAY_PARTITION acc complete dim=0   the N x N accumulators are registers, all updated
#                                          in the same cycle
#     ARRAY_PARTITION ak, bk complete      the N row and N column operands of one cycle
#     PIPELINE II=1 on the k loop          one operand pair per lane per cycle, with the N x N
#                                          lane loops UNROLLed inside it
#     PIPELINE II=1 on the drain loop      N results per cycle through the requantizer
#   hls/src/edgebert_top.cpp: INTERFACE m_axi (image, embedding, tokens, results) and s_axilite
#     (the scalars and return) for every port.
# No loop in the source carries a label, so no loop-level directive is given here. The
# accumulator partitioning is not repeated in Tcl either: mac_array is a function template
# instantiated once per operand-fetch combination, and a Tcl location naming it does not
# reliably select those instantiations; the in-source pragma covers every instantiation.

foreach v {top n cfg state_directives} {
    if {![info exists $v]} {
        error "directives.tcl: variable '$v' is not set; source this file from build.tcl"
    }
}

# ---- AXI masters ---------------------------------------------------------------------------
# Latency hint: the adapters keep this many cycles of read requests in flight, so that bursts
# (the image loads, the embedding rows) are issued back to back instead of one round trip each.
config_interface -m_axi_latency [dict get $cfg m_axi_latency]
# Address width of the m_axi ports: 32 bits on Zynq-7000 (its HP ports are 32-bit), 64 bits on
# Zynq UltraScale+. The host driver must write the pointer registers accordingly.
if {[dict get $cfg m_axi_addr64]} {
    config_interface -m_axi_addr64=true
} else {
    config_interface -m_axi_addr64=false
}

# ---- on-chip state (opt-in: state_directives=1) ----------------------------------------------
# The buffers are members of `static eb::State accel_state` (edgebert_top.cpp), a file-scope
# struct that Vitis HLS disaggregates into one array per member. Naming such a member in a Tcl
# directive (`accel_state.wcodes`, location = the top function) follows the member syntax that
# UG1399 documents for INTERFACE and DISAGGREGATE, but it is not documented for ARRAY_PARTITION,
# ARRAY_RESHAPE or BIND_STORAGE, so these directives are not applied by default. Enable them with
# `state_directives=1` and check the csynth log for the "Partitioning array" / "Reshaping array"
# messages of every buffer named below; where the tool does not take them, the same settings
# belong in the source as pragmas next to the buffers.
#
# What they do, for an n x n array (n = EB_N):
#   wcodes, tbuf: the weight store's packed codes (bitmask-sparse, docs/hardware.md) and the
#     dense position and type tables. The fetch reads up to n codes per cycle, so ARRAY_RESHAPE
#     cyclic factor n packs n codes into one 8n-bit word. Reshape rather than partition: n
#     separate 8-bit banks would fill UltraRAM (72 bits wide) to one ninth; the packed words fill
#     about 42 UltraRAMs for the edge limits (zcu104: 96, kv260: 64). A tile's codes start at any
#     code, so the fetch reads two consecutive words (or keeps the rest of the last one); until
#     it does, expect the k loop to miss II=1.
#   wmask: one n-bit lane mask per cycle, read in order: reshaped 64 / n to a 64-bit word.
#   x, q, k, ctx, ffn_buf, emb, probs: the n row lanes read rows i0 .. i0+n-1 of one column per
#     cycle (operand A, and K^T for Q K^T), so partition cyclic n on dimension 1 (rows).
#   v: read as operand B of P V, n consecutive columns of one row, so partition on dimension 2.
#   scores, tmp: written n columns per cycle by the drain and read row by row (softmax,
#     LayerNorm), so partition on dimension 2.
#   The drain writes n consecutive columns of one row per cycle; into a buffer partitioned by
#   rows those writes share one bank and its single write port, so the drain into x, q, k, ctx
#   and ffn_buf takes up to n cycles per row instead of one (a drain that walked each tile by
#   columns would not).
if {$state_directives} {
    set state accel_state
    foreach buf {wcodes tbuf} {
        set_directive_array_reshape -type cyclic -factor $n -dim 1 $top $state.$buf
        set_directive_bind_storage -type ram_2p -impl [dict get $cfg wbuf_storage] $top $state.$buf
    }
    set_directive_array_reshape -type cyclic -factor [expr {64 / $n}] -dim 1 $top $state.wmask
    set_directive_bind_storage -type ram_2p -impl [dict get $cfg wbuf_storage] $top $state.wmask

    foreach buf {x q k ctx ffn_buf emb probs} {
        set_directive_array_partition -type cyclic -factor $n -dim 1 $top $state.$buf
    }
    foreach buf {v scores tmp} {
        set_directive_array_partition -type cyclic -factor $n -dim 2 $top $state.$buf
    }
    # The large activation buffers: dual-port block RAM banks (one port for the operand reads,
    # one for the drain writes). Each bank is 16 bits wide: block RAM (18-bit ports) holds that
    # almost without waste, UltraRAM (72 bits) would leave three quarters of every word empty.
    foreach buf {x q k v ctx tmp ffn_buf} {
        set_directive_bind_storage -type ram_2p -impl [dict get $cfg act_storage] $top $state.$buf
    }
}
