"""
Exercise 04: rankings, pairs and labeler agreement.        Lesson: lessons/04_human_feedback.md

Fill in the blocks between the YOUR CODE markers, then run

    python lessons/check.py 04                      # every part
    python lessons/check.py 04 ranking_to_pairs     # one part at a time

1. ranking_to_pairs(ranking) -> list of (winner, loser) tuples. `ranking` lists response
   indices best first, and every response beats every response ranked below it:
       ranking_to_pairs([2, 0, 1]) -> [(2, 0), (2, 1), (0, 1)]
   The pairs may come in any order. The check compares with
   nanorlhf/reward.py: ranking_to_pairs on every ranking of up to 9 responses.

2. A prediction: how many (winner, loser) pairs does one ranking of K = 6 responses hold?
   Write the number in PREDICTED_PAIRS_K6.

3. inter_labeler_agreement(p) -> float. Two labelers judge the same pair of responses.
   Each picks the truly better one with probability p, independently of the other. How
   often do they pick the same response? Work it out on paper; the check compares your
   formula with a simulation.

4. label_agreement(gaps, noise) -> (with_gold, with_each_other), two floats. The scripted
   labeler (nanorlhf/tinychat/labeler.py: rank) adds independent Gaussian noise of scale `noise`
   to the gold score of EACH response, then sorts. `gaps` is a list of gold-score
   differences s_a - s_b, one per pair of responses (none of them 0). Return, averaged
   over the pairs:
       with_gold        the chance that a noisy labeler orders a pair as the gold scores do
       with_each_other  the chance that two independent noisy labelers order it the same way
   Compute it exactly, without random numbers. The standard normal CDF is
       Phi(z) = 0.5 * (1 + math.erf(z / math.sqrt(2)))
   and the difference of two independent N(0, noise^2) draws is N(0, 2 noise^2).
   The check runs your function on the gold-score gaps of TinyChat pairs and compares it
   with a simulation of noisy labelers (what labeler.agreement_report does).

5. judgments_and_pairs(k, budget) -> (judgments, pairs), two whole numbers. Lesson 04's cost
   model: a judgment of k answers (a thumb k = 1, a pair k = 2, a ranking k > 2) costs k + 1
   units, one per answer read and one for the decision. How many whole judgments of k
   answers does a budget of `budget` units buy, and how many (winner, loser) pairs do they
   hold (a thumb holds none)?
       judgments_and_pairs(4, 10_000) -> (2000, 12000)

6. A prediction: at equal effort, does a reward model trained on rankings of K = 4 order
   new pairs as the gold order does more often than one trained on pairs (K = 2), less
   often, or about as often? Write "higher", "lower" or "same" in PREDICTED_K4_VS_K2, then
   run the check: it measures the answer in lesson 05's Bradley-Terry world (a few seconds)
   and tells you what lesson 04's TinyChat study found.
"""
import math


def ranking_to_pairs(ranking):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


# ---- YOUR CODE BELOW ----
PREDICTED_PAIRS_K6 = None  # a whole number
# ---- YOUR CODE ABOVE ----


def inter_labeler_agreement(p):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


def label_agreement(gaps, noise):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


def judgments_and_pairs(k, budget):
    # ---- YOUR CODE BELOW ----
    raise NotImplementedError
    # ---- YOUR CODE ABOVE ----


# ---- YOUR CODE BELOW ----
PREDICTED_K4_VS_K2 = None  # "higher", "lower" or "same"
# ---- YOUR CODE ABOVE ----
