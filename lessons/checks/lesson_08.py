"""
Checks for exercise 08: DPO, GRPO and the k3 KL (lessons/08_methods.md, lessons/exercises/ex08_methods.py).

The references are written here as plain loops in float64, one pair, one group and one
token at a time, with the math module: a second implementation beside nanorlhf/rl.py's
dpo_loss, group_advantages and kl_k3. tests/test_lessons.py runs those three functions
through these checks, so the references and the library agree on every input below.
"""
import math

import torch

from lessons.check import Fail, call, check, expect_close, prediction


# -----------------------------------------------------------------------------
# The references

def softplus(x):
    """log(1 + e^x), for any x without overflow."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def sigmoid(x):
    """1 / (1 + e^-x), for any x without overflow."""
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def reference_dpo(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):
    """DPO's loss, implicit rewards and gradient, one pair at a time, in float64.

    Every input (N,) -> loss (0-dim), chosen rewards (N,), rejected rewards (N,),
    d loss / d policy_chosen (N,), d loss / d policy_rejected (N,).
    """
    N = len(policy_chosen)
    loss, chosen, rejected, grad_chosen, grad_rejected = 0.0, [], [], [], []
    for i in range(N):
        # r_w = beta * (log pi(y_w|x) - log pi_ref(y_w|x)), r_l likewise: the implicit rewards
        r_w = beta * (float(policy_chosen[i]) - float(ref_chosen[i]))
        r_l = beta * (float(policy_rejected[i]) - float(ref_rejected[i]))
        # L_i = -log sigmoid(r_w - r_l) = log(1 + e^-(r_w - r_l)); L = the mean over the pairs
        loss += softplus(-(r_w - r_l)) / N
        # dL_i/d(r_w - r_l) = -sigmoid(r_l - r_w), and d(r_w - r_l)/d log pi(y_w|x) = beta = -d/d log pi(y_l|x)
        weight = sigmoid(r_l - r_w)
        grad_chosen.append(-beta * weight / N)
        grad_rejected.append(beta * weight / N)
        chosen.append(r_w)
        rejected.append(r_l)
    as_tensor = lambda xs: torch.tensor(xs, dtype=torch.float64)
    return torch.tensor(loss, dtype=torch.float64), as_tensor(chosen), as_tensor(rejected), \
        as_tensor(grad_chosen), as_tensor(grad_rejected)


def reference_group_advantages(rewards, scale):
    """GRPO's advantages, one group and one answer at a time, in float64: rewards (P, G) -> (P, G)."""
    P, G = rewards.shape
    advantages = torch.zeros(P, G, dtype=torch.float64)
    for p in range(P):
        row = [float(x) for x in rewards[p]]
        if all(x == row[0] for x in row):
            continue                                          # a flat group teaches nothing: 0
        mean = sum(row) / G
        std = math.sqrt(sum((x - mean) ** 2 for x in row) / G)  # the population std: divide by G
        for i, x in enumerate(row):
            # A_i = (r_i - mean) / (std + 1e-6), or r_i - mean without the scale
            advantages[p, i] = (x - mean) / (std + 1e-6) if scale else x - mean
    return advantages


def reference_kl_k3(logprobs, ref_logprobs):
    """k3 at every token, in float64: (B, R) -> (B, R)."""
    B, R = logprobs.shape
    k3 = torch.zeros(B, R, dtype=torch.float64)
    for b in range(B):
        for t in range(R):
            # log r = log pi_ref(a_t|s_t) - log pi(a_t|s_t)
            log_r = float(ref_logprobs[b, t]) - float(logprobs[b, t])
            # k3 = r - 1 - log r, with e^x - 1 computed by expm1 (accurate near x = 0)
            k3[b, t] = math.expm1(log_r) - log_r
    return k3


# -----------------------------------------------------------------------------
# The checks

def dpo_with_grad(m, chosen, rejected, ref_chosen, ref_rejected, beta):
    """The student's dpo_loss, and the gradient of its loss with respect to the policy's log-probs."""
    chosen, rejected = chosen.clone().requires_grad_(), rejected.clone().requires_grad_()
    got = call(m, "dpo_loss", chosen, rejected, ref_chosen.clone(), ref_rejected.clone(), beta)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise Fail("dpo_loss should return (loss, chosen_rewards, rejected_rewards)", got=repr(got)[:80])
    loss, chosen_rewards, rejected_rewards = got
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise Fail("the loss should be a scalar (0-dimensional) tensor, the mean over the pairs",
                   got=tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__)
    if not loss.requires_grad:
        raise Fail("no gradient flows from the loss back to the policy's log-probs",
                   hint="keep it all in torch: no .item(), .detach() or torch.no_grad() on the loss")
    loss.backward()
    grads = [x.grad if x.grad is not None else torch.zeros_like(x) for x in (chosen, rejected)]
    return loss.detach(), chosen_rewards, rejected_rewards, grads[0], grads[1]


def expect_dpo(m, what, inputs, beta, atol=1e-6, hint=None):
    got = dpo_with_grad(m, *inputs, beta)
    expected = reference_dpo(*inputs, beta)
    reward_hint = ("the implicit reward is beta * (log pi(y|x) - log pi_ref(y|x)): the policy's log-prob "
                   "against the reference's, times beta")
    if not torch.isfinite(got[0]):
        raise Fail(what + ": the loss is not finite", got=got[0].item(),
                   hint="sigmoid(-200) underflows to 0 in float32, and log(0) = -inf. "
                        "F.logsigmoid(x) computes log sigmoid(x) safely for any x")
    expect_close(what + ": chosen_rewards", got[1], expected[1], atol=atol, hint=reward_hint)
    expect_close(what + ": rejected_rewards", got[2], expected[2], atol=atol, hint=reward_hint)
    expect_close(what + ": the loss", got[0], expected[0], atol=atol,
                 hint=hint or "the MEAN over the pairs of -log sigmoid(chosen_rewards - rejected_rewards)")
    grad_hint = ("d loss / d log pi(y_w|x) = -beta * sigmoid(r_l - r_w) / N, and the opposite for y_l; "
                 "torch.nn.functional.logsigmoid keeps it finite for any margin")
    expect_close(what + ": d loss / d policy_chosen_logps", got[3], expected[3], atol=atol, hint=grad_hint)
    expect_close(what + ": d loss / d policy_rejected_logps", got[4], expected[4], atol=atol, hint=grad_hint)


@check("08", "dpo_loss")
def check_dpo_loss(m):
    t = lambda *xs: torch.tensor(xs, dtype=torch.float64)
    expect_dpo(m, "the docstring's pair (beta = 0.5)", (t(-3.0), t(-5.0), t(-4.0), t(-4.0)), 0.5,
               hint="r_w = 0.5 * (-3 + 4) = 0.5, r_l = 0.5 * (-5 + 4) = -0.5, loss = -log sigmoid(1) = 0.3133")
    # the policy likes the rejected answer more than the chosen one, but less than the reference did:
    # measured against the reference, it has moved the right way
    expect_dpo(m, "policy -10 (chosen), -2 (rejected), reference -12, -1 (beta = 0.1)",
               (t(-10.0), t(-2.0), t(-12.0), t(-1.0)), 0.1,
               hint="the log-probs count against the reference's: r_w = 0.1 * 2, r_l = 0.1 * -1, so the "
                    "implicit rewards already order this pair right, whatever the raw log-probs say")
    for seed, beta in enumerate([0.1, 0.5, 0.01, 2.0]):
        g = torch.Generator().manual_seed(seed)
        inputs = tuple(-torch.rand(12, generator=g, dtype=torch.float64) * 40 for _ in range(4))  # (12,) each
        expect_dpo(m, f"12 random pairs, beta = {beta}", inputs, beta)
    # float32, implicit rewards 200 apart either way: log(sigmoid(-200)) = log(0) there
    f = lambda *xs: torch.tensor(xs, dtype=torch.float32)
    expect_dpo(m, "two float32 pairs with margins of -200 and +200 (beta = 1)",
               (f(-300.0, -1.0), f(-100.0, -201.0), f(-100.0, -1.0), f(-100.0, -1.0)), 1.0, atol=1e-3,
               hint="the first pair's loss is 200 (= -log sigmoid(-200)), the second's e^-200, about 0: mean 100")
    return ("the gradient pushes log pi(y_w|x) up and log pi(y_l|x) down with the weight sigmoid(r_l - r_w): "
            "the reward model's weight (lesson 05), so the pairs the policy already orders by a wide margin "
            "stop counting. Nothing asks log pi(y_w|x) itself to rise: only the difference of log-ratios counts")


@check("08", "PREDICTED_DPO_LOSS_AT_START")
def check_dpo_start(m):
    guess = prediction(m, "PREDICTED_DPO_LOSS_AT_START")
    g = torch.Generator().manual_seed(0)
    logps = [-torch.rand(16, generator=g, dtype=torch.float64) * 40 for _ in range(2)]  # chosen, rejected
    losses = {beta: reference_dpo(logps[0], logps[1], logps[0], logps[1], beta)[0].item()
              for beta in (0.01, 0.1, 0.5, 5.0)}
    measured = losses[0.5]
    why = ("the policy IS the reference, so every log-ratio log pi/pi_ref is 0, every implicit reward is 0, "
           f"and each pair costs -log sigmoid(0) = log 2 = {math.log(2):.4f}, whatever beta: on 16 random pairs "
           + ", ".join(f"beta {b}: {x:.4f}" for b, x in losses.items())
           + ". Beta changes the gradient instead, -beta/(2N) on each chosen log-prob at the start. And the "
           "implicit-reward accuracy starts at 0, not 50%: no pair is ordered yet, r_w = r_l exactly. A DPO run "
           "whose loss at step 0 is not log 2 has a reference that is not its starting policy")
    if abs(guess - measured) > 0.01:
        raise Fail("not the DPO loss before the first step", expected=f"{measured:.4f}", got=f"{guess:.4f}",
                   hint=why)
    return why


@check("08", "group_advantages")
def check_group_advantages(m):
    def expect(what, rewards, scale, hint, atol=1e-5):
        got = call(m, "group_advantages", rewards.clone(), scale)
        expect_close(what + f" (scale={scale})", got, reference_group_advantages(rewards, scale), atol=atol,
                     hint=hint)

    mean_hint = "subtract each row's own mean: an answer is judged against the other answers to ITS prompt"
    std_hint = ("divide by the row's population std (unbiased=False: divide by G, not G - 1) plus 1e-6, "
                "not sqrt(var + 1e-6)")
    worked = torch.tensor([[1.0, 2.0, 3.0, 6.0]], dtype=torch.float64)
    expect("the docstring's group [1, 2, 3, 6]", worked, False, mean_hint)
    expect("the docstring's group [1, 2, 3, 6]", worked, True, std_hint)
    small = torch.tensor([[0.5, 0.5, 0.5, 0.51], [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    expect("a group with a spread of 0.01 and one with a spread of 1", small, True, std_hint, atol=1e-4)
    groups = torch.tensor([[1.0, 2.0, 3.0, 6.0], [10.0, 10.0, 10.0, 14.0], [-2.0, 0.0, -2.0, 0.0]],
                          dtype=torch.float64)
    for scale in (False, True):
        expect("three groups with different means and spreads", groups, scale, mean_hint + "; " + std_hint)
    flat = torch.tensor([[0.7, 0.7, 0.7, 0.7], [1.0, 2.0, 3.0, 6.0], [-1.5, -1.5, -1.5, -1.5]], dtype=torch.float64)
    for scale in (False, True):
        expect("a flat group (every reward equal) between two others", flat, scale,
               "a group whose rewards are all equal gets 0 (dividing by its std of 0 gives NaN)")
    # flat groups in float32: the mean of six or eight equal numbers is not always that number
    values = torch.arange(-40, 30, dtype=torch.float32) / 10 + 0.05                       # (70,)
    for G in (6, 8):
        flat32 = values[:, None].expand(-1, G).contiguous()                                # (70, G)
        expect(f"70 flat groups of {G} in float32", flat32, True,
               "these must be exactly 0, but (r - mean) / std is a rounding error divided by a rounding "
               "error. Find the rows where every reward equals the first (rewards == rewards[:, :1]) "
               "and set them to 0 (masked_fill)")
    for seed, (P, G) in enumerate([(5, 4), (3, 2), (4, 8), (6, 3)]):
        g = torch.Generator().manual_seed(seed)
        rewards = torch.randn(P, G, generator=g, dtype=torch.float64) * 2
        rewards[0] = rewards[0, 0]                                                         # one flat group
        for scale in (False, True):
            expect(f"{P} random groups of {G}, the first flat", rewards, scale, mean_hint + "; " + std_hint)
    got = reference_group_advantages(small, True)
    return ("scaled, the two groups [0.5, 0.5, 0.5, 0.51] and [0, 0, 0, 1] get the same advantages, "
            f"{got[0, 0]:+.3f} and {got[0, 3]:+.3f}: a difference of 0.01 counts as much as a difference of 1. "
            "That is Dr. GRPO's objection to the std, and train_grpo.py --no-scale drops it. The advantages of "
            "each group sum to 0, and no value model is needed: the group's mean is the baseline")


@check("08", "kl_k3")
def check_kl_k3(m):
    def expect(what, logprobs, ref_logprobs, hint, atol=1e-6):
        got = call(m, "kl_k3", logprobs.clone(), ref_logprobs.clone())
        expect_close(what, got, reference_kl_k3(logprobs, ref_logprobs), atol=atol, hint=hint)
        return got

    formula = "with x = log r = ref_logprobs - logprobs, k3 = e^x - 1 - x (r = pi_ref / pi, not pi / pi_ref)"
    half, quarter = math.log(0.5), math.log(0.25)
    expect("the docstring's token: pi = 0.5, pi_ref = 0.25", torch.tensor([[half]]), torch.tensor([[quarter]]),
           "r = 0.25 / 0.5 = 0.5, k3 = 0.5 - 1 - log 0.5 = 0.1931. " + formula)
    expect("pi = 0.25, pi_ref = 0.5, and a token where the two agree",
           torch.tensor([[quarter, half]]), torch.tensor([[half, half]]),
           "r = 2: k3 = 2 - 1 - log 2 = 0.3069; where pi = pi_ref, r = 1 and k3 = 0. " + formula)
    g = torch.Generator().manual_seed(0)
    logprobs = -torch.rand(6, 9, generator=g, dtype=torch.float64) * 5                    # (B, R)
    ref_logprobs = logprobs + 2 * torch.randn(6, 9, generator=g, dtype=torch.float64)
    expect("6 x 9 random tokens, log-ratios of about +-2", logprobs, ref_logprobs, formula)
    expect("a token the reference finds far likelier (r = e^11.5), and one it finds far less likely",
           torch.tensor([[-12.0, -0.5]], dtype=torch.float64), torch.tensor([[-0.5, -20.0]], dtype=torch.float64),
           formula)
    # float32, the policy within a rounding error of the reference: k3 is about x^2 / 2, a few 1e-9
    logprobs = -torch.rand(2000, generator=g) * 3
    ref_logprobs = logprobs + 1e-4 * torch.randn(2000, generator=g)
    got = expect("2000 float32 tokens where pi and pi_ref nearly agree", logprobs[None], ref_logprobs[None], formula)
    if (got < 0).any():
        raise Fail("k3 came out below 0 on float32 tokens where pi and pi_ref nearly agree",
                   expected=">= 0 everywhere", got=f"{int((got < 0).sum())} negative values, the lowest "
                                                    f"{got.min().item():.2e}",
                   hint="exp(x) - 1 loses the digits of a small x to rounding in float32; torch.expm1(x) "
                        "computes e^x - 1 accurately, and .clamp_min(0.0) removes what rounding is left")
    return ("k3 is never negative, unlike k1 = log pi - log pi_ref, and it is still unbiased: its mean over "
            "a ~ pi is KL(pi || pi_ref), because E[pi_ref(a) / pi(a)] = sum over a of pi_ref(a) = 1 (part 5)")


def two_token_world():
    """Exercise 08's state: the policy gives two tokens 0.8 and 0.2, the reference 0.5 and 0.5."""
    pi = torch.tensor([0.8, 0.2], dtype=torch.float64)
    ref = torch.tensor([0.5, 0.5], dtype=torch.float64)
    return pi, ref


@check("08", "PREDICTED_K3_MEAN")
def check_k3_mean(m):
    guess = prediction(m, "PREDICTED_K3_MEAN")
    pi, ref = two_token_world()
    exact = sum(float(p) * math.log(float(p) / float(q)) for p, q in zip(pi, ref))      # KL(pi || pi_ref)
    reverse = sum(float(q) * math.log(float(q) / float(p)) for p, q in zip(pi, ref))    # KL(pi_ref || pi)
    tokens = torch.multinomial(pi, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    logprobs, ref_logprobs = pi.log()[tokens][None], ref.log()[tokens][None]            # (1, 200000)
    k1 = (logprobs - ref_logprobs)[0]
    k3 = reference_kl_k3(pi.log()[None], ref.log()[None])[0][tokens]                     # k3 of each drawn token
    why = (f"both estimators are unbiased, so both average to KL(pi || pi_ref) = 0.8 log(0.8/0.5) + "
           f"0.2 log(0.2/0.5) = {exact:.4f}. Over the 200,000 draws: k1 {k1.mean():.4f} (std {k1.std():.3f}, "
           f"{(k1 < 0).double().mean():.0%} of the samples negative), k3 {k3.mean():.4f} (std {k3.std():.3f}, "
           f"none negative). k3 is {k3[tokens == 0][0]:.3f} where k1 is {k1[tokens == 0][0]:.3f}, and "
           f"{k3[tokens == 1][0]:.3f} where k1 is {k1[tokens == 1][0]:.3f}: it is never negative, "
           "yet its mean is the same, and its spread a third of k1's. (KL in the other direction, "
           f"KL(pi_ref || pi), is {reverse:.4f}. Lesson 08 shows that the gradient of k3, used as a loss, "
           "follows that direction instead)")
    if abs(guess - exact) > 0.01:
        raise Fail("not the mean of k3 over tokens drawn from the policy", expected=f"{exact:.4f}",
                   got=f"{guess:.4f}", hint=why)
    return why
