"""
Step 2 of 3: human feedback and the reward model.

Samples K responses per preference prompt from the SFT model, has a labeler rank them
(the scripted labeler with its noise on, standing in for people; or bring your own file
with --comparisons, e.g. from `python -m nanorlhf.label`), then trains a reward model on
every (winner, loser) pair with the Bradley-Terry loss -log sigmoid(r_w - r_l).

    python train_rm.py                                  # about 2 minutes on a laptop CPU
    python train_rm.py --comparisons my_labels.jsonl    # train on your own rankings (or pairs, or thumbs)
    python train_rm.py --comparisons class_labels.jsonl --mix-scripted   # ... and the scripted labeler's
    python train_rm.py --resume                         # after Ctrl-C: reuse the rankings already collected
    python train_rm.py --preset smoke                   # a few seconds, for tests and CI
    torchrun --standalone --nproc_per_node 2 train_rm.py   # 2 processes, each half of every batch

Reads out/sft.pt. Writes out/comparisons.jsonl, out/rm.pt and out/rm.png. rm.pt is written
once, at the end: an interrupted run leaves the one before it as it was.
"""
import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from nanorlhf import dist
from nanorlhf.checkpoint import load_checkpoint, require_checkpoint, require_finished, save_checkpoint
from nanorlhf.common import (DTYPES, arg, autocast, cosine_lr, make_optimizer, MetricLog, parse_args,
                             require_above_zero, require_choice, require_positive, save_json, set_lr, spearman,
                             stop_on_ctrl_c)
from nanorlhf.data import load_jsonl
from nanorlhf.evaluation import bootstrap_stat, fmt
from nanorlhf.feedback import (accuracy_ci, agreement, collect_comparisons, gold_pairs, gold_scores, load_comparisons,
                               ranking_scores, record_scores, save_comparisons, share_right, split_rankings)
from nanorlhf.reward import (RewardModel, comparison_batch, pairwise_loss, ranking_to_pairs, score_texts, thumb_loss,
                             thumb_targets)
from nanorlhf.sampling import generate_responses
from nanorlhf.tinychat import labeler
from nanorlhf.tinychat.world import FAMILIES


@dataclass
class Args:
    """Collect ranked comparisons of SFT responses and train a reward model on them."""
    out_dir: str = arg("out", "reads sft.pt from here; writes comparisons.jsonl, rm.pt, rm.png")
    device: str = arg("auto", "auto picks cuda, then mps, then cpu")
    seed: int = arg(1337, "seeds sampling, the labeler's noise, the split and the batches")
    comparisons: str = arg("", "train on this JSONL file instead of collecting (rankings, chosen/rejected or thumbs)")
    mix_scripted: bool = arg(False, "with --comparisons: also collect the scripted labeler's rankings and train on both")
    heldout: str = arg("", "measure on this file's rankings and train on every training record (default: hold some out)")
    resume: bool = arg(False, "reuse out_dir/comparisons.jsonl, collected by an interrupted run with these settings")
    num_prompts: int = arg(2500, "preference prompts to collect rankings for (val_rankings of them held out)")
    k: int = arg(4, "responses ranked per prompt, giving C(k, 2) pairs each")
    noise: float = arg(labeler.DEFAULT_NOISE, "the scripted labeler's noise (0 = always the gold ranking)")
    max_new_tokens: int = arg(48, "longest sampled response")
    temperature: float = arg(1.0, "sampling temperature for the responses to rank")
    val_rankings: int = arg(500, "rankings held out to measure accuracy (500 x 6 pairs: intervals of about 2 points)")
    batch_size: int = arg(16, "prompts per step; all their pairs go in together")
    epochs: int = arg(1, "passes over the training comparisons (InstructGPT: 1)")
    lr: float = arg(1e-3, "peak learning rate (AdamW)")
    weight_decay: float = arg(0.1, "AdamW weight decay on matrices")
    grad_clip: float = arg(1.0, "clip the gradient norm to this (0 = off)")
    dtype: str = arg("auto", "bf16 (autocast: matmuls in bfloat16), fp32, or auto: bf16 where the CPU or GPU has it natively")
    log_interval: int = arg(10, "print a line every N steps")
    eval_interval: int = arg(40, "held-out accuracy every N steps")
    eval_samples: int = arg(4, "fresh SFT answers per held-out eval prompt, for the rank correlation with gold")


PRESETS = {
    "smoke": dict(out_dir="out/smoke", num_prompts=48, k=3, val_rankings=8, batch_size=8, max_new_tokens=24,
                  log_interval=2, eval_interval=4, eval_samples=1),
}


def reusable_comparisons(path, sft_path, args):
    """The rankings an interrupted run collected, if they are what this run would collect: made
    after sft.pt was, for the same prompts, k and labeler noise. Otherwise stop with a message."""
    if not os.path.exists(path) or os.path.getmtime(path) < os.path.getmtime(sft_path):
        raise SystemExit(f"error: {path} holds no rankings of the current {sft_path}; run without --resume")
    prompts = [r["prompt"] for r in load_jsonl("data/pref_prompts.jsonl")[:args.num_prompts]]
    raw = load_jsonl(path)
    same = ([r["prompt"] for r in raw] == prompts and all(len(r.get("responses", ())) == args.k for r in raw)
            and {r.get("labeler") for r in raw} == {f"scripted(noise={args.noise})"})
    if not same:
        raise SystemExit(f"error: {path} was collected with other settings (--num-prompts, --k or --noise); "
                         "run without --resume")
    return load_comparisons(path)


def collect_scripted(sft, tokenizer, args):
    """The scripted labeler ranks k SFT answers to each of the first num_prompts preference prompts."""
    records = None
    if dist.is_main():   # with several processes rank 0 collects them all and hands them to the others
        prompts = [r["prompt"] for r in load_jsonl("data/pref_prompts.jsonl")[:args.num_prompts]]
        records = collect_comparisons(sft, tokenizer, prompts, args.k, args.noise, args.seed, args.max_new_tokens,
                                      args.temperature)
    return dist.from_main(records)   # the same data as one process


def accuracy(records, scores, ties):
    """Share of the records' labeled pairs that `scores` order the same way, leaving out
    pairs that tie in `ties` (nanorlhf/feedback.py: agreement)."""
    agree, total = agreement(records, scores, ties)
    return agree / max(1, total)


def gold_ranked(records, gold):
    """The records ranked by their gold scores instead of their labels (the noise-free order)."""
    return [dict(r, ranking=sorted(range(len(g)), key=lambda i: -g[i])) for r, g in zip(records, gold)]


def plot_rm(log, summary, chosen, rejected, fresh_rm, fresh_gold, path):
    """Loss, accuracy, chosen-vs-rejected score histograms, and RM score against gold score (fresh_rm and
    fresh_gold None, with no gold score: that panel stays empty)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 4, figsize=(18, 3.6))
    ax[0].plot(*log.series("loss"))
    ax[0].set_title("pairwise loss")
    ax[1].plot(*log.series("batch_acc"), alpha=0.5, label="train batch")
    ax[1].plot(*log.series("val_acc"), marker="o", label="held out")
    if "ceiling" in summary:
        ax[1].axhline(summary["ceiling"][0], color="k", ls="--", label="noise-free order vs the labels")
        ax[1].axhline(summary["inter_labeler"][0], color="gray", ls=":", label="a second noisy labeler")
    ax[1].set_title("pairwise accuracy")
    ax[1].legend()
    for a in ax[:2]:
        a.set_xlabel("step")
    ax[2].hist(chosen, bins=30, alpha=0.6, label="ranked first")
    ax[2].hist(rejected, bins=30, alpha=0.6, label="ranked last")
    ax[2].set_title("held-out reward scores")
    ax[2].legend()
    if fresh_gold is not None:   # None: your own prompts, no gold score
        ax[3].scatter(fresh_gold, fresh_rm, s=6, alpha=0.5)
        ax[3].set_xlabel("gold score")
        ax[3].set_ylabel("reward model score")
        ax[3].set_title(f"fresh SFT samples (Spearman {summary['spearman'][0]:.2f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    args = parse_args(Args, PRESETS)
    require_positive(args, "val_rankings", "eval_samples", "num_prompts", "k", "batch_size", "epochs",
                     "max_new_tokens", "log_interval", "eval_interval")
    require_above_zero(args, "lr")
    if args.k < 2:
        raise SystemExit(f"error: --k must be at least 2 (responses ranked per prompt, to make pairs), got {args.k}")
    if args.temperature <= 0:
        raise SystemExit(f"error: --temperature must be above 0, got {args.temperature}: the reward model "
                         "needs different answers to the same prompt to compare")
    require_choice(args, "dtype", DTYPES)
    rank, world, device = dist.start(args, "batch_size")   # seed, device; one of `world` processes
    require_checkpoint(f"{args.out_dir}/sft.pt")
    sft, tokenizer, sft_meta = load_checkpoint(f"{args.out_dir}/sft.pt", device, kind="gpt")
    require_finished(f"{args.out_dir}/sft.pt", sft_meta)

    # ---- 1. comparisons: collect with the scripted labeler, or read a file ------------
    t0 = time.time()
    collected = f"{args.out_dir}/comparisons.jsonl"
    stop_on_ctrl_c(lambda: f"{args.out_dir}/rm.pt was not written (an earlier one is as it was)" + (
        f"; the rankings are in {collected}: `python train_rm.py --resume` reuses them"
        if os.path.exists(collected) and os.path.getmtime(collected) >= t0 else ""))
    if args.mix_scripted and not args.comparisons:
        raise SystemExit("error: --mix-scripted mixes a --comparisons file with the scripted labeler's rankings; "
                         "give the file")
    if args.resume and not args.comparisons:
        records = reusable_comparisons(collected, f"{args.out_dir}/sft.pt", args)
        print(f"reusing {len(records)} rankings from {collected} (--resume)")
    elif args.comparisons:
        records = own = load_comparisons(args.comparisons)
        if len(records) < 2 and not args.mix_scripted:
            raise SystemExit(f"error: {args.comparisons} holds {len(records)} rankings; at least 2 are needed "
                             "(some to train on, some to hold out)")
        print(f"read {len(records)} records from {args.comparisons}")
        if args.mix_scripted:   # the file's rankings and the scripted labeler's, held out from together
            records = own + collect_scripted(sft, tokenizer, args)
            print(f"mixed with {len(records) - len(own)} rankings by the scripted labeler (--mix-scripted)")
    else:
        records = collect_scripted(sft, tokenizer, args)
        if dist.is_main():
            save_comparisons(records, f"{args.out_dir}/comparisons.jsonl")
        print(f"collected {len(records)} rankings of {args.k} responses "
              f"({len(records) * math.comb(args.k, 2)} pairs) in {time.time() - t0:.1f}s "
              f"-> {args.out_dir}/comparisons.jsonl")
    if args.heldout:
        train, val = records, load_comparisons(args.heldout)
        if not val or any("thumb" in r for r in val):
            raise SystemExit(f"error: --heldout {args.heldout} must hold rankings or pairs (no thumbs) to measure on")
    else:
        train, val = split_rankings(records, args.val_rankings, args.seed)
    if not any(len(r["responses"]) > 1 for r in val):
        raise SystemExit("error: the held-out records hold no pairs to measure on (thumbs only?); "
                         "give rankings or pairs to measure on with --heldout FILE")
    print(f"{len(train)} training records, {len(val)} held out" +
          (f" ({sum('thumb' in r for r in train)} of them thumbs)" if any("thumb" in r for r in train) else ""))
    if not any(r["responses"][w] != r["responses"][l] for r in train for w, l in ranking_to_pairs(r["ranking"])) \
            and not any("thumb" in r for r in train):
        raise SystemExit(f"error: in all {len(train)} training rankings the responses are identical, so there "
                         "is nothing to learn (is chosen the same as rejected?); nothing was saved")
    # two yardsticks for the reward model's accuracy on the held-out labels:
    # the noise-free ranking predicts a noisy label best of all (the ceiling), and a second
    # noisy labeler is what InstructGPT compared its reward model with (inter-labeler agreement).
    # Both need the gold score, which exists only for TinyChat prompts. Every accuracy leaves
    # out the pairs no one can order: equal gold scores (mostly the same text sampled twice),
    # or, without a gold score, identical texts.
    gold = all(labeler.can_score(r["prompt"]) for r in val)
    ties = gold_scores(val) if gold else [r["responses"] for r in val]
    if gold:
        ceiling = accuracy_ci(val, ties, ties)
        rng = np.random.default_rng(args.seed + 1)
        second = [ranking_scores(labeler.rank(r["prompt"], r["responses"], rng=rng, noise=args.noise))
                  for r in val]
        inter_labeler = accuracy_ci(val, second, ties)
        print(f"on held-out pairs a second noisy labeler agrees with the labels {fmt(inter_labeler, True)}; "
              f"the labels agree with the noise-free ranking {fmt(ceiling, True)}")
    else:
        print("some held-out prompts are not TinyChat prompts, so there is no gold score: the reward model "
              "is measured against the file's own labels only (no ceiling, no breakdown by family)")

    # ---- 2. the reward model: the SFT network, unembedding replaced by a scalar head -----
    model = RewardModel.from_gpt(sft).to(device)
    optimizer = make_optimizer(model.parameters(), args.lr, args.weight_decay)
    trainer = dist.ddp(model)   # with several processes: averages the gradients over them in backward
    # batches per epoch; the last, partial one counts if every process gets a ranking of it
    steps_per_epoch = len(train) // args.batch_size + (len(train) % args.batch_size >= world)
    max_steps = steps_per_epoch * args.epochs
    log = MetricLog()
    model.train()
    step = 0
    for epoch in range(args.epochs):
        perm = np.random.default_rng(args.seed + epoch).permutation(len(train))
        for i in range(0, len(train), args.batch_size):
            batch = [train[j] for j in perm[i:i + args.batch_size]]
            if len(batch) < world:   # an epoch's last few rankings, too few to share out (never in one process)
                continue
            step += 1
            lr = cosine_lr(step - 1, args.lr, max(1, max_steps // 10), max_steps)
            set_lr(optimizer, lr)
            mine = dist.my_share(batch)   # this process's records of the batch
            idx, mask, winners, losers, weights = comparison_batch(mine, tokenizer, model.config.block_size)
            thumbed, up = thumb_targets(mine)   # (U,) thumbed responses, 1 up / 0 down
            with autocast(device, args.dtype):
                scores = trainer(idx.to(device), mask.to(device)).float()   # (N,) one per response
            # each record counts once: the pair weights average the share of rankings in the batch,
            # and the thumbs loss gets the share of thumbs (nanorlhf/reward.py: comparison_batch)
            loss = torch.zeros((), device=device)
            if len(winners):
                loss = loss + pairwise_loss(scores[winners.to(device)], scores[losers.to(device)], weights.to(device))
            if len(thumbed):
                loss = loss + len(thumbed) / len(mine) * thumb_loss(scores[thumbed.to(device)], up.to(device))
            loss = loss * dist.global_share(len(mine), len(batch))   # each record counts once in the whole batch
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            optimizer.step()
            # pairs in the labeled order, and thumbs on the labeled side of 0 (the reference level)
            hits = (scores[winners] > scores[losers]).sum() + ((scores[thumbed] > 0) == (up.to(device) > 0.5)).sum()
            batch_acc = hits.item() / (len(winners) + len(thumbed))
            if step % args.log_interval == 0 or step == max_steps:
                metrics = dict(step=step, loss=dist.mean_over_processes(loss.item()),
                               batch_acc=dist.mean_over_processes(batch_acc), lr=lr)
                if (step % args.eval_interval == 0 or step == max_steps) and dist.is_main():
                    model.eval()
                    metrics["val_acc"] = accuracy(val, record_scores(model, tokenizer, val), ties)
                    model.train()
                log.add(**metrics)

    # ---- 3. normalise, then evaluate against the labels, the gold ranking and the ceiling --
    dist.leave_unless_main()   # the other processes are done: rank 0 evaluates and saves
    # normalise: the SFT model's own responses score mean 0, standard deviation 1
    model.eval()
    train_prompts = [r["prompt"] for r in train for _ in r["responses"]]
    train_responses = [y for r in train for y in r["responses"]]
    # (a new RewardModel has gain 1 and shift 0, so score_texts gives the raw scores here)
    model.normalise(score_texts(model, tokenizer, train_prompts, train_responses))
    print(f"normalised: score = {model.gain.item():.3f} * raw + {model.shift.item():.3f}")

    val_scores = record_scores(model, tokenizer, val)
    val_acc = accuracy_ci(val, val_scores, ties)
    summary = dict(val_acc=val_acc)
    mine = [i for i, r in enumerate(val) if args.mix_scripted and r in own]   # the file's own held-out rankings
    if mine:
        summary["val_acc_file"] = accuracy_ci([val[i] for i in mine], [val_scores[i] for i in mine], [ties[i] for i in mine])
        print(f"held-out accuracy on the {len(mine)} rankings from {args.comparisons}: "
              f"{fmt(summary['val_acc_file'], True)} against their labels")
    if not gold:
        print(f"held-out pairwise accuracy: {fmt(val_acc, True)} against the file's labels")
    else:
        # InstructGPT's two comparisons: the reward model against the held-out labels beside a
        # second labeler against the same labels; and against the noise-free (gold) order beside
        # a single labeler against it. Intervals are 95% over held-out rankings.
        val_acc_gold = accuracy_ci(gold_ranked(val, ties), val_scores, ties)
        summary.update(val_acc_gold=val_acc_gold, ceiling=ceiling, inter_labeler=inter_labeler)
        print(f"held-out accuracy against the noisy labels:   reward model {fmt(val_acc, True)} | "
              f"a second labeler {fmt(inter_labeler, True)}")
        print(f"held-out accuracy against the noise-free order: reward model {fmt(val_acc_gold, True)} | "
              f"a single labeler {fmt(ceiling, True)}")
        # where it is right and wrong: clear cases (gold scores more than 1.5 apart) by task
        # family, and all pairs by how far apart their gold scores are
        pairs = gold_pairs(val, val_scores)
        clear = [p for p in pairs if p[1] > 1.5]
        print("clear pairs (gold gap > 1.5) in the right order: all {:.2f} ({}) | ".format(*share_right(clear)) +
              " | ".join("{} {:.2f} ({})".format(f, *share_right([p for p in clear if p[0] == f])) for f in FAMILIES))
        gaps = [(0, 0.5), (0.5, 1.5), (1.5, 3), (3, 8)]
        print("all pairs in the right order, by gold gap: " + " | ".join(
            "{}-{} {:.2f} ({})".format(lo, hi, *share_right([p for p in pairs if lo < p[1] <= hi])) for lo, hi in gaps))
        summary["clear_by_family"] = {f: share_right([p for p in clear if p[0] == f])[0] for f in FAMILIES}

    # rank correlation with the gold score on fresh SFT samples for every held-out TinyChat prompt
    # (a reward model of your own prompts is not asked about TinyChat's)
    if gold:
        eval_prompts = [r["prompt"] for r in load_jsonl("data/eval_prompts.jsonl")]
        repeated = [p for p in eval_prompts for _ in range(args.eval_samples)]
        fresh = generate_responses(sft, tokenizer, repeated, args.max_new_tokens, args.temperature, seed=args.seed + 1)
        fresh_rm = np.array(score_texts(model, tokenizer, repeated, fresh).tolist()).reshape(len(eval_prompts), -1)
        fresh_gold = np.array([labeler.score(p, y) for p, y in zip(repeated, fresh)]).reshape(len(eval_prompts), -1)
        rho = lambda i: spearman(fresh_rm[i].ravel(), fresh_gold[i].ravel())
        rho = (rho(np.arange(len(eval_prompts))), *bootstrap_stat(rho, len(eval_prompts), n_boot=300))
        print(f"rank correlation (Spearman) of RM score and gold score on {len(repeated)} fresh SFT answers: "
              f"{rho[0]:.3f} [{rho[1]:.3f}, {rho[2]:.3f}]")
        summary.update(spearman=rho)
    summary.update(time=time.time() - t0)
    print("summary: " + " | ".join(f"{k} {v[0]:.3f}" for k, v in summary.items() if isinstance(v, tuple)))
    save_json(summary, f"{args.out_dir}/rm_summary.json")

    # ---- 4. save and plot -----------------------------------------------------------------
    save_checkpoint(f"{args.out_dir}/rm.pt", model, tokenizer,
                    meta={"stage": "rm", "args": asdict(args), "summary": summary})
    chosen = [s[r["ranking"][0]] for s, r in zip(val_scores, val)]
    rejected = [s[r["ranking"][-1]] for s, r in zip(val_scores, val)]
    plot_rm(log, summary, chosen, rejected, fresh_rm.ravel() if gold else None, fresh_gold.ravel() if gold else None,
            f"{args.out_dir}/rm.png")
    print(f"saved {args.out_dir}/rm.pt, rm_summary.json and rm.png")
