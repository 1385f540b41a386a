"""
The pieces of PPO (train_ppo.py and nanorlhf/rl.py), each against an independent reference:
GAE against a plain sum written from the definition, the KL penalty against its definition,
the clipped losses against values worked out by hand.
"""
import math

import torch

from nanorlhf.rl import policy_loss, value_loss, whiten
from train_ppo import adaptive_beta, compute_gae, explained_variance, kl_penalised_rewards


def gae_by_definition(rewards, values, mask, gamma, lam):
    """A_t = sum_l (gamma lambda)^l delta_{t+l}, written as a double loop over plain floats."""
    B, R = len(rewards), len(rewards[0])
    advantages = [[0.0] * R for _ in range(B)]
    returns = [[0.0] * R for _ in range(B)]
    for b in range(B):
        n = int(sum(mask[b]))                       # valid tokens: a prefix of the row
        V = lambda k: values[b][k] if k < n else 0.0  # the episode ends after token n-1
        deltas = [rewards[b][k] + gamma * V(k + 1) - V(k) for k in range(n)]
        for t in range(n):
            advantages[b][t] = sum((gamma * lam) ** l * deltas[t + l] for l in range(n - t))
            returns[b][t] = advantages[b][t] + values[b][t]
    return torch.tensor(advantages, dtype=torch.float64), torch.tensor(returns, dtype=torch.float64)


def test_gae_matches_definition_with_masked_tail():
    g = torch.Generator().manual_seed(0)
    B, R = 5, 9
    rewards = torch.randn(B, R, generator=g, dtype=torch.float64)
    values = torch.randn(B, R, generator=g, dtype=torch.float64)
    lengths = torch.tensor([9, 1, 4, 7, 2])
    mask = (torch.arange(R)[None] < lengths[:, None]).double()
    rewards = rewards * mask   # the loop puts no reward after EOS; values there are garbage on purpose
    for gamma, lam in [(1.0, 0.95), (0.9, 0.8), (1.0, 1.0), (0.99, 0.0)]:
        adv, ret = compute_gae(rewards, values, mask, gamma, lam)
        ref_adv, ref_ret = gae_by_definition(rewards.tolist(), values.tolist(), mask.tolist(), gamma, lam)
        torch.testing.assert_close(adv, ref_adv)
        torch.testing.assert_close(ret, ref_ret)
        assert (adv[mask == 0] == 0).all() and (ret[mask == 0] == 0).all()


def test_gae_hand_worked():
    # two tokens, gamma = lambda = 1: A_1 = r_1 - V_1, A_0 = r_0 + V_1 - V_0 + A_1 = r_0 + r_1 - V_0
    rewards = torch.tensor([[0.0, 1.0, 0.0]])
    values = torch.tensor([[0.5, 0.25, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    adv, ret = compute_gae(rewards, values, mask, 1.0, 1.0)
    torch.testing.assert_close(adv, torch.tensor([[0.5, 0.75, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[1.0, 1.0, 0.0]]))   # Monte Carlo return


def test_kl_penalty_zero_when_policy_is_reference():
    logprobs = torch.log(torch.tensor([[0.5, 0.2, 0.9]]))
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    rewards, kl = kl_penalised_rewards(torch.tensor([2.0]), logprobs, logprobs.clone(), mask, beta=0.1)
    torch.testing.assert_close(rewards, torch.tensor([[0.0, 2.0, 0.0]]))   # score on the last valid token
    assert (kl == 0).all()


def test_kl_penalty_sign_and_reference():
    # the policy likes token 0 more than the reference does: that costs reward (beta * 0.7)
    logprobs = torch.tensor([[-0.1, -2.0]])
    ref_logprobs = torch.tensor([[-0.8, -1.5]])
    mask = torch.ones(1, 2)
    rewards, kl = kl_penalised_rewards(torch.tensor([0.0]), logprobs, ref_logprobs, mask, beta=0.5)
    torch.testing.assert_close(kl, torch.tensor([[0.7, -0.5]]))
    torch.testing.assert_close(rewards, torch.tensor([[-0.35, 0.25]]))
    # moving the policy further from the reference lowers the total reward
    further, _ = kl_penalised_rewards(torch.tensor([0.0]), logprobs + torch.tensor([[0.3, 0.0]]),
                                      ref_logprobs, mask, beta=0.5)
    assert further.sum() < rewards.sum()


def test_kl_penalty_ignores_padding():
    logprobs = torch.tensor([[-1.0, -1.0, -1.0, -1.0]])
    ref_logprobs = torch.tensor([[-1.5, -1.0, -1.0, -1.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    a, kl_a = kl_penalised_rewards(torch.tensor([1.0]), logprobs, ref_logprobs, mask, beta=0.2)
    garbage = logprobs.clone()
    garbage[0, 2:] = torch.tensor([-30.0, 5.0])   # what the model says after EOS must not matter
    b, kl_b = kl_penalised_rewards(torch.tensor([1.0]), garbage, ref_logprobs, mask, beta=0.2)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(kl_a, kl_b)
    torch.testing.assert_close(a, torch.tensor([[-0.1, 1.0, 0.0, 0.0]]))


def test_policy_loss_hand_computed():
    old = torch.zeros(1, 4)
    # ratios 1.5 (A=+1, clipped to 1.2), 0.5 (A=-1, clipped to 0.8), 1.0 (A=2), and a masked token
    new = torch.log(torch.tensor([[1.5, 0.5, 1.0, 7.0]]))
    advantages = torch.tensor([[1.0, -1.0, 2.0, 5.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    loss, clipfrac, approx_kl = policy_loss(new, old, advantages, mask, cliprange=0.2)
    # per token: -min(1.5, 1.2) = -1.2 ; max(0.5, 0.8) = 0.8 ; -2.0
    assert math.isclose(loss.item(), (-1.2 + 0.8 - 2.0) / 3, rel_tol=1e-6)
    assert math.isclose(clipfrac.item(), 2 / 3, rel_tol=1e-6)
    expected_kl = 0.5 * (math.log(1.5) ** 2 + math.log(0.5) ** 2) / 3
    assert math.isclose(approx_kl.item(), expected_kl, rel_tol=1e-6)


def test_policy_loss_gradient_is_zero_when_clipped_in_the_good_direction():
    new = torch.log(torch.tensor([[1.5]])).requires_grad_()
    loss, _, _ = policy_loss(new, torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1), 0.2)
    loss.backward()
    assert new.grad.abs().item() == 0.0   # already 1.5 > 1.2: no push further


def test_value_loss_hand_computed():
    values = torch.tensor([[1.5, 0.0, 3.0]])
    old_values = torch.tensor([[1.0, 0.0, 0.0]])
    returns = torch.tensor([[2.0, 1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss, clipfrac = value_loss(values, old_values, returns, mask, cliprange_value=0.2)
    # token 0: clipped value 1.2 -> max((1.5-2)^2, (1.2-2)^2) = 0.64 ; token 1: (0-1)^2 = 1
    assert math.isclose(loss.item(), 0.5 * (0.64 + 1.0) / 2, rel_tol=1e-6)
    assert math.isclose(clipfrac.item(), 0.5, rel_tol=1e-6)


def test_whiten_uses_valid_tokens_only():
    x = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    torch.testing.assert_close(whiten(x, mask), torch.tensor([[-1.0, 1.0, 0.0]]), atol=1e-4, rtol=0)


def test_adaptive_beta_moves_toward_target():
    assert adaptive_beta(0.1, kl=12.0, target_kl=6.0, n_responses=100, horizon=1000) > 0.1
    assert adaptive_beta(0.1, kl=1.0, target_kl=6.0, n_responses=100, horizon=1000) < 0.1
    # the error is clipped to +-0.2: 0.1 * (1 + 0.2 * 100 / 1000)
    assert math.isclose(adaptive_beta(0.1, 60.0, 6.0, 100, 1000), 0.1 * 1.02)


def test_explained_variance():
    returns = torch.tensor([[1.0, 2.0, 3.0, 50.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    assert math.isclose(explained_variance(returns.clone(), returns, mask), 1.0)
    assert math.isclose(explained_variance(torch.full_like(returns, 2.0), returns, mask), 0.0, abs_tol=1e-6)


def test_sample_keeps_what_generate_knows():
    """sample() left-pads the prompts in the chat template and keeps generate's tokens and mask as
    they are (generate's own tests check those against a naive loop); a row ended if it has an EOS."""
    from nanorlhf.sampling import sample

    class Tok:   # what the chat template needs from a tokenizer
        eos_id, pad_id, user_id, assistant_id = 9, 8, 1, 2
        def encode(self, text):
            return [3] * len(text)

    class Model(torch.nn.Module):   # "generates" a fixed continuation
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
        def generate(self, idx, max_new_tokens, **kwargs):
            self.seen = idx, kwargs["attention_mask"]
            return self.out

    model = Model()
    model.out = torch.tensor([[5, 9, 8], [5, 6, 9], [5, 5, 5]]), torch.tensor([[1, 1, 0], [1, 1, 1], [1, 1, 1]])
    rollout = sample(model, Tok(), ["ab", "abc", "a"], max_new_tokens=3, temperature=1.0)
    assert model.seen[0].tolist() == [[8, 1, 3, 3, 2], [1, 3, 3, 3, 2], [8, 8, 1, 3, 2]]
    assert rollout.query_mask.tolist() == model.seen[1].tolist() == [[0, 1, 1, 1, 1], [1] * 5, [0, 0, 1, 1, 1]]
    assert rollout.response is model.out[0] and rollout.response_mask is model.out[1]
    assert rollout.ended.tolist() == [True, True, False]
    assert rollout.sequence.shape == rollout.attention_mask.shape == (3, 5 + 3)


def test_response_logprobs_line_up_with_the_sampled_tokens_at_the_sampling_temperature():
    from nanorlhf.model import GPT, GPTConfig
    from nanorlhf.chat import left_pad
    from nanorlhf.rl import response_logprobs
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=50, n_layer=1, n_head=2, n_embd=16)).eval()
    query, query_mask = left_pad([[1, 2, 3], [4, 5], [6, 7, 8, 9]], pad_id=0)
    g = torch.Generator().manual_seed(0)
    out, out_mask, step_hidden = model.generate(query, 6, temperature=0.7, attention_mask=query_mask,
                                                generator=g, return_hidden=True)
    step_logits = model.lm_head(step_hidden)
    sequence = torch.cat([query, out], dim=1)
    mask = torch.cat([query_mask, out_mask], dim=1)
    logprobs, _, _ = response_logprobs(model, sequence, mask, query.size(1), temperature=0.7)
    # reference: the distribution each token was actually sampled from, log softmax(logits / T)
    Tq = query.size(1)
    expected = torch.log_softmax(step_logits / 0.7, dim=-1).gather(-1, sequence[:, Tq:, None]).squeeze(-1)
    torch.testing.assert_close(logprobs, expected, atol=1e-5, rtol=0)
    wrong_t, _, _ = response_logprobs(model, sequence, mask, query.size(1), temperature=1.0)
    assert not torch.allclose(wrong_t, expected, atol=1e-3)


def test_exact_kl_matches_torch_distributions_and_k1_is_its_one_token_estimate():
    from nanorlhf.rl import exact_kl
    g = torch.Generator().manual_seed(0)
    logits, ref_logits = torch.randn(2, 3, 7, generator=g, dtype=torch.float64), torch.randn(2, 3, 7, generator=g,
                                                                                             dtype=torch.float64)
    logp, ref_logp = logits.log_softmax(-1), ref_logits.log_softmax(-1)
    trusted = torch.distributions.kl_divergence(torch.distributions.Categorical(logits=logits),
                                                torch.distributions.Categorical(logits=ref_logits))
    torch.testing.assert_close(exact_kl(logp, ref_logp), trusted)
    assert (exact_kl(logp, ref_logp) > 0).all() and exact_kl(logp, logp).abs().max() < 1e-12
    # the mean of k1 = log pi(a) - log pi_ref(a) over many a ~ pi is the exact KL (unbiased)
    a = torch.multinomial(logp[0, 0].exp(), 200_000, replacement=True, generator=g)
    k1 = (logp[0, 0, a] - ref_logp[0, 0, a]).mean()
    assert abs(k1 - trusted[0, 0]) < 0.02 and not math.isclose(trusted[0, 0].item(), 0.0, abs_tol=0.1)


def test_heldout_kl_and_proxy_score_the_answers_as_written():
    """KL 0 for the reference itself; a different policy's KL equals a per-answer sum written by hand;
    the proxy equals the reward model's score of the same texts (score_texts)."""
    from nanorlhf.model import GPT, GPTConfig
    from nanorlhf.reward import RewardModel, score_texts
    from nanorlhf.chat import encode_prompt, encode_response
    from nanorlhf.tokenizer import Tokenizer
    from nanorlhf.evaluation import heldout_kl
    from train_ppo import heldout_proxy
    from types import SimpleNamespace
    tok = Tokenizer.train("the cat sat on the mat. what is 2 plus 3? it is 5.", vocab_size=300)
    torch.manual_seed(0)
    config = GPTConfig(block_size=64, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16)
    ref, policy, rm = GPT(config).eval(), GPT(config).eval(), RewardModel(config).eval()
    ev = SimpleNamespace(records=[{"prompt": "what is 2 plus 3?"}, {"prompt": "the cat?"}],
                         texts=[["it is 5.", "5"], ["sat on the mat"]])
    kl, proxy = heldout_kl(ref, ref, tok, ev, temperature=1.0), heldout_proxy(rm, tok, ev)
    assert abs(kl) < 1e-6
    expected_proxy = score_texts(rm, tok, ["what is 2 plus 3?"] * 2 + ["the cat?"], ["it is 5.", "5", "sat on the mat"])
    assert math.isclose(proxy, expected_proxy.mean().item(), rel_tol=1e-5)
    by_hand = []
    for prompt, answer in [("what is 2 plus 3?", "it is 5."), ("what is 2 plus 3?", "5"), ("the cat?", "sat on the mat")]:
        q, r = encode_prompt(tok, prompt), encode_response(tok, answer)
        x = torch.tensor([q + r])
        with torch.no_grad():
            lp = policy(x)[0][0].log_softmax(-1).double()
            lr = ref(x)[0][0].log_softmax(-1).double()
        by_hand.append(sum((lp[t].exp() * (lp[t] - lr[t])).sum().item() for t in range(len(q) - 1, len(q) + len(r) - 1)))
    kl = heldout_kl(policy, ref, tok, ev, temperature=1.0)
    assert math.isclose(kl, sum(by_hand) / 3, rel_tol=1e-4)


def test_a_value_head_on_the_policy_trunk_leaves_the_policy_log_probs_unchanged():
    """policy_and_values with either critic gives the policy's log-probs exactly as the policy
    alone does (a full forward, then log-softmax), and the critic's values at the same columns."""
    from nanorlhf.model import GPT, GPTConfig
    from nanorlhf.reward import RewardModel
    from nanorlhf.chat import left_pad
    from nanorlhf.rl import policy_and_values
    torch.manual_seed(0)
    config = GPTConfig(block_size=32, vocab_size=50, n_layer=2, n_head=2, n_embd=16)
    policy = GPT(config).eval()
    query, query_mask = left_pad([[1, 2, 3], [4, 5]], pad_id=0)
    sequence = torch.cat([query, torch.randint(1, 50, (2, 5))], 1)
    mask = torch.cat([query_mask, torch.ones(2, 5, dtype=torch.long)], 1)
    Tq = query.size(1)
    with torch.no_grad():
        full_logits, _ = policy(sequence, attention_mask=mask)                     # (2, Tq + 5, V)
        expected = torch.log_softmax(full_logits[:, Tq - 1:-1], -1).gather(-1, sequence[:, Tq:, None]).squeeze(-1)
        head = torch.nn.Linear(16, 1)
        value_model = RewardModel(config).eval()
        for critic, values_expected in [
                (head, head(policy.hidden(sequence, mask)).squeeze(-1)[:, Tq - 1:-1]),
                (value_model, value_model.token_scores(sequence, mask)[:, Tq - 1:-1])]:
            logprobs, _, _, values = policy_and_values(policy, critic, sequence, mask, Tq, 1.0)
            torch.testing.assert_close(logprobs, expected, atol=1e-5, rtol=0)
            torch.testing.assert_close(values, values_expected)


def test_the_rollouts_own_logits_give_the_log_probs_a_full_forward_gives():
    """train_ppo.py takes the old log-probs and values from sample(keep_hidden=True), skipping a forward
    pass: on every response token (EOS included, padding after it excluded) they equal a full forward's."""
    from nanorlhf.model import GPT, GPTConfig
    from nanorlhf.sampling import sample
    from nanorlhf.rl import critic_values, logprobs_from_logits, policy_and_values

    class Tok:
        eos_id, pad_id, user_id, assistant_id = 3, 0, 1, 2
        def encode(self, text):
            return [5 + ord(c) % 20 for c in text]

    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=30, n_layer=2, n_head=2, n_embd=16)).eval()
    with torch.no_grad():   # EOS likely enough that some rows end early: its head row is token 7's, times 20
        model.lm_head.weight[3] = 20 * model.lm_head.weight[7]
    rollout = sample(model, Tok(), ["abc", "hello", "x", "tiny chat"], 20, 0.8, torch.Generator().manual_seed(1),
                     keep_hidden=True)
    mask = rollout.response_mask.bool()
    assert rollout.ended.any() and not mask.all()   # both kinds of row, and padding, are covered
    assert rollout.hidden.shape[:2] == rollout.response.shape
    head = torch.nn.Linear(16, 1)
    with torch.no_grad():
        reused, _, _ = logprobs_from_logits(model.lm_head(rollout.hidden), rollout.response, 0.8)
        values = critic_values(head, rollout.hidden, rollout.sequence, rollout.attention_mask, rollout.query.size(1))
        full, _, _, full_values = policy_and_values(model, head, rollout.sequence, rollout.attention_mask,
                                                    rollout.query.size(1), 0.8)
    torch.testing.assert_close(reused[mask], full[mask], atol=1e-5, rtol=0)
    torch.testing.assert_close(values[mask], full_values[mask], atol=1e-5, rtol=0)
    assert sample(model, Tok(), ["abc"], 5, 0.8).hidden is None
