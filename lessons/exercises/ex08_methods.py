"""
Exercise 08: DPO's loss, GRPO's group advantages, the k3 KL, and two predictions.
                                                    Lesson: lessons/08_methods.md

Fill in the blocks between the YOUR CODE markers, then run

    python lessons/check.py 08                        # every part
    python lessons/check.py 08 dpo_loss               # one part at a time

The check compares your code with references written as plain loops in float64
(lessons/checks/lesson_08.py), on hand-worked cases and random batches.

1. dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta)
   -> (loss, chosen_rewards, rejected_rewards). N labeled pairs: for each, the preferred
   answer y_w ("chosen") and the other one y_l ("rejected"). Every input is (N,): log pi(y | x)
   of a whole answer, the sum of its tokens' log-probs, under the policy being trained
   (policy_...) or the frozen SFT reference (ref_...). The implicit rewards and the loss:
       chosen_rewards   = beta * (log pi(y_w|x) - log pi_ref(y_w|x))          (N,)
       rejected_rewards = beta * (log pi(y_l|x) - log pi_ref(y_l|x))          (N,)
       loss = mean over the pairs of -log sigmoid(chosen_rewards - rejected_rewards)   a scalar
   The check takes the gradient of the loss with respect to the policy's log-probs (keep it
   all in torch), and tries float32 pairs whose implicit rewards differ by 200, where
   log(sigmoid(-200)) is log(0).
       policy -3 (chosen), -5 (rejected); reference -4, -4; beta = 0.5
           -> chosen reward 0.5, rejected reward -0.5, loss -log sigmoid(1) = 0.3133

2. A prediction. When train_dpo.py starts, the policy is a copy of the reference. What is
   the DPO loss before the first step, at beta = 0.5?
       PREDICTED_DPO_LOSS_AT_START

3. group_advantages(rewards, scale=True) -> advantages (P, G). rewards (P, G) are the
   rewards of G answers to each of P prompts, one group per row. Each answer is judged
   against its own group:
       scale=True:   A_i = (r_i - mean of the row) / (std of the row + 1e-6)
       scale=False:  A_i =  r_i - mean of the row
   The std is the population one (divide by G, not by G - 1). A group whose rewards are
   all equal teaches nothing and gets exactly 0. Careful: in float32 the mean of six
   equal numbers can differ from them by a rounding error, and that error divided by a
   std made of the same error is not small. Find the rows whose rewards all equal their
   first (rewards == rewards[:, :1]) and set them to 0.
       [[1., 2., 3., 6.]]  ->  [[-1.0690, -0.5345, 0.0000, 1.6036]]
                              with scale=False  [[-2., -1., 0., 3.]]

4. kl_k3(logprobs, ref_logprobs) -> (B, R): the k3 estimate of KL(pi || pi_ref) at each
   sampled token, from log pi(a_t|s_t) and log pi_ref(a_t|s_t), both (B, R). With
   r = pi_ref(a) / pi(a), so log r = ref_logprobs - logprobs:
       k3 = r - 1 - log r
   It is never negative (e^x >= 1 + x), and your result must not be either. Where r is
   within a rounding error of 1, exp(x) - 1 - x in float32 can come out just below 0;
   torch.expm1(x) computes e^x - 1 accurately near 0 (and a clamp at 0 makes sure).
       logprobs = log 0.5, ref_logprobs = log 0.25  ->  r = 0.5, k3 = -0.5 - log 0.5 = 0.1931

5. A prediction. One state, a vocabulary of two tokens. The policy gives them 0.8 and 0.2,
   the reference 0.5 and 0.5. The check draws 200,000 tokens from the policy and averages
   k1 = log pi(a) - log pi_ref(a) and k3 over them. What is the mean of k3?
       PREDICTED_K3_MEAN
"""
import torch
import torch.nn.functional as F


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


# ---- YOUR CODE BELOW ----
PREDICTED_DPO_LOSS_AT_START = None  # a number
# ---- YOUR CODE ABOVE ----


def group_advantages(rewards, scale=True):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


def kl_k3(logprobs, ref_logprobs):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


# ---- YOUR CODE BELOW ----
PREDICTED_K3_MEAN = None  # a number
# ---- YOUR CODE ABOVE ----
