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
    python -m nanorlhf.best_of_n --n 16 --prompts 140
"""
import argparse
import math
import time

import numpy as np

from nanorlhf import labeler
from nanorlhf.checkpoint import load_checkpoint, require_same_tokenizer
from nanorlhf.common import get_device
from nanorlhf.data import load_jsonl
from nanorlhf.reward import score_texts
from nanorlhf.sampling import evaluate_gold, generate_responses, win_rate


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
    parser.add_argument("--prompts", type=int, default=280, help="held-out evaluation prompts to use")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="longest sampled answer")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampling")
    parser.add_argument("--device", default="auto", help="auto picks cuda, then mps, then cpu")
    args = parser.parse_args(argv)

    device = get_device(args.device)
    sft, tokenizer, _ = load_checkpoint(f"{args.out_dir}/sft.pt", device)
    rm, rm_tokenizer, _ = load_checkpoint(f"{args.out_dir}/rm.pt", device)
    require_same_tokenizer(f"{args.out_dir}/rm.pt", rm_tokenizer, f"{args.out_dir}/sft.pt", tokenizer)
    prompts = [r["prompt"] for r in load_jsonl("data/eval_prompts.jsonl")[:args.prompts]]

    t0 = time.time()
    baseline = evaluate_gold(sft, tokenizer, prompts, args.max_new_tokens, args.temperature, args.seed)
    repeated = [p for p in prompts for _ in range(args.n)]
    responses = generate_responses(sft, tokenizer, repeated, args.max_new_tokens, args.temperature,
                                   args.seed + 1)
    rm_scores = score_texts(rm, tokenizer, repeated, responses).cpu().numpy().reshape(len(prompts), args.n)
    gold = np.array([labeler.score(p, y) for p, y in zip(repeated, responses)]).reshape(len(prompts), args.n)
    print(f"{len(prompts)} held-out prompts x {args.n} SFT answers, sampled and scored in {time.time() - t0:.1f}s")
    print(f"one plain SFT answer: gold score {baseline['score']:+.3f}\n")
    print("   n | KL <= nats | reward model picks: gold   win | gold labeler picks: gold   win")
    n = 1
    while n <= args.n:
        by_rm, by_gold = best_of_n(rm_scores, gold, n), best_of_n(gold, gold, n)
        print(f"{n:4d} | {best_of_n_kl(n):10.2f} | {by_rm.mean():+24.3f} {win_rate(by_rm, baseline['scores']):5.2f} "
              f"| {by_gold.mean():+24.3f} {win_rate(by_gold, baseline['scores']):5.2f}")
        n *= 2


if __name__ == "__main__":
    main()
