"""/healthz answers 200 when the database and the broker answer, 503 naming what fails."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import django, json
django.setup()
from django.test import Client
r = Client().get('/healthz')
print(json.dumps({'status': r.status_code, 'body': json.loads(r.content)}))
"""


def probe(**env: str) -> dict:
    environ = {
        "PATH": os.environ["PATH"],
        "OFFBOARDING_IGNORE_DOTENV": "1",
        "DJANGO_SETTINGS_MODULE": "offboarding.settings",
        "DEBUG": "true",
        "ALLOWED_HOSTS": "testserver",
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.django_db
class TestHealthz:
    def test_it_answers_ok(self, client):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "failing": []}

    def test_it_names_a_broken_database(self):
        result = probe(DATABASE_URL="postgres://postgres@127.0.0.1:1/offboarding")
        assert result["status"] == 503
        assert "database" in result["body"]["failing"]

    def test_it_names_a_broken_broker(self, tmp_path):
        result = probe(
            DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", Q_BROKER="redis", REDIS_URL="redis://127.0.0.1:1/0"
        )
        assert result["status"] == 503
        assert result["body"]["failing"] == ["broker"]
