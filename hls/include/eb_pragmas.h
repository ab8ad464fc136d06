// The synthesis directives the source carries, in one place. Every vendor pragma of the kernels
// and the top is one of these macros, so another HLS tool takes the code by defining
// EB_HLS_DIALECT_NONE (the macros then expand to nothing and its own script gives the
// directives; hls/tcl/directives.tcl lists what they are) or by adding its dialect here.
// Default: Vitis HLS.
#ifndef EB_PRAGMAS_H
#define EB_PRAGMAS_H

#define EB_PRAGMA(text) _Pragma(#text)

#ifndef EB_HLS_DIALECT_NONE
#define EB_PIPELINE_II1 EB_PRAGMA(HLS PIPELINE II=1)
#define EB_UNROLL EB_PRAGMA(HLS UNROLL)
#define EB_PARTITION_COMPLETE(var) EB_PRAGMA(HLS ARRAY_PARTITION variable=var complete)
#define EB_PARTITION_COMPLETE_ALL_DIMS(var) EB_PRAGMA(HLS ARRAY_PARTITION variable=var complete dim=0)
// An AXI4 master port (bundle b; depth d sizes co-simulation's memory model only).
#define EB_AXI_MASTER(p, b, d) \
    EB_PRAGMA(HLS INTERFACE mode=m_axi port=p offset=slave bundle=b depth=d max_read_burst_length=64)
#define EB_AXI_LITE(p) EB_PRAGMA(HLS INTERFACE mode=s_axilite port=p)
#define EB_CONTROL_HANDSHAKE EB_PRAGMA(HLS INTERFACE mode=ap_ctrl_hs port=return)
#else
#define EB_PIPELINE_II1
#define EB_UNROLL
#define EB_PARTITION_COMPLETE(var)
#define EB_PARTITION_COMPLETE_ALL_DIMS(var)
#define EB_AXI_MASTER(p, b, d)
#define EB_AXI_LITE(p)
#define EB_CONTROL_HANDSHAKE
#endif

#endif
