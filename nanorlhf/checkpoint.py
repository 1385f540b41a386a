"""
Checkpoints that rebuild themselves.

A checkpoint carries everything the next stage needs to rebuild exactly the same network
without being told: the kind of model, its GPTConfig, the weights, the tokenizer (its
merges and special tokens) and `meta` (the training arguments, final metrics, and any
extra state a stage wants to keep, such as PPO's value model and optimizer).

    save_checkpoint("out/sft.pt", model, tokenizer, meta={"args": vars(args)})
    model, tokenizer, meta = load_checkpoint("out/sft.pt")
"""
import os
from dataclasses import asdict

import torch

from nanorlhf.common import atomic_save
from nanorlhf.model import GPT, GPTConfig
from nanorlhf.tokenizer import Tokenizer

# which script writes which checkpoint, so a missing file can say what to run first
PRODUCED_BY = {"sft.pt": "train_sft.py", "rm.pt": "train_rm.py", "ppo.pt": "train_ppo.py"}


def model_kind(model):
    """'reward' for a RewardModel, 'gpt' for a plain GPT (the policy, SFT or PPO)."""
    return "reward" if hasattr(model, "head") else "gpt"


def save_checkpoint(path, model, tokenizer, meta=None):
    checkpoint = {
        "kind": model_kind(model),
        "model_config": asdict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "tokenizer": tokenizer.to_dict(),
        "meta": meta or {},
    }
    atomic_save(checkpoint, path)


def require_checkpoint(path):
    """Stop with a message that names the script to run first when `path` is missing."""
    if os.path.exists(path):
        return
    script = PRODUCED_BY.get(os.path.basename(path))
    hint = f" Run `python {script}` first." if script else ""
    raise SystemExit(f"error: checkpoint {path} not found.{hint}")


def require_same_tokenizer(path, tokenizer, sft_path, sft_tokenizer):
    """Stop with a message when the checkpoint at `path` was built on another tokenizer than
    the SFT model's: it comes from an older run of train_sft.py and must be made again."""
    if tokenizer.to_dict() != sft_tokenizer.to_dict():
        script = PRODUCED_BY.get(os.path.basename(path), "the script that wrote it")
        raise SystemExit(f"error: {path} uses another tokenizer than {sft_path}, so it was made from an older "
                         f"SFT model. Run `python {script}` again.")


def load_checkpoint(path, device="cpu"):
    """-> (model, tokenizer, meta); the model is in eval mode on `device`."""
    require_checkpoint(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    config = GPTConfig(**checkpoint["model_config"])
    if checkpoint["kind"] == "reward":
        from nanorlhf.reward import RewardModel  # imported here: reward.py imports this module
        model = RewardModel(config)
    else:
        model = GPT(config)
    model.load_state_dict(checkpoint["state_dict"])
    model.to(device).eval()
    tokenizer = Tokenizer.from_dict(checkpoint["tokenizer"])
    return model, tokenizer, checkpoint["meta"]
