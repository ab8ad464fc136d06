"""Operator characterization of the accelerator, after Pati et al., "Demystifying BERT:
Implications for Accelerator Design" (2021): per operator cycles, MACs, special-function
elements, on-chip traffic, arithmetic intensity and 12 nm energy from the cycle model, and beside
them the same model's operator time shares profiled in PyTorch on the host CPU.

`operators` is numpy only; `profile` imports torch when it runs; `report` writes the JSON, the
plots and the generated tables of docs/characterization.md.
"""
