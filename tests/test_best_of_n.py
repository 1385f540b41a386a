"""
Best-of-n selection on a hand-worked example, its KL against an exact sum over a discrete
distribution, and the command end to end on the smoke checkpoints.
"""
import math
import shutil

from conftest import run
from nanorlhf.best_of_n import best_of_n, best_of_n_kl


def test_best_of_n_hand_worked():
    picker = [[0.1, 0.9, 0.5], [0.5, 0.2, 0.7]]
    gold = [[1.0, -1.0, 3.0], [2.0, 3.0, -2.0]]
    # n=1 ignores the picker; n=2 picks column 1 then column 0; n=3 picks column 1 then column 2
    assert best_of_n(picker, gold, 1).tolist() == [1.0, 2.0]
    assert best_of_n(picker, gold, 2).tolist() == [-1.0, 2.0]
    assert best_of_n(picker, gold, 3).tolist() == [-1.0, -2.0]
    # picking by the gold score itself is the best the n answers allow
    assert best_of_n(gold, gold, 3).tolist() == [3.0, 3.0]


def exact_best_of_n_kl(m, n):
    """KL(best-of-n || uniform over m outcomes with distinct rewards), summed outcome by outcome:
    the best of n draws is the outcome of rank i with probability (i/m)^n - ((i-1)/m)^n."""
    kl = 0.0
    for i in range(1, m + 1):
        p = (i / m) ** n - ((i - 1) / m) ** n
        kl += p * math.log(p * m)
    return kl


def test_best_of_n_kl_matches_the_exact_sum():
    assert best_of_n_kl(1) == 0.0
    for n in (2, 4, 8, 32):
        assert abs(exact_best_of_n_kl(20000, n) - best_of_n_kl(n)) < 2e-3, n
    # with few outcomes the formula is an upper bound
    assert exact_best_of_n_kl(3, 4) < best_of_n_kl(4)


def test_command_on_smoke_checkpoints(smoke_dir, tmp_path):
    # run too early, it names the script to run first
    result = run("-m", "nanorlhf.best_of_n", "--out-dir", str(tmp_path))
    assert result.returncode != 0 and "python train_sft.py" in result.stderr
    shutil.copy(f"{smoke_dir}/sft.pt", f"{tmp_path}/sft.pt")
    result = run("-m", "nanorlhf.best_of_n", "--out-dir", str(tmp_path))
    assert result.returncode != 0 and "python train_rm.py" in result.stderr

    result = run("-m", "nanorlhf.best_of_n", "--out-dir", smoke_dir, "--n", "4", "--eval-prompts", "6",
                 "--max-new-tokens", "12")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split("|") for line in result.stdout.splitlines() if line.strip()[:1].isdigit() and "|" in line]
    assert [int(r[0]) for r in rows] == [1, 2, 4]
    for r in rows:   # the gold labeler's own pick never does worse than the reward model's
        assert float(r[3].split()[0]) >= float(r[2].split()[0])
