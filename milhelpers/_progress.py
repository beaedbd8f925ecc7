"""tqdm progress bars that still honour ``TQDM_DISABLE=1`` (tests, nbval)."""
from __future__ import annotations


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    """``tqdm.auto.tqdm`` that is off when ``enabled`` is False; otherwise tqdm's own defaults
    (and so the ``TQDM_*`` environment overrides) decide."""
    from tqdm.auto import tqdm

    if not enabled:
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)
