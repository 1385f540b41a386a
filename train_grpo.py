"""
GRPO: PPO's clipped objective without a critic (Shao et al. 2024, DeepSeekMath).

PPO needs a value model to tell a good answer from a lucky prompt. GRPO asks the policy for
G answers to each prompt instead, and judges each answer against the others to the same
prompt: its advantage is its reward minus the group's mean, divided by the group's standard
deviation, the same for every token of the answer. The update is PPO's clipped ratio
objective, and the pull towards the SFT model is a KL term in the loss (the "k3" estimator)
instead of a penalty inside the reward.

By default the reward is the gold labeler's score: the "verifiable reward" setting, where a
program checks the answer (as DeepSeek-R1 did for mathematics). --reward rm uses the reward
model instead, as PPO does.

    python train_grpo.py                       # about 4 minutes on a laptop CPU
    python train_grpo.py --reward rm           # against the learned reward model
    python train_grpo.py --no-scale            # advantages not divided by the group's std (Dr. GRPO)
    python train_grpo.py --preset smoke        # a few seconds, for tests and CI
    torchrun --standalone --nproc_per_node 2 train_grpo.py   # 2 processes, each half the prompts
    python train_grpo.py --prompts mine.jsonl --reward rm   # your own prompts: no gold judge, so the
                                               # reward model's score, KL and samples are reported

Reads out/sft.pt (and out/rm.pt with --reward rm). Writes out/grpo.pt, grpo_summary.json and
grpo.png (with --name, that name).
"""
import copy
import time
from dataclasses import asdict, dataclass

import torch

from nanorlhf import dist
from nanorlhf.chat import decode_response
from nanorlhf.checkpoint import load_checkpoint, require_finished, require_same_tokenizer, save_checkpoint
from nanorlhf.common import (DTYPES, arg, autocast, make_optimizer, MetricLog, parse_args, require_above_zero,
                             require_choice, require_positive, save_json, stop_on_ctrl_c)
from nanorlhf.data import load_demonstrations, load_jsonl, rl_prompts
from nanorlhf.evaluation import (evaluate, evaluate_without_gold, fmt, gold_rewards, gold_scale, has_gold_judge,
                                 heldout_kl, log_without_gold, print_report, print_samples, print_without_gold, summarise)
from nanorlhf.rl import (group_advantages, kl_k3, logprobs_from_logits, masked_mean, policy_loss,
                         response_logprobs)
from nanorlhf.sampling import sample
from nanorlhf.sft import encode_demonstration, random_batches


@dataclass
class Args:
    """GRPO on the SFT policy: G answers per prompt, each judged against its group."""
    out_dir: str = arg("out", "reads sft.pt (and rm.pt) from here; writes NAME.pt and NAME.png")
    name: str = arg("grpo", "name of this run's checkpoint and plot")
    device: str = arg("auto", "auto picks cuda, then mps, then cpu")
    seed: int = arg(1337, "seeds prompt order and sampling")
    reward: str = arg("gold", "gold: the gold labeler's score (a verifiable reward); rm: the reward model's")
    max_iters: int = arg(60, "iterations (one rollout of batch_size x group_size answers and its updates each)")
    batch_size: int = arg(16, "prompts per iteration")
    group_size: int = arg(4, "answers sampled per prompt (G): 16 x 4 = 64 answers, as many as PPO's rollout")
    scale: bool = arg(True, "divide each group's advantages by its standard deviation (--no-scale: Dr. GRPO)")
    max_new_tokens: int = arg(48, "longest response; one that never emits EOS is penalised")
    temperature: float = arg(1.0, "sampling temperature; log-probs use the same one")
    beta: float = arg(0.04, "weight of the k3 KL term to the SFT model in the loss (DeepSeekMath: 0.04)")
    missing_eos_penalty: float = arg(1.0, "subtracted from the reward of a response with no EOS")
    ppo_epochs: int = arg(4, "passes over each rollout")
    minibatch_size: int = arg(16, "answers per gradient step")
    lr: float = arg(1e-4, "learning rate (AdamW)")
    cliprange: float = arg(0.2, "ratio clip epsilon")
    grad_clip: float = arg(1.0, "clip the gradient norm to this (0 = off)")
    bc_coef: float = arg(0.0, "weight of behaviour cloning on the demonstrations, as train_ppo.py has it (0: plain GRPO)")
    dtype: str = arg("auto", "bf16 (autocast: matmuls in bfloat16), fp32, or auto: bf16 where the CPU or GPU has it natively")
    eval_interval: int = arg(20, "gold evaluation on held-out prompts every N iterations")
    eval_prompts: int = arg(280, "held-out prompts in each gold evaluation (all of them)")
    eval_samples: int = arg(4, "answers sampled per held-out prompt in each gold evaluation")
    sample_interval: int = arg(20, "print sample responses every N iterations")
    prompts: str = arg("", "your own JSONL of {\"prompt\": ...} lines (with --reward rm); the last tenth (at most eval_prompts) held out")
    demos: str = arg("", "demonstrations for behaviour cloning (default TinyChat's; needed with --prompts and --bc-coef)")


PRESETS = {
    "smoke": dict(out_dir="out/smoke", max_iters=3, batch_size=4, group_size=3, max_new_tokens=16, minibatch_size=4,
                  ppo_epochs=2, eval_interval=3, eval_prompts=8, sample_interval=3),
}


def plot_grpo(log, path, title, sft_gold):
    """Reward, KL and held-out gold score over iterations."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 3, figsize=(15, 3.8))
    ax[0].plot(*log.series("reward"), label="reward (rollout)")
    ax[0].set_title("reward, mean per answer")
    ax[1].plot(*log.series("kl"), label="k3, per answer (rollout)")
    ax[1].set_title("KL(policy || SFT)")
    if sft_gold is None:   # your own prompts: no gold judge, the reward model's score instead
        ax[2].plot(*log.series("eval_proxy"), marker="o", label="reward model score (held out)")
    else:
        steps, gold = log.series("gold")
        ax[2].plot([0] + steps, [sft_gold] + gold, marker="o", label="gold score (held out)")
    ax[2].set_title("held-out prompts")
    for a in ax:
        a.set_xlabel("iteration")
        a.grid(alpha=0.3)
        a.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    args = parse_args(Args, PRESETS)
    started = time.time()
    require_positive(args, "max_iters", "batch_size", "max_new_tokens", "ppo_epochs", "minibatch_size",
                     "eval_interval", "eval_prompts", "eval_samples", "sample_interval")
    require_above_zero(args, "lr", "temperature")
    if args.group_size < 2:
        raise SystemExit(f"error: --group-size must be at least 2 (answers are judged against each other), "
                         f"got {args.group_size}")
    require_choice(args, "reward", ("gold", "rm"))
    require_choice(args, "dtype", DTYPES)
    rank, world, device = dist.start(args, "batch_size", "minibatch_size")   # seed, device; one of `world` processes

    if args.prompts and args.reward == "gold":
        raise SystemExit("error: --reward gold needs TinyChat's prompts, with a gold judge; with --prompts use --reward rm")
    if args.prompts and args.bc_coef and not args.demos:
        raise SystemExit("error: --bc-coef clones TinyChat's demonstrations; with --prompts give your own "
                         "with --demos FILE, or --bc-coef 0")
    ref, tokenizer, sft_meta = load_checkpoint(f"{args.out_dir}/sft.pt", device, kind="gpt")
    require_finished(f"{args.out_dir}/sft.pt", sft_meta)
    if args.reward == "rm":
        reward_model, rm_tokenizer, _ = load_checkpoint(f"{args.out_dir}/rm.pt", device, kind="reward")
        require_same_tokenizer(f"{args.out_dir}/rm.pt", rm_tokenizer, f"{args.out_dir}/sft.pt", tokenizer)
        reward_model.requires_grad_(False)
    else:   # on the reward model's scale: SFT's answers to 256 training prompts at mean 0, std 1
        scale = gold_scale(ref, tokenizer, load_jsonl("data/ppo_prompts.jsonl")[:256], args.temperature,
                           args.max_new_tokens, seed=args.seed)
        print("reward: the gold labeler's score, normalised as (gold - {:.3f}) / {:.3f}".format(*scale))
    policy = copy.deepcopy(ref)
    ref.requires_grad_(False)
    optimizer = make_optimizer(policy.parameters(), args.lr, weight_decay=0.0)

    prompts, eval_records = rl_prompts(args.prompts, args.eval_prompts)   # TinyChat's, or yours with some held out
    gold = has_gold_judge(eval_records)   # TinyChat's prompts; your own have no gold judge
    def evaluate_policy(model, temperature=args.temperature):   # the same prompts and seed as train_ppo.py
        if not gold:
            return evaluate_without_gold(model, ref, reward_model, tokenizer, eval_records, args.eval_samples,
                                         temperature, args.max_new_tokens)
        return evaluate(model, tokenizer, eval_records, args.eval_samples, temperature, args.max_new_tokens, seed=0)
    if dist.is_main():   # only rank 0 evaluates, prints and saves
        sft_eval = evaluate_policy(ref)
        if gold:
            print(f"SFT model on held-out prompts: gold score {sft_eval.scores.mean():.3f} | "
                  f"eos rate {sft_eval.ended.mean():.2f}")
    if args.bc_coef:
        demos = [encode_demonstration(tokenizer, d["prompt"], d["response"], ref.config.block_size)
                 for d in (load_demonstrations(args.demos) if args.demos else load_jsonl("data/sft_train.jsonl"))]
        demo_batches = random_batches(demos, args.minibatch_size, tokenizer.pad_id,
                                      torch.Generator().manual_seed(args.seed))

    log, evals = MetricLog(), []
    ckpt_path = f"{args.out_dir}/{args.name}.pt"
    # with several processes DDP averages the gradients of what its forward computed: the log-probs
    policy_logprobs = dist.ddp(dist.Forward(response_logprobs, policy))
    generator = torch.Generator(device=device).manual_seed(args.seed * world + rank)   # sampling, per process
    shuffle = torch.Generator().manual_seed(args.seed)                  # minibatch order
    prompt_order = torch.randperm(len(prompts), generator=torch.Generator().manual_seed(args.seed))
    saved = {"iter": None}
    stop_on_ctrl_c(lambda: f"{ckpt_path} holds iteration {saved['iter']}" if saved["iter"]
                   else f"stopped before the first save (iteration {args.eval_interval}); nothing written")
    P, G = args.batch_size // world, args.group_size   # P: this process's prompts; whole groups stay together

    for it in range(1, args.max_iters + 1):
        # ---- 1. rollout: G answers to each of P prompts --------------------------------------
        t0 = time.time()
        first = ((it - 1) * args.batch_size) % len(prompts)
        batch_prompts = dist.my_share([prompts[i] for i in prompt_order[first:first + args.batch_size].tolist()])
        repeated = [p for p in batch_prompts for _ in range(G)]                # (P * G,) each prompt G times
        with autocast(device, args.dtype):
            rollout = sample(policy, tokenizer, repeated, args.max_new_tokens, args.temperature, generator,
                             keep_hidden=True)
        sequence, attention_mask = rollout.sequence, rollout.attention_mask   # (B, Tq + R), B = P * G
        mask = rollout.response_mask.float()                                   # (B, R)
        Tq = rollout.query.size(1)

        # ---- 2. rewards, and each answer's advantage within its group -----------------------
        t1 = time.time()
        with torch.no_grad(), autocast(device, args.dtype):
            if args.reward == "gold":
                texts = [decode_response(tokenizer, ids.tolist()) for ids in rollout.response]
                rewards = gold_rewards(repeated, texts, scale).to(device)           # (B,)
            else:
                rewards = reward_model(sequence, attention_mask).float()            # (B,)
            rewards = rewards - args.missing_eos_penalty * (~rollout.ended).float()
            # A_i = (r_i - mean of the group) / std of the group: one number for every token of answer i
            advantages = group_advantages(rewards.view(P, G), args.scale).view(-1, 1).expand_as(mask)   # (B, R)
            old_logprobs, _, _ = logprobs_from_logits(policy.lm_head(rollout.hidden), rollout.response,
                                                      args.temperature)            # (B, R)
            ref_logprobs, _, _ = response_logprobs(ref, sequence, attention_mask, Tq, args.temperature)

        # ---- 3. update: the clipped ratio objective plus beta times the k3 KL ---------------
        t2 = time.time()
        stats = []
        for epoch in range(args.ppo_epochs):
            for mb in torch.randperm(P * G, generator=shuffle).split(args.minibatch_size // world):
                with autocast(device, args.dtype):
                    logprobs, entropy, _ = policy_logprobs(sequence[mb], attention_mask[mb], Tq, args.temperature)
                    if args.bc_coef:
                        x, targets = (dist.my_share(t) for t in next(demo_batches))
                        bc_loss = policy(x.to(device), targets.to(device))[1]
                # token-level means over the minibatch (every token counts once; lesson 08)
                pg_loss, clipfrac, approx_kl = policy_loss(logprobs, old_logprobs[mb], advantages[mb], mask[mb],
                                                           args.cliprange)
                kl = masked_mean(kl_k3(logprobs, ref_logprobs[mb]), mask[mb])
                loss = pg_loss + args.beta * kl
                if args.bc_coef:
                    loss = loss + args.bc_coef * bc_loss.float()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if args.grad_clip:
                    torch.nn.utils.clip_grad_norm_(policy.parameters(), args.grad_clip)
                optimizer.step()
                stats.append(torch.stack([pg_loss, kl, clipfrac, approx_kl, masked_mean(entropy, mask[mb])]).detach())
        pg, kl_loss, clipfrac, approx_kl, entropy = dist.mean_over_processes(torch.stack(stats).mean(0)).tolist()
        t3 = time.time()

        # ---- 4. log: means over the whole batch (every process's share) --------------------------
        per_answer = dist.gather_rows(torch.stack([rewards, (kl_k3(old_logprobs, ref_logprobs) * mask).sum(1),
                                                   mask.sum(1), rollout.ended.float()], 1))   # (all answers, 4)
        groups = per_answer[:, 0].view(-1, G)
        metrics = dict(step=it, reward=per_answer[:, 0].mean().item(), kl=per_answer[:, 1].mean().item(),
                       flat_groups=(groups == groups[:, :1]).all(1).float().mean().item(),  # groups that teach nothing
                       pg_loss=pg, kl_loss=kl_loss, clipfrac=clipfrac, approx_kl=approx_kl, entropy=entropy,
                       resp_len=per_answer[:, 2].mean().item(), eos=per_answer[:, 3].mean().item(),
                       t_roll=t1 - t0, t_score=t2 - t1, t_update=t3 - t2)
        if it % args.sample_interval == 0:
            for prompt, ids in list(zip(repeated, rollout.response))[:G]:
                print(f"  > {prompt}\n    {decode_response(tokenizer, ids.tolist())}")
        evaluating = (it % args.eval_interval == 0 or it == args.max_iters) and dist.is_main()
        if evaluating and not gold:   # your own prompts
            final = evaluate_policy(policy)
            metrics.update(log_without_gold(final, it, evals))
        elif evaluating:
            final = evaluate_policy(policy)
            ev = summarise(final, sft_eval)
            eval_kl = heldout_kl(policy, ref, tokenizer, final, args.temperature)
            metrics.update(gold=ev["gold"][0], win_rate=ev["win"][0], strict=ev["strict"][0] if ev["strict"] else 0.0,
                           eval_eos=ev["eos"], eval_kl=eval_kl)
            evals.append(dict(step=it, kl=eval_kl, **ev))
        log.add(**metrics)
        if evaluating:
            save_checkpoint(ckpt_path, policy, tokenizer, meta={"stage": "grpo", "args": asdict(args), "iter": it,
                                                                 "log": log.rows, "evals": evals})
            saved["iter"] = it

    # ---- 5. before and after ------------------------------------------------------------------
    dist.leave_unless_main()   # the other processes are done: rank 0 evaluates and saves
    if not gold:   # your own prompts: the reward model's score, KL to SFT, length and samples
        report = print_without_gold(eval_records, {f"SFT (T={args.temperature})": sft_eval, "SFT greedy":
                                                   evaluate_policy(ref, 0), "GRPO": final, "GRPO greedy": evaluate_policy(policy, 0)})
        save_json({"gold_judge": False, **dict(zip(("sft", "sft_greedy", "grpo", "grpo_greedy"), report.values())),
                   "kl": final["kl"], "evals": evals, "log": log.rows, "wall_time": time.time() - started},
                  f"{args.out_dir}/{args.name}_summary.json")
        plot_grpo(log, f"{args.out_dir}/{args.name}.png", f"GRPO ({args.name}, your prompts: no gold judge)", None)
        print(f"saved {ckpt_path}, {args.name}_summary.json and {args.name}.png")
        raise SystemExit(0)   # what follows is the gold judge's report
    print_samples(eval_records, {"SFT": sft_eval, "GRPO": final})
    sft_greedy, grpo_greedy = evaluate_policy(ref, temperature=0), evaluate_policy(policy, temperature=0)
    report = print_report({f"SFT (T={args.temperature})": sft_eval, "SFT greedy": sft_greedy, "GRPO": final,
                           "GRPO greedy": grpo_greedy}, baseline=sft_eval)
    grpo = report["GRPO"]
    print(f"\nsummary: gold score SFT {sft_eval.scores.mean():.3f} -> GRPO {grpo['gold'][0]:.3f} | "
          f"win rate vs SFT {fmt(grpo['win'], percent=True)} | eos rate {grpo['eos']:.3f} | "
          f"KL to SFT {eval_kl:.2f} nats per answer")
    save_json({"sft": report[f"SFT (T={args.temperature})"], "sft_greedy": report["SFT greedy"], "grpo": grpo,
               "grpo_greedy": report["GRPO greedy"], "kl": eval_kl, "evals": evals, "log": log.rows, "wall_time": time.time() - started},
              f"{args.out_dir}/{args.name}_summary.json")
    plot_grpo(log, f"{args.out_dir}/{args.name}.png", f"GRPO ({args.name}, reward {args.reward}, beta={args.beta})",
              float(sft_eval.scores.mean()))
    print(f"saved {ckpt_path}, {args.name}_summary.json and {args.name}.png")
