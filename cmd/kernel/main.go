// Command wasmpy is a Jupyter kernel that runs Python 3.13 inside a
// WebAssembly sandbox. It runs the kernel (`wasmpy kernel -f FILE`, which
// Jupyter starts) and installs or removes its kernel spec.
//
// This package only parses flags and wires packages together: protocol
// behaviour lives in kernel/, the wire in messaging/, the spec in
// kernelspec/, and the runtime behind factory.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"wasmpy/interp"
	"wasmpy/kernel"
	"wasmpy/kernelspec"
	"wasmpy/messaging"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const mainUsage = `wasmpy: a Jupyter kernel running Python 3.13 in a WebAssembly sandbox.

Usage:
  wasmpy install [--user | --sys-prefix | --prefix DIR] [--name NAME] [kernel flags]
  wasmpy uninstall [--user | --sys-prefix | --prefix DIR] [--name NAME]
  wasmpy kernel -f CONNECTION_FILE [kernel flags]
  wasmpy version

Run 'wasmpy COMMAND --help' for the flags of a command.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command in args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "kernel":
		return runKernel(ctx, rest, stdout, stderr)
	case "install":
		return runInstall(ctx, rest, stdout, stderr)
	case "uninstall":
		return runUninstall(ctx, rest, stdout, stderr)
	case "version":
		if len(rest) > 0 && !isHelp(rest[0]) {
			fmt.Fprintf(stderr, "wasmpy version: takes no arguments\n")
			return exitUsage
		}
		if len(rest) > 0 {
			fmt.Fprint(stdout, "Usage: wasmpy version\n\nPrint the version of wasmpy and of the protocol and Python it provides.\n")
			return exitOK
		}
		fmt.Fprintf(stdout, "wasmpy %s (Jupyter protocol %s, Python 3.13, %s %s/%s)\n",
			version, kernel.ProtocolVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, mainUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "wasmpy: unknown command %q\n\n%s", cmd, mainUsage)
		return exitUsage
	}
}

func isHelp(s string) bool {
	return s == "-h" || s == "-help" || s == "--help"
}

// command is a subcommand's flag set and help text.
type command struct {
	fs     *flag.FlagSet
	usage  string // the synopsis
	about  string
	stdout io.Writer
}

func newCommand(name, usage, about string, stdout io.Writer) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse reports errors itself
	fs.Usage = func() {}
	return &command{fs: fs, usage: usage, about: about, stdout: stdout}
}

// help prints the synopsis, the description and the flags.
func (c *command) help() {
	fmt.Fprintf(c.stdout, "Usage: %s\n\n%s\n\nFlags:\n", c.usage, c.about)
	c.fs.VisitAll(func(f *flag.Flag) {
		valueName, usage := flag.UnquoteUsage(f)
		usage = strings.ReplaceAll(usage, "\n", "\n"+strings.Repeat(" ", 26))
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		left := "  " + dash + f.Name
		if valueName != "" {
			left += " " + valueName
		}
		if len(left) > 24 {
			fmt.Fprintf(c.stdout, "%s\n%-26s%s\n", left, "", usage)
		} else {
			fmt.Fprintf(c.stdout, "%-26s%s\n", left, usage)
		}
	})
}

// parse parses args; when the command must stop it returns false and the
// exit code.
func (c *command) parse(args []string, stderr io.Writer) (int, bool) {
	name := c.fs.Name()
	err := c.fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.help()
		return exitOK, false
	case err != nil:
		fmt.Fprintf(stderr, "wasmpy %s: %v\nRun 'wasmpy %s --help' for usage.\n", name, err, name)
		return exitUsage, false
	case c.fs.NArg() > 0:
		fmt.Fprintf(stderr, "wasmpy %s: unexpected argument %q\nRun 'wasmpy %s --help' for usage.\n", name, c.fs.Arg(0), name)
		return exitUsage, false
	}
	return 0, true
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func runKernel(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	started := time.Now()
	cmd := newCommand("kernel", "wasmpy kernel -f CONNECTION_FILE [flags]",
		"Run the kernel on the sockets of a Jupyter connection file. Jupyter starts\nthis; install the kernel spec with 'wasmpy install' to use it.", stdout)
	fs := cmd.fs
	connFile := fs.String("f", "", "the Jupyter connection `FILE` (required)")
	var opts kernelOptions
	addKernelFlags(fs, &opts)
	if code, ok := cmd.parse(args, stderr); !ok {
		return code
	}
	if err := opts.check(); err != nil {
		fmt.Fprintf(stderr, "wasmpy kernel: %v\n", err)
		return exitUsage
	}
	if *connFile == "" {
		fmt.Fprint(stderr, "wasmpy kernel: missing the connection file: run 'wasmpy kernel -f CONNECTION_FILE'.\n"+
			"Jupyter passes it when it starts the kernel; run 'wasmpy install --user' to make the kernel available to Jupyter.\n")
		return exitUsage
	}
	log := newLogger(stderr, opts.logLevel)
	mark := func(phase string) {
		// The start-up profile (bench/startup reads these lines).
		log.Debug("startup", "phase", phase, "unix_us", time.Now().UnixMicro(), "since_main", time.Since(started))
	}
	mark("main")
	if path := os.Getenv("WASMPY_CPUPROFILE"); path != "" {
		// For developers: the Go side's CPU profile of the whole run
		// (compiled wasm shows as one external node).
		stop, err := startCPUProfile(path)
		if err != nil {
			log.Warn("no CPU profile", "err", err)
		} else {
			defer stop()
		}
	}
	if err := serveKernel(ctx, *connFile, opts, log, mark); err != nil {
		log.Error("kernel failed", "err", err)
		return exitError
	}
	return exitOK
}

// serveKernel runs the kernel until a shutdown_request or SIGTERM. SIGINT
// interrupts the running cell instead of stopping the process.
func serveKernel(ctx context.Context, connFile string, opts kernelOptions, log *slog.Logger, mark func(string)) error {
	info, err := messaging.ReadConnectionFile(connFile)
	if err != nil {
		return fmt.Errorf("%w (Jupyter writes this file when it starts the kernel; check the path)", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	factory, err := newFactory(ctx, opts.runtime, log, mark)
	if err != nil {
		// Keep serving, so that the front end shows this error on each
		// execution instead of a kernel that dies at once and restarts.
		log.Error("cannot make interpreters", "err", err)
		factory = failingFactory(err)
	}
	conn, err := messaging.Listen(ctx, info, log)
	if err != nil {
		return fmt.Errorf("listen on the connection file's ports: %w", err)
	}
	mark("listening")
	k, err := kernel.New(kernel.Config{
		Conn:        conn,
		Factory:     factory,
		Log:         log,
		Version:     version,
		CellTimeout: opts.cellTimeout,
		// jupyter_client restarts a kernel by waiting for its process to
		// exit and starting a new one: exit, as ipykernel does.
		ExitOnRestart: true,
	})
	if err != nil {
		conn.Close()
		return err
	}

	watchParent(ctx, log, time.Second, cancel)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				if s == os.Interrupt {
					log.Info("SIGINT: interrupting the running cell")
					k.Interrupt()
					continue
				}
				log.Info("SIGTERM: stopping")
				cancel()
				return
			}
		}
	}()

	err = k.Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// failingFactory reports err for every interpreter start.
func failingFactory(err error) interp.Factory {
	return func(context.Context, interp.Events) (interp.Interpreter, error) { return nil, err }
}

// locationFlags registers the flags choosing where a kernel spec goes.
func locationFlags(fs *flag.FlagSet) (*kernelspec.Location, *string) {
	loc := &kernelspec.Location{}
	fs.BoolVar(&loc.User, "user", false, "use the user's Jupyter data dir ($JUPYTER_DATA_DIR or ~/.local/share/jupyter)")
	fs.BoolVar(&loc.SysPrefix, "sys-prefix", false, "use sys.prefix of /usr/bin/python3 (PREFIX/share/jupyter)")
	fs.StringVar(&loc.Prefix, "prefix", "", "use `DIR`/share/jupyter")
	name := fs.String("name", kernelspec.DefaultName, "the kernel spec's `NAME`")
	return loc, name
}

const locationAbout = "Without --user, --sys-prefix or --prefix the system-wide directory\n" + kernelspec.SystemDataDir + "/kernels is used, as 'jupyter kernelspec install' does."

func runInstall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newCommand("install", "wasmpy install [--user | --sys-prefix | --prefix DIR] [--name NAME] [kernel flags]",
		"Install the kernel spec that makes Jupyter start this binary. Kernel flags are\nstored in the spec and passed to every kernel it starts.\n"+locationAbout, stdout)
	fs := cmd.fs
	loc, name := locationFlags(fs)
	// The kernel's flags, validated here and recorded for kernel.json.
	var opts kernelOptions
	kfs := flag.NewFlagSet("kernel", flag.ContinueOnError)
	addKernelFlags(kfs, &opts)
	var extra []string
	kfs.VisitAll(func(f *flag.Flag) {
		fs.Var(recorder{name: f.Name, v: f.Value, args: &extra}, f.Name, f.Usage)
	})
	if code, ok := cmd.parse(args, stderr); !ok {
		return code
	}
	if err := opts.check(); err != nil {
		fmt.Fprintf(stderr, "wasmpy install: %v\n", err)
		return exitUsage
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "wasmpy install: cannot find this binary's path: %v\n", err)
		return exitError
	}
	spec, err := kernelspec.NewSpec(exe, extra)
	if err != nil {
		fmt.Fprintf(stderr, "wasmpy install: %v\n", err)
		return exitError
	}
	dir, err := kernelspec.Install(ctx, *loc, *name, spec)
	if err != nil {
		fmt.Fprintf(stderr, "wasmpy install: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "Installed kernelspec %s in %s\n", strings.ToLower(*name), dir)
	log := newLogger(stderr, opts.logLevel)
	if err := warmCache(ctx, opts.runtime, log); err != nil {
		fmt.Fprintf(stderr, "wasmpy install: the kernel spec is installed, but preparing the Python runtime failed: %v\n", err)
		return exitError
	}
	return exitOK
}

func runUninstall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newCommand("uninstall", "wasmpy uninstall [--user | --sys-prefix | --prefix DIR] [--name NAME]",
		"Remove an installed kernel spec.\n"+locationAbout, stdout)
	loc, name := locationFlags(cmd.fs)
	if code, ok := cmd.parse(args, stderr); !ok {
		return code
	}
	dir, err := kernelspec.Uninstall(ctx, *loc, *name)
	if errors.Is(err, kernelspec.ErrNotInstalled) {
		fmt.Fprintf(stderr, "wasmpy uninstall: no kernel spec %q in %s; pass the --user, --sys-prefix or --prefix used to install it\n", strings.ToLower(*name), dir)
		return exitError
	}
	if err != nil {
		fmt.Fprintf(stderr, "wasmpy uninstall: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "Removed %s\n", dir)
	return exitOK
}

// startCPUProfile writes the process's CPU profile to path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
