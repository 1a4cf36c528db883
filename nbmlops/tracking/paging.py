"""One paging mechanism for every interface that lists runs (widgets, REST, CLI).

A page is read with one ``LIMIT``/``OFFSET`` query and one ``COUNT`` in the database,
never by loading every run. The page token is opaque to callers: it carries the offset
and a digest of the query, so a token cannot be replayed against another filter.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nbmlops.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.config import Settings

#: the largest page any interface may ask for
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class RunsPage:
    """One page of runs: the frame, where it starts, how many match, the next token."""

    frame: pd.DataFrame
    next_page_token: str | None
    total: int
    offset: int
    page_size: int

    @property
    def run_ids(self) -> tuple[str, ...]:
        """Return the ids of the runs on this page, in order."""
        return tuple(self.frame["run_id"]) if len(self.frame) else ()

    def to_dict(self) -> dict[str, Any]:
        """Return the page as JSON-able data: runs with params and metrics nested."""
        return {"runs": frame_records(self.frame), "next_page_token": self.next_page_token,
                "total": self.total, "offset": self.offset, "page_size": self.page_size}

    def __repr__(self) -> str:
        last = self.offset + len(self.frame)
        return f"<RunsPage runs {self.offset + 1}-{last} of {self.total}>"


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the rows of a runs frame as dicts with ``params`` and ``metrics`` nested."""
    import math

    import pandas as pd

    records: list[dict[str, Any]] = []
    for row in frame.to_dict("records"):
        rec: dict[str, Any] = {"params": {}, "metrics": {}}
        for col, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                value = None
            elif isinstance(value, pd.Timestamp):
                value = value.isoformat()
            head, _, key = str(col).partition(".")
            if head in ("params", "metrics") and key:
                if value is not None:
                    rec[head][key] = value
            else:
                rec[str(col)] = value
        end = rec.get("duration")
        rec["end_time"] = None
        if end is not None and rec.get("start_time"):
            rec["end_time"] = (pd.Timestamp(rec["start_time"])
                               + pd.Timedelta(seconds=end)).isoformat()
        records.append(rec)
    return records


def _digest(experiment: str | None, filter: str | None, order_by: list[str] | None) -> str:
    text = json.dumps([experiment, (filter or "").strip(), order_by or []])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def encode_token(offset: int, digest: str, total: int = -1) -> str:
    """Return the opaque token of the page starting at ``offset`` of a query.

    The first page's count travels in the token, so later pages need not count again.
    """
    raw = json.dumps({"o": offset, "q": digest, "t": total}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, digest: str) -> tuple[int, int]:
    """Return (offset, total or -1) of a page token; raise ValidationError if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        offset, query, total = data["o"], data["q"], data.get("t", -1)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValidationError(
            f"page_token {token!r} is not a token nbmlops issued; pass the "
            "next_page_token of the previous page, or none for the first page") from exc
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValidationError(f"page_token {token!r} holds a bad offset {offset!r}")
    if query != digest:
        raise ValidationError(
            f"page_token {token!r} belongs to another query (a different experiment, "
            "filter or order); start again without a page_token")
    if not isinstance(total, int) or isinstance(total, bool):
        total = -1
    return offset, total


def check_page_size(page_size: Any) -> int:
    """Return ``page_size`` if it is an int in 1..MAX_PAGE_SIZE, else raise ValidationError."""
    if isinstance(page_size, bool) or not isinstance(page_size, int) \
            or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(
            f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
    return page_size


def runs_page(
    experiment: str | None = None,
    filter: str | None = None,
    order_by: str | list[str] | None = None,
    *,
    page_size: int = 50,
    page_token: str | None = None,
    count: bool = True,
    settings: Settings | None = None,
) -> RunsPage:
    """Return one page of runs matching ``filter``, sorted and paged in the database.

    Parameters
    ----------
    experiment : str, optional
        Only runs of this experiment.
    filter : str, optional
        The same expressions as :func:`nbmlops.runs`, e.g. ``"metrics.acc > 0.9"``.
    order_by : str or list of str, optional
        e.g. ``"metrics.acc DESC"``; newest first otherwise (ties broken by run id).
    page_size : int
        Runs per page, 1 to 1000.
    page_token : str, optional
        ``next_page_token`` of the previous page of the same query.
    count : bool
        Count the matching runs (``total``); without it ``total`` is -1, saving one query.
    settings : Settings, optional
        Which store to read; found from the working directory by default.

    Returns
    -------
    RunsPage
        The page's frame (same columns as :func:`nbmlops.runs`), the total number of
        matching runs and the token of the next page (None on the last page).

    Raises
    ------
    ValidationError
        A bad ``page_size`` or a ``page_token`` that is malformed or from another query.
    FilterError
        A filter that does not parse or names an unknown column.
    """
    from nbmlops.store import open_store
    from nbmlops.tracking.buffer import get_buffer
    from nbmlops.tracking.query import runs_frame

    size = check_page_size(page_size)
    orders = [order_by] if isinstance(order_by, str) else list(order_by or []) or None
    digest = _digest(experiment, filter, orders)
    offset, total = decode_token(page_token, digest) if page_token else (0, -1)
    store, _ = open_store(settings)
    get_buffer().flush_quietly()
    rows = store.search_run_summaries(experiment, filter, orders, size + 1, offset)
    more = len(rows) > size
    rows = rows[:size]
    if count and total < 0:
        total = store.count_runs(experiment, filter)
    elif not count:
        total = -1
    token = encode_token(offset + size, digest, total) if more else None
    return RunsPage(runs_frame(store, rows), token, total, offset, size)


def experiments(*, settings: Settings | None = None) -> list[str]:
    """Return the names of the store's experiments, sorted.

    Parameters
    ----------
    settings : Settings, optional
        Which store; found from the working directory by default.

    Returns
    -------
    list of str
        Every experiment that has at least one run.

    Raises
    ------
    StoreUnavailableError
        The store cannot be opened or written.
    """
    from nbmlops.store import open_store

    store, _ = open_store(settings)
    return sorted(store.list_experiments())
