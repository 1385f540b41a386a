"""
Small helpers every stage shares: picking a device, seeding, saving files atomically,
the learning-rate schedule, and a metric log that prints one line per step and draws PNGs.

    >>> cosine_lr(0, lr=1e-3, warmup=10, total=100)
    0.0001
"""
import contextlib
import math
import os
import random
import signal
import time

import numpy as np
import torch


def get_device(name="auto"):
    """'auto' -> 'cuda' if present, else 'mps' (Apple), else 'cpu'. Anything else is used as given,
    after checking that this machine has it (a one-line error instead of torch's traceback)."""
    if name != "auto":
        kind = name.split(":")[0]
        mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        if (kind == "cuda" and not torch.cuda.is_available()) or (kind == "mps" and not mps) \
                or kind not in ("cpu", "cuda", "mps"):
            raise SystemExit(f"error: --device {name} is not available here; use --device auto (or cpu)")
        return name
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


DTYPES = ("auto", "fp32", "bf16")


def native_bf16(device, cpuinfo="/proc/cpuinfo"):
    """True where bf16 matmuls run in hardware: a CUDA GPU that supports them, or a CPU with
    AVX-512 bf16 or AMX (listed in Linux's /proc/cpuinfo). Elsewhere bf16 is emulated, and slower."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_bf16_supported()
    if kind == "cpu":
        try:
            with open(cpuinfo) as f:
                flags = f.read()
        except OSError:   # not Linux: no cheap way to ask, so assume none
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags
    return False


def resolve_dtype(dtype, device):
    """--dtype auto -> "bf16" where the device has native bf16, else "fp32".

    bf16 trains the default models 1.3-1.7x faster here, and their losses and gold scores match
    fp32's within noise (README, speed section); where bf16 is emulated it would be slower."""
    if dtype == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return dtype


def autocast(device, dtype):
    """The forward pass's precision: "fp32" (no autocast) or "bf16" (torch.autocast: matmuls in
    bfloat16, weights, optimizer and losses in fp32). resolve_dtype picks one for "auto"."""
    if dtype == "fp32":
        return contextlib.nullcontext()
    if dtype == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    raise ValueError(f"dtype must be fp32 or bf16 (resolve 'auto' first), got {dtype!r}")


def set_seed(seed):
    """Seed python, numpy and torch so that the same seed gives the same run on a CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def atomic_save(obj, path):
    """torch.save to a temporary file, then rename it over `path`.

    os.replace is atomic, so an interrupted run (Ctrl-C, crash, power cut) leaves either
    the old checkpoint or the new one on disk, never half a file.
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def stop_on_ctrl_c(message):
    """From now on Ctrl-C ends the program with one line, `message()` (called at that moment),
    instead of a KeyboardInterrupt traceback. Checkpoints are written with atomic_save, so
    whenever the key is pressed the last one saved stays whole."""
    def handler(signum, frame):
        raise SystemExit(f"\ninterrupted: {message()}")
    signal.signal(signal.SIGINT, handler)


def save_json(obj, path):
    """Write `obj` as indented JSON, atomically: a stage's summary figures (out/sft_summary.json)."""
    import json
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


def cosine_lr(step, lr, warmup, total, min_ratio=0.1):
    """Linear warmup for `warmup` steps, then cosine decay to min_ratio * lr at `total`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


class MetricLog:
    """Collects one dict of metrics per step, prints it as one fixed-format line, plots it.

        log = MetricLog()
        log.add(step=10, loss=2.31, lr=1e-3)   # prints "step     10 | loss 2.3100 | lr 0.0010"
        log.plot("out/sft_loss.png", ["loss"])
    """

    def __init__(self, quiet=False):
        self.rows = []
        self.quiet = quiet
        self.t0 = time.time()

    def add(self, **metrics):
        metrics.setdefault("time", time.time() - self.t0)
        self.rows.append(metrics)
        if not self.quiet:
            print(format_metrics(metrics), flush=True)

    def series(self, key):
        """(steps, values) for every row that has `key`."""
        rows = [r for r in self.rows if key in r]
        return [r["step"] for r in rows], [r[key] for r in rows]

    def plot(self, path, keys, title=None):
        """One panel per key against step, saved as a PNG."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.4), squeeze=False)
        for ax, key in zip(axes[0], keys):
            keys_here = key if isinstance(key, (list, tuple)) else [key]
            for k in keys_here:
                ax.plot(*self.series(k), label=k)
            ax.set_xlabel("step")
            ax.set_title(" / ".join(keys_here))
            ax.grid(alpha=0.3)
            if len(keys_here) > 1:
                ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)


def format_metrics(metrics):
    """{'step': 10, 'loss': 2.31} -> 'step     10 | loss 2.3100' (ints as ints, floats 4 significant)."""
    parts = []
    for key, value in metrics.items():
        if key == "step":
            parts.append(f"step {value:6d}")
        elif key == "time":
            parts.append(f"{value:6.1f}s")
        elif isinstance(value, float):
            parts.append(f"{key} {value:.4g}")
        else:
            parts.append(f"{key} {value}")
    return " | ".join(parts)


def arg(default, help):
    """A dataclass field with a help string: `lr: float = arg(1e-3, "peak learning rate")`."""
    from dataclasses import field
    return field(default=default, metadata={"help": help})


def parse_args(cls, presets=None, argv=None):
    """Build an argparse parser from a dataclass of arguments and parse the command line.

    Every field becomes a flag (`max_iters` -> `--max-iters`) with its help string; a bool
    field becomes a switch (`--resume` turns it on, `--no-resume` off). A `--preset NAME`
    picks a dict of overrides from `presets`; flags given explicitly win.
    """
    import argparse
    from dataclasses import fields
    parser = argparse.ArgumentParser(description=(cls.__doc__ or "").strip())
    presets = presets or {}
    if presets:
        parser.add_argument("--preset", choices=sorted(presets), help="named set of overrides")
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        help = f"{f.metadata.get('help', '')} (default: {f.default})".replace("%", "%%")   # argparse formats help with %
        if f.type in (bool, "bool"):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help)
        else:
            kind = {"int": int, "float": float, "str": str}.get(f.type, f.type)
            parser.add_argument(flag, type=kind, default=None, help=help)
    ns = vars(parser.parse_args(argv))
    values = dict(presets.get(ns.pop("preset", None), {}) if presets else {})
    values.update({k: v for k, v in ns.items() if v is not None})
    return cls(**values)


def require_positive(args, *names):
    """Stop with a one-line message when a count flag is below 1: require_positive(args, "eval_samples")."""
    for name in names:
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")


def require_above_zero(args, *names):
    """Stop with a one-line message when a rate or temperature is 0 or below: require_above_zero(args, "lr")."""
    for name in names:
        if not getattr(args, name) > 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be above 0, got {getattr(args, name)}")


def require_choice(args, name, choices):
    """Stop with a one-line message when a flag is not one of its choices: require_choice(args, "dtype", DTYPES)."""
    if getattr(args, name) not in choices:
        raise SystemExit(f"error: --{name.replace('_', '-')} must be one of {', '.join(choices)}, "
                         f"got {getattr(args, name)!r}")


def set_lr(optimizer, lr):
    """Set the learning rate of every parameter group (for a schedule)."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def make_optimizer(params, lr, weight_decay, betas=(0.9, 0.95)):
    """AdamW with weight decay on the matrices only (not on biases, LayerNorm gains or heads' biases).

    fused=True: one kernel updates every parameter, instead of a handful of tensor ops each;
    the same arithmetic (tests/test_common.py), a little faster (python -m nanorlhf.bench).
    """
    params = [p for p in params if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    fused = all(p.device.type in ("cpu", "cuda", "mps") for p in params)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused)


def spearman(a, b):
    """Spearman rank correlation: the Pearson correlation of the ranks (ties get their mean rank)."""
    def ranks(x):
        x = np.asarray(x, dtype=np.float64)
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for value in np.unique(x):   # ties share the mean of their ranks
            r[x == value] = r[x == value].mean()
        return r
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])
