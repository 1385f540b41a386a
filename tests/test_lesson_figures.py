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
# the earlier recipe's recorded run (AdamW SFT, lists of up to five items), which lesson 07's
# study of seeds, PPO settings and over-optimisation quotes
RUN_ADAMW = json.loads((ROOT / "lessons" / "recorded_run_adamw.json").read_text())
RECORDS = {"adamw": RUN_ADAMW}


def get(path, run=RUN):
    """'sft.by_kind.legs' -> run['sft']['by_kind']['legs']"""
    value = run
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
    ("lessons/03_sft.md", "sft.val_loss", lambda x: f"| validation loss | | | | 0.45 | 0.31 | 0.23 | {x:.2f} |"),
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
    ("lessons/03_sft.md", "sft.sft_gold", lambda x: f"against {x[0]:+.2f} and two thirds when sampled"),
    ("lessons/04_human_feedback.md", "rm.ceiling", pct_interval),
    ("lessons/04_human_feedback.md", "rm.inter_labeler", pct_interval),
    ("lessons/04_human_feedback.md", "rm.ceiling", pct_interval, "adamw"),
    ("lessons/04_human_feedback.md", "rm.inter_labeler", pct_interval, "adamw"),
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
             pct_interval(r["ceiling"]), *r["spearman"]), "adamw"),
    ("lessons/05_reward_model.md", "rm", lambda r: f"is {100 * (r['inter_labeler'][0] - r['val_acc'][0]):.1f} points "
     "below a second labeler"),
    ("lessons/05_reward_model.md", "rm",
     lambda r: f"ours is {100 * (r['ceiling'][0] - r['val_acc'][0]):.1f} points below it"),
    ("lessons/05_reward_model.md", "rm.clear_by_family", lambda d: "| right order, gold gap > 1.5 | " + " | ".join(
        pct0(d[f]) for f in ("harmful", "rewrite", "advice", "facts", "explain", "arithmetic", "sort")) + " |"),
    ("lessons/05_reward_model.md", "rm.clear_by_family", lambda d: "| right order, gold gap > 1.5 | " + " | ".join(
        pct0(d[f]) for f in ("harmful", "rewrite", "advice", "facts", "explain", "arithmetic", "sort")) + " |",
     "adamw"),
    ("lessons/05_reward_model.md", "rm.time", lambda x: f"the recorded run took {x:.0f} seconds"),
    ("lessons/05_reward_model.md", "rm.ceiling", lambda x: f"(dashed, {100 * x[0]:.1f}%)"),
    ("lessons/05_reward_model.md", "rm.inter_labeler", lambda x: f"(dotted, {100 * x[0]:.1f}%)"),
    ("lessons/05_reward_model.md", "rm.val_acc", lambda x: f"({100 * x[0]:.1f}% at the end)"),
    ("lessons/07_results.md", "sft.train_time", lambda x: f"({x:.0f} s training)", "adamw"),
    ("lessons/07_results.md", "sft.untrained_score", lambda x: f"gold score {x:+.2f} (untrained", "adamw"),
    ("lessons/07_results.md", "sft.sft_gold", interval, "adamw"),
    ("lessons/07_results.md", "sft.sft_strict", pct_interval, "adamw"),
    ("lessons/07_results.md", "sft.greedy_gold", interval, "adamw"),
    ("lessons/07_results.md", "sft.greedy_strict", pct_interval, "adamw"),
    ("lessons/07_results.md", "sft.eos_rate", lambda x: f"{pct(x)} of answers end with EOS", "adamw"),
    ("lessons/07_results.md", "rm.val_acc", pct_interval, "adamw"),
    ("lessons/07_results.md", "rm.inter_labeler", pct_interval, "adamw"),
    ("lessons/07_results.md", "rm.val_acc_gold", pct_interval, "adamw"),
    ("lessons/07_results.md", "rm.ceiling", pct_interval, "adamw"),
    ("lessons/07_results.md", "rm.spearman", lambda x: f"{x[0]:.2f} [{x[1]:.2f}, {x[2]:.2f}]", "adamw"),
    ("lessons/07_results.md", "rm", lambda r: f"{100 * (r['inter_labeler'][0] - r['val_acc'][0]):.1f} points below a "
     "second labeler", "adamw"),
    ("lessons/07_results.md", "rm", lambda r: f"{100 * (r['val_acc_gold'][0] - r['ceiling'][0]):.1f} points above a "
     "single labeler", "adamw"),
    ("lessons/07_results.md", "rm.clear_by_family", lambda d: f"orders {pct0(d['harmful'])} of the harmful-request "
     f"pairs right and {pct0(d['arithmetic'])} of the arithmetic ones", "adamw"),
    ("lessons/07_results.md", "ppo",
     lambda r: "gold {} (SFT) -> {}; wins {} against SFT sampled, {} against SFT greedy; "
     "strict correctness {} -> {}; KL {:.2f} nats at the last iteration; {} end with EOS".format(
         interval(r["sft"]["gold"]), interval(r["ppo"]["gold"]), pct_interval(r["ppo"]["win"]),
         pct_interval(r["win_vs_sft_greedy"]["ppo"]), pct_interval(r["sft"]["strict"]),
         pct_interval(r["ppo"]["strict"]), r["kl"], pct(r["ppo"]["eos"])), "adamw"),
    ("lessons/07_results.md", "ppo.kl", lambda x: f'"KL {x:.2f} nats"', "adamw"),
    ("README.md", "ppo.eval_log", lambda log: f"{log[-1]['eval_kl']:.2f} nats from the SFT model (exact KL"),
    ("lessons/07_results.md", "ppo.eval_log", lambda log: f"the KL to the SFT model is {log[-1]['eval_kl']:.2f} nats", "adamw"),
    ("lessons/06_ppo.md", "ppo.eval_log", lambda log: f"The default run ends {log[-1]['eval_kl']:.2f} nats per response"),
    ("lessons/07_results.md", "ppo", lambda r: "| PPO gold score | {} |".format(interval(r["ppo"]["gold"])), "adamw"),
    ("lessons/07_results.md", "ppo", lambda r: "| PPO win vs SFT sampled | {} |".format(pct_interval(r["ppo"]["win"])), "adamw"),
    ("lessons/07_results.md", "ppo",
     lambda r: "| PPO strict correctness | {} |".format(pct_interval(r["ppo"]["strict"])), "adamw"),
    ("lessons/07_results.md", "ppo", lambda r: "| PPO win vs SFT greedy | {} |".format(
        pct_interval(r["win_vs_sft_greedy"]["ppo"])), "adamw"),
    ("lessons/07_results.md", "ppo", lambda r: "| PPO greedy win vs SFT greedy | {} |".format(
        pct_interval(r["win_vs_sft_greedy"]["ppo_greedy"])), "adamw"),
    ("lessons/07_results.md", "ppo", lambda r: "| SFT sampled | 4 | {} | 50% | | {} |".format(
        interval(r["sft"]["gold"]), pct_interval(r["sft"]["strict"])), "adamw"),
    ("lessons/07_results.md", "ppo", lambda r: "| SFT greedy | 1 | {} | {} | 50% | {} |".format(
        interval(r["sft_greedy"]["gold"]), pct_interval(r["sft_greedy"]["win"]),
        pct_interval(r["sft_greedy"]["strict"])), "adamw"),
    ("lessons/07_results.md", "ppo", lambda r: "| PPO sampled | 4 | {} | {} | {} | {} |".format(
        interval(r["ppo"]["gold"]), pct_interval(r["ppo"]["win"]), pct_interval(r["win_vs_sft_greedy"]["ppo"]),
        pct_interval(r["ppo"]["strict"])), "adamw"),
    ("lessons/07_results.md", "ppo", lambda r: "| PPO greedy | 1 | {} | {} | {} | {} |".format(
        interval(r["ppo_greedy"]["gold"]), pct_interval(r["ppo_greedy"]["win"]),
        pct_interval(r["win_vs_sft_greedy"]["ppo_greedy"]), pct_interval(r["ppo_greedy"]["strict"])), "adamw"),
    ("lessons/07_results.md", "ppo.sft.by_kind", lambda d: "| SFT sampled | " + " | ".join(pct0(d[k]) for k in (
        "arithmetic", "capital", "colour", "legs", "sound", "plural", "polite", "reverse", "sort_up", "sort_down",
        "sort_words")) + " |", "adamw"),
    ("lessons/07_results.md", "ppo.sft_greedy.by_kind", lambda d: "| SFT greedy | " + " | ".join(pct0(d[k]) for k in (
        "arithmetic", "capital", "colour", "legs", "sound", "plural", "polite", "reverse", "sort_up", "sort_down",
        "sort_words")) + " |", "adamw"),
    ("lessons/07_results.md", "ppo.ppo.by_kind", lambda d: "| PPO sampled | " + " | ".join(pct0(d[k]) for k in (
        "arithmetic", "capital", "colour", "legs", "sound", "plural", "polite", "reverse", "sort_up", "sort_down",
        "sort_words")) + " |", "adamw"),
    ("lessons/07_results.md", "ppo.ppo_greedy.by_kind", lambda d: "| PPO greedy | " + " | ".join(pct0(d[k]) for k in (
        "arithmetic", "capital", "colour", "legs", "sound", "plural", "polite", "reverse", "sort_up", "sort_down",
        "sort_words")) + " |", "adamw"),
]


def text_of(name):
    return " ".join((ROOT / name).read_text().split())  # line breaks do not matter


@pytest.mark.parametrize("name, path, form, record", [(*q, None)[:4] for q in QUOTES],
                         ids=[f"{q[0]}:{q[1]}" + (f":{q[3]}" if len(q) > 3 else "") for q in QUOTES])
def test_quoted_figure_matches_the_recorded_run(name, path, form, record):
    quoted = form(get(path, RECORDS[record] if record else RUN))
    source = f"lessons/recorded_run_{record}.json" if record else "lessons/recorded_run.json"
    assert quoted in text_of(name), f"{name} should quote {path} as {quoted!r} ({source})"



# ---- lesson 07's over-optimisation runs, and the answers its exercises give --------------

def evals(run):       # iteration -> that evaluation, with intervals
    return {e["step"]: e for e in RUN_ADAMW[run]["evals"]}


def mean_over(series, first, last):   # mean of iterations first..last (1-based, inclusive)
    return sum(series[first - 1:last]) / (last - first + 1)


def test_overoptimisation_table_and_text_match_the_recorded_runs():
    text = text_of("lessons/07_results.md")
    free = evals("ppo_beta0_bc0")
    for step in (4, 8, 12, 16, 20, 32, 48, 100):   # the table's columns, row by row
        assert f"{free[step]['kl']:.1f}" in text and f"{free[step]['gold'][0]:+.2f}" in text, step
    row = "| gold score | " + score(RUN_ADAMW["ppo_beta0_bc0"]["sft"]["gold"][0]) + " | " + " | ".join(
        score(free[s]["gold"][0]) for s in (4, 8, 12, 16, 20, 32, 48, 100)) + " |"
    assert row in text
    assert interval(free[100]["gold"]) in text and pct_interval(free[100]["win"]) in text
    held = evals("ppo_beta0")
    assert interval(held[100]["gold"]) in text and pct_interval(held[100]["win"]) in text
    pen = evals("ppo_beta01_bc0")
    assert interval(pen[100]["gold"]) in text and pct_interval(pen[100]["win"]) in text


def test_exercise_07_1_the_penalised_run_holds_its_kl_and_the_judge_prefers_it():
    pen, free = RUN_ADAMW["ppo_beta01_bc0"]["series"], RUN_ADAMW["ppo_beta0_bc0"]["series"]
    kl_pen, kl_free = mean_over(pen["kl"], 21, 40), mean_over(free["kl"], 21, 40)
    score_pen, score_free = mean_over(pen["score"], 21, 40), mean_over(free["score"], 21, 40)
    assert kl_pen < kl_free and score_pen < score_free   # lower KL, and the proxy likes it less
    gold_pen, gold_free = evals("ppo_beta01_bc0")[40]["gold"], evals("ppo_beta0_bc0")[40]["gold"]
    assert gold_pen[1] > gold_free[2]                     # but the judge likes it more: intervals apart
    text = text_of("lessons/07_results.md")
    quoted = (f"holds {kl_pen:.1f} nats against {kl_free:.1f}, its reward-model score is lower "
              f"({score_pen:+.2f} against {score_free:+.2f}), and its gold score is far higher: "
              f"{interval(gold_pen)} against {interval(gold_free)}")
    assert quoted in text, quoted


def test_exercise_07_2_the_gold_score_peaks_at_iteration_12_then_falls():
    free = evals("ppo_beta0_bc0")
    first = {s: free[s] for s in (4, 8, 12, 16, 20)}
    peak = max(first, key=lambda s: first[s]["gold"][0])
    assert peak == 12
    assert free[peak]["win"][1] > 0.5                     # the rise is real: the win interval is above 50%
    assert free[20]["gold"][0] < free[peak]["gold"][0]
    text = text_of("lessons/07_results.md")
    quoted = (f"the peak is at iteration {peak}, {score(free[peak]['gold'][0])} against the SFT model's "
              f"{score(RUN_ADAMW['ppo_beta0_bc0']['sft']['gold'][0])}, winning {pct_interval(free[peak]['win'])}; "
              f"by iteration 20 the gold score is back to {score(free[20]['gold'][0])}")
    assert quoted in text, quoted


def test_lesson_06_quotes_the_default_runs_clipping_and_kl_estimates():
    means, text = RUN["ppo"]["means"], text_of("lessons/06_ppo.md")
    assert f"{100 * means['outside']:.1f}% of the valid tokens" in text
    assert f"and {100 * means['clipfrac']:.1f}% were clipped" in text
    assert f"average {means['kl']:.3f} and {means['exact_kl']:.3f} nats per response" in text
    assert f"they read {RUN['ppo']['eval_log'][-1]['eval_kl']:.2f} and {RUN['ppo']['kl']:.2f} nats" in text


# lesson 03's table of SFT levers: one recorded run per row (lessons/recorded_levers.json)
LEVER_NAMES = {"a_adamw1000": "AdamW (the earlier default)", "b_muon1000": "Muon", "c_muon2000": "Muon",
               "d_muon2400": "Muon", "e_muon2000_mlr04": "Muon, matrix lr 0.04", "f_rotary": "Muon + rotary",
               "g_all_options": "Muon + all five options", "h_rotary_relu2": "Muon + rotary + relu2",
               "i_rotary_b32": "Muon + rotary, batch 32", "j_rotary_lr1e2": "Muon + rotary, AdamW lr 1e-2",
               "k_rotary_lr3e2": "Muon + rotary, AdamW lr 3e-2", "l_rotary_lr1e2_seed1": "the same as lr 1e-2, seed 1",
               "l_rotary_lr1e2_seed2": "the same as lr 1e-2, seed 2", "m_rotary_seed1": "Muon + rotary, seed 1",
               "m_rotary_seed2": "Muon + rotary, seed 2",
               "n_rotary_lr1e2_nsbf16": "the same as lr 1e-2, Newton-Schulz in bf16",
               "o_world_short_lists": "the same, lists of 3-4, numbers 1-12",
               "p_world_more_lists": "the same, and more list and sort demonstrations",
               "q_world_more_lists_1700": "the same, 1700 steps",
               "r_default_seed1": "today's default, seed 1", "r_default_seed2": "today's default, seed 2",
               "t_lr_floor0": "today's default, cosine to zero", "t_lr_floor0_seed1": "the same, seed 1"}


def test_lesson_03_lever_table_matches_the_recorded_runs():
    record_run = record_run_module()
    levers = json.loads((ROOT / "lessons" / "recorded_levers.json").read_text())
    text = (ROOT / "lessons" / "03_sft.md").read_text()
    assert set(levers) <= set(LEVER_NAMES), "a recorded lever run has no name in the lesson's table"
    for key, run in levers.items():
        row = record_run.lever_row(LEVER_NAMES[key], run)
        assert row in text, f"lesson 03 should have the row {row!r} (lessons/recorded_levers.json)"


# lesson 04's studies of feedback: the panel of labelers and the formats at equal effort
# (lessons/recorded_feedback.json, written by `python lessons/record_run.py feedback`)
FEEDBACK = json.loads((ROOT / "lessons" / "recorded_feedback.json").read_text())


def test_the_guidelines_show_the_panel_as_the_code_defines_it():
    from nanorlhf.tinychat.panel import GUIDELINES, PANEL, profile_table
    assert profile_table([GUIDELINES, *PANEL.values()]) in (ROOT / "data" / "guidelines.md").read_text()


@pytest.mark.parametrize("name", ["data/guidelines.md", "lessons/04_human_feedback.md"])
def test_the_agreement_matrix_is_the_recorded_one(name):
    from nanorlhf.tinychat.panel import GUIDELINES, PANEL, format_matrix
    panel = FEEDBACK["panel"]
    text = (ROOT / name).read_text()
    assert format_matrix(panel["matrix"], [p.name for p in (GUIDELINES, *PANEL.values())]) in text
    assert f"{panel['matrix_pairs']:,} pairs" in text_of(name)


def record_run_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("record_run", ROOT / "lessons" / "record_run.py")
    record_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(record_run)
    return record_run


def test_lesson_04_quotes_the_held_out_labeler_study():
    text = (ROOT / "lessons" / "04_human_feedback.md").read_text()
    for name, figures in FEEDBACK["panel"].items():
        if not name.startswith("matrix"):
            row = record_run_module().panel_row(name, figures)
            assert row in text, f"lesson 04 should have the row {row!r} (lessons/recorded_feedback.json)"


def test_lesson_04_format_table_matches_the_recorded_study():
    record_run = record_run_module()
    text = (ROOT / "lessons" / "04_human_feedback.md").read_text()
    for name, run in FEEDBACK["formats"].items():
        row = record_run.format_row(name, run)
        assert row in text, f"lesson 04 should have the row {row!r} (lessons/recorded_feedback.json)"
