"""
Record the figures of one run of the pipeline, so the lessons can quote them and a test can
keep the quotes honest (tests/test_lesson_figures.py).

    python train_sft.py && python train_rm.py && python train_ppo.py
    python lessons/record_run.py          # out/*_summary.json -> lessons/recorded_run.json

Lesson 07's experiments are recorded too when their summaries are in out/ (the commands
are in lessons/plot_overopt.py): ppo_beta0, ppo_beta0_bc0 and ppo_beta01_bc0.

After your own run, record it and run `python -m pytest tests/test_lesson_figures.py`: every
figure the README and lessons 03, 05, 06 and 07 quote that your run does not reproduce is listed.

Lesson 03's table of SFT levers is recorded the same way, from one folder per run, each
holding sft_summary.json, sft.pt and the printed output saved as `log`:

    python train_sft.py --optimizer muon --max-iters 2000 --out-dir out/levers/muon2000 > out/levers/muon2000/log
    python lessons/record_run.py levers out/levers     # -> lessons/recorded_levers.json

Lesson 04's studies of feedback (`python -m nanorlhf.feedback_study panel` and `formats`):

    python lessons/record_run.py feedback              # out/panel, out/formats -> lessons/recorded_feedback.json
"""
import json
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ("ppo_beta0", "ppo_beta0_bc0", "ppo_beta01_bc0")
EVAL_KEYS = ("step", "score", "kl", "exact_kl", "gold", "win_rate", "strict", "eval_kl", "eval_proxy")


def mean(rows, key):
    return sum(row[key] for row in rows) / len(rows)


def shrink(summary):
    """A PPO summary without its per-iteration log: the evaluations, and the log's means."""
    log = summary.pop("log")
    summary["eval_log"] = [{k: row[k] for k in EVAL_KEYS if k in row} for row in log if "gold" in row]
    summary["means"] = {k: mean(log, k) for k in ("kl", "exact_kl", "clipfrac", "outside") if k in log[0]}
    summary["evals"] = [{k: e[k] for k in ("step", "kl", "proxy", "gold", "win", "strict", "length")}
                        for e in summary.get("evals", [])]
    summary["series"] = {k: [round(row[k], 4) for row in log] for k in ("score", "kl", "exact_kl") if k in log[0]}
    return summary


def main(out_dir="out"):
    run = {}
    for stage in ("sft", "rm", "ppo"):
        path = ROOT / out_dir / f"{stage}_summary.json"
        if not path.exists():
            raise SystemExit(f"error: {path} not found. Run `python train_{stage}.py` first.")
        run[stage] = json.loads(path.read_text())
    shrink(run["ppo"])
    for name in EXPERIMENTS:
        path = ROOT / out_dir / f"{name}_summary.json"
        if path.exists():
            run[name] = shrink(json.loads(path.read_text()))
    # the pipeline's stages indented, each experiment on one line (its per-iteration series are long)
    text = json.dumps({k: v for k, v in run.items() if k not in EXPERIMENTS}, indent=1)[:-2]
    text += "".join(f',\n "{k}": {json.dumps(v)}' for k, v in run.items() if k in EXPERIMENTS) + "\n}\n"
    (ROOT / "lessons" / "recorded_run.json").write_text(text)
    print(f"wrote lessons/recorded_run.json from {out_dir}: " + ", ".join(run))


LEVER_ARGS = ("optimizer", "max_iters", "batch_size", "lr", "matrix_lr", "muon_bf16", "rotary", "norm", "mlp", "qk_norm",
              "tie_head", "seed")
KINDS = ("arithmetic", "capital", "colour", "legs", "sound", "plural", "polite", "reverse", "sort_up", "sort_down",
         "sort_words")


def quiet_seconds(log_text):
    """Training time as if nothing else ran: the median seconds per step, times the steps.
    log_text: train_sft.py's printed output ('step 50 | ... |   7.7s' lines)."""
    rows = [(int(m[1]), float(m[2])) for m in re.finditer(r"^step\s+(\d+) \|.*\|\s+([\d.]+)s$", log_text, re.M)]
    per_step = statistics.median((t2 - t1) / (s2 - s1) for (s1, t1), (s2, t2) in zip(rows, rows[1:]))
    return per_step * rows[-1][0]


def levers(runs_dir):
    """Every run folder under runs_dir -> lessons/recorded_levers.json: its arguments, summary, quiet time."""
    import torch
    runs = {}
    for folder in sorted(Path(runs_dir).iterdir()):
        if not (folder / "sft_summary.json").exists():
            continue
        args = torch.load(folder / "sft.pt", map_location="cpu", weights_only=False)["meta"]["args"]
        summary = json.loads((folder / "sft_summary.json").read_text())
        runs[folder.name] = {"args": {k: args.get(k) for k in LEVER_ARGS}, "quiet_seconds": quiet_seconds(
            (folder / "log").read_text()), **{k: summary[k] for k in ("val_loss", "sft_strict", "sft_gold", "eos_rate",
                                                                        "garbled", "by_kind", "heldout_phrasing_strict",
                                                                        "trained_phrasing_strict", "train_time")}}
    text = "{\n" + ",\n".join(f' "{k}": {json.dumps(v)}' for k, v in runs.items()) + "\n}\n"
    (ROOT / "lessons" / "recorded_levers.json").write_text(text)
    print(f"wrote lessons/recorded_levers.json from {runs_dir}: " + ", ".join(runs))


def lever_row(name, run):
    """One row of lesson 03's lever table, as the lesson writes it."""
    pct = lambda x: f"{100 * x:.0f}"
    s, g, k = run["sft_strict"], run["sft_gold"], run["by_kind"]
    worst = min(KINDS, key=lambda kind: k[kind])
    return (f"| {name} | {run['args']['max_iters']} | {run['quiet_seconds']:.0f} s ({run['train_time']:.0f}) | "
            f"{run['val_loss']:.3f} | {100 * s[0]:.1f}% [{100 * s[1]:.1f}, {100 * s[2]:.1f}] | "
            f"{worst.replace('_', ' ')} {pct(k[worst])}% | "
            f"{' / '.join(pct(k[x]) for x in ('reverse', 'sort_up', 'sort_down', 'sort_words'))}% | "
            f"{100 * run['garbled']:.1f}% | {g[0]:+.2f} [{g[1]:+.2f}, {g[2]:+.2f}] | {100 * run['eos_rate']:.1f}% | "
            f"{pct(run['heldout_phrasing_strict'])} / {pct(run['trained_phrasing_strict'])}% |")


FORMAT_NAMES = {"thumbs": "thumbs up/down", "pairs": "pairs (K = 2)", "k4": "rankings of K = 4",
                "k8": "rankings of K = 8"}


def feedback():
    """out/panel/panel_summary.json and out/formats/formats_summary.json -> lessons/recorded_feedback.json."""
    panel = json.loads((ROOT / "out" / "panel" / "panel_summary.json").read_text())
    formats = json.loads((ROOT / "out" / "formats" / "formats_summary.json").read_text())
    for f in formats.values():
        f["rm"] = {k: f["rm"][k] for k in ("val_acc", "val_acc_gold", "spearman", "time")}
    text = json.dumps({"panel": panel, "formats": formats}, indent=1)
    (ROOT / "lessons" / "recorded_feedback.json").write_text(text + "\n")
    print("wrote lessons/recorded_feedback.json from out/panel and out/formats")


def panel_row(name, figures):
    """One row of lesson 04's held-out labeler table, as the lesson writes it."""
    pct = lambda x: f"{100 * x[0]:.1f}% [{100 * x[1]:.1f}, {100 * x[2]:.1f}]"
    label = "all five, pooled" if name == "pooled" else name
    return f"| {label} | " + " | ".join(pct(figures[k]) for k in ("rm_train", "rm_heldout", "train_train",
                                                                   "train_heldout")) + " |"


def format_row(name, run):
    """One row of lesson 04's table of feedback formats at equal effort, as the lesson writes it."""
    pct = lambda x: f"{100 * x[0]:.1f}% [{100 * x[1]:.1f}, {100 * x[2]:.1f}]"
    ppo = pct(run["ppo"]["win"]) if "ppo" in run else "not run"
    return (f"| {FORMAT_NAMES[name]} | {run['judgments']:,} | {run['answers']:,} | {run['cost']:,} | "
            f"{pct(run['rm']['val_acc_gold'])} | {pct(run['rm']['val_acc'])} | "
            "{:.2f} [{:.2f}, {:.2f}] | {} |".format(*run["rm"]["spearman"], ppo))


if __name__ == "__main__":
    if sys.argv[1:2] == ["levers"]:
        levers(*sys.argv[2:3])
    elif sys.argv[1:2] == ["feedback"]:
        feedback()
    else:
        main(*sys.argv[1:])
