"""
One evaluation for every stage: the gold judge applied to a policy on the held-out prompts.

A sampled evaluation is noisy: with one answer per prompt, a win rate moves by several
points from one seed to the next. So every policy answers each held-out prompt several
times (4 by default), and every figure comes with a 95% interval from a bootstrap over
prompts (the prompts are the sample; the answers to one prompt are not independent).

    ev = evaluate(model, tokenizer, records, samples=4)          # records: eval_prompts.jsonl
    sft_greedy = evaluate(model, tokenizer, records, temperature=0)   # one greedy answer each
    print_report({"SFT greedy": sft_greedy, "PPO": ev}, baseline=sft_ev)

What it measures (summarise):
    gold      mean gold score (labeler.score), range -4 to 4
    win       how often an answer beats the baseline's answers to the same prompt
              (every pair of answers compared, ties count one half)
    strict    share of answers to closed tasks (one right answer: arithmetic, facts,
              rewrites, sorting) that state the right answer and nothing wrong, by kind too
    garbled   share of answers with a word, or a pair of adjacent words in one sentence, that no
              demonstrator writes ("momunder is quiqueak"): answers that do not read as the
              world's language, whatever their verdict
    eos       share of answers that ended with EOS (the rest were cut at max_new_tokens)
    length    mean answer length in tokens, EOS included

Your own prompts have no gold judge (labeler.can_score is False for them). For them
evaluate_without_gold measures what can still be measured: the reward model's score (the
proxy the policy was trained on, not the truth), the exact KL to the SFT model, EOS and
length, with samples to read; print_without_gold says that no gold judge was available.
"""
from dataclasses import dataclass

import numpy as np
import torch

from nanorlhf.chat import encode_prompt, encode_response, left_pad, right_pad
from nanorlhf.reward import score_texts
from nanorlhf.rl import exact_kl, response_logprobs
from nanorlhf.sampling import sample_responses
from nanorlhf.tinychat import labeler
from nanorlhf.tinychat.tasks import task_for_prompt

CLOSED_FAMILIES = ("arithmetic", "facts", "rewrite", "sort")  # every kind with one right answer


@dataclass
class Evaluation:
    """A policy's answers to P held-out prompts, N answers each, as the gold judge sees them."""
    records: list          # P prompt records {"prompt", "family", "kind", ...}
    texts: list            # P lists of N answers
    scores: np.ndarray     # (P, N) gold scores
    verdicts: list         # P lists of N verdicts: "right", "none", "wrong" or "harmful"
    ended: np.ndarray      # (P, N) bool, the answer emitted EOS
    lengths: np.ndarray    # (P, N) answer length in tokens, EOS included

    @property
    def closed(self):      # (P,) bool, the prompt has one right answer
        return np.array([task_for_prompt(r["prompt"]).family in CLOSED_FAMILIES for r in self.records])

    @property
    def correct(self):     # (P, N) bool, the answer is right (meaningful on closed prompts)
        return np.array([[v == "right" for v in row] for row in self.verdicts])


def garbled(text):
    """True if the answer has a word, or a pair of adjacent words in one sentence, that no
    demonstrator writes (the judge's own reference, labeler.unfluency)."""
    return any(share > 0 for share in labeler.unfluency(text))


def evaluate(model, tokenizer, records, samples=4, temperature=1.0, max_new_tokens=48, seed=0, batch_size=64):
    """Sample `samples` answers per prompt (one if temperature is 0: greedy) and judge them."""
    samples = 1 if temperature == 0 else samples
    prompts = [r["prompt"] for r in records]
    repeated = [p for p in prompts for _ in range(samples)]
    was_training = model.training
    model.eval()
    texts, ended, lengths = sample_responses(model, tokenizer, repeated, max_new_tokens, temperature, seed, batch_size)
    model.train(was_training)
    judged = [labeler.judge(p, t) for p, t in zip(repeated, texts)]
    P, N = len(prompts), samples
    return Evaluation(records=list(records), texts=[texts[i * N:(i + 1) * N] for i in range(P)],
                      scores=np.array([s for _, s in judged]).reshape(P, N),
                      verdicts=[[v for v, _ in judged[i * N:(i + 1) * N]] for i in range(P)],
                      ended=np.array(ended).reshape(P, N), lengths=np.array(lengths, dtype=float).reshape(P, N))


def heldout_kl(policy, ref, tokenizer, ev, temperature=1.0, batch_size=64):
    """Exact KL(policy || reference) of an evaluation's answers, summed over each answer's tokens,
    mean per answer. Gao et al. (2022) plot the gold score against sqrt(KL) (lesson 07)."""
    return answers_kl(policy, ref, tokenizer, ev.records, ev.texts, temperature, batch_size)


@torch.no_grad()
def answers_kl(policy, ref, tokenizer, records, texts, temperature=1.0, batch_size=64):
    """heldout_kl of the answers `texts` (one list per record)."""
    device = next(policy.parameters()).device
    pairs = [(r["prompt"], a) for r, answers in zip(records, texts) for a in answers]
    kl = []
    for i in range(0, len(pairs), batch_size):
        prompts, answers = zip(*pairs[i:i + batch_size])
        query, query_mask = left_pad([encode_prompt(tokenizer, p) for p in prompts], tokenizer.pad_id)
        response, response_mask = right_pad([encode_response(tokenizer, a) for a in answers],  # answer + EOS
                                            tokenizer.pad_id)
        # a sampled answer, decoded and encoded again, can come back longer (bytes that were not
        # whole characters decode to U+FFFD, 3 bytes): keep what fits in the model's window
        room = policy.config.block_size - query.size(1)
        response, response_mask = response[:, :room], response_mask[:, :room]
        sequence = torch.cat([query, response], 1).to(device)
        attention_mask = torch.cat([query_mask, response_mask], 1).to(device)
        _, _, logp_all = response_logprobs(policy, sequence, attention_mask, query.size(1), temperature)
        _, _, ref_logp_all = response_logprobs(ref, sequence, attention_mask, query.size(1), temperature)
        kl.append((exact_kl(logp_all, ref_logp_all) * response_mask.to(device)).sum(1).cpu())
    return torch.cat(kl).mean().item()


def has_gold_judge(records):
    """Can the gold judge score answers to every one of these prompts (are they TinyChat's)?"""
    return all(labeler.can_score(r["prompt"]) for r in records)


def evaluate_without_gold(model, ref, reward_model, tokenizer, records, samples=4, temperature=1.0,
                          max_new_tokens=48, seed=0):
    """What can be measured of a policy on prompts with no gold judge: sample `samples` answers per
    prompt -> {"rm_score": (mean, lo, hi) over prompts (None without a reward model), "kl": exact KL
    to `ref` in nats per answer, "eos", "length", "prompts", "samples", "texts": one list per prompt}."""
    samples = 1 if temperature == 0 else samples
    repeated = [r["prompt"] for r in records for _ in range(samples)]
    texts, ended, lengths = sample_responses(model, tokenizer, repeated, max_new_tokens, temperature, seed)
    texts = [texts[i * samples:(i + 1) * samples] for i in range(len(records))]
    rm_score = None
    if reward_model is not None:
        scores = score_texts(reward_model, tokenizer, repeated, [t for row in texts for t in row])   # (P * N,)
        rm_score = with_ci(scores.view(len(records), samples).mean(1).numpy())
    return {"rm_score": rm_score, "kl": answers_kl(model, ref, tokenizer, records, texts, temperature or 1.0),
            "eos": float(np.mean(ended)), "length": float(np.mean(lengths)), "prompts": len(records),
            "samples": samples, "texts": texts}


def log_without_gold(result, step, evals):
    """evaluate_without_gold's result at an interval: its figures (not its texts) appended to `evals`
    with the step, and the metrics for the log line returned (eval_proxy, eval_kl, eval_eos, eval_len)."""
    evals.append(dict(step=step, **{k: v for k, v in result.items() if k != "texts"}))
    return dict(eval_proxy=result["rm_score"][0], eval_kl=result["kl"], eval_eos=result["eos"], eval_len=result["length"])


def print_without_gold(records, results, n=4):
    """Samples and one line per policy for prompts with no gold judge -> {name: figures without the texts}.
    `results`: {name: evaluate_without_gold(...)}, the SFT model first."""
    print("\nanswers to held-out prompts:")
    for i, record in enumerate(records[:n]):
        print(f"  > {record['prompt']}")
        for name, result in results.items():
            print(f"    {name}: {result['texts'][i][0]}")
    print(f"\nno gold judge was available: these {len(records)} held-out prompts are not TinyChat's, so no answer "
          "is judged right or wrong. The reward model's score is a learned proxy, not the truth")
    print(f"  {'policy':<22} {'answers':>7}  {'reward model score':<22} {'KL to SFT':>9} {'EOS':>6} {'length':>6}")
    for name, result in results.items():
        rm = fmt(result["rm_score"]) if result["rm_score"] else "- (no rm.pt)"
        print(f"  {name:<22} {result['samples']:>7}  {rm:<22} {result['kl']:9.2f} {100 * result['eos']:5.1f}% "
              f"{result['length']:6.1f}")
    return {name: {k: v for k, v in result.items() if k != "texts"} for name, result in results.items()}


def gold_rewards(prompts, texts, scale):
    """The gold judge as a reward: each answer's gold score on the reward model's scale,
    (gold - mean) / std, with scale = (mean, std) of the SFT model's answers (gold_scale)."""
    mean, std = scale
    return torch.tensor([(labeler.score(p, t) - mean) / std for p, t in zip(prompts, texts)])


def gold_scale(model, tokenizer, records, temperature=1.0, max_new_tokens=48, seed=0):
    """(mean, std) of the gold score of one answer by `model` to each record: with the SFT model,
    what makes the gold reward's beta and EOS penalty mean what they mean with the reward model,
    whose scores are normalised to mean 0 and std 1 on the SFT model's answers (lesson 05)."""
    scores = evaluate(model, tokenizer, records, 1, temperature, max_new_tokens, seed).scores
    return float(scores.mean()), float(scores.std())


def win_shares(scores, baseline_scores):
    """Per prompt, the share of (answer, baseline answer) pairs the answer wins, ties one half.

    scores (P, N), baseline_scores (P, M) -> (P,)
    win_shares([[1.0, 3.0]], [[2.0]]) -> [0.5];  win_shares([[2.0]], [[2.0, 1.0]]) -> [0.75]
    """
    a = np.asarray(scores, dtype=float)[:, :, None]            # (P, N, 1)
    b = np.asarray(baseline_scores, dtype=float)[:, None, :]   # (P, 1, M)
    return ((a > b) + 0.5 * (a == b)).mean(axis=(1, 2))


def bootstrap_ci(per_prompt, n_boot=2000, seed=0, level=0.95):
    """95% interval of the mean of per-prompt values, resampling prompts with replacement.

    per_prompt (P,) -> (lo, hi). The same seed gives the same interval.
    """
    x = np.asarray(per_prompt, dtype=float)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)   # (n_boot,)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def bootstrap_stat(statistic, n, n_boot=1000, seed=0, level=0.95):
    """95% interval of statistic(indices) over resamples of n units (prompts, rankings) with
    replacement, for figures that are not a mean of per-unit values (a ratio, a rank correlation)."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n, size=n)) for _ in range(n_boot)]
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def ratio_ci(hits, totals):
    """(sum hits / sum totals, lo, hi), resampling the units: an accuracy over pairs grouped in
    rankings, whose pairs share responses and so are not independent. hits, totals: (n,)."""
    hits, totals = np.asarray(hits, dtype=float), np.asarray(totals, dtype=float)
    ratio = lambda i: hits[i].sum() / max(1.0, totals[i].sum())
    return (ratio(np.arange(len(hits))), *bootstrap_stat(ratio, len(hits)))


def with_ci(per_prompt):
    """(mean, lo, hi) of per-prompt values."""
    return (float(np.mean(per_prompt)), *bootstrap_ci(per_prompt))


def summarise(ev, baseline=None):
    """The figures of one evaluation, each (mean, lo, hi) where it has an interval.

    -> {"gold", "strict", "win" (if a baseline is given), "garbled", "eos", "length", "by_kind": {kind: share},
        "heldout_gold", "trained_gold", "heldout_strict", "trained_strict" (gold and strict on prompts with
        held-out / trained phrasings), "prompts", "samples"}
    """
    closed = ev.closed
    out = {"gold": with_ci(ev.scores.mean(axis=1)),
           "strict": with_ci(ev.correct[closed].mean(axis=1)) if closed.any() else None,
           "garbled": float(np.mean([garbled(t) for row in ev.texts for t in row])),
           "eos": float(ev.ended.mean()), "length": float(ev.lengths.mean()),
           "prompts": len(ev.records), "samples": ev.scores.shape[1]}
    if baseline is not None:
        if [r["prompt"] for r in baseline.records] != [r["prompt"] for r in ev.records]:
            raise ValueError("a win rate compares answers to the same prompts")
        out["win"] = with_ci(win_shares(ev.scores, baseline.scores))
    kinds = np.array([r["kind"] for r in ev.records])
    out["by_kind"] = {k: float(ev.correct[kinds == k].mean()) for k in dict.fromkeys(kinds[closed])}
    heldout = np.array([bool(r.get("heldout_phrasing")) for r in ev.records])
    if heldout.any() and (~heldout).any():
        out["heldout_gold"] = float(ev.scores[heldout].mean())
        out["trained_gold"] = float(ev.scores[~heldout].mean())
    if (heldout & closed).any() and (~heldout & closed).any():
        out["heldout_strict"] = float(ev.correct[heldout & closed].mean())
        out["trained_strict"] = float(ev.correct[~heldout & closed].mean())
    return out


def fmt(figure, percent=False):
    """(mean, lo, hi) -> '+0.12 [-0.05, +0.30]' or '61.2% [58.0, 64.1]'."""
    m, lo, hi = figure
    if percent:
        return f"{100 * m:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"
    return f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def print_samples(records, evaluations, n=8):
    """The first answer of each policy to the first n prompts, side by side, gold score in brackets."""
    print("\nanswers to held-out prompts (gold score in brackets):")
    for i, record in enumerate(records[:n]):
        print(f"  > {record['prompt']}")
        for name, ev in evaluations.items():
            print(f"    {name} [{ev.scores[i][0]:+.2f}] {ev.texts[i][0]}")
    print()


def print_report(evaluations, baseline=None, baseline_name="SFT"):
    """One line per policy (gold, win rate over the baseline, strict correctness, garbled, EOS, length),
    then strict correctness by kind. `evaluations`: {name: Evaluation}, the baseline first if
    it is among them. Returns {name: summary}."""
    summaries = {name: summarise(ev, baseline) for name, ev in evaluations.items()}
    first = next(iter(summaries.values()))
    print(f"held-out prompts: {first['prompts']}; intervals are 95% over prompts (bootstrap)")
    print(f"  {'policy':<22} {'answers':>7}  {'gold score':<22} {'win vs ' + baseline_name:<22} "
          f"{'strict (closed)':<22} {'garbled':>7} {'EOS':>6} {'length':>6}")
    for name, s in summaries.items():
        win = fmt(s["win"], percent=True) if "win" in s else "-"
        strict = fmt(s["strict"], percent=True) if s["strict"] else "-"
        print(f"  {name:<22} {s['samples']:>7}  {fmt(s['gold']):<22} {win:<22} {strict:<22} "
              f"{100 * s['garbled']:6.1f}% {100 * s['eos']:5.1f}% {s['length']:6.1f}")
    print("strict correctness by kind:")
    for name, s in summaries.items():
        print(f"  {name:<22} " + " | ".join(f"{k} {100 * v:.0f}%" for k, v in s["by_kind"].items()))
    return summaries
