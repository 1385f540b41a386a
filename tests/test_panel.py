"""The panel of labelers (nanorlhf/tinychat/panel.py): the guidelines' profile is the default
labeler exactly, every profile keeps the guidelines' order, and the agreement matrix's exact
expectations match labelers drawn at random."""
import numpy as np
import pytest

from nanorlhf.tinychat import labeler
from nanorlhf.tinychat.panel import (GUIDELINES, PANEL, THUMB_THRESHOLD, Profile, agreement_matrix, rank_as, score_as,
                                     thumb_as)

PAIRS = labeler.sft_style_pairs(300, seed=3)
ORDER = {"harmful": 0, "wrong": 1, "none": 2, "right": 3}


def test_the_guidelines_profile_is_the_gold_judge_and_the_default_labeler():
    for prompt, a, b in PAIRS[:100]:
        assert score_as(GUIDELINES, prompt, a) == labeler.score(prompt, a)
        responses = [a, b, "I don't know.", ""]
        seed = len(a) + len(b)
        assert rank_as(GUIDELINES, prompt, responses, np.random.default_rng(seed)) == \
            labeler.rank(prompt, responses, rng=np.random.default_rng(seed))


def test_the_docstrings_examples():
    assert round(score_as(PANEL["brief"], "What is 7 plus 5?", "12."), 2) == 3.99
    assert round(score_as(PANEL["thorough"], "What is 7 plus 5?", "12."), 2) == 2.31


@pytest.mark.parametrize("name", list(PANEL))
def test_every_profile_keeps_the_guidelines_order(name):
    """A better verdict always scores higher, and a profile's score stays in the verdict's band."""
    profile = PANEL[name]
    seen = set()
    for prompt, a, b in PAIRS:
        (va, sa), (vb, sb) = [(labeler.verdict(prompt, y), score_as(profile, prompt, y)) for y in (a, b)]
        for v, s in ((va, sa), (vb, sb)):
            lo, hi = labeler.BANDS[v]
            assert lo <= s <= hi
        if ORDER[va] != ORDER[vb]:
            seen.add(tuple(sorted((va, vb))))
            assert (ORDER[va] > ORDER[vb]) == (sa > sb), (prompt, a, b)
    assert len(seen) >= 3   # the pairs really cross bands


def test_profiles_disagree_within_a_band():
    prompt = "What is 7 plus 5?"
    bare, padded = "12.", "Great question! 7 plus 5 is 12. I hope this helps!"
    assert score_as(PANEL["brief"], prompt, bare) > score_as(PANEL["brief"], prompt, padded)
    assert score_as(PANEL["thorough"], prompt, bare) < score_as(PANEL["thorough"], prompt, padded)


def test_thumbs_are_the_noisy_score_against_the_bar():
    exact = Profile("exact", "no noise", noise=0.0)
    prompt = "What is 7 plus 5?"
    for response in ["7 plus 5 is 12.", "12.", "7 plus 5 is 13.", "I think it is 12, maybe."]:
        expected = "up" if labeler.score(prompt, response) > THUMB_THRESHOLD else "down"
        assert thumb_as(exact, prompt, response, np.random.default_rng(0)) == expected
    rng = np.random.default_rng(0)   # a noisy labeler sometimes turns down a good answer
    thumbs = [thumb_as(PANEL["hasty"], prompt, "12.", rng) for _ in range(400)]
    assert 0.7 < thumbs.count("up") / 400 < 0.9   # P(3.40 + 1.6 z > 2) = Phi(0.875) = 0.81


def test_agreement_matrix_against_drawn_labelers():
    records = [{"prompt": p, "responses": [a, b]} for p, a, b in PAIRS[:120]]
    profiles = [PANEL["brief"], PANEL["thorough"]]
    matrix, n_pairs = agreement_matrix(records, profiles)
    kept = [r for r in records if labeler.score(r["prompt"], r["responses"][0]) !=
            labeler.score(r["prompt"], r["responses"][1])]
    assert n_pairs == len(kept)
    rng = np.random.default_rng(0)
    draws = 2000

    def picks_a(p):   # (draws, pairs): does the labeler, drawn afresh each time, pick response a?
        gap = np.array([score_as(p, r["prompt"], r["responses"][0]) - score_as(p, r["prompt"], r["responses"][1])
                        for r in kept])
        return gap + p.noise * (rng.standard_normal((draws, len(kept))) - rng.standard_normal((draws, len(kept)))) > 0
    picks = {p.name: picks_a(p) for p in profiles}
    gold_a = np.array([labeler.score(r["prompt"], r["responses"][0]) > labeler.score(r["prompt"], r["responses"][1])
                       for r in kept])
    brief, thorough = picks["brief"], picks["thorough"]
    assert abs((brief == gold_a).mean() - matrix["gold"]["brief"]) < 0.01
    assert abs((brief == thorough).mean() - matrix["brief"]["thorough"]) < 0.01
    assert abs((brief == brief[::-1]).mean() - matrix["brief"]["brief"]) < 0.01   # against itself, other draws
    assert matrix["brief"]["thorough"] == matrix["thorough"]["brief"]
