"""Drive the wasmpy binary through jupyter_client, as Jupyter does.

Prints one JSON object with what happened; the Go test checks it.
Usage: python3 e2e.py KERNEL_NAME
"""
import json
import os
import signal
import sys
import time

from jupyter_client.manager import KernelManager

name = sys.argv[1]
out = {}
km = KernelManager(kernel_name=name)
t0 = time.monotonic()
km.start_kernel()
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=30)
out["ready_s"] = time.monotonic() - t0

info = kc.kernel_info(reply=True, timeout=10)["content"]
out["implementation"] = info["implementation"]
out["language"] = info["language_info"]["name"]
out["protocol_version"] = info["protocol_version"]

reply = kc.execute_interactive("1+1", timeout=30, output_hook=lambda m: None)["content"]
out["execute_status"] = reply["status"]
out["execute_ename"] = reply.get("ename", "")
out["execute_evalue"] = reply.get("evalue", "")

km.interrupt_kernel()  # interrupt_mode message: an interrupt_request on control
out["alive_after_interrupt"] = km.is_alive()

# SIGINT to the process interrupts; it must not kill the kernel.
pid = km.provisioner.process.pid
os.kill(pid, signal.SIGINT)
time.sleep(0.5)
out["alive_after_sigint"] = km.is_alive()
out["answers_after_sigint"] = kc.kernel_info(reply=True, timeout=10)["content"]["status"]

t0 = time.monotonic()
km.restart_kernel(now=False)
kc.wait_for_ready(timeout=30)
out["restart_s"] = time.monotonic() - t0
out["new_pid"] = km.provisioner.process.pid != pid

kc.stop_channels()
t0 = time.monotonic()
km.shutdown_kernel(now=False)
out["shutdown_s"] = time.monotonic() - t0
out["alive_after_shutdown"] = km.is_alive()
print(json.dumps(out))
