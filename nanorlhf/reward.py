"""
The reward model: the SFT network with its unembedding replaced by one number.

A labeler ranks K responses to a prompt. Bradley-Terry (1952) models the chance that
response w is preferred to response l as

    P(w > l) = sigmoid(r(x, y_w) - r(x, y_l))

so fitting r by maximum likelihood means minimising -log sigmoid(r_w - r_l) over the
labeled pairs: `pairwise_loss`. Only differences of r matter, so after training we shift
and scale r so the SFT model's own responses score mean 0 and standard deviation 1.

    ranking_to_pairs([2, 0, 1])  ->  [(2, 0), (2, 1), (0, 1)]     # best first -> (winner, loser)
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from nanorlhf.chat import chat_batch
from nanorlhf.model import GPT


def pairwise_loss(r_w, r_l, weights=None):
    """Mean of -log sigmoid(r_w - r_l) over the pairs. r_w, r_l: (N,) scores of winners, losers.

    weights (N,), optional: each pair's weight, mean 1 (comparison_batch's make each prompt count once).
    """
    # loss = -1/N sum w * log sigmoid(r_w - r_l); logsigmoid is the numerically stable form
    losses = -F.logsigmoid(r_w - r_l)
    return losses.mean() if weights is None else (weights * losses).mean()


def thumb_loss(r, up, level=0.0):
    """Mean of -log sigmoid(r - c) over thumbs up and -log sigmoid(c - r) over thumbs down.

    r (N,): scores of the thumbed responses; up (N,): 1.0 for a thumb up, 0.0 for down; c = level.
    A thumb is a comparison against a reference answer of score c: up says "better than c",
    down "worse than c", with the Bradley-Terry probability sigmoid(r - c). c may stay 0: the
    reward head has a bias, which learns where the labelers' bar lies.
    thumb_loss(tensor([0.0, 2.0]), tensor([1.0, 0.0])) -> (log 2 + log(1 + e^2)) / 2 = 1.41
    """
    # +1 for up, -1 for down: loss = -log sigmoid(sign * (r - c))
    sign = 2 * up - 1
    return -F.logsigmoid(sign * (r - level)).mean()


def thumb_targets(records):
    """The thumbs of a batch of records, as comparison_batch lays out their responses ->
    index (U,) of each thumbed response, up (U,) 1.0 for up and 0.0 for down."""
    index, up, offset = [], [], 0
    for record in records:
        if "thumb" in record:
            index.append(offset)
            up.append(record["thumb"])
        offset += len(record["responses"])
    return torch.tensor(index, dtype=torch.long), torch.tensor(up)


def ranking_to_pairs(ranking):
    """A ranking (response indices, best first) -> every (winner, loser) pair: C(K, 2) of them."""
    return [(ranking[i], ranking[j]) for i in range(len(ranking)) for j in range(i + 1, len(ranking))]


def last_token_index(attention_mask):
    """(B, T) mask of real tokens -> (B,) column of the last real token in each row.

    [[0, 1, 1, 1, 0, 0],      (left-padded prompt, response, right padding)
     [1, 1, 1, 1, 1, 1]]  ->  [3, 5]
    """
    T = attention_mask.size(1)
    positions = torch.arange(T, device=attention_mask.device).expand_as(attention_mask)
    return (positions * attention_mask).argmax(dim=1)


class RewardModel(nn.Module):
    """r(x, y): the GPT body, then a linear head from the last real token's hidden state to a scalar."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.gpt = GPT(config)
        self.head = nn.Linear(config.n_embd, 1)
        # std 1/sqrt(d_model + 1) keeps the initial scores around unit scale whatever the width
        # (as in openai/lm-human-preferences); bias 0 so no response is favoured at the start
        nn.init.normal_(self.head.weight, std=1 / math.sqrt(config.n_embd + 1))
        nn.init.zeros_(self.head.bias)
        # normalisation applied to the output: score = gain * raw + shift, set after training
        self.register_buffer("gain", torch.ones(()))
        self.register_buffer("shift", torch.zeros(()))

    @classmethod
    def from_gpt(cls, gpt):
        """A reward model whose body starts as a copy of a trained GPT (the SFT model)."""
        model = cls(gpt.config)
        model.gpt.load_state_dict(gpt.state_dict())
        return model

    def token_scores(self, idx, attention_mask):
        """(B, T) -> (B, T) the normalised head read at every position (PPO's value model uses this)."""
        hidden = self.gpt.hidden(idx, attention_mask)    # (B, T, C)
        raw = self.head(hidden).squeeze(-1)              # (B, T)
        return self.gain * raw + self.shift

    def forward(self, idx, attention_mask):
        """(B, T) token ids and mask of real tokens -> (B,) scores read at the last real token."""
        scores = self.token_scores(idx, attention_mask)  # (B, T)
        last = last_token_index(attention_mask)          # (B,)
        return scores[torch.arange(idx.size(0), device=idx.device), last]

    @torch.no_grad()
    def normalise(self, raw_scores):
        """Set gain and shift so that these raw scores map to mean 0, standard deviation 1."""
        mean, std = raw_scores.mean(), raw_scores.std().clamp_min(1e-6)
        self.gain.fill_(1 / std)
        self.shift.fill_(-mean / std)


def comparison_batch(records, tokenizer, block_size):
    """Records of K ranked responses -> every response once, the pairs as indices into them, their weights.

    -> idx (N, T), attention_mask (N, T), winners (P,), losers (P,), weights (P,), where N is
       the total number of responses and P the total number of pairs (C(K, 2) per record). All
       the pairs of one prompt are in the batch together and each response is forwarded once.

    Each prompt counts once, as in InstructGPT: its C(K, 2) pairs share a weight of 1/C(K, 2),
    scaled so the weights average 1. A K = 4 ranking (6 pairs) then weighs as much as one
    chosen/rejected pair, not six times as much; when every record has the same K, every
    weight is exactly 1 and the loss is the plain mean over pairs. A thumbs record (one
    response, no pairs: nanorlhf/feedback.py) counts as a record too, so in a batch that mixes
    them the pair weights average the share of records that are rankings; thumb_targets gives
    the thumbs.
    """
    prompts, responses, winners, losers, pairs_per_record = [], [], [], [], []
    for record in records:
        offset = len(responses)
        prompts += [record["prompt"]] * len(record["responses"])
        responses += record["responses"]
        pairs = ranking_to_pairs(record["ranking"])
        winners += [offset + w for w, _ in pairs]
        losers += [offset + l for _, l in pairs]
        pairs_per_record.append(len(pairs))
    # weight of a pair = (1 / C(K, 2)) / mean over pairs of that, = P / (records * C(K, 2))
    P, n = len(winners), len(records)
    weights = torch.tensor([P / (n * c) for c in pairs_per_record for _ in range(c)], dtype=torch.float)
    idx, attention_mask, _ = chat_batch(tokenizer, prompts, responses, block_size)
    return idx, attention_mask, torch.tensor(winners, dtype=torch.long), torch.tensor(losers, dtype=torch.long), weights


@torch.no_grad()
def score_texts(model, tokenizer, prompts, responses, batch_size=128):
    """Reward-model scores of (prompt, response) texts -> (N,) tensor on the CPU."""
    device = next(model.parameters()).device
    scores = []
    for i in range(0, len(prompts), batch_size):
        idx, attention_mask, _ = chat_batch(tokenizer, prompts[i:i + batch_size], responses[i:i + batch_size],
                                            model.config.block_size)
        scores.append(model(idx.to(device), attention_mask.to(device)).cpu())
    return torch.cat(scores)
