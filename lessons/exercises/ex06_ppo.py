"""
Exercise 06: advantages, the KL penalty and the clipped policy loss.   Lesson: lessons/06_ppo.md

Fill in the blocks between the YOUR CODE markers, then run

    python lessons/check.py 06                        # every part
    python lessons/check.py 06 compute_gae            # one part at a time

The check compares your code with the functions at the top of train_ppo.py on
hand-worked cases and on random batches. All tensors are (B, R): B responses, R response
columns. mask is 1 on the valid tokens of a response (the tokens up to and including its
EOS: a prefix of each row) and 0 on the PAD after it. What rewards and values hold where
mask is 0 is garbage (the value model reads PAD too): your results must not depend on it.

1. compute_gae(rewards, values, mask, gamma, lam) -> (advantages, returns), both (B, R)
   and 0 where mask is 0. Generalised advantage estimation, backwards over t:
       delta_t = r_t + gamma * V(s_{t+1}) - V(s_t)
       A_t     = delta_t + gamma * lam * A_{t+1}
       returns = A_t + V(s_t)
   The episode ends at the last valid token, so the value after it is 0.
       rewards = [[0., 1., 0.]], values = [[0.5, 0.25, 9.0]], mask = [[1., 1., 0.]],
       gamma = lam = 1   ->   advantages [[0.5, 0.75, 0.]], returns [[1., 1., 0.]]

2. monte_carlo_advantages(rewards, values, mask) -> advantages (B, R), 0 where mask is 0,
   WITHOUT a loop over t and without calling compute_gae: the return from t to the end
   of the response minus the value of s_t,
       A_t = (r_t + r_{t+1} + ... + r_last) - V(s_t)
   (torch.cumsum on a flipped tensor does the sum in one line). The check compares it
   with compute_gae at gamma = 1, lam = 1. Same example as above -> [[0.5, 0.75, 0.]].

3. and 4. Two predictions about the KL penalty. One sampled response of four tokens,
   the last its EOS, then one PAD column. The reward model scores it 1.5. Per token:
       column                  0       1       2       3 (EOS)   4 (PAD)
       log pi(a_t | s_t)      -0.1    -0.2    -1.5    -0.1      -0.2
       log pi_ref(a_t | s_t)  -2.4    -1.0    -0.5    -0.3      -3.0
       mask                    1       1       1       1         0
   The policy has learned to open with a token the SFT reference found unlikely
   (column 0), and now gives column 2's token less probability than the reference does.
   train_ppo.py: kl_penalised_rewards turns this into per-token rewards. As beta grows,
   does the response's total reward (the sum over its tokens) go up or down, and by how
   much?
       PREDICTED_TOTAL_REWARD_AT_BETA_0_2   the total reward at beta = 0.2
       PREDICTED_BETA_AT_ZERO_REWARD        the beta at which the total reward is 0

5. clipped_policy_loss(logprobs, old_logprobs, advantages, mask, cliprange) -> a scalar
   tensor, PPO's clipped surrogate as a loss to MINIMISE, averaged over the valid tokens:
       ratio_t = pi(a_t|s_t) / pi_old(a_t|s_t) = exp(logprobs - old_logprobs)
       L = -mean over valid t of min(ratio_t * A_t, clip(ratio_t, 1 - eps, 1 + eps) * A_t)
   The check also takes its gradient with respect to logprobs (keep everything in torch).
       one token, ratio 1.5, A = +1, eps = 0.2 -> loss -1.2, and a gradient of 0
"""
import torch


def compute_gae(rewards, values, mask, gamma, lam):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


def monte_carlo_advantages(rewards, values, mask):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


# ---- YOUR CODE BELOW ----
PREDICTED_TOTAL_REWARD_AT_BETA_0_2 = None  # a number
PREDICTED_BETA_AT_ZERO_REWARD = None       # a number
# ---- YOUR CODE ABOVE ----


def clipped_policy_loss(logprobs, old_logprobs, advantages, mask, cliprange):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----
