"""A small image whose app imports a module no static rule can see: its name is the reverse of an Env value.

The plugin lives in site-packages (outside the app's own directory, which the analysis keeps whole), reads a
data file next to it, and imports a stdlib module nothing else imports. Built with `docker build` on the
py3.12-slim fixture base; removed by the caller.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SITE = "/usr/local/lib/python3.12/site-packages"
PLUGIN = f"{SITE}/hidden_plugin"
APP = '''import importlib
import os

name = "".join(reversed(os.environ["PLUGIN_REVERSED"]))
plugin = importlib.import_module(name)
print("plugin says", plugin.greeting())
'''
PLUGIN_INIT = '''import colorsys
import os


def greeting():
    with open(os.path.join(os.path.dirname(__file__), "message.txt")) as fh:
        text = fh.read().strip()
    return f"{text} {colorsys.rgb_to_hsv(1, 0, 0)[0]:.1f}"
'''
EXPECT = "plugin says hidden hello 0.0"


def build(base_tag: str, tag: str, context: Path, labels: dict[str, str] | None = None) -> str:
    context.mkdir(parents=True, exist_ok=True)
    (context / "app.py").write_text(APP)
    (context / "README.md").write_text("notes, not needed at run time\n")
    (context / "plugin").mkdir(exist_ok=True)
    (context / "plugin" / "__init__.py").write_text(PLUGIN_INIT)
    (context / "plugin" / "message.txt").write_text("hidden hello\n")
    label_lines = "".join(f'LABEL "{k}"="{v}"\n' for k, v in (labels or {}).items())
    (context / "Dockerfile").write_text(
        f"FROM {base_tag}\n"
        "WORKDIR /app\n"
        "COPY app.py README.md ./\n"
        f"COPY plugin {PLUGIN}\n"
        "ENV PLUGIN_REVERSED=nigulp_neddih\n"
        f"{label_lines}"
        'CMD ["python", "app.py"]\n')
    subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], check=True, capture_output=True, timeout=600)
    return tag


def remove(tag: str) -> None:
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120)
