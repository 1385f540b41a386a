"""
Several processes, one model: data parallelism with torchrun and DistributedDataParallel.

    torchrun --standalone --nproc_per_node 2 train_sft.py     # 2 processes on this machine

torchrun starts N copies of the script and tells each its RANK (0 .. N-1) and WORLD_SIZE in
environment variables. Every copy holds the whole model and takes its own share of every
batch. In backward, DistributedDataParallel (DDP) averages the gradients over the copies
(an all-reduce), so each copy takes the same optimizer step and the copies stay identical.
For the average to be the gradient of the whole batch, each copy's loss must count its share
of the batch the way one process would count it (global_share below).

Only rank 0 prints, evaluates and saves. Under a plain `python script.py` there is one
process (rank 0 of a world of 1) and every function here does nothing, or returns its input.
"""
import builtins
import os
import sys

import torch
import torch.distributed as dist
import torch.nn as nn

from nanorlhf.common import get_device, resolve_dtype, set_seed


def setup(device_name):
    """-> (rank, world_size, device). Under torchrun: join the other processes (gloo on CPU,
    NCCL on CUDA, each process on its own GPU) and silence print() on every rank but 0."""
    if "RANK" not in os.environ:   # a plain `python script.py`
        return 0, 1, get_device(device_name)
    rank, world, local_rank = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    device = get_device(device_name)
    kind = torch.device(device).type
    if kind == "cuda":
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    elif kind == "mps" and world > 1:
        raise SystemExit("error: several processes cannot share Apple's MPS device; use --device cpu under torchrun")
    dist.init_process_group("nccl" if kind == "cuda" else "gloo")
    kinds = [None] * world
    dist.all_gather_object(kinds, kind)
    if len(set(kinds)) > 1:
        dist.destroy_process_group()
        raise SystemExit(f"error: this launch mixes devices ({', '.join(sorted(set(kinds)))}); every process "
                         f"must use the same kind: pass the same --device to all of them")
    if rank != 0:   # one voice: the other processes' lines would repeat rank 0's
        builtins.print = lambda *args, **kwargs: None
    return rank, world, device


def start(args, *batch_flags):
    """Every training script's first steps -> (rank, world_size, device): seed, join the other
    processes if torchrun started several (setup), check that the batch flags split evenly over
    them, resolve --dtype auto for the device, and print the device and the arguments."""
    set_seed(args.seed)
    rank, world, device = setup(args.device)
    require_divisible(args, *batch_flags)
    args.dtype = resolve_dtype(args.dtype, device)
    print(f"device {device}" + (f" x {world} processes" if world > 1 else "") + f" | {args}")
    return rank, world, device


def rank():
    return dist.get_rank() if dist.is_initialized() else 0


def world_size():
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main():
    """True in the process that prints, evaluates and saves (rank 0)."""
    return rank() == 0


def require_divisible(args, *names):
    """Stop with one line when a batch flag does not split evenly over the processes."""
    for name in names:
        if getattr(args, name) % world_size():
            raise SystemExit(f"error: --{name.replace('_', '-')} {getattr(args, name)} does not split evenly "
                             f"over {world_size()} processes; use a multiple of {world_size()}")


def my_share(items):
    """This process's contiguous share of a list or a tensor's rows: with 2 processes rank 0 takes
    the first half, rank 1 the second. my_share(list(range(8))) on rank 1 of 2 -> [4, 5, 6, 7]."""
    n, r, w = len(items), rank(), world_size()
    return items[r * n // w:(r + 1) * n // w]


def global_share(local_count, global_count):
    """The factor that makes DDP's average of per-process means the mean over the whole batch.

    Each process's loss is a mean over its local_count items (tokens, pairs); DDP averages
    the gradients of world_size such means. Scaling each by world_size * local / global
    turns that average into sum over all items / global_count: the one-process loss.
    """
    return world_size() * local_count / global_count


def ddp(module):
    """Wrap a module in DistributedDataParallel (one process: the module itself). DDP averages the
    gradients of the parameters that its own forward used, so call the wrapper, not the module."""
    if world_size() == 1:
        return module
    device = next(module.parameters()).device
    return nn.parallel.DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None)


class Forward(nn.Module):
    """fn(*modules, ...) as the forward of one module, so that DDP can wrap a computation that
    calls more than a model's forward (the RL losses read hidden states, a critic, log-probs):

        logprobs_and_values = ddp(Forward(policy_and_values, policy, critic))
        logprobs_and_values(sequence, attention_mask, Tq, T)   # = policy_and_values(policy, critic, ...)
    """

    def __init__(self, fn, *modules):
        super().__init__()
        self.fn = fn
        self.parts = nn.ModuleList(modules)

    def forward(self, *args, **kwargs):
        return self.fn(*self.parts, *args, **kwargs)


def sum_over_processes(x):
    """A tensor summed over all processes (every process gets the sum); float -> float."""
    if world_size() == 1:
        return x
    t = torch.as_tensor(x, dtype=torch.float64).clone() if not torch.is_tensor(x) else x.clone()
    dist.all_reduce(t)
    return t.item() if not torch.is_tensor(x) else t


def mean_over_processes(x):
    """The mean of x over all processes: a logged metric of one process's share -> of the whole batch
    (exact when every process holds the same number of items)."""
    return sum_over_processes(x) / world_size()


def gather_rows(x):
    """Every process's (n, ...) tensor, concatenated in rank order -> (world_size * n, ...).
    The shares must have the same shape."""
    if world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def gather_objects(items):
    """Every process's list of plain objects (texts), concatenated in rank order."""
    if world_size() == 1:
        return items
    parts = [None] * world_size()
    dist.all_gather_object(parts, items)
    return [x for part in parts for x in part]


def masked_mean_global(x, mask):
    """rl.masked_mean over the whole batch, every process's share: sum(x * mask) / sum(mask) summed over processes."""
    both = sum_over_processes(torch.stack([(x * mask).sum(), mask.sum()]))
    return both[0] / both[1].clamp_min(1)


def from_main(obj):
    """rank 0's `obj` in every process (what rank 0 made alone: collected rankings, a scale)."""
    if world_size() == 1:
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def leave_unless_main():
    """End every process but rank 0, which goes on alone to evaluate and save. One process: nothing."""
    if not dist.is_initialized():
        return
    me = dist.get_rank()
    dist.barrier()
    dist.destroy_process_group()   # from here on rank 0 is a world of one
    if me != 0:
        # leave at once: in the interpreter's teardown, torch's communication threads can be
        # destroyed still running and abort the process (seen now and then with DDP on gloo)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
