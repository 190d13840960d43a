package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
)

// defaultLocalRegion is the Region used against a local endpoint when
// none is configured: the emulator's default, so that an endpoint URL is
// all a user has to give.
const defaultLocalRegion = "us-east-1"

// serviceEndpointVars are the per-service endpoint variables of the three
// services s3ag talks to; a local endpoint in any of them is dialled as
// described on localEndpoint.
var serviceEndpointVars = []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_S3_CONTROL", "AWS_ENDPOINT_URL_STS"}

// localEndpoint is an endpoint on a loopback address, an IP literal or
// localhost: the emulator, typically. The SDK puts labels in front of its
// host (S3 Control's account ID: 111122223333.127.0.0.1:9000), which no
// resolver knows, so s3ag dials the endpoint itself for those hosts.
type localEndpoint struct {
	host string // hostname, without brackets or port
	addr string // host:port to dial
}

// parseLocalEndpoint returns the endpoint raw names if it is local, and
// false for an endpoint that DNS must resolve (AWS's own, a proxy). An
// unparsable URL is an error.
func parseLocalEndpoint(raw string) (localEndpoint, bool, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return localEndpoint{}, false, fmt.Errorf("endpoint %q is not an http:// or https:// URL", raw)
	}
	host := u.Hostname()
	if !isLocalHost(host) {
		return localEndpoint{}, false, nil
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return localEndpoint{host: host, addr: net.JoinHostPort(host, port)}, true, nil
}

// isLocalHost reports whether host is an IP literal or localhost.
func isLocalHost(host string) bool {
	return net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// dialPlan says where connections go. With a global local endpoint
// (--endpoint-url, AWS_ENDPOINT_URL) every connection goes to it; with
// only per-service local endpoints, a host goes to the endpoint it is
// derived from (the same host, or a name ending in "."+host, on the same
// port).
type dialPlan struct {
	global   *localEndpoint
	services []localEndpoint
}

// redirect returns the address to dial for addr.
func (p dialPlan) redirect(addr string) string {
	if p.global != nil {
		return p.global.addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	for _, ep := range p.services {
		_, epPort, _ := net.SplitHostPort(ep.addr)
		if port == epPort && (host == ep.host || strings.HasSuffix(host, "."+ep.host)) {
			return ep.addr
		}
	}
	return addr
}

// active reports whether the plan changes any connection.
func (p dialPlan) active() bool { return p.global != nil || len(p.services) > 0 }

// serverName is the TLS server name to verify: the endpoint's own host,
// not the account-prefixed one the SDK asks for.
func (p dialPlan) serverName() string {
	switch {
	case p.global != nil:
		return p.global.host
	case len(p.services) > 0:
		return p.services[0].host
	}
	return ""
}

// loadAWSConfig loads the AWS configuration as the AWS CLI would, with the
// global flags on top, and an HTTP client that reaches a local endpoint
// for every host and, with --debug, logs each request without secrets.
func (a *app) loadAWSConfig(ctx context.Context) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if a.region != "" {
		opts = append(opts, config.WithRegion(a.region))
	}
	if a.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(a.profile))
	}
	if a.endpointURL != "" {
		if _, _, err := parseLocalEndpoint(a.endpointURL); err != nil {
			return aws.Config{}, usagef("--endpoint-url: %v", err)
		}
		// A load option outranks AWS_ENDPOINT_URL and the per-service
		// variables, as the flag should.
		opts = append(opts, config.WithBaseEndpoint(a.endpointURL))
	}
	if a.debug {
		opts = append(opts, config.WithLogger(a.logger()), config.WithClientLogMode(aws.LogRetries))
	} else {
		// The default logger prints the SDK's debug notes ("Response has
		// no supported checksum") to stderr; without --debug stderr is for
		// errors.
		opts = append(opts, config.WithLogger(logging.Nop{}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading the AWS configuration: %w", err)
	}

	var plan dialPlan
	if base := aws.ToString(cfg.BaseEndpoint); base != "" {
		ep, local, err := parseLocalEndpoint(base)
		if err != nil {
			return aws.Config{}, fmt.Errorf("the configured endpoint: %w", err)
		}
		if local {
			plan.global = &ep
		}
	}
	if a.endpointURL == "" && plan.global == nil {
		for _, name := range serviceEndpointVars {
			if v := os.Getenv(name); v != "" {
				if ep, local, err := parseLocalEndpoint(v); err == nil && local {
					plan.services = append(plan.services, ep)
				}
			}
		}
	}
	if plan.active() {
		// The emulator answers path-style requests; bucket.127.0.0.1 is no
		// host name at all.
		cfg.ServiceOptions = append(cfg.ServiceOptions, func(service string, o any) {
			if so, ok := o.(*s3.Options); ok {
				so.UsePathStyle = true
			}
		})
		if cfg.Region == "" {
			cfg.Region = defaultLocalRegion
		}
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS Region configured: give --region or set AWS_REGION")
	}
	cfg.HTTPClient = a.httpClient(cfg.HTTPClient, plan)
	return cfg, nil
}

// httpClient builds the client every AWS call goes through from the one
// LoadDefaultConfig made (which holds AWS_CA_BUNDLE's roots): dialling by
// plan, and logging through the debug wrapper when asked.
func (a *app) httpClient(loaded aws.HTTPClient, plan dialPlan) aws.HTTPClient {
	client := loaded
	if plan.active() {
		bc, ok := loaded.(*awshttp.BuildableClient)
		if !ok {
			bc = awshttp.NewBuildableClient()
		}
		client = bc.WithTransportOptions(func(tr *http.Transport) { redirectTransport(tr, plan) })
	}
	if client == nil {
		client = awshttp.NewBuildableClient()
	}
	if a.debug {
		client = &debugClient{next: client, w: a.stderr}
	}
	return client
}

// redirectTransport makes tr dial by plan and verify the endpoint's own
// TLS name.
func redirectTransport(tr *http.Transport, plan dialPlan) {
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dial(ctx, network, plan.redirect(addr))
	}
	tr.Proxy = nil // a proxy would try to resolve the account-prefixed host
	if tr.TLSClientConfig != nil {
		tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	} else {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.ServerName = plan.serverName()
}
