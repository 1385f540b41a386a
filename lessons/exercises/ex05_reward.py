"""
Exercise 05: the reward model's loss, its gradient, the last token, and two predictions.
                                                    Lesson: lessons/05_reward_model.md

Fill in the blocks between the YOUR CODE markers, then run

    python lessons/check.py 05                      # every part
    python lessons/check.py 05 pairwise_loss        # one part at a time

1. pairwise_loss(r_w, r_l) -> a scalar tensor: the mean over the pairs of
   -log sigmoid(r_w - r_l), the Bradley-Terry negative log-likelihood. r_w, r_l are (N,)
   float tensors, the scores of the winners and of the losers. It must stay finite for
   any margin: for r_w = [-200.], r_l = [200.] in float32 the loss is 400, not inf.
   (-log sigmoid(d) = log(1 + exp(-d)); which torch function computes that safely?)

2. pairwise_loss_grad(r_w, r_l) -> (grad_w, grad_l), two (N,) tensors: the gradient of
   that mean loss with respect to r_w and to r_l, from your own derivation. The check
   runs it with autograd switched off and compares with float64 autograd.

3. last_token_index(attention_mask) -> (B,) long tensor: in each row of a (B, T) mask of
   real tokens (1) and PAD (0), the column of the LAST real token. That is where the
   reward model reads its score: the response's EOS. Rows may be padded on the left (a
   left-padded prompt), on the right (a short response), or both, as in a PPO batch:
       [[0, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 1]]  ->  [3, 5]
   Every row has at least one real token.

4. and 5. Two predictions, in a synthetic Bradley-Terry world where everything is known.
   A response is a vector x of 16 numbers drawn from N(0, 1). Its gold score is w* . x
   for a fixed unit vector w*. A labeler adds Gaussian noise of scale 1 to the gold score
   of each response and prefers the higher, so the labels agree with the gold order on
   75% of pairs (exercise 04's label_agreement gives this ceiling). A linear reward model
   r(x) = w . x, exactly the right shape for this world, is fitted with the pairwise loss
   on 10,000 labeled pairs and measured on 20,000 new pairs. On what share of them does
   it order the pair
       PREDICTED_NOISY_ACCURACY  as the (noisy) labeler did?
       PREDICTED_GOLD_ACCURACY   as the gold scores do?
   Write two numbers between 0 and 1.
"""
import torch
import torch.nn.functional as F


def pairwise_loss(r_w, r_l):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


def pairwise_loss_grad(r_w, r_l):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


def last_token_index(attention_mask):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


# ---- YOUR CODE BELOW ----
PREDICTED_NOISY_ACCURACY = None  # a share between 0 and 1
PREDICTED_GOLD_ACCURACY = None  # a share between 0 and 1
# ---- YOUR CODE ABOVE ----
