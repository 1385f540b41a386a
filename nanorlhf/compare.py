"""
Every method on one world, judged by one judge: the table and the plot of lesson 08.

    python -m nanorlhf.compare                   # trains what is missing (about 20 minutes), then compares
    python -m nanorlhf.compare --preset smoke    # every script's smoke preset, for tests

Each method is trained by its own script from the same out/sft.pt, out/rm.pt and
out/comparisons.jsonl (run train_sft.py and train_rm.py first). A method whose summary is
already in out/ is read, not trained again, so an interrupted comparison resumes where it
stopped. Every method is judged the same way (nanorlhf/evaluation.py): 4 answers to each
held-out prompt at temperature 1, against the SFT model's 4 answers, seed 0.

Writes out/compare.md (the table) and out/compare.png (gold score against sqrt(KL to SFT),
each run's trajectory, in the manner of Gao et al. 2022).
"""
import argparse
import json
import os
import subprocess
import sys
import time

from nanorlhf.checkpoint import require_checkpoint

# name in the table, the command, the summary it writes, and that summary's key for the policy
METHODS = [
    ("PPO, reward model", ["train_ppo.py"], "ppo", "ppo"),
    ("PPO, gold reward", ["train_ppo.py", "--reward", "gold", "--name", "ppo_gold"], "ppo_gold", "ppo"),
    ("DPO", ["train_dpo.py"], "dpo", "dpo"),
    ("GRPO, gold reward", ["train_grpo.py"], "grpo", "grpo"),
    ("GRPO, reward model", ["train_grpo.py", "--reward", "rm", "--name", "grpo_rm"], "grpo_rm", "grpo"),
]
BEST_OF_N = ["-m", "nanorlhf.best_of_n"]


def run_logged(command, log_path, label):
    """Run `python command...` with its output in log_path; print its last log line every 20 s."""
    started = time.time()
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, *command], stdout=log, stderr=subprocess.STDOUT)
        while process.poll() is None:
            time.sleep(1)
            if int(time.time() - started) % 20 == 0:
                last = open(log_path).read().strip().splitlines()[-1:] or [""]
                print(f"    {label} {time.time() - started:4.0f}s | {last[0][:110]}", flush=True)
    if process.returncode:
        tail = open(log_path).read().strip().splitlines()[-1:] or [""]
        raise SystemExit(f"error: {' '.join(command)} failed ({tail[0]}); see {log_path}")
    return time.time() - started


def final_kl(summary):
    """The exact KL to SFT of the last held-out evaluation (train_ppo.py logs a rollout estimate as "kl")."""
    return summary["evals"][-1]["kl"] if summary.get("evals") else summary["kl"]


def pct(figure):
    return f"{100 * figure[0]:.1f}% [{100 * figure[1]:.1f}, {100 * figure[2]:.1f}]" if figure else "-"


def gold(figure):
    return f"{figure[0]:+.2f} [{figure[1]:+.2f}, {figure[2]:+.2f}]"


def table(results, best):
    """The markdown table of every method, SFT's two baselines first."""
    sft, sft_greedy = results[0][1]["sft"], results[0][1]["sft_greedy"]
    lines = ["| method | gold score | win rate over SFT | strict (closed tasks) | KL to SFT, nats | EOS | length | wall time |",
             "|---|---|---|---|---|---|---|---|",
             f"| SFT, sampled (T = 1) | {gold(sft['gold'])} | 50% | {pct(sft['strict'])} | 0 | "
             f"{100 * sft['eos']:.0f}% | {sft['length']:.1f} | |",
             f"| SFT, greedy | {gold(sft_greedy['gold'])} | {pct(sft_greedy['win'])} | {pct(sft_greedy['strict'])} | "
             f"| {100 * sft_greedy['eos']:.0f}% | {sft_greedy['length']:.1f} | |"]
    if best:
        for row in best["rows"][1:]:
            lines.append(f"| best-of-{row['n']}, reward model picks | {gold(row['rm']['gold'])} | {pct(row['rm']['win'])} "
                         f"| | <= {row['kl']:.2f} | | | |")
    for name, summary, key, seconds in results:
        s = summary[key]
        lines.append(f"| {name} | {gold(s['gold'])} | {pct(s['win'])} | {pct(s['strict'])} | {final_kl(summary):.2f} | "
                     f"{100 * s['eos']:.0f}% | {s['length']:.1f} | {seconds / 60:.1f} min |")
    return "\n".join(lines) + "\n"


def plot(results, best, path):
    """Gold score against sqrt(KL to SFT): each run's held-out evaluations, SFT at 0."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 5))
    sft_gold = results[0][1]["sft"]["gold"][0]
    for name, summary, key, _ in results:
        points = [(0.0, sft_gold)] + [(max(e["kl"], 0.0) ** 0.5, e["gold"][0]) for e in summary.get("evals", [])]
        if not summary.get("evals"):
            points.append((max(final_kl(summary), 0.0) ** 0.5, summary[key]["gold"][0]))
        ax.plot(*zip(*points), marker="o", label=name)
    if best:
        for picker, style in (("rm", "--"), ("gold", ":")):
            xs = [r["kl"] ** 0.5 for r in best["rows"]]
            ax.plot(xs, [r[picker]["gold"][0] for r in best["rows"]], style, marker="s",
                    label=f"best-of-n, {'reward model' if picker == 'rm' else 'gold labeler'} picks")
    ax.set_xlabel("sqrt(KL to SFT), nats^0.5 (held-out answers)")
    ax.set_ylabel("gold score (held-out prompts)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train (or read) every method and compare them by the gold judge.")
    parser.add_argument("--out-dir", default="out", help="reads sft.pt, rm.pt and comparisons.jsonl; writes compare.md")
    parser.add_argument("--preset", choices=["smoke"], help="run every script with its smoke preset (seconds)")
    parser.add_argument("--device", default="auto", help="passed to every script")
    parser.add_argument("--seed", type=int, default=1337, help="passed to every training script")
    args = parser.parse_args(argv)
    for name in ("sft.pt", "rm.pt", "comparisons.jsonl"):
        require_checkpoint(f"{args.out_dir}/{name}")
    common = ["--out-dir", args.out_dir, "--device", args.device] + (["--preset", args.preset] if args.preset else [])
    results = []
    for i, (name, command, summary_name, key) in enumerate(METHODS, start=1):
        path = f"{args.out_dir}/{summary_name}_summary.json"
        if os.path.exists(path):
            print(f"[{i}/{len(METHODS) + 1}] {name}: read {path}")
        else:
            print(f"[{i}/{len(METHODS) + 1}] {name}: python {' '.join(command)} (log in {args.out_dir}/{summary_name}.log)")
            run_logged(command + common + ["--seed", str(args.seed)], f"{args.out_dir}/{summary_name}.log", name)
        with open(path) as f:
            summary = json.load(f)
        results.append((name, summary, key, summary.get("wall_time", 0.0)))
    best_path = f"{args.out_dir}/best_of_n_summary.json"
    if not os.path.exists(best_path):
        print(f"[{len(METHODS) + 1}/{len(METHODS) + 1}] best-of-n: python -m nanorlhf.best_of_n")
        extra = ["--n", "4", "--eval-prompts", "8"] if args.preset else []
        run_logged(BEST_OF_N + ["--out-dir", args.out_dir, "--device", args.device] + extra,
                   f"{args.out_dir}/best_of_n.log", "best-of-n")
    with open(best_path) as f:
        best = json.load(f)
    text = table(results, best)
    with open(f"{args.out_dir}/compare.md", "w") as f:
        f.write(text)
    plot(results, best, f"{args.out_dir}/compare.png")
    print("\n" + text + f"\nwrote {args.out_dir}/compare.md and {args.out_dir}/compare.png")


if __name__ == "__main__":
    main()
