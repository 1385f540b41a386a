"""
The lessons stay true to the code, and their exercise checks tell right from wrong.

1. Every exercise's check FAILS on the untouched stub, PASSES with a correct solution,
   and FAILS on typical wrong answers.
2. Every code link `path.py: Name` in lessons/*.md names a file that defines Name, and
   every relative Markdown link points to a file that exists.
3. Every code block marked as a quote (```python quote=PATH) appears verbatim in PATH.
4. Every command a lesson shows (`python train_sft.py --flag ...`, `python -m nanorlhf.x`,
   `python lessons/check.py NN`) names a script, flags and exercises that exist.
Checks 2-4 parse every lesson, so lessons added later are covered too.
"""
import ast
import math
import re
import textwrap
from pathlib import Path

import pytest
import regex
import torch
from torch.nn import functional as F

from conftest import run
from lessons import check
from nanorlhf.reward import last_token_index, pairwise_loss, ranking_to_pairs
from nanorlhf.rl import dpo_loss, group_advantages, kl_k3
from nanorlhf.sft import IGNORE
from nanorlhf.tokenizer import SPLIT_PATTERN, merge, train_merges
from train_ppo import compute_gae, masked_mean, policy_loss

ROOT = Path(__file__).resolve().parent.parent
CHECKS = check.load_checks()  # exercise -> [(part, check function), ...], from lessons/checks/lesson_NN.py
LESSONS = sorted((ROOT / "lessons").glob("*.md"))
EXERCISES = sorted((ROOT / "lessons" / "exercises").glob("ex*_*.py"))
# lessons the overview links to before their authors have written them
PLANNED = set()


# -----------------------------------------------------------------------------
# 1. The exercise checks

def encode_chunk_solution(chunk, merges):
    ids = list(chunk.encode("utf-8"))
    for k, pair in enumerate(merges):
        ids = merge(ids, pair, 256 + k)
    return ids


def attention_solution(q, k, v, key_mask=None):
    T, hs = q.size(-2), q.size(-1)
    att = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, nh, T, T)
    allowed = torch.ones(T, T, dtype=torch.bool).tril()  # (T, T) causal
    if key_mask is not None:
        allowed = allowed & key_mask.bool()[:, None, None, :]  # (B, 1, T, T)
    allowed = allowed | torch.eye(T, dtype=torch.bool)
    return att.masked_fill(~allowed, float("-inf")).softmax(dim=-1) @ v


def sft_targets_solution(prompt_ids, response_ids, eos_id):
    ids = prompt_ids + response_ids + [eos_id]
    return ids[:-1], [IGNORE] * (len(prompt_ids) - 1) + ids[len(prompt_ids):]


def label_agreement_solution(gaps, noise):
    # a labeler is right on a pair with p = P(gap + N(0, 2 noise^2) has the gap's sign)
    p = [0.5 * (1 + math.erf(abs(g) / (2 * noise))) for g in gaps]
    return sum(p) / len(p), sum(q * q + (1 - q) ** 2 for q in p) / len(p)


def pairwise_loss_grad_solution(r_w, r_l):
    # d/dr_w mean(-log sigmoid(r_w - r_l)) = -sigmoid(r_l - r_w) / N
    grad_w = -torch.sigmoid(r_l - r_w) / r_w.numel()
    return grad_w, -grad_w


def monte_carlo_advantages_solution(rewards, values, mask):
    # G_t = sum of the valid rewards from t to the end; A_t = G_t - V(s_t)
    returns = (rewards * mask).flip(1).cumsum(1).flip(1)
    return (returns - values) * mask


def compute_gae_unmasked_values(rewards, values, mask, gamma, lam):  # bootstraps from V(PAD)
    advantages, next_advantage = torch.zeros_like(rewards), torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.size(1))):
        next_value = values[:, t + 1] if t + 1 < rewards.size(1) else torch.zeros_like(values[:, 0])
        next_advantage = (rewards[:, t] + gamma * next_value - values[:, t] + gamma * lam * next_advantage) * mask[:, t]
        advantages[:, t] = next_advantage
    return advantages, (advantages + values) * mask


def compute_gae_without_lambda(rewards, values, mask, gamma, lam):  # A_t = delta_t + gamma A_{t+1}
    return compute_gae(rewards, values, mask, gamma, 1.0)


def monte_carlo_with_padding(rewards, values, mask):  # sums the garbage rewards after EOS too
    return (rewards.flip(1).cumsum(1).flip(1) - values) * mask


def monte_carlo_forward(rewards, values, mask):  # the rewards BEFORE t instead of from t on
    return ((rewards * mask).cumsum(1) - values) * mask


def clipped_policy_loss_unclipped(logprobs, old_logprobs, advantages, mask, cliprange):
    return masked_mean(-advantages * torch.exp(logprobs - old_logprobs), mask)


def clipped_policy_loss_without_min(logprobs, old_logprobs, advantages, mask, cliprange):  # clip only
    ratio = torch.clamp(torch.exp(logprobs - old_logprobs), 1 - cliprange, 1 + cliprange)
    return masked_mean(-advantages * ratio, mask)


def clipped_policy_loss_optimistic(logprobs, old_logprobs, advantages, mask, cliprange):  # max, not min
    ratio = torch.exp(logprobs - old_logprobs)
    clipped = torch.clamp(ratio, 1 - cliprange, 1 + cliprange)
    return masked_mean(torch.min(-advantages * ratio, -advantages * clipped), mask)


def clipped_policy_loss_padded_mean(logprobs, old_logprobs, advantages, mask, cliprange):  # / (B R)
    return policy_loss(logprobs, old_logprobs, advantages, mask, cliprange)[0] * mask.sum() / mask.numel()


# exercise -> {name in the stub: a correct answer}
SOLUTIONS = {
    "01": dict(merge=merge, encode_chunk=encode_chunk_solution, train=train_merges,
               PREDICTED_BYTES_PER_TOKEN_2048=3.6),
    "02": dict(position_ids=lambda mask: (mask.cumsum(dim=1) - 1).clamp(min=0), attention=attention_solution,
               PREDICTED_INIT_LOSS_320=math.log(320)),
    "03": dict(sft_targets=sft_targets_solution, PREDICTED_EOS_RATE_WITHOUT_EOS_TARGETS=0.0),
    "04": dict(ranking_to_pairs=ranking_to_pairs, PREDICTED_PAIRS_K6=15,
               inter_labeler_agreement=lambda p: p * p + (1 - p) ** 2, label_agreement=label_agreement_solution,
               judgments_and_pairs=lambda k, budget: (budget // (k + 1), budget // (k + 1) * k * (k - 1) // 2),
               PREDICTED_K4_VS_K2="higher"),
    "05": dict(pairwise_loss=pairwise_loss, pairwise_loss_grad=pairwise_loss_grad_solution,
               last_token_index=last_token_index, PREDICTED_NOISY_ACCURACY=0.75, PREDICTED_GOLD_ACCURACY=0.98),
    "06": dict(compute_gae=compute_gae, monte_carlo_advantages=monte_carlo_advantages_solution,
               PREDICTED_TOTAL_REWARD_AT_BETA_0_2=1.04, PREDICTED_BETA_AT_ZERO_REWARD=1.5 / 2.3,
               clipped_policy_loss=lambda *args: policy_loss(*args)[0]),
    "08": dict(dpo_loss=dpo_loss, PREDICTED_DPO_LOSS_AT_START=math.log(2), group_advantages=group_advantages,
               kl_k3=kl_k3, PREDICTED_K3_MEAN=0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5)),
}


def merge_first_only(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            return ids[:i] + [new_id] + ids[i + 2:]
    return list(ids)


def merge_in_place(ids, pair, new_id):
    ids[:] = merge(ids, pair, new_id)
    return ids


def encode_chunk_characters(chunk, merges):  # Unicode code points instead of UTF-8 bytes
    ids = [ord(c) for c in chunk]
    for k, pair in enumerate(merges):
        ids = merge(ids, pair, 256 + k)
    return ids


def train_without_presplit(text, num_merges):  # counts pairs across word boundaries
    ids, merges = list(text.encode("utf-8")), []
    for k in range(num_merges):
        counts = {}
        for p in zip(ids, ids[1:]):
            counts[p] = counts.get(p, 0) + 1
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        merges.append(pair)
        ids = merge(ids, pair, 256 + k)
    return merges


def train_first_seen_tie(text, num_merges):  # ties go to the pair seen first, not the smallest
    words = [list(c.encode("utf-8")) for c in regex.findall(SPLIT_PATTERN, text)]
    merges = []
    for k in range(num_merges):
        counts = {}
        for w in words:
            for p in zip(w, w[1:]):
                counts[p] = counts.get(p, 0) + 1
        if not counts:
            break
        pair = max(counts, key=counts.get)
        merges.append(pair)
        words = [merge(w, pair, 256 + k) for w in words]
    return merges


def attention_unscaled(q, k, v, key_mask=None):  # forgets the 1 / sqrt(hs)
    return attention_solution(q * math.sqrt(q.size(-1)), k, v, key_mask)


def attention_no_causal_mask(q, k, v, key_mask=None):
    return (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(dim=-1) @ v


def attention_no_diagonal(q, k, v, key_mask=None):  # a PAD query's row is all -inf -> NaN
    T = q.size(-2)
    allowed = torch.ones(T, T, dtype=torch.bool).tril()
    if key_mask is not None:
        allowed = allowed & key_mask.bool()[:, None, None, :]
    att = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).masked_fill(~allowed, float("-inf"))
    return att.softmax(dim=-1) @ v


def sft_targets_without_eos(prompt_ids, response_ids, eos_id):
    ids = prompt_ids + response_ids
    return ids[:-1], [IGNORE] * (len(prompt_ids) - 1) + ids[len(prompt_ids):]


def sft_targets_off_by_one(prompt_ids, response_ids, eos_id):  # also masks the first response token
    x, targets = sft_targets_solution(prompt_ids, response_ids, eos_id)
    return x, [IGNORE] * len(prompt_ids) + targets[len(prompt_ids):]


def label_agreement_without_sqrt2(gaps, noise):  # noise on the difference, not on each score
    return label_agreement_solution([g * math.sqrt(2) for g in gaps], noise)


def label_agreement_of_the_mean(gaps, noise):  # p^2 + (1 - p)^2 of the average p (Jensen)
    p, _ = label_agreement_solution(gaps, noise)
    return p, p * p + (1 - p) ** 2


def pairwise_loss_naive(r_w, r_l):  # log(sigmoid(-400)) = log(0) in float32
    return -torch.log(torch.sigmoid(r_w - r_l)).mean()


def pairwise_loss_grad_sum(r_w, r_l):  # the gradient of the sum, not of the mean
    return tuple(g * r_w.numel() for g in pairwise_loss_grad_solution(r_w, r_l))


def pairwise_loss_grad_wrong_sigmoid(r_w, r_l):  # sigmoid(d) where sigmoid(-d) belongs
    grad_w = -torch.sigmoid(r_w - r_l) / r_w.numel()
    return grad_w, -grad_w


def dpo_loss_without_reference(pw, pl, rw, rl, beta):  # log pi alone, not log pi / pi_ref
    return dpo_loss(pw, pl, torch.zeros_like(rw), torch.zeros_like(rl), beta)


def dpo_loss_naive(pw, pl, rw, rl, beta):  # log(sigmoid(-200)) = log(0) in float32
    chosen, rejected = beta * (pw - rw), beta * (pl - rl)
    return -torch.log(torch.sigmoid(chosen - rejected)).mean(), chosen.detach(), rejected.detach()


def dpo_loss_reversed(pw, pl, rw, rl, beta):  # prefers the rejected answer
    chosen, rejected = beta * (pw - rw), beta * (pl - rl)
    return -F.logsigmoid(rejected - chosen).mean(), chosen.detach(), rejected.detach()


def dpo_loss_beta_outside(pw, pl, rw, rl, beta):  # beta scales the loss, not the margin
    chosen, rejected = pw - rw, pl - rl
    return -beta * F.logsigmoid(chosen - rejected).mean(), beta * chosen.detach(), beta * rejected.detach()


def dpo_loss_rewards_without_beta(pw, pl, rw, rl, beta):
    loss, _, _ = dpo_loss(pw, pl, rw, rl, beta)
    return loss, (pw - rw).detach(), (pl - rl).detach()


def dpo_loss_summed(pw, pl, rw, rl, beta):  # the sum over pairs, not the mean
    loss, chosen, rejected = dpo_loss(pw, pl, rw, rl, beta)
    return loss * pw.numel(), chosen, rejected


def flat_groups_zeroed(advantages, rewards):
    return advantages.masked_fill((rewards == rewards[:, :1]).all(dim=1, keepdim=True), 0.0)


def group_advantages_unbiased_std(rewards, scale=True):  # divides by G - 1
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    return flat_groups_zeroed(centred / (rewards.std(dim=1, keepdim=True) + 1e-6) if scale else centred, rewards)


def group_advantages_whole_batch(rewards, scale=True):  # one mean and std for every group
    centred = rewards - rewards.mean()
    return flat_groups_zeroed(centred / (rewards.std(unbiased=False) + 1e-6) if scale else centred, rewards)


def group_advantages_rounding(rewards, scale=True):  # no test for flat groups: rounding error / rounding error
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    return centred / (rewards.std(dim=1, unbiased=False, keepdim=True) + 1e-6) if scale else centred


def group_advantages_eps_inside(rewards, scale=True):  # sqrt(var + eps), as whiten does
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    var = (centred ** 2).mean(dim=1, keepdim=True)
    return flat_groups_zeroed(centred * torch.rsqrt(var + 1e-6) if scale else centred, rewards)


def kl_k3_naive(logprobs, ref_logprobs):  # exp(x) - 1 - x: below 0 by rounding in float32
    log_ratio = ref_logprobs - logprobs
    return torch.exp(log_ratio) - 1 - log_ratio


# (exercise, part, name in the stub, a typical wrong answer)
WRONG = [
    ("01", "merge", "merge", merge_first_only),
    ("01", "merge", "merge", merge_in_place),
    ("01", "encode_chunk", "encode_chunk", lambda chunk, merges: encode_chunk_solution(chunk, merges[::-1])),
    ("01", "encode_chunk", "encode_chunk", encode_chunk_characters),
    ("01", "train", "train", train_without_presplit),
    ("01", "train", "train", train_first_seen_tie),
    ("01", "PREDICTED_BYTES_PER_TOKEN_2048", "PREDICTED_BYTES_PER_TOKEN_2048", 6.5),  # "twice the vocabulary"
    ("02", "position_ids", "position_ids", lambda mask: torch.arange(mask.size(1)).expand_as(mask)),
    ("02", "position_ids", "position_ids", lambda mask: mask.cumsum(dim=1) - 1),  # -1 on leading PAD
    ("02", "attention", "attention", attention_no_causal_mask),
    ("02", "attention", "attention", attention_no_diagonal),
    ("02", "attention", "attention", attention_unscaled),
    ("02", "PREDICTED_INIT_LOSS_320", "PREDICTED_INIT_LOSS_320", math.log(1024)),
    ("03", "sft_targets", "sft_targets", sft_targets_without_eos),
    ("03", "sft_targets", "sft_targets", sft_targets_off_by_one),
    ("03", "PREDICTED_EOS_RATE_WITHOUT_EOS_TARGETS", "PREDICTED_EOS_RATE_WITHOUT_EOS_TARGETS", 0.9),
    ("04", "ranking_to_pairs", "ranking_to_pairs", lambda r: list(zip(r, r[1:]))),  # neighbours only
    ("04", "ranking_to_pairs", "ranking_to_pairs", lambda r: [(l, w) for w, l in ranking_to_pairs(r)]),
    ("04", "ranking_to_pairs", "ranking_to_pairs",  # places in the ranking instead of response indices
     lambda r: [(i, j) for i in range(len(r)) for j in range(i + 1, len(r))]),
    ("04", "PREDICTED_PAIRS_K6", "PREDICTED_PAIRS_K6", 30),  # ordered pairs
    ("04", "inter_labeler_agreement", "inter_labeler_agreement", lambda p: p * p),  # both right only
    ("04", "label_agreement", "label_agreement", label_agreement_without_sqrt2),
    ("04", "label_agreement", "label_agreement", label_agreement_of_the_mean),
    ("04", "judgments_and_pairs", "judgments_and_pairs", lambda k, budget: (budget // k, budget // k * (k - 1))),  # no decision cost, K - 1 pairs
    ("04", "judgments_and_pairs", "judgments_and_pairs",  # fractions of a judgment
     lambda k, budget: (budget / (k + 1), budget / (k + 1) * k * (k - 1) / 2)),
    ("04", "PREDICTED_K4_VS_K2", "PREDICTED_K4_VS_K2", "same"),   # "a ranking is only 4 answers read once"
    ("05", "pairwise_loss", "pairwise_loss", lambda r_w, r_l: -F.logsigmoid(r_w - r_l).sum()),
    ("05", "pairwise_loss", "pairwise_loss", lambda r_w, r_l: -F.logsigmoid(r_l - r_w).mean()),
    ("05", "pairwise_loss", "pairwise_loss", pairwise_loss_naive),
    ("05", "pairwise_loss_grad", "pairwise_loss_grad", pairwise_loss_grad_sum),
    ("05", "pairwise_loss_grad", "pairwise_loss_grad", pairwise_loss_grad_wrong_sigmoid),
    ("05", "last_token_index", "last_token_index", lambda mask: mask.sum(dim=1) - 1),  # right padding only
    ("05", "last_token_index", "last_token_index", lambda mask: mask.argmax(dim=1)),   # the first real token
    ("05", "PREDICTED_NOISY_ACCURACY", "PREDICTED_NOISY_ACCURACY", 0.9),   # "more data beats the noise"
    ("05", "PREDICTED_GOLD_ACCURACY", "PREDICTED_GOLD_ACCURACY", 0.75),   # "capped at the ceiling"
    ("06", "compute_gae", "compute_gae", compute_gae_unmasked_values),
    ("06", "compute_gae", "compute_gae", compute_gae_without_lambda),
    ("06", "monte_carlo_advantages", "monte_carlo_advantages", monte_carlo_with_padding),
    ("06", "monte_carlo_advantages", "monte_carlo_advantages", monte_carlo_forward),
    ("06", "monte_carlo_advantages", "monte_carlo_advantages",  # the returns, not the advantages
     lambda r, v, mask: (r * mask).flip(1).cumsum(1).flip(1) * mask),
    ("06", "PREDICTED_TOTAL_REWARD_AT_BETA_0_2", "PREDICTED_TOTAL_REWARD_AT_BETA_0_2", 1.5 - 0.2 * 4.3),  # |KL|
    ("06", "PREDICTED_TOTAL_REWARD_AT_BETA_0_2", "PREDICTED_TOTAL_REWARD_AT_BETA_0_2", 1.5 - 0.2 * 5.1),  # + PAD
    ("06", "PREDICTED_TOTAL_REWARD_AT_BETA_0_2", "PREDICTED_TOTAL_REWARD_AT_BETA_0_2", 1.5 + 0.2 * 2.3),  # sign
    ("06", "PREDICTED_BETA_AT_ZERO_REWARD", "PREDICTED_BETA_AT_ZERO_REWARD", 1.5 / 4.3),
    ("06", "clipped_policy_loss", "clipped_policy_loss", clipped_policy_loss_unclipped),
    ("06", "clipped_policy_loss", "clipped_policy_loss", clipped_policy_loss_without_min),
    ("06", "clipped_policy_loss", "clipped_policy_loss", clipped_policy_loss_optimistic),
    ("06", "clipped_policy_loss", "clipped_policy_loss", clipped_policy_loss_padded_mean),
    ("06", "clipped_policy_loss", "clipped_policy_loss",  # a detached loss: no gradient
     lambda *args: policy_loss(*[a.detach() for a in args[:4]], args[4])[0]),
    ("08", "dpo_loss", "dpo_loss", dpo_loss_without_reference),
    ("08", "dpo_loss", "dpo_loss", dpo_loss_naive),
    ("08", "dpo_loss", "dpo_loss", dpo_loss_reversed),
    ("08", "dpo_loss", "dpo_loss", dpo_loss_beta_outside),
    ("08", "dpo_loss", "dpo_loss", dpo_loss_rewards_without_beta),
    ("08", "dpo_loss", "dpo_loss", dpo_loss_summed),
    ("08", "dpo_loss", "dpo_loss",  # a detached loss: no gradient
     lambda *args: dpo_loss(*[a.detach() for a in args[:4]], args[4])),
    ("08", "PREDICTED_DPO_LOSS_AT_START", "PREDICTED_DPO_LOSS_AT_START", 0.0),                    # "nothing wrong yet"
    ("08", "PREDICTED_DPO_LOSS_AT_START", "PREDICTED_DPO_LOSS_AT_START", math.log1p(math.exp(-0.5))),  # beta as margin
    ("08", "PREDICTED_DPO_LOSS_AT_START", "PREDICTED_DPO_LOSS_AT_START", 0.5 * math.log(2)),      # beta * log 2
    ("08", "group_advantages", "group_advantages", group_advantages_unbiased_std),
    ("08", "group_advantages", "group_advantages", group_advantages_whole_batch),
    ("08", "group_advantages", "group_advantages", group_advantages_rounding),
    ("08", "group_advantages", "group_advantages", group_advantages_eps_inside),
    ("08", "group_advantages", "group_advantages", lambda rewards, scale=True: group_advantages(rewards)),  # always scales
    ("08", "kl_k3", "kl_k3", lambda logprobs, ref_logprobs: logprobs - ref_logprobs),                 # k1
    ("08", "kl_k3", "kl_k3", lambda logprobs, ref_logprobs: kl_k3(ref_logprobs, logprobs)),           # r = pi / pi_ref
    ("08", "kl_k3", "kl_k3", lambda logprobs, ref_logprobs: 0.5 * (logprobs - ref_logprobs) ** 2),    # k2
    ("08", "kl_k3", "kl_k3", kl_k3_naive),
    ("08", "PREDICTED_K3_MEAN", "PREDICTED_K3_MEAN", 0.8 * math.log(1.6) + 0.2 * math.log(2.5)),  # the mean of |k1|
    ("08", "PREDICTED_K3_MEAN", "PREDICTED_K3_MEAN", 0.5 * math.log(0.5 / 0.8) + 0.5 * math.log(0.5 / 0.2)),  # KL(ref||pi)
    ("08", "PREDICTED_K3_MEAN", "PREDICTED_K3_MEAN",  # the mean of k2
     0.5 * (0.8 * math.log(1.6) ** 2 + 0.2 * math.log(0.4) ** 2)),
]


def exercise_number(path):
    return re.match(r"ex(\d+)_", path.name).group(1)


NUMBERS = sorted({exercise_number(p) for p in EXERCISES})


def run_quiet(number, module, parts=None):
    lines = []
    ok = check.run(number, module, parts=parts, say=lines.append)
    return ok, "\n".join(lines)


def test_every_exercise_has_checks_and_a_solution():
    assert NUMBERS and set(NUMBERS) == set(CHECKS)
    for number in NUMBERS:
        parts = {part for part, _ in CHECKS[number]}
        stub = check.load_exercise(number)
        assert parts <= set(SOLUTIONS[number]), f"SOLUTIONS needs an answer for every part of {number}"
        assert all(hasattr(stub, name) for name in SOLUTIONS[number])


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_stubs_mark_what_the_student_writes(path):
    text = path.read_text()
    blocks = re.findall(r"# ---- YOUR CODE BELOW ----\n(.*?)# ---- YOUR CODE ABOVE ----", text, re.S)
    assert blocks, "an exercise marks the blocks to edit"
    outside = re.sub(r"# ---- YOUR CODE BELOW ----\n.*?# ---- YOUR CODE ABOVE ----", "", text, flags=re.S)
    assert "NotImplementedError" not in outside and not re.search(r"^[A-Z_]+ = None", outside, re.M)
    assert f"python lessons/check.py {exercise_number(path)}" in text  # the docstring says how to check


@pytest.mark.parametrize("number", NUMBERS)
def test_check_fails_on_the_untouched_stub(number):
    ok, report = run_quiet(number, check.load_exercise(number))
    assert not ok
    assert report.count("TODO") == len(CHECKS[number]), report  # and says why: not written yet


@pytest.mark.parametrize("number", NUMBERS)
def test_check_passes_a_correct_solution(number):
    module = check.load_exercise(number)
    for name, value in SOLUTIONS[number].items():
        setattr(module, name, value)
    ok, report = run_quiet(number, module)
    assert ok, report
    assert "FAIL" not in report and "TODO" not in report


@pytest.mark.parametrize("number, part, name, wrong", WRONG, ids=lambda x: getattr(x, "__name__", None))
def test_check_catches_a_wrong_answer(number, part, name, wrong):
    module = check.load_exercise(number)
    for n, value in SOLUTIONS[number].items():
        setattr(module, n, value)
    setattr(module, name, wrong)
    ok, report = run_quiet(number, module, parts=[part])
    assert not ok and "FAIL" in report, report


def test_command_line(capsys):
    assert check.main(["1", "merge"]) == 1  # "1" means "01"; the untouched stub fails
    assert "TODO  merge" in capsys.readouterr().out
    for argv in (["01", "no_such_part"], ["99"]):
        with pytest.raises(SystemExit, match="no (part|exercise)"):
            check.main(argv)


@pytest.mark.parametrize("how", [["lessons/check.py"], ["-m", "lessons.check"]], ids=["script", "module"])
def test_command_line_in_a_new_process(how):
    # run as __main__, the runner must hand over to lessons.check, the module the checks
    # register with; otherwise it finds no exercises, or reports a TODO as a crash
    result = run(*how, "1", "merge")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "TODO  merge: still raises NotImplementedError" in result.stdout, result.stdout


# -----------------------------------------------------------------------------
# Parsing the lessons

CODE_LINK = re.compile(r"`([\w./-]+\.py):\s+([A-Za-z_][\w.]*)`")   # `nanorlhf/model.py: GPT.generate`
PATH_IN_CODE = re.compile(r"`([\w./-]+\.(?:py|md))`")                # `train_sft.py`
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")                             # [text](target)
FENCE = re.compile(r"^ {0,3}```([^\n]*)\n(.*?)^ {0,3}```", re.S | re.M)  # ```info\nbody```, maybe in a list
# python [-m] target args: `python train_sft.py --max-iters 600`, `python -m nanorlhf.bench`
COMMAND = re.compile(r"python3? (-m )?([\w.]+(?=[ `\n])|[\w./-]+\.py)((?: [^`\n|#]*)?)")


def lesson_ids():
    return [p.name for p in LESSONS]


def defined_names(tree_body):
    """Names defined at one level of a module or class: functions, classes, assignments."""
    out = {}
    for node in tree_body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
        elif isinstance(node, ast.If):  # e.g. names defined under `if __name__ == "__main__":`
            out.update(defined_names(node.body))
    return out


def defines(path, dotted):
    """Does the Python file at `path` define `dotted` ('GPT', 'GPT.generate', 'Args.lr')?"""
    body = ast.parse(path.read_text()).body
    for part in dotted.split("."):
        node = defined_names(body).get(part)
        if node is None:
            return False
        body = getattr(node, "body", [])
    return True


def test_there_are_lessons():
    assert {"00_overview.md", "01_tokenizer.md", "02_gpt.md", "03_sft.md"} <= set(lesson_ids())


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_ids())
def test_code_links_name_what_the_file_defines(lesson):
    text = lesson.read_text()
    for path, name in CODE_LINK.findall(text):
        assert (ROOT / path).is_file(), f"{lesson.name}: `{path}: {name}`: no file {path}"
        assert defines(ROOT / path, name), f"{lesson.name}: `{path}: {name}`: {path} defines no {name}"
    for path in PATH_IN_CODE.findall(text):
        assert (ROOT / path).is_file(), f"{lesson.name}: `{path}` does not exist (paths start at the repo root)"


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_ids())
def test_markdown_links_exist(lesson):
    for target in MD_LINK.findall(lesson.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor in the same page
        path = (lesson.parent / target.split("#")[0]).resolve()
        relative = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
        assert path.exists() or relative in PLANNED, f"{lesson.name}: broken link ({target})"


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_ids())
def test_quoted_code_is_verbatim(lesson):
    text = lesson.read_text()
    assert text.count("quote=") == sum("quote=" in info for info, _ in FENCE.findall(text)), \
        f"{lesson.name}: a quote= marker outside a code fence's first line"
    for info, body in FENCE.findall(text):
        quote = re.search(r"quote=(\S+)", info)
        if not quote:
            continue
        source = (ROOT / quote.group(1)).read_text().splitlines()
        block = textwrap.dedent(body).rstrip("\n").splitlines()
        assert block, f"{lesson.name}: empty quote of {quote.group(1)}"
        assert appears_verbatim(block, source), f"{lesson.name}: quote not found in {quote.group(1)}:\n{body}"


def appears_verbatim(block, source):
    """Do the lines of `block` appear, in order and next to each other, in `source`, up to
    one common indentation (a method quoted without its class's indent)?"""
    first = block[0]
    for i, line in enumerate(source):
        if not line.endswith(first) or line[:len(line) - len(first)].strip():
            continue
        indent = line[:len(line) - len(first)]
        window = source[i:i + len(block)]
        if len(window) == len(block) and all(s == (indent + b if b else b) or (not b and not s.strip())
                                              for s, b in zip(window, block)):
            return True
    return False


def test_appears_verbatim():
    source = ["class A:", "    def f(self):", "        return 1", "", "    x = 2"]
    assert appears_verbatim(["def f(self):", "    return 1"], source)
    assert appears_verbatim(["    return 1", "", "x = 2"], source)
    assert not appears_verbatim(["def f(self):", "    return 2"], source)
    assert not appears_verbatim(["def f(self):", "return 1"], source)


def commands(text):
    """Every `python x.py ...` or `python -m x ...` in a lesson, in code blocks or in the
    text -> (target, args, is_module). Arguments end at a backtick, `#` or `|`."""
    for m in COMMAND.finditer(text):
        if m.group(1) or m.group(2).endswith(".py"):
            yield m.group(2), m.group(3), bool(m.group(1))


def accepted_flags(path):
    """--flags a script accepts: the fields of its Args dataclass, and any literal '--flag' in it."""
    text = path.read_text()
    flags = set(re.findall(r"[\"'](--[\w-]+)[\"']", text)) | {"--help"}
    args = defined_names(ast.parse(text).body).get("Args")
    if args is not None:
        flags |= {"--" + name.replace("_", "-") for name in defined_names(args.body)}
        flags |= {"--no-" + node.target.id.replace("_", "-") for node in args.body   # a bool is a switch
                  if isinstance(node, ast.AnnAssign) and getattr(node.annotation, "id", None) == "bool"}
    if "PRESETS" in defined_names(ast.parse(text).body):
        flags.add("--preset")
    return flags


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_ids())
def test_commands_name_real_scripts_flags_and_exercises(lesson):
    for target, args, is_module in commands(lesson.read_text()):
        path = ROOT / (target.replace(".", "/") + ".py" if is_module else target)
        if is_module and target == "pytest":
            continue
        assert path.is_file(), f"{lesson.name}: `python {'-m ' if is_module else ''}{target}`: no file {path}"
        for flag in re.findall(r"(?<!\S)(--[\w-]+)", args):
            assert flag in accepted_flags(path), f"{lesson.name}: {target} has no flag {flag}"
        if path == ROOT / "lessons" / "check.py":
            words = args.split()
            if words and words[0] != "all":
                assert words[0].zfill(2) in CHECKS, f"{lesson.name}: no exercise {words[0]}"
                parts = {p for p, _ in CHECKS[words[0].zfill(2)]}
                assert set(words[1:]) <= parts, f"{lesson.name}: exercise {words[0]} has no part {words[1:]}"


def test_every_exercise_is_introduced_by_a_lesson():
    text = "".join(p.read_text() for p in LESSONS)
    for path in EXERCISES:
        assert f"python lessons/check.py {exercise_number(path)}" in text, f"no lesson runs {path.name}"
