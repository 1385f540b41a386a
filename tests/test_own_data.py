"""Beyond TinyChat: GPT-2's weights and a user's own files through the whole pipeline.

CHAIN and TORCHRUN_CHAIN are the README's commands ("Beyond TinyChat") for a real GPT-2 folder
and a preference dataset converted to JSON lines, read from the README itself. Here they run as
written, on a tiny random GPT-2 folder and tiny files made in the test, with --preset smoke and
an output folder added at the end of each command. The prompts are not TinyChat's, so there is no gold judge: PPO, GRPO and DPO must
report the reward model's score, the KL to the SFT model, length and samples, and say so.
"""
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from nanorlhf.checkpoint import load_checkpoint
from nanorlhf.data import load_prompts
from nanorlhf.gpt2 import GPT2Tokenizer

from conftest import ROOT, make_tiny_gpt2, run

pytest.importorskip("transformers", reason="transformers (test-only) makes the tiny GPT-2 folder")

def readme_commands():
    """The README's section "Beyond TinyChat": its code blocks -> [[command line, ...], ...]."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = text.index("## Beyond TinyChat")
    section = text[start:text.index("\n## ", start + 1)]
    return [block.strip().splitlines() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


CHAIN, TORCHRUN_CHAIN = readme_commands()


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Run CHAIN in a folder holding models/gpt2 and the three files -> {script: completed process}, folder."""
    folder = tmp_path_factory.mktemp("own")
    make_tiny_gpt2(folder / "models" / "gpt2", n_positions=96)   # not 128, the block size of a model trained here
    animals = ["cat", "owl", "fox", "eel", "yak", "emu", "bee", "ant"]
    topics = [f"the {a} number {i}" for i in range(5) for a in animals]   # 40 prompts, none of them TinyChat's
    write_jsonl(folder / "my_demos.jsonl", [{"prompt": f"Write one line about {t}.", "completion": f"Here is {t}, happy."}
                                            for t in topics])
    write_jsonl(folder / "my_prefs.jsonl", [{"prompt": f"Write one line about {t}.", "chosen": f"Here is {t}, happy.",
                                             "rejected": "No."} for t in topics])
    write_jsonl(folder / "my_prompts.jsonl", [{"prompt": f"Describe {t} in one line."} for t in topics])
    results = {}
    for line in CHAIN:
        words = shlex.split(line)
        assert words[0] == "python"
        words = [str(folder / w) if (folder / w).exists() else w for w in words[1:]]
        results[words[0]] = result = run(*words, "--preset", "smoke", "--out-dir", str(folder / "out"))
        assert result.returncode == 0, line + "\n" + result.stdout[-2000:] + result.stderr[-3000:]
    return results, folder


def test_sft_starts_from_gpt2_with_its_tokenizer_and_the_next_stages_rebuild_it(chain):
    results, folder = chain
    assert "--n-layer, --n-head, --n-embd" in results["train_sft.py"].stdout and "are ignored" in results["train_sft.py"].stdout
    sft, tokenizer, meta = load_checkpoint(f"{folder}/out/sft.pt", kind="gpt")
    assert isinstance(tokenizer, GPT2Tokenizer) and tokenizer.vocab_size == sft.config.vocab_size == 461
    assert sft.config.block_size == 96 and sft.config.bias and sft.config.mlp == "gelu_tanh"   # GPT-2's, not the flags'
    for stage in ("rm", "ppo", "dpo", "grpo"):
        model, stage_tokenizer, _ = load_checkpoint(f"{folder}/out/{stage}.pt")
        assert stage_tokenizer.to_dict() == tokenizer.to_dict() and model.config == sft.config


def test_the_reward_model_learns_from_a_file_of_other_prompts(chain):
    results, folder = chain
    assert "not TinyChat prompts" in results["train_rm.py"].stdout
    _, _, meta = load_checkpoint(f"{folder}/out/rm.pt", kind="reward")
    assert "ceiling" not in meta["summary"] and 0.0 <= meta["summary"]["val_acc"][0] <= 1.0
    # nor is it asked how it ranks answers to TinyChat's prompts
    assert "spearman" not in meta["summary"] and "rank correlation" not in results["train_rm.py"].stdout


@pytest.mark.parametrize("script, name", [("train_ppo.py", "ppo"), ("train_grpo.py", "grpo"), ("train_dpo.py", "dpo")])
def test_without_a_gold_judge_the_evaluation_reports_the_reward_model_kl_length_and_samples(chain, script, name):
    results, folder = chain
    stdout = results[script].stdout
    assert re.search(r"no gold judge was available: these \d+ held-out prompts are not TinyChat.s", stdout)
    assert "reward model score" in stdout and "KL to SFT" in stdout
    assert re.search(r"^  > (Describe|Write one line about) the \w+ number \d.*\n    SFT \(T=1.0\): ", stdout, re.M)
    summary = json.load(open(f"{folder}/out/{name}_summary.json"))
    assert summary["gold_judge"] is False and "gold" not in summary[name]
    for key in ("rm_score", "kl", "length", "eos"):
        assert key in summary[name] and key in summary["sft"]
    assert summary["sft"]["kl"] == 0.0 and summary[name]["samples"] == 4 and summary["sft_greedy"]["samples"] == 1
    if name != "dpo":   # evaluated at intervals too
        assert summary["evals"] and {"rm_score", "kl", "length"} <= set(summary["evals"][-1])
    assert os.path.getsize(f"{folder}/out/{name}.png") > 1000


@pytest.mark.parametrize("text, message", [
    ('{"prompt": "Hi"}\n{"prompt": "Yo"}\n{"text": "no prompt"}\n', "p.jsonl:3: field 'prompt' is missing"),
    ('{"prompt": "Hi"}\n{"prompt": ""}\n', "p.jsonl:2: field 'prompt' must be a non-empty string"),
    ('{"prompt": "Hi"}\n{"prompt": 7}\n', "p.jsonl:2: field 'prompt' must be a non-empty string"),
    ('{"prompt": "Hi"}\n{oops\n', "p.jsonl:2: invalid JSON"),
    ('{"prompt": "Hi"}\n', "p.jsonl holds 1 prompts; at least 2 are needed"),
])
def test_load_prompts_names_the_file_the_line_and_the_field(tmp_path, text, message):
    (tmp_path / "p.jsonl").write_text(text)
    with pytest.raises(SystemExit, match="^error: .*" + re.escape(message)):
        load_prompts(str(tmp_path / "p.jsonl"), 8)


def test_load_prompts_holds_out_the_last_tenth_at_most(tmp_path):
    write_jsonl(tmp_path / "p.jsonl", [{"prompt": f"p{i}", "source": "mine"} for i in range(25)])
    prompts, heldout = load_prompts(str(tmp_path / "p.jsonl"), 8)
    assert prompts == [f"p{i}" for i in range(23)] and heldout == [{"prompt": "p23"}, {"prompt": "p24"}]
    assert len(load_prompts(str(tmp_path / "p.jsonl"), 1)[1]) == 1


@pytest.mark.parametrize("script", ["train_ppo.py", "train_grpo.py"])
def test_a_malformed_prompts_file_stops_the_script_with_one_line(chain, tmp_path, script):
    _, folder = chain
    (tmp_path / "p.jsonl").write_text('{"prompt": "Hi"}\n{"prompt": "Yo"}\n{"text": "no prompt"}\n')
    result = run(script, "--preset", "smoke", "--out-dir", f"{folder}/out", "--reward", "rm", "--prompts",
                 str(tmp_path / "p.jsonl"), "--bc-coef", "0", "--name", "never")
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip() == f"error: {tmp_path}/p.jsonl:3: field 'prompt' is missing"
    assert not os.path.exists(f"{folder}/out/never.pt")


def test_init_from_a_folder_without_gpt2s_files_stops_with_one_line(tmp_path):
    (tmp_path / "gpt2").mkdir()
    result = run("train_sft.py", "--preset", "smoke", "--out-dir", str(tmp_path / "out"), "--init", str(tmp_path / "gpt2"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(f"error: {tmp_path}/gpt2 has no config.json (a Hugging Face GPT-2 folder")
    assert not os.path.exists(tmp_path / "out" / "sft.pt")


def test_your_own_prompts_refuse_the_gold_reward_and_tinychats_demonstrations(chain):
    _, folder = chain
    prompts = f"{folder}/my_prompts.jsonl"
    for script, extra, message in (("train_grpo.py", [], "--reward gold needs TinyChat's prompts"),
                                   ("train_ppo.py", ["--reward", "gold"], "--reward gold needs TinyChat's prompts"),
                                   ("train_ppo.py", [], "with --prompts give your own with --demos FILE")):
        result = run(script, "--preset", "smoke", "--out-dir", f"{folder}/out", "--prompts", prompts, *extra)
        assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_the_readme_torchrun_commands_run_on_two_cpu_processes(chain):
    """The README's torchrun block, as written, in the chain's folder: 2 gloo processes each."""
    _, folder = chain
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS="1")
    for line in TORCHRUN_CHAIN:
        words = shlex.split(line)
        assert words[:4] == ["torchrun", "--standalone", "--nproc_per_node", "2"]
        words = [str(folder / w) if (folder / w).exists() else w for w in words[4:]]
        result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                                 "2", *words, "--preset", "smoke", "--out-dir", str(folder / "out_ddp")],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, line + "\n" + result.stdout[-2000:] + result.stderr[-3000:]
        assert "x 2 processes" in result.stdout
    assert "no gold judge" in result.stdout   # PPO on your own prompts, rank 0's report
    for stage in ("sft", "rm", "ppo"):
        assert os.path.exists(folder / "out_ddp" / f"{stage}.pt")
