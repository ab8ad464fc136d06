# Dry run of build.tcl under a plain tclsh, without Vitis HLS:
#
#   tclsh hls/tcl/dryrun.tcl [BOARD] [STEP ...] [NAME=VALUE ...]
#
# takes the same arguments as build.tcl. Every Vitis HLS command build.tcl (or directives.tcl)
# calls is replaced by a stub that prints one line to stdout,
#
#   CALL<TAB>command<TAB>arg1<TAB>arg2 ...
#
# and does nothing else; exit is recorded the same way and then exits with its code. A test
# reads these lines to check which commands run with which arguments (tests/test_hls_tcl.py).

namespace eval ::dryrun {}

proc ::dryrun::record {cmd arglist} {
    puts [join [concat [list CALL $cmd] $arglist] "\t"]
    flush stdout
}

foreach cmd {
    open_project close_project set_top add_files open_solution close_solution set_part
    create_clock set_clock_uncertainty
    config_interface config_compile config_export config_rtl config_csim config_cosim
    config_array_partition config_schedule config_op config_storage
    set_directive_array_partition set_directive_array_reshape set_directive_bind_storage
    set_directive_pipeline set_directive_unroll set_directive_inline set_directive_interface
    set_directive_dataflow set_directive_loop_tripcount set_directive_disaggregate
    set_directive_aggregate set_directive_dependence set_directive_allocation
    csim_design csynth_design cosim_design export_design
} {
    proc ::$cmd {args} [format {::dryrun::record %s $args} [list $cmd]]
}

rename ::exit ::dryrun::real_exit
proc ::exit {{code 0}} {
    ::dryrun::record exit [list $code]
    ::dryrun::real_exit $code
}

source [file join [file dirname [file normalize [info script]]] build.tcl]
# build.tcl always ends in exit; reaching this line means it did not.
puts stderr "dryrun.tcl: build.tcl returned without calling exit"
::dryrun::real_exit 3
