"""
The three scripts end to end with the smoke preset, the message when a stage is run too
early, and PPO raising a trivially learnable reward.
"""
import os
import subprocess
import sys

import pytest
import torch

from nanorlhf.checkpoint import load_checkpoint, save_checkpoint
from nanorlhf.reward import RewardModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(script, *flags):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    return subprocess.run([sys.executable, script, *flags], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("smoke"))
    for script in ("train_sft.py", "train_rm.py", "train_ppo.py"):
        result = run(script, "--preset", "smoke", "--out-dir", out)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return out


def test_pipeline_smoke(smoke_dir):
    sft, tok, meta = load_checkpoint(f"{smoke_dir}/sft.pt")
    assert meta["stage"] == "sft" and 0.0 <= meta["summary"]["eos_rate"] <= 1.0
    rm, rm_tok, _ = load_checkpoint(f"{smoke_dir}/rm.pt")
    assert isinstance(rm, RewardModel) and rm_tok.to_dict() == tok.to_dict()
    ppo, _, ppo_meta = load_checkpoint(f"{smoke_dir}/ppo.pt")
    assert ppo_meta["stage"] == "ppo" and ppo.config == sft.config
    for png in ("sft_loss.png", "rm.png", "ppo.png"):
        assert os.path.getsize(f"{smoke_dir}/{png}") > 1000


def test_stage_run_too_early_names_the_script_to_run_first(tmp_path):
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path))
    assert result.returncode != 0 and "python train_sft.py" in result.stderr
    result = run("train_ppo.py", "--preset", "smoke", "--out-dir", str(tmp_path))
    assert result.returncode != 0 and "python train_sft.py" in result.stderr


def test_ppo_raises_a_learnable_reward(smoke_dir, tmp_path):
    """A reward model with a random head on a random body is an arbitrary but fixed function of
    the response: PPO without a KL penalty must push its score up within a few iterations."""
    sft, tok, _ = load_checkpoint(f"{smoke_dir}/sft.pt")
    save_checkpoint(f"{tmp_path}/sft.pt", sft, tok)
    torch.manual_seed(0)
    save_checkpoint(f"{tmp_path}/rm.pt", RewardModel(sft.config), tok)
    result = run("train_ppo.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--beta", "0",
                 "--ptx-coef", "0", "--iters", "16", "--batch-size", "32", "--minibatch-size", "8", "--lr", "1e-3",
                 "--eval-interval", "100")
    assert result.returncode == 0, result.stderr[-3000:]
    _, _, meta = load_checkpoint(f"{tmp_path}/ppo.pt")
    scores = [row["score"] for row in meta["log"]]
    assert sum(scores[-4:]) / 4 > sum(scores[:4]) / 4 + 0.3, scores


def test_ppo_resumes_from_its_checkpoint(smoke_dir, tmp_path):
    import shutil
    for name in ("sft.pt", "rm.pt", "ppo.pt"):
        shutil.copy(f"{smoke_dir}/{name}", f"{tmp_path}/{name}")
    _, _, before = load_checkpoint(f"{tmp_path}/ppo.pt")
    result = run("train_ppo.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--resume", "true",
                 "--iters", "4", "--eval-interval", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from {tmp_path}/ppo.pt at iteration {before['iter']}" in result.stdout
    _, _, after = load_checkpoint(f"{tmp_path}/ppo.pt")
    assert after["iter"] == 4 and len(after["log"]) == 4
    assert after["log"][:before["iter"]] == before["log"]     # the earlier iterations are kept as they were
