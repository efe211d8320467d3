package kernel

import (
	"context"

	"wasmpy/messaging"
)

// controlLoop answers control requests, also while a shell request runs.
func (k *Kernel) controlLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-k.conn.Control():
			if !ok {
				k.log.Warn("control channel closed; stopping")
				k.requestStop()
				return
			}
			k.handleControl(m)
		}
	}
}

func (k *Kernel) handleControl(m *messaging.Message) {
	k.publishStatus(m, "busy")
	defer k.publishStatus(m, "idle")
	typ := m.Header.MsgType
	k.log.Debug("control request", "msg_type", typ, "msg_id", m.Header.MsgID)
	switch typ {
	case "kernel_info_request":
		k.send(messaging.Control, "kernel_info_reply", m, k.kernelInfo(), nil)
	case "interrupt_request":
		k.Interrupt()
		k.send(messaging.Control, "interrupt_reply", m, map[string]string{"status": "ok"}, nil)
	case "shutdown_request":
		k.shutdown(messaging.Control, m)
	case "connect_request":
		k.send(messaging.Control, "connect_reply", m, k.connectInfo(), nil)
	case "debug_request":
		// No debugger (kernel_info says debugger: false); ipykernel without
		// debugpy answers with empty content too.
		k.send(messaging.Control, "debug_reply", m, map[string]any{}, nil)
	default:
		k.log.Error("unknown control message type; ignored", "msg_type", typ)
	}
}
