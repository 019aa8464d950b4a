"""Tasks the API layer runs beside the requests (the trace writer, webhook pushers, the overview's sampler):
one way to stop them."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def stop_task(task: asyncio.Task | None) -> None:
    """Cancel `task` and wait for it; a failure it ended with is logged (stopping: it no longer matters)."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception as error:  # noqa: BLE001 - stopping: the task's failure no longer matters
        log.debug("%s ended with %r", task.get_name(), error)
