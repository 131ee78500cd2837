"""LOG_FORMAT=json: one JSON object a line, carrying the request id the line was written under."""

import json

from tests.processes import manage

CODE = (
    "import logging\n"
    "from offboarding.request_id import request_id\n"
    "with request_id('req-123'):\n"
    "    logging.getLogger('offboarding.test').warning('hello %s', 'there')\n"
)


class TestJsonLogs:
    def test_a_log_line_is_json_with_the_request_id(self):
        result = manage("shell", "-c", CODE, DEBUG="true", LOG_FORMAT="json")
        assert result.returncode == 0, result.stderr
        line = json.loads(result.stderr.strip().splitlines()[-1])
        assert line["message"] == "hello there"
        assert line["request_id"] == "req-123"
        assert line["level"] == "WARNING" and line["logger"] == "offboarding.test"

    def test_plain_lines_by_default(self):
        result = manage("shell", "-c", CODE, DEBUG="true")
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip().splitlines()[-1].endswith("WARNING offboarding.test hello there")
