"""An Image over a host directory root and a hand-written config: for unit tests and the oracle."""

from __future__ import annotations

from dataclasses import dataclass, field

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

    @property
    def size(self) -> int:
        return sum(e.size for e in self.fs.walk("/") if e.is_file)
