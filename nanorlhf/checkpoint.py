"""
Checkpoints that rebuild themselves.

A checkpoint carries everything the next stage needs to rebuild exactly the same network
without being told: the kind of model, its GPTConfig, the weights, the tokenizer (its
merges and special tokens) and `meta` (the training arguments, final metrics, and any
extra state a stage wants to keep, such as PPO's value model and optimizer).

    save_checkpoint("out/sft.pt", model, tokenizer, meta={"args": vars(args)})
    model, tokenizer, meta = load_checkpoint("out/sft.pt")

Checkpoints hold only tensors and plain Python values (numbers, strings, lists, dicts), and
load with torch.load(weights_only=True): a checkpoint from someone else cannot run code on
your machine when you load it.
"""
import os
import pickle
from dataclasses import asdict

import numpy as np
import torch

from nanorlhf.common import atomic_save
from nanorlhf.gpt2 import GPT2Tokenizer
from nanorlhf.model import GPT, GPTConfig
from nanorlhf.reward import RewardModel
from nanorlhf.tokenizer import Tokenizer

# which script writes which checkpoint, so a missing file can say what to run first
PRODUCED_BY = {"sft.pt": "train_sft.py", "rm.pt": "train_rm.py", "comparisons.jsonl": "train_rm.py", "ppo.pt": "train_ppo.py",
               "dpo.pt": "train_dpo.py", "grpo.pt": "train_grpo.py"}


def model_kind(model):
    """'reward' for a RewardModel, 'gpt' for a plain GPT (the policy, SFT or PPO)."""
    return "reward" if hasattr(model, "head") else "gpt"


def plain(obj):
    """numpy numbers, strings and arrays -> Python ones, in dicts (keys too), lists and tuples, so
    that torch.load(weights_only=True) accepts them: np.float64(0.5) -> 0.5, np.str_("a") -> "a"."""
    if isinstance(obj, dict):
        return {plain(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    return obj


def save_checkpoint(path, model, tokenizer, meta=None):
    checkpoint = {
        "kind": model_kind(model),
        "model_config": asdict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "tokenizer": tokenizer.to_dict(),
        "meta": plain(meta or {}),
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


def require_finished(path, meta):
    """Stop with a message when `path` is a run that was interrupted (train_sft.py saves an
    unfinished checkpoint every few hundred steps, for --resume): the next stage needs the end."""
    if meta.get("finished", True) is False:
        script = PRODUCED_BY.get(os.path.basename(path), "the script that wrote it")
        raise SystemExit(f"error: {path} is an unfinished run (stopped at step {meta.get('step')}); "
                         f"finish it with `python {script} --resume`")


KINDS = {"gpt": "a policy (sft.pt, ppo.pt)", "reward": "a reward model (rm.pt)"}


def load_checkpoint(path, device="cpu", kind=None):
    """-> (model, tokenizer, meta); the model is in eval mode on `device`.

    kind ("gpt" or "reward") is what the caller needs; another kind stops with a message, as
    does a file that is not a whole nanorlhf checkpoint (cut short by a crash, or another file).
    """
    require_checkpoint(path)
    script = PRODUCED_BY.get(os.path.basename(path), "the script that wrote it")
    try:
        # weights_only: tensors and plain values only; anything that would run code is refused
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        config = GPTConfig(**checkpoint["model_config"])
        found = checkpoint["kind"]
        saved = checkpoint["tokenizer"]   # our own BPE, or GPT-2's (train_sft.py --init)
        tokenizer = (GPT2Tokenizer if saved.get("kind") == "gpt2" else Tokenizer).from_dict(saved)
    except pickle.UnpicklingError:   # it holds objects that are not tensors or plain values
        raise SystemExit(f"error: {path} holds more than weights and plain values (an older nanorlhf wrote "
                         f"numpy numbers; a checkpoint from elsewhere may hold code), so it is not loaded; "
                         f"run `python {script}` again to write it") from None
    except Exception as e:   # truncated, corrupt, or not a checkpoint at all
        raise SystemExit(f"error: {path} is not a readable nanorlhf checkpoint ({type(e).__name__}); "
                         f"run `python {script}` again to write it") from None
    if tokenizer.vocab_size != config.vocab_size:
        raise SystemExit(f"error: {path} holds a model for {config.vocab_size} tokens but a tokenizer of "
                         f"{tokenizer.vocab_size}; run `python {script}` again to write it")
    if kind is not None and found != kind:
        raise SystemExit(f"error: {path} is {KINDS.get(found, found)}, but {KINDS[kind]} is needed here")
    if found == "reward":
        model = RewardModel(config)
    else:
        model = GPT(config)
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError:   # other parameter names or shapes: written by another version of the code
        raise SystemExit(f"error: {path} does not fit this version of nanorlhf's {type(model).__name__}; "
                         f"run `python {script}` again to write it") from None
    model.to(device).eval()
    return model, tokenizer, checkpoint["meta"]
