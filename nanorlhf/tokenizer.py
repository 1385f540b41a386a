"""
A byte-level BPE tokenizer, trained here and run by tiktoken.

Byte-pair encoding (Sennrich et al. 2016; GPT-2, Radford et al. 2019) starts from the 256
byte values and repeatedly glues the most frequent adjacent pair of tokens into a new
token. Before counting, the text is cut into chunks with GPT-4's regex (words with their
leading space, runs of up to 3 digits, punctuation, whitespace), so no token spans two
words. Training is ours and short; encoding and decoding are handed to tiktoken, which
applies the same merges in Rust.

    >>> tok = Tokenizer.train("aaabdaaabac", vocab_size=256 + 2 + 4)
    >>> tok.merges                       # (a, a) -> 256, then (a, b) -> 257
    [(97, 97), (97, 98)]
    >>> tok.encode("aaabdaaabac")        # "aa" "ab" "d" "aa" "ab" "a" "c"
    [256, 257, 100, 256, 257, 97, 99]

The ids are: 0..255 the single bytes, then one id per merge in training order, then the
four special tokens, which only the chat template (nanorlhf/chat.py) writes.
"""
import json
from collections import Counter, defaultdict

import regex  # installed with tiktoken; the same pattern syntax tiktoken uses
import tiktoken

# GPT-4's (cl100k) pre-split pattern, as in minbpe
SPLIT_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
# ids after the merges, in this order
SPECIAL_TOKENS = ["<|eos|>", "<|pad|>", "<|user|>", "<|assistant|>"]


def merge(ids, pair, new_id):
    """Replace every occurrence of `pair` in `ids`, left to right, by `new_id`.

    [97, 97, 97, 98], pair (97, 97), new_id 256 -> [256, 97, 98]
    """
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def train_merges(text, num_merges):
    """Learn up to `num_merges` merges from `text` -> list of (id, id) pairs in merge order.

    Each distinct chunk is stored once with its count, and after a merge only the chunks
    that contained the merged pair are recounted, so a few MB of text train in seconds.
    Ties between equally frequent pairs go to the smallest pair of ids. Stops early if
    no pair is left (a tiny text).
    """
    chunk_counts = Counter(regex.findall(SPLIT_PATTERN, text))
    words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]  # each chunk as byte ids
    freqs = list(chunk_counts.values())
    pair_counts = Counter()            # (id, id) -> occurrences in the whole text
    words_with = defaultdict(set)      # (id, id) -> indices of the words that contain it
    for w, (ids, freq) in enumerate(zip(words, freqs)):
        for pair in zip(ids, ids[1:]):
            pair_counts[pair] += freq
            words_with[pair].add(w)

    vocab = {i: bytes([i]) for i in range(256)}  # id -> the bytes it stands for
    seen = set(vocab.values())
    merges = []
    while len(merges) < num_merges and pair_counts:
        best = max(pair_counts.values())
        pair = min(p for p, c in pair_counts.items() if c == best)
        new_id = 256 + len(merges)
        merges.append(pair)
        vocab[new_id] = vocab[pair[0]] + vocab[pair[1]]
        # tiktoken looks tokens up by their bytes, so two ids must never share the same bytes
        assert vocab[new_id] not in seen, f"merge {pair} repeats token {vocab[new_id]!r}"
        seen.add(vocab[new_id])
        # recount only the words that contained the pair: remove their old pairs, add the new
        touched = set()
        for w in words_with.pop(pair):
            ids, freq = words[w], freqs[w]
            for p in zip(ids, ids[1:]):
                pair_counts[p] -= freq
                touched.add(p)
            ids = words[w] = merge(ids, pair, new_id)
            for p in zip(ids, ids[1:]):
                pair_counts[p] += freq
                words_with[p].add(w)
        for p in touched:
            if pair_counts[p] == 0:
                del pair_counts[p]
    return merges


class Tokenizer:
    """Merges + special tokens, with a tiktoken.Encoding built from them for speed."""

    def __init__(self, merges, name="nanorlhf-bpe"):
        self.merges = [tuple(pair) for pair in merges]
        self.name = name
        # mergeable_ranks: token bytes -> id; the 256 single bytes first, then merge order
        vocab = [bytes([i]) for i in range(256)]
        for a, b in self.merges:
            vocab.append(vocab[a] + vocab[b])
        mergeable_ranks = {token: i for i, token in enumerate(vocab)}
        self.special_tokens = {s: len(vocab) + i for i, s in enumerate(SPECIAL_TOKENS)}
        self.eos_id, self.pad_id, self.user_id, self.assistant_id = self.special_tokens.values()
        self.vocab_size = len(vocab) + len(SPECIAL_TOKENS)
        self.enc = tiktoken.Encoding(name=name, pat_str=SPLIT_PATTERN,
                                     mergeable_ranks=mergeable_ranks,
                                     special_tokens=self.special_tokens,
                                     explicit_n_vocab=self.vocab_size)

    @classmethod
    def train(cls, text, vocab_size):
        """Learn vocab_size - 256 - 4 merges from `text` (vocab_size counts the specials)."""
        num_merges = vocab_size - 256 - len(SPECIAL_TOKENS)
        if num_merges < 0:
            raise ValueError(f"vocab_size must be at least {256 + len(SPECIAL_TOKENS)}, got {vocab_size}")
        return cls(train_merges(text, num_merges), name=f"nanorlhf-bpe-{vocab_size}")

    def encode(self, text):
        """Ordinary text -> ids. A literal "<|eos|>" in the text stays text (several ids)."""
        return self.enc.encode_ordinary(text)

    def decode(self, ids):
        """ids -> text; special ids come out as their strings, e.g. "<|eos|>"."""
        return self.enc.decode(list(ids))

    def to_dict(self):
        return {"name": self.name, "pattern": SPLIT_PATTERN, "special_tokens": SPECIAL_TOKENS,
                "merges": [list(pair) for pair in self.merges]}

    @classmethod
    def from_dict(cls, d):
        if d["pattern"] != SPLIT_PATTERN or d["special_tokens"] != SPECIAL_TOKENS:
            raise ValueError(f"tokenizer {d['name']} was saved with a different pattern or special tokens")
        return cls(d["merges"], name=d["name"])

    def save(self, path):
        """Write JSON with one merge per line, e.g. `[101, 32]` = "e" + " " (id 256 first)."""
        d = self.to_dict()
        merges = ",\n  ".join(json.dumps(pair) for pair in d.pop("merges"))
        head = json.dumps(d, indent=1)[:-2]  # drop the closing "\n}"
        with open(path, "w", encoding="utf-8") as f:
            f.write(f'{head},\n "merges": [\n  {merges}\n ]\n}}\n')

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))
