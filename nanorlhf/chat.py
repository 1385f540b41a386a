"""
The chat template and padding: how text becomes the model's batches, in one place.

Every stage talks to the model through one template,

    <|user|> prompt <|assistant|> response <|eos|>

The prompt half ends with <|assistant|>, so the model's next token is the answer's first;
the response half ends with <|eos|>, so the model learns to stop.

    encode_prompt(tok, "What is 7 plus 5?")   -> [<|user|>, What, is, 7, plus, 5, ?, <|assistant|>]
    encode_response(tok, "It is 12.")          -> [It, is, 12, ., <|eos|>]

Sequences in a batch have different lengths and are padded with PAD. Prompts about to be
answered are LEFT-padded, so they all end at the same column and the answers start
together; whole conversations are RIGHT-padded. Either way the attention mask marks the
real tokens, and PAD is its own token, never EOS: a padded column is not an ending.
"""
import torch


def encode_prompt(tokenizer, prompt):
    """The model's input for a user message: <|user|> prompt <|assistant|>"""
    return [tokenizer.user_id] + tokenizer.encode(prompt) + [tokenizer.assistant_id]


def encode_response(tokenizer, response):
    """What the model should write after the prompt: response <|eos|>"""
    return tokenizer.encode(response) + [tokenizer.eos_id]


def encode_chat(tokenizer, prompt, response, block_size=None):
    """The whole conversation: <|user|> prompt <|assistant|> response <|eos|>, cut to block_size."""
    return (encode_prompt(tokenizer, prompt) + encode_response(tokenizer, response))[:block_size]


def decode_response(tokenizer, ids):
    """Response ids -> text, cut at the first EOS (PAD and EOS never reach the text)."""
    ids = list(ids)
    if tokenizer.eos_id in ids:
        ids = ids[:ids.index(tokenizer.eos_id)]
    return tokenizer.decode([i for i in ids if i != tokenizer.pad_id])


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
    """[[5, 6, 7], [8]] -> idx [[5, 6, 7], [8, P, P]], attention_mask [[1, 1, 1], [1, 0, 0]]"""
    T = max(len(s) for s in sequences)
    idx = torch.full((len(sequences), T), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), T), dtype=torch.long)
    for i, s in enumerate(sequences):
        idx[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        attention_mask[i, :len(s)] = 1
    return idx, attention_mask


def chat_batch(tokenizer, prompts, responses, block_size):
    """Whole conversations, right-padded -> idx (N, T), attention_mask (N, T), response_mask (N, T).

    response_mask is 1 on each response's tokens (its EOS included): the tokens whose
    log-probability DPO sums, and where a sequence's score is read.
    """
    sequences = [encode_chat(tokenizer, p, r, block_size) for p, r in zip(prompts, responses)]
    idx, attention_mask = right_pad(sequences, tokenizer.pad_id)
    prompt_lengths = torch.tensor([len(encode_prompt(tokenizer, p)) for p in prompts])
    response_mask = attention_mask * (torch.arange(idx.size(1))[None, :] >= prompt_lengths[:, None])
    return idx, attention_mask, response_mask
