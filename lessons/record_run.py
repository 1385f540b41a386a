"""
Record the figures of one run of the pipeline, so the lessons can quote them and a test can
keep the quotes honest (tests/test_lesson_figures.py).

    python train_sft.py && python train_rm.py && python train_ppo.py
    python lessons/record_run.py          # out/*_summary.json -> lessons/recorded_run.json

Lesson 07's experiments are recorded too when their summaries are in out/ (the commands
are in lessons/plot_overopt.py): ppo_beta0, ppo_beta0_bc0 and ppo_beta01_bc0.

After your own run, record it and run `python -m pytest tests/test_lesson_figures.py`: every
figure the README and lessons 03, 05, 06 and 07 quote that your run does not reproduce is listed.
"""
import json
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


if __name__ == "__main__":
    main(*sys.argv[1:])
