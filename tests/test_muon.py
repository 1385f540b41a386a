"""Muon against the SVD: Newton-Schulz as a polynomial on singular values, the update rule written out, the split."""
import pytest
import torch

from nanorlhf.model import GPT, GPTConfig
from nanorlhf.muon import Muon, make_muon_optimizers, zeropower_via_newtonschulz5
from nanorlhf.reward import RewardModel, pairwise_loss

TINY = GPTConfig(block_size=16, vocab_size=32, n_layer=2, n_head=2, n_embd=16)
A, B, C = 3.4445, -4.7750, 2.0315


def quintic_via_svd(G, steps=5):
    """The reference, in float64: G = U S V^T -> U p(p(...p(S / ||G||_F))) V^T, p(s) = a s + b s^3 + c s^5.

    X <- a X + b (X X^T) X + c (X X^T)^2 X keeps U and V and maps each singular value by p,
    so applying p to the singular values directly must give the same matrix.
    """
    G = G.double()
    U, S, Vh = torch.linalg.svd(G, full_matrices=False)
    s = S / (G.norm() + 1e-7)
    for _ in range(steps):
        s = A * s + B * s ** 3 + C * s ** 5
    return U @ torch.diag(s) @ Vh


def cosine(X, Y):
    """<X, Y>_F / (||X||_F ||Y||_F)."""
    return (X * Y).sum() / (X.norm() * Y.norm())


def conditioned(m, n, decades, seed):
    """A random (m, n) matrix U S V^T whose singular values are log-spaced from 1 down to 10^-decades."""
    g = torch.Generator().manual_seed(seed)
    k = min(m, n)
    U, _ = torch.linalg.qr(torch.randn(m, k, generator=g))  # (m, k) orthonormal columns
    V, _ = torch.linalg.qr(torch.randn(n, k, generator=g))  # (n, k)
    return U @ torch.diag(torch.logspace(0, -decades, k)) @ V.T


@pytest.mark.parametrize("shape", [(8, 24), (24, 8), (16, 16)])
def test_newton_schulz_is_the_quintic_on_singular_values(shape):
    """Exactly (float64) and to float32 rounding, the iteration equals p applied to each singular value."""
    G = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    ref = quintic_via_svd(G)
    out64 = zeropower_via_newtonschulz5(G.double(), dtype=torch.float64)
    torch.testing.assert_close(out64, ref, rtol=0, atol=1e-12)
    out32 = zeropower_via_newtonschulz5(G)
    assert out32.dtype == torch.float32 and out32.shape == G.shape
    torch.testing.assert_close(out32.double(), ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("G", [
    torch.randn(8, 24, generator=torch.Generator().manual_seed(1)),   # wide
    torch.randn(24, 8, generator=torch.Generator().manual_seed(2)),   # tall
    # square, singular values from 1 to 0.01: a square Gaussian can have a singular value
    # below ||G||_F / 500, which 5 steps do not lift to ~1 (see the docstring)
    conditioned(16, 16, decades=2, seed=3),
])
def test_newton_schulz_approximates_the_polar_factor(G):
    """Output ~ U V^T: singular values in [0.6, 1.3], the same singular vectors, cosine > 0.9."""
    U, S, Vh = torch.linalg.svd(G.double(), full_matrices=False)
    polar = U @ Vh  # the exact orthogonal polar factor
    out = zeropower_via_newtonschulz5(G).double()
    sv = torch.linalg.svdvals(out)
    assert sv.min() > 0.6 and sv.max() < 1.3, sv
    # same singular vectors: U^T out V is diagonal
    inner = U.T @ out @ Vh.T  # (k, k)
    off_diagonal = inner - torch.diag(torch.diagonal(inner))
    assert off_diagonal.abs().max() < 1e-5
    assert cosine(out, polar) > 0.9


@pytest.mark.parametrize("shape", [(16, 16), (24, 8)])
def test_orthogonal_matrix_stays_itself(shape):
    """Q with orthonormal columns -> c Q with c in [0.6, 1.3]: every singular value is equal, so they stay equal."""
    Q, _ = torch.linalg.qr(torch.randn(shape, generator=torch.Generator().manual_seed(4)))
    out = zeropower_via_newtonschulz5(Q)
    assert cosine(out, Q) > 0.9999
    c = (out * Q).sum() / (Q * Q).sum()
    assert 0.6 < c < 1.3
    torch.testing.assert_close(out, c * Q, rtol=0, atol=1e-5)


def muon_reference(W, grads, lr, momentum, nesterov, weight_decay):
    """The update rule written out in float64, one step per gradient; returns W after each step."""
    W, buf, history = W.double().clone(), torch.zeros_like(W, dtype=torch.float64), []
    rows, cols = W.shape
    for g in grads:
        g = g.double()
        buf = momentum * buf + g
        update = g + momentum * buf if nesterov else buf
        O = quintic_via_svd(update)
        W = W * (1 - lr * weight_decay) - lr * max(1.0, rows / cols) ** 0.5 * O
        history.append(W.clone())
    return history


@pytest.mark.parametrize("shape", [(12, 4), (4, 12)])
@pytest.mark.parametrize("nesterov", [True, False])
def test_muon_steps_match_reference(shape, nesterov):
    g = torch.Generator().manual_seed(5)
    W0 = torch.randn(shape, generator=g)
    grads = [torch.randn(shape, generator=g) for _ in range(2)]
    lr, momentum, weight_decay = 0.1, 0.9, 0.5
    expected = muon_reference(W0, grads, lr, momentum, nesterov, weight_decay)
    p = torch.nn.Parameter(W0.clone())
    opt = Muon([p], lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    for grad, want in zip(grads, expected):
        p.grad = grad.clone()
        opt.step()
        torch.testing.assert_close(p.detach().double(), want, rtol=0, atol=1e-5)


def test_nesterov_changes_the_second_step():
    """Step 1 updates along (1 + momentum) g or g: the same after orthogonalising. Step 2 differs."""
    g = torch.Generator().manual_seed(6)
    W0 = torch.randn(6, 6, generator=g)
    grads = [torch.randn(6, 6, generator=g) for _ in range(2)]
    params = {}
    for nesterov in (True, False):
        p = torch.nn.Parameter(W0.clone())
        opt = Muon([p], lr=0.1, nesterov=nesterov)
        after = []
        for grad in grads:
            p.grad = grad.clone()
            opt.step()
            after.append(p.detach().clone())
        params[nesterov] = after
    torch.testing.assert_close(params[True][0], params[False][0], rtol=0, atol=1e-5)
    assert (params[True][1] - params[False][1]).abs().max() > 1e-3


def tiny_gpt():
    torch.manual_seed(0)
    return GPT(TINY)


def tiny_reward_model():
    torch.manual_seed(0)
    return RewardModel(GPTConfig(**{**TINY.__dict__, "bias": True}))  # biases too: they must go to AdamW


@pytest.mark.parametrize("make_model, decayed", [
    (tiny_gpt, {"transformer.wte.weight", "transformer.wpe.weight"}),   # lm_head is tied to wte
    (tiny_reward_model, {"gpt.transformer.wte.weight", "gpt.transformer.wpe.weight", "head.weight"}),
])
def test_make_muon_optimizers_splits_the_parameters(make_model, decayed):
    model = make_model()
    muon, adamw = make_muon_optimizers(model, matrix_lr=0.02, adam_lr=1e-3, weight_decay=0.1)
    assert isinstance(muon, Muon) and isinstance(adamw, torch.optim.AdamW)
    name = {id(p): n for n, p in model.named_parameters()}
    held = [name[id(p)] for opt in (muon, adamw) for group in opt.param_groups for p in group["params"]]
    # every trainable parameter exactly once
    assert sorted(held) == sorted(name.values())
    # Muon: exactly the 2-D matrices of the blocks (c_attn, c_proj, c_fc, c_proj in each layer)
    in_muon = {name[id(p)] for group in muon.param_groups for p in group["params"]}
    expected = {n for n, p in model.named_parameters() if ".h." in n and p.dim() == 2}
    assert in_muon == expected and len(expected) == 4 * TINY.n_layer
    # AdamW decays only its matrices
    adamw_decay = {name[id(p)] for group in adamw.param_groups if group["weight_decay"] > 0 for p in group["params"]}
    assert adamw_decay == decayed


def gpt_loss(model, batch):
    x, y = batch
    return model(x, y)[1]


def reward_loss(model, batch):
    idx, mask = batch
    r = model(idx, mask)  # (4,) rows 0, 2 are preferred to rows 1, 3
    return pairwise_loss(r[0::2], r[1::2])


@pytest.mark.parametrize("make_model, loss_fn", [(tiny_gpt, gpt_loss), (tiny_reward_model, reward_loss)])
@pytest.mark.parametrize("adam_lr", [1e-2, 0.0])
def test_a_few_steps_lower_the_loss(make_model, loss_fn, adam_lr):
    """With adam_lr = 0 only Muon moves the weights, and it alone must lower the loss."""
    model = make_model()
    g = torch.Generator().manual_seed(7)
    tokens = torch.randint(0, TINY.vocab_size, (4, TINY.block_size + 1), generator=g)
    if loss_fn is gpt_loss:
        batch = (tokens[:, :-1], tokens[:, 1:].contiguous())  # GPT.forward views the targets
    else:
        batch = (tokens[:, :-1], torch.ones(4, TINY.block_size, dtype=torch.long))
    optimizers = make_muon_optimizers(model, matrix_lr=0.02, adam_lr=adam_lr, weight_decay=0.0)
    wte = next(p for n, p in model.named_parameters() if n.endswith("wte.weight"))
    wte_before = wte.detach().clone()
    losses = []
    for _ in range(8):
        loss = loss_fn(model, batch)
        losses.append(loss.item())
        loss.backward()
        for opt in optimizers:
            opt.step()
            opt.zero_grad(set_to_none=True)
    assert losses[-1] < losses[0] - 0.05, losses
    # AdamW trains the embeddings; with adam_lr = 0 they must not move
    assert torch.equal(wte_before, wte.detach()) == (adam_lr == 0.0)



def test_newton_schulz_in_bf16_is_close_to_fp32_but_not_the_same():
    """Muon(ns_dtype=torch.bfloat16), what train_sft.py uses under bf16: the same direction, rounded."""
    g = torch.Generator().manual_seed(5)
    for shape in [(48, 16), (16, 64)]:
        G = torch.randn(*shape, generator=g)
        fp32, bf16 = zeropower_via_newtonschulz5(G), zeropower_via_newtonschulz5(G, dtype=torch.bfloat16)
        assert bf16.dtype == torch.float32 and not torch.equal(fp32, bf16)
        assert cosine(fp32, bf16) > 0.99
    p = torch.nn.Parameter(torch.randn(16, 8, generator=g))
    p.grad = torch.randn(16, 8, generator=g)
    before = p.detach().clone()
    Muon([p], lr=0.1, ns_dtype=torch.bfloat16).step()
    expected = before - 0.1 * 2 ** 0.5 * zeropower_via_newtonschulz5(p.grad * 1.95, dtype=torch.bfloat16)
    torch.testing.assert_close(p.detach(), expected)
