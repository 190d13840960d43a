package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/s3ag/accessgrants/emulator"
	"github.com/spf13/cobra"
)

func (a *app) emulatorCommand() *cobra.Command {
	var addr, configPath, dataDir string
	var useTLS bool
	cmd := &cobra.Command{
		Use:   "emulator [--addr 127.0.0.1:9000] [--config FILE] [--data-dir DIR] [--tls]",
		Short: "Serve STS, S3 Control Access Grants and S3 on one local endpoint",
		Long: `Serve the emulator: STS, S3 Control (Access Grants) and S3 on one endpoint,
with real SigV4 checking and grant scopes enforced. Without --config it has one
account (111122223333), an admin principal allowed everything and one bucket.
It prints the endpoint, the principals' keys and the export lines that point
the AWS SDKs, the AWS CLI and s3ag at it. It stops on SIGINT or SIGTERM.

Example:

  s3ag emulator --addr 127.0.0.1:9000 --config world.yaml --data-dir ./state`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := emulator.DefaultConfig()
			if configPath != "" {
				var err error
				if cfg, err = emulator.LoadConfig(configPath); err != nil {
					return err
				}
			}
			var opts []emulator.Option
			if dataDir != "" {
				opts = append(opts, emulator.WithDataDir(dataDir))
			}
			if useTLS {
				opts = append(opts, emulator.WithTLS())
			}
			srv, err := emulator.Start(cfg, addr, opts...)
			if err != nil {
				return err
			}
			printEmulator(a.stdout, srv, dataDir)
			<-cmd.Context().Done()
			fmt.Fprintln(a.stdout, "s3ag emulator: stopping")
			return srv.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:9000", "address to listen on")
	f.StringVar(&configPath, "config", "", "YAML config file (accounts, principals, buckets, grants)")
	f.StringVar(&dataDir, "data-dir", "", "keep objects and Access Grants state in this directory across restarts")
	f.BoolVar(&useTLS, "tls", false, "serve HTTPS with a self-signed certificate")
	return cmd
}

// printEmulator tells how to use a running emulator: its endpoint, its
// principals' keys (emulator keys, not AWS secrets) and the environment
// for the AWS SDKs and CLI.
func printEmulator(w io.Writer, srv *emulator.Server, dataDir string) {
	cfg := srv.Config()
	fmt.Fprintf(w, "s3ag emulator serving STS, S3 Control (Access Grants) and S3 on %s (Region %s)\n", srv.URL, cfg.Region)
	if dataDir != "" {
		fmt.Fprintf(w, "data directory: %s\n", dataDir)
	}
	if srv.CertFile != "" {
		fmt.Fprintf(w, "TLS certificate: %s\n", srv.CertFile)
	}
	fmt.Fprintln(w, "\nprincipals:")
	var first *emulator.Principal
	for _, acct := range cfg.Accounts {
		for i := range acct.Principals {
			p := &acct.Principals[i]
			if first == nil {
				first = p
			}
			fmt.Fprintf(w, "  %-50s  %s  %s\n", p.ARN, p.AccessKeyID, p.SecretAccessKey)
		}
	}
	if len(cfg.Buckets) > 0 {
		names := make([]string, len(cfg.Buckets))
		for i, b := range cfg.Buckets {
			names[i] = b.Name + " (" + b.Account + ", " + b.Region + ")"
		}
		fmt.Fprintf(w, "\nbuckets: %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintln(w, "\nto use it from a shell:")
	fmt.Fprintf(w, "  export AWS_ENDPOINT_URL=%s\n", srv.URL)
	fmt.Fprintf(w, "  export AWS_REGION=%s\n", cfg.Region)
	if first != nil {
		fmt.Fprintf(w, "  export AWS_ACCESS_KEY_ID=%s\n", first.AccessKeyID)
		fmt.Fprintf(w, "  export AWS_SECRET_ACCESS_KEY=%s\n", first.SecretAccessKey)
	}
	if srv.CertFile != "" {
		fmt.Fprintf(w, "  export AWS_CA_BUNDLE=%s\n", srv.CertFile)
	}
	fmt.Fprintln(w, "\nS3 Control puts the account ID in front of the host (111122223333.127.0.0.1):")
	fmt.Fprintln(w, "clients must send every host to the endpoint above; s3ag does. Ctrl-C stops.")
}
