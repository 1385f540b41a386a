"""
Exercise 01: byte-pair encoding by hand.           Lesson: lessons/01_tokenizer.md

Fill in the blocks between the YOUR CODE markers, then run

    python lessons/check.py 01            # every part
    python lessons/check.py 01 merge      # one part at a time

The check compares your functions with nanorlhf/tokenizer.py (merge, train_merges and
the tiktoken encoder built from the merges) on hand-worked examples and TinyChat text.
Do them in order: encode_chunk and train both need merge.

1. merge(ids, pair, new_id): replace every occurrence of `pair` in `ids`, scanning left
   to right, by `new_id`. Return a new list; leave `ids` as it is.
       merge([97, 97, 97, 98], (97, 97), 256) -> [256, 97, 98]

2. encode_chunk(chunk, merges): the UTF-8 bytes of the string `chunk` as a list of ints,
   then apply the merges in the order they were learned; merges[k] makes id 256 + k.
       encode_chunk("aaabdaaabac", [(97, 97), (97, 98)]) -> [256, 257, 100, 256, 257, 97, 99]

3. train(text, num_merges): cut `text` into chunks with regex.findall(SPLIT_PATTERN, text),
   turn each chunk into its list of byte values, then repeat num_merges times: count
   every adjacent pair inside the chunks, take the most frequent one (on a tie, the
   smallest pair, i.e. min over the tied (id, id) tuples), give it the next id and merge
   it in every chunk. Stop early if no pair is left. Return the list of merged pairs.
       train("aaabdaaabac", 2) -> [(97, 97), (97, 98)]

4. A prediction. Our tokenizer has 1024 tokens. On the TinyChat validation set one token
   covers about 3.3 bytes of text on average (the lesson has the figures for 300 and 512).
   How many bytes per token will a 2048-token vocabulary give? Write a number, think about
   why, then let the check train both tokenizers and tell you.
"""
import regex

from nanorlhf.tokenizer import SPLIT_PATTERN


def merge(ids, pair, new_id):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


def encode_chunk(chunk, merges):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


def train(text, num_merges):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


# ---- YOUR CODE BELOW ----
PREDICTED_BYTES_PER_TOKEN_2048 = None  # a number, e.g. 2.0
# ---- YOUR CODE ABOVE ----
