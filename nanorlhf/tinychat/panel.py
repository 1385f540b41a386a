"""A panel of scripted labelers: one guidelines, several people reading them.

Real labelers are many and they differ. They share the guidelines' order (harmless, then
correct, then helpful, then concise), but where the guidelines leave room each weighs
things a little differently: how much a filler phrase or a hedge costs, how much a full
sentence beats a bare answer, how strictly a missing full stop is judged. And each has
their own share of slips.

Each profile here re-weighs the penalty parts the gold judge already computes
(labeler.penalties: 'filler', 'hedges', 'bare', 'form', ...), then puts the response in
its band as the gold judge does. The weights never move a response out of its verdict's
band, so every profile keeps the guidelines' order, harmful < wrong < none < right; they
only change the order within a band. The noise (Gaussian, on each response's score) is
the profile's own.

    score_as(PANEL["brief"], "What is 7 plus 5?", "12.")    -> 3.99  (a bare answer costs nothing)
    score_as(PANEL["thorough"], "What is 7 plus 5?", "12.") -> 2.31  (three times the guidelines' price)
    rank_as(profile, prompt, responses, rng) -> indices, best first, with the profile's noise
    thumb_as(profile, prompt, response, rng) -> "up" or "down"

GUIDELINES is the labeler of the default pipeline (labeler.rank: the guidelines' prices,
noise 1.1); the gold judge is labeler.score, unchanged. Run `python -m nanorlhf.tinychat.panel`
for the agreement matrix: each labeler against each other and against the gold order.
"""
import argparse
import math
import os
from dataclasses import dataclass, field

import numpy as np

from nanorlhf.tinychat import labeler

# A thumb is up when the labeler's noisy score clears this bar: a right answer without
# serious flaws (the right band is 0 to +4; "12." scores +3.40, a hedged right answer about +2).
THUMB_THRESHOLD = 2.0


@dataclass(frozen=True)
class Profile:
    """A labeler: how much each penalty part weighs for them (1 = the guidelines' price), and their noise."""
    name: str
    about: str
    weights: dict = field(default_factory=dict)   # penalty part -> multiplier; parts not named weigh 1
    noise: float = labeler.DEFAULT_NOISE


GUIDELINES = Profile("guidelines", "the guidelines' prices exactly; the labeler of the default pipeline")

PANEL = {p.name: p for p in [
    Profile("stickler", "judges form strictly: a missing full stop or a lower-case start costs three times the "
            "price, an odd word twice", {"form": 3.0, "unknown_words": 2.0, "unseen_pairs": 2.0}, noise=0.9),
    Profile("relaxed", "hardly minds filler, hedges, repetition or careless form",
            {"filler": 0.25, "hedges": 0.25, "repetition": 0.5, "form": 0.0}, noise=1.1),
    Profile("brief", "wants it short: filler, repetition and extra words cost double or more; a bare answer is fine",
            {"filler": 2.0, "repetition": 2.0, "length": 3.0, "bare": 0.0}, noise=1.0),
    Profile("thorough", "wants full answers: a bare answer, a missing tip or a refusal without a reason or an "
            "alternative costs two to three times the price; length is cheap",
            {"bare": 3.0, "missing_points": 1.5, "no_alternative": 2.0, "no_reason": 2.0, "length": 0.5}, noise=1.0),
    Profile("hasty", "the guidelines' prices, but reads fast: more slips", {}, noise=1.6),
]}


def score_as(profile, prompt, response):
    """The profile's noise-free score: the gold judge's verdict and band, its own price for each penalty part.

    score_as(GUIDELINES, prompt, response) == labeler.score(prompt, response) for every response."""
    parts = labeler.score_parts(prompt, response)   # {'verdict': 'right', 'bare': -0.6, 'chars': -0.006}
    band = parts.pop("verdict")
    # P = sum over parts of weight * |part|; the band keeps the verdict whatever the weights
    penalty = -sum(profile.weights.get(name, 1.0) * value for name, value in parts.items())
    return labeler.band_score(band, penalty)


def noisy_scores(profile, prompt, responses, rng):
    """score_as() of each response plus the profile's Gaussian noise: what the labeler perceives."""
    scores = np.array([score_as(profile, prompt, r) for r in responses])
    return scores + profile.noise * rng.standard_normal(len(responses))


def rank_as(profile, prompt, responses, rng):
    """Indices of `responses`, best first, as this labeler ranks them (rng: a numpy Generator).
    With GUIDELINES it draws the same noise as labeler.rank with the same rng, so it gives the same ranking."""
    scores = noisy_scores(profile, prompt, responses, rng)
    return sorted(range(len(responses)), key=lambda i: -scores[i])


def thumb_as(profile, prompt, response, rng, threshold=THUMB_THRESHOLD):
    """A thumb on one answer: "up" when the labeler's noisy score clears `threshold`, else "down"."""
    return "up" if noisy_scores(profile, prompt, [response], rng)[0] > threshold else "down"


# -----------------------------------------------------------------------------
# The agreement matrix


def _phi(z):
    """Standard normal CDF, elementwise."""
    return 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))


def agreement_matrix(records, profiles):
    """How often each labeler orders a pair as each other labeler does, and as the gold order does.

    records: {"prompt", "responses"} dicts; every pair of responses to the same prompt whose gold
    scores differ counts. The figures are exact expectations over the labelers' noise (no draws):
    labeler i picks a over b with p_i = Phi((s_i(a) - s_i(b)) / (noise_i sqrt 2)), two labelers
    agree on the pair with p_i p_j + (1 - p_i)(1 - p_j) (the diagonal: the same labeler twice),
    and a labeler agrees with the gold order with p_i or 1 - p_i.
    -> ({"gold": {name: share}, name: {name: share}}, number of pairs)
    """
    names = [p.name for p in profiles]
    picks, gold_a = {n: [] for n in names}, []   # per pair: P(labeler picks a), is a the gold winner?
    for record in records:
        prompt, responses = record["prompt"], record["responses"]
        gold = [labeler.score(prompt, y) for y in responses]
        scores = {p.name: [score_as(p, prompt, y) for y in responses] for p in profiles}
        for a in range(len(responses)):
            for b in range(a + 1, len(responses)):
                if gold[a] == gold[b]:
                    continue   # no one can order a tie (mostly the same text twice)
                gold_a.append(gold[a] > gold[b])
                for p in profiles:
                    picks[p.name].append((scores[p.name][a] - scores[p.name][b]) / (p.noise * math.sqrt(2)))
    p = {n: _phi(np.array(z)) for n, z in picks.items()}   # (pairs,) P(labeler picks a)
    gold_a = np.array(gold_a)
    matrix = {"gold": {n: float(np.where(gold_a, p[n], 1 - p[n]).mean()) for n in names}}
    for i in names:
        matrix[i] = {j: float((p[i] * p[j] + (1 - p[i]) * (1 - p[j])).mean()) for j in names}
    return matrix, len(gold_a)


def profile_table(profiles):
    """The profiles as a markdown table: name, noise, the prices they change, what they are like."""
    lines = ["| labeler | noise | prices (x the guidelines') | what they are like |", "|---|---|---|---|"]
    for p in profiles:
        weights = ", ".join(f"{k.replace('_', ' ')} x{v:g}" for k, v in p.weights.items()) or "all as written"
        lines.append(f"| {p.name} | {p.noise:.1f} | {weights} | {p.about} |")
    return "\n".join(lines)


def format_matrix(matrix, names):
    """The agreement matrix as a markdown table, the gold order first."""
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|",
             "| **gold order** | " + " | ".join(f"{100 * matrix['gold'][n]:.1f}%" for n in names) + " |"]
    lines += [f"| {i} | " + " | ".join(f"{100 * matrix[i][j]:.1f}%" for j in names) + " |" for i in names]
    return "\n".join(lines)


def main():
    from nanorlhf.data import load_jsonl
    parser = argparse.ArgumentParser(description="The panel's agreement matrix on pairs of answers to the same prompt.")
    parser.add_argument("--comparisons", default="out/comparisons.jsonl",
                        help="rankings whose answers to pair up (train_rm.py writes them); without the file, "
                             "pairs of demonstrations are used")
    args = parser.parse_args()
    profiles = [GUIDELINES, *PANEL.values()]
    if os.path.exists(args.comparisons):
        records, source = load_jsonl(args.comparisons), f"the answers of {args.comparisons}"
    else:
        records = [{"prompt": p, "responses": [a, b]} for p, a, b in labeler.sft_style_pairs(2000)]
        source = f"2000 pairs of demonstrations ({args.comparisons} not found)"
    print(profile_table(profiles))
    matrix, n_pairs = agreement_matrix(records, profiles)
    print(f"\nagreement on {n_pairs} pairs with different gold scores, from {source} "
          "(row labeler against column labeler; the diagonal is a labeler against itself on another day):\n")
    print(format_matrix(matrix, [p.name for p in profiles]))


if __name__ == "__main__":
    main()
