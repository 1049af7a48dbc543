"""The SSE response of one run: replays the event log from an id, then follows it live.

Client bookkeeping is explicit: ``__call__`` attaches to the run before streaming and detaches in its
``finally`` as soon as the client disconnects (we always listen for ``http.disconnect``, whatever ASGI
spec version the server announces), never from a generator's ``finally`` that may run only at GC.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable, Iterator

import anyio
from fastapi.responses import StreamingResponse
from fastapi.sse import EventSourceResponse
from starlette.requests import ClientDisconnect

from app.runs import Run

RETRY_MS = 2000  # how long a browser EventSource waits before it reconnects with Last-Event-ID
PING = b": ping\n\n"
CHUNK_BYTES = 1 << 20
"""Most bytes of stored events joined into one write: a client replaying a long run (a valid 4-lane run can log
77 MB of events) costs the server about this much at a time, not a copy of the whole log (uvicorn waits for
a slow client to drain its socket before the next write)."""


def batches(frames: Iterable[bytes], limit: int | None = None) -> Iterator[bytes]:
    """``frames`` joined into consecutive byte strings of at most ``limit`` (:data:`CHUNK_BYTES`) bytes, or one
    frame alone where a frame is larger."""
    limit = CHUNK_BYTES if limit is None else limit
    batch: list[bytes] = []
    size = 0
    for frame in frames:
        if batch and size + len(frame) > limit:
            yield b"".join(batch)
            batch, size = [], 0
        batch.append(frame)
        size += len(frame)
    if batch:
        yield b"".join(batch)


STREAMS_RETRY_SECONDS = 2
"""Retry-After of a 429 for too many open streams: they end as their clients finish or leave."""


class TooManyStreams(RuntimeError):
    def __init__(self, message: str, open_streams: int, limit: int):
        super().__init__(message)
        self.open, self.limit = open_streams, limit


class StreamSlots:
    """The responses that send a run's stored events (event streams, GET /api/runs/{id} with its history,
    exports) open at once, at most ``limit`` (``RNNLAB_MAX_STREAMS``).

    Each costs ~3 MB while its client drains a long run's replay (a :data:`CHUNK_BYTES` write, the list of
    stored events, socket buffers), so without a limit the server's memory grew with the number of clients: 500
    stalled replays of a 78 MB run took it from 148 to 1318 MB. A client that reads nothing for
    ``stream_stall_seconds`` loses its slot (:func:`bounded`). Thread-safe: the export routes run in the thread
    pool."""

    def __init__(self, limit: int):
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()

    def take(self) -> StreamSlot:
        """A slot for one response, released when it ends (:meth:`StreamSlot.release`); TooManyStreams when all
        are taken."""
        with self._lock:
            if self.open >= self.limit:
                raise TooManyStreams(f"{self.open} event streams and downloads are open, the limit is {self.limit} "
                                     f"(RNNLAB_MAX_STREAMS); retry in {STREAMS_RETRY_SECONDS} seconds", self.open,
                                     self.limit)
            self.open += 1
        return StreamSlot(self)

    def _give_back(self) -> None:
        with self._lock:
            self.open -= 1


def bounded(send, seconds: float):
    """``send`` that raises TimeoutError (an OSError, as a gone client's socket raises) when one message waits
    longer than ``seconds`` for the client to drain what was sent before: a client that stopped reading."""
    async def send_within(message) -> None:
        with anyio.fail_after(seconds):
            await send(message)
    return send_within


class StreamSlot:
    def __init__(self, slots: StreamSlots):
        self._slots: StreamSlots | None = slots

    def release(self) -> None:
        """Idempotent."""
        slots, self._slots = self._slots, None
        if slots is not None:
            slots._give_back()


class SlottedStreamingResponse(StreamingResponse):
    """A StreamingResponse that holds a :class:`StreamSlot` until it has been sent or its client has gone."""

    def __init__(self, content, slot: StreamSlot, stall_seconds: float, **kwargs):
        self.slot = slot
        self.stall_seconds = stall_seconds
        super().__init__(content, **kwargs)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, bounded(send, self.stall_seconds))
        except* (ClientDisconnect, TimeoutError, ConnectionError):  # gone, or stalled past stall_seconds: nobody
            pass  # to answer (except*: Starlette may raise it inside an ExceptionGroup from its task group)
        finally:
            self.slot.release()


class RunEventStream(EventSourceResponse):
    def __init__(self, run: Run, start_id: int, ping_seconds: float, slot: StreamSlot, stall_seconds: float):
        self.run = run
        self.slot = slot
        self.stall_seconds = stall_seconds
        self.start_id = start_id
        self.ping_seconds = ping_seconds
        self.wake = asyncio.Event()
        super().__init__(self._events(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _events(self) -> AsyncIterator[bytes]:
        yield f"retry: {RETRY_MS}\n\n".encode()
        cursor = self.start_id
        while True:
            self.wake.clear()  # before reading: a frame appended after the read sets it again
            frames, complete = self.run.frames_from(cursor)
            if frames:
                cursor += len(frames)
                for chunk in batches(frames):
                    yield chunk
                continue
            if complete:
                return
            try:
                await asyncio.wait_for(self.wake.wait(), self.ping_seconds)
            except TimeoutError:
                yield PING

    async def __call__(self, scope, receive, send) -> None:
        loop = asyncio.get_running_loop()
        self.run.attach(loop, self.wake)
        try:
            async with anyio.create_task_group() as group:
                async def stream_then_stop() -> None:
                    await self.stream_response(bounded(send, self.stall_seconds))
                    group.cancel_scope.cancel()

                group.start_soon(stream_then_stop)
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()
        except* (TimeoutError, ConnectionError):  # the socket went away mid-send, or the client stopped reading
            pass  # (bounded); except*: raised inside the task group, it comes wrapped in an ExceptionGroup
        finally:
            self.run.detach(loop, self.wake)
            self.slot.release()
            await self.body_iterator.aclose()
