"""
Turning prompts into responses, the same way in every stage.

Every stage talks to the model through the one chat template

    <|user|> prompt <|assistant|> response <|eos|>

(nanorlhf/chat.py). Prompts in a batch have different lengths, so they are LEFT-padded
with PAD: all of them then end at the same column and the responses start together. The
attention mask marks the real tokens; the model gives a padded prompt the same positions
(0, 1, 2, ...) and never attends to the PAD keys, so a prompt's answer does not depend on
its batch.

    >>> generate_responses(model, tok, ["What is 2 plus 3?"], max_new_tokens=20, temperature=0)
    ['2 plus 3 is 5.']
"""
from dataclasses import dataclass

import torch

from nanorlhf.chat import decode_response, encode_prompt, left_pad


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
    query, query_mask = left_pad([encode_prompt(tokenizer, p) for p in prompts], tokenizer.pad_id)
    query, query_mask = query.to(device), query_mask.to(device)
    out = model.generate(query, max_new_tokens, temperature=temperature, eos_id=tokenizer.eos_id,
                         pad_id=tokenizer.pad_id, attention_mask=query_mask, generator=generator,
                         return_hidden=keep_hidden)
    response, response_mask, hidden = out if keep_hidden else (*out, None)   # (B, R), (B, R), (B, R, C)
    ended = (response == tokenizer.eos_id).any(dim=1)
    return Rollout(query, query_mask, response, response_mask, ended, hidden)


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
