"""
Best-of-n: what the reward model is worth before any RL.

For each held-out prompt, sample n answers from the SFT model and keep the one the reward
model scores highest (rejection sampling). The gold labeler then judges the pick: its
mean gold score, and how often it beats one plain SFT answer (the win rate that
train_ppo.py reports). Picking among the same n answers by the gold score itself shows
what a perfect reward model would find. Best-of-n moves at most log n - (n - 1)/n nats
of KL away from the SFT model (Stiennon et al., 2020), so each row also says what a
policy at that KL reaches by pure selection. If the reward model's pick stops improving
while the gold pick keeps climbing, the reward model is what limits PPO.

    python -m nanorlhf.best_of_n                 # reads out/sft.pt and out/rm.pt, about a minute
    python -m nanorlhf.best_of_n --n 16 --eval-prompts 140

Writes out/best_of_n_summary.json (one row per n), which python -m nanorlhf.compare reads.
"""
import argparse
import math
import time

import numpy as np

from nanorlhf.checkpoint import load_checkpoint, require_finished, require_same_tokenizer
from nanorlhf.common import get_device, require_above_zero, require_positive, save_json
from nanorlhf.data import load_jsonl
from nanorlhf.evaluation import evaluate, fmt, win_shares, with_ci
from nanorlhf.reward import score_texts


def best_of_n(picker_scores, gold_scores, n):
    """The gold score of the answer, among each prompt's first n, that the picker ranks highest.

    picker_scores, gold_scores: (P, N) arrays with N >= n, one row per prompt.
    best_of_n([[0.1, 0.9], [0.5, 0.2]], [[1.0, -1.0], [2.0, 3.0]], 2) -> [-1.0, 2.0]
    """
    picker = np.asarray(picker_scores, dtype=float)[:, :n]
    gold = np.asarray(gold_scores, dtype=float)[:, :n]
    pick = picker.argmax(axis=1)                      # (P,) index of the chosen answer
    return gold[np.arange(len(gold)), pick]


def best_of_n_kl(n):
    """KL(best-of-n || base) in nats when no two answers tie: log n - (n - 1) / n."""
    return math.log(n) - (n - 1) / n


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Best-of-n sampling with the reward model, judged by the gold labeler.")
    parser.add_argument("--out-dir", default="out", help="reads sft.pt and rm.pt from here")
    parser.add_argument("--n", type=int, default=8, help="largest n; rows for n = 1, 2, 4, ... up to it")
    parser.add_argument("--eval-prompts", type=int, default=280, help="held-out evaluation prompts to use")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="longest sampled answer")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampling")
    parser.add_argument("--device", default="auto", help="auto picks cuda, then mps, then cpu")
    args = parser.parse_args(argv)
    require_positive(args, "n", "eval_prompts", "max_new_tokens")
    require_above_zero(args, "temperature")

    device = get_device(args.device)
    sft, tokenizer, sft_meta = load_checkpoint(f"{args.out_dir}/sft.pt", device, kind="gpt")
    require_finished(f"{args.out_dir}/sft.pt", sft_meta)
    rm, rm_tokenizer, _ = load_checkpoint(f"{args.out_dir}/rm.pt", device, kind="reward")
    require_same_tokenizer(f"{args.out_dir}/rm.pt", rm_tokenizer, f"{args.out_dir}/sft.pt", tokenizer)

    t0 = time.time()
    records = load_jsonl("data/eval_prompts.jsonl")[:args.eval_prompts]
    # the baseline: 4 plain SFT answers per prompt; the candidates: n more, judged by both pickers
    baseline = evaluate(sft, tokenizer, records, 4, args.temperature, args.max_new_tokens, args.seed)
    candidates = evaluate(sft, tokenizer, records, args.n, args.temperature, args.max_new_tokens, args.seed + 1)
    repeated = [r["prompt"] for r in records for _ in range(args.n)]
    responses = [t for texts in candidates.texts for t in texts]
    rm_scores = score_texts(rm, tokenizer, repeated, responses).cpu().numpy().reshape(len(records), args.n)
    gold = candidates.scores
    print(f"{len(records)} held-out prompts x {args.n} SFT answers, sampled and scored in {time.time() - t0:.1f}s")
    print(f"plain SFT answers (4 per prompt): gold score {fmt(with_ci(baseline.scores.mean(axis=1)))}")
    print("win: how often the pick beats a plain SFT answer (ties one half); 95% intervals over prompts\n")
    print(f"   n | KL <= nats | {'reward model picks: gold':<26} {'win':<20} | {'gold labeler picks: gold':<26} win")
    rows, n = [], 1
    while n <= args.n:
        cells, row = [], {"n": n, "kl": best_of_n_kl(n)}
        for name, picker in (("rm", rm_scores), ("gold", gold)):
            pick = best_of_n(picker, gold, n)                            # (P,)
            win = with_ci(win_shares(pick[:, None], baseline.scores))
            cells.append(f"{fmt(with_ci(pick)):<26} {fmt(win, percent=True):<20}")
            row[name] = {"gold": with_ci(pick), "win": win}
        print(f"{n:4d} | {best_of_n_kl(n):10.2f} | {cells[0]} | {cells[1]}")
        rows.append(row)
        n *= 2
    save_json({"rows": rows, "sft_gold": with_ci(baseline.scores.mean(axis=1)), "wall_time": time.time() - t0},
              f"{args.out_dir}/best_of_n_summary.json")


if __name__ == "__main__":
    main()
