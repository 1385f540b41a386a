"""
How fast does nanorlhf's GPT run on this machine?

    python -m nanorlhf.bench                  # the default model (GPTConfig())
    python -m nanorlhf.bench --threads 1      # one core

Prints three things, each the median of several timed runs after a warm-up:
1. the machine's fp32 matmul throughput (GFLOP/s), the yardstick for the rest;
2. training: tokens/s of forward + backward + AdamW step on SFT-sized batches, and the
   model FLOP/s as a fraction of the matmul throughput (utilisation);
3. generation: tokens/s with the KV cache and with full recomputation at every step.

FLOPs per trained token (Kaplan et al. 2020; nanoGPT's estimate_mfu):
    6 N + 12 L C T
N = parameters doing matmuls (all but the position embedding; the tied wte counts once,
as the lm_head matmul); 6 = 2 FLOPs per multiply-add x (1 forward + 2 backward).
12 L C T = attention's q k^T and (att) v: 2 matmuls x 2 T C FLOPs per token and layer,
x 3 for forward + backward. It counts the full T x T square, as nanoGPT does.
"""
import os
import statistics
import time
from dataclasses import dataclass

import torch

from nanorlhf.common import arg, make_optimizer, parse_args
from nanorlhf.model import GPT, GPTConfig


@dataclass
class Args:
    """Speed of the default GPT on this machine: matmul, training and generation."""
    vocab_size: int = arg(1024, "vocabulary size of the benchmarked model")
    batch_size: int = arg(64, "sequences per training step (train_sft.py's default)")
    threads: int = arg(0, "torch threads (0 = torch's default, all cores)")
    repeats: int = arg(5, "timed runs per measurement; the median is printed")
    matmul_size: int = arg(1024, "n for the n x n fp32 matmul that measures the machine")
    prompts: int = arg(64, "prompts generated at once")
    new_tokens: int = arg(48, "tokens generated per prompt")
    seed: int = arg(0, "seed for the random weights and tokens")


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


def training_tokens_per_second(model, batch_size, repeats):
    """forward + backward + AdamW on (batch_size, block_size) batches -> tokens/s."""
    T, V = model.config.block_size, model.config.vocab_size
    x = torch.randint(0, V, (batch_size, T))
    targets = torch.randint(0, V, (batch_size, T))
    optimizer = make_optimizer(model, lr=1e-4, weight_decay=0.1)
    model.train()

    def step():
        _, loss = model(x, targets)
        loss.backward()
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


def main():
    args = parse_args(Args)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = GPTConfig(vocab_size=args.vocab_size)
    model = GPT(config)
    print(f"torch {torch.__version__} | {torch.get_num_threads()} threads | "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')} | "
          f"load average {os.getloadavg()[0]:.2f} (other programs share the cores)")
    print(config)
    print(f"parameters {model.num_params():,} ({model.num_params(non_embedding=True):,} in matmuls)")

    peak = matmul_flops(args.matmul_size, args.repeats)
    print(f"matmul     {args.matmul_size}x{args.matmul_size} fp32: {peak / 1e9:.1f} GFLOP/s")

    tokens_per_s = training_tokens_per_second(model, args.batch_size, args.repeats)
    achieved = tokens_per_s * flops_per_token(model, config.block_size)
    print(f"training   batch {args.batch_size}x{config.block_size}: {tokens_per_s:,.0f} tokens/s | "
          f"{achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%} of matmul")

    model.eval()
    idx, attention_mask = random_prompts(args.prompts, args.vocab_size,
                                         torch.Generator().manual_seed(args.seed))
    n = args.prompts * args.new_tokens
    cached = median_seconds(lambda: model.generate(idx, args.new_tokens, temperature=0,
                                                   attention_mask=attention_mask), args.repeats)
    full = median_seconds(lambda: generate_without_cache(model, idx, args.new_tokens,
                                                         attention_mask), args.repeats)
    same = torch.equal(model.generate(idx, args.new_tokens, temperature=0, attention_mask=attention_mask),
                       generate_without_cache(model, idx, args.new_tokens, attention_mask))
    print(f"generation {args.prompts} prompts x {args.new_tokens} tokens: "
          f"KV cache {n / cached:,.0f} tokens/s | recompute {n / full:,.0f} tokens/s | "
          f"speedup {full / cached:.1f}x | same tokens: {same}")


if __name__ == "__main__":
    main()
