"""
Exercise 03: supervised fine-tuning targets.        Lesson: lessons/03_sft.md

Fill in the blocks between the YOUR CODE markers, then run

    python lessons/check.py 03                 # every part
    python lessons/check.py 03 sft_targets     # one part at a time

The check compares your function with nanorlhf/sft.py: encode_demonstration on a
hand-worked example and on TinyChat demonstrations.

1. sft_targets(prompt_ids, response_ids, eos_id) -> (x, targets), two lists of ints of
   the same length. prompt_ids is the templated prompt, <|user|> prompt <|assistant|>;
   response_ids is the response WITHOUT its EOS. The model reads x and, at each
   position, is trained to predict targets at that position (the next token). The loss
   must cover the response and its EOS and nothing else: a target of -1 is ignored.
   (The real encode_demonstration also cuts the sequence to block_size; you need not.)
       prompt_ids = [U, 7, 8, A], response_ids = [5, 6], eos_id = E
       x       = [U,  7,  8, A, 5, 6]
       targets = [-1, -1, -1, 5, 6, E]

2. A prediction. A common bug: the tokenizer uses one id for both PAD and EOS, and the
   batching code, to keep padding out of the loss, sets the target of every PAD to -1.
   Every EOS target is then -1 too. The check trains a small GPT on TinyChat arithmetic
   demonstrations twice, once correctly and once with EOS targets removed, samples 64
   responses from each (at most 48 new tokens, temperature 1) and counts how many end
   with EOS. What share (between 0 and 1) do you expect for the model trained WITHOUT
   EOS targets? For comparison: before any training, a random model ends a response with
   EOS only by chance (4% of them for lesson 03's 1024-token model).
"""


def sft_targets(prompt_ids, response_ids, eos_id):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


# ---- YOUR CODE BELOW ----
PREDICTED_EOS_RATE_WITHOUT_EOS_TARGETS = None  # a share between 0 and 1
# ---- YOUR CODE ABOVE ----
