"""
The three scripts end to end with the smoke preset, the message when a stage is run too
early, and PPO raising a trivially learnable reward.
"""
import os
import re

import pytest
import torch

from nanorlhf.checkpoint import load_checkpoint, save_checkpoint
from nanorlhf.reward import RewardModel

from conftest import ROOT, run


def test_pipeline_smoke(smoke_dir):
    sft, tok, meta = load_checkpoint(f"{smoke_dir}/sft.pt")
    assert meta["stage"] == "sft" and 0.0 <= meta["summary"]["eos_rate"] <= 1.0
    rm, rm_tok, _ = load_checkpoint(f"{smoke_dir}/rm.pt")
    assert isinstance(rm, RewardModel) and rm_tok.to_dict() == tok.to_dict()
    ppo, _, ppo_meta = load_checkpoint(f"{smoke_dir}/ppo.pt")
    assert ppo_meta["stage"] == "ppo" and ppo.config == sft.config
    for png in ("sft_loss.png", "rm.png", "ppo.png"):
        assert os.path.getsize(f"{smoke_dir}/{png}") > 1000
    # train_rm.py reports where the reward model is right: clear pairs by family, all pairs by gap
    rm_log = open(f"{smoke_dir}/train_rm.py.log").read()
    assert "clear pairs (gold gap > 1.5) in the right order: all" in rm_log and "harmful" in rm_log
    assert "all pairs in the right order, by gold gap: 0-0.5" in rm_log


def test_stage_run_too_early_names_the_script_to_run_first(tmp_path):
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path))
    assert result.returncode != 0 and "python train_sft.py" in result.stderr
    result = run("train_ppo.py", "--preset", "smoke", "--out-dir", str(tmp_path))
    assert result.returncode != 0 and "python train_sft.py" in result.stderr


def test_ppo_refuses_a_reward_model_made_from_an_older_sft_model(smoke_dir, tmp_path):
    """A new train_sft.py run with another vocabulary leaves the old rm.pt speaking another
    tokenizer: PPO must say to retrain the reward model, not fail inside an embedding."""
    from nanorlhf.data import corpus_text
    from nanorlhf.tokenizer import Tokenizer
    sft, tok, _ = load_checkpoint(f"{smoke_dir}/sft.pt")
    save_checkpoint(f"{tmp_path}/sft.pt", sft, tok)
    older = Tokenizer.train(corpus_text()[:20000], tok.vocab_size)   # as many tokens, other merges
    save_checkpoint(f"{tmp_path}/rm.pt", RewardModel(sft.config), older)
    result = run("train_ppo.py", "--preset", "smoke", "--out-dir", str(tmp_path))
    assert result.returncode != 0 and "Run `python train_rm.py` again" in result.stderr
    assert "Traceback" not in result.stderr


def test_reward_model_trains_on_pairs_brought_from_elsewhere(smoke_dir, tmp_path):
    """Chosen/rejected pairs whose prompts are not TinyChat's have no gold score: train_rm.py
    must still train and measure against the file's own labels, and say why it skips the rest."""
    import json
    import shutil
    shutil.copy(f"{smoke_dir}/sft.pt", f"{tmp_path}/sft.pt")
    with open(f"{tmp_path}/pairs.jsonl", "w") as f:
        for i in range(40):
            f.write(json.dumps({"prompt": f"Write a short poem about the number {i}.",
                                "chosen": f"The number {i} is small and round.", "rejected": "no"}) + "\n")
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path),
                 "--comparisons", f"{tmp_path}/pairs.jsonl")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not TinyChat prompts" in result.stdout and "against the file's labels" in result.stdout
    _, _, meta = load_checkpoint(f"{tmp_path}/rm.pt")
    assert "ceiling" not in meta["summary"] and 0.0 <= meta["summary"]["val_acc"][0] <= 1.0
    # a file with nothing to train on gets a message, not a traceback
    open(f"{tmp_path}/empty.jsonl", "w").close()
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path),
                 "--comparisons", f"{tmp_path}/empty.jsonl")
    assert result.returncode != 0 and "empty.jsonl holds 0 rankings" in result.stderr
    assert "Traceback" not in result.stderr


def test_reward_model_mixes_a_class_file_with_the_scripted_labelers_rankings(smoke_dir, tmp_path):
    """--mix-scripted: the rankings of a file written by the class labeling page (a name per
    line) and the scripted labeler's, held out from together; the file's held-out share is
    also measured on its own."""
    import json
    import shutil
    from nanorlhf.data import load_jsonl
    shutil.copy(f"{smoke_dir}/sft.pt", f"{tmp_path}/sft.pt")
    prompts = [r["prompt"] for r in load_jsonl("data/pref_prompts.jsonl")[:40]]
    with open(f"{tmp_path}/class.jsonl", "w") as f:
        for index, prompt in enumerate(prompts):
            f.write(json.dumps({"index": index, "prompt": prompt, "responses": ["I do not know.", "Sure!", "Maybe."],
                                "ranking": [0, 2, 1], "labeler": "Ada", "time": "2026-12-01 10:00:00"}) + "\n")
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path),
                 "--comparisons", f"{tmp_path}/class.jsonl", "--mix-scripted")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "read 40 records" in result.stdout and "mixed with 48 rankings by the scripted labeler" in result.stdout
    assert "80 training records, 8 held out" in result.stdout
    assert "rankings from " + f"{tmp_path}/class.jsonl" in result.stdout
    _, _, meta = load_checkpoint(f"{tmp_path}/rm.pt")
    assert 0.0 <= meta["summary"]["val_acc_file"][0] <= 1.0 and meta["args"]["mix_scripted"]
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--mix-scripted")
    assert result.returncode != 0 and "--mix-scripted mixes a --comparisons file" in result.stderr
    assert "Traceback" not in result.stderr


def test_ppo_raises_a_learnable_reward(smoke_dir, tmp_path):
    """A reward model with a random head on a random body is an arbitrary but fixed function of
    the response: PPO without a KL penalty must push its score up within a few iterations."""
    sft, tok, _ = load_checkpoint(f"{smoke_dir}/sft.pt")
    save_checkpoint(f"{tmp_path}/sft.pt", sft, tok)
    torch.manual_seed(0)
    save_checkpoint(f"{tmp_path}/rm.pt", RewardModel(sft.config), tok)
    result = run("train_ppo.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--beta", "0",
                 "--bc-coef", "0", "--max-iters", "16", "--batch-size", "32", "--minibatch-size", "8", "--lr", "1e-3",
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
    result = run("train_ppo.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--resume",
                 "--max-iters", "4", "--eval-interval", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from {tmp_path}/ppo.pt at iteration {before['iter']}" in result.stdout
    _, _, after = load_checkpoint(f"{tmp_path}/ppo.pt")
    assert after["iter"] == 4 and len(after["log"]) == 4
    assert after["log"][:before["iter"]] == before["log"]     # the earlier iterations are kept as they were


def test_a_count_flag_below_one_is_refused_with_one_line(tmp_path):
    for script, flag in (("train_sft.py", "--eval-samples"), ("train_rm.py", "--val-rankings"),
                         ("train_ppo.py", "--eval-samples")):
        result = run(script, "--preset", "smoke", "--out-dir", str(tmp_path), flag, "0")
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert result.stderr.strip() == f"error: {flag} must be at least 1, got 0"


def test_a_flag_outside_its_choices_is_refused_with_one_line_before_any_work(tmp_path):
    for script, flag, value, choices in (("train_sft.py", "--dtype", "fp16", "auto, fp32, bf16"),
                                         ("train_rm.py", "--dtype", "fp16", "auto, fp32, bf16"),
                                         ("train_ppo.py", "--dtype", "fp16", "auto, fp32, bf16"),
                                         ("train_ppo.py", "--critic", "head", "model, shared")):
        result = run(script, "--preset", "smoke", "--out-dir", str(tmp_path), flag, value)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert result.stderr.strip() == f"error: {flag} must be one of {choices}, got '{value}'"


def test_bench_trl_without_trl_names_the_throwaway_install_and_no_traceback():
    """TRL is not a dependency: in the project's own environment the side-by-side says how to get it."""
    result = run("-m", "nanorlhf.bench_trl")
    assert result.returncode == 1
    assert "pip install trl==1.12.0" in result.stderr and "Traceback" not in result.stderr


def test_bench_ppo_iteration_runs_every_variant_on_a_tiny_model():
    from nanorlhf.bench import ppo_iteration_seconds, training_tokens_per_second
    from nanorlhf.model import GPT, GPTConfig
    config = GPTConfig(block_size=64, vocab_size=64, n_layer=1, n_head=2, n_embd=16)
    for critic, dtype, fused, reuse in [("model", "fp32", False, False), ("model", "bf16", True, True),
                                        ("shared", "fp32", True, True), ("shared", "bf16", True, True)]:
        times, flops = ppo_iteration_seconds(config, 8, 4, repeats=1, critic=critic, dtype=dtype, fused=fused,
                                             reuse=reuse, ppo_epochs=1, minibatch_size=4)
        assert set(times) == {"rollout", "scoring", "update"} and flops > 0
    assert training_tokens_per_second(GPT(config), 2, 16, repeats=1, dtype="bf16") > 0
    import nanorlhf.bench as bench
    from nanorlhf.muon import Muon
    made = []
    real = bench.make_muon_optimizers
    bench.make_muon_optimizers = lambda *a, **k: made.append(real(*a, **k)) or made[-1]
    try:
        assert training_tokens_per_second(GPT(config), 2, 16, repeats=1, dtype="bf16", muon=True) > 0
    finally:
        bench.make_muon_optimizers = real
    assert isinstance(made[0][0], Muon) and made[0][0].ns_dtype == torch.bfloat16   # Muon, in bf16


def test_bench_times_two_processes_beside_one_on_a_tiny_model(capsys):
    from nanorlhf.bench import distributed
    distributed(repeats=1, seed=0, model_and_batch=(dict(block_size=32, vocab_size=64, n_layer=1, n_head=2,
                                                          n_embd=16), (4, 16)))
    out = capsys.readouterr().out
    assert "one process, 1 thread: " in out
    assert "2 processes x 1 thread (gloo, DDP, half the batch each): " in out and "one all-reduce of the " in out


def test_ppo_runs_with_a_value_head_on_the_policy_trunk_and_a_bf16_update(smoke_dir, tmp_path):
    import shutil
    for name in ("sft.pt", "rm.pt"):
        shutil.copy(f"{smoke_dir}/{name}", f"{tmp_path}/{name}")
    result = run("train_ppo.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--critic", "shared",
                 "--dtype", "bf16", "--max-iters", "2", "--eval-interval", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    _, _, meta = load_checkpoint(f"{tmp_path}/ppo.pt")
    assert set(meta["critic"]) == {"weight", "bias"}           # a head on the trunk, not a second network
    again = run("train_ppo.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--resume", "--max-iters", "3")
    assert again.returncode != 0 and "--critic shared" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize("optimizer, options", [
    ("muon", dict(rotary=True, norm="rmsnorm", mlp="relu2", qk_norm=True, tie_head=False)),  # nanochat's choices
    ("adamw", dict(rotary=False, norm="layernorm", mlp="gelu", qk_norm=False, tie_head=True)),  # GPT-2's layout
])
def test_the_pipeline_runs_with_every_model_option(tmp_path, optimizer, options):
    """train_sft.py with the model choices off the default; the reward model and PPO inherit them
    from sft.pt's config."""
    flags = [f"--{k.replace('_', '-')}" if v is True else f"--no-{k.replace('_', '-')}" for k, v in options.items()
             if isinstance(v, bool)]
    flags += [x for k, v in options.items() if not isinstance(v, bool) for x in (f"--{k}", v)]
    for script, extra in (("train_sft.py", ["--optimizer", optimizer, *flags]), ("train_rm.py", []),
                          ("train_ppo.py", ["--max-iters", "2", "--eval-interval", "2"])):
        result = run(script, "--preset", "smoke", "--out-dir", str(tmp_path), *extra)
        assert result.returncode == 0, result.stderr[-3000:]
    for stage in ("sft", "rm", "ppo"):
        model, _, _ = load_checkpoint(f"{tmp_path}/{stage}.pt")
        assert all(getattr(model.config, k) == v for k, v in options.items())
        assert any(k.endswith("transformer.wpe.weight") for k in model.state_dict()) == (not options["rotary"])


def test_a_model_shape_that_does_not_split_into_heads_is_refused_with_one_line(tmp_path):
    for extra in (["--n-embd", "66", "--n-head", "4"], ["--n-embd", "66", "--n-head", "2", "--rotary"]):
        result = run("train_sft.py", "--preset", "smoke", "--out-dir", str(tmp_path), *extra)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert result.stderr.strip().startswith("error: --n-embd 66 must split into --n-head")


def test_lr_floor_sets_where_the_cosine_ends(tmp_path):
    """--lr-floor 0 decays to zero: at the last of 20 steps (warm-up 5) the rate is about 1% of
    the peak, where the default floor of 0.1 would leave about 11%."""
    result = run("train_sft.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--lr-floor", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    last_lr = float(re.findall(r"^step\s+20 \|.*?\| lr ([\d.e-]+)", result.stdout, re.M)[-1])
    assert 0 < last_lr < 0.02 * 1e-2


def test_mistakes_that_used_to_pass_silently_stop_with_one_line(smoke_dir, tmp_path):
    """Each of these once ran and did harm: a typo in a boolean read as false (and --resume
    would start over, overwriting ppo.pt), a comparisons file whose pairs are all the same
    text trained and saved a useless rm.pt, and a temperature at or below 0 sampled identical
    (or inverted) answers."""
    import json
    import shutil
    result = run("train_ppo.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--resume", "ture")
    assert result.returncode != 0 and "unrecognized arguments: ture" in result.stderr and "Traceback" not in result.stderr
    assert not os.path.exists(f"{tmp_path}/ppo.pt")
    shutil.copy(f"{smoke_dir}/sft.pt", f"{tmp_path}/sft.pt")
    with open(f"{tmp_path}/same.jsonl", "w") as f:
        for i in range(20):
            f.write(json.dumps({"prompt": f"What is {i} plus 1?", "chosen": "2.", "rejected": "2."}) + "\n")
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path),
                 "--comparisons", f"{tmp_path}/same.jsonl")
    assert result.returncode != 0 and "responses are identical" in result.stderr
    assert not os.path.exists(f"{tmp_path}/rm.pt")
    for script, args in (("train_rm.py", ["--temperature", "0"]),
                         ("-m", ["nanorlhf.sample", f"{tmp_path}/sft.pt", "Hi", "--temperature", "-1"])):
        result = run(script, *args, *(["--preset", "smoke", "--out-dir", str(tmp_path)] if script != "-m" else []))
        assert result.returncode != 0 and "--temperature must be" in result.stderr, result.stderr[-2000:]
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("script, flags, message", [
    ("train_sft.py", ["--lr", "-1"], "--lr must be above 0"),
    ("train_sft.py", ["--max-iters", "0"], "--max-iters must be at least 1"),
    ("train_sft.py", ["--batch-size", "0"], "--batch-size must be at least 1"),
    ("train_sft.py", ["--lr-floor", "1.5"], "--lr-floor must be between 0 and 1"),
    ("train_sft.py", ["--device", "tpu"], "--device tpu is not available here"),
    ("train_rm.py", ["--k", "1"], "--k must be at least 2"),
    ("train_rm.py", ["--lr", "0"], "--lr must be above 0"),
    ("train_ppo.py", ["--minibatch-size", "0"], "--minibatch-size must be at least 1"),
    ("train_ppo.py", ["--temperature", "0"], "--temperature must be above 0"),
])
def test_bad_argument_values_stop_with_one_line_before_any_work(tmp_path, script, flags, message):
    result = run(script, "--preset", "smoke", "--out-dir", str(tmp_path), *flags)
    assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not os.listdir(tmp_path)


def test_a_cut_short_or_wrong_kind_of_checkpoint_stops_with_one_line(smoke_dir, tmp_path):
    """A checkpoint cut short by a crash, or a reward model where a policy is needed (and the
    reverse), names the file and what to do, with no traceback."""
    import shutil
    data = open(f"{smoke_dir}/sft.pt", "rb").read()
    with open(f"{tmp_path}/sft.pt", "wb") as f:
        f.write(data[:len(data) // 2])
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path))
    assert result.returncode != 0 and "sft.pt is not a readable nanorlhf checkpoint" in result.stderr
    assert "run `python train_sft.py` again" in result.stderr and "Traceback" not in result.stderr
    shutil.copy(f"{smoke_dir}/rm.pt", f"{tmp_path}/sft.pt")        # a reward model where a policy goes
    shutil.copy(f"{smoke_dir}/sft.pt", f"{tmp_path}/rm.pt")        # and a policy where the reward model goes
    for script, needed in (("train_rm.py", "a policy"), ("train_ppo.py", "a policy")):
        result = run(script, "--preset", "smoke", "--out-dir", str(tmp_path))
        assert result.returncode != 0 and f"is a reward model (rm.pt), but {needed}" in result.stderr
        assert "Traceback" not in result.stderr
    shutil.copy(f"{smoke_dir}/sft.pt", f"{tmp_path}/sft.pt")
    result = run("train_ppo.py", "--preset", "smoke", "--out-dir", str(tmp_path))
    assert result.returncode != 0 and "rm.pt is a policy (sft.pt, ppo.pt), but a reward model" in result.stderr


@pytest.mark.parametrize("command, flags", [
    (["train_sft.py"], ["--device", "--seed", "--preset", "--resume"]),
    (["train_rm.py"], ["--device", "--seed", "--preset", "--resume"]),
    (["train_ppo.py"], ["--device", "--seed", "--preset", "--resume"]),
    (["train_dpo.py"], ["--device", "--seed", "--preset"]),
    (["train_grpo.py"], ["--device", "--seed", "--preset"]),
    (["-m", "nanorlhf.compare"], ["--device", "--seed"]),
    (["-m", "nanorlhf.sample"], ["--device", "--seed"]),
    (["-m", "nanorlhf.label"], ["--device", "--seed"]),
    (["-m", "nanorlhf.best_of_n"], ["--device", "--seed"]),
    (["-m", "nanorlhf.bench"], ["--threads", "--seed"]),
])
def test_every_command_takes_the_flags_the_readme_promises(command, flags):
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert "The three training scripts take `--help`, `--device`" in readme   # the promise tested here
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    for flag in flags:
        assert re.search(rf"(?<![\w-]){flag}\b", result.stdout), f"{command}: no {flag} in --help"


def interrupt_when_written(path, *args):
    """Run a script and press Ctrl-C (SIGINT) as soon as `path` has been written -> (returncode, stdout, stderr)."""
    import signal
    import subprocess
    import sys
    import time
    if os.path.exists(path):
        os.remove(path)
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not os.path.exists(path) and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def test_ctrl_c_keeps_the_last_sft_checkpoint_and_resume_continues(tmp_path):
    """Ctrl-C mid-run: one line that says what is saved, no traceback; the checkpoint loads, the
    next stage refuses it as unfinished, and --resume continues from its step to the end."""
    out = str(tmp_path)
    code, stdout, stderr = interrupt_when_written(f"{out}/sft.pt", "train_sft.py", "--preset", "smoke", "--out-dir",
                                                  out, "--max-iters", "2000", "--eval-interval", "10")
    assert code == 1 and "Traceback" not in stderr, stderr[-2000:]
    step = int(re.search(r"interrupted: \S+sft\.pt holds step (\d+); `python train_sft.py --resume` continues",
                         stderr)[1])
    _, _, meta = load_checkpoint(f"{out}/sft.pt")
    assert meta["finished"] is False and meta["step"] == step and step % 10 == 0
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", out)
    assert result.returncode != 0 and "is an unfinished run" in result.stderr and "--resume" in result.stderr
    result = run("train_sft.py", "--preset", "smoke", "--out-dir", out, "--resume", "--max-iters", str(step + 10),
                 "--eval-interval", "10")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from {out}/sft.pt at step {step}" in result.stdout
    _, _, meta = load_checkpoint(f"{out}/sft.pt")
    assert meta["finished"] is True
    logged = [int(s) for s in re.findall(r"^step\s+(\d+) \|", result.stdout, re.M)]
    assert logged[0] == step + 5 and logged[-1] == step + 10   # the resumed run starts after the saved step
    result = run("train_sft.py", "--preset", "smoke", "--out-dir", out, "--resume")
    assert result.returncode != 0 and "is a finished run; there is nothing to resume" in result.stderr


def test_ctrl_c_in_the_reward_model_and_ppo_leaves_their_files_whole(smoke_dir, tmp_path):
    """train_rm.py writes rm.pt only at the end: Ctrl-C after the rankings are saved leaves the
    old rm.pt alone, and --resume reuses the rankings. train_ppo.py says which iteration its
    checkpoint holds."""
    import shutil
    out = str(tmp_path)
    for name in ("sft.pt", "rm.pt"):
        shutil.copy(f"{smoke_dir}/{name}", f"{out}/{name}")
    before = open(f"{out}/rm.pt", "rb").read()
    code, stdout, stderr = interrupt_when_written(f"{out}/comparisons.jsonl", "train_rm.py", "--preset", "smoke",
                                                  "--out-dir", out, "--epochs", "1000")
    assert code == 1 and "Traceback" not in stderr, stderr[-2000:]
    assert "rm.pt was not written (an earlier one is as it was)" in stderr and "--resume` reuses them" in stderr
    assert open(f"{out}/rm.pt", "rb").read() == before
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", out, "--resume")
    assert result.returncode == 0 and "reusing 48 rankings" in result.stdout, result.stderr[-3000:]
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", out, "--resume", "--k", "4")
    assert result.returncode != 0 and "collected with other settings" in result.stderr
    code, stdout, stderr = interrupt_when_written(f"{out}/ppo.pt", "train_ppo.py", "--preset", "smoke", "--out-dir",
                                                  out, "--max-iters", "1000", "--eval-interval", "1")
    assert code == 1 and "Traceback" not in stderr, stderr[-2000:]
    assert re.search(r"ppo\.pt holds iteration \d+; `python train_ppo.py --resume` continues", stderr)
    load_checkpoint(f"{out}/ppo.pt")


def test_reward_model_trains_on_thumbs_and_measures_on_a_held_out_file(smoke_dir, tmp_path):
    """Thumbs alone are enough to train on (lesson 04); --heldout measures on another file's rankings,
    which must not be thumbs; DPO, which needs pairs, refuses thumbs with one line."""
    import json
    import shutil
    shutil.copy(f"{smoke_dir}/sft.pt", f"{tmp_path}/sft.pt")
    answers = [("7 plus 5 is 12.", "up"), ("7 plus 5 is 13.", "down"), ("12.", "up"), ("I don't know.", "down")]
    with open(f"{tmp_path}/thumbs.jsonl", "w") as f:
        for i in range(12):
            for answer, thumb in answers:
                f.write(json.dumps({"prompt": "What is 7 plus 5?", "response": answer, "thumb": thumb}) + "\n")
    ranking = {"prompt": "What is 2 plus 3?", "responses": ["2 plus 3 is 5.", "2 plus 3 is 6.", "5."], "ranking": [0, 2, 1]}
    (tmp_path / "heldout.jsonl").write_text((json.dumps(ranking) + "\n") * 4)
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--comparisons",
                 f"{tmp_path}/thumbs.jsonl", "--heldout", f"{tmp_path}/heldout.jsonl")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "48 training records, 4 held out (48 of them thumbs)" in result.stdout
    _, _, meta = load_checkpoint(f"{tmp_path}/rm.pt")
    assert 0.0 <= meta["summary"]["val_acc_gold"][0] <= 1.0
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--comparisons",
                 f"{tmp_path}/heldout.jsonl", "--heldout", f"{tmp_path}/thumbs.jsonl")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "must hold rankings or pairs (no thumbs)" in result.stderr
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--comparisons",
                 f"{tmp_path}/thumbs.jsonl")   # thumbs only and nothing else: no pairs to measure on
    assert result.returncode != 0 and "Traceback" not in result.stderr and "no pairs to measure on" in result.stderr
    result = run("train_dpo.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--comparisons",
                 f"{tmp_path}/thumbs.jsonl")
    assert result.returncode != 0 and "Traceback" not in result.stderr and "holds thumbs" in result.stderr


@pytest.mark.parametrize("content, message", [
    (b'{"prompt": "p", "responses": ["a", "b"], "ranking": [0, 1]}\n{oops\n', r"c\.jsonl:2: invalid JSON"),
    (b'{"prompt": "p", "responses": ["a", "b"], "ranking": [0, 0]}\n', r"c\.jsonl:1: ranking \[0, 0\] is not an ordering"),
    (b'{"prompt": "p", "responses": ["a", "b"], "ranking": [0, 2]}\n', r"c\.jsonl:1: ranking \[0, 2\] is not an ordering"),
    (b'{"prompt": "p", "ranking": [0, 1]}\n', r"c\.jsonl:1: missing key 'responses'"),
    (b'{"prompt": "p", "response": "a", "thumb": "up"}\n{"prompt": "p", "response": "a", "thumb": 1}\n',
     r"c\.jsonl:2: thumb must be \"up\" or \"down\", got 1"),
    (b'\x89PNG\r\n\x1a\n\x00\x00 binary\n', r"c\.jsonl is not UTF-8 text"),
    (None, r"comparisons file \S+c\.jsonl not found"),
])
def test_a_malformed_comparisons_file_stops_with_one_line(smoke_dir, tmp_path, content, message):
    import shutil
    shutil.copy(f"{smoke_dir}/sft.pt", f"{tmp_path}/sft.pt")
    if content is not None:
        (tmp_path / "c.jsonl").write_bytes(content)
    result = run("train_rm.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--comparisons", str(tmp_path / "c.jsonl"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert re.search("^error: .*" + message, result.stderr.strip()), result.stderr
    assert not os.path.exists(f"{tmp_path}/rm.pt")


def test_dpo_grpo_and_the_comparison_run_end_to_end(smoke_dir, tmp_path):
    """Every method from the same smoke sft.pt, rm.pt and comparisons; then the comparison reads
    their summaries (it trains nothing already there) and writes its table and plot."""
    import json
    import shutil
    out = str(tmp_path)
    for name in ("sft.pt", "rm.pt", "comparisons.jsonl"):
        shutil.copy(f"{smoke_dir}/{name}", f"{out}/{name}")
    for script, extra in (("train_dpo.py", []), ("train_grpo.py", []), ("train_grpo.py", ["--reward", "rm", "--name", "grpo_rm"]),
                          ("train_ppo.py", ["--reward", "gold", "--name", "ppo_gold"])):
        result = run(script, "--preset", "smoke", "--out-dir", out, *extra)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "summary: gold score SFT" in result.stdout
    model, _, meta = load_checkpoint(f"{out}/dpo.pt", kind="gpt")
    assert meta["stage"] == "dpo"
    summary = json.load(open(f"{out}/grpo_summary.json"))
    assert {"sft", "sft_greedy", "grpo", "kl", "evals", "wall_time"} <= set(summary)
    result = run("-m", "nanorlhf.compare", "--preset", "smoke", "--out-dir", out)   # trains only PPO (RM) and best-of-n
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count(": read ") == 4 and "PPO, reward model: python train_ppo.py" in result.stdout
    table = open(f"{out}/compare.md").read()
    for row in ("SFT, greedy", "best-of-4, reward model picks", "PPO, gold reward", "DPO", "GRPO, reward model"):
        assert f"| {row} |" in table
    assert os.path.getsize(f"{out}/compare.png") > 10_000


def test_dpo_without_comparisons_names_the_script_to_run(smoke_dir, tmp_path):
    import shutil
    shutil.copy(f"{smoke_dir}/sft.pt", f"{tmp_path}/sft.pt")
    result = run("train_dpo.py", "--preset", "smoke", "--out-dir", str(tmp_path))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "comparisons.jsonl not found. Run `python train_rm.py` first" in result.stderr
    (tmp_path / "one.jsonl").write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
    result = run("train_dpo.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--comparisons", str(tmp_path / "one.jsonl"))
    assert result.returncode != 0 and "Traceback" not in result.stderr and "holds 1 rankings; at least 2" in result.stderr


def test_sft_trains_on_your_own_demonstrations(tmp_path):
    """train_sft.py --demos: a file of TRL's messages form trains a model whose tokenizer was
    learned from that file; a malformed line stops with its line and field."""
    import json
    path = tmp_path / "mine.jsonl"
    with open(path, "w") as f:
        for i in range(80):
            f.write(json.dumps({"messages": [{"role": "user", "content": f"Say the number {i}."},
                                             {"role": "assistant", "content": f"The number is {i}."}]}) + "\n")
    result = run("train_sft.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--demos", str(path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "76 demonstrations from" in result.stdout and "4 held out" in result.stdout
    model, tokenizer, _ = load_checkpoint(f"{tmp_path}/sft.pt", kind="gpt")
    assert len(tokenizer.encode(" number")) == 1      # learned from the file, not from TinyChat
    with open(path, "a") as f:
        f.write('{"prompt": "x?"}\n')
    result = run("train_sft.py", "--preset", "smoke", "--out-dir", str(tmp_path), "--demos", str(path))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "mine.jsonl:81: missing field 'response'" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["nanorlhf.sample", "SFT", "Hi", "--max-new-tokens", "0"], "error: --max-new-tokens must be at least 1"),
    (["nanorlhf.sample", "SFT", "Hi", "-n", "0"], "error: --num-samples must be at least 1"),
    (["nanorlhf.best_of_n", "--out-dir", "DIR", "--n", "0"], "error: --n must be at least 1"),
    (["nanorlhf.best_of_n", "--out-dir", "DIR", "--temperature", "0"], "error: --temperature must be above 0"),
    (["nanorlhf.label", "--checkpoint", "SFT", "-k", "1", "--out", "LABELS"], "error: -k must be at least 2"),
])
def test_the_tools_refuse_bad_counts_with_one_line(smoke_dir, tmp_path, args, message):
    args = [a.replace("SFT", f"{smoke_dir}/sft.pt").replace("DIR", smoke_dir).replace("LABELS", f"{tmp_path}/l.jsonl")
            for a in args]
    result = run("-m", *args)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(message), result.stderr
