package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
)

func (a *app) grantsCommand() *cobra.Command {
	var scope string
	var pageSize int32
	cmd := &cobra.Command{
		Use:   "grants [--scope s3://bucket/prefix]",
		Short: "List the caller's own Access Grants",
		Long: `List the grants of the caller's account's Access Grants instance (in the
configured Region) whose grantee is the caller, with S3 Control's
ListCallerAccessGrants, as a table of grant scope, permission and application.
--scope keeps the grants that apply to an S3 prefix; every page of the answer
is read (--page-size sets how many grants each call asks for).

The caller's account comes from the credentials when they carry it, else from
STS GetCallerIdentity.

Example:

  s3ag grants
  s3ag grants --scope s3://my-bucket/reports/`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pageSize < 0 || pageSize > 1000 {
				return usagef("--page-size %d is not from 1 to 1000", pageSize)
			}
			return a.listGrants(cmd.Context(), scope, pageSize)
		},
	}
	cmd.Flags().StringVar(&scope, "scope", "", "only grants that apply to this S3 prefix")
	cmd.Flags().Int32Var(&pageSize, "page-size", 0, "grants per ListCallerAccessGrants call (default: the service's)")
	return cmd
}

// listGrants prints the caller's grants.
func (a *app) listGrants(ctx context.Context, scope string, pageSize int32) error {
	what := "grants"
	if scope != "" {
		what += " " + scope
	}
	cfg, err := a.loadAWSConfig(ctx)
	if err != nil {
		return err
	}
	if cfg.Credentials == nil {
		return &failure{what: what, err: fmt.Errorf("no AWS credentials configured for the caller")}
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return &failure{what: what, err: fmt.Errorf("retrieving the caller's credentials: %w", err)}
	}
	a.addCredentials(creds)
	account := creds.AccountID
	if account == "" {
		out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return &failure{what: what, err: err}
		}
		account = aws.ToString(out.Account)
	}
	in := &s3control.ListCallerAccessGrantsInput{AccountId: aws.String(account)}
	if scope != "" {
		in.GrantScope = aws.String(scope)
	}
	if pageSize > 0 {
		in.MaxResults = pageSize
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GRANT SCOPE\tPERMISSION\tAPPLICATION")
	n := 0
	p := s3control.NewListCallerAccessGrantsPaginator(s3control.NewFromConfig(cfg), in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return &failure{what: what, err: err} // the table is not printed
		}
		for _, g := range out.CallerAccessGrantsList {
			app := aws.ToString(g.ApplicationArn)
			if app == "" {
				app = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", aws.ToString(g.GrantScope), g.Permission, app)
			n++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(a.stderr, "s3ag: no grants for the caller in account %s (%s)\n", account, cfg.Region)
	}
	return nil
}
