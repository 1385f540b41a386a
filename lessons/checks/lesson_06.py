"""
Checks for exercise 06: PPO (lessons/06_ppo.md, lessons/exercises/ex06_ppo.py).

The checks compare with references of their own, written here as plain loops over
responses and tokens in float64: slow, but each line is one equation of the lesson. GAE and
the KL-penalised rewards live in train_ppo.py, a script, which the checker does not import;
the clipped loss (nanorlhf/rl.py: policy_loss) gets a loop too, a second implementation to
check against. tests/test_checks.py holds all three to the real functions on random inputs
with masks.
"""
import torch

from lessons.check import Fail, call, check, expect_close, prediction


# -----------------------------------------------------------------------------
# The references: one response and one token at a time

def reference_gae(rewards, values, mask, gamma, lam):
    """What train_ppo.py: compute_gae computes, one response and one token at a time.

    rewards, values, mask (B, R); the valid tokens are a prefix of each row, and whatever
    lies after them is ignored. -> advantages (B, R), returns (B, R), float64, 0 after the end.
    """
    B, R = rewards.shape
    advantages = torch.zeros(B, R, dtype=torch.float64)
    returns = torch.zeros(B, R, dtype=torch.float64)
    for b in range(B):
        n = int(mask[b].sum())                      # valid tokens 0 .. n-1
        assert mask[b, :n].all(), "the valid tokens are a prefix of the row"
        next_value, next_advantage = 0.0, 0.0       # the episode ends after token n-1
        for t in reversed(range(n)):
            r, v = float(rewards[b, t]), float(values[b, t])
            # delta_t = r_t + gamma * V(s_{t+1}) - V(s_t)
            delta = r + gamma * next_value - v
            # A_t = delta_t + gamma * lambda * A_{t+1}
            next_advantage = delta + gamma * lam * next_advantage
            advantages[b, t] = next_advantage
            # G_t = A_t + V(s_t), the value model's target
            returns[b, t] = next_advantage + v
            next_value = v
    return advantages, returns


def reference_kl_penalised_rewards(scores, logprobs, ref_logprobs, response_mask, beta):
    """What train_ppo.py: kl_penalised_rewards computes, one response and one token at a time.

    scores (B,), the other tensors (B, R); the response is a prefix of each row.
    -> rewards (B, R), kl (B, R), float64, 0 after the end.
    """
    B, R = logprobs.shape
    rewards = torch.zeros(B, R, dtype=torch.float64)
    kl = torch.zeros(B, R, dtype=torch.float64)
    for b in range(B):
        n = int(response_mask[b].sum())             # response tokens 0 .. n-1
        assert response_mask[b, :n].all(), "the response is a prefix of the row"
        for t in range(n):
            # KL_t = log pi(a_t|s_t) - log pi_ref(a_t|s_t)
            kl[b, t] = float(logprobs[b, t]) - float(ref_logprobs[b, t])
            # r_t = -beta * KL_t
            rewards[b, t] = -beta * kl[b, t]
        # ... + r_theta(x, y) on the last response token
        rewards[b, n - 1] += float(scores[b])
    return rewards, kl


def reference_policy_loss(logprobs, old_logprobs, advantages, mask, cliprange):
    """The loss of nanorlhf/rl.py: policy_loss, one token at a time -> a 0-dim float64 tensor.

    Each token's loss stays a torch scalar, so that autograd also gives the gradient with
    respect to logprobs. All tensors (B, R); mask is 1 on the tokens that count (any pattern).
    """
    token_losses = []
    B, R = logprobs.shape
    for b in range(B):
        for t in range(R):
            if mask[b, t] == 0:
                continue
            a = float(advantages[b, t])
            # ratio_t = pi(a_t|s_t) / pi_old(a_t|s_t)
            ratio = torch.exp(logprobs[b, t].double() - float(old_logprobs[b, t]))
            # L_t = max(-A_t * ratio_t, -A_t * clip(ratio_t, 1 - eps, 1 + eps))
            token_losses.append(torch.max(-a * ratio, -a * ratio.clamp(1 - cliprange, 1 + cliprange)))
    # L = the mean of L_t over the tokens that count
    return torch.stack(token_losses).mean()


# -----------------------------------------------------------------------------
# The checks

def ppo_batch(seed, B=6, R=10):
    """Random rewards and values with garbage after each response's end, and a prefix mask
    with rows of every length from 1 to R -> rewards, values, mask, all (B, R) float64."""
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(B, R, generator=g, dtype=torch.float64)
    values = torch.randn(B, R, generator=g, dtype=torch.float64)
    lengths = torch.randint(1, R + 1, (B,), generator=g)
    lengths[0], lengths[1] = 1, R
    mask = (torch.arange(R)[None, :] < lengths[:, None]).double()   # (B, R)
    return rewards, values, mask


GAE_WORKED = (torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([[0.5, 0.25, 9.0]]), torch.tensor([[1.0, 1.0, 0.0]]))
GAE_HINT_MASK = ("the value after the last valid token is 0: use values * mask, never the value model's "
                 "reading of PAD; and reset A_{t+1} to 0 past the end (multiply by mask[:, t])")


def as_pair_of_tensors(got, what):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Fail(f"{what} should return (advantages, returns)", got=repr(got)[:80])
    return got


@check("06", "compute_gae")
def check_compute_gae(m):
    rewards, values, mask = GAE_WORKED
    adv, ret = as_pair_of_tensors(call(m, "compute_gae", rewards, values, mask, 1.0, 1.0), "compute_gae")
    hint = ("V(s_2) = 9.0 lies after the end: it counts as 0. delta_1 = 1 + 0 - 0.25 = 0.75 = A_1; "
            "delta_0 = 0 + 0.25 - 0.5 = -0.25, A_0 = -0.25 + 1 * 1 * 0.75 = 0.5")
    expect_close("the docstring's example (gamma = lam = 1), advantages", adv, torch.tensor([[0.5, 0.75, 0.0]]),
                 hint=hint)
    expect_close("the docstring's example, returns", ret, torch.tensor([[1.0, 1.0, 0.0]]),
                 hint="returns = advantages + values, on the valid tokens only")
    adv, _ = as_pair_of_tensors(call(m, "compute_gae", rewards, values, mask, 1.0, 0.5), "compute_gae")
    expect_close("the same example at lam = 0.5", adv, torch.tensor([[0.125, 0.75, 0.0]]),
                 hint="A_0 = delta_0 + gamma * lam * A_1 = -0.25 + 0.5 * 0.75")
    for seed, (gamma, lam) in enumerate([(1.0, 0.95), (0.9, 0.8), (1.0, 1.0), (0.99, 0.0), (1.0, 0.0)]):
        rewards, values, mask = ppo_batch(seed)
        expected = reference_gae(rewards, values, mask, gamma, lam)
        got = as_pair_of_tensors(call(m, "compute_gae", rewards.clone(), values.clone(), mask, gamma, lam),
                                 "compute_gae")
        what = f"6 random responses of 1 to 10 tokens, gamma = {gamma}, lam = {lam}"
        expect_close(what + ", advantages", got[0], expected[0], hint=GAE_HINT_MASK)
        expect_close(what + ", returns", got[1], expected[1], hint=GAE_HINT_MASK)
    return ("lam = 0 gives the one-step TD error delta_t (low variance, but only as good as V); "
            "lam = 1 gives the Monte Carlo return minus V (no bias from V, more variance): part 2")


@check("06", "monte_carlo_advantages")
def check_monte_carlo_advantages(m):
    rewards, values, mask = GAE_WORKED
    got = call(m, "monte_carlo_advantages", rewards, values, mask)
    if isinstance(got, (tuple, list)):
        raise Fail("monte_carlo_advantages should return one tensor, the advantages", got=type(got).__name__)
    expect_close("the docstring's example", got, torch.tensor([[0.5, 0.75, 0.0]]),
                 hint="A_0 = (0 + 1) - 0.5 and A_1 = 1 - 0.25; the PAD column gives 0")
    for seed in range(5):
        rewards, values, mask = ppo_batch(100 + seed)
        expected, _ = reference_gae(rewards, values, mask, 1.0, 1.0)
        expect_close("6 random responses, against compute_gae(..., gamma=1, lam=1)",
                     call(m, "monte_carlo_advantages", rewards.clone(), values.clone(), mask), expected,
                     hint="sum the rewards of the valid tokens only (rewards * mask), from t to the end: "
                          "(r * mask).flip(1).cumsum(1).flip(1); subtract V(s_t); multiply by mask. Padding "
                          "in the returns is one of the known bugs")
    return ("with gamma = lam = 1 the deltas telescope: every V(s_{t+1}) cancels the -V(s_{t+1}) of the "
            "next delta, and only G_t - V(s_t) is left. So GAE at lam = 1 IS Monte Carlo, and lam < 1 "
            "trades some of its variance for bias from the value model")


def kl_example(beta):
    """Exercise 06's response: four tokens and one PAD column -> (per-token rewards, kl)."""
    logprobs = torch.tensor([[-0.1, -0.2, -1.5, -0.1, -0.2]])
    ref_logprobs = torch.tensor([[-2.4, -1.0, -0.5, -0.3, -3.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])
    return reference_kl_penalised_rewards(torch.tensor([1.5]), logprobs, ref_logprobs, mask, beta)


def kl_story():
    rewards, kl = kl_example(0.2)
    slope = kl_example(0.0)[0].sum().item() - kl_example(1.0)[0].sum().item()
    per_token = ", ".join(f"{x:+.2f}" for x in kl[0, :4].tolist())
    return (f"KL_t = log pi - log pi_ref = {per_token} on the four tokens (the PAD column counts 0). "
            f"They sum to {slope:.2f} nats, so the total reward is 1.5 - beta * {slope:.2f}: it FALLS as "
            f"beta grows, by {slope:.2f} per unit of beta. At beta = 0.2: per-token rewards "
            f"{', '.join(f'{x:+.2f}' for x in rewards[0, :4].tolist())}, total {rewards.sum().item():.3f}. "
            "Column 2 is negative: a single sample of the k1 estimator can be, and that token EARNS reward; "
            "only the expectation over a ~ pi is a KL, >= 0. At beta = 0 the penalty is gone and "
            "nothing holds the policy near SFT")


@check("06", "PREDICTED_TOTAL_REWARD_AT_BETA_0_2")
def check_total_reward_prediction(m):
    guess = prediction(m, "PREDICTED_TOTAL_REWARD_AT_BETA_0_2")
    measured = kl_example(0.2)[0].sum().item()
    if abs(guess - measured) > 0.02:
        raise Fail("not the total of kl_penalised_rewards at beta = 0.2", expected=f"{measured:.3f}",
                   got=f"{guess:.3f}", hint=kl_story())
    return kl_story()


@check("06", "PREDICTED_BETA_AT_ZERO_REWARD")
def check_zero_reward_beta(m):
    guess = prediction(m, "PREDICTED_BETA_AT_ZERO_REWARD")
    at_0, at_1 = kl_example(0.0)[0].sum().item(), kl_example(1.0)[0].sum().item()
    measured = at_0 / (at_0 - at_1)   # the total is linear in beta: at_0 - beta * (at_0 - at_1)
    why = (f"the total reward is 1.5 - beta * KL with KL = {at_0 - at_1:.2f} nats summed over the valid "
           f"tokens, so it reaches 0 at beta = 1.5 / {at_0 - at_1:.2f} = {measured:.3f}. With the default "
           "beta = 0.05 a response must move 30 nats away from SFT before the penalty cancels a score of 1.5")
    if abs(guess - measured) > 0.02:
        raise Fail("not the beta at which the total reward is 0", expected=f"{measured:.3f}",
                   got=f"{guess:.3f}", hint=why)
    return why


def policy_loss_and_grad(fn, logprobs, old_logprobs, advantages, mask, cliprange):
    """fn's loss and its gradient with respect to logprobs."""
    logprobs = logprobs.clone().requires_grad_()
    loss = fn(logprobs, old_logprobs, advantages, mask, cliprange)
    if isinstance(loss, (tuple, list)):
        raise Fail("clipped_policy_loss should return the loss only, a scalar tensor", got=type(loss).__name__)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise Fail("clipped_policy_loss should return a scalar (0-dimensional) tensor",
                   got=tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__)
    if not loss.requires_grad:
        raise Fail("no gradient flows from the loss back to logprobs",
                   hint="keep it all in torch: no .item(), .detach() or torch.no_grad()")
    loss.backward()
    grad = logprobs.grad if logprobs.grad is not None else torch.zeros_like(logprobs)
    return loss.detach(), grad


@check("06", "clipped_policy_loss")
def check_clipped_policy_loss(m):
    student = lambda *args: call(m, "clipped_policy_loss", *args)
    # the hand-worked example of tests/test_ppo.py: ratios 1.5, 0.5, 1.0 and a masked token
    new = torch.log(torch.tensor([[1.5, 0.5, 1.0, 7.0]]))
    loss, _ = policy_loss_and_grad(student, new, torch.zeros(1, 4), torch.tensor([[1.0, -1.0, 2.0, 5.0]]),
                                   torch.tensor([[1.0, 1.0, 1.0, 0.0]]), 0.2)
    expect_close("ratios 1.5, 0.5, 1.0 with advantages +1, -1, +2 and a masked 4th token, eps = 0.2",
                 loss, torch.tensor((-1.2 + 0.8 - 2.0) / 3),
                 hint="per token -min(1.5, 1.2) = -1.2, -min(-0.5, -0.8) = 0.8, -2.0; the mean over the "
                      "3 valid tokens")
    # one token at a time: (ratio, advantage, loss, gradient of the loss with respect to logprobs)
    cases = [(1.5, 1.0, -1.2, 0.0, "ratio above 1 + eps with A > 0: already more likely, the clip stops the push"),
             (0.5, -1.0, 0.8, 0.0, "ratio below 1 - eps with A < 0: already less likely, the clip stops the push"),
             (1.5, -1.0, 1.5, 1.5, "ratio above 1 + eps with A < 0: a bad token made MORE likely. The min keeps "
                                   "the unclipped term, so this is undone with full force"),
             (0.5, 1.0, -0.5, -0.5, "ratio below 1 - eps with A > 0: a good token made less likely, also undone"),
             (1.1, 1.0, -1.1, -1.1, "ratio inside [1 - eps, 1 + eps]: the plain surrogate -ratio * A")]
    for ratio, a, expected_loss, expected_grad, hint in cases:
        loss, grad = policy_loss_and_grad(student, torch.log(torch.tensor([[ratio]])), torch.zeros(1, 1),
                                          torch.tensor([[a]]), torch.ones(1, 1), 0.2)
        what = f"one token, ratio {ratio}, A = {a:+}, eps = 0.2"
        expect_close(what + ": the loss", loss, torch.tensor(expected_loss), hint=hint)
        expect_close(what + ": d loss / d logprob", grad, torch.tensor([[expected_grad]]), hint=hint)
    for seed, eps in enumerate([0.2, 0.1, 0.3]):
        g = torch.Generator().manual_seed(seed)
        old = -torch.rand(5, 9, generator=g, dtype=torch.float64) * 3
        new = old + 0.4 * torch.randn(5, 9, generator=g, dtype=torch.float64)
        advantages = torch.randn(5, 9, generator=g, dtype=torch.float64)
        _, _, mask = ppo_batch(seed, B=5, R=9)
        batch = (new, old, advantages, mask, eps)
        loss, grad = policy_loss_and_grad(student, *batch)
        expected_loss, expected_grad = policy_loss_and_grad(reference_policy_loss, *batch)
        what = f"5 random responses, eps = {eps}"
        expect_close(what + ": the loss", loss, expected_loss, hint="the mean over the valid tokens only")
        expect_close(what + ": the gradient", grad, expected_grad,
                     hint="min of the two objectives (max of the two losses), token by token; masked tokens "
                          "get no gradient")
    return ("the clip is one-sided: it removes the incentive to move a token's ratio further than eps in "
            "the direction its advantage wants, never the correction when a step went the wrong way. "
            "clipfrac in the log is the share of tokens where the clipped term is the one in use")
