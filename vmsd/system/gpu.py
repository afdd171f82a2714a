"""GPU statistics behind one interface: NVML (nvidia-ml-py) when an NVIDIA driver is present,
otherwise an empty report with the reason. Calls block; the sampler runs them in its thread.

A box without the driver is the normal case: NVML is initialised once, and a failure is
remembered (no retry per sample — the library load is what fails, and it does not appear
without a restart).
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any, Protocol

import pynvml

from vmsd.system.model import GpuReport, GpuStats

DISABLED_REASON = "GPU statistics are off (system.gpu: false)"


class GpuProvider(Protocol):
    def read(self) -> GpuReport: ...

    def close(self) -> None: ...


class NoGpus:
    def __init__(self, reason: str) -> None:
        self._report = GpuReport((), reason)

    def read(self) -> GpuReport:
        return self._report

    def close(self) -> None:
        pass


class NvmlGpus:
    """NVIDIA GPUs through NVML. `nvml` is the pynvml module (injectable for tests)."""

    def __init__(self, nvml: ModuleType | Any = pynvml) -> None:
        self._nvml = nvml
        self._ready = False
        self._failure: str | None = None

    def read(self) -> GpuReport:
        if not self._ready and self._failure is None:
            self._init()
        if self._failure is not None:
            return GpuReport((), self._failure)
        nvml = self._nvml
        try:
            count = nvml.nvmlDeviceGetCount()
            gpus = tuple(self._device(i) for i in range(count))
        except nvml.NVMLError as err:
            return GpuReport((), f"NVML: {err}")
        return GpuReport(gpus, None if gpus else "NVML reports no GPU")

    def close(self) -> None:
        if self._ready:
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
            self._ready = False

    def _init(self) -> None:
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as err:
            self._failure = f"no NVIDIA driver (NVML: {err})"
        else:
            self._ready = True

    def _device(self, index: int) -> GpuStats:
        nvml = self._nvml
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        util = self._optional(nvml.nvmlDeviceGetUtilizationRates, handle)
        memory = self._optional(nvml.nvmlDeviceGetMemoryInfo, handle)
        encoder = self._optional(nvml.nvmlDeviceGetEncoderUtilization, handle)
        decoder = self._optional(nvml.nvmlDeviceGetDecoderUtilization, handle)
        temperature = self._optional(
            nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU
        )
        power_mw = self._optional(nvml.nvmlDeviceGetPowerUsage, handle)
        return GpuStats(
            index=index,
            name=_text(nvml.nvmlDeviceGetName(handle)),
            uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
            utilization_ratio=None if util is None else util.gpu / 100,
            memory_used_bytes=None if memory is None else int(memory.used),
            memory_total_bytes=None if memory is None else int(memory.total),
            # Encoder/decoder: (utilisation %, sampling period in us).
            encoder_utilization_ratio=None if encoder is None else encoder[0] / 100,
            decoder_utilization_ratio=None if decoder is None else decoder[0] / 100,
            temperature_celsius=None if temperature is None else float(temperature),
            power_watts=None if power_mw is None else power_mw / 1000,
        )

    def _optional(self, call: Any, *args: Any) -> Any:
        """A reading the device does not support (consumer cards, vGPUs) is None, not a
        failure of the whole GPU."""
        try:
            return call(*args)
        except self._nvml.NVMLError:
            return None


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def gpu_provider(enabled: bool) -> GpuProvider:
    return NvmlGpus() if enabled else NoGpus(DISABLED_REASON)
