"""
Checks for exercise 04: rankings, pairs and labeler agreement (lessons/04_human_feedback.md,
lessons/exercises/ex04_feedback.py).

The references are nanorlhf/reward.py: ranking_to_pairs, and simulations of noisy labelers
on TinyChat's gold scores (nanorlhf/tinychat/labeler.py).
"""
import random
from functools import lru_cache

from lessons.check import Fail, call, check, expect_equal, prediction
from lessons.checks.common import as_pairs


@check("04", "ranking_to_pairs")
def check_ranking_to_pairs(m):
    import itertools
    from nanorlhf.reward import ranking_to_pairs
    expect_equal("ranking_to_pairs([2, 0, 1]) (the docstring's example), in any order",
                 sorted(as_pairs(call(m, "ranking_to_pairs", [2, 0, 1]))), [(0, 1), (2, 0), (2, 1)],
                 hint="2 is best, so it beats 0 and 1; 0 beats 1. A pair is (winner, loser)")
    rankings = [[0], [1, 0]]
    rankings += [list(p) for k in (3, 4) for p in itertools.permutations(range(k))]
    rng = random.Random(0)
    rankings += [rng.sample(range(k), k) for k in range(5, 10) for _ in range(20)]
    for ranking in rankings:
        before = list(ranking)
        got = as_pairs(call(m, "ranking_to_pairs", ranking))
        expect_equal(f"ranking_to_pairs({before}), in any order", sorted(got) if isinstance(got, list) else got,
                     sorted(ranking_to_pairs(before)),
                     hint="every response beats every response ranked BELOW it (not only the next "
                          "one), and the pairs hold response indices, not places in the ranking")
        expect_equal("ranking_to_pairs must not change the list it was given", ranking, before)


@check("04", "PREDICTED_PAIRS_K6")
def check_pairs_k6(m):
    from nanorlhf.reward import ranking_to_pairs
    guess = prediction(m, "PREDICTED_PAIRS_K6")
    n = len(ranking_to_pairs(list(range(6))))
    why = (f"C(6, 2) = 6 * 5 / 2 = {n}: each of the 6 responses is paired with the 5 others, and "
           "that counts every pair twice. Each response is in K - 1 = 5 pairs, which is why all "
           "the pairs of a prompt go into one batch: shuffled as separate examples, every response "
           "would be trained on 5 times over in one epoch, and the reward model overfits")
    if guess != n:
        raise Fail("not the number of pairs", expected=n, got=guess, hint=why)
    return why


def simulated_agreement(p, n=200_000, seed=0):
    """Two labelers, each right with probability p, independently -> share of pairs they agree on."""
    import numpy as np
    rng = np.random.default_rng(seed)
    a, b = rng.random(n) < p, rng.random(n) < p   # (n,) is each labeler right?
    return float((a == b).mean())


@check("04", "inter_labeler_agreement")
def check_inter_labeler_agreement(m):
    for p in (1.0, 0.5, 0.0, 0.6, 0.81, 0.9):
        simulated = simulated_agreement(p)
        got = call(m, "inter_labeler_agreement", p)
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise Fail(f"inter_labeler_agreement({p}) should return a number", got=repr(got)) from None
        if abs(got - simulated) > 0.005:
            raise Fail(f"inter_labeler_agreement({p}) against a simulation of 200,000 pairs",
                       expected=f"{simulated:.4f}", got=f"{got:.4f}",
                       hint="they agree when both are right OR both are wrong")
    from nanorlhf.tinychat.labeler import DEFAULT_AGREEMENT, GOLD_AGREEMENT
    p = GOLD_AGREEMENT
    return (f"at p = {p} (the scripted labeler against the gold ranking, lesson 04) the formula gives "
            f"{float(call(m, 'inter_labeler_agreement', p)):.2f}. Two noisy scripted labelers agree "
            f"on {DEFAULT_AGREEMENT:.0%} of pairs, more than that: see part label_agreement")


@lru_cache(maxsize=None)
def tinychat_gaps(n_pairs=600, seed=1):
    """Gold-score differences s_a - s_b of SFT-style TinyChat pairs (ties left out)."""
    from nanorlhf.tinychat import labeler
    gaps = [labeler.score(p, a) - labeler.score(p, b) for p, a, b in labeler.sft_style_pairs(n_pairs, seed)]
    return tuple(g for g in gaps if g != 0)


def simulated_label_agreement(gaps, noise, seed=0):
    """Noisy labelers by sampling, as labeler.rank does -> (with_gold, with_each_other)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    draws = max(400, 200_000 // len(gaps))  # labelings of each pair: 200,000 or more in all
    gap = np.array(gaps)[None, :]                                    # (1, P) s_a - s_b
    def noisy_pick_a():  # each response's score gets its own noise
        return gap + noise * (rng.standard_normal((draws, gap.shape[1]))
                              - rng.standard_normal((draws, gap.shape[1]))) > 0   # (draws, P)
    a, b = noisy_pick_a(), noisy_pick_a()
    return float((a == (gap > 0)).mean()), float((a == b).mean())


@check("04", "label_agreement")
def check_label_agreement(m):
    cases = [((1.0, -1.0, 0.3, -2.5, 4.0), 1.0, "a few made-up gaps"),
             (tinychat_gaps(), 1.1, "the gaps of 600 TinyChat pairs at the default noise 1.1"),
             (tinychat_gaps(), 2.0, "the same gaps at noise 2.0")]
    for gaps, noise, what in cases:
        got = call(m, "label_agreement", list(gaps), noise)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Fail(f"label_agreement on {what} should return two numbers", got=repr(got))
        expected = simulated_label_agreement(gaps, noise)
        for name, g, e in zip(("with_gold", "with_each_other"), got, expected):
            if abs(float(g) - e) > 0.01:
                raise Fail(f"{name} on {what}, against a simulation of noisy labelers",
                           expected=f"{e:.3f}", got=f"{float(g):.3f}",
                           hint="for one pair the labeler is right with probability "
                                "p = Phi(|gap| / (noise * sqrt(2))); the two labelers agree with "
                                "probability p^2 + (1 - p)^2 FOR THAT PAIR; then average over pairs")
    with_gold, each_other = (float(x) for x in call(m, "label_agreement", list(tinychat_gaps()), 1.1))
    naive = with_gold ** 2 + (1 - with_gold) ** 2
    return (f"on TinyChat pairs a noisy labeler agrees with the gold order {with_gold:.1%} of the time "
            f"and with another noisy labeler {each_other:.1%}. Part 3's formula with p = {with_gold:.2f} "
            f"would say {naive:.1%}: too low, because p differs from pair to pair and p^2 + (1 - p)^2 "
            "is convex (Jensen). Easy pairs are agreed on almost always, close pairs about half "
            "the time")
