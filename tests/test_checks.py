"""
The exercise checker stands on its own: it imports no script, so the lesson-06 checks carry
their own references (plain loops over responses and tokens), and those agree with the
real functions (train_ppo.py: compute_gae, kl_penalised_rewards; nanorlhf/rl.py:
policy_loss) on random inputs with masks.
"""
import ast
from pathlib import Path

import pytest
import torch

from lessons.checks.lesson_06 import reference_gae, reference_kl_penalised_rewards, reference_policy_loss
from nanorlhf.rl import policy_loss
from train_ppo import compute_gae, kl_penalised_rewards

ROOT = Path(__file__).resolve().parent.parent
CHECKER = [ROOT / "lessons" / "check.py", *sorted((ROOT / "lessons" / "checks").glob("*.py"))]


def test_the_checker_imports_no_script():
    scripts = {p.stem for p in ROOT.glob("*.py")}  # train_sft, train_rm, train_ppo
    assert "train_ppo" in scripts
    for path in CHECKER:
        for node in ast.walk(ast.parse(path.read_text())):  # imports inside functions too
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in scripts, f"{path.relative_to(ROOT)} imports the script {name}"


def random_batch(seed, B=7, R=9):
    """Random float64 tensors with garbage after each row's end, and a prefix mask with
    rows of 1 and of R valid tokens among them -> (four (B, R) tensors, mask (B, R))."""
    g = torch.Generator().manual_seed(seed)
    a, b, c, d = (torch.randn(B, R, generator=g, dtype=torch.float64) for _ in range(4))
    lengths = torch.randint(1, R + 1, (B,), generator=g)
    lengths[0], lengths[1] = 1, R
    mask = (torch.arange(R)[None, :] < lengths[:, None]).double()  # (B, R)
    return a, b, c, d, mask


@pytest.mark.parametrize("gamma, lam", [(1.0, 0.95), (0.9, 0.8), (1.0, 1.0), (0.99, 0.0), (0.5, 0.5)])
def test_reference_gae_agrees_with_train_ppo(gamma, lam):
    for seed in range(5):
        rewards, values, _, _, mask = random_batch(seed)
        advantages, returns = reference_gae(rewards, values, mask, gamma, lam)
        expected_advantages, expected_returns = compute_gae(rewards, values, mask, gamma, lam)
        torch.testing.assert_close(advantages, expected_advantages)
        torch.testing.assert_close(returns, expected_returns)


@pytest.mark.parametrize("beta", [0.0, 0.05, 0.2, 1.0])
def test_reference_kl_penalised_rewards_agrees_with_train_ppo(beta):
    for seed in range(5):
        logprobs, ref_logprobs, _, _, mask = random_batch(seed)
        scores = torch.randn(mask.size(0), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        rewards, kl = reference_kl_penalised_rewards(scores, logprobs, ref_logprobs, mask, beta)
        expected_rewards, expected_kl = kl_penalised_rewards(scores, logprobs, ref_logprobs, mask, beta)
        torch.testing.assert_close(rewards, expected_rewards)
        torch.testing.assert_close(kl, expected_kl)


def loss_and_grad(fn, logprobs, *args):
    """fn(logprobs, *args) and the gradient of that loss with respect to logprobs."""
    logprobs = logprobs.clone().requires_grad_()
    loss = fn(logprobs, *args)
    loss.backward()
    return loss.detach(), logprobs.grad


@pytest.mark.parametrize("cliprange", [0.1, 0.2, 0.3])
def test_reference_policy_loss_agrees_with_rl(cliprange):
    for seed in range(5):
        old, steps, advantages, _, prefix_mask = random_batch(seed)
        new = old + 0.4 * steps   # ratios from about 0.3 to 3: many tokens on each side of the clip
        holes = (torch.rand(prefix_mask.shape, generator=torch.Generator().manual_seed(seed)) < 0.6).double()
        holes[0, 0] = 1.0          # at least one token counts
        for mask in (prefix_mask, holes):
            loss, grad = loss_and_grad(reference_policy_loss, new, old, advantages, mask, cliprange)
            expected_loss, expected_grad = loss_and_grad(lambda *a: policy_loss(*a)[0], new, old, advantages,
                                                         mask, cliprange)
            torch.testing.assert_close(loss, expected_loss)
            torch.testing.assert_close(grad, expected_grad)


def test_references_hand_worked():
    # GAE, gamma = lambda = 1: A_1 = 1 - 0.25 = 0.75, A_0 = 0 + 0.25 - 0.5 + 0.75 = 0.5; V = 9 after the end is 0
    advantages, returns = reference_gae(torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([[0.5, 0.25, 9.0]]),
                                        torch.tensor([[1.0, 1.0, 0.0]]), 1.0, 1.0)
    assert advantages.tolist() == [[0.5, 0.75, 0.0]] and returns.tolist() == [[1.0, 1.0, 0.0]]
    # KL_t = 0.5, -0.25 on two response tokens; beta = 0.5; score 2 on the last one
    rewards, kl = reference_kl_penalised_rewards(torch.tensor([2.0]), torch.tensor([[-0.5, -1.0, -0.1]]),
                                                 torch.tensor([[-1.0, -0.75, -3.0]]),
                                                 torch.tensor([[1.0, 1.0, 0.0]]), 0.5)
    assert kl.tolist() == [[0.5, -0.25, 0.0]] and rewards.tolist() == [[-0.25, 2.125, 0.0]]
    # ratios 1.5, 0.5, 1.0, advantages +1, -1, +2, eps = 0.2: losses -1.2, +0.8, -2.0; the 4th token is masked
    loss = reference_policy_loss(torch.log(torch.tensor([[1.5, 0.5, 1.0, 7.0]])), torch.zeros(1, 4),
                                 torch.tensor([[1.0, -1.0, 2.0, 5.0]]), torch.tensor([[1.0, 1.0, 1.0, 0.0]]), 0.2)
    torch.testing.assert_close(loss, torch.tensor((-1.2 + 0.8 - 2.0) / 3, dtype=torch.float64))
