"""Training runs: lanes trained in lockstep, a worker process each, an append-only event log, a bounded store.

A run is 1-4 lanes. Its relay thread asks each lane's worker process (app/worker.py) for one training
step, all active lanes at once (they compute in parallel), and appends one Server-Sent Event per step
to ``Run.frames``, in lane order. Each event is serialized once, as the exact bytes sent on the wire
(``id: n / event: name / data: json``); event ids are the indices into that list, so a client that
resumes with ``Last-Event-ID: n`` is sent ``frames[n + 1:]``: nothing lost, nothing repeated.
The export and ``GET /api/runs/{id}`` parse the same bytes back (the `step` events and each lane's
`lane_done`, its status, step, reason and last arrays), so exported values == streamed values.

Nothing computes for nobody: the relay only asks for a step while at least one SSE client is attached.
With no client it waits ``cancel_grace_seconds`` for one, then cancels the run. ``cancel()`` (DELETE)
sets the flag and terminates the worker processes, so work stops at once (mid-step if need be).
Threads talk to the event loop only through ``loop.call_soon_threadsafe(wake.set)``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import asdict, fields

import numpy as np

from app.blas import limit_blas_threads
from app.labels import lane_labels, shared_settings
from app.schemas import LANE_NAMES, LaneDone
from app.settings import Settings
from app.worker import EnginePool, LaneWorker, WorkerGone, close_all, warm_up
from rnncore import Config, StepRecord, TimestepArrays
from rnncore.tasks import COPY_LENGTH, sequence_length

log = logging.getLogger("rnnlab.runs")

GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # matmuls of size H x H per timestep, relative to the RNN
SCALARS = ("loss", "metric", "grad_norm", "grad_norm_clipped", "sigma_max", "spectral_radius", "gamma")
ARRAY_FIELDS = tuple(f.name for f in fields(TimestepArrays))


SHUTDOWN_REASON = "server shutting down"

# What L is in the limits' formulas (the 422 texts and /api/options say it with these words).
TIMESTEPS = f"L = timesteps unrolled (seq_len, + {2 * COPY_LENGTH} for copy)"


TIMESTEP_OVERHEAD = 1e5
"""A timestep's fixed cost in work units, whatever its matrices' size: the NumPy calls of its forward and
backward step take 7 (RNN) to 36 us (LSTM, GRU) per gate for a one-unit lane, and the large lanes run at about
1e10 work units a second on one core (measured). Without it, 4 lanes of hidden size 1, T = 2000 and 20000
steps counted 6e8 (0.6% of the cap) and took ~17 minutes of CPU each."""


def work_formula(steps: bool = True) -> str:
    """The formula of :func:`work` as the 422 texts and /api/options say it (``steps``: with its factor)."""
    overhead = f"{TIMESTEP_OVERHEAD:.0e}".replace("e+0", "e")
    return f"L{' * steps' if steps else ''} * gates * (hidden_size^2 * batch_size + {overhead})"


def work(cfg: Config, steps: int | None = None) -> float:
    """Cost estimate of a lane: :func:`work_formula`, L = the timesteps unrolled
    (:func:`rnncore.tasks.sequence_length`: seq_len, or seq_len + 20 for copy), gates = :data:`GATES`, and
    :data:`TIMESTEP_OVERHEAD` for what a timestep costs however small it is."""
    per_timestep = cfg.hidden_size**2 * cfg.batch_size + TIMESTEP_OVERHEAD
    return float(sequence_length(cfg)) * (cfg.steps if steps is None else steps) * GATES.get(cfg.cell, 1) \
        * per_timestep


def state_values(cfg: Config) -> float:
    """Activations a training step keeps for backprop (~16-28 bytes each with the diagnostics):
    L * batch_size * hidden_size * gates, L as in :func:`work`."""
    return float(sequence_length(cfg)) * cfg.batch_size * cfg.hidden_size * GATES.get(cfg.cell, 1)


def record_every(cfg: Config, max_arrays_per_lane: int) -> int:
    """Arrays every k steps (and on the last step), so a lane sends at most ~max_arrays_per_lane + 1."""
    return max(1, math.ceil(cfg.steps / max_arrays_per_lane))


def finite_or_none(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def array_to_json(values) -> list:
    """Round to 3 decimals; -inf/NaN (e.g. timesteps truncated BPTT never reaches) become null."""
    arr = np.asarray(values, dtype=np.float64)
    out = np.round(arr, 3).tolist()
    if not np.isfinite(arr).all():
        out = [v if math.isfinite(v) else None for v in out]
    return out


def arrays_to_json(arrays: TimestepArrays | None) -> dict | None:
    if arrays is None:
        return None
    out = {}
    for name in ARRAY_FIELDS:
        value = getattr(arrays, name)
        if isinstance(value, np.ndarray | list | tuple):
            out[name] = array_to_json(value)
        elif value is None or isinstance(value, int | np.integer):
            out[name] = None if value is None else int(value)
        else:
            out[name] = finite_or_none(value)
    return out


def step_to_json(lane: int, record: StepRecord) -> dict:
    """The `step` event's data. Non-finite numbers are sent as null and named in "nonfinite": scalars by
    name, arrays as "arrays.<name>" (e.g. -inf, the log10 of an exact zero gradient under truncated BPTT)."""
    data = {"lane": lane, "step": int(record.step)}
    nonfinite = []
    for name in SCALARS:
        raw = getattr(record, name)
        data[name] = finite_or_none(raw)
        if raw is not None and data[name] is None:
            nonfinite.append(name)
    data["clipped"] = bool(record.clipped)
    data["arrays"] = arrays_to_json(record.arrays)
    for name, values in (data["arrays"] or {}).items():  # e.g. -inf = log10 of an exact zero (truncated BPTT)
        if isinstance(values, list) and None in values:
            nonfinite.append(f"arrays.{name}")
    if nonfinite:
        data["nonfinite"] = nonfinite
    return data


def to_plain(obj):
    """A dataclass (TaskInfo, gradcheck dicts, ...) as JSON-safe data: non-finite floats -> null."""
    if hasattr(obj, "__dataclass_fields__"):
        obj = asdict(obj)
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return array_to_json(obj)
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return finite_or_none(obj)
    return obj


def _frame(event_id: int, event: str, data: dict) -> bytes:
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return f"id: {event_id}\nevent: {event}\ndata: {payload}\n\n".encode()


def parse_frame(frame: bytes) -> tuple[str, dict]:
    head, payload = frame.split(b"\ndata: ", 1)
    return head.split(b"\nevent: ", 1)[1].decode(), json.loads(payload)


def frame_payload(frame: bytes) -> bytes:
    """The data of one stored frame, the JSON bytes exactly as streamed (one line, then the blank line)."""
    return frame[frame.index(b"\ndata: ") + 7:-2]


class Run:
    """One comparison: its configs, event log, worker thread and client bookkeeping."""

    def __init__(self, run_id: str, configs: list[Config], task_infos: list[dict], settings: Settings,
                 on_finish=None):
        self.id = run_id
        self.configs = configs
        self.settings = settings
        self.labels = lane_labels([cfg.to_dict() for cfg in configs])
        self.shared = shared_settings([cfg.to_dict() for cfg in configs])
        self.record_every = [record_every(cfg, settings.max_arrays_per_lane) for cfg in configs]
        self.task_info = task_infos
        self.created = time.time()
        self.frames: list[bytes] = []
        self.step_event_ids: list[list[int]] = [[] for _ in configs]  # lane -> ids of its step events
        self.lane_done_event_ids: list[int | None] = [None] * len(configs)  # lane -> id of its lane_done event
        self.nbytes = 0
        self.lane_status = ["running"] * len(configs)
        self.steps_done = [0] * len(configs)
        self.status = "running"
        self.clients = 0
        self._knocked_at = -math.inf  # when a client was last turned away for the moment (see knock)
        self.cancel_requested = False
        self.cancel_reason: str | None = None
        self._cond = threading.Condition()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._workers: list[LaneWorker] = []
        self._on_finish = on_finish
        self.thread = threading.Thread(target=self._run_safely, name=f"run-{run_id}", daemon=True)
        self._emit("run", {"id": run_id, "lanes": [cfg.to_dict() for cfg in configs], "labels": self.labels,
                           "shared": self.shared, "task_info": task_infos, "record_every": self.record_every})

    # --- the event log -------------------------------------------------------------------------
    def _emit(self, event: str, data: dict | None, lane: int | None = None, payload: bytes | None = None) -> None:
        """Append one event; ``payload`` is its data already serialized (step events from the worker)."""
        with self._cond:
            event_id = len(self.frames)
            frame = _frame(event_id, event, data) if payload is None else \
                b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, event.encode(), payload)
            self.frames.append(frame)
            self.nbytes += len(frame)
            if event == "step":
                self.step_event_ids[lane].append(event_id)
            elif event == "lane_done":
                self.lane_done_event_ids[lane] = event_id
            if event == "done":
                self.status = data["status"]
            subscribers = list(self._subscribers)
        for loop, wake in subscribers:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # that client's loop is closed (server shutting down)
                pass

    @property
    def events(self) -> int:
        """Events logged so far (the next event id)."""
        with self._cond:
            return len(self.frames)

    def frames_from(self, start: int) -> tuple[list[bytes], bool]:
        """Events with id >= start, and whether the log is complete (the `done` event is in it)."""
        with self._cond:
            return self.frames[start:], self.status != "running"

    def step_frames(self) -> list[list[bytes]]:
        """Per lane, its `step` events as stored (the bytes streamed), as far as they are logged now: lists of
        references to the log's frames, not copies."""
        with self._cond:
            return [[self.frames[i] for i in lane_ids] for lane_ids in self.step_event_ids]

    def lane_done(self) -> list[dict | None]:
        """Per lane, its `lane_done` event's data parsed back from the streamed bytes (None while it trains)."""
        with self._cond:
            ids = list(self.lane_done_event_ids)
            frames = self.frames
        return [None if i is None else parse_frame(frames[i])[1] for i in ids]

    @property
    def finished(self) -> bool:
        return self.status != "running"

    # --- clients ---------------------------------------------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        with self._cond:
            self.clients += 1
            self._subscribers.add((loop, wake))
            self._cond.notify_all()

    def detach(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        with self._cond:
            self.clients -= 1
            self._subscribers.discard((loop, wake))
            self._cond.notify_all()

    def knock(self) -> None:
        """A client tried to listen and was turned away for the moment (429: the server's event streams are all
        open); it tries again, so the grace period starts afresh: the run waits, paused, instead of being
        cancelled for having had no listener (a page refused for 8 s lost its run at 5 s)."""
        with self._cond:
            self._knocked_at = time.monotonic()
            self._cond.notify_all()

    def cancel(self, reason: str = "cancelled by DELETE") -> None:
        with self._cond:
            if not self.cancel_requested:
                self.cancel_requested = True
                self.cancel_reason = reason
            self._cond.notify_all()
        self._terminate_workers()  # the relay's pending reply() raises WorkerGone at once

    def _terminate_workers(self) -> None:
        with self._cond:
            workers = list(self._workers)
        for worker in workers:
            worker.terminate()

    def _wait_for_clients(self) -> bool:
        """Block while nobody listens; cancel after the grace period, counted from the later of now and the
        last :meth:`knock`. False once cancelled."""
        grace = self.settings.cancel_grace_seconds
        with self._cond:
            start = time.monotonic()
            while self.clients == 0 and not self.cancel_requested:
                remaining = max(start, self._knocked_at) + grace - time.monotonic()
                if remaining <= 0:
                    self.cancel_requested = True
                    self.cancel_reason = f"no client listened to the event stream for {grace:g} s"
                    break
                self._cond.wait(remaining)
            return not self.cancel_requested

    # --- the worker --------------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def _run_safely(self) -> None:
        try:
            self._train()
        except Exception as exc:  # an engine bug must not leave the stream hanging
            log.exception("run %s failed", self.id)
            reason = f"internal error: {type(exc).__name__}: {exc}"
            with self._cond:  # the run is cancelled: GET /api/runs/{id} says why, as its lanes do
                self.cancel_requested = True
                self.cancel_reason = self.cancel_reason or reason
            for lane, status in enumerate(self.lane_status):
                if status == "running":
                    self._finish_lane(lane, "cancelled", reason)
            self._emit("done", {"status": "cancelled", "lanes": list(self.lane_status)})
        finally:
            if self._on_finish is not None:
                self._on_finish(self)

    def _finish_lane(self, lane: int, status: str, reason: str | None, step: int | None = None,
                     last_arrays: dict | None = None) -> None:
        """``last_arrays``: {step, arrays} of a diverged lane's last step before the divergence. The event's
        data is a :class:`app.schemas.LaneDone`, the model of the summary's ``lane_done`` too."""
        self.lane_status[lane] = status
        if step is None:
            step = self.steps_done[lane] - 1 if self.steps_done[lane] else None
        done = LaneDone(lane=lane, status=status, step=step, reason=reason, last_arrays=last_arrays)
        self._emit("lane_done", None, lane=lane, payload=done.model_dump_json().encode())  # non-finite -> null

    def _train(self) -> None:
        workers = [LaneWorker(lane, cfg.to_dict(), every, self.settings.blas_threads, self.settings.worker_nice)
                   for lane, (cfg, every) in enumerate(zip(self.configs, self.record_every, strict=True))]
        with self._cond:
            self._workers = workers
        if self.cancel_requested:  # DELETE arrived while the workers were starting
            self._terminate_workers()
        active = list(range(len(self.configs)))
        others = None  # the reason of the lanes still training when the run is cancelled, if not cancel_reason
        try:
            for worker in workers:  # they build their trainers at the same time
                worker.wait_ready()
            while active and self._wait_for_clients():
                for lane in active:  # every active lane computes its step at once ...
                    workers[lane].request()
                for lane in list(active):  # ... and the events go out in lane order, as in a serial loop
                    reply = workers[lane].reply()
                    if reply[0] == "step":
                        _, step, payload = reply
                        self.steps_done[lane] = step + 1
                        self._emit("step", None, lane=lane, payload=payload)
                        continue
                    _, status, diverged_at, reason, last_arrays = reply  # "end": the lane's trainer stopped
                    active.remove(lane)
                    workers[lane].close()  # its memory goes back now, not when the slowest lane ends
                    if status == "diverged":
                        self._finish_lane(lane, "diverged", reason, diverged_at, last_arrays)
                    else:
                        status = "done" if status == "done" else "cancelled"
                        self._finish_lane(lane, status, reason or self.cancel_reason)
        except WorkerGone as gone:
            if not self.cancel_requested:  # not terminated by cancel(): this lane's process died (OOM killer, ...)
                log.warning("run %s: lane %s's worker process %s", self.id, LANE_NAMES[gone.lane], gone.how)
                with self._cond:  # the run ends: its lanes are a comparison, in lockstep
                    self.cancel_requested = True
                    self.cancel_reason = f"lane {LANE_NAMES[gone.lane]}'s worker process {gone.how}"
                    others = f"cancelled because {self.cancel_reason}"
                if gone.lane in active:
                    active.remove(gone.lane)
                    self._finish_lane(gone.lane, "cancelled", str(gone))
        finally:
            close_all(workers)
        for lane in active:  # cancelled: the lanes that were still training
            self._finish_lane(lane, "cancelled", others or self.cancel_reason)
        self._emit("done", {"status": "cancelled" if self.cancel_requested else "done",
                            "lanes": list(self.lane_status)})

    # --- views ---------------------------------------------------------------------------------------
    def summary(self) -> dict:
        """The run's RunSummary without ``history`` (the routes stream that from :meth:`step_frames`)."""
        with self._cond:
            out = {
                "id": self.id, "status": self.status, "paused": self.status == "running" and self.clients == 0,
                "clients": self.clients, "lanes": [cfg.to_dict() for cfg in self.configs], "labels": self.labels,
                "shared": self.shared, "lane_status": list(self.lane_status), "steps_done": list(self.steps_done),
                "record_every": self.record_every, "task_info": self.task_info, "events": len(self.frames),
                "cancel_reason": self.cancel_reason,
            }
        out["lane_done"] = self.lane_done()
        return out


class RunNotFound(LookupError):
    def __init__(self, message: str, evicted: bool = False):
        super().__init__(message)
        self.evicted = evicted  # finished and dropped from the store (start it again), else never known


class TooManyRuns(RuntimeError):
    def __init__(self, message: str, running: int, limit: int):
        super().__init__(message)
        self.running, self.limit = running, limit


class RunManager:
    """Creates runs, enforces the concurrency limit, keeps finished runs in an LRU store."""

    def __init__(self, settings: Settings):
        self.settings = settings
        limit_blas_threads(settings.blas_threads)
        warm_up()  # the forkserver of the worker processes imports NumPy and rnncore once, now
        # /api/profile and /api/gradcheck: a lane each, computed at the same time up to engine_processes
        self.engine = EnginePool(settings.engine_processes, settings.blas_threads, settings.worker_nice)
        self._runs: OrderedDict[str, Run] = OrderedDict()  # least recently used first
        self._evicted: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, configs: list[Config], task_infos: list[dict]) -> Run:
        run_id = uuid.uuid4().hex[:12]
        with self._lock:
            running = sum(1 for run in self._runs.values() if not run.finished)
            if running >= self.settings.max_concurrent_runs:
                raise TooManyRuns(
                    f"{running} runs are training, the limit is {self.settings.max_concurrent_runs}; "
                    "wait for one to finish (or DELETE one) and retry", running, self.settings.max_concurrent_runs)
            run = Run(run_id, configs, task_infos, self.settings, on_finish=self._on_finish)
            self._runs[run_id] = run
        run.start()
        return run

    def list(self) -> list[Run]:
        """The runs in the store (training or kept), oldest first; reading them does not reorder the LRU."""
        with self._lock:
            return sorted(self._runs.values(), key=lambda run: run.created)

    def get(self, run_id: str) -> Run:
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                self._runs.move_to_end(run_id)
                return run
            if run_id in self._evicted:
                raise RunNotFound(
                    f"run {run_id} finished and was evicted from the store (the server keeps the "
                    f"{self.settings.store_max_runs} most recently used finished runs, up to "
                    f"{self.settings.store_max_bytes / 2**20:.3g} MiB); start it again", evicted=True)
        raise RunNotFound(f"no run with id {run_id} (unknown, or evicted long ago)")

    def _on_finish(self, run: Run) -> None:
        with self._lock:
            self._evict()

    def _evict(self) -> None:
        finished = [run for run in self._runs.values() if run.finished]  # LRU order
        total = sum(run.nbytes for run in finished)
        while finished and (len(finished) > self.settings.store_max_runs or total > self.settings.store_max_bytes):
            oldest = finished.pop(0)
            total -= oldest.nbytes
            del self._runs[oldest.id]
            self._evicted[oldest.id] = None
            if len(self._evicted) > 10_000:
                self._evicted.popitem(last=False)

    def running(self) -> int:
        with self._lock:
            return sum(1 for run in self._runs.values() if not run.finished)

    def cancel_all(self, reason: str = SHUTDOWN_REASON) -> list[Run]:
        """Cancel every run at once, without waiting (safe from a signal handler): their streams then
        end with `lane_done` / `done` "cancelled", so the server's open connections can close. Returns
        the runs cancelled."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.cancel(reason)
        return runs

    def shutdown(self, timeout: float = 5.0) -> None:
        runs = self.cancel_all()
        self.engine.shutdown()
        deadline = time.monotonic() + timeout
        for run in runs:
            if run.thread.is_alive():
                run.thread.join(max(0.0, deadline - time.monotonic()))
