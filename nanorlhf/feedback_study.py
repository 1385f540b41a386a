"""
Lesson 04's two studies of human feedback: who labels, and in what form.

    python -m nanorlhf.feedback_study panel             # a reward model per held-out labeler (about 12 minutes)
    python -m nanorlhf.feedback_study formats           # thumbs, pairs, rankings of 4 and of 8 at equal effort:
                                                        # a reward model and a PPO run each (about 40 minutes)
    python -m nanorlhf.feedback_study formats --no-ppo  # the reward models only (about 14 minutes)
    python lessons/record_run.py feedback               # -> lessons/recorded_feedback.json, which lesson 04 quotes

Both read out/sft.pt and out/comparisons.jsonl (run train_sft.py and train_rm.py first), and
measure on the 500 rankings train_rm.py holds out (the same seed, the same answers). They
work in out/panel/ and out/formats/; a run whose summary is already there is read, not
trained again, so an interrupted study resumes where it stopped.

**panel.** The 2500 x 4 answers of out/comparisons.jsonl are labeled again by the panel of
nanorlhf/tinychat/panel.py: same answers, other labels. For each labeler in turn, the other
four label the prompts round-robin, a reward model trains on their 2000 training rankings,
and it is measured on the held-out answers against (a) the training labelers' labels and
(b) the labels of the labeler it never saw, as InstructGPT reports it (72.4% against 69.6%).

**formats.** The cost model: a judgment costs one unit per answer read plus one unit for
the decision (a thumb, a choice, an ordering), so K + 1 units for K answers. Ordering the
answers costs nothing beyond reading them, InstructGPT's argument for rankings: a generous
assumption for large K. Every format spends the budget of the default run, 2000 rankings
of K = 4 = 10,000 units, on answers the SFT model gives to the 2000 training prompts, and
the default labeler (panel.GUIDELINES) judges them.
"""
import argparse
import json
import os

import numpy as np
import torch

from nanorlhf.checkpoint import load_checkpoint, require_checkpoint
from nanorlhf.compare import run_logged
from nanorlhf.evaluation import fmt, ratio_ci
from nanorlhf.feedback import (agreement, gold_scores, load_comparisons, ranking_scores, record_scores, save_comparisons,
                               split_rankings)
from nanorlhf.sampling import sample_responses
from nanorlhf.tinychat.panel import GUIDELINES, PANEL, agreement_matrix, rank_as, thumb_as

BUDGET = 10_000          # units of effort: 2000 rankings of K = 4, the default run's training set
FORMATS = {"thumbs": 1, "pairs": 2, "k4": 4, "k8": 8}   # answers a judgment reads
POOL_ANSWERS = 8         # answers sampled per training prompt; each format takes what it needs


def cost(k):
    """Units of effort of one judgment of k answers: k answers read, one decision."""
    return k + 1


def with_sft(folder, sft_path):
    """Make folder, with sft.pt in it (a link to sft_path), for train_rm.py and train_ppo.py to read."""
    os.makedirs(folder, exist_ok=True)
    if not os.path.exists(f"{folder}/sft.pt"):
        os.symlink(os.path.abspath(sft_path), f"{folder}/sft.pt")


def prepare(out, args):
    """A study folder with sft.pt, and the default run's rankings split as train_rm.py splits them."""
    require_checkpoint(f"{args.out_dir}/sft.pt")
    with_sft(out, f"{args.out_dir}/sft.pt")
    return split_rankings(load_comparisons(f"{args.out_dir}/comparisons.jsonl"), 500, args.seed)


def relabel(records, labelers, rng):
    """The same answers ranked again: record i by labelers[i % len(labelers)] (round-robin)."""
    out = []
    for i, r in enumerate(records):
        who = labelers[i % len(labelers)]
        out.append({"prompt": r["prompt"], "responses": r["responses"], "labeler": who.name,
                    "ranking": rank_as(who, r["prompt"], r["responses"], rng)})
    return out


def train_rm(folder, train_file, heldout_file, args):
    """train_rm.py on a file, measured on another -> its rm_summary.json (read if already there)."""
    if not os.path.exists(f"{folder}/rm_summary.json"):
        command = ["train_rm.py", "--out-dir", folder, "--comparisons", train_file, "--heldout", heldout_file,
                   "--seed", str(args.seed)]
        print(f"  {' '.join(command)}  ({run_logged(command, f'{folder}/rm.log', 'rm'):.0f} s)")
    return json.load(open(f"{folder}/rm_summary.json"))


def counts(records, scores):
    """(agree, total) per record: pairs ordered as the records' labels, gold ties left out."""
    ties = gold_scores(records)
    return np.array([agreement([r], [s], [t]) for r, s, t in zip(records, scores, ties)])   # (R, 2)


def held_out_figures(rm_path, val, labels):
    """The reward model and another training labeler on the held-out answers, against the training
    labelers' labels and the held-out labeler's -> {figure: (agree, total) per ranking, (R, 2)}."""
    rm, tokenizer, _ = load_checkpoint(rm_path, "cpu", kind="reward")
    rm_scores = record_scores(rm, tokenizer, val)
    other = [ranking_scores(r["ranking"]) for r in labels["other"]]
    return {"rm_train": counts(labels["train"], rm_scores), "rm_heldout": counts(labels["held_out"], rm_scores),
            "train_train": counts(labels["train"], other), "train_heldout": counts(labels["held_out"], other)}


def panel_study(args):
    """Leave one labeler out, train on the others, measure on both: out/panel/panel_summary.json."""
    train, val = prepare("out/panel", args)
    results, pooled = {}, {}
    for name, held_out in PANEL.items():
        folder, rng = f"out/panel/{name}", np.random.default_rng(args.seed)
        with_sft(folder, "out/panel/sft.pt")
        trainers = [p for p in PANEL.values() if p is not held_out]
        save_comparisons(relabel(train, trainers, rng), f"{folder}/train.jsonl")
        # the held-out answers labeled three times: (a) by the training labelers, (b) by the held-out
        # labeler, and by another training labeler each, the yardstick
        labels = {"train": relabel(val, trainers, rng), "held_out": relabel(val, [held_out], rng),
                  "other": relabel(val, trainers[1:] + trainers[:1], rng)}
        save_comparisons(labels["train"], f"{folder}/heldout.jsonl")
        train_rm(folder, f"{folder}/train.jsonl", f"{folder}/heldout.jsonl", args)
        figures = held_out_figures(f"{folder}/rm.pt", val, labels)
        results[name] = {k: ratio_ci(c[:, 0], c[:, 1]) for k, c in figures.items()}
        for k, c in figures.items():
            pooled.setdefault(k, []).append(c)
        print(f"held out {name}: " + describe(results[name], f"{name}'s"))
    results["pooled"] = {k: ratio_ci(*np.concatenate(c).T) for k, c in pooled.items()}
    results["matrix"], results["matrix_pairs"] = agreement_matrix(train + val, [GUIDELINES, *PANEL.values()])
    print(f"pooled over the {len(PANEL)} held-out labelers: " + describe(results["pooled"], "the held-out labeler's"))
    json.dump(results, open("out/panel/panel_summary.json", "w"), indent=1)


def describe(r, whose):
    """One line of the held-out labeler study."""
    return (f"reward model {fmt(r['rm_train'], True)} on training labelers' labels, {fmt(r['rm_heldout'], True)} "
            f"on {whose}; a training labeler {fmt(r['train_train'], True)}, {fmt(r['train_heldout'], True)}")


def answer_pool(train, args):
    """POOL_ANSWERS fresh SFT answers to each training prompt (sampled once, kept in out/formats/pool.json)."""
    path = "out/formats/pool.json"
    if not os.path.exists(path):
        sft, tokenizer, _ = load_checkpoint(f"{args.out_dir}/sft.pt", "cpu", kind="gpt")
        prompts = [r["prompt"] for r in train]
        texts, _, _ = sample_responses(sft, tokenizer, [p for p in prompts for _ in range(POOL_ANSWERS)],
                                       48, 1.0, args.seed)
        json.dump({"prompts": prompts, "answers": [texts[i * POOL_ANSWERS:(i + 1) * POOL_ANSWERS]
                                                   for i in range(len(prompts))]}, open(path, "w"))
    return json.load(open(path))


def judgments(pool, k, rng, budget=BUDGET):
    """budget // cost(k) judgments of k answers: judgment j reads answers [b k, (b + 1) k) of prompt
    j mod P, where b = j // P, so every judgment reads answers no other judgment read."""
    prompts, answers = pool["prompts"], pool["answers"]
    records = []
    for j in range(budget // cost(k)):
        i, block = j % len(prompts), j // len(prompts)
        prompt, responses = prompts[i], answers[i][block * k:(block + 1) * k]
        if k == 1:
            records.append({"prompt": prompt, "response": responses[0], "thumb": thumb_as(GUIDELINES, prompt,
                                                                                          responses[0], rng)})
        else:
            records.append({"prompt": prompt, "responses": responses, "ranking": rank_as(GUIDELINES, prompt,
                                                                                         responses, rng)})
    return records


def formats_study(args):
    """A reward model (and a PPO run) per feedback format at equal effort: out/formats/formats_summary.json."""
    train, val = prepare("out/formats", args)
    save_comparisons(val, "out/formats/heldout.jsonl")
    pool = answer_pool(train, args)
    results = {}
    for name, k in FORMATS.items():
        if args.formats and name not in args.formats.split(","):
            continue
        folder = f"out/formats/{name}"
        with_sft(folder, "out/formats/sft.pt")
        records = judgments(pool, k, np.random.default_rng(args.seed))
        with open(f"{folder}/train.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
        rm = train_rm(folder, f"{folder}/train.jsonl", "out/formats/heldout.jsonl", args)
        results[name] = {"k": k, "judgments": len(records), "answers": len(records) * k,
                         "cost": len(records) * cost(k), "rm": rm}
        print(f"{name}: {len(records)} judgments, {len(records) * k} answers read -> reward model "
              f"{fmt(rm['val_acc_gold'], True)} with the noise-free order, {fmt(rm['val_acc'], True)} with the labels")
        if args.ppo:
            if not os.path.exists(f"{folder}/ppo_summary.json"):
                command = ["train_ppo.py", "--out-dir", folder, "--seed", str(args.seed)]
                print(f"  {' '.join(command)}  ({run_logged(command, f'{folder}/ppo.log', 'ppo'):.0f} s)")
            ppo = json.load(open(f"{folder}/ppo_summary.json"))
            results[name]["ppo"] = {"win": ppo["ppo"]["win"], "gold": ppo["ppo"]["gold"]}
            print(f"  PPO on it: {fmt(ppo['ppo']['win'], True)} wins over SFT, gold {fmt(ppo['ppo']['gold'])}")
    json.dump(results, open("out/formats/formats_summary.json", "w"), indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", choices=["panel", "formats"],
                        help="panel: a reward model tested on a labeler it never saw; formats: thumbs, pairs, rankings")
    parser.add_argument("--out-dir", default="out", help="reads sft.pt and comparisons.jsonl from here")
    parser.add_argument("--seed", type=int, default=1337, help="the labelers' noise, the split, the sampling, training")
    parser.add_argument("--formats", default="", help="formats: only these, comma-separated (thumbs,pairs,k4,k8)")
    parser.add_argument("--ppo", action=argparse.BooleanOptionalAction, default=True,
                        help="formats: a PPO run on each reward model (5.5 minutes each)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    panel_study(args) if args.study == "panel" else formats_study(args)


if __name__ == "__main__":
    main()
