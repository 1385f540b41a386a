"""
TinyChat's dataset splits: the files in data/, built from a seed, byte-identical on every run.

    python -m nanorlhf.tinychat.splits      # regenerate data/*.jsonl
"""
import itertools
import json
import random
from functools import lru_cache

from nanorlhf.data import DATA_DIR, load_jsonl
from nanorlhf.tinychat.demonstrators import demonstrate
from nanorlhf.tinychat.tasks import KINDS, sample_task
from nanorlhf.tinychat.world import DEMONSTRATOR_WEIGHTS, FAMILIES, FAMILY_WEIGHTS

SEED = 1337

SPLIT_SIZES = {"sft_train": 18000, "sft_val": 1000, "pref_prompts": 3000, "ppo_prompts": 3000}
EVAL_PER_FAMILY = 40  # half of them with held-out phrasings

# -----------------------------------------------------------------------------
# Splits


def _pick(rng, weights):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def sample_new_task(rng, family, avoid, tries=10):
    """A task whose prompt is never in avoid['eval'] and, if `tries` draws allow, not in
    avoid['train'] either (small families have fewer distinct prompts than a split needs).
    The kind is drawn first, so that retries do not favour kinds with many distinct prompts."""
    kind = rng.choice(KINDS[family])
    for attempt in itertools.count():
        task = sample_task(family, rng, kind=kind)
        if task.prompt in avoid["eval"]:
            continue
        if task.prompt not in avoid["train"] or attempt >= tries:
            return task


def make_eval(rng):
    """EVAL_PER_FAMILY distinct prompts per family, half with held-out phrasings."""
    records, seen = [], set()
    for family in FAMILIES:
        for heldout in (True, False):
            n = 0
            while n < EVAL_PER_FAMILY // 2:
                task = sample_task(family, rng, heldout=heldout)
                if task.prompt not in seen:
                    seen.add(task.prompt)
                    records.append({"prompt": task.prompt, "family": family, "kind": task.kind,
                                    "heldout_phrasing": heldout})
                    n += 1
    rng.shuffle(records)  # so that any prefix of the file mixes all families
    return records


def make_demonstrations(rng, n, avoid):
    """n demonstrations: a random task (never an eval prompt) and a random demonstrator each."""
    records = []
    for _ in range(n):
        task = sample_new_task(rng, _pick(rng, FAMILY_WEIGHTS), avoid, tries=0)
        who = _pick(rng, DEMONSTRATOR_WEIGHTS)
        records.append({"prompt": task.prompt, "response": demonstrate(task, who, rng),
                        "family": task.family, "demonstrator": who})
    return records


def make_prompts(rng, n, avoid):
    """Prompts for a later stage, avoiding earlier splits' prompts where the family allows."""
    records = []
    for _ in range(n):
        task = sample_new_task(rng, _pick(rng, FAMILY_WEIGHTS), avoid)
        avoid["train"].add(task.prompt)
        records.append({"prompt": task.prompt, "family": task.family, "kind": task.kind})
    return records


def build_splits(seed=SEED):
    """All splits as {file name: list of records}; deterministic for a given seed."""
    rng = random.Random(seed)
    eval_records = make_eval(rng)
    avoid = {"eval": {r["prompt"] for r in eval_records}, "train": set()}
    sft_train = make_demonstrations(rng, SPLIT_SIZES["sft_train"], avoid)
    sft_val = make_demonstrations(rng, SPLIT_SIZES["sft_val"], avoid)
    avoid["train"] |= {r["prompt"] for r in sft_train + sft_val}
    pref = make_prompts(rng, SPLIT_SIZES["pref_prompts"], avoid)
    ppo = make_prompts(rng, SPLIT_SIZES["ppo_prompts"], avoid)
    return {"sft_train.jsonl": sft_train, "sft_val.jsonl": sft_val, "pref_prompts.jsonl": pref,
            "ppo_prompts.jsonl": ppo, "eval_prompts.jsonl": eval_records}


def to_jsonl(records):
    """Records -> JSONL text, one compact object per line (the exact bytes written to disk)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


@lru_cache(maxsize=1)
def all_prompts():
    """Every prompt in every committed data file (used to check the labeler covers them)."""
    names = ["sft_train.jsonl", "sft_val.jsonl", "pref_prompts.jsonl", "ppo_prompts.jsonl", "eval_prompts.jsonl"]
    return sorted({r["prompt"] for name in names for r in load_jsonl(DATA_DIR / name)})


def main():
    DATA_DIR.mkdir(exist_ok=True)
    for name, records in build_splits().items():
        path = DATA_DIR / name
        path.write_text(to_jsonl(records), encoding="utf-8")
        print(f"wrote {path} ({len(records)} records, {path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
