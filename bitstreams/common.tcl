# Shared part of the EdgeBERT overlay builds: the Vivado block design around the HLS IP
# edgebert_top, implementation, timing check, bitstream and hardware handoff (.hwh).
#
# Each bitstreams/<board>/block_design.tcl calls
#
#     eb_build_overlay <board> $argv
#
# with the script arguments
#
#     IP_REPO OUT_DIR [PROJECT_DIR]
#
#   IP_REPO      the HLS export of the board (build/hls/<board>/solution1/impl/ip)
#   OUT_DIR      where edgebert_<board>.bit, edgebert_<board>.hwh, timing.json and the reports go
#   PROJECT_DIR  the Vivado project (default: build/vivado/<board>/project)
#
# Everything about the board comes from hls/tcl/boards.tcl, the table the HLS flow uses (generated
# from model_export/accel/boards.json): the part, the target clock, the Vivado board part and its
# carrier connections, the kind of processing system and its PS PLL frequency.
#
# The design: the PS, one edgebert_top instance, a processor system reset, and three
# SmartConnects: PS master -> s_axi_control (AXI4-Lite registers), m_axi_gmem0 -> HP0 and
# m_axi_gmem1 -> HP1 (the accelerator's two AXI4 masters, each on its own high-performance port
# to DDR). The accelerator's interrupt goes to the PS (the host polls ap_done, the line is there
# for drivers that prefer it). Everything runs on PL clock 0.
#
# No AXI timer is included: cycles are counted inside the accelerator (its per-phase counters,
# returned with the results), and the host converts them to time with the PL clock it sets.
#
# Environment (all optional):
#   EB_VIVADO_JOBS           parallel jobs of the synthesis and implementation runs (8)
#   EB_BOARD_REPO_PATHS      extra board file directories (set_param board.repoPaths), for board
#                            files installed outside Vivado's board store (e.g. PYNQ-Z2's)

set ::eb_bitstreams_dir [file dirname [file normalize [info script]]]
set ::eb_repo_root [file dirname $::eb_bitstreams_dir]
source [file join $::eb_repo_root hls tcl boards.tcl]

# The oldest Vivado this flow is written for (the release of the Vitis HLS that exports the IP).
set ::eb_min_vivado 2023.2
set ::eb_ip_vlnv xilinx.com:hls:edgebert_top:1.0
set ::eb_ip_cell edgebert_top_0
set ::eb_bd_name edgebert

# The two processing systems. Pin and interface names are those of the PS IPs:
#   zynq_ultra_ps_e (Zynq UltraScale+): S_AXI_HP0_FPD / S_AXI_HP1_FPD are the IP's S_AXI_GP2 /
#     S_AXI_GP3 (PSU__USE__S_AXI_GP2/3), M_AXI_HPM0_FPD its M_AXI_GP0; the control registers sit
#     in the HPM0_FPD window at 0xA000_0000.
#   processing_system7 (Zynq-7000): M_AXI_GP0 window at 0x4000_0000, S_AXI_HP0 / S_AXI_HP1.
set ::eb_ps_kinds {
    zynq_ultra_ps_e {
        vlnv        xilinx.com:ip:zynq_ultra_ps_e
        cell        zynq_ultra_ps_e_0
        rule        xilinx.com:bd_rule:zynq_ultra_ps_e
        rule_config {apply_board_preset "1"}
        clk         pl_clk0
        resetn      pl_resetn0
        master      M_AXI_HPM0_FPD
        master_clk  maxihpm0_fpd_aclk
        hp          {S_AXI_HP0_FPD S_AXI_HP1_FPD}
        hp_clk      {saxihp0_fpd_aclk saxihp1_fpd_aclk}
        irq         pl_ps_irq0
        addr_space  Data
        ctrl_offset 0xA0000000
        clock_name  clk_pl_0
    }
    processing_system7 {
        vlnv        xilinx.com:ip:processing_system7
        cell        processing_system7_0
        rule        xilinx.com:bd_rule:processing_system7
        rule_config {make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"}
        clk         FCLK_CLK0
        resetn      FCLK_RESET0_N
        master      M_AXI_GP0
        master_clk  M_AXI_GP0_ACLK
        hp          {S_AXI_HP0 S_AXI_HP1}
        hp_clk      {S_AXI_HP0_ACLK S_AXI_HP1_ACLK}
        irq         IRQ_F2P
        addr_space  Data
        ctrl_offset 0x40000000
        clock_name  clk_fpga_0
    }
}
set ::eb_ctrl_range 64K

proc eb_die {msg} {
    puts stderr "block_design.tcl: error: $msg"
    flush stdout
    flush stderr
    exit 1
}

proc eb_say {msg} {
    puts "block_design.tcl: $msg"
    flush stdout
}

# ---- small helpers -----------------------------------------------------------------------------

# The highest PL clock (MHz) at or below target_mhz that the PS dividers reach: pll / (d0 * d1),
# 1 <= d0, d1 <= 63 (the same rule as host/runtime/boards.py).
proc eb_reachable_mhz {pll_mhz target_mhz} {
    set best 0.0
    for {set d0 1} {$d0 <= 63} {incr d0} {
        for {set d1 1} {$d1 <= 63} {incr d1} {
            set f [expr {double($pll_mhz) / ($d0 * $d1)}]
            if {$f <= $target_mhz + 1e-9 && $f > $best} { set best $f }
        }
    }
    if {$best <= 0} { error "no PL clock at or below $target_mhz MHz from a $pll_mhz MHz PLL" }
    return $best
}

# A number for a Vivado property: "" or a non-number becomes the fallback.
proc eb_number {value fallback} {
    if {[string is double -strict $value]} { return $value }
    return $fallback
}

# Vivado's release as major.minor (version -short gives e.g. 2023.2 or 2023.2.1).
proc eb_check_vivado_version {} {
    if {[catch {version -short} v]} { return }
    if {![regexp {^(\d+)\.(\d+)} $v -> major minor]} { return }
    if {[package vcompare "$major.$minor" $::eb_min_vivado] < 0} {
        eb_die "this is Vivado $v; the flow needs Vivado $::eb_min_vivado or later (the release of\
                the Vitis HLS that exports the accelerator IP)"
    }
}

proc eb_parse_args {board arglist} {
    if {[llength $arglist] < 2 || [llength $arglist] > 3} {
        eb_die "usage: vivado -mode batch -source bitstreams/$board/block_design.tcl -tclargs\
                IP_REPO OUT_DIR \[PROJECT_DIR\] (got: $arglist)"
    }
    set ip_repo [file normalize [lindex $arglist 0]]
    set out_dir [file normalize [lindex $arglist 1]]
    if {[llength $arglist] == 3} {
        set project_dir [file normalize [lindex $arglist 2]]
    } else {
        set project_dir [file join $::eb_repo_root build vivado $board project]
    }
    return [dict create ip_repo $ip_repo out_dir $out_dir project_dir $project_dir]
}

proc eb_pin {name} { return [get_bd_pins $name] }
proc eb_intf {name} { return [get_bd_intf_pins $name] }

# One net joining the given pins.
proc eb_net {args} {
    set pins {}
    foreach p $args { lappend pins [eb_pin $p] }
    connect_bd_net {*}$pins
}

# An AXI path from one interface pin to another through its own 1x1 SmartConnect
# (protocol, width and clock-domain conversion as needed: AXI3 on Zynq-7000, 128-bit HP ports
# on Zynq UltraScale+, 32-bit on the accelerator).
proc eb_smartconnect {name from to} {
    set sc [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect $name]
    set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] [get_bd_cells $name]
    connect_bd_intf_net [eb_intf $from] [eb_intf $name/S00_AXI]
    connect_bd_intf_net [eb_intf $name/M00_AXI] [eb_intf $to]
    return $sc
}

# The bd's hardware handoff, written by generate_target: under <project>.gen/ since Vivado
# 2020.2 (<project>.srcs/ before).
proc eb_find_hwh {project_dir project_name bd} {
    foreach sub [list $project_name.gen $project_name.srcs] {
        set f [file join $project_dir $sub sources_1 bd $bd hw_handoff $bd.hwh]
        if {[file isfile $f]} { return $f }
    }
    set found [glob -nocomplain -directory $project_dir -- */sources_1/bd/$bd/hw_handoff/$bd.hwh]
    if {[llength $found] > 0} { return [lindex $found 0] }
    return ""
}

# timing.json: a flat JSON object. Values are written as JSON numbers or booleans where their key
# is listed in `numeric` / they are true or false, as strings otherwise.
proc eb_write_timing_json {path fields {numeric {}}} {
    set items {}
    dict for {k v} $fields {
        if {$k in $numeric || $v in {true false}} {
            lappend items "  \"$k\": $v"
        } else {
            lappend items "  \"$k\": \"[string map {\\ \\\\ \" \\\"} $v]\""
        }
    }
    set f [open $path w]
    puts $f "\{\n[join $items ",\n"]\n\}"
    close $f
}

proc eb_check_run {run what} {
    set progress [get_property PROGRESS [get_runs $run]]
    set status [get_property STATUS [get_runs $run]]
    if {$progress ne "100%" || [string match -nocase "*error*" $status]} {
        set dir [get_property DIRECTORY [get_runs $run]]
        eb_die "$what ($run) did not complete: status '$status', progress '$progress'; see the run's\
                log (runme.log) in [expr {$dir eq "" ? "the project's .runs directory" : $dir}]"
    }
}

# ---- the build ---------------------------------------------------------------------------------

proc eb_build_overlay {board arglist} {
    if {[catch {eb_board $board} cfg]} { eb_die $cfg }
    set part [dict get $cfg part]
    set board_part [dict get $cfg board_part]
    set kind [dict get $cfg ps]
    if {![dict exists $::eb_ps_kinds $kind]} { eb_die "unknown processing system '$kind'" }
    set ps [dict get $::eb_ps_kinds $kind]
    set psc [dict get $ps cell]
    set ip $::eb_ip_cell
    set bd $::eb_bd_name

    set a [eb_parse_args $board $arglist]
    set ip_repo [dict get $a ip_repo]
    set out_dir [dict get $a out_dir]
    set project_dir [dict get $a project_dir]
    set project_name edgebert_$board
    set stem edgebert_$board
    set jobs 8
    if {[info exists ::env(EB_VIVADO_JOBS)] && [string is integer -strict $::env(EB_VIVADO_JOBS)]} {
        set jobs $::env(EB_VIVADO_JOBS)
    }

    eb_check_vivado_version

    if {![file isfile [file join $ip_repo component.xml]]} {
        eb_die "no exported HLS IP in $ip_repo (component.xml missing); export it first:\
                vitis_hls -f hls/tcl/build.tcl -tclargs $board csynth export"
    }

    # PL clock 0. The HLS build is constrained to the board's clock_ns (boards.tcl); the PS can
    # only make PLL / (d0 * d1). For the ZU+ boards (5 ns, 200 MHz) the IO PLL runs at 1500 MHz
    # and 200 MHz is not among its quotients: 1500 / 8 = 187.5 MHz is the highest at or below it,
    # and is what the host's clock table tops out at (host/runtime/boards.py). PYNQ-Z2: 1000 / 10
    # = 100 MHz.
    set target_mhz [expr {1000.0 / [dict get $cfg clock_ns]}]
    set pl_mhz [eb_reachable_mhz [dict get $cfg pll_mhz] $target_mhz]
    set pl_mhz_str [format %g $pl_mhz]
    set nominal_period [expr {1000.0 / $pl_mhz}]

    eb_say "board $board ($part, $board_part), PL clock $pl_mhz_str MHz (HLS target\
            [format %g $target_mhz] MHz)"
    eb_say "IP repository $ip_repo"
    eb_say "project $project_dir, outputs in $out_dir"

    file mkdir $out_dir
    foreach f [list $stem.bit $stem.hwh timing.json timing_summary.rpt utilization.rpt] {
        file delete -force [file join $out_dir $f]
    }

    # ---- project -------------------------------------------------------------------------------
    if {[info exists ::env(EB_BOARD_REPO_PATHS)] && $::env(EB_BOARD_REPO_PATHS) ne ""} {
        set_param board.repoPaths [split $::env(EB_BOARD_REPO_PATHS) :]
    }
    create_project -force $project_name $project_dir -part $part
    if {[llength [get_board_parts -quiet $board_part]] == 0} {
        eb_die "the board files of $board_part are not installed: install them from Vivado's board\
                store (Tools > Vivado Store > Boards) or point EB_BOARD_REPO_PATHS at them"
    }
    set_property board_part $board_part [current_project]
    if {[dict exists $cfg board_connections]} {
        # The carrier card, for the record: the design uses no carrier I/O.
        if {[catch {set_property board_connections [dict get $cfg board_connections] [current_project]} msg]} {
            eb_say "warning: board connections not set ($msg); the design does not need them"
        }
    }
    set_property target_language Verilog [current_project]
    add_files -fileset constrs_1 -norecurse [file join $::eb_bitstreams_dir $board constraints.xdc]

    set_property ip_repo_paths [list $ip_repo] [current_project]
    update_ip_catalog -rebuild
    if {[llength [get_ipdefs -quiet -all $::eb_ip_vlnv]] == 0} {
        eb_die "the IP catalog has no $::eb_ip_vlnv after adding $ip_repo"
    }

    # ---- block design --------------------------------------------------------------------------
    create_bd_design $bd
    current_bd_design $bd

    # Processing system, with the board's preset (DDR, MIO), then what the overlay needs.
    create_bd_cell -type ip -vlnv [dict get $ps vlnv] $psc
    apply_bd_automation -rule [dict get $ps rule] -config [dict get $ps rule_config] [get_bd_cells $psc]
    if {$kind eq "zynq_ultra_ps_e"} {
        set_property -dict [list \
            CONFIG.PSU__USE__M_AXI_GP0 {1} \
            CONFIG.PSU__USE__M_AXI_GP1 {0} \
            CONFIG.PSU__USE__M_AXI_GP2 {0} \
            CONFIG.PSU__USE__S_AXI_GP2 {1} \
            CONFIG.PSU__USE__S_AXI_GP3 {1} \
            CONFIG.PSU__USE__IRQ0 {1} \
            CONFIG.PSU__FPGA_PL0_ENABLE {1} \
            CONFIG.PSU__CRL_APB__PL0_REF_CTRL__SRCSEL {IOPLL} \
            CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $pl_mhz_str \
        ] [get_bd_cells $psc]
    } else {
        set_property -dict [list \
            CONFIG.PCW_USE_M_AXI_GP0 {1} \
            CONFIG.PCW_USE_S_AXI_HP0 {1} \
            CONFIG.PCW_USE_S_AXI_HP1 {1} \
            CONFIG.PCW_USE_FABRIC_INTERRUPT {1} \
            CONFIG.PCW_IRQ_F2P_INTR {1} \
            CONFIG.PCW_EN_CLK0_PORT {1} \
            CONFIG.PCW_EN_RST0_PORT {1} \
            CONFIG.PCW_FPGA_FCLK0_ENABLE {1} \
            CONFIG.PCW_FCLK0_PERIPHERAL_CLKSRC {IO PLL} \
            CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $pl_mhz_str \
        ] [get_bd_cells $psc]
    }

    # The accelerator and the reset of its clock domain.
    create_bd_cell -type ip -vlnv $::eb_ip_vlnv $ip
    create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset rst_pl0

    # AXI: control from the PS master, the two data masters to two HP ports.
    lassign [dict get $ps hp] hp0 hp1
    eb_smartconnect sc_ctrl $psc/[dict get $ps master] $ip/s_axi_control
    eb_smartconnect sc_gmem0 $ip/m_axi_gmem0 $psc/$hp0
    eb_smartconnect sc_gmem1 $ip/m_axi_gmem1 $psc/$hp1

    # One clock, one reset.
    set clk $psc/[dict get $ps clk]
    set clk_sinks [list $psc/[dict get $ps master_clk] $ip/ap_clk rst_pl0/slowest_sync_clk \
                       sc_ctrl/aclk sc_gmem0/aclk sc_gmem1/aclk]
    foreach p [dict get $ps hp_clk] { lappend clk_sinks $psc/$p }
    eb_net $clk {*}$clk_sinks
    eb_net $psc/[dict get $ps resetn] rst_pl0/ext_reset_in
    eb_net rst_pl0/peripheral_aresetn $ip/ap_rst_n sc_ctrl/aresetn sc_gmem0/aresetn sc_gmem1/aresetn

    # Interrupt (ap_done, enabled through GIER/IP_IER) to the PS's PL-to-PS interrupt input.
    eb_net $ip/interrupt $psc/[dict get $ps irq]

    # Addresses: the control registers at the documented base, everything else (the accelerator's
    # view of DDR through the HP ports) automatically.
    assign_bd_address -offset [dict get $ps ctrl_offset] -range $::eb_ctrl_range \
        -target_address_space [get_bd_addr_spaces $psc/[dict get $ps addr_space]] \
        [get_bd_addr_segs $ip/s_axi_control/Reg] -force
    assign_bd_address

    validate_bd_design
    save_bd_design

    set bd_file [get_files $bd.bd]
    generate_target all $bd_file
    set wrapper [make_wrapper -files $bd_file -top]
    add_files -norecurse $wrapper
    set_property top ${bd}_wrapper [current_fileset]
    update_compile_order -fileset sources_1

    set hwh [eb_find_hwh $project_dir $project_name $bd]
    if {$hwh eq ""} {
        eb_die "no hardware handoff $bd.hwh under $project_dir after generate_target"
    }

    # ---- synthesis and implementation ----------------------------------------------------------
    launch_runs synth_1 -jobs $jobs
    wait_on_run synth_1
    eb_check_run synth_1 synthesis
    launch_runs impl_1 -jobs $jobs
    wait_on_run impl_1
    eb_check_run impl_1 implementation

    open_run impl_1
    report_timing_summary -delay_type min_max -max_paths 10 -file [file join $out_dir timing_summary.rpt]
    report_utilization -file [file join $out_dir utilization.rpt]

    # ---- timing --------------------------------------------------------------------------------
    # fmax: the routed design met the constrained period with WNS to spare (or missed it by -WNS),
    # so its critical path is period - WNS ns. host/runtime/boards.py reads fmax_mhz to cap the
    # clocks it sets; above the constrained clock it is an estimate from this one placement.
    set wns [get_property STATS.WNS [get_runs impl_1]]
    set whs [get_property STATS.WHS [get_runs impl_1]]
    if {![string is double -strict $wns]} {
        eb_die "implementation reported no worst negative slack (STATS.WNS = '$wns')"
    }
    set whs [eb_number $whs 0.0]
    set period $nominal_period
    if {![catch {get_property PERIOD [get_clocks [dict get $ps clock_name]]} p]} {
        set period [eb_number $p $nominal_period]
    }
    set critical [expr {$period - $wns}]
    if {$critical <= 0} { eb_die "implausible timing: period $period ns, WNS $wns ns" }
    set fmax [expr {1000.0 / $critical}]
    set met [expr {$wns >= 0 && $whs >= 0 ? "true" : "false"}]
    set version_text unknown
    catch {version -short} version_text
    eb_write_timing_json [file join $out_dir timing.json] [dict create \
        board $board part $part \
        clock_mhz [format %.3f [expr {1000.0 / $period}]] \
        period_ns [format %.4f $period] \
        wns_ns [format %.3f $wns] \
        whs_ns [format %.3f $whs] \
        fmax_mhz [format %.3f $fmax] \
        timing_met $met \
        vivado $version_text] {clock_mhz period_ns wns_ns whs_ns fmax_mhz}
    eb_say "timing: period [format %.4f $period] ns, WNS [format %.3f $wns] ns, WHS\
            [format %.3f $whs] ns, fmax [format %.1f $fmax] MHz"
    if {$wns < 0} {
        eb_die "timing not met: WNS [format %.3f $wns] ns at [format %.4f $period] ns\
                ([format %.1f [expr {1000.0 / $period}]] MHz; the design would close at about\
                [format %.1f $fmax] MHz). See [file join $out_dir timing_summary.rpt]. No bitstream written."
    }
    if {$whs < 0} {
        eb_die "timing not met: hold slack WHS [format %.3f $whs] ns. See\
                [file join $out_dir timing_summary.rpt]. No bitstream written."
    }

    # ---- bitstream and hardware handoff --------------------------------------------------------
    # PYNQ loads edgebert_<board>.bit and reads the .hwh of the same stem beside it.
    write_bitstream -force [file join $out_dir $stem.bit]
    file copy -force $hwh [file join $out_dir $stem.hwh]
    eb_say "wrote [file join $out_dir $stem.bit] and [file join $out_dir $stem.hwh]"
    close_project
}
