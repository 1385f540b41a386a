"""
SFT batches: the prompt is masked, the EOS is trained, PAD never is, and padding a batch
changes nothing about the loss.
"""
import torch

from nanorlhf.chat import encode_prompt, encode_response
from nanorlhf.model import GPT, GPTConfig
from nanorlhf.sft import IGNORE, encode_demonstration, make_batch
from nanorlhf.tokenizer import Tokenizer

TEXT = "what is 2 plus 3? it is 5. make this polite: give me water. please may i have water? " * 20


def test_encode_demonstration_masks_the_prompt_and_trains_eos():
    tok = Tokenizer.train(TEXT, 300)
    prompt, response = "what is 2 plus 3?", "it is 5."
    x, targets = encode_demonstration(tok, prompt, response, block_size=64)
    prompt_ids, response_ids = encode_prompt(tok, prompt), encode_response(tok, response)
    assert x == (prompt_ids + response_ids)[:-1]
    # worked out by position: the first target is at <|assistant|>, the last one is EOS
    assert targets == [IGNORE] * (len(prompt_ids) - 1) + response_ids
    assert targets[-1] == tok.eos_id
    assert x[len(prompt_ids) - 1] == tok.assistant_id
    assert tok.pad_id not in targets


def test_encode_demonstration_truncates_to_block_size():
    tok = Tokenizer.train(TEXT, 300)
    x, targets = encode_demonstration(tok, "what is 2 plus 3?", "it is 5. " * 30, block_size=16)
    assert len(x) == len(targets) == 16


def test_padding_does_not_leak_into_the_loss():
    tok = Tokenizer.train(TEXT, 300)
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=32))
    a = encode_demonstration(tok, "what is 2 plus 3?", "it is 5.", 64)
    b = encode_demonstration(tok, "make this polite: give me water.", "please may i have water? please.", 64)
    x, targets = make_batch([a, b], tok.pad_id)
    assert x.shape[1] == max(len(a[0]), len(b[0])) and (x[0, len(a[0]):] == tok.pad_id).all()
    assert (targets[0, len(a[1]):] == IGNORE).all()
    _, batch_loss = model(x, targets)
    # the batch loss is the mean over real response tokens: compute each row alone and combine
    sums, counts = 0.0, 0
    for example in (a, b):
        xi, ti = make_batch([example], tok.pad_id)
        _, loss = model(xi, ti)
        n = (ti != IGNORE).sum().item()
        sums, counts = sums + loss.item() * n, counts + n
    assert abs(batch_loss.item() - sums / counts) < 1e-5


def test_random_batches_cover_each_example_once_per_epoch_with_little_padding():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(5, 90, (640,), generator=g).tolist()
    examples = [([i] * n, [i] * n) for i, n in enumerate(lengths)]   # the id tells which example
    from nanorlhf.sft import random_batches
    stream = random_batches(examples, 16, pad_id=-7, generator=g, group=8)
    seen, padded, real = [], 0, 0
    for _ in range(640 // 16):
        x, _ = next(stream)
        seen += [row[0].item() for row in x]
        padded, real = padded + x.numel(), real + (x != -7).sum().item()
    assert sorted(seen) == list(range(640))
    assert real / padded > 0.85   # random batches of these lengths would be about 55% real tokens


def test_encode_demonstration_with_a_prompt_longer_than_the_block():
    tok = Tokenizer.train(TEXT, 300)
    x, targets = encode_demonstration(tok, "make this polite: give me water. " * 5, "ok.", block_size=8)
    assert len(x) == len(targets) == 8 and set(targets) == {IGNORE}
