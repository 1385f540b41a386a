"""
Checks for exercise 01: byte-pair encoding (lessons/01_tokenizer.md, lessons/exercises/ex01_bpe.py).

The reference is nanorlhf/tokenizer.py: merge, train_merges and the Tokenizer.
"""
import random
from functools import lru_cache

from lessons.check import Fail, call, check, expect_equal, prediction
from lessons.checks.common import as_pairs, demo_text, tinychat_demos


@check("01", "merge")
def check_merge(m):
    from nanorlhf.tokenizer import merge
    cases = [([97, 97, 97, 98], (97, 97), 256),  # the docstring's example
             ([1, 1, 1, 1], (1, 1), 9),            # overlapping pairs: left to right
             ([1, 2, 1, 2, 3], (1, 2), 7),          # every occurrence, also at the end
             ([5], (5, 5), 9), ([], (1, 2), 3), ([3, 1, 2], (2, 1), 9)]
    rng = random.Random(0)
    cases += [([rng.randrange(4) for _ in range(rng.randrange(12))], (rng.randrange(4), rng.randrange(4)), 99)
              for _ in range(200)]
    for ids, pair, new_id in cases:
        before = list(ids)
        got = call(m, "merge", ids, pair, new_id)
        expect_equal(f"merge({before}, {pair}, {new_id})", got, merge(before, pair, new_id),
                     hint="scan left to right; after a match, jump over both ids of the pair")
        expect_equal("merge must not change the list it was given", ids, before,
                     hint="build a new list instead of editing `ids`")


@check("01", "encode_chunk")
def check_encode_chunk(m):
    import regex
    from nanorlhf.tokenizer import SPLIT_PATTERN, Tokenizer, train_merges
    worked = [("aaabdaaabac", [(97, 97), (97, 98)], [256, 257, 100, 256, 257, 97, 99]),
              ("aaabdaaabac", [(97, 97), (97, 98), (256, 257)], [258, 100, 258, 97, 99]),
              ("café", [], [99, 97, 102, 195, 169])]  # é is two bytes in UTF-8
    for chunk, merges, expected in worked:
        expect_equal(f"encode_chunk({chunk!r}, {merges})", call(m, "encode_chunk", chunk, merges), expected,
                     hint="start from list(chunk.encode('utf-8')) and apply merges[k] -> 256 + k, in order")
    # against tiktoken running merges learned from TinyChat
    demos = tinychat_demos(400)
    merges = train_merges(demo_text(demos), 150)
    tok = Tokenizer(merges)
    for d in demos[:60]:
        for text in (d["prompt"], d["response"]):
            chunks = regex.findall(SPLIT_PATTERN, text)
            got = [i for chunk in chunks for i in call(m, "encode_chunk", chunk, merges)]
            expect_equal(f"encoding {text!r} chunk by chunk, with 150 merges learned from TinyChat",
                         got, tok.encode(text),
                         hint="apply the merges in training order, each to every occurrence")



@check("01", "train")
def check_train(m):
    from nanorlhf.tokenizer import train_merges
    expect_equal('train("aaabdaaabac", 3)', as_pairs(call(m, "train", "aaabdaaabac", 3)),
                 [(97, 97), (97, 98), (256, 257)],
                 hint="after (97, 97) -> 256, the pairs (256, 97) and (97, 98) both occur twice: "
                      "a tie goes to the smaller pair, (97, 98)")
    expect_equal('train("ab", 5) (one pair, then nothing is left)', as_pairs(call(m, "train", "ab", 5)),
                 [(97, 98)], hint="stop when there are no pairs left to count")
    expect_equal('train("to do, to be", 2): pairs never cross chunks',
                 as_pairs(call(m, "train", "to do, to be", 2)), train_merges("to do, to be", 2),
                 hint="count pairs inside each regex chunk only, e.g. ' do' and ',' are separate chunks")
    text = demo_text(tinychat_demos(150))
    expect_equal("40 merges learned from 150 TinyChat demonstrations", as_pairs(call(m, "train", text, 40)),
                 train_merges(text, 40),
                 hint="count pairs with their multiplicity over all chunks; ties go to the smallest pair")


@lru_cache(maxsize=None)
def bytes_per_token(vocab_size):
    """Train a tokenizer on the TinyChat corpus -> bytes per token on the validation texts."""
    from nanorlhf.data import DATA_DIR, corpus_text, load_jsonl
    from nanorlhf.tokenizer import Tokenizer
    val = demo_text(load_jsonl(DATA_DIR / "sft_val.jsonl"))
    return len(val.encode("utf-8")) / len(Tokenizer.train(corpus_text(), vocab_size).encode(val))


@check("01", "PREDICTED_BYTES_PER_TOKEN_2048")
def check_bytes_per_token(m):
    guess = prediction(m, "PREDICTED_BYTES_PER_TOKEN_2048")
    measured = {v: bytes_per_token(v) for v in (1024, 2048)}
    why = (f"1024 tokens: {measured[1024]:.2f} bytes per token, 2048 tokens: {measured[2048]:.2f}. "
           "TinyChat's text splits into only about a thousand distinct regex chunks (words with "
           "their space, numbers, punctuation); with 1024 tokens most chunks are already one "
           "token, so extra merges have little left to compress")
    if abs(guess - measured[2048]) > 0.25:
        raise Fail("the prediction is more than 0.25 away from the measurement",
                   expected=f"{measured[2048]:.2f}", got=f"{guess:.2f}", hint=why)
    return why
