"""
Exercise 02: causal self-attention and position ids by hand.      Lesson: lessons/02_gpt.md

Fill in the blocks between the YOUR CODE markers, then run

    python lessons/check.py 02              # every part
    python lessons/check.py 02 attention    # one part at a time

The check compares your functions with what nanorlhf/model.py computes (torch's
F.scaled_dot_product_attention with the mask from attention_mask_4d, and the position
ids inside GPT.hidden) on hand-worked examples and random tensors.

1. position_ids(attention_mask): attention_mask (B, T) holds 1 on real tokens and 0 on
   PAD. Return a (B, T) long tensor where each real token's position is the number of
   real tokens before it in its row. PAD positions are never used (no token attends to
   PAD), so the check ignores them, but they must be valid indices: 0 <= position < T.
       [[0, 0, 1, 1, 1],          [[0, 0, 0, 1, 2],
        [1, 1, 1, 1, 1]]    ->     [0, 1, 2, 3, 4]]        (PAD positions may differ)

2. attention(q, k, v, key_mask=None): q, k, v are (B, nh, T, hs); return (B, nh, T, hs)

       softmax(q k^T / sqrt(hs) + mask) v

   where mask is 0 where query i may look at key j and -inf where it may not. Query i
   may look at key j if j <= i (no peeking at the future) and key j is a real token
   (key_mask[b, j] is true; key_mask None means every token is real). A query always
   sees its own key, even a PAD query, so that no row of the softmax is all -inf.
   Write it out with matmuls, masked_fill and softmax; do not call
   F.scaled_dot_product_attention.

3. A prediction. A fresh GPT from nanorlhf/model.py with a 320-token vocabulary (the
   smoke preset of train_sft.py) reads random tokens and predicts random targets.
   What cross-entropy loss does it report before any training? A number, from theory.
"""
import math

import torch
from torch.nn import functional as F


def position_ids(attention_mask):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


def attention(q, k, v, key_mask=None):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


# ---- YOUR CODE BELOW ----
PREDICTED_INIT_LOSS_320 = None  # a number
# ---- YOUR CODE ABOVE ----
