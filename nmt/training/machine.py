"""What machine produced a number: recipes record it beside every score and speed.

A BLEU score or a tokens/s figure means little without the hardware behind it, so results files
carry the CPU model, the vector instructions torch dispatches to, the cores and threads used,
and the GPU when one trained the model.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import torch

from nmt.training.precision import cpu_capability


@dataclass
class Machine:
    cpu: str  # model name, e.g. "AMD EPYC" (from /proc/cpuinfo where there is one)
    cpu_capability: str  # torch.backends.cpu.get_cpu_capability(), plus native-bf16 flags
    cores: int  # logical cores this process may use
    threads: int  # torch intra-op threads
    gpu: Optional[str]  # CUDA device name, None when training ran on the CPU
    torch: str
    python: str

    def describe(self) -> str:
        """One line for logs and README tables."""
        where = f"GPU {self.gpu}" if self.gpu else f"{self.cores} cores, {self.threads} threads"
        return f"{self.cpu} ({self.cpu_capability}), {where}; torch {self.torch}"

    def to_json(self) -> dict:
        return asdict(self)


def cpu_model() -> str:
    """The CPU's marketing name; platform.processor() is often empty or just "x86_64" on Linux."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def describe_machine(gpu: bool = False) -> Machine:
    """This machine; `gpu`: the computation ran on CUDA device 0 (its name is recorded)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    name = torch.cuda.get_device_name(0) if gpu and torch.cuda.is_available() else None
    return Machine(cpu_model(), cpu_capability(), cores, torch.get_num_threads(), name,
                   torch.__version__, platform.python_version())
