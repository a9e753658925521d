"""What a build file's load may depend on that the stamp cannot observe: C-extension readers, the
clock, randomness, the network, other processes. Such a build file is always loaded.

``ddbuild.cli.loadwatch`` observes what Python itself sees while ddfile.py loads (files opened,
directories listed or stat'ed, environment variables, modules). Some reads never reach Python's
audit hook: pyarrow, pandas, polars, numpy ... open and read files in C; the clock and random
numbers differ on every load; a socket or a child process reads anything. The rule (docs/cli.md,
"How a no-op stays fast") is decided here, from three kinds of evidence:

    1. the source of the build file and of every project-local module it imported: an ``import``
       of a module in ``MODULES`` (anywhere, even inside a function), or a name in ``NAMES``
    2. a module of ``READERS`` imported for the first time during the load (a third-party helper
       that reads through pyarrow; ddbuild itself imports none of them while a build file loads)
    3. an audit event of ``EVENTS`` raised during the load (a connection, a process, ctypes)

Each returns a reason (``"ddfile.py imports pyarrow (reads files in C, unseen by Python)"``) that
``-v`` prints when the fast path steps aside.
"""

from __future__ import annotations

import ast

READ_IN_C = "reads files in C, unseen by Python"
NETWORK = "uses the network"
PROCESSES = "runs other programs or foreign code"
CLOCK = "reads the clock"
RANDOM = "draws random values"

READERS = {
    name: READ_IN_C
    for name in (
        "pyarrow", "pandas", "polars", "numpy", "duckdb", "h5py", "tables", "netCDF4", "xarray", "scipy",
        "fastparquet", "zarr", "lxml", "torch", "tensorflow", "datasets", "joblib", "pyreadstat", "sqlalchemy",
        "psycopg", "psycopg2", "pymysql", "pymongo", "redis", "boto3", "botocore", "s3fs", "gcsfs", "fsspec",
        "smart_open", "sqlite3", "dbm", "shelve", "mmap", "sklearn",
    )
}  # fmt: skip
MODULES = {
    **READERS,
    **{name: NETWORK for name in ("socket", "ssl", "http", "urllib", "urllib3", "requests", "httpx", "aiohttp",
                                  "ftplib", "smtplib", "poplib", "imaplib", "xmlrpc", "asyncio", "grpc",
                                  "websockets")},
    **{name: PROCESSES for name in ("subprocess", "multiprocessing", "pty", "ctypes", "cffi")},
    **{name: CLOCK for name in ("time",)},
    **{name: RANDOM for name in ("random", "secrets", "uuid", "faker", "mimesis")},
}  # fmt: skip
# datetime is opaque only when the file asks it for the current time.
CLOCK_NAMES = {"now", "today", "utcnow"}
NAMES = {"urandom": RANDOM, "getrandom": RANDOM}
EVENTS = {
    "socket.connect": NETWORK, "socket.getaddrinfo": NETWORK, "socket.gethostbyname": NETWORK,
    "socket.sendto": NETWORK, "socket.bind": NETWORK, "urllib.Request": NETWORK, "http.client.connect": NETWORK,
    "ftplib.connect": NETWORK, "smtplib.connect": NETWORK, "subprocess.Popen": PROCESSES,
    "os.system": PROCESSES, "os.exec": PROCESSES, "os.posix_spawn": PROCESSES, "os.spawn": PROCESSES,
    "os.fork": PROCESSES, "os.forkpty": PROCESSES, "pty.spawn": PROCESSES, "ctypes.dlopen": PROCESSES,
    "sqlite3.connect": READ_IN_C,
}  # fmt: skip


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def scan_source(source: str, name: str) -> list[str]:
    """Reasons found in one project-local source file (``name`` as the message shows it)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return [f"{name} could not be read for its imports"]
    reasons: list[str] = []
    words: set[str] = set()
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(_top(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(_top(node.module))
            words.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.Name):
            words.add(node.id)
    for module in sorted(imported):
        if module in MODULES:
            reasons.append(f"{name} imports {module} ({MODULES[module]})")
        elif module == "datetime" and words & CLOCK_NAMES:
            reasons.append(f"{name} imports datetime and asks it for {sorted(words & CLOCK_NAMES)[0]}() ({CLOCK})")
    reasons += [f"{name} calls {word} ({NAMES[word]})" for word in sorted(words & NAMES.keys())]
    return reasons


def new_module_reasons(new_modules: list[str]) -> list[str]:
    """Readers first imported while the build file loaded (through any module it imported)."""
    tops = dict.fromkeys(_top(m) for m in new_modules)
    return [f"loading it imports {top} ({READERS[top]})" for top in tops if top in READERS]


def event_reason(event: str) -> str | None:
    """The reason for an audit event raised during the load, or None when it is not opaque."""
    reason = EVENTS.get(event)
    return f"loading it {reason} (audit event {event})" if reason else None
