"""The GPT against full recomputation, hand-computed losses and its own padding/causality rules."""
import math
from dataclasses import replace

import pytest
import torch
from torch.nn import functional as F

from nanorlhf.model import GPT, GPTConfig

TINY = GPTConfig(block_size=32, vocab_size=50, n_layer=2, n_head=2, n_embd=32)
PAD, EOS = 48, 49


def make_model(seed=0, scramble=True, **overrides):
    """A tiny GPT in eval mode. scramble=True draws every weight from N(0, 0.5) so the
    untrained model has confident, input-dependent predictions (no near-ties in argmax)."""
    torch.manual_seed(seed)
    model = GPT(replace(TINY, **overrides)).eval()
    if scramble:
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0.0, 0.5)
    return model


def left_pad(prompts, pad_id=PAD):
    T = max(len(p) for p in prompts)
    idx = torch.full((len(prompts), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), T), dtype=torch.long)
    for i, p in enumerate(prompts):
        idx[i, T - len(p):] = torch.tensor(p)
        mask[i, T - len(p):] = 1
    return idx, mask


PROMPTS = [[3, 14, 15, 9, 2, 6], [5, 35], [8, 9, 7, 9, 3, 2, 3, 8, 4, 6], [26, 43, 38]]


@torch.no_grad()
def generate_naive(model, idx, max_new_tokens, eos_id, pad_id, attention_mask):
    """Greedy generation that recomputes the whole sequence at every step (no cache) and never
    stops early. -> (new tokens (B, max_new_tokens), their mask (B, max_new_tokens), logits of
    every step (B, max_new_tokens, V))"""
    done = torch.zeros(idx.size(0), dtype=torch.bool)
    T = idx.size(1)
    step_logits = []
    for _ in range(max_new_tokens):
        logits = model(idx, attention_mask=attention_mask)[0][:, -1, :]  # (B, V)
        step_logits.append(logits)
        token = logits.argmax(dim=-1)
        is_real = ~done
        token = torch.where(done, pad_id, token)
        done = done | (token == eos_id)
        idx = torch.cat([idx, token[:, None]], dim=1)
        attention_mask = torch.cat([attention_mask, is_real[:, None].long()], dim=1)
    return idx[:, T:], attention_mask[:, T:], torch.stack(step_logits, dim=1)


def assert_same_generation(tokens, mask, ref_tokens, ref_mask):
    """generate's output (B, R) against the naive loop's (B, max_new_tokens): the same tokens and
    mask for R steps, and after them nothing real (generate stopped because every row had ended)."""
    R = tokens.size(1)
    assert torch.equal(tokens, ref_tokens[:, :R]) and torch.equal(mask, ref_mask[:, :R])
    assert torch.equal(ref_tokens[:, R:], torch.full_like(ref_tokens[:, R:], PAD)) and ref_mask[:, R:].sum() == 0


def first_ends(tokens, eos_id):
    """The step at which each row first writes eos_id (None if never)."""
    return [row.index(eos_id) if eos_id in row else None for row in tokens.tolist()]


def test_kv_cache_matches_full_recomputation():
    model = make_model()
    idx, mask = left_pad(PROMPTS)
    # pick as EOS a token the free-running rows write at different steps, so that rows
    # end at different times and the cache also has to handle PAD written after EOS
    free, free_mask = model.generate(idx, 12, temperature=0, attention_mask=mask)
    assert free.shape == (4, 12) and free_mask.sum() == 4 * 12   # no EOS: every step, every token real
    eos = max(range(TINY.vocab_size), key=lambda v: len(set(first_ends(free, v))))
    assert len(set(first_ends(free, eos))) >= 2

    out, out_mask, hidden = model.generate(idx, 12, temperature=0, eos_id=eos, pad_id=PAD,
                                           attention_mask=mask, return_hidden=True)
    logits = model.lm_head(hidden)
    ref_out, ref_mask, ref_logits = generate_naive(model, idx, 12, eos, PAD, mask)
    assert_same_generation(out, out_mask, ref_out, ref_mask)
    steps = logits.size(1)
    assert steps == out.size(1)
    assert torch.allclose(logits, ref_logits[:, :steps], atol=1e-5)
    # without an EOS every step is produced, and still matches
    out, out_mask, hidden = model.generate(idx, 12, temperature=0, attention_mask=mask, return_hidden=True)
    logits = model.lm_head(hidden)
    ref_out, ref_mask, ref_logits = generate_naive(model, idx, 12, -1, PAD, mask)
    assert torch.equal(out, ref_out) and torch.equal(out_mask, ref_mask)
    assert torch.allclose(logits, ref_logits, atol=1e-5)


def test_left_padding_changes_nothing():
    model = make_model()
    idx, mask = left_pad(PROMPTS)
    batch_logits, _ = model(idx, attention_mask=mask)
    assert torch.isfinite(batch_logits).all()  # PAD query rows included
    batch_out, _ = model.generate(idx, 8, temperature=0, attention_mask=mask)
    for i, prompt in enumerate(PROMPTS):
        alone = torch.tensor([prompt])
        logits, _ = model(alone)  # no mask at all: positions 0..T-1, plain causal
        assert torch.allclose(batch_logits[i, -len(prompt):], logits[0], atol=1e-5)
        alone_out, _ = model.generate(alone, 8, temperature=0)
        assert torch.equal(batch_out[i], alone_out[0])
    # a PAD query attends to itself only: it is a lone PAD token at position 0
    lone_pad, _ = model(torch.tensor([[PAD]]))
    assert torch.allclose(batch_logits[1, 0], lone_pad[0, 0], atol=1e-5)
    # what the PAD ids are does not matter either: PAD keys are never attended
    other_pad = torch.where(mask.bool(), idx, 0)
    assert torch.allclose(model(other_pad, attention_mask=mask)[0][mask.bool()],
                          batch_logits[mask.bool()], atol=1e-6)


@pytest.mark.parametrize("with_mask", [False, True])
def test_causal(with_mask):
    model = make_model()
    torch.manual_seed(1)
    idx = torch.randint(0, 48, (3, 20))
    mask = torch.ones_like(idx) if with_mask else None
    logits, _ = model(idx, attention_mask=mask)
    t = 11
    changed = idx.clone()
    changed[:, t] = (changed[:, t] + 1) % 48
    logits2, _ = model(changed, attention_mask=mask)
    assert torch.allclose(logits[:, :t], logits2[:, :t], atol=1e-6)  # the past does not see it
    assert not torch.allclose(logits[:, t], logits2[:, t], atol=1e-3)  # the token itself does


def test_loss_at_init_is_uniform_guess():
    # GPT-2 init (std 0.02) gives nearly flat predictions: loss ~ -ln(1/V) = ln(V)
    model = make_model(scramble=False, vocab_size=512)
    torch.manual_seed(0)
    idx = torch.randint(0, 512, (8, 32))
    targets = torch.randint(0, 512, (8, 32))
    _, loss = model(idx, targets)
    assert abs(loss.item() - math.log(512)) < 0.1


def test_ignored_targets_do_not_count():
    model = make_model()
    torch.manual_seed(0)
    idx = torch.randint(0, 50, (4, 16))
    targets = torch.randint(0, 50, (4, 16))
    targets[:, :5] = -1
    targets[2, 9:] = -1
    logits, loss = model(idx, targets)
    keep = targets != -1
    # mean over kept positions of -log p(target)
    logp = F.log_softmax(logits.double(), dim=-1)[keep]  # (N, V)
    manual = -logp.gather(1, targets[keep][:, None]).mean()
    assert torch.allclose(loss.double(), manual, atol=1e-5)


def test_each_row_stops_at_its_own_eos():
    model = make_model(seed=3)
    idx, mask = left_pad(PROMPTS)
    T = idx.size(1)
    free, _ = model.generate(idx, 14, temperature=0, attention_mask=mask)
    eos = max(range(TINY.vocab_size), key=lambda v: len(set(first_ends(free, v))))
    ends = first_ends(free, eos)
    assert len(set(ends)) >= 2  # rows end at different steps (or never)
    out, out_mask = model.generate(idx, 14, temperature=0, eos_id=eos, pad_id=PAD, attention_mask=mask)
    for row, row_mask, free_row, end in zip(out.tolist(), out_mask.tolist(), free.tolist(), ends):
        if end is None:
            assert row == free_row[:len(row)] and row_mask == [1] * len(row)
        else:  # the same tokens up to and including the first EOS, then only PAD, outside the mask
            assert row[:end + 1] == free_row[:end + 1] and row_mask[:end + 1] == [1] * (end + 1)
            assert row[end + 1:] == [PAD] * (len(row) - end - 1) and row_mask[end + 1:] == [0] * (len(row) - end - 1)
    # once every row has ended the loop stops early: the output is as long as the longest response
    eos = next(v for v in range(TINY.vocab_size) if None not in first_ends(free, v))
    out, out_mask, hidden = model.generate(idx, 14, temperature=0, eos_id=eos, pad_id=PAD,
                                           attention_mask=mask, return_hidden=True)
    longest = max(first_ends(free, eos)) + 1
    assert hidden.size(1) == out.size(1) == longest < 14
    assert out_mask.sum(1).tolist() == [e + 1 for e in first_ends(free, eos)]


def test_sampling_is_reproducible_and_top_k_1_is_greedy():
    model = make_model()
    idx, mask = left_pad(PROMPTS)
    def sample(seed, **kw):
        g = torch.Generator().manual_seed(seed)
        return model.generate(idx, 10, attention_mask=mask, generator=g, **kw)[0]
    assert torch.equal(sample(0), sample(0))
    assert not torch.equal(sample(0, temperature=2.0), sample(1, temperature=2.0))
    greedy, _ = model.generate(idx, 10, temperature=0, attention_mask=mask)
    assert torch.equal(sample(5, top_k=1), greedy)


def test_weights_tied_and_hidden_feeds_lm_head():
    model = make_model(scramble=False)
    assert model.lm_head.weight is model.transformer.wte.weight
    idx, mask = left_pad(PROMPTS)
    logits, _ = model(idx, attention_mask=mask)
    h = model.hidden(idx, attention_mask=mask)
    assert h.shape == (4, idx.size(1), TINY.n_embd)
    assert torch.allclose(model.lm_head(h), logits)
    # GPT-2 init: residual projections have std 0.02 / sqrt(2 n_layer)
    big = GPT(GPTConfig())
    std = big.transformer.h[0].mlp.c_proj.weight.std().item()
    assert abs(std - 0.02 / math.sqrt(2 * 4)) < 0.001
    assert big.num_params() == sum(p.numel() for p in big.parameters())


def test_bf16_autocast_on_cpu_keeps_attention_in_fp32_and_the_logits_close():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=64, n_layer=2, n_head=2, n_embd=32)).eval()
    idx = torch.randint(0, 64, (3, 12))
    seen = []
    attend = model.transformer.h[0].attn.attend
    def spy(q, k, v, mask):
        seen.append(q.dtype)
        return attend(q, k, v, mask)
    model.transformer.h[0].attn.attend = spy
    with torch.no_grad():
        reference, _ = model(idx)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low, _ = model(idx)
    assert seen == [torch.float32, torch.float32]          # fp32 attention in both runs
    assert low.dtype == torch.bfloat16                     # the matmuls ran in bf16
    assert (low.float() - reference).abs().max() < 0.1     # bf16 keeps about 3 significant digits
