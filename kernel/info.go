package kernel

import (
	"encoding/json"

	"wasmpy/interp"
)

// ProtocolVersion is the messaging protocol version the kernel implements.
const ProtocolVersion = "5.5"

// Implementation is the implementation name in kernel_info_reply.
const Implementation = "wasmpy"

// DefaultLanguageInfo is the language_info sent before the interpreter has
// started (and fills fields an interpreter leaves empty).
func DefaultLanguageInfo() interp.LanguageInfo {
	return interp.LanguageInfo{
		Name:              "python",
		Version:           "3.13",
		Mimetype:          "text/x-python",
		FileExtension:     ".py",
		PygmentsLexer:     "ipython3",
		CodemirrorMode:    map[string]any{"name": "ipython", "version": 3},
		NbconvertExporter: "python",
	}
}

// HelpLink is one entry of kernel_info_reply's help_links.
type HelpLink struct {
	Text string `json:"text"`
	URL  string `json:"url"`
}

// HelpLinks are the help_links of kernel_info_reply.
func HelpLinks() []HelpLink {
	return []HelpLink{
		{Text: "Python Reference", URL: "https://docs.python.org/3.13"},
		{Text: "IPython Reference", URL: "https://ipython.readthedocs.io/en/stable/"},
		{Text: "Pyodide FFI", URL: "https://pyodide.org/en/stable/usage/type-conversions.html"},
	}
}

// mergeLanguageInfo fills the empty fields of li from def.
func mergeLanguageInfo(li, def interp.LanguageInfo) interp.LanguageInfo {
	pick := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	out := interp.LanguageInfo{
		Name:              pick(li.Name, def.Name),
		Version:           pick(li.Version, def.Version),
		Mimetype:          pick(li.Mimetype, def.Mimetype),
		FileExtension:     pick(li.FileExtension, def.FileExtension),
		PygmentsLexer:     pick(li.PygmentsLexer, def.PygmentsLexer),
		CodemirrorMode:    li.CodemirrorMode,
		NbconvertExporter: pick(li.NbconvertExporter, def.NbconvertExporter),
		Banner:            pick(li.Banner, def.Banner),
	}
	if out.CodemirrorMode == nil {
		out.CodemirrorMode = def.CodemirrorMode
	}
	return out
}

// kernelInfoContent is the content of kernel_info_reply.
type kernelInfoContent struct {
	Status                string              `json:"status"`
	ProtocolVersion       string              `json:"protocol_version"`
	Implementation        string              `json:"implementation"`
	ImplementationVersion string              `json:"implementation_version"`
	LanguageInfo          interp.LanguageInfo `json:"language_info"`
	Banner                string              `json:"banner"`
	HelpLinks             []HelpLink          `json:"help_links"`
	Debugger              bool                `json:"debugger"`
	// SupportedFeatures names the optional protocol features the kernel
	// has (protocol 5.5: "iopub_welcome").
	SupportedFeatures []string `json:"supported_features"`
}

// connectContent is the content of connect_reply.
type connectContent struct {
	Status      string `json:"status"`
	ShellPort   int    `json:"shell_port"`
	IOPubPort   int    `json:"iopub_port"`
	StdinPort   int    `json:"stdin_port"`
	HBPort      int    `json:"hb_port"`
	ControlPort int    `json:"control_port"`
}

// errorContent is the content of an error reply and of an IOPub error.
type errorContent struct {
	Status    string   `json:"status,omitempty"`
	Ename     string   `json:"ename"`
	Evalue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

// executeErrorContent is an execute_reply with status error, with the
// fields ipykernel adds.
type executeErrorContent struct {
	errorContent
	ExecutionCount  int            `json:"execution_count"`
	UserExpressions map[string]any `json:"user_expressions"`
	Payload         []any          `json:"payload"`
}

// replyStatus extracts "status" and "execution_count" from reply content.
func replyStatus(content json.RawMessage) (status string, count int, hasCount bool) {
	var r struct {
		Status         string `json:"status"`
		ExecutionCount *int   `json:"execution_count"`
	}
	if json.Unmarshal(content, &r) != nil {
		return "", 0, false
	}
	if r.ExecutionCount != nil {
		return r.Status, *r.ExecutionCount, true
	}
	return r.Status, 0, false
}
