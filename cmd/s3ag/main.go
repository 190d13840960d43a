// Command s3ag uses Amazon S3 Access Grants from the shell: a local
// emulator, credentials for credential_process, data commands through
// grants, and a demo of the plugin at work.
//
// Run "s3ag help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status: 0 on
// success, 1 when the command failed, 2 when it was used wrongly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Whatever reaches stderr (debug logs, the error line) passes through
	// the scrubber, which blanks any secret the command came to know.
	scrub := newScrubber(stderr)
	app := &app{
		stdin: stdin, stdout: stdout, stderr: scrub, scrub: scrub,
		stdoutTTY: isTerminal(stdout), stderrTTY: isTerminal(stderr),
	}
	root := app.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(scrub)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(scrub, "s3ag: "+oneLine(err.Error()))
	if isUsageError(err) {
		return 2
	}
	return 1
}

// app holds what every command shares: the global flags and the streams.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	scrub          *scrubber
	// stdoutTTY and stderrTTY say whether the streams are terminals.
	stdoutTTY, stderrTTY bool

	endpointURL string
	region      string
	profile     string
	debug       bool
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "s3ag",
		Short: "Amazon S3 Access Grants from the shell",
		Long: `s3ag uses Amazon S3 Access Grants from the shell: it serves a local emulator,
vends grant credentials to any AWS tool through credential_process, reads and
writes S3 through grants, and shows the Go plugin at work.

It reads the usual AWS configuration (profiles, AWS_REGION, AWS_ENDPOINT_URL and
the per-service AWS_ENDPOINT_URL_S3, _S3_CONTROL, _STS). Pointed at a loopback
or IP endpoint, it sends every request there, S3 Control's account-prefixed
host included, and uses path-style S3 requests.

Start with:

  s3ag demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.endpointURL, "endpoint-url", "", "send every AWS request to this endpoint (default: $AWS_ENDPOINT_URL)")
	pf.StringVar(&a.region, "region", "", "AWS Region (default: $AWS_REGION or the profile's)")
	pf.StringVar(&a.profile, "profile", "", "shared config profile (default: $AWS_PROFILE)")
	pf.BoolVar(&a.debug, "debug", false, "log the SDK's requests and the plugin's decisions to stderr (never secrets)")
	root.AddCommand(
		a.demoCommand(),
		a.emulatorCommand(),
		a.credentialsCommand(),
		a.lsCommand(),
		a.catCommand(),
		a.cpCommand(),
		a.rmCommand(),
		a.explainCommand(),
		a.grantsCommand(),
		a.versionCommand(),
	)
	return root
}

// usageError marks a command line that is wrong, not a command that
// failed.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// isUsageError reports whether err is about the command line: a bad flag
// or argument, or a command that does not exist (cobra reports the latter
// as a plain error).
func isUsageError(err error) bool {
	var ue usageError
	return errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command ")
}

// usagef returns a usage error.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exactArgs is cobra.ExactArgs with the usage exit status.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d (see s3ag %s --help)", cmd.Name(), n, len(args), cmd.Name())
		}
		return nil
	}
}

// rangeArgs is cobra.RangeArgs with the usage exit status.
func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usagef("%s takes %d to %d arguments, got %d (see s3ag %s --help)", cmd.Name(), lo, hi, len(args), cmd.Name())
		}
		return nil
	}
}

// noArgs is cobra.NoArgs with the usage exit status.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 0 {
		return usagef("%s takes no arguments, got %q", cmd.Name(), args)
	}
	return nil
}

// oneLine flattens a message to one line.
func oneLine(msg string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, msg)
}
