#!/bin/sh
# Checks that the vendor tools of the overlay build are on PATH, before anything else runs:
#
#   sh bitstreams/check_tools.sh BOARD
#
# Exit status 0 if vitis_hls and vivado are both found, 1 otherwise, with a message on stderr
# naming each missing tool and the release the flow needs. Uses only shell built-ins
# (command -v, echo, case), so that it answers at once whatever PATH holds, even an empty one.

board=${1:-<board>}
missing=""
for tool in vitis_hls vivado; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -z "$missing" ] && exit 0

for tool in $missing; do
    case $tool in
        vitis_hls) what="Vitis HLS 2023.2 or later (the vitis_hls command; Vitis HLS 2023.2 to 2024.2 provide it)" ;;
        vivado)    what="Vivado 2023.2 or later" ;;
    esac
    echo "check_tools.sh: error: '$tool' is not on PATH; the $board bitstream needs $what." >&2
done
case $board in
    zcu104|kv260) family="Zynq UltraScale+ MPSoC" ;;
    pynq-z2)      family="Zynq-7000" ;;
    *)            family="the board's device family" ;;
esac
{
    echo "check_tools.sh: install Vitis HLS and Vivado of the same release, 2023.2 or later (Vivado ML"
    echo "  Standard or Enterprise edition, with device support for $family and the board files of"
    echo "  $board), then load their environment before running make, e.g."
    echo "      source <install>/Vivado/<version>/settings64.sh"
    echo "      source <install>/Vitis_HLS/<version>/settings64.sh   (or the Vitis settings64.sh)"
} >&2
if [ "$board" = "pynq-z2" ]; then
    echo "check_tools.sh: note: PYNQ 3.1 images target Vivado 2022.1, but this flow needs Vitis HLS / Vivado 2023.2 or later for the HLS pragmas it uses." >&2
fi
exit 1
