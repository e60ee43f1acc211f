"""An Image over a host directory root and a hand-written config: for unit tests and the oracle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from faktory.image import ImageConfig, Platform

from .dirfs import DirFileSystem


@dataclass
class DirImage:
    fs: DirFileSystem
    config: ImageConfig
    ref: str = "dir:"
    digest: str = "sha256:" + "0" * 64
    platform: Platform = field(default_factory=Platform)
    manifest: dict = field(default_factory=dict)
    raw_config: dict = field(default_factory=dict)
    history: tuple = ()
    layers: tuple = ()

    def __post_init__(self) -> None:
        if not self.raw_config:  # what an engine would write for this config
            self.raw_config = {"architecture": "amd64", "os": "linux", "config": {
                "Env": list(self.config.env), "Cmd": list(self.config.cmd or []),
                "Entrypoint": list(self.config.entrypoint) if self.config.entrypoint else None,
                "WorkingDir": self.config.working_dir, "ExposedPorts": {p: {} for p in self.config.exposed_ports}}}

    @property
    def root(self) -> Path:
        return Path(self.fs.root)

    @property
    def size(self) -> int:
        return sum(e.size for e in self.fs.walk("/") if e.is_file)
