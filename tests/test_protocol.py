"""Wire-level behaviour with real clients: hostile messages are dropped and
logged, heartbeat and control answer while a cell runs, requests queue."""

from __future__ import annotations

import json
import time

import zmq
from conftest import run_cell, stdout_of
from jupyter_client.session import Session


def test_bad_signature_is_dropped_and_kernel_stays_up(kernel):
    km, kc = kernel
    # A message signed with another key: the kernel must not run it.
    evil = Session(key=b"not-the-key", signature_scheme="hmac-sha256")
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.connect(f"tcp://{km.ip}:{km.shell_port}")
    try:
        msg = evil.msg("execute_request", {"code": "open('/tmp/pwned', 'w').write('x')", "silent": False})
        evil.send(sock, msg)
        # Garbage frames and a message with a missing header are dropped too.
        sock.send_multipart([b"<IDS|MSG>", b"0" * 64, b"{not json", b"{}", b"{}", b"{}"])
        time.sleep(0.5)
    finally:
        sock.close(0)
    reply, msgs = run_cell(kc, "import os\nprint(os.path.exists('/tmp/pwned'))")
    assert stdout_of(msgs) == "False\n"


def test_replayed_message_is_rejected(kernel):
    km, kc = kernel
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.connect(f"tcp://{km.ip}:{km.shell_port}")
    try:
        msg = kc.session.msg("execute_request", {"code": "counter = globals().get('counter', 0) + 1",
                                                  "silent": False, "store_history": False})
        frames = kc.session.serialize(msg)
        sock.send_multipart(frames)
        assert sock.poll(10000), "no reply to the first copy"
        sock.recv_multipart()
        sock.send_multipart(frames)  # the same signature again
        assert not sock.poll(1500), "a replayed message was answered"
    finally:
        sock.close(0)
    _, msgs = run_cell(kc, "print(counter)")
    assert stdout_of(msgs) == "1\n"


def test_unknown_message_type_ignored(kernel):
    _, kc = kernel
    msg = kc.session.msg("frobnicate_request", {})
    kc.shell_channel.send(msg)
    reply, msgs = run_cell(kc, "print('ok')")
    assert stdout_of(msgs) == "ok\n"


def test_heartbeat_and_control_while_busy(kernel):
    km, kc = kernel
    msg_id = kc.execute("import time\ntime.sleep(5)")
    time.sleep(0.5)
    ctx = zmq.Context.instance()
    hb = ctx.socket(zmq.REQ)
    hb.connect(f"tcp://{km.ip}:{km.hb_port}")
    try:
        for _ in range(3):
            t0 = time.monotonic()
            hb.send(b"ping")
            assert hb.poll(2000), "heartbeat not answered while a cell sleeps"
            assert hb.recv() == b"ping"
            assert time.monotonic() - t0 < 1
            time.sleep(0.3)
    finally:
        hb.close(0)
    msg = kc.session.msg("kernel_info_request", {})
    kc.control_channel.send(msg)
    t0 = time.monotonic()
    reply = kc.get_control_msg(timeout=3)
    assert reply["msg_type"] == "kernel_info_reply" and time.monotonic() - t0 < 2
    reply = kc.get_shell_msg(timeout=15)
    assert reply["parent_header"]["msg_id"] == msg_id


def test_heartbeat_while_computing(kernel):
    """A pure-Python loop (no host calls) must not stall the kernel's other goroutines."""
    km, kc = kernel
    msg_id = kc.execute("n = 0\nwhile n < 30_000_000:\n    n += 1")
    time.sleep(0.5)
    ctx = zmq.Context.instance()
    hb = ctx.socket(zmq.REQ)
    hb.connect(f"tcp://{km.ip}:{km.hb_port}")
    try:
        for _ in range(3):
            hb.send(b"ping")
            assert hb.poll(2000), "heartbeat not answered while a cell computes"
            hb.recv()
            time.sleep(0.2)
    finally:
        hb.close(0)
    km.interrupt_kernel()
    kc.get_shell_msg(timeout=15)


def test_requests_queue_in_order(kernel):
    _, kc = kernel
    first = kc.execute("import time\ntime.sleep(0.5)\nprint('first')")
    second = kc.execute("print('second')")
    replies = [kc.get_shell_msg(timeout=15) for _ in range(2)]
    assert [r["parent_header"]["msg_id"] for r in replies] == [first, second]


def test_stop_on_error_aborts_queued(kernel):
    _, kc = kernel
    bad = kc.execute("import time\ntime.sleep(0.3)\nraise RuntimeError('stop')")
    queued = kc.execute("print('must not run')")
    r1 = kc.get_shell_msg(timeout=15)
    r2 = kc.get_shell_msg(timeout=15)
    assert r1["parent_header"]["msg_id"] == bad and r1["content"]["status"] == "error"
    assert r2["parent_header"]["msg_id"] == queued and r2["content"]["status"] == "aborted"


def test_iopub_welcome_to_each_new_subscriber(kernel):
    """Protocol 5.5: each client that subscribes to IOPub gets iopub_welcome
    once its subscription is in effect; kernel_info lists the feature."""
    km, kc = kernel
    reply = kc.kernel_info(reply=True, timeout=10)
    assert "iopub_welcome" in reply["content"]["supported_features"]
    for _ in range(2):  # the same topic again: a welcome too
        late = km.client()
        late.start_channels(shell=False, stdin=False, hb=False, control=False)
        try:
            msg = late.get_iopub_msg(timeout=10)
            assert msg["msg_type"] == "iopub_welcome"
            assert msg["content"] == {"subscription": ""} and msg["parent_header"] == {}
        finally:
            late.stop_channels()
    # The first client got the later clients' welcomes too (IOPub
    # broadcasts), and goes on as before.
    reply, msgs = run_cell(kc, "print('still here')")
    assert stdout_of(msgs) == "still here\n"
