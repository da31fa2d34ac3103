"""The background publisher: off the request thread, bounded, fork- and exit-safe.

These run on the memory broker with ``send_task`` recorded; tests/integration/
test_publisher.py runs the same lifecycle against a real Redis and a real worker.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import types

import pytest

from django_meisa.contacts import publisher

kwargs_seen: list = []


@pytest.fixture
def sent(monkeypatch):
    """Record (pk, countdown, thread name, producer) of every sync publish."""
    from tests.celery_app import app

    calls = []
    kwargs_seen.clear()

    def send_task(name, args, *, producer=None, countdown=None, kwargs=None, **options):
        assert name == "django_meisa.tasks.sync_contact"
        assert options["retry"] is True
        calls.append((args[0], countdown, threading.current_thread().name, id(producer)))
        kwargs_seen.append(kwargs)

    monkeypatch.setattr(app, "send_task", send_task)
    return calls


@pytest.fixture
def fresh(settings):
    """A fresh publisher (no thread, empty queue) in background mode, reset afterwards."""
    settings.MEISA = {**settings.MEISA, "PUBLISH_MODE": "background"}
    publisher._publisher.reset()
    yield publisher._publisher
    publisher.flush(5)
    publisher._publisher.reset()


def test_background_mode_publishes_off_the_calling_thread(sent, fresh):
    publisher.publish_later([1, 2, 3], countdown=None)
    publisher.publish_later([4], countdown=1.5)
    assert publisher.flush(5)
    assert [(pk, countdown) for pk, countdown, _, _ in sent] == [
        (1, None),
        (2, None),
        (3, None),
        (4, 1.5),
    ]
    assert {thread for _, _, thread, _ in sent} == {"meisa-publisher"}


def test_task_kwargs_travel_with_each_publish(sent, fresh):
    publisher.publish_later([1, 2], kwargs={"using": "replica_primary"})
    publisher.publish_later([3])
    assert publisher.flush(5)
    assert kwargs_seen == [{"using": "replica_primary"}, {"using": "replica_primary"}, None]


def test_one_thread_per_process_started_lazily(sent, fresh):
    assert fresh.thread is None
    publisher.publish_later([1])
    first = fresh.thread
    publisher.publish_later([2])
    assert fresh.thread is first
    assert first.is_alive()
    assert publisher.flush(5)


def test_a_batch_is_published_over_one_producer(sent, fresh, monkeypatch):
    gate = threading.Event()
    original = publisher.send_batch
    monkeypatch.setattr(publisher, "send_batch", lambda items: gate.wait(5) and original(items))
    publisher.publish_later([1])  # the thread takes this one and waits at the gate
    publisher.publish_later([2, 3, 4, 5])  # these queue up meanwhile: one batch
    gate.set()
    assert publisher.flush(5)
    producers = [producer for pk, _, _, producer in sent if pk != 1]
    assert len(producers) == 4
    assert len(set(producers)) == 1


def test_a_full_queue_publishes_inline_and_drops_nothing(sent, fresh, settings, caplog):
    settings.MEISA = {**settings.MEISA, "PUBLISH_QUEUE_SIZE": 2}
    fresh.reset()
    stuck = threading.Event()
    fresh.thread = threading.Thread(target=stuck.wait, daemon=True)  # nobody consumes
    fresh.thread.start()
    with caplog.at_level(logging.INFO, "django_meisa.contacts.publisher"):
        publisher.publish_later([1, 2, 3, 4, 5])
    inline = [pk for pk, _, thread, _ in sent if thread == threading.current_thread().name]
    assert inline == [3, 4, 5]  # two fit in the queue, three went out at once
    assert "queue full" in caplog.text
    stuck.set()
    fresh.thread = None
    fresh.start()  # a publisher thread again: the two queued ones go out too
    assert publisher.flush(5)
    assert sorted(pk for pk, *_ in sent) == [1, 2, 3, 4, 5]


def test_flush_gives_up_after_its_time_limit_and_says_how_many_are_left(fresh, caplog):
    stuck = threading.Event()
    fresh.thread = threading.Thread(target=stuck.wait, daemon=True)
    fresh.thread.start()
    fresh.queue.put_nowait((1, None, None))
    assert fresh.flush(0.05) is False
    assert "1 sync publish(es) left unpublished" in caplog.text
    stuck.set()
    fresh.queue.get_nowait()
    fresh.queue.task_done()


def test_a_failed_publish_logs_the_pks_only_and_the_thread_lives_on(fresh, monkeypatch, caplog):
    from kombu.exceptions import OperationalError

    from tests.celery_app import app

    def refuse(name, args, **options):
        raise OperationalError("redis://:hunter2@broker:6379/0 refused")

    monkeypatch.setattr(app, "send_task", refuse)
    publisher.publish_later([7, 8])
    assert publisher.flush(5)
    assert "7, 8" in caplog.text
    assert "hunter2" not in caplog.text
    assert fresh.thread is not None
    assert fresh.thread.is_alive()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_afresh_and_publishes_its_own(sent, fresh):
    publisher.publish_later([1])  # the parent's thread exists now
    assert publisher.flush(5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no thread inherited, an empty queue, its own publishes
        ok = fresh.thread is None and fresh.pid == os.getpid() and fresh.queue.empty()
        publisher.publish_later([2])
        ok = ok and publisher.flush(5) and [pk for pk, *_ in sent] == [1, 2]
        os.write(write, b"ok" if ok else b"no")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 2)
    os.waitpid(pid, 0)
    assert answer == b"ok"
    assert [pk for pk, *_ in sent] == [1]  # the child's publish is not the parent's


def test_inline_mode_publishes_on_the_calling_thread(sent, settings):
    settings.MEISA = {**settings.MEISA, "PUBLISH_MODE": "inline"}
    publisher.publish_later([1, 2])
    assert [(pk, thread) for pk, _, thread, _ in sent] == [
        (1, threading.current_thread().name),
        (2, threading.current_thread().name),
    ]


def test_auto_mode_uses_the_thread_in_a_plain_process(settings):
    settings.MEISA = {**settings.MEISA, "PUBLISH_MODE": "auto"}
    assert publisher.inline_reason() is None
    assert publisher.background_mode()


def test_auto_mode_is_inline_under_eager_celery(settings):
    from tests.celery_app import app

    settings.MEISA = {**settings.MEISA, "PUBLISH_MODE": "auto"}
    app.conf.task_always_eager = True
    try:
        assert publisher.inline_reason() == "Celery runs tasks eagerly"
        assert not publisher.background_mode()
    finally:
        app.conf.task_always_eager = False


@pytest.mark.parametrize(
    ("options", "inline"),
    [({}, True), ({"enable-threads": True}, False), ({"threads": b"4"}, False)],
)
def test_auto_mode_is_inline_under_uwsgi_without_threads(settings, monkeypatch, options, inline):
    settings.MEISA = {**settings.MEISA, "PUBLISH_MODE": "auto"}
    monkeypatch.setitem(sys.modules, "uwsgi", types.SimpleNamespace(opt=options))
    assert (publisher.inline_reason() is not None) is inline


@pytest.mark.parametrize("patched", [True, False])
def test_auto_mode_is_inline_when_gevent_patched_threading(settings, monkeypatch, patched):
    settings.MEISA = {**settings.MEISA, "PUBLISH_MODE": "auto"}
    fake = types.SimpleNamespace(is_module_patched=lambda name: patched and name == "threading")
    monkeypatch.setitem(sys.modules, "gevent.monkey", fake)
    assert publisher.background_mode() is not patched


def test_eventlet_patching_is_detected_too(monkeypatch):
    fake = types.SimpleNamespace(is_monkey_patched=lambda name: name == "thread")
    monkeypatch.setitem(sys.modules, "eventlet.patcher", fake)
    assert publisher.monkey_patched()


def test_the_background_setting_overrides_detection(settings, monkeypatch):
    settings.MEISA = {**settings.MEISA, "PUBLISH_MODE": "background"}
    monkeypatch.setitem(sys.modules, "uwsgi", types.SimpleNamespace(opt={}))
    assert publisher.background_mode()
