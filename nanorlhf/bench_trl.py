"""
How long does one iteration of TRL's PPOTrainer take at the shape nanorlhf.bench times?

Only for the side-by-side figure in the README's speed section. TRL is not a dependency
of nanorlhf: install it in a throwaway virtual environment, never in the project's own:

    python3 -m venv /tmp/trl-venv
    /tmp/trl-venv/bin/pip install torch==2.13.0
    /tmp/trl-venv/bin/pip install trl==1.12.0
    # (pip resolved transformers 5.24.0, accelerate 1.15.0, datasets 5.2.0, tokenizers 0.23.3)
    OMP_WAIT_POLICY=PASSIVE /tmp/trl-venv/bin/python -m nanorlhf.bench_trl   # from the repo root

The shape: four GPT-2 networks (policy, reference, reward model, value model) of about
3.09M parameters each, randomly initialised; 64 prompts (16 to 32 random tokens,
left-padded to 32, as in nanorlhf.bench) x 48 response tokens per iteration; 4 PPO epochs
of 4 minibatches of 16; fp32 on the CPU (--dtype bf16: TRL's default); no evaluation, no saving. Nothing is downloaded:
the tokenizer is a 2048-word WordLevel vocabulary built here.

How it measures: a callback stamps time.perf_counter() at the end of every iteration
(on_step_end). An iteration's time is the gap between two stamps, so it covers all of
TRL's loop: rollout, scoring, GAE, update, logging. The first `warmup` iterations are
dropped; the median of the next `iters` is printed.
"""
import copy
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

import torch

from nanorlhf.common import arg, parse_args, require_choice

PIP = ("python3 -m venv /tmp/trl-venv && /tmp/trl-venv/bin/pip install torch==2.13.0 && "
       "/tmp/trl-venv/bin/pip install trl==1.12.0")


@dataclass
class Args:
    """Seconds per PPO iteration of TRL's PPOTrainer on random GPT-2 networks."""
    iters: int = arg(4, "timed iterations; the median is printed")
    warmup: int = arg(1, "untimed iterations before them")
    prompts: int = arg(64, "prompts (rollouts) per iteration")
    response_length: int = arg(48, "new tokens per prompt; no stop token, so always all of them")
    ppo_epochs: int = arg(4, "passes over the rollouts per iteration")
    minibatches: int = arg(4, "minibatches per pass (64 / 4 = 16 sequences each)")
    n_layer: int = arg(6, "transformer blocks in each of the four networks")
    n_head: int = arg(6, "attention heads")
    n_embd: int = arg(192, "embedding width")
    vocab_size: int = arg(2048, "words in the tokenizer built here")
    threads: int = arg(0, "torch threads (0 = torch's default, all cores)")
    dtype: str = arg("fp32", "fp32, or bf16 (TRL's own default: mixed precision through accelerate)")
    seed: int = arg(0, "seed for the weights and prompts")


def make_tokenizer(vocab_size):
    """A WordLevel tokenizer built in code: '<pad>' = 0, '<eos>' = 1, 'w2' ... 'w{V-1}'."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    vocab = {"<pad>": 0, "<eos>": 1, **{f"w{i}": i for i in range(2, vocab_size)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # left padding: prompts end where the response starts, as TRL's PPO expects
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   padding_side="left")


def make_networks(args, tokenizer):
    """policy, reference (a copy of the policy), reward model, value model: random GPT-2s."""
    from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel
    config = GPT2Config(vocab_size=args.vocab_size, n_positions=128, n_layer=args.n_layer,
                        n_head=args.n_head, n_embd=args.n_embd, num_labels=1,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(args.seed)
    policy = GPT2LMHeadModel(config)
    ref_policy = copy.deepcopy(policy)
    # TRL reads a score from a sequence-classification head with one output
    reward_model = GPT2ForSequenceClassification(config)
    value_model = GPT2ForSequenceClassification(config)
    return policy, ref_policy, reward_model, value_model


def make_prompts(n, vocab_size, seed):
    """n prompts of 16 to 32 random words (never <pad> or <eos>) -> a datasets.Dataset."""
    from datasets import Dataset
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(16, 33, (n,), generator=g).tolist()
    prompts = [torch.randint(2, vocab_size, (length,), generator=g).tolist() for length in lengths]
    return Dataset.from_dict({"input_ids": prompts})


def main():
    args = parse_args(Args)
    require_choice(args, "dtype", ("fp32", "bf16"))
    try:
        from transformers import DataCollatorWithPadding, TrainerCallback
        from trl.experimental.ppo import PPOConfig, PPOTrainer
    except ImportError:
        sys.exit(f"bench_trl needs TRL 1.12.0 in a throwaway venv: {PIP}")
    if args.threads:
        torch.set_num_threads(args.threads)
    import transformers
    import trl
    print(f"trl {trl.__version__} | transformers {transformers.__version__} | torch {torch.__version__} | "
          f"{torch.get_num_threads()} threads | OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')} | "
          f"load average {os.getloadavg()[0]:.2f} (other programs share the cores)")

    tokenizer = make_tokenizer(args.vocab_size)
    policy, ref_policy, reward_model, value_model = make_networks(args, tokenizer)
    print(f"parameters per network: policy {policy.num_parameters():,} | "
          f"value {value_model.num_parameters():,}")
    n_iters = args.warmup + args.iters
    dataset = make_prompts(args.prompts * n_iters, args.vocab_size, args.seed)

    class StepTimes(TrainerCallback):
        """Stamps the clock at the start of training and at the end of every PPO iteration."""
        stamps = []

        def on_train_begin(self, *_, **__):
            self.stamps.append(time.perf_counter())

        def on_step_end(self, *_, **__):
            self.stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as output_dir:
        config = PPOConfig(
            output_dir=output_dir, report_to="none", save_strategy="no", eval_strategy="no",
            use_cpu=True, bf16=args.dtype == "bf16", fp16=False,   # TRL's default is bf16
            gradient_checkpointing=False,            # TRL defaults it on; nanorlhf does not checkpoint
            seed=args.seed, logging_steps=1, disable_tqdm=True,
            total_episodes=args.prompts * n_iters,
            # TRL's rollout batch is per_device_train_batch_size x gradient_accumulation_steps;
            # each of its num_mini_batches gets one optimizer step
            per_device_train_batch_size=args.prompts, gradient_accumulation_steps=1,
            num_mini_batches=args.minibatches, num_ppo_epochs=args.ppo_epochs,
            local_rollout_forward_batch_size=args.prompts,
            # no stop token: generation always runs response_length tokens, no EOS penalty
            response_length=args.response_length, stop_token=None, missing_eos_penalty=None,
            num_sample_generations=0,                # no sample tables between iterations
        )
        trainer = PPOTrainer(
            args=config, processing_class=tokenizer, model=policy, ref_model=ref_policy,
            reward_model=reward_model, value_model=value_model, train_dataset=dataset,
            # every batch of prompts is exactly 32 wide, as in nanorlhf.bench
            data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=32),
            callbacks=[StepTimes()],
        )
        trainer.train()

    seconds = [b - a for a, b in zip(StepTimes.stamps, StepTimes.stamps[1:])]
    timed = seconds[args.warmup:]
    print("iterations (s): " + " ".join(f"{s:.2f}" for s in seconds) + f" (first {args.warmup} untimed)")
    print(f"trl ppo    {args.prompts} prompts x {args.response_length} tokens, {args.dtype}, {args.ppo_epochs} epochs x "
          f"{args.minibatches} minibatches: {statistics.median(timed):.2f} s/iteration "
          f"(median of {len(timed)})")


if __name__ == "__main__":
    main()
