package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	accessgrants "github.com/s3ag/accessgrants"
)

// nestedEnv marks the environment of processes that s3ag credentials
// starts while it loads the caller's credentials.
const nestedEnv = "S3AG_CREDENTIALS_NESTED"

// credentialsFlags are the flags of "s3ag credentials".
type credentialsFlags struct {
	permission string
	privilege  string
	duration   time.Duration
	format     string
	noCache    bool
}

func (a *app) credentialsCommand() *cobra.Command {
	var f credentialsFlags
	cmd := &cobra.Command{
		Use:   "credentials TARGET [--permission READ] [--privilege Default] [--duration 1h] [--format process|env|json]",
		Short: "Print Access Grants credentials for an S3 URI (a credential_process helper)",
		Long: `Print S3 Access Grants credentials for TARGET, asked of GetDataAccess as the
caller (the credentials of the usual AWS configuration, or --profile).

TARGET is s3://bucket/key (one object), s3://bucket/prefix* (every key under a
prefix, e.g. s3://bucket/reports/*) or s3://bucket (the whole bucket).

Formats:
  process  the credential_process JSON (Version 1, AccessKeyId, SecretAccessKey,
           SessionToken, Expiration), so any AWS SDK or the AWS CLI can use it
  env      export lines for a POSIX shell
  json     the credentials with the target, permission, privilege and the
           grant scope they cover (MatchedGrantTarget)

Credentials are cached on disk between runs, in $S3AG_CACHE_DIR or else
s3ag/credentials under the user's cache directory: owner-only (0700
directories, 0600 files), kept per caller identity (a hash of the caller's
keys, never the keys), permission, privilege and grant scope. A cached set
serves every target its scope covers until one minute before it expires.
Concurrent runs for one bucket wait for each other, so that many tools
starting at once make one GetDataAccess call. --no-cache skips the cache.

Example:

  # in ~/.aws/config
  [profile reports]
  credential_process = s3ag credentials s3://my-bucket/reports/* --permission READ --format process --profile me

then: aws s3 cp s3://my-bucket/reports/q1.csv . --profile reports

Or in a shell:

  eval "$(s3ag credentials s3://my-bucket/reports/* --format env)"`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runCredentials(cmd.Context(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.permission, "permission", "READ", "READ, WRITE or READWRITE")
	fl.StringVar(&f.privilege, "privilege", "Default", "Default (the whole matched grant) or Minimal (only TARGET)")
	fl.DurationVar(&f.duration, "duration", time.Hour, "lifetime asked for the credentials, 15m to 12h")
	fl.StringVar(&f.format, "format", "process", "output format: process, env or json")
	fl.BoolVar(&f.noCache, "no-cache", false, "neither read nor write the on-disk cache")
	return cmd
}

// credentialsRequest is a validated "s3ag credentials" command line.
type credentialsRequest struct {
	target, bucket string
	perm           accessgrants.Permission
	privilege      accessgrants.Privilege
	duration       time.Duration
	format         string
}

// parseCredentialsArgs validates the command line.
func parseCredentialsArgs(arg string, f credentialsFlags) (credentialsRequest, error) {
	var r credentialsRequest
	var err error
	if r.target, r.bucket, err = normalizeTarget(arg); err != nil {
		return r, usageError{err}
	}
	switch p := accessgrants.Permission(strings.ToUpper(f.permission)); p {
	case accessgrants.PermissionRead, accessgrants.PermissionWrite, accessgrants.PermissionReadWrite:
		r.perm = p
	default:
		return r, usagef("--permission %q is not READ, WRITE or READWRITE", f.permission)
	}
	switch strings.ToLower(f.privilege) {
	case "default":
		r.privilege = accessgrants.PrivilegeDefault
	case "minimal":
		r.privilege = accessgrants.PrivilegeMinimal
	default:
		return r, usagef("--privilege %q is not Default or Minimal", f.privilege)
	}
	if f.duration < accessgrants.MinDuration || f.duration > accessgrants.MaxDuration || f.duration%time.Second != 0 {
		return r, usagef("--duration %v is not a whole number of seconds from %v to %v", f.duration, accessgrants.MinDuration, accessgrants.MaxDuration)
	}
	r.duration = f.duration
	switch f.format {
	case "process", "env", "json":
		r.format = f.format
	default:
		return r, usagef("--format %q is not process, env or json", f.format)
	}
	return r, nil
}

// normalizeTarget returns the target the plugin's Credentials asks
// GetDataAccess for, and its bucket: s3://bucket, s3://bucket/ and
// s3://bucket/* are the whole bucket (s3://bucket/*), a URI ending in *
// a prefix, any other one object.
func normalizeTarget(arg string) (target, bucket string, err error) {
	u, ok, err := parseS3URI(arg)
	switch {
	case err != nil:
		return "", "", err
	case !ok:
		return "", "", fmt.Errorf("TARGET %q is not an S3 URI (s3://bucket/key, s3://bucket/prefix* or s3://bucket)", arg)
	case strings.ContainsAny(u.bucket, "*?"):
		return "", "", fmt.Errorf("TARGET %q: a bucket name has no wildcards", arg)
	case u.key == "" || u.key == "*":
		return "s3://" + u.bucket + "/*", u.bucket, nil
	}
	return "s3://" + u.bucket + "/" + u.key, u.bucket, nil
}

// vended is a set of credentials with what they cover.
type vended struct {
	creds  aws.Credentials
	scope  string
	cached bool
}

// runCredentials finds credentials in the disk cache or asks the plugin,
// and prints them.
func (a *app) runCredentials(ctx context.Context, arg string, f credentialsFlags) error {
	r, err := parseCredentialsArgs(arg, f)
	if err != nil {
		return err
	}
	what := "credentials " + r.target
	// A profile whose credential_process is this command, used as the
	// caller's own profile, would start s3ag again and again.
	if os.Getenv(nestedEnv) != "" {
		return &failure{what: what, err: errors.New("s3ag credentials is running as the caller's own credential_process: give --profile a profile with the caller's own credentials")}
	}
	os.Setenv(nestedEnv, "1") // for the credential_process the SDK may start
	cfg, err := a.loadAWSConfig(ctx)
	if err != nil {
		return err
	}
	if cfg.Credentials == nil {
		return &failure{what: what, err: errors.New("no AWS credentials configured for the caller")}
	}
	base, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return &failure{what: what, err: fmt.Errorf("retrieving the caller's credentials: %w", err)}
	}
	a.addCredentials(base)

	cache := a.openCache(r, base, cfg, f.noCache)
	v, err := a.cachedOrVended(ctx, cfg, cache, r)
	if err != nil {
		return &failure{what: what, err: err}
	}
	a.addCredentials(v.creds)
	return writeCredentials(a.stdout, r, v)
}

// openCache opens the caller's disk cache, or returns nil (no cache) when
// it is turned off or cannot be used safely, saying why.
func (a *app) openCache(r credentialsRequest, base aws.Credentials, cfg aws.Config, off bool) *diskCache {
	if off {
		return nil
	}
	root, err := defaultCacheRoot()
	if err == nil {
		endpoint := aws.ToString(cfg.BaseEndpoint) + " " + os.Getenv("AWS_ENDPOINT_URL_S3_CONTROL")
		var c *diskCache
		if c, err = openDiskCache(root, identityHash(base, endpoint)); err == nil {
			return c
		}
	}
	fmt.Fprintf(a.stderr, "s3ag: warning: going on without the credentials cache: %v\n", err)
	return nil
}

// cachedOrVended returns credentials from the cache when a valid entry
// covers the target, else asks the plugin under the bucket's lock and
// caches what it answers.
func (a *app) cachedOrVended(ctx context.Context, cfg aws.Config, cache *diskCache, r credentialsRequest) (vended, error) {
	perm, priv := string(r.perm), string(r.privilege)
	if cache != nil {
		if e := cache.lookup(perm, priv, r.target); e != nil {
			a.debugf("credentials cache: hit, scope %s, expires %s", e.Scope, e.Expiration.Format(time.RFC3339))
			return vended{creds: e.credentials(), scope: e.Scope, cached: true}, nil
		}
		l, locked, err := cache.lock(ctx, perm, priv, r.bucket)
		if err != nil {
			return vended{}, err
		}
		defer l.unlock()
		if locked {
			// Another run may have fetched while this one waited.
			if e := cache.lookup(perm, priv, r.target); e != nil {
				a.debugf("credentials cache: hit after waiting, scope %s", e.Scope)
				return vended{creds: e.credentials(), scope: e.Scope, cached: true}, nil
			}
			cache.prune(r.bucket)
		} else {
			a.debugf("credentials cache: gave up waiting for another run; asking on our own")
		}
	}

	s, err := a.sessionFor(cfg, sessionOptions{privilege: r.privilege, duration: r.duration})
	if err != nil {
		return vended{}, err
	}
	defer s.close()
	da, err := s.plugin.DataAccess(ctx, r.target, r.perm)
	if err != nil {
		return vended{}, err
	}
	creds, scope := da.Credentials, da.Scope
	v := vended{creds: creds, scope: scope}
	if cache != nil {
		err := cache.store(&cacheEntry{
			Permission: perm, Privilege: priv, Scope: scope,
			AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken,
			Expiration: creds.Expires.UTC(), AccountID: creds.AccountID,
		})
		if err != nil {
			fmt.Fprintf(a.stderr, "s3ag: warning: %v\n", err)
		}
	}
	return v, nil
}

// processCredentials is the credential_process output format.
type processCredentials struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
}

// jsonCredentials is the output of --format json.
type jsonCredentials struct {
	AccessKeyID        string `json:"AccessKeyId"`
	SecretAccessKey    string `json:"SecretAccessKey"`
	SessionToken       string `json:"SessionToken"`
	Expiration         string `json:"Expiration"`
	Target             string `json:"Target"`
	Permission         string `json:"Permission"`
	Privilege          string `json:"Privilege"`
	MatchedGrantTarget string `json:"MatchedGrantTarget"`
	Cached             bool   `json:"Cached"`
}

// writeCredentials prints credentials in the requested format.
func writeCredentials(w io.Writer, r credentialsRequest, v vended) error {
	exp := v.creds.Expires.UTC().Format(time.RFC3339)
	switch r.format {
	case "env":
		_, err := fmt.Fprintf(w, "export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_SESSION_TOKEN=%s\nexport AWS_CREDENTIAL_EXPIRATION=%s\n",
			shellQuote(v.creds.AccessKeyID), shellQuote(v.creds.SecretAccessKey), shellQuote(v.creds.SessionToken), shellQuote(exp))
		return err
	case "json":
		return writeJSON(w, jsonCredentials{
			AccessKeyID: v.creds.AccessKeyID, SecretAccessKey: v.creds.SecretAccessKey, SessionToken: v.creds.SessionToken,
			Expiration: exp, Target: r.target, Permission: string(r.perm), Privilege: string(r.privilege),
			MatchedGrantTarget: v.scope, Cached: v.cached,
		})
	default:
		return writeJSON(w, processCredentials{
			Version: 1, AccessKeyID: v.creds.AccessKeyID, SecretAccessKey: v.creds.SecretAccessKey,
			SessionToken: v.creds.SessionToken, Expiration: exp,
		})
	}
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
