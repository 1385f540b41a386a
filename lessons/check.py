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
TinyChat inputs, and compares it with the reference code in nanorlhf/ (or, for code that
lives in a training script, with a plain loop in the checks file). Each part prints PASS,
FAIL (what was expected, what came out, and a hint) or TODO (not written yet). The exit
status is 0 only if every part passes.

This file is the runner; the checks of exercise NN are in lessons/checks/lesson_NN.py.
Adding an exercise for a new lesson: write the stub lessons/exercises/exNN_name.py, then
lessons/checks/lesson_NN.py with one function per part, registered with
@check("NN", "part name"). A part raises Fail when the answer is wrong; a stub that still
raises NotImplementedError, or leaves a prediction at None, shows as TODO.
tests/test_lessons.py needs a correct solution for every part, to prove that the check
passes it and fails the untouched stub.
"""
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so that `python lessons/check.py` can import nanorlhf and lessons
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

EXERCISES_DIR = ROOT / "lessons" / "exercises"
CHECKS_DIR = ROOT / "lessons" / "checks"


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


def load_checks():
    """Import every lessons/checks/lesson_NN.py, whose @check lines fill CHECKS -> CHECKS."""
    for path in sorted(CHECKS_DIR.glob("lesson_*.py")):
        importlib.import_module(f"lessons.checks.{path.stem}")
    return CHECKS


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
    load_checks()
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
    load_checks()
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
# Comparing an answer with the expected one

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


if __name__ == "__main__":
    # `python lessons/check.py` runs this file as the module __main__, but the checks register
    # with (and raise the Fail of) the module lessons.check: run that one's main
    from lessons import check as runner
    sys.exit(runner.main())
