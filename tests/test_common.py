"""Checkpoints, argument parsing and the small statistics helpers."""
import os
from dataclasses import dataclass

import pytest
import torch

from nanorlhf.checkpoint import load_checkpoint, require_checkpoint, require_same_tokenizer, save_checkpoint
from nanorlhf.common import arg, cosine_lr, parse_args, spearman
from nanorlhf.model import GPT, GPTConfig
from nanorlhf.reward import RewardModel
from nanorlhf.tokenizer import Tokenizer


def test_checkpoint_round_trip_rebuilds_the_same_network(tmp_path):
    tok = Tokenizer.train("hello world, hello there. " * 30, 280)
    torch.manual_seed(0)
    config = GPTConfig(block_size=32, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16)
    idx = torch.tensor([tok.encode_prompt("hello world")])
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
    assert parse_args(Args, presets, ["--preset", "fast", "--lr", "0.01", "--on", "true"]) == Args(0.01, "f", True)


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
