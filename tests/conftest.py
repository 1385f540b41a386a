"""
Shared by the tests that run the scripts: `run` and the smoke-preset pipeline, trained once
per test session. Each script's printed output is kept next to its checkpoint as
<script>.log, so tests can check what a student would see. And by the tests of the class
labeling page: a tiny model, and the server `running` in a thread.
"""
import os
import subprocess
import sys
import threading
from contextlib import contextmanager

import pytest
import torch

from nanorlhf.data import load_jsonl
from nanorlhf.label_server import make_server
from nanorlhf.model import GPT, GPTConfig
from nanorlhf.tokenizer import Tokenizer

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


# the class labeling page: the first few preference prompts, K answers each from a tiny model
PROMPTS = [r["prompt"] for r in load_jsonl(os.path.join(ROOT, "data", "pref_prompts.jsonl"))[:4]]
K, SEED = 3, 0


@pytest.fixture(scope="module")
def tiny_gpt():
    """A tiny GPT and its tokenizer: (model, tokenizer). Its answers are noise, which is all the page needs."""
    tok = Tokenizer.train("what is two plus three? it is five. the cat says meow. " * 20, 290)
    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=256, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16)).eval(), tok


@contextmanager
def running(tiny_gpt, path):
    """The server on a free port in a thread -> (base url, its ClassLabels); shut down after."""
    server, labels = make_server(*tiny_gpt, PROMPTS, str(path), K, SEED, port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)   # quick to shut down
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", labels
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
def make_tiny_gpt2(folder, n_merges=200, n_positions=128, seed=0):
    """A random GPT-2 with a tiny vocabulary, as a Hugging Face folder (config.json,
    model.safetensors, vocab.json, merges.txt) -> the folder. The merges are learned here from
    the guidelines and a few unicode words, written as GPT-2 writes them: ids 0..255 the bytes
    in GPT-2's order, merge k id 256 + k, each byte as its printable stand-in, then <|endoftext|>.
    Needs transformers (test-only)."""
    import json
    import torch
    import transformers
    from nanorlhf.gpt2 import BYTE_ORDER, bytes_to_unicode
    from nanorlhf.tokenizer import train_merges
    text = open(os.path.join(ROOT, "data", "guidelines.md"), encoding="utf-8").read()[:15000]
    merges = train_merges(text + " héllo wörld 日本語 café 3.14159\n\n  ", n_merges)   # ids: 0..255 = byte value
    token = {b: bytes([b]) for b in range(256)}
    for k, (a, b) in enumerate(merges):
        token[256 + k] = token[a] + token[b]
    stand_in = bytes_to_unicode()
    written = lambda i: "".join(stand_in[b] for b in token[i])   # b"\n the" -> "ĊĠthe"
    vocab = {written(b): i for i, b in enumerate(BYTE_ORDER)}
    vocab.update({written(256 + k): 256 + k for k in range(len(merges))})
    vocab["<|endoftext|>"] = len(vocab)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{written(a)} {written(b)}\n" for a, b in merges))
    torch.manual_seed(seed)
    config = transformers.GPT2Config(vocab_size=len(vocab), n_positions=n_positions, n_embd=32, n_layer=2, n_head=2)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    return str(folder)
