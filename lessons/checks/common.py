"""
Helpers that the checks of more than one lesson use: TinyChat demonstrations as inputs,
and answers normalised to plain lists.
"""


def tinychat_demos(n, family=None):
    """The first n training demonstrations (of one family, if given)."""
    from nanorlhf.data import DATA_DIR, load_jsonl
    demos = load_jsonl(DATA_DIR / "sft_train.jsonl")
    if family:
        demos = [d for d in demos if d["family"] == family]
    return demos[:n]


def demo_text(demos):
    return "".join(f"{d['prompt']}\n{d['response']}\n" for d in demos)


def as_pairs(merges):
    """A list of merges (or of ranking pairs) as a list of (id, id) tuples, or the value
    unchanged if it is not one."""
    try:
        return [tuple(pair) for pair in merges]
    except TypeError:
        return merges
