"""The same model profiled in PyTorch on the host CPU (torch.profiler, CPU activities): the share of
forward time each operator of edgebert.accel.cost.OPERATORS takes, batch 1, float weights.

Attribution: the GEMMs are labelled where they are issued (record_function): every projection
through SharedLayer.linear by the nn.Linear it applies (q, k, v -> qkv; o -> out_proj; ffn1, ffn2;
embed_proj), the two attention products by their order in the layer (Q K^T, then P V), what runs
between them as softmax (the accelerator's softmax passes apply the span mask), each off-ramp's
forward and the entropy as a whole. Every aten op's self time goes to the innermost label above
it, except softmax, layer_norm, gelu and tanh, which go to their own operator wherever they run
(the entropy's softmax stays the entropy's); an unlabelled add is the residual add (the embedding
sums run under the embedding label); what is left (views, copies, dropout) is "other", work the
accelerator does not do. Times vary from run to run.
"""
from __future__ import annotations

from edgebert.accel.cost import GEMM_OPERATORS
from edgebert.core.config import load_model_config

LABEL = "eb::"
ITERATION = LABEL + "iteration"
BY_ATEN = {"aten::softmax": "softmax", "aten::_softmax": "softmax", "aten::layer_norm": "layernorm",
           "aten::native_layer_norm": "layernorm", "aten::gelu": "gelu", "aten::tanh": "offramp"}


def _labelled(fn, label_of):
    from torch.profiler import record_function

    def wrapper(*args, **kwargs):
        with record_function(LABEL + label_of(*args)):
            return fn(*args, **kwargs)
    return wrapper


def _instrument(model):
    """Label the GEMMs of one model instance (its methods are replaced on the instance only)."""
    import torch
    layer = model.layer
    names = {id(layer.q): "qkv", id(layer.k): "qkv", id(layer.v): "qkv", id(layer.o): "out_proj",
             id(layer.ffn1): "ffn1", id(layer.ffn2): "ffn2", id(model.embed_proj): "embed_proj"}
    layer.linear = _labelled(layer.linear, lambda lin, *_: names[id(lin)])
    model.embed = _labelled(model.embed, lambda *_: "embedding")
    for ramp in model.ramps:
        ramp.forward = _labelled(ramp.forward, lambda *_: "offramp")

    class AttentionProducts(torch.overrides.TorchFunctionMode):
        """Q K^T and P V are the first and second matmul of each attention call; what runs
        between them (key mask, span mask, softmax, the masked product) is the accelerator's
        softmax, whose passes apply the span mask."""
        calls = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            if getattr(func, "__name__", "") in ("matmul", "__matmul__"):       # q @ k^T, p @ v
                self.calls += 1
                label = "qk_t" if self.calls % 2 else "av"
            else:
                label = "softmax" if self.calls % 2 else None
            if label is None:
                return func(*args, **(kwargs or {}))
            with torch.profiler.record_function(LABEL + label):
                return func(*args, **(kwargs or {}))
    return AttentionProducts


def _operator(event) -> str:
    label, e = None, event
    while e is not None and label is None:
        if e.name.startswith(LABEL) and e.name != ITERATION:
            label = e.name[len(LABEL):]
        e = e.cpu_parent
    if label == "entropy":                      # its softmax is the entropy's, not attention's
        return label
    if event.name in BY_ATEN:
        return BY_ATEN[event.name]
    if label is not None:
        return label
    return "residual_add" if event.name in ("aten::add", "aten::add_") else "other"


def profile(config: str, s: int, iters: int | None = None, threads: int = 2) -> dict:
    """Per operator share of CPU forward time at s tokens (batch 1), plus the entropy of every
    off-ramp's logits; the model's position table is widened when s exceeds its max_len. Each
    operator's time is its least over the iterations, so that a burst of load from other
    processes in one iteration does not count."""
    import torch
    from torch.profiler import ProfilerActivity, record_function
    from torch.profiler import profile as torch_profile

    from edgebert.train.early_exit import entropy
    from edgebert.train.model import EdgeBert

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = load_model_config(config)
    cfg = load_model_config(config, max_len=max(s, cfg.max_len))
    model = EdgeBert(cfg).eval()
    mode = _instrument(model)
    ids = torch.randint(0, cfg.vocab_size, (1, s))
    types, pad = torch.zeros_like(ids), torch.ones_like(ids, dtype=torch.bool)
    # Two iterations where one forward is long (ALBERT-base at 512 tokens: ~50 GMAC), else three.
    iters = iters or (2 if _macs(cfg, s) > 2e10 else 3)

    def step(layers=None):
        logits = model(ids, types, pad, num_layers=layers)
        with record_function(LABEL + "entropy"):
            entropy(logits.reshape(-1, cfg.num_labels))

    with torch.no_grad(), mode():
        step(layers=1)                           # warm-up: allocations of every shape
        with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(iters):
                with record_function(ITERATION):
                    step()
    runs: dict[int, dict[str, float]] = {}
    for ev in prof.events():
        root = ev
        while root.cpu_parent is not None:
            root = root.cpu_parent
        if root.name == ITERATION and ev is not root:
            spent = runs.setdefault(root.id, {"": root.cpu_time_total})
            op = _operator(ev)
            spent[op] = spent.get(op, 0.0) + ev.self_cpu_time_total
    ops = {op for r in runs.values() for op in r if op}
    least = {op: min(r.get(op, 0.0) for r in runs.values()) for op in ops}
    total = sum(least.values()) or 1.0
    shares = {op: t / total for op, t in sorted(least.items(), key=lambda kv: -kv[1])}
    return {"config": config, "seq": s, "iters": iters, "threads": threads,
            "ms_per_forward": min(r[""] for r in runs.values()) / 1e3,
            "gemm_share_time": sum(shares.get(op, 0.0) for op in GEMM_OPERATORS), "torch_cpu": shares}


def _macs(cfg, s: int) -> int:
    per_layer = s * (4 * cfg.hidden ** 2 + 2 * cfg.hidden * cfg.ffn) + 2 * s * s * cfg.hidden
    return cfg.layers * per_layer
