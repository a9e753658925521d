"""The hostile-remote corpus: what an attacker plants in a shared remote, one line per case.

A case is ``name | plants | remotes | without keys``:

- plants: ``target=mutation`` separated by ``;`` (applied in order to a copy of an honest remote);
- remotes: where the plant is tried (``dir`` = a directory remote, ``http`` = nginx WebDAV, ``s3`` =
  moto). Links and FIFOs exist only on a directory remote. Parsing and checks are one code path
  (FileSystemStore) over every remote, so http/s3 run one case per transport path (entry and
  response reads with their size caps, JSON depth, blob streaming), which keeps the run short;
- without keys: what a reader with no signing key gets. ``correct`` = the honest bytes (the plant is
  detected); ``served`` = the remote's content is used, as designed when nobody signs anything (the
  build still ends cleanly). With keys (``--require-signed``) every case must give ``correct``.

Targets: ``entry:a`` / ``entry:b`` (the stage's action entry), ``responses`` (every LLM response
pack: a mutation of a response's JSON is applied to each response and the pack re-written well formed
under its new name; a byte mutation changes the pack's bytes),
``blob:a`` (stage a's first output blob), ``dir:quarantine`` and ``shard:a`` (directories).
"""

from __future__ import annotations

CORPUS = """
pwned-responses        | entry:a=delete; entry:b=delete; responses=pwned              | dir http s3 | served
pwned-responses-forged | entry:b=delete; responses=pwned; responses=forge-signature   | dir         | served
responses-swapped      | entry:b=delete; responses=swap                               | dir         | served
response-deep-json     | entry:b=delete; responses=deep                               | dir         | correct
response-choices-int   | entry:b=delete; responses=json:{"choices":[1]}               | dir http s3 | correct
response-not-object    | entry:b=delete; responses=json:[1, 2]                        | dir         | correct
response-huge          | entry:b=delete; responses=huge                               | dir http s3 | correct
response-devzero       | entry:b=delete; responses=devzero                            | dir         | correct
response-fifo          | entry:b=delete; responses=fifo                               | dir         | correct
pack-bytes-flipped     | entry:b=delete; responses=flip                               | dir http s3 | correct
pack-truncated         | entry:b=delete; responses=truncate                           | dir         | correct
entry-deep-json        | entry:a=deep                                                 | dir http s3 | correct
entry-huge             | entry:a=huge                                                 | dir http s3 | correct
entry-truncated        | entry:a=truncate                                             | dir         | correct
entry-not-object       | entry:a=json:"x"                                             | dir         | correct
entry-devzero          | entry:a=devzero                                              | dir         | correct
entry-fifo             | entry:a=fifo                                                 | dir         | correct
entry-under-other-key  | entry:a=copy-of-b                                            | dir         | correct
root-escapes-view      | entry:a=field:selected_output.root="../../.."                | dir         | correct
path-escapes-view      | entry:a=field:outputs.0.path="../../../escaped.parquet"      | dir         | correct
digest-not-hex         | entry:a=field:outputs.0.digest="../../00000000000000000000000000/passwd" | dir         | correct
rows-negative          | entry:a=field:selected_output.rows=-1                        | dir         | correct
rows-bool              | entry:a=field:outputs.0.rows=true                            | dir         | correct
response-key-not-hex   | entry:b=field:usage.response_keys=["../../../x"]             | dir         | correct
blob-flipped           | blob:a=flip                                                  | dir http s3 | correct
blob-not-parquet       | blob:a=not-parquet                                           | dir http s3 | correct
blob-devzero           | blob:a=devzero                                               | dir         | correct
blob-flipped-quarantine-link | dir:quarantine=symlink-out; blob:a=flip                | dir         | correct
shard-links-outside    | shard:a=symlink-out                                          | dir         | correct
"""


def cases() -> list[tuple[str, list[tuple[str, str]], set[str], str]]:
    """(name, [(target, mutation)], remotes, expectation without keys) for every corpus line."""
    parsed = []
    for line in CORPUS.strip().splitlines():
        name, plants, remotes, unsigned = (part.strip() for part in line.split("|"))
        steps = [tuple(p.strip().split("=", 1)) for p in plants.split(";")]
        parsed.append((name, steps, set(remotes.split()), unsigned))
    return parsed  # type: ignore[return-value]
