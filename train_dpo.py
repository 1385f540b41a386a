"""
DPO: preference learning with no reward model and no RL (Rafailov et al. 2023).

The reward model of train_rm.py learns r(x, y) from ranked pairs with Bradley-Terry's loss,
and PPO then maximises r minus a KL penalty to the SFT model. That objective's best policy
has a closed form, pi*(y|x) = pi_ref(y|x) exp(r(x, y) / beta) / Z(x), so a reward is hidden
in every policy: r(x, y) = beta * log(pi(y|x) / pi_ref(y|x)) + beta * log Z(x). Put that
into Bradley-Terry's loss and Z(x) cancels between the two answers to one prompt:

    L = -log sigmoid(beta * ((log pi(y_w|x) - log pi_ref(y_w|x)) - (log pi(y_l|x) - log pi_ref(y_l|x))))

DPO minimises that directly on the labeled pairs: the same comparisons the reward model
learns from, the SFT model as the frozen reference, and no sampling while it trains.

    python train_dpo.py                                 # about 2 minutes on a laptop CPU
    python train_dpo.py --comparisons my_labels.jsonl   # your own rankings
    python train_dpo.py --preset smoke                  # a few seconds, for tests and CI
    torchrun --standalone --nproc_per_node 2 train_dpo.py  # 2 processes, each half of every batch
    python train_dpo.py --comparisons mine.jsonl --demos demos.jsonl   # your own prompts: no gold judge, so
                                                        # KL, length, samples (and rm.pt's score, if there)

Reads out/sft.pt and out/comparisons.jsonl (written by train_rm.py). Writes out/dpo.pt,
dpo_summary.json and dpo.png (with --name, that name).
"""
import copy
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from nanorlhf import dist
from nanorlhf.chat import chat_batch
from nanorlhf.checkpoint import load_checkpoint, require_finished, require_same_tokenizer, save_checkpoint
from nanorlhf.common import (DTYPES, arg, autocast, make_optimizer, MetricLog, parse_args, require_above_zero,
                             require_choice, require_positive, save_json, set_lr, stop_on_ctrl_c)
from nanorlhf.data import load_demonstrations, load_jsonl
from nanorlhf.evaluation import (evaluate, evaluate_without_gold, fmt, has_gold_judge, heldout_kl, print_report,
                                 print_samples, print_without_gold, ratio_ci)
from nanorlhf.feedback import load_comparisons, split_rankings
from nanorlhf.reward import ranking_to_pairs
from nanorlhf.rl import dpo_loss, sequence_logprobs
from nanorlhf.sft import encode_demonstration, random_batches


@dataclass
class Args:
    """DPO on the SFT policy, from the reward model's comparisons."""
    out_dir: str = arg("out", "reads sft.pt and comparisons.jsonl from here; writes NAME.pt and NAME.png")
    name: str = arg("dpo", "name of this run's checkpoint and plot")
    device: str = arg("auto", "auto picks cuda, then mps, then cpu")
    seed: int = arg(1337, "seeds the split (as train_rm.py's), the batches and sampling")
    comparisons: str = arg("", "rankings or chosen/rejected pairs (default: out_dir/comparisons.jsonl)")
    val_rankings: int = arg(500, "rankings held out, the same ones train_rm.py holds out with the same seed")
    beta: float = arg(0.1, "how far the implicit reward may pull the policy from SFT: reward = beta * log pi/pi_ref")
    batch_size: int = arg(16, "prompts per step; all the pairs of their rankings go in together")
    epochs: int = arg(2, "passes over the training comparisons")
    lr: float = arg(1e-4, "learning rate (AdamW, constant after a short warmup)")
    warmup_iters: int = arg(10, "linear warmup steps")
    weight_decay: float = arg(0.0, "AdamW weight decay on matrices")
    grad_clip: float = arg(1.0, "clip the gradient norm to this (0 = off)")
    bc_coef: float = arg(0.5, "weight of behaviour cloning on 16 demonstrations per step, as in train_ppo.py (0: plain DPO, which drifts into garble at this lr; lesson 08)")
    dtype: str = arg("auto", "bf16 (autocast: matmuls in bfloat16), fp32, or auto: bf16 where the CPU or GPU has it natively")
    log_interval: int = arg(10, "print a line every N steps")
    eval_interval: int = arg(50, "loss and implicit-reward accuracy on the held-out pairs every N steps")
    eval_prompts: int = arg(280, "held-out prompts in the final gold evaluation (all of them)")
    eval_samples: int = arg(4, "answers sampled per held-out prompt in the final gold evaluation")
    max_new_tokens: int = arg(48, "longest sampled answer in evaluation")
    temperature: float = arg(1.0, "sampling temperature in evaluation")
    demos: str = arg("", "demonstrations for behaviour cloning (default TinyChat's; needed with your own prompts unless --bc-coef 0)")


PRESETS = {
    "smoke": dict(out_dir="out/smoke", val_rankings=8, batch_size=8, epochs=1, warmup_iters=2, log_interval=2,
                  eval_interval=4, eval_prompts=8, max_new_tokens=24),
}


def pair_logprobs(logprobs, tokenizer, records, block_size, device):
    """Summed log-probs of every response in `records` (each forwarded once) -> (N,), and the
    (winner, loser) pairs as indices into them -> winners (P,), losers (P,).
    logprobs: Forward(sequence_logprobs, model), or its DDP wrapper while training."""
    prompts = [r["prompt"] for r in records for _ in r["responses"]]
    responses = [y for r in records for y in r["responses"]]
    idx, attention_mask, response_mask = chat_batch(tokenizer, prompts, responses, block_size)
    logps = logprobs(idx.to(device), attention_mask.to(device), response_mask.to(device))
    winners, losers, offset = [], [], 0
    for r in records:
        for w, l in ranking_to_pairs(r["ranking"]):
            winners.append(offset + w)
            losers.append(offset + l)
        offset += len(r["responses"])
    return logps, torch.tensor(winners, device=device), torch.tensor(losers, device=device)


def dpo_step(policy, ref, tokenizer, records, beta, dtype):
    """The DPO loss of a batch of rankings -> loss, and for every pair: is it ordered right by the
    implicit reward (P,) bool, its margin (P,), and do its two texts differ (P,) bool (a pair of
    equal texts has no preference to learn, and its margin is 0 by construction).
    policy, ref: Forward(sequence_logprobs, model) (the policy's perhaps wrapped by DDP)."""
    device = next(policy.parameters()).device
    block_size = ref.parts[0].config.block_size
    with autocast(device, dtype):
        logps, winners, losers = pair_logprobs(policy, tokenizer, records, block_size, device)
        with torch.no_grad():
            ref_logps, _, _ = pair_logprobs(ref, tokenizer, records, block_size, device)
    loss, chosen, rejected = dpo_loss(logps[winners], logps[losers], ref_logps[winners], ref_logps[losers], beta)
    texts = [(r["responses"][w], r["responses"][l]) for r in records for w, l in ranking_to_pairs(r["ranking"])]
    differ = torch.tensor([a != b for a, b in texts], device=device)
    return loss, (chosen > rejected).cpu(), (chosen - rejected).cpu(), differ.cpu()


@torch.no_grad()
def heldout_pairs(policy, ref, tokenizer, records, beta, dtype, batch_size=32):
    """Loss (mean over pairs), implicit-reward accuracy with its 95% interval over rankings, and
    mean margin, on held-out rankings; accuracy and margin over the pairs whose texts differ."""
    loss_sum, hits, totals, margins = 0.0, [], [], []
    for i in range(0, len(records), batch_size):
        batch = records[i:i + batch_size]
        loss, right, margin, differ = dpo_step(policy, ref, tokenizer, batch, beta, dtype)
        loss_sum += loss.item() * len(right)
        first = 0
        for r in batch:   # per ranking, for an interval that resamples rankings (their pairs share answers)
            n = len(ranking_to_pairs(r["ranking"]))
            keep = differ[first:first + n]
            hits.append(int(right[first:first + n][keep].sum()))
            totals.append(int(keep.sum()))
            first += n
        margins += margin[differ].tolist()
    return loss_sum / sum(len(ranking_to_pairs(r["ranking"])) for r in records), ratio_ci(hits, totals), \
        float(np.mean(margins))


def plot_dpo(log, path, title):
    """Training and held-out loss, and the implicit reward's accuracy and margin, against step."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 3, figsize=(15, 3.8))
    for a, keys, name in [(ax[0], ("loss", "val_loss"), "DPO loss"), (ax[1], ("acc", "val_acc"), "implicit reward accuracy"),
                          (ax[2], ("margin", "val_margin"), "implicit reward margin, chosen - rejected")]:
        for k in keys:
            a.plot(*log.series(k), marker="o" if k.startswith("val") else None, label=k)
        a.set_title(name)
        a.set_xlabel("step")
        a.grid(alpha=0.3)
        a.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    args = parse_args(Args, PRESETS)
    started = time.time()
    require_positive(args, "val_rankings", "batch_size", "epochs", "log_interval", "eval_interval", "eval_prompts",
                     "eval_samples", "max_new_tokens")
    require_above_zero(args, "lr", "beta", "temperature")
    require_choice(args, "dtype", DTYPES)
    rank, world, device = dist.start(args, "batch_size")   # seed, device; one of `world` processes
    ref, tokenizer, sft_meta = load_checkpoint(f"{args.out_dir}/sft.pt", device, kind="gpt")
    require_finished(f"{args.out_dir}/sft.pt", sft_meta)
    path = args.comparisons or f"{args.out_dir}/comparisons.jsonl"
    if not args.comparisons and not os.path.exists(path):
        raise SystemExit(f"error: {path} not found. Run `python train_rm.py` first (it collects the rankings)")
    records = load_comparisons(path)
    if any("thumb" in r for r in records):
        raise SystemExit(f"error: {path} holds thumbs; DPO learns from pairs only (train_rm.py takes thumbs)")
    if len(records) < 2:
        raise SystemExit(f"error: {path} holds {len(records)} rankings; at least 2 are needed "
                         "(some to train on, some to hold out)")
    train, val = split_rankings(records, args.val_rankings, args.seed)
    print(f"{len(train)} training rankings, {len(val)} held out, from {path}")
    gold = has_gold_judge(records)   # TinyChat's prompts; your own have no gold judge
    if not gold and args.bc_coef and not args.demos:
        raise SystemExit(f"error: --bc-coef clones TinyChat's demonstrations, but {path} holds other prompts: "
                         "give your own with --demos FILE, or --bc-coef 0")

    policy = copy.deepcopy(ref)
    ref.requires_grad_(False)
    optimizer = make_optimizer(policy.parameters(), args.lr, args.weight_decay)
    # the summed log-probs as a module's forward: DDP averages the gradients of what its forward computed
    policy_logprobs, ref_logprobs = dist.Forward(sequence_logprobs, policy), dist.Forward(sequence_logprobs, ref)
    trainer = dist.ddp(policy_logprobs)
    # batches per epoch; the last, partial one counts if every process gets a ranking of it
    max_steps = (len(train) // args.batch_size + (len(train) % args.batch_size >= world)) * args.epochs
    ckpt_path = f"{args.out_dir}/{args.name}.pt"
    stop_on_ctrl_c(lambda: f"{ckpt_path} was not written (it is written at the end; an earlier one is as it was)")
    if args.bc_coef:
        demos = [encode_demonstration(tokenizer, d["prompt"], d["response"], ref.config.block_size)
                 for d in (load_demonstrations(args.demos) if args.demos else load_jsonl("data/sft_train.jsonl"))]
        demo_batches = random_batches(demos, 16, tokenizer.pad_id, torch.Generator().manual_seed(args.seed))
    log, step = MetricLog(), 0
    for epoch in range(args.epochs):
        order = np.random.default_rng(args.seed + epoch).permutation(len(train))
        for i in range(0, len(train), args.batch_size):
            batch = [train[j] for j in order[i:i + args.batch_size]]
            if len(batch) < world:   # an epoch's last few rankings, too few to share out (never in one process)
                continue
            step += 1
            lr = args.lr * min(1.0, step / args.warmup_iters)
            set_lr(optimizer, lr)
            mine = dist.my_share(batch)   # this process's rankings of the batch
            loss, right, margin, differ = dpo_step(trainer, ref_logprobs, tokenizer, mine, args.beta, args.dtype)
            loss = loss * dist.global_share(len(right), sum(len(ranking_to_pairs(r["ranking"])) for r in batch))
            if args.bc_coef:   # the SFT loss on demonstrations beside the DPO loss: an anchor to SFT's language
                x, targets = (dist.my_share(t) for t in next(demo_batches))
                with autocast(device, args.dtype):
                    loss = loss + args.bc_coef * policy(x.to(device), targets.to(device))[1].float()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.grad_clip:
                torch.nn.utils.clip_grad_norm_(policy.parameters(), args.grad_clip)
            optimizer.step()
            if step % args.log_interval == 0 or step == max_steps:
                metrics = dict(step=step, loss=dist.mean_over_processes(loss.item()),
                               acc=dist.mean_over_processes(right[differ].float().mean().item()),
                               margin=dist.mean_over_processes(margin[differ].mean().item()), lr=lr)
                if (step % args.eval_interval == 0 or step == max_steps) and dist.is_main():
                    val_loss, val_acc, val_margin = heldout_pairs(policy_logprobs, ref_logprobs, tokenizer, val,
                                                                  args.beta, args.dtype)
                    metrics.update(val_loss=val_loss, val_acc=val_acc[0], val_margin=val_margin)
                log.add(**metrics)

    # ---- before and after, judged by the gold labeler ------------------------------------
    dist.leave_unless_main()   # the other processes are done: rank 0 evaluates and saves
    if not gold:   # your own prompts: KL to SFT, length, samples and rm.pt's score if there is one, on the held-out rankings
        rm_path = f"{args.out_dir}/rm.pt"
        reward_model = None
        if os.path.exists(rm_path):
            reward_model, rm_tokenizer, _ = load_checkpoint(rm_path, device, kind="reward")
            require_same_tokenizer(rm_path, rm_tokenizer, f"{args.out_dir}/sft.pt", tokenizer)
        eval_records = [{"prompt": r["prompt"]} for r in val][:args.eval_prompts]
        def evaluate_policy(model, temperature=args.temperature):
            return evaluate_without_gold(model, ref, reward_model, tokenizer, eval_records, args.eval_samples,
                                         temperature, args.max_new_tokens)
        report = print_without_gold(eval_records, {f"SFT (T={args.temperature})": evaluate_policy(ref), "SFT greedy":
                                                   evaluate_policy(ref, 0), "DPO": evaluate_policy(policy),
                                                   "DPO greedy": evaluate_policy(policy, 0)})
        print(f"held-out pairs: implicit-reward accuracy {fmt(val_acc, percent=True)}")
        save_checkpoint(ckpt_path, policy, tokenizer, meta={"stage": "dpo", "args": asdict(args), "log": log.rows})
        save_json({"gold_judge": False, **dict(zip(("sft", "sft_greedy", "dpo", "dpo_greedy"), report.values())),
                   "kl": report["DPO"]["kl"], "val_acc": val_acc, "log": log.rows, "wall_time": time.time() - started},
                  f"{args.out_dir}/{args.name}_summary.json")
        plot_dpo(log, f"{args.out_dir}/{args.name}.png", f"DPO ({args.name}, your prompts: no gold judge)")
        print(f"saved {ckpt_path}, {args.name}_summary.json and {args.name}.png")
        raise SystemExit(0)   # what follows is the gold judge's report
    eval_records = load_jsonl("data/eval_prompts.jsonl")[:args.eval_prompts]
    def evaluate_policy(model, temperature=args.temperature):   # the same prompts and seed as train_ppo.py
        return evaluate(model, tokenizer, eval_records, args.eval_samples, temperature, args.max_new_tokens, seed=0)
    sft_eval, sft_greedy, final, dpo_greedy = (evaluate_policy(ref), evaluate_policy(ref, 0), evaluate_policy(policy),
                                               evaluate_policy(policy, 0))
    print_samples(eval_records, {"SFT": sft_eval, "DPO": final})
    report = print_report({f"SFT (T={args.temperature})": sft_eval, "SFT greedy": sft_greedy, "DPO": final,
                           "DPO greedy": dpo_greedy}, baseline=sft_eval)
    kl = heldout_kl(policy, ref, tokenizer, final, args.temperature)
    dpo = report["DPO"]
    print(f"\nsummary: gold score SFT {sft_eval.scores.mean():.3f} -> DPO {dpo['gold'][0]:.3f} | "
          f"win rate vs SFT {fmt(dpo['win'], percent=True)} | held-out pairs: accuracy {fmt(val_acc, percent=True)}, "
          f"margin {log.rows[-1]['val_margin']:.3f} | KL to SFT {kl:.2f} nats per answer")
    save_checkpoint(ckpt_path, policy, tokenizer, meta={"stage": "dpo", "args": asdict(args), "log": log.rows})
    save_json({"sft": report[f"SFT (T={args.temperature})"], "sft_greedy": report["SFT greedy"], "dpo": dpo,
               "dpo_greedy": report["DPO greedy"], "kl": kl, "val_acc": val_acc, "log": log.rows, "wall_time": time.time() - started}, f"{args.out_dir}/{args.name}_summary.json")
    plot_dpo(log, f"{args.out_dir}/{args.name}.png", f"DPO ({args.name}, beta={args.beta})")
    print(f"saved {ckpt_path}, {args.name}_summary.json and {args.name}.png")
