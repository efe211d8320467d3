"""Drive a messaging.Conn test responder with the real jupyter_client.

Usage: interop_client.py CONNECTION_FILE. Exits 0 and prints OK on success;
any failed check raises. Run by TestJupyterClientInterop.
"""

import datetime
import json
import queue
import sys
import time

import zmq
from jupyter_client import BlockingKernelClient
from jupyter_client.session import Session


def main(path):
    with open(path) as f:
        info = json.load(f)

    # 1. A message signed with the wrong key: the kernel must drop it.
    ctx = zmq.Context.instance()
    rogue = ctx.socket(zmq.DEALER)
    rogue.linger = 0
    rogue.connect("tcp://%s:%d" % (info["ip"], info["shell_port"]))
    Session(key=b"wrong key", session="rogue-session").send(rogue, "kernel_info_request", {})

    kc = BlockingKernelClient(connection_file=path)
    kc.load_connection_file()
    assert kc.session.key == info["key"].encode(), "key not loaded"
    failures = []
    kc.start_channels()
    kc.hb_channel.call_handlers = lambda since: failures.append(since)

    # 2. kernel_info on shell; replies are verified by Session (it raises on
    # a bad signature). Retry until IOPub is subscribed and we also see the
    # status messages published for one of our requests.
    sent = set()
    reply = None
    status = []
    deadline = time.time() + 30
    while time.time() < deadline and not (reply and status):
        msg_id = kc.kernel_info()
        sent.add(msg_id)
        try:
            r = kc.get_shell_msg(timeout=1)
        except queue.Empty:
            continue
        assert r["msg_type"] == "kernel_info_reply", r
        assert r["parent_header"]["msg_id"] in sent, r
        reply = r
        try:
            while True:
                m = kc.get_iopub_msg(timeout=0.5)
                if m["msg_type"] == "status" and m["parent_header"].get("msg_id") in sent:
                    status.append(m["content"]["execution_state"])
        except queue.Empty:
            pass
    assert reply is not None, "no kernel_info_reply"
    assert status, "no status message on iopub"
    assert set(status) <= {"busy", "idle"}, status
    c = reply["content"]
    assert c["implementation"] == "wasmpy-test" and c["protocol_version"] == "5.5", c
    h = reply["header"]
    assert h["version"] == "5.5" and h["username"] == "kernel", h
    assert isinstance(h["date"], datetime.datetime) and h["date"].tzinfo is not None, h["date"]

    # 3. stdin: the kernel asks for input on the stdin socket, routed with
    # the shell request's identity, and echoes our answer in the reply.
    msg_id = kc.execute("input('name? ')", allow_stdin=True)
    req = kc.get_stdin_msg(timeout=10)
    assert req["msg_type"] == "input_request", req
    assert req["parent_header"]["msg_id"] == msg_id, req
    assert req["content"]["prompt"] == "name? ", req
    kc.input("hello from python")
    rep = kc.get_shell_msg(timeout=10)
    assert rep["msg_type"] == "execute_reply", rep
    assert rep["parent_header"]["msg_id"] == msg_id, rep
    assert rep["content"]["user_expressions"]["input"] == "hello from python", rep

    # 4. control channel.
    msg = kc.session.msg("kernel_info_request")
    kc.control_channel.send(msg)
    rep = kc.get_control_msg(timeout=10)
    assert rep["msg_type"] == "kernel_info_reply", rep
    assert rep["parent_header"]["msg_id"] == msg["header"]["msg_id"], rep

    # 5. heartbeat: jupyter_client pings every second over REQ.
    time.sleep(3.5)
    assert kc.hb_channel.is_beating(), "heartbeat not beating"
    assert not failures, "heart failures: %r" % failures

    kc.stop_channels()
    rogue.close()
    print("OK")


if __name__ == "__main__":
    main(sys.argv[1])
