"""Unit tests for Python sources: pages, checkpoints, exact resume, and loading the function."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from dailyfetch import Checkpoint, FetchContext
from dailyfetch.errors import ConfigError, SourceError
from dailyfetch.fetch.python import fetch_python_pages, load_function
from dailyfetch.fetch.source import Page


@pytest.fixture
def ctx() -> Iterator[FetchContext]:
    """A fetch context for 2026-03-01 with an offline client."""
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    with httpx.Client(transport=transport) as client:
        yield FetchContext(date=date(2026, 3, 1), partition={}, client=client)


def numbered(ctx: FetchContext) -> Iterator[dict[str, Any] | Checkpoint]:
    """Records 1..6 with a checkpoint after every three; resumes after a checkpoint."""
    start = 0 if ctx.checkpoint is None else int(ctx.checkpoint)
    for n in range(start + 1, 7):
        yield {"n": n}
        if n % 3 == 0:
            yield Checkpoint(n)


def pages_of(function: Any, ctx: FetchContext, resume: dict[str, Any] | None = None) -> list[Page]:
    """Every page a Python source function produces."""
    return list(fetch_python_pages(function, ctx, resume))


def records_of(pages: list[Page]) -> list[Any]:
    """The ``n`` of every record across ``pages``."""
    return [record["n"] for page in pages for record in page.records]


def test_pages_carry_checkpoint_and_skip(ctx: FetchContext) -> None:
    """Pages carry the last checkpoint and the records since it; the last page is done."""
    pages = pages_of(numbered, ctx)
    assert [(records_of([p]), p.resume) for p in pages] == [
        ([1, 2, 3], {"checkpoint": None, "skip": 3}),
        ([], {"checkpoint": 3, "skip": 0}),
        ([4, 5, 6], {"checkpoint": 3, "skip": 3}),
        ([], {"checkpoint": 6, "skip": 0}),
        ([], {"done": True}),
    ]


def test_function_without_checkpoints(ctx: FetchContext) -> None:
    """Without checkpoints, progress is the number of records yielded."""

    def plain(ctx: FetchContext) -> Iterator[dict[str, Any]]:
        yield from ({"n": n} for n in range(2500))

    pages = pages_of(plain, ctx)
    assert [p.resume for p in pages] == [
        {"checkpoint": None, "skip": 1000},
        {"checkpoint": None, "skip": 2000},
        {"checkpoint": None, "skip": 2500},
        {"done": True},
    ]
    assert records_of(pages) == list(range(2500))


@pytest.mark.parametrize("skip", [0, 1, 2, 3])
def test_resume_passes_checkpoint_and_drops_records(ctx: FetchContext, skip: int) -> None:
    """Resuming from {checkpoint: c, skip: k} passes ctx.checkpoint == c and drops k records."""
    seen: list[Any] = []

    def spy(ctx: FetchContext) -> Iterator[dict[str, Any] | Checkpoint]:
        seen.append(ctx.checkpoint)
        yield from numbered(ctx)

    pages = pages_of(spy, ctx, {"checkpoint": 3, "skip": skip})
    assert seen == [3]
    assert records_of(pages) == [4, 5, 6][skip:]
    assert pages[-1].resume == {"done": True}


def test_resume_without_checkpoint_counts_on(ctx: FetchContext) -> None:
    """A resumed run without checkpoints keeps counting from the skipped records."""

    def plain(ctx: FetchContext) -> Iterator[dict[str, Any]]:
        yield from ({"n": n} for n in range(5))

    pages = pages_of(plain, ctx, {"checkpoint": None, "skip": 2})
    assert ctx.checkpoint is None
    assert [(records_of([p]), p.resume) for p in pages] == [
        ([2, 3, 4], {"checkpoint": None, "skip": 5}),
        ([], {"done": True}),
    ]


def test_every_resume_point_gives_the_rest_exactly_once(ctx: FetchContext) -> None:
    """Resuming from any page's state yields exactly the records after that page."""
    pages = pages_of(numbered, ctx)
    for index, page in enumerate(pages[:-1]):
        rest = pages_of(numbered, ctx, page.resume)
        assert records_of(pages[: index + 1]) + records_of(rest) == [1, 2, 3, 4, 5, 6]


def test_empty_function_is_done(ctx: FetchContext) -> None:
    """A function that yields nothing produces only the final done page."""

    def empty(ctx: FetchContext) -> Iterator[dict[str, Any]]:
        yield from ()

    assert [p.resume for p in pages_of(empty, ctx)] == [{"done": True}]


@pytest.mark.parametrize("item", [1, "text", ["a", 1], None])
def test_non_dict_yield_is_an_error(ctx: FetchContext, item: Any) -> None:
    """Yielding anything but a dict (or a Checkpoint) is an error naming the type."""

    def wrong(ctx: FetchContext) -> Iterator[Any]:
        yield {"n": 1}
        yield item

    with pytest.raises(SourceError, match=f"yielded a {type(item).__name__}; records must be dicts"):
        pages_of(wrong, ctx)


def test_non_iterable_return_is_an_error(ctx: FetchContext) -> None:
    """A function that returns instead of yielding is an error naming what it returned."""
    with pytest.raises(SourceError, match="returned NoneType; it must yield dicts"):
        pages_of(lambda ctx: None, ctx)


def test_load_function_imports_a_callable() -> None:
    """package.module:function resolves to that function, dotted attributes too."""
    import json
    import os.path

    assert load_function("json:dumps") is json.dumps
    assert load_function("os:path.join") is os.path.join


def make_module(tmp_path: Path, body: str) -> str:
    """Write a uniquely named module into ``tmp_path`` and return its name."""
    name = f"dfsrc_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(body, encoding="utf-8")
    return name


@pytest.fixture
def clean_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo any sys.path change load_function makes."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def test_load_function_from_config_folder(tmp_path: Path, clean_path: None) -> None:
    """A module next to the config file is importable through search_path."""
    name = make_module(tmp_path, "def fetch(ctx):\n    yield {'n': 1}\n")
    function = load_function(f"{name}:fetch", search_path=tmp_path)
    assert function.__name__ == "fetch"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("dailyfetch_no_such_module:fetch", "cannot import module 'dailyfetch_no_such_module'"),
        ("json:no_such_function", "'json' has no attribute 'no_such_function'"),
        ("os:path.no_such", "'os' has no attribute 'path.no_such'"),
        ("math:pi", "'math:pi' is not callable"),
    ],
)
def test_load_function_errors_name_source_function(reference: str, message: str) -> None:
    """Every way a function reference can fail is a ConfigError naming source.function."""
    with pytest.raises(ConfigError) as info:
        load_function(reference)
    assert str(info.value).startswith("source.function: ")
    assert message in str(info.value)


def test_load_function_missing_dependency(tmp_path: Path, clean_path: None) -> None:
    """A module whose own import fails is a ConfigError naming the missing dependency."""
    name = make_module(tmp_path, "import dailyfetch_missing_dependency\n")
    with pytest.raises(ConfigError, match=r"source\.function: cannot import module") as info:
        load_function(f"{name}:fetch", search_path=tmp_path)
    assert "dailyfetch_missing_dependency" in str(info.value)


def test_load_function_syntax_error(tmp_path: Path, clean_path: None) -> None:
    """A module with a syntax error is a ConfigError naming source.function, not a traceback."""
    name = make_module(tmp_path, "def fetch(ctx)\n    yield {}\n")
    with pytest.raises(ConfigError, match=r"source\.function"):
        load_function(f"{name}:fetch", search_path=tmp_path)


def test_restating_the_resumed_checkpoint_keeps_the_skip() -> None:
    """A function that first re-yields the checkpoint it resumed from still has the committed records skipped."""
    from dailyfetch.fetch.python import fetch_python_pages as pages_of
    from dailyfetch.fetch.source import Checkpoint as Mark

    def source(ctx: Any) -> Any:
        yield Mark(ctx.checkpoint)
        for i in range(5):
            yield {"id": i}

    ctx = FetchContext(date=date(2026, 1, 1), partition={}, client=None)  # type: ignore[arg-type]
    got = [r["id"] for page in pages_of(source, ctx, {"checkpoint": "c1", "skip": 3}) for r in page.records]
    assert got == [3, 4]
