import pytest
from hypothesis import given
from hypothesis import strategies as st

from landingpad.sites.host import InvalidHost, normalize_host


@pytest.mark.parametrize(("raw", "expected"), [
    ("Coffee.Example", "coffee.example"),
    ("coffee.example:8080", "coffee.example"),
    ("coffee.example.", "coffee.example"),
    ("COFFEE.EXAMPLE.:443", "coffee.example"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("localhost", "localhost"),
    ("ex\u200bample.com", "example.com"),  # UTS46 drops zero-width space, as browsers do
])
def test_normalises_case_port_trailing_dot_and_idna(raw, expected):
    assert normalize_host(raw) == expected


@pytest.mark.parametrize("raw", [
    "", ".", ":80", "a..b", "-a.example", "a-.example", "a b.example", "a_b.example",
    "evil.example/path", "evil.example\r\nX: y", "evil\x00.example", "127.0.0.1", "[::1]:80",
    "a.example:99999", "a.example:0",
    "a" * 64 + ".example", ".".join(["abcdefghij"] * 30), "xn--zz.example",
    "x" * 400,
])
def test_refuses_garbage(raw):
    with pytest.raises(InvalidHost):
        normalize_host(raw)


labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
hosts = st.lists(labels, min_size=1, max_size=5).map(".".join).filter(
    lambda h: not h.split(".")[-1].isdigit()
    and not any(p.startswith("xn--") for p in h.split(".")))


@given(host=hosts, port=st.one_of(st.none(), st.integers(1, 65535)), dot=st.booleans(),
       upper=st.booleans())
def test_decorations_never_change_the_site(host, port, dot, upper):
    raw = host.upper() if upper else host
    raw += "." if dot else ""
    raw += f":{port}" if port else ""
    assert normalize_host(raw) == host


@given(st.text(max_size=80))
def test_any_text_normalises_or_is_refused_cleanly(raw):
    try:
        result = normalize_host(raw)
    except InvalidHost:
        return
    # Whatever passes is a plain ASCII host name, idempotent under normalisation.
    assert result.isascii() and result == result.lower()
    assert normalize_host(result) == result
    assert not any(ch in result for ch in " :/\\\r\n\x00_")
