"""Checkpoints, argument parsing and the small statistics helpers."""
import os
from dataclasses import dataclass, replace

import pytest
import torch

from nanorlhf.chat import encode_prompt
from nanorlhf.checkpoint import load_checkpoint, require_checkpoint, require_same_tokenizer, save_checkpoint
from nanorlhf.common import arg, cosine_lr, make_optimizer, native_bf16, parse_args, resolve_dtype, spearman
from nanorlhf.model import GPT, GPTConfig
from nanorlhf.reward import RewardModel
from nanorlhf.tokenizer import Tokenizer


def test_checkpoint_round_trip_rebuilds_the_same_network(tmp_path):
    tok = Tokenizer.train("hello world, hello there. " * 30, 280)
    torch.manual_seed(0)
    config = GPTConfig(block_size=32, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16)
    idx = torch.tensor([encode_prompt(tok, "hello world")])
    for model in (GPT(config), RewardModel(config)):
        model.eval()
        path = str(tmp_path / "m.pt")
        save_checkpoint(path, model, tok, meta={"args": {"lr": 0.1}})
        loaded, loaded_tok, meta = load_checkpoint(path)
        assert type(loaded) is type(model) and loaded.config == model.config
        assert loaded_tok.encode("hello there") == tok.encode("hello there")
        assert meta["args"]["lr"] == 0.1
        with torch.no_grad():
            a = model(idx, attention_mask=torch.ones_like(idx))
            b = loaded(idx, attention_mask=torch.ones_like(idx))
        torch.testing.assert_close(a[0] if isinstance(a, tuple) else a, b[0] if isinstance(b, tuple) else b)
        assert not os.path.exists(path + ".tmp")


def test_missing_checkpoint_names_the_script_to_run_first(tmp_path):
    for name, script in [("sft.pt", "train_sft.py"), ("rm.pt", "train_rm.py"), ("ppo.pt", "train_ppo.py")]:
        with pytest.raises(SystemExit, match=f"python {script}"):
            require_checkpoint(str(tmp_path / name))


def test_checkpoints_on_another_tokenizer_name_the_script_to_run_again():
    sft_tok = Tokenizer.train("hello world, hello there. " * 30, 280)
    same = Tokenizer.from_dict(sft_tok.to_dict())
    require_same_tokenizer("out/rm.pt", same, "out/sft.pt", sft_tok)   # no error
    older = Tokenizer.train("hello world, hello there. " * 30, 270)
    with pytest.raises(SystemExit, match="out/rm.pt uses another tokenizer .* Run `python train_rm.py` again"):
        require_same_tokenizer("out/rm.pt", older, "out/sft.pt", sft_tok)


def test_parse_args_presets_and_flags():
    @dataclass
    class Args:
        lr: float = arg(0.1, "learning rate")
        name: str = arg("a", "a name")
        on: bool = arg(False, "a switch")
    presets = {"fast": dict(lr=0.5, name="f")}
    assert parse_args(Args, presets, []) == Args()
    assert parse_args(Args, presets, ["--preset", "fast"]) == Args(lr=0.5, name="f")
    assert parse_args(Args, presets, ["--preset", "fast", "--lr", "0.01", "--on"]) == Args(0.01, "f", True)
    # a bool is a switch: --on / --no-on; a value after it is refused, not read as false
    assert parse_args(Args, {"on": dict(on=True)}, ["--preset", "on", "--no-on"]) == Args(on=False)
    with pytest.raises(SystemExit):
        parse_args(Args, presets, ["--on", "ture"])


def test_cosine_lr_warmup_and_floor():
    assert cosine_lr(0, 1.0, warmup=10, total=100) == pytest.approx(0.1)
    assert cosine_lr(9, 1.0, warmup=10, total=100) == pytest.approx(1.0)
    assert cosine_lr(100, 1.0, warmup=10, total=100) == pytest.approx(0.1)


def test_spearman_hand_worked():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks [1, 2, 3] against [1.5, 1.5, 3] (a tie): Pearson of those ranks
    assert spearman([1, 2, 3], [5, 5, 9]) == pytest.approx(0.8660254)


def test_an_interrupted_save_leaves_the_last_good_checkpoint(tmp_path, monkeypatch):
    from nanorlhf import common
    path = str(tmp_path / "sft.pt")
    common.atomic_save({"step": 1}, path)

    def crash(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt   # Ctrl-C in the middle of writing
    monkeypatch.setattr(common.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        common.atomic_save({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path) == {"step": 1}


def test_auto_dtype_is_bf16_only_where_the_cpu_lists_native_bf16(tmp_path, monkeypatch):
    with_bf16, without = tmp_path / "with", tmp_path / "without"
    with_bf16.write_text("flags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile\n")
    without.write_text("flags\t\t: fpu sse avx2 avx512f\n")
    assert native_bf16("cpu", with_bf16) and not native_bf16("cpu", without)
    assert not native_bf16("cpu", tmp_path / "missing")   # not Linux: assume none
    assert not native_bf16("mps")
    monkeypatch.setattr("nanorlhf.common.native_bf16", lambda device: False)
    assert resolve_dtype("auto", "cpu") == "fp32"
    monkeypatch.setattr("nanorlhf.common.native_bf16", lambda device: True)
    assert resolve_dtype("auto", "cpu") == "bf16" and resolve_dtype("fp32", "cpu") == "fp32"


def test_fused_adamw_takes_the_same_steps_as_the_textbook_loop():
    """make_optimizer's fused AdamW against AdamW's plain for-loop implementation, decay on matrices only."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=32, n_layer=1, n_head=2, n_embd=16))
    twin = GPT(model.config)
    twin.load_state_dict(model.state_dict())
    fused = make_optimizer(model.parameters(), lr=1e-2, weight_decay=0.1)
    assert all(group["fused"] for group in fused.param_groups)
    decay = [p for p in twin.parameters() if p.dim() >= 2]
    plain = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                               {"params": [p for p in twin.parameters() if p.dim() < 2], "weight_decay": 0.0}],
                              lr=1e-2, betas=(0.9, 0.95), foreach=False)
    x = torch.randint(0, 32, (4, 16))
    for _ in range(3):
        for net, opt in ((model, fused), (twin, plain)):
            opt.zero_grad()
            net(x, x)[1].backward()
            opt.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert not torch.equal(model.transformer.wte.weight, GPT(model.config).transformer.wte.weight)


class RunsCode:
    """An object whose unpickling runs code: here it only creates a file, to show that it ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path, capsys):
    """torch.load(weights_only=True): a checkpoint from someone else holds weights and plain
    values only; anything else stops with one line, and the code in it never runs."""
    tok = Tokenizer.train("hello world, hello there. " * 30, 280)
    model = GPT(GPTConfig(block_size=32, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16))
    path, marker = str(tmp_path / "sft.pt"), tmp_path / "ran"
    save_checkpoint(path, model, tok, meta={"args": {"lr": 0.1}})
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["meta"]["note"] = RunsCode(str(marker))
    torch.save(checkpoint, path)
    with pytest.raises(SystemExit, match="holds more than weights and plain values"):
        load_checkpoint(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)   # what a plain torch.load would have done
    assert marker.exists()


def test_numpy_values_in_meta_are_saved_as_plain_python(tmp_path):
    import numpy as np
    tok = Tokenizer.train("hello world, hello there. " * 30, 280)
    model = GPT(GPTConfig(block_size=32, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16))
    meta = {"summary": {np.str_("sort"): (np.float64(0.5), [np.int64(3), np.bool_(True)]), "a": np.arange(2)}}
    save_checkpoint(str(tmp_path / "m.pt"), model, tok, meta=meta)
    _, _, loaded = load_checkpoint(str(tmp_path / "m.pt"))
    assert loaded == {"summary": {"sort": (0.5, [3, True]), "a": [0, 1]}}
    assert type(next(iter(loaded["summary"]))) is str and type(loaded["summary"]["sort"][0]) is float


def test_a_checkpoint_whose_parts_do_not_fit_stops_with_one_line(tmp_path):
    """A model for another vocabulary than its tokenizer, or weights with other names (written by
    another version of the code), is refused with the script to run, not a traceback."""
    tok = Tokenizer.train("hello world, hello there. " * 30, 280)
    config = GPTConfig(block_size=32, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16)
    path = str(tmp_path / "rm.pt")
    save_checkpoint(path, GPT(replace(config, vocab_size=300)), tok)
    with pytest.raises(SystemExit, match=f"a model for 300 tokens but a tokenizer of {tok.vocab_size}; run `python train_rm.py`"):
        load_checkpoint(path)
    save_checkpoint(path, RewardModel(config), tok)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["state_dict"]["bias"] = checkpoint["state_dict"].pop("shift")   # an older RewardModel's name
    torch.save(checkpoint, path)
    with pytest.raises(SystemExit, match="does not fit this version of nanorlhf's RewardModel"):
        load_checkpoint(path)
