"""The Workday report is streamed: rows are read as their text arrives, whatever the chunks' boundaries."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offboarding.clients import workday as workday_module
from offboarding.clients.errors import MalformedResponse, TransientError
from offboarding.clients.report_stream import NotAReport, report_entries
from offboarding.clients.workday import WorkdayClient

ROWS = [
    {"Employee_ID": "E1", "Legal_Name": "Ada \u00e9 \U0001f600", "Days": 12345},
    {"Employee_ID": "E2", "n": -1.5e3, "t": True, "z": None, "l": [1, [2, {"x": "]}"}]]},
    "not an object",
    12,
]

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=8,
)


def chunked(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def entries(body: bytes, size: int = 1 << 16) -> list:
    return list(report_entries(chunked(body, size)))


class TestEveryBoundary:
    def test_the_rows_are_the_same_wherever_the_chunks_split_the_body(self):
        body = json.dumps({"Other": {"a": [1, 2]}, "Report_Entry": ROWS, "After": "x"}, ensure_ascii=False).encode()
        for size in range(1, 40):
            assert entries(body, size) == ROWS, size

    def test_a_number_split_across_chunks_is_read_whole(self):
        body = b'{"Report_Entry": [123456789, 42]}'
        assert entries(body, 1) == [123456789, 42]
        assert entries(body, 22) == [123456789, 42]

    @settings(max_examples=200, deadline=None)
    @given(rows=st.lists(JSON_VALUES, max_size=6), size=st.integers(1, 64), indent=st.sampled_from([None, 0, 2]))
    def test_any_report_reads_as_the_standard_decoder_reads_it(self, rows, size, indent):
        body = json.dumps({"Report_Entry": rows}, indent=indent).encode()
        assert entries(body, size) == json.loads(body)["Report_Entry"]

    def test_a_byte_order_mark_is_skipped(self):
        assert entries(b'\xef\xbb\xbf{"Report_Entry": [1]}', 2) == [1]


class TestHostileRowsDoNotSinkTheReport:
    def test_a_lone_surrogate_and_a_huge_integer_are_read_as_rows(self):
        body = b'{"Report_Entry": [{"a": "\\ud800"}, {"n": ' + b"9" * 5000 + b'}, {"ok": 1}]}'
        rows = list(report_entries(chunked(body, 7), parse_int=workday_module._integer))
        assert rows[0] == {"a": "\ud800"} and rows[1] == {"n": "9" * 5000} and rows[2] == {"ok": 1}


class TestNotAReport:
    @pytest.mark.parametrize(
        "body, reason",
        [
            (b"<html>Service unavailable</html>", "expected {"),
            (b'{"Report_Entry": [1, 2', "expected , or ]"),
            (b'{"Report_Entry": [{"a": "b', "not JSON"),
            (b'{"Report_Entry": "none"}', "not a list"),
            (b'{"Report_Data": []}', "no Report_Entry"),
            (b'{"Report_Entry": [1], "Report_Entry": [2]}', "two Report_Entry"),
            (b'{"Report_Entry": []} {"Report_Entry": []}', "goes on after"),
            (b'{"Report_Entry": [\xff]}', "not UTF-8"),
            (b"", "expected {"),
            (b'{"Report_Entry": [' + b"[" * 100_000 + b"]", "not JSON"),
        ],
    )
    def test_a_body_that_is_not_a_report_is_refused_with_its_reason(self, body, reason):
        with pytest.raises(NotAReport, match=reason):
            entries(body, 5)

    def test_an_empty_report_has_no_rows(self):
        assert entries(b'{"Report_Entry": []}') == [] and entries(b' { "Report_Entry" : [ ] } ') == []


class TestStreaming:
    def test_a_row_is_read_before_the_rest_of_the_body_arrives(self):
        read = []

        def body():
            yield b'{"Report_Entry": [{"Employee_ID": "E1"}, '
            assert read == [{"Employee_ID": "E1"}], "the first row was not read before the second chunk"
            yield b'{"Employee_ID": "E2"}]}'

        for row in report_entries(body()):
            read.append(row)
        assert read == [{"Employee_ID": "E1"}, {"Employee_ID": "E2"}]

    def test_text_already_read_is_let_go(self):
        row = json.dumps({"Employee_ID": "E", "Pad": "x" * 1000})
        body = ('{"Report_Entry": [' + ", ".join([row] * 5000) + "]}").encode()
        stream = report_entries(chunked(body, 1 << 16))
        buffer_sizes = []
        for _ in stream:
            buffer_sizes.append(len(stream.gi_frame.f_locals["body"].text))
        assert len(buffer_sizes) == 5000
        assert max(buffer_sizes) < 3 * (1 << 20) < len(body)


class TestOverHttp:
    def test_a_body_cut_off_halfway_is_retried_and_then_read(self, sandbox, leaver):
        leaver("E100")
        sandbox.fault("workday", "cut_off", count=1)
        report = WorkdayClient.from_settings().fetch_terminations()
        assert [t.employee_id for t in report.terminations] == ["E100"]
        reads = [r for r in sandbox.requests() if r["service"] == "workday"]
        assert len(reads) == 2

    def test_a_body_always_cut_off_fails_loudly_as_transient(self, sandbox, leaver):
        leaver("E100")
        sandbox.fault("workday", "cut_off")
        with pytest.raises(TransientError, match="body cut short"):
            WorkdayClient.from_settings().fetch_terminations()

    def test_a_report_cut_short_is_refused_not_read_as_fewer_rows(self, sandbox, leaver):
        leaver("E100")
        sandbox.fault("workday", "truncated")
        with pytest.raises(MalformedResponse, match="cut short"):
            WorkdayClient.from_settings().fetch_terminations()
