"""
Step 3 of 3: PPO against the reward model, with a per-token KL penalty to the SFT model.

The policy starts as a copy of the SFT model. Each iteration it answers a batch of prompts
(the rollout), the frozen reward model scores each answer, and every token pays a KL
penalty for moving away from the frozen SFT model (the reference). GAE turns these
rewards into advantages, and a few epochs of clipped PPO updates move the policy and the
value model (the critic). Every few iterations the gold labeler judges the policy on
held-out prompts against the SFT model.

    python train_ppo.py                                   # about 4 minutes on a laptop CPU
    python train_ppo.py --beta 0 --max-iters 100 --eval-interval 4 --name ppo_beta0
                                                          # no KL penalty: over-optimisation (lesson 07)
    python train_ppo.py --resume                          # after Ctrl-C: continue from the last save
    python train_ppo.py --preset smoke                    # a few seconds, for tests and CI
    torchrun --standalone --nproc_per_node 2 train_ppo.py # 2 processes, each rolls out half the prompts
    python train_ppo.py --prompts mine.jsonl --demos demos.jsonl   # your own prompts: no gold judge,
                                                          # the reward model's score, KL and samples are reported

Reads out/sft.pt and out/rm.pt. Writes out/ppo.pt and out/ppo.png (with --name, that name).
The pieces PPO shares with other methods (log-probs of a response, masked means, whitening,
the clipped objectives) are in nanorlhf/rl.py; the KL-penalised reward and GAE are below,
and the loop at the bottom wires them up.
"""
import copy
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from nanorlhf import dist
from nanorlhf.chat import decode_response
from nanorlhf.checkpoint import (load_checkpoint, require_checkpoint, require_finished, require_same_tokenizer,
                                 save_checkpoint)
from nanorlhf.common import (DTYPES, arg, autocast, make_optimizer, MetricLog, parse_args, require_above_zero,
                             require_choice, require_positive, save_json, stop_on_ctrl_c)
from nanorlhf.data import load_demonstrations, load_jsonl, rl_prompts
from nanorlhf.evaluation import (evaluate, evaluate_without_gold, fmt, gold_rewards, gold_scale, has_gold_judge,
                                 heldout_kl, log_without_gold, print_report, print_samples, print_without_gold, summarise)
from nanorlhf.reward import score_texts
from nanorlhf.rl import (critic_values, exact_kl, logprobs_from_logits, masked_mean, policy_and_values, policy_loss,
                         response_logprobs, value_loss, whiten)
from nanorlhf.sampling import sample
from nanorlhf.sft import encode_demonstration, random_batches


@dataclass
class Args:
    """PPO on the SFT policy against the reward model, with a KL penalty to the SFT model."""
    out_dir: str = arg("out", "reads sft.pt and rm.pt from here; writes NAME.pt and NAME.png")
    name: str = arg("ppo", "name of this run's checkpoint and plot")
    device: str = arg("auto", "auto picks cuda, then mps, then cpu")
    seed: int = arg(1337, "seeds prompt order and sampling")
    resume: bool = arg(False, "continue from out_dir/NAME.pt if it exists")
    max_iters: int = arg(60, "PPO iterations (one rollout batch and its updates each)")
    batch_size: int = arg(64, "prompts per rollout")
    max_new_tokens: int = arg(48, "longest response; one that never emits EOS is penalised")
    temperature: float = arg(1.0, "sampling temperature; log-probs use the same one")
    beta: float = arg(0.02, "KL penalty coefficient: reward -= beta * (log pi - log pi_ref) per token")
    target_kl: float = arg(0.0, "adaptive KL controller's target, in nats per response (0 = fixed beta)")
    kl_horizon: int = arg(400, "adaptive controller's horizon in responses (beta moves at most 0.2 * batch / horizon per iteration)")
    missing_eos_penalty: float = arg(1.0, "subtracted from the reward model's score of a response with no EOS")
    gamma: float = arg(1.0, "discount in GAE")
    lam: float = arg(0.95, "lambda in GAE: 0 is one-step TD, 1 is Monte Carlo")
    ppo_epochs: int = arg(4, "passes over each rollout batch")
    minibatch_size: int = arg(16, "responses per gradient step")
    lr: float = arg(1e-4, "learning rate of policy and value model (AdamW)")
    cliprange: float = arg(0.2, "PPO ratio clip epsilon")
    grad_clip: float = arg(1.0, "clip the gradient norm of policy and critic together to this (0 = off)")
    cliprange_value: float = arg(0.2, "value clip around the rollout's values")
    vf_coef: float = arg(0.1, "weight of the value loss")
    reward: str = arg("rm", "rm: the reward model's score; gold: the gold labeler's, normalised the same way (the upper bound)")
    critic: str = arg("model", "model: a separate value model initialised from the RM; shared: a value head on the policy's trunk")
    dtype: str = arg("auto", "bf16 (autocast: matmuls in bfloat16), fp32, or auto: bf16 where the CPU or GPU has it natively")
    bc_coef: float = arg(0.5, "weight of behaviour cloning: the SFT loss on demonstrations, added to each update (0 = plain PPO)")
    eval_interval: int = arg(20, "gold evaluation on held-out prompts every N iterations (each takes about 12 s)")
    eval_prompts: int = arg(280, "held-out prompts in each gold evaluation (all of them)")
    eval_samples: int = arg(4, "answers sampled per held-out prompt in each gold evaluation")
    sample_interval: int = arg(20, "print sample responses every N iterations")
    prompts: str = arg("", "your own JSONL of {\"prompt\": ...} lines; the last tenth (at most eval_prompts) held out")
    demos: str = arg("", "demonstrations for behaviour cloning (default TinyChat's; needed with --prompts unless --bc-coef 0)")


PRESETS = {
    "smoke": dict(out_dir="out/smoke", max_iters=3, batch_size=8, max_new_tokens=16, minibatch_size=4,
                  ppo_epochs=2, eval_interval=3, eval_prompts=8, sample_interval=3),
}


# ---- PPO's rewards and advantages, as small pure functions --------------------------------

def kl_penalised_rewards(scores, logprobs, ref_logprobs, response_mask, beta):
    """Per-token rewards: a KL penalty on every response token, the RM score on the last one.

    scores (B,), the other tensors (B, R) -> rewards (B, R), kl (B, R).
    """
    # KL_t = log pi(a_t|s_t) - log pi_ref(a_t|s_t): positive where the policy likes a_t more than SFT
    kl = (logprobs - ref_logprobs) * response_mask
    # r_t = -beta * KL_t  (+ r_theta(x, y) at the last valid token)
    rewards = -beta * kl
    last = response_mask.sum(dim=1).long() - 1                          # (B,)
    rewards[torch.arange(scores.size(0), device=scores.device), last] += scores
    return rewards, kl


def compute_gae(rewards, values, mask, gamma, lam):
    """Generalised advantage estimation over the response tokens.

    rewards, values, mask: (B, R); mask is 1 on the valid tokens (a prefix of each row).
    The value after the last valid token is 0 (the episode ends there).
    -> advantages (B, R), returns (B, R) = advantages + values, both 0 where mask is 0.
    """
    values = values * mask
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros_like(rewards[:, 0])
    R = rewards.size(1)
    for t in reversed(range(R)):
        next_value = values[:, t + 1] if t + 1 < R else torch.zeros_like(values[:, 0])
        # delta_t = r_t + gamma * V(s_{t+1}) - V(s_t)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        # A_t = delta_t + gamma * lambda * A_{t+1}
        next_advantage = (delta + gamma * lam * next_advantage) * mask[:, t]
        advantages[:, t] = next_advantage
    returns = (advantages + values) * mask
    return advantages, returns


def adaptive_beta(beta, kl, target_kl, n_responses, horizon):
    """Ziegler et al. (2019): beta <- beta * (1 + clip(KL / target - 1, -0.2, 0.2) * n / horizon)."""
    error = min(max(kl / target_kl - 1.0, -0.2), 0.2)
    return beta * (1.0 + error * n_responses / horizon)


def explained_variance(values, returns, mask):
    """1 - Var[G - V] / Var[G] over valid tokens: 1 is a perfect critic, 0 no better than a constant."""
    var_returns = masked_mean((returns - masked_mean(returns, mask)) ** 2, mask)
    diff = returns - values
    var_diff = masked_mean((diff - masked_mean(diff, mask)) ** 2, mask)
    return (1.0 - var_diff / var_returns.clamp_min(1e-8)).item()


def heldout_proxy(reward_model, tokenizer, ev):
    """The reward model's mean score of an evaluation's answers: the proxy beside the gold score."""
    pairs = [(r["prompt"], a) for r, answers in zip(ev.records, ev.texts) for a in answers]
    return score_texts(reward_model, tokenizer, *zip(*pairs)).mean().item()


def plot_ppo(log, path, title, sft_gold, sft_proxy):
    """Reward and KL over iterations, and gold and proxy score against sqrt(KL) (the SFT model at 0)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 3, figsize=(15, 3.8))
    ax[0].plot(*log.series("score"), label="reward model score (rollout)")
    steps, gold = log.series("gold")
    if sft_gold is not None:   # None: your own prompts, no gold judge
        ax[0].plot([0] + steps, [sft_gold] + gold, marker="o", label="gold score (held out)")
    ax[0].set_title("reward")
    ax[1].plot(*log.series("kl"), label="k1 estimate")
    ax[1].plot(*log.series("exact_kl"), label="exact")
    ax[1].set_title("KL(policy || SFT) per response, nats (rollout)")
    for a in ax[:2]:
        a.set_xlabel("iteration")
    _, kl_at_eval = log.series("eval_kl")
    sqrt_kl = [0.0] + [max(k, 0.0) ** 0.5 for k in kl_at_eval]
    if sft_gold is not None:
        ax[2].plot(sqrt_kl, [sft_gold] + gold, marker="o", label="gold score")
    ax[2].plot(sqrt_kl, [sft_proxy] + log.series("eval_proxy")[1], marker="o", label="reward model score")
    ax[2].set_xlabel("sqrt(KL to SFT), nats^0.5 (held-out answers)")
    ax[2].set_title("gold and proxy against sqrt(KL)")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- the loop ---------------------------------------------------------------------------

if __name__ == "__main__":
    args = parse_args(Args, PRESETS)
    started = time.time()
    require_positive(args, "eval_samples", "eval_prompts", "max_iters", "batch_size", "max_new_tokens",
                     "ppo_epochs", "minibatch_size", "eval_interval", "sample_interval")
    require_above_zero(args, "lr")
    if args.temperature <= 0:
        raise SystemExit("error: --temperature must be above 0; PPO needs the log-probabilities "
                         "of the distribution it samples from (greedy decoding has none)")
    require_choice(args, "critic", ("model", "shared"))
    require_choice(args, "reward", ("rm", "gold"))
    require_choice(args, "dtype", DTYPES)
    rank, world, device = dist.start(args, "batch_size", "minibatch_size")   # seed, device; one of `world` processes
    for path in (f"{args.out_dir}/sft.pt", f"{args.out_dir}/rm.pt"):
        require_checkpoint(path)
    if args.prompts and args.reward == "gold":
        raise SystemExit("error: --reward gold needs TinyChat's prompts, with a gold judge; with --prompts use --reward rm")
    if args.prompts and args.bc_coef and not args.demos:
        raise SystemExit("error: --bc-coef clones TinyChat's demonstrations; with --prompts give your own "
                         "with --demos FILE, or --bc-coef 0")

    # the policy (trained), the reference (frozen SFT), the reward model (frozen), and the
    # critic (trained): a value head on the policy's trunk, or a value model initialised
    # from the reward model (InstructGPT's choice; twice the compute, lesson 06)
    ref, tokenizer, sft_meta = load_checkpoint(f"{args.out_dir}/sft.pt", device, kind="gpt")
    require_finished(f"{args.out_dir}/sft.pt", sft_meta)
    reward_model, rm_tokenizer, _ = load_checkpoint(f"{args.out_dir}/rm.pt", device, kind="reward")
    require_same_tokenizer(f"{args.out_dir}/rm.pt", rm_tokenizer, f"{args.out_dir}/sft.pt", tokenizer)
    policy = copy.deepcopy(ref)
    if args.critic == "shared":
        critic = nn.Linear(ref.config.n_embd, 1).to(device)
        nn.init.zeros_(critic.weight)   # V = 0 at the start: the SFT model's answers score 0 on average
        nn.init.zeros_(critic.bias)
    else:
        critic = copy.deepcopy(reward_model)
    for frozen in (ref, reward_model):
        frozen.requires_grad_(False)
    policy.eval()       # eval mode everywhere: dropout off (our models have none, by design)
    critic.eval()
    params = list(policy.parameters()) + list(critic.parameters())
    optimizer = make_optimizer(params, args.lr, weight_decay=0.0)

    prompts, eval_records = rl_prompts(args.prompts, args.eval_prompts)   # TinyChat's, or yours with some held out
    gold = has_gold_judge(eval_records)   # TinyChat's prompts; your own have no gold judge
    def evaluate_policy(model, temperature=args.temperature):   # the same prompts and seed every time
        if not gold:
            return evaluate_without_gold(model, ref, reward_model, tokenizer, eval_records, args.eval_samples,
                                         temperature, args.max_new_tokens)
        return evaluate(model, tokenizer, eval_records, args.eval_samples, temperature, args.max_new_tokens, seed=0)
    if dist.is_main():   # only rank 0 evaluates, prints and saves
        sft_eval, sft_greedy = evaluate_policy(ref), evaluate_policy(ref, temperature=0)
        if gold:
            sft_proxy = heldout_proxy(reward_model, tokenizer, sft_eval)
            print(f"SFT model on held-out prompts: gold score {sft_eval.scores.mean():.3f} | "
                  f"reward model score {sft_proxy:.3f} | eos rate {sft_eval.ended.mean():.2f}")
        else:
            sft_proxy = sft_eval["rm_score"][0]
            print(f"SFT model on {len(eval_records)} held-out prompts of {args.prompts} (no gold judge): reward "
                  f"model score {sft_proxy:.3f} | eos rate {sft_eval['eos']:.2f}")
    if args.reward == "gold":   # on the reward model's scale: SFT's answers to 256 training prompts at mean 0, std 1
        scale = gold_scale(ref, tokenizer, load_jsonl("data/ppo_prompts.jsonl")[:256], args.temperature,
                           args.max_new_tokens, seed=args.seed)
        print("reward: the gold labeler's score, normalised as (gold - {:.3f}) / {:.3f}".format(*scale))
    if args.bc_coef:
        demos = [encode_demonstration(tokenizer, d["prompt"], d["response"], ref.config.block_size)
                 for d in (load_demonstrations(args.demos) if args.demos else load_jsonl("data/sft_train.jsonl"))]
        demo_batches = random_batches(demos, args.minibatch_size, tokenizer.pad_id,
                                      torch.Generator().manual_seed(args.seed))

    log, evals, start, beta = MetricLog(), [], 1, args.beta   # evals: every gold evaluation, with intervals
    ckpt_path = f"{args.out_dir}/{args.name}.pt"
    if args.resume:
        require_checkpoint(ckpt_path)
        policy, ppo_tokenizer, meta = load_checkpoint(ckpt_path, device, kind="gpt")
        require_same_tokenizer(ckpt_path, ppo_tokenizer, f"{args.out_dir}/sft.pt", tokenizer)
        if meta["args"].get("critic", "model") != args.critic:
            raise SystemExit(f"error: {ckpt_path} was trained with --critic {meta['args'].get('critic', 'model')}; "
                             f"resume it with the same --critic")
        critic.load_state_dict(meta["critic"] if "critic" in meta else meta["value_model"])   # older checkpoints
        params = list(policy.parameters()) + list(critic.parameters())
        optimizer = make_optimizer(params, args.lr, weight_decay=0.0)
        optimizer.load_state_dict(meta["optimizer"])
        log.rows, evals, start, beta = meta["log"], meta.get("evals", []), meta["iter"] + 1, meta["beta"]
        print(f"resumed from {ckpt_path} at iteration {meta['iter']}")
    # with several processes: one module for DDP to wrap, the policy's log-probs and the critic's
    # values, so that backward averages both models' gradients over the processes
    logprobs_and_values = dist.ddp(dist.Forward(policy_and_values, policy, critic))
    generator = torch.Generator(device=device).manual_seed((args.seed + start) * world + rank)   # sampling, per process
    shuffle = torch.Generator().manual_seed(args.seed + start)                  # minibatch order
    prompt_order = torch.randperm(len(prompts), generator=torch.Generator().manual_seed(args.seed))
    saved = {"iter": start - 1 if args.resume else None}   # the iteration in ckpt_path, for the Ctrl-C message
    again = "python train_ppo.py --resume" + ("" if args.name == "ppo" else f" --name {args.name}")
    stop_on_ctrl_c(lambda: f"{ckpt_path} holds iteration {saved['iter']}; `{again}` continues" if saved["iter"]
                   else f"stopped before the first save (iteration {args.eval_interval}); nothing written")

    for it in range(start, args.max_iters + 1):
        # ---- 1. rollout: the policy answers a batch of prompts ---------------------------
        t0 = time.time()
        first = ((it - 1) * args.batch_size) % len(prompts)
        all_prompts = [prompts[i] for i in prompt_order[first:first + args.batch_size].tolist()]
        batch_prompts = dist.my_share(all_prompts)   # this process rolls out its share of the batch
        with autocast(device, args.dtype):
            rollout = sample(policy, tokenizer, batch_prompts, args.max_new_tokens, args.temperature, generator,
                             keep_hidden=True)
        sequence, attention_mask = rollout.sequence, rollout.attention_mask   # (B, Tq + R)
        response_mask = rollout.response_mask.float()                          # (B, R)
        Tq = rollout.query.size(1)

        # ---- 2. scoring: log-probs, reference log-probs, values, reward-model scores -----
        t1 = time.time()
        with torch.no_grad(), autocast(device, args.dtype):
            # the rollout kept the policy's hidden states: its log-probs need no second forward pass
            old_logprobs, _, logp_all = logprobs_from_logits(policy.lm_head(rollout.hidden), rollout.response,
                                                             args.temperature)                       # (B, R)
            old_values = critic_values(critic, rollout.hidden, sequence, attention_mask, Tq).float()  # (B, R)
            ref_logprobs, _, ref_logp_all = response_logprobs(ref, sequence, attention_mask, Tq, args.temperature)
            true_kl = exact_kl(logp_all, ref_logp_all) * response_mask    # logged beside k1, not used
            if args.reward == "gold":   # what the reward model stands in for: the judge itself
                texts = [decode_response(tokenizer, ids.tolist()) for ids in rollout.response]
                scores = gold_rewards(batch_prompts, texts, scale).to(device)                   # (B,)
            else:
                scores = reward_model(sequence, attention_mask).float()                    # (B,)
            # a response that never emitted EOS was cut off: the reward model's score of it, less a fixed
            # penalty (the N+ "EOS trick" would replace the score with a constant instead; lesson 06)
            scores = scores - args.missing_eos_penalty * (~rollout.ended).float()
            rewards, kl = kl_penalised_rewards(scores, old_logprobs, ref_logprobs, response_mask, beta)
            advantages, returns = compute_gae(rewards, old_values, response_mask, args.gamma, args.lam)
            advantages = whiten(advantages, response_mask, dist.masked_mean_global)   # over the whole batch

        # ---- 3. update: a few epochs of clipped PPO over shuffled minibatches -------------
        t2 = time.time()
        stats = []
        for epoch in range(args.ppo_epochs):
            for mb in torch.randperm(len(batch_prompts), generator=shuffle).split(args.minibatch_size // world):
                mask = response_mask[mb]
                with autocast(device, args.dtype):
                    logprobs, entropy, _, values = logprobs_and_values(sequence[mb], attention_mask[mb], Tq,
                                                                       args.temperature)
                    if args.bc_coef:   # behaviour cloning on the demonstrations: a second anchor to SFT
                        x, targets = (dist.my_share(t) for t in next(demo_batches))
                        bc_loss = policy(x.to(device), targets.to(device))[1]
                values = values.float()
                pg_loss, clipfrac, approx_kl = policy_loss(logprobs, old_logprobs[mb], advantages[mb],
                                                           mask, args.cliprange)
                vf_loss, vf_clipfrac = value_loss(values, old_values[mb], returns[mb], mask,
                                                  args.cliprange_value)
                loss = pg_loss + args.vf_coef * vf_loss
                if args.bc_coef:
                    loss = loss + args.bc_coef * bc_loss.float()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if args.grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, args.grad_clip)
                optimizer.step()
                # share of ratios outside [1 - eps, 1 + eps] before this step: clipping does not keep them in
                outside = masked_mean(((logprobs - old_logprobs[mb]).exp() - 1).abs().gt(args.cliprange).float(), mask)
                stats.append(torch.stack([pg_loss, vf_loss, clipfrac, outside, approx_kl,
                                          masked_mean(entropy, mask)]).detach())
        pg, vf, clipfrac, outside, approx_kl, entropy = dist.mean_over_processes(torch.stack(stats).mean(0)).tolist()
        t3 = time.time()

        # ---- 4. log: one line per iteration, means over the whole batch (every process's share) --
        per_response = dist.gather_rows(torch.stack([scores, kl.sum(1), true_kl.sum(1), (-beta * kl).sum(1),
                                                     rewards.sum(1), response_mask.sum(1), rollout.ended.float()], 1))
        score_all, kl_all, exact_kl_all, non_score_all, reward_all, length_all, ended_all = per_response.unbind(1)
        kl_per_response = kl_all.mean().item()
        metrics = dict(step=it, score=score_all.mean().item(), kl=kl_per_response, exact_kl=exact_kl_all.mean().item(),
                       non_score=non_score_all.mean().item(), reward=reward_all.mean().item(),
                       pg_loss=pg, vf_loss=vf, clipfrac=clipfrac, outside=outside, approx_kl=approx_kl, entropy=entropy,
                       expl_var=dist.mean_over_processes(explained_variance(old_values, returns, response_mask)),
                       resp_len=length_all.mean().item(), eos=ended_all.mean().item(),
                       beta=beta, t_roll=t1 - t0, t_score=t2 - t1, t_update=t3 - t2)
        if args.target_kl:
            beta = adaptive_beta(beta, kl_per_response, args.target_kl, len(batch_prompts), args.kl_horizon)
        if it % args.sample_interval == 0:
            for prompt, ids in list(zip(batch_prompts, rollout.response))[:3]:
                print(f"  > {prompt}\n    {decode_response(tokenizer, ids.tolist())}")
        evaluating = (it % args.eval_interval == 0 or it == args.max_iters) and dist.is_main()
        if evaluating and not gold:   # your own prompts
            final = evaluate_policy(policy)
            metrics.update(log_without_gold(final, it, evals))
        elif evaluating:
            final = evaluate_policy(policy)
            ev = summarise(final, sft_eval)
            eval_kl = heldout_kl(policy, ref, tokenizer, final, args.temperature)
            eval_proxy = heldout_proxy(reward_model, tokenizer, final)
            metrics.update(gold=ev["gold"][0], win_rate=ev["win"][0], strict=ev["strict"][0] if ev["strict"] else 0.0,
                           eval_eos=ev["eos"], eval_kl=eval_kl, eval_proxy=eval_proxy)
            evals.append(dict(step=it, kl=eval_kl, proxy=eval_proxy, **ev))
        log.add(**metrics)

        if evaluating:
            save_checkpoint(ckpt_path, policy, tokenizer, meta={
                "stage": "ppo", "args": asdict(args), "iter": it, "beta": beta, "log": log.rows, "evals": evals,
                "critic": critic.state_dict(), "optimizer": optimizer.state_dict()})
            saved["iter"] = it

    # ---- 5. before and after ----------------------------------------------------------------
    # the last batch, every process's share, for tests/test_dist.py to check the logged means against
    last_rollout = dict(prompts=all_prompts, scores=score_all.tolist(), kl=kl_all.tolist(), ended=ended_all.tolist(),
                        response_ids=dist.gather_objects([ids[m].tolist() for ids, m in
                                                          zip(rollout.response, rollout.response_mask.bool())]))
    dist.leave_unless_main()   # the other processes are done: rank 0 evaluates and saves
    if start > args.max_iters:   # resumed a finished run: nothing was evaluated above
        final = evaluate_policy(policy)
    if not gold:   # your own prompts: the reward model's score, KL to SFT, length and samples
        report = print_without_gold(eval_records, {f"SFT (T={args.temperature})": sft_eval, "SFT greedy": sft_greedy,
                                                   "PPO": final, "PPO greedy": evaluate_policy(policy, temperature=0)})
        save_json({"gold_judge": False, **dict(zip(("sft", "sft_greedy", "ppo", "ppo_greedy"), report.values())),
                   "kl": final["kl"], "evals": evals, "wall_time": time.time() - started,
                   "log": log.rows}, f"{args.out_dir}/{args.name}_summary.json")
        plot_ppo(log, f"{args.out_dir}/{args.name}.png", f"PPO ({args.name}, your prompts: no gold judge)", None,
                 sft_proxy)
        print(f"saved {ckpt_path}, {args.name}_summary.json and {args.name}.png")
        raise SystemExit(0)   # what follows is the gold judge's report
    print_samples(eval_records, {"SFT": sft_eval, "PPO": final})
    # greedy against greedy too: does RLHF beat simply decoding the SFT model more conservatively?
    ppo_greedy = evaluate_policy(policy, temperature=0)
    report = print_report({f"SFT (T={args.temperature})": sft_eval, "SFT greedy": sft_greedy, "PPO": final,
                           "PPO greedy": ppo_greedy}, baseline=sft_eval)
    ppo = report["PPO"]
    against_greedy = {"ppo": summarise(final, sft_greedy)["win"],
                      "ppo_greedy": summarise(ppo_greedy, sft_greedy)["win"]}
    print("win vs SFT greedy: PPO {} | PPO greedy {}".format(*(fmt(w, percent=True) for w in against_greedy.values())))
    print(f"\nsummary: gold score SFT {sft_eval.scores.mean():.3f} -> PPO {ppo['gold'][0]:.3f} | "
          f"win rate vs SFT {ppo['win'][0]:.3f} [{ppo['win'][1]:.3f}, {ppo['win'][2]:.3f}] | "
          f"eos rate {ppo['eos']:.3f} | KL {log.rows[-1]['kl']:.2f} nats")
    save_json({"sft": report[f"SFT (T={args.temperature})"], "sft_greedy": report["SFT greedy"], "ppo": ppo,
               "ppo_greedy": report["PPO greedy"], "win_vs_sft_greedy": against_greedy, "kl": log.rows[-1]["kl"],
               "sft_proxy": sft_proxy, "evals": evals, "last_rollout": last_rollout, "wall_time": time.time() - started,
               "log": log.rows}, f"{args.out_dir}/{args.name}_summary.json")
    plot_ppo(log, f"{args.out_dir}/{args.name}.png", f"PPO ({args.name}, beta={args.beta}, bc={args.bc_coef})",
             float(sft_eval.scores.mean()), sft_proxy)
    print(f"saved {ckpt_path}, {args.name}_summary.json and {args.name}.png")
