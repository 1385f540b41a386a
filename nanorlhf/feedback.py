"""
Human feedback as data: rankings of K responses per prompt.

One comparison record per prompt, one JSON object per line:

    {"prompt": "What is 2 plus 3?",
     "responses": ["It is 5.", "5", "It is 6.", "Sorry, I cannot help with that."],
     "ranking": [0, 1, 3, 2],                     # response indices, best first
     "labeler": "scripted(noise=0.5)"}

A ranking of K responses holds C(K, 2) (winner, loser) pairs. The common pairwise format
{"prompt", "chosen", "rejected"} is read as a ranking of K = 2. A thumb on a single answer,

    {"prompt": "What is 2 plus 3?", "response": "It is 6.", "thumb": "down"}

is read as a record of one response with an empty set of pairs and "thumb": 1.0 (up) or 0.0
(down): the reward model compares it with a reference level instead of another answer
(nanorlhf/reward.py: thumb_loss). A record with "skipped": true (the labeling tool writes
those) carries no preference and is dropped.
"""
import json
import os

import numpy as np

from nanorlhf.data import iter_jsonl
from nanorlhf.evaluation import ratio_ci
from nanorlhf.reward import ranking_to_pairs, score_texts
from nanorlhf.sampling import generate_responses, sample_responses
from nanorlhf.tinychat import labeler
from nanorlhf.tinychat.tasks import task_for_prompt


def collect_comparisons(model, tokenizer, prompts, k, noise, seed, max_new_tokens=48,
                        temperature=1.0):
    """Sample k responses per prompt from `model` and have the scripted labeler rank them."""
    repeated = [p for p in prompts for _ in range(k)]
    texts, _, _ = sample_responses(model, tokenizer, repeated, max_new_tokens, temperature, seed)
    rng = np.random.default_rng(seed)
    records = []
    for i, prompt in enumerate(prompts):
        responses = texts[i * k:(i + 1) * k]
        ranking = labeler.rank(prompt, responses, rng=rng, noise=noise)
        records.append({"prompt": prompt, "responses": responses, "ranking": list(ranking),
                        "labeler": f"scripted(noise={noise})"})
    return records


def parse_comparison(record, where):
    """Check one JSON record and return it as {"prompt", "responses", "ranking"}, or None if skipped.

    `where` ("file:line") goes into the error message.
    """
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if record.get("skipped"):
        return None
    if "thumb" in record:
        return parse_thumb(record, where)
    if "chosen" in record and "rejected" in record:
        record = {"prompt": record.get("prompt"), "responses": [record["chosen"], record["rejected"]],
                  "ranking": [0, 1]}
    for key in ("prompt", "responses", "ranking"):
        if key not in record:
            raise ValueError(f"{where}: missing key {key!r} (need prompt, responses, ranking "
                             f"or prompt, chosen, rejected)")
    prompt, responses, ranking = record["prompt"], record["responses"], record["ranking"]
    if not isinstance(responses, list) or not isinstance(ranking, list):
        raise ValueError(f"{where}: responses and ranking must be lists, e.g. "
                         f'"responses": ["first answer", "second answer"], "ranking": [1, 0]')
    if not isinstance(prompt, str) or not all(isinstance(r, str) for r in responses):
        raise ValueError(f"{where}: prompt and responses must be strings")
    if sorted(ranking) != list(range(len(responses))) or len(responses) < 2:
        raise ValueError(f"{where}: ranking {ranking} is not an ordering of the "
                         f"{len(responses)} responses (indices 0..{len(responses) - 1})")
    return {"prompt": prompt, "responses": responses, "ranking": ranking}


def parse_thumb(record, where):
    """A thumbs record -> {"prompt", "responses": [response], "ranking": [0], "thumb": 1.0 or 0.0}."""
    for key in ("prompt", "response"):
        if not isinstance(record.get(key), str):
            raise ValueError(f"{where}: a thumbs record needs {key!r} as a string "
                             '(prompt, response, thumb: "up" or "down")')
    if record["thumb"] not in ("up", "down"):
        raise ValueError(f'{where}: thumb must be "up" or "down", got {record["thumb"]!r}')
    return {"prompt": record["prompt"], "responses": [record["response"]], "ranking": [0],
            "thumb": float(record["thumb"] == "up")}


def load_comparisons(path):
    """Read a comparisons file (rankings, chosen/rejected pairs, thumbs) -> list of records. A malformed
    file stops the program with one line that names the file and line."""
    if not os.path.exists(path):
        raise SystemExit(f"error: comparisons file {path} not found")
    try:
        records = [parse_comparison(record, f"{path}:{lineno}") for lineno, record in iter_jsonl(path)]
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    return [r for r in records if r is not None]


def split_rankings(records, n_val, seed):
    """-> (train, held out): n_val rankings (at most half) held out, chosen by a seeded shuffle,
    so that train_rm.py and train_dpo.py with the same seed hold out the same ones."""
    order = np.random.default_rng(seed).permutation(len(records))
    n_val = min(n_val, len(records) // 2)
    return [records[i] for i in order[n_val:]], [records[i] for i in order[:n_val]]


def agreement(records, scores, ties):
    """(agree, total): of the records' labeled (winner, loser) pairs, how many `scores` order
    the same way (one list per record, higher is better; equal scores order nothing). Pairs
    that tie in `ties` (one list per record: the gold scores, or the texts themselves when
    there is no gold score) are left out, since no one can order them.

    agreement([{"ranking": [0, 1, 2]}], [[3.0, 1.0, 2.0]], [["a", "b", "a"]]) -> (1, 2)
    # pairs (0, 1) agree, (0, 2) is a tie and left out, (1, 2) disagrees
    """
    agree, total = 0, 0
    for record, s, t in zip(records, scores, ties):
        for w, l in ranking_to_pairs(record["ranking"]):
            if t[w] != t[l]:
                agree, total = agree + (s[w] > s[l]), total + 1
    return agree, total


def accuracy_ci(records, scores, ties):
    """agreement() as a share, with its 95% interval over rankings -> (share, lo, hi)."""
    counts = np.array([agreement([r], [s], [t]) for r, s, t in zip(records, scores, ties)]).reshape(-1, 2)
    return ratio_ci(counts[:, 0], counts[:, 1])


def ranking_scores(ranking):
    """A ranking as scores, so agreement() can compare with it: [2, 0, 1] -> [-1, -2, 0]."""
    scores = [0] * len(ranking)
    for place, i in enumerate(ranking):
        scores[i] = -place
    return scores


def record_scores(model, tokenizer, records):
    """Reward-model scores of every record's responses: one list per record."""
    scores = score_texts(model, tokenizer, [r["prompt"] for r in records for _ in r["responses"]],
                         [y for r in records for y in r["responses"]]).tolist()
    sizes = np.cumsum([0] + [len(r["responses"]) for r in records])
    return [scores[a:b] for a, b in zip(sizes[:-1], sizes[1:])]


def gold_scores(records):
    """The gold score of every response: one list per record."""
    return [[labeler.score(r["prompt"], y) for y in r["responses"]] for r in records]


def gold_agreement(records):
    """(agree, total): of the records' (winner, loser) pairs, how many the noise-free gold
    ranking orders the same way. Pairs whose gold scores tie are left out."""
    gold = gold_scores(records)
    return agreement(records, gold, gold)


def gold_pairs(records, rm_scores):
    """Every pair of a record's responses whose gold scores differ, as (family, gap, right):
    gap is the difference of the gold scores, right says whether the reward model's scores
    (rm_scores: one list per record) order the pair the same way (a tie counts as wrong).

    gold_pairs([{"prompt": "What is 2 plus 3?", "responses": ["5.", "It is 6."]}], [[0.4, 0.9]])
    -> [("arithmetic", 3.7..., False)]   # "5." is right and the gold score prefers it
    """
    pairs = []
    for record, scores, gold in zip(records, rm_scores, gold_scores(records)):
        family = task_for_prompt(record["prompt"]).family
        for i in range(len(gold)):
            for j in range(i + 1, len(gold)):
                if gold[i] != gold[j]:
                    right = (scores[i] - scores[j]) * (gold[i] - gold[j]) > 0
                    pairs.append((family, abs(gold[i] - gold[j]), right))
    return pairs


def share_right(pairs):
    """(share of pairs the reward model orders right, number of pairs) for gold_pairs output."""
    return sum(right for _, _, right in pairs) / max(1, len(pairs)), len(pairs)


def save_comparisons(records, path):
    """Write records as JSONL, atomically (temporary file, then rename)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(path + ".tmp", path)

# -----------------------------------------------------------------------------
# Labeling by people: the typed ranking, the answers to rank, and a file that survives a crash


def parse_ranking(answer, k):
    """'3 1 2' -> [2, 0, 1] (0-based, best first), or an explanation of what is wrong (a str)."""
    parts = answer.replace(",", " ").split()
    if not all(p.isdigit() for p in parts):
        return f"use the numbers 1 to {k} separated by spaces"
    numbers = [int(p) for p in parts]
    if len(numbers) != k:
        return f"rank all {k} responses (you gave {len(numbers)})"
    if sorted(numbers) != list(range(1, k + 1)):
        return f"each of the numbers 1 to {k} exactly once"
    return [n - 1 for n in numbers]


def prompt_responses(model, tokenizer, prompt, index, k, seed):
    """The k responses to rank for prompt number `index`, sampled with a seed of their own
    (seed * 100003 + index): a restart, or another labeling tool, shows the same ones."""
    return generate_responses(model, tokenizer, [prompt] * k, seed=seed * 100003 + index)


def append_record(path, record):
    """Append one JSON line and force it to disk before asking the next question."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def drop_cut_last_line(path):
    """A crash while a line was being written leaves it without its newline. Drop that part,
    so that the file reads again; every complete line, every label saved, stays. -> dropped?"""
    with open(path, "rb") as f:
        data = f.read()
    if not data or data.endswith(b"\n"):
        return False
    os.truncate(path, data.rfind(b"\n") + 1)
    return True
