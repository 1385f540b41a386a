"""
The pieces of preference learning that the methods share: a response's log-probs under a
policy, masked means and whitening over response tokens, the exact KL between two policies,
PPO's clipped objectives, and what DPO and GRPO add (dpo_loss, group_advantages, kl_k3).
train_ppo.py wires them into PPO, with the KL-penalised reward, GAE and the loop written
out there, top to bottom; train_dpo.py and train_grpo.py do the same for their methods.

Every function takes a batch of B rows of prompt + response, (B, Tq + R) with the prompt
LEFT-padded to Tq columns, and returns one value per response token, (B, R). The hidden
state at column Tq - 1 + t predicts response token t (the last prompt column, <|assistant|>,
predicts the first response token), so the columns that matter are

    response_columns(x, Tq) = x[:, Tq - 1:-1]          (B, Tq + R, ...) -> (B, R, ...)

A mask (B, R) is 1 on each response's real tokens (up to and including its EOS).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def response_columns(x, query_len):
    """The columns of x (B, Tq + R, ...) that predict the R response tokens -> (B, R, ...)."""
    return x[:, query_len - 1:-1]


def masked_mean(x, mask):
    """Mean of x over the positions where mask is 1."""
    return (x * mask).sum() / mask.sum().clamp_min(1)


def whiten(x, mask, mean_fn=masked_mean):
    """Shift and scale x to mean 0, variance 1 over the valid positions; 0 elsewhere.

    mean_fn: how to average; nanorlhf/dist.py's masked_mean_global averages over every process's share."""
    mean = mean_fn(x, mask)
    var = mean_fn((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


def logprobs_from_logits(logits, response, temperature):
    """log pi(a_t | s_t) of the response tokens, at the sampling temperature.

    logits (B, R, V) predict response (B, R) -> logprobs (B, R), entropy (B, R), logp_all (B, R, V).
    """
    logp_all = F.log_softmax(logits.float() / temperature, dim=-1)
    logprobs = logp_all.gather(-1, response.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logprobs, entropy, logp_all


def response_logprobs(model, sequence, attention_mask, query_len, temperature):
    """log pi(a_t | s_t) of every response token, from logits divided by the sampling temperature.

    sequence (B, Tq + R) -> logprobs (B, R), entropy (B, R), logp_all (B, R, V). The hidden
    state at column query_len - 1 + t predicts response token t; only those go through the head.
    """
    hidden = response_columns(model.hidden(sequence, attention_mask), query_len)  # (B, R, C)
    return logprobs_from_logits(model.lm_head(hidden), sequence[:, query_len:], temperature)


def exact_kl(logp_all, ref_logp_all):
    """KL(pi || pi_ref) at each response position, summed over the whole vocabulary.

    logp_all, ref_logp_all (B, R, V) -> (B, R). Never negative; k1 = log pi(a_t) - log pi_ref(a_t)
    is its one-token estimate.
    """
    # KL_t = sum_a pi(a|s_t) * (log pi(a|s_t) - log pi_ref(a|s_t))
    return (logp_all.exp() * (logp_all - ref_logp_all)).sum(-1)


def policy_loss(logprobs, old_logprobs, advantages, mask, cliprange):
    """PPO's clipped surrogate -> (loss, clip fraction, approx KL between old and new policy).

    ratio_t = pi(a_t|s_t) / pi_old(a_t|s_t)
    L = -E[ min(ratio_t * A_t, clip(ratio_t, 1 - eps, 1 + eps) * A_t) ]
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.max(unclipped, clipped), mask)
    # clipfrac: where the clip removes the gradient (the ratio is outside the range, on the side the advantage pushes)
    clipfrac = masked_mean((clipped > unclipped).float(), mask)
    approx_kl = masked_mean(0.5 * (logprobs - old_logprobs) ** 2, mask)
    return loss, clipfrac, approx_kl


# ---- the critic: PPO's value model ---------------------------------------------------

def critic_values(critic, hidden, sequence, attention_mask, query_len):
    """The value of every response position -> (B, R).

    critic is either a value head on the policy's own trunk (an nn.Linear reading the policy's
    hidden states (B, R, C): one forward and backward serve both) or a separate value model
    (a RewardModel, as in InstructGPT, which runs its own trunk over the sequence).
    """
    if isinstance(critic, nn.Linear):
        return critic(hidden).squeeze(-1)
    return response_columns(critic.token_scores(sequence, attention_mask), query_len)


def policy_and_values(policy, critic, sequence, attention_mask, query_len, temperature):
    """The policy's log-probs and the critic's values of every response token -> 4 x (B, R) (+ logp_all).

    -> logprobs, entropy, logp_all (B, R, V), values
    """
    hidden = response_columns(policy.hidden(sequence, attention_mask), query_len)  # (B, R, C)
    values = critic_values(critic, hidden, sequence, attention_mask, query_len)
    logprobs, entropy, logp_all = logprobs_from_logits(policy.lm_head(hidden), sequence[:, query_len:], temperature)
    return logprobs, entropy, logp_all, values


def value_loss(values, old_values, returns, mask, cliprange_value):
    """Clipped value loss -> (loss, clip fraction).

    V_clip = V_old + clip(V - V_old, -eps_v, eps_v)
    L_V = 1/2 E[ max((V - G)^2, (V_clip - G)^2) ]
    """
    clipped_values = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    loss = 0.5 * masked_mean(torch.max((values - returns) ** 2, (clipped_values - returns) ** 2), mask)
    clipfrac = masked_mean(((clipped_values - returns) ** 2 > (values - returns) ** 2).float(), mask)
    return loss, clipfrac


# ---- what DPO and GRPO add ----------------------------------------------------------------

def sequence_logprobs(model, idx, attention_mask, response_mask):
    """log pi(y | x) of whole responses: the sum of their tokens' log-probs -> (N,).

    idx, attention_mask (N, T) right-padded prompt + response (chat.chat_batch); response_mask
    (N, T) is 1 on the response tokens, EOS included. The logits at column t predict token t + 1,
    so the prompt and the padding add nothing.
    """
    logits, _ = model(idx, attention_mask=attention_mask)                   # (N, T, V)
    logp = F.log_softmax(logits[:, :-1].float(), dim=-1)                    # (N, T - 1, V)
    token_logp = logp.gather(-1, idx[:, 1:].unsqueeze(-1)).squeeze(-1)      # (N, T - 1) log p(token t + 1)
    return (token_logp * response_mask[:, 1:]).sum(dim=1)


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    """Direct Preference Optimization (Rafailov et al. 2023) -> (loss, chosen_rewards, rejected_rewards).

    Every input is (N,): summed log-probs of the response tokens (sequence_logprobs). The
    implicit reward of a response is beta * (log pi(y|x) - log pi_ref(y|x)), and the loss is
    Bradley-Terry's on those rewards, as for the reward model:
        L = -mean log sigmoid(beta * ((pi_w - ref_w) - (pi_l - ref_l)))
    """
    chosen = policy_chosen_logps - ref_chosen_logps          # (N,) log pi/pi_ref of the preferred answers
    rejected = policy_rejected_logps - ref_rejected_logps
    loss = -F.logsigmoid(beta * (chosen - rejected)).mean()
    return loss, beta * chosen.detach(), beta * rejected.detach()


def group_advantages(rewards, scale=True):
    """GRPO's advantages (Shao et al. 2024): each answer against the other answers to its prompt.

    rewards (P, G), G answers to each of P prompts -> advantages (P, G): each row minus its mean,
    divided by its standard deviation (population, + 1e-6) when scale is true. A group whose
    answers all score the same teaches nothing and gets zeros.
    """
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if scale:
        centred = centred / (rewards.std(dim=1, unbiased=False, keepdim=True) + 1e-6)
    all_equal = (rewards == rewards[:, :1]).all(dim=1, keepdim=True)   # (P, 1); the mean may round off
    return centred.masked_fill(all_equal, 0.0)


def kl_k3(logprobs, ref_logprobs):
    """The per-token KL estimator GRPO uses ("k3", Schulman 2020) -> (B, R), never negative.

    With r = pi_ref(a) / pi(a) for a sampled token a: k3 = r - log r - 1, whose mean over
    a ~ pi is KL(pi || pi_ref). expm1 keeps it accurate (and >= 0) when r is near 1.
    """
    log_ratio = ref_logprobs - logprobs
    return (torch.expm1(log_ratio) - log_ratio).clamp_min(0.0)
