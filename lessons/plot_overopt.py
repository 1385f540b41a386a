"""
Lesson 07's over-optimisation figure: gold and proxy score against sqrt(KL), as Gao et al.
(2022) plot them, for PPO runs that differ in one setting at a time.

    python train_ppo.py                                                          # beta 0.02 (default)
    python train_ppo.py --beta 0 --max-iters 100 --eval-interval 4 --name ppo_beta0
    python train_ppo.py --beta 0 --bc-coef 0 --max-iters 100 --eval-interval 4 --name ppo_beta0_bc0
    python train_ppo.py --beta 0.1 --bc-coef 0 --max-iters 100 --eval-interval 4 --name ppo_beta01_bc0
    python lessons/plot_overopt.py        # out/*_summary.json -> lessons/img/overopt.png

The KL is measured exactly (summed over the vocabulary) on the same held-out answers that
the gold judge and the reward model score (nanorlhf/evaluation.py: heldout_kl, train_ppo.py: heldout_proxy).
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = [("ppo", "beta 0.02, SFT mix 0.5 (default)"), ("ppo_beta0", "beta 0, SFT mix 0.5"),
        ("ppo_beta0_bc0", "beta 0, no SFT mix"), ("ppo_beta01_bc0", "beta 0.1, no SFT mix")]


def curve(summary, key):
    """The SFT model at KL 0, then every evaluation -> sqrt(KL) list, score list."""
    sft = {"gold": summary["sft"]["gold"][0], "eval_proxy": summary["sft_proxy"]}[key]
    rows = [r for r in summary["log"] if "gold" in r]
    return [0.0] + [max(r["eval_kl"], 0.0) ** 0.5 for r in rows], [sft] + [r[key] for r in rows]


def main(out_dir="out"):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 3, figsize=(16, 4))
    for (name, label), colour in zip(RUNS, ("C0", "C1", "C3", "C2")):
        path = ROOT / out_dir / f"{name}_summary.json"
        if not path.exists():
            raise SystemExit(f"error: {path} not found. Run its command first (see this file's docstring).")
        summary = json.loads(path.read_text())
        for a in ax[:2]:
            a.plot(*curve(summary, "gold"), marker="o", ms=3, color=colour, label=label)
        ax[2].plot(*curve(summary, "eval_proxy"), marker="o", ms=3, color=colour, label=label)
    ax[0].set_title("gold score (the judge)")
    ax[1].set_title("gold score, the first few nats")
    ax[1].set_xlim(0, 3)
    ax[1].set_ylim(0.3, 1.35)
    ax[2].set_title("reward-model score (the proxy)")
    for a in ax:
        a.set_xlabel("sqrt(KL to SFT), KL in nats per answer")
        a.grid(alpha=0.3)
    ax[0].legend()
    fig.suptitle("PPO on the held-out prompts: the proxy keeps rising, the judge does not")
    fig.tight_layout()
    fig.savefig(ROOT / "lessons" / "img" / "overopt.png", dpi=110)
    print("wrote lessons/img/overopt.png")


if __name__ == "__main__":
    main(*sys.argv[1:])
