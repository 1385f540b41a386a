"""
The GPTConfig options (rotary, norm, mlp, qk_norm, tie_head), each against a reference:
rotary against explicit 2x2 rotation matrices in float64, RMSNorm and ReLU^2 against their
formulas, the KV cache against full recomputation (tests/test_model.py's loop), and the
default config against the weights and logits of the GPT before the options existed.
"""
import math
from dataclasses import asdict, replace

import pytest
import torch
from torch.nn import functional as F

from nanorlhf.model import GPT, GPTConfig, apply_rotary, relu2, rms_norm, rotary_cos_sin
from nanorlhf.reward import RewardModel, pairwise_loss
from test_model import PAD, PROMPTS, assert_same_generation, first_ends, generate_naive, left_pad, make_model

SMALL = GPTConfig(block_size=16, vocab_size=32, n_layer=2, n_head=2, n_embd=16)
OPTIONS = {
    "rotary": dict(rotary=True),
    "rmsnorm": dict(norm="rmsnorm"),
    "relu2": dict(mlp="relu2"),
    "qk_norm": dict(qk_norm=True),
    "untied": dict(tie_head=False),
}
ALL = {key: value for option in OPTIONS.values() for key, value in option.items()}
EACH_AND_ALL = {**OPTIONS, "all": ALL}


def small_model(seed=0, **options):
    """A GPT of the SMALL config with GPT-2 init, in eval mode."""
    torch.manual_seed(seed)
    return GPT(replace(SMALL, **options)).eval()


# ---- defaults: today's network, exactly --------------------------------------------------

# the state_dict of GPT(SMALL) before the options existed (GPT-2's names; lm_head is wte)
SMALL_STATE = [
    ("transformer.wte.weight", (32, 16)), ("transformer.wpe.weight", (16, 16)),
    *[(f"transformer.h.{i}.{name}", shape) for i in range(2) for name, shape in [
        ("ln_1.weight", (16,)), ("attn.c_attn.weight", (48, 16)), ("attn.c_proj.weight", (16, 16)),
        ("ln_2.weight", (16,)), ("mlp.c_fc.weight", (64, 16)), ("mlp.c_proj.weight", (16, 64))]],
    ("transformer.ln_f.weight", (16,)), ("lm_head.weight", (32, 16)),
]
# GPTConfig as an old checkpoint stores it (asdict, before the options existed)
OLD_CONFIG = dict(block_size=16, vocab_size=32, n_layer=2, n_head=2, n_embd=16, dropout=0.0, bias=False)


def test_default_config_builds_the_same_network_as_before():
    model = small_model(seed=0)
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == SMALL_STATE
    assert model.lm_head.weight is model.transformer.wte.weight
    # wte + wpe + 2 x (two norm gains, c_attn, attn.c_proj, c_fc, mlp.c_proj) + ln_f
    block = 2 * 16 + 3 * 16 * 16 + 16 * 16 + 4 * 16 * 16 + 4 * 16 * 16
    assert model.num_params() == 32 * 16 + 16 * 16 + 2 * block + 16
    # an old checkpoint's config rebuilds the default network, and its weights load strictly
    assert GPTConfig(**OLD_CONFIG) == SMALL
    assert set(asdict(SMALL)) > set(OLD_CONFIG)  # the options are new fields, with defaults
    reloaded = small_model(seed=1)
    reloaded.load_state_dict(model.state_dict())
    idx = torch.tensor([[1, 5, 9, 30, 2, 7]])
    with torch.no_grad():
        logits, _ = model(idx)
        assert torch.equal(reloaded(idx)[0], logits)
    # the same seed gives the same weights and logits as model.py before the options
    # (commit f1d5b14), so nothing else draws from the random generator either
    before = torch.tensor([-0.04773194, -0.19739018, 0.09557099, 0.08458444, 0.07094241, 0.08366091])
    assert torch.allclose(logits[0, -1, :6], before, atol=1e-6)
    assert math.isclose(logits.double().sum().item(), 3.750266458, abs_tol=1e-5)


def test_unknown_norm_or_mlp_is_refused():
    with pytest.raises(ValueError, match="rmsnorm"):
        GPTConfig(norm="batchnorm")
    with pytest.raises(ValueError, match="relu2"):
        replace(SMALL, mlp="swiglu")  # replace() checks too
    with pytest.raises(ValueError, match="even"):
        GPTConfig(n_embd=12, n_head=4, rotary=True)  # head size 3: no pairs


# ---- rotary ------------------------------------------------------------------------------

def rotate_by_hand(x, pos, base=10000.0):
    """x (T, hs) float64 at positions pos -> each row times its block rotation matrix.

    Dimension i pairs with i + hs/2 and turns by pos * base^(-2i/hs).
    """
    T, hs = x.shape
    out = torch.empty_like(x)
    for t in range(T):
        R = torch.zeros(hs, hs, dtype=torch.float64)
        for i in range(hs // 2):
            a = pos[t] * base ** (-2 * i / hs)
            j = i + hs // 2
            R[i, i], R[i, j] = math.cos(a), -math.sin(a)
            R[j, i], R[j, j] = math.sin(a), math.cos(a)
        out[t] = R @ x[t]
    return out


def test_rotary_against_rotation_matrices_by_hand():
    torch.manual_seed(0)
    hs, pos = 8, [0, 1, 2, 5, 13, 100]
    x = torch.randn(2, 3, len(pos), hs, dtype=torch.float64)  # (B, nh, T, hs)
    cos, sin = rotary_cos_sin(torch.tensor(pos), hs)
    got = apply_rotary(x.float(), cos, sin)
    for b in range(2):
        for h in range(3):
            expected = rotate_by_hand(x[b, h], pos)
            assert torch.allclose(got[b, h].double(), expected, atol=1e-5)
    # per-row positions (B, T), as GPT.hidden computes them with left padding
    rows = torch.tensor([[0, 0, 0, 1], [0, 1, 2, 3]])
    cos, sin = rotary_cos_sin(rows, hs)
    got = apply_rotary(x[:, :, :4].float(), cos, sin)
    for b in range(2):
        assert torch.allclose(got[b, 0].double(), rotate_by_hand(x[b, 0, :4], rows[b].tolist()), atol=1e-5)


def test_rotary_scores_depend_only_on_the_distance():
    torch.manual_seed(0)
    hs = 16
    q, k = torch.randn(2, 1, 1, 1, hs).unbind(0)  # (1, 1, 1, hs) each

    def score(m, n):
        """q at position m . k at position n, after rotary."""
        qm = apply_rotary(q, *rotary_cos_sin(torch.tensor([m]), hs))
        kn = apply_rotary(k, *rotary_cos_sin(torch.tensor([n]), hs))
        return (qm * kn).sum().item()

    for m, n in [(5, 2), (3, 3), (0, 7)]:
        for shift in (1, 4, 30):
            assert math.isclose(score(m, n), score(m + shift, n + shift), abs_tol=1e-4)
    assert not math.isclose(score(5, 2), score(5, 3), abs_tol=1e-2)  # another distance, another score


def test_rotary_has_no_position_embedding():
    model = small_model(rotary=True)
    assert "wpe" not in model.transformer
    assert not any("wpe" in name for name in model.state_dict())
    assert model.num_params() == small_model().num_params() - 16 * 16
    assert model.num_params(non_embedding=True) == model.num_params()  # tied: wte is the output layer
    untied = small_model(**ALL)
    assert untied.num_params(non_embedding=True) == untied.num_params() - 32 * 16  # wte is only a lookup


def test_rotary_left_padding_changes_nothing():
    model = make_model(rotary=True)
    seen = []  # the q of layer 0, as the attention sees it
    attend = model.transformer.h[0].attn.attend
    def spy(q, k, v, attn_mask):
        seen.append(q)
        return attend(q, k, v, attn_mask)
    model.transformer.h[0].attn.attend = spy
    idx, mask = left_pad(PROMPTS)
    with torch.no_grad():
        batch_logits, _ = model(idx, attention_mask=mask)
        for i, prompt in enumerate(PROMPTS):
            alone, _ = model(torch.tensor([prompt]))  # positions 0..T-1, no mask
            assert torch.allclose(batch_logits[i, -len(prompt):], alone[0], atol=1e-5)
            # the rotations come from the per-row positions, not the columns. (The logits
            # cannot tell: shifting every real token by the same number of columns leaves
            # their distances, and so their scores, unchanged.)
            assert torch.allclose(seen[0][i, :, -len(prompt):], seen[-1][0], atol=1e-5)


# ---- every option, alone and together ----------------------------------------------------

@pytest.mark.parametrize("options", EACH_AND_ALL.values(), ids=EACH_AND_ALL.keys())
def test_kv_cache_matches_full_recomputation(options):
    model = make_model(**options)
    idx, mask = left_pad(PROMPTS)
    out, out_mask, hidden = model.generate(idx, 12, temperature=0, attention_mask=mask, return_hidden=True)
    ref_out, ref_mask, ref_logits = generate_naive(model, idx, 12, -1, PAD, mask)
    assert torch.equal(out, ref_out) and torch.equal(out_mask, ref_mask)
    assert torch.allclose(model.lm_head(hidden), ref_logits, atol=1e-5)
    # with an EOS that rows write at different steps: PAD after it, in the cache too
    eos = max(range(model.config.vocab_size), key=lambda v: len(set(first_ends(out, v))))
    assert len(set(first_ends(out, eos))) >= 2
    out, out_mask = model.generate(idx, 12, temperature=0, eos_id=eos, pad_id=PAD, attention_mask=mask)
    assert_same_generation(out, out_mask, *generate_naive(model, idx, 12, eos, PAD, mask)[:2])


@pytest.mark.parametrize("options", EACH_AND_ALL.values(), ids=EACH_AND_ALL.keys())
def test_bf16_autocast_on_cpu_runs_with_fp32_attention(options):
    model = GPT(replace(SMALL, **options))  # GPT-2 init, train mode
    idx, mask = left_pad([[3, 14, 15, 9, 2, 6], [5, 25, 7]], pad_id=0)
    with torch.no_grad():
        reference = model.hidden(idx, attention_mask=mask)
    seen = []
    attend = model.transformer.h[0].attn.attend
    def spy(q, k, v, attn_mask):
        seen.append((q.dtype, k.dtype, v.dtype))
        return attend(q, k, v, attn_mask)
    model.transformer.h[0].attn.attend = spy
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model.hidden(idx, attention_mask=mask)
        loss = F.cross_entropy(model.lm_head(low).flatten(0, 1).float(), idx.flatten())
        loss.backward()  # the training path runs too
        out, _ = model.eval().generate(idx, 4, temperature=0, attention_mask=mask)
    assert len(seen) == 1 + 1 + 3 and set(seen) == {(torch.float32,) * 3}  # forward, prefill + 3 steps
    assert (low.float() - reference).abs().max() < 0.1  # hidden states have entries of order 1
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert out.shape == (2, 4)


# ---- each option against its formula -----------------------------------------------------

def test_rms_norm_by_hand():
    # [3, 4]: mean(x^2) = 12.5, sqrt = 3.5355 -> [0.8485, 1.1314]
    assert torch.allclose(rms_norm(torch.tensor([3.0, 4.0])), torch.tensor([0.848528, 1.131371]), atol=1e-5)
    # every ln_1, ln_2 and ln_f of the model computes x / sqrt(mean(x^2) + 1e-5) * weight
    model = make_model(norm="rmsnorm")
    norms = [model.transformer.h[0].ln_1, model.transformer.h[1].ln_2, model.transformer.ln_f]
    assert all(set(dict(n.named_parameters())) == {"weight"} for n in norms)
    seen = []
    for n in norms:
        n.register_forward_hook(lambda module, args, out: seen.append((args[0], module.weight, out)))
    with torch.no_grad():
        model(torch.tensor([[1, 2, 3, 4, 5]]))
    assert len(seen) == 3
    for x, weight, y in seen:
        x, weight = x.double(), weight.double()
        for row, out in zip(x.reshape(-1, x.size(-1)), y.reshape(-1, y.size(-1))):
            rms = math.sqrt(sum(v * v for v in row.tolist()) / len(row) + 1e-5)
            assert torch.allclose(out.double(), row / rms * weight, atol=1e-5)
            # and not a LayerNorm: the residual stream's mean is not 0, so the two differ
            assert not torch.allclose(out, F.layer_norm(row, row.shape, weight).to(out.dtype), atol=1e-3)


def test_relu2_by_hand_and_in_the_mlp():
    x = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    assert torch.equal(relu2(x), torch.tensor([0.0, 0.0, 0.25, 4.0]))
    torch.manual_seed(0)
    x = torch.randn(2, 5, 32)
    for options, activation in [({}, F.gelu), ({"mlp": "relu2"}, lambda h: torch.relu(h) ** 2)]:
        mlp = make_model(**options).transformer.h[0].mlp
        with torch.no_grad():
            assert torch.allclose(mlp(x), mlp.c_proj(activation(mlp.c_fc(x))), atol=1e-5)


@pytest.mark.parametrize("options", [{"qk_norm": True}, ALL], ids=["qk_norm", "all"])
def test_qk_norm_gives_unit_rms_per_head(options):
    seen = {}
    for qk_norm in (False, True):
        model = make_model(**{**options, "qk_norm": qk_norm})
        attend = model.transformer.h[1].attn.attend
        def spy(q, k, v, attn_mask, qk_norm=qk_norm, attend=attend):
            seen[qk_norm] = q, k, v  # what the attention sees
            return attend(q, k, v, attn_mask)
        model.transformer.h[1].attn.attend = spy
        idx, mask = left_pad(PROMPTS)
        with torch.no_grad():
            model(idx, attention_mask=mask)
    rms = lambda t: t.pow(2).mean(dim=-1).sqrt()  # (B, nh, T): one RMS per head and token
    ones = torch.ones(4, 2, 10)
    q, k, v = seen[True]
    assert torch.allclose(rms(q), ones, atol=1e-4) and torch.allclose(rms(k), ones, atol=1e-4)
    assert not torch.allclose(rms(v), ones, atol=0.1)  # v is left alone
    q, k, v = seen[False]
    assert not torch.allclose(rms(q), ones, atol=0.1)  # without the option, q is not unit RMS


def test_untied_head_is_its_own_matrix_and_both_train():
    model = small_model(tie_head=False).train()
    wte, head = model.transformer.wte.weight, model.lm_head.weight
    assert head is not wte and head.data_ptr() != wte.data_ptr()
    assert abs(head.std().item() - 0.001) < 0.0003 and abs(wte.std().item() - 0.02) < 0.003
    assert model.num_params() == small_model().num_params() + 32 * 16
    before = [wte.detach().clone(), head.detach().clone()]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    idx, targets = torch.randint(0, 32, (2, 4, 12), generator=torch.Generator().manual_seed(0))
    opt.zero_grad()
    model(idx, targets)[1].backward()
    assert wte.grad.abs().sum() > 0 and head.grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(wte, before[0]) and not torch.equal(head, before[1])
    assert not torch.allclose(wte, head, atol=1e-3)  # two matrices, trained apart
    # untying only re-parametrises: the tied model's weights in both give the same logits
    tied = make_model(seed=0)
    untied = make_model(seed=1, tie_head=False)
    untied.load_state_dict(tied.state_dict())  # lm_head.weight and wte.weight: the same values
    idx, mask = left_pad(PROMPTS)
    with torch.no_grad():
        assert torch.allclose(untied(idx, attention_mask=mask)[0], tied(idx, attention_mask=mask)[0], atol=1e-5)


@pytest.mark.parametrize("name", ["rotary", "rmsnorm", "relu2", "qk_norm"])
def test_each_option_changes_the_output_of_the_same_weights(name):
    """The default model's weights loaded into a model with one option give other logits.
    (tie_head=False computes the same function of the same weights: see the test above.)"""
    default = make_model(seed=0)
    option = make_model(seed=1, **OPTIONS[name])
    weights = default.state_dict()
    if name == "rotary":  # no wpe there: compare with the default model without positions
        weights.pop("transformer.wpe.weight")
        with torch.no_grad():
            default.transformer.wpe.weight.zero_()
    option.load_state_dict(weights)  # strict: the same names and shapes
    idx, mask = left_pad(PROMPTS)
    with torch.no_grad():
        logits, _ = option(idx, attention_mask=mask)
        assert not torch.allclose(logits, default(idx, attention_mask=mask)[0], atol=1e-2)


# ---- training with everything on ---------------------------------------------------------

def test_all_options_train_and_the_reward_model_runs():
    model = small_model(**ALL).train()
    idx, targets = torch.randint(0, 32, (2, 8, 16), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        _, loss = model(idx, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert abs(losses[0] - math.log(32)) < 0.05   # the untied head starts near uniform
    assert losses[-1] < 0.6 * losses[0]
    # the reward model: a GPT trunk with every option, forward and backward on left-padded pairs
    torch.manual_seed(0)
    rm = RewardModel(replace(SMALL, **ALL))
    batch, mask = left_pad([[3, 14, 15, 9], [5, 25, 7, 1, 2], [8, 9], [26, 13, 11]], pad_id=0)
    scores = rm(batch, mask)  # (4,)
    pairwise_loss(scores[0::2], scores[1::2]).backward()
    assert scores.shape == (4,) and torch.isfinite(scores).all()
    block = rm.gpt.transformer.h[0]
    for p in (rm.head.weight, block.attn.c_attn.weight, block.ln_1.weight, rm.gpt.transformer.wte.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0
