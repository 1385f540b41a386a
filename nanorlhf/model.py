"""
A GPT-2 style decoder, written out by hand (after karpathy/nanoGPT's model.py).

Token and position embeddings go through n_layer Blocks, each "x + attention(LN(x))" then
"x + MLP(LN(x))" (pre-LN, as in GPT-2), then a final LayerNorm and a linear map back to
the vocabulary that shares its weights with the token embedding (weight tying).

Every stage of nanorlhf uses this one network: SFT trains it, the reward model and the PPO
value model read its final hidden states (`GPT.hidden`), and PPO samples from it
(`GPT.generate`).

Padding. Prompts in a batch have different lengths and are LEFT-padded so that they all
end at the same column. `attention_mask` (B, T) is 1 on real tokens and 0 on PAD. With a
mask, a token's position id is the number of real tokens before it (so every prompt
starts at position 0 wherever its first real token sits) and no query ever attends to a
PAD key; a PAD query attends to itself only, so nothing becomes NaN.

    mask      0 0 1 1 1        (two PAD, then three real tokens)
    position  0 0 0 1 2

Options. GPTConfig has five switches for the choices modern small GPTs make (all five are
in karpathy/nanochat's GPT). Each is off by default: the default network is exactly
GPT-2's layout, parameter names and all, so that GPT-2's weights load into it
(GPT.from_pretrained, with bias=True and GPT-2's tanh GELU, mlp="gelu_tanh"):

    rotary=True        rotate q and k by their positions (RoPE, Su et al. 2021); no wpe
    norm="rmsnorm"     RMSNorm (Zhang & Sennrich 2019) in place of every LayerNorm
    mlp="relu2"        ReLU squared in the MLP (So et al. 2021, "Primer") in place of GELU
    qk_norm=True       every head's q and k scaled to unit RMS before attention
    tie_head=False     lm_head gets its own matrix instead of sharing wte's
"""
import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
from torch.nn import functional as F


NORMS = ("layernorm", "rmsnorm")
MLPS = ("gelu", "gelu_tanh", "relu2")


@dataclass
class GPTConfig:
    block_size: int = 128   # longest sequence (number of position embeddings)
    vocab_size: int = 1024  # set from the tokenizer
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False      # biases in Linears and LayerNorms (GPT-2 had them)
    # the options (module docstring); the defaults are GPT-2's
    rotary: bool = False       # rotary position embeddings on q and k instead of a learned wpe
    norm: str = "layernorm"    # "layernorm" or "rmsnorm"
    mlp: str = "gelu"          # the MLP's activation: "gelu", "gelu_tanh" (GPT-2's approximation) or "relu2"
    qk_norm: bool = False      # scale each head's q and k to unit RMS before attention
    tie_head: bool = True      # lm_head shares wte's matrix (False: a matrix of its own)

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ValueError(f"GPTConfig.norm must be one of {NORMS}, got {self.norm!r}")
        if self.mlp not in MLPS:
            raise ValueError(f"GPTConfig.mlp must be one of {MLPS}, got {self.mlp!r}")
        if self.rotary and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"rotary turns pairs of dimensions: the head size "
                             f"{self.n_embd // self.n_head} (n_embd / n_head) must be even")


class LayerNorm(nn.Module):
    """LayerNorm (Ba et al. 2016) over the last dimension, with an optional bias."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        # y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


def rms_norm(x, eps=1e-5):
    """x / sqrt(mean(x^2) + eps) over the last dimension -> x's shape and dtype.

    [3., 4.] -> [0.8485, 1.1314]     (mean(x^2) = 12.5; its square root 3.536 becomes 1)

    Computed in fp32: in bf16 the mean of the squares would keep only 3 digits.
    """
    xf = x.float()
    # y = x / sqrt(mean(x^2) + eps)
    return (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)


class RMSNorm(nn.Module):
    """RMSNorm (Zhang & Sennrich 2019): LayerNorm without subtracting the mean, and no bias.

    nanochat drops the gain as well. We keep `weight` (ones at init): it costs n_embd
    numbers per norm and keeps the parameter names (ln_1.weight, ...) of the LayerNorm
    it replaces, so checkpoints and optimizer groups look the same.
    """

    def __init__(self, ndim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))

    def forward(self, x):
        # y = x / sqrt(mean(x^2) + eps) * weight
        return rms_norm(x) * self.weight


def make_norm(config):
    """The normalisation config.norm names, over n_embd: LayerNorm (GPT-2) or RMSNorm."""
    if config.norm == "rmsnorm":
        return RMSNorm(config.n_embd)
    return LayerNorm(config.n_embd, bias=config.bias)


def rotary_cos_sin(pos, head_size, base=10000.0):
    """Position ids (B, T) or (T,) -> cos, sin of every rotation angle, (B, 1, T, hs/2) or (1, T, hs/2).

    Pair i of a head turns by the angle pos * theta_i: the first pairs turn fast (one
    radian per position), the last ones slowly, so together they tell near from far.
    The 1 is the head dimension: every head turns its pairs by the same angles.
    """
    # theta_i = base^(-2i / hs),  i = 0 .. hs/2 - 1
    i = torch.arange(head_size // 2, device=pos.device, dtype=torch.float32)
    theta = base ** (-2 * i / head_size)       # (hs/2,)
    angle = pos[..., None].float() * theta     # (B, T, hs/2) or (T, hs/2)
    return angle.cos().unsqueeze(-3), angle.sin().unsqueeze(-3)


def apply_rotary(x, cos, sin):
    """Rotate x (B, nh, T, hs) pair by pair -> (B, nh, T, hs); cos, sin from rotary_cos_sin.

    Dimension i pairs with i + hs/2 (the halves layout, as in nanochat and GPT-NeoX), and
    the pair (x1, x2) at angle a turns as a 2-D vector:

        [y1]   [cos a  -sin a] [x1]
        [y2] = [sin a   cos a] [x2]

    A query at position m and a key at position n then score
    (R_m q) . (R_n k) = q . (R_m^T R_n k) = q . (R_(n-m) k): only their distance n - m
    matters (Su et al. 2021), and the attention stays the same under a shift of both.
    """
    x1, x2 = x.chunk(2, dim=-1)  # (B, nh, T, hs/2) each
    # y1 = x1 cos a - x2 sin a,  y2 = x1 sin a + x2 cos a
    y1 = x1 * cos - x2 * sin
    y2 = x1 * sin + x2 * cos
    return torch.cat([y1, y2], dim=-1).to(x.dtype)  # (B, nh, T, hs); cos, sin are fp32


class KVCache:
    """The keys and values of every layer for the tokens seen so far.

    When generating, the keys and values of earlier tokens never change (attention is
    causal), so each new token computes only its own and attends to the stored ones:
    one position per step instead of the whole sequence.
    """

    def __init__(self, config, batch_size, max_len, device, dtype):
        hs = config.n_embd // config.n_head
        shape = (config.n_layer, batch_size, config.n_head, max_len, hs)
        self.k = torch.zeros(shape, device=device, dtype=dtype)  # (L, B, nh, max_len, hs)
        self.v = torch.zeros(shape, device=device, dtype=dtype)  # (L, B, nh, max_len, hs)
        self.key_mask = torch.zeros(batch_size, max_len, dtype=torch.bool, device=device)
        self.n_real = torch.zeros(batch_size, dtype=torch.long, device=device)  # real tokens per row
        self.length = 0  # columns filled

    def add_tokens(self, real):
        """Note which of the T new tokens are real (B, T) -> mask of every key so far (B, length+T)."""
        T = real.size(1)
        self.key_mask[:, self.length:self.length + T] = real
        self.n_real += real.sum(dim=1)
        return self.key_mask[:, :self.length + T]

    def update(self, layer, k, v):
        """Store the new keys/values of `layer` -> all keys/values so far (B, nh, length+T, hs)."""
        T = k.size(2)
        self.k[layer, :, :, self.length:self.length + T] = k
        self.v[layer, :, :, self.length:self.length + T] = v
        return self.k[layer, :, :, :self.length + T], self.v[layer, :, :, :self.length + T]


def attention_mask_4d(key_mask, T):
    """Which keys each of the last T queries may attend to -> bool (B, 1, T, Tk).

    key_mask (B, Tk) is True on real tokens; the queries are the last T of the Tk columns.
    Query i sees key j if j is not in its future (causal) and is a real token, and always
    sees itself, so a PAD query has one key and its softmax is not NaN.
    """
    Tk = key_mask.size(1)
    q_col = torch.arange(Tk - T, Tk, device=key_mask.device)[:, None]  # (T, 1)
    k_col = torch.arange(Tk, device=key_mask.device)[None, :]          # (1, Tk)
    allowed = ((k_col <= q_col) & key_mask[:, None, :]) | (k_col == q_col)  # (B, T, Tk)
    return allowed[:, None]  # (B, 1, T, Tk), the same for every head


class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        # query, key and value projections for all heads in one matmul
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.qk_norm = config.qk_norm

    def forward(self, x, attn_mask=None, kv_cache=None, layer=None, cos_sin=None):
        """x (B, T, C) -> (B, T, C). cos_sin: the rotary angles of these T tokens (rotary only)."""
        B, T, C = x.size()  # batch, sequence length, n_embd
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if cos_sin is not None:  # rotary: q and k turned by their positions' angles
            q, k = apply_rotary(q, *cos_sin), apply_rotary(k, *cos_sin)
        if self.qk_norm:
            # q, k <- q / rms(q), k / rms(k) per head: every score q.k / sqrt(hs) then lies in
            # [-sqrt(hs), sqrt(hs)], so no logit can blow up (nanochat; Dehghani et al. 2023).
            # After rotary as in nanochat, though a rotation keeps the RMS: either order is the same
            q, k = rms_norm(q), rms_norm(k)
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)  # (B, nh, Tk, hs): cached keys + these T
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            # under bf16 autocast on a CPU, torch's attention kernel is slower than in fp32 (its
            # backward 5x, measured with nanorlhf/bench.py): attention in fp32, the matmuls around it in bf16
            with torch.autocast("cpu", enabled=False):
                y = self.attend(q.float(), k.float(), v.float(), attn_mask)
        else:
            y = self.attend(q, k, v, attn_mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C) heads side by side
        return self.resid_dropout(self.c_proj(y))


    def attend(self, q, k, v, attn_mask):
        """softmax(q k^T / sqrt(hs)) v, with the causal and padding mask: (B, nh, T, hs) -> (B, nh, T, hs)."""
        dropout_p = self.dropout if self.training else 0.0
        if attn_mask is None:  # plain causal: torch's fused kernel skips the masked half
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)


def gelu_tanh(x):
    """GPT-2's GELU: the tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return F.gelu(x, approximate="tanh")


def relu2(x):
    """ReLU squared (So et al. 2021, "Primer"): [-1., 0.5, 2.] -> [0., 0.25, 4.]"""
    # y = max(0, x)^2
    return F.relu(x).square()


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.activation = {"gelu": F.gelu, "gelu_tanh": gelu_tanh, "relu2": relu2}[config.mlp]
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.activation(self.c_fc(x))))


class Block(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.ln_1 = make_norm(config)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = make_norm(config)
        self.mlp = MLP(config)

    def forward(self, x, attn_mask=None, kv_cache=None, layer=None, cos_sin=None):
        x = x + self.attn(self.ln_1(x), attn_mask, kv_cache, layer, cos_sin)
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.config = config
        modules = dict(wte=nn.Embedding(config.vocab_size, config.n_embd))
        if not config.rotary:  # learned positions (GPT-2); rotary turns q and k instead
            modules["wpe"] = nn.Embedding(config.block_size, config.n_embd)
        modules.update(drop=nn.Dropout(config.dropout),
                       h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                       ln_f=make_norm(config))
        self.transformer = nn.ModuleDict(modules)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_head:
            # weight tying (Press & Wolf 2017): one matrix embeds tokens and scores them
            self.transformer.wte.weight = self.lm_head.weight
        # GPT-2 init: N(0, 0.02); each residual projection scaled by 1/sqrt(2 n_layer) so
        # the residual stream's variance does not grow with depth (2 additions per Block)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        if not config.tie_head:
            # an untied head starts near zero, N(0, 0.001) as in nanochat (whose first version
            # used zeros): every logit starts near 0, so the first predictions are uniform
            torch.nn.init.normal_(self.lm_head.weight, mean=0.0, std=0.001)

    @classmethod
    def from_pretrained(cls, path):
        """GPT-2 (any size) from a local Hugging Face folder: config.json and model.safetensors
        (read with the safetensors package, if installed) or pytorch_model.bin (read with
        torch.load(weights_only=True)). Nothing is downloaded. GPT-2 stores its Linear layers as
        Conv1D, (in, out): those weights are transposed into nn.Linear's (out, in)."""
        import json
        import os
        with open(os.path.join(path, "config.json")) as f:
            hf = json.load(f)
        if hf.get("model_type") != "gpt2":
            raise ValueError(f"{path}: model_type {hf.get('model_type')!r}; only GPT-2 checkpoints load here")
        if hf.get("layer_norm_epsilon", 1e-5) != 1e-5:
            raise ValueError(f"{path}: layer_norm_epsilon {hf['layer_norm_epsilon']}; this GPT uses 1e-5")
        activation = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}.get(
            hf.get("activation_function", "gelu_new"))
        if activation is None:
            raise ValueError(f"{path}: activation {hf['activation_function']!r} is not GELU")
        config = GPTConfig(block_size=hf["n_positions"], vocab_size=hf["vocab_size"], n_layer=hf["n_layer"],
                           n_head=hf["n_head"], n_embd=hf["n_embd"], bias=True, mlp=activation)
        if os.path.exists(os.path.join(path, "model.safetensors")):
            try:
                from safetensors.torch import load_file
            except ImportError:
                raise ValueError(f"{path} holds model.safetensors: `pip install safetensors` to read it") from None
            hf_state = load_file(os.path.join(path, "model.safetensors"))
        else:
            hf_state = torch.load(os.path.join(path, "pytorch_model.bin"), map_location="cpu", weights_only=True)
        model = cls(config)
        conv1d = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
        ours = model.state_dict()
        for key, value in hf_state.items():
            key = key if key.startswith(("transformer.", "lm_head.")) else "transformer." + key
            if key.endswith((".attn.bias", ".attn.masked_bias")) or key not in ours:   # causal-mask buffers
                continue
            if key.endswith(conv1d):
                value = value.t()
            if ours[key].shape != value.shape:
                raise ValueError(f"{path}: {key} has shape {tuple(value.shape)}, expected {tuple(ours[key].shape)}")
            with torch.no_grad():
                ours[key].copy_(value)
        missing = [k for k in ours if k != "lm_head.weight"
                   and not any(k in (h, "transformer." + h) for h in hf_state)]
        if missing:
            raise ValueError(f"{path}: no weights for {missing[:3]}")
        return model

    @torch.no_grad()
    def resize_vocab(self, vocab_size):
        """Grow the token embedding (and an untied head) to vocab_size rows, for new tokens such as
        the chat template's specials. The old rows stay as they were, so the old tokens' logits do
        not change; each new row starts at the mean of the old ones (Hewitt 2021), so a new token
        scores like an average token instead of dominating the softmax or never being written."""
        old = self.transformer.wte.weight                  # (V_old, C)
        if vocab_size < old.size(0):
            raise ValueError(f"resize_vocab only grows the vocabulary: {vocab_size} < {old.size(0)}")
        grow = lambda w: torch.cat([w, w.mean(0, keepdim=True).expand(vocab_size - w.size(0), -1)])   # (V, C)
        self.transformer.wte = nn.Embedding(vocab_size, self.config.n_embd).to(old.device)
        self.transformer.wte.weight.copy_(grow(old))
        head = self.lm_head.weight
        self.lm_head = nn.Linear(self.config.n_embd, vocab_size, bias=False).to(old.device)
        if self.config.tie_head:
            self.transformer.wte.weight = self.lm_head.weight
            self.lm_head.weight.copy_(grow(old))
        else:
            self.lm_head.weight.copy_(grow(head))
        self.config = replace(self.config, vocab_size=vocab_size)

    def crop_block_size(self, block_size):
        """Keep only the first block_size learned positions (nanoGPT's crop_block_size): GPT-2's 1024
        are more than short chats need, and a smaller block_size is what the checkpoint then says."""
        if block_size > self.config.block_size:
            raise ValueError(f"crop_block_size only shrinks: {block_size} > {self.config.block_size}")
        if "wpe" in self.transformer:
            self.transformer.wpe = nn.Embedding.from_pretrained(self.transformer.wpe.weight[:block_size].clone(),
                                                                freeze=False)
        self.config = replace(self.config, block_size=block_size)

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding=False):
        """Number of parameters (a tied wte/lm_head counted once).

        non_embedding=True counts only the weights used in matmuls (what a FLOP estimate
        needs): it drops the lookup tables, wpe and, when lm_head is untied, wte. (Tied,
        wte is also the output layer, so it stays.)
        """
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            if "wpe" in self.transformer:
                n -= self.transformer.wpe.weight.numel()
            if not self.config.tie_head:
                n -= self.transformer.wte.weight.numel()
        return n

    def hidden(self, idx, attention_mask=None, kv_cache=None):
        """idx (B, T) -> final hidden states after ln_f (B, T, n_embd).

        attention_mask (B, T) marks real tokens (1) and PAD (0); see the module docstring.
        With a kv_cache, idx holds only the new tokens and the cache supplies the rest.
        """
        B, T = idx.size()
        if attention_mask is None and kv_cache is None:
            pos = torch.arange(T, device=idx.device)  # (T,)
            attn_mask = None  # plain causal attention
        else:
            real = torch.ones_like(idx, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
            n_before = 0 if kv_cache is None else kv_cache.n_real[:, None]  # (B, 1) real tokens cached
            # position = number of real tokens before this one = cumsum(mask) - 1, PAD clamped at 0
            pos = (n_before + torch.cumsum(real, dim=1) - 1).clamp(min=0)  # (B, T)
            key_mask = real if kv_cache is None else kv_cache.add_tokens(real)  # (B, Tk)
            attn_mask = attention_mask_4d(key_mask, T)  # (B, 1, T, Tk)
        assert pos.max() < self.config.block_size, f"position {pos.max()} >= block_size {self.config.block_size}"
        x = self.transformer.wte(idx)  # (B, T, C)
        cos_sin = None
        if self.config.rotary:  # positions enter every attention layer, as rotations of q and k
            cos_sin = rotary_cos_sin(pos, self.config.n_embd // self.config.n_head)
        else:  # GPT-2: a learned vector per position, added to the token's
            x = x + self.transformer.wpe(pos)  # (B, T, C)
        x = self.transformer.drop(x)
        for layer, block in enumerate(self.transformer.h):
            x = block(x, attn_mask, kv_cache, layer, cos_sin)
        if kv_cache is not None:
            kv_cache.length += T
        return self.transformer.ln_f(x)  # (B, T, C)

    def forward(self, idx, targets=None, attention_mask=None, kv_cache=None):
        """idx (B, T) -> (logits (B, T, vocab_size), loss or None).

        targets (B, T): the next token at every position, -1 where nothing is to be
        predicted (PAD, or the prompt during SFT); loss = mean cross-entropy over the rest.
        """
        x = self.hidden(idx, attention_mask, kv_cache)
        logits = self.lm_head(x)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, eos_id=None, pad_id=None,
                 attention_mask=None, generator=None, return_hidden=False):
        """Continue each row of idx (B, T) -> new tokens (B, R), their mask (B, R).

        Prompts may be LEFT-padded (attention_mask (B, T) marks the real tokens). With
        eos_id, a row that has written eos_id writes pad_id from then on, and the loop
        stops once every row is done, so R <= max_new_tokens is the longest response. The
        mask is 1 on each row's real tokens: all of them up to and including its EOS.
        temperature 0 is greedy (argmax); top_k keeps the k most likely tokens; `generator`
        (a torch.Generator) makes sampling reproducible. With return_hidden=True also
        returns the final hidden states each token was sampled from, (B, R, n_embd):
        lm_head of them gives those logits, a value head their values.

        The prompt is run once (prefill) to fill the KV cache; then one token per step.
        """
        if eos_id is not None and pad_id is None:
            raise ValueError("generate: pass pad_id along with eos_id (it fills the rows that ended)")
        B, T = idx.size()
        if max_new_tokens < 1:
            raise ValueError(f"generate: max_new_tokens must be at least 1, got {max_new_tokens}")
        if attention_mask is None:
            attention_mask = torch.ones_like(idx)
        longest = int(attention_mask.sum(dim=1).max())
        if longest + max_new_tokens > self.config.block_size:
            raise ValueError(f"prompt of {longest} tokens + {max_new_tokens} new > block_size "
                             f"{self.config.block_size}")
        dtype = self.lm_head.weight.dtype
        kv_cache = KVCache(self.config, B, T + max_new_tokens, idx.device, dtype)
        x = self.hidden(idx, attention_mask, kv_cache)    # prefill: (B, T, C)
        h = x[:, -1, :]                                    # (B, C) left padding: last column is real
        done = torch.zeros(B, dtype=torch.bool, device=idx.device)
        new_tokens, real, step_hidden = [], [], []
        for step in range(max_new_tokens):
            step_hidden.append(h)
            logits = self.lm_head(h)  # (B, V)
            next_token = sample_next(logits, temperature, top_k, generator)  # (B,)
            is_real = ~done  # the EOS itself is real; what comes after it is PAD
            if eos_id is not None:
                next_token = torch.where(done, pad_id, next_token)
                done = done | (next_token == eos_id)
            new_tokens.append(next_token)
            real.append(is_real)
            if done.all() or step == max_new_tokens - 1:
                break
            h = self.hidden(next_token[:, None], is_real[:, None].long(), kv_cache)[:, -1, :]  # (B, C)
        tokens, mask = torch.stack(new_tokens, dim=1), torch.stack(real, dim=1).long()  # (B, R) each
        if return_hidden:
            return tokens, mask, torch.stack(step_hidden, dim=1)
        return tokens, mask


def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    """logits (B, V) -> next token ids (B,). temperature 0 = argmax."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, [-1]]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = F.softmax(logits, dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)
