"""The heap is frozen while a batch's LLM rows run, and only then: garbage from before is still collected."""

from __future__ import annotations

import gc
import threading
import weakref

import pandas as pd
from engine_helpers import load, run

import ddbuild as dd
from ddbuild.engine.gcfreeze import FULL_COLLECTION_EVERY, frozen_heap

SEEN: list[int] = []


@dd.custom_column_generator(required_columns=["answer"])
def freeze_count(row):
    SEEN.append(gc.get_freeze_count())
    row["frozen"] = SEEN[-1] > 0
    return row


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_the_heap_is_frozen_while_llm_rows_run_and_thawed_after(tmp_path, openai_server):
    SEEN.clear()
    b = dd.DataDesignerConfigBuilder(model_configs=[dd.ModelConfig(alias="m", model="test-model", provider="local")])
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame({"topic": ["a", "b", "c"]})))
    b.add_column(name="answer", column_type="llm_text", model_alias="m", prompt="About {{ topic }}")
    b.add_column(dd.CustomColumnConfig(name="frozen", generator_function=freeze_count))  # same row segment
    garbage = _Cycle()  # cyclic garbage made before the build: frozen with the heap, collected after
    gone = weakref.ref(garbage)
    del garbage
    run(b, tmp_path / "ds", num_records=3, model_providers=[dd.ModelProvider(name="local", endpoint=openai_server.url)])
    assert list(load(tmp_path / "ds")["frozen"]) == [True, True, True] and len(SEEN) == 3
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None


def test_nested_and_concurrent_blocks_share_one_freeze():
    assert gc.get_freeze_count() == 0
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with frozen_heap():
            inside.set()
            release.wait(10)

    with frozen_heap():
        thread = threading.Thread(target=other)
        thread.start()
        inside.wait(10)
        with frozen_heap():
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0  # the inner block did not thaw the outer one's heap
    assert gc.get_freeze_count() > 0  # the thread's block is still open
    release.set()
    thread.join(10)
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_by_the_process_itself_is_left_in_place():
    gc.freeze()  # e.g. a pre-fork server's
    try:
        frozen = gc.get_freeze_count()
        with frozen_heap():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_old_cyclic_garbage_cannot_pile_up_over_many_frozen_periods():
    # A cycle that is garbage while frozen is frozen again at each period's start; Python would
    # only find it in a full collection, which the few allocations between batches never trigger.
    gc.collect()
    garbage = _Cycle()
    gone = weakref.ref(garbage)
    del garbage
    for _ in range(FULL_COLLECTION_EVERY - 1):
        with frozen_heap():
            pass
    assert gone() is not None  # still waiting: no full collection yet
    with frozen_heap():
        pass
    assert gone() is None
