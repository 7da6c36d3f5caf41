"""Helpers for the server tests: a temp server tree, the publisher as a subprocess, crafted zips."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from difusor.rehearsal.prep import make_package

REPO = Path(__file__).resolve().parents[2]
SERVER_DIR = REPO / "server"
PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def server_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS and k != "DIFUSOR_TEST_PAUSE"}
    env["PYTHONPATH"] = str(SERVER_DIR)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def only(self, event: str) -> list[dict]:
        return [e for e in self.events if e["event"] == event]


class Tree:
    """A server tree in a temp directory, with its publisher.json."""

    def __init__(self, root: Path, **overrides):
        self.root = Path(root)
        self.incoming = self.root / "incoming"
        self.archive = self.root / "archive"
        self.releases = self.root / "releases"
        self.current = self.root / "current"
        self.quarantine = self.root / "quarantine"
        self.state = self.root / "state"
        self.log_file = self.root / "log" / "publisher.log"
        self.healthz = self.root / "www" / "healthz.json"
        self.staging = self.root / "staging"
        for d in (self.incoming, self.staging):
            d.mkdir(parents=True, exist_ok=True)
        self.config = {
            "incoming_dir": str(self.incoming),
            "archive_dir": str(self.archive),
            "releases_dir": str(self.releases),
            "current_link": str(self.current),
            "quarantine_dir": str(self.quarantine),
            "state_dir": str(self.state),
            "log_file": str(self.log_file),
            "healthz_file": str(self.healthz),
            "sidecar": "if-present",
            "sidecar_wait_seconds": 0,
            "settle_seconds": 0,
        }
        self.configure(**overrides)

    def configure(self, **overrides):
        self.config.update(overrides)
        self.config_path = self.root / "publisher.json"
        self.config_path.write_text(json.dumps(self.config, indent=2))

    # -- running
    def run(self, *args, env=None, timeout=120) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "difusor_server", *args, "--config", str(self.config_path)],
            cwd=self.root,
            env=server_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def publish(self, env=None, timeout=120) -> Result:
        return self.run("publish", env=env, timeout=timeout)

    def monitor(self, now: str | None = None) -> Result:
        return self.run("monitor", *(["--now", now] if now else []))

    def spawn_publish(self, env=None) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "difusor_server", "publish", "--config", str(self.config_path)],
            cwd=self.root,
            env=server_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    # -- packages
    def package(self, corte: str, fraction: float = 0.5, name: str | None = None, **kw) -> Path:
        """A small generated package in the staging dir."""
        kw.setdefault("actas", 40)
        kw.setdefault("elections", ("GUB", "DIP_LOC"))
        target = self.staging / name if name else self.staging
        return make_package(target, corte, fraction, **kw)

    def put(self, src: Path, name: str | None = None, sidecar: Path | None = None) -> Path:
        """Drop a file into incoming the way rsync does: temp dot-name, then rename."""
        name = name or src.name
        tmp = self.incoming / f".{name}.AbC123"
        shutil.copyfile(src, tmp)
        if sidecar is not None:
            shutil.copyfile(sidecar, self.incoming / (name + ".sha256"))
        os.replace(tmp, self.incoming / name)
        return self.incoming / name

    # -- looking
    def live(self) -> dict | None:
        try:
            return json.loads((self.current / "corte.json").read_text())
        except (OSError, ValueError):
            return None

    def release_dirs(self) -> list[str]:
        if not self.releases.exists():
            return []
        return sorted(p.name for p in self.releases.iterdir())

    def log_records(self) -> list[dict]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line.strip()]

    def archive_files(self) -> dict[str, bytes]:
        if not self.archive.exists():
            return {}
        return {
            str(p.relative_to(self.archive)): p.read_bytes()
            for p in sorted(self.archive.rglob("*"))
            if p.is_file()
        }


# ----------------------------------------------------------------------------- crafted zips


def info(
    name: str,
    mode: int | None = 0o100644,
    create_system: int = 3,
    extra: bytes = b"",
    method: int = zipfile.ZIP_DEFLATED,
) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time=(2024, 6, 2, 21, 15, 0))
    zi.create_system = create_system
    if mode is not None:
        zi.external_attr = (mode & 0xFFFF) << 16
    zi.extra = extra
    zi.compress_type = method
    return zi


def zip_bytes(entries) -> bytes:
    """entries: (ZipInfo or name, data) pairs."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for zi, data in entries:
            if isinstance(zi, str):
                zi = info(zi)
            zf.writestr(zi, data)
    return buf.getvalue()


def zip_with_a_name_twice() -> bytes:
    """Two entries named index.html (zipfile warns, and writes them)."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("index.html", b"one")
            zf.writestr("index.html", b"two")
    return buf.getvalue()


def csv_for(corte_line: str) -> bytes:
    return (
        f"GUBERNATURA\n{corte_line}\nACTAS_ESPERADAS\n1\n\nCLAVE_CASILLA,CLAVE_ACTA\n'300001B0100,'300001B010004\n"
    ).encode()


def pkware_unix_extra(link_target: bytes) -> bytes:
    """PKWARE Unix extra field (0x000d) whose variable part is a link target (hard link)."""
    body = struct.pack("<IIHH", 0, 0, 0, 0) + link_target
    return struct.pack("<HH", 0x000D, len(body)) + body


def corrupt_first_stored_member(data: bytes) -> bytes:
    """Flip one byte inside the data of the first member (stored), so its CRC-32 fails."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    zi = zf.infolist()[0]
    name_len, extra_len = struct.unpack_from("<HH", data, zi.header_offset + 26)
    at = zi.header_offset + 30 + name_len + extra_len + min(10, zi.compress_size - 1)
    out = bytearray(data)
    out[at] ^= 0xFF
    return bytes(out)


def many_entries_zip(path: Path, count: int, declared: int | None = None) -> Path:
    """A zip of ``count`` empty files written record by record (zipfile would hold every entry
    in memory), with zip64 end records, as a tool writes them past 65,535 entries. ``declared``
    makes the end records announce another count than the central directory holds."""
    local = struct.Struct("<4s5H3L2H")
    central = struct.Struct("<4s6H3L5H2L")
    crc = 0
    with open(path, "wb") as f:
        for i in range(count):
            name = f"d/{i:07d}.txt".encode()
            f.write(local.pack(b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, 0, 0, len(name), 0) + name)
        directory_offset = f.tell()
        for i in range(count):
            name = f"d/{i:07d}.txt".encode()
            offset = i * (local.size + len(name))
            record = central.pack(
                b"PK\x01\x02",
                0x031E,
                20,
                0,
                0,
                0,
                0x21,
                crc,
                0,
                0,
                len(name),
                0,
                0,
                0,
                0,
                0o100644 << 16,
                offset,
            )
            f.write(record + name)
        directory_end = f.tell()
        write_zip64_end(
            f,
            declared if declared is not None else count,
            directory_end - directory_offset,
            directory_offset,
        )
    return path


def write_zip64_end(f, entries: int, directory_size: int, directory_offset: int) -> None:
    """The zip64 end record and locator, then an end record that defers to them."""
    zip64_end = f.tell()
    f.write(
        struct.pack(
            "<4sQ2H2L4Q",
            b"PK\x06\x06",
            44,
            45,
            45,
            0,
            0,
            entries,
            entries,
            directory_size,
            directory_offset,
        )
    )
    f.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, zip64_end, 1))
    f.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))


def with_zip64_end(data: bytes) -> bytes:
    """The same zip with its end record replaced by zip64 end records."""
    end = data.rindex(b"PK\x05\x06")
    entries, directory_size, directory_offset = struct.unpack_from("<H2L", data, end + 10)
    out = io.BytesIO()
    out.write(data[:end])
    write_zip64_end(out, entries, directory_size, directory_offset)
    return out.getvalue()


def wait_for(predicate, timeout=30.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def mode_of(path: Path) -> str:
    return stat.filemode(path.lstat().st_mode)


# ------------------------------------------------------------------------ a local HTTP stand-in


class LocalHTTP:
    """An HTTP server on 127.0.0.1 answering POSTs from a script of (status, json body, delay)."""

    def __init__(self, script=None, default=(200, {"success": True}, 0.0)):
        import http.server
        import threading

        self.requests: list[dict] = []
        self.script = list(script or [])
        self.default = default
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                outer.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(body or b"null"),
                    }
                )
                status, answer, delay = outer.script.pop(0) if outer.script else outer.default
                if delay:
                    time.sleep(delay)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
