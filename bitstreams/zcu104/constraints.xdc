# Constraints of the EdgeBERT overlay for the zcu104.
#
# None are needed: the design has no PL pins. Its only I/O is the processing system's (DDR and
# MIO, placed by the PS itself), and its only clock, PL clock 0, comes from the PS, whose IP
# constrains it (create_clock on the PS clock output, at the frequency set in the block design).
# The file is part of the project so that board-specific constraints have a place to go.
