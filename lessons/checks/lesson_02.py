"""
Checks for exercise 02: attention and positions (lessons/02_gpt.md, lessons/exercises/ex02_attention.py).

The references are nanorlhf/model.py (attention_mask_4d, GPT) and PyTorch's own
F.scaled_dot_product_attention.
"""
import math

import torch

from lessons.check import Fail, call, check, expect_close, prediction


def reference_positions(attention_mask):
    """What GPT.hidden computes: the number of real tokens before each token."""
    return (torch.cumsum(attention_mask, dim=1) - 1).clamp(min=0)


@check("02", "position_ids")
def check_position_ids(m):
    g = torch.Generator().manual_seed(0)
    masks = [torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]),  # the docstring's example
             torch.tensor([[0, 0, 0, 1]]), torch.tensor([[1, 1, 0, 0]])]  # left and right padding
    for _ in range(20):  # random left-padded batches
        B, T = 4, int(torch.randint(1, 12, (1,), generator=g))
        n_pad = torch.randint(0, T, (B, 1), generator=g)
        masks.append((torch.arange(T)[None, :] >= n_pad).long())
    for mask in masks:
        got = call(m, "position_ids", mask.clone())
        expected = reference_positions(mask)
        if not isinstance(got, torch.Tensor) or got.shape != mask.shape:
            raise Fail(f"position_ids({mask.tolist()}): want a tensor of shape {tuple(mask.shape)}",
                       got=type(got).__name__ if not isinstance(got, torch.Tensor) else tuple(got.shape))
        real = mask.bool()
        if not torch.equal(got.long()[real], expected[real]):
            raise Fail(f"position_ids({mask.tolist()}) on the real tokens", expected=expected.tolist(),
                       got=got.tolist(), hint="count the real tokens before each one: torch.cumsum helps")
        if got.min() < 0 or got.max() >= mask.size(1):
            raise Fail(f"position_ids({mask.tolist()}): a PAD position is not a valid index",
                       got=got.tolist(), hint="the model looks every position up in wpe, so clamp at 0")


@check("02", "attention")
def check_attention(m):
    from torch.nn import functional as F
    from nanorlhf.model import attention_mask_4d
    # hand-worked, one head, hs = 1: the second query scores the keys 0 and ln 3, so it
    # weighs the values 4 and 8 by 1/4 and 3/4 -> 7; the first query only sees itself -> 4
    q = torch.tensor([[[[0.0], [1.0]]]])          # (1, 1, 2, 1)
    k = torch.tensor([[[[0.0], [math.log(3)]]]])
    v = torch.tensor([[[[4.0], [8.0]]]])
    expect_close("the worked example (no mask)", call(m, "attention", q, k, v, None),
                 torch.tensor([[[[4.0], [7.0]]]]),
                 hint="query 0 sees only key 0, so its output is v[0] = 4; query 1 weighs the values "
                      "by softmax(0, ln 3) = (1/4, 3/4). Scores are q @ k.transpose(-2, -1) / sqrt(hs)")
    expect_close("the worked example with the first token PAD", call(m, "attention", q, k, v,
                 torch.tensor([[0, 1]])), torch.tensor([[[[4.0], [8.0]]]]),
                 hint="a PAD key gets -inf; the PAD query still sees itself")
    g = torch.Generator().manual_seed(0)
    B, nh, T, hs = 3, 2, 7, 8
    q, k, v = (torch.randn(B, nh, T, hs, generator=g) for _ in range(3))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    expect_close("random q, k, v, no padding", call(m, "attention", q, k, v, None), expected,
                 hint="query i may only look at keys j <= i: mask the upper triangle with -inf")
    key_mask = torch.tensor([[1] * 7, [0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 1]])
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask_4d(key_mask.bool(), T))
    expect_close("random q, k, v, left-padded rows", call(m, "attention", q, k, v, key_mask), expected,
                 hint="allowed = causal & key_mask[b, j], and always the diagonal; NaN means a row "
                      "of the softmax had no allowed key")


@check("02", "PREDICTED_INIT_LOSS_320")
def check_init_loss(m):
    from nanorlhf.model import GPT, GPTConfig
    guess = prediction(m, "PREDICTED_INIT_LOSS_320")
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=320, n_layer=2, n_head=2, n_embd=64))
    idx, targets = torch.randint(0, 320, (16, 64)), torch.randint(0, 320, (16, 64))
    with torch.no_grad():
        _, loss = model(idx, targets)
    why = (f"measured {loss.item():.3f}; ln(320) = {math.log(320):.3f}. Weights start at N(0, 0.02), "
           "so every logit is close to 0 and the softmax is close to uniform: each target gets "
           "probability about 1/V and the loss is -ln(1/V) = ln V")
    if abs(guess - loss.item()) > 0.1:
        raise Fail("the prediction is more than 0.1 away from the measurement",
                   expected=f"{loss.item():.3f}", got=f"{guess:.3f}", hint=why)
    return why
