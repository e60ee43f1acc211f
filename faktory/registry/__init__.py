"""Everything faktory says to a registry goes through here (OCI distribution API).

- `auth`: one keychain (flags, --authfile, environment, docker config and credential helpers, in that order),
- `transport`: plain-HTTP rule, ping and Basic/Bearer challenge, retries, timeouts, size caps,
- `client`: manifests, blobs, tags, catalog, and a push of an OCI layout (blobs first, manifest last).

Standard library only: a warm `faktory inspect` of a registry image is one ping and one HEAD, and importing
a heavier HTTP stack would cost more than the rest of it.
"""
