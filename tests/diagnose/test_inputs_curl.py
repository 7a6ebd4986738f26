"""--from-curl: pasted curl command lines (browsers, Postman, Windows cmd) become the request curl would send."""

from __future__ import annotations

import base64
import re
import shlex
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upstreamkit.core.redact import fingerprint
from upstreamkit.diagnose.inputs import InputError, ParsedInput, parse_curl
from upstreamkit.diagnose.model import ProbeOptions

FIXTURES = Path(__file__).parent / "fixtures"
JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjIwMjQtMDUtazEifQ."
    "eyJzdWIiOiJ1c2VyLTQ4MjEiLCJhdWQiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbSIsImlzcyI6Imh0dHBzOi8vYXV0aC5leGFtcGxlLmNv"
    "bS8iLCJleHAiOjE3MTgwMDAwMDAsImlhdCI6MTcxNzk5NjQwMCwic2NvcGUiOiJvcmRlcnM6d3JpdGUifQ."
    "Pl4nt3dSigK7vQ9xLm2Rt7Yp0aBcDeFgHiJkLmNoPqRsTuVwXyZ_AbCdEfG-hIjK"
)
SESSION = "sess_Pl4nt3dCook1e9f8e7d"


def fixture(name: str) -> str:
    # newline="" keeps the Windows fixture's CRLF line ends, as a paste from Windows would.
    with (FIXTURES / name).open(encoding="utf-8", newline="") as handle:
        return handle.read()


def headers_of(parsed: ParsedInput) -> dict[str, str]:
    return {name.lower(): value for name, value in parsed.request.headers}


# --- real-looking samples ---------------------------------------------------------------------------------


def test_chrome_copy_as_curl_bash_post_with_jwt_cookies_and_ansi_c_body() -> None:
    parsed = parse_curl(fixture("chrome_post_json.sh"))
    request = parsed.request
    assert request.method == "POST"  # --data-raw without -X
    assert request.url == "https://api.example.com/v1/orders?expand=items"
    headers = headers_of(parsed)
    assert headers["authorization"] == f"Bearer {JWT}"
    assert headers["content-type"] == "application/json"  # given: no form default added
    assert headers["cookie"] == f"session={SESSION}; _ga=GA1.1.1234567890.1717990000; theme=dark"
    assert headers["sec-ch-ua"] == '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"'
    assert len(request.headers) == 15  # 14 -H and the -b cookie
    assert (
        request.body
        == (
            '{"customer":"c_9187","note":"Leave at the neighbour\'s door\nRing twice",'
            '"items":[{"sku":"CAFÉ-250","qty":2}],"gift":true}'
        ).encode()
    )
    assert parsed.ignored == ()
    assert not parsed.insecure


def test_firefox_copy_as_curl_single_line() -> None:
    parsed = parse_curl(fixture("firefox.sh"))
    assert parsed.request.method == "POST"
    assert parsed.request.url == "https://api.example.com/v1/orders/ord_77/cancel"
    assert parsed.request.body == b'{"reason":"customer_request"}'
    names = [name for name, _ in parsed.request.headers]
    assert names[:3] == ["User-Agent", "Accept", "Accept-Language"]
    assert names[-1] == "TE"
    assert headers_of(parsed)["cookie"] == f"session={SESSION}; theme=dark"
    assert headers_of(parsed)["authorization"] == f"Bearer {JWT}"


def test_windows_cmd_copy_with_carets_crlf_and_a_newline_in_the_body() -> None:
    parsed = parse_curl(fixture("windows_cmd.txt"))
    request = parsed.request
    assert request.method == "POST"
    assert request.url == "https://api.example.com/v1/search?q=blue%20mug&limit=20"
    assert request.headers == (
        ("accept", "application/json"),
        ("x-api-key", "k3y-Pl4nt3dW1nd0ws-5a4b3c"),
        ("content-type", "application/json"),
    )
    assert request.body == b'{"filters":{"colour":"blue"},\n"page":2}'
    assert parsed.ignored == ("--compressed",)


def test_postman_style_with_location_request_put_and_multiline_data() -> None:
    parsed = parse_curl(fixture("postman.sh"))
    assert parsed.request.method == "PUT"
    assert parsed.request.url == "https://api.example.com/v2/customers/c_9187/preferences"
    assert parsed.request.headers == (
        ("Content-Type", "application/json"),
        ("X-Request-Id", "4f6c2a4e-2b1f-4c8e-9a57-0c2d9e1b7a11"),
        ("Authorization", "Bearer sk_live_Pl4nt3dP0stm4nK3y0123456789"),
    )
    assert parsed.request.body == b'{\n    "newsletter": false,\n    "language": "de"\n}'
    assert parsed.ignored == ("--location",)
    assert parsed.source == "curl: PUT https://api.example.com/v2/customers/c_9187/preferences"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("malformed_unclosed_quote.sh", "unclosed quote"),
        ("malformed_no_url.sh", "has no URL"),
        ("malformed_unknown_option.sh", "unknown or unsupported curl option --http3-only"),
    ],
)
def test_malformed_samples_give_a_clear_error(name: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)) as caught:
        parse_curl(fixture(name))
    assert isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value)
    assert JWT.rsplit(".", 1)[1] not in str(caught.value)


# --- options ----------------------------------------------------------------------------------------------


def test_combined_short_options_and_attached_values() -> None:
    parsed = parse_curl("curl -sSLk -XPUT -H'X-Trace: on' https://e.test/p")
    assert parsed.request.method == "PUT"
    assert parsed.request.headers == (("X-Trace", "on"),)
    assert parsed.insecure
    assert parsed.ignored == ("--silent", "--show-error", "--location")


def test_data_pieces_join_with_ampersand_post_and_form_content_type() -> None:
    parsed = parse_curl("curl https://e.test/f -d a=1 --data b=2 --data-raw '@literal' --data-ascii c=3")
    assert parsed.request.method == "POST"
    assert parsed.request.body == b"a=1&b=2&@literal&c=3"
    assert parsed.request.header("content-type") == "application/x-www-form-urlencoded"


def test_data_files_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "body.txt").write_bytes(b"line1\r\nline2\n")
    ascii_ = parse_curl("curl https://e.test -d @body.txt", base_dir=tmp_path)
    binary = parse_curl("curl https://e.test --data-binary @body.txt", base_dir=tmp_path)
    assert ascii_.request.body == b"line1line2"  # -d @file drops line breaks, as curl does
    assert binary.request.body == b"line1\r\nline2\n"


def test_data_file_relative_to_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "order.json").write_text('{"qty": 2}')
    monkeypatch.chdir(tmp_path)
    assert parse_curl("curl --json @order.json https://e.test").request.body == b'{"qty": 2}'


def test_missing_data_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read data file 'nope\.json': No such file"):
        parse_curl("curl https://e.test --data-binary @nope.json", base_dir=tmp_path)
    with pytest.raises(InputError, match="standard input"):
        parse_curl("curl https://e.test -d @-")


def test_data_urlencode_forms(tmp_path: Path) -> None:
    (tmp_path / "q.txt").write_text("a b&c")
    parsed = parse_curl(
        "curl https://e.test --data-urlencode 'x=1 2' --data-urlencode '=é' --data-urlencode plain"
        " --data-urlencode name@q.txt --data-urlencode @q.txt",
        base_dir=tmp_path,
    )
    assert parsed.request.body == b"x=1%202&%C3%A9&plain&name=a%20b%26c&a%20b%26c"


def test_json_sets_body_content_type_accept_and_post() -> None:
    parsed = parse_curl("""curl --json '{"a":' --json '1}' https://e.test/j""")
    assert parsed.request.method == "POST"
    assert parsed.request.body == b'{"a":1}'  # --json pieces concatenate
    assert parsed.request.headers == (("Content-Type", "application/json"), ("Accept", "application/json"))
    given_type = parse_curl("curl --json '{}' -H 'Content-Type: application/vnd.api+json' https://e.test")
    assert given_type.request.header("content-type") == "application/vnd.api+json"
    assert [n for n, _ in given_type.request.headers].count("Content-Type") == 1


def test_get_moves_data_to_the_query_and_head() -> None:
    parsed = parse_curl("curl -G -d q=mug -d limit=5 'https://e.test/s?x=1'")
    assert parsed.request.method == "GET"
    assert parsed.request.url == "https://e.test/s?x=1&q=mug&limit=5"
    assert parsed.request.body is None
    assert parse_curl("curl -G -d q=1 https://e.test/s").request.url == "https://e.test/s?q=1"
    assert parse_curl("curl -I https://e.test").request.method == "HEAD"
    assert parse_curl("curl --head -X GET https://e.test").request.method == "GET"  # -X wins
    with pytest.raises(InputError, match="cannot be combined"):
        parse_curl("curl -I -d a=1 https://e.test")


def test_user_cookie_agent_referer_and_bearer() -> None:
    parsed = parse_curl("curl -u 'bob:s3cr:et' -b 'a=1; b=2;' -A 'probe/1' -e 'https://ref.test/;auto' https://e.test")
    headers = headers_of(parsed)
    assert headers["authorization"] == "Basic " + base64.b64encode(b"bob:s3cr:et").decode()
    assert parsed.user == "bob"
    assert headers["cookie"] == "a=1; b=2"
    assert headers["user-agent"] == "probe/1"
    assert headers["referer"] == "https://ref.test/"
    assert (
        headers_of(parse_curl("curl --oauth2-bearer tok123456 https://e.test"))["authorization"] == "Bearer tok123456"
    )
    with pytest.raises(InputError, match="no password"):
        parse_curl("curl -u bob https://e.test")
    with pytest.raises(InputError, match="cookie file"):
        parse_curl("curl -b cookies.txt https://e.test")


def test_explicit_headers_win_over_implied_ones() -> None:
    parsed = parse_curl("curl -A agent/1 -H 'User-Agent: mine/2' https://e.test")
    assert parsed.request.headers == (("User-Agent", "mine/2"),)


def test_empty_header_and_removed_header() -> None:
    parsed = parse_curl(
        "curl -H 'X-Empty;' -H 'Accept: a' -H 'Accept:' -H 'X-Keep: 1' -d x=1 -H 'Content-Type:' e.test"
    )
    assert parsed.request.headers == (("X-Empty", ""), ("X-Keep", "1"))  # Content-Type: removed, no form default


def test_headers_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "h.txt").write_text("X-One: 1\r\n\r\nX-Two: 2\n")
    parsed = parse_curl("curl -H @h.txt https://e.test", base_dir=tmp_path)
    assert parsed.request.headers == (("X-One", "1"), ("X-Two", "2"))


def test_option_hints_and_apply() -> None:
    parsed = parse_curl(
        "curl -k --cacert ca.pem -m 7.5 --connect-timeout 3 --resolve api.test:443:127.0.0.1 "
        "--resolve '+api.test:8443:[::1],127.0.0.2' https://api.test/"
    )
    assert (parsed.insecure, parsed.cacert, parsed.max_time, parsed.connect_timeout) == (True, "ca.pem", 7.5, 3.0)
    assert parsed.resolve == (
        ("api.test", 443, "127.0.0.1"),
        ("api.test", 8443, "::1"),
        ("api.test", 8443, "127.0.0.2"),
    )
    options = parsed.apply(ProbeOptions(resolve=(("x.test", 80, "127.0.0.9"),), repeat=3))
    assert options.insecure
    assert options.cacert == "ca.pem"
    assert options.timeout == 7.5  # --max-time before --connect-timeout
    assert options.repeat == 3
    assert options.resolve[0] == ("x.test", 80, "127.0.0.9")
    assert len(options.resolve) == 4
    only_connect = parse_curl("curl --connect-timeout 2 https://e.test").apply()
    assert only_connect.timeout == 2.0
    assert parse_curl("curl https://e.test").apply(ProbeOptions(timeout=4)).timeout == 4


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("curl -m soon https://e.test", "-m/--max-time wants seconds, got 'soon'"),
        ("curl --connect-timeout -1 https://e.test", "positive number of seconds"),
        ("curl --resolve api.test https://e.test", "is not HOST:PORT:ADDR"),
        ("curl --resolve api.test:http:127.0.0.1 https://e.test", "port 'http' is not a number"),
        ("curl --resolve api.test:70000:127.0.0.1 https://e.test", "port 70000 is out of range"),
        ("curl https://e.test -H", "-H (--header) needs a value"),
        ("curl https://e.test --header", "--header needs a value"),
        ("curl https://e.test -X", "-X (--request) needs a value"),
        ("curl -H 'NoColon' https://e.test", "is not of the form 'Name: value'"),
        ("curl -F a=b https://e.test", "multipart forms are not supported"),
        ("curl --proxy http://p:3128 https://e.test", "HTTPS_PROXY"),
        ("curl -Z https://e.test", "unknown or unsupported curl option -Z"),
        ("curl --data=x https://e.test", "option --data (curl takes an option's value as the next argument)"),
        ("curl https://a.test https://b.test", "has 2 URLs"),
        ("curl https://e.test | jq .", "goes on after curl with '|'"),
        ("curl ftp://e.test/f", "is not an http or https URL"),
        ("curl", "empty"),
        ("curl $'unclosed", "unclosed $'...' quote"),
        ('curl ^"https://e.test', 'unclosed " quote'),
    ],
)
def test_errors_name_the_problem(command: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_curl(command)


def test_error_messages_are_redacted() -> None:
    token = "ghp_Pl4nt3dGitHubT0k3n0123456789abcdefgh"
    with pytest.raises(InputError) as caught:
        parse_curl(f"curl -H 'Bearer {token}' https://e.test")
    assert token not in str(caught.value)
    assert fingerprint(token) in str(caught.value)


def test_url_forms() -> None:
    assert parse_curl("curl api.test/v1").request.url == "http://api.test/v1"  # curl assumes http
    assert parse_curl("curl --url https://e.test/a#frag").request.url == "https://e.test/a"
    assert parse_curl("curl -s -- https://e.test/-dash").request.url == "https://e.test/-dash"
    assert parse_curl("/usr/bin/curl https://e.test").request.url == "https://e.test"
    assert parse_curl("https://e.test -X DELETE").request.method == "DELETE"  # no leading curl


def test_ignored_options_with_values_are_listed() -> None:
    parsed = parse_curl("curl -o out.json -w '%{http_code}' --retry 3 --compressed -v https://e.test")
    assert parsed.request.url == "https://e.test"
    assert parsed.ignored == ("--output", "--write-out", "--retry", "--compressed", "--verbose")


# --- the shell layer --------------------------------------------------------------------------------------


def test_bash_continuations_and_quotes() -> None:
    command = 'curl "https://e.test/\\\n  p" \\\r\n  -H "X-Q: a \\"b\\" $HOME" \\\n  -H \'X-S: $HOME\\n\''
    parsed = parse_curl(command)
    assert parsed.request.url == "https://e.test/  p"
    assert parsed.request.headers == (("X-Q", 'a "b" $HOME'), ("X-S", "$HOME\\n"))


def test_ansi_c_escapes() -> None:
    parsed = parse_curl(r"curl https://e.test --data-raw $'a\tb\x41\101\u00e9\ud83d\ude00\'\\\q\cA'")
    assert parsed.request.body == "a\tbAAé😀'\\\\q\x01".encode()


def chrome_escape_posix(text: str) -> str:
    """Chrome DevTools' escapeStringPosix, as in its "Copy as cURL (bash)"."""
    if re.search(r"[\x00-\x1f\x7f-\x9f!']", text):
        escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
        escaped = re.sub(r"[\x00-\x1f\x7f-\x9f!]", lambda m: f"\\u{ord(m.group(0)):04x}", escaped)
        return f"$'{escaped}'"
    return f"'{text}'"


@settings(deadline=None)  # the machine is shared: a slow first call is no failure
@given(st.text(max_size=60))
def test_any_body_survives_chrome_quoting(body: str) -> None:
    parsed = parse_curl(f"curl 'https://e.test/' \\\n  --data-raw {chrome_escape_posix(body)}")
    assert parsed.request.body == body.encode()


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True),
            st.text(
                st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_categories=("Zs", "Cc")),
                min_size=1,
                max_size=30,
            ),
        ),
        max_size=5,
    )
)
def test_any_headers_survive_shlex_quoting(headers: list[tuple[str, str]]) -> None:
    args = ["curl", "https://e.test/"]
    for name, value in headers:
        args += ["-H", f"{name}: {value}"]
    # style="posix": a value holding cmd's own mark (^") makes "auto" read the paste as Windows cmd, an
    # ambiguity _shell.py documents; what is tested here is bash's quoting.
    parsed = parse_curl(shlex.join(args), style="posix")
    assert parsed.request.headers == tuple((name, value.strip()) for name, value in headers)


def chrome_escape_win(text: str) -> str:
    """Chrome DevTools' escapeStringWin, as in its "Copy as cURL (cmd)"."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[^a-zA-Z0-9\s_\-:=+~'/.',?;()*`]", lambda m: "^" + m.group(0), escaped)
    escaped = re.sub(r"%(?=[a-zA-Z0-9_])", "%^", escaped)
    return '^"' + re.sub(r"\r?\n", "^\n\n", escaped) + '^"'


# Chrome doubles every backslash, which curl.exe (Microsoft C runtime rules) halves only before a quote: a
# body with backslashes reaches the server doubled, so they are left out of this round trip.
@settings(deadline=None)
@given(st.text(st.characters(min_codepoint=32, max_codepoint=0x24F, exclude_characters="\\") | st.just("\n")))
def test_any_body_survives_chrome_cmd_quoting(body: str) -> None:
    command = f'curl ^"https://e.test/^" ^\n  --data-raw {chrome_escape_win(body)} ^\n  --compressed'
    assert parse_curl(command).request.body == body.encode()


def test_a_command_of_too_many_words_is_refused_with_the_documented_error() -> None:
    from upstreamkit.diagnose.inputs.curl import MAX_WORDS  # noqa: PLC0415 - the limit under test

    command = "curl https://api.example.com/ " + " ".join(["-H 'X-A: b'"] * (MAX_WORDS // 2 + 1))
    with pytest.raises(InputError, match="more than"):
        parse_curl(command)
    assert parse_curl("curl https://api.example.com/ " + " ".join(["-H 'X-A: b'"] * 100)).request is not None


@pytest.mark.parametrize(
    "command",
    [
        "curl 'https://e.test/' \\\n  --data-raw '^\"'",  # a bash continuation: bash, whatever the body holds
        "curl 'https://e.test/' --data-raw '^\"'",  # one line, read as cmd first: unclosed there, so bash
    ],
)
def test_a_caret_quote_inside_a_bash_quoted_body_is_text(command: str) -> None:
    # Found by hypothesis: '^"' is Windows cmd's quote mark, and also two characters of a body.
    assert parse_curl(command).request.body == b'^"'


def test_cmd_commands_are_still_read_as_cmd() -> None:
    assert parse_curl('curl ^"https://e.test/^" ^\n  --data-raw ^"a^" ').request.body == b"a"
