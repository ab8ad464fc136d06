# Dry run of a block design script under a plain tclsh, without Vivado:
#
#   tclsh bitstreams/dryrun.tcl bitstreams/<board>/block_design.tcl IP_REPO OUT_DIR [PROJECT_DIR]
#
# Every Vivado command the script calls is replaced by a stub that prints one line to stdout,
#
#   CALL<TAB>command<TAB>arg1<TAB>arg2 ...
#
# and answers the way Vivado would where the script needs an answer: the get_* queries return the
# object names they were given, get_property returns a run's progress and slack, and the commands
# that write files (generate_target's hardware handoff, the reports, write_bitstream) write small
# placeholder files where Vivado would write the real ones. exit is recorded the same way and then
# exits with its code. A test reads these lines (tests/test_bitstreams.py).
#
# Environment, to steer the answers:
#   EB_DRYRUN_WNS       STATS.WNS of impl_1, ns                    (0.123)
#   EB_DRYRUN_WHS       STATS.WHS of impl_1, ns                    (0.010)
#   EB_DRYRUN_PERIOD    PERIOD of the PL clock, ns; empty: none    (empty)
#   EB_DRYRUN_PROGRESS  PROGRESS of every run                      (100%)
#   EB_DRYRUN_VERSION   version -short                             (2023.2)
#   EB_DRYRUN_NO_BOARD  1: get_board_parts finds nothing           (0)

namespace eval ::dryrun {
    variable project_dir ""
    variable project_name ""
    variable bd ""
}

proc ::dryrun::env {name default} {
    if {[info exists ::env($name)]} { return $::env($name) }
    return $default
}

proc ::dryrun::record {cmd arglist} {
    puts [join [concat [list CALL $cmd] $arglist] "\t"]
    flush stdout
}

# The object names a get_* query was given (its arguments less the options and their values).
proc ::dryrun::names {arglist} {
    set out {}
    set skip 0
    foreach a $arglist {
        if {$skip} { set skip 0; continue }
        if {$a in {-of_objects -filter -regexp -hierarchical -patterns}} {
            if {$a in {-of_objects -filter}} { set skip 1 }
            continue
        }
        if {[string match -* $a]} { continue }
        lappend out $a
    }
    return [join $out " "]
}

proc ::dryrun::option {arglist name} {
    set i [lsearch -exact $arglist $name]
    if {$i < 0} { return "" }
    return [lindex $arglist [expr {$i + 1}]]
}

proc ::dryrun::touch {path text} {
    file mkdir [file dirname $path]
    set f [open $path w]
    puts $f $text
    close $f
}

proc ::dryrun::gen_dir {} {
    variable project_dir
    variable project_name
    variable bd
    return [file join $project_dir $project_name.gen sources_1 bd $bd]
}

# Commands whose answer does not matter.
foreach cmd {
    set_param set_property add_files update_ip_catalog current_bd_design apply_bd_automation
    connect_bd_net connect_bd_intf_net assign_bd_address validate_bd_design save_bd_design
    update_compile_order launch_runs wait_on_run open_run close_project
} {
    proc ::$cmd {args} [format {::dryrun::record %s $args; return ""} [list $cmd]]
}

# Queries that return the objects they name.
foreach cmd {
    get_bd_cells get_bd_pins get_bd_intf_pins get_bd_addr_spaces get_bd_addr_segs get_ipdefs
    get_runs get_files get_clocks get_filesets
} {
    proc ::$cmd {args} [format {::dryrun::record %s $args; return [::dryrun::names $args]} [list $cmd]]
}

proc ::get_board_parts {args} {
    ::dryrun::record get_board_parts $args
    if {[::dryrun::env EB_DRYRUN_NO_BOARD 0]} { return "" }
    return [::dryrun::names $args]
}

proc ::create_project {args} {
    ::dryrun::record create_project $args
    set names [::dryrun::names $args]
    set ::dryrun::project_name [lindex $names 0]
    set ::dryrun::project_dir [lindex $names 1]
    file mkdir $::dryrun::project_dir
    return $::dryrun::project_name
}

proc ::current_project {args} { ::dryrun::record current_project $args; return $::dryrun::project_name }
proc ::current_fileset {args} { ::dryrun::record current_fileset $args; return sources_1 }

proc ::create_bd_design {args} {
    ::dryrun::record create_bd_design $args
    set ::dryrun::bd [lindex [::dryrun::names $args] end]
    return $::dryrun::bd
}

proc ::create_bd_cell {args} {
    ::dryrun::record create_bd_cell $args
    return [lindex $args end]
}

# Vivado writes the hardware handoff with the block design's output products.
proc ::generate_target {args} {
    ::dryrun::record generate_target $args
    set bd $::dryrun::bd
    ::dryrun::touch [file join [::dryrun::gen_dir] hw_handoff $bd.hwh] \
        "<?xml version=\"1.0\"?><EDKSYSTEM NAME=\"$bd\" DRYRUN=\"1\"/>"
    return ""
}

proc ::make_wrapper {args} {
    ::dryrun::record make_wrapper $args
    return [file join [::dryrun::gen_dir] hdl ${::dryrun::bd}_wrapper.v]
}

proc ::get_property {args} {
    ::dryrun::record get_property $args
    set names [::dryrun::names $args]
    set prop [lindex $names 0]
    switch -- $prop {
        STATS.WNS { return [::dryrun::env EB_DRYRUN_WNS 0.123] }
        STATS.WHS { return [::dryrun::env EB_DRYRUN_WHS 0.010] }
        PERIOD    { return [::dryrun::env EB_DRYRUN_PERIOD ""] }
        PROGRESS  { return [::dryrun::env EB_DRYRUN_PROGRESS 100%] }
        STATUS    {
            if {[::dryrun::env EB_DRYRUN_PROGRESS 100%] eq "100%"} { return "route_design Complete!" }
            return "route_design ERROR"
        }
        DIRECTORY { return [file join $::dryrun::project_dir $::dryrun::project_name.runs [lindex $names 1]] }
        default   { return "" }
    }
}

proc ::version {args} {
    ::dryrun::record version $args
    return [::dryrun::env EB_DRYRUN_VERSION 2023.2]
}

foreach cmd {report_timing_summary report_utilization} {
    proc ::$cmd {args} [format {
        ::dryrun::record %s $args
        set f [::dryrun::option $args -file]
        if {$f ne ""} { ::dryrun::touch $f "dry run: no report" }
        return ""
    } [list $cmd]]
}

proc ::write_bitstream {args} {
    ::dryrun::record write_bitstream $args
    ::dryrun::touch [lindex $args end] "dry run: no bitstream"
    return ""
}

rename ::exit ::dryrun::real_exit
proc ::exit {{code 0}} {
    ::dryrun::record exit [list $code]
    ::dryrun::real_exit $code
}

if {[llength $argv] < 1} {
    puts stderr "usage: tclsh dryrun.tcl BLOCK_DESIGN_TCL \[ARG ...\]"
    ::dryrun::real_exit 2
}
set script [file normalize [lindex $argv 0]]
set argv [lrange $argv 1 end]
set argc [llength $argv]
# Under Vivado, argv0 is the tool, not the sourced script.
set argv0 vivado
source $script
::dryrun::record exit 0
::dryrun::real_exit 0
