"""RFC 8288 Link header parsing: the cases of the RFC's grammar and what servers send."""

from __future__ import annotations

import httpx
import pytest

from dailyfetch.errors import SourceError
from dailyfetch.fetch.links import link_targets, next_link, parse_link_header

URL = "https://api.test/v1/items?page=1"


def response(*links: str) -> httpx.Response:
    """A 200 response to a GET of URL with one ``Link`` line per argument."""
    return httpx.Response(200, headers=[("Link", v) for v in links], request=httpx.Request("GET", URL))


def test_the_rfc_examples_parse() -> None:
    """RFC 8288 section 3.5's examples: parameters, quoted strings, several links in one line."""
    assert parse_link_header(
        '<http://example.com/TheBook/chapter2>; rel="previous"; title="previous chapter"'
    ) == [("http://example.com/TheBook/chapter2", {"rel": "previous", "title": "previous chapter"})]
    assert parse_link_header('</>; rel="http://example.net/foo"') == [
        ("/", {"rel": "http://example.net/foo"})
    ]
    assert parse_link_header('</terms>; rel="copyright"; anchor="#foo"') == [
        ("/terms", {"rel": "copyright", "anchor": "#foo"})
    ]
    assert parse_link_header('<http://example.org/>; rel="start http://example.net/relation/other"') == [
        ("http://example.org/", {"rel": "start http://example.net/relation/other"})
    ]
    assert parse_link_header(
        '<https://example.org/>; rel="start", <https://example.org/index>; rel="index"'
    ) == [
        ("https://example.org/", {"rel": "start"}),
        ("https://example.org/index", {"rel": "index"}),
    ]


def test_separators_inside_a_uri_or_a_quoted_string_separate_nothing() -> None:
    """Commas and semicolons inside ``<...>`` or quotes, and escaped quotes, stay in their value."""
    links = parse_link_header(r'</a?x=1,2;3>; title="say \"a, b; c\""; rel=next, </b>; rel=prev')
    assert links == [("/a?x=1,2;3", {"title": 'say "a, b; c"', "rel": "next"}), ("/b", {"rel": "prev"})]


@pytest.mark.parametrize(
    "value",
    [
        '<{n}>; rel="Next"',
        '<{n}>; rel="next last"',
        "<{n}>; REL=NEXT",
        '<{n}>;rel="prev next"',
        "<{n}>; rel=next last",
    ],
)
def test_next_is_found_whatever_its_case_and_company(value: str) -> None:
    """Relation types are case-insensitive and ``rel`` is a space-separated list."""
    assert next_link(response(value.format(n="/v1/items?page=2"))) == "https://api.test/v1/items?page=2"


def test_only_the_first_rel_counts_and_a_bare_parameter_is_kept() -> None:
    """A second ``rel`` is ignored (RFC 8288 3.3); a parameter without a value maps to ''."""
    assert parse_link_header('</x>; rel="next"; rel="prev"; crossorigin') == [
        ("/x", {"rel": "next", "crossorigin": ""})
    ]
    assert next_link(response('</x>; rel="prev"; rel="next"')) is None


def test_relative_targets_resolve_against_the_request_url() -> None:
    """``page=2``, ``?page=2``, ``../x`` and ``//host/x`` resolve as RFC 3986 says."""
    assert link_targets(response("<items?page=2>; rel=next"), "next") == ["https://api.test/v1/items?page=2"]
    assert link_targets(response("<?page=2>; rel=next"), "next") == ["https://api.test/v1/items?page=2"]
    assert link_targets(response("<../v2/items>; rel=next"), "next") == ["https://api.test/v2/items"]
    assert link_targets(response("<//other.test/x>; rel=next"), "next") == ["https://other.test/x"]


def test_links_in_several_lines_are_all_read() -> None:
    """Several ``Link`` lines are one list; the same target twice is one next page."""
    r = response('</last>; rel="last"', '</p2>; rel="next"', '</p2>; rel="next"')
    assert next_link(r) == "https://api.test/p2"
    assert link_targets(r, "LAST") == ["https://api.test/last"]


def test_a_link_anchored_elsewhere_is_not_this_pages_next() -> None:
    """A link with an ``anchor`` on another resource describes that resource."""
    assert next_link(response('</p2>; rel="next"; anchor="/other"')) is None
    assert next_link(response(f'</p2>; rel="next"; anchor="{URL}"')) == "https://api.test/p2"


def test_two_different_next_pages_are_an_error() -> None:
    """Two different next targets: the error names both."""
    with pytest.raises(
        SourceError, match=r"2 different next pages \(https://api.test/a, https://api.test/b\)"
    ):
        next_link(response('</a>; rel="next", </b>; rel="next"'))


@pytest.mark.parametrize(
    "value", ['rel="next"', '</a>; rel="next" </b>', '</a; rel="next"', '</a>; title="open']
)
def test_a_malformed_header_is_an_error_naming_it(value: str) -> None:
    """A Link value outside the grammar fails with the header shown, not a guess."""
    with pytest.raises(SourceError, match="malformed Link header"):
        next_link(response(value))


def test_no_link_header_no_next() -> None:
    """No Link header, or one with other relations only: no next page."""
    assert next_link(response()) is None
    assert next_link(response('</p0>; rel="prev", </p9>; rel="last"')) is None
