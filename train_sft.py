"""
Step 1 of 3: supervised fine-tuning (SFT).

Trains the project's own BPE tokenizer, then a small GPT from random initialisation on
the TinyChat demonstrations. The loss is next-token cross-entropy on the response tokens
only (the prompt is given, not learned), with the final EOS included so the model learns
to stop. At the end the gold labeler judges the model's answers to the held-out prompts (several
samples per prompt, and greedy decoding as a second baseline; nanorlhf/evaluation.py).

The default recipe is the one lesson 03 measured best in under five minutes: rotary
positions, Muon for the blocks' matrices and AdamW at 1e-2 for the rest (nanorlhf/muon.py),
2000 steps of 64 demonstrations. `--optimizer adamw --no-rotary --lr 3e-3 --max-iters 1000`
is the earlier recipe, GPT-2's layout trained by AdamW alone.

    python train_sft.py                  # the default run, about 5 minutes on a laptop CPU
    python train_sft.py --resume         # after Ctrl-C: continue from the last save
    python train_sft.py --preset smoke   # a few seconds, used by the tests and CI
    torchrun --standalone --nproc_per_node 2 train_sft.py   # 2 processes, each half of every batch
    python train_sft.py --init models/gpt2 --demos mine.jsonl --optimizer adamw --lr 3e-5
                                         # GPT-2's weights and tokenizer from a local folder, your data

Writes out/sft.pt (weights, model config, tokenizer, arguments) and out/sft_loss.png. While
it trains, out/sft.pt is saved every eval_interval steps marked unfinished (with the
optimizer's state, for --resume); the next scripts refuse an unfinished one.
"""
import time
from dataclasses import asdict, dataclass

import torch

from nanorlhf import dist
from nanorlhf.checkpoint import load_checkpoint, require_checkpoint, save_checkpoint
from nanorlhf.common import (DTYPES, arg, autocast, cosine_lr, make_optimizer, MetricLog, parse_args,
                             require_above_zero, require_choice, require_positive, save_json, stop_on_ctrl_c)
from nanorlhf.data import corpus_text, load_demonstrations, load_jsonl
from nanorlhf.model import GPT, GPTConfig, MLPS, NORMS
from nanorlhf.evaluation import evaluate, print_report
from nanorlhf.gpt2 import load_gpt2
from nanorlhf.muon import make_muon_optimizers
from nanorlhf.sft import IGNORE, encode_demonstration, mean_loss, random_batches
from nanorlhf.tokenizer import Tokenizer


@dataclass
class Args:
    """Supervised fine-tuning of a small GPT on the TinyChat demonstrations."""
    out_dir: str = arg("out", "where sft.pt and the plots are written")
    device: str = arg("auto", "auto picks cuda, then mps, then cpu")
    seed: int = arg(1337, "seeds the tokenizer-independent randomness: init, batches, sampling")
    resume: bool = arg(False, "continue an interrupted run from out_dir/sft.pt (saved every eval_interval steps)")
    vocab_size: int = arg(1024, "BPE vocabulary size, special tokens included")
    n_layer: int = arg(4, "transformer blocks")
    n_head: int = arg(4, "attention heads per block")
    n_embd: int = arg(128, "width of the residual stream")
    block_size: int = arg(0, "longest sequence (prompt + response) in tokens (0: 128, or with --init the model's own)")
    rotary: bool = arg(True, "rotary position embeddings (--no-rotary: learned ones, as GPT-2)")
    norm: str = arg("layernorm", "layernorm, or rmsnorm")
    mlp: str = arg("gelu", "the MLP's activation: gelu, or relu2 (ReLU squared)")
    qk_norm: bool = arg(False, "RMS-normalise queries and keys before attention")
    tie_head: bool = arg(True, "the output head shares the token embedding's matrix (GPT-2; --no-tie-head: its own)")
    batch_size: int = arg(64, "demonstrations per step")
    max_iters: int = arg(2000, "optimizer steps")
    lr: float = arg(1e-2, "peak learning rate of AdamW (with Muon: the embeddings, norms and biases)")
    optimizer: str = arg("muon", "muon: Muon for the blocks' matrices and AdamW for the rest; or adamw for all")
    matrix_lr: float = arg(0.02, "peak learning rate of Muon (with --optimizer muon)")
    warmup_iters: int = arg(100, "linear warmup steps before the cosine decay")
    lr_floor: float = arg(0.1, "the cosine decays to this fraction of each peak learning rate")
    weight_decay: float = arg(0.1, "AdamW weight decay on matrices")
    dtype: str = arg("auto", "bf16 (autocast: matmuls in bfloat16), fp32, or auto: bf16 where the CPU or GPU has it natively")
    grad_clip: float = arg(1.0, "clip the gradient norm to this (0 = off)")
    max_demos: int = arg(0, "use only the first N training demonstrations (0 = all)")
    demos: str = arg("", "train on your own JSONL (prompt/response, prompt/completion or messages); 5% held out")
    init: str = arg("", "start from GPT-2 in this local Hugging Face folder (its weights and tokenizer; the model "
                        "and vocabulary flags are then ignored)")
    log_interval: int = arg(50, "print a line every N steps")
    eval_interval: int = arg(250, "validation loss and a checkpoint to resume from every N steps")
    eval_prompts: int = arg(280, "held-out prompts judged at the start and end (280: all of them)")
    eval_samples: int = arg(4, "answers sampled per held-out prompt at the end")
    max_new_tokens: int = arg(48, "longest sampled response in evaluation")
    temperature: float = arg(1.0, "sampling temperature in evaluation")


PRESETS = {
    # a few seconds on a CPU: exercises every line of the script, learns little
    "smoke": dict(out_dir="out/smoke", vocab_size=320, n_layer=2, n_head=2, n_embd=64,
                  batch_size=16, max_iters=20, warmup_iters=5, max_demos=500,
                  log_interval=5, eval_interval=10, eval_prompts=16, max_new_tokens=24),
}

if __name__ == "__main__":
    args = parse_args(Args, PRESETS)
    require_positive(args, "eval_samples", "eval_prompts", "max_iters", "batch_size", "n_layer", "n_head",
                     "n_embd", "max_new_tokens", "log_interval", "eval_interval")
    require_above_zero(args, "lr", "matrix_lr")
    if not 0 <= args.lr_floor <= 1:
        raise SystemExit(f"error: --lr-floor must be between 0 and 1 (a fraction of the peak), got {args.lr_floor}")
    require_choice(args, "dtype", DTYPES)
    require_choice(args, "optimizer", ("adamw", "muon"))
    require_choice(args, "norm", NORMS)
    require_choice(args, "mlp", MLPS)
    rank, world, device = dist.start(args, "batch_size")   # seed, device; one of `world` processes
    ckpt_path = f"{args.out_dir}/sft.pt"
    if args.resume:   # the model, its tokenizer and the optimizers' state come from the checkpoint
        require_checkpoint(ckpt_path)
        resumed, tokenizer, meta = load_checkpoint(ckpt_path, device, kind="gpt")
        if meta.get("finished", True):
            raise SystemExit(f"error: {ckpt_path} is a finished run; there is nothing to resume "
                             "(run without --resume to train a new one)")

    # ---- data and tokenizer -------------------------------------------------------------
    if args.demos:   # your own demonstrations: the last 5% held out for the validation loss
        train_demos = load_demonstrations(args.demos)
        if len(train_demos) < 2:
            raise SystemExit(f"error: {args.demos} holds {len(train_demos)} demonstrations; at least 2 are needed")
        n_val = max(1, len(train_demos) // 20)
        train_demos, val_demos = train_demos[:-n_val], train_demos[-n_val:]
        print(f"{len(train_demos)} demonstrations from {args.demos}, {len(val_demos)} held out. The gold "
              "evaluation at the end is TinyChat's, on its held-out prompts: your data has no gold judge here")
    else:
        train_demos = load_jsonl("data/sft_train.jsonl")
        val_demos = load_jsonl("data/sft_val.jsonl")
    if args.max_demos:
        train_demos = train_demos[:args.max_demos]
    eval_records = load_jsonl("data/eval_prompts.jsonl")[:args.eval_prompts]

    t0 = time.time()
    if args.init and not args.resume:   # GPT-2's tokenizer and weights; --block-size, if smaller, crops its positions
        pretrained, tokenizer = load_gpt2(args.init, args.block_size)
        args.block_size = pretrained.config.block_size
    elif not args.resume:
        text = "".join(f"{d['prompt']}\n{d['response']}\n" for d in train_demos) if args.demos else corpus_text()
        tokenizer = Tokenizer.train(text, args.vocab_size)
    args.block_size = args.block_size or (resumed.config.block_size if args.resume else 128)
    train = [encode_demonstration(tokenizer, d["prompt"], d["response"], args.block_size)
             for d in train_demos]
    val = [encode_demonstration(tokenizer, d["prompt"], d["response"], args.block_size)
           for d in val_demos]
    n_tokens = sum(len(x) for x, _ in train)
    print(f"tokenizer: {tokenizer.vocab_size} tokens trained in {time.time() - t0:.1f}s | "
          f"{len(train)} demonstrations, {n_tokens} tokens, {n_tokens / len(train):.1f} per demonstration")

    # ---- model --------------------------------------------------------------------------
    if args.init:   # GPT-2's shape, from its folder (or from the checkpoint being resumed)
        config = (resumed if args.resume else pretrained).config
        print(f"--init {args.init}: GPT-2 with n_layer {config.n_layer}, n_head {config.n_head}, n_embd "
              f"{config.n_embd}, block_size {config.block_size}, {config.vocab_size} tokens (its own and our 4 "
              "specials); --vocab-size, --n-layer, --n-head, --n-embd, --rotary, --norm, --mlp, --qk-norm and "
              "--tie-head are ignored")
        if args.optimizer == "muon" or args.lr > 1e-3:   # the defaults train a small model from scratch
            print(f"note: --optimizer {args.optimizer} at --lr {args.lr} is a rate for training from scratch; "
                  "pretrained weights are usually fine-tuned with --optimizer adamw --lr 1e-5 to 1e-4")
    elif args.n_embd % args.n_head or (args.rotary and (args.n_embd // args.n_head) % 2):
        raise SystemExit(f"error: --n-embd {args.n_embd} must split into --n-head {args.n_head} heads"
                         + (" of even size (rotary turns pairs of dimensions)" if args.rotary else ""))
    else:
        config = GPTConfig(block_size=args.block_size, vocab_size=tokenizer.vocab_size,
                           n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd, rotary=args.rotary,
                           norm=args.norm, mlp=args.mlp, qk_norm=args.qk_norm, tie_head=args.tie_head)
    if args.resume and resumed.config != config:
        raise SystemExit(f"error: {ckpt_path} was trained with other model flags; resume it with the same ones")
    model = resumed if args.resume else pretrained.to(device) if args.init else GPT(config).to(device)
    print(f"model: {model.num_params() / 1e6:.2f}M parameters")
    if args.optimizer == "muon":   # [Muon, AdamW] (nanorlhf/muon.py)
        ns_dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32   # Muon's orthogonalisation
        optimizers = make_muon_optimizers(model, args.matrix_lr, args.lr, args.weight_decay, ns_dtype=ns_dtype)
    else:
        optimizers = [make_optimizer(model.parameters(), args.lr, args.weight_decay)]
    peaks = [group["lr"] for opt in optimizers for group in opt.param_groups]   # each group's peak rate
    log, start = MetricLog(), 1
    if args.resume:
        for opt, state in zip(optimizers, meta["optimizers"]):
            opt.load_state_dict(state)
        log.rows, start, untrained_score = meta["log"], meta["step"] + 1, meta["untrained_score"]
        print(f"resumed from {ckpt_path} at step {meta['step']}")
    elif dist.is_main():   # only rank 0 evaluates, prints and saves
        before = evaluate(model, tokenizer, eval_records, samples=1, temperature=args.temperature,
                          max_new_tokens=args.max_new_tokens, seed=args.seed)
        untrained_score = float(before.scores.mean())
        print(f"untrained model: gold score {untrained_score:.3f} | eos rate {before.ended.mean():.2f}")
    trainer = dist.ddp(model)   # with several processes: averages the gradients over them in backward

    # ---- training loop ------------------------------------------------------------------
    # a resumed run draws its batches from a generator seeded anew, so after the resume its
    # data order differs from an uninterrupted run's (the figures agree within noise)
    batches = random_batches(train, args.batch_size, tokenizer.pad_id,
                             torch.Generator().manual_seed(args.seed + start - 1))
    saved = {"step": start - 1 if args.resume else None}   # the step in ckpt_path, for the Ctrl-C message
    stop_on_ctrl_c(lambda: f"{ckpt_path} holds step {saved['step']}; `python train_sft.py --resume` continues"
                   if saved["step"] else f"stopped before the first save (step {args.eval_interval}); nothing written")
    model.train()
    t_last, loss_sum, tokens_seen = time.time(), 0.0, 0
    for step in range(start, args.max_iters + 1):
        lr = cosine_lr(step - 1, args.lr, args.warmup_iters, args.max_iters, args.lr_floor)
        for group, peak in zip([g for opt in optimizers for g in opt.param_groups], peaks):
            group["lr"] = peak * lr / args.lr   # one schedule, each group at its own peak
        x, targets = next(batches)   # every process draws the same batch and takes its own rows of it
        n_targets = (targets != IGNORE).sum().item()
        x, targets = dist.my_share(x).to(device), dist.my_share(targets).to(device)
        with autocast(device, args.dtype):
            _, loss = trainer(x, targets)   # mean over this process's response tokens
        # counted as one process counts it: over all the batch's response tokens (1.0 in one process)
        loss = loss * dist.global_share((targets != IGNORE).sum().item(), n_targets)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        for opt in optimizers:
            opt.step()
        loss_sum, tokens_seen = loss_sum + loss.item(), tokens_seen + x.numel()

        if step % args.log_interval == 0 or step == args.max_iters:
            n = step % args.log_interval or args.log_interval
            metrics = dict(step=step, loss=dist.mean_over_processes(loss_sum) / n, lr=lr,
                           tok_per_s=int(dist.sum_over_processes(tokens_seen) / (time.time() - t_last)))
            if (step % args.eval_interval == 0 or step == args.max_iters) and dist.is_main():
                model.eval()
                metrics["val_loss"] = mean_loss(model, val, 256, tokenizer.pad_id)
                model.train()
            log.add(**metrics)
            t_last, loss_sum, tokens_seen = time.time(), 0.0, 0
        if step % args.eval_interval == 0 and step < args.max_iters and dist.is_main():   # to resume from after Ctrl-C
            save_checkpoint(ckpt_path, model, tokenizer, meta={
                "stage": "sft", "args": asdict(args), "finished": False, "step": step, "log": log.rows,
                "untrained_score": untrained_score, "optimizers": [opt.state_dict() for opt in optimizers]})
            saved["step"] = step

    # ---- evaluation: what does the gold labeler think now? -----------------------------
    dist.leave_unless_main()   # the other processes are done: rank 0 evaluates and saves
    model.eval()
    sampled = evaluate(model, tokenizer, eval_records, samples=args.eval_samples, temperature=args.temperature,
                       max_new_tokens=args.max_new_tokens, seed=args.seed)
    greedy = evaluate(model, tokenizer, eval_records, temperature=0, max_new_tokens=args.max_new_tokens)
    print("\nsamples on held-out prompts (gold score in brackets):")
    for record, texts, scores in list(zip(eval_records, sampled.texts, sampled.scores))[:8]:
        print(f"  > {record['prompt']}\n    [{scores[0]:+.2f}] {texts[0]}")
    print()
    report = print_report({f"SFT (T={args.temperature})": sampled, "SFT greedy": greedy}, baseline=sampled)
    sft, sft_greedy = report.values()
    summary = dict(untrained_score=untrained_score, sft_score=sft["gold"][0], sft_gold=sft["gold"],
                   sft_strict=sft["strict"], greedy_gold=sft_greedy["gold"], greedy_strict=sft_greedy["strict"],
                   eos_rate=sft["eos"], garbled=sft["garbled"], by_kind=sft["by_kind"], val_loss=log.rows[-1]["val_loss"],
                   train_time=log.rows[-1]["time"])
    if "heldout_gold" in sft:
        summary.update(heldout_phrasing_score=sft["heldout_gold"], trained_phrasing_score=sft["trained_gold"])
    if "heldout_strict" in sft:
        summary.update(heldout_phrasing_strict=sft["heldout_strict"], trained_phrasing_strict=sft["trained_strict"])
    print("\nsummary: " + " | ".join(f"{k} {v:.3f}" for k, v in summary.items() if isinstance(v, float)))

    # ---- save ---------------------------------------------------------------------------
    save_checkpoint(ckpt_path, model, tokenizer,
                    meta={"stage": "sft", "args": asdict(args), "finished": True, "summary": summary})
    save_json(summary, f"{args.out_dir}/sft_summary.json")
    log.plot(f"{args.out_dir}/sft_loss.png", [["loss", "val_loss"]], title="SFT")
    print(f"saved {args.out_dir}/sft.pt, sft_summary.json and sft_loss.png")
