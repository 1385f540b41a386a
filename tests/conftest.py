"""
Shared by the tests that run the scripts: `run` and the smoke-preset pipeline, trained once
per test session. Each script's printed output is kept next to its checkpoint as
<script>.log, so tests can check what a student would see.
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args):
    """python *args from the repository root: run("train_sft.py", "--preset", "smoke")."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="session")
def smoke_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("smoke"))
    for script in ("train_sft.py", "train_rm.py", "train_ppo.py"):
        result = run(script, "--preset", "smoke", "--out-dir", out)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        with open(f"{out}/{script}.log", "w") as f:
            f.write(result.stdout)
    return out
