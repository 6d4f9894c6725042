"""Choose numeric precision from the hardware, never blindly.

On CPUs without native bf16 (AVX2 only) torch runs bf16 matmuls 10-50x slower than fp32 and
`nn.LSTM` under bf16 autocast fails inside oneDNN, so `auto` means bf16-mixed only where the
hardware has it (AVX-512 bf16 or AMX on CPU, bf16-capable GPUs) and the LSTM kernel actually runs.
"""

from __future__ import annotations

import functools
import warnings

import torch

from nmt.errors import ConfigError


def cpu_capability() -> str:
    """What torch's CPU dispatch uses (AVX2, AVX512, ...), plus native-bf16 flags."""
    flags = []
    if _cpu_has("_is_avx512_bf16_supported"):
        flags.append("avx512_bf16")
    if _cpu_has("_is_amx_tile_supported"):
        flags.append("amx")
    capability = torch.backends.cpu.get_cpu_capability()
    return capability + (f" ({', '.join(flags)})" if flags else "")


def _cpu_has(probe: str) -> bool:
    check = getattr(torch.cpu, probe, None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def native_bf16(device_type: str) -> bool:
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return _cpu_has("_is_avx512_bf16_supported") or _cpu_has("_is_amx_tile_supported")


@functools.lru_cache(maxsize=None)
def lstm_runs_in_bf16(device_type: str) -> bool:
    """Probe a tiny LSTM forward/backward under bf16 autocast on this device.

    It draws from forked random generators: the training's random stream (model initialisation,
    dropout) is the same whether or not, and when, the probe ran in this process."""
    devices = [torch.cuda.current_device()] if device_type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        try:
            lstm = torch.nn.LSTM(8, 8, batch_first=True).to(device_type)
            x = torch.randn(2, 3, 8, device=device_type)
            with torch.autocast(device_type, dtype=torch.bfloat16):
                out, _ = lstm(x)
            out.float().sum().backward()
            return True
        except RuntimeError:
            return False


def resolve_precision(requested: str, device_type: str) -> str:
    """`auto` -> `bf16-mixed` where native and working, else `32`; explicit bf16 is checked."""
    if requested == "32":
        return "32"
    usable = native_bf16(device_type) and lstm_runs_in_bf16(device_type)
    if requested == "auto":
        return "bf16-mixed" if usable else "32"
    if not lstm_runs_in_bf16(device_type):
        raise ConfigError(
            f"train.precision: bf16-mixed does not run nn.LSTM on this {device_type} "
            f"({cpu_capability() if device_type == 'cpu' else 'GPU'}); use 32 or auto"
        )
    if not native_bf16(device_type):
        warnings.warn(f"bf16 is emulated on this {device_type} and may be much slower than fp32")
    return requested
