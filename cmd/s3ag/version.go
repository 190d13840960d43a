package main

import (
	"fmt"
	"runtime"

	accessgrants "github.com/s3ag/accessgrants"
	"github.com/spf13/cobra"
)

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and module",
		Long: `Print the version of s3ag and of the Access Grants plugin it is built with,
the module path and the Go version.

Example:

  s3ag version`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.stdout, "s3ag %s (module github.com/s3ag/accessgrants, %s)\n", accessgrants.Version, runtime.Version())
			return nil
		},
	}
}
