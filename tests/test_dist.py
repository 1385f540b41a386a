"""Several processes (nanorlhf/dist.py): the pieces against one process's arithmetic, and the
scripts under torchrun with 2 CPU processes (gloo) against the same scripts in one process."""
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp

from nanorlhf import dist
from nanorlhf.chat import encode_prompt
from nanorlhf.checkpoint import load_checkpoint
from nanorlhf.rl import masked_mean, whiten
from tests.conftest import ROOT, run

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def torchrun(*args):
    """`torchrun --standalone --nproc_per_node 2 *args` from the repository root."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS="1")
    return subprocess.run(TORCHRUN + list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, port, fn, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    dist.setup("cpu")
    out.put((rank, fn()))
    out.close()
    out.join_thread()   # the result is sent before leave_unless_main ends this process at once
    dist.leave_unless_main()


def on_two_processes(fn):
    """Run fn() in 2 processes joined like torchrun joins them -> [rank 0's result, rank 1's]."""
    ctx = mp.get_context("spawn")
    out, port = ctx.Queue(), free_port()
    procs = [ctx.Process(target=_worker, args=(r, port, fn, out)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    return [results[0], results[1]]


# the same 8 rows of (x, mask) in every process, each process takes its share
X = torch.arange(24, dtype=torch.float32).view(8, 3) ** 1.5
MASK = (torch.arange(24).view(8, 3) % 5 != 0).float()


def shares():
    return dist.rank(), dist.my_share(list(range(8))), dist.gather_rows(dist.my_share(X))


def global_means():
    x, mask = dist.my_share(X), dist.my_share(MASK)
    return dist.masked_mean_global(x, mask), whiten(x, mask, dist.masked_mean_global), dist.mean_over_processes(
        float(dist.rank())), dist.from_main({"made by": dist.rank()})


def test_each_process_takes_its_own_rows_and_gathering_puts_them_back_in_order():
    (r0, share0, gathered0), (r1, share1, gathered1) = on_two_processes(shares)
    assert (r0, r1) == (0, 1)
    assert share0 == [0, 1, 2, 3] and share1 == [4, 5, 6, 7]
    assert torch.equal(gathered0, X) and torch.equal(gathered1, X)


def test_means_and_whitening_over_processes_equal_one_process_over_the_whole_batch():
    (mean0, white0, avg0, obj0), (mean1, white1, avg1, obj1) = on_two_processes(global_means)
    assert torch.allclose(mean0, masked_mean(X, MASK)) and torch.allclose(mean1, masked_mean(X, MASK))
    whole = whiten(X, MASK)   # one process whitening all 8 rows
    assert torch.allclose(torch.cat([white0, white1]), whole, atol=1e-6)
    assert not torch.allclose(white0, whiten(X[:4], MASK[:4]), atol=1e-3)   # a local whitening would differ
    assert avg0 == avg1 == 0.5
    assert obj0 == obj1 == {"made by": 0}


def _mixed_worker(rank, port, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    if rank == 1:   # as if this process had found another kind of device
        dist.get_device = lambda name: "meta"
    try:
        dist.setup("auto")
        out.put((rank, "joined"))
    except SystemExit as e:
        out.put((rank, str(e)))


def test_a_launch_that_mixes_devices_stops_with_one_line_in_every_process():
    ctx = mp.get_context("spawn")
    out, port = ctx.Queue(), free_port()
    procs = [ctx.Process(target=_mixed_worker, args=(r, port, out)) for r in range(2)]
    for p in procs:
        p.start()
    messages = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    for message in messages.values():
        assert message.startswith("error: this launch mixes devices (cpu, meta)"), message


def test_a_batch_that_does_not_split_over_the_processes_is_refused(tmp_path):
    result = torchrun("train_sft.py", "--preset", "smoke", "--batch-size", "15", "--out-dir", str(tmp_path))
    assert result.returncode != 0
    # our one line, from each process (torchrun then adds its own report of the failed launch)
    assert "error: --batch-size 15 does not split evenly over 2 processes; use a multiple of 2" in result.stderr
    assert not os.listdir(tmp_path)


def test_one_process_is_untouched():
    assert (dist.rank(), dist.world_size(), dist.is_main()) == (0, 1, True)
    assert dist.my_share([1, 2, 3]) == [1, 2, 3] and dist.global_share(5, 5) == 1.0
    module = torch.nn.Linear(2, 2)
    assert dist.ddp(module) is module


def relative_gap(one, two, start):
    """|two - one| / |one - start| over all weights: how far apart the runs ended, against how far they moved."""
    num = sum(((two[k] - one[k]).double() ** 2).sum() for k in one) ** 0.5
    den = sum(((one[k] - start[k]).double() ** 2).sum() for k in one if k in start) ** 0.5
    return (num / den).item()


SMALL = ["--preset", "smoke", "--dtype", "fp32", "--eval-samples", "1"]
FEW_PROMPTS = ["--eval-prompts", "2"]


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory):
    """SFT then RM, once in one process and once in 2 processes with torchrun, same seed."""
    one, two = str(tmp_path_factory.mktemp("one")), str(tmp_path_factory.mktemp("two"))
    for script, flags in (("train_sft.py", ["--max-iters", "10", *FEW_PROMPTS]), ("train_rm.py", [])):
        a = run(script, *SMALL, *flags, "--out-dir", one)
        assert a.returncode == 0, a.stderr[-2000:]
        b = torchrun(script, *SMALL, *flags, "--out-dir", two)
        assert b.returncode == 0, b.stderr[-3000:]
        assert "x 2 processes" in b.stdout and b.stdout.count("saved ") == 1   # rank 0 alone prints and saves
    return one, two


def state(path):
    return torch.load(path, weights_only=True)["state_dict"]


def test_sft_with_two_processes_ends_with_the_weights_of_one(one_and_two):
    one, two = one_and_two
    a, b = state(f"{one}/sft.pt"), state(f"{two}/sft.pt")
    # the untrained model: the same seed gives the same initial weights in every process
    torch.manual_seed(1337)
    from nanorlhf.model import GPT
    start = GPT(load_checkpoint(f"{one}/sft.pt")[0].config).state_dict()
    assert relative_gap(a, b, start) < 1e-4


def test_reward_model_with_two_processes_ends_with_the_weights_of_one(one_and_two):
    one, two = one_and_two
    # rank 0 collected the rankings and handed them over: the same file as one process wrote
    with open(f"{one}/comparisons.jsonl") as f1, open(f"{two}/comparisons.jsonl") as f2:
        assert f1.read() == f2.read()
    start = {f"gpt.{k}": v for k, v in state(f"{one}/sft.pt").items()}
    # the trunk and the head's weights. Not the head's bias: the pairwise loss depends on r_w - r_l
    # only, so its true gradient is 0 and AdamW turns rounding noise of 1e-9 into steps of lr either
    # way (and the shift that normalises the scores follows it)
    one_rm, two_rm = state(f"{one}/rm.pt"), state(f"{two}/rm.pt")
    start["head.weight"] = torch.zeros_like(one_rm["head.weight"])
    learned = lambda sd: {k: v for k, v in sd.items() if k not in ("head.bias", "shift", "gain")}
    assert relative_gap(learned(one_rm), learned(two_rm), start) < 1e-4
    assert one_rm["gain"] == pytest.approx(two_rm["gain"].item(), rel=1e-4)


def test_ppo_with_two_processes_logs_means_over_both_processes_rollouts(one_and_two, tmp_path):
    _, two = one_and_two
    result = torchrun("train_ppo.py", *SMALL, *FEW_PROMPTS, "--out-dir", two, "--name", "ppo2")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(f"{two}/ppo2_summary.json") as f:
        summary = json.load(f)
    last, logged = summary["last_rollout"], summary["log"][-1]
    assert len(last["response_ids"]) == len(last["prompts"]) == 8   # the whole batch: 4 answers from each process
    assert logged["score"] == pytest.approx(sum(last["scores"]) / 8, abs=1e-5)
    assert logged["kl"] == pytest.approx(sum(last["kl"]) / 8, abs=1e-5)
    # and those are the reward model's scores of both processes' answers (less 1 where no EOS came)
    reward_model, tokenizer, _ = load_checkpoint(f"{two}/rm.pt")
    for prompt, ids, score, ended in zip(last["prompts"], last["response_ids"], last["scores"], last["ended"]):
        sequence = torch.tensor([encode_prompt(tokenizer, prompt) + ids])
        rescored = reward_model(sequence, torch.ones_like(sequence)).item() - (1.0 - ended)
        assert rescored == pytest.approx(score, abs=1e-4)


def test_dpo_and_grpo_run_on_two_processes_and_only_rank_0_saves(one_and_two):
    _, two = one_and_two
    for script, name in (("train_dpo.py", "dpo2"), ("train_grpo.py", "grpo2")):
        result = torchrun(script, *SMALL, *FEW_PROMPTS, "--out-dir", two, "--name", name)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "x 2 processes" in result.stdout and result.stdout.count("saved ") == 1
    assert os.path.exists(f"{two}/dpo2.pt") and os.path.exists(f"{two}/grpo2.pt")
