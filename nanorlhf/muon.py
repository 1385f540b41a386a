"""
Muon (Keller Jordan, 2024): momentum SGD whose update, for each weight matrix, is replaced
by the nearest orthogonal matrix before it is applied. This is the optimizer behind the
modded-nanogpt speedruns and karpathy/nanochat; as there, Muon trains the 2-D matrices
inside the transformer blocks and AdamW trains everything else.

    optimizers = make_muon_optimizers(model, matrix_lr=0.02, adam_lr=1e-3, weight_decay=0.1)
    loss.backward()
    for opt in optimizers: opt.step(); opt.zero_grad(set_to_none=True)

A training loop calls step and zero_grad on every optimizer in the list, and schedules the
learning rate of both: their peaks differ (0.02 for Muon, ~1e-3 for AdamW), so one schedule
scales each param group's own peak (train_sft.py).
"""
import torch

from nanorlhf.common import make_optimizer
from nanorlhf.model import Block


def zeropower_via_newtonschulz5(G, steps=5, dtype=torch.float32):
    """G (m, n) -> roughly U V^T, where G = U S V^T: the same singular vectors, singular values ~1.

    Why. A gradient matrix is usually dominated by a few directions (a few large singular
    values); a plain step moves the weights mostly along those and barely along the rest.
    Replacing S by (roughly) the identity moves every singular direction of the update at
    the same rate, so the rare directions learn as fast as the common ones.

    How. An SVD is slow on a GPU, so instead an odd polynomial is applied to X many times:

        X <- a X + b (X X^T) X + c (X X^T)^2 X  =  U (a S + b S^3 + c S^5) V^T

    which keeps U and V and maps each singular value s to p(s) = a s + b s^3 + c s^5. After
    scaling G by its Frobenius norm every s is in [0, 1]. The coefficients (a, b, c) =
    (3.4445, -4.7750, 2.0315) (modded-nanogpt) make p steep near 0 (slope a = 3.4), so small
    singular values grow fast, at the price of exactness: after 5 steps every s above about
    ||G||_F / 500 lands roughly in [0.7, 1.2], not exactly at 1. That is close enough for an
    update direction, and costs 15 matmuls.

    nanochat runs this in bf16 on a GPU; on a CPU float32 (the default `dtype`) is the fast one.
    """
    assert G.dim() == 2, f"Newton-Schulz needs a matrix, got shape {tuple(G.shape)}"
    a, b, c = (3.4445, -4.7750, 2.0315)
    X = G.to(dtype)
    tall = G.size(0) > G.size(1)
    if tall:  # work with the wide orientation, so the Gram matrix X X^T is the small one
        X = X.T  # (n, m), n < m
    # X = G / (||G||_F + eps): every singular value now in [0, 1]
    X = X / (X.norm() + 1e-7)
    for _ in range(steps):
        A = X @ X.T                # (k, k) Gram matrix, k = min(m, n)
        B = b * A + c * A @ A      # (k, k)
        # X <- a X + b A X + c A^2 X
        X = a * X + B @ X
    if tall:
        X = X.T  # back to (m, n)
    return X.to(G.dtype)


class Muon(torch.optim.Optimizer):
    """MomentUm Orthogonalized by Newton-Schulz, for 2-D parameters only.

    Per matrix W with gradient g, each step:

        buf    = momentum * buf + g
        update = g + momentum * buf   (nesterov)   or   buf
        O      = NewtonSchulz(update)                   # ~U V^T, see zeropower_via_newtonschulz5
        W      = W * (1 - lr * weight_decay) - lr * max(1, rows / cols)^0.5 * O
    """

    def __init__(self, params, lr=0.02, momentum=0.95, nesterov=True, ns_steps=5, weight_decay=0.0,
                 ns_dtype=torch.float32):
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, ns_steps=ns_steps,
                        weight_decay=weight_decay)
        super().__init__(params, defaults)
        self.ns_dtype = ns_dtype   # Newton-Schulz's precision: bf16 is 1.6x faster on a CPU with AVX-512 bf16
        for group in self.param_groups:
            for p in group["params"]:
                assert p.dim() == 2, f"Muon trains matrices only, got a parameter of shape {tuple(p.shape)}"

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                # buf = momentum * buf + g
                buf.mul_(momentum).add_(g)
                # nesterov: look one momentum step ahead, g + momentum * buf
                update = g.add(buf, alpha=momentum) if group["nesterov"] else buf
                update = zeropower_via_newtonschulz5(update, steps=group["ns_steps"], dtype=self.ns_dtype)
                # nn.Linear stores W as (rows, cols) = (fan_out, fan_in). A tall orthogonal O
                # (c_fc, c_attn) keeps ||x|| but spreads it over more outputs: output RMS =
                # sqrt(cols / rows) * input RMS. sqrt(rows / cols) undoes that; a wide O already
                # keeps the RMS of a typical input, so it is left alone (modded-nanogpt's rule).
                scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
                # decoupled weight decay (as in AdamW): W *= 1 - lr * wd
                p.mul_(1 - lr * wd)
                # W -= lr * scale * O
                p.add_(update, alpha=-lr * scale)
        return loss


def make_muon_optimizers(model, matrix_lr, adam_lr, weight_decay, betas=(0.9, 0.95), ns_dtype=torch.float32):
    """[Muon, AdamW] for a GPT (or anything holding nanorlhf.model.Blocks, like RewardModel).

    The rule: a trainable parameter that is 2-D and lives inside a transformer Block (the
    attention's c_attn, c_proj and the MLP's c_fc, c_proj) goes to Muon, at matrix_lr and
    weight_decay. Everything else goes to AdamW at adam_lr: the token and position
    embeddings (and the tied LM head, which is the same tensor), an untied LM head or the
    reward head, LayerNorm gains and all biases. As in nanorlhf/common.py: make_optimizer,
    AdamW decays only its matrices (the embeddings, heads), not vectors.

    Embeddings are lookups, not linear maps between activations, so orthogonalising their
    update means nothing: that is why they stay with AdamW.
    """
    in_block = {id(p) for m in model.modules() if isinstance(m, Block) for p in m.parameters()}
    params = [p for p in model.parameters() if p.requires_grad]  # a tied weight appears once
    matrices = [p for p in params if p.dim() == 2 and id(p) in in_block]
    others = [p for p in params if not (p.dim() == 2 and id(p) in in_block)]
    muon = Muon(matrices, lr=matrix_lr, weight_decay=weight_decay, ns_dtype=ns_dtype)
    return [muon, make_optimizer(others, adam_lr, weight_decay, betas)]
