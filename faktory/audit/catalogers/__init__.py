"""One cataloger per ecosystem (Python distributions, Debian packages, C extensions), each over a FileSystem."""

from faktory.audit.catalogers.dpkg import catalog_deb_packages, deb_owner
from faktory.audit.catalogers.extensions import catalog_extensions
from faktory.audit.catalogers.osrelease import catalog_os
from faktory.audit.catalogers.python import catalog_distributions

__all__ = ["catalog_deb_packages", "deb_owner", "catalog_extensions", "catalog_distributions", "catalog_os"]
