"""One engine for parallel work: a Dask distributed client from a short description.

Slide-parallel tiling and extraction, the experiment runner and notebook sweeps all submit their
tasks to one :class:`distributed.Client`, described by the same two options everywhere:

* ``scheduler=None`` or ``"local"`` — a :class:`distributed.LocalCluster` of worker *processes*
  on this machine, one per core (``"local:N"``: N workers), one thread each;
* ``scheduler="tcp://host:8786"`` — a scheduler that is already running (``dask scheduler`` on a
  head node, workers started however the site starts them);
* ``cluster_file="slurm.yaml"`` — a batch-system cluster built by ``dask-jobqueue`` (optional
  extra ``pip install -e '.[cluster]'``) from a YAML file such as::

      kind: slurm          # slurm | pbs | sge | lsf
      jobs: 4              # batch jobs submitted (each one worker)
      cores: 8             # per job
      memory: 32GB         # per job
      walltime: "02:00:00"
      gpus: 1              # per job (SLURM: --gres=gpu:N)
      queue: gpu           # optional: partition / queue
      account: mylab       # optional
      job_extra_directives: ["--constraint=a100"]   # optional, passed through
      local_directory: /scratch/$USER               # optional, passed through

:func:`session` opens a client and closes what it started (a local or batch cluster; a client of
an external scheduler only disconnects).
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Iterator

__all__ = ["client", "session", "cluster_from_yaml", "parse_scheduler", "JOBQUEUE_KINDS"]

#: ``kind`` in a cluster file → the dask-jobqueue class that builds it.
JOBQUEUE_KINDS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster",
                  "lsf": "LSFCluster"}
_KNOWN_KEYS = {"kind", "jobs", "cores", "memory", "walltime", "gpus", "queue", "account",
               "processes"}


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


def cluster_from_yaml(path: str | Path, *, start: bool = True):
    """The dask-jobqueue cluster a YAML file describes (see the module doc), scaled to ``jobs``
    when ``start``; with ``start=False`` nothing is submitted (``cluster.job_script()`` shows the
    batch script it would submit)."""
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
    try:
        import dask_jobqueue
    except ImportError as err:
        raise ValueError("a --cluster file needs dask-jobqueue: pip install -e '.[cluster]'") \
            from err
    options = {k: v for k, v in spec.items() if k not in _KNOWN_KEYS}
    options.update(cores=int(spec["cores"]), memory=str(spec["memory"]),
                   processes=int(spec.get("processes", 1)))
    for key in ("walltime", "queue", "account"):
        if key in spec:
            options[key] = str(spec[key])
    gpus = int(spec.get("gpus", 0) or 0)
    if gpus:
        extra = list(options.get("job_extra_directives", []))
        extra.append(f"--gres=gpu:{gpus}" if kind == "slurm" else f"ngpus={gpus}")
        options["job_extra_directives"] = extra
    cluster = getattr(dask_jobqueue, JOBQUEUE_KINDS[kind])(**options)
    if start:
        cluster.scale(jobs=int(spec.get("jobs", 1)))
    return cluster


def client(scheduler: str | None = None, cluster_file: str | Path | None = None, *,
           threads_per_worker: int = 1):
    """A :class:`distributed.Client` (see the module doc). The caller closes it — and, for a
    local or batch cluster, ``client.cluster`` — or uses :func:`session`, which does both."""
    from distributed import Client, LocalCluster

    if cluster_file is not None:
        if scheduler not in (None, "local"):
            raise ValueError("give --scheduler or --cluster, not both")
        return Client(cluster_from_yaml(cluster_file))
    how, value = parse_scheduler(scheduler)
    if how == "address":
        try:
            return Client(value, timeout="10s")
        except OSError as err:
            raise ConnectionError(f"no Dask scheduler answers at {value} ({err}); start one "
                                  "(`dask scheduler`) or use --scheduler local") from err
    n = value or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count() or 1)
    cluster = LocalCluster(n_workers=n, threads_per_worker=threads_per_worker, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)
    return Client(cluster)


@contextlib.contextmanager
def session(scheduler: str | None = None, cluster_file: str | Path | None = None,
            **kwargs) -> Iterator[Any]:
    """``with session("local:2") as c: ...`` — a :func:`client` that is closed on leaving, with
    the cluster it started (an external scheduler keeps running)."""
    c = client(scheduler, cluster_file, **kwargs)
    try:
        yield c
    finally:
        owned = scheduler is None or cluster_file is not None or \
            parse_scheduler(scheduler)[0] == "local"
        cluster = c.cluster if owned else None
        c.close()
        if cluster is not None:
            cluster.close()
