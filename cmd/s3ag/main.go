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
	app := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := app.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "s3ag: "+oneLine(err))
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// app holds what every command shares: the global flags and the streams.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

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

It reads the usual AWS configuration (profiles, AWS_REGION, AWS_ENDPOINT_URL...).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.endpointURL, "endpoint-url", "", "send every AWS request to this endpoint (default: $AWS_ENDPOINT_URL)")
	pf.StringVar(&a.region, "region", "", "AWS Region (default: $AWS_REGION or the profile's)")
	pf.StringVar(&a.profile, "profile", "", "shared config profile (default: $AWS_PROFILE)")
	pf.BoolVar(&a.debug, "debug", false, "log the SDK's requests to stderr (never secrets)")
	root.AddCommand(
		a.emulatorCommand(),
		a.versionCommand(),
	)
	return root
}

// usageError marks a command line that is wrong, not a command that
// failed.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// oneLine flattens an error message to one line.
func oneLine(err error) string {
	msg := []rune(err.Error())
	for i, r := range msg {
		if r == '\n' || r == '\r' {
			msg[i] = ' '
		}
	}
	return string(msg)
}
