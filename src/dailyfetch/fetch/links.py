"""RFC 8288 ``Link`` headers: the targets of one relation type, read from every ``Link`` line.

The grammar (RFC 8288 section 3)::

    Link       = #link-value
    link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param )
    link-param = token BWS [ "=" BWS ( token / quoted-string ) ]

What a reader must do, and this one does:

* relation types are compared case-insensitively, and ``rel`` holds a space-separated list
  of them (``rel="next last"`` is a next link);
* only the first ``rel`` of a link counts (later ones "MUST be ignored");
* a link may come in any of several ``Link`` lines, and commas and semicolons inside a
  ``<URI>`` or a quoted string separate nothing;
* a relative target resolves against the request's URL (not against anything in the body);
* a link with an ``anchor`` describes another resource, so it is not this page's next.

Parameter names are matched case-insensitively and an unquoted value may hold spaces (a
lenient reading of what servers send: ``rel=next last``).
"""

from __future__ import annotations

from urllib.parse import urljoin

import httpx

from dailyfetch.errors import SourceError
from dailyfetch.redact import clip, mask_url


def link_targets(response: httpx.Response, relation: str) -> list[str]:
    """The absolute URLs of ``response``'s links of type ``relation``, in order, without repeats."""
    base = str(response.request.url)
    wanted = relation.lower()
    found: list[str] = []
    for line in response.headers.get_list("link"):
        for target, params in parse_link_header(line):
            anchor = params.get("anchor")
            if anchor is not None and urljoin(base, anchor) != base:
                continue
            if wanted in params.get("rel", "").lower().split():
                absolute = urljoin(base, target)
                if absolute not in found:
                    found.append(absolute)
    return found


def next_link(response: httpx.Response) -> str | None:
    """The one ``rel="next"`` target of ``response``; two different ones are an error."""
    targets = link_targets(response, "next")
    if len(targets) > 1:
        shown = ", ".join(mask_url(t) for t in targets)
        raise SourceError(
            f"the Link headers of {mask_url(str(response.request.url))} name {len(targets)} different "
            f"next pages ({shown}); dailyfetch cannot tell which one continues the stream",
            hint="use another [source.pagination] kind if the body holds the next page",
        )
    return targets[0] if targets else None


def parse_link_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """Each link of one ``Link`` field value: its target as written and its parameters (names in
    lower case; the first of a repeated name kept; a name without a value maps to ``""``)."""
    links: list[tuple[str, dict[str, str]]] = []
    pos, end = 0, len(value)
    while pos < end:
        pos = _skip(value, pos, " \t,")
        if pos >= end:
            break
        if value[pos] != "<":
            raise _malformed(value, pos)
        close = value.find(">", pos + 1)
        if close < 0:
            raise _malformed(value, pos)
        target = value[pos + 1 : close].strip()
        params: dict[str, str] = {}
        pos = _skip(value, close + 1, " \t")
        while pos < end and value[pos] == ";":
            pos, name, param = _param(value, pos + 1)
            if name:
                params.setdefault(name, param)
            pos = _skip(value, pos, " \t")
        if pos < end and value[pos] != ",":
            raise _malformed(value, pos)
        links.append((target, params))
    return links


def _param(value: str, pos: int) -> tuple[int, str, str]:
    """One ``name[=value]`` starting at ``pos``: where it ends, the name (lower case), the value."""
    end = len(value)
    pos = _skip(value, pos, " \t")
    start = pos
    while pos < end and value[pos] not in "=;, \t":
        pos += 1
    name = value[start:pos].lower()
    pos = _skip(value, pos, " \t")
    if pos >= end or value[pos] != "=":
        return pos, name, ""
    pos = _skip(value, pos + 1, " \t")
    if pos < end and value[pos] == '"':
        out: list[str] = []
        pos += 1
        while pos < end and value[pos] != '"':
            if value[pos] == "\\" and pos + 1 < end:
                pos += 1
            out.append(value[pos])
            pos += 1
        if pos >= end:
            raise _malformed(value, start)
        return pos + 1, name, "".join(out)
    start = pos
    while pos < end and value[pos] not in ";,":
        pos += 1
    return pos, name, value[start:pos].strip()


def _skip(value: str, pos: int, chars: str) -> int:
    while pos < len(value) and value[pos] in chars:
        pos += 1
    return pos


def _malformed(value: str, pos: int) -> SourceError:
    shown = clip(value, 200)  # redacted before it is cut: no secret's head is left
    return SourceError(
        f"malformed Link header at character {pos + 1}: {shown!r}",
        hint='RFC 8288 links look like <https://api.example.com/items?page=2>; rel="next"',
    )
