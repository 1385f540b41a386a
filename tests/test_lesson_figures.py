"""
The figures the README and the lessons quote come from one recorded run of the pipeline
(lessons/recorded_run.json, written by lessons/record_run.py from out/*_summary.json).
Each row below names a quoted figure: the file, where it is in the recorded run, and how
it is written. If a lesson drifts from the run, or the run is recorded again without
updating the lessons, the row says which figure no longer matches.
"""
import json
from pathlib import Path

import pytest

from nanorlhf.evaluation import fmt

ROOT = Path(__file__).resolve().parent.parent
RUN = json.loads((ROOT / "lessons" / "recorded_run.json").read_text())


def get(path):
    """'sft.by_kind.legs' -> RUN['sft']['by_kind']['legs']"""
    value = RUN
    for key in path.split("."):
        value = value[key]
    return value


def interval(x):      # (mean, lo, hi) of a score -> '+0.51 [+0.32, +0.69]'
    return fmt(x)


def pct_interval(x):  # (mean, lo, hi) of a share -> '31.6% [26.2, 37.2]'
    return fmt(x, percent=True)


def pct(x):           # a share -> '99.6%'
    return f"{100 * x:.1f}%"


def pct0(x):          # a share -> '78%'
    return f"{100 * x:.0f}%"


def score(x):         # a score -> '+0.51'
    return f"{x:+.2f}"


def dec2(x):          # a loss or correlation -> '0.29'
    return f"{x:.2f}"


def kinds_row(label, by_kind):  # strict correctness by kind as a row of lesson 03's table
    kinds = ("arithmetic", "capital", "colour", "legs", "sound", "plural", "polite", "reverse", "sort_up", "sort_down",
             "sort_words")
    return f"| {label} | " + " | ".join(pct0(by_kind[k]) for k in kinds) + " |"


# (file, path in the recorded run, how the file writes it)
QUOTES = [
    ("README.md", "sft.sft_gold", interval),
    ("README.md", "sft.greedy_gold", interval),
    ("README.md", "sft.sft_strict", pct_interval),
    ("README.md", "sft.eos_rate", pct),
    ("README.md", "rm.val_acc", pct_interval),
    ("README.md", "rm.inter_labeler", pct_interval),
    ("README.md", "rm.val_acc_gold", pct_interval),
    ("README.md", "rm.ceiling", pct_interval),
    ("README.md", "rm.spearman", lambda x: f"{x[0]:.2f} [{x[1]:.2f}, {x[2]:.2f}]"),
    ("README.md", "ppo.ppo.gold", interval),
    ("README.md", "ppo.ppo.win", pct_interval),
    ("README.md", "ppo.ppo.strict", pct_interval),
    ("README.md", "ppo.sft.gold", interval),
    ("README.md", "ppo.sft.strict", pct_interval),
    ("README.md", "ppo.sft_greedy.win", pct_interval),
    ("README.md", "ppo.ppo.eos", pct),
    ("README.md", "ppo.win_vs_sft_greedy.ppo", pct_interval),
    ("README.md", "ppo.win_vs_sft_greedy.ppo_greedy", pct_interval),
    ("README.md", "ppo.ppo_greedy.gold", interval),
    ("lessons/03_sft.md", "sft.train_time", lambda x: f"{x:.0f} s of it training"),
    ("lessons/03_sft.md", "sft.val_loss", lambda x: f"| validation loss | | | | 0.46 | | {x:.2f} |"),
    ("lessons/03_sft.md", "sft.untrained_score", lambda x: f"| untrained | 1 | {x:+.2f} |"),
    ("lessons/03_sft.md", "sft.sft_gold", interval),
    ("lessons/03_sft.md", "sft.sft_strict", pct_interval),
    ("lessons/03_sft.md", "sft.eos_rate", pct),
    ("lessons/03_sft.md", "sft.greedy_gold", interval),
    ("lessons/03_sft.md", "sft.greedy_strict", pct_interval),
    ("lessons/03_sft.md", "ppo.sft_greedy.eos", lambda x: f"| {100 * x:.1f}% |"),
    ("lessons/03_sft.md", "sft.heldout_phrasing_score", lambda x: f"it scores {x:+.2f}"),
    ("lessons/03_sft.md", "sft.trained_phrasing_score", lambda x: f"familiar phrasings {x:+.2f}"),
    ("lessons/03_sft.md", "sft.by_kind", lambda d: kinds_row("sampled, 4 answers each", d)),
    ("lessons/03_sft.md", "ppo.sft_greedy.by_kind", lambda d: kinds_row("greedy, 1 answer each", d)),
    ("lessons/03_sft.md", "sft.greedy_gold", lambda x: f"decoded greedily, scores {x[0]:+.2f}"),
    ("lessons/03_sft.md", "sft.sft_gold", lambda x: f"against {x[0]:+.2f} and a third when sampled"),
    ("lessons/04_human_feedback.md", "rm.ceiling", pct_interval),
    ("lessons/04_human_feedback.md", "rm.inter_labeler", pct_interval),
    ("lessons/04_human_feedback.md", "rm.ceiling", lambda x: f"{100 * x[0]:.1f}%). Two noisy labelers"),
    ("lessons/04_human_feedback.md", "rm.inter_labeler", lambda x: f"{100 * x[0]:.1f}% on the SFT model's samples"),
    ("lessons/05_reward_model.md", "rm.val_acc", pct_interval),
    ("lessons/05_reward_model.md", "rm.inter_labeler", pct_interval),
    ("lessons/05_reward_model.md", "rm.val_acc_gold", pct_interval),
    ("lessons/05_reward_model.md", "rm.ceiling", pct_interval),
    ("lessons/05_reward_model.md", "rm.spearman", lambda x: f"{x[0]:.2f} [{x[1]:.2f}, {x[2]:.2f}]"),
    ("lessons/05_reward_model.md", "rm",
     lambda r: "| default: `python train_rm.py` | {}, {} | {}, {} | {:.2f} [{:.2f}, {:.2f}] |"
     .format(pct_interval(r["val_acc"]), pct_interval(r["inter_labeler"]), pct_interval(r["val_acc_gold"]),
             pct_interval(r["ceiling"]), *r["spearman"])),
    ("lessons/05_reward_model.md", "rm", lambda r: f"is {100 * (r['inter_labeler'][0] - r['val_acc'][0]):.1f} points "
     "below a second labeler"),
    ("lessons/05_reward_model.md", "rm",
     lambda r: f"ours is {100 * (r['ceiling'][0] - r['val_acc'][0]):.1f} points below it"),
    ("lessons/05_reward_model.md", "rm.clear_by_family", lambda d: "| right order, gold gap > 1.5 | " + " | ".join(
        pct0(d[f]) for f in ("harmful", "rewrite", "advice", "facts", "explain", "arithmetic", "sort")) + " |"),
    ("lessons/05_reward_model.md", "rm.time", lambda x: f"the recorded run took {x:.0f} seconds"),
    ("lessons/05_reward_model.md", "rm.ceiling", lambda x: f"(dashed, {100 * x[0]:.1f}%)"),
    ("lessons/05_reward_model.md", "rm.inter_labeler", lambda x: f"(dotted, {100 * x[0]:.1f}%)"),
    ("lessons/05_reward_model.md", "rm.val_acc", lambda x: f"({100 * x[0]:.1f}% at the end)"),
    ("lessons/07_results.md", "sft.train_time", lambda x: f"({x:.0f} s training)"),
    ("lessons/07_results.md", "sft.untrained_score", lambda x: f"gold score {x:+.2f} (untrained"),
    ("lessons/07_results.md", "sft.sft_gold", interval),
    ("lessons/07_results.md", "sft.sft_strict", pct_interval),
    ("lessons/07_results.md", "sft.greedy_gold", interval),
    ("lessons/07_results.md", "sft.greedy_strict", pct_interval),
    ("lessons/07_results.md", "sft.eos_rate", lambda x: f"{pct(x)} of answers end with EOS"),
    ("lessons/07_results.md", "rm.val_acc", pct_interval),
    ("lessons/07_results.md", "rm.inter_labeler", pct_interval),
    ("lessons/07_results.md", "rm.val_acc_gold", pct_interval),
    ("lessons/07_results.md", "rm.ceiling", pct_interval),
    ("lessons/07_results.md", "rm.spearman", lambda x: f"{x[0]:.2f} [{x[1]:.2f}, {x[2]:.2f}]"),
    ("lessons/07_results.md", "rm", lambda r: f"{100 * (r['inter_labeler'][0] - r['val_acc'][0]):.1f} points below a "
     "second labeler"),
    ("lessons/07_results.md", "rm", lambda r: f"{100 * (r['val_acc_gold'][0] - r['ceiling'][0]):.1f} points above a "
     "single labeler"),
    ("lessons/07_results.md", "rm.clear_by_family", lambda d: f"orders {pct0(d['harmful'])} of the harmful-request "
     f"pairs right and {pct0(d['arithmetic'])} of the arithmetic ones"),
    ("lessons/07_results.md", "ppo",
     lambda r: "gold {} (SFT) -> {}; wins {} against SFT sampled, {} against SFT greedy; "
     "strict correctness {} -> {}; KL {:.2f} nats at the last iteration; {} end with EOS".format(
         interval(r["sft"]["gold"]), interval(r["ppo"]["gold"]), pct_interval(r["ppo"]["win"]),
         pct_interval(r["win_vs_sft_greedy"]["ppo"]), pct_interval(r["sft"]["strict"]),
         pct_interval(r["ppo"]["strict"]), r["kl"], pct(r["ppo"]["eos"]))),
    ("lessons/07_results.md", "ppo.kl", lambda x: f'"KL {x:.2f} nats"'),
    ("lessons/07_results.md", "ppo", lambda r: "| PPO gold score | {} |".format(interval(r["ppo"]["gold"]))),
    ("lessons/07_results.md", "ppo", lambda r: "| PPO win vs SFT sampled | {} |".format(pct_interval(r["ppo"]["win"]))),
    ("lessons/07_results.md", "ppo",
     lambda r: "| PPO strict correctness | {} |".format(pct_interval(r["ppo"]["strict"]))),
    ("lessons/07_results.md", "ppo", lambda r: "| PPO win vs SFT greedy | {} |".format(
        pct_interval(r["win_vs_sft_greedy"]["ppo"]))),
    ("lessons/07_results.md", "ppo", lambda r: "| PPO greedy win vs SFT greedy | {} |".format(
        pct_interval(r["win_vs_sft_greedy"]["ppo_greedy"]))),
    ("lessons/07_results.md", "ppo", lambda r: "| SFT sampled | 4 | {} | 50% | | {} |".format(
        interval(r["sft"]["gold"]), pct_interval(r["sft"]["strict"]))),
    ("lessons/07_results.md", "ppo", lambda r: "| SFT greedy | 1 | {} | {} | 50% | {} |".format(
        interval(r["sft_greedy"]["gold"]), pct_interval(r["sft_greedy"]["win"]),
        pct_interval(r["sft_greedy"]["strict"]))),
    ("lessons/07_results.md", "ppo", lambda r: "| PPO sampled | 4 | {} | {} | {} | {} |".format(
        interval(r["ppo"]["gold"]), pct_interval(r["ppo"]["win"]), pct_interval(r["win_vs_sft_greedy"]["ppo"]),
        pct_interval(r["ppo"]["strict"]))),
    ("lessons/07_results.md", "ppo", lambda r: "| PPO greedy | 1 | {} | {} | {} | {} |".format(
        interval(r["ppo_greedy"]["gold"]), pct_interval(r["ppo_greedy"]["win"]),
        pct_interval(r["win_vs_sft_greedy"]["ppo_greedy"]), pct_interval(r["ppo_greedy"]["strict"]))),
    ("lessons/07_results.md", "ppo.sft.by_kind", lambda d: "| SFT sampled | " + " | ".join(pct0(d[k]) for k in (
        "arithmetic", "capital", "colour", "legs", "sound", "plural", "polite", "reverse", "sort_up", "sort_down",
        "sort_words")) + " |"),
    ("lessons/07_results.md", "ppo.sft_greedy.by_kind", lambda d: "| SFT greedy | " + " | ".join(pct0(d[k]) for k in (
        "arithmetic", "capital", "colour", "legs", "sound", "plural", "polite", "reverse", "sort_up", "sort_down",
        "sort_words")) + " |"),
    ("lessons/07_results.md", "ppo.ppo.by_kind", lambda d: "| PPO sampled | " + " | ".join(pct0(d[k]) for k in (
        "arithmetic", "capital", "colour", "legs", "sound", "plural", "polite", "reverse", "sort_up", "sort_down",
        "sort_words")) + " |"),
    ("lessons/07_results.md", "ppo.ppo_greedy.by_kind", lambda d: "| PPO greedy | " + " | ".join(pct0(d[k]) for k in (
        "arithmetic", "capital", "colour", "legs", "sound", "plural", "polite", "reverse", "sort_up", "sort_down",
        "sort_words")) + " |"),
]


def text_of(name):
    return " ".join((ROOT / name).read_text().split())  # line breaks do not matter


@pytest.mark.parametrize("name, path, form", QUOTES, ids=[f"{n}:{p}" for n, p, _ in QUOTES])
def test_quoted_figure_matches_the_recorded_run(name, path, form):
    quoted = form(get(path))
    assert quoted in text_of(name), f"{name} should quote {path} as {quoted!r} (lessons/recorded_run.json)"

