"""
Checks for the lesson exercises: is my answer right?

    python lessons/check.py 01             # every part of exercise 01
    python lessons/check.py 01 merge       # only the part called "merge"
    python lessons/check.py all            # every exercise
    python -m lessons.check 01             # the same, as a module

Exercise NN is the file lessons/exercises/exNN_<name>.py. You edit the blocks between

    # ---- YOUR CODE BELOW ----
    # ---- YOUR CODE ABOVE ----

and the check imports the file, runs your code on hand-worked cases and on random or
TinyChat inputs, and compares it with the reference code in nanorlhf/. Each part prints
PASS, FAIL (what was expected, what came out, and a hint) or TODO (not written yet).
The exit status is 0 only if every part passes.

Adding an exercise for a new lesson: write the stub lessons/exercises/exNN_name.py, then
one function per part below, registered with @check("NN", "part name"). A part raises
Fail when the answer is wrong; a stub that still raises NotImplementedError, or leaves a
prediction at None, shows as TODO. tests/test_lessons.py needs a correct solution for
every part, to prove that the check passes it and fails the untouched stub.
"""
import importlib.util
import math
import random
import sys
import traceback
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so that `python lessons/check.py` can import nanorlhf
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

EXERCISES_DIR = ROOT / "lessons" / "exercises"


# -----------------------------------------------------------------------------
# The machinery: registering, loading and running checks

UNSET = object()  # "nothing to show" for Fail's expected and got (None is a possible answer)


class Fail(Exception):
    """A wrong answer: what was checked, what was expected, what came out, and a hint."""

    def __init__(self, what, expected=UNSET, got=UNSET, hint=None):
        super().__init__(what)
        self.what, self.expected, self.got, self.hint = what, expected, got, hint

    def lines(self):
        out = [self.what]
        if self.expected is not UNSET:
            out.append(f"expected {self.expected}")
        if self.got is not UNSET:
            out.append(f"got      {self.got}")
        if self.hint:
            out.append(f"hint: {self.hint}")
        return out


class Todo(Exception):
    """The part is not written yet."""


CHECKS = {}  # exercise number "01" -> [(part name, check function), ...] in order


def check(number, part):
    """Register `fn(module)` as the check of `part` of exercise `number`."""
    def register(fn):
        CHECKS.setdefault(number, []).append((part, fn))
        return fn
    return register


def exercise_path(number):
    """'01' -> lessons/exercises/ex01_bpe.py (exactly one file must match)."""
    paths = sorted(EXERCISES_DIR.glob(f"ex{number}_*.py"))
    if len(paths) != 1:
        raise SystemExit(f"error: expected one file lessons/exercises/ex{number}_*.py, found {len(paths)}")
    return paths[0]


def load_exercise(number):
    """Import the student's file for exercise `number`, fresh (edits since the last run count)."""
    path = exercise_path(number)
    spec = importlib.util.spec_from_file_location(f"lessons.exercises.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call(module, name, *args):
    """module.name(*args), with a not-yet-written function reported as TODO."""
    fn = getattr(module, name, None)
    if fn is None:
        raise Fail(f"the file defines no function `{name}`", hint="keep the stub's function names")
    try:
        return fn(*args)
    except NotImplementedError:
        raise Todo("still raises NotImplementedError") from None


def prediction(module, name):
    """A number the student wrote into the stub, or TODO if it is still None."""
    value = getattr(module, name, None)
    if value is None:
        raise Todo("still None: write your prediction in the file first")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Fail(f"{name} should be a number", got=repr(value)) from None


def where_it_broke(error):
    """The last line of the traceback that lies in an exercise file, e.g. 'ex01_bpe.py:41'."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "exercises" in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f" (at {Path(f.filename).name}:{f.lineno}: {f.line})"


def run(number, module=None, parts=None, say=print):
    """Run the checks of exercise `number` on `module` (default: the student's file) -> all passed?

    parts: names of the parts to run (default: all). say: where the report lines go.
    """
    if number not in CHECKS:
        raise SystemExit(f"error: no exercise {number}; there are {', '.join(sorted(CHECKS))}")
    checks = [(p, fn) for p, fn in CHECKS[number] if parts is None or p in parts]
    if not checks:
        names = ", ".join(p for p, _ in CHECKS[number])
        raise SystemExit(f"error: exercise {number} has no part {parts}; its parts are {names}")
    if module is None:
        module = load_exercise(number)
    say(f"exercise {number} ({exercise_path(number).relative_to(ROOT)})")
    passed = 0
    for part, fn in checks:
        try:
            note = fn(module)
            say(f"  PASS  {part}" + (f": {note}" if note else ""))
            passed += 1
        except Todo as e:
            say(f"  TODO  {part}: {e}")
        except Fail as e:
            first, *rest = e.lines()
            say(f"  FAIL  {part}: {first}")
            for line in rest:
                say(f"          {line}")
        except Exception as e:  # the student's code crashed
            say(f"  FAIL  {part}: {type(e).__name__}: {e}{where_it_broke(e)}")
    say(f"{passed} of {len(checks)} passed" + (": well done!" if passed == len(checks) else ""))
    return passed == len(checks)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__.strip().split("\n\n")[1])
        print("exercises:", ", ".join(f"{n} ({exercise_path(n).name})" for n in sorted(CHECKS)))
        return 2
    numbers = sorted(CHECKS) if argv[0] == "all" else [argv[0].zfill(2)]
    parts = argv[1:] or None
    ok = True
    for number in numbers:
        ok = run(number, parts=parts) and ok
    return 0 if ok else 1


# -----------------------------------------------------------------------------
# Small helpers for the checks

def expect_equal(what, got, expected, hint=None):
    if got != expected:
        raise Fail(what, expected=expected, got=got, hint=hint)


def expect_close(what, got, expected, atol=1e-5, hint=None):
    """Two tensors of the same shape within atol of each other."""
    if not isinstance(got, torch.Tensor):
        raise Fail(what, expected="a torch.Tensor", got=type(got).__name__, hint=hint)
    if got.shape != expected.shape:
        raise Fail(what + ": wrong shape", expected=tuple(expected.shape), got=tuple(got.shape), hint=hint)
    if torch.isnan(got).any():
        raise Fail(what + ": the result contains NaN", hint=hint)
    diff = (got.detach().double() - expected.double()).abs()  # same shape as expected
    if diff.max() > atol:
        where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
        raise Fail(what + f": the largest difference is at index {list(where)}",
                   expected=f"{expected[where].item():.4f}", got=f"{got[where].item():.4f}", hint=hint)


def as_lists(pair):
    """(x, targets) as a tuple of two plain lists, whatever sequence types they came in."""
    if isinstance(pair, (tuple, list)) and len(pair) == 2:
        return tuple(p.tolist() if hasattr(p, "tolist") else list(p) for p in pair)
    return pair


def tinychat_demos(n, family=None):
    """The first n training demonstrations (of one family, if given)."""
    from nanorlhf.data import DATA_DIR, load_jsonl
    demos = load_jsonl(DATA_DIR / "sft_train.jsonl")
    if family:
        demos = [d for d in demos if d["family"] == family]
    return demos[:n]


def demo_text(demos):
    return "".join(f"{d['prompt']}\n{d['response']}\n" for d in demos)


# -----------------------------------------------------------------------------
# Exercise 01: byte-pair encoding (lessons/01_tokenizer.md)

@check("01", "merge")
def check_merge(m):
    from nanorlhf.tokenizer import merge
    cases = [([97, 97, 97, 98], (97, 97), 256),  # the docstring's example
             ([1, 1, 1, 1], (1, 1), 9),            # overlapping pairs: left to right
             ([1, 2, 1, 2, 3], (1, 2), 7),          # every occurrence, also at the end
             ([5], (5, 5), 9), ([], (1, 2), 3), ([3, 1, 2], (2, 1), 9)]
    rng = random.Random(0)
    cases += [([rng.randrange(4) for _ in range(rng.randrange(12))], (rng.randrange(4), rng.randrange(4)), 99)
              for _ in range(200)]
    for ids, pair, new_id in cases:
        before = list(ids)
        got = call(m, "merge", ids, pair, new_id)
        expect_equal(f"merge({before}, {pair}, {new_id})", got, merge(before, pair, new_id),
                     hint="scan left to right; after a match, jump over both ids of the pair")
        expect_equal("merge must not change the list it was given", ids, before,
                     hint="build a new list instead of editing `ids`")


@check("01", "encode_chunk")
def check_encode_chunk(m):
    import regex
    from nanorlhf.tokenizer import SPLIT_PATTERN, Tokenizer, train_merges
    worked = [("aaabdaaabac", [(97, 97), (97, 98)], [256, 257, 100, 256, 257, 97, 99]),
              ("aaabdaaabac", [(97, 97), (97, 98), (256, 257)], [258, 100, 258, 97, 99]),
              ("café", [], [99, 97, 102, 195, 169])]  # é is two bytes in UTF-8
    for chunk, merges, expected in worked:
        expect_equal(f"encode_chunk({chunk!r}, {merges})", call(m, "encode_chunk", chunk, merges), expected,
                     hint="start from list(chunk.encode('utf-8')) and apply merges[k] -> 256 + k, in order")
    # against tiktoken running merges learned from TinyChat
    demos = tinychat_demos(400)
    merges = train_merges(demo_text(demos), 150)
    tok = Tokenizer(merges)
    for d in demos[:60]:
        for text in (d["prompt"], d["response"]):
            chunks = regex.findall(SPLIT_PATTERN, text)
            got = [i for chunk in chunks for i in call(m, "encode_chunk", chunk, merges)]
            expect_equal(f"encoding {text!r} chunk by chunk, with 150 merges learned from TinyChat",
                         got, tok.encode(text),
                         hint="apply the merges in training order, each to every occurrence")


def as_pairs(merges):
    """A list of merges as a list of (id, id) tuples, or the value unchanged if it is not one."""
    try:
        return [tuple(pair) for pair in merges]
    except TypeError:
        return merges


@check("01", "train")
def check_train(m):
    from nanorlhf.tokenizer import train_merges
    expect_equal('train("aaabdaaabac", 3)', as_pairs(call(m, "train", "aaabdaaabac", 3)),
                 [(97, 97), (97, 98), (256, 257)],
                 hint="after (97, 97) -> 256, the pairs (256, 97) and (97, 98) both occur twice: "
                      "a tie goes to the smaller pair, (97, 98)")
    expect_equal('train("ab", 5) (one pair, then nothing is left)', as_pairs(call(m, "train", "ab", 5)),
                 [(97, 98)], hint="stop when there are no pairs left to count")
    expect_equal('train("to do, to be", 2): pairs never cross chunks',
                 as_pairs(call(m, "train", "to do, to be", 2)), train_merges("to do, to be", 2),
                 hint="count pairs inside each regex chunk only, e.g. ' do' and ',' are separate chunks")
    text = demo_text(tinychat_demos(150))
    expect_equal("40 merges learned from 150 TinyChat demonstrations", as_pairs(call(m, "train", text, 40)),
                 train_merges(text, 40),
                 hint="count pairs with their multiplicity over all chunks; ties go to the smallest pair")


@lru_cache(maxsize=None)
def bytes_per_token(vocab_size):
    """Train a tokenizer on the TinyChat corpus -> bytes per token on the validation texts."""
    from nanorlhf.data import DATA_DIR, corpus_text, load_jsonl
    from nanorlhf.tokenizer import Tokenizer
    val = demo_text(load_jsonl(DATA_DIR / "sft_val.jsonl"))
    return len(val.encode("utf-8")) / len(Tokenizer.train(corpus_text(), vocab_size).encode(val))


@check("01", "PREDICTED_BYTES_PER_TOKEN_2048")
def check_bytes_per_token(m):
    guess = prediction(m, "PREDICTED_BYTES_PER_TOKEN_2048")
    measured = {v: bytes_per_token(v) for v in (1024, 2048)}
    why = (f"1024 tokens: {measured[1024]:.2f} bytes per token, 2048 tokens: {measured[2048]:.2f}. "
           "TinyChat's text splits into only about a thousand distinct regex chunks (words with "
           "their space, numbers, punctuation); with 1024 tokens most chunks are already one "
           "token, so extra merges have little left to compress")
    if abs(guess - measured[2048]) > 0.25:
        raise Fail("the prediction is more than 0.25 away from the measurement",
                   expected=f"{measured[2048]:.2f}", got=f"{guess:.2f}", hint=why)
    return why


# -----------------------------------------------------------------------------
# Exercise 02: attention and positions (lessons/02_gpt.md)

def reference_positions(attention_mask):
    """What GPT.hidden computes: the number of real tokens before each token."""
    return (torch.cumsum(attention_mask, dim=1) - 1).clamp(min=0)


@check("02", "position_ids")
def check_position_ids(m):
    g = torch.Generator().manual_seed(0)
    masks = [torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]),  # the docstring's example
             torch.tensor([[0, 0, 0, 1]]), torch.tensor([[1, 1, 0, 0]])]  # left and right padding
    for _ in range(20):  # random left-padded batches
        B, T = 4, int(torch.randint(1, 12, (1,), generator=g))
        n_pad = torch.randint(0, T, (B, 1), generator=g)
        masks.append((torch.arange(T)[None, :] >= n_pad).long())
    for mask in masks:
        got = call(m, "position_ids", mask.clone())
        expected = reference_positions(mask)
        if not isinstance(got, torch.Tensor) or got.shape != mask.shape:
            raise Fail(f"position_ids({mask.tolist()}): want a tensor of shape {tuple(mask.shape)}",
                       got=type(got).__name__ if not isinstance(got, torch.Tensor) else tuple(got.shape))
        real = mask.bool()
        if not torch.equal(got.long()[real], expected[real]):
            raise Fail(f"position_ids({mask.tolist()}) on the real tokens", expected=expected.tolist(),
                       got=got.tolist(), hint="count the real tokens before each one: torch.cumsum helps")
        if got.min() < 0 or got.max() >= mask.size(1):
            raise Fail(f"position_ids({mask.tolist()}): a PAD position is not a valid index",
                       got=got.tolist(), hint="the model looks every position up in wpe, so clamp at 0")


@check("02", "attention")
def check_attention(m):
    from torch.nn import functional as F
    from nanorlhf.model import attention_mask_4d
    # hand-worked, one head, hs = 1: the second query scores the keys 0 and ln 3, so it
    # weighs the values 4 and 8 by 1/4 and 3/4 -> 7; the first query only sees itself -> 4
    q = torch.tensor([[[[0.0], [1.0]]]])          # (1, 1, 2, 1)
    k = torch.tensor([[[[0.0], [math.log(3)]]]])
    v = torch.tensor([[[[4.0], [8.0]]]])
    expect_close("the worked example (no mask)", call(m, "attention", q, k, v, None),
                 torch.tensor([[[[4.0], [7.0]]]]),
                 hint="query 0 sees only key 0, so its output is v[0] = 4; query 1 weighs the values "
                      "by softmax(0, ln 3) = (1/4, 3/4). Scores are q @ k.transpose(-2, -1) / sqrt(hs)")
    expect_close("the worked example with the first token PAD", call(m, "attention", q, k, v,
                 torch.tensor([[0, 1]])), torch.tensor([[[[4.0], [8.0]]]]),
                 hint="a PAD key gets -inf; the PAD query still sees itself")
    g = torch.Generator().manual_seed(0)
    B, nh, T, hs = 3, 2, 7, 8
    q, k, v = (torch.randn(B, nh, T, hs, generator=g) for _ in range(3))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    expect_close("random q, k, v, no padding", call(m, "attention", q, k, v, None), expected,
                 hint="query i may only look at keys j <= i: mask the upper triangle with -inf")
    key_mask = torch.tensor([[1] * 7, [0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 1]])
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask_4d(key_mask.bool(), T))
    expect_close("random q, k, v, left-padded rows", call(m, "attention", q, k, v, key_mask), expected,
                 hint="allowed = causal & key_mask[b, j], and always the diagonal; NaN means a row "
                      "of the softmax had no allowed key")


@check("02", "PREDICTED_INIT_LOSS_320")
def check_init_loss(m):
    from nanorlhf.model import GPT, GPTConfig
    guess = prediction(m, "PREDICTED_INIT_LOSS_320")
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=320, n_layer=2, n_head=2, n_embd=64))
    idx, targets = torch.randint(0, 320, (16, 64)), torch.randint(0, 320, (16, 64))
    with torch.no_grad():
        _, loss = model(idx, targets)
    why = (f"measured {loss.item():.3f}; ln(320) = {math.log(320):.3f}. Weights start at N(0, 0.02), "
           "so every logit is close to 0 and the softmax is close to uniform: each target gets "
           "probability about 1/V and the loss is -ln(1/V) = ln V")
    if abs(guess - loss.item()) > 0.1:
        raise Fail("the prediction is more than 0.1 away from the measurement",
                   expected=f"{loss.item():.3f}", got=f"{guess:.3f}", hint=why)
    return why


# -----------------------------------------------------------------------------
# Exercise 03: supervised fine-tuning (lessons/03_sft.md)

@check("03", "sft_targets")
def check_sft_targets(m):
    from nanorlhf.sft import encode_demonstration
    from nanorlhf.tokenizer import Tokenizer
    U, A, E = 100, 101, 102
    expect_equal("sft_targets([U, 7, 8, A], [5, 6], E), with U, A, E = 100, 101, 102",
                 as_lists(call(m, "sft_targets", [U, 7, 8, A], [5, 6], E)),
                 ([U, 7, 8, A, 5, 6], [-1, -1, -1, 5, 6, E]),
                 hint="x = ids[:-1] and targets = ids[1:] for ids = prompt + response + [EOS]; then "
                      "hide the targets that are prompt tokens. The first response token is "
                      "predicted at the <|assistant|> position")
    expect_equal("an empty response still teaches the model to stop",
                 as_lists(call(m, "sft_targets", [U, 7, A], [], E)), ([U, 7, A], [-1, -1, E]),
                 hint="the EOS target is never masked")
    demos = tinychat_demos(40)
    tok = Tokenizer.train(demo_text(tinychat_demos(400)), 400)
    for d in demos:
        prompt_ids, response_ids = tok.encode_prompt(d["prompt"]), tok.encode(d["response"])
        got = call(m, "sft_targets", prompt_ids, response_ids, tok.eos_id)
        expected = encode_demonstration(tok, d["prompt"], d["response"], block_size=1000)
        expect_equal(f"the demonstration {d['prompt']!r} -> {d['response']!r}",
                     as_lists(got), expected, hint="compare with nanorlhf/sft.py: encode_demonstration")


@lru_cache(maxsize=None)
def eos_rate_after_training(drop_eos_targets, steps=100):
    """Train a small GPT on TinyChat arithmetic for a few seconds -> share of 64 sampled
    responses that end with EOS."""
    from nanorlhf.common import make_optimizer
    from nanorlhf.model import GPT, GPTConfig
    from nanorlhf.sampling import sample_responses
    from nanorlhf.sft import IGNORE, encode_demonstration, random_batches
    from nanorlhf.tokenizer import Tokenizer
    demos = tinychat_demos(1000, family="arithmetic")
    tok = Tokenizer.train(demo_text(demos), 360)
    examples = []
    for d in demos:
        x, targets = encode_demonstration(tok, d["prompt"], d["response"], block_size=96)
        if drop_eos_targets:  # what PAD = EOS does when every PAD target is set to IGNORE
            targets = [IGNORE if t == tok.eos_id else t for t in targets]
        examples.append((x, targets))
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=96, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=32))
    optimizer = make_optimizer(model.parameters(), lr=1e-2, weight_decay=0.0)
    batches = random_batches(examples, 32, tok.pad_id, torch.Generator().manual_seed(0))
    for _ in range(steps):
        x, targets = next(batches)
        _, loss = model(x, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    prompts = [d["prompt"] for d in demos[:64]]
    _, ended, _ = sample_responses(model, tok, prompts, max_new_tokens=48, temperature=1.0, seed=0)
    return sum(ended) / len(ended)


@check("03", "PREDICTED_EOS_RATE_WITHOUT_EOS_TARGETS")
def check_eos_rate(m):
    guess = prediction(m, "PREDICTED_EOS_RATE_WITHOUT_EOS_TARGETS")
    without, with_eos = eos_rate_after_training(True), eos_rate_after_training(False)
    why = (f"trained with EOS targets {with_eos:.0%} of the responses end with EOS; without them "
           f"{without:.0%}. EOS is never a target, and every cross-entropy step pushes down the "
           "logits of all tokens but the target, so the model learns that EOS never comes: it "
           "talks until max_new_tokens. That is why PAD must be a token of its own")
    if abs(guess - without) > 0.1:
        raise Fail("the prediction is more than 0.1 away from the measurement",
                   expected=f"{without:.2f}", got=f"{guess:.2f}", hint=why)
    return why


# -----------------------------------------------------------------------------
# Exercise 04: rankings, pairs and labeler agreement (lessons/04_human_feedback.md)

@check("04", "ranking_to_pairs")
def check_ranking_to_pairs(m):
    import itertools
    from nanorlhf.reward import ranking_to_pairs
    expect_equal("ranking_to_pairs([2, 0, 1]) (the docstring's example), in any order",
                 sorted(as_pairs(call(m, "ranking_to_pairs", [2, 0, 1]))), [(0, 1), (2, 0), (2, 1)],
                 hint="2 is best, so it beats 0 and 1; 0 beats 1. A pair is (winner, loser)")
    rankings = [[0], [1, 0]]
    rankings += [list(p) for k in (3, 4) for p in itertools.permutations(range(k))]
    rng = random.Random(0)
    rankings += [rng.sample(range(k), k) for k in range(5, 10) for _ in range(20)]
    for ranking in rankings:
        before = list(ranking)
        got = as_pairs(call(m, "ranking_to_pairs", ranking))
        expect_equal(f"ranking_to_pairs({before}), in any order", sorted(got) if isinstance(got, list) else got,
                     sorted(ranking_to_pairs(before)),
                     hint="every response beats every response ranked BELOW it (not only the next "
                          "one), and the pairs hold response indices, not places in the ranking")
        expect_equal("ranking_to_pairs must not change the list it was given", ranking, before)


@check("04", "PREDICTED_PAIRS_K6")
def check_pairs_k6(m):
    from nanorlhf.reward import ranking_to_pairs
    guess = prediction(m, "PREDICTED_PAIRS_K6")
    n = len(ranking_to_pairs(list(range(6))))
    why = (f"C(6, 2) = 6 * 5 / 2 = {n}: each of the 6 responses is paired with the 5 others, and "
           "that counts every pair twice. Each response is in K - 1 = 5 pairs, which is why all "
           "the pairs of a prompt go into one batch: shuffled as separate examples, every response "
           "would be trained on 5 times over in one epoch, and the reward model overfits")
    if guess != n:
        raise Fail("not the number of pairs", expected=n, got=guess, hint=why)
    return why


def simulated_agreement(p, n=200_000, seed=0):
    """Two labelers, each right with probability p, independently -> share of pairs they agree on."""
    import numpy as np
    rng = np.random.default_rng(seed)
    a, b = rng.random(n) < p, rng.random(n) < p   # (n,) is each labeler right?
    return float((a == b).mean())


@check("04", "inter_labeler_agreement")
def check_inter_labeler_agreement(m):
    for p in (1.0, 0.5, 0.0, 0.6, 0.81, 0.9):
        simulated = simulated_agreement(p)
        got = call(m, "inter_labeler_agreement", p)
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise Fail(f"inter_labeler_agreement({p}) should return a number", got=repr(got)) from None
        if abs(got - simulated) > 0.005:
            raise Fail(f"inter_labeler_agreement({p}) against a simulation of 200,000 pairs",
                       expected=f"{simulated:.4f}", got=f"{got:.4f}",
                       hint="they agree when both are right OR both are wrong")
    from nanorlhf.labeler import DEFAULT_AGREEMENT, GOLD_AGREEMENT
    p = GOLD_AGREEMENT
    return (f"at p = {p} (the scripted labeler against the gold ranking, lesson 04) the formula gives "
            f"{float(call(m, 'inter_labeler_agreement', p)):.2f}. Two noisy scripted labelers agree "
            f"on {DEFAULT_AGREEMENT:.0%} of pairs, more than that: see part label_agreement")


@lru_cache(maxsize=None)
def tinychat_gaps(n_pairs=600, seed=1):
    """Gold-score differences s_a - s_b of SFT-style TinyChat pairs (ties left out)."""
    from nanorlhf import labeler
    gaps = [labeler.score(p, a) - labeler.score(p, b) for p, a, b in labeler.sft_style_pairs(n_pairs, seed)]
    return tuple(g for g in gaps if g != 0)


def simulated_label_agreement(gaps, noise, seed=0):
    """Noisy labelers by sampling, as labeler.rank does -> (with_gold, with_each_other)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    draws = max(400, 200_000 // len(gaps))  # labelings of each pair: 200,000 or more in all
    gap = np.array(gaps)[None, :]                                    # (1, P) s_a - s_b
    def noisy_pick_a():  # each response's score gets its own noise
        return gap + noise * (rng.standard_normal((draws, gap.shape[1]))
                              - rng.standard_normal((draws, gap.shape[1]))) > 0   # (draws, P)
    a, b = noisy_pick_a(), noisy_pick_a()
    return float((a == (gap > 0)).mean()), float((a == b).mean())


@check("04", "label_agreement")
def check_label_agreement(m):
    cases = [((1.0, -1.0, 0.3, -2.5, 4.0), 1.0, "a few made-up gaps"),
             (tinychat_gaps(), 1.1, "the gaps of 600 TinyChat pairs at the default noise 1.1"),
             (tinychat_gaps(), 2.0, "the same gaps at noise 2.0")]
    for gaps, noise, what in cases:
        got = call(m, "label_agreement", list(gaps), noise)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Fail(f"label_agreement on {what} should return two numbers", got=repr(got))
        expected = simulated_label_agreement(gaps, noise)
        for name, g, e in zip(("with_gold", "with_each_other"), got, expected):
            if abs(float(g) - e) > 0.01:
                raise Fail(f"{name} on {what}, against a simulation of noisy labelers",
                           expected=f"{e:.3f}", got=f"{float(g):.3f}",
                           hint="for one pair the labeler is right with probability "
                                "p = Phi(|gap| / (noise * sqrt(2))); the two labelers agree with "
                                "probability p^2 + (1 - p)^2 FOR THAT PAIR; then average over pairs")
    with_gold, each_other = (float(x) for x in call(m, "label_agreement", list(tinychat_gaps()), 1.1))
    naive = with_gold ** 2 + (1 - with_gold) ** 2
    return (f"on TinyChat pairs a noisy labeler agrees with the gold order {with_gold:.1%} of the time "
            f"and with another noisy labeler {each_other:.1%}. Part 3's formula with p = {with_gold:.2f} "
            f"would say {naive:.1%}: too low, because p differs from pair to pair and p^2 + (1 - p)^2 "
            "is convex (Jensen). Easy pairs are agreed on almost always, close pairs about half "
            "the time")


# -----------------------------------------------------------------------------
# Exercise 05: the reward model (lessons/05_reward_model.md)

@check("05", "pairwise_loss")
def check_pairwise_loss(m):
    import torch.nn.functional as F
    def reference(r_w, r_l):
        return -F.logsigmoid(r_w.double() - r_l.double()).mean()
    expect_close("pairwise_loss of equal scores: the model cannot tell the two apart",
                 call(m, "pairwise_loss", torch.zeros(3), torch.zeros(3)), torch.tensor(math.log(2)),
                 hint="sigmoid(0) = 1/2, and -log(1/2) = log 2 = 0.693: where the training starts")
    expect_close("pairwise_loss([2.], [0.]) = log(1 + exp(-2))",
                 call(m, "pairwise_loss", torch.tensor([2.0]), torch.tensor([0.0])),
                 torch.tensor(math.log1p(math.exp(-2))), hint="the loss is -log sigmoid(r_w - r_l)")
    g = torch.Generator().manual_seed(0)
    r_w, r_l = torch.randn(50, generator=g) * 3, torch.randn(50, generator=g) * 3
    expect_close("pairwise_loss on 50 random pairs", call(m, "pairwise_loss", r_w, r_l), reference(r_w, r_l),
                 hint="the MEAN over pairs of -log sigmoid(r_w - r_l), a scalar (0-dimensional) tensor")
    for w, l in ((-200.0, 200.0), (200.0, -200.0)):
        r_w, r_l = torch.tensor([w, 0.0]), torch.tensor([l, 0.0])
        got = call(m, "pairwise_loss", r_w, r_l)
        if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
            raise Fail(f"pairwise_loss({r_w.tolist()}, {r_l.tolist()}) in float32 is not finite", got=got,
                       hint="sigmoid(-400) underflows to 0 in float32 and exp(400) overflows; "
                            "F.logsigmoid or F.softplus(-d) compute log(1 + exp(-d)) safely")
        expect_close(f"pairwise_loss({r_w.tolist()}, {r_l.tolist()}) in float32", got, reference(r_w, r_l),
                     atol=1e-3, hint="a margin of -400 costs 400 / 2 = 200 averaged over the two pairs")


@check("05", "pairwise_loss_grad")
def check_pairwise_loss_grad(m):
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(1)
    cases = [(torch.tensor([1.0, -0.5, 3.0, 0.0]), torch.tensor([0.0, 0.5, -2.0, 0.0])),
             (torch.randn(40, generator=g) * 3, torch.randn(40, generator=g) * 3),
             (torch.tensor([-200.0, 200.0, 0.0]), torch.tensor([200.0, -200.0, 0.0]))]
    for r_w, r_l in cases:
        w64, l64 = r_w.double().requires_grad_(), r_l.double().requires_grad_()
        (-F.logsigmoid(w64 - l64).mean()).backward()      # float64 autograd: the reference
        with torch.no_grad():
            got = call(m, "pairwise_loss_grad", r_w.clone(), r_l.clone())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Fail("pairwise_loss_grad should return (grad_w, grad_l)", got=repr(got))
        what = f"the gradient on {len(r_w)} pairs" + (" with margins of +-400" if r_w.abs().max() > 100 else "")
        hint = ("with d = r_w - r_l, d/dd [-log sigmoid(d)] = -(1 - sigmoid(d)) = -sigmoid(-d); "
                "divide by N for the mean, and dL/dr_l = -dL/dr_w. torch.sigmoid is safe for any d")
        expect_close(what + ", grad_w", got[0], w64.grad, atol=1e-6, hint=hint)
        expect_close(what + ", grad_l", got[1], l64.grad, atol=1e-6, hint=hint)
    return ("a pair the model already orders by a wide margin has a gradient near 0; a pair it "
            "gets badly wrong pulls with the full 1/N. So the update is dominated by the pairs the "
            "model still gets wrong, including those whose noisy label contradicts the truth")


@check("05", "last_token_index")
def check_last_token_index(m):
    from nanorlhf.reward import last_token_index
    masks = [torch.tensor([[0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]]),  # the docstring's example
             torch.tensor([[1, 1, 1, 0, 0]]), torch.tensor([[0, 0, 1, 1, 1]]), torch.tensor([[1]]),
             torch.tensor([[0, 0, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 1]])]
    g = torch.Generator().manual_seed(0)
    for _ in range(30):  # random rows: left padding, at least one real token, right padding
        B, T = 6, int(torch.randint(1, 14, (1,), generator=g))
        left = torch.randint(0, T, (B, 1), generator=g)
        real = 1 + (torch.rand(B, 1, generator=g) * (T - left)).long()  # 1 .. T - left
        columns = torch.arange(T)[None, :]
        masks.append(((columns >= left) & (columns < left + real)).long())
    for mask in masks:
        got = call(m, "last_token_index", mask.clone())
        try:
            got = torch.as_tensor(got).tolist()
        except (TypeError, ValueError, RuntimeError):
            pass
        expect_equal(f"last_token_index({mask.tolist()})", got, last_token_index(mask).tolist(),
                     hint="mask.sum(1) - 1 is right only without LEFT padding, and argmax of the mask "
                          "finds the FIRST real token. Try weighting each column by its index")


@lru_cache(maxsize=None)
def bradley_terry_world(n_pairs, visible=16, d=16, n_test=20_000, steps=300, seed=0):
    """Fit a linear reward model with the pairwise loss on n_pairs noisy labels of a synthetic
    Bradley-Terry world -> (held-out accuracy against noisy labels, against the gold order).
    visible < d: the model sees only the first `visible` features (it cannot fit the truth)."""
    from nanorlhf.reward import pairwise_loss
    g = torch.Generator().manual_seed(seed)
    w_true = torch.randn(d, generator=g, dtype=torch.float64)
    w_true = w_true / w_true.norm()  # gold score s = w* . x; noise 1 per response: 75% ceiling

    def labeled_pairs(n):
        x_a, x_b = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(2))  # (n, d)
        s_a, s_b = x_a @ w_true, x_b @ w_true                                             # (n,)
        noisy_a = s_a + torch.randn(n, generator=g, dtype=torch.float64)
        noisy_b = s_b + torch.randn(n, generator=g, dtype=torch.float64)
        return x_a[:, :visible], x_b[:, :visible], noisy_a > noisy_b, s_a > s_b

    x_a, x_b, a_wins, _ = labeled_pairs(n_pairs)
    x_w = torch.where(a_wins[:, None], x_a, x_b)   # (n, visible) the labeler's winners
    x_l = torch.where(a_wins[:, None], x_b, x_a)
    w = torch.zeros(visible, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([w], lr=0.05)
    for _ in range(steps):
        loss = pairwise_loss(x_w @ w, x_l @ w)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x_a, x_b, a_wins, a_better = labeled_pairs(n_test)
    with torch.no_grad():
        rm_prefers_a = x_a @ w > x_b @ w
    return (rm_prefers_a == a_wins).double().mean().item(), (rm_prefers_a == a_better).double().mean().item()


def bradley_terry_story():
    curve = ", ".join(f"{n:,} pairs {bradley_terry_world(n)[0]:.1%} / {bradley_terry_world(n)[1]:.1%}"
                      for n in (100, 1000, 10_000))
    blind = bradley_terry_world(10_000, visible=8)
    return (f"held-out accuracy against the noisy labels / the gold order: {curve}. Against noisy "
            "labels no model can beat the 75% ceiling, since a quarter of the labels contradict "
            "the truth; against the gold order a model of the right shape approaches 100%. A model "
            f"that sees only 8 of the 16 features stops at {blind[0]:.1%} / {blind[1]:.1%} however "
            "many pairs it gets: more data cannot teach what the model cannot represent. Our "
            "reward model on arithmetic and sorting is in that position (lesson 05)")


def check_bradley_terry_prediction(m, name, which, tolerance):
    guess = prediction(m, name)
    measured = bradley_terry_world(10_000)[which]
    why = bradley_terry_story()
    if abs(guess - measured) > tolerance:
        raise Fail(f"the prediction is more than {tolerance} away from the measurement",
                   expected=f"{measured:.3f}", got=f"{guess:.3f}", hint=why)
    return why


@check("05", "PREDICTED_NOISY_ACCURACY")
def check_noisy_accuracy(m):
    return check_bradley_terry_prediction(m, "PREDICTED_NOISY_ACCURACY", 0, 0.03)


@check("05", "PREDICTED_GOLD_ACCURACY")
def check_gold_accuracy(m):
    return check_bradley_terry_prediction(m, "PREDICTED_GOLD_ACCURACY", 1, 0.04)


# -----------------------------------------------------------------------------
# Exercise 06: PPO (lessons/06_ppo.md)

def ppo_batch(seed, B=6, R=10):
    """Random rewards and values with garbage after each response's end, and a prefix mask
    with rows of every length from 1 to R -> rewards, values, mask, all (B, R) float64."""
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(B, R, generator=g, dtype=torch.float64)
    values = torch.randn(B, R, generator=g, dtype=torch.float64)
    lengths = torch.randint(1, R + 1, (B,), generator=g)
    lengths[0], lengths[1] = 1, R
    mask = (torch.arange(R)[None, :] < lengths[:, None]).double()   # (B, R)
    return rewards, values, mask


GAE_WORKED = (torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([[0.5, 0.25, 9.0]]), torch.tensor([[1.0, 1.0, 0.0]]))
GAE_HINT_MASK = ("the value after the last valid token is 0: use values * mask, never the value model's "
                 "reading of PAD; and reset A_{t+1} to 0 past the end (multiply by mask[:, t])")


def as_pair_of_tensors(got, what):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Fail(f"{what} should return (advantages, returns)", got=repr(got)[:80])
    return got


@check("06", "compute_gae")
def check_compute_gae(m):
    from train_ppo import compute_gae
    rewards, values, mask = GAE_WORKED
    adv, ret = as_pair_of_tensors(call(m, "compute_gae", rewards, values, mask, 1.0, 1.0), "compute_gae")
    hint = ("V(s_2) = 9.0 lies after the end: it counts as 0. delta_1 = 1 + 0 - 0.25 = 0.75 = A_1; "
            "delta_0 = 0 + 0.25 - 0.5 = -0.25, A_0 = -0.25 + 1 * 1 * 0.75 = 0.5")
    expect_close("the docstring's example (gamma = lam = 1), advantages", adv, torch.tensor([[0.5, 0.75, 0.0]]),
                 hint=hint)
    expect_close("the docstring's example, returns", ret, torch.tensor([[1.0, 1.0, 0.0]]),
                 hint="returns = advantages + values, on the valid tokens only")
    adv, _ = as_pair_of_tensors(call(m, "compute_gae", rewards, values, mask, 1.0, 0.5), "compute_gae")
    expect_close("the same example at lam = 0.5", adv, torch.tensor([[0.125, 0.75, 0.0]]),
                 hint="A_0 = delta_0 + gamma * lam * A_1 = -0.25 + 0.5 * 0.75")
    for seed, (gamma, lam) in enumerate([(1.0, 0.95), (0.9, 0.8), (1.0, 1.0), (0.99, 0.0), (1.0, 0.0)]):
        rewards, values, mask = ppo_batch(seed)
        expected = compute_gae(rewards, values, mask, gamma, lam)
        got = as_pair_of_tensors(call(m, "compute_gae", rewards.clone(), values.clone(), mask, gamma, lam),
                                 "compute_gae")
        what = f"6 random responses of 1 to 10 tokens, gamma = {gamma}, lam = {lam}"
        expect_close(what + ", advantages", got[0], expected[0], hint=GAE_HINT_MASK)
        expect_close(what + ", returns", got[1], expected[1], hint=GAE_HINT_MASK)
    return ("lam = 0 gives the one-step TD error delta_t (low variance, but only as good as V); "
            "lam = 1 gives the Monte Carlo return minus V (no bias from V, more variance): part 2")


@check("06", "monte_carlo_advantages")
def check_monte_carlo_advantages(m):
    from train_ppo import compute_gae
    rewards, values, mask = GAE_WORKED
    got = call(m, "monte_carlo_advantages", rewards, values, mask)
    if isinstance(got, (tuple, list)):
        raise Fail("monte_carlo_advantages should return one tensor, the advantages", got=type(got).__name__)
    expect_close("the docstring's example", got, torch.tensor([[0.5, 0.75, 0.0]]),
                 hint="A_0 = (0 + 1) - 0.5 and A_1 = 1 - 0.25; the PAD column gives 0")
    for seed in range(5):
        rewards, values, mask = ppo_batch(100 + seed)
        expected, _ = compute_gae(rewards, values, mask, 1.0, 1.0)
        expect_close("6 random responses, against compute_gae(..., gamma=1, lam=1)",
                     call(m, "monte_carlo_advantages", rewards.clone(), values.clone(), mask), expected,
                     hint="sum the rewards of the valid tokens only (rewards * mask), from t to the end: "
                          "(r * mask).flip(1).cumsum(1).flip(1); subtract V(s_t); multiply by mask. Padding "
                          "in the returns is one of the known bugs")
    return ("with gamma = lam = 1 the deltas telescope: every V(s_{t+1}) cancels the -V(s_{t+1}) of the "
            "next delta, and only G_t - V(s_t) is left. So GAE at lam = 1 IS Monte Carlo, and lam < 1 "
            "trades some of its variance for bias from the value model")


def kl_example(beta):
    """Exercise 06's response: four tokens and one PAD column -> (per-token rewards, kl)."""
    from train_ppo import kl_penalised_rewards
    logprobs = torch.tensor([[-0.1, -0.2, -1.5, -0.1, -0.2]])
    ref_logprobs = torch.tensor([[-2.4, -1.0, -0.5, -0.3, -3.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])
    return kl_penalised_rewards(torch.tensor([1.5]), logprobs, ref_logprobs, mask, beta)


def kl_story():
    rewards, kl = kl_example(0.2)
    slope = kl_example(0.0)[0].sum().item() - kl_example(1.0)[0].sum().item()
    per_token = ", ".join(f"{x:+.2f}" for x in kl[0, :4].tolist())
    return (f"KL_t = log pi - log pi_ref = {per_token} on the four tokens (the PAD column counts 0). "
            f"They sum to {slope:.2f} nats, so the total reward is 1.5 - beta * {slope:.2f}: it FALLS as "
            f"beta grows, by {slope:.2f} per unit of beta. At beta = 0.2: per-token rewards "
            f"{', '.join(f'{x:+.2f}' for x in rewards[0, :4].tolist())}, total {rewards.sum().item():.3f}. "
            "Column 2 is negative: a single sample of the k1 estimator can be, and that token EARNS reward; "
            "only the expectation over a ~ pi is a KL, >= 0. At beta = 0 the penalty is gone and "
            "nothing holds the policy near SFT")


@check("06", "PREDICTED_TOTAL_REWARD_AT_BETA_0_2")
def check_total_reward_prediction(m):
    guess = prediction(m, "PREDICTED_TOTAL_REWARD_AT_BETA_0_2")
    measured = kl_example(0.2)[0].sum().item()
    if abs(guess - measured) > 0.02:
        raise Fail("not the total of kl_penalised_rewards at beta = 0.2", expected=f"{measured:.3f}",
                   got=f"{guess:.3f}", hint=kl_story())
    return kl_story()


@check("06", "PREDICTED_BETA_AT_ZERO_REWARD")
def check_zero_reward_beta(m):
    guess = prediction(m, "PREDICTED_BETA_AT_ZERO_REWARD")
    at_0, at_1 = kl_example(0.0)[0].sum().item(), kl_example(1.0)[0].sum().item()
    measured = at_0 / (at_0 - at_1)   # the total is linear in beta: at_0 - beta * (at_0 - at_1)
    why = (f"the total reward is 1.5 - beta * KL with KL = {at_0 - at_1:.2f} nats summed over the valid "
           f"tokens, so it reaches 0 at beta = 1.5 / {at_0 - at_1:.2f} = {measured:.3f}. With the default "
           "beta = 0.05 a response must move 30 nats away from SFT before the penalty cancels a score of 1.5")
    if abs(guess - measured) > 0.02:
        raise Fail("not the beta at which the total reward is 0", expected=f"{measured:.3f}",
                   got=f"{guess:.3f}", hint=why)
    return why


def policy_loss_and_grad(fn, logprobs, old_logprobs, advantages, mask, cliprange):
    """fn's loss and its gradient with respect to logprobs."""
    logprobs = logprobs.clone().requires_grad_()
    loss = fn(logprobs, old_logprobs, advantages, mask, cliprange)
    if isinstance(loss, (tuple, list)):
        raise Fail("clipped_policy_loss should return the loss only, a scalar tensor", got=type(loss).__name__)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise Fail("clipped_policy_loss should return a scalar (0-dimensional) tensor",
                   got=tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__)
    if not loss.requires_grad:
        raise Fail("no gradient flows from the loss back to logprobs",
                   hint="keep it all in torch: no .item(), .detach() or torch.no_grad()")
    loss.backward()
    grad = logprobs.grad if logprobs.grad is not None else torch.zeros_like(logprobs)
    return loss.detach(), grad


@check("06", "clipped_policy_loss")
def check_clipped_policy_loss(m):
    from train_ppo import policy_loss
    student = lambda *args: call(m, "clipped_policy_loss", *args)
    reference = lambda *args: policy_loss(*args)[0]
    # the hand-worked example of tests/test_ppo.py: ratios 1.5, 0.5, 1.0 and a masked token
    new = torch.log(torch.tensor([[1.5, 0.5, 1.0, 7.0]]))
    loss, _ = policy_loss_and_grad(student, new, torch.zeros(1, 4), torch.tensor([[1.0, -1.0, 2.0, 5.0]]),
                                   torch.tensor([[1.0, 1.0, 1.0, 0.0]]), 0.2)
    expect_close("ratios 1.5, 0.5, 1.0 with advantages +1, -1, +2 and a masked 4th token, eps = 0.2",
                 loss, torch.tensor((-1.2 + 0.8 - 2.0) / 3),
                 hint="per token -min(1.5, 1.2) = -1.2, -min(-0.5, -0.8) = 0.8, -2.0; the mean over the "
                      "3 valid tokens")
    # one token at a time: (ratio, advantage, loss, gradient of the loss with respect to logprobs)
    cases = [(1.5, 1.0, -1.2, 0.0, "ratio above 1 + eps with A > 0: already more likely, the clip stops the push"),
             (0.5, -1.0, 0.8, 0.0, "ratio below 1 - eps with A < 0: already less likely, the clip stops the push"),
             (1.5, -1.0, 1.5, 1.5, "ratio above 1 + eps with A < 0: a bad token made MORE likely. The min keeps "
                                   "the unclipped term, so this is undone with full force"),
             (0.5, 1.0, -0.5, -0.5, "ratio below 1 - eps with A > 0: a good token made less likely, also undone"),
             (1.1, 1.0, -1.1, -1.1, "ratio inside [1 - eps, 1 + eps]: the plain surrogate -ratio * A")]
    for ratio, a, expected_loss, expected_grad, hint in cases:
        loss, grad = policy_loss_and_grad(student, torch.log(torch.tensor([[ratio]])), torch.zeros(1, 1),
                                          torch.tensor([[a]]), torch.ones(1, 1), 0.2)
        what = f"one token, ratio {ratio}, A = {a:+}, eps = 0.2"
        expect_close(what + ": the loss", loss, torch.tensor(expected_loss), hint=hint)
        expect_close(what + ": d loss / d logprob", grad, torch.tensor([[expected_grad]]), hint=hint)
    for seed, eps in enumerate([0.2, 0.1, 0.3]):
        g = torch.Generator().manual_seed(seed)
        old = -torch.rand(5, 9, generator=g, dtype=torch.float64) * 3
        new = old + 0.4 * torch.randn(5, 9, generator=g, dtype=torch.float64)
        advantages = torch.randn(5, 9, generator=g, dtype=torch.float64)
        _, _, mask = ppo_batch(seed, B=5, R=9)
        loss, grad = policy_loss_and_grad(student, new, old, advantages, mask, eps)
        expected_loss, expected_grad = policy_loss_and_grad(reference, new, old, advantages, mask, eps)
        what = f"5 random responses, eps = {eps}"
        expect_close(what + ": the loss", loss, expected_loss, hint="the mean over the valid tokens only")
        expect_close(what + ": the gradient", grad, expected_grad,
                     hint="min of the two objectives (max of the two losses), token by token; masked tokens "
                          "get no gradient")
    return ("the clip is one-sided: it removes the incentive to move a token's ratio further than eps in "
            "the direction its advantage wants, never the correction when a step went the wrong way. "
            "clipfrac in the log is the share of tokens where the clipped term is the one in use")


if __name__ == "__main__":
    sys.exit(main())
