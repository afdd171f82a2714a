"""The daemon's signals: a stop, a second interrupt, a reload."""

from __future__ import annotations

import asyncio
import signal

from vmsd.core.log import get_logger

log = get_logger("vmsd.daemon")  # the daemon's stop and reload: its events keep that logger


def install_signal_handlers(stop: asyncio.Event, reload: asyncio.Event) -> None:
    """SIGTERM and SIGINT set `stop`; a second SIGINT cancels the task running this (the
    daemon's), skipping to cancellation. SIGHUP sets `reload`."""
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    interrupts = 0

    def on_stop_signal(signame: str) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1 and signame == "SIGINT":
            log.warning("second_interrupt_cancelling")
            main_task.cancel()
            return
        log.info("stop_requested", signal=signame)
        stop.set()

    loop.add_signal_handler(signal.SIGTERM, on_stop_signal, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, on_stop_signal, "SIGINT")
    loop.add_signal_handler(signal.SIGHUP, reload.set)
