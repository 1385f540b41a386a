"""
The shared evaluation (nanorlhf/evaluation.py): win shares against a plain loop over pairs,
bootstrap intervals against the normal approximation and a hand-worked case, the summary
of a hand-built evaluation, and evaluate() on the smoke checkpoint.
"""
import itertools
import math

import numpy as np
import pytest

from nanorlhf.evaluation import (Evaluation, bootstrap_ci, evaluate, ratio_ci, summarise, win_shares, with_ci)

ADD, LEGS, RAIN = "What is 7 plus 5?", "How many legs does a spider have?", "Explain rain simply."


def test_win_shares_hand_worked_and_against_a_loop():
    assert win_shares([[1.0, 3.0]], [[2.0]]).tolist() == [0.5]
    assert win_shares([[2.0]], [[2.0, 1.0]]).tolist() == [0.75]   # a tie counts one half
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 3, size=(5, 4)).astype(float), rng.integers(0, 3, size=(5, 3)).astype(float)
    for p in range(5):
        pairs = list(itertools.product(a[p], b[p]))
        naive = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x, y in pairs) / len(pairs)
        assert math.isclose(win_shares(a, b)[p], naive)


def test_bootstrap_ci_matches_the_normal_approximation():
    x = np.random.default_rng(1).normal(size=400)
    lo, hi = bootstrap_ci(x)
    half = 1.96 * x.std() / math.sqrt(len(x))
    assert math.isclose(lo, x.mean() - half, abs_tol=0.02) and math.isclose(hi, x.mean() + half, abs_tol=0.02)
    assert bootstrap_ci(np.full(50, 0.3)) == pytest.approx((0.3, 0.3))   # no spread, no interval
    assert bootstrap_ci(x) == bootstrap_ci(x)                             # seeded


def test_ratio_ci_is_the_pooled_share():
    share, lo, hi = ratio_ci([1, 2, 0, 6], [2, 2, 1, 6])   # 9 of 11 pairs, grouped in 4 rankings
    assert math.isclose(share, 9 / 11) and lo < share < hi <= 1.0


def hand_built():
    """Two prompts, two answers each: the closed one right once, the open one never closed."""
    records = [{"prompt": ADD, "family": "arithmetic", "kind": "arithmetic", "heldout_phrasing": False},
               {"prompt": RAIN, "family": "explain", "kind": "explain", "heldout_phrasing": True}]
    return Evaluation(records=records, texts=[["7 plus 5 is 12.", "13."], ["Rain comes from clouds.", ""]],
                      scores=np.array([[3.0, -2.0], [1.0, -1.0]]), verdicts=[["right", "wrong"], ["right", "none"]],
                      ended=np.array([[True, True], [True, False]]), lengths=np.array([[8.0, 3.0], [6.0, 48.0]]))


def test_summarise_a_hand_built_evaluation():
    ev = hand_built()
    s = summarise(ev, baseline=ev)
    assert s["gold"][0] == pytest.approx(0.25)              # mean of 3, -2, 1, -1
    assert s["strict"][0] == 0.5                             # only the closed prompt counts: 1 of 2
    assert s["by_kind"] == {"arithmetic": 0.5}
    assert s["win"][0] == pytest.approx(0.5)                 # against itself: one half
    assert s["eos"] == 0.75 and s["length"] == pytest.approx(16.25)
    assert s["heldout_gold"] == 0.0 and s["trained_gold"] == 0.5
    assert with_ci([1.0, 1.0])[0] == 1.0


def test_summarise_refuses_a_baseline_on_other_prompts():
    other = hand_built()
    other.records = other.records[::-1]
    with pytest.raises(ValueError, match="same prompts"):
        summarise(hand_built(), baseline=other)


def test_evaluate_on_the_smoke_model(smoke_dir):
    from nanorlhf.checkpoint import load_checkpoint
    from nanorlhf.tinychat.labeler import score
    model, tokenizer, _ = load_checkpoint(f"{smoke_dir}/sft.pt")
    records = [{"prompt": p, "family": f, "kind": k} for p, f, k in
               [(ADD, "arithmetic", "arithmetic"), (LEGS, "facts", "legs"), (RAIN, "explain", "explain")]]
    ev = evaluate(model, tokenizer, records, samples=3, max_new_tokens=12, seed=0)
    assert ev.scores.shape == (3, 3) and len(ev.texts[2]) == 3
    assert ev.scores.tolist() == [[score(r["prompt"], t) for t in texts] for r, texts in zip(records, ev.texts)]
    assert ev.texts == evaluate(model, tokenizer, records, samples=3, max_new_tokens=12, seed=0).texts
    greedy = evaluate(model, tokenizer, records, samples=3, temperature=0, max_new_tokens=12)
    assert greedy.scores.shape == (3, 1)                     # greedy decoding has one answer per prompt
    assert ev.closed.tolist() == [True, True, False]


def test_garbled_flags_a_word_or_a_pair_no_demonstrator_wrote():
    from nanorlhf.evaluation import garbled
    assert not garbled("A horse says neigh.") and not garbled("7 plus 5 is 12. Happy to help!")
    assert garbled("A horse says quiqueak.")        # a word no demonstrator writes
    assert garbled("A neigh says horse.")           # known words, a pair no demonstrator writes
    assert not garbled("I don't know.")             # an honest non-answer is plain language


def test_the_demonstrators_own_answers_to_held_out_prompts_rarely_read_as_garbled():
    """The measure's floor: what the demonstrators themselves write to the held-out prompts;
    and the garble of an undertrained model (quoted in lesson 03's issue) is caught."""
    import random
    from nanorlhf.data import load_jsonl
    from nanorlhf.tinychat.demonstrators import demonstrate
    from nanorlhf.tinychat.tasks import task_for_prompt
    from nanorlhf.tinychat.world import DEMONSTRATORS
    from nanorlhf.evaluation import garbled
    rng = random.Random(0)
    answers = [demonstrate(task_for_prompt(r["prompt"]), who, rng)
               for r in load_jsonl("data/eval_prompts.jsonl") for who in DEMONSTRATORS]
    assert sum(map(garbled, answers)) / len(answers) < 0.01
    assert garbled("momunder is quiqueak") and garbled("ait sip me theTry these: sip some water out of sh a litteth")


def test_evaluate_without_gold_scores_by_the_reward_model_and_measures_kl():
    """Prompts with no gold judge: the reward model's mean score over the sampled answers (checked
    against scoring the same texts directly), KL 0 to itself and above 0 to another model."""
    import copy
    import torch
    from nanorlhf.evaluation import evaluate_without_gold, has_gold_judge
    from nanorlhf.model import GPT, GPTConfig
    from nanorlhf.reward import RewardModel, score_texts
    from nanorlhf.tokenizer import Tokenizer
    tok = Tokenizer.train("write a line about owls and foxes " * 20, 256 + 4 + 10)
    torch.manual_seed(0)
    # block_size 160: a random model's answer, decoded and encoded again, can be many times longer
    # (a special token it writes becomes text such as "<|assistant|>", a cut character U+FFFD's 3 bytes)
    config = GPTConfig(block_size=160, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16)
    policy, reward_model = GPT(config).eval(), RewardModel(config).eval()
    other = copy.deepcopy(policy)
    torch.nn.init.normal_(other.transformer.wte.weight, std=0.5)
    records = [{"prompt": "write a line about owls"}, {"prompt": "and foxes"}]
    assert not has_gold_judge(records) and has_gold_judge([{"prompt": ADD}])
    result = evaluate_without_gold(policy, policy, reward_model, tok, records, samples=3, max_new_tokens=8)
    assert len(result["texts"]) == 2 and all(len(row) == 3 for row in result["texts"]) and result["kl"] == 0.0
    direct = score_texts(reward_model, tok, [r["prompt"] for r in records for _ in range(3)],
                         [t for row in result["texts"] for t in row])
    assert result["rm_score"][0] == pytest.approx(direct.mean().item(), abs=1e-6)
    assert evaluate_without_gold(policy, other, None, tok, records, max_new_tokens=8)["kl"] > 0.01
    assert evaluate_without_gold(policy, other, None, tok, records, temperature=0, max_new_tokens=8)["samples"] == 1


def test_the_kl_of_answers_longer_than_the_window_is_taken_over_what_fits():
    """An answer sampled to fill the window can come back longer once decoded and encoded again
    (half a character decodes to U+FFFD, 3 bytes): answers_kl crops it instead of overflowing."""
    import torch
    from nanorlhf.evaluation import answers_kl
    from nanorlhf.model import GPT, GPTConfig
    from nanorlhf.tokenizer import Tokenizer
    tokenizer = Tokenizer.train("what is two plus three? it is five. " * 20, 280)
    torch.manual_seed(0)
    policy = GPT(GPTConfig(block_size=24, vocab_size=tokenizer.vocab_size, n_layer=1, n_head=2, n_embd=16))
    ref = GPT(GPTConfig(block_size=24, vocab_size=tokenizer.vocab_size, n_layer=1, n_head=2, n_embd=16))
    records = [{"prompt": "what is two plus three?"}]
    long_answer = "\ufffd" * 30   # 90 byte tokens: far past the window
    kl = answers_kl(policy, ref, tokenizer, records, [[long_answer, "it is five."]], 1.0)
    assert math.isfinite(kl) and kl > 0
