"""
Checks for exercise 04: rankings, pairs and labeler agreement (lessons/04_human_feedback.md,
lessons/exercises/ex04_feedback.py).

The references are nanorlhf/reward.py: ranking_to_pairs, simulations of noisy labelers
on TinyChat's gold scores (nanorlhf/tinychat/labeler.py), and reward models fitted at equal
effort in lesson 05's Bradley-Terry world.
"""
import random
from functools import lru_cache

import torch

from lessons.check import Fail, Todo, call, check, expect_equal, prediction
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


def reference_judgments_and_pairs(k, budget):
    """Lesson 04's cost model: k answers read + 1 decision per judgment -> (judgments, pairs)."""
    judgments = budget // (k + 1)
    return judgments, judgments * k * (k - 1) // 2


@check("04", "judgments_and_pairs")
def check_judgments_and_pairs(m):
    for k, budget in [(4, 10_000), (1, 10_000), (2, 10_000), (8, 10_000), (3, 7), (5, 5), (9, 1000)]:
        got = call(m, "judgments_and_pairs", k, budget)
        expected = reference_judgments_and_pairs(k, budget)
        expect_equal(f"judgments_and_pairs({k}, {budget:,})", tuple(got) if isinstance(got, (tuple, list)) else got,
                     expected, hint="a judgment of k answers costs k + 1 units (only whole judgments count), "
                                    "and a ranking of k answers holds C(k, 2) = k (k - 1) / 2 pairs")
    rows = ", ".join("K = {}: {:,} judgments, {:,} pairs".format(k, *reference_judgments_and_pairs(k, 10_000))
                     for k in (2, 4, 8))
    return (f"at the budget of 10,000 units: {rows}. A ranking of 4 costs 5 / 3 of a pair and holds 6 pairs, "
            "so rankings buy 3.6 times the pairs; but pairs of one ranking share answers, so they are worth less "
            "than as many independent pairs")


def equal_effort_world(k, budget, seed, d=16, steps=200, n_test=20_000):
    """Lesson 05's Bradley-Terry world at equal effort: budget // (k + 1) rankings of k random
    responses by a labeler with noise 1, a linear reward model fitted on all their pairs ->
    its held-out accuracy against the gold order."""
    from nanorlhf.reward import pairwise_loss, ranking_to_pairs
    g = torch.Generator().manual_seed(seed)
    w_true = torch.randn(d, generator=g, dtype=torch.float64)
    w_true = w_true / w_true.norm()                                          # gold score s = w* . x
    x = torch.randn(budget // (k + 1), k, d, generator=g, dtype=torch.float64)   # (n, k, d) responses
    noisy = x @ w_true + torch.randn(x.shape[:2], generator=g, dtype=torch.float64)   # (n, k) the labeler's
    order = noisy.argsort(dim=1, descending=True)                           # (n, k) rankings, best first
    places = torch.tensor(ranking_to_pairs(list(range(k))))                  # (C, 2) (winner, loser) places
    pick = lambda col: x.gather(1, order[:, places[:, col], None].expand(-1, -1, d)).reshape(-1, d)
    x_w, x_l = pick(0), pick(1)                                              # (n C, d)
    w = torch.zeros(d, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([w], lr=0.05)
    for _ in range(steps):
        loss = pairwise_loss(x_w @ w, x_l @ w)   # every ranking has C(k, 2) pairs: the plain mean
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x_a, x_b = (torch.randn(n_test, d, generator=g, dtype=torch.float64) for _ in range(2))
    with torch.no_grad():
        return ((x_a @ w > x_b @ w) == (x_a @ w_true > x_b @ w_true)).double().mean().item()


@lru_cache(maxsize=None)
def k4_vs_k2(budget=600, seeds=6):
    """-> (accuracy with K = 2, with K = 4, the verdict): 'higher' when K = 4's lead over the seeds
    is more than two standard errors above 0, 'lower' when below, 'same' otherwise."""
    import statistics
    k2 = [equal_effort_world(2, budget, s) for s in range(seeds)]
    k4 = [equal_effort_world(4, budget, s) for s in range(seeds)]
    lead = [b - a for a, b in zip(k2, k4)]
    se = statistics.stdev(lead) / seeds ** 0.5
    mean = statistics.mean(lead)
    verdict = "higher" if mean > 2 * se else "lower" if mean < -2 * se else "same"
    return statistics.mean(k2), statistics.mean(k4), verdict


def recorded_tinychat():
    """What lesson 04's TinyChat study recorded for pairs and rankings of 4, as a sentence."""
    import json
    from lessons.check import ROOT
    path = ROOT / "lessons" / "recorded_feedback.json"
    if not path.exists():
        return ""
    formats = json.loads(path.read_text())["formats"]
    pct = lambda x: f"{100 * x[0]:.1f}% [{100 * x[1]:.1f}, {100 * x[2]:.1f}]"
    return (f". In TinyChat (lesson 04's table, 10,000 units each) the reward model orders "
            f"{pct(formats['pairs']['rm']['val_acc_gold'])} of held-out pairs as the gold order does from pairs "
            f"and {pct(formats['k4']['rm']['val_acc_gold'])} from rankings of 4: the same way, but inside the "
            "intervals. There the reward model is held back by what it can represent more than by data "
            "(lesson 05), so more pairs help little; in the Bradley-Terry world its shape is exactly right "
            "and the data is all that limits it")


@check("04", "PREDICTED_K4_VS_K2")
def check_k4_vs_k2(m):
    guess = getattr(m, "PREDICTED_K4_VS_K2", None)
    if guess is None:
        raise Todo("still None: write your prediction in the file first")
    if guess not in ("higher", "lower", "same"):
        raise Fail('PREDICTED_K4_VS_K2 should be "higher", "lower" or "same"', got=repr(guess))
    k2, k4, verdict = k4_vs_k2()
    why = (f"measured in lesson 05's Bradley-Terry world at 600 units (200 pairs against 120 rankings of 4, "
           f"6 seeds): {k2:.1%} of new pairs in the gold order from pairs, {k4:.1%} from rankings of 4. "
           "Reading an answer is the cost; a ranking reuses every answer it reads in K - 1 pairs, so each "
           "answer read teaches more" + recorded_tinychat())
    if guess != verdict:
        raise Fail("not what the measurement says", expected=repr(verdict), got=repr(guess), hint=why)
    return why
