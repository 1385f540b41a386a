"""What DPO and GRPO add (nanorlhf/rl.py), each against an independent reference: the DPO loss
and its gradient in float64 by hand, summed log-probs against a per-token loop, group
advantages against a plain loop, and k3 against the exact KL."""
import math

import torch

from nanorlhf.chat import chat_batch, encode_chat, encode_prompt
from nanorlhf.model import GPT, GPTConfig
from nanorlhf.rl import dpo_loss, group_advantages, kl_k3, sequence_logprobs
from nanorlhf.tokenizer import Tokenizer

TOK = Tokenizer.train("what is 2 plus 3? it is 5. the cat sat on the mat. " * 20, vocab_size=300)


def test_dpo_loss_and_gradient_against_float64_by_hand():
    g = torch.Generator().manual_seed(0)
    pw, pl, rw, rl = (torch.randn(5, generator=g, dtype=torch.float64) * 3 for _ in range(4))
    pw.requires_grad_(True)
    pl.requires_grad_(True)
    loss, chosen, rejected = dpo_loss(pw, pl, rw, rl, beta=0.1)
    loss.backward()
    by_hand, grad_w, grad_l = 0.0, [], []
    for i in range(5):
        z = 0.1 * ((pw[i].item() - rw[i].item()) - (pl[i].item() - rl[i].item()))
        by_hand += math.log(1 + math.exp(-z)) / 5
        s = 1 / (1 + math.exp(z))            # d/dz of log(1 + e^-z) is -sigmoid(-z)
        grad_w.append(-0.1 * s / 5)
        grad_l.append(0.1 * s / 5)
    assert math.isclose(loss.item(), by_hand, rel_tol=1e-12)
    torch.testing.assert_close(pw.grad, torch.tensor(grad_w, dtype=torch.float64))
    torch.testing.assert_close(pl.grad, torch.tensor(grad_l, dtype=torch.float64))
    torch.testing.assert_close(chosen, 0.1 * (pw - rw).detach())
    torch.testing.assert_close(rejected, 0.1 * (pl - rl).detach())
    assert not chosen.requires_grad and not rejected.requires_grad
    # the sign: raising the chosen answer's log-prob lowers the loss, raising the rejected one's raises it
    assert (pw.grad < 0).all() and (pl.grad > 0).all()
    # at the reference (policy = reference) the loss is log 2 whatever beta
    zero = torch.zeros(3)
    assert math.isclose(dpo_loss(zero, zero, zero, zero, beta=0.5)[0].item(), math.log(2), rel_tol=1e-6)


def test_sequence_logprobs_sum_the_response_tokens_only():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=TOK.vocab_size, n_layer=1, n_head=2, n_embd=16)).eval()
    prompts, responses = ["what is 2 plus 3?", "the cat?"], ["it is 5.", "sat on the mat, the cat sat"]
    idx, attention_mask, response_mask = chat_batch(TOK, prompts, responses, block_size=64)
    with torch.no_grad():
        got = sequence_logprobs(model, idx, attention_mask, response_mask)
        for i, (p, r) in enumerate(zip(prompts, responses)):   # one sequence alone, no padding, token by token
            ids = encode_chat(TOK, p, r)
            logp = model(torch.tensor([ids]))[0][0].double().log_softmax(-1)
            n_prompt = len(encode_prompt(TOK, p))
            by_hand = sum(logp[t - 1, ids[t]].item() for t in range(n_prompt, len(ids)))
            assert math.isclose(got[i].item(), by_hand, rel_tol=1e-4)
    # the prompt's and the padding's tokens change nothing
    assert response_mask[0].sum() == len(encode_chat(TOK, prompts[0], responses[0])) - len(encode_prompt(TOK, prompts[0]))
    other = idx.clone()
    other[0, :len(encode_prompt(TOK, prompts[0])) - 1] = 7   # the prompt's tokens, except <|assistant|>
    other[0, attention_mask[0] == 0] = 5                   # the padding's
    with torch.no_grad():
        moved = sequence_logprobs(model, other, attention_mask, response_mask)
    assert moved[0] != got[0]           # the prompt conditions the answer...
    other = idx.clone()
    other[0, attention_mask[0] == 0] = 5
    with torch.no_grad():
        assert torch.equal(sequence_logprobs(model, other, attention_mask, response_mask), got)   # ...padding does not


def test_group_advantages_against_a_loop():
    g = torch.Generator().manual_seed(0)
    rewards = torch.randn(4, 6, generator=g, dtype=torch.float64)
    rewards[2] = 0.7   # a group where every answer scored the same
    for scale in (True, False):
        got = group_advantages(rewards, scale)
        for p in range(4):
            row = rewards[p].tolist()
            mean = sum(row) / len(row)
            std = math.sqrt(sum((x - mean) ** 2 for x in row) / len(row))
            for i, x in enumerate(row):
                expected = (x - mean) / (std + 1e-6) if scale else x - mean
                assert math.isclose(got[p, i].item(), expected, rel_tol=1e-9, abs_tol=1e-9)
        assert torch.equal(got[2], torch.zeros(6, dtype=torch.float64))


def test_kl_k3_is_zero_at_agreement_never_negative_and_estimates_the_kl():
    g = torch.Generator().manual_seed(0)
    logp = torch.randn(3, 5, generator=g).log_softmax(-1)
    assert torch.equal(kl_k3(logp, logp), torch.zeros(3, 5))
    # never negative, even when the ratio is 1 to within rounding or very far from it
    a = torch.tensor([[0.0, -1e-9, -30.0, -0.5]])
    b = torch.tensor([[1e-9, 0.0, -0.01, -20.0]])
    assert (kl_k3(a, b) >= 0).all() and (kl_k3(b, a) >= 0).all()
    # averaged over tokens drawn from the policy, it is KL(pi || pi_ref)
    logits, ref_logits = torch.randn(8, generator=g, dtype=torch.float64), torch.randn(8, generator=g, dtype=torch.float64)
    pi, ref = logits.log_softmax(-1), ref_logits.log_softmax(-1)
    exact = (pi.exp() * (pi - ref)).sum().item()
    tokens = torch.multinomial(pi.exp(), 400_000, replacement=True, generator=g)
    estimate = kl_k3(pi[tokens], ref[tokens]).mean().item()
    assert abs(estimate - exact) < 0.02 and exact > 0.2
    # k3 at one token is (r - 1) - log r for r = pi_ref / pi: by hand
    assert math.isclose(kl_k3(torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])).item(),
                        (0.5 - 1) - math.log(0.5), rel_tol=1e-6)


def test_a_learnable_toy_reward_rises_under_grpo():
    """GRPO's pieces wired as train_grpo.py wires them (sample, group advantages, the clipped
    objective plus k3 to the reference), on a toy reward: the share of the token 5 in the answer.
    Forty small updates raise it well above where the random model starts."""
    import copy
    from nanorlhf.rl import logprobs_from_logits, masked_mean, policy_loss, response_logprobs
    from nanorlhf.sampling import sample

    class Tok:   # what sampling needs from a tokenizer
        eos_id, pad_id, user_id, assistant_id = 0, 1, 2, 3
        def encode(self, text):
            return [10 + ord(c) % 10 for c in text]

    torch.manual_seed(0)
    policy = GPT(GPTConfig(block_size=32, vocab_size=20, n_layer=1, n_head=2, n_embd=32)).eval()
    ref = copy.deepcopy(policy).requires_grad_(False)
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    prompts, G = ["ab", "cd", "ef", "gh"], 8
    g = torch.Generator().manual_seed(0)

    def toy_reward(rollout):
        mask = rollout.response_mask.float()
        return ((rollout.response == 5).float() * mask).sum(1) / mask.sum(1)

    def mean_reward():
        with torch.no_grad():
            return toy_reward(sample(policy, Tok(), prompts * 16, 8, 1.0, torch.Generator().manual_seed(1))).mean().item()

    before = mean_reward()
    for _ in range(40):
        repeated = [p for p in prompts for _ in range(G)]
        rollout = sample(policy, Tok(), repeated, 8, 1.0, g, keep_hidden=True)
        mask, Tq = rollout.response_mask.float(), rollout.query.size(1)
        with torch.no_grad():
            advantages = group_advantages(toy_reward(rollout).view(len(prompts), G)).view(-1, 1).expand_as(mask)
            old, _, _ = logprobs_from_logits(policy.lm_head(rollout.hidden), rollout.response, 1.0)
            ref_logprobs, _, _ = response_logprobs(ref, rollout.sequence, rollout.attention_mask, Tq, 1.0)
        logprobs, _, _ = response_logprobs(policy, rollout.sequence, rollout.attention_mask, Tq, 1.0)
        loss = policy_loss(logprobs, old, advantages, mask, 0.2)[0] + 0.04 * masked_mean(kl_k3(logprobs, ref_logprobs), mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = mean_reward()
    assert before < 0.15 and after > before + 0.2, (before, after)
