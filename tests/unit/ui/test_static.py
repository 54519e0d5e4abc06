"""The vendored htmx files are exactly the ones recorded (sha256), and the pages load
nothing else: no third-party host, no inline script."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

UI = Path(__file__).resolve().parents[3] / "operator" / "flowrun" / "ui"


def test_vendored_files_match_their_recorded_sha256():
    lines = (UI / "static" / "SHA256SUMS").read_text().split("\n")
    recorded = dict(reversed(line.split()) for line in lines if line.strip())
    assert set(recorded) == {p.name for p in (UI / "static").glob("htmx*.js")}
    for name, digest in recorded.items():
        assert hashlib.sha256((UI / "static" / name).read_bytes()).hexdigest() == digest, name


def test_templates_load_only_our_own_scripts_and_styles():
    for template in (UI / "templates").glob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script[^>]*>", text):
            assert "src=\"{{ static[" in tag, (template.name, tag)
        assert not re.search(r"<script[^>]*>\s*[^<\s]", text), template.name  # no inline code
        assert not re.search(r"\son[a-z]+=", text), template.name  # no inline handlers
        assert "style=" not in text, template.name  # CSP: style-src 'self'
        assert not re.search(r"(src|href)=\"(https?:)?//", text), template.name
