"""Benchmark: pulling blobs from the HTTP (nginx WebDAV) and S3 (moto) remotes vs. the raw tools.

Run:  python tests/benchmarks/bench_remote_pull.py [--size-mib 1024] [--blob-mib 64]

Prints, for the same set of blobs (random bytes, so nothing compresses):
  http: ddbuild HttpStore.get_blob (verified, sequential)  vs  one `curl` fetching the same URLs
  s3:   ddbuild FileSystemStore.get_blob (verified)        vs  pyarrow copy_files / open_input_file().read()
Ratios are baseline_seconds / ddbuild_seconds (1.0 = as fast as the baseline); the target is >= 0.7.
Servers are started here on 127.0.0.1 (nginx, and moto_server in its own process) and stopped by pid.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "store"))
sys.path.insert(0, str(HERE.parent.parent))

from store_servers import Nginx, free_port, nginx_binary, wait_for_port  # noqa: E402

from ddbuild.fingerprint import digest_file  # noqa: E402
from ddbuild.store.closure import copy_closure  # noqa: E402, F401 - documents what `cache pull` uses
from ddbuild.store.fs import FileSystemStore  # noqa: E402
from ddbuild.store.http import HttpStore  # noqa: E402


def make_blobs(directory: Path, total_mib: int, blob_mib: int) -> list[tuple[str, Path]]:
    blobs = []
    for i in range(max(1, total_mib // blob_mib)):
        path = directory / f"blob{i:03d}"
        with open(path, "wb") as out:
            for _ in range(blob_mib):
                out.write(os.urandom(1 << 20))
        blobs.append((digest_file(path), path))
    return blobs


def timed(label: str, func: Callable[[], object], total_bytes: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    print(f"  {label:<46} {best:7.3f} s  {total_bytes / best / 2**20:8.0f} MiB/s")
    return best


def fresh(directory: Path) -> Path:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def bench_http(blobs: list[tuple[str, Path]], work: Path, total: int) -> float | None:
    if nginx_binary() is None:
        print("http: skipped (nginx is not installed)")
        return None
    server = Nginx()
    try:
        store = HttpStore(server.url + "bench/", environ={})
        for digest, path in blobs:
            store.put_blob(digest, path)
        out = work / "http-out"
        print(f"http ({len(blobs)} blobs, {total / 2**20:.0f} MiB) from {store.location}")

        def ours() -> None:
            target = fresh(out)
            for digest, _ in blobs:
                assert store.get_blob(digest, target / digest)

        def curl() -> None:
            target = fresh(out)
            args = ["curl", "-sf"]
            for digest, _ in blobs:
                args += [f"{store.location}objects/{digest[:2]}/{digest}", "-o", str(target / digest)]
            subprocess.run(args, check=True)

        t_curl = timed("curl (one process, keep-alive, no hashing)", curl, total)
        t_ours = timed("HttpStore.get_blob (stream + xxh3 verify)", ours, total)
        store.close()
        ratio = t_curl / t_ours
        print(f"  ratio http = {ratio:.2f}")
        return ratio
    finally:
        server.cleanup()


def bench_s3(blobs: list[tuple[str, Path]], work: Path, total: int) -> tuple[float, float]:
    from pyarrow import fs

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    port = free_port()
    moto = subprocess.Popen(
        [shutil.which("moto_server") or "moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=30)
        s3 = fs.S3FileSystem(access_key="bench", secret_key="bench", region="us-east-1", scheme="http",
                             endpoint_override=f"127.0.0.1:{port}", allow_bucket_creation=True)
        s3.create_dir("bench")
        store = FileSystemStore("bench/cache", s3, location="s3://bench/cache")
        # Seed with boto3: pyarrow 26's multipart CompleteMultipartUpload fails against moto 5.2.1
        # ("error embedded in a 200 OK response"); this benchmark measures the pull only.
        import boto3

        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench")
        for digest, path in blobs:
            client.upload_file(str(path), "bench", f"cache/objects/{digest[:2]}/{digest}")
        out = work / "s3-out"
        print(f"s3 ({len(blobs)} blobs, {total / 2**20:.0f} MiB) from moto_server {store.location}")

        def ours() -> None:
            target = fresh(out)
            for digest, _ in blobs:
                assert store.get_blob(digest, target / digest)

        def copy_files() -> None:
            fs.copy_files("bench/cache/objects", str(fresh(out)), source_filesystem=s3,
                          destination_filesystem=fs.LocalFileSystem())

        def read_all() -> None:
            target = fresh(out)
            for digest, _ in blobs:
                with s3.open_input_file(f"bench/cache/objects/{digest[:2]}/{digest}") as f:
                    (target / digest).write_bytes(f.read())

        t_copy = timed("pyarrow copy_files", copy_files, total, repeat=1)
        t_read = timed("pyarrow open_input_file().read() (no hashing)", read_all, total)
        t_ours = timed("FileSystemStore.get_blob (read + xxh3 verify)", ours, total)
        print(f"  ratio s3 vs copy_files = {t_copy / t_ours:.2f}; vs open_input_file().read() = {t_read / t_ours:.2f}")
        return t_copy / t_ours, t_read / t_ours
    finally:
        os.kill(moto.pid, signal.SIGTERM)
        moto.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--blob-mib", type=int, default=64)
    parser.add_argument("--skip-s3", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ddbuild-bench-") as tmp:
        work = Path(tmp)
        blobs = make_blobs(fresh(work / "src"), args.size_mib, args.blob_mib)
        total = sum(p.stat().st_size for _, p in blobs)
        http_ratio = bench_http(blobs, work, total)
        s3_ratios = None if args.skip_s3 else bench_s3(blobs, work, total)
    print("summary (target >= 0.7):")
    if http_ratio is not None:
        print(f"  http ratio {http_ratio:.2f}")
    if s3_ratios is not None:
        print(f"  s3 ratio vs copy_files {s3_ratios[0]:.2f}, vs open_input_file().read() {s3_ratios[1]:.2f}")


if __name__ == "__main__":
    main()
