"""The registry webhook service: convert on push, push the result back.

events (parse webhook payloads) -> rules (what to convert where) -> store (jobs, shared between processes)
-> queue (huey) -> pipeline (pull, analyze, convert, verify) -> publish (blobs first, manifest last).
`app` is the HTTP side, `runner` starts the server and the worker processes.
"""
