"""
Best-of-n selection on a hand-worked example, its KL against an exact sum over a discrete
distribution, and the command end to end on the smoke checkpoints.
"""
import math
import os
import subprocess
import sys

import numpy as np

from nanorlhf.best_of_n import best_of_n, best_of_n_kl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def test_command_on_smoke_checkpoints(tmp_path):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    result = subprocess.run([sys.executable, "-m", "nanorlhf.best_of_n", "--out-dir", str(tmp_path)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "python train_sft.py" in result.stderr
    subprocess.run([sys.executable, "train_sft.py", "--preset", "smoke", "--out-dir", str(tmp_path)], cwd=ROOT,
                   env=env, capture_output=True, text=True, timeout=300, check=True)
    result = subprocess.run([sys.executable, "-m", "nanorlhf.best_of_n", "--out-dir", str(tmp_path)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "python train_rm.py" in result.stderr
    subprocess.run([sys.executable, "train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path)], cwd=ROOT,
                   env=env, capture_output=True, text=True, timeout=300, check=True)
    result = subprocess.run([sys.executable, "-m", "nanorlhf.best_of_n", "--out-dir", str(tmp_path), "--n", "4",
                             "--prompts", "6", "--max-new-tokens", "12"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.strip()[:1].isdigit() and "|" in line]
    assert [int(r.split("|")[0]) for r in rows] == [1, 2, 4]
    # the gold labeler's own pick never does worse than the reward model's
    for r in rows:
        rm_gold, gold_gold = float(r.split("|")[2].split()[0]), float(r.split("|")[3].split()[0])
        assert gold_gold >= rm_gold
