"""
Turning prompts into responses, the same way in every stage.

Every stage talks to the model through the one chat template

    <|user|> prompt <|assistant|> response <|eos|>

Prompts in a batch have different lengths, so they are LEFT-padded with PAD: all of them
then end at the same column and the responses start together. The attention mask marks
the real tokens; the model gives a padded prompt the same positions (0, 1, 2, ...) and
never attends to the PAD keys, so a prompt's answer does not depend on its batch.

    >>> generate_responses(model, tok, ["What is 2 plus 3?"], max_new_tokens=20, temperature=0)
    ['2 plus 3 is 5.']
"""
from dataclasses import dataclass

import torch


def left_pad(sequences, pad_id):
    """[[5, 6, 7], [8]] -> idx [[5, 6, 7], [P, P, 8]], attention_mask [[1, 1, 1], [0, 0, 1]]"""
    T = max(len(s) for s in sequences)
    idx = torch.full((len(sequences), T), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), T), dtype=torch.long)
    for i, s in enumerate(sequences):
        idx[i, T - len(s):] = torch.tensor(s, dtype=torch.long)
        attention_mask[i, T - len(s):] = 1
    return idx, attention_mask


def right_pad(sequences, pad_id):
    """[[5, 6, 7], [8]] -> [[5, 6, 7], [8, P, P]]"""
    T = max(len(s) for s in sequences)
    idx = torch.full((len(sequences), T), pad_id, dtype=torch.long)
    for i, s in enumerate(sequences):
        idx[i, :len(s)] = torch.tensor(s, dtype=torch.long)
    return idx


@dataclass
class Rollout:
    """A batch of sampled responses as tensors; B prompts, Tq prompt columns, R response columns."""
    query: torch.Tensor           # (B, Tq) left-padded prompt ids
    query_mask: torch.Tensor      # (B, Tq) 1 on real prompt tokens
    response: torch.Tensor        # (B, R) sampled ids, PAD after the first EOS
    response_mask: torch.Tensor   # (B, R) 1 on response tokens up to and including the first EOS
    ended: torch.Tensor           # (B,) bool, True if the response emitted EOS
    hidden: torch.Tensor = None   # (B, R, C) the policy's hidden states each token was sampled from (keep_hidden)

    @property
    def sequence(self):           # (B, Tq + R) prompt and response side by side
        return torch.cat([self.query, self.response], dim=1)

    @property
    def attention_mask(self):     # (B, Tq + R) 1 on every real token of the sequence
        return torch.cat([self.query_mask, self.response_mask], dim=1)


@torch.no_grad()
def sample(model, tokenizer, prompts, max_new_tokens, temperature, generator=None, keep_hidden=False):
    """Sample one response per prompt with the KV cache -> Rollout (tensors on the model's device).

    keep_hidden=True keeps the final hidden states of every step in the Rollout: the policy's
    log-probs of its own samples (and a value head's values) then cost no second forward pass."""
    device = next(model.parameters()).device
    query, query_mask = left_pad([tokenizer.encode_prompt(p) for p in prompts], tokenizer.pad_id)
    query, query_mask = query.to(device), query_mask.to(device)
    out = model.generate(query, max_new_tokens, temperature=temperature, eos_id=tokenizer.eos_id,
                         pad_id=tokenizer.pad_id, attention_mask=query_mask, generator=generator,
                         return_hidden=keep_hidden)
    out, hidden = out if keep_hidden else (out, None)   # hidden (B, steps, C), steps >= R below
    response = out[:, query.size(1):]  # (B, R)
    is_eos = response == tokenizer.eos_id
    # a token is part of the response if no EOS came strictly before it
    eos_before = (torch.cumsum(is_eos.long(), dim=1) - is_eos.long()) > 0
    response_mask = (~eos_before).long()
    # drop the columns that are PAD in every row (generate pads to max_new_tokens)
    R = int(response_mask.sum(dim=1).max())
    return Rollout(query, query_mask, response[:, :R], response_mask[:, :R], is_eos.any(dim=1),
                   None if hidden is None else hidden[:, :R])


def decode_response(tokenizer, ids):
    """Response ids -> text, cut at the first EOS (PAD and EOS never reach the text)."""
    ids = list(ids)
    if tokenizer.eos_id in ids:
        ids = ids[:ids.index(tokenizer.eos_id)]
    return tokenizer.decode([i for i in ids if i != tokenizer.pad_id])


def sample_responses(model, tokenizer, prompts, max_new_tokens=48, temperature=1.0, seed=0,
                     batch_size=64):
    """-> (texts, ended, lengths): the response to each prompt, whether it emitted EOS, and its
    length in tokens (EOS included)."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    texts, ended, lengths = [], [], []
    for i in range(0, len(prompts), batch_size):
        rollout = sample(model, tokenizer, prompts[i:i + batch_size], max_new_tokens, temperature,
                         generator)
        texts += [decode_response(tokenizer, row.tolist()) for row in rollout.response]
        ended += rollout.ended.tolist()
        lengths += rollout.response_mask.sum(dim=1).tolist()
    return texts, ended, lengths


def generate_responses(model, tokenizer, prompts, max_new_tokens=48, temperature=1.0, seed=0):
    """Plain prompt strings in, response strings out (the chat template is applied inside)."""
    return sample_responses(model, tokenizer, prompts, max_new_tokens, temperature, seed)[0]
