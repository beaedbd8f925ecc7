"""One engine for parallel work: a Dask distributed client from a short description, and one loop
that runs a task per item on it.

Slide-parallel tiling and extraction, the synthetic-cohort build, the experiment runner and
notebook sweeps submit their tasks to one :class:`distributed.Client`, described by the same two
options everywhere:

* ``scheduler=None`` or ``"local"`` — a :class:`distributed.LocalCluster` of worker *processes*
  on this machine, one per core (``"local:N"``: N workers); each worker runs one task at a time
  and its task may use ``cores // N`` threads (:func:`worker_threads`);
* ``scheduler="tcp://host:8786"`` — a scheduler that is already running (``dask scheduler`` on a
  head node, workers started however the site starts them);
* ``cluster_file="slurm.yaml"`` — a batch-system cluster built by ``dask-jobqueue`` (optional
  extra ``pip install -e '.[cluster]'``) from a YAML file such as::

      kind: slurm          # slurm | pbs | sge | lsf
      jobs: 4              # batch jobs submitted
      cores: 8             # CPU cores booked per job, shared by its workers
      memory: 32GB         # per job
      walltime: "02:00:00"
      gpus: 1              # per job (SLURM: --gres=gpu:N); give each worker its own GPU with
      processes: 1         #   processes = gpus (workers per job; each runs one task at a time)
      queue: gpu           # optional: partition / queue
      account: mylab       # optional
      lifetime: "3h50m"    # optional: workers retire before the walltime and fresh jobs
                           #   replace them (long runs), see docs/scaling.md
      job_extra_directives: ["--constraint=a100"]   # optional, passed through
      local_directory: /scratch/$USER               # optional, passed through

:func:`session` opens a client and closes what it started (a local or batch cluster; a client of
an external scheduler only disconnects). :func:`run_tasks` submits ``fn(item)`` for every item,
shows a progress bar over finished items, collects each item's failure without stopping the
others, and on Ctrl-C cancels what is left and stops the workers it started; :func:`collect` is
its second half, for callers that build their own futures (tasks that depend on other tasks).

Worker processes are *spawned* (fresh interpreters, the Dask default): a script that starts a
local cluster needs the ``if __name__ == "__main__":`` guard. If the process that started a local
cluster dies (even by ``kill -9``), its workers notice the closed pipe to it and exit at once.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Iterator, Mapping

from ._progress import progress_bar

__all__ = ["client", "session", "cluster_from_yaml", "parse_scheduler", "JOBQUEUE_KINDS",
           "run_tasks", "collect", "TaskReport", "SchedulerLostError", "describe",
           "dashboard_link", "worker_threads", "worker_slot", "WORKER_THREADS_ENV",
           "on_every_worker", "close"]

#: ``kind`` in a cluster file → the dask-jobqueue class that builds it.
JOBQUEUE_KINDS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster",
                  "lsf": "LSFCluster"}
_KNOWN_KEYS = {"kind", "jobs", "cores", "memory", "walltime", "gpus", "queue", "account",
               "processes", "lifetime"}
#: Set in every worker's environment: the CPU threads one task may use there.
WORKER_THREADS_ENV = "MILHELPERS_WORKER_THREADS"


class SchedulerLostError(ConnectionError):
    """The Dask scheduler stopped answering while tasks were running."""


#: the -W option that silences the resource tracker's leaked-semaphore warning (see :func:`client`)
_TRACKER_QUIET = "ignore::UserWarning:multiprocessing.resource_tracker"


def parse_scheduler(scheduler: str | None) -> tuple[str, Any]:
    """``("local", n_workers or None)`` or ``("address", "tcp://…")`` from a ``--scheduler``
    value; a clear :class:`ValueError` for anything else."""
    if scheduler is None or scheduler == "local":
        return "local", None
    text = str(scheduler).strip()
    if text.startswith("local:"):
        n = text.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"--scheduler {text!r}: write local:N with N >= 1 workers "
                             "(e.g. local:2)")
        return "local", int(n)
    if "://" in text:
        return "address", text
    raise ValueError(f"--scheduler {text!r} is neither local, local:N nor a scheduler address "
                     "such as tcp://head-node:8786")


def _positive(spec: dict, key: str, path: Path, default=None) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"--cluster {path}: '{key}' must be a whole number >= 1, got {value!r}")
    return value


def cluster_from_yaml(path: str | Path, *, start: bool = True):
    """The dask-jobqueue cluster a YAML file describes (see the module doc), scaled to ``jobs``
    when ``start``; with ``start=False`` nothing is submitted (``cluster.job_script()`` shows the
    batch script it would submit).

    Each job books ``cores`` CPUs and runs ``processes`` workers of one task at a time each; a
    worker's task may use ``cores // processes`` threads (exported as
    ``MILHELPERS_WORKER_THREADS``).
    """
    import yaml

    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"--cluster {path}: cannot read the cluster file ({err})") from err
    if not isinstance(spec, dict):
        raise ValueError(f"--cluster {path}: expected a mapping of settings (kind, jobs, cores, "
                         "memory, walltime, ...)")
    kind = str(spec.get("kind", "slurm")).lower()
    if kind not in JOBQUEUE_KINDS:
        raise ValueError(f"--cluster {path}: kind {kind!r} is not one of {sorted(JOBQUEUE_KINDS)}")
    for key in ("cores", "memory"):
        if key not in spec:
            raise ValueError(f"--cluster {path}: '{key}' is missing (per batch job, e.g. "
                             "cores: 8, memory: 32GB)")
    cores, processes = _positive(spec, "cores", path), _positive(spec, "processes", path, 1)
    jobs = _positive(spec, "jobs", path, 1)
    gpus = int(spec.get("gpus", 0) or 0)
    if cores % processes:
        raise ValueError(f"--cluster {path}: cores ({cores}) must be a multiple of processes "
                         f"({processes}): each worker gets cores // processes of them")
    try:
        import dask_jobqueue
    except ImportError as err:
        raise ValueError("a --cluster file needs dask-jobqueue: pip install -e '.[cluster]'") \
            from err
    options = {k: v for k, v in spec.items() if k not in _KNOWN_KEYS}
    memory = str(spec["memory"])
    # dask-jobqueue's `cores` is the worker threads of a job: one per worker (one task at a time
    # each); the CPUs booked from the batch system are set apart below, per kind
    options.update(cores=processes, memory=memory, processes=processes)
    for key in ("walltime", "queue", "account"):
        if key in spec:
            options[key] = str(spec[key])
    extra = list(options.get("job_extra_directives", []))
    if kind == "slurm":
        options["job_cpu"] = cores
        if gpus:
            extra.append(f"--gres=gpu:{gpus}")
    elif kind == "pbs":
        options.setdefault("resource_spec", f"select=1:ncpus={cores}:mem={memory}"
                           + (f":ngpus={gpus}" if gpus else ""))
    elif kind == "lsf":
        options["ncpus"] = cores
        if gpus:
            extra.append(f'-gpu "num={gpus}"')
    elif gpus:  # sge: GPU requests are site-specific; the common form
        extra.append(f"-l gpu={gpus}")
    if extra:
        options["job_extra_directives"] = extra
    options["job_script_prologue"] = list(options.get("job_script_prologue", [])) + [
        f"export {WORKER_THREADS_ENV}={cores // processes}"]
    lifetime = spec.get("lifetime")
    if lifetime:  # retire a little before the batch system's walltime kills the job
        options["worker_extra_args"] = list(options.get("worker_extra_args", [])) + [
            "--lifetime", str(lifetime), "--lifetime-stagger", "5m"]
    cluster = getattr(dask_jobqueue, JOBQUEUE_KINDS[kind])(**options)
    if start:
        if lifetime:   # keep `jobs` jobs running: a retired job is replaced by a new one
            cluster.adapt(minimum_jobs=jobs, maximum_jobs=jobs)
        else:
            cluster.scale(jobs=jobs)
    return cluster


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def client(scheduler: str | None = None, cluster_file: str | Path | None = None, *,
           default_workers: int | None = None, timeout: str = "10s",
           threads_per_worker: int = 1):
    """A :class:`distributed.Client` (see the module doc). The caller closes it — and, for a
    local or batch cluster, ``client.cluster`` — or uses :func:`session`, which does both.

    ``default_workers``: the size of ``"local"`` without ``:N`` (default: one per core).
    ``timeout``: how long to wait for a ``tcp://`` scheduler to answer.
    ``threads_per_worker``: tasks a local worker runs at once (a sweep's notebooks, whose
    kernels are processes of their own; CPU-bound Python tasks want 1).
    """
    from distributed import Client, LocalCluster

    if cluster_file is not None:
        if scheduler not in (None, "local"):
            raise ValueError("give --scheduler or --cluster, not both")
        return Client(cluster_from_yaml(cluster_file))
    how, value = parse_scheduler(scheduler)
    if how == "address":
        try:
            return Client(value, timeout=timeout)
        except (OSError, TimeoutError) as err:
            raise ConnectionError(f"no Dask scheduler answers at {value} ({err}); start one "
                                  "(`dask scheduler`) or use --scheduler local") from err
    n = value or default_workers or _cores()
    threads = str(max(1, _cores() // n))
    # multiprocessing's resource tracker (started with the first local cluster, and given this
    # process's -W options) warns at exit about the semaphores of worker processes stopped by
    # Ctrl-C, which it then cleans up itself: after "interrupted; rerun ..." that warning would
    # be the last line a user reads, for nothing to do
    if _TRACKER_QUIET not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_QUIET)
    # one task at a time per worker, and the machine's cores split among the workers (numpy,
    # OpenCV and torch read these at import; Dask would otherwise pin them to 1)
    env = {WORKER_THREADS_ENV: threads, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
           "OPENBLAS_NUM_THREADS": threads}
    # Ctrl-C in a terminal reaches the whole process group: the workers ignore it (the caller
    # stops them), which they inherit when spawned while it is ignored here; a worker that
    # replaces a dead one gets the same from the plugin
    with _interrupts_ignored():
        # workers log only what is critical: a task's failure reaches the caller in its report
        cluster = LocalCluster(n_workers=n, threads_per_worker=threads_per_worker,
                               processes=True, dashboard_address=":0",
                               silence_logs=logging.CRITICAL, env=env)
    c = Client(cluster)
    c.register_plugin(_IgnoreInterrupts(), name="milhelpers-ignore-interrupts")
    return c


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ignore_interrupts() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


try:
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - distributed is a core dependency
    _WorkerPlugin = object


class _IgnoreInterrupts(_WorkerPlugin):
    """A local worker ignores SIGINT: Ctrl-C is the caller's to handle."""

    def setup(self, worker) -> None:
        _ignore_interrupts()


class _CallOnSetup(_WorkerPlugin):
    """Calls ``fn(*args)`` in every worker, also in one that joins later."""

    def __init__(self, fn: Callable, args: tuple):
        self.fn, self.args = fn, args

    def setup(self, worker) -> None:
        self.fn(*self.args)


def on_every_worker(c, fn: Callable, *args, name: str) -> None:
    """Call ``fn(*args)`` in every worker of ``c`` now and in every worker that joins later (a
    replacement for a dead one, a new batch job): e.g. import what the tasks' arguments need to
    unpickle. ``name`` identifies the call: registering it again replaces it. A module-level
    ``fn`` travels by reference, so the workers must be able to import it."""
    c.register_plugin(_CallOnSetup(fn, tuple(args)), name=name)


_open_client = client   # run_tasks has a parameter named client


def _owns_cluster(scheduler: str | None, cluster_file) -> bool:
    return cluster_file is not None or parse_scheduler(scheduler)[0] == "local"


@contextlib.contextmanager
def session(scheduler: str | None = None, cluster_file: str | Path | None = None,
            **kwargs) -> Iterator[Any]:
    """``with session("local:2") as c: ...`` — a :func:`client` that is closed on leaving, with
    the cluster it started (an external scheduler keeps running)."""
    c = client(scheduler, cluster_file, **kwargs)
    try:
        yield c
    finally:
        _close(c, owned=_owns_cluster(scheduler, cluster_file))


def close(c) -> None:
    """Close a client of :func:`client` and the local or batch cluster it started (quietly: a
    notebook's ``with session(...)`` cannot span cells)."""
    _close(c, owned=getattr(c, "cluster", None) is not None)


def _close(c, owned: bool) -> None:
    """Close the client and, when ``owned``, its cluster, without Dask's shutdown chatter (a
    local cluster's quiet logging ends when it starts closing)."""
    cluster = c.cluster if owned else None
    lost = c.status != "running"   # its client may go on logging failed reconnections
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with contextlib.suppress(Exception):
            c.close(timeout=5)
        if cluster is not None:
            cluster.close(timeout=10)
    finally:
        if not lost:
            logger.setLevel(level)


# -- what a worker knows about itself ---------------------------------------------------------
def worker_threads() -> int:
    """CPU threads a task may use in this process: ``MILHELPERS_WORKER_THREADS`` where
    :func:`client` or a cluster file set it, else every core this process may run on."""
    value = os.environ.get(WORKER_THREADS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else _cores()


def worker_slot() -> int:
    """This worker's position among its host's workers (0 outside a worker): the trailing number
    of its name (a local cluster names workers 0..N-1, a batch job ``<job>-<i>``), so that
    worker k of a multi-GPU machine takes GPU k mod the GPUs it sees."""
    try:
        from distributed import get_worker

        name = str(get_worker().name)
    except (ImportError, ValueError):
        return 0
    match = re.search(r"(\d+)$", name)
    return int(match.group(1)) if match else 0


# -- running one task per item ----------------------------------------------------------------
def dashboard_link(c) -> str | None:
    """The dashboard's address, or None when the scheduler serves none (bokeh, which draws it,
    is not installed, or the scheduler was started with ``--no-dashboard``)."""
    try:
        services = c.scheduler_info(n_workers=0).get("services", {})
    except Exception:   # a scheduler that does not answer has no dashboard to show
        return None
    return c.dashboard_link if "dashboard" in services else None


def describe(c) -> str:
    """One line: workers, the scheduler and the dashboard address."""
    workers = c.scheduler_info(n_workers=-1).get("workers", {}) if c.status == "running" else {}
    link = dashboard_link(c)
    board = f"dashboard {link}" if link else "no dashboard"
    return f"Dask: {len(workers)} workers at {c.scheduler.address}, {board}"


@dataclass
class TaskReport:
    """What :func:`run_tasks` / :func:`collect` gathered: the finished items' return values and
    the failed items' messages, each in the order the items were given."""

    results: dict = field(default_factory=dict)
    failed: dict[Hashable, str] = field(default_factory=dict)
    seconds: float = 0.0
    #: the exception each failed item's task raised (a cancelled one has none)
    exceptions: dict[Hashable, BaseException] = field(default_factory=dict)


def _failure_message(exc: BaseException, expected: tuple[type, ...]) -> str:
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        return ("its worker process died each time it ran this item (out of memory, or a crash "
                "in a native library such as the slide reader?); it was not retried further")
    if expected and isinstance(exc, expected):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def collect(c, futures: Mapping[Hashable, Any], *, desc: str = "tasks", unit: str = "task",
            progress: bool = True, expected: tuple[type, ...] = (Exception,),
            on_result: Callable[[Hashable, Any], None] | None = None,
            on_failure: Callable[[Hashable, str, BaseException], None] | None = None
            ) -> TaskReport:
    """Wait for ``futures`` (item key → future) as they finish, with a progress bar.

    A task that raised is recorded in ``failed`` with its message (``expected`` exceptions by
    their message alone, others with their type) and the others go on; a task whose worker
    died is retried by the scheduler on another worker, up to
    ``distributed.scheduler.allowed-failures`` times. ``on_result(key, value)`` is called for
    each success as it arrives, ``on_failure(key, message, exception)`` for each failure. Ctrl-C cancels the unfinished tasks and re-raises; a lost
    scheduler raises :class:`SchedulerLostError` (what finished before is in no report, but on
    disk where the tasks wrote it).
    """
    from distributed import as_completed

    t0 = time.perf_counter()
    key_of = {f.key: k for k, f in futures.items()}
    results, failed, errors = {}, {}, {}
    bar = progress_bar(total=len(futures), desc=desc, unit=unit, enabled=progress)
    try:
        for fut in as_completed(list(futures.values())):
            key = key_of[fut.key]
            if fut.status == "finished":
                results[key] = fut.result()
                if on_result is not None:
                    on_result(key, results[key])
            elif fut.status == "cancelled":
                if c.status != "running":
                    done = len(results) + len(failed)
                    raise SchedulerLostError(
                        f"the Dask scheduler at {c.scheduler.address} stopped answering after "
                        f"{done} of {len(futures)} {unit}s; what finished is kept where the "
                        "tasks wrote it. Start the scheduler again (or use --scheduler local) "
                        "and rerun the same command to resume.")
                failed[key] = "cancelled"
            else:
                errors[key] = fut.exception()
                failed[key] = _failure_message(errors[key], expected)
                if on_failure is not None:
                    on_failure(key, failed[key], errors[key])
            fut.release()   # its result is ours now: free it on the cluster
            bar.update()
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            c.cancel([f for f in futures.values() if not f.done()])
        raise
    finally:
        bar.close()
    order = list(futures)
    return TaskReport({k: results[k] for k in order if k in results},
                      {k: failed[k] for k in order if k in failed}, time.perf_counter() - t0,
                      {k: errors[k] for k in order if k in errors})


def run_tasks(fn: Callable, items: Iterable, *, keys: Iterable[Hashable] | None = None,
              args: tuple = (), kwargs: Mapping | None = None, client=None,
              scheduler: str | None = None, cluster_file: str | Path | None = None,
              desc: str = "tasks", unit: str = "task", progress: bool = True,
              echo: Callable[[str], None] | None = print,
              expected: tuple[type, ...] = (Exception,),
              on_result: Callable[[Hashable, Any], None] | None = None,
              on_failure: Callable[[Hashable, str, BaseException], None] | None = None,
              cleanup: Callable[[Hashable], None] | None = None,
              default_workers: int | None = None) -> TaskReport:
    """``fn(item, *args, **kwargs)`` as one Dask task per item; see :func:`collect`.

    Runs on ``client`` when given (the caller owns it), else on a :func:`session` opened from
    ``scheduler`` / ``cluster_file`` and closed at the end. ``keys`` name the items in the report
    (default: the items themselves); ``echo`` prints the cluster line (workers, dashboard) of a
    cluster opened here.

    On Ctrl-C with a cluster started here, the workers are stopped and then ``cleanup(key)`` runs
    for every unfinished item, so that what a stopped worker was writing can be removed (a task
    of an external scheduler finishes its current item: Python cannot stop a running thread).
    """
    items = list(items)
    keys = list(items if keys is None else keys)
    if len(keys) != len(items) or len(set(keys)) != len(keys):
        raise ValueError("run_tasks needs one distinct key per item")
    if not items:   # nothing to do: no cluster to start
        return TaskReport()
    owned = client is None
    token = uuid.uuid4().hex[:8]
    name = getattr(fn, "__name__", "task").strip("_") or "task"
    c = client
    finished: set = set()
    try:
        if owned:
            c = _open_client(scheduler, cluster_file, default_workers=default_workers)
        if echo is not None and owned:      # a caller's own client was described by the caller
            echo(describe(c))
        futures = {k: c.submit(fn, item, *args, key=f"{name}-{k}-{token}", pure=False,
                               **(kwargs or {}))
                   for k, item in zip(keys, items)}

        def note(key, value):
            finished.add(key)
            if on_result is not None:
                on_result(key, value)

        report = collect(c, futures, desc=desc, unit=unit, progress=progress, expected=expected,
                         on_result=note, on_failure=on_failure)
        finished |= set(report.failed)
        return report
    except KeyboardInterrupt:
        if owned and c is not None:
            _close(c, owned=_owns_cluster(scheduler, cluster_file))
            c = None
            if cleanup is not None:
                for k in keys:
                    if k not in finished:
                        cleanup(k)
        raise
    finally:
        if owned and c is not None:
            _close(c, owned=_owns_cluster(scheduler, cluster_file))
