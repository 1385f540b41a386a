"""
Turning demonstrations into supervised training batches.

A demonstration (prompt, response) becomes one token sequence in the chat template, and
the model is trained to predict each next token, but only where that next token belongs
to the response: the prompt is given, not learned. The final EOS is a response token, so
the model learns when to stop. PAD never has a target.

    ids     = <|user|> What is 2 plus 3 ? <|assistant|> It is 5 . <|eos|>
    x       = ids[:-1]
    targets = -1 ... -1 (prompt)          It is 5 . <|eos|>          (ids[1:], prompt masked)

train_ppo.py reuses these batches for behaviour cloning beside PPO (Args.bc_coef).
"""
import torch

from nanorlhf.chat import encode_chat, encode_prompt, right_pad

IGNORE = -1  # target value that F.cross_entropy skips (ignore_index=-1 in GPT.forward)


def encode_demonstration(tokenizer, prompt, response, block_size):
    """-> (x, targets) lists of equal length <= block_size, prompt targets set to IGNORE.

    Example, with a prompt of 3 tokens [U, p, A] and a response [r1, r2, EOS]:
        x       = [U, p, A, r1, r2]
        targets = [-1, -1, r1, r2, EOS]
    """
    ids = encode_chat(tokenizer, prompt, response, block_size + 1)
    x, targets = ids[:-1], ids[1:]
    # targets[t] is ids[t + 1]; it is a prompt token while t + 1 < len(prompt ids)
    n_prompt = min(len(encode_prompt(tokenizer, prompt)) - 1, len(targets))
    targets = [IGNORE] * n_prompt + targets[n_prompt:]
    return x, targets


def make_batch(examples, pad_id):
    """list of (x, targets) -> x (B, T) right-padded with PAD, targets (B, T) padded with IGNORE."""
    x, _ = right_pad([e[0] for e in examples], pad_id)
    targets, _ = right_pad([e[1] for e in examples], IGNORE)   # IGNORE never has a target: no mask needed
    return x, targets


def random_batches(examples, batch_size, pad_id, generator, group=16):
    """Endless stream of (x, targets) batches, reshuffled every epoch with `generator`.

    A batch is padded to its longest example, and demonstrations vary from about 10 to
    90 tokens, so random batches would be half PAD. Instead, each run of `group` batches'
    worth of shuffled examples is sorted by length before it is cut into batches, and the
    batches are shuffled again: still random, but each holds examples of similar length.
    """
    while True:
        order = torch.randperm(len(examples), generator=generator).tolist()
        batches = []
        chunk = batch_size * group
        for c in range(0, len(order) - batch_size + 1, chunk):
            part = sorted(order[c:c + chunk], key=lambda j: len(examples[j][0]))
            batches += [part[i:i + batch_size] for i in range(0, len(part) - batch_size + 1, batch_size)]
        for b in torch.randperm(len(batches), generator=generator).tolist():
            yield make_batch([examples[j] for j in batches[b]], pad_id)


@torch.no_grad()
def mean_loss(model, examples, batch_size, pad_id):
    """Mean cross-entropy per response token over `examples` (for validation)."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for i in range(0, len(examples), batch_size):
        x, targets = make_batch(examples[i:i + batch_size], pad_id)
        _, loss = model(x.to(device), targets.to(device))
        n = (targets != IGNORE).sum().item()
        total, count = total + loss.item() * n, count + n
    return total / count
