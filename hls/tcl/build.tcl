# Vitis HLS flow of the EdgeBERT accelerator: C simulation, synthesis, C/RTL co-simulation and
# IP export of the top function edgebert_top (hls/src/edgebert_top.cpp).
#
#   vitis_hls -f hls/tcl/build.tcl -tclargs [BOARD] [STEP ...] [NAME=VALUE ...]
#
# BOARD is one of the boards of boards.tcl (zcu104, kv260, pynq-z2; the file is generated from
# model_export/accel/boards.json); left out, the `board` variable below decides. STEP is csim,
# csynth, cosim, export or all (= all four); the steps run in that order whatever order they are
# given in. NAME=VALUE sets one of the variables below.
# The same variables can be set before sourcing this file from an interactive `vitis_hls -i`
# session; command-line arguments override them.
#
#   board             target board                                  (pynq-z2)
#   steps             steps to run                                  (csim csynth export)
#   vectors_dir       test vectors of the testbench, relative to    (build/vectors/sst2)
#                     the repository root or absolute
#   build_dir         parent of the project directories             (build/hls)
#   solution          solution name                                 (solution1)
#   clock_ns          clock period override, ns                     (the board's)
#   extra_cflags      more compiler flags for design and testbench  (none)
#   state_directives  1: also apply the on-chip buffer directives   (0)
#                     of directives.tcl
#   export_flow       none, syn or impl: run Vivado synthesis or    (none)
#                     implementation after packaging the IP
#
# The project is <build_dir>/<board>, the exported IP <build_dir>/<board>/<solution>/impl/ip.
# Synthesis uses the ap_int types: EB_NATIVE_TYPES (native integers, for fast C simulation
# only) must not be defined here.

set script_dir [file dirname [file normalize [info script]]]
set repo_root [file normalize [file join $script_dir .. ..]]
source [file join $script_dir boards.tcl]

proc die {msg} {
    puts stderr "build.tcl: error: $msg"
    flush stdout
    flush stderr
    exit 1
}

# ---- variables and their defaults --------------------------------------------------------------
set top edgebert_top
set all_steps {csim csynth cosim export}
set known_vars {board steps vectors_dir build_dir solution clock_ns extra_cflags state_directives
                export_flow}
foreach {name value} {
    board            pynq-z2
    steps            {csim csynth export}
    vectors_dir      build/vectors/sst2
    build_dir        build/hls
    solution         solution1
    clock_ns         {}
    extra_cflags     {}
    state_directives 0
    export_flow      none
} {
    if {![info exists $name]} { set $name $value }
}

# ---- command line ------------------------------------------------------------------------------
# Some releases put the whole vitis_hls command line into argv; keep what follows -tclargs, or
# else drop the tool's own options (-f FILE, -l FILE).
set args {}
if {[info exists argv]} {
    set at [lsearch -exact $argv -tclargs]
    if {$at >= 0} {
        set args [lrange $argv [expr {$at + 1}] end]
    } else {
        for {set i 0} {$i < [llength $argv]} {incr i} {
            set a [lindex $argv $i]
            if {$a in {-f -l}} { incr i; continue }
            lappend args $a
        }
    }
}
set positional {}
foreach a $args {
    if {[regexp {^([A-Za-z_][A-Za-z0-9_]*)=(.*)$} $a -> name value]} {
        if {$name ni $known_vars} {
            die "unknown variable '$name'; known variables: [join $known_vars {, }]"
        }
        set $name $value
    } else {
        lappend positional $a
    }
}
# The first word is the board unless it names a step (then the board is the default one).
if {[llength $positional] > 0} {
    set first [lindex $positional 0]
    if {$first in $all_steps || $first eq "all"} {
        set steps $positional
    } else {
        set board $first
        if {[llength $positional] > 1} {
            set steps [lrange $positional 1 end]
        }
    }
}

# ---- checks ------------------------------------------------------------------------------------
if {![dict exists $eb_boards $board]} {
    die "unknown board '$board'; known boards: [join [eb_board_names] {, }]"
}
set cfg [eb_board $board]
set n [dict get $cfg n]

if {"all" in $steps} { set steps $all_steps }
foreach s $steps {
    if {$s ni $all_steps} {
        die "unknown step '$s'; known steps: [join $all_steps {, }], all"
    }
}
if {[llength $steps] == 0} { die "no step to run; known steps: [join $all_steps {, }], all" }
set run {}
foreach s $all_steps {
    if {$s in $steps} { lappend run $s }
}

if {$clock_ns eq ""} { set clock_ns [dict get $cfg clock_ns] }
if {![string is double -strict $clock_ns] || $clock_ns <= 0} {
    die "clock_ns must be a positive number of nanoseconds, not '$clock_ns'"
}
if {$state_directives ni {0 1}} { die "state_directives must be 0 or 1, not '$state_directives'" }
if {$export_flow ni {none syn impl}} { die "export_flow must be none, syn or impl, not '$export_flow'" }
if {[string first EB_NATIVE_TYPES $extra_cflags] >= 0} {
    die "EB_NATIVE_TYPES selects native integers for C simulation only; synthesis uses the ap_int types"
}

proc repo_path {p} {
    if {[file pathtype $p] eq "absolute"} { return [file normalize $p] }
    return [file normalize [file join $::repo_root $p]]
}
# -cflags and -argv are split at spaces by the tool.
if {[string first " " $repo_root] >= 0} {
    die "the repository path '$repo_root' contains a space, which the compiler flags cannot carry"
}

set design_src [file join $repo_root hls src edgebert_top.cpp]
set tb_src [file join $repo_root hls tb tb_accel.cpp]
set vectors [repo_path $vectors_dir]
set project_parent [repo_path $build_dir]
set project_dir [file join $project_parent $board]

if {![file isfile $design_src]} { die "missing design source $design_src" }
set simulate [expr {"csim" in $run || "cosim" in $run}]
if {$simulate} {
    if {![file isfile $tb_src]} { die "missing testbench $tb_src" }
    if {![file isdirectory $vectors]} {
        die "test vector directory $vectors does not exist (set vectors_dir=DIR, or generate the vectors first)"
    }
    if {[string first " " $vectors] >= 0} { die "the vectors path '$vectors' contains a space" }
}
# Without csynth in this run, cosim and export use the solution synthesized by an earlier run.
if {"csynth" ni $run && ("cosim" in $run || "export" in $run)} {
    if {![file isdirectory [file join $project_dir $solution syn verilog]]} {
        die "no synthesized design in [file join $project_dir $solution]; run csynth first (or in the same run)"
    }
}

# ---- compiler flags ----------------------------------------------------------------------------
set design_cflags [concat -std=c++14 \
    "-I[file join $repo_root hls include]" "-I[file join $repo_root hls src]" \
    [eb_board_defines $board] $extra_cflags]
set tb_cflags [concat $design_cflags "-I[file join $repo_root hls tb]" -DEB_TB_TOP]

puts "build.tcl: board $board ([dict get $cfg part], n = $n, ${clock_ns} ns), steps: $run"
puts "build.tcl: project $project_dir"

# ---- project -----------------------------------------------------------------------------------
# open_project -reset forgets the file list and top function (declared again below) but keeps
# the solutions. The solution is reset only when this run synthesizes, so that a later
# `cosim` or `export` run finds the synthesized design.
file mkdir $project_parent
cd $project_parent
open_project -reset $board
set_top $top
add_files $design_src -cflags [join $design_cflags " "]
if {$simulate} {
    add_files -tb $tb_src -cflags [join $tb_cflags " "]
}
if {"csynth" in $run} {
    open_solution -reset -flow_target vivado $solution
} else {
    open_solution -flow_target vivado $solution
}
set_part [dict get $cfg part]
create_clock -period $clock_ns -name default
if {"csynth" in $run} {
    source [file join $script_dir directives.tcl]
}

# ---- steps -------------------------------------------------------------------------------------
foreach step $run {
    puts "build.tcl: $step"
    switch -- $step {
        csim {
            set cmd [list csim_design -O -argv $vectors]
        }
        csynth {
            set cmd [list csynth_design]
        }
        cosim {
            set cmd [list cosim_design -O -rtl verilog -argv $vectors]
        }
        export {
            set cmd [list export_design -format ip_catalog -rtl verilog]
            if {$export_flow ne "none"} { lappend cmd -flow $export_flow }
        }
    }
    if {[catch {{*}$cmd} msg]} {
        die "$step failed: $msg"
    }
}

puts "build.tcl: done ([join $run {, }])"
if {"export" in $run} {
    puts "build.tcl: IP in [file join $project_dir $solution impl ip]"
}
close_project
exit 0
