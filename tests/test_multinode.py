"""Training across nodes: `train.num_nodes` machines of `train.devices` processes, under torchrun.

In-process: a Trainer built as either node of two (torchrun's environment; no process group)
gives the data module the global rank and the world size across nodes, and the token-budget
sampler splits every epoch evenly and disjointly between them; a launch whose size does not
match `num_nodes x devices` stops before writing anything; processes that disagree about
resuming all stop (the decision logic, with the all-reduce's answers given).

In subprocesses (slow): two torchrun nodes of one CPU process each on 127.0.0.1 (gloo), launched
as a user would, sharing the run directory and the data cache as nodes on a shared filesystem
do. A probe callback (PROBE below: `nmt train`'s own `main` plus one callback) records on each
rank what it trained on and a digest of its final weights. Checked: both ranks end with identical
weights, which are those of the checkpoint rank zero wrote; each epoch's batches are split
evenly and disjointly; a rerun with a larger `train.max_steps` resumes on both ranks from the
shared `last.ckpt` and continues the step count.
"""

from __future__ import annotations

import builtins
import contextlib
import csv
import hashlib
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from nmt.config import Config
from nmt.data.datamodule import TranslationDataModule
from nmt.errors import ConfigError
from nmt.training.run import RunPaths, SameStart, build_trainer, train
from tests.test_train import tiny_run_config

# ----------------------------------------------------------------------------- in-process


def torchrun_environment(monkeypatch, node_rank: int, nodes: int = 2) -> None:
    """What torchrun sets for the one worker of node `node_rank` (one process per node)."""
    for name, value in {"TORCHELASTIC_RUN_ID": "test", "RANK": node_rank, "GROUP_RANK": node_rank,
                        "LOCAL_RANK": 0, "LOCAL_WORLD_SIZE": 1, "WORLD_SIZE": nodes,
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": 29500}.items():
        monkeypatch.setenv(name, str(value))
    # a DDP Trainer sets Lightning's process-wide rank (it silences rank_zero_* output on other
    # ranks); the tests after this one run as rank zero again
    monkeypatch.setattr(rank_zero_only, "rank", rank_zero_only.rank)


def node_trainer(monkeypatch, tmp_path: Path, config: Config, node_rank: int):
    torchrun_environment(monkeypatch, node_rank)
    trainer, _ = build_trainer(config, RunPaths(tmp_path / "runs" / "toy"))
    return trainer


def test_ranks_and_world_size_span_the_nodes(monkeypatch, tmp_path, data_config):
    config = Config.model_validate({"data": data_config.model_dump(mode="json"),
                                    "train": {"accelerator": "cpu", "devices": 1, "num_nodes": 2, "precision": "32"}})
    module = TranslationDataModule(data_config, verbose=False)
    module.prepare_data()
    module.setup("fit")
    shares = []
    for node in (0, 1):
        trainer = node_trainer(monkeypatch, tmp_path, config, node)
        assert (trainer.num_nodes, trainer.node_rank, trainer.global_rank, trainer.world_size) == (2, node, node, 2)
        module.trainer = trainer
        sampler = module.train_dataloader().sampler
        assert (sampler.rank, sampler.num_replicas) == (node, 2)
        shares.append(sampler)
    assert len(shares[0]) == len(shares[1]) > 0
    for epoch in range(3):
        rows = [[row for batch in sampler.batches(epoch) for row in batch.tolist()] for sampler in shares]
        assert not set(rows[0]) & set(rows[1])
        assert sorted(rows[0] + rows[1]) == list(range(300)), f"epoch {epoch}: every pair once across the nodes"


def test_a_launch_that_does_not_match_num_nodes_times_devices_stops_before_writing(monkeypatch, tmp_path, data_config):
    """Without num_nodes every torchrun node would train alone as rank zero of its own run."""
    config = Config.model_validate({"data": data_config.model_dump(mode="json"),
                                    "train": {"accelerator": "cpu", "devices": 1, "precision": "32"}})
    torchrun_environment(monkeypatch, node_rank=1)
    paths = RunPaths(tmp_path / "runs" / "toy")
    with pytest.raises(ConfigError, match=r"one of 2 \(WORLD_SIZE\) but train.num_nodes x train.devices is 1 x 1"):
        train(config, paths)
    assert not paths.root.exists()


@pytest.mark.parametrize("resuming", [(True, True), (False, False), (True, False)])
def test_processes_that_disagree_about_resuming_stop_together(tmp_path, resuming):
    """A node that cannot see the run directory's last.ckpt (or was given --fresh) would start at
    step 0 while the others resume: every rank raises, none is left waiting in an all-reduce."""
    last = tmp_path / "checkpoints" / "last.ckpt"

    def reduce_boolean_decision(decision: bool, all: bool = True) -> bool:  # the all-reduce's answer on every rank
        return builtins.all(resuming) if all else any(resuming)

    trainer = SimpleNamespace(world_size=2, strategy=SimpleNamespace(reduce_boolean_decision=reduce_boolean_decision))
    for resumes in resuming:
        check = SameStart(last if resumes else None, last)
        if len(set(resuming)) == 1:
            check.setup(trainer, None, "fit")
        else:
            with pytest.raises(ConfigError, match="some of the 2 processes resume from it and some start afresh"):
                check.setup(trainer, None, "fit")


# ----------------------------------------------------------------------------- two nodes, two processes


def weights_digest(state: dict) -> str:
    """sha256 of a state dict: names and raw bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# `nmt train`'s main with one more callback: each rank writes probe-from<first step>-rank<R>.json
# beside this script when training ends (the batches it trained on, by epoch, and its weights)
PROBE = f'''
import hashlib, json, sys
from pathlib import Path

import lightning as L
import torch

from nmt.commands import train as command
from nmt.commands.main import main

{inspect.getsource(weights_digest)}

class Probe(L.Callback):
    def on_train_start(self, trainer, module):
        sampler = trainer.train_dataloader.sampler
        self.seen = dict(rank=trainer.global_rank, world_size=trainer.world_size, node=trainer.node_rank,
                         sampler=[sampler.rank, sampler.num_replicas], batches_per_epoch=len(sampler),
                         start_step=trainer.global_step, batches={{}})

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.seen["batches"].setdefault(str(trainer.current_epoch), []).append(batch.index.tolist())

    def on_train_end(self, trainer, module):
        self.seen.update(end_step=trainer.global_step, digest=weights_digest(module.state_dict()))
        name = f"probe-from{{self.seen['start_step']}}-rank{{trainer.global_rank}}.json"
        Path(__file__).with_name(name).write_text(json.dumps(self.seen))

train = command.train
command.train = lambda *args, **kwargs: train(*args, **kwargs, callbacks=[Probe()])
sys.exit(main(sys.argv[1:]))
'''

NODE_TIMEOUT = 300  # seconds for a whole two-node run; a passing one takes about 15 under load


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NodeRun:
    """One `torchrun` per node, its output in files (a full pipe would stall its node and so
    the other one, which waits for it in every all-reduce)."""

    def __init__(self, node: int, returncode: int, out: Path, err: Path):
        self.node, self.returncode = node, returncode
        self.stdout = out.read_text(encoding="utf-8", errors="replace")
        self.stderr = err.read_text(encoding="utf-8", errors="replace")

    def __repr__(self) -> str:  # what a failed assertion shows
        return f"node {self.node}: exit {self.returncode}\n{self.stderr[-3000:]}"


def stop(proc: subprocess.Popen) -> None:
    """End a torchrun still running (waiting for a node that failed): SIGTERM, on which it ends
    its worker, then SIGKILL for both if that takes more than a minute (the worker runs in a
    session of its own)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        workers = children.read_text().split() if children.exists() else []
        for pid in [proc.pid, *map(int, workers)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


def run_two_nodes(workdir: Path, tag: str, command: list[str]) -> list[NodeRun]:
    """`torchrun --nnodes 2 --nproc-per-node 1 --node-rank N ... COMMAND` for N = 0 and 1 on this
    machine; waits for both (after one failed, the other gets a minute to fail too)."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # torchrun sets it only for several processes per node
    procs, files = [], []
    for node in (0, 1):
        out, err = workdir / f"{tag}-node{node}.out", workdir / f"{tag}-node{node}.err"
        files.append((out, err))
        with open(out, "w") as stdout, open(err, "w") as stderr:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                 "--node-rank", str(node), "--master-addr", "127.0.0.1", "--master-port", str(port),
                 *command],
                cwd=workdir, env=env, stdout=stdout, stderr=stderr))
    pool = ThreadPoolExecutor(len(procs))
    try:
        pending = {pool.submit(proc.wait) for proc in procs}
        _, pending = wait(pending, timeout=NODE_TIMEOUT, return_when=FIRST_COMPLETED)
        failed = any(proc.returncode not in (None, 0) for proc in procs)
        wait(pending, timeout=60 if failed else NODE_TIMEOUT)
    finally:
        for proc in procs:
            stop(proc)
        pool.shutdown()
    return [NodeRun(node, proc.returncode, *files[node]) for node, proc in enumerate(procs)]


def probes(workdir: Path, start_step: int) -> list[dict]:
    found = [json.loads((workdir / f"probe-from{start_step}-rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [(p["rank"], p["node"], p["world_size"], p["sampler"]) for p in found] == [(0, 0, 2, [0, 2]), (1, 1, 2, [1, 2])]
    return found


def checkpoint_step_and_digest(run_dir: Path) -> tuple[int, str]:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return checkpoint["global_step"], weights_digest(checkpoint["state_dict"])


def logged_steps(run_dir: Path) -> dict[int, set[int]]:
    """version -> the steps its metrics.csv logged train/loss at."""
    logged = {}
    for path in (run_dir / "logs").glob("version_*/metrics.csv"):
        with open(path, newline="") as handle:
            logged[int(path.parent.name.split("_")[1])] = {int(row["step"]) for row in csv.DictReader(handle)
                                                           if row.get("train/loss")}
    return logged


def assert_even_disjoint_split(ranks: list[list[list[int]]], pairs: int, batches: int) -> None:
    """The batches two ranks trained on in (part of) one epoch: `batches` on each, and no pair on
    both or twice."""
    assert [len(rank) for rank in ranks] == [batches, batches]
    rows = [[row for batch in rank for row in batch] for rank in ranks]
    assert len(set(rows[0] + rows[1])) == len(rows[0]) + len(rows[1])
    assert set(rows[0] + rows[1]) <= set(range(pairs))


@pytest.mark.slow
def test_two_nodes_train_in_lockstep_and_resume_from_the_shared_run_directory(tmp_path):
    # 240 pairs at 300 tokens: 10 batches per rank and epoch; 13 steps end 3 batches into epoch 1
    config = tiny_run_config(tmp_path, val_bleu=False, precision="32")
    pairs = len((tmp_path / "corpus" / "train.de").read_text(encoding="utf-8").splitlines())
    script = tmp_path / "probe.py"
    script.write_text(PROBE, encoding="utf-8")
    run_dir = tmp_path / "runs" / "toy"
    train = [str(script), "train", "--config", str(config), "train.accelerator=cpu", "train.devices=1",
             "train.num_nodes=2"]

    first = run_two_nodes(tmp_path, "first", [*train, "train.max_steps=13"])
    assert [node.returncode for node in first] == [0, 0], first
    assert first[0].stdout.count("trained 13 steps") == 1 and "trained" not in first[1].stdout  # rank zero reports
    ranks = probes(tmp_path, 0)
    assert [rank["batches_per_epoch"] for rank in ranks] == [10, 10]
    assert sorted(ranks[0]["batches"]) == sorted(ranks[1]["batches"]) == ["0", "1"]
    assert_even_disjoint_split([rank["batches"]["0"] for rank in ranks], pairs, 10)
    assert sorted(row for rank in ranks for batch in rank["batches"]["0"] for row in batch) == list(range(pairs))
    assert_even_disjoint_split([rank["batches"]["1"] for rank in ranks], pairs, 3)
    assert ranks[0]["digest"] == ranks[1]["digest"] == checkpoint_step_and_digest(run_dir)[1]
    assert checkpoint_step_and_digest(run_dir)[0] == 13
    assert (run_dir / "export" / "model.safetensors").is_file()
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "config.yaml", "export", "logs"]

    second = run_two_nodes(tmp_path, "second", [*train, "train.max_steps=20"])
    assert [node.returncode for node in second] == [0, 0], second
    assert second[0].stdout.count("trained 20 steps") == 1
    resumed = probes(tmp_path, 13)
    assert [rank["start_step"] for rank in resumed] == [13, 13]  # both ranks continued, neither restarted
    assert resumed[0]["digest"] == resumed[1]["digest"] == checkpoint_step_and_digest(run_dir)[1]
    assert checkpoint_step_and_digest(run_dir)[0] == 20
    # Lightning counts the epoch that max_steps cut short as finished: the rerun starts the next one
    (epoch,) = resumed[0]["batches"]
    assert list(resumed[1]["batches"]) == [epoch]
    assert_even_disjoint_split([rank["batches"][epoch] for rank in resumed], pairs, 7)
    assert logged_steps(run_dir) == {0: set(range(13)), 1: set(range(13, 20))}
