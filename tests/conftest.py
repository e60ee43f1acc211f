"""Session fixtures shared by the whole suite: the real services and the real fixture images.

`services`        -> tests.support.services.Services (.registry, .auth_registry, .registry_user,
                     .registry_password, .redis_url), started here if not running.
`fixture_images`  -> mapping name -> fixtures.catalog.FixtureImage (tag, archive, oci, registry_ref, probe…),
                     built or reused from the cache by fixtures/build.py.

Under CI=true anything missing (engine, registry, tool, fixture image) is a failure, never a skip.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `fixtures` and `tests.support` live at the repo root
    sys.path.insert(0, str(REPO_ROOT))

from fixtures.catalog import FixtureImage  # noqa: E402
from tests.support import services as services_mod  # noqa: E402
from tests.support.ci import unavailable  # noqa: E402



@pytest.fixture(scope="session")
def services() -> services_mod.Services:
    try:
        return services_mod.start()
    except services_mod.ServiceError as err:
        unavailable(f"test services unavailable: {err}")


class FixtureImages(Mapping[str, FixtureImage]):
    """Built fixture images by name; asking for one that could not be built fails (CI) or skips, with why."""

    def __init__(self, images: dict[str, FixtureImage], missing: dict[str, str]):
        self._images = images
        self._missing = missing

    def __getitem__(self, name: str) -> FixtureImage:
        if name in self._images:
            return self._images[name]
        reason = self._missing.get(name, "no such fixture (see fixtures/apps/ and fixtures/catalog.py)")
        unavailable(f"fixture image {name!r} unavailable: {reason}")

    def __contains__(self, name: object) -> bool:
        return name in self._images

    def __iter__(self) -> Iterator[str]:
        return iter(self._images)

    def __len__(self) -> int:
        return len(self._images)

    @property
    def missing(self) -> dict[str, str]:
        return dict(self._missing)


@pytest.fixture(scope="session")
def fixture_images(services) -> FixtureImages:
    from fixtures.build import BuildError, ensure

    try:
        result = ensure(services=services)
    except BuildError as err:
        unavailable(f"fixture images could not be built: {err}")
    return FixtureImages(result.images, result.missing)
