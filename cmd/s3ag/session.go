package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

	accessgrants "github.com/s3ag/accessgrants"
)

// session is what a command that talks to AWS holds: the configuration,
// the plugin made from it and an S3 client with the plugin registered.
type session struct {
	cfg    aws.Config
	plugin *accessgrants.Plugin
	s3     *s3.Client
}

// sessionOptions configure newSession.
type sessionOptions struct {
	fallback  bool
	privilege accessgrants.Privilege
	duration  time.Duration // 0 for the service's default
}

// newSession loads the AWS configuration and makes the plugin and S3
// client of a command. The caller's secrets are registered with the
// scrubber first, so that nothing printed to stderr can show them.
func (a *app) newSession(ctx context.Context, so sessionOptions) (*session, error) {
	cfg, err := a.loadAWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Credentials == nil {
		return nil, errors.New("no AWS credentials configured")
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieving the caller's credentials: %w", err)
	}
	a.addCredentials(creds)
	return a.sessionFor(cfg, so)
}

// sessionFor makes the plugin and S3 client of a command from cfg.
func (a *app) sessionFor(cfg aws.Config, so sessionOptions) (*session, error) {
	plugin, err := accessgrants.New(cfg, func(o *accessgrants.Options) {
		o.FallbackEnabled = so.fallback
		o.Privilege = so.privilege
		o.Duration = so.duration
		// LoadDefaultConfig's logger prints every class of message to
		// stderr; the plugin's debug lines belong to --debug only.
		o.Logger = a.logger()
		if o.Logger == nil {
			o.Logger = logging.Nop{}
		}
	})
	if err != nil {
		return nil, err
	}
	return &session{cfg: cfg, plugin: plugin, s3: s3.NewFromConfig(cfg, plugin.Register)}, nil
}

// close stops the plugin's background work.
func (s *session) close() {
	if s != nil && s.plugin != nil {
		s.plugin.Close()
	}
}

// s3URI is an s3://bucket/key URI; key may be empty or a prefix.
type s3URI struct {
	bucket, key string
}

// parseS3URI parses s3://bucket[/key]. ok is false for anything that
// does not start with s3://; an s3:// URI without a bucket is an error.
func parseS3URI(s string) (u s3URI, ok bool, err error) {
	rest, isS3 := strings.CutPrefix(s, "s3://")
	if !isS3 {
		return s3URI{}, false, nil
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return s3URI{}, true, fmt.Errorf("%q names no bucket (want s3://bucket/key)", s)
	}
	return s3URI{bucket: bucket, key: key}, true, nil
}

// String returns the URI.
func (u s3URI) String() string {
	if u.key == "" {
		return "s3://" + u.bucket + "/"
	}
	return "s3://" + u.bucket + "/" + u.key
}

// mustS3URI parses an argument that must be an s3:// URI.
func mustS3URI(arg string) (s3URI, error) {
	u, ok, err := parseS3URI(arg)
	if err != nil {
		return s3URI{}, usageError{err}
	}
	if !ok {
		return s3URI{}, usagef("%q is not an s3:// URI", arg)
	}
	return u, nil
}
