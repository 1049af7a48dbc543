"""Training in worker processes, one per lane, so training never holds the server's GIL and the lanes of
a run train in parallel on the machine's cores.

Threads in the server process would share one GIL with the event loop: while 4 runs train, a health
check waits for the GIL behind them (measured p99 60-110 ms on 2 busy cores). A worker process has its
own interpreter, runs at a lower OS priority (``worker_nice``) and only computes when asked:

    parent (Run's relay thread)             worker process (``serve``), one per lane
    LaneWorker(config, record_every)   ->   builds the lane's trainer; ``wait_ready()`` gets ("ready",)
    worker.request() ... worker.reply()->   one training step, answered with
                                            ("step", step, payload) | ("end", status, step, reason, last)
    close_all(workers) / terminate()   ->   exit (terminate: at once, mid-step)

The parent asks each lane for one step at a time (``request`` to every active lane, then their replies
in lane order), so it decides when to pause (no client) and cancel (DELETE), a worker never computes
more than the one step it was asked for, and the lanes' steps of one round run at the same time.
``payload`` is the `step` event's JSON, serialized in the worker (the heavy part of an event) and sent
on the wire unchanged.

Processes are forked from a forkserver that has NumPy and rnncore imported already (~10 ms per lane
instead of ~500 ms for a fresh interpreter); ``warm_up()`` starts it when the service starts.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import multiprocessing
import multiprocessing.context
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import spawn
from multiprocessing.connection import Connection


class _WorkerProcess(multiprocessing.context.ForkServerProcess):
    """A forkserver process named ``rnnlab-...``, so ``_preparation_data`` knows it is ours."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.name.startswith("rnnlab-"):
            self.name = f"rnnlab-{self.name}"


class _WorkerContext(multiprocessing.context.ForkServerContext):
    Process = _WorkerProcess


_parent_preparation_data = spawn.get_preparation_data


def _preparation_data(name: str) -> dict:
    """Our workers never re-import the parent's ``__main__`` (multiprocessing's default): it may be
    ``<stdin>``, a notebook, or a script that starts a server when imported."""
    data = _parent_preparation_data(name)
    if name.startswith("rnnlab-"):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


spawn.get_preparation_data = _preparation_data
_CONTEXT = _WorkerContext()
# what serve() and the engine pool's calls import (the loss surface's module, app.routers.cliff, brings FastAPI:
# ~0.2 s in each new pool process otherwise)
_CONTEXT.set_forkserver_preload(["numpy", "rnncore", "app.runs", "app.blas", "app.routers.cliff"])


def _ignore_interrupts() -> None:
    """Ctrl-C in a terminal signals the whole process group: a worker would end on its own KeyboardInterrupt
    (and its run blame a dead lane) before the server cancels the runs. The server stops its workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
log = logging.getLogger("rnnlab")


class WorkerGone(RuntimeError):
    """The worker process of lane ``lane`` exited (terminated on cancel, or crashed); the message says how."""

    def __init__(self, lane: int, how: str):
        super().__init__(f"the lane's worker process {how}")
        self.lane = lane
        self.how = how  # "was killed (signal 9, SIGKILL: e.g. out of memory)"


REAP_SECONDS = 2.0
"""How long a worker whose pipe closed is given to be reaped, so that its exit code is known: the pipe closes as
the process dies, a moment before the OS has its exit status (read at once, it was "exit code None")."""


def how_it_exited(exitcode: int | None) -> str:
    """A worker process's end in words: "was killed (signal 9, SIGKILL: e.g. out of memory)", "exited with code 1"."""
    if exitcode is None:
        return "stopped answering (its pipe closed; the process had not exited)"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        cause = {signal.SIGKILL: ": e.g. out of memory", signal.SIGSEGV: ": a crash in native code",
                 signal.SIGTERM: ": stopped from outside"}.get(-exitcode, "")
        return f"was killed (signal {-exitcode}, {name}{cause})"
    return f"exited with code {exitcode}"


def serve(conn: Connection, lane: dict, record_every: int, blas_threads: int, nice: int) -> None:
    """The worker process's main loop: one training step of its lane per request, until asked to stop."""
    from app.blas import limit_blas_threads
    from app.runs import arrays_to_json, step_to_json
    from rnncore import Config, train

    _ignore_interrupts()
    if nice:
        try:
            os.nice(nice)  # lower priority than the server process, which answers requests
        except OSError:
            pass
    limit_blas_threads(blas_threads)
    try:
        trainer = train(Config(**lane), record_every=record_every)
        records = iter(trainer)
        conn.send(("ready",))
        while (index := conn.recv()) is not None:  # the lane's index in its run: it labels the events
            try:
                record = next(records)
            except StopIteration:
                last = None
                if trainer.last_arrays is not None:  # diverged: the explosion, the step before it
                    last = {"step": trainer.last_arrays[0], "arrays": arrays_to_json(trainer.last_arrays[1])}
                conn.send(("end", trainer.status, trainer.diverged_at, trainer.diverged_reason, last))
                continue
            payload = json.dumps(step_to_json(index, record), separators=(",", ":"), allow_nan=False)
            conn.send(("step", int(record.step), payload.encode()))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):  # the parent went away
        return
    except Exception as exc:  # an engine bug: tell the parent, which ends the run cleanly
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class LaneWorker:
    """Parent side of one lane: starts its worker process (without waiting for it) and asks it for steps."""

    def __init__(self, index: int, lane: dict, record_every: int, blas_threads: int = 1, nice: int = 10):
        self.index = index
        self._conn, child_conn = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=serve, name=f"rnnlab-lane-{index}", daemon=True,
                                        args=(child_conn, lane, record_every, blas_threads, nice))
        self.process.start()
        child_conn.close()  # the parent keeps one end: recv() raises EOFError when the worker exits

    def _recv(self) -> tuple:
        try:
            reply = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise self._gone() from exc
        if reply[0] == "error":
            raise RuntimeError(f"worker: {reply[1]}")
        return reply

    def wait_ready(self) -> None:
        """Block until the lane's trainer is built (its initial weights, first SVD, ...)."""
        reply = self._recv()
        if reply[0] != "ready":
            raise RuntimeError(f"worker answered {reply[0]!r}, expected 'ready'")

    def request(self) -> None:
        """Ask for the lane's next training step; :meth:`reply` collects it."""
        try:
            self._conn.send(self.index)
        except (OSError, ValueError) as exc:
            raise self._gone() from exc

    def _gone(self) -> WorkerGone:
        self.process.join(REAP_SECONDS)  # its exit status (the pipe closes a moment before it is known)
        return WorkerGone(self.index, how_it_exited(self.process.exitcode))

    def reply(self) -> tuple:
        """The requested step: ("step", step, payload bytes) or ("end", status, step, reason, last)."""
        return self._recv()

    def step(self) -> tuple:
        """:meth:`request` and :meth:`reply` in one call."""
        self.request()
        return self.reply()

    def terminate(self) -> None:
        """Stop at once, even mid-step (cancel, shutdown). Safe from any thread, any number of times."""
        if self.process.is_alive():
            self.process.terminate()

    def close(self, timeout: float = 2.0) -> None:
        """Ask the worker to exit, wait for it (kill it if it does not), release the pipe."""
        close_all([self], timeout)


def close_all(workers: list[LaneWorker], timeout: float = 2.0) -> None:
    """Ask every worker to exit, then wait for each (all exit at once: one timeout, not one per lane)."""
    for worker in workers:
        try:
            worker._conn.send(None)
        except (OSError, ValueError):
            pass
    for worker in workers:
        worker.process.join(timeout)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout)
        worker._conn.close()


# --- one-off engine calls (POST /api/profile, /api/gradcheck) -----------------------------------------
def _init_pool_process(blas_threads: int, nice: int) -> None:
    from app.blas import limit_blas_threads

    _ignore_interrupts()
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass
    limit_blas_threads(blas_threads)


def profile_payload(lane: dict) -> dict:
    """``rnncore.profile`` as the JSON of a `step` event (computed in a pool process)."""
    import rnncore
    from app.runs import step_to_json

    return step_to_json(0, rnncore.profile(rnncore.Config(**lane)))


class ClientGone(Exception):
    """The client of an engine call disconnected before its result."""


class EngineCrashed(RuntimeError):
    """A pool process died (OOM killer, a crash) computing the call, and again computing its one retry."""


DISCONNECT_POLL_SECONDS = 0.2  # how often a waiting engine call looks whether its client is still there


class EnginePool:
    """A small pool of worker processes for one-off engine calls, so they do not hold the server's GIL.

    A call is handed to the pool only when a process is free: calls wait here, in order, where a call whose
    client has gone can still be dropped (the executor's own queue marks the calls it holds as running, and
    those can no longer be cancelled).

    A process that dies breaks the whole executor (every call in it fails, every later submit too): it is then
    replaced by a fresh one and the calls it failed are retried once, on the new one, one retry at a time: a
    process that dies during a retry died of that call, so one call that kills its process each time (a lane
    the OOM killer takes) is the only one to fail, not every call that was computing beside it.

    After :meth:`shutdown` the pool is never replaced: a call still waiting, or whose process dies, raises
    EngineCrashed."""

    def __init__(self, processes: int = 1, blas_threads: int = 1, nice: int = 10):
        self._new_pool = functools.partial(ProcessPoolExecutor, max_workers=processes, mp_context=_CONTEXT,
                                           initializer=_init_pool_process, initargs=(blas_threads, nice))
        self._pool = self._new_pool()
        self._free = asyncio.Semaphore(processes)
        self._retry = asyncio.Lock()  # held by the one retry being computed
        self._closed = False
        self.waiting = 0  # calls waiting for a free process
        self.computing = 0  # calls holding a process: computing, or waiting for their retry's turn
        self.dropped = 0  # calls whose client left while they waited
        self.restarts = 0  # broken executors replaced

    async def call(self, fn, *args, request=None):
        """``fn(*args)`` in a pool process. With ``request`` (a Starlette Request), a call still waiting for a
        process when its client disconnects is dropped and ClientGone raised (one computing runs to its end):
        the page aborts outdated previews, which otherwise all computed, one after another."""
        self.waiting += 1
        turn = asyncio.ensure_future(self._free.acquire())  # keeps its place in line while we look at the client
        try:
            while not (await asyncio.wait({turn}, timeout=DISCONNECT_POLL_SECONDS))[0]:
                if request is not None and await request.is_disconnected():
                    self.dropped += 1
                    raise ClientGone
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._free.release()
            turn.cancel()  # a granted acquire that is cancelled gives its slot back itself
            raise
        finally:
            self.waiting -= 1
        self.computing += 1
        try:
            try:
                return await self._submit(fn, *args)
            except BrokenProcessPool:  # maybe another call's process that died: an engine call is safe to repeat
                if request is not None and await request.is_disconnected():
                    raise ClientGone from None
            # Only once: a call that kills its process each time must not loop. One retry at a time: the calls
            # that failed together retry one after another, so a crash now is this call's, not a neighbour's.
            async with self._retry:
                if request is not None and await request.is_disconnected():
                    raise ClientGone
                try:
                    return await self._submit(fn, *args)
                except BrokenProcessPool as exc:
                    raise EngineCrashed("a pool process exited computing the call and its retry") from exc
        finally:
            self.computing -= 1
            self._free.release()

    async def _submit(self, fn, *args):
        if self._closed:
            raise EngineCrashed("the engine was shut down")
        pool = self._pool
        try:
            return await asyncio.wrap_future(pool.submit(fn, *args))
        except BrokenProcessPool as exc:
            if self._closed:  # broken during shutdown: never a new pool, nothing would shut it down
                raise EngineCrashed("a pool process exited while the engine was shut down") from exc
            if pool is self._pool:  # the first call to see it broken replaces it; the others just retry
                self._pool = self._new_pool()
                self.restarts += 1
                log.warning("a process of the engine pool exited abruptly (killed, out of memory?); pool restarted")
                # the executor has terminated its other processes already; joining them takes a few ms
                await asyncio.to_thread(pool.shutdown)
            raise

    def shutdown(self) -> None:
        """Shut the pool down for good (the lifespan's end); calls still waiting or retrying raise EngineCrashed."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)  # wait=False leaves a noisy atexit hook


def warm_up() -> None:
    """Start the forkserver (it imports NumPy and rnncore once) so the first run starts fast."""
    from multiprocessing import forkserver

    forkserver.ensure_running()
