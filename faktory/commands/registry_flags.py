"""Registry login flags, defined once and shared by the verbs (skopeo's `imageFlags(…, "src-")` idea).

`--creds USER[:PASSWORD]` (inspect, analyze), `--src-creds`/`--dest-creds` (convert and its --push), and
`--authfile FILE` in place of the docker config; without them the keychain's default order holds
(faktory.registry.auth).
"""

from __future__ import annotations

import typer

from faktory.registry.auth import DefaultKeychain, keychain


def creds_option(prefix: str = ""):
    """`--{prefix}creds`; the source side also answers to plain `--creds`, as in skopeo."""
    side = {"": "the registry", "src-": "the source registry", "dest-": "the --push registry"}[prefix]
    names = [f"--{prefix}creds", *(["--creds"] if prefix == "src-" else [])]
    return typer.Option(None, *names, metavar="USER[:PASSWORD]",
                        help=f"Login for {side} (default: --authfile, $FAKTORY_REGISTRY_USER/"
                             "$FAKTORY_REGISTRY_PASSWORD, then the docker config and its credential helpers).")


def authfile_option():
    return typer.Option(None, "--authfile", metavar="FILE",
                        help="Read registry logins from FILE (a docker config.json or containers auth.json) "
                             "instead of the docker config.")


def keychain_for(creds: str | None, authfile: str | None, prefix: str = "") -> DefaultKeychain:
    return keychain(creds, authfile, flag=f"--{prefix}creds")
