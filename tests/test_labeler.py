"""Tests for the scripted labeler (nanorlhf/labeler.py): hand-worked judgements, noise,
agreement, and that it keeps the promises data/guidelines.md makes."""
import itertools
import random
import re

import numpy as np
import pytest

from nanorlhf import labeler
from nanorlhf.data import DATA_DIR, DEMONSTRATORS, FAMILIES, all_prompts, demonstrate, load_jsonl, sample_task
from nanorlhf.labeler import rank, score, score_parts

ADD = "What is 7 plus 5?"
HARM = "How do I steal a bike?"


def test_correct_careful_answer_beats_wrong_and_bare_answers():
    assert score(ADD, "7 plus 5 is 12.") > score(ADD, "12.") > score(ADD, "7 plus 5 is 13.")
    assert score(ADD, "12.") > score(ADD, "13.")
    assert score(ADD, "7 plus 5 is 12.") > 2 and score(ADD, "7 plus 5 is 13.") < -1.5


def test_docstring_examples():
    assert round(score(ADD, "7 plus 5 is 12."), 2) == 2.27
    assert round(score(ADD, "7 plus 5 is 13."), 2) == -1.87
    assert round(score(ADD, "7 plus 5 is 13 i think"), 2) == -2.38
    assert round(score(ADD, ""), 2) == -2.22
    assert score_parts(ADD, "12.") == {"content": 2.0, "chars": -0.006}
    assert score_parts(ADD, "Great question! 7 plus 5 is 12.") == {"content": 2.6, "filler": -0.4, "chars": -0.062}
    assert labeler.count("Happy to help! Happy to help!", ["happy to help"]) == 2
    assert labeler.repetition("a b c a b c") == 0.25
    assert labeler.list_runs("Sorted: 2, 7, 9. Yes, 2 and 7", numeric=True) == [["2", "7", "9"], ["2", "7"]]
    assert labeler.words("Sure, 7 plus 5 is 12!") == ["sure", "7", "plus", "5", "is", "12"]


def test_refusal_beats_compliance_for_a_harmful_prompt():
    refusal = "I can't help with that, because it is stealing. You could save up for a bike instead."
    compliance = "Sure, here is how to steal a bike: wait until nobody is looking and just do it."
    assert score(HARM, refusal) > score(HARM, "I won't help with that.") > 0 > score(HARM, compliance)
    assert score(HARM, compliance) < -2.5
    # complying is worse than saying nothing at all
    assert score(HARM, compliance) < score(HARM, "")


def test_refusing_a_harmless_prompt_scores_below_answering_it():
    refusal = "I'm sorry, but I can't help with that. Please ask an expert instead."
    for prompt, answer in [(ADD, "12."), ("Explain rain simply.", "Rain comes from clouds."),
                           ("My house is too hot. What should I do?", "Use a fan.")]:
        assert score(prompt, refusal) < score(prompt, answer) - 2
        assert score_parts(prompt, refusal)["refusal"] == -2.0


def test_padding_and_repetition_lower_the_score():
    good = score(ADD, "7 plus 5 is 12.")
    padded = "7 plus 5 is 12. Happy to help! Happy to help! Happy to help!"
    repeated = "7 plus 5 is 12. 7 plus 5 is 12. 7 plus 5 is 12. 7 plus 5 is 12."
    assert score(ADD, padded) < good - 1.5
    assert score(ADD, repeated) < good - 1.5
    assert score_parts(ADD, repeated)["repetition"] < -1.5
    assert score(ADD, "12. " + "happy to help " * 30) < -3
    # the more padding, the lower
    assert score(ADD, "7 plus 5 is 12. I hope this helps!") > score(ADD, padded)


def test_gibberish_and_empty_responses_are_low():
    for response in ["", "   ", "xqz blorf wug zzz", "the is plus of a the salt", "bike bike bike bike",
                     "\x00\x01 ###", "<|eos|><|pad|>"]:
        assert score(ADD, response) < -1.5, response
        assert score(HARM, response) < -0.9, response
    assert score_parts(ADD, "xqz blorf wug zzz")["unknown_words"] == -2.0


def test_score_is_robust_and_bounded():
    rng = random.Random(0)
    prompts = all_prompts()
    for _ in range(300):
        prompt = rng.choice(prompts)
        response = "".join(rng.choice("abcxyz 0123456789.,!?'\n\tééü") for _ in range(rng.randrange(0, 400)))
        assert -4 <= score(prompt, response) <= 4
    assert score(ADD, "7 plus 5 is 12. " * 2000) == -4.0  # saturates
    assert score(ADD, "7 plus 5 is") < score(ADD, "7 plus 5 is 12.")  # truncated


def test_scores_are_deterministic_and_rarely_tied():
    records = load_jsonl(DATA_DIR / "sft_val.jsonl")[:300]
    first = [score(r["prompt"], r["response"]) for r in records]
    assert first == [score(r["prompt"], r["response"]) for r in records]
    # different responses to the same prompt almost never get exactly the same score
    rng = random.Random(0)
    ties = pairs = 0
    for _ in range(150):
        task = sample_task(rng.choice(FAMILIES), rng)
        responses = sorted({demonstrate(task, who, rng) for who in DEMONSTRATORS for _ in range(3)})
        scores = [score(task.prompt, r) for r in responses]
        ties += sum(a == b for a, b in itertools.combinations(scores, 2))
        pairs += len(scores) * (len(scores) - 1) // 2
    assert ties / pairs < 0.02


def test_unknown_prompt_raises():
    with pytest.raises(ValueError, match="not a TinyChat prompt"):
        score("Write me a poem about the sea.", "The sea is blue.")
    assert not labeler.can_score("Write me a poem about the sea.") and labeler.can_score(ADD)


def test_labeler_works_for_every_prompt_in_every_data_file():
    for prompt in all_prompts():
        assert score(prompt, "") < 0


def test_rank_without_noise_sorts_by_score():
    rng = np.random.default_rng(0)
    records = load_jsonl(DATA_DIR / "sft_val.jsonl")
    for i in range(0, 200, 5):
        prompt = records[i]["prompt"]
        responses = [r["response"] for r in records[i:i + 5]] + ["7 plus 5 is 12.", ""]
        scores = [score(prompt, r) for r in responses]
        assert rank(prompt, responses, rng=rng, noise=0) == sorted(range(len(responses)), key=lambda j: -scores[j])
    assert rank(ADD, ["13.", "7 plus 5 is 12.", "12."], noise=0) == [1, 2, 0]


def test_rank_with_noise_is_reproducible_and_sometimes_disagrees():
    responses = ["7 plus 5 is 12.", "12."]  # gold gap 0.42: noise 1.1 flips it fairly often
    runs = [tuple(rank(ADD, responses, rng=np.random.default_rng(seed))) for seed in range(200)]
    assert runs[:10] == [tuple(rank(ADD, responses, rng=np.random.default_rng(seed))) for seed in range(10)]
    flipped = sum(r == (1, 0) for r in runs) / len(runs)
    assert 0.2 < flipped < 0.5
    py_rng = random.Random(0)
    assert sorted(rank(ADD, responses, rng=py_rng)) == [0, 1]


def test_agreement_is_in_the_documented_range():
    report = labeler.agreement_report(n_prompts=600, seed=1)
    assert 0.75 <= report["noisy_vs_gold"] <= 0.85
    assert abs(report["noisy_vs_gold"] - labeler.GOLD_AGREEMENT) < 0.02
    assert abs(report["noisy_vs_noisy"] - labeler.DEFAULT_AGREEMENT) < 0.02
    # more noise, less agreement
    assert labeler.agreement_report(n_prompts=300, noise=3.0, seed=1)["noisy_vs_gold"] < 0.7


@pytest.fixture(scope="module")
def means():
    return labeler.mean_scores(load_jsonl(DATA_DIR / "sft_train.jsonl"))


def test_careful_demonstrator_wins_in_every_family(means):
    for family in FAMILIES:
        careful = means[(family, "careful")]
        assert careful > means[(family, "sloppy")] + 1, family
        assert careful > means[(family, "rambling")] + 1, family
        assert careful > means[(family, "terse")], family
    assert max(DEMONSTRATORS, key=lambda d: means[d]) == "careful"


def test_guideline_examples_agree_with_the_labeler():
    text = (DATA_DIR / "guidelines.md").read_text()
    examples = re.findall(r"Prompt: `(.+?)`\n- A: `(.*?)`\n- B: `(.*?)`\n\nPreferred: (A|B) \(gold ([+-]\d\.\d\d) vs "
                          r"([+-]\d\.\d\d)\)", text)
    assert len(examples) == 15
    for prompt, a, b, preferred, gold_a, gold_b in examples:
        sa, sb = score(prompt, a), score(prompt, b)
        assert (sa > sb) == (preferred == "A"), prompt
        assert (f"{sa:+.2f}", f"{sb:+.2f}") == (gold_a, gold_b), prompt


def test_guideline_mean_scores_match_the_data(means):
    text = (DATA_DIR / "guidelines.md").read_text()
    table = dict(re.findall(r"\| (\w+) \| \d+% \| .+? \| ([+-]\d\.\d\d) \|", text))
    assert set(table) == set(DEMONSTRATORS)
    for who, quoted in table.items():
        assert quoted == f"{means[who]:+.2f}", who
    for family in FAMILIES:
        assert f"{family} {means[family]:+.2f}" in " ".join(text.split()), family
