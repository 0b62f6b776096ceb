"""The ceiling of the app path: a bare WSGI callable returning the landing page's response.

Same body and same headers as the app's `GET /` (captured by the bench run), so the
difference measured is the app's own work.
"""

import json
import os
from pathlib import Path

PAGE = Path(os.environ["BENCH_PAGE"]).read_bytes()
HEADERS = [(k, v) for k, v in json.loads(Path(os.environ["BENCH_PAGE_HEADERS"]).read_text())]
HEADERS.append(("Content-Length", str(len(PAGE))))


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [PAGE]
