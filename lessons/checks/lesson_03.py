"""
Checks for exercise 03: supervised fine-tuning (lessons/03_sft.md, lessons/exercises/ex03_sft.py).

The reference is nanorlhf/sft.py: encode_demonstration.
"""
from functools import lru_cache

import torch

from lessons.check import Fail, call, check, expect_equal, prediction
from lessons.checks.common import demo_text, tinychat_demos


def as_lists(pair):
    """(x, targets) as a tuple of two plain lists, whatever sequence types they came in."""
    if isinstance(pair, (tuple, list)) and len(pair) == 2:
        return tuple(p.tolist() if hasattr(p, "tolist") else list(p) for p in pair)
    return pair


@check("03", "sft_targets")
def check_sft_targets(m):
    from nanorlhf.chat import encode_prompt
    from nanorlhf.sft import encode_demonstration
    from nanorlhf.tokenizer import Tokenizer
    U, A, E = 100, 101, 102
    expect_equal("sft_targets([U, 7, 8, A], [5, 6], E), with U, A, E = 100, 101, 102",
                 as_lists(call(m, "sft_targets", [U, 7, 8, A], [5, 6], E)),
                 ([U, 7, 8, A, 5, 6], [-1, -1, -1, 5, 6, E]),
                 hint="x = ids[:-1] and targets = ids[1:] for ids = prompt + response + [EOS]; then "
                      "hide the targets that are prompt tokens. The first response token is "
                      "predicted at the <|assistant|> position")
    expect_equal("an empty response still teaches the model to stop",
                 as_lists(call(m, "sft_targets", [U, 7, A], [], E)), ([U, 7, A], [-1, -1, E]),
                 hint="the EOS target is never masked")
    demos = tinychat_demos(40)
    tok = Tokenizer.train(demo_text(tinychat_demos(400)), 400)
    for d in demos:
        prompt_ids, response_ids = encode_prompt(tok, d["prompt"]), tok.encode(d["response"])
        got = call(m, "sft_targets", prompt_ids, response_ids, tok.eos_id)
        expected = encode_demonstration(tok, d["prompt"], d["response"], block_size=1000)
        expect_equal(f"the demonstration {d['prompt']!r} -> {d['response']!r}",
                     as_lists(got), expected, hint="compare with nanorlhf/sft.py: encode_demonstration")


@lru_cache(maxsize=None)
def eos_rate_after_training(drop_eos_targets, steps=100):
    """Train a small GPT on TinyChat arithmetic for a few seconds -> share of 64 sampled
    responses that end with EOS."""
    from nanorlhf.common import make_optimizer
    from nanorlhf.model import GPT, GPTConfig
    from nanorlhf.sampling import sample_responses
    from nanorlhf.sft import IGNORE, encode_demonstration, random_batches
    from nanorlhf.tokenizer import Tokenizer
    demos = tinychat_demos(1000, family="arithmetic")
    tok = Tokenizer.train(demo_text(demos), 360)
    examples = []
    for d in demos:
        x, targets = encode_demonstration(tok, d["prompt"], d["response"], block_size=96)
        if drop_eos_targets:  # what PAD = EOS does when every PAD target is set to IGNORE
            targets = [IGNORE if t == tok.eos_id else t for t in targets]
        examples.append((x, targets))
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=96, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=32))
    optimizer = make_optimizer(model.parameters(), lr=1e-2, weight_decay=0.0)
    batches = random_batches(examples, 32, tok.pad_id, torch.Generator().manual_seed(0))
    for _ in range(steps):
        x, targets = next(batches)
        _, loss = model(x, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    prompts = [d["prompt"] for d in demos[:64]]
    _, ended, _ = sample_responses(model, tok, prompts, max_new_tokens=48, temperature=1.0, seed=0)
    return sum(ended) / len(ended)


@check("03", "PREDICTED_EOS_RATE_WITHOUT_EOS_TARGETS")
def check_eos_rate(m):
    guess = prediction(m, "PREDICTED_EOS_RATE_WITHOUT_EOS_TARGETS")
    without, with_eos = eos_rate_after_training(True), eos_rate_after_training(False)
    why = (f"trained with EOS targets {with_eos:.0%} of the responses end with EOS; without them "
           f"{without:.0%}. EOS is never a target, and every cross-entropy step pushes down the "
           "logits of all tokens but the target, so the model learns that EOS never comes: it "
           "talks until max_new_tokens. That is why PAD must be a token of its own")
    if abs(guess - without) > 0.1:
        raise Fail("the prediction is more than 0.1 away from the measurement",
                   expected=f"{without:.2f}", got=f"{guess:.2f}", hint=why)
    return why
