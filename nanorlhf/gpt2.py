"""
GPT-2 from a local Hugging Face folder: its tokenizer, its weights, ready for the chat template.

Nothing is downloaded. A Hugging Face GPT-2 folder (gpt2, distilgpt2, gpt2-medium, ...) holds
config.json, the weights (model.safetensors or pytorch_model.bin) and GPT-2's byte-level BPE
as two text files:

    vocab.json   token -> id: {"!": 0, ..., "Ġthe": 262, ..., "<|endoftext|>": 50256}
    merges.txt   "#version: 0.2", then one merge per line in the order learned: "Ġ t", "Ġ a", "h e", ...

A token is written with one printable character per byte (bytes_to_unicode: a space is "Ġ",
a newline "Ċ"). Ids 0..255 are the single bytes and merge k makes id 256 + k, so an id is also
the merge's rank: that is what tiktoken needs, and GPT2Tokenizer builds its tiktoken.Encoding
from these two files as tiktoken's own "gpt2" encoding does from the same files
(tiktoken/load.py: data_gym_to_mergeable_bpe_ranks). GPT-2's ids are kept, so its embeddings
line up; the chat template's four special tokens come after GPT-2's vocabulary:

    <|eos|> 50257, <|pad|> 50258, <|user|> 50259, <|assistant|> 50260

and load_gpt2 grows the embedding by four rows for them (GPT.resize_vocab).

    model, tokenizer = load_gpt2("models/gpt2")        # what train_sft.py --init does
"""
import json
import os

import tiktoken

from nanorlhf.model import GPT
from nanorlhf.tokenizer import SPECIAL_TOKENS

# GPT-2's pre-split pattern, in the form tiktoken uses for it (tiktoken_ext/openai_public.py:
# the same chunks as the original 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
# the printable bytes stand for themselves and come first; the rest follow, in byte order
PRINTABLE = [b for b in range(256) if chr(b).isprintable() and chr(b) != " "]
BYTE_ORDER = PRINTABLE + [b for b in range(256) if b not in PRINTABLE]   # id -> byte, for ids 0..255


def bytes_to_unicode():
    """GPT-2's printable stand-in for each byte -> {byte: character}: a printable byte is its
    own character, the others get chr(256), chr(257), ... in byte order.
    32 (space) -> "Ġ", 10 (newline) -> "Ċ", 65 -> "A"."""
    return {b: chr(b) if b in PRINTABLE else chr(256 + i - len(PRINTABLE)) for i, b in enumerate(BYTE_ORDER)}


def read_file(folder, name):
    """The text of folder/name; a missing file stops with one line naming both."""
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise SystemExit(f"error: {folder} has no {name} (a Hugging Face GPT-2 folder holds config.json, "
                         "vocab.json, merges.txt and model.safetensors or pytorch_model.bin)")
    with open(path, encoding="utf-8") as f:
        return f.read()


class GPT2Tokenizer:
    """GPT-2's byte-level BPE and the chat template's special tokens, run by tiktoken, with the
    interface of nanorlhf.tokenizer.Tokenizer (encode, decode, the special ids, to_dict)."""

    def __init__(self, merges, extra_tokens=None, name="gpt2"):
        """merges: [(id, id), ...] in merges.txt's order, merge k making id 256 + k; extra_tokens:
        GPT-2's tokens that no merge makes, {"<|endoftext|>": 50256} (decoded, never encoded)."""
        self.merges = [tuple(pair) for pair in merges]
        self.extra_tokens = dict(extra_tokens or {})
        self.name = name
        vocab = [bytes([b]) for b in BYTE_ORDER]   # id -> the bytes it stands for
        for a, b in self.merges:
            vocab.append(vocab[a] + vocab[b])
        mergeable_ranks = {token: i for i, token in enumerate(vocab)}
        if len(mergeable_ranks) != len(vocab):
            raise ValueError(f"tokenizer {name}: two merges make the same token")
        n_gpt2 = max([len(vocab) - 1, *self.extra_tokens.values()]) + 1   # GPT-2's own vocabulary size
        self.special_tokens = {s: n_gpt2 + i for i, s in enumerate(SPECIAL_TOKENS)}
        self.eos_id, self.pad_id, self.user_id, self.assistant_id = self.special_tokens.values()
        self.vocab_size = n_gpt2 + len(SPECIAL_TOKENS)
        self.enc = tiktoken.Encoding(name=name, pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=mergeable_ranks,
                                     special_tokens={**self.extra_tokens, **self.special_tokens})

    @classmethod
    def from_folder(cls, folder):
        """Read vocab.json and merges.txt; a missing file, or ids that do not follow the merges'
        order (which tiktoken needs), stops with one line naming the folder and the file."""
        vocab = json.loads(read_file(folder, "vocab.json"))
        stand_in = bytes_to_unicode()
        if [vocab.get(stand_in[b]) for b in BYTE_ORDER] != list(range(256)):
            raise SystemExit(f"error: {folder}/vocab.json does not give the 256 bytes ids 0..255 in GPT-2's order")
        merges = []
        for lineno, line in enumerate(read_file(folder, "merges.txt").split("\n"), start=1):
            if not line.strip() or (lineno == 1 and line.startswith("#version")):
                continue
            parts = line.split()
            new_id = 256 + len(merges)
            if len(parts) != 2 or vocab.get(parts[0]) is None or vocab.get(parts[1]) is None \
                    or vocab.get(parts[0] + parts[1]) != new_id:
                raise SystemExit(f"error: {folder}/merges.txt:{lineno}: {line!r} is not two tokens of vocab.json "
                                 f"whose merge has id {new_id} there (GPT-2's ids follow the merges' order)")
            merges.append((vocab[parts[0]], vocab[parts[1]]))
        extra = {token: i for token, i in vocab.items() if i >= 256 + len(merges)}
        return cls(merges, extra, name=f"gpt2:{os.path.basename(os.path.normpath(folder))}")

    def encode(self, text):
        """Ordinary text -> ids. A literal "<|eos|>" (or "<|endoftext|>") in the text stays text."""
        return self.enc.encode_ordinary(text)

    def decode(self, ids):
        """ids -> text; special ids come out as their strings, e.g. "<|eos|>"."""
        return self.enc.decode(list(ids))

    def to_dict(self):
        """Plain values for a checkpoint. The merges as one flat list of ids [a0, b0, a1, b1, ...]:
        GPT-2's 50,000 merges take about 0.3 MB in a checkpoint this way (tests/test_gpt2.py)."""
        return {"kind": "gpt2", "name": self.name, "pattern": GPT2_SPLIT_PATTERN, "special_tokens": SPECIAL_TOKENS,
                "merges": [i for pair in self.merges for i in pair], "extra_tokens": self.extra_tokens}

    @classmethod
    def from_dict(cls, d):
        if d["pattern"] != GPT2_SPLIT_PATTERN or d["special_tokens"] != SPECIAL_TOKENS:
            raise ValueError(f"tokenizer {d['name']} was saved with a different pattern or special tokens")
        flat = d["merges"]
        return cls(list(zip(flat[0::2], flat[1::2])), d["extra_tokens"], name=d["name"])


def load_gpt2(folder, block_size=0):
    """GPT-2 from a local Hugging Face folder, ready for the chat template -> (model, tokenizer).

    The embedding grows by a row for each special token (GPT.resize_vocab); block_size, if
    given and smaller than GPT-2's (1024), crops the position embeddings (GPT.crop_block_size).
    A missing file or a model that is not GPT-2 stops with one line naming the folder.
    """
    read_file(folder, "config.json")
    if not any(os.path.isfile(os.path.join(folder, w)) for w in ("model.safetensors", "pytorch_model.bin")):
        raise SystemExit(f"error: {folder} has no model.safetensors or pytorch_model.bin (GPT-2's weights)")
    tokenizer = GPT2Tokenizer.from_folder(folder)
    try:
        model = GPT.from_pretrained(folder)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    n_gpt2 = tokenizer.vocab_size - len(SPECIAL_TOKENS)
    if model.config.vocab_size != n_gpt2:
        raise SystemExit(f"error: {folder}/config.json says vocab_size {model.config.vocab_size}, "
                         f"but vocab.json and merges.txt make {n_gpt2} tokens")
    model.resize_vocab(tokenizer.vocab_size)
    if block_size and block_size < model.config.block_size:
        model.crop_block_size(block_size)
    return model, tokenizer
