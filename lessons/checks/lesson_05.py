"""
Checks for exercise 05: the reward model (lessons/05_reward_model.md, lessons/exercises/ex05_reward.py).

The references are float64 autograd, nanorlhf/reward.py (last_token_index, pairwise_loss)
and a synthetic Bradley-Terry world fitted with that loss.
"""
import math
from functools import lru_cache

import torch

from lessons.check import Fail, call, check, expect_close, expect_equal, prediction


@check("05", "pairwise_loss")
def check_pairwise_loss(m):
    import torch.nn.functional as F
    def reference(r_w, r_l):
        return -F.logsigmoid(r_w.double() - r_l.double()).mean()
    expect_close("pairwise_loss of equal scores: the model cannot tell the two apart",
                 call(m, "pairwise_loss", torch.zeros(3), torch.zeros(3)), torch.tensor(math.log(2)),
                 hint="sigmoid(0) = 1/2, and -log(1/2) = log 2 = 0.693: where the training starts")
    expect_close("pairwise_loss([2.], [0.]) = log(1 + exp(-2))",
                 call(m, "pairwise_loss", torch.tensor([2.0]), torch.tensor([0.0])),
                 torch.tensor(math.log1p(math.exp(-2))), hint="the loss is -log sigmoid(r_w - r_l)")
    g = torch.Generator().manual_seed(0)
    r_w, r_l = torch.randn(50, generator=g) * 3, torch.randn(50, generator=g) * 3
    expect_close("pairwise_loss on 50 random pairs", call(m, "pairwise_loss", r_w, r_l), reference(r_w, r_l),
                 hint="the MEAN over pairs of -log sigmoid(r_w - r_l), a scalar (0-dimensional) tensor")
    for w, l in ((-200.0, 200.0), (200.0, -200.0)):
        r_w, r_l = torch.tensor([w, 0.0]), torch.tensor([l, 0.0])
        got = call(m, "pairwise_loss", r_w, r_l)
        if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
            raise Fail(f"pairwise_loss({r_w.tolist()}, {r_l.tolist()}) in float32 is not finite", got=got,
                       hint="sigmoid(-400) underflows to 0 in float32 and exp(400) overflows; "
                            "F.logsigmoid or F.softplus(-d) compute log(1 + exp(-d)) safely")
        expect_close(f"pairwise_loss({r_w.tolist()}, {r_l.tolist()}) in float32", got, reference(r_w, r_l),
                     atol=1e-3, hint="a margin of -400 costs 400 / 2 = 200 averaged over the two pairs")


@check("05", "pairwise_loss_grad")
def check_pairwise_loss_grad(m):
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(1)
    cases = [(torch.tensor([1.0, -0.5, 3.0, 0.0]), torch.tensor([0.0, 0.5, -2.0, 0.0])),
             (torch.randn(40, generator=g) * 3, torch.randn(40, generator=g) * 3),
             (torch.tensor([-200.0, 200.0, 0.0]), torch.tensor([200.0, -200.0, 0.0]))]
    for r_w, r_l in cases:
        w64, l64 = r_w.double().requires_grad_(), r_l.double().requires_grad_()
        (-F.logsigmoid(w64 - l64).mean()).backward()      # float64 autograd: the reference
        with torch.no_grad():
            got = call(m, "pairwise_loss_grad", r_w.clone(), r_l.clone())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Fail("pairwise_loss_grad should return (grad_w, grad_l)", got=repr(got))
        what = f"the gradient on {len(r_w)} pairs" + (" with margins of +-400" if r_w.abs().max() > 100 else "")
        hint = ("with d = r_w - r_l, d/dd [-log sigmoid(d)] = -(1 - sigmoid(d)) = -sigmoid(-d); "
                "divide by N for the mean, and dL/dr_l = -dL/dr_w. torch.sigmoid is safe for any d")
        expect_close(what + ", grad_w", got[0], w64.grad, atol=1e-6, hint=hint)
        expect_close(what + ", grad_l", got[1], l64.grad, atol=1e-6, hint=hint)
    return ("a pair the model already orders by a wide margin has a gradient near 0; a pair it "
            "gets badly wrong pulls with the full 1/N. So the update is dominated by the pairs the "
            "model still gets wrong, including those whose noisy label contradicts the truth")


@check("05", "last_token_index")
def check_last_token_index(m):
    from nanorlhf.reward import last_token_index
    masks = [torch.tensor([[0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]]),  # the docstring's example
             torch.tensor([[1, 1, 1, 0, 0]]), torch.tensor([[0, 0, 1, 1, 1]]), torch.tensor([[1]]),
             torch.tensor([[0, 0, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 1]])]
    g = torch.Generator().manual_seed(0)
    for _ in range(30):  # random rows: left padding, at least one real token, right padding
        B, T = 6, int(torch.randint(1, 14, (1,), generator=g))
        left = torch.randint(0, T, (B, 1), generator=g)
        real = 1 + (torch.rand(B, 1, generator=g) * (T - left)).long()  # 1 .. T - left
        columns = torch.arange(T)[None, :]
        masks.append(((columns >= left) & (columns < left + real)).long())
    for mask in masks:
        got = call(m, "last_token_index", mask.clone())
        try:
            got = torch.as_tensor(got).tolist()
        except (TypeError, ValueError, RuntimeError):
            pass
        expect_equal(f"last_token_index({mask.tolist()})", got, last_token_index(mask).tolist(),
                     hint="mask.sum(1) - 1 is right only without LEFT padding, and argmax of the mask "
                          "finds the FIRST real token. Try weighting each column by its index")


@lru_cache(maxsize=None)
def bradley_terry_world(n_pairs, visible=16, d=16, n_test=20_000, steps=300, seed=0):
    """Fit a linear reward model with the pairwise loss on n_pairs noisy labels of a synthetic
    Bradley-Terry world -> (held-out accuracy against noisy labels, against the gold order).
    visible < d: the model sees only the first `visible` features (it cannot fit the truth)."""
    from nanorlhf.reward import pairwise_loss
    g = torch.Generator().manual_seed(seed)
    w_true = torch.randn(d, generator=g, dtype=torch.float64)
    w_true = w_true / w_true.norm()  # gold score s = w* . x; noise 1 per response: 75% ceiling

    def labeled_pairs(n):
        x_a, x_b = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(2))  # (n, d)
        s_a, s_b = x_a @ w_true, x_b @ w_true                                             # (n,)
        noisy_a = s_a + torch.randn(n, generator=g, dtype=torch.float64)
        noisy_b = s_b + torch.randn(n, generator=g, dtype=torch.float64)
        return x_a[:, :visible], x_b[:, :visible], noisy_a > noisy_b, s_a > s_b

    x_a, x_b, a_wins, _ = labeled_pairs(n_pairs)
    x_w = torch.where(a_wins[:, None], x_a, x_b)   # (n, visible) the labeler's winners
    x_l = torch.where(a_wins[:, None], x_b, x_a)
    w = torch.zeros(visible, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([w], lr=0.05)
    for _ in range(steps):
        loss = pairwise_loss(x_w @ w, x_l @ w)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x_a, x_b, a_wins, a_better = labeled_pairs(n_test)
    with torch.no_grad():
        rm_prefers_a = x_a @ w > x_b @ w
    return (rm_prefers_a == a_wins).double().mean().item(), (rm_prefers_a == a_better).double().mean().item()


def bradley_terry_story():
    curve = ", ".join(f"{n:,} pairs {bradley_terry_world(n)[0]:.1%} / {bradley_terry_world(n)[1]:.1%}"
                      for n in (100, 1000, 10_000))
    blind = bradley_terry_world(10_000, visible=8)
    return (f"held-out accuracy against the noisy labels / the gold order: {curve}. Against noisy "
            "labels no model can beat the 75% ceiling, since a quarter of the labels contradict "
            "the truth; against the gold order a model of the right shape approaches 100%. A model "
            f"that sees only 8 of the 16 features stops at {blind[0]:.1%} / {blind[1]:.1%} however "
            "many pairs it gets: more data cannot teach what the model cannot represent. Our "
            "reward model on arithmetic and sorting is in that position (lesson 05)")


def check_bradley_terry_prediction(m, name, which, tolerance):
    guess = prediction(m, name)
    measured = bradley_terry_world(10_000)[which]
    why = bradley_terry_story()
    if abs(guess - measured) > tolerance:
        raise Fail(f"the prediction is more than {tolerance} away from the measurement",
                   expected=f"{measured:.3f}", got=f"{guess:.3f}", hint=why)
    return why


@check("05", "PREDICTED_NOISY_ACCURACY")
def check_noisy_accuracy(m):
    return check_bradley_terry_prediction(m, "PREDICTED_NOISY_ACCURACY", 0, 0.03)


@check("05", "PREDICTED_GOLD_ACCURACY")
def check_gold_accuracy(m):
    return check_bradley_terry_prediction(m, "PREDICTED_GOLD_ACCURACY", 1, 0.04)
