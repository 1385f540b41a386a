"""
How fast does nanorlhf's GPT run on this machine?

    python -m nanorlhf.bench                  # both shapes below
    python -m nanorlhf.bench --threads 1      # one core

Prints, each the median of several timed runs after a warm-up:
1. the machine's fp32 matmul throughput (GFLOP/s), the yardstick for the rest;
then for two shapes, train_sft.py's default model (4 layers x 128, vocabulary 1024, rotary
positions) and the shape of the side-by-side with TRL in the README (a 3.09M-parameter GPT-2:
6 layers x 192, vocabulary 2048):
2. training: tokens/s of forward + backward + optimizer step, and the model FLOP/s as a
   fraction of the matmul throughput (utilisation); AdamW, and for the default model also
   Muon + AdamW as train_sft.py trains it (the orthogonalisation is extra work the FLOP count
   leaves out, so it lowers the figure);
3. generation (default model): tokens/s with the KV cache and with full recomputation;
4. one PPO iteration (train_ppo.py's pieces) for 64 prompts x 48 response tokens, split
   into rollout, scoring and update, with the update's FLOP/s against the matmul's: the
   design before the speed work and train_ppo.py's default; at the TRL shape each lever in
   turn (fused AdamW, the rollout's logits reused, bf16, a value head on the policy's trunk);
5. several processes (default model, fp32 AdamW, train_sft.py's batch): tokens/s of one
   process with all cores, one process with one core, and torchrun's layout, 2 processes of
   one core each joined by gloo and DistributedDataParallel, each with half the batch; and
   the time of one all-reduce of every gradient, what 2 processes pay for working together.

FLOPs per trained token (Kaplan et al. 2020; nanoGPT's estimate_mfu):
    6 N + 12 L C T
N = parameters doing matmuls (all but the position embedding; the tied wte counts once,
as the lm_head matmul); 6 = 2 FLOPs per multiply-add x (1 forward + 2 backward).
12 L C T = attention's q k^T and (att) v: 2 matmuls x 2 T C FLOPs per token and layer,
x 3 for forward + backward. It counts the full T x T square, as nanoGPT does.
"""
import os
import socket
import statistics
import time
from dataclasses import dataclass

import torch

from nanorlhf.common import arg, autocast, make_optimizer, parse_args
from nanorlhf.model import GPT, GPTConfig
from nanorlhf.muon import make_muon_optimizers


@dataclass
class Args:
    """Speed of the default GPT on this machine: matmul, training and generation."""
    threads: int = arg(0, "torch threads (0 = torch's default, all cores)")
    repeats: int = arg(5, "timed runs per measurement; the median is printed")
    matmul_size: int = arg(1024, "n for the n x n fp32 matmul that measures the machine")
    prompts: int = arg(64, "prompts generated at once")
    new_tokens: int = arg(48, "tokens generated per prompt")
    seed: int = arg(0, "seed for the random weights and tokens")
    distributed: bool = arg(True, "also time the training step in 2 processes (gloo, DDP) against one")


def median_seconds(fn, repeats, warmup=1):
    """Run fn `warmup` times untimed, then `repeats` times -> median wall-clock seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_flops(n, repeats):
    """FLOP/s of an n x n fp32 matmul: 2 n^3 FLOPs (a multiply and an add per term)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n ** 3 / median_seconds(lambda: a @ b, 3 * repeats, warmup=2)


def flops_per_token(model, T):
    """6 N + 12 L C T, see the module docstring."""
    c = model.config
    return 6 * model.num_params(non_embedding=True) + 12 * c.n_layer * c.n_embd * T


def training_tokens_per_second(model, batch_size, T, repeats, dtype="fp32", muon=False):
    """forward (in dtype) + backward + optimizer step on (batch_size, T) batches -> tokens/s.
    The optimizer is AdamW, or with muon=True train_sft.py's Muon + AdamW (nanorlhf/muon.py)."""
    V = getattr(model, "module", model).config.vocab_size   # (the model inside a DDP wrapper)
    x = torch.randint(0, V, (batch_size, T))
    targets = torch.randint(0, V, (batch_size, T))
    if muon:
        ns_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
        optimizers = make_muon_optimizers(model, 0.02, 1e-2, 0.1, ns_dtype=ns_dtype)
    else:
        optimizers = [make_optimizer(model.parameters(), lr=1e-4, weight_decay=0.1)]
    model.train()

    def step():
        with autocast("cpu", dtype):
            _, loss = model(x, targets)
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return batch_size * T / median_seconds(step, repeats, warmup=2)


@torch.no_grad()
def generate_without_cache(model, idx, max_new_tokens, attention_mask):
    """Greedy decoding that runs the whole sequence through the model at every step."""
    for _ in range(max_new_tokens):
        logits, _ = model(idx, attention_mask=attention_mask)
        next_token = logits[:, -1, :].argmax(dim=-1, keepdim=True)  # (B, 1)
        idx = torch.cat([idx, next_token], dim=1)
        attention_mask = torch.cat([attention_mask, torch.ones_like(next_token)], dim=1)
    return idx


def random_prompts(n, vocab_size, generator):
    """n left-padded prompts of 16 to 32 random tokens -> idx (n, 32), attention_mask (n, 32)."""
    lengths = torch.randint(16, 33, (n,), generator=generator)
    idx = torch.randint(0, vocab_size, (n, 32), generator=generator)
    attention_mask = (torch.arange(32)[None, :] >= 32 - lengths[:, None]).long()  # (n, 32)
    return idx, attention_mask


SHAPES = {   # name -> (model, training batch): the default model, and the shape of the side-by-side with TRL
    "default": (dict(vocab_size=1024, rotary=True), (64, 128)),                # train_sft.py's model and batch
    "trl": (dict(vocab_size=2048, n_layer=6, n_head=6, n_embd=192), (16, 80)),  # 3.09M GPT-2, a PPO minibatch
}


def main():
    args = parse_args(Args)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    print(f"torch {torch.__version__} | {torch.get_num_threads()} threads | "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')} | "
          f"load average {os.getloadavg()[0]:.2f} (other programs share the cores)")
    peak = matmul_flops(args.matmul_size, args.repeats)
    print(f"matmul     {args.matmul_size}x{args.matmul_size} fp32: {peak / 1e9:.1f} GFLOP/s (the yardstick)")

    for name, (shape, (batch, T)) in SHAPES.items():
        config = GPTConfig(**shape)
        model = GPT(config)
        print(f"\n[{name}] {config.n_layer} layers x {config.n_embd} wide, vocabulary {config.vocab_size}: "
              f"{model.num_params():,} parameters ({model.num_params(non_embedding=True):,} in matmuls)")
        runs = [("fp32", False), ("bf16", False)] + ([("bf16", True)] if name == "default" else [])
        for dtype, muon in runs:
            tokens_per_s = training_tokens_per_second(model, batch, T, args.repeats, dtype, muon)
            achieved = tokens_per_s * flops_per_token(model, T)
            print(f"training   batch {batch}x{T}, {dtype}, {'Muon + AdamW' if muon else 'AdamW'}: "
                  f"{tokens_per_s:,.0f} tokens/s | "
                  f"{achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%} of fp32 matmul")
        if name == "default":
            generation(model, args)
        # train_ppo.py's design before the speed work, then its levers one by one (README, speed section)
        variants = [("model", "fp32", False, False),   # separate critic, fp32, plain AdamW, log-probs recomputed
                    ("model", "fp32", True, True),     # + fused AdamW, log-probs from the rollout's hidden states
                    ("model", "bf16", True, True),     # + bf16: train_ppo.py's default where bf16 is native
                    ("shared", "fp32", True, True),    # a value head on the policy's trunk instead
                    ("shared", "bf16", True, True)]
        for critic, dtype, fused, reuse in (variants if name == "trl" else [variants[0], variants[2]]):
            times, update_flops = ppo_iteration_seconds(config, args.prompts, args.new_tokens, args.repeats,
                                                        critic, dtype, fused, reuse)
            label = (f"critic {critic}, {dtype}" + (", fused AdamW" if fused else "") +
                     (", rollout reused" if reuse else ""))
            print(f"ppo        {args.prompts} prompts x {args.new_tokens} tokens, {label}: "
                  f"{sum(times.values()):.2f} s/iteration = rollout {times['rollout']:.2f} + "
                  f"scoring {times['scoring']:.2f} + update {times['update']:.2f} | "
                  f"update {update_flops / 1e9:.1f} GFLOP/s = {update_flops / peak:.0%} of matmul")
    if args.distributed:
        distributed(args.repeats, args.seed)


def _ddp_worker(rank, port, shape, batch, T, repeats, results):
    """One of 2 processes: a DDP training step on half the batch with one thread -> tokens/s of the
    whole batch, and the median time of one all-reduce of every gradient (rank 0 reports)."""
    import torch.distributed as dist
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = GPT(GPTConfig(**shape))
    tokens_per_s = training_tokens_per_second(torch.nn.parallel.DistributedDataParallel(model), batch // 2, T,
                                              repeats) * 2   # both halves of the batch, in the same time
    grads = torch.randn(sum(p.numel() for p in model.parameters()))
    seconds = median_seconds(lambda: dist.all_reduce(grads), 3 * repeats, warmup=2)
    if rank == 0:
        results.put((tokens_per_s, seconds, grads.numel()))
    dist.barrier()
    dist.destroy_process_group()


def distributed(repeats, seed, model_and_batch=SHAPES["default"]):
    """Section 5: the default model's training step in 1 process and in 2 (see the docstring)."""
    import torch.multiprocessing as mp
    shape, (batch, T) = model_and_batch
    threads = torch.get_num_threads()
    one = {}
    for n in sorted({threads, 1}, reverse=True):
        torch.set_num_threads(n)
        torch.manual_seed(seed)
        one[n] = training_tokens_per_second(GPT(GPTConfig(**shape)), batch, T, repeats)
    torch.set_num_threads(threads)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    with socket.socket() as sock:   # a free port on this machine for the 2 processes to meet
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    procs = [ctx.Process(target=_ddp_worker, args=(r, port, shape, batch, T, repeats, results))
             for r in range(2)]
    for p in procs:
        p.start()
    while results.empty():
        if any(p.exitcode not in (None, 0) for p in procs):
            raise SystemExit("error: a benchmark process failed (its message is above)")
        time.sleep(0.1)
    tokens_per_s, all_reduce, n = results.get()
    for p in procs:
        p.join()
    print(f"\n[several processes] {GPT(GPTConfig(**shape)).num_params():,} parameters, batch {batch}x{T}, fp32, AdamW")
    for n_threads, speed in one.items():
        print(f"one process, {n_threads} thread{'s' if n_threads > 1 else ''}: {speed:,.0f} tokens/s")
    print(f"2 processes x 1 thread (gloo, DDP, half the batch each): {tokens_per_s:,.0f} tokens/s | "
          f"one all-reduce of the {n:,} gradients: {all_reduce * 1e3:.1f} ms")


def generation(model, args):
    """Print generation speed with the KV cache and with full recomputation (greedy, same tokens)."""
    model.eval()
    idx, attention_mask = random_prompts(args.prompts, model.config.vocab_size, torch.Generator().manual_seed(args.seed))
    n = args.prompts * args.new_tokens
    cached = median_seconds(lambda: model.generate(idx, args.new_tokens, temperature=0,
                                                   attention_mask=attention_mask), args.repeats)
    full = median_seconds(lambda: generate_without_cache(model, idx, args.new_tokens,
                                                         attention_mask), args.repeats)
    new_tokens, _ = model.generate(idx, args.new_tokens, temperature=0, attention_mask=attention_mask)
    same = torch.equal(new_tokens, generate_without_cache(model, idx, args.new_tokens, attention_mask)[:, idx.size(1):])
    print(f"generation {args.prompts} prompts x {args.new_tokens} tokens: "
          f"KV cache {n / cached:,.0f} tokens/s | recompute {n / full:,.0f} tokens/s | "
          f"speedup {full / cached:.1f}x | same tokens: {same}")


def ppo_iteration_seconds(config, prompts, new_tokens, repeats, critic="model", dtype="fp32", fused=False,
                          reuse=False, ppo_epochs=4, minibatch_size=16):
    """Median seconds of the three phases of one PPO iteration on random weights.

    Every response runs the full new_tokens (no EOS), the worst case. Uses the functions of
    nanorlhf/rl.py, as train_ppo.py does; the advantages are random stand-ins for GAE's (a loop
    over the R columns of (B,) vectors: well under a millisecond, left out).
    critic "shared" is a value head on the policy's trunk (train_ppo.py --critic shared),
    "model" a separate value model (InstructGPT's design, and TRL's). dtype is the precision of all
    three phases; reuse takes the old log-probs (and a value head's values) from the rollout's hidden
    states, as train_ppo.py does. Returns the times and the update's FLOP/s, counting forward + backward of every
    trained network.
    """
    from nanorlhf.reward import RewardModel
    from nanorlhf.rl import (critic_values, logprobs_from_logits, policy_and_values, policy_loss, response_logprobs,
                             value_loss, whiten)
    policy, ref, reward_model = GPT(config).eval(), GPT(config).eval(), RewardModel(config).eval()
    value = torch.nn.Linear(config.n_embd, 1) if critic == "shared" else RewardModel(config).eval()
    optimizer = torch.optim.AdamW(list(policy.parameters()) + list(value.parameters()), lr=1e-5, fused=fused)
    query, query_mask = random_prompts(prompts, config.vocab_size, torch.Generator().manual_seed(0))
    Tq = query.size(1)
    state, noise = {}, torch.Generator().manual_seed(1)

    def rollout():
        with autocast("cpu", dtype):
            response, response_mask, state["hidden"] = policy.generate(query, new_tokens, temperature=1.0,
                                                                       attention_mask=query_mask, return_hidden=True)
        state["seq"], state["mask"] = torch.cat([query, response], 1), torch.cat([query_mask, response_mask], 1)

    def scoring():
        with torch.no_grad(), autocast("cpu", dtype):
            seq, mask = state["seq"], state["mask"]
            if reuse:
                logprobs, _, _ = logprobs_from_logits(policy.lm_head(state["hidden"]), seq[:, Tq:], 1.0)
                values = critic_values(value, state["hidden"], seq, mask, Tq)
            else:
                logprobs, _, _, values = policy_and_values(policy, value, seq, mask, Tq, 1.0)
            values = values.float()
            ref_logprobs, _, _ = response_logprobs(ref, seq, mask, Tq, 1.0)
            scores = reward_model(seq, mask).float()
            rewards = scores[:, None] - 0.05 * (logprobs - ref_logprobs)   # (B, R), for the shapes and the work
            advantages = whiten(rewards + torch.randn(rewards.shape, generator=noise), torch.ones_like(rewards))
            returns = values + advantages
        state.update(logprobs=logprobs, values=values, advantages=advantages, returns=returns)

    def update():
        seq, mask = state["seq"], state["mask"]
        for _ in range(ppo_epochs):
            for mb in torch.randperm(prompts).split(minibatch_size):
                with autocast("cpu", dtype):
                    logprobs, _, _, values = policy_and_values(policy, value, seq[mb], mask[mb], Tq, 1.0)
                values = values.float()
                ones = torch.ones_like(logprobs)
                pg, _, _ = policy_loss(logprobs, state["logprobs"][mb], state["advantages"][mb], ones, 0.2)
                vf, _ = value_loss(values, state["values"][mb], state["returns"][mb], ones, 0.2)
                optimizer.zero_grad(set_to_none=True)
                (pg + 0.1 * vf).backward()
                optimizer.step()

    rollout()
    scoring()
    times = {name: median_seconds(fn, repeats) for name, fn in
             [("rollout", rollout), ("scoring", scoring), ("update", update)]}
    # FLOPs done: the policy's trunk on all T tokens, its head on the R response tokens only,
    # and with a separate value model, that model's trunk on all T tokens too
    T, c = Tq + new_tokens, config
    head = c.vocab_size * c.n_embd
    trunk = flops_per_token(policy, T) - 6 * head                       # per token, forward + backward
    per_sequence = T * trunk + new_tokens * 6 * head + (0 if critic == "shared" else T * trunk)
    update_flops = ppo_epochs * prompts * per_sequence
    return times, update_flops / times["update"]


if __name__ == "__main__":
    main()
