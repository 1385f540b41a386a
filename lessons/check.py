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
    optimizer = make_optimizer(model, lr=1e-2, weight_decay=0.0)
    batches = random_batches(examples, 32, tok.pad_id, torch.Generator().manual_seed(0))
    for _ in range(steps):
        x, targets = next(batches)
        _, loss = model(x, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    prompts = [d["prompt"] for d in demos[:64]]
    _, ended = sample_responses(model, tok, prompts, max_new_tokens=48, temperature=1.0, seed=0)
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


if __name__ == "__main__":
    sys.exit(main())
