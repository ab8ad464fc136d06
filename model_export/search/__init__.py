"""Hardware-aware configuration search (CANAO for this accelerator): model configurations and
array sizes for a board, each trained briefly on cached teacher logits and measured with the
project's exact resource, cycle and energy models; Ray Tune runs the trials (docs/search.md)."""
